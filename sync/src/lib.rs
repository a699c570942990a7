//! The sync client of the edge sync API: drains the outbox in order, signs and sends batches,
//! retries with backoff, pulls down-sync changes by cursor, verifies the doorbell webhook, leases
//! ID blocks and spends gift cards and store credit online ([`BalanceClient`]). Also a reference
//! central simulator with fault injection for tests and `demo`.
//! It does not know the edge's tables: it talks to the store through the traits in [`store`].
//!
//! Start everything with [`start`]; read state from [`SyncHandle::subscribe`].

pub mod backoff;
pub mod balances;
pub mod batch;
pub mod central_sim;
pub mod client;
pub mod error;
pub mod idblock;
mod idreq;
pub mod mem;
pub mod pull;
pub mod pump;
pub mod sign;
pub mod status;
pub mod store;
pub mod wire;

pub use backoff::Timings;
pub use balances::{retry_same_id, BalanceClient, BalanceOutcome, BalancePolicy};
pub use batch::{BatchLimits, FrozenBatch};
pub use client::{CentralClient, Credentials};
pub use error::SyncError;
pub use idblock::{sscc, IdLeases, IssuedId};
pub use sign::verify_webhook;
pub use status::{MetricsSnapshot, RetryReason, SyncMetrics, SyncState, SyncStatus};
pub use store::{
    ChangeSink, EventOutcome, HeldBack, IdBlockSink, Outbox, OutboxStats, Outcome, PendingEvent,
};

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// State shared by the loops: the status channel and the counters.
pub(crate) struct Shared {
    pub status: watch::Sender<SyncStatus>,
    pub metrics: Arc<SyncMetrics>,
}

/// Everything [`start`] needs besides the store.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// URL, site, key, secret.
    pub credentials: Credentials,
    /// Retry and timeout settings.
    pub timings: Timings,
    /// Batch limits (contract defaults).
    pub limits: BatchLimits,
    /// Pending events read per store page (bounds memory).
    pub page_size: usize,
    /// `limit` of change pages.
    pub pull_limit: u32,
    /// Serials asked for per ID block.
    pub id_block_size: u64,
    /// How often the ID-block requester looks at usage when not woken.
    pub id_block_check: Duration,
    /// Run the push pump.
    pub push: bool,
    /// Run the pull loop.
    pub pull: bool,
    /// Run the ID-block requester.
    pub id_blocks: bool,
}

impl SyncConfig {
    /// Contract defaults for everything but the credentials.
    pub fn new(credentials: Credentials) -> Self {
        SyncConfig {
            credentials,
            timings: Timings::default(),
            limits: BatchLimits::default(),
            page_size: 500,
            pull_limit: 200,
            id_block_size: 10_000,
            id_block_check: Duration::from_secs(60),
            push: true,
            pull: true,
            id_blocks: true,
        }
    }
}

/// The running sync: status, metrics, wake-ups and shutdown.
pub struct SyncHandle {
    status: watch::Receiver<SyncStatus>,
    metrics: Arc<SyncMetrics>,
    kick: Arc<Notify>,
    doorbell: Arc<Notify>,
    id_wake: Arc<Notify>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the push pump, the pull loop and the ID-block requester on the current tokio runtime.
/// `store` is the edge's store (one object implementing the three traits).
pub fn start<S>(config: SyncConfig, store: Arc<S>) -> Result<SyncHandle, SyncError>
where
    S: Outbox + ChangeSink + IdBlockSink,
{
    let client = CentralClient::new(config.credentials.clone())?;
    let (status_tx, status_rx) = watch::channel(SyncStatus::initial(SyncState::Offline));
    let metrics = Arc::new(SyncMetrics::default());
    let shared = Arc::new(Shared {
        status: status_tx,
        metrics: metrics.clone(),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let kick = Arc::new(Notify::new());
    let doorbell = Arc::new(Notify::new());
    let id_wake = Arc::new(Notify::new());
    let site = config.credentials.site_id.clone();
    let mut tasks = Vec::new();
    if config.push {
        let pump = pump::Pump::new(
            store.clone(),
            client.clone(),
            pump::PumpSettings {
                timings: config.timings.clone(),
                limits: BatchLimits {
                    max_events: config.limits.max_events.max(1),
                    max_bytes: config.limits.max_bytes.max(64),
                },
                page_size: config.page_size.max(1),
            },
            shared.clone(),
            kick.clone(),
            shutdown_rx.clone(),
        );
        let span = tracing::info_span!("sync_push", site = %site);
        tasks.push(tokio::spawn(pump.run().instrument(span)));
    }
    if config.pull {
        let puller = pull::Puller {
            sink: store.clone(),
            client: client.clone(),
            settings: pull::PullSettings {
                timings: config.timings.clone(),
                limit: config.pull_limit,
            },
            shared: shared.clone(),
            doorbell: doorbell.clone(),
            shutdown: shutdown_rx.clone(),
        };
        let span = tracing::info_span!("sync_pull", site = %site);
        tasks.push(tokio::spawn(puller.run().instrument(span)));
    }
    if config.id_blocks {
        let req = idreq::IdRequester {
            sink: store.clone(),
            client,
            timings: config.timings.clone(),
            block_size: config.id_block_size.max(1),
            check_every: config.id_block_check,
            shared: shared.clone(),
            wake: id_wake.clone(),
            shutdown: shutdown_rx,
        };
        let span = tracing::info_span!("sync_id_blocks", site = %site);
        tasks.push(tokio::spawn(req.run().instrument(span)));
    }
    Ok(SyncHandle {
        status: status_rx,
        metrics,
        kick,
        doorbell,
        id_wake,
        shutdown,
        tasks,
    })
}

impl SyncHandle {
    /// The current status.
    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (for `/v1/events`).
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// The counters, for the metrics endpoint.
    pub fn metrics(&self) -> Arc<SyncMetrics> {
        self.metrics.clone()
    }

    /// Call after committing outbox events (or retrying a dead letter): wakes an idle pump.
    pub fn events_committed(&self) {
        self.kick.notify_one();
    }

    /// Call after a verified doorbell webhook: the pull loop stops waiting and pulls.
    pub fn ring_doorbell(&self) {
        self.doorbell.notify_one();
    }

    /// Call when an ID kind crossed 80% use: the requester checks at once.
    pub fn id_blocks_low(&self) {
        self.id_wake.notify_one();
    }

    /// Stops all loops and waits for them (an in-flight request is abandoned; its batch is
    /// resent after restart, which the ids make safe).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
