//! The traits the edge implements over its SQLite store. The sync loops only ever talk to the
//! store through these, so the crate does not depend on the edge's schema.
//!
//! All methods are async because the edge runs SQLite on a dedicated writer thread; every method
//! that changes state must be **one store transaction** (all or nothing), as documented per method.

use crate::error::SyncError;
use crate::wire::{ChangeRecord, IdBlock};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::future::Future;

/// An outbox event waiting to be sent. `body` is the envelope JSON exactly as committed; the pump
/// joins these texts into the batch body, so a batch is byte-stable and cheap to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Per-site gap-free sequence number, from 1.
    pub seq: u64,
    /// `<site_id>:<seq as 12 zero-padded digits>`.
    pub id: String,
    /// Aggregate key (`order:O-1`, `stock:acme/SKU-1/A-03-2/`); equal keys keep their order.
    pub aggregate: String,
    /// The full envelope JSON text.
    pub body: String,
}

/// What became of one sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `applied` or `duplicate`: done, never sent again.
    Done,
    /// `rejected` (or locally unsendable): move to the dead-letter list with this error.
    Rejected {
        /// Error code (`validation_error`, `event_too_large`, ...).
        code: String,
        /// Error message.
        message: String,
    },
}

/// The outcome of one event, keyed by seq and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    /// Event seq.
    pub seq: u64,
    /// Event id.
    pub id: String,
    /// Done or dead-lettered.
    pub outcome: Outcome,
}

/// Aggregates whose not-yet-sent events must be held back, plus a generation number that the
/// store bumps on every dead-letter change (new, retried, discarded), so the pump knows to
/// rescan from the start of the queue (a retried event has a lower seq than its cursor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldBack {
    /// Bumped on every change of the dead-letter list.
    pub generation: u64,
    /// Aggregate keys with at least one open dead letter.
    pub aggregates: HashSet<String>,
}

/// Counters for the status model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Pending events (not done, not dead-lettered), held ones included.
    pub pending: u64,
    /// Commit time of the oldest pending event.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Open dead letters.
    pub dead_letters: u64,
    /// Highest seq ever assigned locally (0 if none). Used for divergence detection.
    pub highest_assigned_seq: u64,
}

/// The edge's outbox, as the push pump sees it.
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` pending events with `seq > after_seq`, ascending by seq. Pending = neither
    /// done nor dead-lettered (events of held-back aggregates are included; the pump skips them).
    /// Read-only; must not load more than `limit` rows.
    fn pending_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingEvent>, SyncError>> + Send;

    /// The held-back aggregates and the dead-letter generation, read in one consistent snapshot.
    fn held_back(&self) -> impl Future<Output = Result<HeldBack, SyncError>> + Send;

    /// Records a batch's outcomes in **one transaction**: `Done` marks the event done;
    /// `Rejected` moves it to the dead-letter list with the error (and bumps the generation).
    /// `acked_through` (when known) is stored for status. Must be idempotent: recording the
    /// same outcome twice (after a crash or retry) is harmless.
    fn record_outcomes(
        &self,
        outcomes: Vec<EventOutcome>,
        acked_through: Option<u64>,
    ) -> impl Future<Output = Result<(), SyncError>> + Send;

    /// Queue depth, age and the highest seq ever assigned.
    fn stats(&self) -> impl Future<Output = Result<OutboxStats, SyncError>> + Send;

    /// Supervisor action, **one transaction** (the edge also writes its audit entry in it):
    /// the dead-lettered event becomes pending again with the same seq, id and body; the
    /// generation is bumped. `Ok(false)` if `id` is not an open dead letter. Call
    /// `SyncHandle::events_committed` afterwards so the pump wakes up.
    fn retry_dead_letter(&self, id: &str) -> impl Future<Output = Result<bool, SyncError>> + Send;

    /// Supervisor action, **one transaction** (with the audit entry): the dead letter is closed
    /// as discarded (never sent again) and the generation is bumped, which releases its aggregate
    /// if it has no other open dead letter. `Ok(false)` if `id` is not an open dead letter.
    fn discard_dead_letter(&self, id: &str)
        -> impl Future<Output = Result<bool, SyncError>> + Send;
}

/// The edge's side of the down-sync.
pub trait ChangeSink: Send + Sync + 'static {
    /// The stored cursor (`None` = from the beginning).
    fn cursor(&self) -> impl Future<Output = Result<Option<String>, SyncError>> + Send;

    /// Applies a page and stores `next_cursor` in **one transaction**. Each object is applied
    /// only if its `version` is greater than the stored one (idempotent replay); the conflict
    /// rules of the contract (cancel/hold after shipment → `order.exception` `conflict` in the
    /// outbox; address change after label → order `exception`) are decided here, in the same
    /// transaction. `id_block.granted` adds the block to the lease state. `Unknown`/`Malformed`
    /// changes are not applied; the store may keep them for audit. May be called with an empty
    /// `changes` when only the cursor moved.
    fn apply_changes(
        &self,
        changes: Vec<ChangeRecord>,
        next_cursor: String,
    ) -> impl Future<Output = Result<(), SyncError>> + Send;
}

/// Where blocks obtained by `POST /id-blocks` go (the same state `id_block.granted` feeds).
pub trait IdBlockSink: Send + Sync + 'static {
    /// Stores a granted block in **one transaction**; a block already held is a no-op.
    fn store_id_block(&self, block: IdBlock) -> impl Future<Output = Result<(), SyncError>> + Send;

    /// Kinds whose current block is ≥ 80% used (or exhausted) and have no spare block queued;
    /// the requester asks the central for one block per kind.
    fn kinds_needing_block(&self) -> impl Future<Output = Result<Vec<String>, SyncError>> + Send;
}
