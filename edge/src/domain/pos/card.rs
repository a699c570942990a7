//! A card payment's life as the node sees it (pos-api.md "Never charge twice").
//!
//! One payment is one attempt at the terminal under one ServiceID, committed (`pending`) before
//! the request goes out. What the terminal answers — directly, through a TransactionStatus after a
//! timeout, a dropped connection or a restart, or late, after the node had given the attempt up —
//! is fed to [`on_event`], which decides the payment's next state and what the node must do:
//! apply the approved amount to the sale (at most once, ever), or reverse money that nobody wants
//! any more. A response is matched to its attempt by ServiceID before it gets here, so a late
//! answer for an old attempt never lands on another sale.

use serde::{Deserialize, Serialize};

/// The payment states of the API (`pending` until the terminal's outcome is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardState {
    /// Sent (or about to be); the outcome is not known yet.
    Pending,
    /// The whole requested amount was authorised.
    Approved,
    /// Less than requested was authorised: that amount is paid, the rest stays due.
    Partial,
    /// The card or issuer refused.
    Declined,
    /// Cancelled at the terminal or by the cashier's abort before approval.
    Aborted,
    /// The terminal never processed it (TransactionStatus: NotFound) or refused the request.
    Failed,
}

impl CardState {
    pub fn is_final(self) -> bool {
        self != CardState::Pending
    }

    /// Money was taken for the sale.
    pub fn paid(self) -> bool {
        matches!(self, CardState::Approved | CardState::Partial)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardState::Pending => "pending",
            CardState::Approved => "approved",
            CardState::Partial => "partial",
            CardState::Declined => "declined",
            CardState::Aborted => "aborted",
            CardState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<CardState> {
        Some(match s {
            "pending" => CardState::Pending,
            "approved" => CardState::Approved,
            "partial" => CardState::Partial,
            "declined" => CardState::Declined,
            "aborted" => CardState::Aborted,
            "failed" => CardState::Failed,
            _ => return None,
        })
    }
}

/// What the terminal said about the attempt, by whatever path it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalAnswer {
    /// Authorised `authorized` minor units (terminal transaction `txn`).
    Approved { authorized: i64, txn: String },
    /// Refused; `condition` is nexo's ErrorCondition (`Refusal`, `Aborted`, `Cancel`, …).
    Declined { condition: Option<String> },
    /// TransactionStatus found no such transaction: nothing was charged.
    NotFound,
}

/// An attempt as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub state: CardState,
    /// What was asked of the terminal.
    pub requested: i64,
    /// What is applied to the sale (0 until approved).
    pub applied: i64,
    /// The cashier asked for an abort while it was pending.
    pub abort_asked: bool,
}

impl Attempt {
    pub fn new(requested: i64) -> Attempt {
        Attempt {
            state: CardState::Pending,
            requested,
            applied: 0,
            abort_asked: false,
        }
    }
}

/// What happens to an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEvent {
    /// The terminal's answer (response, repeated response of a status query, or a late one).
    Answer(TerminalAnswer),
    /// The cashier aborts; the terminal's answer still decides (an approval wins the race).
    AbortAsked,
}

/// What the node must do after an event, besides storing the new attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEffect {
    /// Nothing beyond the new state.
    None,
    /// Credit this many minor units to the sale (once per attempt, ever).
    Apply(i64),
    /// The terminal took money for an attempt that is already final without it: reverse the
    /// terminal transaction and audit it.
    Reverse { txn: String, amount: i64 },
}

/// Why an event does not fit the attempt (the caller answers with a conflict, nothing changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardRefusal {
    #[error("the payment is already {0}; only a pending card payment can be aborted")]
    NotPending(&'static str),
}

/// The next state of an attempt and what to do.
pub fn on_event(a: &Attempt, event: &CardEvent) -> Result<(Attempt, CardEffect), CardRefusal> {
    match event {
        CardEvent::AbortAsked => {
            if a.state != CardState::Pending {
                return Err(CardRefusal::NotPending(a.state.as_str()));
            }
            Ok((
                Attempt {
                    abort_asked: true,
                    ..a.clone()
                },
                CardEffect::None,
            ))
        }
        CardEvent::Answer(answer) => Ok(answer_to(a, answer)),
    }
}

fn answer_to(a: &Attempt, answer: &TerminalAnswer) -> (Attempt, CardEffect) {
    match (a.state, answer) {
        (CardState::Pending, TerminalAnswer::Approved { authorized, .. }) => {
            // Never more than was asked, whatever the terminal claims.
            let applied = (*authorized).clamp(0, a.requested);
            let state = if applied >= a.requested {
                CardState::Approved
            } else {
                CardState::Partial
            };
            (
                Attempt {
                    state,
                    applied,
                    ..a.clone()
                },
                CardEffect::Apply(applied),
            )
        }
        (CardState::Pending, TerminalAnswer::Declined { condition }) => {
            let aborted =
                a.abort_asked || matches!(condition.as_deref(), Some("Aborted" | "Cancel"));
            let state = if aborted {
                CardState::Aborted
            } else if matches!(
                condition.as_deref(),
                Some("Refusal" | "WrongPIN" | "InvalidCard")
            ) || condition.is_none()
            {
                CardState::Declined
            } else {
                CardState::Failed
            };
            (Attempt { state, ..a.clone() }, CardEffect::None)
        }
        (CardState::Pending, TerminalAnswer::NotFound) => (
            Attempt {
                state: CardState::Failed,
                ..a.clone()
            },
            CardEffect::None,
        ),
        // Already paid: a repeated or duplicated approval changes nothing.
        (CardState::Approved | CardState::Partial, _) => (a.clone(), CardEffect::None),
        // Final without money, and now the terminal says it took some: nobody wants it.
        (
            CardState::Declined | CardState::Aborted | CardState::Failed,
            TerminalAnswer::Approved { authorized, txn },
        ) => (
            a.clone(),
            CardEffect::Reverse {
                txn: txn.clone(),
                amount: *authorized,
            },
        ),
        (CardState::Declined | CardState::Aborted | CardState::Failed, _) => {
            (a.clone(), CardEffect::None)
        }
    }
}

/// A masked PAN safe to keep and print: at most the first six and last four digits. Anything
/// that shows more (a terminal that sent the full number where a masked one belongs) keeps only
/// its last four digits.
pub fn safe_masked_pan(s: &str) -> String {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    let shape_ok = s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | 'X' | 'x' | '.' | ' ' | '-'));
    if digits.len() <= 10 && shape_ok {
        return s.to_string();
    }
    let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("**** {last4}")
}

/// An exact decimal amount from the terminal (`mantissa × 10^-scale` in major units) as minor
/// units of `currency`, rounded down: the node never counts more than the terminal authorised.
pub fn minor_from_decimal(mantissa: i64, scale: u32, currency: &str) -> Option<i64> {
    let digits = super::minor_digits(currency);
    if scale <= digits {
        mantissa.checked_mul(10i64.checked_pow(digits - scale)?)
    } else {
        let div = 10i64.checked_pow(scale - digits)?;
        Some(mantissa.div_euclid(div))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn approved(n: i64) -> CardEvent {
        CardEvent::Answer(TerminalAnswer::Approved {
            authorized: n,
            txn: "T1".into(),
        })
    }

    fn declined(c: &str) -> CardEvent {
        CardEvent::Answer(TerminalAnswer::Declined {
            condition: Some(c.into()),
        })
    }

    #[test]
    fn an_approval_applies_once_and_a_repeat_changes_nothing() {
        let a = Attempt::new(1000);
        let (a, e) = on_event(&a, &approved(1000)).expect("pending");
        assert_eq!((a.state, e), (CardState::Approved, CardEffect::Apply(1000)));
        let (b, e) = on_event(&a, &approved(1000)).expect("repeat");
        assert_eq!((b, e), (a, CardEffect::None));
    }

    #[test]
    fn partial_approval_pays_what_was_authorised() {
        let (a, e) = on_event(&Attempt::new(1000), &approved(600)).expect("pending");
        assert_eq!(
            (a.state, a.applied, e),
            (CardState::Partial, 600, CardEffect::Apply(600))
        );
        // A terminal claiming more than was asked is held to the request.
        let (a, _) = on_event(&Attempt::new(1000), &approved(5000)).expect("pending");
        assert_eq!((a.state, a.applied), (CardState::Approved, 1000));
    }

    #[test]
    fn an_abort_that_loses_the_race_to_an_approval_leaves_it_approved() {
        let (a, _) = on_event(&Attempt::new(500), &CardEvent::AbortAsked).expect("pending");
        let (a, e) = on_event(&a, &approved(500)).expect("answer");
        assert_eq!((a.state, e), (CardState::Approved, CardEffect::Apply(500)));
        let (b, _) = on_event(&Attempt::new(500), &CardEvent::AbortAsked).expect("pending");
        let (b, _) = on_event(&b, &declined("Aborted")).expect("answer");
        assert_eq!(b.state, CardState::Aborted);
        assert!(on_event(&b, &CardEvent::AbortAsked).is_err());
    }

    #[test]
    fn not_found_fails_and_a_late_approval_after_that_is_reversed() {
        let (a, _) = on_event(
            &Attempt::new(700),
            &CardEvent::Answer(TerminalAnswer::NotFound),
        )
        .expect("pending");
        assert_eq!(a.state, CardState::Failed);
        let (b, e) = on_event(&a, &approved(700)).expect("late");
        assert_eq!(b.state, CardState::Failed);
        assert_eq!(
            e,
            CardEffect::Reverse {
                txn: "T1".into(),
                amount: 700
            }
        );
    }

    #[test]
    fn masked_pans_never_show_more_than_bin_and_last_four() {
        assert_eq!(safe_masked_pan("411111 **** 1111"), "411111 **** 1111");
        assert_eq!(safe_masked_pan("**** 1111"), "**** 1111");
        assert_eq!(safe_masked_pan("4111111111111111"), "**** 1111");
        assert_eq!(safe_masked_pan("4111 1111 1111 1111"), "**** 1111");
        assert_eq!(safe_masked_pan("411111******1111;=2912"), "**** 2912");
    }

    #[test]
    fn terminal_amounts_become_minor_units_rounded_down() {
        assert_eq!(minor_from_decimal(1099, 2, "USD"), Some(1099));
        assert_eq!(minor_from_decimal(10, 0, "USD"), Some(1000));
        assert_eq!(minor_from_decimal(10999, 3, "USD"), Some(1099));
        assert_eq!(minor_from_decimal(1500, 2, "JPY"), Some(15));
        assert_eq!(minor_from_decimal(5, 0, "KWD"), Some(5000));
    }

    #[test]
    fn decline_kinds() {
        let s = |c: &str| on_event(&Attempt::new(1), &declined(c)).expect("p").0.state;
        assert_eq!(s("Refusal"), CardState::Declined);
        assert_eq!(s("Cancel"), CardState::Aborted);
        assert_eq!(s("UnavailableService"), CardState::Failed);
    }

    /// What a terminal may do with one attempt: charge it or not. Every message about it may then
    /// be lost, repeated or reordered on its way to the node.
    #[derive(Debug, Clone)]
    enum Msg {
        Answer(bool),
        StatusNotFound,
        Abort,
    }

    proptest! {
        /// The card-payment state machine never reaches two approvals for one attempt, whatever
        /// the network does to the messages; money the terminal took either counts for the sale
        /// once or is reversed.
        #[test]
        fn card_payments_never_charge_twice(
            charged in any::<bool>(),
            requested in 1i64..100_000,
            partial in any::<bool>(),
            msgs in proptest::collection::vec((0u8..4, 0u8..3), 0..12),
        ) {
            let authorized = if partial { requested / 2 + 1 } else { requested };
            // The messages the terminal could send about this attempt: its answer (possibly as
            // a repeated status response), a NotFound only if it never charged, the cashier's
            // aborts. `msgs` picks which arrive, how often and in what order.
            let pool = [
                Msg::Answer(charged),
                Msg::Answer(charged),
                if charged { Msg::Answer(true) } else { Msg::StatusNotFound },
                Msg::Abort,
            ];
            let mut a = Attempt::new(requested);
            let mut applied_total = 0;
            let mut applies = 0;
            let mut reversed = 0;
            for (pick, copies) in msgs {
                for _ in 0..copies {
                    let ev = match &pool[pick as usize] {
                        Msg::Answer(true) => CardEvent::Answer(TerminalAnswer::Approved {
                            authorized,
                            txn: "TX".into(),
                        }),
                        Msg::Answer(false) => CardEvent::Answer(TerminalAnswer::Declined {
                            condition: Some("Refusal".into()),
                        }),
                        Msg::StatusNotFound => CardEvent::Answer(TerminalAnswer::NotFound),
                        Msg::Abort => CardEvent::AbortAsked,
                    };
                    if let Ok((next, effect)) = on_event(&a, &ev) {
                        match effect {
                            CardEffect::Apply(n) => {
                                applies += 1;
                                applied_total += n;
                            }
                            CardEffect::Reverse { amount, .. } => {
                                prop_assert_eq!(amount, authorized);
                                reversed += 1;
                            }
                            CardEffect::None => {}
                        }
                        a = next;
                    }
                }
            }
            prop_assert!(applies <= 1, "two approvals applied for one attempt");
            prop_assert_eq!(applied_total, a.applied);
            prop_assert!(a.applied <= requested);
            if a.state.paid() {
                prop_assert!(charged, "paid without a charge");
                prop_assert_eq!(reversed, 0);
            }
            if !charged {
                prop_assert_eq!(applied_total, 0);
                prop_assert_eq!(reversed, 0);
            }
        }
    }
}
