//! Barcode and label formats, with no I/O: scans are interpreted here (GS1 element strings, GTINs,
//! SSCCs, the site's control codes) and labels and receipts are built here (ZPL, ESC/POS), so the
//! rules that keep hostile text away from printers live in one pure, fuzzable place.

pub mod check;
pub mod error;
pub mod gs1;
pub mod scan;

pub use error::{Error, Result};
pub mod cli;
pub mod escpos;
pub mod model;
pub mod samples;
pub mod zpl;
