//! An in-memory store implementing the sync traits with the same transactional semantics the
//! edge's SQLite store must have. Used by the crate's tests, benchmarks and the simulator demo.

use crate::error::SyncError;
use crate::idblock::IdLeases;
use crate::store::{
    ChangeSink, EventOutcome, HeldBack, IdBlockSink, Outbox, OutboxStats, Outcome, PendingEvent,
};
use crate::wire::{Change, ChangeRecord, IdBlock};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// A dead-lettered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event as it was.
    pub event: PendingEvent,
    /// Error code.
    pub code: String,
    /// Error message.
    pub message: String,
}

#[derive(Debug, Default)]
struct Inner {
    site_id: String,
    highest_seq: u64,
    pending: BTreeMap<u64, (PendingEvent, DateTime<Utc>)>,
    dead: BTreeMap<u64, (DeadLetter, DateTime<Utc>)>,
    done: u64,
    discarded: Vec<u64>,
    generation: u64,
    acked_through: Option<u64>,
    max_page_limit: usize,
    cursor: Option<String>,
    versions: HashMap<String, u64>,
    pages_applied: u64,
    change_ids: Vec<u64>,
    applied: Vec<ChangeRecord>,
    skipped: Vec<ChangeRecord>,
    leases: IdLeases,
    fail_next_apply: u32,
    fail_next_record: u32,
}

/// The in-memory store. All operations are atomic under one mutex (never held across `.await`).
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl MemoryStore {
    /// An empty store for `site_id`.
    pub fn new(site_id: &str) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner {
                site_id: site_id.to_string(),
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a test thread panicked; the data is still consistent
        // because every mutation completes before unlocking.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits an event like the edge's outbox: next seq, id, and the envelope text.
    /// `aggregate` is `<type>:<id>`, e.g. `stock:acme/SKU-1/A-03-2/`.
    pub fn append(&self, aggregate: &str, kind: &str, data: serde_json::Value) -> u64 {
        let now = Utc::now();
        let mut g = self.lock();
        g.highest_seq += 1;
        let seq = g.highest_seq;
        let id = format!("{}:{seq:012}", g.site_id);
        let (agg_type, agg_id) = aggregate.split_once(':').unwrap_or((aggregate, ""));
        let body = serde_json::json!({
            "id": id, "seq": seq, "type": kind, "occurred_at": ts(now),
            "aggregate": {"type": agg_type, "id": agg_id},
            "actor": {"user": null, "device": null, "api_key": null},
            "data": data,
        })
        .to_string();
        g.pending.insert(
            seq,
            (
                PendingEvent {
                    seq,
                    id,
                    aggregate: aggregate.to_string(),
                    body,
                },
                now,
            ),
        );
        seq
    }

    /// Sets the highest assigned seq without events (simulates a database restored from an old
    /// backup when used with a central that has seen more).
    pub fn set_highest_seq(&self, seq: u64) {
        self.lock().highest_seq = seq;
    }

    /// Pending (not done, not dead) events.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// Events marked done.
    pub fn done_count(&self) -> u64 {
        self.lock().done
    }

    /// Open dead letters, by seq.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead.values().map(|(d, _)| d.clone()).collect()
    }

    /// Seqs discarded by a supervisor.
    pub fn discarded(&self) -> Vec<u64> {
        self.lock().discarded.clone()
    }

    /// Last `acked_through` recorded.
    pub fn acked_through(&self) -> Option<u64> {
        self.lock().acked_through
    }

    /// The largest page `limit` the pump ever asked for (memory bound check).
    pub fn max_page_limit(&self) -> usize {
        self.lock().max_page_limit
    }

    /// The stored cursor.
    pub fn stored_cursor(&self) -> Option<String> {
        self.lock().cursor.clone()
    }

    /// Every change id handed to `apply_changes`, in order (applied or ignored by version).
    pub fn change_ids(&self) -> Vec<u64> {
        self.lock().change_ids.clone()
    }

    /// Changes applied (newer version).
    pub fn applied_changes(&self) -> Vec<ChangeRecord> {
        self.lock().applied.clone()
    }

    /// Unknown or malformed changes kept.
    pub fn skipped_changes(&self) -> Vec<ChangeRecord> {
        self.lock().skipped.clone()
    }

    /// Pages applied (transactions).
    pub fn pages_applied(&self) -> u64 {
        self.lock().pages_applied
    }

    /// The ID lease state (the edge persists its own copy the same way).
    pub fn with_leases<R>(&self, f: impl FnOnce(&mut IdLeases) -> R) -> R {
        f(&mut self.lock().leases)
    }

    /// Makes the next `n` `apply_changes` calls fail (store failure injection).
    pub fn fail_next_apply(&self, n: u32) {
        self.lock().fail_next_apply = n;
    }

    /// Makes the next `n` `record_outcomes` calls fail before changing anything.
    pub fn fail_next_record(&self, n: u32) {
        self.lock().fail_next_record = n;
    }
}

fn object_key(c: &Change) -> Option<(String, u64)> {
    Some(match c {
        Change::OrderUpsert(o) => (format!("order:{}", o.id), o.version),
        Change::OrderHold(o) | Change::OrderRelease(o) | Change::OrderCancel(o) => {
            (format!("order:{}", o.id), o.version)
        }
        Change::OrderAddressChanged(o) => (format!("order:{}", o.id), o.version),
        Change::ProductUpsert(p) => (format!("product:{}/{}", p.tenant_id, p.sku), p.version),
        Change::LocationUpsert(l) => (format!("location:{}", l.code), l.version),
        Change::UserUpsert(u) => (format!("user:{}", u.id), u.version),
        _ => return None,
    })
}

impl Outbox for MemoryStore {
    async fn pending_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, SyncError> {
        let mut g = self.lock();
        g.max_page_limit = g.max_page_limit.max(limit);
        Ok(g.pending
            .range(after_seq.saturating_add(1)..)
            .take(limit)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }

    async fn held_back(&self) -> Result<HeldBack, SyncError> {
        let g = self.lock();
        Ok(HeldBack {
            generation: g.generation,
            aggregates: g
                .dead
                .values()
                .map(|(d, _)| d.event.aggregate.clone())
                .collect(),
        })
    }

    async fn record_outcomes(
        &self,
        outcomes: Vec<EventOutcome>,
        acked_through: Option<u64>,
    ) -> Result<(), SyncError> {
        let mut g = self.lock();
        if g.fail_next_record > 0 {
            g.fail_next_record -= 1;
            return Err(SyncError::store("injected record failure"));
        }
        for o in outcomes {
            let Some((ev, at)) = g.pending.remove(&o.seq) else {
                continue; // already recorded: idempotent
            };
            match o.outcome {
                Outcome::Done => g.done += 1,
                Outcome::Rejected { code, message } => {
                    g.dead.insert(
                        o.seq,
                        (
                            DeadLetter {
                                event: ev,
                                code,
                                message,
                            },
                            at,
                        ),
                    );
                    g.generation += 1;
                }
            }
        }
        if let Some(a) = acked_through {
            g.acked_through = Some(g.acked_through.map_or(a, |x| x.max(a)));
        }
        Ok(())
    }

    async fn stats(&self) -> Result<OutboxStats, SyncError> {
        let g = self.lock();
        Ok(OutboxStats {
            pending: g.pending.len() as u64,
            oldest_pending_at: g.pending.values().next().map(|(_, t)| *t),
            dead_letters: g.dead.len() as u64,
            highest_assigned_seq: g.highest_seq,
        })
    }

    async fn retry_dead_letter(&self, id: &str) -> Result<bool, SyncError> {
        let mut g = self.lock();
        let Some(seq) = g
            .dead
            .iter()
            .find(|(_, (d, _))| d.event.id == id)
            .map(|(s, _)| *s)
        else {
            return Ok(false);
        };
        if let Some((d, at)) = g.dead.remove(&seq) {
            g.pending.insert(seq, (d.event, at));
            g.generation += 1;
        }
        Ok(true)
    }

    async fn discard_dead_letter(&self, id: &str) -> Result<bool, SyncError> {
        let mut g = self.lock();
        let Some(seq) = g
            .dead
            .iter()
            .find(|(_, (d, _))| d.event.id == id)
            .map(|(s, _)| *s)
        else {
            return Ok(false);
        };
        g.dead.remove(&seq);
        g.discarded.push(seq);
        g.generation += 1;
        Ok(true)
    }
}

impl ChangeSink for MemoryStore {
    async fn cursor(&self) -> Result<Option<String>, SyncError> {
        Ok(self.lock().cursor.clone())
    }

    async fn apply_changes(
        &self,
        changes: Vec<ChangeRecord>,
        next_cursor: String,
    ) -> Result<(), SyncError> {
        let mut g = self.lock();
        if g.fail_next_apply > 0 {
            g.fail_next_apply -= 1;
            return Err(SyncError::store("injected apply failure"));
        }
        // Validate first so the "transaction" is all or nothing.
        let mut leases = g.leases.clone();
        for c in &changes {
            if let Change::IdBlockGranted(b) = &c.change {
                leases.grant(b.clone())?;
            }
        }
        g.leases = leases;
        for c in changes {
            g.change_ids.push(c.change_id);
            match object_key(&c.change) {
                Some((key, version)) => {
                    let held = g.versions.get(&key).copied().unwrap_or(0);
                    if version > held {
                        g.versions.insert(key, version);
                        g.applied.push(c);
                    }
                }
                None => match c.change {
                    Change::IdBlockGranted(_) => g.applied.push(c),
                    _ => g.skipped.push(c),
                },
            }
        }
        g.cursor = Some(next_cursor);
        g.pages_applied += 1;
        Ok(())
    }
}

impl IdBlockSink for MemoryStore {
    async fn store_id_block(&self, block: IdBlock) -> Result<(), SyncError> {
        self.lock().leases.grant(block).map(|_| ())
    }

    async fn kinds_needing_block(&self) -> Result<Vec<String>, SyncError> {
        Ok(self.lock().leases.kinds_needing_block())
    }
}
