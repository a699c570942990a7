//! The station workflows end to end: a real node with `http` scanners at pick, count, receive and
//! pack stations, driven through `POST /v1/scans` and checked in the ledger, the outbox and the
//! orders.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const DEADLINE: Duration = Duration::from_secs(15);
const ADMIN: &str = "test-key-for-admin";
const PICKER: &str = "test-key-for-picker";
const ITEM: &str = "00012345600012";

struct Node {
    base: String,
    http: Client,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start() -> Node {
    let node = boot(tempfile::tempdir().expect("tempdir")).await;
    node.seed().await;
    node
}

/// Starts a node on `dir` (again, for a restart).
async fn boot(dir: tempfile::TempDir) -> Node {
    let mut toml = format!(
        "[site]\nid = \"wh-floor\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\ncutoff_check_s = 1\n[http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n",
        dir.path().display()
    );
    for (role, key) in [("admin", ADMIN), ("picker", PICKER)] {
        toml.push_str(&format!(
            "[[api_keys]]\nname = \"{role}\"\nrole = \"{role}\"\nkey = \"{key}\"\n"
        ));
    }
    toml.push_str("[[stations]]\nid = \"pick-1\"\nkind = \"pick\"\n");
    toml.push_str("[[stations]]\nid = \"count-1\"\nkind = \"count\"\n");
    toml.push_str("[[stations]]\nid = \"count-2\"\nkind = \"count\"\nidle_timeout_s = 1\n");
    toml.push_str(
        "[[devices]]\nid = \"handheld-4\"\nkind = \"scanner\"\nstation = \"count-2\"\ntransport = { http = {} }\n",
    );
    toml.push_str("[[stations]]\nid = \"rcv-1\"\nkind = \"receive\"\nlocation = \"RCV\"\n");
    toml.push_str(
        "[[devices]]\nid = \"handheld-3\"\nkind = \"scanner\"\nstation = \"rcv-1\"\ntransport = { http = {} }\n",
    );
    toml.push_str(
        "[[devices]]\nid = \"handheld-1\"\nkind = \"scanner\"\nstation = \"pick-1\"\ntransport = { http = {} }\n",
    );
    toml.push_str(
        "[[devices]]\nid = \"handheld-2\"\nkind = \"scanner\"\nstation = \"count-1\"\ntransport = { http = {} }\n",
    );
    toml.push_str("[[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n");
    toml.push_str(
        "[[devices]]\nid = \"handheld-5\"\nkind = \"scanner\"\nstation = \"pack-1\"\ntransport = { http = {} }\n",
    );
    let cfg = wms_edge::config::parse("test.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stop_rx.await;
        };
        wms_edge::node::serve(cfg, shutdown, move |a| {
            let _ = addr_tx.send(a);
        })
        .await
        .expect("serve");
    });
    let addr = tokio::time::timeout(DEADLINE, addr_rx)
        .await
        .expect("listening in time")
        .expect("listening");
    Node {
        base: format!("http://{addr}"),
        http: Client::new(),
        dir,
        stop: Some(stop_tx),
        task: Some(task),
    }
}

impl Node {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(key)
            .timeout(DEADLINE);
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

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, ADMIN, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    /// SKU-1 (10 at A-01), SKU-2 (5 at A-02), picker P-1 with badge B-100, order O-1 for 2 SKU-1.
    async fn seed(&self) {
        self.ok(
            Method::PUT,
            "/v1/products/acme/SKU-1",
            Some(json!({"name": "Shirt", "barcodes": [ITEM]})),
        )
        .await;
        self.ok(
            Method::PUT,
            "/v1/products/acme/SKU-2",
            Some(json!({"name": "Socks"})),
        )
        .await;
        for (code, seq) in [("A-01", 1), ("A-02", 2)] {
            self.ok(
                Method::PUT,
                &format!("/v1/locations/{code}"),
                Some(json!({"zone": "A", "pick_sequence": seq})),
            )
            .await;
        }
        for (sku, loc, n) in [("SKU-1", "A-01", 10), ("SKU-2", "A-02", 5)] {
            self.ok(
                Method::POST,
                "/v1/inventory/adjustments",
                Some(json!({"tenant_id": "acme", "sku": sku, "location": loc, "delta": n, "reason": "received"})),
            )
            .await;
        }
        self.ok(
            Method::PUT,
            "/v1/users/P-1",
            Some(json!({"name": "Pat", "badge": "B-100", "roles": ["picker"]})),
        )
        .await;
        self.ok(
            Method::POST,
            "/v1/orders",
            Some(json!({"id": "O-1", "tenant_id": "acme",
                        "lines": [{"line_id": "1", "sku": "SKU-1", "qty": 2}]})),
        )
        .await;
    }

    /// One scan through `POST /v1/scans`; returns the answer.
    async fn scan(&self, device: &str, data: &str) -> Value {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/scans",
                PICKER,
                Some(json!({"device_id": device, "data": data})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{data}: {v}");
        v
    }

    async fn good(&self, device: &str, data: &str) -> Value {
        let v = self.scan(device, data).await;
        assert_eq!(v["feedback"], "good", "{data}: {v}");
        assert_eq!(v["result"], "accepted", "{data}: {v}");
        v
    }

    async fn bad(&self, device: &str, data: &str) -> Value {
        let v = self.scan(device, data).await;
        assert_eq!(v["feedback"], "bad", "{data}: {v}");
        assert_eq!(v["result"], "rejected", "{data}: {v}");
        v
    }

    async fn status(&self, order: &str) -> String {
        let v = self
            .ok(Method::GET, &format!("/v1/orders/{order}"), None)
            .await;
        v["status"].as_str().unwrap_or_default().to_string()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("wms-edge.db")).expect("db")
    }

    fn int(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    async fn shutdown(mut self) {
        self.shutdown_keep().await;
    }

    /// Stops the node and starts a new one on the same data dir.
    async fn restart(mut self) -> Node {
        self.shutdown_keep().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        boot(dir).await
    }

    /// Stops the node but keeps its data dir for the caller.
    async fn shutdown_keep(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(DEADLINE, t)
                .await
                .expect("node stops in time")
                .expect("node task");
        }
    }
}

/// Badge in, start tote T-1: the station hands out O-1's task at A-01.
async fn start_tote(node: &Node) -> Value {
    let v = node.good("handheld-1", "EMP:B-100").await;
    assert_eq!(v["context"]["user"], "P-1", "{v}");
    let v = node.good("handheld-1", "TOTE:T-1").await;
    assert_eq!(v["context"]["task"]["order_id"], "O-1", "{v}");
    assert_eq!(v["context"]["task"]["location"], "A-01", "{v}");
    assert_eq!(v["context"]["task"]["qty"], 2, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canonical_pick_moves_stock_out_of_the_bin_and_the_order_to_picked() {
    let node = start().await;
    start_tote(&node).await;
    assert_eq!(node.status("O-1").await, "picking");

    // Wrong location, then wrong item: refused, nothing changes.
    let at_start = node.bad("handheld-1", "LOC:A-02").await;
    assert_eq!(at_start["context"]["stage"], "await_location");
    node.good("handheld-1", "LOC:A-01").await;
    let before = node.bad("handheld-1", "SKU-2").await;
    assert_eq!(before["context"]["stage"], "await_item", "{before}");
    assert_eq!(before["context"]["task"]["picked"], 0, "{before}");
    assert_eq!(
        node.int("SELECT count(*) FROM ledger WHERE reason = 'picked'"),
        0
    );

    node.good("handheld-1", ITEM).await;
    let last = node.good("handheld-1", ITEM).await;
    assert_eq!(last["context"]["stage"], "tote_complete", "{last}");
    node.good("handheld-1", "CMD:DONE").await;

    assert_eq!(node.status("O-1").await, "picked");
    assert_eq!(
        node.int("SELECT sum(delta) FROM ledger WHERE reason = 'picked' AND location = 'A-01'"),
        -2
    );
    // Each unit is two movements upstream: out of the bin and into the tote's own position.
    assert_eq!(
        node.int(
            "SELECT count(*) FROM outbox WHERE type = 'inventory.adjusted' AND body LIKE '%\"picked\"%'"
        ),
        4
    );
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'TOTE:T-1'"),
        2
    );
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'A-01'"),
        8
    );
    assert_eq!(
        node.int("SELECT reserved FROM stock WHERE sku = 'SKU-1' AND location = 'A-01'"),
        0
    );
    assert_eq!(
        node.int("SELECT sum(qty) FROM tote_contents WHERE tote = 'T-1' AND order_id = 'O-1'"),
        2
    );
    assert_eq!(
        node.int("SELECT count(*) FROM audit WHERE action = 'station.session_started'"),
        1
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_or_cancelled_orders_never_ship_at_the_pick_station() {
    let node = start().await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", ITEM).await;

    // A supervisor holds the order mid-pick: the next unit is refused and nothing moves.
    node.ok(
        Method::POST,
        "/v1/orders/O-1/hold",
        Some(json!({"reason": "address check"})),
    )
    .await;
    let v = node.bad("handheld-1", ITEM).await;
    assert!(
        v["prompt"].as_str().unwrap_or_default().contains("hold"),
        "{v}"
    );
    assert_eq!(
        node.int("SELECT count(*) FROM ledger WHERE reason = 'picked' AND location = 'A-01'"),
        1
    );
    assert_eq!(node.status("O-1").await, "on_hold");

    // Cancelled: still nothing moves, and the reservation is gone.
    node.ok(Method::POST, "/v1/orders/O-1/cancel", Some(json!({})))
        .await;
    node.scan("handheld-1", ITEM).await;
    assert_eq!(
        node.int("SELECT count(*) FROM ledger WHERE reason = 'picked' AND location = 'A-01'"),
        1
    );
    assert_eq!(node.int("SELECT count(*) FROM reservations"), 0);
    assert_eq!(node.status("O-1").await, "cancelled");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_at_the_count_station_books_a_cycle_count() {
    let node = start().await;
    node.good("handheld-2", "EMP:B-100").await;
    node.good("handheld-2", "LOC:A-01").await;
    node.good("handheld-2", "QTY:9").await;
    node.good("handheld-2", ITEM).await;
    node.good("handheld-2", "CMD:DONE").await;
    assert_eq!(
        node.int("SELECT delta FROM ledger WHERE reason = 'cycle_count' AND sku = 'SKU-1'"),
        -1
    );
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'A-01'"),
        9
    );
    node.shutdown().await;
}

/// The store's own re-check (design invariant 4): a `Pick` for an order that went on hold is
/// refused at commit even when the station decided on an older view, and nothing of the step stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_refuses_a_stale_pick_of_a_held_order() {
    use wms_edge::domain::station::{Command, StationConfig, StationKind};
    use wms_edge::store::workflow::SiteInfo;
    use wms_edge::store::{workflow::station, Ctx, Origin, Store, StoreOptions};

    let mut node = start().await;
    let tote = start_tote(&node).await;
    let task_id = tote["context"]["task"]["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    node.ok(Method::POST, "/v1/orders/O-1/hold", Some(json!({})))
        .await;
    let path = node.dir.path().join("wms-edge.db");
    let ledger_before = node.int("SELECT count(*) FROM ledger");
    node.shutdown_keep().await;

    let store = Store::open(&path, StoreOptions::default()).expect("store");
    let pick = Command::Pick {
        task_id,
        order_id: "O-1".into(),
        line_id: "1".into(),
        tenant_id: "acme".into(),
        sku: "SKU-1".into(),
        location: "A-01".into(),
        lot: None,
        qty: 1,
        tote: "T-1".into(),
    };
    let refused = store
        .write(move |conn| {
            let origin = Origin::default();
            let cx = Ctx {
                conn,
                site: "wh-floor",
                origin: &origin,
                now: "2026-11-22T05:00:00.000Z",
            };
            let cfg = StationConfig::new("pick-1", StationKind::Pick);
            station::execute(&cx, &cfg, &SiteInfo::default(), &[pick])
        })
        .await;
    let err = refused.expect_err("a held order's pick is refused");
    assert!(err.to_string().contains("on hold"), "{err}");
    let ledger_after = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM ledger", [], |r| r.get::<_, i64>(0))?))
        .await
        .expect("read");
    assert_eq!(ledger_after, ledger_before);
}

/// The station's state is persisted with every step: a restarted node resumes mid-tote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_the_pick_mid_tote() {
    let node = start().await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", ITEM).await;
    let node = node.restart().await;
    let last = node.good("handheld-1", ITEM).await;
    assert_eq!(last["context"]["user"], "P-1", "{last}");
    assert_eq!(last["context"]["stage"], "tote_complete", "{last}");
    node.good("handheld-1", "CMD:DONE").await;
    assert_eq!(node.status("O-1").await, "picked");
    node.shutdown().await;
}

/// A short pick where another location has the sku: the shortage is written off at the empty
/// bin and the rest of the line is picked from the other location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_is_picked_from_another_location_when_one_has_stock() {
    let node = start().await;
    node.ok(
        Method::PUT,
        "/v1/locations/A-09",
        Some(json!({"zone": "A", "pick_sequence": 9})),
    )
    .await;
    node.ok(
        Method::POST,
        "/v1/inventory/adjustments",
        Some(json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-09", "delta": 4, "reason": "received"})),
    )
    .await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", ITEM).await;
    // The bin turns out empty after one unit.
    let v = node.good("handheld-1", "CMD:SHORT").await;
    assert_eq!(v["context"]["task"]["location"], "A-09", "{v}");
    assert_eq!(v["context"]["task"]["qty"], 1, "{v}");
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'A-01'"),
        0
    );
    assert_eq!(
        node.int("SELECT count(*) FROM ledger WHERE reason = 'adjusted' AND location = 'A-01'"),
        1
    );
    node.good("handheld-1", "LOC:A-09").await;
    node.good("handheld-1", ITEM).await;
    node.good("handheld-1", "CMD:DONE").await;
    assert_eq!(node.status("O-1").await, "picked");
    assert_eq!(
        node.int("SELECT sum(qty) FROM tote_contents WHERE order_id = 'O-1'"),
        2
    );
    node.shutdown().await;
}

/// A short pick with no stock anywhere else: the order goes to `exception` and the central is
/// told (`order.status_changed` to exception), nothing is picked twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_pick_without_stock_elsewhere_raises_an_exception() {
    let node = start().await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", "CMD:SHORT").await;
    assert_eq!(node.status("O-1").await, "exception");
    assert_eq!(
        node.int("SELECT count(*) FROM outbox WHERE type = 'order.exception' AND body LIKE '%\"short_pick\"%'"),
        1
    );
    assert_eq!(
        node.int("SELECT count(*) FROM outbox WHERE type = 'order.status_changed' AND body LIKE '%\"to\":\"exception\"%'"),
        1
    );
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'A-01'"),
        0
    );
    assert_eq!(node.int("SELECT count(*) FROM reservations"), 0);
    node.shutdown().await;
}

/// Receiving captures GS1 lot and expiry into the receiving location; put-away moves the units
/// to a pick face, and the backordered order waiting for them is allocated at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_lots_are_put_away_and_allocated_to_the_waiting_backorder() {
    let node = start().await;
    node.ok(
        Method::PUT,
        "/v1/products/acme/SKU-3",
        Some(json!({"name": "Vitamins", "barcodes": ["00012345600043"], "tracking": "lot_expiry"})),
    )
    .await;
    for (code, kind, seq) in [("RCV", "receiving", 0), ("B-01", "pick", 5)] {
        node.ok(
            Method::PUT,
            &format!("/v1/locations/{code}"),
            Some(json!({"zone": "B", "pick_sequence": seq, "kind": kind})),
        )
        .await;
    }
    node.ok(
        Method::POST,
        "/v1/orders",
        Some(
            json!({"id": "O-2", "tenant_id": "acme", "ship_by": "2026-12-03T17:00:00.000Z",
                    "lines": [{"line_id": "1", "sku": "SKU-3", "qty": 3}]}),
        ),
    )
    .await;
    assert_eq!(node.status("O-2").await, "backordered");
    let gs1 = "]C1010001234560004317261231 10L7".replace(' ', "");
    node.good("handheld-3", "EMP:B-100").await;
    node.good("handheld-3", "QTY:3").await;
    node.good("handheld-3", &gs1).await;
    node.good("handheld-3", "CMD:DONE").await;
    assert_eq!(
        node.int(
            "SELECT on_hand FROM stock WHERE sku = 'SKU-3' AND location = 'RCV' AND lot = 'L7'"
        ),
        3
    );
    assert_eq!(
        node.int("SELECT count(*) FROM lots WHERE sku = 'SKU-3' AND lot = 'L7' AND expiry = '2026-12-31'"),
        1
    );
    // Stock in receiving is not for picking: the order still waits.
    assert_eq!(node.status("O-2").await, "backordered");

    node.good("handheld-3", "LOC:RCV").await;
    node.good("handheld-3", "QTY:3").await;
    node.good("handheld-3", &gs1).await;
    node.good("handheld-3", "LOC:B-01").await;
    assert_eq!(
        node.int(
            "SELECT on_hand FROM stock WHERE sku = 'SKU-3' AND location = 'B-01' AND lot = 'L7'"
        ),
        3
    );
    assert_eq!(node.status("O-2").await, "allocated");
    assert_eq!(
        node.int("SELECT qty FROM reservations WHERE order_id = 'O-2' AND location = 'B-01' AND lot = 'L7'"),
        3
    );
    assert_eq!(
        node.int("SELECT count(*) FROM ledger WHERE reason = 'putaway' AND sku = 'SKU-3'"),
        2
    );
    node.shutdown().await;
}

/// A counter who walks away is logged out after the station's idle timeout (1 s here) by the
/// node's own timer, audited as such; the next scan needs a badge again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_after_the_station_timeout() {
    let node = start().await;
    node.good("handheld-4", "EMP:B-100").await;
    node.good("handheld-4", "LOC:A-01").await;
    let end = tokio::time::Instant::now() + DEADLINE;
    while node.int(
        "SELECT count(*) FROM audit WHERE action = 'station.session_ended' AND changes LIKE '%idle_timeout%'",
    ) == 0
    {
        assert!(tokio::time::Instant::now() < end, "the idle session never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = node.bad("handheld-4", "LOC:A-01").await;
    assert!(v["prompt"].as_str().unwrap_or("").contains("badge"), "{v}");
    node.shutdown().await;
}

/// Urgent orders are picked first (overnight before two-day before standard, then the earlier
/// cut-off), and an order that will miss its cut-off is flagged upstream before it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_orders_are_picked_first_and_a_missed_cutoff_is_flagged_before_it_passes() {
    let node = start().await;
    let soon = chrono::Utc::now() + chrono::Duration::minutes(30);
    let soon = wms_edge::domain::time::format(soon);
    node.ok(
        Method::POST,
        "/v1/orders",
        Some(
            json!({"id": "O-9", "tenant_id": "acme", "priority": "overnight", "ship_by": soon,
                    "lines": [{"line_id": "1", "sku": "SKU-2", "qty": 1}]}),
        ),
    )
    .await;
    let end = tokio::time::Instant::now() + DEADLINE;
    while node.int(
        "SELECT count(*) FROM outbox WHERE type = 'order.exception' AND body LIKE '%missed_cutoff%' AND aggregate = 'order:O-9'",
    ) != 1
    {
        assert!(tokio::time::Instant::now() < end, "O-9 was never flagged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let o9 = node.ok(Method::GET, "/v1/orders/O-9", None).await;
    assert!(o9["cutoff_flagged_at"].is_string(), "{o9}");
    assert_eq!(o9["status"], "allocated", "flagged, not stopped");
    // O-1 has no cut-off: it is never flagged.
    let o1 = node.ok(Method::GET, "/v1/orders/O-1", None).await;
    assert!(o1["cutoff_flagged_at"].is_null(), "{o1}");

    // The overnight order's task comes first although its bin is later in the walk.
    node.good("handheld-1", "EMP:B-100").await;
    let v = node.good("handheld-1", "TOTE:T-1").await;
    assert_eq!(v["context"]["task"]["order_id"], "O-9", "{v}");
    assert_eq!(v["context"]["task"]["location"], "A-02", "{v}");
    node.shutdown().await;
}

/// An order cancelled after its units were picked: the next picker to scan the tote is first
/// sent to put them back where they came from; the stock is on the shelf again and free for
/// other orders, the tote empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_orders_picked_units_are_put_back_from_the_tote() {
    let node = start().await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", "QTY:2").await;
    node.good("handheld-1", ITEM).await;
    node.good("handheld-1", "CMD:DONE").await;
    assert_eq!(node.status("O-1").await, "picked");
    node.ok(Method::POST, "/v1/orders/O-1/cancel", Some(json!({})))
        .await;
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'TOTE:T-1'"),
        2
    );

    let v = node.good("handheld-1", "TOTE:T-1").await;
    assert_eq!(v["context"]["stage"], "put_back", "{v}");
    assert_eq!(v["context"]["put_back"]["location"], "A-01", "{v}");
    assert_eq!(v["context"]["put_back"]["qty"], 2, "{v}");
    node.bad("handheld-1", "LOC:A-02").await; // not where it came from
    node.good("handheld-1", "LOC:A-01").await;
    node.bad("handheld-1", "SKU-2").await; // not this item
    node.good("handheld-1", ITEM).await;
    let v = node.good("handheld-1", ITEM).await;
    assert_eq!(v["context"]["stage"], "await_tote", "{v}");
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'A-01'"),
        10
    );
    assert_eq!(
        node.int("SELECT on_hand FROM stock WHERE sku = 'SKU-1' AND location = 'TOTE:T-1'"),
        0
    );
    assert_eq!(node.int("SELECT count(*) FROM tote_contents"), 0);
    assert_eq!(node.int("SELECT count(*) FROM totes"), 0);
    assert_eq!(
        node.int("SELECT count(*) FROM ledger WHERE reason = 'putaway' AND ref LIKE '%put_back%'"),
        4
    );
    node.shutdown().await;
}

/// A GS1-128 carton label read by a scanner without an AIM prefix arrives as a bare element
/// string; the receive station reads it as GS1 and books its lot and expiry. A logistic unit's
/// label (SSCC, content GTIN, count) books as many units as it says it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_gs1_carton_scan_at_receive_books_the_lot_and_expiry() {
    let node = start().await;
    node.ok(
        Method::PUT,
        "/v1/products/acme/SKU-3",
        Some(json!({"name": "Vitamins", "barcodes": ["00012345600043"], "tracking": "lot_expiry"})),
    )
    .await;
    node.ok(
        Method::PUT,
        "/v1/locations/RCV",
        Some(json!({"zone": "R", "pick_sequence": 0, "kind": "receiving"})),
    )
    .await;
    node.good("handheld-3", "EMP:B-100").await;
    // No AIM id, GS after the lot, CR LF suffix and a space of keyboard-wedge padding.
    let v = node
        .good("handheld-3", " 01000123456000431726123110L9\u{1d}21S-1\r\n")
        .await;
    assert!(v["prompt"].as_str().unwrap_or("").contains("SKU-3"), "{v}");
    // FNC1 placeholders (`^`) from a scanner that cannot send the GS byte.
    node.good("handheld-3", "^0100012345600043^17261231^10L9")
        .await;
    // SSCC + content GTIN (02) + count (37) + lot + expiry: twelve units in one scan.
    node.good(
        "handheld-3",
        "0010614141123456789702000123456000433712\u{1d}10L10\u{1d}17270630",
    )
    .await;
    node.good("handheld-3", "CMD:DONE").await;
    assert_eq!(
        node.int(
            "SELECT on_hand FROM stock WHERE sku = 'SKU-3' AND location = 'RCV' AND lot = 'L9'"
        ),
        2
    );
    assert_eq!(
        node.int(
            "SELECT on_hand FROM stock WHERE sku = 'SKU-3' AND location = 'RCV' AND lot = 'L10'"
        ),
        12
    );
    assert_eq!(
        node.int("SELECT count(*) FROM lots WHERE sku = 'SKU-3' AND ((lot = 'L9' AND expiry = '2026-12-31') OR (lot = 'L10' AND expiry = '2027-06-30'))"),
        2
    );
    node.shutdown().await;
}

/// At the pack bench a GS1 label with a wrong GTIN check digit is refused with the AI and the
/// reason, and nothing changes; the right label verifies the unit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_check_digit_at_pack_is_rejected_with_the_reason() {
    let node = start().await;
    node.ok(
        Method::PUT,
        "/v1/users/K-1",
        Some(json!({"name": "Kim", "badge": "B-200", "roles": ["packer"]})),
    )
    .await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", "QTY:2").await;
    node.good("handheld-1", ITEM).await;
    node.good("handheld-1", "CMD:DONE").await;
    assert_eq!(node.status("O-1").await, "picked");

    node.good("handheld-5", "EMP:B-200").await;
    node.good("handheld-5", "TOTE:T-1").await;
    // 00012345600012 is right; ...13 has a wrong check digit.
    for bad in [
        "]C10100012345600013",
        "0100012345600013",
        "(01)00012345600013",
    ] {
        let v = node.bad("handheld-5", bad).await;
        let prompt = v["prompt"].as_str().unwrap_or("");
        assert!(
            prompt.contains("AI 01: GTIN check digit should be 2"),
            "{bad}: {v}"
        );
        assert_eq!(v["context"]["order"]["lines"][0]["verified"], 0, "{v}");
    }
    let v = node.good("handheld-5", "]C10100012345600012").await;
    assert_eq!(v["context"]["order"]["lines"][0]["verified"], 1, "{v}");
    node.shutdown().await;
}

/// A code the tenant's catalog knows verbatim wins over the GS1 reading: a SKU barcode of eight
/// digits (no valid EAN-8 or UPC-E) and a SKU shaped like a GTIN element with a wrong check digit
/// are counted as themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_sku_that_looks_like_digits_still_works() {
    let node = start().await;
    node.ok(
        Method::PUT,
        "/v1/products/acme/SKU-8",
        Some(json!({"name": "Bolts", "barcodes": ["12345678"]})),
    )
    .await;
    node.ok(
        Method::PUT,
        "/v1/products/acme/0109506000134353",
        Some(json!({"name": "Nuts"})),
    )
    .await;
    node.good("handheld-2", "EMP:B-100").await;
    node.good("handheld-2", "LOC:A-02").await;
    let v = node.good("handheld-2", "12345678").await;
    assert!(v["prompt"].as_str().unwrap_or("").contains("SKU-8"), "{v}");
    let v = node.good("handheld-2", "0109506000134353\r").await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("0109506000134353"),
        "{v}"
    );
    // Not in the catalog, the same shapes are refused with their reason.
    let v = node.bad("handheld-2", "0109506000134363").await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("AI 01: GTIN check digit"),
        "{v}"
    );
    let v = node.bad("handheld-2", "87654321").await;
    assert!(
        v["prompt"].as_str().unwrap_or("").contains("check digit"),
        "{v}"
    );
    node.shutdown().await;
}

/// `GET /v1/putbacks`: a cancelled order's picked units show up as a tote waiting for put-back,
/// with the shelf they go back to and how long they have waited; pickers cannot read the list,
/// and the tote leaves it once a pick station has put the units back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totes_waiting_for_put_back_are_listed_for_supervisors_with_their_age() {
    let node = start().await;
    let empty = node.ok(Method::GET, "/v1/putbacks", None).await;
    assert_eq!(empty["data"], json!([]), "{empty}");
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", "QTY:2").await;
    node.good("handheld-1", ITEM).await;
    node.good("handheld-1", "CMD:DONE").await;
    node.good("handheld-1", "CMD:LOGOUT").await;
    let order = node
        .ok(Method::POST, "/v1/orders/O-1/cancel", Some(json!({})))
        .await;
    let cancelled_at = order["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .map(|e| e["at"].clone())
        .unwrap_or(Value::Null);

    let list = node.ok(Method::GET, "/v1/putbacks", None).await;
    let totes = list["data"].as_array().expect("list");
    assert_eq!(totes.len(), 1, "{list}");
    let tote = &totes[0];
    assert_eq!(tote["tote"], "T-1");
    assert_eq!(tote["units"], 2);
    assert_eq!(tote["since"], cancelled_at, "{list}");
    assert!(tote["age_s"].as_u64().is_some(), "{list}");
    assert_eq!(
        tote["items"],
        json!([{"order_id": "O-1", "line_id": "1", "tenant_id": "acme", "sku": "SKU-1",
                "lot": null, "qty": 2, "location": "A-01", "reason": "cancelled",
                "since": cancelled_at}])
    );
    assert_eq!(list["pagination"]["has_more"], false);
    let (status, _) = node.call(Method::GET, "/v1/putbacks", PICKER, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    node.good("handheld-1", "EMP:B-100").await;
    node.good("handheld-1", "TOTE:T-1").await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", "QTY:2").await;
    node.good("handheld-1", ITEM).await;
    let list = node.ok(Method::GET, "/v1/putbacks", None).await;
    assert_eq!(list["data"], json!([]), "{list}");
    node.shutdown().await;
}

/// An order a short pick left in `exception` waits for stock like a backorder: the unit found is
/// in the tote, and when stock of the sku is put away to a pick face the missing unit is reserved
/// again, the order is `allocated`, and the next pick completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_in_exception_waiting_for_stock_is_reallocated_when_stock_arrives() {
    let node = start().await;
    node.ok(
        Method::PUT,
        "/v1/locations/RCV",
        Some(json!({"zone": "R", "pick_sequence": 0, "kind": "receiving"})),
    )
    .await;
    start_tote(&node).await;
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", ITEM).await; // one of two found
    node.good("handheld-1", "CMD:SHORT").await;
    node.good("handheld-1", "CMD:DONE").await;
    node.good("handheld-1", "CMD:LOGOUT").await;
    assert_eq!(node.status("O-1").await, "exception");
    assert_eq!(
        node.int("SELECT count(*) FROM reservations WHERE order_id = 'O-1'"),
        0
    );

    // Stock in receiving is not for picking: the order keeps waiting.
    node.good("handheld-3", "EMP:B-100").await;
    node.good("handheld-3", "QTY:4").await;
    node.good("handheld-3", ITEM).await;
    node.good("handheld-3", "CMD:DONE").await;
    assert_eq!(node.status("O-1").await, "exception");
    // Put away to the pick face: the missing unit is reserved there.
    node.good("handheld-3", "LOC:RCV").await;
    node.good("handheld-3", "QTY:4").await;
    node.good("handheld-3", ITEM).await;
    node.good("handheld-3", "LOC:A-01").await;
    assert_eq!(node.status("O-1").await, "allocated");
    assert_eq!(
        node.int("SELECT qty FROM reservations WHERE order_id = 'O-1' AND location = 'A-01'"),
        1
    );
    let order = node.ok(Method::GET, "/v1/orders/O-1", None).await;
    let last = order["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (last["from"].clone(), last["to"].clone()),
        (json!("exception"), json!("allocated")),
        "{order}"
    );
    assert_eq!(
        node.int(
            "SELECT count(*) FROM outbox WHERE type = 'order.status_changed'
             AND json_extract(body, '$.data.from') = 'exception'
             AND json_extract(body, '$.data.to') = 'allocated'"
        ),
        1
    );

    // The next pick takes the missing unit into another tote; the order is then picked.
    node.good("handheld-1", "EMP:B-100").await;
    let v = node.good("handheld-1", "TOTE:T-2").await;
    assert_eq!(v["context"]["task"]["order_id"], "O-1", "{v}");
    assert_eq!(v["context"]["task"]["qty"], 1, "{v}");
    node.good("handheld-1", "LOC:A-01").await;
    node.good("handheld-1", ITEM).await;
    node.good("handheld-1", "CMD:DONE").await;
    assert_eq!(node.status("O-1").await, "picked");
    assert_eq!(
        node.int("SELECT sum(qty) FROM tote_contents WHERE order_id = 'O-1'"),
        2
    );
    node.shutdown().await;
}
