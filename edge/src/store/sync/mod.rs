//! The edge's side of `wms_sync`: the [`Outbox`], [`ChangeSink`] and [`IdBlockSink`] traits over
//! the SQLite store, with the semantics of `wms_sync::mem::MemoryStore`. Every mutating method is
//! one `Store::write` (one transaction); the reads run on the reader connections.
//!
//! Down-sync rules decided here (and documented in `ARCHITECTURE.md`):
//! - a change is applied only when its `version` is greater than the one held for the object
//!   (`sync_versions`, or the row's own `version` when larger); the cursor is stored in the same
//!   transaction as the page;
//! - each change runs in its own savepoint: one the site refuses (unknown sku, bad field, unknown
//!   order) is rolled back alone, kept in `sync_skipped_changes`, audited, and the page goes on; a
//!   database failure fails the whole page (the pull loop retries it);
//! - every applied change writes audit rows whose actor is the API key name `central`.

use std::sync::Arc;

use rusqlite::{params, Connection};
use wms_sync::wire::{ChangeRecord, IdBlock};
use wms_sync::{
    ChangeSink, EventOutcome, HeldBack, IdBlockSink, Outbox, OutboxStats, PendingEvent, SyncError,
};

use crate::domain::{time, Actor};
use crate::error::{Error, Result};
use crate::store::base::ids::{load_leases, save_leases};
use crate::store::base::sync_state::{state_get, state_set, KEY_CURSOR, KEY_GENERATION};
use crate::store::base::Origin;
use crate::store::Store;

/// The name audit rows and upstream events carry for changes made by the central.
pub const CENTRAL_ACTOR: &str = "central";

/// The sync crate's view of the edge store. Cheap to clone.
#[derive(Clone)]
pub struct SyncStore {
    store: Store,
    site: Arc<str>,
}

fn se(e: Error) -> SyncError {
    SyncError::store(e)
}

fn state_u64(conn: &Connection, key: &str) -> Result<Option<u64>> {
    Ok(state_get(conn, key)?.and_then(|v| v.parse().ok()))
}

fn bump_generation(conn: &Connection) -> Result<()> {
    let g = state_u64(conn, KEY_GENERATION)?.unwrap_or(0) + 1;
    state_set(conn, KEY_GENERATION, &g.to_string())
}

fn central_origin(change_id: u64) -> Origin {
    Origin {
        actor: Actor {
            user: None,
            device: None,
            api_key: Some(CENTRAL_ACTOR.into()),
        },
        request_id: Some(format!("change:{change_id}")),
    }
}

mod apply;
mod push;
mod sequence;

pub use apply::{apply_page, PageReport};
pub use push::{list_dead_letters, resolve_dead_letter, DeadLetter, Resolution};
use push::{record_outcomes_tx, stats_tx};
pub use sequence::{highest_seq, mark_diverged, reset_sequence, Reseq};

impl SyncStore {
    /// Wraps the node's store for the sync loops.
    pub fn new(store: Store, site: &str) -> Self {
        SyncStore {
            store,
            site: Arc::from(site),
        }
    }

    /// The store it wraps.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Supervisor retry or discard with its audit entry, in one transaction.
    pub async fn resolve(&self, origin: Origin, id: String, how: Resolution) -> Result<bool> {
        let site = self.site.clone();
        self.store
            .write(move |c| resolve_dead_letter(c, &site, &origin, &time::now(), &id, how))
            .await
    }

    fn system_origin() -> Origin {
        Origin {
            actor: Actor {
                user: None,
                device: None,
                api_key: Some("sync".into()),
            },
            request_id: None,
        }
    }
}

impl Outbox for SyncStore {
    async fn pending_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> std::result::Result<Vec<PendingEvent>, SyncError> {
        self.store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, id, aggregate, body FROM outbox
                     WHERE state = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(
                    params![after_seq.min(i64::MAX as u64) as i64, limit as i64],
                    |r| {
                        Ok(PendingEvent {
                            seq: r.get::<_, i64>(0)? as u64,
                            id: r.get(1)?,
                            aggregate: r.get(2)?,
                            body: r.get(3)?,
                        })
                    },
                )?;
                Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
            })
            .await
            .map_err(se)
    }

    async fn held_back(&self) -> std::result::Result<HeldBack, SyncError> {
        self.store
            .read(|c| {
                // One read transaction: the generation and the list form one snapshot.
                c.execute_batch("BEGIN")?;
                let res = (|| -> Result<HeldBack> {
                    let generation = state_u64(c, KEY_GENERATION)?.unwrap_or(0);
                    let aggregates = c
                        .prepare_cached(
                            "SELECT DISTINCT aggregate FROM outbox WHERE state = 'dead'",
                        )?
                        .query_map([], |r| r.get(0))?
                        .collect::<std::result::Result<_, _>>()?;
                    Ok(HeldBack {
                        generation,
                        aggregates,
                    })
                })();
                let _ = c.execute_batch("COMMIT");
                res
            })
            .await
            .map_err(se)
    }

    async fn record_outcomes(
        &self,
        outcomes: Vec<EventOutcome>,
        acked_through: Option<u64>,
    ) -> std::result::Result<(), SyncError> {
        self.store
            .write(move |c| record_outcomes_tx(c, &outcomes, acked_through, &time::now()))
            .await
            .map_err(se)
    }

    async fn stats(&self) -> std::result::Result<OutboxStats, SyncError> {
        self.store.read(stats_tx).await.map_err(se)
    }

    async fn retry_dead_letter(&self, id: &str) -> std::result::Result<bool, SyncError> {
        self.resolve(Self::system_origin(), id.to_string(), Resolution::Retry)
            .await
            .map_err(se)
    }

    async fn discard_dead_letter(&self, id: &str) -> std::result::Result<bool, SyncError> {
        self.resolve(Self::system_origin(), id.to_string(), Resolution::Discard)
            .await
            .map_err(se)
    }
}

impl ChangeSink for SyncStore {
    async fn cursor(&self) -> std::result::Result<Option<String>, SyncError> {
        self.store
            .read(|c| state_get(c, KEY_CURSOR))
            .await
            .map_err(se)
    }

    async fn apply_changes(
        &self,
        changes: Vec<ChangeRecord>,
        next_cursor: String,
    ) -> std::result::Result<(), SyncError> {
        let site = self.site.clone();
        let report = self
            .store
            .write(move |c| apply_page(c, &site, &changes, &next_cursor))
            .await
            .map_err(se)?;
        if report.applied + report.skipped > 0 {
            tracing::info!(
                applied = report.applied,
                stale = report.stale,
                skipped = report.skipped,
                "down-sync page applied"
            );
        }
        Ok(())
    }
}

impl IdBlockSink for SyncStore {
    async fn store_id_block(&self, block: IdBlock) -> std::result::Result<(), SyncError> {
        self.store
            .write(move |c| {
                let mut leases = load_leases(c)?;
                leases
                    .grant(block)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                save_leases(c, &leases)
            })
            .await
            .map_err(se)
    }

    async fn kinds_needing_block(&self) -> std::result::Result<Vec<String>, SyncError> {
        self.store
            .read(|c| Ok(load_leases(c)?.kinds_needing_block()))
            .await
            .map_err(se)
    }
}
