//! The HTTP API end to end: a real server on a loopback port, a real SQLite file, real HTTP.

use std::net::SocketAddr;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

struct Node {
    base: String,
    http: Client,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    db: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

const ROLES: [&str; 6] = [
    "picker",
    "packer",
    "cashier",
    "supervisor",
    "admin",
    "central",
];

fn key_of(role: &str) -> String {
    format!("test-key-for-{role}")
}

async fn start() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut toml = format!(
        "[site]\nid = \"wh-test\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().display()
    );
    for r in ROLES {
        toml.push_str(&format!(
            "[[api_keys]]\nname = \"{r}-key\"\nrole = \"{r}\"\nkey = \"{}\"\n",
            key_of(r)
        ));
    }
    toml.push_str("[[api_keys]]\nname = \"globex-admin\"\nrole = \"admin\"\nkey = \"test-key-globex-admin\"\ntenant_id = \"globex\"\n");
    let cfg = wms_edge::config::parse("test.toml", &toml).expect("config");
    let db = cfg.db_path();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stop_rx.await;
        };
        wms_edge::node::serve(cfg, shutdown, move |a| {
            let _ = addr_tx.send(a);
        })
        .await
        .expect("serve");
    });
    let addr = addr_rx.await.expect("listening");
    Node {
        base: format!("http://{addr}"),
        http: Client::new(),
        _dir: dir,
        stop: Some(stop_tx),
        db,
    }
}

impl Node {
    async fn call(
        &self,
        method: Method,
        path: &str,
        role: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let key = role.map(key_of);
        self.call_key(method, path, key.as_deref(), body).await
    }

    async fn call_key(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, headers)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        role: &str,
        body: &'static str,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(key_of(role))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v, _) = self.call(method.clone(), path, Some("admin"), body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    async fn seed(&self) {
        self.ok(Method::PUT, "/v1/products/acme/SKU-1", Some(json!({"name": "Shirt", "barcodes": ["00012345600012"], "weight": {"value": "0.250", "unit": "kg"}}))).await;
        self.ok(
            Method::PUT,
            "/v1/products/acme/SKU-2",
            Some(json!({"name": "Lotted", "tracking": "lot"})),
        )
        .await;
        self.ok(
            Method::PUT,
            "/v1/products/globex/G-1",
            Some(json!({"name": "Widget"})),
        )
        .await;
        self.ok(
            Method::PUT,
            "/v1/locations/A-01",
            Some(json!({"zone": "A", "pick_sequence": 1})),
        )
        .await;
        self.ok(
            Method::PUT,
            "/v1/locations/A-02",
            Some(json!({"zone": "A", "pick_sequence": 2})),
        )
        .await;
        self.ok(Method::POST, "/v1/inventory/adjustments", Some(json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": 10, "reason": "received"}))).await;
        self.ok(
            Method::POST,
            "/v1/inventory/adjustments",
            Some(json!({"tenant_id": "globex", "sku": "G-1", "location": "A-02", "delta": 4})),
        )
        .await;
    }

    fn audit_count(&self) -> i64 {
        let c = rusqlite::Connection::open(&self.db).expect("db");
        c.query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .expect("count")
    }
}

fn assert_error_object(v: &Value, code: &str, ctx: &str) {
    assert_eq!(v["error"]["code"], code, "{ctx}: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{ctx}: {v}"
    );
    assert!(v["error"]["details"].is_array(), "{ctx}: {v}");
    assert!(
        v["error"]["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_")),
        "{ctx}: {v}"
    );
}

/// Every endpoint with the least role that may call it, and a body that is valid for it.
fn endpoints() -> Vec<(Method, &'static str, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/metrics", "admin", None),
        (Method::GET, "/v1/sync/status", "supervisor", None),
        (Method::GET, "/v1/audit", "admin", None),
        (Method::GET, "/v1/products", "supervisor", None),
        (Method::GET, "/v1/products/acme/SKU-1", "supervisor", None),
        (
            Method::PUT,
            "/v1/products/acme/SKU-9",
            "admin",
            Some(json!({"name": "New"})),
        ),
        (Method::GET, "/v1/locations", "supervisor", None),
        (Method::GET, "/v1/locations/A-01", "supervisor", None),
        (
            Method::PUT,
            "/v1/locations/B-01",
            "admin",
            Some(json!({"zone": "B"})),
        ),
        (Method::GET, "/v1/users", "supervisor", None),
        (
            Method::PUT,
            "/v1/users/u-9",
            "admin",
            Some(json!({"name": "Pat", "roles": ["picker"], "tenant_id": "acme"})),
        ),
        (Method::GET, "/v1/users/u-9", "supervisor", None),
        (Method::GET, "/v1/orders", "packer", None),
        (
            Method::POST,
            "/v1/orders",
            "admin",
            Some(
                json!({"id": "O-9", "tenant_id": "acme", "lines": [{"line_id": "1", "sku": "SKU-1", "qty": 1}]}),
            ),
        ),
        (Method::GET, "/v1/orders/O-9", "packer", None),
        (
            Method::POST,
            "/v1/orders/O-9/hold",
            "supervisor",
            Some(json!({"reason": "check"})),
        ),
        (
            Method::POST,
            "/v1/orders/O-9/release",
            "supervisor",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/orders/O-9/cancel",
            "supervisor",
            Some(json!({"reason": "customer"})),
        ),
        (Method::GET, "/v1/inventory", "picker", None),
        (
            Method::POST,
            "/v1/inventory/adjustments",
            "supervisor",
            Some(json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": 1})),
        ),
        (
            Method::POST,
            "/v1/inventory/counts",
            "picker",
            Some(json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "counted": 11})),
        ),
    ]
}

fn satisfies(holder: &str, required: &str) -> bool {
    holder == required
        || (holder == "admin" && required != "central")
        || (holder == "supervisor" && matches!(required, "picker" | "packer" | "cashier"))
}

#[tokio::test]
async fn every_endpoint_rejects_missing_keys_and_wrong_roles() {
    let node = start().await;
    node.seed().await;
    for (method, path, least, body) in endpoints() {
        let (s, v, h) = node.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} without a key");
        assert_error_object(&v, "authentication_error", path);
        assert!(h.contains_key("x-request-id"));
        let (s, v, _) = node
            .call_key(method.clone(), path, Some("not-a-key-at-all"), body.clone())
            .await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with an unknown key: {v}"
        );
        for role in ROLES {
            if satisfies(role, least) {
                continue;
            }
            let (s, v, _) = node
                .call(method.clone(), path, Some(role), body.clone())
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as {role}: {v}");
            assert_error_object(&v, "authorization_error", path);
        }
        // And the least role gets through (the body is valid for it).
        let (s, v, _) = node
            .call(method.clone(), path, Some(least), body.clone())
            .await;
        assert!(s.is_success(), "{method} {path} as {least}: {s} {v}");
    }
    let (s, v, _) = node.call(Method::GET, "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["site_id"], "wh-test");
    assert_eq!(v["services"]["database"], "ok");
    assert_eq!(v["services"]["sync"], "disabled");
}

#[tokio::test]
async fn every_mutating_endpoint_writes_an_audit_row() {
    let node = start().await;
    node.seed().await;
    for (method, path, least, body) in endpoints() {
        if method == Method::GET {
            continue;
        }
        let before = node.audit_count();
        let (s, v, h) = node.call(method.clone(), path, Some(least), body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        let after = node.audit_count();
        assert!(after > before, "{method} {path} wrote no audit row");
        let rid = h
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("request id")
            .to_string();
        let c = rusqlite::Connection::open(&node.db).expect("db");
        let (key, req): (Option<String>, Option<String>) = c
            .query_row(
                "SELECT actor_api_key, request_id FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
        assert_eq!(
            key.as_deref(),
            Some(format!("{least}-key").as_str()),
            "{path}"
        );
        assert_eq!(
            req.as_deref(),
            Some(rid.as_str()),
            "{path}: audit row names the request"
        );
    }
    // The audit endpoint shows them with their actor, filterable.
    let v = node
        .ok(Method::GET, "/v1/audit?action=order.hold", None)
        .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["data"][0]["actor"]["api_key"], "supervisor-key");
    assert_eq!(v["data"][0]["changes"]["status"]["new"], "on_hold");
}

#[tokio::test]
async fn malformed_bodies_get_400_or_422_with_the_error_object() {
    let node = start().await;
    node.seed().await;
    for (method, path, role, body) in endpoints() {
        if body.is_none() {
            continue;
        }
        let cases: [(&'static str, StatusCode); 6] = [
            ("{", StatusCode::BAD_REQUEST),
            ("", StatusCode::BAD_REQUEST),
            ("[1, 2]", StatusCode::UNPROCESSABLE_ENTITY),
            ("{\"no_such_field\": 1}", StatusCode::UNPROCESSABLE_ENTITY),
            ("null", StatusCode::UNPROCESSABLE_ENTITY),
            ("{} trailing", StatusCode::BAD_REQUEST),
        ];
        for (raw, want) in cases {
            let (s, v) = node.raw(method.clone(), path, role, raw).await;
            assert_eq!(s, want, "{method} {path} with {raw:?}: {v}");
            assert_error_object(&v, "validation_error", path);
        }
    }
    // Wrong types, unknown fields and unknown enum values name the field.
    let (s, v) = node
        .raw(
            Method::POST,
            "/v1/inventory/adjustments",
            "admin",
            r#"{"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": "five"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["details"][0]["field"], "delta", "{v}");
    let (s, v) = node
        .raw(Method::POST, "/v1/inventory/adjustments", "admin", r#"{"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": 1, "reason": "stolen"}"#)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["details"][0]["field"], "reason", "{v}");
    let (s, v) = node
        .raw(
            Method::PUT,
            "/v1/users/u-1",
            "admin",
            r#"{"name": "A", "roles": ["wizard"]}"#,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]["details"][0]["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("roles")),
        "{v}"
    );
    // A wrong content type is refused with the same object.
    let resp = node
        .http
        .post(format!("{}/v1/inventory/adjustments", node.base))
        .bearer_auth(key_of("admin"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v: Value = resp.json().await.expect("json");
    assert_error_object(&v, "validation_error", "content-type");
    // Unknown routes, methods and query parameters.
    let (s, v, _) = node
        .call(Method::GET, "/v1/nope", Some("admin"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_object(&v, "not_found", "404");
    let (s, v, _) = node
        .call(Method::DELETE, "/v1/inventory", Some("admin"), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_object(&v, "validation_error", "405");
    let (s, v, _) = node
        .call(Method::GET, "/v1/inventory?limit=500", Some("admin"), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["details"][0]["field"], "limit");
    let (s, _, _) = node
        .call(Method::GET, "/v1/inventory?limit=abc", Some("admin"), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = node
        .call(
            Method::GET,
            "/v1/inventory?cursor=garbage!",
            Some("admin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn inventory_never_goes_negative_by_accident_over_http() {
    let node = start().await;
    node.seed().await;
    let adj = |delta: i64| json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": delta, "note": "test"});
    let (s, v, _) = node
        .call(
            Method::POST,
            "/v1/inventory/adjustments",
            Some("supervisor"),
            Some(adj(-11)),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_error_object(&v, "conflict", "negative");
    let (s, v, _) = node
        .call(
            Method::POST,
            "/v1/inventory/adjustments",
            Some("supervisor"),
            Some(adj(-3)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["on_hand_after"], 7);
    assert_eq!(v["delta"], -3);
    assert_eq!(v["reason"], "adjusted");
    assert_eq!(v["actor"]["api_key"], "supervisor-key");
    assert!(
        v["event_id"]
            .as_str()
            .is_some_and(|e| e.starts_with("wh-test:0000")),
        "{v}"
    );
    // Unknown references are 422, not 404 or 500.
    for (field, body) in [
        (
            "tenant_id",
            json!({"tenant_id": "nobody", "sku": "SKU-1", "location": "A-01", "delta": 1}),
        ),
        (
            "sku",
            json!({"tenant_id": "acme", "sku": "NOPE", "location": "A-01", "delta": 1}),
        ),
        (
            "location",
            json!({"tenant_id": "acme", "sku": "SKU-1", "location": "Z-99", "delta": 1}),
        ),
        (
            "lot",
            json!({"tenant_id": "acme", "sku": "SKU-2", "location": "A-01", "delta": 1}),
        ),
        (
            "delta",
            json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": 0}),
        ),
    ] {
        let (s, v, _) = node
            .call(
                Method::POST,
                "/v1/inventory/adjustments",
                Some("admin"),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {v}");
        assert_eq!(v["error"]["details"][0]["field"], field, "{v}");
    }
    // Reservations count: an order for 5 leaves 2 available.
    node.ok(Method::POST, "/v1/orders", Some(json!({"id": "O-1", "tenant_id": "acme", "lines": [{"line_id": "1", "sku": "SKU-1", "qty": 5}]}))).await;
    let v = node.ok(Method::GET, "/v1/inventory?sku=SKU-1", None).await;
    assert_eq!(
        v["data"],
        json!([{"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "lot": null, "on_hand": 7, "reserved": 5, "available": 2}])
    );
    let (s, _, _) = node
        .call(
            Method::POST,
            "/v1/inventory/adjustments",
            Some("admin"),
            Some(adj(-3)),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // A count is booked as the difference, with on_hand_after.
    let (s, v, _) = node
        .call(Method::POST, "/v1/inventory/counts", Some("picker"), Some(json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "lot": null, "counted": 9})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["delta"], 2);
    assert_eq!(v["reason"], "cycle_count");
    assert_eq!(v["on_hand_after"], 9);
}

#[tokio::test]
async fn held_or_cancelled_orders_never_ship_http_transitions() {
    let node = start().await;
    node.seed().await;
    let order = json!({"id": "O-7", "tenant_id": "acme", "channel": "web", "priority": "two_day",
        "ship_by": "2026-11-23T17:00:00Z", "shipping": {"carrier": "UPS", "service": "2DAY"},
        "ship_to": {"name": "Ann ^XA", "street1": "1 Main", "city": "Boston", "postal_code": "02110", "country": "US"},
        "lines": [{"line_id": "1", "sku": "SKU-1", "qty": 2}], "gift_message": "Happy birthday"});
    let (s, v, _) = node
        .call(
            Method::POST,
            "/v1/orders",
            Some("admin"),
            Some(order.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "allocated");
    assert_eq!(v["allocation"][0]["location"], "A-01");
    let (s, _, _) = node
        .call(Method::POST, "/v1/orders", Some("admin"), Some(order))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "duplicate order id");
    let act = |what: &'static str| {
        let node = &node;
        async move {
            node.call(
                Method::POST,
                &format!("/v1/orders/O-7/{what}"),
                Some("supervisor"),
                Some(json!({"reason": what})),
            )
            .await
        }
    };
    assert_eq!(act("hold").await.1["status"], "on_hold");
    assert_eq!(act("hold").await.0, StatusCode::CONFLICT);
    assert_eq!(act("release").await.1["status"], "allocated");
    assert_eq!(act("release").await.0, StatusCode::CONFLICT);
    assert_eq!(act("cancel").await.1["status"], "cancelled");
    for what in ["hold", "release", "cancel"] {
        let (s, v, _) = act(what).await;
        assert_eq!(s, StatusCode::CONFLICT, "{what} after cancel: {v}");
        assert_error_object(&v, "conflict", what);
    }
    let (s, _, _) = node
        .call(
            Method::POST,
            "/v1/orders/NOPE/hold",
            Some("supervisor"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v = node.ok(Method::GET, "/v1/orders/O-7", None).await;
    let timeline: Vec<&str> = v["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["to"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        timeline,
        ["received", "allocated", "on_hold", "allocated", "cancelled"]
    );
    assert_eq!(v["timeline"][2]["note"], "hold");
    assert_eq!(v["timeline"][2]["actor"]["api_key"], "supervisor-key");
    assert_eq!(v["ship_to"]["name"], "Ann ^XA");
    let inv = node
        .ok(Method::GET, "/v1/inventory?sku=SKU-1&tenant_id=acme", None)
        .await;
    assert_eq!(
        inv["data"][0]["reserved"], 0,
        "cancel releases the reservation"
    );
    // Upstream: every status change and the hold/cancel audit are queued for the central.
    let sync = node.ok(Method::GET, "/v1/sync/status", None).await;
    assert_eq!(sync["state"], "disabled");
    // 2 seed adjustments + 5 status changes + 2 audit.recorded (hold, cancel)
    assert_eq!(sync["queue_depth"], 9, "{sync}");
    assert_eq!(sync["dead_letters"], 0);
    assert!(sync["oldest_pending_age_s"].is_u64());
}

#[tokio::test]
async fn lists_page_with_cursors_and_tenants_are_isolated() {
    let node = start().await;
    node.seed().await;
    for i in 0..7 {
        node.ok(
            Method::PUT,
            &format!("/v1/locations/P-{i:02}"),
            Some(json!({"pick_sequence": i})),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/locations?limit=3&cursor={c}"),
            None => "/v1/locations?limit=3".into(),
        };
        let v = node.ok(Method::GET, &path, None).await;
        for l in v["data"].as_array().expect("data") {
            seen.push(l["code"].as_str().expect("code").to_string());
        }
        if v["pagination"]["has_more"] == json!(true) {
            cursor = v["pagination"]["next_cursor"].as_str().map(str::to_string);
            assert!(cursor.is_some());
        } else {
            assert!(v["pagination"]["next_cursor"].is_null());
            break;
        }
    }
    assert_eq!(seen.len(), 9);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and never repeat");
    // A tenant-limited key sees only its tenant.
    let (s, v, _) = node
        .call_key(
            Method::GET,
            "/v1/inventory",
            Some("test-key-globex-admin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let tenants: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["tenant_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(tenants, ["globex"]);
    let (s, _, _) = node
        .call_key(
            Method::GET,
            "/v1/inventory?tenant_id=acme",
            Some("test-key-globex-admin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = node
        .call_key(
            Method::GET,
            "/v1/products/acme/SKU-1",
            Some("test-key-globex-admin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = node
        .call_key(
            Method::POST,
            "/v1/inventory/adjustments",
            Some("test-key-globex-admin"),
            Some(json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_are_stored_with_hashed_pins_that_are_never_returned() {
    let node = start().await;
    node.seed().await;
    let (s, v, _) = node
        .call(Method::PUT, "/v1/users/u-1", Some("admin"), Some(json!({"name": "Sam", "badge": "B-100", "pin": "482913", "roles": ["supervisor"], "tenant_id": null})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["has_pin"], true);
    assert!(v.get("pin").is_none() && v.get("pin_hash").is_none());
    let (s, _, _) = node
        .call(
            Method::PUT,
            "/v1/users/u-1",
            Some("admin"),
            Some(json!({"name": "Sam B", "badge": "B-100", "roles": ["supervisor", "cashier"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "replace");
    let (s, v, _) = node
        .call(
            Method::PUT,
            "/v1/users/u-2",
            Some("admin"),
            Some(json!({"name": "Other", "badge": "B-100", "roles": ["picker"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "badge reuse: {v}");
    let bytes = std::fs::read(&node.db).expect("db");
    let wal = std::fs::read(node.db.with_extension("db-wal")).unwrap_or_default();
    for hay in [&bytes, &wal] {
        assert!(
            !hay.windows(6).any(|w| w == b"482913"),
            "the clear PIN must not be in the database"
        );
    }
    let v = node.ok(Method::GET, "/v1/users/u-1", None).await;
    assert_eq!(v["roles"], json!(["supervisor", "cashier"]));
    assert_eq!(v["has_pin"], true, "a replace without pin keeps the PIN");
    let audit = node
        .ok(Method::GET, "/v1/audit?action=user.create", None)
        .await;
    assert_eq!(audit["data"][0]["changes"]["pin"]["new"], "***");
}

#[tokio::test]
async fn openapi_is_served_and_matches_the_committed_document() {
    let node = start().await;
    let (s, v, _) = node.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["openapi"].as_str().map(|s| s.starts_with("3.")),
        Some(true)
    );
    for (method, path, _, _) in endpoints() {
        let template = path
            .replace("/acme/SKU-1", "/{tenant_id}/{sku}")
            .replace("/acme/SKU-9", "/{tenant_id}/{sku}")
            .replace("/A-01", "/{code}")
            .replace("/B-01", "/{code}")
            .replace("/u-9", "/{id}")
            .replace("/O-9", "/{id}");
        let m = method.as_str().to_lowercase();
        assert!(
            v["paths"][&template][&m].is_object(),
            "{m} {template} is missing from the OpenAPI document"
        );
    }
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .unwrap_or_default();
    let generated = wms_edge::api::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"),
            format!("{generated}\n"),
        )
        .expect("write");
    } else {
        assert_eq!(committed.trim_end(), generated.trim_end(), "edge/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p wms-edge --test api openapi");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_and_metrics_count_requests() {
    let node = start().await;
    let resp = node
        .http
        .get(format!("{}/health", node.base))
        .header("x-request-id", "client-123")
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("client-123")
    );
    let (s, text, _) = node
        .call(Method::GET, "/metrics", Some("admin"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().expect("text").to_string();
    assert!(text.contains("wms_edge_http_requests_total{"), "{text}");
    assert!(text.contains("route=\"/health\""), "{text}");
    assert!(text.contains("wms_edge_outbox_queue_depth 0"), "{text}");
}
