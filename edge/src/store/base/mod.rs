//! The bottom layer of the store: what every transaction needs whatever its domain.
//!
//! [`Ctx`] and [`Origin`] (the transaction, the site, who and when), the append-only audit log,
//! the outbox, the `sync_state` key/value rows, ID leases, list filters, and the reference data
//! the central sends (products, locations, users) plus API keys. Nothing here knows of stock,
//! orders or workflows; every layer above may use it.

pub mod audit;
pub mod catalog;
pub mod customers;
pub mod ids;
pub mod keys;
pub mod outbox;
pub mod prices;
pub mod query;
pub mod sessions;
pub mod sync_state;

use rusqlite::Connection;

use crate::domain::Actor;

/// Who causes a mutation, and through which request (stored with every audit row).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor: Actor,
    pub request_id: Option<String>,
}

/// What a mutation needs besides its input: the transaction, the site, who, and when.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub site: &'a str,
    pub origin: &'a Origin,
    pub now: &'a str,
}
