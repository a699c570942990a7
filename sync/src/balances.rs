//! Gift cards and store credit: balances the central keeps and the edge spends only while it can
//! reach the central. Every spend carries an idempotency id made by the edge (the POS payment's
//! id), so "did it spend?" can always be answered by asking again with the same id: the central
//! returns the first result and changes nothing.
//!
//! [`BalanceOutcome`] says exactly what the edge knows after a call: an answer, a refusal (nothing
//! was spent by that id), or nothing certain. [`BalanceClient`] resends undecided calls with the
//! same id, with full-jitter backoff, a bounded number of times, so an answer lost after the
//! central applied a redemption ends as `Ok` on a resend and never as a second spend.

use crate::backoff::full_jitter;
use crate::client::{ok_json, CentralClient};
use crate::error::SyncError;
use crate::wire::{
    CreditTransaction, CreditTransactionRequest, GiftCard, Money, Redemption, RedemptionRequest,
    StoreCredit,
};
use bytes::Bytes;
use reqwest::Method;
use std::future::Future;
use std::time::Duration;

/// What the edge knows after a balance call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceOutcome<T> {
    /// The central's answer (for an id it had seen: its first answer, unchanged).
    Ok(T),
    /// A definite no: nothing was spent or issued under this id (unknown card or customer, short
    /// balance, inactive card, an id used for something else, a malformed or unauthorised call).
    Refused {
        /// The HTTP status, or `None` when the edge refused to send the call at all.
        status: Option<u16>,
        /// `error.code` (`not_found`, `conflict`, `validation_error`, `authentication_error`…).
        code: String,
        /// `error.message`, fit to show a cashier.
        message: String,
    },
    /// No usable answer (connection error, timeout, 5xx, 429, a lost or garbled answer): the spend
    /// may or may not have happened. Ask again with the same id to learn which.
    Unknown(String),
}

impl<T> BalanceOutcome<T> {
    /// Classifies one attempt: 2xx is `Ok`; 429, 5xx and transport failures are `Unknown`; any
    /// other 4xx is `Refused` (the central decided and did nothing).
    pub fn from_result(result: Result<T, SyncError>) -> Self {
        match result {
            Ok(v) => BalanceOutcome::Ok(v),
            Err(SyncError::Http {
                status,
                code,
                message,
                ..
            }) if (400..500).contains(&status) && status != 408 && status != 429 => {
                BalanceOutcome::Refused {
                    status: Some(status),
                    code,
                    message,
                }
            }
            Err(SyncError::Config(message)) => BalanceOutcome::Refused {
                status: None,
                code: "validation_error".into(),
                message,
            },
            Err(e) => BalanceOutcome::Unknown(e.to_string()),
        }
    }

    /// The answer, if there is one.
    pub fn ok(self) -> Option<T> {
        match self {
            BalanceOutcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// True when the central's answer is known (`Ok` or `Refused`): nothing left to find out.
    pub fn is_decided(&self) -> bool {
        !matches!(self, BalanceOutcome::Unknown(_))
    }
}

/// How hard [`BalanceClient`] tries to learn an answer while a customer waits at the till.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancePolicy {
    /// Timeout of each request.
    pub timeout: Duration,
    /// Requests per call, the first included (0 is taken as 1).
    pub attempts: u32,
    /// Full-jitter backoff base between attempts (contract: 0.5 s).
    pub backoff_base: Duration,
    /// Backoff cap. A 429 asking for a longer wait ends the call as `Unknown` instead of
    /// keeping the customer waiting.
    pub backoff_cap: Duration,
}

impl Default for BalancePolicy {
    /// 10 s per request, 4 requests, backoff 0.5 s capped at 4 s: at most about 50 s in all.
    fn default() -> Self {
        BalancePolicy {
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(4),
        }
    }
}

/// Runs an idempotent call (the same id every time) until its outcome is decided or
/// `policy.attempts` are used, waiting full-jitter backoff (or the server's `Retry-After`) in
/// between. A refusal that comes after an undecided attempt is only believed when the central
/// decided it by looking at the id (not 401/403: those say nothing about an earlier attempt).
pub async fn retry_same_id<T, F, Fut>(policy: &BalancePolicy, mut call: F) -> BalanceOutcome<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SyncError>>,
{
    let attempts = policy.attempts.max(1);
    let mut maybe_applied = false;
    let mut attempt = 0;
    loop {
        let result = call().await;
        let server_wait = match &result {
            Err(SyncError::Http { retry_after, .. }) => *retry_after,
            _ => None,
        };
        let rate_limited = matches!(&result, Err(SyncError::Http { status: 429, .. }));
        let outcome = BalanceOutcome::from_result(result);
        match outcome {
            BalanceOutcome::Ok(_) => return outcome,
            BalanceOutcome::Refused {
                status: Some(401 | 403),
                ref message,
                ..
            } if maybe_applied => {
                return BalanceOutcome::Unknown(format!(
                    "an earlier attempt got no answer and the central now refuses the call: \
                     {message}"
                ))
            }
            BalanceOutcome::Refused { .. } => return outcome,
            BalanceOutcome::Unknown(ref reason) => {
                // A 429 is a refusal to look at the call, not a possible spend.
                maybe_applied |= !rate_limited;
                attempt += 1;
                if attempt >= attempts {
                    return BalanceOutcome::Unknown(format!(
                        "no answer after {attempts} attempts: {reason}"
                    ));
                }
                let wait = match server_wait {
                    Some(d) if d > policy.backoff_cap => {
                        return BalanceOutcome::Unknown(format!(
                            "the central asks to wait {}s: {reason}",
                            d.as_secs()
                        ))
                    }
                    Some(d) => d,
                    None => full_jitter(policy.backoff_base, policy.backoff_cap, attempt - 1),
                };
                tracing::debug!(attempt, ?wait, %reason, "balance call undecided; resending");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Checks what the edge will put in a URL path or a body before anything is sent, so a bad
/// scan is refused at once instead of reaching the central as a different path.
fn check_key(what: &str, v: &str) -> Result<(), SyncError> {
    if v.is_empty() || v == "." || v == ".." || v.len() > 200 || v.chars().any(char::is_control) {
        return Err(SyncError::Config(format!("invalid {what} {v:?}")));
    }
    Ok(())
}

fn check_money(m: &Money, positive: bool) -> Result<(), SyncError> {
    if m.currency.len() != 3 || !m.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(SyncError::Config(format!(
            "invalid currency {:?}",
            m.currency
        )));
    }
    if (positive && m.amount <= 0) || m.amount == 0 {
        return Err(SyncError::Config(format!("invalid amount {}", m.amount)));
    }
    Ok(())
}

fn json_body<T: serde::Serialize>(v: &T) -> Result<Bytes, SyncError> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| SyncError::Protocol(e.to_string()))
}

/// Single attempts of the balance calls of `sync-api.md`. Prefer [`BalanceClient`], which
/// resends undecided calls; these are for callers with their own retry loop.
impl CentralClient {
    /// `GET .../gift-cards/{code}`.
    pub async fn gift_card(&self, code: &str, timeout: Duration) -> Result<GiftCard, SyncError> {
        check_key("gift card code", code)?;
        let url = self.url_of(&["gift-cards", code])?;
        let a = self.call(Method::GET, url, Bytes::new(), timeout).await?;
        ok_json(a)
    }

    /// `POST .../gift-cards/{code}/redemptions`: 201 when spent now, 200 for an id seen before.
    pub async fn redeem_gift_card(
        &self,
        code: &str,
        req: &RedemptionRequest,
        timeout: Duration,
    ) -> Result<Redemption, SyncError> {
        check_key("gift card code", code)?;
        check_key("redemption id", &req.id)?;
        check_money(&req.amount, true)?;
        let url = self.url_of(&["gift-cards", code, "redemptions"])?;
        let a = self
            .call(Method::POST, url, json_body(req)?, timeout)
            .await?;
        let r: Redemption = ok_json(a)?;
        if r.id != req.id || r.amount != req.amount {
            return Err(SyncError::Protocol(format!(
                "redemption {} of {:?} answered as {} of {:?}",
                req.id, req.amount, r.id, r.amount
            )));
        }
        Ok(r)
    }

    /// `POST .../gift-cards/{code}/redemptions/{id}/reversal`: gives a redemption's amount back
    /// to the card (a void or refund); a second reversal returns the same answer.
    pub async fn reverse_gift_card_redemption(
        &self,
        code: &str,
        redemption_id: &str,
        timeout: Duration,
    ) -> Result<Redemption, SyncError> {
        check_key("gift card code", code)?;
        check_key("redemption id", redemption_id)?;
        let url = self.url_of(&["gift-cards", code, "redemptions", redemption_id, "reversal"])?;
        let a = self
            .call(Method::POST, url, Bytes::from_static(b"{}"), timeout)
            .await?;
        let r: Redemption = ok_json(a)?;
        if r.id != redemption_id || !r.reversed {
            return Err(SyncError::Protocol(format!(
                "reversal of {redemption_id} answered as {} (reversed: {})",
                r.id, r.reversed
            )));
        }
        Ok(r)
    }

    /// `GET .../customers/{customer_id}/credit`.
    pub async fn store_credit(
        &self,
        customer_id: &str,
        timeout: Duration,
    ) -> Result<StoreCredit, SyncError> {
        check_key("customer id", customer_id)?;
        let url = self.url_of(&["customers", customer_id, "credit"])?;
        let a = self.call(Method::GET, url, Bytes::new(), timeout).await?;
        ok_json(a)
    }

    /// `POST .../customers/{customer_id}/credit/transactions`: a negative amount spends, a
    /// positive one issues; 201 when booked now, 200 for an id seen before.
    pub async fn credit_transaction(
        &self,
        customer_id: &str,
        req: &CreditTransactionRequest,
        timeout: Duration,
    ) -> Result<CreditTransaction, SyncError> {
        check_key("customer id", customer_id)?;
        check_key("transaction id", &req.id)?;
        check_money(&req.amount, false)?;
        let url = self.url_of(&["customers", customer_id, "credit", "transactions"])?;
        let a = self
            .call(Method::POST, url, json_body(req)?, timeout)
            .await?;
        let t: CreditTransaction = ok_json(a)?;
        if t.id != req.id || t.amount != req.amount {
            return Err(SyncError::Protocol(format!(
                "credit transaction {} of {:?} answered as {} of {:?}",
                req.id, req.amount, t.id, t.amount
            )));
        }
        Ok(t)
    }
}

/// The till's way to the central's balances: each call is resent with the same id until the
/// central's answer is known or [`BalancePolicy::attempts`] are used.
#[derive(Debug, Clone)]
pub struct BalanceClient {
    client: CentralClient,
    policy: BalancePolicy,
}

impl BalanceClient {
    /// Over an existing client (shares its connection pool).
    pub fn new(client: CentralClient, policy: BalancePolicy) -> Self {
        BalanceClient { client, policy }
    }

    /// The retry policy in use.
    pub fn policy(&self) -> &BalancePolicy {
        &self.policy
    }

    /// A gift card's balance and whether it may be redeemed (404 `not_found`: unknown card).
    pub async fn gift_card(&self, code: &str) -> BalanceOutcome<GiftCard> {
        let t = self.policy.timeout;
        retry_same_id(&self.policy, || self.client.gift_card(code, t)).await
    }

    /// Spends `req.amount` from the card under `req.id`. `Refused` with 409 `conflict` means the
    /// balance is short or the card inactive (nothing spent); `Unknown` means call again with the
    /// same request before doing anything else with the payment.
    pub async fn redeem_gift_card(
        &self,
        code: &str,
        req: &RedemptionRequest,
    ) -> BalanceOutcome<Redemption> {
        let t = self.policy.timeout;
        retry_same_id(&self.policy, || self.client.redeem_gift_card(code, req, t)).await
    }

    /// Gives redemption `redemption_id` back to the card (a void or refund). 404 `not_found`:
    /// the central never applied that id (the reference simulator then refuses a late redemption
    /// with it; resolving an undecided redemption by resending it first does not depend on that).
    pub async fn reverse_gift_card_redemption(
        &self,
        code: &str,
        redemption_id: &str,
    ) -> BalanceOutcome<Redemption> {
        let t = self.policy.timeout;
        retry_same_id(&self.policy, || {
            self.client
                .reverse_gift_card_redemption(code, redemption_id, t)
        })
        .await
    }

    /// A customer's store-credit balance (404 `not_found`: the customer has no credit account).
    pub async fn store_credit(&self, customer_id: &str) -> BalanceOutcome<StoreCredit> {
        let t = self.policy.timeout;
        retry_same_id(&self.policy, || self.client.store_credit(customer_id, t)).await
    }

    /// Books a store-credit transaction under `req.id`: negative spends (409 `conflict` when it
    /// exceeds the balance), positive issues (a refund or return to store credit).
    pub async fn credit_transaction(
        &self,
        customer_id: &str,
        req: &CreditTransactionRequest,
    ) -> BalanceOutcome<CreditTransaction> {
        let t = self.policy.timeout;
        retry_same_id(&self.policy, || {
            self.client.credit_transaction(customer_id, req, t)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn http(status: u16) -> SyncError {
        SyncError::Http {
            status,
            code: format!("c{status}"),
            message: "m".into(),
            retry_after: None,
        }
    }

    fn quick() -> BalancePolicy {
        BalancePolicy {
            timeout: Duration::from_millis(100),
            attempts: 4,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(5),
        }
    }

    #[test]
    fn classification() {
        let o = BalanceOutcome::<()>::from_result;
        assert_eq!(o(Ok(())), BalanceOutcome::Ok(()));
        for s in [400, 401, 403, 404, 409, 422] {
            assert!(
                matches!(o(Err(http(s))), BalanceOutcome::Refused { status: Some(x), .. } if x == s),
                "{s}"
            );
        }
        for s in [408, 429, 500, 502, 503] {
            assert!(matches!(o(Err(http(s))), BalanceOutcome::Unknown(_)), "{s}");
        }
        assert!(matches!(
            o(Err(SyncError::Timeout(Duration::from_secs(1)))),
            BalanceOutcome::Unknown(_)
        ));
        assert!(matches!(
            o(Err(SyncError::Protocol("garbled".into()))),
            BalanceOutcome::Unknown(_)
        ));
        assert!(matches!(
            o(Err(SyncError::Config("bad code".into()))),
            BalanceOutcome::Refused { status: None, .. }
        ));
    }

    #[tokio::test]
    async fn retries_until_decided_and_stops_at_the_bound() {
        let calls = Cell::new(0);
        let r = retry_same_id(&quick(), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(SyncError::Connection("reset".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r, BalanceOutcome::Ok(3));

        calls.set(0);
        let r: BalanceOutcome<()> = retry_same_id(&quick(), || {
            calls.set(calls.get() + 1);
            async { Err(http(503)) }
        })
        .await;
        assert!(matches!(r, BalanceOutcome::Unknown(ref m) if m.contains("4 attempts")));
        assert_eq!(calls.get(), 4);

        calls.set(0);
        let r: BalanceOutcome<()> = retry_same_id(&quick(), || {
            calls.set(calls.get() + 1);
            async { Err(http(409)) }
        })
        .await;
        assert!(matches!(
            r,
            BalanceOutcome::Refused {
                status: Some(409),
                ..
            }
        ));
        assert_eq!(calls.get(), 1, "a refusal is not resent");
    }

    #[tokio::test]
    async fn an_auth_refusal_after_a_lost_answer_stays_unknown() {
        let calls = Cell::new(0);
        let r: BalanceOutcome<()> = retry_same_id(&quick(), || {
            calls.set(calls.get() + 1);
            let first = calls.get() == 1;
            async move {
                if first {
                    Err(SyncError::Timeout(Duration::from_millis(100)))
                } else {
                    Err(http(401))
                }
            }
        })
        .await;
        assert!(matches!(r, BalanceOutcome::Unknown(_)), "{r:?}");
        // Without an undecided attempt before it, a 401 is a plain refusal.
        let r: BalanceOutcome<()> = retry_same_id(&quick(), || async { Err(http(401)) }).await;
        assert!(matches!(
            r,
            BalanceOutcome::Refused {
                status: Some(401),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_long_server_wait_ends_the_call_undecided() {
        let calls = Cell::new(0);
        let r: BalanceOutcome<()> = retry_same_id(&quick(), || {
            calls.set(calls.get() + 1);
            async {
                Err(SyncError::Http {
                    status: 429,
                    code: "rate_limited".into(),
                    message: "slow down".into(),
                    retry_after: Some(Duration::from_secs(30)),
                })
            }
        })
        .await;
        assert!(matches!(r, BalanceOutcome::Unknown(ref m) if m.contains("30s")));
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn bad_inputs_are_refused_before_sending() {
        assert!(check_key("code", "GC-1").is_ok());
        for bad in ["", ".", "..", "a\nb"] {
            assert!(check_key("code", bad).is_err(), "{bad:?}");
        }
        let m = |amount, currency: &str| Money {
            amount,
            currency: currency.into(),
        };
        assert!(check_money(&m(100, "USD"), true).is_ok());
        assert!(check_money(&m(-100, "USD"), false).is_ok());
        assert!(check_money(&m(-100, "USD"), true).is_err());
        assert!(check_money(&m(0, "USD"), false).is_err());
        assert!(check_money(&m(100, "usd"), true).is_err());
        assert!(check_money(&m(100, "US"), true).is_err());
    }
}
