//! What is still due once tenders are applied, and what a cash tender applies, rounds and
//! gives back (pos-api.md "Payments", "Cash rounding" and "Exact rules").
//!
//! A pending card payment's amount is held against `due`, so cash can be taken for the rest
//! while the terminal works; a card never pays more than is due, and cards pay exact amounts.

use serde::{Deserialize, Serialize};

/// The sale's money after tenders, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The priced total.
    pub total: i64,
    /// Σ cash rounding taken (negative when rounded down).
    pub rounding: i64,
    /// Σ amounts applied by approved (and partial) payments.
    pub paid: i64,
    /// Σ amounts of pending card payments.
    pub held: i64,
    /// `total + rounding − paid − held`, never below zero.
    pub due: i64,
    /// Σ change given.
    pub change: i64,
}

impl Balance {
    pub fn new(total: i64, rounding: i64, paid: i64, held: i64, change: i64) -> Balance {
        Balance {
            total,
            rounding,
            paid,
            held,
            due: (total + rounding - paid - held).max(0),
            change,
        }
    }

    /// Done: nothing due and nothing pending.
    pub fn settled(&self) -> bool {
        self.due == 0 && self.held == 0
    }
}

/// `amount` rounded to the nearest multiple of `step` (a half upwards); `step` ≤ 1 is no rounding.
pub fn cash_round(amount: i64, step: i64) -> i64 {
    if step <= 1 {
        return amount;
    }
    let r = amount.rem_euclid(step);
    if 2 * r >= step {
        amount - r + step
    } else {
        amount - r
    }
}

/// What a cash tender does to the sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cash {
    /// The amount applied to the sale.
    pub applied: i64,
    /// What the customer handed over.
    pub tendered: i64,
    pub change: i64,
    /// The rounding this tender added to the sale (0 unless it paid the whole balance).
    pub rounding: i64,
}

/// Why a tender is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenderError {
    #[error("nothing is due")]
    NothingDue,
    #[error("amount {amount} is more than the {due} due")]
    AboveDue { amount: i64, due: i64 },
    #[error("{0} must not be negative")]
    Negative(&'static str),
}

/// A cash tender against `due` (held card amounts already taken off). `amount` defaults to the
/// whole balance; paying the whole balance rounds it to `step`; `tendered` below the amount
/// applies what was tendered (split tender), above it gives change.
pub fn take_cash(
    due: i64,
    step: i64,
    amount: Option<i64>,
    tendered: Option<i64>,
) -> Result<Cash, TenderError> {
    if amount.is_some_and(|a| a < 0) {
        return Err(TenderError::Negative("amount"));
    }
    if tendered.is_some_and(|t| t < 0) {
        return Err(TenderError::Negative("tendered"));
    }
    let rounded = cash_round(due, step);
    let whole = amount.is_none_or(|a| a == due || a == rounded);
    if due == 0 && amount.unwrap_or(0) > 0 {
        return Err(TenderError::NothingDue);
    }
    if !whole && amount.is_some_and(|a| a > due) {
        return Err(TenderError::AboveDue {
            amount: amount.unwrap_or(0),
            due,
        });
    }
    let asked = if whole {
        rounded
    } else {
        amount.unwrap_or(due)
    };
    let tendered = tendered.unwrap_or(asked);
    if tendered >= asked {
        Ok(Cash {
            applied: asked,
            tendered,
            change: tendered - asked,
            rounding: if whole { rounded - due } else { 0 },
        })
    } else {
        // Less than asked: a part payment, which is never rounded.
        Ok(Cash {
            applied: tendered.min(due),
            tendered,
            change: 0,
            rounding: 0,
        })
    }
}

/// A card payment's amount: default the whole due, never above it (cards pay exact amounts).
pub fn card_amount(due: i64, amount: Option<i64>) -> Result<i64, TenderError> {
    let a = amount.unwrap_or(due);
    if a < 0 {
        return Err(TenderError::Negative("amount"));
    }
    if due == 0 || a == 0 {
        return Err(TenderError::NothingDue);
    }
    if a > due {
        return Err(TenderError::AboveDue { amount: a, due });
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rounding_to_five_goes_one_two_down_three_four_up() {
        let got: Vec<i64> = (1000..=1005).map(|a| cash_round(a, 5)).collect();
        assert_eq!(got, vec![1000, 1000, 1000, 1005, 1005, 1005]);
        assert_eq!(cash_round(1005, 10), 1010, "a half rounds up");
        assert_eq!(cash_round(1234, 0), 1234);
    }

    #[test]
    fn exact_cash_rounds_and_gives_change() {
        let c = take_cash(1002, 5, None, Some(2000)).expect("cash");
        assert_eq!(
            (c.applied, c.change, c.rounding),
            (1000, 1000, -2),
            "1002 rounds down to 1000"
        );
        let c = take_cash(1003, 5, None, None).expect("cash");
        assert_eq!((c.applied, c.tendered, c.rounding), (1005, 1005, 2));
        let b = Balance::new(1003, c.rounding, c.applied, 0, 0);
        assert!(b.settled());
    }

    #[test]
    fn less_than_due_is_a_split_tender_without_rounding() {
        let c = take_cash(1002, 5, None, Some(500)).expect("cash");
        assert_eq!((c.applied, c.change, c.rounding), (500, 0, 0));
        let b = Balance::new(1002, 0, 500, 0, 0);
        assert_eq!(b.due, 502);
        assert!(matches!(
            take_cash(1002, 0, Some(1500), None),
            Err(TenderError::AboveDue { .. })
        ));
    }

    #[test]
    fn a_zero_sale_completes_on_zero_cash() {
        let c = take_cash(0, 5, None, Some(0)).expect("cash");
        assert_eq!((c.applied, c.change), (0, 0));
    }

    #[test]
    fn cards_pay_exact_amounts_up_to_due() {
        assert_eq!(card_amount(1002, None), Ok(1002));
        assert_eq!(card_amount(1002, Some(400)), Ok(400));
        assert!(card_amount(1002, Some(1003)).is_err());
        assert!(card_amount(0, None).is_err());
    }

    proptest! {
        #[test]
        fn cash_never_leaves_the_sale_overpaid(due in 0i64..100_000, step in 0i64..11,
            amount in prop::option::of(0i64..120_000), tendered in prop::option::of(0i64..200_000)) {
            if let Ok(c) = take_cash(due, step, amount, tendered) {
                let b = Balance::new(due, c.rounding, c.applied, 0, c.change);
                // Applied never exceeds what is due after rounding; change is what was
                // handed over beyond it.
                prop_assert!(c.applied <= due + c.rounding);
                prop_assert_eq!(c.tendered, c.applied + c.change);
                prop_assert!(c.rounding.abs() * 2 <= step.max(1));
                prop_assert!(b.due >= 0);
                if c.rounding != 0 { prop_assert_eq!(b.due, 0); }
            }
        }
    }
}
