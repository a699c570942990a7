//! Prometheus metrics. Request counters and latency histograms are recorded as requests finish;
//! queue and store figures are read at scrape time so they are never stale.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::base::outbox::QueueFigures;
use crate::store::StoreStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    http_requests: Family<HttpLabels, Counter>,
    http_latency: Family<RouteLabels, Histogram>,
    outbox_depth: Gauge,
    outbox_oldest_age: Gauge,
    outbox_dead: Gauge,
    outbox_highest_seq: Gauge,
    store_commits: Gauge,
    store_jobs: Gauge,
    store_failed_jobs: Gauge,
    store_failed_commits: Gauge,
    store_wal_frames: Gauge,
    store_writer_checkpoints: Gauge,
    runtime_tasks: Gauge,
    log_lines_dropped: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wms_edge");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        let g = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_latency.clone(),
        );
        let outbox_depth = g(
            &mut registry,
            "outbox_queue_depth",
            "Upstream events not yet done at the central",
        );
        let outbox_oldest_age = g(
            &mut registry,
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest pending upstream event",
        );
        let outbox_dead = g(
            &mut registry,
            "outbox_dead_letters",
            "Upstream events the central rejected",
        );
        let outbox_highest_seq = g(
            &mut registry,
            "outbox_highest_seq",
            "Highest upstream seq assigned on this site",
        );
        let store_commits = g(&mut registry, "store_commits", "Group commits since start");
        let store_jobs = g(&mut registry, "store_write_jobs", "Write jobs since start");
        let store_failed_jobs = g(
            &mut registry,
            "store_refused_write_jobs",
            "Write jobs rolled back (refused or failed)",
        );
        let store_failed_commits = g(&mut registry, "store_failed_commits", "Commits that failed");
        let store_wal_frames = g(
            &mut registry,
            "store_wal_frames",
            "Pages in the SQLite write-ahead log after the last commit",
        );
        // Above zero and climbing: the checkpoint thread cannot keep up and commits wait for it.
        let store_writer_checkpoints = g(
            &mut registry,
            "store_writer_checkpoints",
            "Checkpoints the writer ran itself because the WAL passed its limit",
        );
        let log_lines_dropped = g(
            &mut registry,
            "log_lines_dropped",
            "Log lines dropped because the log's reader fell behind",
        );
        // A task leak shows here long before memory does (the soak test watches it).
        let runtime_tasks = g(
            &mut registry,
            "runtime_alive_tasks",
            "Tasks alive on the node's async runtime",
        );
        Self {
            registry: Mutex::new(registry),
            http_requests,
            http_latency,
            outbox_depth,
            outbox_oldest_age,
            outbox_dead,
            outbox_highest_seq,
            store_commits,
            store_jobs,
            store_failed_jobs,
            store_failed_commits,
            store_wal_frames,
            store_writer_checkpoints,
            runtime_tasks,
            log_lines_dropped,
        }
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn render(&self, q: &QueueFigures, s: &StoreStats) -> String {
        let age = q
            .oldest_pending_at
            .as_deref()
            .and_then(crate::domain::time::parse)
            .map(|t| (chrono::Utc::now() - t).num_seconds().max(0))
            .unwrap_or(0);
        self.outbox_depth.set(q.depth as i64);
        self.outbox_oldest_age.set(age);
        self.outbox_dead.set(q.dead_letters as i64);
        self.outbox_highest_seq.set(q.highest_seq as i64);
        self.store_commits
            .set(s.commits.load(Ordering::Relaxed) as i64);
        self.store_jobs.set(s.jobs.load(Ordering::Relaxed) as i64);
        self.store_failed_jobs
            .set(s.failed_jobs.load(Ordering::Relaxed) as i64);
        self.store_failed_commits
            .set(s.failed_commits.load(Ordering::Relaxed) as i64);
        self.store_wal_frames
            .set(s.wal_frames.load(Ordering::Relaxed) as i64);
        self.store_writer_checkpoints
            .set(s.writer_checkpoints.load(Ordering::Relaxed) as i64);
        self.log_lines_dropped
            .set(i64::try_from(crate::cli::log_lines_dropped()).unwrap_or(i64::MAX));
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            self.runtime_tasks.set(h.metrics().num_alive_tasks() as i64);
        }
        let mut out = String::new();
        if let Ok(reg) = self.registry.lock() {
            let _ = encode(&mut out, &reg);
        }
        out
    }
}
