//! The edge side of sync end to end: a real node (SQLite file, HTTP on loopback) talking to the
//! fault-injecting central simulator of `wms_sync` on loopback. Push (exactly once, per-aggregate
//! order), pull (orders, holds, cancels, conflicts), the doorbell webhook, dead letters and a long
//! outage drained through the real outbox.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_edge::store::sync::SyncStore;
use wms_edge::store::{base::outbox, Store, StoreOptions};
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};
use wms_sync::wire::{Change, ChangeRecord, RawChange};
use wms_sync::{ChangeSink, SyncConfig};

const SITE: &str = "wh-sync";
const ADMIN: &str = "sync-test-admin-key";
const SUPERVISOR: &str = "sync-test-supervisor-key";
const HOOK_SECRET: &str = "doorbell-secret";
const DEADLINE: Duration = Duration::from_secs(60);

struct Node {
    base: String,
    http: Client,
    db: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn sim_config(faults: Faults, seed: u64) -> SimConfig {
    let mut c = SimConfig::new(SITE);
    c.faults = faults;
    c.seed = seed;
    c
}

fn node_toml(dir: &Path, central_url: Option<&str>) -> String {
    let mut t = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n\
         [[api_keys]]\nname = \"sup\"\nrole = \"supervisor\"\nkey = \"{SUPERVISOR}\"\n\
         [log]\nlevel = \"warn\"\n",
        dir.join("data").display()
    );
    if let Some(url) = central_url {
        t.push_str(&format!(
            "[central]\nurl = \"{url}\"\napi_key = \"test-key\"\nsigning_secret = \"test-signing-secret\"\n\
             webhook_secret = \"{HOOK_SECRET}\"\nretry_base_ms = 5\nretry_cap_ms = 100\nrequest_timeout_ms = 400\n"
        ));
    }
    t
}

async fn start_node(central_url: Option<&str>) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = start_node_in(dir.path(), central_url).await;
    node._dir = Some(dir);
    node
}

/// A node whose config file and data live in `dir` (restarts keep the database).
async fn start_node_in(dir: &Path, central_url: Option<&str>) -> Node {
    let text = node_toml(dir, central_url);
    std::fs::write(dir.join("edge.toml"), &text).expect("config file");
    let cfg = wms_edge::config::parse("sync-test.toml", &text).expect("config");
    let db = cfg.db_path();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stop_rx.await;
        };
        wms_edge::node::serve(cfg, shutdown, move |a| {
            let _ = addr_tx.send(a);
        })
        .await
        .expect("serve");
        let _ = done_tx.send(());
    });
    let addr = addr_rx.await.expect("listening");
    Node {
        base: format!("http://{addr}"),
        http: Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        db,
        stop: Some(stop_tx),
        done: Some(done_rx),
        _dir: None,
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
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, ADMIN, body).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    async fn status(&self) -> Value {
        self.call(Method::GET, "/v1/sync/status", SUPERVISOR, None)
            .await
            .1
    }

    /// Stops the node and waits until it has shut down (sync loops included).
    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = tokio::time::timeout(DEADLINE, d).await;
        }
    }

    async fn catalog(&self, skus: &[&str]) {
        for sku in skus {
            self.ok(
                Method::PUT,
                &format!("/v1/products/acme/{sku}"),
                Some(json!({"name": sku})),
            )
            .await;
        }
        self.ok(
            Method::PUT,
            "/v1/locations/A-01",
            Some(json!({"pick_sequence": 1})),
        )
        .await;
    }

    async fn adjust(&self, sku: &str, delta: i64) {
        self.ok(
            Method::POST,
            "/v1/inventory/adjustments",
            Some(json!({"tenant_id": "acme", "sku": sku, "location": "A-01", "delta": delta, "reason": "received"})),
        )
        .await;
    }
}

/// Polls `f` until it holds or the deadline passes; returns whether it held.
async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn local_highest_seq(db: &Path) -> u64 {
    let c = rusqlite::Connection::open(db).expect("open db");
    c.busy_timeout(Duration::from_secs(5)).expect("busy");
    c.query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("max seq") as u64
}

/// Every applied id once, seqs 1..=n without a gap, and per-aggregate order kept.
fn assert_exactly_once(sim: &CentralSim, n: u64) {
    let applied = sim.applied();
    let ids: HashSet<&str> = applied.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), applied.len(), "an event was applied twice");
    let mut seqs: Vec<u64> = applied.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "applied seqs are not 1..={n}"
    );
    for a in &applied {
        assert_eq!(a.id, format!("{SITE}:{:012}", a.seq));
    }
    let mut last: HashMap<&str, u64> = HashMap::new();
    for a in &applied {
        let prev = last.insert(a.aggregate.as_str(), a.seq).unwrap_or(0);
        assert!(prev < a.seq, "{} applied out of order", a.aggregate);
    }
    assert_eq!(sim.stats().order_violations, 0);
}

/// (a) Events committed through the API reach the central exactly once, in per-aggregate order,
/// while about 30% of the requests fail (5xx, 429, hangs, resets, lost answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_events_reach_the_central_exactly_once_under_faults() {
    let sim = CentralSim::start(sim_config(
        Faults::chaos(0.06, Duration::from_millis(600)),
        7,
    ))
    .await
    .expect("sim");
    let node = Arc::new(start_node(Some(&sim.url())).await);
    let skus = ["SKU-1", "SKU-2", "SKU-3", "SKU-4"];
    node.catalog(&skus).await;
    let mut tasks = Vec::new();
    for c in 0..6usize {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..30usize {
                node.adjust(skus[(c + i) % 4], 1).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    // A few order aggregates too: accept (2 events each), hold, release.
    for o in 0..3 {
        let id = format!("O-{o}");
        node.ok(
            Method::POST,
            "/v1/orders",
            Some(json!({"id": id, "tenant_id": "acme",
            "lines": [{"line_id": "1", "sku": "SKU-1", "qty": 1}]})),
        )
        .await;
        node.ok(
            Method::POST,
            &format!("/v1/orders/{id}/hold"),
            Some(json!({"reason": "check"})),
        )
        .await;
        node.ok(
            Method::POST,
            &format!("/v1/orders/{id}/release"),
            Some(json!({})),
        )
        .await;
    }
    let n = local_highest_seq(&node.db);
    assert!(n >= 180 + 3 * 5, "{n} events");
    let drained = eventually(DEADLINE, || async {
        let s = node.status().await;
        s["queue_depth"] == 0 && sim.acked_through() >= n
    })
    .await;
    assert!(
        drained,
        "not drained: {} {:?}",
        node.status().await,
        sim.stats()
    );
    assert_exactly_once(&sim, n);
    let faults: u64 = sim.stats().faults.values().sum();
    assert!(faults > 0, "no faults were injected");
    // The central's stock per (tenant, sku, location, lot), booked in its database from the
    // applied events, equals the edge's.
    type Key = (String, String, String, String);
    let central: HashMap<Key, i64> = sim
        .stock()
        .into_iter()
        .filter(|s| s.on_hand != 0)
        .map(|s| ((s.tenant_id, s.sku, s.location, s.lot), s.on_hand))
        .collect();
    let inv = node
        .ok(Method::GET, "/v1/inventory?tenant_id=acme&limit=200", None)
        .await;
    assert!(inv["pagination"]["has_more"] != true, "{inv}");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let edge: HashMap<Key, i64> = inv["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["on_hand"].as_i64() != Some(0))
        .map(|r| {
            (
                (
                    text(&r["tenant_id"]),
                    text(&r["sku"]),
                    text(&r["location"]),
                    text(&r["lot"]),
                ),
                r["on_hand"].as_i64().expect("on_hand"),
            )
        })
        .collect();
    assert!(!central.is_empty(), "the central booked no stock");
    assert_eq!(central, edge, "central stock differs from the edge's");
    // Faults off: the state settles on online (pulls and pushes flip it while faults run).
    sim.set_faults(Faults::none());
    let online = eventually(DEADLINE, || async {
        node.status().await["state"] == "online"
    })
    .await;
    let s = node.status().await;
    assert!(online, "{s}");
    assert!(s["last_success_at"].is_string(), "{s}");
    let (_, health) = node.call(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(health["services"]["sync"], "online");
    let (_, metrics) = node.call(Method::GET, "/metrics", ADMIN, None).await;
    let text = metrics.as_str().unwrap_or_default();
    assert!(text.contains("wms_edge_sync_events_done_total"), "{text}");
    assert!(
        text.contains("wms_edge_sync_state{state=\"online\"} 1"),
        "{text}"
    );
    Arc::try_unwrap(node)
        .ok()
        .expect("one owner")
        .shutdown()
        .await;
    sim.shutdown().await;
}

fn order_object(id: &str, version: u64, qty: i64) -> Value {
    json!({"id": id, "tenant_id": "acme", "channel": "web", "created_at": "2026-11-22T08:00:00.000Z",
           "ship_by": "2026-11-22T17:00:00.000Z", "priority": "standard",
           "shipping": {"carrier": "ups", "service": "ground"},
           "ship_to": {"name": "Ada", "company": null, "street1": "1 Main St", "street2": null, "city": "Springfield",
                       "region": "IL", "postal_code": "62701", "country": "US", "phone": null},
           "lines": [{"line_id": "1", "sku": "SKU-1", "qty": qty}], "notes": null, "gift_message": null,
           "branding": null, "version": version})
}

async fn order(node: &Node, id: &str) -> Option<Value> {
    let (s, v) = node
        .call(Method::GET, &format!("/v1/orders/{id}"), ADMIN, None)
        .await;
    (s == StatusCode::OK).then_some(v)
}

async fn wait_order(node: &Node, id: &str, status: &str) -> Value {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let o = order(node, id).await;
        if let Some(o) = &o {
            if o["status"] == status {
                return o.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < end,
            "order {id} never reached {status}: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (c) Down-sync through the real pull loop: an order from the central is accepted with stock
/// reserved; hold then cancel follow the local state machine; a cancel after shipment becomes an
/// upstream `order.exception` `conflict`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_from_the_central_are_accepted_held_cancelled_and_conflicts_reported() {
    let sim = CentralSim::start(sim_config(Faults::none(), 3))
        .await
        .expect("sim");
    let node = start_node(Some(&sim.url())).await;
    sim.push_change("product.upsert", json!({"tenant_id": "acme", "sku": "SKU-1", "name": "Shirt",
        "barcodes": ["00012345600012"], "weight": {"value": "0.250", "unit": "kg"}, "dimensions": null,
        "tracking": "none", "price": {"amount": 1999, "currency": "USD"}, "price_tiers": [], "tax_code": null, "version": 1}));
    sim.push_change(
        "location.upsert",
        json!({"code": "A-01", "zone": "A", "pick_sequence": 1, "kind": "pick", "version": 1}),
    );
    let synced = eventually(DEADLINE, || async {
        node.call(Method::GET, "/v1/locations/A-01", ADMIN, None)
            .await
            .0
            == StatusCode::OK
    })
    .await;
    assert!(synced, "catalog never arrived");
    node.adjust("SKU-1", 10).await;

    sim.push_change("order.upsert", order_object("O-100", 1, 3));
    let o = wait_order(&node, "O-100", "allocated").await;
    assert_eq!(o["lines"][0]["reserved"], 3, "{o}");
    assert_eq!(o["version"], 1);
    let inv = node
        .ok(Method::GET, "/v1/inventory?tenant_id=acme", None)
        .await;
    assert_eq!(inv["data"][0]["reserved"], 3, "{inv}");

    sim.push_change(
        "order.hold",
        json!({"id": "O-100", "reason": "fraud check", "version": 2}),
    );
    wait_order(&node, "O-100", "on_hold").await;
    sim.push_change(
        "order.cancel",
        json!({"id": "O-100", "reason": "customer", "version": 3}),
    );
    let o = wait_order(&node, "O-100", "cancelled").await;
    assert_eq!(o["lines"][0]["reserved"], 0, "{o}");
    // A stale hold (version 2 again) changes nothing.
    sim.push_change(
        "order.hold",
        json!({"id": "O-100", "reason": "late", "version": 2}),
    );

    sim.push_change("order.upsert", order_object("O-200", 1, 1));
    wait_order(&node, "O-200", "allocated").await;
    {
        let db = node.db.clone();
        tokio::task::spawn_blocking(move || {
            let c = rusqlite::Connection::open(db).expect("db");
            c.busy_timeout(Duration::from_secs(5)).expect("busy");
            c.execute(
                "UPDATE orders SET status = 'shipped' WHERE id = 'O-200'",
                [],
            )
            .expect("ship");
        })
        .await
        .expect("ship task");
    }
    sim.push_change(
        "order.cancel",
        json!({"id": "O-200", "reason": "too late", "version": 2}),
    );
    let conflict = eventually(DEADLINE, || async {
        sim.applied()
            .iter()
            .any(|a| a.kind == "order.exception" && a.aggregate == "order:O-200")
    })
    .await;
    assert!(conflict, "no order.exception reached the central");
    let o = order(&node, "O-200").await.expect("O-200");
    assert_eq!(o["status"], "shipped");
    let body: String = {
        let db = node.db.clone();
        tokio::task::spawn_blocking(move || {
            let c = rusqlite::Connection::open(db).expect("db");
            c.query_row(
                "SELECT body FROM outbox WHERE type = 'order.exception'",
                [],
                |r| r.get(0),
            )
            .expect("exception event")
        })
        .await
        .expect("read task")
    };
    let ev: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ev["data"]["code"], "conflict");
    assert_eq!(ev["data"]["order_id"], "O-200");
    let o100 = order(&node, "O-100").await.expect("O-100");
    assert_eq!(
        o100["status"], "cancelled",
        "the stale hold must be ignored"
    );
    // SSCC and receipt blocks were leased ahead, without asking.
    let leased = eventually(DEADLINE, || async {
        let s = node.status().await;
        let kinds = s["id_blocks"].as_array().cloned().unwrap_or_default();
        ["sscc", "receipt"].iter().all(|k| {
            kinds.iter().any(|b| {
                b["kind"] == *k
                    && b["remaining"].as_u64().unwrap_or(0) > 0
                    && b["exhausted"] == false
            })
        })
    })
    .await;
    assert!(leased, "{} / {:?}", node.status().await, sim.grants());
    // Changes are audited with the central as the actor.
    let audit = node
        .ok(Method::GET, "/v1/audit?api_key=central&limit=200", None)
        .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "product.create",
        "location.create",
        "order.accept",
        "order.hold",
        "order.cancel",
        "order.sync_conflict",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    node.shutdown().await;
    sim.shutdown().await;
}

fn record(id: u64, kind: &str, object: Value) -> ChangeRecord {
    Change::from_raw(RawChange {
        change_id: id,
        kind: kind.into(),
        object,
    })
}

async fn store_in(dir: &Path) -> (Store, SyncStore) {
    let path = dir.join("edge.db");
    let store = tokio::task::spawn_blocking(move || Store::open(&path, StoreOptions::default()))
        .await
        .expect("open task")
        .expect("store");
    (store.clone(), SyncStore::new(store, SITE))
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    store
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .await
        .expect(sql)
}

/// (c) Replaying a page changes nothing; address changes follow the label rule; unknown and
/// refused changes are kept and skipped without blocking the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_page_is_idempotent_and_address_changes_follow_the_label_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, sink) = store_in(dir.path()).await;
    let page = vec![
        record(
            1,
            "product.upsert",
            json!({"tenant_id": "acme", "sku": "SKU-1", "name": "Shirt", "tracking": "none", "version": 1}),
        ),
        record(
            2,
            "location.upsert",
            json!({"code": "A-01", "zone": null, "pick_sequence": 1, "kind": "pick", "version": 1}),
        ),
        record(
            3,
            "user.upsert",
            json!({"id": "u1", "tenant_id": null, "name": "Ann", "badge": "B1",
            "pin_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "roles": ["picker"], "active": true, "version": 4}),
        ),
        record(4, "order.upsert", order_object("O-1", 1, 1)),
        record(5, "order.upsert", order_object("O-2", 1, 1)),
        record(
            6,
            "id_block.granted",
            json!({"kind": "sscc", "prefix": "0614141", "first": 1, "last": 1000}),
        ),
        record(
            7,
            "order.upsert",
            json!({"id": "O-3", "tenant_id": "acme", "priority": "standard",
            "lines": [{"line_id": "1", "sku": "NOPE", "qty": 1}], "version": 1}),
        ),
        record(8, "warehouse.teleport", json!({"x": 1})),
    ];
    sink.apply_changes(page.clone(), "c8".into())
        .await
        .expect("apply");
    let tables =
        "SELECT (SELECT count(*) FROM outbox) * 1000000 + (SELECT count(*) FROM audit) * 1000
                  + (SELECT count(*) FROM sync_skipped_changes)";
    let before = count(&store, tables).await;
    assert_eq!(
        count(&store, "SELECT count(*) FROM sync_skipped_changes").await,
        2
    );
    assert_eq!(count(&store, "SELECT count(*) FROM orders").await, 2);
    assert_eq!(
        count(&store, "SELECT version FROM users WHERE id = 'u1'").await,
        4
    );
    sink.apply_changes(page, "c8".into()).await.expect("replay");
    // Replay: the versioned changes are ignored; only the two refused ones are noted again.
    let after = count(&store, tables).await;
    assert_eq!(
        after - before,
        1000 * 2 + 2,
        "replay changed more than the skip log"
    );
    assert_eq!(sink.cursor().await.expect("cursor").as_deref(), Some("c8"));

    // O-1: no label yet, the address is just replaced.
    let mut to = order_object("O-1", 1, 1)["ship_to"].clone();
    to["street1"] = json!("2 New Rd");
    sink.apply_changes(
        vec![record(
            9,
            "order.address_changed",
            json!({"id": "O-1", "ship_to": to, "version": 2}),
        )],
        "c9".into(),
    )
    .await
    .expect("address");
    let o1: String = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT status || ' ' || ship_to FROM orders WHERE id = 'O-1'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("o1");
    assert!(
        o1.starts_with("received ") || o1.starts_with("backordered "),
        "{o1}"
    );
    assert!(o1.contains("2 New Rd"), "{o1}");
    // O-2: label printed, so the change sends the order to exception and reports it.
    store
        .write(|c| {
            Ok(c.execute(
                "UPDATE orders SET label_printed_at = '2026-11-22T09:00:00.000Z' WHERE id = 'O-2'",
                [],
            )?)
        })
        .await
        .expect("label");
    sink.apply_changes(
        vec![record(
            10,
            "order.address_changed",
            json!({"id": "O-2", "ship_to": to, "version": 2}),
        )],
        "c10".into(),
    )
    .await
    .expect("address after label");
    let o2: String = store
        .read(|c| {
            Ok(
                c.query_row("SELECT status FROM orders WHERE id = 'O-2'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("o2");
    assert_eq!(o2, "exception");
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM outbox WHERE type = 'order.exception'"
        )
        .await,
        1
    );
    // A stale address change (version 2 again) is ignored.
    let n = count(&store, "SELECT count(*) FROM audit").await;
    sink.apply_changes(
        vec![record(
            11,
            "order.address_changed",
            json!({"id": "O-2", "ship_to": to, "version": 2}),
        )],
        "c11".into(),
    )
    .await
    .expect("stale");
    assert_eq!(count(&store, "SELECT count(*) FROM audit").await, n);
    // The granted block is usable and a replayed grant is a no-op.
    let id = store
        .write(|c| wms_edge::store::base::ids::take_id(c, "sscc"))
        .await
        .expect("take");
    assert_eq!(id.serial, 1);
}

fn sign(body: &str) -> String {
    wms_sync::sign::sign_webhook(HOOK_SECRET.as_bytes(), body.as_bytes()).expect("sign")
}

/// (d) The doorbell: 204 with a good signature, 401 with the error object otherwise, 404 without
/// a central.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_checks_its_signature() {
    let sim = CentralSim::start(sim_config(Faults::none(), 5))
        .await
        .expect("sim");
    let node = start_node(Some(&sim.url())).await;
    let body = json!({"type": "changes.available", "site_id": SITE}).to_string();
    let url = format!("{}/v1/sync/webhook", node.base);
    let good = node
        .http
        .post(&url)
        .header("x-webhook-signature", sign(&body))
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(good.status(), StatusCode::NO_CONTENT);
    for sig in [Some(sign("{}")), Some("zz".to_string()), None] {
        let mut req = node.http.post(&url).body(body.clone());
        if let Some(s) = sig {
            req = req.header("x-webhook-signature", s);
        }
        let r = req.send().await.expect("post");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.expect("error object");
        assert_eq!(v["error"]["code"], "authentication_error", "{v}");
    }
    let plain = start_node(None).await;
    let r = plain
        .http
        .post(format!("{}/v1/sync/webhook", plain.base))
        .header("x-webhook-signature", sign(&body))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let s = plain.status().await;
    assert_eq!(s["state"], "disabled", "{s}");
    let (_, h) = plain.call(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(h["services"]["sync"], "disabled");
    node.shutdown().await;
    plain.shutdown().await;
    sim.shutdown().await;
}

/// (e) A rejected event is listed, holds back only its own aggregate, and is retried or discarded
/// by a supervisor with an audit entry that also travels upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_hold_back_only_their_aggregate_and_are_resolved_with_audit() {
    let sim = CentralSim::start(sim_config(Faults::none(), 11))
        .await
        .expect("sim");
    sim.set_reject_skus(&["BAD", "WORSE"]);
    let node = start_node(Some(&sim.url())).await;
    node.catalog(&["SKU-1", "BAD", "WORSE"]).await;
    node.adjust("BAD", 5).await;
    let dead = eventually(DEADLINE, || async {
        node.status().await["dead_letters"] == 1
    })
    .await;
    assert!(dead, "{}", node.status().await);
    node.adjust("BAD", 2).await; // held back behind the dead letter
    node.adjust("SKU-1", 1).await; // another aggregate: goes through
    let other = eventually(DEADLINE, || async {
        sim.applied()
            .iter()
            .any(|a| a.sku_delta.as_ref().is_some_and(|(s, _)| s == "SKU-1"))
    })
    .await;
    assert!(other, "the other aggregate was held back too");
    assert!(!sim
        .applied()
        .iter()
        .any(|a| a.sku_delta.as_ref().is_some_and(|(s, _)| s == "BAD")));
    let (s, list) = node
        .call(Method::GET, "/v1/sync/dead-letters", SUPERVISOR, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let letters = list["data"].as_array().expect("list");
    assert_eq!(letters.len(), 1, "{list}");
    assert_eq!(letters[0]["code"], "validation_error");
    assert_eq!(letters[0]["aggregate"], "stock:acme/BAD/A-01/");
    let id = letters[0]["id"].as_str().expect("id").to_string();
    // The central has the SKU-1 event; once its result is recorded, dead + held remain.
    let depth = eventually(DEADLINE, || async {
        node.status().await["queue_depth"] == 2
    })
    .await;
    assert!(depth, "dead + held: {}", node.status().await);
    // An unknown id is 404.
    let (s, _) = node
        .call(
            Method::POST,
            "/v1/sync/dead-letters/nope/retry",
            SUPERVISOR,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    sim.set_reject_skus(&["WORSE"]);
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/sync/dead-letters/{id}/retry"),
            SUPERVISOR,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["resolution"], "retried");
    let both = eventually(DEADLINE, || async {
        sim.applied()
            .iter()
            .filter(|a| a.aggregate == "stock:acme/BAD/A-01/")
            .count()
            == 2
    })
    .await;
    assert!(both, "retried event and the held one did not arrive");
    let bad: Vec<u64> = sim
        .applied()
        .iter()
        .filter(|a| a.aggregate == "stock:acme/BAD/A-01/")
        .map(|a| a.seq)
        .collect();
    assert!(
        bad[0] < bad[1],
        "held event overtook the retried one: {bad:?}"
    );

    // Discard: the event is never sent, its aggregate is released.
    node.adjust("WORSE", 1).await;
    let dead = eventually(DEADLINE, || async {
        node.status().await["dead_letters"] == 1
    })
    .await;
    assert!(dead);
    node.adjust("WORSE", 3).await;
    let (_, list) = node
        .call(Method::GET, "/v1/sync/dead-letters", SUPERVISOR, None)
        .await;
    let id2 = list["data"][0]["id"].as_str().expect("id").to_string();
    sim.set_reject_skus(&[]);
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/sync/dead-letters/{id2}/discard"),
            SUPERVISOR,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = node
        .call(
            Method::POST,
            &format!("/v1/sync/dead-letters/{id2}/discard"),
            SUPERVISOR,
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a closed dead letter cannot be discarded twice"
    );
    let drained = eventually(DEADLINE, || async {
        let s = node.status().await;
        s["queue_depth"] == 0 && s["dead_letters"] == 0
    })
    .await;
    assert!(drained, "{}", node.status().await);
    let worse: Vec<(String, i64)> = sim
        .applied()
        .iter()
        .filter_map(|a| a.sku_delta.clone())
        .filter(|(s, _)| s == "WORSE")
        .collect();
    assert_eq!(
        worse,
        vec![("WORSE".to_string(), 3)],
        "the discarded event must never arrive"
    );
    // Audited locally and upstream.
    for action in ["sync.dead_letter.retry", "sync.dead_letter.discard"] {
        let a = node
            .ok(Method::GET, &format!("/v1/audit?action={action}"), None)
            .await;
        let rows = a["data"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{action}: {a}");
        assert_eq!(rows[0]["actor"]["api_key"], "sup");
    }
    let upstream = sim
        .applied()
        .iter()
        .filter(|a| a.kind == "audit.recorded")
        .count();
    assert_eq!(upstream, 2);
    assert_exactly_once_ids(&sim);
    node.shutdown().await;
    sim.shutdown().await;
}

fn assert_exactly_once_ids(sim: &CentralSim) {
    let applied = sim.applied();
    let ids: HashSet<&str> = applied.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), applied.len());
    assert_eq!(sim.stats().order_violations, 0);
}

/// Resident set size of this process, from `/proc/self/status` (`None` where there is none).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// Samples [`rss_bytes`] every few milliseconds on its own thread and keeps the peak.
struct RssPeak {
    peak: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssPeak {
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peak = Arc::new(AtomicU64::new(rss_bytes().unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(r) = rss_bytes() {
                    p.fetch_max(r, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssPeak {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

const OUTAGE_CHILD: &str = "WMS_OUTAGE_CHILD";

/// (f) A long outage: N events (`WMS_OUTAGE_EVENTS`, default 50000) queue in the real SQLite
/// outbox while the central is unreachable, then drain fully once it is back, and the process's
/// memory stays bounded while they do: the RSS growth from the start of the drain to its peak
/// stays under a fixed 24 MiB (measured: about 10 MiB for 20k and for 100k events), while the
/// queued bodies alone are about 16 MiB at the default count, so a pump that held the queue in
/// memory would fail. The test re-runs itself in a child process so the RSS it
/// measures is its own, not that of the tests running beside it in this binary. It runs on the
/// system allocator (the library sets none): under the shipped binary's mimalloc the growth is a
/// larger fixed cost of per-thread pages, 27-43 MiB measured, the same at 20k and at 100k events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_drains_fully_through_the_sqlite_outbox() {
    if std::env::var_os(OUTAGE_CHILD).is_none() {
        let exe = std::env::current_exe().expect("test binary");
        let out = tokio::process::Command::new(exe)
            .args([
                "--exact",
                "a_long_outage_drains_fully_through_the_sqlite_outbox",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(OUTAGE_CHILD, "1")
            .output()
            .await
            .expect("run the outage test in a child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        print!("{stdout}");
        assert!(
            out.status.success(),
            "outage child failed: {}\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.contains("edge-sync drain:") && stdout.contains("1 passed"),
            "the child did not run the test: {stdout}"
        );
        return;
    }
    let n: u64 = std::env::var("WMS_OUTAGE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    // A port with nobody listening: the central is down.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, sink) = store_in(dir.path()).await;
    let mut sc = SyncConfig::new(wms_sync::Credentials {
        central_url: format!("http://{addr}/v2"),
        site_id: SITE.into(),
        api_key: "test-key".into(),
        signing_secret: b"test-signing-secret".to_vec(),
    });
    sc.pull = false;
    sc.id_blocks = false;
    sc.timings.backoff_base = Duration::from_millis(5);
    sc.timings.backoff_cap = Duration::from_millis(50);
    sc.timings.idle_poll = Duration::from_millis(50);
    let handle = wms_sync::start(sc, Arc::new(sink)).expect("start");
    let skus = 50u64;
    let mut queued = 0u64;
    while queued < n {
        let take = (n - queued).min(2000);
        store
            .write(move |c| {
                let actor = wms_edge::domain::Actor::default();
                let now = wms_edge::domain::time::now();
                for i in queued..queued + take {
                    let sku = format!("SKU-{}", i % skus);
                    outbox::append(c, SITE, outbox::NewEvent {
                        kind: "inventory.adjusted",
                        aggregate_type: "stock",
                        aggregate_id: format!("acme/{sku}/A-01/"),
                        occurred_at: &now,
                        actor: &actor,
                        data: json!({"tenant_id": "acme", "sku": sku, "location": "A-01", "lot": null,
                                     "delta": 1, "reason": "received", "ref": {}, "on_hand_after": i / skus + 1}),
                    })?;
                }
                Ok(())
            })
            .await
            .expect("queue");
        queued += take;
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM outbox WHERE state = 'pending'"
        )
        .await as u64,
        n
    );
    // The simulator keeps its state in a file here: its in-memory SQLite would grow with every
    // applied id and be counted in this process's memory.
    let mut sim_cfg = sim_config(Faults::none(), 13);
    sim_cfg.db_path = Some(dir.path().join("central.db"));
    let sim = CentralSim::start_on(addr, sim_cfg)
        .await
        .expect("sim on the old port");
    let body_bytes = count(&store, "SELECT sum(length(body)) FROM outbox").await as u64;
    let rss_before = rss_bytes();
    let peak = RssPeak::start();
    let t0 = Instant::now();
    handle.events_committed();
    let limit = Duration::from_secs(60 + n / 1000);
    let drained = eventually(limit, || async { sim.acked_through() >= n }).await;
    let took = t0.elapsed();
    let peak = peak.finish();
    assert!(drained, "drained only {} of {n}", sim.acked_through());
    let done = eventually(DEADLINE, || async {
        count(
            &store,
            "SELECT count(*) FROM outbox WHERE state = 'pending'",
        )
        .await
            == 0
    })
    .await;
    assert!(done, "the outbox still has pending rows");
    assert_exactly_once(&sim, n);
    println!(
        "edge-sync drain: {n} events in {:.2}s ({:.0} events/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    if let Some(before) = rss_before {
        let growth = peak.saturating_sub(before);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!(
            "edge-sync drain RSS: {:.1} MiB before, {:.1} MiB peak, growth {:.1} MiB; queued bodies {:.1} MiB",
            mib(before),
            mib(peak),
            mib(growth),
            mib(body_bytes)
        );
        // Fixed costs only: SQLite page caches (writer, readers, the simulator's), HTTP buffers,
        // one page and one frozen batch. A pump holding the queue would add at least its bodies.
        let bound: u64 = 24 << 20;
        assert!(
            growth < bound,
            "RSS grew by {:.1} MiB while draining {n} events ({:.1} MiB of bodies)",
            mib(growth),
            mib(body_bytes)
        );
    }
    handle.shutdown().await;
    sim.shutdown().await;
}

/// `diverged` and its recovery: a central that has seen more than this database ever assigned
/// stops pushing (health degraded); `wms-edge sync reset-sequence` renumbers the events committed
/// since past the central's mark, and the restarted node drains them under fresh ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_is_detected_and_reset_sequence_recovers() {
    let sim = CentralSim::start(sim_config(Faults::none(), 17))
        .await
        .expect("sim");
    sim.force_acked_through(50);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_node_in(dir.path(), Some(&sim.url())).await;
    let db = node.db.clone();
    let marked = eventually(DEADLINE, || {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let c = rusqlite::Connection::open(db).ok()?;
                c.query_row(
                    "SELECT value FROM sync_state WHERE key = 'diverged_at_seq'",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .ok()
            })
            .await
            .ok()
            .flatten()
            .is_some()
        }
    })
    .await;
    assert!(marked, "divergence never recorded: {}", node.status().await);
    let s = node.status().await;
    assert_eq!(s["state"], "diverged", "{s}");
    let (_, h) = node.call(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(h["status"], "degraded", "{h}");
    node.catalog(&["SKU-1"]).await;
    for _ in 0..3 {
        node.adjust("SKU-1", 1).await;
    }
    assert_eq!(sim.applied_count(), 0, "a diverged node must not push");
    node.shutdown().await;

    let out = tokio::task::spawn_blocking({
        let cfg = dir.path().join("edge.toml");
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_wms-edge"))
                .args(["sync", "reset-sequence", "--config"])
                .arg(cfg)
                .output()
                .expect("run reset-sequence")
        }
    })
    .await
    .expect("cli task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("renumbered 3 events; highest seq is now 53"),
        "{stdout}"
    );

    let node = start_node_in(dir.path(), Some(&sim.url())).await;
    let drained = eventually(DEADLINE, || async { sim.applied_count() == 3 }).await;
    assert!(drained, "{}", node.status().await);
    let seqs: Vec<u64> = sim.applied().iter().map(|a| a.seq).collect();
    assert_eq!(seqs, vec![51, 52, 53]);
    let online = eventually(DEADLINE, || async {
        node.status().await["state"] == "online"
    })
    .await;
    assert!(online, "{}", node.status().await);
    let a = node
        .ok(Method::GET, "/v1/audit?action=sync.reset_sequence", None)
        .await;
    assert_eq!(a["data"].as_array().map(Vec::len), Some(1), "{a}");
    node.adjust("SKU-1", 1).await;
    let next = eventually(DEADLINE, || async {
        sim.applied().iter().any(|a| a.seq == 54)
    })
    .await;
    assert!(next, "the counter did not move past the central's mark");
    node.shutdown().await;
    sim.shutdown().await;
}

/// A rejected key turns sync `unauthorized`: published on `/v1/events` as `sync.state`, and
/// `/health` reports `degraded` (an operator must act), while local work goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_is_published_and_degrades_health() {
    let sim = CentralSim::start(sim_config(Faults::none(), 19))
        .await
        .expect("sim");
    let node = start_node(Some(&sim.url())).await;
    node.catalog(&["SKU-1"]).await;
    let online = eventually(DEADLINE, || async {
        node.status().await["state"] == "online"
    })
    .await;
    assert!(online, "{}", node.status().await);
    let mut stream = node
        .http
        .get(format!("{}/v1/events?types=sync.state", node.base))
        .bearer_auth(SUPERVISOR)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    sim.set_api_key("a-key-the-site-does-not-have");
    node.adjust("SKU-1", 1).await;
    let end = tokio::time::Instant::now() + DEADLINE;
    let mut buf = String::new();
    while !buf.contains("\"state\":\"unauthorized\"") {
        let chunk = tokio::time::timeout_at(end, stream.chunk())
            .await
            .expect("no sync.state event in time")
            .expect("stream")
            .expect("stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(buf.contains("event: sync.state"), "{buf}");
    let (_, h) = node.call(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["services"]["sync"], "unauthorized", "{h}");
    assert!(
        h["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "sync unauthorized")),
        "{h}"
    );
    let s = node.status().await;
    assert_eq!(s["queue_depth"], 1, "the event waits locally: {s}");
    drop(stream);
    node.shutdown().await;
    sim.shutdown().await;
}

async fn metrics_text(node: &Node) -> String {
    let r = node
        .http
        .get(format!("{}/metrics", node.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.expect("metrics text")
}

/// An ID kind with no serials left is an alert, not a quiet gap: while no central has granted a
/// block, `/health` is `degraded` naming the kind (though `offline` alone is not) and `/metrics`
/// shows it exhausted; once the central is reachable and grants blocks, both clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_id_kinds_degrade_health_until_a_block_arrives() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let node = start_node(Some(&format!("http://{addr}/v2"))).await;
    let health = || async { node.call(Method::GET, "/health", ADMIN, None).await.1 };
    let names = |h: &Value, kind: &str| {
        h["reasons"].as_array().is_some_and(|r| {
            r.iter().any(|x| {
                x.as_str()
                    .is_some_and(|t| t.starts_with(&format!("ID kind {kind} exhausted")))
            })
        })
    };
    let alerted = eventually(DEADLINE, || async {
        let h = health().await;
        names(&h, "sscc") && names(&h, "receipt")
    })
    .await;
    let h = health().await;
    assert!(alerted, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["services"]["sync"], "offline", "{h}");
    let m = metrics_text(&node).await;
    assert!(
        m.contains("wms_edge_sync_id_exhausted{kind=\"sscc\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("wms_edge_sync_id_remaining{kind=\"sscc\"} 0"),
        "{m}"
    );

    let sim = CentralSim::start_on(addr, sim_config(Faults::none(), 23))
        .await
        .expect("sim on the old port");
    let cleared = eventually(DEADLINE, || async { health().await["status"] == "healthy" }).await;
    let h = health().await;
    assert!(cleared, "{h}");
    assert_eq!(h["reasons"], json!([]), "{h}");
    let m = metrics_text(&node).await;
    assert!(
        m.contains("wms_edge_sync_id_exhausted{kind=\"sscc\"} 0"),
        "{m}"
    );
    assert!(
        !m.contains("wms_edge_sync_id_remaining{kind=\"sscc\"} 0\n"),
        "{m}"
    );
    assert!(sim.grants().iter().any(|g| g.kind == "sscc"));
    node.shutdown().await;
    sim.shutdown().await;
}
