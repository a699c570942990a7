//! Gift cards and store credit against the real simulator over loopback HTTP: every call's
//! answer, the refusals that spend nothing, idempotent replays, and exactly-once spending when
//! answers are lost and calls are resent with the same id.

mod common;

use common::{sim_with, SITE};
use std::collections::HashSet;
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};
use wms_sync::wire::{CreditTransactionRequest, GiftCard, Money, RedemptionRequest, StoreCredit};
use wms_sync::{BalanceClient, BalanceOutcome, BalancePolicy, CentralClient};

fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".into(),
    }
}

fn redemption(id: &str, amount: i64) -> RedemptionRequest {
    RedemptionRequest {
        id: id.into(),
        amount: usd(amount),
        sale_id: format!("sale-{id}"),
    }
}

fn credit_tx(id: &str, amount: i64, reason: &str) -> CreditTransactionRequest {
    CreditTransactionRequest {
        id: id.into(),
        amount: usd(amount),
        sale_id: Some(format!("sale-{id}")),
        reason: reason.into(),
    }
}

fn balances(sim: &CentralSim, policy: BalancePolicy) -> BalanceClient {
    BalanceClient::new(
        CentralClient::new(sim.credentials()).expect("client"),
        policy,
    )
}

fn quick() -> BalancePolicy {
    BalancePolicy {
        timeout: Duration::from_secs(5),
        attempts: 3,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
    }
}

fn refused<T: std::fmt::Debug>(o: &BalanceOutcome<T>) -> (Option<u16>, &str) {
    match o {
        BalanceOutcome::Refused { status, code, .. } => (*status, code.as_str()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn ok<T: std::fmt::Debug>(o: BalanceOutcome<T>) -> T {
    match o {
        BalanceOutcome::Ok(v) => v,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gift_card_is_read_redeemed_and_reversed_once() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.set_gift_card("GC-1", 5000, "USD", true).expect("seed");
    let b = balances(&sim, quick());

    let card = ok(b.gift_card("GC-1").await);
    assert_eq!(
        card,
        GiftCard {
            code: "GC-1".into(),
            balance: usd(5000),
            active: true
        }
    );

    let r = ok(b.redeem_gift_card("GC-1", &redemption("pay-1", 1200)).await);
    assert_eq!(
        (r.id.as_str(), r.code.as_str()),
        ("pay-1", "GC-1"),
        "the answer is the redemption asked for"
    );
    assert_eq!(
        (r.amount, r.balance_after, r.reversed),
        (usd(1200), usd(3800), false)
    );
    assert_eq!(sim.gift_card("GC-1").map(|c| c.balance), Some(usd(3800)));

    let rev = ok(b.reverse_gift_card_redemption("GC-1", "pay-1").await);
    assert_eq!(
        (rev.amount.clone(), rev.balance_after.clone(), rev.reversed),
        (usd(1200), usd(5000), true)
    );
    // Reversing a reversed redemption is the same answer and gives nothing back twice.
    let again = ok(b.reverse_gift_card_redemption("GC-1", "pay-1").await);
    assert_eq!(again, rev);
    assert_eq!(sim.gift_card("GC-1").map(|c| c.balance), Some(usd(5000)));

    let recorded = sim.redemptions();
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].reversed);
    assert_eq!(recorded[0].sale_id, "sale-pay-1");
    let stats = sim.stats();
    assert_eq!((stats.balance_applied, stats.balance_replayed), (2, 1));
    let routes: Vec<&str> = sim.balance_requests().iter().map(|r| r.route).collect();
    assert_eq!(routes, ["gift_card", "redemption", "reversal", "reversal"]);
}

#[tokio::test]
async fn store_credit_is_spent_and_issued_once() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.set_credit("C-1", 3000, "USD").expect("seed");
    let b = balances(&sim, quick());

    let c = ok(b.store_credit("C-1").await);
    assert_eq!(
        c,
        StoreCredit {
            customer_id: "C-1".into(),
            balance: usd(3000)
        }
    );
    let spend = ok(b
        .credit_transaction("C-1", &credit_tx("pay-1", -1000, "sale"))
        .await);
    assert_eq!((spend.amount, spend.balance_after), (usd(-1000), usd(2000)));
    let over = b
        .credit_transaction("C-1", &credit_tx("pay-2", -2001, "sale"))
        .await;
    assert_eq!(refused(&over), (Some(409), "conflict"));
    let issue = ok(b
        .credit_transaction("C-1", &credit_tx("ref-1", 500, "refund"))
        .await);
    assert_eq!(issue.balance_after, usd(2500));
    assert_eq!(sim.credit("C-1").map(|c| c.balance), Some(usd(2500)));

    // A customer without an account: unknown to a read and a spend; a refund opens one.
    assert_eq!(
        refused(&b.store_credit("C-9").await),
        (Some(404), "not_found")
    );
    let spend_new = b
        .credit_transaction("C-9", &credit_tx("pay-3", -1, "sale"))
        .await;
    assert_eq!(refused(&spend_new), (Some(404), "not_found"));
    let opened = ok(b
        .credit_transaction("C-9", &credit_tx("ret-1", 700, "return"))
        .await);
    assert_eq!(opened.balance_after, usd(700));
    assert_eq!(ok(b.store_credit("C-9").await).balance, usd(700));

    let ids: Vec<String> = sim
        .credit_transactions()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["pay-1", "ref-1", "ret-1"], "refusals book nothing");
}

#[tokio::test]
async fn refusals_spend_nothing() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.set_gift_card("GC-1", 1000, "USD", true).expect("seed");
    sim.set_gift_card("GC-OFF", 1000, "USD", false)
        .expect("seed");
    sim.set_gift_card("GC-EUR", 1000, "EUR", true)
        .expect("seed");
    let b = balances(&sim, quick());

    assert_eq!(
        refused(&b.gift_card("GC-404").await),
        (Some(404), "not_found")
    );
    let unknown = b.redeem_gift_card("GC-404", &redemption("p-1", 10)).await;
    assert_eq!(refused(&unknown), (Some(404), "not_found"));
    let short = b.redeem_gift_card("GC-1", &redemption("p-2", 1001)).await;
    assert_eq!(refused(&short), (Some(409), "conflict"));
    // Inactive cards are readable (the till shows why) but never redeemed.
    assert!(!ok(b.gift_card("GC-OFF").await).active);
    let inactive = b.redeem_gift_card("GC-OFF", &redemption("p-3", 10)).await;
    assert_eq!(refused(&inactive), (Some(409), "conflict"));
    let currency = b.redeem_gift_card("GC-EUR", &redemption("p-4", 10)).await;
    assert_eq!(refused(&currency), (Some(422), "validation_error"));

    // A short balance is not remembered against the id: the same id may pay once topped up.
    sim.set_gift_card("GC-1", 2000, "USD", true)
        .expect("top up");
    let paid = ok(b.redeem_gift_card("GC-1", &redemption("p-2", 1001)).await);
    assert_eq!(paid.balance_after, usd(999));
    // The same id for another amount or card is a conflict, not a second spend.
    let reused = b.redeem_gift_card("GC-1", &redemption("p-2", 5)).await;
    assert_eq!(refused(&reused), (Some(409), "conflict"));
    let other_card = b.redeem_gift_card("GC-EUR", &redemption("p-2", 1001)).await;
    assert_eq!(refused(&other_card), (Some(409), "conflict"));

    // A reversal of an id never applied is 404, and that redemption is refused if it comes later.
    let early = b.reverse_gift_card_redemption("GC-1", "p-5").await;
    assert_eq!(refused(&early), (Some(404), "not_found"));
    let late = b.redeem_gift_card("GC-1", &redemption("p-5", 10)).await;
    assert_eq!(refused(&late), (Some(409), "conflict"));
    // A reversal names its card.
    let wrong_card = b.reverse_gift_card_redemption("GC-OFF", "p-2").await;
    assert_eq!(refused(&wrong_card), (Some(404), "not_found"));

    // Bad input never leaves the edge.
    let sent = sim.balance_requests().len();
    let empty = b.redeem_gift_card("", &redemption("p-6", 10)).await;
    assert_eq!(refused(&empty).0, None);
    let zero = b.redeem_gift_card("GC-1", &redemption("p-6", 0)).await;
    assert_eq!(refused(&zero).0, None);
    let nothing = b
        .credit_transaction("C-1", &credit_tx("p-7", 0, "sale"))
        .await;
    assert_eq!(refused(&nothing).0, None);
    assert_eq!(sim.balance_requests().len(), sent);

    // A wrong key is a refusal too, and spends nothing.
    sim.set_api_key("rotated");
    let unauthorised = b.redeem_gift_card("GC-1", &redemption("p-8", 10)).await;
    assert_eq!(refused(&unauthorised), (Some(401), "authentication_error"));
    sim.set_api_key("test-key");

    assert_eq!(sim.gift_card("GC-1").map(|c| c.balance), Some(usd(999)));
    assert_eq!(sim.gift_card("GC-OFF").map(|c| c.balance), Some(usd(1000)));
    assert_eq!(sim.gift_card("GC-EUR").map(|c| c.balance), Some(eur(1000)));
    let ids: Vec<String> = sim.redemptions().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["p-2"]);
}

fn eur(amount: i64) -> Money {
    Money {
        amount,
        currency: "EUR".into(),
    }
}

#[tokio::test]
async fn a_resent_id_returns_the_first_result_and_changes_nothing() {
    let sim = sim_with(Faults::none(), 1).await;
    sim.set_gift_card("GC-1", 1000, "USD", true).expect("seed");
    sim.set_credit("C-1", 1000, "USD").expect("seed");
    let b = balances(&sim, quick());

    let first = ok(b.redeem_gift_card("GC-1", &redemption("p-1", 300)).await);
    // Another spend in between moves the balance; the replay still answers the first result.
    ok(b.redeem_gift_card("GC-1", &redemption("p-2", 100)).await);
    let replay = ok(b.redeem_gift_card("GC-1", &redemption("p-1", 300)).await);
    assert_eq!(replay, first);
    assert_eq!(sim.gift_card("GC-1").map(|c| c.balance), Some(usd(600)));

    let t = ok(b
        .credit_transaction("C-1", &credit_tx("p-3", -400, "sale"))
        .await);
    let t2 = ok(b
        .credit_transaction("C-1", &credit_tx("p-3", -400, "sale"))
        .await);
    assert_eq!(t, t2);
    assert_eq!(sim.credit("C-1").map(|c| c.balance), Some(usd(600)));
    let other = b
        .credit_transaction("C-1", &credit_tx("p-3", -400, "refund"))
        .await;
    assert_eq!(refused(&other), (Some(409), "conflict"));

    let stats = sim.stats();
    assert_eq!(
        (
            stats.balance_applied,
            stats.balance_replayed,
            stats.balance_refused
        ),
        (3, 2, 1)
    );
}

/// Faults that lose every answer after the work; `lose` either resets at once or after
/// `hang_for`, both well inside the client's timeout.
fn lose_everything() -> Faults {
    Faults {
        lost_response: 1.0,
        hang_for: Duration::from_millis(20),
        ..Faults::none()
    }
}

#[tokio::test]
async fn a_lost_answer_after_the_spend_ends_as_ok_on_the_resend_not_as_a_second_spend() {
    let sim = sim_with(Faults::none(), 7).await;
    sim.set_gift_card("GC-1", 1000, "USD", true).expect("seed");
    sim.set_credit("C-1", 1000, "USD").expect("seed");
    let client = CentralClient::new(sim.credentials()).expect("client");
    let b = balances(&sim, quick());
    let t = Duration::from_secs(5);

    sim.set_faults(lose_everything());
    let lost = client
        .redeem_gift_card("GC-1", &redemption("p-1", 400), t)
        .await;
    let outcome = BalanceOutcome::from_result(lost);
    assert!(matches!(outcome, BalanceOutcome::Unknown(_)), "{outcome:?}");
    assert_eq!(
        sim.gift_card("GC-1").map(|c| c.balance),
        Some(usd(600)),
        "the central spent it"
    );
    let lost = client
        .credit_transaction("C-1", &credit_tx("p-2", -250, "sale"), t)
        .await;
    assert!(matches!(
        BalanceOutcome::from_result(lost),
        BalanceOutcome::Unknown(_)
    ));
    // With every answer lost, the client ends undecided rather than guessing.
    let undecided = b.redeem_gift_card("GC-1", &redemption("p-1", 400)).await;
    assert!(matches!(undecided, BalanceOutcome::Unknown(ref m) if m.contains("3 attempts")));

    sim.set_faults(Faults::none());
    let r = ok(b.redeem_gift_card("GC-1", &redemption("p-1", 400)).await);
    assert_eq!(r.balance_after, usd(600));
    let c = ok(b
        .credit_transaction("C-1", &credit_tx("p-2", -250, "sale"))
        .await);
    assert_eq!(c.balance_after, usd(750));
    assert_eq!(sim.gift_card("GC-1").map(|c| c.balance), Some(usd(600)));
    assert_eq!(sim.credit("C-1").map(|c| c.balance), Some(usd(750)));
    assert_eq!(sim.redemptions().len(), 1);
    assert_eq!(sim.credit_transactions().len(), 1);
    assert_eq!(sim.stats().faults.get("lost_response"), Some(&5));
}

#[tokio::test]
async fn under_chaos_every_redemption_and_reversal_happens_exactly_once() {
    const N: usize = 40;
    const START: i64 = 1_000_000;
    // Hangs outlast the client's timeout, so they are timeouts; every other fault kind too.
    let sim = sim_with(Faults::chaos(0.08, Duration::from_millis(600)), 42).await;
    sim.set_gift_card("GC-1", START, "USD", true).expect("seed");
    sim.set_credit("C-1", START, "USD").expect("seed");
    let b = balances(
        &sim,
        BalancePolicy {
            timeout: Duration::from_millis(300),
            attempts: 40,
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(40),
        },
    );
    let amount = |i: usize| 100 + i as i64 * 7;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let b = b.clone();
        tasks.spawn(async move {
            let r = b
                .redeem_gift_card("GC-1", &redemption(&format!("p-{i}"), amount(i)))
                .await;
            let c = b
                .credit_transaction("C-1", &credit_tx(&format!("c-{i}"), -amount(i), "sale"))
                .await;
            (i, r, c)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, r, c) = done.expect("task");
        assert_eq!(ok(r).amount, usd(amount(i)));
        assert_eq!(ok(c).amount, usd(-amount(i)));
    }
    let spent: i64 = (0..N).map(amount).sum();
    assert_eq!(
        sim.gift_card("GC-1").map(|c| c.balance),
        Some(usd(START - spent)),
        "no double spend"
    );
    assert_eq!(
        sim.credit("C-1").map(|c| c.balance),
        Some(usd(START - spent))
    );
    let ids: HashSet<String> = sim.redemptions().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), N);
    assert_eq!(sim.credit_transactions().len(), N);

    // Reverse every even one, twice each, concurrently.
    let mut reversals = tokio::task::JoinSet::new();
    for i in (0..N).step_by(2) {
        for _ in 0..2 {
            let b = b.clone();
            reversals.spawn(async move {
                b.reverse_gift_card_redemption("GC-1", &format!("p-{i}"))
                    .await
            });
        }
    }
    while let Some(done) = reversals.join_next().await {
        assert!(ok(done.expect("task")).reversed);
    }
    let kept: i64 = (0..N).filter(|i| i % 2 == 1).map(amount).sum();
    assert_eq!(
        sim.gift_card("GC-1").map(|c| c.balance),
        Some(usd(START - kept)),
        "each reversal gave back once"
    );
    let reversed = sim.redemptions().iter().filter(|r| r.reversed).count();
    assert_eq!(reversed, N / 2);

    // The run went through the faults it is about.
    let stats = sim.stats();
    for kind in [
        "lost_response",
        "reset",
        "hang",
        "server_error",
        "rate_limited",
    ] {
        assert!(
            stats.faults.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}: {stats:?}"
        );
    }
    assert!(
        stats.balance_replayed > 0,
        "no lost answer was resent: {stats:?}"
    );
}

#[tokio::test]
async fn balances_and_their_ids_survive_a_simulator_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SimConfig::new(SITE);
    cfg.db_path = Some(dir.path().join("central.db"));
    let sim = CentralSim::start(cfg.clone()).await.expect("simulator");
    sim.set_gift_card("GC-1", 1000, "USD", true).expect("seed");
    let first = ok(balances(&sim, quick())
        .redeem_gift_card("GC-1", &redemption("p-1", 250))
        .await);
    sim.shutdown().await;

    let sim = CentralSim::start(cfg).await.expect("restarted");
    let again = ok(balances(&sim, quick())
        .redeem_gift_card("GC-1", &redemption("p-1", 250))
        .await);
    assert_eq!(again, first);
    assert_eq!(sim.gift_card("GC-1").map(|c| c.balance), Some(usd(750)));
    assert_eq!(sim.stats().balance_replayed, 1);
}

#[tokio::test]
async fn a_person_can_make_gift_cards_and_credit_through_the_sim_routes() {
    let sim = sim_with(Faults::none(), 1).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    let put = |path: &str, body: serde_json::Value, key: &str| {
        http.put(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };

    let r = put(
        "/sim/gift-cards/GC%201",
        serde_json::json!({"balance": {"amount": 2500, "currency": "USD"}}),
        "wrong",
    )
    .await
    .expect("put");
    assert_eq!(r.status(), 401);
    let r = put(
        "/sim/gift-cards/GC%201",
        serde_json::json!({"balance": {"amount": 2500, "currency": "USD"}}),
        "test-key",
    )
    .await
    .expect("put");
    assert_eq!(r.status(), 200);
    let card: GiftCard = r.json().await.expect("card");
    assert!(card.active, "active unless told otherwise");
    let r = put(
        "/sim/gift-cards/GC-2",
        serde_json::json!({"balance": {"amount": -1, "currency": "USD"}}),
        "test-key",
    )
    .await
    .expect("put");
    assert_eq!(r.status(), 422);
    let r = put(
        "/sim/customers/C-1/credit",
        serde_json::json!({"balance": {"amount": 900, "currency": "USD"}}),
        "test-key",
    )
    .await
    .expect("put");
    assert_eq!(r.status(), 200);

    // The edge sees them through the signed contract routes (a code with a space is one segment).
    let b = balances(&sim, quick());
    assert_eq!(ok(b.gift_card("GC 1").await).balance, usd(2500));
    assert_eq!(ok(b.store_credit("C-1").await).balance, usd(900));
    ok(b.redeem_gift_card("GC 1", &redemption("p-1", 500)).await);
    let r = http
        .get(format!("{base}/sim/gift-cards/GC%201"))
        .bearer_auth("test-key")
        .send()
        .await
        .expect("get");
    let card: GiftCard = r.json().await.expect("card");
    assert_eq!(card.balance, usd(2000));
}
