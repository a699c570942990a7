//! The `wms-edge` node: configuration, the local store (SQLite, group commit, transactional
//! outbox), the domain (ledger, orders, roles), the HTTP API and the CLI's building blocks.
//!
//! Data flows one way: a request (or, later, a device input) becomes a store write; the write
//! changes state, appends ledger, audit and outbox rows in one transaction, and is acknowledged
//! only after commit. See `ARCHITECTURE.md` for the map.

pub mod api;
pub mod central_sim;
pub mod cli;
pub mod config;
pub mod demo;
pub mod devices;
pub mod discovery;
pub mod domain;
pub mod error;
pub mod events;
pub mod floor;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod pin;
pub mod store;
pub mod sync_glue;
pub mod till;
pub mod till_display;
pub mod ui;

pub use error::{Error, Result};
