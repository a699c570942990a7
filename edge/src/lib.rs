//! The `wms-edge` node: configuration, the local store (SQLite, group commit, transactional
//! outbox), the domain (ledger, orders, roles), the HTTP API and the CLI's building blocks.
//!
//! Data flows one way: a request (or, later, a device input) becomes a store write; the write
//! changes state, appends ledger, audit and outbox rows in one transaction, and is acknowledged
//! only after commit. See `ARCHITECTURE.md` for the map.

pub mod api;
pub mod central_sim;
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
pub mod pin;
pub mod store;
pub mod sync_glue;

pub use error::{Error, Result};

/// The node's allocator, for the binary and everything else that links this crate (tests,
/// benchmarks), so they measure what ships. Rows are allocated on store reader threads and
/// freed on the runtime's; glibc's malloc pays for that in arena locks and consolidation, and
/// mimalloc cut the CPU per `GET /v1/inventory` by about a sixth (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
