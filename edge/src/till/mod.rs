//! The till as the node runs it: card payments driven at each register's terminal, after the
//! store has committed the attempt (pos-api.md "Never charge twice").
//!
//! A card payment is one task. It sends the PaymentRequest with the ServiceID the store already
//! holds, and settles whatever the terminal answers in one write (`store::workflow::pos::card`).
//! When the answer is lost — a timeout, a dropped connection, a terminal that stays in progress
//! — it never sends the payment again: it asks TransactionStatus for that ServiceID until the
//! terminal says approved, declined or not found, however long that takes. A node that was
//! killed with an attempt outstanding does the same at start-up for every `pending` attempt
//! before the register can take another card (the store refuses a second card payment on a
//! terminal while one is pending).
//!
//! A payment answer for no running dialogue (the terminal answered after the node had given the
//! attempt up) is matched to its attempt by ServiceID, never to the payment running now; money it
//! reports for an attempt that already ended without it is reversed at the terminal and audited.
//! Reversals owed are rows too, so a crash between "owed" and "sent" reverses at the next start.

mod returns;
mod scans;

pub use scans::{Followup, ScanReply};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tracing::Instrument;
use wms_hardware::device::{PaymentHandle, PaymentOutcome, PaymentReceipt, PaymentRequest};
use wms_hardware::protocol::nexo::TransactionId;
use wms_hardware::{CancellationToken, Decimal, Device, DeviceState};
use wms_sync::status::{SyncState, SyncStatus};

use crate::config::RegisterConfig;
use crate::domain::pos::card::{minor_from_decimal, CardState, TerminalAnswer};
use crate::domain::pos::{format_minor, minor_digits};
use crate::domain::time;
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::base::{Ctx, Origin};
use crate::store::workflow::pos::card::{
    self, CardFacts, CardStart, PendingAttempt, ReversalDue, Settled,
};
use crate::store::workflow::pos::payments::{TenderRequest, Tendered};
use crate::store::workflow::pos::{self as pos_store, Payment, Sale};
use crate::store::Store;

/// Longest wait between two TransactionStatus questions about one attempt.
const STATUS_EVERY_MAX: Duration = Duration::from_secs(30);
/// Longest wait between two tries of a reversal the terminal could not take.
const REVERSAL_RETRY_MAX: Duration = Duration::from_secs(60);
/// Longest long poll of `GET /v1/pos/payments/{id}?wait=`.
pub const WAIT_MAX: Duration = Duration::from_secs(30);

/// A register's terminal.
#[derive(Clone)]
struct Terminal {
    device_id: String,
    handle: PaymentHandle,
}

struct Inner {
    store: Store,
    site: String,
    events: EventBus,
    registers: Arc<HashMap<String, RegisterConfig>>,
    /// By register id.
    terminals: HashMap<String, Terminal>,
    sync: Option<watch::Receiver<SyncStatus>>,
    /// Rung when a settled payment queued a receipt.
    print_wake: Arc<Notify>,
    shutdown: CancellationToken,
    /// Payments a task is driving now (one task per attempt, ever).
    driving: Mutex<HashSet<String>>,
    /// Reversals a task is sending now.
    reversing: Mutex<HashSet<String>>,
    /// Reversals found pending at start-up (the last run may have sent them: ask first).
    resumed: Mutex<HashSet<String>>,
    /// Who is logged in at each register scanner, by device id.
    scanners: Mutex<HashMap<String, scans::Scanner>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Cheap to clone; shared by the HTTP handlers and the register's scanner path.
#[derive(Clone)]
pub struct Till {
    inner: Arc<Inner>,
}

/// The devices, sync state and wake-ups the till works with.
pub struct TillParts {
    pub store: Store,
    pub site: String,
    pub events: EventBus,
    pub registers: Arc<HashMap<String, RegisterConfig>>,
    /// Every started device, by id (the till takes the registers' payment terminals).
    pub devices: Vec<(String, Option<String>, Device)>,
    pub sync: Option<watch::Receiver<SyncStatus>>,
    pub print_wake: Arc<Notify>,
    pub shutdown: CancellationToken,
}

/// The system actor of what the till does on its own (answers that arrive later, reversals).
fn till_origin(register: &str) -> Origin {
    Origin {
        actor: Actor {
            user: None,
            device: Some(register.to_string()),
            api_key: Some("till".into()),
        },
        request_id: None,
    }
}

/// Minor units as the exact decimal the terminal takes.
fn decimal_of(minor: i64, currency: &str) -> Result<Decimal> {
    Decimal::new(minor, minor_digits(currency))
        .map_err(|e| Error::Internal(format!("amount {minor}: {e}")))
}

impl Till {
    /// A till with no terminals (a node without devices, tests of the API alone).
    pub fn without_terminals(
        store: Store,
        site: String,
        events: EventBus,
        registers: Arc<HashMap<String, RegisterConfig>>,
    ) -> Till {
        Till::start(TillParts {
            store,
            site,
            events,
            registers,
            devices: Vec::new(),
            sync: None,
            print_wake: Arc::default(),
            shutdown: CancellationToken::new(),
        })
    }

    /// The till over started devices: listens for late answers on every register's terminal and
    /// resumes what a previous run left open (pending attempts, reversals owed).
    pub fn start(parts: TillParts) -> Till {
        let mut terminals = HashMap::new();
        for (id, station, device) in &parts.devices {
            let (Device::PaymentTerminal(handle), Some(station)) = (device, station) else {
                continue;
            };
            if parts.registers.contains_key(station) && !terminals.contains_key(station) {
                terminals.insert(
                    station.clone(),
                    Terminal {
                        device_id: id.clone(),
                        handle: handle.clone(),
                    },
                );
            }
        }
        let till = Till {
            inner: Arc::new(Inner {
                store: parts.store,
                site: parts.site,
                events: parts.events,
                registers: parts.registers,
                terminals,
                sync: parts.sync,
                print_wake: parts.print_wake,
                shutdown: parts.shutdown,
                driving: Mutex::default(),
                reversing: Mutex::default(),
                resumed: Mutex::default(),
                scanners: Mutex::default(),
                tasks: Mutex::default(),
            }),
        };
        for (register, t) in &till.inner.terminals {
            // Subscribed before any request goes out, so no late answer is missed.
            let rx = t.handle.late_answers();
            let me = till.clone();
            let span = tracing::info_span!("till", register = %register, device = %t.device_id);
            let reg = register.clone();
            till.spawn(async move { me.late_answers(reg, rx).await }.instrument(span));
        }
        if !till.inner.terminals.is_empty() {
            let me = till.clone();
            till.spawn(async move { me.resume().await });
        }
        till
    }

    fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = tokio::spawn(f);
        if let Ok(mut t) = self.inner.tasks.lock() {
            t.retain(|t| !t.is_finished());
            t.push(task);
        }
    }

    /// Waits for the till's tasks after the shutdown token was cancelled.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let tasks: Vec<_> = match self.inner.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The register's terminal device id, if it has one.
    pub fn terminal_of(&self, register: &str) -> Option<&str> {
        self.inner
            .terminals
            .get(register)
            .map(|t| t.device_id.as_str())
    }

    /// The central is unreachable (sync `offline`): card payments are limited and stored.
    pub fn central_offline(&self) -> bool {
        self.inner
            .sync
            .as_ref()
            .is_some_and(|s| s.borrow().state == SyncState::Offline)
    }

    async fn write<R, F>(&self, origin: Origin, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Ctx<'_>) -> Result<R> + Send + 'static,
    {
        let site = self.inner.site.clone();
        self.inner
            .store
            .write(move |c| {
                let now = time::now();
                let cx = Ctx {
                    conn: c,
                    site: &site,
                    origin: &origin,
                    now: &now,
                };
                f(&cx)
            })
            .await
    }

    /// Starts a card payment on the register's terminal: the attempt is committed first, then a
    /// task sends it. Answers at once with the `pending` payment (or the one an earlier request
    /// with the same key made).
    pub async fn pay_card(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        sale_id: &str,
        req: TenderRequest,
    ) -> Result<Tendered> {
        let terminal = self.inner.terminals.get(&reg.id).cloned().ok_or_else(|| {
            Error::conflict(format!(
                "register {} has no payment terminal: take cash",
                reg.id
            ))
        })?;
        let start = CardStart {
            terminal_id: terminal.device_id.clone(),
            service_id: wms_hardware::device::fresh_service_id(),
            central_offline: self.central_offline(),
            terminal_online: terminal.handle.status().borrow().state != DeviceState::Offline,
        };
        let r = reg.clone();
        let sid = sale_id.to_string();
        let done = self
            .write(origin, move |cx| {
                card::begin_card(cx, &r, &sid, &req, &start)
            })
            .await?;
        if done.created {
            publish_payment(&self.inner.events, &done.payment, &done.sale);
            let attempt = PendingAttempt {
                payment_id: done.payment.id.clone(),
                sale_id: done.sale.id.clone(),
                register_id: reg.id.clone(),
                terminal_id: terminal.device_id.clone(),
                service_id: card_service_id(&self.inner.store, &done.payment.id).await?,
                amount: done.payment.amount,
                currency: done.sale.currency.clone(),
                abort_asked: false,
            };
            self.drive(attempt, true);
        }
        Ok(done)
    }

    /// The cashier's abort of a pending card payment: recorded, then sent to the terminal. The
    /// terminal's answer decides; an approval that wins the race stays.
    pub async fn abort(&self, origin: Origin, payment_id: &str) -> Result<Payment> {
        let id = payment_id.to_string();
        let p = self
            .write(origin, move |cx| card::ask_abort(cx, &id))
            .await?;
        let register = self.register_of_payment(&p).await?;
        if let Some(t) = self.inner.terminals.get(&register) {
            if let Err(e) = t.handle.abort().await {
                // The dialogue may have just ended: its answer settles the payment either way.
                tracing::info!(payment = %payment_id, error = %e, "abort not sent");
            }
        }
        Ok(p)
    }

    async fn register_of_payment(&self, p: &Payment) -> Result<String> {
        let sale_id = p.sale_id.clone();
        self.inner
            .store
            .read(move |c| Ok(pos_store::sale(c, &sale_id)?.register_id))
            .await
    }

    /// The payment once it is final, or as it is after `wait` (at most [`WAIT_MAX`]).
    pub async fn wait_final(&self, payment_id: &str, wait: Duration) -> Result<Option<Payment>> {
        let mut rx = self.inner.events.subscribe();
        let deadline = tokio::time::Instant::now() + wait.min(WAIT_MAX);
        loop {
            let id = payment_id.to_string();
            let p = self
                .inner
                .store
                .read(move |c| pos_store::get_payment(c, &id))
                .await?;
            let Some(p) = p else { return Ok(None) };
            if p.state != "pending" || tokio::time::Instant::now() >= deadline {
                return Ok(Some(p));
            }
            // Wake on this payment's next event (or any lag), else at the deadline.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    ev = rx.recv() => match ev {
                        Ok(ev) if ev.kind == "pos.payment"
                            && ev.data.get("payment_id").and_then(Value::as_str) == Some(payment_id) => break,
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(_) => return Ok(Some(p)),
                    },
                }
            }
        }
    }

    /// Offline card exposure of one register, or the site: `(count, total, oldest_at)`.
    pub async fn offline_exposure(
        &self,
        register: Option<String>,
    ) -> Result<(i64, i64, Option<String>)> {
        self.inner
            .store
            .read(move |c| card::offline_exposure(c, register.as_deref()))
            .await
    }

    /// Stored offline card payments older than their register's `offline_card_hours`.
    pub async fn offline_overdue(&self) -> Result<i64> {
        let regs: Vec<(String, i64)> = self
            .inner
            .registers
            .values()
            .map(|r| (r.id.clone(), r.offline_card_hours))
            .collect();
        if regs.is_empty() {
            return Ok(0);
        }
        let now = chrono::Utc::now();
        self.inner
            .store
            .read(move |c| {
                let mut n = 0;
                for (id, hours) in &regs {
                    let cutoff = time::format(now - chrono::Duration::hours(*hours));
                    n += card::offline_overdue(c, id, &cutoff)?;
                }
                Ok(n)
            })
            .await
    }

    /// Everything a previous run left open: pending attempts are asked about, reversals owed are
    /// sent.
    async fn resume(self) {
        let open = self
            .inner
            .store
            .read(|c| Ok((card::pending_attempts(c)?, card::reversals_due(c)?)))
            .await;
        let (pending, reversals) = match open {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "reading open card attempts failed");
                return;
            }
        };
        for a in pending {
            tracing::info!(payment = %a.payment_id, service_id = %a.service_id,
                "card attempt left pending by the last run: asking the terminal");
            self.drive(a, false);
        }
        for r in reversals {
            self.reverse(r);
        }
        self.resume_reversals().await;
    }

    /// One task drives one attempt until the terminal has said what happened to it.
    fn drive(&self, a: PendingAttempt, fresh: bool) {
        {
            let Ok(mut d) = self.inner.driving.lock() else {
                return;
            };
            if !d.insert(a.payment_id.clone()) {
                return;
            }
        }
        let me = self.clone();
        let span = tracing::info_span!("card", register = %a.register_id, device = %a.terminal_id,
            payment = %a.payment_id, sale = %a.sale_id);
        self.spawn(
            async move {
                let id = a.payment_id.clone();
                me.drive_one(a, fresh).await;
                if let Ok(mut d) = me.inner.driving.lock() {
                    d.remove(&id);
                }
            }
            .instrument(span),
        );
    }

    async fn drive_one(&self, a: PendingAttempt, fresh: bool) {
        let Some(t) = self
            .inner
            .registers
            .get(&a.register_id)
            .and_then(|_| self.inner.terminals.get(&a.register_id))
            .filter(|t| t.device_id == a.terminal_id)
            .cloned()
        else {
            tracing::warn!(terminal = %a.terminal_id,
                "the attempt's terminal is not configured any more; it stays pending");
            return;
        };
        let mut outcome = if fresh {
            let req = match decimal_of(a.amount, &a.currency) {
                Ok(amount) => PaymentRequest {
                    sale_transaction_id: a.sale_id.clone(),
                    amount,
                    currency: a.currency.clone(),
                    service_id: Some(a.service_id.clone()),
                },
                Err(e) => {
                    tracing::error!(error = %e, "amount not representable");
                    return;
                }
            };
            let first = tokio::select! {
                r = t.handle.pay(req) => r,
                _ = self.inner.shutdown.cancelled() => return,
            };
            match first {
                // Nothing was sent: the terminal never saw this attempt.
                Err(wms_hardware::Error::Offline(why)) => {
                    let note = format!("terminal unreachable ({why}); nothing was charged");
                    self.settle(
                        &a,
                        TerminalAnswer::NotFound,
                        CardFacts::default(),
                        Some(note),
                    )
                    .await;
                    return;
                }
                Err(wms_hardware::Error::Busy) => {
                    let note = "the terminal is busy with another request; nothing was charged";
                    self.settle(
                        &a,
                        TerminalAnswer::NotFound,
                        CardFacts::default(),
                        Some(note.into()),
                    )
                    .await;
                    return;
                }
                other => other,
            }
        } else {
            self.status(&t, &a.service_id).await
        };
        let mut every = Duration::from_millis(500);
        loop {
            match outcome {
                Ok(PaymentOutcome::Approved(r)) => {
                    let (answer, facts) = approved(&r, a.amount, &a.currency);
                    self.settle(&a, answer, facts, None).await;
                    return;
                }
                Ok(PaymentOutcome::Declined {
                    error_condition, ..
                }) => {
                    let answer = TerminalAnswer::Declined {
                        condition: error_condition,
                    };
                    self.settle(&a, answer, CardFacts::default(), None).await;
                    return;
                }
                Ok(PaymentOutcome::NotProcessed { .. }) => {
                    self.settle(&a, TerminalAnswer::NotFound, CardFacts::default(), None)
                        .await;
                    return;
                }
                Ok(PaymentOutcome::Unknown { .. }) | Err(_) => {
                    if let Err(e) = &outcome {
                        tracing::info!(error = %e, "terminal could not say yet");
                    }
                    self.publish_waiting(&a);
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = self.inner.shutdown.cancelled() => return,
                    }
                    every = (every * 2).min(STATUS_EVERY_MAX);
                    outcome = self.status(&t, &a.service_id).await;
                }
            }
        }
    }

    async fn status(
        &self,
        t: &Terminal,
        service_id: &str,
    ) -> std::result::Result<PaymentOutcome, wms_hardware::Error> {
        tokio::select! {
            r = t.handle.transaction_status(service_id) => r,
            _ = self.inner.shutdown.cancelled() => Err(wms_hardware::Error::Stopped),
        }
    }

    fn publish_waiting(&self, a: &PendingAttempt) {
        self.inner.events.publish(
            "pos.payment",
            json!({"payment_id": a.payment_id, "sale_id": a.sale_id,
                   "register_id": a.register_id, "method": "card", "state": "pending",
                   "waiting_for_terminal": true,
                   "amount": {"amount": a.amount, "currency": a.currency}}),
        );
    }

    /// Settles an answer in one write and carries out what it leaves: events, the receipt, a
    /// reversal.
    async fn settle(
        &self,
        a: &PendingAttempt,
        answer: TerminalAnswer,
        facts: CardFacts,
        note: Option<String>,
    ) {
        let Some(reg) = self.inner.registers.get(&a.register_id).cloned() else {
            return;
        };
        let id = a.payment_id.clone();
        let r = self
            .write(till_origin(&a.register_id), move |cx| {
                card::settle_card(cx, &reg, &id, &answer, &facts, note.as_deref())
            })
            .await;
        match r {
            Ok(s) => self.after_settle(s),
            Err(e) => {
                tracing::error!(payment = %a.payment_id, error = %e, "settling a card answer failed")
            }
        }
    }

    fn after_settle(&self, s: Settled) {
        if s.changed {
            tracing::info!(payment = %s.payment.id, state = %s.payment.state,
                amount = s.payment.amount, "card payment settled");
            publish_payment(&self.inner.events, &s.payment, &s.sale);
            publish_sale(&self.inner.events, &s.sale);
        }
        if s.completed {
            self.inner.print_wake.notify_one();
        }
        if let Some(r) = s.reverse {
            self.reverse(r);
        }
    }

    /// A payment answer for no running dialogue: settled against the attempt it belongs to.
    async fn late_answers(
        self,
        register: String,
        mut rx: tokio::sync::broadcast::Receiver<wms_hardware::device::LateAnswer>,
    ) {
        loop {
            let late = tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                l = rx.recv() => match l {
                    Ok(l) => l,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "late terminal answers missed");
                        continue;
                    }
                    Err(_) => return,
                },
            };
            let sid = late.service_id.clone();
            let found = self
                .inner
                .store
                .read(move |c| {
                    let Some((payment_id, reg)) = card::by_service_id(c, &sid)? else {
                        return Ok(None);
                    };
                    let p = pos_store::get_payment(c, &payment_id)?;
                    let s = pos_store::sale(c, &reg_sale(&p)?)?;
                    Ok(Some((payment_id, reg, p, s)))
                })
                .await;
            let (payment_id, reg, s) = match found {
                Ok(Some((id, reg, _, s))) => (id, reg, s),
                Ok(None) => {
                    tracing::warn!(service_id = %late.service_id, register = %register,
                        "a late terminal answer matches no attempt of this node");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "looking up a late answer failed");
                    continue;
                }
            };
            let a = PendingAttempt {
                payment_id,
                sale_id: s.id.clone(),
                register_id: reg,
                terminal_id: self.terminal_of(&register).unwrap_or_default().to_string(),
                service_id: late.service_id.clone(),
                amount: 0,
                currency: s.currency.clone(),
                abort_asked: false,
            };
            let requested = card_requested(&s, &a.payment_id);
            let (answer, facts) = match &late.outcome {
                PaymentOutcome::Approved(r) => approved(r, requested, &a.currency),
                PaymentOutcome::Declined {
                    error_condition, ..
                } => (
                    TerminalAnswer::Declined {
                        condition: error_condition.clone(),
                    },
                    CardFacts::default(),
                ),
                PaymentOutcome::NotProcessed { .. } => {
                    (TerminalAnswer::NotFound, CardFacts::default())
                }
                PaymentOutcome::Unknown { .. } => continue,
            };
            tracing::info!(payment = %a.payment_id, service_id = %a.service_id, "late terminal answer");
            self.settle(&a, answer, facts, None).await;
        }
    }

    /// Sends a reversal owed until the terminal accepts or refuses it.
    fn reverse(&self, r: ReversalDue) {
        {
            let Ok(mut busy) = self.inner.reversing.lock() else {
                return;
            };
            if !busy.insert(r.payment_id.clone()) {
                return;
            }
        }
        let me = self.clone();
        let span =
            tracing::info_span!("reversal", payment = %r.payment_id, device = %r.terminal_id);
        self.spawn(
            async move {
                let id = r.payment_id.clone();
                me.reverse_one(r).await;
                if let Ok(mut busy) = me.inner.reversing.lock() {
                    busy.remove(&id);
                }
            }
            .instrument(span),
        );
    }

    async fn reverse_one(&self, r: ReversalDue) {
        let Some(t) = self
            .inner
            .terminals
            .values()
            .find(|t| t.device_id == r.terminal_id)
            .cloned()
        else {
            tracing::warn!("reversal owed on a terminal that is not configured; kept owed");
            return;
        };
        let Ok(amount) = decimal_of(r.amount, &r.currency) else {
            return;
        };
        let original = TransactionId {
            transaction_id: r.txn.clone(),
            time_stamp: r.txn_time.clone(),
        };
        let mut every = Duration::from_millis(500);
        loop {
            let sent = tokio::select! {
                x = t.handle.refund(original.clone(), Some(amount)) => x,
                _ = self.inner.shutdown.cancelled() => return,
            };
            match sent {
                Ok(out) => {
                    let id = r.payment_id.clone();
                    let detail = if out.accepted {
                        format!(
                            "reversed {} at the terminal ({})",
                            format_minor(r.amount, &r.currency),
                            out.terminal_transaction_id.unwrap_or_default()
                        )
                    } else {
                        format!(
                            "the terminal refused the reversal ({})",
                            out.error_condition.unwrap_or_default()
                        )
                    };
                    tracing::warn!(accepted = out.accepted, %detail, "unwanted card money");
                    let register = self
                        .inner
                        .terminals
                        .iter()
                        .find(|(_, x)| x.device_id == r.terminal_id)
                        .map(|(k, _)| k.clone())
                        .unwrap_or_default();
                    let accepted = out.accepted;
                    let res = self
                        .write(till_origin(&register), move |cx| {
                            card::record_reversal(cx, &id, accepted, Some(&detail))
                        })
                        .await;
                    if let Err(e) = res {
                        tracing::error!(error = %e, "recording a reversal failed");
                    }
                    return;
                }
                Err(e) => {
                    tracing::info!(error = %e, "reversal not sent yet; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = self.inner.shutdown.cancelled() => return,
                    }
                    every = (every * 2).min(REVERSAL_RETRY_MAX);
                }
            }
        }
    }
}

fn reg_sale(p: &Option<Payment>) -> Result<String> {
    p.as_ref()
        .map(|p| p.sale_id.clone())
        .ok_or_else(|| Error::Internal("payment vanished".into()))
}

/// What was asked of the terminal for payment `id` of `s`.
fn card_requested(s: &Sale, id: &str) -> i64 {
    s.payments
        .iter()
        .find(|p| p.id == id)
        .map(|p| {
            p.card
                .as_ref()
                .and_then(|c| c.get("requested"))
                .and_then(Value::as_i64)
                .unwrap_or(p.amount)
        })
        .unwrap_or(0)
}

async fn card_service_id(store: &Store, payment_id: &str) -> Result<String> {
    let id = payment_id.to_string();
    store
        .read(move |c| {
            Ok(
                c.prepare_cached("SELECT service_id FROM pos_payments WHERE id = ?1")?
                    .query_row([&id], |r| r.get::<_, String>(0))?,
            )
        })
        .await
}

/// An approval as the domain's answer and the facts to keep.
fn approved(r: &PaymentReceipt, requested: i64, currency: &str) -> (TerminalAnswer, CardFacts) {
    let authorized = match r.authorized_amount {
        Some(d) => minor_from_decimal(d.mantissa(), d.scale(), currency).unwrap_or(0),
        None if r.partial => 0,
        None => requested,
    };
    (
        TerminalAnswer::Approved {
            authorized,
            txn: r.terminal_transaction_id.clone().unwrap_or_default(),
        },
        CardFacts {
            brand: r.brand.clone(),
            masked_pan: r.masked_pan.clone(),
            entry_mode: r.entry_mode.clone(),
            approval_code: r.approval_code.clone(),
            terminal_txn_id: r.terminal_transaction_id.clone(),
            terminal_txn_time: r.terminal_time_stamp.clone(),
            terminal_offline: r.offline,
        },
    )
}

/// Money as the API shows it.
pub fn money_json(amount: i64, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

/// `pos.payment` on `/v1/events`.
pub fn publish_payment(events: &EventBus, p: &Payment, s: &Sale) {
    events.publish(
        "pos.payment",
        json!({"payment_id": p.id, "sale_id": s.id, "register_id": s.register_id,
               "tenant_id": s.tenant_id, "method": p.method, "state": p.state,
               "final": CardState::parse(&p.state).is_none_or(|c| c.is_final()),
               "amount": money_json(p.amount, &s.currency), "error": p.error}),
    );
}

/// `pos.sale` on `/v1/events`.
pub fn publish_sale(events: &EventBus, s: &Sale) {
    publish_sale_line(events, s, None);
}

/// `pos.sale` for screens that follow a sale (the register's, the customer display): totals,
/// the line a change touched (or null), and on completion the change handed back.
pub fn publish_sale_line(events: &EventBus, s: &Sale, line: Option<Value>) {
    let c = s.currency.as_str();
    let t = s.priced.totals;
    let b = s.balance;
    let mut event = json!({"sale_id": s.id, "register_id": s.register_id, "status": s.status,
           "tenant_id": s.tenant_id, "receipt_no": s.receipt_no, "line": line,
           "totals": {"subtotal": money_json(t.subtotal, c), "discount": money_json(t.discount, c),
                      "tax": money_json(t.tax, c), "total": money_json(t.total, c),
                      "rounding": money_json(b.rounding, c), "paid": money_json(b.paid, c),
                      "due": money_json(b.due, c), "change": money_json(b.change, c),
                      "refunded": money_json(0, c)}});
    if s.status == "completed" {
        event["change"] = money_json(b.change, c);
    }
    events.publish("pos.sale", event);
}

/// The line whose quantity changed from `before` to `after` (a new line included), else a line
/// that is gone (`qty` 0); `None` when no line changed (a discount, a coupon, a customer).
pub fn changed_line(before: &Sale, after: &Sale) -> Option<Value> {
    let line = |l: &crate::domain::pos::pricing::PricedLine, qty: i64| {
        json!({"line_id": l.line_id, "sku": l.sku, "name": l.name, "qty": qty,
               "unit_price": money_json(l.unit_price, &after.currency)})
    };
    let had = |id: &str| before.priced.lines.iter().find(|l| l.line_id == id);
    if let Some(l) = after
        .priced
        .lines
        .iter()
        .find(|l| had(&l.line_id).map(|b| b.qty) != Some(l.qty))
    {
        return Some(line(l, l.qty));
    }
    before
        .priced
        .lines
        .iter()
        .find(|b| !after.priced.lines.iter().any(|l| l.line_id == b.line_id))
        .map(|b| line(b, 0))
}
