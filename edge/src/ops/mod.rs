//! Running the node unattended: the data dir's lock and free space, backups and restores, and
//! the service manager's readiness and watchdog. What `/health` and `/metrics` say about storage
//! and backups is put together here.

pub mod backup;
pub mod data_dir;
pub mod service;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::store::Store;

/// What the operations side knows, shared by the handlers (`/health`, `/metrics`).
#[derive(Debug, Default)]
pub struct OpsStatus {
    /// The data dir whose filesystem is watched (none for nodes built without one).
    pub data_dir: Option<PathBuf>,
    /// `/health` degrades below this many free bytes.
    pub min_free_bytes: u64,
    /// Scheduled backups: unix time of the last good one (0: none yet since start).
    pub backup_last_success: AtomicU64,
    /// Scheduled backups that failed since start.
    pub backup_failures: AtomicU64,
    /// The last scheduled backup's error, cleared by the next success.
    pub backup_last_error: Mutex<Option<String>>,
    /// Whether `[backup]` is configured.
    pub backups_scheduled: bool,
}

impl OpsStatus {
    /// Free and total bytes of the data dir's filesystem, when it can be read.
    pub fn space(&self) -> Option<data_dir::Space> {
        self.data_dir
            .as_deref()
            .and_then(|d| data_dir::space(d).ok())
    }

    /// The storage causes of `degraded`, one line each: a write refused for lack of space, print
    /// jobs waiting on a full spool, free space below `min_free_mb`.
    pub fn storage_reasons(&self, store: &Store, spool_full: bool) -> Vec<String> {
        let mut reasons = Vec::new();
        if store.stats.storage_full() {
            reasons.push(
                "storage full: writes are refused until space is freed on the data disk"
                    .to_string(),
            );
        }
        if spool_full {
            reasons.push("print spool full: print jobs wait until space is freed".to_string());
        }
        if let Some(s) = self.space() {
            if s.available < self.min_free_bytes {
                reasons.push(format!(
                    "low disk space: {} MiB free on the data disk",
                    s.available / (1024 * 1024)
                ));
            }
        }
        if let Ok(e) = self.backup_last_error.lock() {
            if let Some(e) = e.as_ref() {
                reasons.push(format!("last scheduled backup failed: {e}"));
            }
        }
        reasons
    }

    /// `wms_edge_data_dir_*`, `wms_edge_store_storage_full*` and `wms_edge_backup_*` in
    /// Prometheus text, keeping `# EOF` last.
    pub fn append_metrics(&self, store: &Store, spool_full: bool, out: &mut String) {
        use std::fmt::Write as _;
        let had_eof = match out.trim_end().strip_suffix("# EOF").map(str::len) {
            Some(n) => {
                out.truncate(n);
                true
            }
            None => false,
        };
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}.\n# TYPE {name} gauge\n{name} {v}"
            );
        };
        if let Some(s) = self.space() {
            gauge(
                "wms_edge_data_dir_size_bytes",
                "Size of the data dir's filesystem",
                s.total,
            );
            gauge(
                "wms_edge_data_dir_available_bytes",
                "Bytes the node may still write on the data dir's filesystem",
                s.available,
            );
        }
        gauge(
            "wms_edge_store_storage_full",
            "1 while writes are refused for lack of disk space",
            u64::from(store.stats.storage_full()),
        );
        gauge(
            "wms_edge_store_storage_full_errors",
            "Writes refused for lack of disk space since start",
            store.stats.storage_full_errors.load(Ordering::Relaxed),
        );
        gauge(
            "wms_edge_print_spool_full",
            "1 while print jobs wait because the spool's disk is full",
            u64::from(spool_full),
        );
        if self.backups_scheduled {
            gauge(
                "wms_edge_backup_last_success_timestamp_seconds",
                "Unix time of the last good scheduled backup (0: none since start)",
                self.backup_last_success.load(Ordering::Relaxed),
            );
            gauge(
                "wms_edge_backup_failures",
                "Scheduled backups that failed since start",
                self.backup_failures.load(Ordering::Relaxed),
            );
        }
        if had_eof {
            out.push_str("# EOF\n");
        }
    }
}

/// Takes scheduled backups until `stop` is cancelled: the first when one is due (see
/// [`backup::first_due`]), then every interval. The copy runs on one of the store's reader
/// threads (SQLite stays off the runtime); pruning follows each good backup.
pub fn spawn_backups(
    store: Store,
    schedule: backup::Schedule,
    status: std::sync::Arc<OpsStatus>,
    stop: wms_hardware::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The newest backup on disk counts from the start, so a restart does not look like a
        // node that has never backed up (the stale-backup alert reads this).
        if let Some(t) = backup::newest_time(&schedule.dir) {
            status
                .backup_last_success
                .store(unix_seconds(t), Ordering::Relaxed);
        }
        let mut wait = backup::first_due(&schedule);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = schedule.interval;
            match scheduled_backup(&store, &schedule).await {
                Ok(report) => {
                    tracing::info!(backup = %report, "scheduled backup taken");
                    let now = unix_seconds(std::time::SystemTime::now());
                    status.backup_last_success.store(now, Ordering::Relaxed);
                    if let Ok(mut e) = status.backup_last_error.lock() {
                        *e = None;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, dir = %schedule.dir.display(), "scheduled backup failed");
                    status.backup_failures.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut last) = status.backup_last_error.lock() {
                        *last = Some(e.to_string());
                    }
                    // Try again sooner than a whole interval (a disk that was full may have room).
                    wait = wait.min(RETRY_FAILED_BACKUP);
                }
            }
        }
    })
}

fn unix_seconds(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How soon a failed scheduled backup is tried again.
pub const RETRY_FAILED_BACKUP: Duration = Duration::from_secs(600);

async fn scheduled_backup(
    store: &Store,
    schedule: &backup::Schedule,
) -> crate::Result<backup::BackupReport> {
    let dir = schedule.dir.clone();
    let dest = dir.join(backup::scheduled_name(chrono::Utc::now()));
    let report = store
        .read(move |c| {
            std::fs::create_dir_all(&dir)
                .map_err(|e| crate::Error::Internal(format!("create {}: {e}", dir.display())))?;
            backup::backup_from(c, &dest)
        })
        .await?;
    let (dir, keep) = (schedule.dir.clone(), schedule.keep);
    let pruned = tokio::task::spawn_blocking(move || backup::prune(&dir, keep))
        .await
        .map_err(|e| crate::Error::Internal(format!("prune task: {e}")))??;
    for p in pruned {
        tracing::info!(file = %p.display(), "old backup deleted");
    }
    Ok(report)
}
