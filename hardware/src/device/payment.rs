//! Payment-terminal task (semi-integrated, nexo-style JSON lines over TCP). One dialogue at a
//! time per terminal. A payment whose response is lost (timeout, dropped connection) is never
//! resent: the task asks the terminal for the transaction status of the same ServiceID until
//! it learns the outcome, so a sale is charged at most once. Only masked PAN, brand, approval
//! code, amounts and the terminal's transaction id are ever kept; nothing of a response is
//! logged but its ServiceID and result.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn, Instrument, Span};

use super::{Common, DeviceContext, Timings};
use crate::decimal::Decimal;
use crate::error::{Error, Result};
use crate::profiles::Profile;
use crate::protocol::nexo::{
    self, JsonDecimal, MessageReference, SaleToPoiRequest, SaleToPoiResponse, TransactionId,
};
use crate::status::{KindStatus, StatusTx};
use crate::transport::{Endpoint, Link};

/// A sale to charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The node's sale reference (stable across attempts).
    pub sale_transaction_id: String,
    /// Amount in major units, exact (e.g. `10.99`).
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: String,
    /// The ServiceID to send, chosen (and stored) by the caller before the request goes out, so
    /// a restarted node can ask the terminal about it; `None` makes a fresh one.
    pub service_id: Option<String>,
}

/// A fresh ServiceID (10 characters, unique per terminal within 48 h).
pub fn fresh_service_id() -> String {
    new_service_id()
}

/// The card-safe facts of an approved payment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PaymentReceipt {
    /// ServiceID of the payment request.
    pub service_id: String,
    /// Our sale reference as echoed.
    pub sale_transaction_id: Option<String>,
    /// Terminal transaction id (needed for refunds).
    pub terminal_transaction_id: Option<String>,
    /// Its timestamp.
    pub terminal_time_stamp: Option<String>,
    /// Masked PAN (at most BIN + last 4).
    pub masked_pan: Option<String>,
    /// Card brand.
    pub brand: Option<String>,
    /// How the card was read (`Contactless`, `ICC`, …).
    pub entry_mode: Option<String>,
    /// Approval code (absent on offline approvals).
    pub approval_code: Option<String>,
    /// Authorised amount (may be less than requested when `partial`).
    pub authorized_amount: Option<Decimal>,
    /// Currency.
    pub currency: Option<String>,
    /// Partially approved.
    pub partial: bool,
    /// Approved offline by the terminal.
    pub offline: bool,
    /// Learned through a transaction-status query after the response was lost.
    pub recovered: bool,
}

/// How a payment ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PaymentOutcome {
    /// Approved (fully or partially).
    Approved(PaymentReceipt),
    /// Declined, cancelled or aborted; the sale is unpaid.
    Declined {
        /// ServiceID.
        service_id: String,
        /// nexo ErrorCondition (Refusal, Aborted, Cancel, …).
        error_condition: Option<String>,
    },
    /// The terminal never processed the request: a new attempt (new ServiceID) is safe.
    NotProcessed {
        /// ServiceID.
        service_id: String,
    },
    /// The outcome could not be learned in time: do not charge again; ask later with
    /// [`PaymentHandle::transaction_status`].
    Unknown {
        /// ServiceID to ask about.
        service_id: String,
    },
}

/// Outcome of a refund (reversal) request. Referenced refunds may be confirmed later.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefundOutcome {
    /// ServiceID of the reversal.
    pub service_id: String,
    /// The terminal accepted the reversal.
    pub accepted: bool,
    /// Why not.
    pub error_condition: Option<String>,
    /// Terminal transaction id of the reversal.
    pub terminal_transaction_id: Option<String>,
}

/// A payment answer for a dialogue that is no longer running (the terminal answered after the
/// node gave up asking, or for another till's request): the caller decides whether money nobody
/// wants must be reversed. Never applied to whatever payment runs now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LateAnswer {
    /// The ServiceID the terminal answered.
    pub service_id: String,
    /// What it said.
    pub outcome: PaymentOutcome,
}

enum Cmd {
    Pay(PaymentRequest, oneshot::Sender<Result<PaymentOutcome>>),
    Refund(
        TransactionId,
        Option<Decimal>,
        Option<String>,
        oneshot::Sender<Result<RefundOutcome>>,
    ),
    Abort(oneshot::Sender<Result<()>>),
    Status(String, oneshot::Sender<Result<PaymentOutcome>>),
    ReversalStatus(String, oneshot::Sender<Result<RefundOutcome>>),
}

/// Handle of a payment terminal.
#[derive(Clone, Debug)]
pub struct PaymentHandle {
    pub(crate) common: Common,
    cmd: mpsc::Sender<Cmd>,
    late: broadcast::Sender<LateAnswer>,
}

impl PaymentHandle {
    /// Latest status.
    pub fn status(&self) -> tokio::sync::watch::Receiver<crate::status::DeviceStatus> {
        self.common.status.clone()
    }

    /// Charges a sale. [`Error::Busy`] when another dialogue runs; [`Error::Offline`] when
    /// nothing was sent. Lost responses are recovered by transaction status, never resent.
    pub async fn pay(&self, req: PaymentRequest) -> Result<PaymentOutcome> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Pay(req, tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Reverses (voids or refunds) a payment by its terminal transaction id; full when
    /// `amount` is `None`.
    pub async fn refund(
        &self,
        original: TransactionId,
        amount: Option<Decimal>,
    ) -> Result<RefundOutcome> {
        self.reverse(original, amount, None).await
    }

    /// [`PaymentHandle::refund`] under a ServiceID the caller chose and stored before sending, so
    /// a restarted node can ask the terminal about that very reversal
    /// ([`PaymentHandle::reversal_status`]) instead of sending a second one.
    pub async fn reverse(
        &self,
        original: TransactionId,
        amount: Option<Decimal>,
        service_id: Option<String>,
    ) -> Result<RefundOutcome> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Refund(original, amount, service_id, tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Outcome of an earlier reversal by its ServiceID. `accepted: false` with error condition
    /// `NotFound` means the terminal never processed it: sending it again is safe.
    pub async fn reversal_status(&self, service_id: &str) -> Result<RefundOutcome> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::ReversalStatus(service_id.to_string(), tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Asks the terminal to abort the running payment (before the card is approved).
    pub async fn abort(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Abort(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Payment answers that arrive for no running dialogue. Subscribe before paying so none is
    /// missed.
    pub fn late_answers(&self) -> broadcast::Receiver<LateAnswer> {
        self.late.subscribe()
    }

    /// Outcome of an earlier payment by its ServiceID (after a restart, or after `Unknown`).
    pub async fn transaction_status(&self, service_id: &str) -> Result<PaymentOutcome> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Status(service_id.to_string(), tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    profile: &'static Profile,
    t: Timings,
    ep: Endpoint,
    sale_id: String,
    poi_id: String,
    ctx: DeviceContext,
    status: StatusTx,
    common: Common,
    span: Span,
) -> (PaymentHandle, Option<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel(8);
    let (late, _) = broadcast::channel(16);
    let version = profile
        .payment
        .as_ref()
        .map_or("3.0".to_string(), |p| p.protocol_version.clone());
    let task = Task {
        t,
        ep,
        sale_id,
        poi_id,
        version,
        status,
        max_line: profile.framing.max_line,
        conn: None,
        inflight: None,
        late: late.clone(),
    };
    let handle = tokio::spawn(task.run(ctx, rx).instrument(span));
    (
        PaymentHandle {
            common,
            cmd: tx,
            late,
        },
        Some(handle),
    )
}

/// Unique per terminal within 48 h: 6 base-36 digits of seconds + 4 of a counter.
fn new_service_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = u64::from(now.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_add(seed);
    format!("{}{}", base36(now.as_secs(), 6), base36(n, 4))
}

fn base36(mut v: u64, width: usize) -> String {
    const D: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = D[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

enum Reply {
    Pay(oneshot::Sender<Result<PaymentOutcome>>),
    Refund(oneshot::Sender<Result<RefundOutcome>>),
}

enum Phase {
    Awaiting {
        deadline: Instant,
    },
    Recovering {
        next_query_at: Instant,
        query: Option<(String, Instant)>,
        give_up_at: Instant,
    },
}

struct Inflight {
    category: &'static str,
    service_id: String,
    reply: Reply,
    phase: Phase,
}

struct Conn {
    rd: BufReader<ReadHalf<Link>>,
    wr: WriteHalf<Link>,
    line: Vec<u8>,
}

struct Task {
    t: Timings,
    ep: Endpoint,
    sale_id: String,
    poi_id: String,
    version: String,
    status: StatusTx,
    max_line: usize,
    conn: Option<Conn>,
    inflight: Option<Inflight>,
    late: broadcast::Sender<LateAnswer>,
}

async fn read_line(conn: &mut Option<Conn>, max: usize) -> Result<Vec<u8>> {
    let Some(c) = conn.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        let n = c.rd.read_until(b'\n', &mut c.line).await?;
        if n == 0 {
            return Err(Error::Offline("terminal closed the connection".into()));
        }
        if c.line.len() > max {
            return Err(Error::Protocol("terminal line too long".into()));
        }
        if c.line.last() == Some(&b'\n') {
            return Ok(std::mem::take(&mut c.line));
        }
    }
}

impl Task {
    async fn run(mut self, ctx: DeviceContext, mut rx: mpsc::Receiver<Cmd>) {
        let mut backoff = self.t.backoff();
        let mut next_connect = Instant::now();
        loop {
            let now = Instant::now();
            if self.conn.is_none() && now >= next_connect {
                match tokio::time::timeout(self.t.status_timeout, self.ep.open()).await {
                    Ok(Ok(link)) => {
                        let (r, w) = tokio::io::split(link);
                        self.conn = Some(Conn {
                            rd: BufReader::new(r),
                            wr: w,
                            line: Vec::new(),
                        });
                        backoff.reset();
                        self.status.online();
                        self.status.seen();
                        info!(endpoint = %self.ep.describe(), "terminal connected");
                    }
                    Ok(Err(e)) => self.status.offline(&e.to_string()),
                    Err(_) => self.status.offline("connect timed out"),
                }
                if self.conn.is_none() {
                    next_connect = Instant::now() + backoff.next_delay();
                }
            }
            self.timers().await;
            let wake = self.next_wake(next_connect);
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(wake) => {}
                c = rx.recv() => match c {
                    Some(c) => self.command(c).await,
                    None => break,
                },
                l = read_line(&mut self.conn, self.max_line) => match l {
                    Ok(line) => {
                        self.status.seen();
                        self.incoming(&line).await;
                    }
                    Err(e) => self.lost(&e.to_string()),
                },
            }
        }
        if let Some(f) = self.inflight.take() {
            let sid = f.service_id.clone();
            resolve_unknown(f, sid);
        }
    }

    fn next_wake(&self, next_connect: Instant) -> Instant {
        let mut w = Instant::now() + Duration::from_secs(1);
        if self.conn.is_none() {
            w = w.min(next_connect);
        }
        if let Some(f) = &self.inflight {
            match &f.phase {
                Phase::Awaiting { deadline } => w = w.min(*deadline),
                Phase::Recovering {
                    next_query_at,
                    query,
                    give_up_at,
                } => {
                    w = w.min(*give_up_at);
                    match query {
                        Some((_, d)) => w = w.min(*d),
                        None => w = w.min(*next_query_at),
                    }
                }
            }
        }
        w
    }

    fn lost(&mut self, e: &str) {
        warn!(error = %e, "terminal connection lost");
        self.conn = None;
        self.status.offline(e);
        if let Some(f) = &mut self.inflight {
            let now = Instant::now();
            match &mut f.phase {
                Phase::Awaiting { .. } => {
                    f.phase = Phase::Recovering {
                        next_query_at: now,
                        query: None,
                        give_up_at: now + self.t.recovery_timeout,
                    }
                }
                Phase::Recovering { query, .. } => *query = None,
            }
        }
    }

    fn header(&self, category: &str, sid: &str) -> nexo::MessageHeader {
        nexo::header(category, sid, &self.sale_id, &self.poi_id, &self.version)
    }

    async fn send(&mut self, req: &SaleToPoiRequest) -> Result<()> {
        let bytes = nexo::encode_request(req)?;
        let Some(c) = self.conn.as_mut() else {
            return Err(Error::Offline("terminal unreachable".into()));
        };
        let r = async {
            c.wr.write_all(&bytes).await?;
            c.wr.flush().await
        }
        .await;
        if let Err(e) = r {
            let msg = e.to_string();
            self.lost(&msg);
            return Err(Error::Offline(msg));
        }
        Ok(())
    }

    fn set_busy(&self, busy: bool) {
        self.status
            .update(|k| *k = KindStatus::PaymentTerminal { busy });
    }

    async fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Pay(req, reply) => {
                if self.inflight.is_some() {
                    let _ = reply.send(Err(Error::Busy));
                    return;
                }
                if self.conn.is_none() {
                    let _ = reply.send(Err(Error::Offline("terminal unreachable".into())));
                    return;
                }
                let sid = req.service_id.clone().unwrap_or_else(new_service_id);
                let msg = SaleToPoiRequest {
                    header: self.header("Payment", &sid),
                    payment: Some(nexo::PaymentRequest {
                        sale_data: nexo::SaleData {
                            sale_transaction_id: TransactionId {
                                transaction_id: req.sale_transaction_id.clone(),
                                time_stamp: chrono::Utc::now()
                                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            },
                        },
                        payment_transaction: nexo::PaymentTransaction {
                            amounts_req: nexo::AmountsReq {
                                currency: req.currency.clone(),
                                requested_amount: JsonDecimal(req.amount),
                            },
                        },
                    }),
                    abort: None,
                    status: None,
                    reversal: None,
                };
                info!(service_id = %sid, sale = %req.sale_transaction_id, "payment requested");
                self.start_dialogue("Payment", sid, Reply::Pay(reply), &msg)
                    .await;
            }
            Cmd::Refund(original, amount, chosen, reply) => {
                if self.inflight.is_some() {
                    let _ = reply.send(Err(Error::Busy));
                    return;
                }
                if self.conn.is_none() {
                    let _ = reply.send(Err(Error::Offline("terminal unreachable".into())));
                    return;
                }
                let sid = chosen.unwrap_or_else(new_service_id);
                let msg = SaleToPoiRequest {
                    header: self.header("Reversal", &sid),
                    reversal: Some(nexo::ReversalRequest {
                        original: nexo::OriginalPoiTransaction {
                            poi_transaction_id: original,
                        },
                        reason: "MerchantCancel".into(),
                        reversed_amount: amount.map(JsonDecimal),
                    }),
                    payment: None,
                    abort: None,
                    status: None,
                };
                info!(service_id = %sid, "reversal requested");
                self.start_dialogue("Reversal", sid, Reply::Refund(reply), &msg)
                    .await;
            }
            Cmd::Abort(reply) => {
                let Some(f) = &self.inflight else {
                    let _ = reply.send(Err(Error::Rejected("no payment is running".into())));
                    return;
                };
                let target = f.service_id.clone();
                let category = f.category;
                let sid = new_service_id();
                let msg = SaleToPoiRequest {
                    header: self.header("Abort", &sid),
                    abort: Some(nexo::AbortRequest {
                        message_reference: MessageReference {
                            message_category: category.into(),
                            sale_id: self.sale_id.clone(),
                            service_id: target,
                        },
                        abort_reason: "MerchantAbort".into(),
                    }),
                    payment: None,
                    status: None,
                    reversal: None,
                };
                let _ = reply.send(self.send(&msg).await);
            }
            Cmd::Status(target, reply) => self.recover("Payment", target, Reply::Pay(reply)),
            Cmd::ReversalStatus(target, reply) => {
                self.recover("Reversal", target, Reply::Refund(reply))
            }
        }
    }

    /// Asks the terminal about an earlier dialogue (after a restart, or after `Unknown`).
    fn recover(&mut self, category: &'static str, target: String, reply: Reply) {
        if self.inflight.is_some() {
            match reply {
                Reply::Pay(r) => {
                    let _ = r.send(Err(Error::Busy));
                }
                Reply::Refund(r) => {
                    let _ = r.send(Err(Error::Busy));
                }
            }
            return;
        }
        let now = Instant::now();
        self.inflight = Some(Inflight {
            category,
            service_id: target,
            reply,
            phase: Phase::Recovering {
                next_query_at: now,
                query: None,
                give_up_at: now + self.t.status_timeout * 4,
            },
        });
        self.set_busy(true);
    }

    async fn start_dialogue(
        &mut self,
        category: &'static str,
        sid: String,
        reply: Reply,
        msg: &SaleToPoiRequest,
    ) {
        let now = Instant::now();
        self.inflight = Some(Inflight {
            category,
            service_id: sid,
            reply,
            phase: Phase::Awaiting {
                deadline: now + self.t.response_timeout,
            },
        });
        self.set_busy(true);
        // A failed write may still have reached the terminal: recover by status either way.
        let _ = self.send(msg).await;
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        let Some(f) = &mut self.inflight else { return };
        match &mut f.phase {
            Phase::Awaiting { deadline } if now >= *deadline => {
                warn!(service_id = %f.service_id, "no response in time; asking for the transaction status");
                f.phase = Phase::Recovering {
                    next_query_at: now,
                    query: None,
                    give_up_at: now + self.t.recovery_timeout,
                };
            }
            _ => {}
        }
        let Some(f) = &mut self.inflight else { return };
        let Phase::Recovering {
            next_query_at,
            query,
            give_up_at,
        } = &mut f.phase
        else {
            return;
        };
        if now >= *give_up_at {
            let f = self.inflight.take();
            if let Some(f) = f {
                warn!(service_id = %f.service_id, "outcome unknown; not charging again");
                let sid = f.service_id.clone();
                resolve_unknown(f, sid);
            }
            self.set_busy(false);
            return;
        }
        if let Some((_, d)) = query {
            if now >= *d {
                *query = None;
                *next_query_at = now;
            } else {
                return;
            }
        }
        if now < *next_query_at || self.conn.is_none() {
            return;
        }
        let qsid = new_service_id();
        *query = Some((qsid.clone(), now + self.t.status_timeout));
        let (category, target) = (f.category, f.service_id.clone());
        let msg = SaleToPoiRequest {
            header: self.header("TransactionStatus", &qsid),
            status: Some(nexo::TransactionStatusRequest {
                message_reference: MessageReference {
                    message_category: category.into(),
                    sale_id: self.sale_id.clone(),
                    service_id: target,
                },
            }),
            payment: None,
            abort: None,
            reversal: None,
        };
        let _ = self.send(&msg).await;
    }

    async fn incoming(&mut self, line: &[u8]) {
        let resp = match nexo::decode_response(line) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "unreadable terminal message ignored");
                return;
            }
        };
        let sid = resp.header.service_id.clone().unwrap_or_default();
        let Some(f) = &mut self.inflight else {
            self.late_answer(&sid, &resp);
            return;
        };
        if sid == f.service_id {
            if resp.payment.is_some() || resp.reversal.is_some() {
                if let Some(f) = self.inflight.take() {
                    finish(f, &resp, false);
                }
                self.set_busy(false);
            }
            return;
        }
        if let (
            Some(st),
            Phase::Recovering {
                query,
                next_query_at,
                ..
            },
        ) = (&resp.status, &mut f.phase)
        {
            if query.as_ref().map(|q| q.0.as_str()) != Some(sid.as_str()) {
                return;
            }
            *query = None;
            let cond = st.response.error_condition.as_deref();
            if st.response.result == "Success" {
                if let Some(rep) = &st.repeated {
                    if rep.message_header.service_id.as_deref() == Some(f.service_id.as_str()) {
                        let original = SaleToPoiResponse {
                            header: rep.message_header.clone(),
                            payment: rep.body.payment_response.clone(),
                            reversal: rep.body.reversal_response.clone(),
                            status: None,
                        };
                        if let Some(f) = self.inflight.take() {
                            info!(service_id = %f.service_id, "outcome recovered by transaction status");
                            finish(f, &original, true);
                        }
                        self.set_busy(false);
                        return;
                    }
                }
            }
            if cond == Some("NotFound") {
                if let Some(f) = self.inflight.take() {
                    info!(service_id = %f.service_id, "terminal never processed the request");
                    let sid = f.service_id.clone();
                    match f.reply {
                        Reply::Pay(r) => {
                            let _ = r.send(Ok(PaymentOutcome::NotProcessed { service_id: sid }));
                        }
                        Reply::Refund(r) => {
                            let _ = r.send(Ok(RefundOutcome {
                                service_id: sid,
                                accepted: false,
                                error_condition: Some("NotFound".into()),
                                terminal_transaction_id: None,
                            }));
                        }
                    }
                }
                self.set_busy(false);
                return;
            }
            // InProgress or anything else: ask again shortly.
            *next_query_at = Instant::now() + self.t.poll_interval.min(Duration::from_secs(1));
            return;
        }
        self.late_answer(&sid, &resp);
    }

    /// A payment response for no running dialogue goes to whoever listens for late answers;
    /// anything else unmatched is dropped.
    fn late_answer(&self, sid: &str, resp: &SaleToPoiResponse) {
        match &resp.payment {
            Some(p) => {
                info!(service_id = %sid, result = %p.response.result, "late payment response");
                let _ = self.late.send(LateAnswer {
                    service_id: sid.to_string(),
                    outcome: payment_outcome(sid.to_string(), p, false),
                });
            }
            None => info!(service_id = %sid, "response for no running dialogue ignored"),
        }
    }
}

fn resolve_unknown(f: Inflight, sid: String) {
    match f.reply {
        Reply::Pay(r) => {
            let _ = r.send(Ok(PaymentOutcome::Unknown { service_id: sid }));
        }
        Reply::Refund(r) => {
            let _ = r.send(Err(Error::Timeout(format!(
                "reversal {sid}: outcome unknown"
            ))));
        }
    }
}

/// What a payment response says, with only card-safe fields.
fn payment_outcome(sid: String, p: &nexo::PaymentResponse, recovered: bool) -> PaymentOutcome {
    let result = p.response.result.as_str();
    if result != "Success" && result != "Partial" {
        return PaymentOutcome::Declined {
            service_id: sid,
            error_condition: p.response.error_condition.clone(),
        };
    }
    let pr = p.payment_result.as_ref();
    let card = pr
        .and_then(|x| x.instrument.as_ref())
        .and_then(|i| i.card_data.as_ref());
    let amounts = pr.and_then(|x| x.amounts.as_ref());
    let poi = p.poi_data.as_ref().map(|d| &d.poi_transaction_id);
    PaymentOutcome::Approved(PaymentReceipt {
        service_id: sid,
        sale_transaction_id: p
            .sale_data
            .as_ref()
            .map(|s| s.sale_transaction_id.transaction_id.clone()),
        terminal_transaction_id: poi.map(|t| t.transaction_id.clone()),
        terminal_time_stamp: poi.map(|t| t.time_stamp.clone()),
        masked_pan: card.and_then(|c| c.masked_pan.clone()),
        brand: card.and_then(|c| c.payment_brand.clone()),
        entry_mode: card.and_then(|c| c.entry_mode.clone()),
        approval_code: pr
            .and_then(|x| x.acquirer.as_ref())
            .and_then(|a| a.approval_code.clone()),
        authorized_amount: amounts.and_then(|a| a.authorized_amount).map(|a| a.0),
        currency: amounts.and_then(|a| a.currency.clone()),
        partial: result == "Partial",
        offline: pr.and_then(|x| x.online) == Some(false),
        recovered,
    })
}

fn finish(f: Inflight, resp: &SaleToPoiResponse, recovered: bool) {
    let sid = f.service_id;
    match f.reply {
        Reply::Pay(r) => {
            let Some(p) = &resp.payment else {
                let _ = r.send(Err(Error::Protocol(
                    "status reply without a payment response".into(),
                )));
                return;
            };
            info!(service_id = %sid, result = %p.response.result, recovered, "payment finished");
            let out = payment_outcome(sid, p, recovered);
            let _ = r.send(Ok(out));
        }
        Reply::Refund(r) => {
            let Some(rv) = &resp.reversal else {
                let _ = r.send(Err(Error::Protocol(
                    "status reply without a reversal response".into(),
                )));
                return;
            };
            let _ = r.send(Ok(RefundOutcome {
                service_id: sid,
                accepted: rv.response.result == "Success",
                error_condition: rv.response.error_condition.clone(),
                terminal_transaction_id: rv
                    .poi_data
                    .as_ref()
                    .map(|d| d.poi_transaction_id.transaction_id.clone()),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_are_short_unique_alnum() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_service_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids
            .iter()
            .all(|s| s.len() == 10 && s.bytes().all(|b| b.is_ascii_alphanumeric())));
    }
}
