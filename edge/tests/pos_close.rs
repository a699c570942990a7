//! Closing the day at a register through the real node (pos-api.md, research/pos-payments.md
//! §5 and §8.19): cash movements, the X report that changes nothing, the close with counted cash
//! into a Z report numbered per register and never repeated, printed and sent upstream, and the
//! store's sales report over a period.

mod common;

use common::till::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wms_hardware::sim::TerminalMode;

async fn product(node: &TillNode, sku: &str, price: i64) {
    node.ok(
        Method::PUT,
        &format!("/v1/products/acme/{sku}"),
        ADMIN,
        Some(
            json!({"name": format!("Acme {sku}"), "barcodes": [format!("SKU-{sku}")],
                    "price": {"amount": price, "currency": "USD"}}),
        ),
    )
    .await;
}

async fn sell_for_cash(node: &TillNode, token: &str, sku: &str) -> Value {
    let sale = node.sale_with(token, &[&format!("SKU-{sku}")]).await;
    let sid = id(&sale);
    let (s, v) = node
        .pay(
            token,
            &sid,
            &format!("cash-{sid}"),
            json!({"method": "cash"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["sale"]["status"], "completed");
    v["sale"].clone()
}

fn session_id(reg: &Value) -> String {
    reg["session"]["id"].as_str().expect("session").to_string()
}

/// §8.19: float 100, cash sales 250, refund 20, pay-out 30 → expected 300; counted 295 → short
/// 5; the Z report is sequential and never repeated.
#[tokio::test]
async fn the_drawer_example_closes_into_one_z_report() {
    let node = start(TillOptions {
        terminal: true,
        ..TillOptions::default()
    })
    .await;
    product(&node, "BAG", 23_000).await;
    product(&node, "PEN", 2_000).await;
    let cashier = node.open_register().await;
    let supervisor = node.login(SUPERVISOR).await;
    let reg = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &cashier, None)
        .await;
    let session = session_id(&reg);
    sell_for_cash(&node, &cashier, "BAG").await;
    let pen = sell_for_cash(&node, &cashier, "PEN").await;
    let pen_id = id(&pen);
    let line = pen["lines"][0]["line_id"]
        .as_str()
        .expect("line")
        .to_string();
    let (s, rf) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{pen_id}/refunds"),
            &cashier,
            Some(json!({"lines": [{"line_id": line, "qty": 1}], "reason": "changed mind"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rf}");
    assert_eq!(amount(&rf["amount"]), 2_000);
    assert_eq!(rf["tenders"][0]["method"], "cash");
    let movements = format!("/v1/pos/sessions/{session}/cash-movements");
    let (s, v) = node
        .call(
            Method::POST,
            &movements,
            &cashier,
            Some(json!({"kind": "pay_out", "amount": 3_000, "reason": "window cleaner"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The X report, twice: the same, and nothing changed.
    let x1 = node
        .ok(
            Method::GET,
            &format!("/v1/pos/sessions/{session}"),
            &cashier,
            None,
        )
        .await;
    let x2 = node
        .ok(
            Method::GET,
            &format!("/v1/pos/sessions/{session}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(x1, x2);
    let r = &x1["report"];
    assert_eq!(r["z_no"], Value::Null);
    assert_eq!(amount(&r["cash"]["opening_float"]), 10_000);
    assert_eq!(amount(&r["cash"]["sales"]), 25_000);
    assert_eq!(amount(&r["cash"]["refunds"]), 2_000);
    assert_eq!(amount(&r["cash"]["pay_outs"]), 3_000);
    assert_eq!(amount(&r["cash"]["expected"]), 30_000);
    assert_eq!(r["sales"]["count"], 2);
    assert_eq!(r["refunds"]["count"], 1);
    assert_eq!(r["by_method"][0]["method"], "cash");
    assert_eq!(r["by_cashier"][0]["user"], "u-cash");

    // Bad closes change nothing.
    let close = format!("/v1/pos/sessions/{session}/close");
    let (s, v) = node
        .call(
            Method::POST,
            &close,
            &cashier,
            Some(json!({"counted_cash": -1})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let open = node.sale_with(&cashier, &[MUG]).await;
    let (s, v) = node
        .call(
            Method::POST,
            &close,
            &cashier,
            Some(json!({"counted_cash": 29_500})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "an open sale: {v}");
    // A card payment still at the terminal.
    lock(&node.terminal).modes.push_back(TerminalMode::Timeout);
    let (s, v) = node
        .pay(&cashier, &id(&open), "k-card", json!({"method": "card"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let pid = v["payment"]["id"].as_str().expect("id").to_string();
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{}/void", id(&open)),
            &cashier,
            Some(json!({"reason": "walked away"})),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "void while the card is pending: {v}"
    );
    node.call(
        Method::POST,
        &format!("/v1/pos/payments/{pid}/abort"),
        &cashier,
        None,
        None,
    )
    .await;
    assert_eq!(node.settled(&cashier, &pid).await["state"], "aborted");
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{}/void", id(&open)),
            &cashier,
            Some(json!({"reason": "walked away"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "voided");

    // The close: Z #1 with the shortfall, printed, upstream once; never again.
    let (s, z) = node
        .call(
            Method::POST,
            &close,
            &cashier,
            Some(json!({"counted_cash": 29_500, "note": "short a fiver"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{z}");
    assert_eq!(z["z_no"], 1);
    assert_eq!(amount(&z["cash"]["expected"]), 30_000);
    assert_eq!(amount(&z["cash"]["counted"]), 29_500);
    assert_eq!(amount(&z["cash"]["over_short"]), -500);
    assert_eq!(z["voids"]["count"], 1, "{z}");
    assert!(z["closed_at"].is_string());
    let (s, v) = node
        .call(
            Method::POST,
            &close,
            &cashier,
            Some(json!({"counted_cash": 29_500})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a Z report is never repeated: {v}");
    let stored = node
        .ok(
            Method::GET,
            &format!("/v1/pos/sessions/{session}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(stored["report"], z, "the closed session shows its Z report");
    assert_eq!(stored["state"], "closed");
    until("the Z report printed", || {
        node.printed().contains("Z REPORT #1")
    })
    .await;
    let body: String = node
        .db()
        .query_row(
            "SELECT body FROM outbox WHERE type = 'pos.session_closed'",
            [],
            |r| r.get(0),
        )
        .expect("session_closed");
    let ev: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ev["data"]["over_short"], -500);
    assert_eq!(ev["data"]["z_no"], 1);

    // The next session is Z #2.
    let reg = node
        .ok(
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            &cashier,
            Some(json!({"opening_float": 5_000})),
        )
        .await;
    let next = id(&reg);
    let z2 = node
        .ok(
            Method::POST,
            &format!("/v1/pos/sessions/{next}/close"),
            &cashier,
            Some(json!({"counted_cash": 5_000})),
        )
        .await;
    assert_eq!(z2["z_no"], 2);
    assert_eq!(amount(&z2["cash"]["over_short"]), 0);

    // The store's sales report over the day: a supervisor's.
    let (s, _) = node
        .call(Method::GET, "/v1/pos/reports/sales", &cashier, None, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let day = node
        .ok(
            Method::GET,
            "/v1/pos/reports/sales?from=2020-01-01T00:00:00Z",
            &supervisor,
            None,
        )
        .await;
    assert_eq!(day["sales"]["count"], 2, "{day}");
    assert_eq!(amount(&day["sales"]["net"]), 25_000);
    assert_eq!(day["refunds"]["count"], 1);
    assert_eq!(day["by_register"][0]["register_id"], "pos-1");
    let none = node
        .ok(
            Method::GET,
            "/v1/pos/reports/sales?to=2020-01-01T00:00:00Z",
            &supervisor,
            None,
        )
        .await;
    assert_eq!(none["sales"]["count"], 0);
    let (s, v) = node
        .call(
            Method::GET,
            "/v1/pos/reports/sales?from=yesterday",
            &supervisor,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

/// Pay-ins, pay-outs, drops and the no-sale: reasons, limits, the supervisor, the drawer.
#[tokio::test]
async fn cash_movements_open_the_drawer_within_their_rules() {
    let node = start(TillOptions {
        terminal: false,
        ..TillOptions::default()
    })
    .await;
    let cashier = node.open_register().await;
    let reg = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &cashier, None)
        .await;
    let session = session_id(&reg);
    let path = format!("/v1/pos/sessions/{session}/cash-movements");
    let kicks = || lock(&node.printer).drawer_kicks;
    until("the float's drawer kick", || kicks() >= 1).await;
    let before = kicks();
    for (body, want) in [
        (
            json!({"kind": "pay_in", "amount": 500}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "pay_out", "amount": 0, "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "tip", "amount": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "no_sale", "amount": 0}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"kind": "pay_out", "amount": 10_001, "reason": "too much"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"kind": "safe_drop", "amount": 20_000}),
            StatusCode::CONFLICT,
        ),
    ] {
        let (s, v) = node
            .call(Method::POST, &path, &cashier, Some(body.clone()), None)
            .await;
        assert_eq!(s, want, "{body}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let (s, v) = node
        .call(
            Method::POST,
            &path,
            &cashier,
            Some(json!({"kind": "no_sale", "amount": 0,
                        "approval": {"badge": SUPERVISOR.0, "pin": SUPERVISOR.1}})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["approved_by"], "u-sup");
    let (s, v) = node
        .call(
            Method::POST,
            &path,
            &cashier,
            Some(json!({"kind": "pay_in", "amount": 2_500, "reason": "float top-up"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = node
        .call(
            Method::POST,
            &path,
            &cashier,
            Some(json!({"kind": "safe_drop", "amount": 12_000})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    until("three more drawer kicks", || kicks() >= before + 3).await;
    // No movement while a sale is open.
    node.sale_with(&cashier, &[TEE]).await;
    let (s, v) = node
        .call(
            Method::POST,
            &path,
            &cashier,
            Some(json!({"kind": "pay_in", "amount": 100, "reason": "x"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let x = node
        .ok(
            Method::GET,
            &format!("/v1/pos/sessions/{session}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(
        amount(&x["report"]["cash"]["expected"]),
        10_000 + 2_500 - 12_000
    );
    assert_eq!(
        node.db()
            .query_row(
                "SELECT count(*) FROM outbox WHERE type = 'pos.cash_movement'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .expect("count"),
        3
    );
    // An API key has no person behind it.
    let (s, _) = node
        .call(
            Method::POST,
            &path,
            ADMIN,
            Some(json!({"kind": "pay_in", "amount": 1, "reason": "x"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
