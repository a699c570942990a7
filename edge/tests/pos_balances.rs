//! Gift cards and store credit at the till through the real node and the reference central
//! simulator (pos-api.md "Payments", sync-api.md "Balances kept by the central"): spent once under
//! the payment's id whatever answers are lost, refused offline and when short, given back by a
//! void, issued by a refund to store credit.

mod common;

use common::till::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

async fn node_with_central() -> (TillNode, CentralSim) {
    let mut cfg = SimConfig::new("st-14");
    cfg.seed = 5;
    let sim = CentralSim::start(cfg).await.expect("central sim");
    let node = start(TillOptions {
        extra: format!(
            "[central]\nurl = \"{}\"\napi_key = \"test-key\"\nsigning_secret = \"test-signing-secret\"\n\
             webhook_secret = \"w\"\nretry_base_ms = 5\nretry_cap_ms = 100\nrequest_timeout_ms = 400\n",
            sim.url()
        ),
        ..TillOptions::default()
    })
    .await;
    (node, sim)
}

fn card_balance(sim: &CentralSim, code: &str) -> i64 {
    sim.gift_card(code).expect("card").balance.amount
}

async fn wait_sync(node: &TillNode, want: &str) {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = node.ok(Method::GET, "/v1/sync/status", ADMIN, None).await;
        if s["state"] == want {
            return;
        }
        assert!(tokio::time::Instant::now() < end, "sync never {want}: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_card_pays_part_once_is_refused_when_short_and_comes_back_on_a_void() {
    let (node, sim) = node_with_central().await;
    sim.set_gift_card("GC-1000-2000", 2_500, "USD", true)
        .expect("card");
    wait_sync(&node, "online").await;
    let cashier = node.open_register().await;
    let bal = node
        .ok(
            Method::GET,
            "/v1/pos/gift-cards/GC-1000-2000",
            &cashier,
            None,
        )
        .await;
    assert_eq!(amount(&bal["balance"]), 2_500);
    assert_eq!(bal["code"], "**** 2000", "the code is never shown whole");
    let (s, v) = node
        .call(Method::GET, "/v1/pos/gift-cards/NOPE", &cashier, None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let sale = node.sale_with(&cashier, &[TEE, MUG]).await;
    let sid = id(&sale);
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "g1",
            json!({"method": "gift_card", "code": "GC-1000-2000", "amount": 2_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["payment"]["state"], "approved");
    assert_eq!(amount(&v["payment"]["balance"]["balance_after"]), 500);
    assert!(!v.to_string().contains("GC-1000-2000"), "code leaked: {v}");
    // A retry with the same key spends nothing more.
    let (s, again) = node
        .pay(
            &cashier,
            &sid,
            "g1",
            json!({"method": "gift_card", "code": "GC-1000-2000", "amount": 2_000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(card_balance(&sim, "GC-1000-2000"), 500);
    // More than the card holds: refused, nothing spent, the rest still due.
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "g2",
            json!({"method": "gift_card", "code": "GC-1000-2000"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(card_balance(&sim, "GC-1000-2000"), 500);
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "c",
            json!({"method": "cash", "tendered": 5_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["sale"]["status"], "completed");
    until("the receipt", || {
        node.printed().contains("Gift card **** 2000")
    })
    .await;

    // A supervisor voids it: the card gets its 20.00 back, once.
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{sid}/void"),
            &cashier,
            Some(json!({"reason": "wrong customer",
                        "approval": {"badge": SUPERVISOR.0, "pin": SUPERVISOR.1}})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "voided");
    assert_eq!(card_balance(&sim, "GC-1000-2000"), 2_500);
    let redemptions = sim.redemptions();
    assert_eq!(redemptions.len(), 1, "{redemptions:?}");
    assert!(redemptions[0].reversed);
}

/// The central's answers are lost after it spent: the payment waits (pending, amount held) and
/// the node asks again with the same id until it learns the truth — spent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_asked_again_under_the_same_id_and_spends_once() {
    let (node, sim) = node_with_central().await;
    sim.set_gift_card("GC-LOST", 10_000, "USD", true)
        .expect("card");
    wait_sync(&node, "online").await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    let total = amount(&sale["totals"]["total"]);
    sim.set_faults(Faults {
        lost_response: 1.0,
        ..Faults::none()
    });
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "g",
            json!({"method": "gift_card", "code": "GC-LOST"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "undecided: {v}");
    assert_eq!(v["payment"]["state"], "pending");
    let pid = v["payment"]["id"].as_str().expect("id").to_string();
    sim.set_faults(Faults::none());
    let p = node.settled(&cashier, &pid).await;
    assert_eq!(p["state"], "approved", "{p}");
    assert_eq!(card_balance(&sim, "GC-LOST"), 10_000 - total, "spent once");
    assert_eq!(sim.redemptions().len(), 1);
    assert_eq!(node.sale(&cashier, &sid).await["status"], "completed");
}

/// Store credit pays for a customer's sale; a refund to store credit issues credit; with the
/// central unreachable, balances are refused at once and the sale goes on with cash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_credit_is_spent_and_issued_and_refused_offline() {
    let (node, sim) = node_with_central().await;
    wait_sync(&node, "online").await;
    let cashier = node.open_register().await;
    let c = node
        .ok(
            Method::POST,
            "/v1/pos/customers",
            &cashier,
            Some(json!({"name": "Ada Buyer", "phone": "+1 555 0100"})),
        )
        .await;
    let cid = id(&c);
    sim.set_credit(&cid, 4_000, "USD").expect("credit");
    let sale = node.sale_with(&cashier, &[MUG]).await;
    let sid = id(&sale);
    let (s, v) = node
        .pay(&cashier, &sid, "sc", json!({"method": "store_credit"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "no customer on the sale: {v}");
    node.ok(
        Method::PUT,
        &format!("/v1/pos/sales/{sid}/customer"),
        &cashier,
        Some(json!({"customer_id": cid})),
    )
    .await;
    let (s, v) = node
        .pay(&cashier, &sid, "sc2", json!({"method": "store_credit"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let total = amount(&sale["totals"]["total"]);
    assert_eq!(
        sim.credit(&cid).expect("credit").balance.amount,
        4_000 - total
    );
    let credit = node
        .ok(
            Method::GET,
            &format!("/v1/pos/customers/{cid}/credit"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(amount(&credit["balance"]), 4_000 - total);

    // Refund the mug to store credit: the credit comes back.
    let done = node.sale(&cashier, &sid).await;
    let (s, rf) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{sid}/refunds"),
            &cashier,
            Some(
                json!({"lines": [{"line_id": done["lines"][0]["line_id"], "qty": 1}],
                        "reason": "wrong colour", "tender": "store_credit"}),
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rf}");
    assert_eq!(rf["tenders"][0]["method"], "store_credit");
    assert_eq!(rf["tenders"][0]["state"], "approved");
    assert_eq!(sim.credit(&cid).expect("credit").balance.amount, 4_000);

    // The central is down: balances are refused at once, cash goes on.
    sim.set_faults(Faults {
        server_error: 1.0,
        ..Faults::none()
    });
    wait_sync(&node, "offline").await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "g",
            json!({"method": "gift_card", "code": "GC-X"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("unreachable"), "{msg}");
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "c",
            json!({"method": "cash", "tendered": 5_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let pending: i64 = node
        .db()
        .query_row(
            "SELECT count(*) FROM pos_payments WHERE method IN ('gift_card','store_credit')
              AND state = 'pending'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(pending, 0);
}
