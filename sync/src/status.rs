//! The status model (published on a `watch` channel) and the metrics counters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Sync state as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Sync not configured.
    Disabled,
    /// Talking to the central normally.
    Online,
    /// Central unreachable (connection errors, timeouts, 5xx); queueing locally.
    Offline,
    /// The edge sent something the central calls malformed (whole-batch 400/422/413) or the
    /// central answered outside the contract: events are kept, retried slowly; an edge defect.
    Degraded,
    /// 401/403: the key or signing secret is wrong; queueing locally, retrying every 60 s.
    Unauthorized,
    /// The central has seen higher seqs than this database ever assigned (restored backup):
    /// pushing stops for the life of the process until an operator recovers.
    Diverged,
}

/// The status snapshot published after every state change and batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Current state.
    pub state: SyncState,
    /// Pending events (held ones included).
    pub queue_depth: u64,
    /// Age of the oldest pending event.
    pub oldest_pending_age_s: Option<u64>,
    /// Central's last reported high-water mark.
    pub acked_through: Option<u64>,
    /// Last successful exchange with the central (push or status).
    pub last_success_at: Option<DateTime<Utc>>,
    /// Open dead letters.
    pub dead_letters: u64,
    /// Last error, human readable.
    pub last_error: Option<String>,
    /// Central clock minus local clock, from the last status check.
    pub clock_skew_s: Option<i64>,
    /// Warnings (clock skew, malformed changes skipped, ...).
    pub warnings: Vec<String>,
}

impl SyncStatus {
    /// The status before anything happened (or when sync is not configured: `Disabled`).
    pub fn initial(state: SyncState) -> Self {
        SyncStatus {
            state,
            queue_depth: 0,
            oldest_pending_age_s: None,
            acked_through: None,
            last_success_at: None,
            dead_letters: 0,
            last_error: None,
            clock_skew_s: None,
            warnings: Vec::new(),
        }
    }
}

/// Why a request is being retried (metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryReason {
    /// 5xx.
    ServerError,
    /// No answer in time.
    Timeout,
    /// Connection refused/reset.
    Connection,
    /// 429.
    RateLimited,
    /// 401/403.
    Unauthorized,
    /// Whole-batch 400/422/413 or an answer outside the contract.
    Degraded,
    /// The local store failed.
    Store,
}

impl RetryReason {
    /// All reasons, for exporting every label.
    pub const ALL: [RetryReason; 7] = [
        RetryReason::ServerError,
        RetryReason::Timeout,
        RetryReason::Connection,
        RetryReason::RateLimited,
        RetryReason::Unauthorized,
        RetryReason::Degraded,
        RetryReason::Store,
    ];

    /// Metric label value.
    pub fn label(self) -> &'static str {
        match self {
            RetryReason::ServerError => "server_error",
            RetryReason::Timeout => "timeout",
            RetryReason::Connection => "connection",
            RetryReason::RateLimited => "rate_limited",
            RetryReason::Unauthorized => "unauthorized",
            RetryReason::Degraded => "degraded",
            RetryReason::Store => "store",
        }
    }
}

/// Lock-free counters; the edge exports them (e.g. with prometheus-client) via [`SyncMetrics::snapshot`].
#[derive(Debug, Default)]
pub struct SyncMetrics {
    batches_sent: AtomicU64,
    events_done: AtomicU64,
    events_dead_lettered: AtomicU64,
    retries: [AtomicU64; 7],
    last_success_unix_ms: AtomicU64,
    pull_pages: AtomicU64,
    pull_changes: AtomicU64,
    pull_skipped: AtomicU64,
    pull_caught_up_unix_ms: AtomicU64,
    id_blocks_requested: AtomicU64,
}

/// A point-in-time copy of [`SyncMetrics`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Batch requests that got a 200 with results.
    pub batches_sent: u64,
    /// Events applied or duplicate.
    pub events_done: u64,
    /// Events moved to the dead-letter list.
    pub events_dead_lettered: u64,
    /// Retries by reason label.
    pub retries: Vec<(String, u64)>,
    /// Last successful exchange (Unix ms, 0 = never).
    pub last_success_unix_ms: u64,
    /// Change pages applied.
    pub pull_pages: u64,
    /// Changes applied (typed).
    pub pull_changes: u64,
    /// Unknown or malformed changes skipped.
    pub pull_skipped: u64,
    /// Pull lag: ms since the pull loop last reached the head of the feed (None = never).
    pub pull_lag_ms: Option<u64>,
    /// ID blocks requested from the central.
    pub id_blocks_requested: u64,
}

fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

impl SyncMetrics {
    pub(crate) fn batch_sent(&self, done: u64, dead: u64) {
        self.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.events_done.fetch_add(done, Ordering::Relaxed);
        self.events_dead_lettered.fetch_add(dead, Ordering::Relaxed);
    }
    pub(crate) fn dead_lettered(&self, n: u64) {
        self.events_dead_lettered.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn retry(&self, reason: RetryReason) {
        let i = RetryReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.retries[i].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn success(&self) {
        self.last_success_unix_ms.store(now_ms(), Ordering::Relaxed);
    }
    pub(crate) fn pulled(&self, changes: u64, skipped: u64, caught_up: bool) {
        self.pull_pages.fetch_add(1, Ordering::Relaxed);
        self.pull_changes.fetch_add(changes, Ordering::Relaxed);
        self.pull_skipped.fetch_add(skipped, Ordering::Relaxed);
        if caught_up {
            self.pull_caught_up_unix_ms
                .store(now_ms(), Ordering::Relaxed);
        }
    }
    pub(crate) fn id_block_requested(&self) {
        self.id_blocks_requested.fetch_add(1, Ordering::Relaxed);
    }

    /// Retries counted for one reason.
    pub fn retries(&self, reason: RetryReason) -> u64 {
        let i = RetryReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.retries[i].load(Ordering::Relaxed)
    }

    /// Copies all counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let caught = self.pull_caught_up_unix_ms.load(Ordering::Relaxed);
        MetricsSnapshot {
            batches_sent: self.batches_sent.load(Ordering::Relaxed),
            events_done: self.events_done.load(Ordering::Relaxed),
            events_dead_lettered: self.events_dead_lettered.load(Ordering::Relaxed),
            retries: RetryReason::ALL
                .iter()
                .map(|r| (r.label().to_string(), self.retries(*r)))
                .collect(),
            last_success_unix_ms: self.last_success_unix_ms.load(Ordering::Relaxed),
            pull_pages: self.pull_pages.load(Ordering::Relaxed),
            pull_changes: self.pull_changes.load(Ordering::Relaxed),
            pull_skipped: self.pull_skipped.load(Ordering::Relaxed),
            pull_lag_ms: (caught > 0).then(|| now_ms().saturating_sub(caught)),
            id_blocks_requested: self.id_blocks_requested.load(Ordering::Relaxed),
        }
    }
}
