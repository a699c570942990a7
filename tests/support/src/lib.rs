//! Shared by the crates' tests (a dev-dependency only): how a test treats an outside program it
//! needs but cannot find ([`outside`]), and how fuzz targets' corpora are replayed as ordinary
//! tests on stable Rust ([`fuzz`]).

pub mod fuzz;
pub mod outside;
