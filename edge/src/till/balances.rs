//! Gift card and store credit tenders as the node runs them: the pending payment is committed,
//! then the central is asked to spend under the payment's id (resent with the same id while the
//! answer is unknown), and its answer is settled. A payment whose answer stays unknown keeps
//! asking in the background (and at start-up) until the central decides — the balance is spent at
//! most once whatever is lost. Offline, or without a central, these tenders are refused at once.

use std::time::Duration;

use wms_sync::wire::{CreditTransactionRequest, Money, RedemptionRequest};
use wms_sync::BalanceOutcome;

use super::{publish_payment, publish_sale, till_origin, Till};
use crate::config::RegisterConfig;
use crate::error::{Error, Result};
use crate::store::base::Origin;
use crate::store::workflow::pos::balances::{self, BalanceAnswer, BalanceAttempt, BalanceSource};
use crate::store::workflow::pos::payments::{TenderRequest, Tendered};

/// Longest wait between two asks about an undecided balance payment in the background.
const ASK_EVERY_MAX: Duration = Duration::from_secs(60);

impl Till {
    fn balance_client(&self) -> Result<&wms_sync::BalanceClient> {
        let c = self.inner.balances.as_ref().ok_or_else(|| {
            Error::conflict(
                "gift cards and store credit are kept by the central, and this node has none: \
                 take another tender",
            )
        })?;
        if self.central_offline() {
            return Err(Error::conflict(
                "Gift cards and store credit need the central, which is unreachable: take another \
                 tender",
            ));
        }
        Ok(c)
    }

    /// Fails with the reason when balances cannot be reached now.
    pub fn balance_ready(&self) -> Result<()> {
        self.balance_client().map(|_| ())
    }

    /// Reads a gift card's balance at the central.
    pub async fn gift_card(&self, code: &str) -> Result<wms_sync::wire::GiftCard> {
        let c = self.balance_client()?;
        decided(c.gift_card(code).await)
    }

    /// Reads a customer's store credit at the central.
    pub async fn store_credit(&self, customer_id: &str) -> Result<wms_sync::wire::StoreCredit> {
        let c = self.balance_client()?;
        decided(c.store_credit(customer_id).await)
    }

    /// Pays part or all of a sale from a gift card or the customer's store credit.
    pub async fn pay_balance(
        &self,
        origin: Origin,
        reg: &RegisterConfig,
        sale_id: &str,
        req: TenderRequest,
        source: BalanceSource,
    ) -> Result<Tendered> {
        let client = self.balance_client();
        let r = reg.clone();
        let sid = sale_id.to_string();
        // A retry of an earlier request is answered from the store even offline.
        if let Err(e) = client {
            let replayed = self
                .write(origin, move |cx| {
                    crate::store::workflow::pos::payments::replay(cx, &sid, &req)
                })
                .await?;
            return match replayed {
                Some(payment) => Ok(Tendered {
                    sale: self.sale(sale_id).await?,
                    payment,
                    created: false,
                }),
                None => Err(e),
            };
        }
        let (done, attempt) = self
            .write(origin, move |cx| {
                balances::begin_balance(cx, &r, &sid, &req, &source)
            })
            .await?;
        let Some(attempt) = attempt else {
            return Ok(done);
        };
        publish_payment(&self.inner.events, &done.payment, &done.sale);
        match self.spend(&attempt).await {
            Some(answer) => self.settle_balance_answer(&attempt, answer).await,
            None => {
                // Undecided: keep asking with the same id in the background.
                let me = self.clone();
                self.spawn(async move { me.ask_until_decided(attempt).await });
                Ok(done)
            }
        }
    }

    /// One round of asks with the same id; `None` while the central's answer stays unknown.
    async fn spend(&self, a: &BalanceAttempt) -> Option<BalanceAnswer> {
        let c = self.inner.balances.as_ref()?;
        let money = Money {
            amount: a.amount,
            currency: a.currency.clone(),
        };
        let outcome = match (a.method.as_str(), &a.code, &a.customer_id) {
            ("gift_card", Some(code), _) => c
                .redeem_gift_card(
                    code,
                    &RedemptionRequest {
                        id: a.payment_id.clone(),
                        amount: money,
                        sale_id: a.sale_id.clone(),
                    },
                )
                .await
                .pipe(|r| r.balance_after.amount),
            ("store_credit", _, Some(customer)) => c
                .credit_transaction(
                    customer,
                    &CreditTransactionRequest {
                        id: a.payment_id.clone(),
                        amount: Money {
                            amount: -a.amount,
                            currency: a.currency.clone(),
                        },
                        sale_id: Some(a.sale_id.clone()),
                        reason: "sale".into(),
                    },
                )
                .await
                .pipe(|t| t.balance_after.amount),
            _ => BalanceOutcome::Refused {
                status: None,
                code: "validation_error".into(),
                message: "the payment names no card or customer".into(),
            },
        };
        match outcome {
            BalanceOutcome::Ok(after) => Some(BalanceAnswer::Spent {
                balance_after: after,
            }),
            BalanceOutcome::Refused { message, .. } => Some(BalanceAnswer::Refused(message)),
            BalanceOutcome::Unknown(why) => {
                tracing::info!(payment = %a.payment_id, %why, "balance answer not known yet");
                None
            }
        }
    }

    async fn settle_balance_answer(
        &self,
        a: &BalanceAttempt,
        answer: BalanceAnswer,
    ) -> Result<Tendered> {
        let reg = self
            .inner
            .registers
            .get(&a.register_id)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("register {} is gone", a.register_id)))?;
        let id = a.payment_id.clone();
        let (payment, sale, completed) = self
            .write(till_origin(&a.register_id), move |cx| {
                balances::settle_balance(cx, &reg, &id, &answer)
            })
            .await?;
        publish_payment(&self.inner.events, &payment, &sale);
        publish_sale(&self.inner.events, &sale);
        if completed {
            self.inner.print_wake.notify_one();
        }
        Ok(Tendered {
            payment,
            sale,
            created: true,
        })
    }

    async fn ask_until_decided(self, a: BalanceAttempt) {
        let mut every = Duration::from_secs(1);
        loop {
            if let Some(answer) = self.spend(&a).await {
                if let Err(e) = self.settle_balance_answer(&a, answer).await {
                    tracing::error!(payment = %a.payment_id, error = %e, "settling a balance answer");
                }
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.inner.shutdown.cancelled() => return,
            }
            every = (every * 2).min(ASK_EVERY_MAX);
        }
    }

    /// At start-up: every balance payment the last run left undecided is asked about again.
    pub(super) async fn resume_balances(&self) {
        if self.inner.balances.is_none() {
            return;
        }
        match self
            .inner
            .store
            .read(balances::pending_balance_payments)
            .await
        {
            Ok(list) => {
                for a in list {
                    let me = self.clone();
                    self.spawn(async move { me.ask_until_decided(a).await });
                }
            }
            Err(e) => tracing::error!(error = %e, "reading pending balance payments"),
        }
    }

    /// Gives a balance back (a void or a refund): the redemption reversed, or the credit issued,
    /// under an id made from what it serves, resent with that id until decided.
    pub(super) async fn give_back(&self, g: &GiveBack<'_>) -> Result<i64> {
        let GiveBack {
            method,
            code,
            customer,
            redemption_id,
            give_id,
            amount,
            currency,
            sale_id,
        } = *g;
        let c = self.balance_client()?;
        let outcome = match (method, code, customer) {
            ("gift_card", Some(code), _) => c
                .reverse_gift_card_redemption(code, redemption_id)
                .await
                .pipe(|r| r.balance_after.amount),
            (_, _, Some(customer)) => c
                .credit_transaction(
                    customer,
                    &CreditTransactionRequest {
                        id: give_id.to_string(),
                        amount: Money {
                            amount,
                            currency: currency.to_string(),
                        },
                        sale_id: sale_id.map(str::to_string),
                        reason: "refund".into(),
                    },
                )
                .await
                .pipe(|t| t.balance_after.amount),
            _ => {
                return Err(Error::conflict(
                    "nothing to give the balance back to (no card or customer)",
                ))
            }
        };
        decided(outcome)
    }
}

/// What a give-back needs: the payment's method, its card or customer, the redemption it undoes
/// (gift cards), the id the credit is issued under (store credit), and the money.
#[derive(Debug, Clone, Copy)]
pub(super) struct GiveBack<'a> {
    pub method: &'a str,
    pub code: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub redemption_id: &'a str,
    pub give_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub sale_id: Option<&'a str>,
}

fn decided<T>(o: BalanceOutcome<T>) -> Result<T> {
    match o {
        BalanceOutcome::Ok(v) => Ok(v),
        BalanceOutcome::Refused {
            status, message, ..
        } => Err(if status == Some(404) {
            Error::not_found(message)
        } else {
            Error::conflict(message)
        }),
        BalanceOutcome::Unknown(why) => Err(Error::DeviceUnavailable(format!(
            "the central did not answer ({why}); nothing was decided — try again"
        ))),
    }
}

/// A decided answer's one figure that matters (the balance after), keeping what is undecided.
trait Pipe<T> {
    fn pipe(self, f: impl FnOnce(T) -> i64) -> BalanceOutcome<i64>;
}

impl<T> Pipe<T> for BalanceOutcome<T> {
    fn pipe(self, f: impl FnOnce(T) -> i64) -> BalanceOutcome<i64> {
        match self {
            BalanceOutcome::Ok(v) => BalanceOutcome::Ok(f(v)),
            BalanceOutcome::Refused {
                status,
                code,
                message,
            } => BalanceOutcome::Refused {
                status,
                code,
                message,
            },
            BalanceOutcome::Unknown(why) => BalanceOutcome::Unknown(why),
        }
    }
}
