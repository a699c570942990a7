//! The simulator's durable state in SQLite: applied event ids in application order (dedupe),
//! the last seq per aggregate (order checks), the done set above the high-water mark, stock per
//! (tenant, sku, location, lot), the changes feed and the ID blocks granted.
//!
//! One dedicated thread owns the only connection and runs jobs sent over a channel, so no SQLite
//! call ever runs on a tokio worker and every batch is one transaction in arrival order. `:memory:`
//! (the default) keeps tests fast; a file keeps dedupe across a restart of the simulator.

use super::{AppliedEvent, SimStock};
use crate::error::SyncError;
use crate::wire::{EventStatus, IdBlock, RawChange};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to the database thread. Dropping the last handle ends the thread after the queued jobs.
pub(super) struct Db {
    jobs: mpsc::Sender<Job>,
}

/// What the simulator keeps in memory as a mirror, read once at open.
pub(super) struct Loaded {
    pub acked_through: u64,
    pub applied: u64,
    pub last_change: u64,
}

/// One event of a batch, validated and reduced to what the central checks.
pub(super) struct Incoming {
    pub id: String,
    pub seq: u64,
    pub kind: String,
    pub aggregate: String,
    pub sku: Option<String>,
    pub delta: Option<i64>,
    /// (tenant, sku, location, lot or "") of an `inventory.adjusted` event.
    pub stock_key: Option<(String, String, String, String)>,
}

/// What one batch did.
pub(super) struct BatchOutcome {
    pub statuses: Vec<EventStatus>,
    pub acked_through: u64,
    pub applied: u64,
    /// (aggregate, seq, last seq seen before it) of events applied out of order.
    pub violations: Vec<(String, u64, u64)>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS applied (
    pos INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    aggregate TEXT NOT NULL,
    kind TEXT NOT NULL,
    sku TEXT,
    delta INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS aggregates (
    aggregate TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS done_above (seq INTEGER PRIMARY KEY) STRICT;
CREATE TABLE IF NOT EXISTS stock (
    tenant_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    location TEXT NOT NULL,
    lot TEXT NOT NULL,
    on_hand INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sku, location, lot)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    change_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    object TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS id_blocks (
    n INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    prefix TEXT NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS id_blocks_kind ON id_blocks (kind, last);
";

fn closed() -> SyncError {
    SyncError::SimDatabase("the simulator's database thread has stopped".into())
}

fn db_err(e: rusqlite::Error) -> SyncError {
    SyncError::SimDatabase(e.to_string())
}

fn to_i64(v: u64) -> Result<i64, rusqlite::Error> {
    i64::try_from(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn get_u64(r: &rusqlite::Row<'_>, i: usize) -> Result<u64, rusqlite::Error> {
    let v: i64 = r.get(i)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn open_conn(path: Option<&Path>, site: &str) -> Result<(Connection, Loaded), SyncError> {
    let conn = match path {
        None => Connection::open_in_memory(),
        Some(p) => Connection::open(p),
    }
    .map_err(db_err)?;
    if path.is_some() {
        // WAL + NORMAL survives a killed simulator process (what the restart promise is about);
        // a simulator does not need to survive power loss.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db_err)?;
    conn.execute_batch(SCHEMA).map_err(db_err)?;
    let stored: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'site'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db_err)?;
    match stored {
        Some(s) if s != site => {
            return Err(SyncError::Config(format!(
                "the simulator database belongs to site {s}, not {site}"
            )))
        }
        Some(_) => {}
        None => {
            conn.execute("INSERT INTO meta (key, value) VALUES ('site', ?1)", [site])
                .map_err(db_err)?;
        }
    }
    let loaded = Loaded {
        acked_through: acked_through(&conn).map_err(db_err)?,
        applied: conn
            .query_row("SELECT count(*) FROM applied", [], |r| get_u64(r, 0))
            .map_err(db_err)?,
        last_change: conn
            .query_row("SELECT coalesce(max(change_id), 0) FROM changes", [], |r| {
                get_u64(r, 0)
            })
            .map_err(db_err)?,
    };
    Ok((conn, loaded))
}

impl Db {
    /// Starts the database thread on `path` (`None` = in memory) for `site`.
    pub(super) async fn open(
        path: Option<PathBuf>,
        site: String,
    ) -> Result<(Db, Loaded), SyncError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("central-sim-db".into())
            .spawn(move || {
                let mut conn = match open_conn(path.as_deref(), &site) {
                    Ok((conn, loaded)) => {
                        let _ = ready_tx.send(Ok(loaded));
                        conn
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })?;
        let loaded = ready_rx.await.map_err(|_| closed())??;
        Ok((Db { jobs }, loaded))
    }

    /// Runs `f` on the database thread and awaits its answer.
    pub(super) async fn call<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        F: FnOnce(&mut Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?.map_err(db_err)
    }

    /// Runs `f` on the database thread and blocks the calling thread for the answer (for the
    /// synchronous inspection methods tests call; SQLite still runs on the database thread).
    pub(super) fn call_blocking<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        F: FnOnce(&mut Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| closed())?;
        rx.recv().map_err(|_| closed())?.map_err(db_err)
    }

    /// Queues `f` without waiting (jobs run in the order they were queued).
    pub(super) fn submit(
        &self,
        f: impl FnOnce(&mut Connection) + Send + 'static,
    ) -> Result<(), SyncError> {
        self.jobs.send(Box::new(f)).map_err(|_| closed())
    }
}

fn acked_through(c: &Connection) -> Result<u64, rusqlite::Error> {
    let v: Option<String> = c
        .query_row(
            "SELECT value FROM meta WHERE key = 'acked_through'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Applies one batch in one transaction: an id already applied is `duplicate`, a rejected sku is
/// `rejected` (not remembered, so a retry is evaluated afresh), anything else is applied, checked
/// against its aggregate's last seq and booked to stock. Every result is "done" for the
/// high-water mark.
pub(super) fn apply_batch(
    conn: &mut Connection,
    events: &[Incoming],
    reject_skus: &HashSet<String>,
) -> Result<BatchOutcome, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut acked = acked_through(&tx)?;
    let mut statuses = Vec::with_capacity(events.len());
    let mut violations = Vec::new();
    let mut applied = 0;
    {
        let mut is_applied = tx.prepare_cached("SELECT 1 FROM applied WHERE id = ?1")?;
        let mut last_of =
            tx.prepare_cached("SELECT last_seq FROM aggregates WHERE aggregate = ?1")?;
        let mut set_last = tx.prepare_cached(
            "INSERT INTO aggregates (aggregate, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (aggregate) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO applied (id, seq, aggregate, kind, sku, delta) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut book = tx.prepare_cached(
            "INSERT INTO stock (tenant_id, sku, location, lot, on_hand) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT DO UPDATE SET on_hand = on_hand + excluded.on_hand",
        )?;
        let mut park = tx.prepare_cached("INSERT OR IGNORE INTO done_above (seq) VALUES (?1)")?;
        let mut unpark = tx.prepare_cached("DELETE FROM done_above WHERE seq = ?1")?;
        for e in events {
            let seq = to_i64(e.seq)?;
            let status = if is_applied.exists([&e.id])? {
                EventStatus::Duplicate
            } else if e.sku.as_ref().is_some_and(|s| reject_skus.contains(s)) {
                EventStatus::Rejected
            } else {
                let last = last_of
                    .query_row([&e.aggregate], |r| get_u64(r, 0))
                    .optional()?
                    .unwrap_or(0);
                if e.seq < last {
                    violations.push((e.aggregate.clone(), e.seq, last));
                }
                set_last.execute(params![e.aggregate, seq])?;
                insert.execute(params![e.id, seq, e.aggregate, e.kind, e.sku, e.delta])?;
                if let (Some((t, s, l, lot)), Some(d)) = (&e.stock_key, e.delta) {
                    book.execute(params![t, s, l, lot, d])?;
                }
                applied += 1;
                EventStatus::Applied
            };
            if e.seq == acked + 1 {
                acked = e.seq;
                while unpark.execute([to_i64(acked + 1)?])? == 1 {
                    acked += 1;
                }
            } else if e.seq > acked {
                park.execute([seq])?;
            }
            statuses.push(status);
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('acked_through', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [acked.to_string()],
    )?;
    tx.commit()?;
    Ok(BatchOutcome {
        statuses,
        acked_through: acked,
        applied,
        violations,
    })
}

/// Every applied event in application order.
pub(super) fn applied(c: &mut Connection) -> Result<Vec<AppliedEvent>, rusqlite::Error> {
    let mut st =
        c.prepare_cached("SELECT id, seq, aggregate, kind, sku, delta FROM applied ORDER BY pos")?;
    let rows = st.query_map([], |r| {
        let sku: Option<String> = r.get(4)?;
        let delta: Option<i64> = r.get(5)?;
        Ok(AppliedEvent {
            id: r.get(0)?,
            seq: get_u64(r, 1)?,
            aggregate: r.get(2)?,
            kind: r.get(3)?,
            sku_delta: sku.zip(delta),
        })
    })?;
    rows.collect()
}

/// Stock per (tenant, sku, location, lot) from the applied `inventory.adjusted` events.
pub(super) fn stock(c: &mut Connection) -> Result<Vec<SimStock>, rusqlite::Error> {
    let mut st = c.prepare_cached(
        "SELECT tenant_id, sku, location, lot, on_hand FROM stock ORDER BY tenant_id, sku, location, lot",
    )?;
    let rows = st.query_map([], |r| {
        Ok(SimStock {
            tenant_id: r.get(0)?,
            sku: r.get(1)?,
            location: r.get(2)?,
            lot: r.get(3)?,
            on_hand: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// Appends a change under the id the caller allocated.
pub(super) fn insert_change(
    c: &mut Connection,
    id: u64,
    kind: &str,
    object: &str,
) -> Result<(), rusqlite::Error> {
    c.prepare_cached("INSERT INTO changes (change_id, kind, object) VALUES (?1, ?2, ?3)")?
        .execute(params![to_i64(id)?, kind, object])?;
    Ok(())
}

/// Up to `limit` changes after `pos`, and whether more follow.
pub(super) fn changes_after(
    c: &mut Connection,
    pos: u64,
    limit: usize,
) -> Result<(Vec<RawChange>, bool), rusqlite::Error> {
    let pos = to_i64(pos)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = c.prepare_cached(
        "SELECT change_id, kind, object FROM changes WHERE change_id > ?1 ORDER BY change_id LIMIT ?2",
    )?;
    let rows = st.query_map(params![pos, limit], |r| {
        let text: String = r.get(2)?;
        let object = serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?;
        Ok(RawChange {
            change_id: get_u64(r, 0)?,
            kind: r.get(1)?,
            object,
        })
    })?;
    let data: Vec<RawChange> = rows.collect::<Result<_, _>>()?;
    let last = data.last().map(|c| c.change_id).unwrap_or(pos as u64);
    let has_more = c
        .prepare_cached("SELECT 1 FROM changes WHERE change_id > ?1 LIMIT 1")?
        .exists([to_i64(last)?])?;
    Ok((data, has_more))
}

/// Grants the next `size` serials of `kind`, the first block starting at `start` (blocks of one
/// kind never overlap).
pub(super) fn grant(
    c: &mut Connection,
    kind: &str,
    size: u64,
    start: u64,
    prefix: &str,
) -> Result<IdBlock, rusqlite::Error> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let first = tx.query_row(
        "SELECT coalesce(max(last) + 1, ?2) FROM id_blocks WHERE kind = ?1",
        params![kind, to_i64(start.max(1))?],
        |r| get_u64(r, 0),
    )?;
    let last = first + size - 1;
    tx.execute(
        "INSERT INTO id_blocks (kind, prefix, first, last) VALUES (?1, ?2, ?3, ?4)",
        params![kind, prefix, to_i64(first)?, to_i64(last)?],
    )?;
    tx.commit()?;
    Ok(IdBlock {
        kind: kind.to_string(),
        prefix: prefix.to_string(),
        first,
        last,
    })
}

/// Every block granted, in order.
pub(super) fn grants(c: &mut Connection) -> Result<Vec<IdBlock>, rusqlite::Error> {
    let mut st = c.prepare_cached("SELECT kind, prefix, first, last FROM id_blocks ORDER BY n")?;
    let rows = st.query_map([], |r| {
        Ok(IdBlock {
            kind: r.get(0)?,
            prefix: r.get(1)?,
            first: get_u64(r, 2)?,
            last: get_u64(r, 3)?,
        })
    })?;
    rows.collect()
}
