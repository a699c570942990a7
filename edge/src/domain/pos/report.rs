//! X and Z reports, pure (pos-api.md "Register sessions and people", research/pos-payments.md
//! §5): a register session's sales, voids, refunds and cash movements summed the one way both
//! reports (and the store's sales report over any period) sum them.
//!
//! The drawer: `expected = opening_float + cash sales − cash refunds + pay_ins − pay_outs −
//! safe_drops`, where cash sales are the rounded cash amounts applied to completed sales (change
//! handed back is already netted out), and `over_short = counted − expected`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount in a currency's minor units, as the API shows money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

/// A sale as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleFacts {
    /// `completed` or `voided` (open sales are not in a report).
    pub status: String,
    pub register_id: String,
    pub cashier: String,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    /// `(tax code, rate, net without tax, tax)` per line.
    pub lines: Vec<(String, String, i64, i64)>,
    /// `(method, amount applied, rounding)` of each approved tender.
    pub tenders: Vec<(String, i64, i64)>,
}

/// A refund as the report needs it: its amount (tax included) and how it was paid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFacts {
    pub amount: i64,
    /// `(method, amount)`.
    pub tenders: Vec<(String, i64)>,
}

/// A cash movement: `pay_in`, `pay_out`, `safe_drop` or `no_sale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementFacts {
    pub kind: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SalesTotals {
    pub count: i64,
    /// Σ unit price × qty before discounts.
    pub gross: Money,
    pub discounts: Money,
    /// After discounts, without tax.
    pub net: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CountAmount {
    pub count: i64,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ByMethod {
    pub method: String,
    pub count: i64,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ByTax {
    pub code: String,
    /// Decimal percent.
    pub rate: String,
    pub net: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ByCashier {
    pub user: String,
    pub count: i64,
    pub net: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ByRegister {
    pub register_id: String,
    pub count: i64,
    pub net: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CashTotals {
    pub opening_float: Money,
    pub sales: Money,
    pub refunds: Money,
    pub pay_ins: Money,
    pub pay_outs: Money,
    pub safe_drops: Money,
    pub rounding: Money,
    pub expected: Money,
    pub counted: Option<Money>,
    pub over_short: Option<Money>,
}

/// The totals every report shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub sales: SalesTotals,
    pub refunds: CountAmount,
    pub voids: CountAmount,
    pub by_method: Vec<ByMethod>,
    pub by_tax: Vec<ByTax>,
    pub by_cashier: Vec<ByCashier>,
}

/// The X report (a running session) or the Z report (its close).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    /// Null for an X report; per register, sequential from 1, never reused.
    pub z_no: Option<i64>,
    pub session_id: String,
    pub register_id: String,
    pub cashier: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub currency: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub cash: CashTotals,
}

/// The store's sales over a period, across registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeriodReport {
    pub from: Option<String>,
    pub to: Option<String>,
    pub register: Option<String>,
    pub currency: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub by_register: Vec<ByRegister>,
}

/// The session being reported on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub session_id: String,
    pub register_id: String,
    pub cashier: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub currency: String,
    pub opening_float: i64,
    pub counted: Option<i64>,
    pub z_no: Option<i64>,
}

/// Sums sales, voids and refunds.
pub fn totals(currency: &str, sales: &[SaleFacts], refunds: &[RefundFacts]) -> Totals {
    let m = |amount: i64| Money {
        amount,
        currency: currency.to_string(),
    };
    let done: Vec<&SaleFacts> = sales.iter().filter(|s| s.status == "completed").collect();
    let voided: Vec<&SaleFacts> = sales.iter().filter(|s| s.status == "voided").collect();
    let mut by_method: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut by_tax: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    let mut by_cashier: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for s in &done {
        for (method, amount, _) in &s.tenders {
            let e = by_method.entry(method).or_default();
            e.0 += 1;
            e.1 += amount;
        }
        for (code, rate, net, tax) in &s.lines {
            let e = by_tax.entry((code, rate)).or_default();
            e.0 += net;
            e.1 += tax;
        }
        let e = by_cashier.entry(&s.cashier).or_default();
        e.0 += 1;
        e.1 += s.total - s.tax;
    }
    Totals {
        sales: SalesTotals {
            count: done.len() as i64,
            gross: m(done.iter().map(|s| s.subtotal).sum()),
            discounts: m(done.iter().map(|s| s.discount).sum()),
            net: m(done.iter().map(|s| s.total - s.tax).sum()),
            tax: m(done.iter().map(|s| s.tax).sum()),
        },
        refunds: CountAmount {
            count: refunds.len() as i64,
            amount: m(refunds.iter().map(|r| r.amount).sum()),
        },
        voids: CountAmount {
            count: voided.len() as i64,
            amount: m(voided.iter().map(|s| s.total).sum()),
        },
        by_method: by_method
            .into_iter()
            .map(|(method, (count, amount))| ByMethod {
                method: method.to_string(),
                count,
                amount: m(amount),
            })
            .collect(),
        by_tax: by_tax
            .into_iter()
            .map(|((code, rate), (net, tax))| ByTax {
                code: code.to_string(),
                rate: rate.to_string(),
                net: m(net),
                tax: m(tax),
            })
            .collect(),
        by_cashier: by_cashier
            .into_iter()
            .map(|(user, (count, net))| ByCashier {
                user: user.to_string(),
                count,
                net: m(net),
            })
            .collect(),
    }
}

/// The session's report: X while `session.closed_at` is none, else Z.
pub fn report(
    session: &SessionFacts,
    sales: &[SaleFacts],
    refunds: &[RefundFacts],
    movements: &[MovementFacts],
) -> Report {
    let c = session.currency.as_str();
    let m = |amount: i64| Money {
        amount,
        currency: c.to_string(),
    };
    let completed = sales.iter().filter(|s| s.status == "completed");
    let (mut cash_sales, mut rounding) = (0, 0);
    for s in completed {
        for (method, amount, r) in &s.tenders {
            if method == "cash" {
                cash_sales += amount;
                rounding += r;
            }
        }
    }
    let cash_refunds: i64 = refunds
        .iter()
        .flat_map(|r| r.tenders.iter())
        .filter(|(method, _)| method == "cash")
        .map(|(_, a)| a)
        .sum();
    let moved = |kind: &str| -> i64 {
        movements
            .iter()
            .filter(|mv| mv.kind == kind)
            .map(|mv| mv.amount)
            .sum()
    };
    let (pay_ins, pay_outs, safe_drops) = (moved("pay_in"), moved("pay_out"), moved("safe_drop"));
    let expected =
        session.opening_float + cash_sales - cash_refunds + pay_ins - pay_outs - safe_drops;
    Report {
        z_no: session.z_no,
        session_id: session.session_id.clone(),
        register_id: session.register_id.clone(),
        cashier: session.cashier.clone(),
        opened_at: session.opened_at.clone(),
        closed_at: session.closed_at.clone(),
        currency: c.to_string(),
        totals: totals(c, sales, refunds),
        cash: CashTotals {
            opening_float: m(session.opening_float),
            sales: m(cash_sales),
            refunds: m(cash_refunds),
            pay_ins: m(pay_ins),
            pay_outs: m(pay_outs),
            safe_drops: m(safe_drops),
            rounding: m(rounding),
            expected: m(expected),
            counted: session.counted.map(m),
            over_short: session.counted.map(|n| m(n - expected)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn session(counted: Option<i64>) -> SessionFacts {
        SessionFacts {
            session_id: "S1".into(),
            register_id: "pos-1".into(),
            cashier: "u-1".into(),
            opened_at: "t0".into(),
            closed_at: counted.map(|_| "t1".into()),
            currency: "USD".into(),
            opening_float: 10_000,
            counted,
            z_no: counted.map(|_| 1),
        }
    }

    fn cash_sale(total: i64) -> SaleFacts {
        SaleFacts {
            status: "completed".into(),
            register_id: "pos-1".into(),
            cashier: "u-1".into(),
            subtotal: total,
            discount: 0,
            tax: 0,
            total,
            lines: vec![("STD".into(), "0".into(), total, 0)],
            tenders: vec![("cash".into(), total, 0)],
        }
    }

    /// pos-payments.md §8.19: float 100, cash sales 250, refund 20, pay-out 30 → expected 300;
    /// counted 295 → short 5.
    #[test]
    fn the_drawer_example() {
        let r = report(
            &session(Some(29_500)),
            &[cash_sale(15_000), cash_sale(10_000)],
            &[RefundFacts {
                amount: 2_000,
                tenders: vec![("cash".into(), 2_000)],
            }],
            &[MovementFacts {
                kind: "pay_out".into(),
                amount: 3_000,
            }],
        );
        assert_eq!(r.cash.expected.amount, 30_000);
        assert_eq!(r.cash.over_short.map(|m| m.amount), Some(-500));
        assert_eq!(r.totals.sales.count, 2);
        assert_eq!(r.totals.refunds.amount.amount, 2_000);
        assert_eq!(r.z_no, Some(1));
    }

    proptest! {
        /// The report's totals are the sums of what happened in the session, whatever mix of
        /// sales, voids, refunds and movements, and the drawer follows the formula.
        #[test]
        fn report_totals_equal_the_sessions_parts(
            sales in proptest::collection::vec((any::<bool>(), 0i64..50_000, 0i64..5_000, 0i64..3, -2i64..3), 0..30),
            refunds in proptest::collection::vec((0i64..10_000, any::<bool>()), 0..10),
            moves in proptest::collection::vec((0u8..4, 0i64..10_000), 0..10),
        ) {
            let methods = ["cash", "card", "gift_card"];
            let sales: Vec<SaleFacts> = sales.iter().map(|(voided, total, tax, method, rounding)| SaleFacts {
                status: if *voided { "voided" } else { "completed" }.into(),
                register_id: "pos-1".into(),
                cashier: format!("u-{}", total % 3),
                subtotal: total + 100,
                discount: 100,
                tax: *tax.min(total),
                total: *total,
                lines: vec![("STD".into(), "8.875".into(), total - tax.min(total), *tax.min(total))],
                tenders: vec![(methods[*method as usize].into(), total + rounding, *rounding)],
            }).collect();
            let refunds: Vec<RefundFacts> = refunds.iter().map(|(a, cash)| RefundFacts {
                amount: *a,
                tenders: vec![(if *cash { "cash" } else { "card" }.into(), *a)],
            }).collect();
            let kinds = ["pay_in", "pay_out", "safe_drop", "no_sale"];
            let moves: Vec<MovementFacts> = moves.iter().map(|(k, a)| MovementFacts {
                kind: kinds[*k as usize].into(),
                amount: if *k == 3 { 0 } else { *a },
            }).collect();
            let r = report(&session(Some(12_345)), &sales, &refunds, &moves);
            let done: Vec<&SaleFacts> = sales.iter().filter(|s| s.status == "completed").collect();
            prop_assert_eq!(r.totals.sales.count, done.len() as i64);
            prop_assert_eq!(r.totals.sales.net.amount + r.totals.sales.tax.amount,
                done.iter().map(|s| s.total).sum::<i64>());
            prop_assert_eq!(r.totals.by_method.iter().map(|b| b.amount.amount).sum::<i64>(),
                done.iter().flat_map(|s| &s.tenders).map(|t| t.1).sum::<i64>());
            prop_assert_eq!(r.totals.by_tax.iter().map(|b| b.tax.amount).sum::<i64>(), r.totals.sales.tax.amount);
            prop_assert_eq!(r.totals.by_cashier.iter().map(|b| b.count).sum::<i64>(), r.totals.sales.count);
            prop_assert_eq!(r.totals.voids.count, (sales.len() - done.len()) as i64);
            prop_assert_eq!(r.totals.refunds.amount.amount, refunds.iter().map(|x| x.amount).sum::<i64>());
            let cash_in: i64 = done.iter().flat_map(|s| &s.tenders).filter(|t| t.0 == "cash").map(|t| t.1).sum();
            let cash_out: i64 = refunds.iter().flat_map(|x| &x.tenders).filter(|t| t.0 == "cash").map(|t| t.1).sum();
            let mv = |k: &str| moves.iter().filter(|m| m.kind == k).map(|m| m.amount).sum::<i64>();
            prop_assert_eq!(r.cash.expected.amount,
                10_000 + cash_in - cash_out + mv("pay_in") - mv("pay_out") - mv("safe_drop"));
            prop_assert_eq!(r.cash.over_short.map(|m| m.amount), Some(12_345 - r.cash.expected.amount));
        }
    }
}
