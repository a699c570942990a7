//! Refunds, pure (pos-api.md "Returns and refunds" and "Exact rules"): what units of a line are
//! worth when they come back, and which tenders the money goes back to.
//!
//! A unit's share of a line is the line's charged amount divided by its quantity, rounded down;
//! the last unit of the line takes the remainder, so refunding a whole line — in one refund or in
//! many — returns exactly what was charged for it. The tax part is shared the same way.

use serde::{Deserialize, Serialize};

/// What `count` units of a line are worth when `already` of its `qty` units have been refunded:
/// `(amount, tax)` in minor units. `charged` and `tax` are the whole line's; `charged` includes
/// the tax (the customer's money for the line).
pub fn units_value(charged: i64, tax: i64, qty: i64, already: i64, count: i64) -> (i64, i64) {
    if qty <= 0 || count <= 0 {
        return (0, 0);
    }
    let count = count.min(qty - already).max(0);
    if count == 0 {
        return (0, 0);
    }
    let share = |total: i64| {
        let unit = total.div_euclid(qty);
        let rest = total - unit * qty;
        // Units `already .. already + count`; the last unit of the line (index qty − 1) takes the
        // remainder.
        let takes_last = already + count == qty;
        unit * count + if takes_last { rest } else { 0 }
    };
    (share(charged), share(tax))
}

/// A tender of the original sale as a refund sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidTender {
    /// The payment's id.
    pub payment_id: String,
    /// `cash`, `card`, `gift_card` or `store_credit`.
    pub method: String,
    /// What it paid for the sale.
    pub paid: i64,
    /// What earlier refunds gave back to it.
    pub refunded: i64,
}

/// Where a refund's money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundTo {
    /// Back to the original tenders: cards (and gift cards) first, latest first, up to what each
    /// paid; then cash.
    Original,
    /// All in cash.
    Cash,
    /// All to the customer's store credit.
    StoreCredit,
}

/// One part of a refund's money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPart {
    pub method: String,
    /// The original payment this part goes back to (cards, gift cards); `None` for cash and
    /// store credit paid out as such.
    pub payment_id: Option<String>,
    pub amount: i64,
}

/// Splits `amount` over the tenders. With [`RefundTo::Original`], non-cash tenders (latest first)
/// take up to what each has left, then cash takes the rest — also what exceeds every tender (a
/// sale paid with change rounding). Parts are never zero and always sum to `amount`.
pub fn allocate(amount: i64, tenders: &[PaidTender], to: RefundTo) -> Vec<RefundPart> {
    if amount <= 0 {
        return Vec::new();
    }
    match to {
        RefundTo::Cash => {
            return vec![RefundPart {
                method: "cash".into(),
                payment_id: None,
                amount,
            }]
        }
        RefundTo::StoreCredit => {
            return vec![RefundPart {
                method: "store_credit".into(),
                payment_id: None,
                amount,
            }]
        }
        RefundTo::Original => {}
    }
    let mut left = amount;
    let mut parts = Vec::new();
    for t in tenders.iter().rev() {
        if left == 0 {
            break;
        }
        if t.method == "cash" {
            continue;
        }
        let room = (t.paid - t.refunded).max(0);
        let take = room.min(left);
        if take > 0 {
            parts.push(RefundPart {
                method: t.method.clone(),
                payment_id: Some(t.payment_id.clone()),
                amount: take,
            });
            left -= take;
        }
    }
    if left > 0 {
        parts.push(RefundPart {
            method: "cash".into(),
            payment_id: None,
            amount: left,
        });
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units_share_the_line_and_the_last_takes_the_remainder() {
        // 3 units for 10.00 with 0.89 tax: 3.33, 3.33, 3.34.
        assert_eq!(units_value(1000, 89, 3, 0, 1), (333, 29));
        assert_eq!(units_value(1000, 89, 3, 1, 1), (333, 29));
        assert_eq!(units_value(1000, 89, 3, 2, 1), (334, 31));
        assert_eq!(units_value(1000, 89, 3, 0, 3), (1000, 89));
        // More than is left is capped.
        assert_eq!(units_value(1000, 89, 3, 2, 5), (334, 31));
        assert_eq!(units_value(1000, 89, 3, 3, 1), (0, 0));
    }

    #[test]
    fn cards_first_latest_first_then_cash() {
        let t = |id: &str, m: &str, paid: i64| PaidTender {
            payment_id: id.into(),
            method: m.into(),
            paid,
            refunded: 0,
        };
        // 120.00 = card 20.00 + cash 110.00 (10.00 change): refunding 50 → card 20, cash 30.
        let tenders = [t("p1", "card", 2000), t("p2", "cash", 10000)];
        let parts = allocate(5000, &tenders, RefundTo::Original);
        assert_eq!(
            parts,
            vec![
                RefundPart {
                    method: "card".into(),
                    payment_id: Some("p1".into()),
                    amount: 2000
                },
                RefundPart {
                    method: "cash".into(),
                    payment_id: None,
                    amount: 3000
                }
            ]
        );
        let parts = allocate(5000, &tenders, RefundTo::StoreCredit);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].method, "store_credit");
    }

    proptest! {
        /// Parts sum to the amount, are positive, and no card gets back more than it paid.
        #[test]
        fn refunds_never_return_more_to_a_card_than_it_paid(
            amount in 0i64..100_000,
            tenders in proptest::collection::vec((0u8..3, 0i64..50_000, 0i64..50_000), 0..5),
        ) {
            let tenders: Vec<PaidTender> = tenders.iter().enumerate().map(|(i, (m, paid, refunded))| PaidTender {
                payment_id: format!("p{i}"),
                method: ["cash", "card", "gift_card"][*m as usize].into(),
                paid: *paid,
                refunded: (*refunded).min(*paid),
            }).collect();
            let parts = allocate(amount, &tenders, RefundTo::Original);
            prop_assert_eq!(parts.iter().map(|p| p.amount).sum::<i64>(), amount);
            for p in &parts {
                prop_assert!(p.amount > 0);
                if let Some(id) = &p.payment_id {
                    let t = tenders.iter().find(|t| &t.payment_id == id).expect("tender");
                    prop_assert!(p.amount <= t.paid - t.refunded);
                }
            }
        }

        /// Refunding a line unit by unit, in any grouping, returns exactly the line.
        #[test]
        fn a_line_refunded_in_pieces_returns_exactly_the_line(
            charged in 0i64..1_000_000,
            tax_pct in 0i64..30,
            qty in 1i64..50,
            cuts in proptest::collection::vec(1i64..10, 0..60),
        ) {
            let tax = charged * tax_pct / 100;
            let (mut done, mut amount, mut taxed) = (0, 0, 0);
            for c in cuts {
                if done >= qty { break; }
                let (a, t) = units_value(charged, tax, qty, done, c);
                prop_assert!(a >= 0 && t >= 0);
                amount += a;
                taxed += t;
                done += c.min(qty - done);
            }
            let (a, t) = units_value(charged, tax, qty, done, qty - done);
            amount += a;
            taxed += t;
            prop_assert_eq!(amount, charged);
            prop_assert_eq!(taxed, tax);
        }
    }
}
