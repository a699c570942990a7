//! Property test of the balance calls: random sequences of gift-card redemptions, reversals and
//! store-credit transactions (ids reused on purpose, for replays and conflicts) against the real
//! simulator with random lost answers, resets and 5xx, each call resent with the same id until
//! its outcome is decided, as the till does. Whatever is lost:
//!
//! - every outcome is what a single, fault-free pass over the sequence gives (a reference model);
//! - every card's balance is its start minus the redemptions applied under distinct ids and not
//!   reversed, and every customer's credit is its start plus the distinct transactions booked;
//! - nothing is applied that the caller was told was refused.
//!
//! Case count: `PROPTEST_CASES` (default 24; each case runs a simulator).

mod common;

use common::SITE;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};
use wms_sync::wire::{CreditTransactionRequest, Money, RedemptionRequest};
use wms_sync::{BalanceClient, BalanceOutcome, BalancePolicy, CentralClient};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// Cards 0 and 1 are active, 2 is inactive, 3 is unknown to the central.
const CARDS: [(&str, Option<(i64, bool)>); 4] = [
    ("GC-0", Some((1500, true))),
    ("GC-1", Some((400, true))),
    ("GC-2", Some((900, false))),
    ("GC-3", None),
];
/// Customers 0 and 1 have credit, 2 has no account until something is issued to it.
const CUSTOMERS: [(&str, Option<i64>); 3] = [("C-0", Some(1000)), ("C-1", Some(0)), ("C-2", None)];

#[derive(Debug, Clone)]
enum Op {
    Redeem {
        card: usize,
        id: u8,
        amount: i64,
    },
    Reverse {
        card: usize,
        id: u8,
    },
    Credit {
        customer: usize,
        id: u8,
        amount: i64,
        refund: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..CARDS.len(), 0u8..10, 1i64..600)
            .prop_map(|(card, id, amount)| Op::Redeem { card, id, amount }),
        2 => (0..CARDS.len(), 0u8..12).prop_map(|(card, id)| Op::Reverse { card, id }),
        4 => (0..CUSTOMERS.len(), 0u8..10, -500i64..500, any::<bool>())
            .prop_filter("non-zero", |(_, _, a, _)| *a != 0)
            .prop_map(|(customer, id, amount, refund)| Op::Credit { customer, id, amount, refund }),
    ]
}

fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".into(),
    }
}

/// What the caller should learn: an answer's amount and balance after, or a refusal's status.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Ok {
        amount: i64,
        after: i64,
        reversed: bool,
    },
    Refused(u16),
}

struct RedemptionRow {
    card: usize,
    amount: i64,
    after: i64,
    reversed_after: Option<i64>,
}

struct TxRow {
    customer: usize,
    amount: i64,
    refund: bool,
    after: i64,
}

/// The central's rules, applied in order without faults.
struct Model {
    cards: Vec<Option<(i64, bool)>>,
    credit: Vec<Option<i64>>,
    redemptions: HashMap<u8, RedemptionRow>,
    reversed_unknown: HashSet<u8>,
    txs: HashMap<u8, TxRow>,
}

impl Model {
    fn new() -> Self {
        Model {
            cards: CARDS.iter().map(|c| c.1).collect(),
            credit: CUSTOMERS.iter().map(|c| c.1).collect(),
            redemptions: HashMap::new(),
            reversed_unknown: HashSet::new(),
            txs: HashMap::new(),
        }
    }

    fn apply(&mut self, op: &Op) -> Seen {
        match *op {
            Op::Redeem { card, id, amount } => {
                if let Some(r) = self.redemptions.get(&id) {
                    return if r.card == card && r.amount == amount {
                        Seen::Ok {
                            amount,
                            after: r.after,
                            reversed: false,
                        }
                    } else {
                        Seen::Refused(409)
                    };
                }
                if self.reversed_unknown.contains(&id) {
                    return Seen::Refused(409);
                }
                let Some((balance, active)) = self.cards[card] else {
                    return Seen::Refused(404);
                };
                if !active || balance < amount {
                    return Seen::Refused(409);
                }
                let after = balance - amount;
                self.cards[card] = Some((after, active));
                self.redemptions.insert(
                    id,
                    RedemptionRow {
                        card,
                        amount,
                        after,
                        reversed_after: None,
                    },
                );
                Seen::Ok {
                    amount,
                    after,
                    reversed: false,
                }
            }
            Op::Reverse { card, id } => {
                let Some(r) = self.redemptions.get_mut(&id) else {
                    self.reversed_unknown.insert(id);
                    return Seen::Refused(404);
                };
                if r.card != card {
                    return Seen::Refused(404);
                }
                if let Some(after) = r.reversed_after {
                    return Seen::Ok {
                        amount: r.amount,
                        after,
                        reversed: true,
                    };
                }
                let Some((balance, active)) = self.cards[card] else {
                    unreachable!("a redemption's card exists");
                };
                let after = balance + r.amount;
                self.cards[card] = Some((after, active));
                r.reversed_after = Some(after);
                Seen::Ok {
                    amount: r.amount,
                    after,
                    reversed: true,
                }
            }
            Op::Credit {
                customer,
                id,
                amount,
                refund,
            } => {
                if let Some(t) = self.txs.get(&id) {
                    return if t.customer == customer && t.amount == amount && t.refund == refund {
                        Seen::Ok {
                            amount,
                            after: t.after,
                            reversed: false,
                        }
                    } else {
                        Seen::Refused(409)
                    };
                }
                let balance = match self.credit[customer] {
                    Some(b) => b,
                    None if amount > 0 => 0,
                    None => return Seen::Refused(404),
                };
                let after = balance + amount;
                if after < 0 {
                    return Seen::Refused(409);
                }
                self.credit[customer] = Some(after);
                self.txs.insert(
                    id,
                    TxRow {
                        customer,
                        amount,
                        refund,
                        after,
                    },
                );
                Seen::Ok {
                    amount,
                    after,
                    reversed: false,
                }
            }
        }
    }
}

fn seen<T>(o: BalanceOutcome<T>, f: impl Fn(T) -> Seen) -> Option<Seen> {
    match o {
        BalanceOutcome::Ok(v) => Some(f(v)),
        BalanceOutcome::Refused { status, .. } => Some(Seen::Refused(status.unwrap_or(0))),
        BalanceOutcome::Unknown(_) => None,
    }
}

/// One call of `op`, through the client's own bounded resends.
async fn call(b: &BalanceClient, op: &Op) -> Option<Seen> {
    match *op {
        Op::Redeem { card, id, amount } => {
            let req = RedemptionRequest {
                id: format!("r-{id}"),
                amount: usd(amount),
                sale_id: format!("sale-r-{id}"),
            };
            seen(b.redeem_gift_card(CARDS[card].0, &req).await, |r| {
                Seen::Ok {
                    amount: r.amount.amount,
                    after: r.balance_after.amount,
                    reversed: r.reversed,
                }
            })
        }
        Op::Reverse { card, id } => seen(
            b.reverse_gift_card_redemption(CARDS[card].0, &format!("r-{id}"))
                .await,
            |r| Seen::Ok {
                amount: r.amount.amount,
                after: r.balance_after.amount,
                reversed: r.reversed,
            },
        ),
        Op::Credit {
            customer,
            id,
            amount,
            refund,
        } => {
            let req = CreditTransactionRequest {
                id: format!("t-{id}"),
                amount: usd(amount),
                sale_id: None,
                reason: if refund { "refund" } else { "sale" }.into(),
            };
            seen(
                b.credit_transaction(CUSTOMERS[customer].0, &req).await,
                |t| Seen::Ok {
                    amount: t.amount.amount,
                    after: t.balance_after.amount,
                    reversed: false,
                },
            )
        }
    }
}

async fn run_case(
    ops: Vec<Op>,
    lost: f64,
    reset: f64,
    server_error: f64,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut cfg = SimConfig::new(SITE);
    cfg.seed = seed;
    cfg.faults = Faults {
        lost_response: lost,
        reset,
        server_error,
        hang_for: Duration::from_millis(10),
        ..Faults::none()
    };
    let sim = CentralSim::start(cfg).await.expect("simulator");
    for (code, card) in CARDS {
        if let Some((amount, active)) = card {
            sim.set_gift_card(code, amount, "USD", active)
                .expect("seed card");
        }
    }
    for (customer, credit) in CUSTOMERS {
        if let Some(amount) = credit {
            sim.set_credit(customer, amount, "USD")
                .expect("seed credit");
        }
    }
    let b = BalanceClient::new(
        CentralClient::new(sim.credentials()).expect("client"),
        BalancePolicy {
            timeout: Duration::from_secs(5),
            attempts: 2,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(4),
        },
    );
    let mut model = Model::new();
    for (n, op) in ops.iter().enumerate() {
        // Undecided after the client's own resends: the till asks again with the same id.
        let mut got = None;
        for _ in 0..40 {
            got = call(&b, op).await;
            if got.is_some() {
                break;
            }
        }
        let want = model.apply(op);
        prop_assert_eq!(got, Some(want), "op {} {:?}", n, op);
    }
    // Balances are the start moved by the distinct ids the central applied, and those are
    // exactly the ids the model applied.
    let redemptions = sim.redemptions();
    let ids: HashSet<String> = redemptions.iter().map(|r| r.id.clone()).collect();
    prop_assert_eq!(ids.len(), redemptions.len(), "an id applied twice");
    let want: HashSet<String> = model
        .redemptions
        .keys()
        .map(|id| format!("r-{id}"))
        .collect();
    prop_assert_eq!(&ids, &want);
    for (i, (code, start)) in CARDS.iter().enumerate() {
        let held = sim.gift_card(code).map(|c| c.balance.amount);
        let kept: i64 = redemptions
            .iter()
            .filter(|r| r.code == *code && !r.reversed)
            .map(|r| r.amount.amount)
            .sum();
        prop_assert_eq!(held, start.map(|(s, _)| s - kept), "{}", code);
        prop_assert_eq!(held, model.cards[i].map(|(b, _)| b), "{}", code);
    }
    let txs = sim.credit_transactions();
    let ids: HashSet<String> = txs.iter().map(|t| t.id.clone()).collect();
    prop_assert_eq!(ids.len(), txs.len(), "a transaction booked twice");
    let want: HashSet<String> = model.txs.keys().map(|id| format!("t-{id}")).collect();
    prop_assert_eq!(&ids, &want);
    for (i, (customer, start)) in CUSTOMERS.iter().enumerate() {
        let held = sim.credit(customer).map(|c| c.balance.amount);
        let booked: i64 = txs
            .iter()
            .filter(|t| t.customer_id == *customer)
            .map(|t| t.amount.amount)
            .sum();
        let expected = match start {
            Some(s) => Some(s + booked),
            None if txs.iter().any(|t| t.customer_id == *customer) => Some(booked),
            None => None,
        };
        prop_assert_eq!(held, expected, "{}", customer);
        prop_assert_eq!(held, model.credit[i], "{}", customer);
    }
    sim.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn balances_move_once_per_distinct_applied_id_whatever_answers_are_lost(
        ops in prop::collection::vec(op(), 1..40),
        lost in prop_oneof![Just(0.0), 0.0f64..0.5],
        reset in 0.0f64..0.1,
        server_error in 0.0f64..0.1,
        seed in any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_case(ops, lost, reset, server_error, seed))?;
    }
}
