//! The simulator's durable state in SQLite: applied event ids in application order (dedupe),
//! the last seq per aggregate (order checks), the done set above the high-water mark, stock per
//! (tenant, sku, location, lot), the changes feed, the ID blocks granted, and the balances the
//! central keeps (gift cards with their redemptions, store credit with its transactions).
//!
//! One dedicated thread owns the only connection and runs jobs sent over a channel, so no SQLite
//! call ever runs on a tokio worker and every batch is one transaction in arrival order. `:memory:`
//! (the default) keeps tests fast; a file keeps dedupe across a restart of the simulator.

use super::{AppliedEvent, SimCreditTransaction, SimRedemption, SimStock};
use crate::error::SyncError;
use crate::wire::{
    CreditTransaction, CreditTransactionRequest, EventStatus, GiftCard, IdBlock, Money, RawChange,
    Redemption, RedemptionRequest, StoreCredit,
};
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
CREATE TABLE IF NOT EXISTS gift_cards (
    code TEXT PRIMARY KEY,
    balance INTEGER NOT NULL,
    currency TEXT NOT NULL,
    active INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS redemptions (
    pos INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    balance_after INTEGER NOT NULL,
    reversed_balance INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS reversed_unknown (id TEXT PRIMARY KEY, code TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS store_credit (
    customer_id TEXT PRIMARY KEY,
    balance INTEGER NOT NULL,
    currency TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS credit_transactions (
    pos INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    sale_id TEXT,
    reason TEXT NOT NULL,
    balance_after INTEGER NOT NULL
) STRICT;
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

/// What a balance operation did: applied now, the first answer for an id seen before, or a
/// refusal that changed nothing.
pub(super) enum Booked<T> {
    New(T),
    Replay(T),
    Refused(Refusal),
}

/// Why a balance operation changed nothing (the handler maps it to 404/409/422).
pub(super) enum Refusal {
    NotFound(String),
    Conflict(String),
    Invalid(String),
}

fn money(amount: i64, currency: &str) -> Money {
    Money {
        amount,
        currency: currency.to_string(),
    }
}

/// Creates or replaces a gift card (seeding by tests and `PUT /sim/gift-cards/{code}`).
pub(super) fn set_gift_card(c: &Connection, card: &GiftCard) -> Result<(), rusqlite::Error> {
    c.prepare_cached(
        "INSERT INTO gift_cards (code, balance, currency, active) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (code) DO UPDATE SET balance = excluded.balance, \
         currency = excluded.currency, active = excluded.active",
    )?
    .execute(params![
        card.code,
        card.balance.amount,
        card.balance.currency,
        card.active
    ])?;
    Ok(())
}

/// A gift card as the central holds it.
pub(super) fn gift_card(c: &Connection, code: &str) -> Result<Option<GiftCard>, rusqlite::Error> {
    c.prepare_cached("SELECT balance, currency, active FROM gift_cards WHERE code = ?1")?
        .query_row([code], |r| {
            let currency: String = r.get(1)?;
            Ok(GiftCard {
                code: code.to_string(),
                balance: money(r.get(0)?, &currency),
                active: r.get(2)?,
            })
        })
        .optional()
}

/// Spends from a card under the request's id: the id is looked at first (a replay answers the
/// first result whatever the card's state now), then the card, its currency and balance.
pub(super) fn redeem(
    c: &mut Connection,
    code: &str,
    req: &RedemptionRequest,
) -> Result<Booked<Redemption>, rusqlite::Error> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let seen = tx
        .prepare_cached(
            "SELECT code, amount, currency, sale_id, balance_after FROM redemptions WHERE id = ?1",
        )?
        .query_row([&req.id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    if let Some((was_code, amount, currency, sale_id, after)) = seen {
        if was_code != code
            || amount != req.amount.amount
            || currency != req.amount.currency
            || sale_id != req.sale_id
        {
            return Ok(Booked::Refused(Refusal::Conflict(format!(
                "redemption id {} was already used for another redemption",
                req.id
            ))));
        }
        return Ok(Booked::Replay(Redemption {
            id: req.id.clone(),
            code: was_code,
            amount: money(amount, &currency),
            balance_after: money(after, &currency),
            reversed: false,
        }));
    }
    if tx
        .prepare_cached("SELECT 1 FROM reversed_unknown WHERE id = ?1")?
        .exists([&req.id])?
    {
        return Ok(Booked::Refused(Refusal::Conflict(format!(
            "redemption {} was reversed before it arrived",
            req.id
        ))));
    }
    let Some(card) = gift_card(&tx, code)? else {
        return Ok(Booked::Refused(Refusal::NotFound(format!(
            "unknown gift card {code}"
        ))));
    };
    if !card.active {
        return Ok(Booked::Refused(Refusal::Conflict(format!(
            "gift card {code} is not active"
        ))));
    }
    if card.balance.currency != req.amount.currency {
        return Ok(Booked::Refused(Refusal::Invalid(format!(
            "gift card {code} is in {}",
            card.balance.currency
        ))));
    }
    if card.balance.amount < req.amount.amount {
        return Ok(Booked::Refused(Refusal::Conflict(format!(
            "insufficient balance: {} {} left on gift card {code}",
            card.balance.amount, card.balance.currency
        ))));
    }
    let after = card.balance.amount - req.amount.amount;
    tx.execute(
        "UPDATE gift_cards SET balance = ?2 WHERE code = ?1",
        params![code, after],
    )?;
    tx.execute(
        "INSERT INTO redemptions (id, code, amount, currency, sale_id, balance_after) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            req.id,
            code,
            req.amount.amount,
            req.amount.currency,
            req.sale_id,
            after
        ],
    )?;
    tx.commit()?;
    Ok(Booked::New(Redemption {
        id: req.id.clone(),
        code: code.to_string(),
        amount: req.amount.clone(),
        balance_after: money(after, &req.amount.currency),
        reversed: false,
    }))
}

/// Gives a redemption back to its card once; a second reversal answers the first one's result.
/// An id the central never applied is remembered, so the redemption is refused if it arrives
/// after its reversal (a request delayed in the network must not spend a voided payment).
pub(super) fn reverse(
    c: &mut Connection,
    code: &str,
    id: &str,
) -> Result<Booked<Redemption>, rusqlite::Error> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let seen = tx
        .prepare_cached(
            "SELECT code, amount, currency, reversed_balance FROM redemptions WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .optional()?;
    let Some((was_code, amount, currency, reversed_balance)) = seen else {
        tx.execute(
            "INSERT OR IGNORE INTO reversed_unknown (id, code) VALUES (?1, ?2)",
            params![id, code],
        )?;
        tx.commit()?;
        return Ok(Booked::Refused(Refusal::NotFound(format!(
            "no redemption {id}; a redemption with this id arriving later will be refused"
        ))));
    };
    if was_code != code {
        return Ok(Booked::Refused(Refusal::NotFound(format!(
            "no redemption {id} on gift card {code}"
        ))));
    }
    let answer = |after: i64| Redemption {
        id: id.to_string(),
        code: code.to_string(),
        amount: money(amount, &currency),
        balance_after: money(after, &currency),
        reversed: true,
    };
    if let Some(after) = reversed_balance {
        return Ok(Booked::Replay(answer(after)));
    }
    let balance: i64 = tx.query_row(
        "SELECT balance FROM gift_cards WHERE code = ?1",
        [code],
        |r| r.get(0),
    )?;
    let Some(after) = balance.checked_add(amount) else {
        return Ok(Booked::Refused(Refusal::Invalid(
            "the balance would overflow".into(),
        )));
    };
    tx.execute(
        "UPDATE gift_cards SET balance = ?2 WHERE code = ?1",
        params![code, after],
    )?;
    tx.execute(
        "UPDATE redemptions SET reversed_balance = ?2 WHERE id = ?1",
        params![id, after],
    )?;
    tx.commit()?;
    Ok(Booked::New(answer(after)))
}

/// Every redemption applied, in order, with whether it was reversed.
pub(super) fn redemptions(c: &mut Connection) -> Result<Vec<SimRedemption>, rusqlite::Error> {
    let mut st = c.prepare_cached(
        "SELECT id, code, amount, currency, sale_id, reversed_balance IS NOT NULL \
         FROM redemptions ORDER BY pos",
    )?;
    let rows = st.query_map([], |r| {
        let currency: String = r.get(3)?;
        Ok(SimRedemption {
            id: r.get(0)?,
            code: r.get(1)?,
            amount: money(r.get(2)?, &currency),
            sale_id: r.get(4)?,
            reversed: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Creates or replaces a customer's store-credit balance.
pub(super) fn set_credit(c: &Connection, credit: &StoreCredit) -> Result<(), rusqlite::Error> {
    c.prepare_cached(
        "INSERT INTO store_credit (customer_id, balance, currency) VALUES (?1, ?2, ?3) \
         ON CONFLICT (customer_id) DO UPDATE SET balance = excluded.balance, \
         currency = excluded.currency",
    )?
    .execute(params![
        credit.customer_id,
        credit.balance.amount,
        credit.balance.currency
    ])?;
    Ok(())
}

/// A customer's store credit as the central holds it.
pub(super) fn credit(
    c: &Connection,
    customer_id: &str,
) -> Result<Option<StoreCredit>, rusqlite::Error> {
    c.prepare_cached("SELECT balance, currency FROM store_credit WHERE customer_id = ?1")?
        .query_row([customer_id], |r| {
            let currency: String = r.get(1)?;
            Ok(StoreCredit {
                customer_id: customer_id.to_string(),
                balance: money(r.get(0)?, &currency),
            })
        })
        .optional()
}

/// Books a store-credit transaction under its id (a replay answers the first result). An issue
/// to a customer without an account opens one in the amount's currency; a spend needs the
/// balance.
pub(super) fn credit_transaction(
    c: &mut Connection,
    customer_id: &str,
    req: &CreditTransactionRequest,
) -> Result<Booked<CreditTransaction>, rusqlite::Error> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let seen = tx
        .prepare_cached(
            "SELECT customer_id, amount, currency, sale_id, reason, balance_after \
             FROM credit_transactions WHERE id = ?1",
        )?
        .query_row([&req.id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    if let Some((customer, amount, currency, sale_id, reason, after)) = seen {
        if customer != customer_id
            || amount != req.amount.amount
            || currency != req.amount.currency
            || sale_id != req.sale_id
            || reason != req.reason
        {
            return Ok(Booked::Refused(Refusal::Conflict(format!(
                "transaction id {} was already used for another transaction",
                req.id
            ))));
        }
        return Ok(Booked::Replay(CreditTransaction {
            id: req.id.clone(),
            amount: money(amount, &currency),
            balance_after: money(after, &currency),
        }));
    }
    let account = credit(&tx, customer_id)?;
    let balance = match account {
        Some(a) if a.balance.currency != req.amount.currency => {
            return Ok(Booked::Refused(Refusal::Invalid(format!(
                "the store credit of {customer_id} is in {}",
                a.balance.currency
            ))))
        }
        Some(a) => a.balance.amount,
        None if req.amount.amount > 0 => 0,
        None => {
            return Ok(Booked::Refused(Refusal::NotFound(format!(
                "customer {customer_id} has no store credit"
            ))))
        }
    };
    let Some(after) = balance.checked_add(req.amount.amount) else {
        return Ok(Booked::Refused(Refusal::Invalid(
            "the balance would overflow".into(),
        )));
    };
    if after < 0 {
        return Ok(Booked::Refused(Refusal::Conflict(format!(
            "the spend exceeds the store credit: {balance} {} left",
            req.amount.currency
        ))));
    }
    set_credit(
        &tx,
        &StoreCredit {
            customer_id: customer_id.to_string(),
            balance: money(after, &req.amount.currency),
        },
    )?;
    tx.execute(
        "INSERT INTO credit_transactions \
         (id, customer_id, amount, currency, sale_id, reason, balance_after) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            req.id,
            customer_id,
            req.amount.amount,
            req.amount.currency,
            req.sale_id,
            req.reason,
            after
        ],
    )?;
    tx.commit()?;
    Ok(Booked::New(CreditTransaction {
        id: req.id.clone(),
        amount: req.amount.clone(),
        balance_after: money(after, &req.amount.currency),
    }))
}

/// Every store-credit transaction booked, in order.
pub(super) fn credit_transactions(
    c: &mut Connection,
) -> Result<Vec<SimCreditTransaction>, rusqlite::Error> {
    let mut st = c.prepare_cached(
        "SELECT id, customer_id, amount, currency, sale_id, reason \
         FROM credit_transactions ORDER BY pos",
    )?;
    let rows = st.query_map([], |r| {
        let currency: String = r.get(3)?;
        Ok(SimCreditTransaction {
            id: r.get(0)?,
            customer_id: r.get(1)?,
            amount: money(r.get(2)?, &currency),
            sale_id: r.get(4)?,
            reason: r.get(5)?,
        })
    })?;
    rows.collect()
}
