//! The register by scans alone (pos-api.md "The register, by scans"): a cashier logs in with
//! badge + PIN at the register's scanner, rings items up (QTY, price check, take back one,
//! coupons, customers), and takes cash or a card whose outcome comes back to the scanner. Scans
//! arrive as an HTTP handheld's and as a serial scanner's on a pty; the same path answers both.

mod common;

use common::events;
use common::till::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wms_hardware::sim::{PtySim, Silent, TerminalMode};

const HANDHELD: &str = "[[devices]]\nid = \"hh-1\"\nkind = \"scanner\"\nstation = \"pos-1\"\ntransport = { http = {} }\n";

async fn scan(node: &TillNode, data: &str) -> Value {
    let (s, v) = node
        .call(
            Method::POST,
            "/v1/scans",
            ADMIN,
            Some(json!({"device_id": "hh-1", "data": data})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{data}: {v}");
    v
}

async fn good(node: &TillNode, data: &str) -> String {
    let v = scan(node, data).await;
    assert_eq!(v["feedback"], "good", "{data}: {v}");
    v["prompt"].as_str().unwrap_or_default().to_string()
}

async fn bad(node: &TillNode, data: &str) -> String {
    let v = scan(node, data).await;
    assert_eq!(v["feedback"], "bad", "{data}: {v}");
    assert_eq!(v["result"], "rejected");
    v["prompt"].as_str().unwrap_or_default().to_string()
}

fn with_handheld() -> TillOptions {
    TillOptions {
        extra: HANDHELD.into(),
        ..TillOptions::default()
    }
}

async fn open_sale(node: &TillNode) -> Value {
    let token = node.login(CASHIER).await;
    let regs = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &token, None)
        .await;
    let id = regs["sale"].as_str().expect("an open sale").to_string();
    node.sale(&token, &id).await
}

#[tokio::test]
async fn a_cash_sale_rung_up_and_paid_by_scans_alone() {
    let node = start(with_handheld()).await;
    // Nobody logged in: nothing but a badge gets through.
    assert!(bad(&node, TEE).await.contains("Log in"));
    assert!(bad(&node, "PIN:482913").await.contains("badge"));
    assert_eq!(good(&node, "EMP:B-200").await, "Scan your PIN");
    let hello = good(&node, "PIN:482913").await;
    assert!(hello.contains("Register closed"), "{hello}");
    assert!(bad(&node, TEE).await.starts_with("Register closed"));

    // The drawer is opened with a float on the API (counting money is for the screen).
    let token = node.login(CASHIER).await;
    node.ok(
        Method::POST,
        "/v1/pos/registers/pos-1/sessions",
        &token,
        Some(json!({"opening_float": 10000})),
    )
    .await;

    let p = good(&node, TEE).await;
    assert_eq!(p, "Acme TEE 19.99  Total 21.76");
    assert_eq!(good(&node, "QTY:2").await, "Quantity 2: scan the item");
    assert_eq!(good(&node, MUG).await, "2 x Acme MUG 12.50  Total 48.98");
    // Take back the last unit added: one mug.
    assert_eq!(good(&node, "CMD:VOID").await, "Taken back  Total 35.37");
    // A price check adds nothing.
    assert_eq!(good(&node, "CMD:PRICE").await, "Price check: scan the item");
    let p = good(&node, TEE).await;
    assert!(p.starts_with("Price Acme TEE 19.99"), "{p}");
    let sale = open_sale(&node).await;
    assert_eq!(amount(&sale["totals"]["total"]), 3537);
    let lines: Vec<(String, i64)> = sale["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap_or_default().to_string(),
                l["qty"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(lines, vec![("TEE".into(), 1), ("MUG".into(), 1)]);

    // Refusals change nothing and say why.
    assert!(bad(&node, "CPN:NOPE").await.contains("NOPE"));
    assert!(bad(&node, "CUST:L-404").await.contains("L-404"));
    assert!(bad(&node, "LOC:A-01-1")
        .await
        .contains("not for a register"));
    assert!(bad(&node, "00000000000000")
        .await
        .contains("Unknown barcode"));
    assert_eq!(amount(&open_sale(&node).await["totals"]["total"]), 3537);

    // Exact cash, rounded to 0.05: the sale completes, the receipt prints, the drawer opens.
    let p = good(&node, "CMD:CASH").await;
    assert_eq!(p, "Paid cash 35.35 — thank you");
    until("receipt and drawer", || {
        let pr = lock(&node.printer);
        pr.printed.contains("35.35") && pr.drawer_kicks >= 2
    })
    .await;
    let token = node.login(CASHIER).await;
    let reg = node
        .ok(Method::GET, "/v1/pos/registers/pos-1", &token, None)
        .await;
    assert!(reg["sale"].is_null(), "{reg}");
    // Every change is the cashier's, at the handheld.
    let who: Vec<(Option<String>, Option<String>)> = node
        .db()
        .prepare(
            "SELECT actor_user, actor_device FROM audit
              WHERE action IN ('pos.line_added', 'pos.line_changed', 'pos.payment', 'pos.sale_completed')",
        )
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(who.len() >= 4, "{who:?}");
    assert!(
        who.iter()
            .all(|w| w == &(Some("u-cash".into()), Some("hh-1".into()))),
        "{who:?}"
    );

    // The next item opens the next sale; CMD:CANCEL voids it while nothing is paid.
    good(&node, MUG).await;
    assert_eq!(good(&node, "CMD:CANCEL").await, "Sale cancelled");
    assert!(bad(&node, "CMD:CANCEL").await.contains("Nothing to cancel"));
    // Two sales now, newest first, one page at a time.
    let first = node
        .ok(
            Method::GET,
            "/v1/pos/sales?register=pos-1&limit=1",
            &token,
            None,
        )
        .await;
    assert_eq!(first["data"][0]["status"], "voided", "{first}");
    assert_eq!(first["pagination"]["has_more"], true);
    let cursor = first["pagination"]["next_cursor"].as_str().expect("cursor");
    let second = node
        .ok(
            Method::GET,
            &format!("/v1/pos/sales?register=pos-1&limit=1&cursor={cursor}"),
            &token,
            None,
        )
        .await;
    assert_eq!(second["data"][0]["status"], "completed", "{second}");
    assert_eq!(second["pagination"]["has_more"], false);
    assert_eq!(good(&node, "CMD:LOGOUT").await, "Logged out");
    assert!(bad(&node, MUG).await.contains("Log in"));
}

#[tokio::test]
async fn a_card_scanned_at_the_register_reports_its_outcome_to_the_scanner() {
    let node = start(with_handheld()).await;
    let _token = node.open_register().await;
    let mut ev = events::subscribe(&node.http, &node.base, ADMIN, "station,pos.payment").await;
    good(&node, "EMP:B-200").await;
    good(&node, "PIN:482913").await;
    good(&node, TEE).await;
    let p = good(&node, "CMD:CARD").await;
    assert_eq!(p, "Card payment started for 21.76: follow the terminal");
    let out = ev
        .next_where("station", |v| v["input"] == "card_outcome")
        .await;
    assert_eq!(out["feedback"], "good", "{out}");
    assert_eq!(out["prompt"], "Card approved — thank you");
    assert_eq!(out["device_id"], "hh-1");

    // Declined: bad at the scanner, the sale stays open for another tender.
    good(&node, MUG).await;
    lock(&node.terminal).modes.push_back(TerminalMode::Decline);
    good(&node, "CMD:CARD").await;
    let out = ev
        .next_where("station", |v| v["input"] == "card_outcome")
        .await;
    assert_eq!(out["feedback"], "bad", "{out}");
    assert!(out["prompt"]
        .as_str()
        .is_some_and(|p| p.contains("declined")));

    // The customer walks away from the terminal: CMD:CANCEL aborts the pending card.
    lock(&node.terminal).modes.push_back(TerminalMode::Timeout);
    good(&node, "CMD:CARD").await;
    until("the terminal waits for the card", || {
        lock(&node.terminal).payment_requests == 3
    })
    .await;
    // While it is pending the lines are fixed.
    assert!(bad(&node, TEE).await.contains("payment"));
    assert_eq!(
        good(&node, "CMD:CANCEL").await,
        "Cancelling the card payment: follow the terminal"
    );
    let out = ev
        .next_where("station", |v| v["input"] == "card_outcome")
        .await;
    assert_eq!(out["prompt"], "Card payment aborted", "{out}");
    let sale = open_sale(&node).await;
    assert_eq!(sale["status"], "open");
    assert_eq!(lock(&node.terminal).charges.len(), 1);
}

/// A serial scanner on a pty at the register: the same answers, on the event stream, and the
/// PIN never shows there.
#[tokio::test]
async fn a_serial_scanner_at_the_register_takes_the_same_path() {
    let pty = PtySim::start("pos-scanner", Silent).expect("pty");
    let node = start(TillOptions {
        extra: format!(
            "[[devices]]\nid = \"scan-1\"\nkind = \"scanner\"\nprofile = \"generic-serial-scanner\"\n\
             station = \"pos-1\"\ntransport = {{ serial = {{ path = \"{}\" }} }}\n",
            pty.path_str()
        ),
        ..TillOptions::default()
    })
    .await;
    node.wait_device("scan-1", "online").await;
    let _token = node.open_register().await;
    let mut ev = events::subscribe(&node.http, &node.base, ADMIN, "scan").await;
    for (data, want) in [
        ("EMP:B-200", "Scan your PIN"),
        ("PIN:482913", "Hello u-cash — scan the first item"),
        (TEE, "Acme TEE 19.99  Total 21.76"),
    ] {
        pty.write(format!("{data}\r").as_bytes())
            .await
            .expect("scan");
        let v = ev.next_where("scan", |v| v["device_id"] == "scan-1").await;
        assert_eq!(v["prompt"], want, "{v}");
        assert_eq!(v["station"], "pos-1");
        assert!(!v.to_string().contains("482913"), "PIN leaked: {v}");
    }
}

/// A wrong PIN at the scanner counts against the same lockout as the login endpoint.
#[tokio::test]
async fn wrong_pins_at_the_register_scanner_lock_the_badge_everywhere() {
    let node = start(with_handheld()).await;
    for _ in 0..5 {
        good(&node, "EMP:B-200").await;
        let p = bad(&node, "PIN:000000").await;
        assert!(!p.contains("000000"));
    }
    good(&node, "EMP:B-200").await;
    assert!(bad(&node, "PIN:482913").await.contains("locked"));
    let resp = node
        .http
        .post(format!("{}/v1/sessions", node.base))
        .json(&json!({"badge": "B-200", "pin": "482913"}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another badge is not locked, and a supervisor may sell too (roles nest).
    good(&node, "EMP:B-300").await;
    assert!(good(&node, "PIN:771155").await.starts_with("Hello u-sup"));
}
