//! A reference central platform for tests, `demo` and `wms-edge central-sim`: the server side of
//! `sync-api.md` on 127.0.0.1 (port 0 by default) with configurable fault injection. Its durable
//! state (applied ids in order, per-aggregate last seq, stock, the changes feed, ID blocks) lives
//! in SQLite ([`db`]): in memory by default, so tests stay fast, or in a file
//! ([`SimConfig::db_path`]) so a restarted simulator still answers `duplicate` for what it applied
//! before. It records every applied event in order so tests can check exactly-once and
//! per-aggregate order. Configuration, fault dice and per-request records stay in memory.
//!
//! It keeps the balances of `sync-api.md` too: gift cards (by code, with currency and active flag)
//! and store credit per customer, spent and issued once per idempotency id.
//!
//! Three things beyond the contract make it usable on its own: `POST /sim/changes` appends changes
//! to the feed by hand, `PUT /sim/gift-cards/{code}` and `PUT /sim/customers/{id}/credit` set
//! balances, and [`SimConfig::webhook`] makes it ring the edge's doorbell.

mod db;

use crate::client::Credentials;
use crate::error::SyncError;
use crate::sign::verify_request;
use crate::wire::{
    BatchResponse, ChangesPage, CreditTransactionRequest, ErrorBody, ErrorObject, EventResult,
    EventStatus, GiftCard, IdBlock, IdBlockRequest, Money, Pagination, RedemptionRequest,
    ResultError, SiteStatusResponse, StoreCredit,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use base64::Engine;
use chrono::Utc;
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tracing::{debug, warn};

/// Fault rates (each 0.0–1.0, checked in this order per request).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// 500 before doing anything.
    pub server_error: f64,
    /// 429 with `Retry-After: retry_after_s` (and an `X-RateLimit-Reset`).
    pub rate_limited: f64,
    /// Seconds sent in `Retry-After`.
    pub retry_after_s: u64,
    /// Hold the request for `hang_for`, then 503 (the client should time out first).
    pub hang: f64,
    /// How long a hang lasts.
    pub hang_for: Duration,
    /// Reset the connection before doing anything.
    pub reset: f64,
    /// Do the work (apply the batch, grant the block), then lose the answer (reset or hang).
    pub lost_response: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            server_error: 0.0,
            rate_limited: 0.0,
            retry_after_s: 1,
            hang: 0.0,
            hang_for: Duration::from_secs(5),
            reset: 0.0,
            lost_response: 0.0,
        }
    }
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Faults::default()
    }

    /// Every kind of fault at `rate` each (so about `5 × rate` of requests fail).
    pub fn chaos(rate: f64, hang_for: Duration) -> Self {
        Faults {
            server_error: rate,
            rate_limited: rate,
            retry_after_s: 0,
            hang: rate,
            hang_for,
            reset: rate,
            lost_response: rate,
        }
    }
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The one site this central serves.
    pub site_id: String,
    /// Accepted bearer key.
    pub api_key: String,
    /// The site's signing secret.
    pub signing_secret: Vec<u8>,
    /// Allowed `X-Timestamp` distance (contract: 300 s).
    pub timestamp_window_s: i64,
    /// Faults.
    pub faults: Faults,
    /// Events whose `data.sku` is listed are rejected (`validation_error`, "unknown sku").
    pub reject_skus: HashSet<String>,
    /// Added to the central's clock: in `server_time` and when it judges `X-Timestamp`.
    pub clock_offset_s: i64,
    /// RNG seed for faults (reproducible runs).
    pub seed: u64,
    /// Which endpoints get faults: push always; pulls and status when true.
    pub faults_on_reads: bool,
    /// SQLite file for the durable state; `None` = in memory (gone when the simulator stops).
    pub db_path: Option<PathBuf>,
    /// Where to ring the doorbell webhook after new changes (`None` = never; edges long-poll).
    pub webhook: Option<WebhookTarget>,
}

/// The edge endpoint the simulator rings (`POST {edge}/v1/sync/webhook`) and the site's webhook
/// secret it signs the body with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// Full URL, e.g. `http://127.0.0.1:8080/v1/sync/webhook`.
    pub url: String,
    /// The site's webhook secret (`[central] webhook_secret` on the edge).
    pub secret: Vec<u8>,
}

impl SimConfig {
    /// A fault-free simulator for `site_id` with test credentials.
    pub fn new(site_id: &str) -> Self {
        SimConfig {
            site_id: site_id.to_string(),
            api_key: "test-key".into(),
            signing_secret: b"test-signing-secret".to_vec(),
            timestamp_window_s: 300,
            faults: Faults::none(),
            reject_skus: HashSet::new(),
            clock_offset_s: 0,
            seed: 1,
            faults_on_reads: true,
            db_path: None,
            webhook: None,
        }
    }
}

/// An event the central applied, in application order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEvent {
    /// Event id.
    pub id: String,
    /// Event seq.
    pub seq: u64,
    /// `<aggregate.type>:<aggregate.id>`.
    pub aggregate: String,
    /// Event type.
    pub kind: String,
    /// `data.sku` and `data.delta` when present (stock checks).
    pub sku_delta: Option<(String, i64)>,
}

/// The central's stock of one (tenant, sku, location, lot), from the applied
/// `inventory.adjusted` deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimStock {
    /// `data.tenant_id`.
    pub tenant_id: String,
    /// `data.sku`.
    pub sku: String,
    /// `data.location`.
    pub location: String,
    /// `data.lot`, empty when null.
    pub lot: String,
    /// Sum of the applied deltas.
    pub on_hand: i64,
}

/// One `POST events` request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    /// First event id of the body (empty if unparseable).
    pub first_id: String,
    /// Events in the body.
    pub events: usize,
    /// SHA-256 of the raw body (hex), to check byte-identical resends.
    pub body_sha256: String,
    /// Injected fault, if any.
    pub fault: Option<&'static str>,
}

/// A gift-card redemption the central applied, in application order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRedemption {
    /// The idempotency id.
    pub id: String,
    /// The card.
    pub code: String,
    /// What was taken off the card.
    pub amount: Money,
    /// The sale it paid for.
    pub sale_id: String,
    /// Given back to the card since.
    pub reversed: bool,
}

/// A store-credit transaction the central booked, in booking order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCreditTransaction {
    /// The idempotency id.
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// Negative spent, positive issued.
    pub amount: Money,
    /// The sale, if any.
    pub sale_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// One request to a balance route as received (after authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRecord {
    /// `gift_card`, `redemption`, `reversal`, `credit` or `credit_transaction`.
    pub route: &'static str,
    /// The card code or customer id of the path.
    pub key: String,
    /// The idempotency id (body or path), when there is one.
    pub id: Option<String>,
    /// Injected fault, if any.
    pub fault: Option<&'static str>,
}

/// Counters of what this simulator process did (not kept across a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// All requests.
    pub requests: u64,
    /// Results `applied`.
    pub applied: u64,
    /// Results `duplicate`.
    pub duplicates: u64,
    /// Results `rejected`.
    pub rejected: u64,
    /// Auth failures (401/403).
    pub auth_failures: u64,
    /// Injected faults by kind.
    pub faults: HashMap<&'static str, u64>,
    /// Events applied out of per-aggregate order (must stay 0).
    pub order_violations: u64,
    /// Doorbells the edge answered with 2xx.
    pub doorbells: u64,
    /// Doorbells that failed (no answer or non-2xx); the edge's long poll still finds the changes.
    pub doorbell_failures: u64,
    /// Redemptions, reversals and credit transactions applied (balances changed).
    pub balance_applied: u64,
    /// Balance operations answered with the first result of an id seen before.
    pub balance_replayed: u64,
    /// Balance operations refused (404, 409, 422): nothing changed.
    pub balance_refused: u64,
}

#[derive(Debug)]
struct Inner {
    cfg: SimConfig,
    rng: StdRng,
    forced_acked_through: u64,
    pushes: Vec<PushRecord>,
    balance_requests: Vec<BalanceRecord>,
    stats: SimStats,
    /// The last change id handed out; allocated and queued under this lock so the database
    /// thread inserts changes in id order.
    last_change: u64,
    record_pushes: bool,
}

struct SimState {
    inner: Mutex<Inner>,
    db: db::Db,
    /// Mirrors of the database's high-water mark and applied count, updated on the database
    /// thread right after each commit (so a push whose client gave up mid-request still counts),
    /// for tests to poll without a database round trip.
    acked_through: Arc<AtomicU64>,
    applied: Arc<AtomicU64>,
    /// The highest committed change id; long polls wait on it.
    changes_tx: watch::Sender<u64>,
    request_ids: AtomicU64,
}

impl SimState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Clone)]
struct ConnKill(Arc<Notify>);

/// A running simulator. Dropping it stops the server.
pub struct CentralSim {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

const MAX_BODY: usize = 1 << 20;
const MAX_EVENTS: usize = 500;

fn error_response(state: &SimState, status: StatusCode, code: &str, message: &str) -> Response {
    let n = state.request_ids.fetch_add(1, Ordering::Relaxed);
    let body = ErrorBody {
        error: ErrorObject {
            code: code.to_string(),
            message: message.to_string(),
            details: Vec::new(),
            request_id: Some(format!("req_{n:08}")),
        },
    };
    (status, Json(body)).into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ServerError,
    RateLimited,
    Hang,
    Reset,
    Lost,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::ServerError => "server_error",
            Fault::RateLimited => "rate_limited",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
            Fault::Lost => "lost_response",
        }
    }
}

impl CentralSim {
    /// Starts on 127.0.0.1 with an OS-chosen port.
    pub async fn start(cfg: SimConfig) -> Result<Self, SyncError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr` (for running it standalone).
    pub async fn start_on(addr: SocketAddr, cfg: SimConfig) -> Result<Self, SyncError> {
        let (db, loaded) = db::Db::open(cfg.db_path.clone(), cfg.site_id.clone()).await?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (changes_tx, _) = watch::channel(loaded.last_change);
        let state = Arc::new(SimState {
            inner: Mutex::new(Inner {
                rng: StdRng::seed_from_u64(cfg.seed),
                cfg,
                forced_acked_through: 0,
                pushes: Vec::new(),
                balance_requests: Vec::new(),
                stats: SimStats::default(),
                last_change: loaded.last_change,
                record_pushes: true,
            }),
            db,
            acked_through: Arc::new(AtomicU64::new(loaded.acked_through)),
            applied: Arc::new(AtomicU64::new(loaded.applied)),
            changes_tx,
            request_ids: AtomicU64::new(1),
        });
        let router = Router::new()
            .route("/v2/edge/sites/{site}/events", post(push_events))
            .route("/v2/edge/sites/{site}/status", get(site_status))
            .route("/v2/edge/sites/{site}/changes", get(changes))
            .route("/v2/edge/sites/{site}/id-blocks", post(id_blocks))
            .route("/v2/edge/sites/{site}/gift-cards/{code}", get(gift_card))
            .route(
                "/v2/edge/sites/{site}/gift-cards/{code}/redemptions",
                post(redeem),
            )
            .route(
                "/v2/edge/sites/{site}/gift-cards/{code}/redemptions/{id}/reversal",
                post(reverse),
            )
            .route(
                "/v2/edge/sites/{site}/customers/{customer}/credit",
                get(credit),
            )
            .route(
                "/v2/edge/sites/{site}/customers/{customer}/credit/transactions",
                post(credit_transaction),
            )
            .route("/sim/changes", post(add_changes))
            .route(
                "/sim/gift-cards/{code}",
                put(put_gift_card).get(get_gift_card),
            )
            .route(
                "/sim/customers/{customer}/credit",
                put(put_credit).get(get_credit),
            )
            .with_state(state.clone());
        let (shutdown, sd_rx) = watch::channel(false);
        let webhook = state.lock().cfg.webhook.clone();
        if let Some(target) = webhook {
            // Subscribe here, not in the task: a change committed before the task first runs
            // must still ring.
            let mut changes = state.changes_tx.subscribe();
            changes.borrow_and_update();
            tokio::spawn(ring_doorbells(
                state.clone(),
                target,
                changes,
                sd_rx.clone(),
            ));
        }
        let task = tokio::spawn(serve(listener, router, sd_rx));
        Ok(CentralSim {
            addr,
            state,
            shutdown,
            task: Some(task),
        })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `central_url` to configure on the edge.
    pub fn url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// Credentials matching this simulator.
    pub fn credentials(&self) -> Credentials {
        let g = self.state.lock();
        Credentials {
            central_url: self.url(),
            site_id: g.cfg.site_id.clone(),
            api_key: g.cfg.api_key.clone(),
            signing_secret: g.cfg.signing_secret.clone(),
        }
    }

    /// Changes the accepted API key (401 tests).
    pub fn set_api_key(&self, key: &str) {
        self.state.lock().cfg.api_key = key.to_string();
    }

    /// Changes fault rates.
    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().cfg.faults = faults;
    }

    /// Changes the rejected SKU list.
    pub fn set_reject_skus(&self, skus: &[&str]) {
        self.state.lock().cfg.reject_skus = skus.iter().map(|s| s.to_string()).collect();
    }

    /// Pretends the central has seen events up to `seq` (divergence tests).
    pub fn force_acked_through(&self, seq: u64) {
        self.state.lock().forced_acked_through = seq;
    }

    /// Changes the clock offset reported in `server_time`.
    pub fn set_clock_offset(&self, secs: i64) {
        self.state.lock().cfg.clock_offset_s = secs;
    }

    /// Keep or stop keeping per-request records of pushes and balance calls (benchmarks turn it
    /// off).
    pub fn record_pushes(&self, on: bool) {
        self.state.lock().record_pushes = on;
    }

    /// Appends a change to the site's feed and returns its `change_id` at once; the database
    /// thread commits it and then wakes long polls (so a poll never sees an id before its row).
    pub fn push_change(&self, kind: &str, object: serde_json::Value) -> u64 {
        push_change_to(&self.state, kind, object)
    }

    /// Events applied, in order (since the database was created). Empty if the database failed.
    pub fn applied(&self) -> Vec<AppliedEvent> {
        self.state
            .db
            .call_blocking(db::applied)
            .unwrap_or_else(|e| {
                warn!(error = %e, "simulator could not read applied events");
                Vec::new()
            })
    }

    /// Number of events applied (since the database was created).
    pub fn applied_count(&self) -> usize {
        usize::try_from(self.state.applied.load(Ordering::Acquire)).unwrap_or(usize::MAX)
    }

    /// The central's stock per (tenant, sku, location, lot), ordered by that key.
    pub fn stock(&self) -> Vec<SimStock> {
        self.state.db.call_blocking(db::stock).unwrap_or_else(|e| {
            warn!(error = %e, "simulator could not read stock");
            Vec::new()
        })
    }

    /// Every push request received.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.state.lock().pushes.clone()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.state.lock().stats.clone()
    }

    /// The high-water mark.
    pub fn acked_through(&self) -> u64 {
        self.state.acked_through.load(Ordering::Acquire)
    }

    /// ID blocks granted, in order.
    pub fn grants(&self) -> Vec<IdBlock> {
        self.state.db.call_blocking(db::grants).unwrap_or_else(|e| {
            warn!(error = %e, "simulator could not read ID blocks");
            Vec::new()
        })
    }

    /// Creates or replaces a gift card with `amount` minor units of `currency` (ISO 4217).
    pub fn set_gift_card(
        &self,
        code: &str,
        amount: i64,
        currency: &str,
        active: bool,
    ) -> Result<(), SyncError> {
        let card = GiftCard {
            code: code.to_string(),
            balance: seed_money(amount, currency)?,
            active,
        };
        self.state
            .db
            .call_blocking(move |c| db::set_gift_card(c, &card))
    }

    /// A gift card as the central holds it (`None`: unknown, or the database failed).
    pub fn gift_card(&self, code: &str) -> Option<GiftCard> {
        let code = code.to_string();
        self.state
            .db
            .call_blocking(move |c| db::gift_card(c, &code))
            .unwrap_or_else(|e| {
                warn!(error = %e, "simulator could not read a gift card");
                None
            })
    }

    /// Every redemption applied, in order, with whether it was reversed since.
    pub fn redemptions(&self) -> Vec<SimRedemption> {
        self.state
            .db
            .call_blocking(db::redemptions)
            .unwrap_or_else(|e| {
                warn!(error = %e, "simulator could not read redemptions");
                Vec::new()
            })
    }

    /// Creates or replaces a customer's store credit with `amount` minor units of `currency`.
    pub fn set_credit(
        &self,
        customer_id: &str,
        amount: i64,
        currency: &str,
    ) -> Result<(), SyncError> {
        let credit = StoreCredit {
            customer_id: customer_id.to_string(),
            balance: seed_money(amount, currency)?,
        };
        self.state
            .db
            .call_blocking(move |c| db::set_credit(c, &credit))
    }

    /// A customer's store credit as the central holds it (`None`: no account).
    pub fn credit(&self, customer_id: &str) -> Option<StoreCredit> {
        let customer_id = customer_id.to_string();
        self.state
            .db
            .call_blocking(move |c| db::credit(c, &customer_id))
            .unwrap_or_else(|e| {
                warn!(error = %e, "simulator could not read store credit");
                None
            })
    }

    /// Every store-credit transaction booked, in order.
    pub fn credit_transactions(&self) -> Vec<SimCreditTransaction> {
        self.state
            .db
            .call_blocking(db::credit_transactions)
            .unwrap_or_else(|e| {
                warn!(error = %e, "simulator could not read credit transactions");
                Vec::new()
            })
    }

    /// Every request to a balance route received (kept like push records).
    pub fn balance_requests(&self) -> Vec<BalanceRecord> {
        self.state.lock().balance_requests.clone()
    }

    /// Stops the server and waits for the accept loop.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Appends a change (for [`CentralSim::push_change`] and `POST /sim/changes`): the id is taken
/// under the state lock and the insert queued under it too, so the database thread stores
/// changes in id order; long polls are woken only after the commit.
fn push_change_to(state: &Arc<SimState>, kind: &str, object: serde_json::Value) -> u64 {
    let mut g = state.lock();
    g.last_change += 1;
    let id = g.last_change;
    let kind = kind.to_string();
    let text = object.to_string();
    let woken = state.clone();
    let queued = state
        .db
        .submit(move |c| match db::insert_change(c, id, &kind, &text) {
            Ok(()) => {
                woken.changes_tx.send_replace(id);
            }
            Err(e) => warn!(error = %e, change_id = id, "simulator could not store a change"),
        });
    if let Err(e) = queued {
        warn!(error = %e, change_id = id, "simulator could not queue a change");
    }
    id
}

impl Drop for CentralSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Rings the doorbell once per burst of new changes: waits for the committed change id to move,
/// then posts `changes.available` signed with the webhook secret. A failed ring is only counted:
/// the doorbell is a hint, the edge's cursor and long poll are the path for data.
async fn ring_doorbells(
    state: Arc<SimState>,
    target: WebhookTarget,
    mut rx: watch::Receiver<u64>,
    mut sd: watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "simulator cannot build its webhook client");
            return;
        }
    };
    let site_id = state.lock().cfg.site_id.clone();
    let body = match serde_json::to_vec(&crate::wire::Doorbell {
        kind: "changes.available".into(),
        site_id,
    }) {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "simulator cannot encode the doorbell");
            return;
        }
    };
    let signature = match crate::sign::sign_webhook(&target.secret, &body) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "simulator cannot sign the doorbell");
            return;
        }
    };
    loop {
        tokio::select! {
            r = rx.changed() => if r.is_err() { break },
            _ = sd.changed() => break,
        }
        rx.borrow_and_update();
        let sent = http
            .post(&target.url)
            .header("content-type", "application/json")
            .header("x-webhook-signature", &signature)
            .body(body.clone())
            .send()
            .await;
        let ok = matches!(&sent, Ok(r) if r.status().is_success());
        if !ok {
            debug!(result = ?sent.map(|r| r.status()), "doorbell not accepted");
        }
        let mut g = state.lock();
        if ok {
            g.stats.doorbells += 1;
        } else {
            g.stats.doorbell_failures += 1;
        }
    }
}

/// Accept loop: one hyper connection per socket, with a kill switch the handlers use to
/// simulate connection resets (SO_LINGER 0, so the peer sees RST).
async fn serve(listener: TcpListener, router: Router, mut sd: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    warn!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = sd.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_zero_linger();
        let router = router.clone();
        let mut sd = sd.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let k = kill.clone();
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnKill(k.clone()));
                router.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => if let Err(e) = r { debug!(error = %e, "simulator connection ended"); },
                _ = kill.notified() => debug!("simulator reset a connection"),
                _ = sd.changed() => {}
            }
        });
    }
}

/// Checks bearer, timestamp window, signature and site. Returns the error response on failure.
fn authenticate(
    state: &SimState,
    site: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Box<Response>> {
    let (key, secret, window, site_id, offset) = {
        let g = state.lock();
        (
            g.cfg.api_key.clone(),
            g.cfg.signing_secret.clone(),
            g.cfg.timestamp_window_s,
            g.cfg.site_id.clone(),
            g.cfg.clock_offset_s,
        )
    };
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let fail = |status: StatusCode, code: &str, msg: &str| {
        state.lock().stats.auth_failures += 1;
        Box::new(error_response(state, status, code, msg))
    };
    let bearer = text("authorization").and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(key.as_str()) {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid API key",
        ));
    }
    let Some(ts_text) = text("x-timestamp") else {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing X-Timestamp",
        ));
    };
    let Ok(ts) = ts_text.parse::<i64>() else {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "X-Timestamp is not an integer",
        ));
    };
    // The window is judged by the central's own clock, offset like the `server_time` it reports.
    if (Utc::now().timestamp() + offset - ts).abs() > window {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "timestamp outside the allowed window",
        ));
    }
    let sig = text("x-signature").unwrap_or("");
    if !verify_request(&secret, ts_text, body, sig) {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "bad signature",
        ));
    }
    if site != site_id {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "permission_error",
            "key not valid for this site",
        ));
    }
    Ok(())
}

fn roll_fault(state: &SimState, is_read: bool) -> Option<Fault> {
    let mut g = state.lock();
    if is_read && !g.cfg.faults_on_reads {
        return None;
    }
    let f = g.cfg.faults.clone();
    let r: f64 = g.rng.random();
    let mut acc = 0.0;
    let mut pick = None;
    for (rate, fault) in [
        (f.server_error, Fault::ServerError),
        (f.rate_limited, Fault::RateLimited),
        (f.hang, Fault::Hang),
        (f.reset, Fault::Reset),
        (f.lost_response, Fault::Lost),
    ] {
        acc += rate;
        if r < acc {
            pick = Some(fault);
            break;
        }
    }
    if let Some(p) = pick {
        *g.stats.faults.entry(p.name()).or_default() += 1;
    }
    pick
}

/// Faults that happen before any work. `None` = go on (possibly with `Lost` after the work).
async fn early_fault(state: &SimState, fault: Option<Fault>, kill: &ConnKill) -> Option<Response> {
    let (retry_after, hang_for) = {
        let g = state.lock();
        (g.cfg.faults.retry_after_s, g.cfg.faults.hang_for)
    };
    match fault? {
        Fault::ServerError => Some(error_response(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "injected server error",
        )),
        Fault::RateLimited => {
            let mut r = error_response(
                state,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "slow down",
            );
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                h.insert("retry-after", v);
            }
            // A later reset than Retry-After: the client must prefer Retry-After.
            let reset = Utc::now().timestamp() + retry_after as i64 + 30;
            if let Ok(v) = HeaderValue::from_str(&reset.to_string()) {
                h.insert("x-ratelimit-reset", v);
            }
            Some(r)
        }
        Fault::Hang => {
            tokio::time::sleep(hang_for).await;
            Some(error_response(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "hung",
            ))
        }
        Fault::Reset => Some(reset(kill).await),
        Fault::Lost => None,
    }
}

async fn reset(kill: &ConnKill) -> Response {
    kill.0.notify_one();
    // The connection task drops this handler with the socket.
    std::future::pending::<Response>().await
}

async fn lose(state: &SimState, kill: &ConnKill) -> Response {
    let (coin, hang_for) = {
        let mut g = state.lock();
        (g.rng.random::<bool>(), g.cfg.faults.hang_for)
    };
    if coin {
        reset(kill).await
    } else {
        tokio::time::sleep(hang_for).await;
        reset(kill).await
    }
}

#[derive(Deserialize)]
struct WireEvents {
    events: Vec<serde_json::Value>,
}

async fn push_events(
    State(state): State<Arc<SimState>>,
    Path(site): Path<String>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.lock().stats.requests += 1;
    if let Err(r) = authenticate(&state, &site, &headers, &body) {
        return *r;
    }
    let fault = roll_fault(&state, false);
    {
        let mut g = state.lock();
        if g.record_pushes {
            let first_id = serde_json::from_slice::<WireEvents>(&body)
                .ok()
                .and_then(|w| {
                    w.events
                        .first()
                        .and_then(|e| e["id"].as_str().map(String::from))
                })
                .unwrap_or_default();
            let events = body.windows(6).filter(|w| w == b"\"seq\":").count();
            g.pushes.push(PushRecord {
                first_id,
                events,
                body_sha256: hex::encode(Sha256::digest(&body)),
                fault: fault.map(Fault::name),
            });
        }
    }
    if let Some(r) = early_fault(&state, fault, &kill).await {
        return r;
    }
    if body.len() > MAX_BODY {
        return error_response(
            &state,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "batch body over 1 MiB",
        );
    }
    let parsed: WireEvents = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return error_response(
                &state,
                StatusCode::BAD_REQUEST,
                "validation_error",
                &format!("malformed batch: {e}"),
            )
        }
    };
    let resp = match apply_batch(&state, &site, parsed.events).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if fault == Some(Fault::Lost) {
        return lose(&state, &kill).await;
    }
    (StatusCode::OK, Json(resp)).into_response()
}

fn parse_event(site: &str, e: &serde_json::Value) -> Result<db::Incoming, String> {
    let id = e["id"].as_str().ok_or("event without id")?.to_string();
    let seq = e["seq"]
        .as_u64()
        .filter(|s| i64::try_from(*s).is_ok())
        .ok_or("event without a valid seq")?;
    if id != format!("{site}:{seq:012}") {
        return Err(format!("id {id} does not match seq {seq}"));
    }
    let kind = e["type"].as_str().ok_or("event without type")?.to_string();
    let at = e["aggregate"]["type"]
        .as_str()
        .ok_or("event without aggregate.type")?;
    let ai = e["aggregate"]["id"]
        .as_str()
        .ok_or("event without aggregate.id")?;
    for f in ["occurred_at", "actor", "data"] {
        if e.get(f).is_none() {
            return Err(format!("event {id} without {f}"));
        }
    }
    let d = &e["data"];
    let text = |f: &str| d[f].as_str().map(String::from);
    let stock_key = if kind == "inventory.adjusted" {
        match (text("tenant_id"), text("sku"), text("location")) {
            (Some(t), Some(s), Some(l)) => Some((t, s, l, text("lot").unwrap_or_default())),
            _ => None,
        }
    } else {
        None
    };
    Ok(db::Incoming {
        id,
        seq,
        kind,
        aggregate: format!("{at}:{ai}"),
        sku: text("sku"),
        delta: d["delta"].as_i64(),
        stock_key,
    })
}

async fn apply_batch(
    state: &SimState,
    site: &str,
    events: Vec<serde_json::Value>,
) -> Result<BatchResponse, Response> {
    let invalid = |msg: &str| {
        error_response(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            msg,
        )
    };
    if events.is_empty() {
        return Err(invalid("empty batch"));
    }
    if events.len() > MAX_EVENTS {
        return Err(invalid(&format!(
            "{} events in a batch (max {MAX_EVENTS})",
            events.len()
        )));
    }
    let parsed = events
        .iter()
        .map(|e| parse_event(site, e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid(&m))?;
    if parsed.windows(2).any(|w| w[0].seq >= w[1].seq) {
        return Err(invalid("events not in ascending seq order"));
    }
    let reject = state.lock().cfg.reject_skus.clone();
    let ids: Vec<String> = parsed.iter().map(|p| p.id.clone()).collect();
    let (acked, applied) = (state.acked_through.clone(), state.applied.clone());
    let outcome = state
        .db
        .call(move |c| {
            let o = db::apply_batch(c, &parsed, &reject)?;
            acked.fetch_max(o.acked_through, Ordering::AcqRel);
            applied.fetch_add(o.applied, Ordering::AcqRel);
            Ok(o)
        })
        .await
        .map_err(|e| {
            warn!(error = %e, "simulator could not apply a batch");
            error_response(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            )
        })?;
    {
        let mut g = state.lock();
        for s in &outcome.statuses {
            match s {
                EventStatus::Applied => g.stats.applied += 1,
                EventStatus::Duplicate => g.stats.duplicates += 1,
                EventStatus::Rejected => g.stats.rejected += 1,
            }
        }
        g.stats.order_violations += outcome.violations.len() as u64;
    }
    for (aggregate, seq, last) in &outcome.violations {
        warn!(%aggregate, seq, last, "per-aggregate order violated");
    }
    let results = ids
        .into_iter()
        .zip(outcome.statuses)
        .map(|(id, status)| EventResult {
            id,
            status,
            error: (status == EventStatus::Rejected).then(|| ResultError {
                code: "validation_error".into(),
                message: "unknown sku".into(),
            }),
        })
        .collect();
    Ok(BatchResponse {
        results,
        acked_through: outcome.acked_through,
    })
}

async fn site_status(
    State(state): State<Arc<SimState>>,
    Path(site): Path<String>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
) -> Response {
    state.lock().stats.requests += 1;
    if let Err(r) = authenticate(&state, &site, &headers, b"") {
        return *r;
    }
    let fault = roll_fault(&state, true);
    if let Some(r) = early_fault(&state, fault, &kill).await {
        return r;
    }
    if fault == Some(Fault::Lost) {
        return lose(&state, &kill).await;
    }
    let g = state.lock();
    let body = SiteStatusResponse {
        acked_through: state
            .acked_through
            .load(Ordering::Acquire)
            .max(g.forced_acked_through),
        server_time: Utc::now() + chrono::Duration::seconds(g.cfg.clock_offset_s),
    };
    (StatusCode::OK, Json(body)).into_response()
}

#[derive(Deserialize)]
struct ChangesQuery {
    cursor: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
}

fn encode_cursor(pos: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"id\":{pos}}}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v["id"].as_u64()
}

async fn changes(
    State(state): State<Arc<SimState>>,
    Path(site): Path<String>,
    Extension(kill): Extension<ConnKill>,
    Query(q): Query<ChangesQuery>,
    headers: HeaderMap,
) -> Response {
    state.lock().stats.requests += 1;
    if let Err(r) = authenticate(&state, &site, &headers, b"") {
        return *r;
    }
    let pos = match q.cursor.as_deref() {
        None => 0,
        Some(c) => match decode_cursor(c) {
            Some(p) => p,
            None => {
                return error_response(
                    &state,
                    StatusCode::BAD_REQUEST,
                    "validation_error",
                    "invalid cursor",
                )
            }
        },
    };
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => {
            return error_response(
                &state,
                StatusCode::BAD_REQUEST,
                "validation_error",
                "limit must be 1..500",
            )
        }
    };
    let wait = match q.wait.as_deref().map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n.min(30),
        Some(Err(_)) => {
            return error_response(
                &state,
                StatusCode::BAD_REQUEST,
                "validation_error",
                "wait must be 0..30",
            )
        }
    };
    let fault = roll_fault(&state, true);
    if let Some(r) = early_fault(&state, fault, &kill).await {
        return r;
    }
    let mut rx = state.changes_tx.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let total = *rx.borrow_and_update();
        if total > pos || tokio::time::Instant::now() >= deadline {
            break;
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            break;
        }
    }
    let page = match state
        .db
        .call(move |c| db::changes_after(c, pos, limit))
        .await
    {
        Ok((data, has_more)) => {
            let next = data.last().map(|c| c.change_id).unwrap_or(pos);
            ChangesPage {
                pagination: Pagination {
                    next_cursor: encode_cursor(next),
                    has_more,
                },
                data,
            }
        }
        Err(e) => {
            warn!(error = %e, "simulator could not read changes");
            return error_response(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            );
        }
    };
    if fault == Some(Fault::Lost) {
        return lose(&state, &kill).await;
    }
    (StatusCode::OK, Json(page)).into_response()
}

#[derive(Deserialize)]
struct NewChanges {
    changes: Vec<NewChange>,
}

#[derive(Deserialize)]
struct NewChange {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Map<String, serde_json::Value>,
}

/// `POST /sim/changes` (simulator only, not part of the contract): appends changes to the feed,
/// so someone trying the edge against a standalone simulator can send it orders, holds or
/// products. Bearer key only (no signature: it is typed by hand); 201 with the change ids.
async fn add_changes(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admin_auth(&state, &headers) {
        return *r;
    }
    let req: NewChanges = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                &format!("expected {{\"changes\": [{{\"type\", \"object\"}}]}}: {e}"),
            )
        }
    };
    if req.changes.iter().any(|c| c.kind.trim().is_empty()) {
        return error_response(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "a change needs a type",
        );
    }
    let ids: Vec<u64> = req
        .changes
        .into_iter()
        .map(|c| push_change_to(&state, &c.kind, serde_json::Value::Object(c.object)))
        .collect();
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "change_ids": ids })),
    )
        .into_response()
}

async fn id_blocks(
    State(state): State<Arc<SimState>>,
    Path(site): Path<String>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.lock().stats.requests += 1;
    if let Err(r) = authenticate(&state, &site, &headers, &body) {
        return *r;
    }
    let fault = roll_fault(&state, false);
    if let Some(r) = early_fault(&state, fault, &kill).await {
        return r;
    }
    let req: IdBlockRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                &state,
                StatusCode::BAD_REQUEST,
                "validation_error",
                &e.to_string(),
            )
        }
    };
    let valid_kind = req.kind == "sscc"
        || req.kind == "receipt"
        || req
            .kind
            .strip_prefix("tracking:")
            .is_some_and(|c| !c.is_empty());
    if !valid_kind || !(1..=1_000_000).contains(&req.size) {
        return error_response(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "bad kind or size",
        );
    }
    // Tracking numbers look like a carrier's: "1ZUPS" + a nine-digit serial.
    let tracking = req
        .kind
        .strip_prefix("tracking:")
        .map(str::to_ascii_uppercase);
    let start = if tracking.is_some() { 100_000_001 } else { 1 };
    let prefix = match (&tracking, req.kind.as_str()) {
        (_, "sscc") => "00614141".to_string(),
        (Some(carrier), _) => format!("1Z{carrier}"),
        _ => String::new(),
    };
    let block = match state
        .db
        .call(move |c| db::grant(c, &req.kind, req.size, start, &prefix))
        .await
    {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "simulator could not grant an ID block");
            return error_response(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            );
        }
    };
    if fault == Some(Fault::Lost) {
        return lose(&state, &kill).await;
    }
    (StatusCode::CREATED, Json(block)).into_response()
}

/// The bearer check of the `/sim/…` routes (typed by hand, so no signature).
fn admin_auth(state: &SimState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let key = state.lock().cfg.api_key.clone();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(key.as_str()) {
        return Err(Box::new(error_response(
            state,
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid API key",
        )));
    }
    Ok(())
}

fn valid_currency(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

fn seed_money(amount: i64, currency: &str) -> Result<Money, SyncError> {
    if amount < 0 || !valid_currency(currency) {
        return Err(SyncError::Config(format!(
            "a balance is a non-negative amount in an ISO 4217 currency, not {amount} {currency:?}"
        )));
    }
    Ok(Money {
        amount,
        currency: currency.to_string(),
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control)
}

/// What every balance route does before its work: count, authenticate, roll the fault dice,
/// record the request and run the faults that strike before any work. `Ok` carries the fault
/// still to come (a lost answer after the work).
async fn balance_gate(
    state: &SimState,
    req: BalanceCall<'_>,
    kill: &ConnKill,
) -> Result<Option<Fault>, Box<Response>> {
    state.lock().stats.requests += 1;
    authenticate(state, req.site, req.headers, req.body)?;
    let fault = roll_fault(state, req.is_read);
    {
        let mut g = state.lock();
        if g.record_pushes {
            let id = req.id.map(String::from).or_else(|| {
                serde_json::from_slice::<serde_json::Value>(req.body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(String::from))
            });
            g.balance_requests.push(BalanceRecord {
                route: req.route,
                key: req.key.to_string(),
                id,
                fault: fault.map(Fault::name),
            });
        }
    }
    if let Some(r) = early_fault(state, fault, kill).await {
        return Err(Box::new(r));
    }
    Ok(fault)
}

/// A balance request as the gate sees it.
struct BalanceCall<'a> {
    route: &'static str,
    site: &'a str,
    key: &'a str,
    id: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
    is_read: bool,
}

/// The answer of a balance operation: `created` for one applied now, 200 for a replay, the
/// error object for a refusal.
fn booked<T: Serialize>(
    state: &SimState,
    result: Result<db::Booked<T>, SyncError>,
    created: StatusCode,
) -> Response {
    match result {
        Ok(db::Booked::New(v)) => {
            state.lock().stats.balance_applied += 1;
            (created, Json(v)).into_response()
        }
        Ok(db::Booked::Replay(v)) => {
            state.lock().stats.balance_replayed += 1;
            (StatusCode::OK, Json(v)).into_response()
        }
        Ok(db::Booked::Refused(r)) => {
            state.lock().stats.balance_refused += 1;
            refusal(state, r)
        }
        Err(e) => {
            warn!(error = %e, "simulator could not book a balance operation");
            error_response(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            )
        }
    }
}

/// Sends `resp`, or loses it when the dice said so (the work is done either way).
async fn deliver(
    state: &SimState,
    fault: Option<Fault>,
    kill: &ConnKill,
    resp: Response,
) -> Response {
    if fault == Some(Fault::Lost) {
        return lose(state, kill).await;
    }
    resp
}

fn refusal(state: &SimState, r: db::Refusal) -> Response {
    match r {
        db::Refusal::NotFound(m) => error_response(state, StatusCode::NOT_FOUND, "not_found", &m),
        db::Refusal::Conflict(m) => error_response(state, StatusCode::CONFLICT, "conflict", &m),
        db::Refusal::Invalid(m) => error_response(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            &m,
        ),
    }
}

/// The answer of a read of one balance (`None` = unknown: 404 with `what`).
fn read_answer<T: Serialize>(
    state: &SimState,
    result: Result<Option<T>, SyncError>,
    what: &str,
) -> Response {
    match result {
        Ok(Some(v)) => (StatusCode::OK, Json(v)).into_response(),
        Ok(None) => error_response(state, StatusCode::NOT_FOUND, "not_found", what),
        Err(e) => {
            warn!(error = %e, "simulator could not read a balance");
            error_response(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            )
        }
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(
    state: &SimState,
    body: &[u8],
) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error_response(
            state,
            StatusCode::BAD_REQUEST,
            "validation_error",
            &format!("malformed body: {e}"),
        ))
    })
}

fn invalid(state: &SimState, msg: &str) -> Response {
    error_response(
        state,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        msg,
    )
}

async fn gift_card(
    State(state): State<Arc<SimState>>,
    Path((site, code)): Path<(String, String)>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
) -> Response {
    let call = BalanceCall {
        route: "gift_card",
        site: &site,
        key: &code,
        id: None,
        headers: &headers,
        body: b"",
        is_read: true,
    };
    let fault = match balance_gate(&state, call, &kill).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let what = format!("unknown gift card {code}");
    let result = state.db.call(move |c| db::gift_card(c, &code)).await;
    let resp = read_answer(&state, result, &what);
    deliver(&state, fault, &kill, resp).await
}

async fn redeem(
    State(state): State<Arc<SimState>>,
    Path((site, code)): Path<(String, String)>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = BalanceCall {
        route: "redemption",
        site: &site,
        key: &code,
        id: None,
        headers: &headers,
        body: &body,
        is_read: false,
    };
    let fault = match balance_gate(&state, call, &kill).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let req: RedemptionRequest = match parse_body(&state, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if !valid_id(&req.id) || !valid_currency(&req.amount.currency) || req.amount.amount <= 0 {
        return invalid(
            &state,
            "a redemption needs an id and a positive amount in an ISO 4217 currency",
        );
    }
    let result = state.db.call(move |c| db::redeem(c, &code, &req)).await;
    let resp = booked(&state, result, StatusCode::CREATED);
    deliver(&state, fault, &kill, resp).await
}

async fn reverse(
    State(state): State<Arc<SimState>>,
    Path((site, code, id)): Path<(String, String, String)>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = BalanceCall {
        route: "reversal",
        site: &site,
        key: &code,
        id: Some(&id),
        headers: &headers,
        body: &body,
        is_read: false,
    };
    let fault = match balance_gate(&state, call, &kill).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if !body.is_empty() {
        if let Err(r) = parse_body::<serde_json::Map<String, serde_json::Value>>(&state, &body) {
            return *r;
        }
    }
    let result = state.db.call(move |c| db::reverse(c, &code, &id)).await;
    let resp = booked(&state, result, StatusCode::OK);
    deliver(&state, fault, &kill, resp).await
}

async fn credit(
    State(state): State<Arc<SimState>>,
    Path((site, customer)): Path<(String, String)>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
) -> Response {
    let call = BalanceCall {
        route: "credit",
        site: &site,
        key: &customer,
        id: None,
        headers: &headers,
        body: b"",
        is_read: true,
    };
    let fault = match balance_gate(&state, call, &kill).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let what = format!("customer {customer} has no store credit");
    let result = state.db.call(move |c| db::credit(c, &customer)).await;
    let resp = read_answer(&state, result, &what);
    deliver(&state, fault, &kill, resp).await
}

async fn credit_transaction(
    State(state): State<Arc<SimState>>,
    Path((site, customer)): Path<(String, String)>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = BalanceCall {
        route: "credit_transaction",
        site: &site,
        key: &customer,
        id: None,
        headers: &headers,
        body: &body,
        is_read: false,
    };
    let fault = match balance_gate(&state, call, &kill).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let req: CreditTransactionRequest = match parse_body(&state, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if !valid_id(&req.id)
        || !valid_currency(&req.amount.currency)
        || req.amount.amount == 0
        || req.reason.trim().is_empty()
    {
        return invalid(
            &state,
            "a credit transaction needs an id, a non-zero amount in an ISO 4217 currency and a \
             reason",
        );
    }
    let result = state
        .db
        .call(move |c| db::credit_transaction(c, &customer, &req))
        .await;
    let resp = booked(&state, result, StatusCode::CREATED);
    deliver(&state, fault, &kill, resp).await
}

#[derive(Deserialize)]
struct SetGiftCard {
    balance: Money,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct SetCredit {
    balance: Money,
}

/// `PUT /sim/gift-cards/{code}` (simulator only) `{"balance": {"amount", "currency"}, "active"}`:
/// makes or replaces a gift card so someone trying the till can pay with one. 200 with the card.
async fn put_gift_card(
    State(state): State<Arc<SimState>>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admin_auth(&state, &headers) {
        return *r;
    }
    let req: SetGiftCard = match parse_body(&state, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let card = match seed_money(req.balance.amount, &req.balance.currency) {
        Ok(balance) if valid_id(&code) => GiftCard {
            code,
            balance,
            active: req.active,
        },
        _ => return invalid(
            &state,
            "expected {\"balance\": {\"amount\": >= 0, \"currency\": \"USD\"}, \"active\": true}",
        ),
    };
    let answer = card.clone();
    match state.db.call(move |c| db::set_gift_card(c, &card)).await {
        Ok(()) => (StatusCode::OK, Json(answer)).into_response(),
        Err(e) => {
            warn!(error = %e, "simulator could not store a gift card");
            error_response(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            )
        }
    }
}

/// `GET /sim/gift-cards/{code}` (simulator only): the card as the central holds it.
async fn get_gift_card(
    State(state): State<Arc<SimState>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admin_auth(&state, &headers) {
        return *r;
    }
    let what = format!("unknown gift card {code}");
    let result = state.db.call(move |c| db::gift_card(c, &code)).await;
    read_answer(&state, result, &what)
}

/// `PUT /sim/customers/{customer}/credit` (simulator only) `{"balance": {"amount", "currency"}}`:
/// sets a customer's store credit. 200 with the balance.
async fn put_credit(
    State(state): State<Arc<SimState>>,
    Path(customer): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admin_auth(&state, &headers) {
        return *r;
    }
    let req: SetCredit = match parse_body(&state, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let credit = match seed_money(req.balance.amount, &req.balance.currency) {
        Ok(balance) if valid_id(&customer) => StoreCredit {
            customer_id: customer,
            balance,
        },
        _ => {
            return invalid(
                &state,
                "expected {\"balance\": {\"amount\": >= 0, \"currency\": \"USD\"}}",
            )
        }
    };
    let answer = credit.clone();
    match state.db.call(move |c| db::set_credit(c, &credit)).await {
        Ok(()) => (StatusCode::OK, Json(answer)).into_response(),
        Err(e) => {
            warn!(error = %e, "simulator could not store store credit");
            error_response(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "database failure",
            )
        }
    }
}

/// `GET /sim/customers/{customer}/credit` (simulator only).
async fn get_credit(
    State(state): State<Arc<SimState>>,
    Path(customer): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admin_auth(&state, &headers) {
        return *r;
    }
    let what = format!("customer {customer} has no store credit");
    let result = state.db.call(move |c| db::credit(c, &customer)).await;
    read_answer(&state, result, &what)
}
