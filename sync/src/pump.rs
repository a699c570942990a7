//! The push pump: drains the outbox in seq order, one frozen batch at a time, and records
//! per-event results. Only one batch is in flight, so per-aggregate order follows from seq order.

use crate::backoff::{full_jitter, Timings};
use crate::batch::{BatchBuilder, BatchLimits, FrozenBatch, Offer};
use crate::client::CentralClient;
use crate::error::SyncError;
use crate::status::{RetryReason, SyncState};
use crate::store::{EventOutcome, Outbox, OutboxStats, Outcome};
use crate::wire::{BatchResponse, EventStatus};
use crate::Shared;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

/// Clock skew beyond which the status carries a warning (signatures fail beyond 300 s).
pub const CLOCK_SKEW_WARN_S: i64 = 60;

/// Pump settings.
#[derive(Debug, Clone)]
pub struct PumpSettings {
    /// Timings.
    pub timings: Timings,
    /// Batch limits.
    pub limits: BatchLimits,
    /// Events read from the store per page (bounds memory).
    pub page_size: usize,
}

enum Step {
    /// Go on at once.
    Next,
    /// Nothing to send: wait for a kick or the idle poll.
    Idle,
    /// Wait this long (not interrupted by kicks).
    Backoff(Duration),
    /// Pushing is over for this process (diverged).
    Stop,
}

pub(crate) struct Pump<O> {
    pub outbox: Arc<O>,
    pub client: CentralClient,
    pub settings: PumpSettings,
    pub shared: Arc<Shared>,
    pub kick: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
    frozen: Option<FrozenBatch>,
    scan_after: u64,
    generation: Option<u64>,
    attempt: u32,
    need_status_check: bool,
}

impl<O: Outbox> Pump<O> {
    pub(crate) fn new(
        outbox: Arc<O>,
        client: CentralClient,
        settings: PumpSettings,
        shared: Arc<Shared>,
        kick: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Pump {
            outbox,
            client,
            settings,
            shared,
            kick,
            shutdown,
            frozen: None,
            scan_after: 0,
            generation: None,
            attempt: 0,
            need_status_check: true,
        }
    }

    pub(crate) async fn run(mut self) {
        info!("push pump started");
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let step = self.step().await;
            let keep_going = match step {
                Step::Next => true,
                Step::Idle => {
                    let d = self.settings.timings.idle_poll;
                    self.pause(d, true).await
                }
                Step::Backoff(d) => self.pause(d, false).await,
                Step::Stop => {
                    // Diverged: keep the queue figures fresh for operators, never push again.
                    loop {
                        let d = self.settings.timings.idle_poll;
                        if !self.pause(d, true).await {
                            break;
                        }
                        if let Ok(s) = self.outbox.stats().await {
                            self.publish_stats(&s);
                        }
                    }
                    false
                }
            };
            if !keep_going {
                break;
            }
        }
        info!("push pump stopped");
    }

    /// Sleeps `d`; returns false on shutdown. Kicks (new events) end idle waits only, never a
    /// backoff, so local activity cannot hammer a failing central.
    async fn pause(&mut self, d: Duration, wake_on_kick: bool) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.kick.notified(), if wake_on_kick => true,
            r = self.shutdown.changed() => r.is_ok() && !*self.shutdown.borrow(),
        }
    }

    async fn step(&mut self) -> Step {
        if self.need_status_check {
            if let Some(step) = self.status_check().await {
                return step;
            }
        }
        if self.frozen.is_none() {
            match self.cut().await {
                Ok(Some(b)) => {
                    debug!(
                        events = b.events.len(),
                        bytes = b.body.len(),
                        "batch frozen"
                    );
                    self.frozen = Some(b);
                }
                Ok(None) => {
                    if let Ok(s) = self.outbox.stats().await {
                        self.publish_stats(&s);
                    }
                    return Step::Idle;
                }
                Err(e) => return self.fail(e),
            }
        }
        let Some(batch) = self.frozen.as_ref() else {
            return Step::Idle;
        };
        let body = batch.body.clone();
        // Shutdown abandons an in-flight push: the batch is resent after restart (ids keep it safe).
        let res = tokio::select! {
            r = self.client.push(body, self.settings.timings.push_timeout) => r,
            _ = self.shutdown.changed() => return Step::Backoff(Duration::ZERO),
        };
        match res {
            Ok(resp) => self.settle(resp).await,
            Err(e) => self.fail(e),
        }
    }

    /// `GET status` at start and after every reconnect. `None` = go on pushing.
    async fn status_check(&mut self) -> Option<Step> {
        let res = tokio::select! {
            r = self.client.site_status(self.settings.timings.request_timeout) => r,
            _ = self.shutdown.changed() => return Some(Step::Backoff(Duration::ZERO)),
        };
        let st = match res {
            Ok(st) => st,
            Err(e) => return Some(self.fail(e)),
        };
        let stats = match self.outbox.stats().await {
            Ok(s) => s,
            Err(e) => return Some(self.fail(e)),
        };
        let skew = (st.server_time - Utc::now()).num_seconds();
        self.shared.status.send_modify(|s| {
            s.acked_through = Some(st.acked_through);
            s.clock_skew_s = Some(skew);
            s.warnings.retain(|w| !w.starts_with("clock skew"));
            if skew.abs() > CLOCK_SKEW_WARN_S {
                s.warnings.push(format!(
                    "clock skew {skew} s against the central (signatures fail beyond 300 s)"
                ));
            }
        });
        if skew.abs() > CLOCK_SKEW_WARN_S {
            warn!(skew_s = skew, "clock skew against the central");
        }
        self.publish_stats(&stats);
        if st.acked_through > stats.highest_assigned_seq {
            return Some(self.diverged(st.acked_through, stats.highest_assigned_seq));
        }
        self.need_status_check = false;
        self.succeeded();
        None
    }

    fn diverged(&mut self, central: u64, local: u64) -> Step {
        error!(
            central_acked_through = central,
            local_highest_seq = local,
            "central has seen events this database never assigned (restored backup?): pushing stopped"
        );
        self.shared.status.send_modify(|s| {
            s.state = SyncState::Diverged;
            s.last_error = Some(format!(
                "diverged: central acked_through {central} > highest local seq {local}; run the recovery command"
            ));
        });
        Step::Stop
    }

    /// Cuts the next batch by paging through pending events (never the whole queue).
    async fn cut(&mut self) -> Result<Option<FrozenBatch>, SyncError> {
        let held = self.outbox.held_back().await?;
        if self.generation != Some(held.generation) {
            // A dead letter was added, retried or discarded: a retried event sits below our
            // cursor and must go before later events of its aggregate, so rescan from the start.
            self.scan_after = 0;
            self.generation = Some(held.generation);
        }
        let mut b = BatchBuilder::new(self.settings.limits, held.aggregates, self.scan_after);
        let mut after = self.scan_after;
        let mut too_large = Vec::new();
        'pages: loop {
            let page = self
                .outbox
                .pending_after(after, self.settings.page_size)
                .await?;
            let n = page.len();
            for ev in &page {
                if ev.seq <= after {
                    return Err(SyncError::Store(format!(
                        "pending_after({after}) returned seq {}",
                        ev.seq
                    )));
                }
                after = ev.seq;
                match b.offer(ev) {
                    Offer::Taken | Offer::Held => {}
                    Offer::TooLarge => {
                        warn!(
                            seq = ev.seq,
                            bytes = ev.body.len(),
                            "event larger than a batch may be: dead-lettered"
                        );
                        too_large.push(EventOutcome {
                            seq: ev.seq,
                            id: ev.id.clone(),
                            outcome: Outcome::Rejected {
                                code: "event_too_large".into(),
                                message: format!(
                                    "event is {} bytes; a batch body may hold at most {}",
                                    ev.body.len(),
                                    self.settings.limits.max_bytes
                                ),
                            },
                        });
                    }
                    Offer::Full => break 'pages,
                }
            }
            if n < self.settings.page_size {
                break;
            }
        }
        if !too_large.is_empty() {
            let n = too_large.len() as u64;
            self.outbox.record_outcomes(too_large, None).await?;
            self.shared.metrics.dead_lettered(n);
        }
        let last_seen = b.last_seen();
        let frozen = b.finish();
        if frozen.is_none() {
            // Only held events (or none) were seen: skip them on the next scan too.
            self.scan_after = last_seen;
        }
        Ok(frozen)
    }

    async fn settle(&mut self, resp: BatchResponse) -> Step {
        let Some(batch) = self.frozen.as_ref() else {
            return Step::Next;
        };
        if resp.results.len() != batch.events.len()
            || resp
                .results
                .iter()
                .zip(&batch.events)
                .any(|(r, (_, id))| r.id != *id)
        {
            return self.fail(SyncError::Protocol(format!(
                "{} results for a batch of {} (or ids out of order)",
                resp.results.len(),
                batch.events.len()
            )));
        }
        let mut done = 0u64;
        let mut dead = 0u64;
        let outcomes: Vec<EventOutcome> = resp
            .results
            .iter()
            .zip(&batch.events)
            .map(|(r, (seq, id))| {
                let outcome = match r.status {
                    EventStatus::Applied | EventStatus::Duplicate => {
                        done += 1;
                        Outcome::Done
                    }
                    EventStatus::Rejected => {
                        dead += 1;
                        let (code, message) = r
                            .error
                            .as_ref()
                            .map(|e| (e.code.clone(), e.message.clone()))
                            .unwrap_or_else(|| ("rejected".into(), String::new()));
                        warn!(id = %id, code = %code, message = %message, "event rejected: dead-lettered");
                        Outcome::Rejected { code, message }
                    }
                };
                EventOutcome {
                    seq: *seq,
                    id: id.clone(),
                    outcome,
                }
            })
            .collect();
        let last_rejected = resp
            .results
            .iter()
            .rev()
            .find(|r| r.status == EventStatus::Rejected)
            .map(|r| {
                let e = r.error.as_ref();
                format!(
                    "event {} rejected: {}: {}",
                    r.id,
                    e.map(|e| e.code.as_str()).unwrap_or("rejected"),
                    e.map(|e| e.message.as_str()).unwrap_or("")
                )
            });
        if let Err(e) = self
            .outbox
            .record_outcomes(outcomes, Some(resp.acked_through))
            .await
        {
            // Keep the batch frozen: resending it is safe (duplicates are done).
            return self.fail(e);
        }
        let resume = batch.resume_after;
        self.frozen = None;
        self.scan_after = resume;
        self.shared.metrics.batch_sent(done, dead);
        self.succeeded();
        let stats = self.outbox.stats().await;
        self.shared.status.send_modify(|s| {
            s.acked_through = Some(resp.acked_through);
            if last_rejected.is_some() {
                s.last_error = last_rejected;
            }
        });
        match stats {
            Ok(s) => {
                self.publish_stats(&s);
                if resp.acked_through > s.highest_assigned_seq {
                    return self.diverged(resp.acked_through, s.highest_assigned_seq);
                }
            }
            Err(e) => warn!(error = %e, "outbox stats failed"),
        }
        Step::Next
    }

    fn succeeded(&mut self) {
        self.attempt = 0;
        self.shared.metrics.success();
        let now = Utc::now();
        self.shared.status.send_modify(|s| {
            if s.state != SyncState::Online {
                s.last_error = None;
            }
            s.state = SyncState::Online;
            s.last_success_at = Some(now);
        });
    }

    fn backoff(&mut self) -> Duration {
        let t = &self.settings.timings;
        let d = full_jitter(t.backoff_base, t.backoff_cap, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    fn set_state(&self, state: Option<SyncState>, err: &SyncError) {
        let msg = err.to_string();
        self.shared.status.send_modify(|s| {
            if let Some(st) = state {
                s.state = st;
            }
            s.last_error = Some(msg);
        });
    }

    /// Classifies a failure per the contract's table and says how long to wait.
    fn fail(&mut self, err: SyncError) -> Step {
        let timings = self.settings.timings.clone();
        let (reason, state, wait) = match &err {
            SyncError::Timeout(_) => {
                self.need_status_check = true;
                (
                    RetryReason::Timeout,
                    Some(SyncState::Offline),
                    self.backoff(),
                )
            }
            SyncError::Connection(_) => {
                self.need_status_check = true;
                (
                    RetryReason::Connection,
                    Some(SyncState::Offline),
                    self.backoff(),
                )
            }
            SyncError::Http {
                status,
                retry_after,
                ..
            } => match *status {
                429 => {
                    let wait = match retry_after {
                        Some(d) => (*d).min(timings.max_server_wait),
                        None => self.backoff(),
                    };
                    (RetryReason::RateLimited, None, wait)
                }
                401 | 403 => {
                    self.need_status_check = true;
                    (
                        RetryReason::Unauthorized,
                        Some(SyncState::Unauthorized),
                        timings.unauthorized_retry,
                    )
                }
                400 | 413 | 422 => (
                    RetryReason::Degraded,
                    Some(SyncState::Degraded),
                    timings.degraded_retry,
                ),
                408 => {
                    self.need_status_check = true;
                    (
                        RetryReason::Timeout,
                        Some(SyncState::Offline),
                        self.backoff(),
                    )
                }
                409 | 425 => (RetryReason::ServerError, None, self.backoff()),
                s if s >= 500 => {
                    self.need_status_check = true;
                    let wait = match retry_after {
                        Some(d) => (*d).min(timings.max_server_wait),
                        None => self.backoff(),
                    };
                    (RetryReason::ServerError, Some(SyncState::Offline), wait)
                }
                _ => (
                    RetryReason::Degraded,
                    Some(SyncState::Degraded),
                    timings.degraded_retry,
                ),
            },
            SyncError::Store(_) => (RetryReason::Store, None, self.backoff()),
            _ => (
                RetryReason::Degraded,
                Some(SyncState::Degraded),
                timings.degraded_retry,
            ),
        };
        warn!(error = %err, reason = reason.label(), wait_ms = wait.as_millis() as u64, "push failed; will retry");
        self.shared.metrics.retry(reason);
        self.set_state(state, &err);
        Step::Backoff(wait)
    }

    fn publish_stats(&self, st: &OutboxStats) {
        let age = st
            .oldest_pending_at
            .map(|t| u64::try_from((Utc::now() - t).num_seconds()).unwrap_or(0));
        self.shared.status.send_if_modified(|s| {
            let changed = s.queue_depth != st.pending
                || s.oldest_pending_age_s != age
                || s.dead_letters != st.dead_letters;
            s.queue_depth = st.pending;
            s.oldest_pending_age_s = age;
            s.dead_letters = st.dead_letters;
            changed
        });
    }
}
