//! The point of sale over real HTTP with a real SQLite file: a cashier logs in, opens the
//! register, sells by barcode with tax, a promotion, a supervisor-approved discount and split
//! cash tender, and the sale completes once — receipt number, `sold` stock below zero at the store
//! location (flagged, not refused), audit, and `pos.sale_completed` in the outbox.

use std::net::SocketAddr;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_hardware::sim::{EscPosPrinter, EscPosState, TcpSim};

const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

fn lock(
    s: &std::sync::Arc<std::sync::Mutex<EscPosState>>,
) -> std::sync::MutexGuard<'_, EscPosState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for `cond` with a deadline (no sleeps as synchronisation).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

const ADMIN: &str = "pos-test-admin-key-0001";

struct Node {
    base: String,
    http: Client,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start() -> Node {
    start_with_printer(None).await
}

/// A node with register `pos-1`; with `printer`, its receipt printer listens on that port.
async fn start_with_printer(printer: Option<u16>) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut toml = format!(
        "[site]\nid = \"st-14\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [stations.pos]\ncash_rounding = 5\ndiscount_limit_pct = 10\n\
         receipt_header = [\"Acme Store #14\"]\nreceipt_footer = [\"Returns within 30 days\"]\n",
        dir.path().display()
    );
    if let Some(port) = printer {
        toml.push_str(&format!(
            "[[devices]]\nid = \"rcpt-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pos-1\"\n\
             transport = {{ tcp = {{ host = \"127.0.0.1\", port = {port} }} }}\n"
        ));
    }
    let cfg = wms_edge::config::parse("pos.toml", &toml).expect("config");
    let db = cfg.db_path();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let _ = wms_edge::node::serve(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        )
        .await;
    });
    let addr = addr_rx.await.expect("listening");
    let node = Node {
        base: format!("http://{addr}"),
        http: Client::new(),
        db,
        _dir: dir,
        stop: Some(stop_tx),
    };
    node.seed().await;
    node
}

impl Node {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, token, body, None).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    async fn seed(&self) {
        self.ok(
            Method::PUT,
            "/v1/locations/STORE",
            ADMIN,
            Some(json!({"kind": "store", "pick_sequence": 0})),
        )
        .await;
        self.ok(
            Method::PUT,
            "/v1/tax-rates/STD",
            ADMIN,
            Some(json!({"name": "Sales tax", "rate": "8.875"})),
        )
        .await;
        for (sku, price, barcode) in [
            ("TEE", 1999, "00614141000012"),
            ("MUG", 1250, "0614141000029"),
        ] {
            self.ok(
                Method::PUT,
                &format!("/v1/products/acme/{sku}"),
                ADMIN,
                Some(json!({"name": format!("Acme {sku}"), "barcodes": [barcode],
                    "price": {"amount": price, "currency": "USD"}, "tax_code": "STD"})),
            )
            .await;
        }
        self.ok(
            Method::PUT,
            "/v1/promotions/PR-MUG",
            ADMIN,
            Some(
                json!({"id": "PR-MUG", "tenant_id": "acme", "name": "Mugs 20% off", "code": null,
                "kind": "percent_off", "skus": ["MUG"], "percent": "20", "active": true}),
            ),
        )
        .await;
        for (id, badge, pin, role) in [
            ("u-cash", "B-200", "482913", "cashier"),
            ("u-sup", "B-300", "771155", "supervisor"),
        ] {
            self.ok(
                Method::PUT,
                &format!("/v1/users/{id}"),
                ADMIN,
                Some(json!({"name": id, "badge": badge, "pin": pin, "roles": [role], "tenant_id": "acme"})),
            )
            .await;
        }
    }

    async fn login(&self, badge: &str, pin: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/v1/sessions", self.base))
            .json(&json!({"badge": badge, "pin": pin}))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let v: Value = resp.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).expect("open db")
    }
}

fn amount(v: &Value) -> i64 {
    v["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no amount in {v}"))
}

#[tokio::test]
async fn a_cash_sale_completes_once_with_receipt_stock_audit_and_outbox() {
    let escpos = EscPosPrinter::new();
    let printer = escpos.state();
    let printer_tcp = TcpSim::start(escpos).await.expect("receipt printer");
    let node = start_with_printer(Some(printer_tcp.port())).await;
    let cashier = node.login("B-200", "482913").await;

    // Keys have no person behind them: the till refuses them for mutations, reads are fine.
    let (s, v) = node
        .call(
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            ADMIN,
            Some(json!({"opening_float": 10000})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let regs = node.ok(Method::GET, "/v1/pos/registers", ADMIN, None).await;
    assert_eq!(regs["data"][0]["state"], "closed");
    assert_eq!(regs["pagination"]["has_more"], false);

    // No session, no sale.
    let (s, v) = node
        .call(
            Method::POST,
            "/v1/pos/sales",
            &cashier,
            Some(json!({"register_id": "pos-1"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    let session = node
        .ok(
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            &cashier,
            Some(json!({"opening_float": 10000})),
        )
        .await;
    assert_eq!(
        (session["state"].as_str(), amount(&session["opening_float"])),
        (Some("open"), 10000)
    );
    let (s, _) = node
        .call(
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            &cashier,
            Some(json!({"opening_float": 0})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "one open session per register");
    until("the drawer opens for the float", || {
        lock(&printer).drawer_kicks >= 1
    })
    .await;

    let sale = node
        .ok(
            Method::POST,
            "/v1/pos/sales",
            &cashier,
            Some(json!({"register_id": "pos-1"})),
        )
        .await;
    let id = sale["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 36, "a UUID");
    let (s, _) = node
        .call(
            Method::POST,
            "/v1/pos/sales",
            &cashier,
            Some(json!({"register_id": "pos-1"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "one open sale per register");

    // Two tees by GTIN-14 (the catalogue holds it), one mug by its 13-digit code; the mug is 20 % off.
    let lines = format!("/v1/pos/sales/{id}/lines");
    node.ok(
        Method::POST,
        &lines,
        &cashier,
        Some(json!({"code": "00614141000012", "qty": 2})),
    )
    .await;
    let sale = node
        .ok(
            Method::POST,
            &lines,
            &cashier,
            Some(json!({"code": "0614141000029"})),
        )
        .await;
    let t = &sale["totals"];
    // 2 × 1999 + 1250 = 5248; mug −250; tax 8.875 % of 3998 = 354.8 → 355, of 1000 = 88.75 → 89.
    assert_eq!(
        (
            amount(&t["subtotal"]),
            amount(&t["discount"]),
            amount(&t["tax"]),
            amount(&t["total"])
        ),
        (5248, 250, 444, 5442),
        "{sale}"
    );
    assert_eq!(sale["lines"][1]["discounts"][0]["kind"], "promotion");
    let (s, v) = node
        .call(
            Method::POST,
            &lines,
            &cashier,
            Some(json!({"code": "4006381333931"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Unknown barcode")),
        "{v}"
    );

    // A 15 % discount on the tees is above the cashier's 10 %: refused, then approved.
    let discount = json!({"line_id": "L1", "percent": "15", "reason": "display item"});
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{id}/discounts"),
            &cashier,
            Some(discount.clone()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("supervisor")),
        "{v}"
    );
    let mut approved = discount.clone();
    approved["approval"] = json!({"badge": "B-300", "pin": "771155"});
    let sale = node
        .ok(
            Method::POST,
            &format!("/v1/pos/sales/{id}/discounts"),
            &cashier,
            Some(approved),
        )
        .await;
    // 15 % of 3998 = 599.7 → 600; tees net 3398, tax 301.57 → 302; mug 1000 + 89.
    let total = amount(&sale["totals"]["total"]);
    assert_eq!(total, 3398 + 302 + 1000 + 89, "{sale}");

    // Payments need an Idempotency-Key.
    let pay = format!("/v1/pos/sales/{id}/payments");
    let (s, _) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(json!({"method": "cash", "tendered": 2000})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // 20.00 handed over: a part payment.
    let first = json!({"method": "cash", "tendered": 2000});
    let (s, v) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(first.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let payment_id = v["payment"]["id"].clone();
    assert_eq!(amount(&v["sale"]["totals"]["due"]), total - 2000);
    // A retry is answered from the first; the same key with another body is refused.
    let (s, v) = node
        .call(Method::POST, &pay, &cashier, Some(first), Some("k-1"))
        .await;
    assert_eq!(
        (s, v["payment"]["id"].clone()),
        (StatusCode::OK, payment_id)
    );
    assert_eq!(amount(&v["sale"]["totals"]["paid"]), 2000, "charged once");
    let (s, _) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(json!({"method": "cash", "tendered": 3000})),
            Some("k-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Lines are fixed once money is taken.
    let (s, _) = node
        .call(
            Method::POST,
            &lines,
            &cashier,
            Some(json!({"sku": "MUG"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The rest in cash, rounded to 5 cents: 2789 due → 2790, change from 50.00.
    let due = total - 2000;
    let (s, v) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(json!({"method": "cash", "tendered": 5000})),
            Some("k-2"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let done = &v["sale"];
    let rounded = (due + 2) / 5 * 5;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(amount(&done["totals"]["rounding"]), rounded - due);
    assert_eq!(amount(&v["payment"]["change"]), 5000 - rounded);
    assert_eq!(amount(&done["totals"]["due"]), 0);
    assert_eq!(done["receipt_no"], "pos-1-00000001");
    assert!(
        done["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.contains("below zero")))),
        "{done}"
    );
    // The receipt prints once, and the drawer opens for the cash.
    until("the receipt prints", || lock(&printer).receipts >= 1).await;
    until("the drawer opens for the cash", || {
        lock(&printer).drawer_kicks >= 2
    })
    .await;
    let text = lock(&printer).printed.clone();
    for want in [
        "Acme Store #14",
        "Receipt pos-1-00000001",
        "Cashier u-cash",
        "Acme TEE",
        "display item",
        "Tax STD 8.875%",
        "Returns within 30 days",
    ] {
        assert!(text.contains(want), "{want:?} not on the receipt:\n{text}");
    }
    let rounding_line = text
        .lines()
        .find(|l| l.starts_with("Cash rounding"))
        .unwrap_or_else(|| panic!("no rounding line:\n{text}"));
    assert!(
        rounding_line.ends_with(&format!(" 0.0{}", rounded - due)),
        "{rounding_line}"
    );
    let total_line = text
        .lines()
        .find(|l| l.starts_with("TOTAL USD"))
        .unwrap_or_else(|| panic!("no total line:\n{text}"));
    assert!(
        total_line.ends_with(&format!(
            "{}.{:02}",
            (total + rounded - due) / 100,
            (total + rounded - due) % 100
        )),
        "{total_line}"
    );
    // A completed sale takes no more money.
    let (s, _) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(json!({"method": "cash", "tendered": 100})),
            Some("k-3"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let db = node.db();
    let on_hand: i64 = db
        .query_row(
            "SELECT on_hand FROM stock WHERE sku = 'TEE' AND location = 'STORE'",
            [],
            |r| r.get(0),
        )
        .expect("tee stock");
    assert_eq!(on_hand, -2, "the till sells what the books do not have");
    let events: Vec<(String, String)> = db
        .prepare("SELECT type, body FROM outbox ORDER BY seq")
        .expect("outbox")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let completed: Vec<&(String, String)> = events
        .iter()
        .filter(|(k, _)| k == "pos.sale_completed")
        .collect();
    assert_eq!(completed.len(), 1, "exactly one pos.sale_completed");
    let payload: Value = serde_json::from_str(&completed[0].1).expect("payload");
    let data = &payload["data"];
    assert_eq!(data["receipt_no"], "pos-1-00000001");
    assert_eq!(data["tenders"].as_array().map(Vec::len), Some(2));
    let tendered: i64 = data["tenders"]
        .as_array()
        .expect("tenders")
        .iter()
        .map(|t| t["amount"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        tendered,
        total + (rounded - due),
        "tenders are the amounts applied"
    );
    let sold = events
        .iter()
        .filter(|(k, p)| k == "inventory.adjusted" && p.contains("\"sold\""))
        .count();
    assert_eq!(sold, 2, "one sold booking per line");
    let approved_by: String = db
        .query_row(
            "SELECT json_extract(changes, '$.approved_by') FROM audit WHERE action = 'pos.discount_given'",
            [],
            |r| r.get(0),
        )
        .expect("discount audit");
    assert_eq!(approved_by, "u-sup");
}

#[tokio::test]
async fn price_check_search_and_line_edits() {
    let node = start().await;
    let cashier = node.login("B-200", "482913").await;
    let v = node
        .ok(
            Method::GET,
            "/v1/pos/price?register=pos-1&code=0614141000029",
            &cashier,
            None,
        )
        .await;
    assert_eq!(
        (v["sku"].as_str(), amount(&v["unit_price"])),
        (Some("MUG"), 1250)
    );
    assert_eq!(v["promotions"], json!(["Mugs 20% off"]));
    let hits = node
        .ok(
            Method::GET,
            "/v1/pos/products?register=pos-1&q=acme%20t",
            &cashier,
            None,
        )
        .await;
    assert_eq!(hits["data"].as_array().map(Vec::len), Some(1), "{hits}");
    assert_eq!(hits["data"][0]["sku"], "TEE");

    node.ok(
        Method::POST,
        "/v1/pos/registers/pos-1/sessions",
        &cashier,
        Some(json!({"opening_float": 0})),
    )
    .await;
    let sale = node
        .ok(
            Method::POST,
            "/v1/pos/sales",
            &cashier,
            Some(json!({"register_id": "pos-1"})),
        )
        .await;
    let id = sale["id"].as_str().expect("id").to_string();
    let lines = format!("/v1/pos/sales/{id}/lines");
    node.ok(Method::POST, &lines, &cashier, Some(json!({"sku": "TEE"})))
        .await;
    let v = node
        .ok(
            Method::POST,
            &lines,
            &cashier,
            Some(json!({"sku": "TEE", "qty": 2})),
        )
        .await;
    assert_eq!(
        (
            v["lines"].as_array().map(Vec::len),
            v["lines"][0]["qty"].as_i64()
        ),
        (Some(1), Some(3)),
        "one line per SKU"
    );
    let v = node
        .ok(
            Method::PATCH,
            &format!("{lines}/L1"),
            &cashier,
            Some(json!({"qty": 1})),
        )
        .await;
    assert_eq!(amount(&v["totals"]["subtotal"]), 1999);
    let v = node
        .ok(Method::DELETE, &format!("{lines}/L1"), &cashier, None)
        .await;
    assert_eq!(v["lines"], json!([]));
    let (s, _) = node
        .call(Method::DELETE, &format!("{lines}/L1"), &cashier, None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A customer registered at the till is found by phone and attached to the sale.
    let c = node
        .ok(
            Method::POST,
            "/v1/pos/customers",
            &cashier,
            Some(json!({"name": "Pat Doe", "phone": "+1 555 0100", "email": "pat@example.com"})),
        )
        .await;
    let cid = c["id"].as_str().expect("customer id").to_string();
    let found = node
        .ok(
            Method::GET,
            "/v1/pos/customers?q=%2B1%20555%200100",
            &cashier,
            None,
        )
        .await;
    assert_eq!(
        found["data"][0]["id"].as_str(),
        Some(cid.as_str()),
        "{found}"
    );
    let v = node
        .ok(
            Method::PUT,
            &format!("/v1/pos/sales/{id}/customer"),
            &cashier,
            Some(json!({"customer_id": cid})),
        )
        .await;
    assert_eq!(v["customer_id"].as_str(), Some(cid.as_str()));
    let detail = node
        .ok(
            Method::GET,
            &format!("/v1/pos/customers/{cid}"),
            &cashier,
            None,
        )
        .await;
    assert_eq!(
        detail["sales"][0]["id"].as_str(),
        Some(id.as_str()),
        "{detail}"
    );
    let created: i64 = node
        .db()
        .query_row(
            "SELECT count(*) FROM outbox WHERE type = 'customer.created'",
            [],
            |r| r.get(0),
        )
        .expect("outbox");
    assert_eq!(created, 1);
    // A coupon that does not exist says so.
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{id}/coupons"),
            &cashier,
            Some(json!({"code": "NOPE"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}
