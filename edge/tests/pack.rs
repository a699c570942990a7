//! The floor end to end with real transports: orders come from the central simulator, a picker
//! and a packer scan through `POST /v1/scans`, the pack station's scale is a MT-SICS simulator on
//! a pty, its label and receipt printers are ZPL and ESC/POS simulators on loopback TCP, and
//! what the node reports upstream is checked at the central.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_hardware::sim::{
    EscPosPrinter, EscPosState, PtySim, ScaleState, SicsScale, Silent, TcpSim, ZplPrinter, ZplState,
};
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

const DEADLINE: Duration = Duration::from_secs(20);
const SITE: &str = "wh-pack";
const ADMIN: &str = "test-key-for-admin";
const PACKER: &str = "test-key-for-packer";
const SHIRT: &str = "00012345600012";
const MUG: &str = "00012345600029";
const SOCKS: &str = "00012345600036";

struct Site {
    central: CentralSim,
    scale: Arc<Mutex<ScaleState>>,
    labels: Arc<Mutex<ZplState>>,
    slips: Arc<Mutex<EscPosState>>,
    base: String,
    http: Client,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Serial scanners on ptys: one at `pick-1`, one at `pick-2`.
    serial: [PtySim; 2],
    // Kept alive for the node's devices.
    _sims: (PtySim, TcpSim, TcpSim),
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for `cond` with a deadline; panics with `what` when it never holds.
async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn order(id: &str, lines: &[(&str, i64)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, qty))| json!({"line_id": (i + 1).to_string(), "sku": sku, "qty": qty}))
        .collect();
    json!({"id": id, "tenant_id": "acme", "channel": "web", "created_at": "2026-12-01T10:00:00.000Z",
           "ship_by": "2026-12-03T17:00:00.000Z", "priority": "two_day",
           "shipping": {"carrier": "ups", "service": "ground"},
           "ship_to": {"name": "Grace Hopper", "company": null, "street1": "1 Navy Way", "street2": null,
                       "city": "Arlington", "region": "VA", "postal_code": "22202", "country": "US",
                       "phone": null},
           "lines": lines, "notes": null, "gift_message": "Happy birthday!", "branding": null,
           "version": 1})
}

async fn start() -> Site {
    let mut sim_cfg = SimConfig::new(SITE);
    sim_cfg.faults = Faults::none();
    let central = CentralSim::start(sim_cfg).await.expect("central sim");
    for (sku, name, code, kg) in [
        ("SHIRT", "T-shirt", SHIRT, "0.250"),
        ("MUG", "Mug", MUG, "0.400"),
        ("SOCKS", "Socks", SOCKS, "0.100"),
    ] {
        central.push_change(
            "product.upsert",
            json!({"tenant_id": "acme", "sku": sku, "name": name, "barcodes": [code],
                   "weight": {"value": kg, "unit": "kg"}, "dimensions": null, "tracking": "none",
                   "price": null, "price_tiers": [], "tax_code": null, "version": 1}),
        );
    }
    for (code, seq) in [("A-01", 1), ("A-02", 2), ("A-03", 3)] {
        central.push_change(
            "location.upsert",
            json!({"code": code, "zone": "A", "pick_sequence": seq, "kind": "pick", "version": 1}),
        );
    }
    for (id, name, badge, role) in [
        ("u-pick", "Pat", "B-1", "picker"),
        ("u-pack", "Kim", "B-2", "packer"),
        ("u-pick2", "Lee", "B-3", "picker"),
    ] {
        central.push_change(
            "user.upsert",
            json!({"id": id, "tenant_id": null, "name": name, "badge": badge, "pin_hash": null,
                   "roles": [role], "active": true, "version": 1}),
        );
    }

    let scale_sim = SicsScale::new("0.000", "kg");
    let scale = scale_sim.state();
    let scale_pty = PtySim::start("pack-scale", scale_sim).expect("scale pty");
    let zpl = ZplPrinter::new();
    let labels = zpl.state();
    let label_tcp = TcpSim::start(zpl).await.expect("label printer");
    let escpos = EscPosPrinter::new();
    let slips = escpos.state();
    let slip_tcp = TcpSim::start(escpos).await.expect("receipt printer");

    let serial = [
        PtySim::start("scanner-pick-1", Silent).expect("scanner pty"),
        PtySim::start("scanner-pick-2", Silent).expect("scanner pty"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = central.credentials();
    let mut toml = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n\
         ship_from = {{ name = \"Acme Fulfillment\", street1 = \"5 Dock Rd\", city = \"Newark\", region = \"NJ\", postal_code = \"07101\", country = \"US\" }}\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n\
         [central]\nurl = \"{}\"\napi_key = \"{}\"\nsigning_secret = \"{}\"\nretry_base_ms = 50\nretry_cap_ms = 500\n",
        dir.path().display(),
        creds.central_url,
        creds.api_key,
        String::from_utf8_lossy(&creds.signing_secret),
    );
    for (role, key) in [("admin", ADMIN), ("packer", PACKER)] {
        toml.push_str(&format!(
            "[[api_keys]]\nname = \"{role}\"\nrole = \"{role}\"\nkey = \"{key}\"\n"
        ));
    }
    toml.push_str("[[stations]]\nid = \"pick-1\"\nkind = \"pick\"\n");
    toml.push_str("[[stations]]\nid = \"pick-2\"\nkind = \"pick\"\n");
    for (i, pty) in serial.iter().enumerate() {
        toml.push_str(&format!(
            "[[devices]]\nid = \"ser-pick-{n}\"\nkind = \"scanner\"\nprofile = \"generic-serial-scanner\"\nstation = \"pick-{n}\"\n\
             transport = {{ serial = {{ path = \"{}\" }} }}\n",
            pty.path_str(),
            n = i + 1
        ));
    }
    toml.push_str("[[stations]]\nid = \"pack-1\"\nkind = \"pack\"\ncarton_tare = \"0.100 kg\"\n");
    toml.push_str(
        "[[devices]]\nid = \"gun-pick\"\nkind = \"scanner\"\nstation = \"pick-1\"\ntransport = { http = {} }\n",
    );
    toml.push_str(
        "[[devices]]\nid = \"gun-pack\"\nkind = \"scanner\"\nstation = \"pack-1\"\ntransport = { http = {} }\n",
    );
    toml.push_str(&format!(
        "[[devices]]\nid = \"scale-1\"\nkind = \"scale\"\nprofile = \"mettler-toledo-sics\"\nstation = \"pack-1\"\n\
         transport = {{ serial = {{ path = \"{}\" }} }}\n",
        scale_pty.path_str()
    ));
    toml.push_str(&format!(
        "[[devices]]\nid = \"label-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"pack-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\nstatus_timeout_ms = 500\npoll_interval_ms = 100\n",
        label_tcp.port()
    ));
    toml.push_str(&format!(
        "[[devices]]\nid = \"slip-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pack-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n",
        slip_tcp.port()
    ));
    let cfg = wms_edge::config::parse("pack.toml", &toml).expect("config");
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
    let site = Site {
        central,
        scale,
        labels,
        slips,
        base: format!("http://{addr}"),
        http: Client::new(),
        dir,
        stop: Some(stop_tx),
        task: Some(task),
        serial,
        _sims: (scale_pty, label_tcp, slip_tcp),
    };
    until("the catalog arrives from the central", || async {
        site.call(Method::GET, "/v1/users/u-pack", ADMIN, None)
            .await
            .0
            == StatusCode::OK
            && site
                .call(Method::GET, "/v1/locations/A-03", ADMIN, None)
                .await
                .0
                == StatusCode::OK
            && site
                .call(Method::GET, "/v1/products/acme/SOCKS", ADMIN, None)
                .await
                .0
                == StatusCode::OK
    })
    .await;
    for (sku, loc, n) in [
        ("SHIRT", "A-01", 10),
        ("MUG", "A-02", 5),
        ("SOCKS", "A-03", 5),
    ] {
        site.ok(
            Method::POST,
            "/v1/inventory/adjustments",
            Some(json!({"tenant_id": "acme", "sku": sku, "location": loc, "delta": n, "reason": "received"})),
        )
        .await;
    }
    site
}

impl Site {
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

    async fn scan(&self, device: &str, data: &str) -> Value {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/scans",
                PACKER,
                Some(json!({"device_id": device, "data": data})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{data}: {v}");
        v
    }

    async fn good(&self, device: &str, data: &str) -> Value {
        let v = self.scan(device, data).await;
        assert_eq!(v["feedback"], "good", "{data}: {v}");
        v
    }

    async fn bad(&self, device: &str, data: &str) -> Value {
        let v = self.scan(device, data).await;
        assert_eq!(v["feedback"], "bad", "{data}: {v}");
        v
    }

    async fn order(&self, id: &str) -> Value {
        self.ok(Method::GET, &format!("/v1/orders/{id}"), None)
            .await
    }

    /// The order's status, "" while the node does not know it.
    async fn status(&self, id: &str) -> String {
        let (_, v) = self
            .call(Method::GET, &format!("/v1/orders/{id}"), ADMIN, None)
            .await;
        v["status"].as_str().unwrap_or_default().to_string()
    }

    async fn wait_status(&self, id: &str, want: &str) {
        until(&format!("order {id} becomes {want}"), || async {
            self.status(id).await == want
        })
        .await;
    }

    /// An order from the central, allocated, with tracking numbers and SSCCs leased for it.
    async fn order_from_central(&self, id: &str, lines: &[(&str, i64)]) {
        self.central.push_change("order.upsert", order(id, lines));
        self.wait_status(id, "allocated").await;
        until("SSCC and UPS tracking blocks are leased", || async {
            let v = self.ok(Method::GET, "/v1/sync/status", None).await;
            let left = |kind: &str| {
                v["id_blocks"]
                    .as_array()
                    .and_then(|a| a.iter().find(|k| k["kind"] == kind))
                    .and_then(|k| k["remaining"].as_u64())
                    .unwrap_or(0)
            };
            left("sscc") > 0 && left("tracking:ups") > 0
        })
        .await;
    }

    /// The picker picks every task of `order` into `tote` and closes it.
    async fn pick(&self, tote: &str) {
        self.good("gun-pick", "EMP:B-1").await;
        let mut v = self.good("gun-pick", &format!("TOTE:{tote}")).await;
        let codes: BTreeMap<&str, &str> = [("SHIRT", SHIRT), ("MUG", MUG), ("SOCKS", SOCKS)]
            .into_iter()
            .collect();
        for _ in 0..20 {
            let task = v["context"]["task"].clone();
            if task.is_null() {
                break;
            }
            self.good(
                "gun-pick",
                &format!("LOC:{}", task["location"].as_str().unwrap_or("")),
            )
            .await;
            let sku = task["sku"].as_str().unwrap_or("");
            let qty = task["qty"].as_u64().unwrap_or(0);
            self.good("gun-pick", &format!("QTY:{qty}")).await;
            v = self.good("gun-pick", codes[sku]).await;
        }
        self.good("gun-pick", "CMD:DONE").await;
        self.good("gun-pick", "CMD:LOGOUT").await;
    }

    /// Supervisor Sam, badge `B-9`, PIN `482913`, created over the local API.
    async fn add_supervisor(&self) {
        self.ok(
            Method::PUT,
            "/v1/users/u-sup",
            Some(json!({"name": "Sam", "badge": "B-9", "pin": "482913", "roles": ["supervisor"], "tenant_id": null})),
        )
        .await;
    }

    fn labels_printed(&self) -> Vec<String> {
        lock(&self.labels).formats.clone()
    }

    fn place(&self, kg: &str) {
        lock(&self.scale).place(kg, 0);
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("wms-edge.db")).expect("db")
    }

    fn int(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    fn text(&self, sql: &str) -> String {
        self.db().query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    /// Stock per position as the edge holds it, keyed like the central's aggregates.
    fn edge_stock(&self) -> BTreeMap<String, i64> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT tenant_id, sku, location, lot, on_hand FROM stock")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    format!(
                        "stock:{}/{}/{}/{}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?
                    ),
                    r.get::<_, i64>(4)?,
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows
    }

    /// Waits until the central has every committed event, then checks that none was applied
    /// twice and that its stock per position equals the edge's.
    async fn central_matches_the_edge(&self) {
        let last_seq = self.int("SELECT max(seq) FROM outbox") as u64;
        until("the central has every event", || async {
            self.central.acked_through() >= last_seq
        })
        .await;
        let applied = self.central.applied();
        let mut ids: Vec<&str> = applied.iter().map(|e| e.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), applied.len(), "no event applied twice");
        assert_eq!(applied.len() as u64, last_seq, "every event applied");
        let mut central: BTreeMap<String, i64> = BTreeMap::new();
        for e in &applied {
            if let Some((_, delta)) = &e.sku_delta {
                *central.entry(e.aggregate.clone()).or_default() += delta;
            }
        }
        assert_eq!(central, self.edge_stock(), "central stock = edge stock");
    }

    /// The pack station's persisted stage (`verifying`, `weighing`, `out_of_tolerance`, …).
    fn pack_step(&self) -> String {
        let state: String = self
            .db()
            .query_row(
                "SELECT state FROM station_state WHERE station_id = 'pack-1'",
                [],
                |r| r.get(0),
            )
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&state).unwrap_or(Value::Null);
        v["session"]["work"]["step"]["step"]
            .as_str()
            .or_else(|| v["session"]["work"]["stage"].as_str())
            .unwrap_or("")
            .to_string()
    }

    /// Packer takes the tote and verifies every unit of `items`.
    async fn pack(&self, tote: &str, items: &[&str]) {
        self.good("gun-pack", "EMP:B-2").await;
        self.good("gun-pack", &format!("TOTE:{tote}")).await;
        for item in items {
            self.good("gun-pack", item).await;
        }
    }

    async fn shutdown(mut self) {
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

/// The data fields of a ZPL label in print order (`^FD…^FS`), with the `^FH` escapes (`_XX`)
/// undone.
fn label_fields(zpl: &str) -> Vec<String> {
    zpl.split("^FD")
        .skip(1)
        .filter_map(|f| f.split("^FS").next())
        .map(|f| {
            let b = f.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                let hex = (b[i] == b'_')
                    .then(|| f.get(i + 1..i + 3))
                    .flatten()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b[i]);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect()
}

/// The canonical floor: an order from the central is picked, packed, weighed, labelled and
/// shipped; the label carries the tracking number and SSCC the central hears about, and the
/// central's stock per position equals the edge's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_from_the_central_is_picked_packed_weighed_labelled_and_shipped() {
    let site = start().await;
    site.order_from_central("O-100", &[("SHIRT", 2), ("MUG", 1)])
        .await;
    site.pick("T-1").await;
    assert_eq!(site.status("O-100").await, "picked");
    assert_eq!(
        site.int("SELECT on_hand FROM stock WHERE location = 'TOTE:T-1' AND sku = 'SHIRT'"),
        2
    );

    // 2 × 0.250 + 0.400 + tare 0.100 = 1.000 kg expected.
    site.place("1.020");
    site.good("gun-pack", "EMP:B-2").await;
    let v = site.good("gun-pack", "TOTE:T-1").await;
    assert_eq!(v["context"]["order"]["order_id"], "O-100", "{v}");
    site.bad("gun-pack", SOCKS).await; // not in the order
    site.good("gun-pack", SHIRT).await;
    site.good("gun-pack", SHIRT).await;
    let over = site.bad("gun-pack", SHIRT).await; // over-scan
    assert!(
        over["prompt"].as_str().unwrap_or("").contains("Over-scan"),
        "{over}"
    );
    let last = site.good("gun-pack", MUG).await;
    assert_eq!(last["context"]["read_scale"], true, "{last}");

    // The node reads the scale, the weight passes, the label and slip print.
    site.wait_status("O-100", "packed").await;
    until("the label reaches the printer", || async {
        !site.labels_printed().is_empty()
    })
    .await;
    until("the slip reaches the receipt printer", || async {
        lock(&site.slips).receipts >= 1
    })
    .await;
    let detail = site.order("O-100").await;
    assert!(detail["shipments"].as_array().is_some_and(|s| s.is_empty()));
    let tracking = site.text("SELECT tracking_number FROM cartons WHERE order_id = 'O-100'");
    let sscc = site.text("SELECT sscc FROM cartons WHERE order_id = 'O-100'");
    assert_eq!(sscc.len(), 18, "{sscc}");
    assert!(
        wms_labels::check::gs1_check_digit_ok(sscc.as_bytes()),
        "{sscc}"
    );
    let labels = site.labels_printed();
    assert_eq!(labels.len(), 1, "one carton, one label");
    let fields = label_fields(&labels[0]);
    assert!(fields.iter().any(|f| f == &tracking), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.contains(&format!("(00){sscc}"))),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.contains("Grace Hopper")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.contains("Acme Fulfillment")),
        "{fields:?}"
    );

    let done = site.good("gun-pack", "CMD:DONE").await;
    assert!(
        done["prompt"].as_str().unwrap_or("").contains("shipped"),
        "{done}"
    );
    assert_eq!(site.status("O-100").await, "shipped");
    let detail = site.order("O-100").await;
    let shipment = &detail["shipments"][0];
    assert_eq!(
        shipment["packages"][0]["tracking_number"],
        tracking.as_str()
    );
    assert_eq!(shipment["packages"][0]["sscc"], sscc.as_str());
    assert_eq!(shipment["packages"][0]["weight"]["value"], "1.020");
    // The tote is empty and free again.
    assert_eq!(
        site.int("SELECT count(*) FROM tote_contents WHERE tote = 'T-1'"),
        0
    );
    assert_eq!(site.int("SELECT count(*) FROM totes WHERE tote = 'T-1'"), 0);

    // Upstream: every event applied once, shipment.created with the label's numbers, and the
    // central's stock per position equal to the edge's.
    site.central_matches_the_edge().await;
    let shipped = site
        .central
        .applied()
        .into_iter()
        .filter(|e| e.kind == "shipment.created" && e.aggregate == "order:O-100")
        .count();
    assert_eq!(shipped, 1);
    let body = site.text("SELECT body FROM outbox WHERE type = 'shipment.created'");
    let body: Value = serde_json::from_str(&body).expect("event json");
    assert_eq!(body["data"]["tracking_number"], tracking.as_str());
    assert_eq!(body["data"]["sscc"], sscc.as_str());
    assert_eq!(body["data"]["items"].as_array().map(Vec::len), Some(2));
    let edge_stock = site.edge_stock();
    assert_eq!(edge_stock["stock:acme/SHIRT/A-01/"], 8);
    assert_eq!(edge_stock["stock:acme/SHIRT/TOTE:T-1/"], 0);
    decodes_to(
        &labels[0],
        &[&tracking, "(420)22202", &format!("(00){sscc}")],
    );
    site.shutdown().await;
}

/// The label's barcodes as an independent renderer and decoder read them (`.ci/setup-labels`
/// installs both; their absence fails the test unless `WMS_SKIP_MISSING_TOOLS` is set).
fn decodes_to(zpl: &str, want: &[&str]) {
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../labels/tests/tools");
    let ready = tools.join("node_modules/zxing-wasm/package.json").exists()
        && tools
            .join("node_modules/zpl-renderer-js/package.json")
            .exists();
    if !ready {
        wms_test_support::outside::missing(
            "the npm ZPL renderer and barcode decoder",
            ".ci/setup-labels",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("label.zpl");
    std::fs::write(&file, zpl).expect("write");
    let out = std::process::Command::new("node")
        .arg(tools.join("render_decode.mjs"))
        .arg("8")
        .arg(&file)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    found.sort();
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "decoded barcodes of the printed label");
}

/// Out of tolerance nothing prints; the packer fixes the carton, scans `CMD:WEIGH`, and only
/// then do the label and slip print.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carton_out_of_tolerance_prints_nothing_until_it_is_fixed() {
    let site = start().await;
    site.order_from_central("O-200", &[("SHIRT", 2), ("MUG", 1)])
        .await;
    site.pick("T-2").await;
    // Expected 1.000 kg ± 0.100 kg; a missing mug weighs 0.600.
    site.place("0.600");
    site.pack("T-2", &[SHIRT, SHIRT, MUG]).await;
    until("the weight is found out of tolerance", || async {
        site.pack_step() == "out_of_tolerance"
    })
    .await;
    assert_eq!(site.status("O-200").await, "packing");
    assert!(site.labels_printed().is_empty());
    assert_eq!(site.int("SELECT count(*) FROM cartons"), 0);
    assert_eq!(site.int("SELECT count(*) FROM print_jobs"), 0);
    site.bad("gun-pack", "CMD:DONE").await;

    site.place("1.050");
    site.good("gun-pack", "CMD:WEIGH").await;
    site.wait_status("O-200", "packed").await;
    until("the label prints", || async {
        site.labels_printed().len() == 1
    })
    .await;
    site.good("gun-pack", "CMD:DONE").await;
    assert_eq!(site.status("O-200").await, "shipped");
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

/// A cancel from the central while the packer scans is won by the cancel: the next scan is
/// refused with "put tote aside", nothing prints, nothing ships.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_or_cancelled_orders_never_ship_a_cancel_during_packing_wins() {
    let site = start().await;
    site.order_from_central("O-300", &[("SHIRT", 1), ("MUG", 1)])
        .await;
    site.pick("T-3").await;
    site.place("0.750");
    site.pack("T-3", &[SHIRT]).await;
    site.central.push_change(
        "order.cancel",
        json!({"id": "O-300", "reason": "customer", "version": 2}),
    );
    site.wait_status("O-300", "cancelled").await;
    let v = site.bad("gun-pack", MUG).await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("put tote aside"),
        "{v}"
    );
    assert_eq!(site.pack_step(), "verifying");
    site.good("gun-pack", "CMD:CANCEL").await;
    assert!(site.labels_printed().is_empty());
    assert_eq!(site.int("SELECT count(*) FROM print_jobs"), 0);
    assert_eq!(
        site.int("SELECT count(*) FROM outbox WHERE type = 'shipment.created'"),
        0
    );
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

/// A cancel after the label printed but before the confirm: the shipment is refused, the label
/// is voided (audited, its numbers never reused) and the order stays cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_or_cancelled_orders_never_ship_a_cancel_after_the_label_voids_it() {
    let site = start().await;
    site.order_from_central("O-400", &[("MUG", 2)]).await;
    site.pick("T-4").await;
    site.place("0.900");
    site.pack("T-4", &[MUG, MUG]).await;
    site.wait_status("O-400", "packed").await;
    until("the label prints", || async {
        site.labels_printed().len() == 1
    })
    .await;
    site.central.push_change(
        "order.cancel",
        json!({"id": "O-400", "reason": "fraud check", "version": 2}),
    );
    site.wait_status("O-400", "cancelled").await;
    let v = site.bad("gun-pack", "CMD:DONE").await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("void the label"),
        "{v}"
    );
    site.good("gun-pack", "CMD:CANCEL").await;
    assert_eq!(
        site.int("SELECT count(*) FROM cartons WHERE order_id = 'O-400' AND voided_at IS NOT NULL"),
        1
    );
    assert_eq!(
        site.int("SELECT count(*) FROM audit WHERE action = 'pack.label_voided'"),
        1
    );
    assert_eq!(
        site.int("SELECT label_printed_at IS NULL FROM orders WHERE id = 'O-400'"),
        1
    );
    assert_eq!(
        site.int("SELECT count(*) FROM outbox WHERE type = 'shipment.created'"),
        0
    );
    assert_eq!(site.status("O-400").await, "cancelled");
    // Re-stock: the next picker to scan the tote puts the mugs back where they came from.
    site.good("gun-pick", "EMP:B-1").await;
    let v = site.good("gun-pick", "TOTE:T-4").await;
    assert_eq!(v["context"]["stage"], "put_back", "{v}");
    site.good("gun-pick", "LOC:A-02").await;
    site.good("gun-pick", "QTY:2").await;
    site.good("gun-pick", MUG).await;
    assert_eq!(
        site.int("SELECT on_hand FROM stock WHERE sku = 'MUG' AND location = 'A-02'"),
        5
    );
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

/// The label printer runs out of paper while the carton is weighed: the label is held, the
/// order is packed (the label is durable in the spool), and it prints once when paper is loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_printer_out_of_paper_prints_the_held_label_once_paper_is_loaded() {
    let site = start().await;
    site.order_from_central("O-500", &[("SOCKS", 3)]).await;
    site.pick("T-5").await;
    lock(&site.labels).set(true, false, false);
    until("the node sees the paper out", || async {
        let v = site.ok(Method::GET, "/v1/devices/label-1", None).await;
        v["status"]["paper_out"] == true
    })
    .await;
    site.place("0.400");
    site.pack("T-5", &[SOCKS, SOCKS, SOCKS]).await;
    site.wait_status("O-500", "packed").await;
    until("the label job is in the printer's spool", || async {
        site.int("SELECT count(*) FROM print_jobs WHERE kind = 'shipping_label' AND spooled_at IS NOT NULL") == 1
    })
    .await;
    let printed_while_out = lock(&site.labels).printed;
    assert_eq!(printed_while_out, 0);
    lock(&site.labels).set(false, false, false);
    until("the held label prints", || async {
        let printer = lock(&site.labels);
        printer.printed == 1 && printer.buffered == 0 && printer.formats.len() == 1
    })
    .await;
    site.good("gun-pack", "CMD:DONE").await;
    assert_eq!(site.status("O-500").await, "shipped");
    assert_eq!(site.labels_printed().len(), 1, "printed once");
    site.shutdown().await;
}

/// The central is unreachable for the whole pick, pack and ship (the blocks were leased before):
/// the floor is not held up, and once the central answers again it has every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_central_offline_the_floor_ships_and_everything_syncs_after() {
    let site = start().await;
    site.order_from_central("O-600", &[("SHIRT", 1), ("SOCKS", 2)])
        .await;
    site.central.set_faults(Faults {
        server_error: 0.5,
        reset: 1.0,
        ..Faults::none()
    });
    let before = site.central.applied_count();
    site.pick("T-6").await;
    site.place("0.550");
    site.pack("T-6", &[SHIRT, SOCKS, SOCKS]).await;
    site.wait_status("O-600", "packed").await;
    site.good("gun-pack", "CMD:DONE").await;
    assert_eq!(site.status("O-600").await, "shipped");
    let queued = site.int("SELECT count(*) FROM outbox WHERE state = 'pending'");
    assert!(queued > 0, "events wait for the central");
    assert!(site.central.applied_count() >= before);
    site.central.set_faults(Faults::none());
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

/// A short pick with no stock elsewhere leaves the order in `exception`; the packer packs what
/// was picked (one T-shirt of two turns out damaged), a supervisor approves shipping it with
/// badge + PIN, the order is `partially_shipped`, the central gets exactly the shipped units and
/// the approval, and the T-shirt left in the tote goes back to its shelf at the next pick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_picked_order_ships_partially_with_a_supervisors_approval() {
    let site = start().await;
    site.add_supervisor().await;
    site.order_from_central("O-300", &[("SHIRT", 2), ("MUG", 1)])
        .await;
    site.good("gun-pick", "EMP:B-1").await;
    let v = site.good("gun-pick", "TOTE:T-3").await;
    assert_eq!(v["context"]["task"]["location"], "A-01", "{v}");
    site.good("gun-pick", "LOC:A-01").await;
    site.good("gun-pick", "QTY:2").await;
    let v = site.good("gun-pick", SHIRT).await;
    assert_eq!(v["context"]["task"]["location"], "A-02", "{v}");
    site.good("gun-pick", "LOC:A-02").await;
    site.good("gun-pick", "CMD:SHORT").await;
    site.good("gun-pick", "CMD:DONE").await;
    site.good("gun-pick", "CMD:LOGOUT").await;
    assert_eq!(site.status("O-300").await, "exception");

    // One shirt + tare 0.100 = 0.350 kg.
    site.place("0.350");
    site.good("gun-pack", "EMP:B-2").await;
    let v = site.good("gun-pack", "TOTE:T-3").await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("picked short (2 of 3)"),
        "{v}"
    );
    assert_eq!(site.status("O-300").await, "packing");
    site.bad("gun-pack", MUG).await; // never picked
    site.good("gun-pack", SHIRT).await;
    site.good("gun-pack", "CMD:DONE").await; // close the carton with one shirt
    until("the carton's label prints", || async {
        site.labels_printed().len() == 1
    })
    .await;
    until("the station is labelled", || async {
        site.pack_step() == "labelled"
    })
    .await;
    let v = site.good("gun-pack", "CMD:DONE").await;
    assert_eq!(v["context"]["stage"], "approve_partial", "{v}");
    site.bad("gun-pack", "EMP:B-2").await; // a packer cannot approve
    site.good("gun-pack", "EMP:B-9").await;
    site.bad("gun-pack", "PIN:000000").await;
    assert_eq!(site.status("O-300").await, "packing");
    let v = site.good("gun-pack", "PIN:482913").await;
    assert!(!v.to_string().contains("482913"), "{v}");
    assert_eq!(site.status("O-300").await, "partially_shipped");
    assert_eq!(
        site.int("SELECT count(*) FROM reservations WHERE order_id = 'O-300'"),
        0
    );
    assert_eq!(
        site.int("SELECT qty FROM tote_contents WHERE tote = 'T-3' AND order_id = 'O-300'"),
        1
    );
    let body = site.text("SELECT body FROM outbox WHERE type = 'shipment.created'");
    let body: Value = serde_json::from_str(&body).expect("event json");
    assert_eq!(
        body["data"]["items"],
        json!([{"sku": "SHIRT", "qty": 1, "lot": null}])
    );
    let approval = site.text(
        "SELECT body FROM outbox WHERE type = 'audit.recorded'
         AND body LIKE '%pack.partial_shipment%'",
    );
    let approval: Value = serde_json::from_str(&approval).expect("event json");
    assert_eq!(approval["data"]["user"], "u-sup", "{approval}");
    assert_eq!(approval["data"]["target"], "order:O-300");

    // The shirt left in the tote goes back to A-01 at the next pick.
    site.good("gun-pick", "EMP:B-1").await;
    let v = site.good("gun-pick", "TOTE:T-3").await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("Put back 1 × SHIRT of order O-300 at A-01"),
        "{v}"
    );
    site.good("gun-pick", "LOC:A-01").await;
    site.good("gun-pick", SHIRT).await;
    assert_eq!(
        site.int("SELECT count(*) FROM tote_contents WHERE tote = 'T-3'"),
        0
    );
    let stock = site.edge_stock();
    assert_eq!(stock["stock:acme/SHIRT/A-01/"], 9);
    assert_eq!(stock["stock:acme/MUG/A-02/"], 0);
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

/// A weight out of tolerance is overridden by a supervisor's badge and PIN at the packer's
/// scanner: the label prints, and the override travels upstream as `audit.recorded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_overrides_a_weight_out_of_tolerance_with_badge_and_pin() {
    let site = start().await;
    site.add_supervisor().await;
    site.order_from_central("O-400", &[("SHIRT", 2), ("MUG", 1)])
        .await;
    site.pick("T-4").await;
    // Expected 1.000 kg ± 0.100 kg: a heavier mug model weighs 1.300.
    site.place("1.300");
    site.pack("T-4", &[SHIRT, SHIRT, MUG]).await;
    until("the weight is found out of tolerance", || async {
        site.pack_step() == "out_of_tolerance"
    })
    .await;
    site.bad("gun-pack", "EMP:B-2").await; // a packer cannot override
    site.good("gun-pack", "EMP:B-9").await;
    site.bad("gun-pack", "PIN:951753").await;
    assert!(site.labels_printed().is_empty());
    site.good("gun-pack", "PIN:482913").await;
    site.wait_status("O-400", "packed").await;
    until("the label prints", || async {
        site.labels_printed().len() == 1
    })
    .await;
    let body = site.text(
        "SELECT body FROM outbox WHERE type = 'audit.recorded' AND body LIKE '%pack.weight_override%'",
    );
    let body: Value = serde_json::from_str(&body).expect("event json");
    assert_eq!(body["data"]["user"], "u-sup", "{body}");
    assert_eq!(body["data"]["changes"]["measured_mg"], 1_300_000);
    assert!(!body.to_string().contains("482913"));
    // The wrong PIN before it travelled upstream as a failed login, without the PIN.
    let failed = site.text(
        "SELECT body FROM outbox WHERE type = 'audit.recorded' AND body LIKE '%station.login_failed%'",
    );
    let failed: Value = serde_json::from_str(&failed).expect("event json");
    assert_eq!(
        failed["data"]["changes"]["user"]["new"], "u-sup",
        "{failed}"
    );
    assert_eq!(failed["data"]["changes"]["reason"], "wrong_pin");
    assert!(!failed.to_string().contains("951753"));
    site.good("gun-pack", "CMD:DONE").await;
    assert_eq!(site.status("O-400").await, "shipped");
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

/// Two pickers work at once through serial scanners on ptys, each at its own station: every
/// frame of each burst is taken in order by its station's lane, both totes end up with exactly
/// their order, and the central's books match the edge's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serial_scanners_pick_at_once_each_in_order_at_its_own_station() {
    let site = start().await;
    site.order_from_central("O-500", &[("SHIRT", 2), ("MUG", 1)])
        .await;
    site.order_from_central("O-501", &[("SHIRT", 1), ("SOCKS", 2)])
        .await;
    for (i, device) in ["ser-pick-1", "ser-pick-2"].iter().enumerate() {
        let dev = site
            .ok(Method::GET, &format!("/v1/devices/{device}"), None)
            .await;
        assert_eq!(dev["station"], format!("pick-{}", i + 1), "{dev}");
    }
    until("both serial scanners are online", || async {
        let mut online = true;
        for device in ["ser-pick-1", "ser-pick-2"] {
            let dev = site
                .ok(Method::GET, &format!("/v1/devices/{device}"), None)
                .await;
            online &= dev["state"] == "online";
        }
        online
    })
    .await;
    let burst = |frames: &[&str]| -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| f.bytes().chain(std::iter::once(b'\r')))
            .collect()
    };
    let one = burst(&[
        "EMP:B-1",
        "ORD:O-500",
        "TOTE:T-5",
        "LOC:A-01",
        "QTY:2",
        SHIRT,
        "LOC:A-02",
        MUG,
        "CMD:DONE",
    ]);
    let two = burst(&[
        "EMP:B-3",
        "ORD:O-501",
        "TOTE:T-6",
        "LOC:A-01",
        SHIRT,
        "LOC:A-03",
        "QTY:2",
        SOCKS,
        "CMD:DONE",
    ]);
    // Both bursts at once, each as fast as the pty takes it.
    let (a, b) = tokio::join!(site.serial[0].write(&one), site.serial[1].write(&two));
    a.expect("scanner 1 writes");
    b.expect("scanner 2 writes");
    site.wait_status("O-500", "picked").await;
    site.wait_status("O-501", "picked").await;
    let in_tote = |tote: &str| {
        let db = site.db();
        let mut stmt = db
            .prepare(
                "SELECT order_id, sku, qty FROM tote_contents WHERE tote = ?1 ORDER BY order_id, sku",
            )
            .expect("prepare");
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([tote], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows
    };
    assert_eq!(
        in_tote("T-5"),
        vec![
            ("O-500".into(), "MUG".into(), 1),
            ("O-500".into(), "SHIRT".into(), 2)
        ]
    );
    assert_eq!(
        in_tote("T-6"),
        vec![
            ("O-501".into(), "SHIRT".into(), 1),
            ("O-501".into(), "SOCKS".into(), 2)
        ]
    );
    // Both badges reached their own station: no failed login anywhere.
    let refused = site.int("SELECT count(*) FROM audit WHERE action = 'station.login_failed'");
    assert_eq!(refused, 0);
    let stock = site.edge_stock();
    assert_eq!(stock["stock:acme/SHIRT/A-01/"], 7);
    assert_eq!(stock["stock:acme/SOCKS/A-03/"], 3);
    site.central_matches_the_edge().await;
    site.shutdown().await;
}

const VIT: &str = "00012345600043";

/// A GS1 label of one unit of vitamins of `lot` (expiry 2027-06-30), with an optional serial.
fn vit(lot: &str, serial: Option<&str>) -> String {
    let mut s = format!("]C101{VIT}17270630\u{1d}10{lot}");
    if let Some(serial) = serial {
        s.push_str(&format!("\u{1d}21{serial}"));
    }
    s
}

/// Lots per unit through a split shipment: four units of a lot-tracked product are picked from
/// two lots; the packer scans two units of the second lot (one with its serial) into two cartons,
/// and the supervisor approves shipping those. The shipment takes exactly those units — lot LB,
/// not the first lot in lot order — `shipment.created` names the lot and the serial, and the
/// first lot stays in the tote as the put-back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lots_packed_per_unit_ship_exactly_through_a_split_shipment() {
    let site = start().await;
    site.add_supervisor().await;
    site.central.push_change(
        "product.upsert",
        json!({"tenant_id": "acme", "sku": "VIT", "name": "Vitamins", "barcodes": [VIT],
               "weight": {"value": "0.100", "unit": "kg"}, "dimensions": null, "tracking": "lot_expiry",
               "price": null, "price_tiers": [], "tax_code": null, "version": 1}),
    );
    until("the product arrives", || async {
        site.call(Method::GET, "/v1/products/acme/VIT", ADMIN, None)
            .await
            .0
            == StatusCode::OK
    })
    .await;
    for lot in ["LA", "LB"] {
        site.ok(
            Method::POST,
            "/v1/inventory/adjustments",
            Some(
                json!({"tenant_id": "acme", "sku": "VIT", "location": "A-01", "lot": lot,
                        "delta": 2, "reason": "received"}),
            ),
        )
        .await;
    }
    site.order_from_central("O-400", &[("VIT", 4)]).await;

    // The picker takes both lots, scanning each task's lot.
    site.good("gun-pick", "EMP:B-1").await;
    let mut v = site.good("gun-pick", "TOTE:T-4").await;
    let mut picked_lots = Vec::new();
    while !v["context"]["task"].is_null() {
        let lot = v["context"]["task"]["lot"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let qty = v["context"]["task"]["qty"].as_u64().unwrap_or(0);
        site.good("gun-pick", "LOC:A-01").await;
        site.good("gun-pick", &format!("QTY:{qty}")).await;
        v = site.good("gun-pick", &vit(&lot, None)).await;
        picked_lots.push(lot);
    }
    assert_eq!(picked_lots, ["LA", "LB"]);
    site.good("gun-pick", "CMD:DONE").await;
    site.good("gun-pick", "CMD:LOGOUT").await;
    assert_eq!(site.status("O-400").await, "picked");

    site.good("gun-pack", "EMP:B-2").await;
    site.good("gun-pack", "TOTE:T-4").await;
    let v = site.bad("gun-pack", &vit("LZ", None)).await;
    assert!(
        v["prompt"]
            .as_str()
            .unwrap_or("")
            .contains("Wrong lot: lot LZ"),
        "{v}"
    );
    // Carton 1: one unit of LB (0.100 kg + 0.100 kg tare).
    site.good("gun-pack", &vit("LB", None)).await;
    site.place("0.200");
    site.good("gun-pack", "CMD:DONE").await;
    until("carton 1 is labelled", || async {
        site.pack_step() == "labelled"
    })
    .await;
    // Carton 2: the other unit of LB, with its serial.
    site.good("gun-pack", &vit("LB", Some("SN-42"))).await;
    site.good("gun-pack", "CMD:DONE").await;
    until("carton 2 is labelled", || async {
        site.pack_step() == "labelled" && site.labels_printed().len() == 2
    })
    .await;
    let v = site.good("gun-pack", "CMD:DONE").await;
    assert_eq!(v["context"]["stage"], "approve_partial", "{v}");
    site.good("gun-pack", "EMP:B-9").await;
    site.good("gun-pack", "PIN:482913").await;
    assert_eq!(site.status("O-400").await, "partially_shipped");

    let body = site.text("SELECT body FROM outbox WHERE type = 'shipment.created'");
    let body: Value = serde_json::from_str(&body).expect("event json");
    assert_eq!(
        body["data"]["items"],
        json!([{"sku": "VIT", "qty": 2, "lot": "LB", "serials": ["SN-42"]}]),
        "{body}"
    );
    assert_eq!(body["data"]["packages"].as_array().map(Vec::len), Some(2));
    let order = site.order("O-400").await;
    assert_eq!(
        order["shipments"][0]["items"], body["data"]["items"],
        "{order}"
    );
    // What is left in the tote is lot LA, to go back to the shelf.
    assert_eq!(
        site.int("SELECT qty FROM tote_contents WHERE tote = 'T-4' AND lot = 'LA'"),
        2
    );
    assert_eq!(
        site.int("SELECT count(*) FROM tote_contents WHERE tote = 'T-4' AND lot = 'LB'"),
        0
    );
    let stock = site.edge_stock();
    assert_eq!(stock.get("stock:acme/VIT/TOTE:T-4/LA"), Some(&2));
    assert_eq!(stock.get("stock:acme/VIT/TOTE:T-4/LB"), Some(&0));
    site.central_matches_the_edge().await;
    site.shutdown().await;
}
