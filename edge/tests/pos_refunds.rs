//! Voids, refunds, returns without a receipt and reprints through the real node, its terminal
//! driver and a simulated terminal (pos-api.md "Returns and refunds", "Exact rules";
//! research/pos-payments.md §8.16): a whole line refunds exactly what was charged, cards first by
//! a referenced reversal at the terminal, a refused one paid in cash, never more than remains.

mod common;

use common::till::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(node: &TillNode, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    node.call(Method::POST, path, token, Some(body), None).await
}

async fn card_sale(node: &TillNode, token: &str, codes: &[&str]) -> Value {
    let sale = node.sale_with(token, codes).await;
    let sid = id(&sale);
    let (_, v) = node
        .pay(
            token,
            &sid,
            &format!("card-{sid}"),
            json!({"method": "card"}),
        )
        .await;
    let p = node
        .settled(token, v["payment"]["id"].as_str().expect("payment"))
        .await;
    assert_eq!(p["state"], "approved", "{p}");
    node.sale(token, &sid).await
}

fn on_hand(node: &TillNode, sku: &str) -> i64 {
    node.db()
        .query_row(
            "SELECT coalesce(sum(on_hand), 0) FROM stock WHERE sku = ?1 AND location = 'STORE'",
            [sku],
            |r| r.get(0),
        )
        .expect("stock")
}

fn txn_of(sale: &Value) -> String {
    sale["payments"][0]["card"]["terminal_txn_id"]
        .as_str()
        .expect("txn")
        .to_string()
}

/// §8.16: a line refunded unit by unit returns exactly what was charged for it, by referenced
/// reversals on the card; a second identical refund finds nothing left.
#[tokio::test]
async fn a_line_refunded_in_parts_returns_exactly_its_charge_to_the_card() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let mut sale = node.sale_with(&cashier, &[]).await;
    let sid = id(&sale);
    sale = node
        .ok(
            Method::POST,
            &format!("/v1/pos/sales/{sid}/lines"),
            &cashier,
            Some(json!({"code": TEE, "qty": 3})),
        )
        .await;
    let (_, v) = node
        .pay(&cashier, &sid, "k", json!({"method": "card"}))
        .await;
    node.settled(&cashier, v["payment"]["id"].as_str().expect("id"))
        .await;
    let sale_now = node.sale(&cashier, &sid).await;
    let line = &sale["lines"][0];
    let line_id = line["line_id"].as_str().expect("line").to_string();
    let charged = amount(&line["net"]) + amount(&line["tax"]);
    let stock_before = on_hand(&node, "TEE");
    let path = format!("/v1/pos/sales/{sid}/refunds");
    let mut back = 0;
    for qty in [1, 2] {
        let (s, rf) = post(
            &node,
            &cashier,
            &path,
            json!({"lines": [{"line_id": line_id, "qty": qty}], "reason": "too big"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{rf}");
        assert_eq!(rf["state"], "completed");
        assert_eq!(rf["tenders"][0]["method"], "card", "{rf}");
        assert_eq!(rf["tenders"][0]["state"], "approved");
        back += amount(&rf["amount"]);
    }
    assert_eq!(back, charged, "the whole line comes back exactly");
    assert_eq!(
        lock(&node.terminal).reversed_cents(&txn_of(&sale_now)),
        charged
    );
    let (s, v) = post(
        &node,
        &cashier,
        &path,
        json!({"lines": [{"line_id": line_id, "qty": 1}], "reason": "again"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "nothing left: {v}");
    let after = node.sale(&cashier, &sid).await;
    assert_eq!(after["lines"][0]["refunded_qty"], 3);
    assert_eq!(amount(&after["totals"]["refunded"]), charged);
    assert_eq!(on_hand(&node, "TEE"), stock_before + 3, "restocked");
    assert_eq!(
        node.db()
            .query_row(
                "SELECT count(*) FROM outbox WHERE type = 'pos.sale_refunded'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .expect("count"),
        2
    );
    until("the refund receipt printed", || {
        node.printed().contains("REFUND")
    })
    .await;
}

/// A split-tender sale (card 20.00, cash the rest) refunds to the card first, then cash; a card
/// reversal the terminal refuses is paid in cash; `tender: cash` pays all in cash; damaged units
/// stay off the shelf.
#[tokio::test]
async fn a_split_tender_refund_goes_to_the_card_first_then_cash() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let sale = node.sale_with(&cashier, &[TEE, MUG]).await;
    let sid = id(&sale);
    let total = amount(&sale["totals"]["total"]);
    let (_, v) = node
        .pay(
            &cashier,
            &sid,
            "c1",
            json!({"method": "card", "amount": 2000}),
        )
        .await;
    node.settled(&cashier, v["payment"]["id"].as_str().expect("id"))
        .await;
    let (s, v) = node
        .pay(
            &cashier,
            &sid,
            "c2",
            json!({"method": "cash", "tendered": 5000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sale = node.sale(&cashier, &sid).await;
    assert_eq!(sale["status"], "completed");
    let lines: Vec<String> = sale["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["line_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let tee_stock = on_hand(&node, "TEE");
    let (s, rf) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{sid}/refunds"),
        json!({"lines": [{"line_id": lines[0], "qty": 1, "restock": false}], "reason": "stain"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rf}");
    let tenders = rf["tenders"].as_array().expect("tenders");
    assert_eq!(tenders[0]["method"], "card");
    assert_eq!(amount(&tenders[0]["amount"]), 2000);
    assert_eq!(tenders[1]["method"], "cash");
    assert_eq!(
        amount(&tenders[0]["amount"]) + amount(&tenders[1]["amount"]),
        amount(&rf["amount"])
    );
    assert_eq!(
        on_hand(&node, "TEE"),
        tee_stock,
        "a damaged unit is not restocked"
    );

    // The mug: the card has nothing left, so it is all cash even with "original".
    lock(&node.terminal).refuse_reversals = 1;
    let (s, rf2) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{sid}/refunds"),
        json!({"lines": [{"line_id": lines[1], "qty": 1}], "reason": "gift", "tender": "cash"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rf2}");
    assert_eq!(rf2["tenders"].as_array().map(Vec::len), Some(1));
    assert_eq!(rf2["tenders"][0]["method"], "cash");
    assert_eq!(
        amount(&rf["amount"]) + amount(&rf2["amount"]),
        total,
        "the whole sale, exactly"
    );
    let reversed = lock(&node.terminal).reversed.len();
    assert_eq!(reversed, 1, "only the card share was reversed");

    // A card reversal the terminal refuses is paid in cash.
    let other = card_sale(&node, &cashier, &[MUG]).await;
    let oid = id(&other);
    let (s, rf3) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{oid}/refunds"),
        json!({"lines": [{"line_id": other["lines"][0]["line_id"], "qty": 1}], "reason": "broken"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rf3}");
    let t = rf3["tenders"].as_array().expect("tenders");
    assert_eq!(t[0]["method"], "card");
    assert_eq!(t[0]["state"], "refused", "{rf3}");
    assert_eq!(t[1]["method"], "cash");
    assert_eq!(t[1]["state"], "approved");
    assert_eq!(amount(&t[1]["amount"]), amount(&rf3["amount"]));
    let audit: i64 = node
        .db()
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'pos.card_reversed'
              AND changes LIKE '%refused%'",
            [],
            |r| r.get(0),
        )
        .expect("audit");
    assert_eq!(audit, 1);
}

/// Refunds that cannot be right change nothing; the return window needs a supervisor.
#[tokio::test]
async fn bad_refunds_are_refused_and_the_window_needs_a_supervisor() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let supervisor = node.login(SUPERVISOR).await;
    let sale = card_sale(&node, &cashier, &[TEE]).await;
    let sid = id(&sale);
    let line = sale["lines"][0]["line_id"]
        .as_str()
        .expect("line")
        .to_string();
    let path = format!("/v1/pos/sales/{sid}/refunds");
    for (body, want) in [
        (
            json!({"lines": [{"line_id": line, "qty": 2}], "reason": "x"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"lines": [{"line_id": line, "qty": 0}], "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"lines": [{"line_id": "L99", "qty": 1}], "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"lines": [{"line_id": line, "qty": 1}], "reason": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"lines": [], "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"lines": [{"line_id": line, "qty": 1}], "reason": "x", "tender": "cheque"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, v) = post(&node, &cashier, &path, body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    // An open sale is not refunded.
    let open = node.sale_with(&cashier, &[MUG]).await;
    let (s, v) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{}/refunds", id(&open)),
        json!({"lines": [{"line_id": open["lines"][0]["line_id"], "qty": 1}], "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{}/void", id(&open)),
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(lock(&node.terminal).reversed.len(), 0);
    assert_eq!(
        node.db()
            .query_row("SELECT count(*) FROM pos_refunds", [], |r| r
                .get::<_, i64>(0))
            .expect("count"),
        0,
        "nothing recorded"
    );

    // Forty days later: the cashier alone may not; a supervisor may.
    node.db()
        .execute(
            "UPDATE pos_sales SET completed_at = '2020-01-01T00:00:00.000Z' WHERE id = ?1",
            [&sid],
        )
        .expect("age");
    let body = json!({"lines": [{"line_id": line, "qty": 1}], "reason": "late"});
    let (s, v) = post(&node, &cashier, &path, body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("supervisor")));
    let (s, rf) = post(&node, &supervisor, &path, body).await;
    assert_eq!(s, StatusCode::CREATED, "{rf}");
    assert_eq!(rf["approved_by"], "u-sup");
}

/// Voids: an unpaid open sale by the cashier; a completed one by a supervisor, its card reversed
/// at the terminal first and its stock back; a refused reversal leaves the sale as it was; a sale
/// of an earlier session is refunded, not voided.
#[tokio::test]
async fn voids_reverse_the_card_first_and_bring_the_stock_back() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let approval = json!({"badge": SUPERVISOR.0, "pin": SUPERVISOR.1});
    let stock = on_hand(&node, "TEE");
    let sale = card_sale(&node, &cashier, &[TEE]).await;
    let sid = id(&sale);
    assert_eq!(on_hand(&node, "TEE"), stock - 1);
    let path = format!("/v1/pos/sales/{sid}/void");
    let (s, v) = post(&node, &cashier, &path, json!({"reason": "wrong item"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // The terminal refuses the reversal: nothing changes.
    lock(&node.terminal).refuse_reversals = 1;
    let (s, v) = post(
        &node,
        &cashier,
        &path,
        json!({"reason": "wrong item", "approval": approval}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused")),
        "{v}"
    );
    assert_eq!(node.sale(&cashier, &sid).await["status"], "completed");
    assert_eq!(on_hand(&node, "TEE"), stock - 1);

    let (s, v) = post(
        &node,
        &cashier,
        &path,
        json!({"reason": "wrong item", "approval": approval}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "voided");
    assert_eq!(on_hand(&node, "TEE"), stock, "stock back");
    let total = amount(&sale["totals"]["total"]);
    assert_eq!(lock(&node.terminal).reversed_cents(&txn_of(&sale)), total);
    let body: String = node
        .db()
        .query_row(
            "SELECT body FROM outbox WHERE type = 'pos.sale_voided'",
            [],
            |r| r.get(0),
        )
        .expect("voided event");
    let ev: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ev["data"]["approved_by"], "u-sup");
    assert_eq!(ev["data"]["reversed"][0]["amount"], total);
    let (s, v) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{sid}/refunds"),
        json!({"lines": [{"line_id": sale["lines"][0]["line_id"], "qty": 1}], "reason": "x"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a voided sale is not refunded: {v}"
    );

    // An unpaid open sale: the cashier's own decision; no upstream event (no money moved).
    let open = node.sale_with(&cashier, &[MUG]).await;
    let (s, v) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{}/void", id(&open)),
        json!({"reason": "customer left"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let voided_events: i64 = node
        .db()
        .query_row(
            "SELECT count(*) FROM outbox WHERE type = 'pos.sale_voided'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(voided_events, 1);

    // A cash sale of the last session: refund it instead.
    let cash = node.sale_with(&cashier, &[MUG]).await;
    node.pay(
        &cashier,
        &id(&cash),
        "cash",
        json!({"method": "cash", "tendered": 5000}),
    )
    .await;
    let reg = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &cashier, None)
        .await;
    let session = reg["session"]["id"].as_str().expect("session").to_string();
    let x = node
        .ok(
            Method::GET,
            &format!("/v1/pos/sessions/{session}"),
            &cashier,
            None,
        )
        .await;
    let expected = amount(&x["report"]["cash"]["expected"]);
    assert_eq!(x["report"]["voids"]["count"], 2, "{x}");
    node.ok(
        Method::POST,
        &format!("/v1/pos/sessions/{session}/close"),
        &cashier,
        Some(json!({"counted_cash": expected})),
    )
    .await;
    node.ok(
        Method::POST,
        "/v1/pos/registers/pos-1/sessions",
        &cashier,
        Some(json!({"opening_float": 10000})),
    )
    .await;
    let (s, v) = post(
        &node,
        &cashier,
        &format!("/v1/pos/sales/{}/void", id(&cash)),
        json!({"reason": "late", "approval": approval}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "another session's sale: {v}");
}

/// A return without a receipt needs a supervisor and pays cash; reprints say COPY, gift receipts
/// show no prices.
#[tokio::test]
async fn returns_without_a_receipt_and_reprints() {
    let node = start(TillOptions::default()).await;
    let cashier = node.open_register().await;
    let stock = on_hand(&node, "MUG");
    let body = json!({"register_id": "pos-1", "reason": "no receipt",
                      "lines": [{"sku": "MUG", "qty": 2, "unit_price": 1000}]});
    let (s, v) = post(&node, &cashier, "/v1/pos/returns", body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let mut with = body.clone();
    with["approval"] = json!({"badge": SUPERVISOR.0, "pin": SUPERVISOR.1});
    let (s, rf) = post(&node, &cashier, "/v1/pos/returns", with.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{rf}");
    assert_eq!(amount(&rf["amount"]), 2000);
    assert_eq!(rf["sale_id"], Value::Null);
    assert_eq!(rf["tenders"][0]["method"], "cash");
    assert_eq!(on_hand(&node, "MUG"), stock + 2);
    with["lines"][0]["sku"] = json!("NOPE");
    let (s, v) = post(&node, &cashier, "/v1/pos/returns", with).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let sale = node.sale_with(&cashier, &[TEE]).await;
    let sid = id(&sale);
    let path = format!("/v1/pos/sales/{sid}/receipt");
    let (s, v) = post(&node, &cashier, &path, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "an open sale has no receipt: {v}");
    node.pay(
        &cashier,
        &sid,
        "k",
        json!({"method": "cash", "tendered": 5000}),
    )
    .await;
    until("the receipt", || lock(&node.printer).receipts >= 2).await;
    let (s, v) = post(&node, &cashier, &path, json!({"copy": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["queued"], true);
    until("the copy", || node.printed().contains("COPY")).await;
    let (s, _) = post(&node, &cashier, &path, json!({"gift": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    until("the gift receipt", || {
        node.printed().contains("GIFT RECEIPT")
    })
    .await;
    let printed = node.printed();
    let gift = &printed[printed.rfind("GIFT RECEIPT").unwrap_or(0)..];
    assert!(
        gift.contains("Acme TEE") && !gift.contains("19.99"),
        "{gift}"
    );
}
