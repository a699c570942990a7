//! Card payments at a register, through the real node, its nexo terminal driver and a simulated
//! terminal on loopback TCP (pos-api.md "Payments", research/pos-payments.md §8): approved once
//! whatever is lost on the way, in progress until the terminal knows, not found and tried again,
//! late money reversed rather than landed on another payment, one payment per terminal, aborts,
//! partial approvals with split tender, bad requests that change nothing, and the offline floor
//! limits while the central is unreachable. No full card number ever reaches the database.

mod common;

use common::till::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wms_hardware::sim::{TerminalMode, TEST_PAN};

fn mode(node: &TillNode, m: TerminalMode) {
    lock(&node.terminal).modes.push_back(m);
}

fn charges_for(node: &TillNode, sale: &str) -> usize {
    lock(&node.terminal).net_charged(sale).len()
}

fn count(node: &TillNode, sql: &str, arg: &str) -> i64 {
    node.db()
        .query_row(sql, [arg], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Neither the database nor its WAL holds a full card number or track data.
fn assert_no_card_data(node: &TillNode) {
    for name in ["wms-edge.db", "wms-edge.db-wal"] {
        let path = node.db.with_file_name(name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(TEST_PAN), "full PAN in {}", path.display());
        assert!(!text.contains("Track2"), "track data in {}", path.display());
    }
}

#[tokio::test]
async fn no_card_data_ever_a_card_sale_is_approved_once_and_keeps_only_the_masked_card() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE, MUG]).await;
    let sid = id(&sale);
    let total = amount(&sale["totals"]["total"]);

    let (s, paid) = node
        .pay(&cashier, &sid, "k-card-1", json!({"method": "card"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{paid}");
    assert_eq!(paid["payment"]["state"], "pending");
    assert_eq!(
        amount(&paid["sale"]["totals"]["due"]),
        0,
        "held while pending"
    );
    let pid = paid["payment"]["id"].as_str().expect("id").to_string();

    let p = node.settled(&cashier, &pid).await;
    assert_eq!(p["state"], "approved", "{p}");
    assert_eq!(amount(&p["amount"]), total);
    assert_eq!(p["card"]["masked_pan"], "411111 **** 1111");
    assert_eq!(p["card"]["brand"], "visa");
    assert_eq!(p["card"]["approval_code"], "A1B2C3");
    assert_eq!(p["card"]["entry_mode"], "Contactless");
    assert_eq!(p["card"]["offline"], false);
    let s = node.sale(&cashier, &sid).await;
    assert_eq!(s["status"], "completed", "{s}");
    assert!(s["receipt_no"].is_string());

    // A retry with the same key answers from the first; another body under it is refused.
    let (st, again) = node
        .pay(&cashier, &sid, "k-card-1", json!({"method": "card"}))
        .await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["payment"]["id"], pid.as_str());
    let (st, v) = node
        .pay(
            &cashier,
            &sid,
            "k-card-1",
            json!({"method": "card", "amount": 100}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(lock(&node.terminal).payment_requests, 1, "charged once");
    assert_eq!(charges_for(&node, &sid), 1);

    // The receipt: brand and last four, the approval code, never the full number.
    until("receipt printed", || node.printed().contains("Auth A1B2C3")).await;
    let receipt = node.printed();
    assert!(receipt.contains("1111"), "{receipt}");
    assert!(!receipt.contains(TEST_PAN));
    assert!(!receipt.contains("OFFLINE"), "{receipt}");

    // One completion upstream, carrying the masked card.
    let body: String = node
        .db()
        .query_row(
            "SELECT body FROM outbox WHERE type = 'pos.sale_completed'",
            [],
            |r| r.get(0),
        )
        .expect("completion event");
    let ev: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ev["data"]["tenders"][0]["masked_pan"], "411111 **** 1111");
    assert_eq!(ev["data"]["tenders"][0]["amount"], total);
    assert_eq!(
        count(
            &node,
            "SELECT count(*) FROM outbox WHERE type = ?1",
            "pos.sale_completed"
        ),
        1
    );
    assert_no_card_data(&node);
}

/// §8.1: the approval's answer is lost; after `terminal_timeout_s` the node asks TransactionStatus
/// and marks the sale paid once — no second PaymentRequest.
#[tokio::test]
async fn a_lost_answer_is_recovered_by_transaction_status_never_by_paying_again() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    mode(&node, TerminalMode::Silent);
    let (_, paid) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    let p = node
        .settled(&cashier, paid["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "approved", "{p}");
    let t = lock(&node.terminal);
    assert_eq!(t.payment_requests, 1, "never paid again");
    assert!(t.status_requests >= 1, "asked the terminal");
    assert_eq!(t.net_charged(&sid).len(), 1);
}

/// §8.2: while the terminal says InProgress the payment stays pending ("waiting for terminal",
/// never failed), then the answer decides.
#[tokio::test]
async fn a_payment_in_progress_stays_pending_until_the_terminal_knows() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[MUG]).await;
    let sid = id(&sale);
    mode(&node, TerminalMode::InProgress(3));
    let (_, paid) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    let pid = paid["payment"]["id"].as_str().expect("id").to_string();
    until("the terminal was asked", || {
        lock(&node.terminal).status_requests >= 1
    })
    .await;
    let p = node
        .ok(
            Method::GET,
            &format!("/v1/pos/payments/{pid}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(p["state"], "pending", "{p}");
    let p = node.settled(&cashier, &pid).await;
    assert_eq!(p["state"], "approved", "{p}");
    assert!(lock(&node.terminal).status_requests >= 4);
    assert_eq!(charges_for(&node, &sid), 1);
}

/// §8.3: the terminal never saw the request (TransactionStatus: NotFound): the payment fails as
/// "not processed", and a new attempt with a fresh ServiceID charges exactly once.
#[tokio::test]
async fn not_found_fails_the_attempt_and_a_new_one_charges_once() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    let total = amount(&sale["totals"]["total"]);
    mode(&node, TerminalMode::Ignore);
    let (_, first) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    let p = node
        .settled(&cashier, first["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "failed", "{p}");
    assert!(
        p["error"]
            .as_str()
            .is_some_and(|e| e.contains("not processed")),
        "{p}"
    );
    let s = node.sale(&cashier, &sid).await;
    assert_eq!(
        (s["status"].as_str(), amount(&s["totals"]["due"])),
        (Some("open"), total)
    );

    let (_, second) = node
        .pay(&cashier, &sid, "k-2", json!({"method": "card"}))
        .await;
    let p = node
        .settled(&cashier, second["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "approved", "{p}");
    assert_eq!(node.sale(&cashier, &sid).await["status"], "completed");
    let ids: Vec<String> = node
        .db()
        .prepare("SELECT service_id FROM pos_payments WHERE sale_id = ?1")
        .expect("prepare")
        .query_map([&sid], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "a fresh ServiceID for the new attempt");
    assert_eq!(charges_for(&node, &sid), 1);
    assert_eq!(lock(&node.terminal).payment_requests, 2);
}

/// §8.4: the terminal approves an attempt after telling the node it had no such transaction.
/// That approval arrives while the next payment runs: it is not applied to it, and the money
/// nobody wants is reversed at the terminal and audited.
#[tokio::test]
async fn a_late_approval_is_reversed_and_never_lands_on_the_next_payment() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    mode(&node, TerminalMode::LateApproval);
    let (_, first) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    let first_id = first["payment"]["id"].as_str().expect("id").to_string();
    let p = node.settled(&cashier, &first_id).await;
    assert_eq!(p["state"], "failed", "{p}");

    // The next attempt: the terminal sends the old approval first, then answers this one.
    let (_, second) = node
        .pay(&cashier, &sid, "k-2", json!({"method": "card"}))
        .await;
    let second_id = second["payment"]["id"].as_str().expect("id").to_string();
    let p2 = node.settled(&cashier, &second_id).await;
    assert_eq!(p2["state"], "approved", "{p2}");
    until("the late approval is reversed", || {
        lock(&node.terminal).reversals.len() == 1
    })
    .await;
    until("the reversal is recorded", || {
        count(
            &node,
            "SELECT count(*) FROM audit WHERE action = ?1",
            "pos.card_reversed",
        ) == 1
    })
    .await;
    let p1 = node
        .ok(
            Method::GET,
            &format!("/v1/pos/payments/{first_id}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(
        p1["state"], "failed",
        "the old attempt never becomes paid: {p1}"
    );
    let s = node.sale(&cashier, &sid).await;
    assert_eq!(s["status"], "completed");
    assert_eq!(
        amount(&s["totals"]["paid"]),
        amount(&s["totals"]["total"]),
        "paid once: {s}"
    );
    assert_eq!(charges_for(&node, &sid), 1, "the customer pays once");
    assert_eq!(
        count(
            &node,
            "SELECT count(*) FROM audit WHERE action = ?1",
            "pos.card_reversal_due"
        ),
        1
    );
}

/// §8.5 and §8.6: one card payment at a time per terminal; an abort before the card is read
/// leaves the sale unpaid; an abort of a payment that is no longer pending is refused; a
/// terminal busy with a dialogue from elsewhere charges nothing.
#[tokio::test]
async fn one_card_payment_per_terminal_aborts_and_a_busy_terminal() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE, MUG]).await;
    let sid = id(&sale);
    mode(&node, TerminalMode::Timeout);
    let (s, first) = node
        .pay(
            &cashier,
            &sid,
            "k-1",
            json!({"method": "card", "amount": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    let pid = first["payment"]["id"].as_str().expect("id").to_string();
    until("the terminal waits for the card", || {
        lock(&node.terminal).payment_requests == 1
    })
    .await;
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "k-2",
            json!({"method": "card", "amount": 500}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("busy")),
        "{v}"
    );
    // Cash for the rest may be taken meanwhile; nothing completes while the card is pending.
    let (s, cash) = node
        .pay(
            &cashier,
            &sid,
            "k-cash",
            json!({"method": "cash", "amount": 500, "tendered": 500}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cash}");
    assert_eq!(cash["sale"]["status"], "open");

    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/payments/{pid}/abort"),
            &cashier,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let p = node.settled(&cashier, &pid).await;
    assert_eq!(p["state"], "aborted", "{p}");
    assert_eq!(lock(&node.terminal).abort_requests, 1);
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/payments/{pid}/abort"),
            &cashier,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let s = node.sale(&cashier, &sid).await;
    assert_eq!(s["status"], "open");
    assert_eq!(
        amount(&s["totals"]["due"]),
        amount(&s["totals"]["total"]) - 500
    );

    // A terminal busy with someone else's dialogue: refused there, nothing charged.
    mode(&node, TerminalMode::Busy);
    let (_, busy) = node
        .pay(&cashier, &sid, "k-3", json!({"method": "card"}))
        .await;
    let p = node
        .settled(&cashier, busy["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "failed", "{p}");
    assert_eq!(charges_for(&node, &sid), 0);

    // Approved, then an abort is too late: refused, the payment stays approved.
    let (_, ok) = node
        .pay(&cashier, &sid, "k-4", json!({"method": "card"}))
        .await;
    let okid = ok["payment"]["id"].as_str().expect("id").to_string();
    assert_eq!(node.settled(&cashier, &okid).await["state"], "approved");
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/payments/{okid}/abort"),
            &cashier,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(node.sale(&cashier, &sid).await["status"], "completed");
    assert_eq!(charges_for(&node, &sid), 1);
}

/// §8.7 and §8.20: a partial approval pays what the terminal authorised and leaves the rest due;
/// cash pays the rest with change from cash only; the receipt shows both tenders.
#[tokio::test]
async fn a_partial_approval_leaves_the_rest_for_cash_with_change_from_cash_only() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE, MUG]).await;
    let sid = id(&sale);
    let total = amount(&sale["totals"]["total"]);
    mode(&node, TerminalMode::Partial);
    let (_, paid) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    let p = node
        .settled(&cashier, paid["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "partial", "{p}");
    let part = amount(&p["amount"]);
    assert_eq!(part, total / 2);
    let s = node.sale(&cashier, &sid).await;
    let due = amount(&s["totals"]["due"]);
    assert_eq!(due, total - part);

    // A card may not pay more than is due.
    let (st, v) = node
        .pay(
            &cashier,
            &sid,
            "k-2",
            json!({"method": "card", "amount": due + 1}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let (st, cash) = node
        .pay(
            &cashier,
            &sid,
            "k-3",
            json!({"method": "cash", "tendered": due + 1000}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{cash}");
    assert_eq!(cash["sale"]["status"], "completed");
    let change = amount(&cash["payment"]["change"]);
    let rounded = amount(&cash["payment"]["amount"]);
    assert_eq!(change, due + 1000 - rounded);
    until("receipt printed", || node.printed().contains("Change")).await;
    let receipt = node.printed();
    assert!(
        receipt.contains("visa") && receipt.contains("Cash"),
        "{receipt}"
    );
}

/// Requests that cannot be right change nothing and charge nothing.
#[tokio::test]
async fn bad_card_requests_change_nothing() {
    let mut node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    let total = amount(&sale["totals"]["total"]);
    for (key, body, want) in [
        (
            "b-1",
            json!({"method": "card", "amount": total + 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "b-2",
            json!({"method": "card", "amount": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "b-3",
            json!({"method": "card", "tendered": 5000}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "b-4",
            json!({"method": "card", "code": "GC-1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "b-5",
            json!({"method": "cheque"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "b-6",
            json!({"method": "card", "amount": "ten"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, v) = node.pay(&cashier, &sid, key, body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{sid}/payments"),
            &cashier,
            Some(json!({"method": "card"})),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no Idempotency-Key: {v}"
    );
    let (s, v) = node
        .call(
            Method::POST,
            "/v1/pos/payments/nope/abort",
            &cashier,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = node
        .call(
            Method::GET,
            "/v1/pos/payments/nope?wait=31",
            &cashier,
            None,
            None,
        )
        .await;
    assert!(s.is_client_error(), "{v}");

    // The terminal unplugged: 503 before anything is written or sent.
    if let Some(sim) = &node.terminal_sim {
        sim.unplug().await;
    }
    node.wait_device("term-1", "offline").await;
    let (s, v) = node
        .pay(&cashier, &sid, "b-7", json!({"method": "card"}))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "device_unavailable");
    assert_eq!(
        count(
            &node,
            "SELECT count(*) FROM pos_payments WHERE sale_id = ?1",
            &sid
        ),
        0
    );
    assert_eq!(lock(&node.terminal).payment_requests, 0);
    node.stop().await;
}

/// The terminal drops the connection while the customer's card is being approved: the node
/// reconnects, asks about the same ServiceID and applies the approval once.
#[tokio::test]
async fn a_terminal_unplugged_mid_payment_charges_at_most_once() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    mode(&node, TerminalMode::Silent);
    let (_, paid) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    let pid = paid["payment"]["id"].as_str().expect("id").to_string();
    until("the terminal took the card", || {
        lock(&node.terminal).charges.len() == 1
    })
    .await;
    let sim = node.terminal_sim.as_ref().expect("terminal");
    sim.unplug().await;
    node.wait_device("term-1", "offline").await;
    let p = node
        .ok(
            Method::GET,
            &format!("/v1/pos/payments/{pid}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(p["state"], "pending", "unknown is not failed: {p}");
    sim.replug().await.expect("replug");
    let p = node.settled(&cashier, &pid).await;
    assert_eq!(p["state"], "approved", "{p}");
    assert_eq!(lock(&node.terminal).payment_requests, 1);
    assert_eq!(charges_for(&node, &sid), 1);
    assert_eq!(node.sale(&cashier, &sid).await["status"], "completed");
}

/// §8.8 and §8.9: while the central is unreachable, a card payment above the offline limit or one
/// that would take the stored offline total above its cap is refused at once; the rest are
/// marked offline, counted on the register and printed as OFFLINE; stored ones older than
/// `offline_card_hours` make `/health` degraded and show in the metrics.
#[tokio::test]
async fn offline_card_limits_apply_while_the_central_is_unreachable() {
    // Port 1 on loopback refuses connections: the central is down from the start.
    let node = start(TillOptions {
        pos: "offline_card_limit = 3000\noffline_card_total = 3400\n\
              offline_card_hours = 24\n"
            .into(),
        extra: "[central]\nurl = \"http://127.0.0.1:1/v2\"\napi_key = \"k\"\n\
                signing_secret = \"s\"\nwebhook_secret = \"w\"\nretry_base_ms = 50\nretry_cap_ms = 200\n"
            .into(),
        ..TillOptions::default()
    })
    .await;
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = node.ok(Method::GET, "/v1/sync/status", ADMIN, None).await;
        if s["state"] == "offline" {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "sync never offline: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE, MUG]).await; // 35.37 with tax
    let sid = id(&sale);
    let (s, v) = node
        .pay(&cashier, &sid, "k-1", json!({"method": "card"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("Card limit offline: take cash"), "{msg}");
    assert!(msg.contains("30.00"), "names the limit: {msg}");
    assert_eq!(lock(&node.terminal).payment_requests, 0);

    let (_, v) = node
        .pay(
            &cashier,
            &sid,
            "k-2",
            json!({"method": "card", "amount": 2500}),
        )
        .await;
    let p = node
        .settled(&cashier, v["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "approved", "{p}");
    assert_eq!(p["card"]["offline"], true, "{p}");
    let reg = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &cashier, None)
        .await;
    assert_eq!(reg["offline_cards"]["count"], 1, "{reg}");
    assert_eq!(amount(&reg["offline_cards"]["total"]), 2500);

    // 25.00 stored + 10.00 > 34.00 cap.
    let (st, v) = node
        .pay(
            &cashier,
            &sid,
            "k-3",
            json!({"method": "card", "amount": 1000}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("offline card total")),
        "{v}"
    );
    let due = amount(&node.sale(&cashier, &sid).await["totals"]["due"]);
    let (st, v) = node
        .pay(
            &cashier,
            &sid,
            "k-4",
            json!({"method": "cash", "tendered": due + 100}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    until("receipt printed", || node.printed().contains("OFFLINE")).await;

    let health = node.ok(Method::GET, "/health", ADMIN, None).await;
    assert!(
        !health["reasons"].to_string().contains("card payment"),
        "{health}"
    );
    // Two days pass without the central: the stored payments are overdue.
    node.db()
        .execute(
            "UPDATE pos_payments SET created_at = '2020-01-01T00:00:00.000Z' WHERE method = 'card'",
            [],
        )
        .expect("age the payments");
    let health = node.ok(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reasons"]
            .to_string()
            .contains("1 card payment(s) taken offline are overdue"),
        "{health}"
    );
    let metrics = node
        .http
        .get(format!("{}/metrics", node.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("wms_pos_offline_cards_overdue 1"),
        "{metrics}"
    );
    assert!(metrics.contains("wms_pos_offline_cards 1"), "{metrics}");
    assert!(!metrics.contains(TEST_PAN));
    assert_no_card_data(&node);
}

/// §8.12 and the offline window: with the central refusing everything, card payments are
/// stored offline; when it is back (answers still lost at random, so batches are resent) every
/// sale reaches it exactly once, and the stored card exposure drops to zero once the central has
/// acknowledged the sales that carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_cards_are_stored_until_the_central_has_their_sales_each_once() {
    use wms_sync::central_sim::{CentralSim, Faults, SimConfig};
    let mut cfg = SimConfig::new("st-14");
    cfg.faults = Faults {
        server_error: 1.0,
        ..Faults::none()
    };
    cfg.seed = 11;
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
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = node.ok(Method::GET, "/v1/sync/status", ADMIN, None).await;
        if s["state"] == "offline" {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "sync never offline: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cashier = node.open_register().await;
    let mut sales = Vec::new();
    for (i, method) in ["card", "cash", "card"].iter().enumerate() {
        let sale = node.sale_with(&cashier, &[MUG]).await;
        let sid = id(&sale);
        let body = if *method == "cash" {
            json!({"method": "cash", "tendered": 5000})
        } else {
            json!({"method": "card"})
        };
        let (_, v) = node.pay(&cashier, &sid, &format!("k-{i}"), body).await;
        let p = node
            .settled(&cashier, v["payment"]["id"].as_str().expect("id"))
            .await;
        assert_eq!(p["state"], "approved", "{p}");
        assert_eq!(node.sale(&cashier, &sid).await["status"], "completed");
        sales.push(sid);
    }
    let reg = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &cashier, None)
        .await;
    assert_eq!(reg["offline_cards"]["count"], 2, "{reg}");

    // The central is back, answers lost at random: every batch may be resent.
    sim.set_faults(Faults {
        lost_response: 0.3,
        ..Faults::none()
    });
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = node.ok(Method::GET, "/v1/sync/status", ADMIN, None).await;
        let reg = node
            .ok(Method::GET, "/v1/pos/registers/pos-1", &cashier, None)
            .await;
        if s["queue_depth"] == 0 && reg["offline_cards"]["count"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "not drained: {s} {reg} {:?}",
            sim.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let applied = sim.applied();
    let ids: std::collections::HashSet<&str> = applied.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), applied.len(), "an event was applied twice");
    let completed: Vec<&str> = applied
        .iter()
        .filter(|a| a.kind == "pos.sale_completed")
        .map(|a| a.aggregate.as_str())
        .collect();
    let mut want: Vec<String> = sales.iter().map(|s| format!("sale:{s}")).collect();
    want.sort();
    let mut got: Vec<String> = completed.iter().map(|s| s.to_string()).collect();
    got.sort();
    assert_eq!(got, want, "each sale once");
    assert_eq!(sim.stats().order_violations, 0);
    assert!(
        sim.stats().faults.values().sum::<u64>() > 0,
        "no faults injected"
    );
}
