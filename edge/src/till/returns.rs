//! Voids and refunds as the node runs them: the store records the intent and the card reversals
//! owed (each with its ServiceID) in one write; then each reversal is sent to the register's
//! terminal — asked about with TransactionStatus when its answer is lost, never sent twice — and
//! the void or refund completes in a second write once the terminal has answered them all. A
//! node killed in between resumes every pending reversal at start-up and completes what it
//! belongs to.

use std::time::Duration;

use wms_hardware::protocol::nexo::TransactionId;

use super::{decimal_of, publish_sale, till_origin, Till};
use crate::config::RegisterConfig;
use crate::domain::pos::format_minor;
use crate::error::{Error, Result};
use crate::store::base::Origin;
use crate::store::workflow::pos::refund::{self, Refund, RefundIn, RefundStep};
use crate::store::workflow::pos::reversals::{self, Reversal};
use crate::store::workflow::pos::void::{self, VoidIn, VoidStep};
use crate::store::workflow::pos::{self as pos_store, Sale};

/// How long a void or refund request waits for the terminal before answering that it is still
/// waiting (the reversal goes on in the background and completes the void or refund).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

impl Till {
    /// Voids a sale; card payments are reversed at the terminal first. A reversal the terminal
    /// refuses leaves the sale as it was (409 with the terminal's reason).
    pub async fn void_sale(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        sale_id: &str,
        v: VoidIn,
    ) -> Result<Sale> {
        let r = reg.clone();
        let id = sale_id.to_string();
        let step = self
            .write(origin.clone(), move |cx| {
                void::begin_void(cx, &r, &id, &v, wms_hardware::device::fresh_service_id)
            })
            .await?;
        let owed = match step {
            VoidStep::Done(s) => {
                publish_sale(&self.inner.events, &s);
                return Ok(*s);
            }
            VoidStep::Reverse(owed) => owed,
        };
        let outcomes = self.reverse_all(owed).await?;
        self.after_reversals(origin, reg, sale_id, outcomes).await
    }

    /// Completes (or refuses) a void whose reversals were answered.
    async fn after_reversals(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        sale_id: &str,
        answered: Vec<Reversal>,
    ) -> Result<Sale> {
        let refused: Vec<String> = answered
            .iter()
            .filter(|r| r.state == "refused")
            .map(|r| r.detail.clone().unwrap_or_default())
            .collect();
        let r = reg.clone();
        let id = sale_id.to_string();
        if let Some(why) = refused.first().cloned() {
            self.write(origin, move |cx| void::void_refused(cx, &id, &why))
                .await?;
            return Err(Error::conflict(format!(
                "the terminal refused to reverse the card payment ({}): the sale stays as it was",
                refused.join("; ")
            )));
        }
        let s = self
            .write(origin, move |cx| void::finish_void(cx, &r, &id))
            .await?;
        publish_sale(&self.inner.events, &s);
        Ok(s)
    }

    /// A referenced refund: card shares are reversed at the terminal (a refused one is paid in
    /// cash), then the refund completes.
    pub async fn refund_sale(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        sale_id: &str,
        cashier: &str,
        r: RefundIn,
    ) -> Result<Refund> {
        let reg2 = reg.clone();
        let id = sale_id.to_string();
        let who = cashier.to_string();
        let step = self
            .write(origin.clone(), move |cx| {
                refund::begin_refund(
                    cx,
                    &reg2,
                    &id,
                    &who,
                    &r,
                    wms_hardware::device::fresh_service_id,
                )
            })
            .await?;
        let (rf, owed) = match step {
            RefundStep::Done(rf) => {
                self.inner.print_wake.notify_one();
                return Ok(rf);
            }
            RefundStep::Reverse(rf, owed) => (rf, owed),
        };
        let answered = match self.reverse_all(owed).await {
            Ok(a) => a,
            Err(e) => return Err(e),
        };
        self.finish_refund(origin, reg, &rf.id, answered).await
    }

    async fn finish_refund(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        refund_id: &str,
        _answered: Vec<Reversal>,
    ) -> Result<Refund> {
        let r = reg.clone();
        let id = refund_id.to_string();
        let rf = self
            .write(origin, move |cx| refund::settle_answered(cx, &r, &id))
            .await?
            .ok_or_else(|| {
                Error::conflict(format!(
                    "refund {refund_id} waits for the terminal: it completes when it answers"
                ))
            })?;
        self.inner.print_wake.notify_one();
        Ok(rf)
    }

    /// Sends every reversal and waits (up to [`ANSWER_WITHIN`]) for all their answers. Still
    /// unanswered by then: a conflict saying so; the reversals go on in the background and
    /// complete what they serve.
    async fn reverse_all(&self, owed: Vec<Reversal>) -> Result<Vec<Reversal>> {
        let mut answered = Vec::with_capacity(owed.len());
        let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
        for r in owed {
            let me = self.clone();
            let rid = r.id.clone();
            let (purpose, ref_id, register) =
                (r.purpose.clone(), r.ref_id.clone(), r.register_id.clone());
            let mut task = tokio::spawn(async move { me.reverse_one_owed(r).await });
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(Some(done))) => answered.push(done),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    return Err(Error::DeviceUnavailable(format!(
                        "card reversal {rid} could not be sent; it is kept and sent when the \
                         terminal is back"
                    )))
                }
                Err(_) => {
                    // Keep it running: it completes the void or refund when the terminal answers.
                    self.keep(task, purpose, ref_id, register);
                    return Err(Error::conflict(format!(
                        "the terminal has not answered card reversal {rid} yet: it completes \
                         when it does"
                    )));
                }
            }
        }
        Ok(answered)
    }

    fn keep(
        &self,
        task: tokio::task::JoinHandle<Option<Reversal>>,
        purpose: String,
        ref_id: String,
        register: String,
    ) {
        let me = self.clone();
        self.spawn(async move {
            if !matches!(task.await, Ok(Some(_))) {
                return;
            }
            me.complete(&purpose, &ref_id, &register).await;
        });
    }

    /// Completes the void or refund a reversal served, once none of it is pending.
    async fn complete(&self, purpose: &str, ref_id: &str, register: &str) {
        let Some(reg) = self.inner.registers.get(register).cloned() else {
            return;
        };
        let origin = till_origin(register);
        let res = if purpose == "void" {
            self.complete_void_if_answered(origin, &reg, ref_id).await
        } else {
            self.complete_refund_if_answered(origin, &reg, ref_id).await
        };
        if let Err(e) = res {
            tracing::warn!(error = %e, "completing after a card reversal");
        }
    }

    /// Sends one owed reversal until the terminal has said accepted or refused; records the
    /// answer. `None` when the node stops first or the terminal is not configured.
    async fn reverse_one_owed(&self, r: Reversal) -> Option<Reversal> {
        let t = self
            .inner
            .terminals
            .values()
            .find(|t| t.device_id == r.terminal_id)
            .cloned()?;
        let amount = decimal_of(r.amount, &r.currency).ok()?;
        let original = TransactionId {
            transaction_id: r.txn.clone(),
            time_stamp: r.txn_time.clone(),
        };
        let mut every = Duration::from_millis(500);
        // A reversal written before a crash may have reached the terminal: ask about it first.
        let mut ask_first = r.state == "pending" && self.sent_before(&r);
        loop {
            let out = if ask_first {
                tokio::select! {
                    x = t.handle.reversal_status(&r.service_id) => x,
                    _ = self.inner.shutdown.cancelled() => return None,
                }
            } else {
                tokio::select! {
                    x = t.handle.reverse(original.clone(), Some(amount), Some(r.service_id.clone())) => x,
                    _ = self.inner.shutdown.cancelled() => return None,
                }
            };
            match out {
                Ok(o) if ask_first && o.error_condition.as_deref() == Some("NotFound") => {
                    // Never processed: sending it now is the first time.
                    ask_first = false;
                    continue;
                }
                Ok(o) => {
                    let detail = if o.accepted {
                        format!(
                            "reversed {} at the terminal",
                            format_minor(r.amount, &r.currency)
                        )
                    } else {
                        format!(
                            "refused by the terminal ({})",
                            o.error_condition
                                .unwrap_or_else(|| "no reason given".into())
                        )
                    };
                    let id = r.id.clone();
                    let accepted = o.accepted;
                    let rec = self
                        .write(till_origin(&r.register_id), move |cx| {
                            reversals::record(cx, &id, accepted, &detail)
                        })
                        .await;
                    return match rec {
                        Ok(done) => Some(done),
                        Err(e) => {
                            tracing::error!(error = %e, "recording a reversal failed");
                            None
                        }
                    };
                }
                Err(e) => {
                    // Sent or not, the answer is unknown: from now on ask, never resend.
                    tracing::info!(reversal = %r.id, error = %e, "reversal answer not known yet");
                    ask_first = !matches!(
                        e,
                        wms_hardware::Error::Offline(_) | wms_hardware::Error::Busy
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = self.inner.shutdown.cancelled() => return None,
                    }
                    every = (every * 2).min(super::STATUS_EVERY_MAX);
                }
            }
        }
    }

    /// A pending reversal found at start-up may have been sent by the previous run.
    fn sent_before(&self, r: &Reversal) -> bool {
        self.inner
            .resumed
            .lock()
            .map(|s| s.contains(&r.id))
            .unwrap_or(true)
    }

    /// At start-up: every reversal the last run left pending is asked about (or sent) and what it
    /// served is completed.
    pub(super) async fn resume_reversals(&self) {
        let pending = match self.inner.store.read(reversals::pending).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "reading pending reversals failed");
                return;
            }
        };
        if let Ok(mut s) = self.inner.resumed.lock() {
            s.extend(pending.iter().map(|r| r.id.clone()));
        }
        for r in pending {
            let me = self.clone();
            self.spawn(async move {
                let (purpose, ref_id, register) =
                    (r.purpose.clone(), r.ref_id.clone(), r.register_id.clone());
                if me.reverse_one_owed(r).await.is_some() {
                    me.complete(&purpose, &ref_id, &register).await;
                }
            });
        }
    }

    async fn complete_void_if_answered(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        sale_id: &str,
    ) -> Result<()> {
        let id = sale_id.to_string();
        let all = self
            .inner
            .store
            .read(move |c| reversals::for_ref(c, &id))
            .await?;
        if all.iter().any(|r| r.state == "pending") {
            return Ok(());
        }
        let answered: Vec<Reversal> = all.into_iter().filter(|r| r.purpose == "void").collect();
        self.after_reversals(origin, reg, sale_id, answered)
            .await
            .map(|_| ())
    }

    async fn complete_refund_if_answered(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        tender_id: &str,
    ) -> Result<()> {
        let tid = tender_id.to_string();
        let r = reg.clone();
        let finished = self
            .write(origin, move |cx| {
                let refund_id: String = cx
                    .conn
                    .prepare_cached("SELECT refund_id FROM pos_refund_tenders WHERE id = ?1")?
                    .query_row([&tid], |row| row.get(0))?;
                refund::settle_answered(cx, &r, &refund_id)
            })
            .await?;
        if finished.is_some() {
            self.inner.print_wake.notify_one();
        }
        Ok(())
    }

    /// A sale as stored (for the API after a void).
    pub async fn sale(&self, id: &str) -> Result<Sale> {
        let id = id.to_string();
        self.inner
            .store
            .read(move |c| pos_store::sale(c, &id))
            .await
    }
}
