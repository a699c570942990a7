//! The pull loop: long-polls `changes`, hands each page to the store (which applies it and stores
//! the cursor in one transaction), and moves on. The cursor is the only path for data; the
//! doorbell only shortens waits.
//!
//! Unknown change types (and objects of known types that do not parse) do not stop the loop: they
//! are handed to the store untyped with the page, counted, logged, and the cursor moves on. A
//! stopped feed would also stop holds and cancels for every other order of the site, which is
//! worse than skipping one change this edge version cannot understand.

use crate::backoff::{full_jitter, Timings};
use crate::client::CentralClient;
use crate::error::SyncError;
use crate::status::{RetryReason, SyncState};
use crate::store::ChangeSink;
use crate::wire::{Change, ChangeRecord};
use crate::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

/// Pull settings.
#[derive(Debug, Clone)]
pub struct PullSettings {
    /// Timings (long-poll wait, grace, backoff).
    pub timings: Timings,
    /// Page size asked for (`limit`, at most 500).
    pub limit: u32,
}

pub(crate) struct Puller<S> {
    pub sink: Arc<S>,
    pub client: CentralClient,
    pub settings: PullSettings,
    pub shared: Arc<Shared>,
    pub doorbell: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
}

impl<S: ChangeSink> Puller<S> {
    /// Sleeps `d` unless the doorbell rings or shutdown; false on shutdown.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.doorbell.notified() => true,
            r = self.shutdown.changed() => r.is_ok() && !*self.shutdown.borrow(),
        }
    }

    pub(crate) async fn run(mut self) {
        info!("pull loop started");
        let mut cursor: Option<Option<String>> = None;
        let mut attempt = 0u32;
        // Catch up with short requests first; long-poll once at the head of the feed.
        let mut wait_s = 0u32;
        let limit = self.settings.limit.clamp(1, 500);
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let t = self.settings.timings.clone();
            let cur = match &cursor {
                Some(c) => c.clone(),
                None => match self.sink.cursor().await {
                    Ok(c) => {
                        cursor = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        let d = self.fail(&e, &mut attempt);
                        if !self.pause(d).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let started = std::time::Instant::now();
            let res = tokio::select! {
                r = self.client.changes(cur.as_deref(), limit, wait_s, t.pull_grace) => r,
                _ = self.shutdown.changed() => break,
            };
            let page = match res {
                Ok(p) => p,
                Err(e) => {
                    let d = self.fail(&e, &mut attempt);
                    if !self.pause(d).await {
                        break;
                    }
                    continue;
                }
            };
            attempt = 0;
            self.online();
            let has_more = page.pagination.has_more;
            let next = page.pagination.next_cursor;
            if page.data.is_empty() && Some(next.as_str()) == cur.as_deref() {
                self.shared.metrics.pulled(0, 0, !has_more);
                // An empty page: long-poll again at once if the central really held the request,
                // else take a short breath so a central that ignores `wait` cannot make this spin.
                let held_long =
                    wait_s > 0 && started.elapsed() * 2 >= Duration::from_secs(u64::from(wait_s));
                wait_s = t.pull_wait_s.min(30);
                if !held_long && !self.pause(t.idle_poll).await {
                    break;
                }
                continue;
            }
            let records: Vec<ChangeRecord> = page.data.into_iter().map(Change::from_raw).collect();
            let mut skipped = 0u64;
            for r in &records {
                match &r.change {
                    Change::Unknown { kind, .. } => {
                        skipped += 1;
                        warn!(change_id = r.change_id, kind = %kind, "unknown change type skipped");
                    }
                    Change::Malformed { kind, error, .. } => {
                        skipped += 1;
                        warn!(change_id = r.change_id, kind = %kind, error = %error, "malformed change skipped");
                        let w = format!("change {} ({kind}) skipped: {error}", r.change_id);
                        self.shared.status.send_modify(|s| {
                            s.warnings.retain(|w| !w.starts_with("change "));
                            s.warnings.push(w);
                        });
                    }
                    _ => {}
                }
            }
            let n = records.len() as u64;
            match self.sink.apply_changes(records, next.clone()).await {
                Ok(()) => {
                    debug!(changes = n, has_more, "changes applied");
                    cursor = Some(Some(next));
                    self.shared.metrics.pulled(n - skipped, skipped, !has_more);
                    wait_s = if has_more { 0 } else { t.pull_wait_s.min(30) };
                }
                Err(e) => {
                    // The transaction may or may not have committed: reload the cursor.
                    cursor = None;
                    let d = self.fail(&e, &mut attempt);
                    if !self.pause(d).await {
                        break;
                    }
                }
            }
        }
        info!("pull loop stopped");
    }

    fn online(&self) {
        self.shared.status.send_if_modified(|s| {
            if matches!(s.state, SyncState::Offline | SyncState::Unauthorized) {
                s.state = SyncState::Online;
                true
            } else {
                false
            }
        });
    }

    fn fail(&self, err: &SyncError, attempt: &mut u32) -> Duration {
        let t = &self.settings.timings;
        let mut jitter = || {
            let d = full_jitter(t.backoff_base, t.backoff_cap, *attempt);
            *attempt = attempt.saturating_add(1);
            d
        };
        let (reason, state, wait) = match err {
            SyncError::Timeout(_) => (RetryReason::Timeout, Some(SyncState::Offline), jitter()),
            SyncError::Connection(_) => {
                (RetryReason::Connection, Some(SyncState::Offline), jitter())
            }
            SyncError::Http {
                status,
                retry_after,
                ..
            } => match *status {
                429 => (
                    RetryReason::RateLimited,
                    None,
                    retry_after
                        .map(|d| d.min(t.max_server_wait))
                        .unwrap_or_else(&mut jitter),
                ),
                401 | 403 => (
                    RetryReason::Unauthorized,
                    Some(SyncState::Unauthorized),
                    t.unauthorized_retry,
                ),
                s if s >= 500 => (RetryReason::ServerError, Some(SyncState::Offline), jitter()),
                _ => (RetryReason::Degraded, None, t.degraded_retry),
            },
            SyncError::Store(_) => (RetryReason::Store, None, jitter()),
            _ => (RetryReason::Degraded, None, t.degraded_retry),
        };
        warn!(error = %err, reason = reason.label(), wait_ms = wait.as_millis() as u64, "pull failed; will retry");
        self.shared.metrics.retry(reason);
        let msg = format!("pull: {err}");
        self.shared.status.send_modify(|s| {
            // The pull never overrides a push verdict of degraded or diverged.
            if let Some(st) = state {
                if !matches!(s.state, SyncState::Degraded | SyncState::Diverged) {
                    s.state = st;
                }
            }
            s.last_error = Some(msg);
        });
        wait
    }
}
