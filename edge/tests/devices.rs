//! The device manager end to end: a real node with simulated devices on real pseudo-terminals
//! and loopback TCP, driven and observed through HTTP and the event stream only.

mod common;

use common::events::Events;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_hardware::sim::{
    EscPosPrinter, EscPosState, PtySim, ScaleState, SicsScale, Silent, TcpSim, ZplPrinter, ZplState,
};

const DEADLINE: Duration = Duration::from_secs(15);
const ADMIN: &str = "test-key-for-admin";
const PACKER: &str = "test-key-for-packer";
const PICKER: &str = "test-key-for-picker";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Sims {
    scanner: PtySim,
    scale: PtySim,
    scale_state: Arc<Mutex<ScaleState>>,
    zpl: TcpSim,
    zpl_state: Arc<Mutex<ZplState>>,
    escpos: TcpSim,
    escpos_state: Arc<Mutex<EscPosState>>,
}

struct Node {
    base: String,
    http: Client,
    sims: Arc<Sims>,
    dir: Arc<tempfile::TempDir>,
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

const FAST: &str = "poll_interval_ms = 100\nstatus_timeout_ms = 400\nreconnect_max_ms = 200\n";

async fn start() -> Node {
    let scale = SicsScale::new("2.345", "kg");
    let scale_state = scale.state();
    let zpl = ZplPrinter::new();
    let zpl_state = zpl.state();
    let escpos = EscPosPrinter::new();
    let escpos_state = escpos.state();
    let sims = Sims {
        scanner: PtySim::start("scanner", Silent).expect("scanner pty"),
        scale: PtySim::start("scale", scale).expect("scale pty"),
        scale_state,
        zpl: TcpSim::start(zpl).await.expect("zpl sim"),
        zpl_state,
        escpos: TcpSim::start(escpos).await.expect("escpos sim"),
        escpos_state,
    };
    boot(
        Arc::new(sims),
        Arc::new(tempfile::tempdir().expect("tempdir")),
    )
    .await
}

/// Starts a node on `dir` with the devices of `sims` (again, for a restart).
async fn boot(sims: Arc<Sims>, dir: Arc<tempfile::TempDir>) -> Node {
    let mut toml = format!(
        "[site]\nid = \"wh-dev\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n",
        dir.path().display()
    );
    for (role, key) in [("admin", ADMIN), ("packer", PACKER), ("picker", PICKER)] {
        toml.push_str(&format!(
            "[[api_keys]]\nname = \"{role}\"\nrole = \"{role}\"\nkey = \"{key}\"\n"
        ));
    }
    toml.push_str("[[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n");
    toml.push_str(&format!(
        "[[devices]]\nid = \"scanner-1\"\nkind = \"scanner\"\nprofile = \"generic-serial-scanner\"\ntransport = {{ serial = {{ path = \"{}\" }} }}\n{FAST}",
        sims.scanner.path_str()
    ));
    toml.push_str(&format!(
        "[[devices]]\nid = \"scale-1\"\nkind = \"scale\"\nprofile = \"mettler-toledo-sics\"\nstation = \"pack-1\"\ntransport = {{ serial = {{ path = \"{}\" }} }}\n{FAST}",
        sims.scale.path_str()
    ));
    toml.push_str(&format!(
        "[[devices]]\nid = \"zpl-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"pack-1\"\ntransport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n{FAST}",
        sims.zpl.port()
    ));
    toml.push_str(&format!(
        "[[devices]]\nid = \"receipt-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\ntransport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n{FAST}",
        sims.escpos.port()
    ));
    toml.push_str(
        "[[devices]]\nid = \"handheld-1\"\nkind = \"scanner\"\ntransport = { http = {} }\n",
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
    let addr = addr_rx.await.expect("listening");
    Node {
        base: format!("http://{addr}"),
        http: Client::new(),
        sims,
        dir,
        stop: Some(stop_tx),
        task: Some(task),
    }
}

impl Node {
    /// Stops the node and waits until it has shut every device down.
    async fn shutdown(mut self) -> (Arc<Sims>, Arc<tempfile::TempDir>) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(DEADLINE, t)
                .await
                .expect("node stops in time")
                .expect("node task");
        }
        (self.sims.clone(), self.dir.clone())
    }

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
            .bearer_auth(key);
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

    async fn device(&self, id: &str) -> Value {
        let (s, v) = self
            .call(Method::GET, &format!("/v1/devices/{id}"), ADMIN, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// Polls a device until `pred` holds, failing after the deadline.
    async fn wait_device(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let v = self.device(id).await;
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_state(&self, id: &str, state: &str) -> Value {
        self.wait_device(id, &format!("{id} {state}"), |v| v["state"] == state)
            .await
    }

    async fn all_online(&self) {
        for id in ["scanner-1", "scale-1", "zpl-1", "receipt-1", "handheld-1"] {
            self.wait_state(id, "online").await;
        }
    }

    /// Subscribes to `/v1/events`; the subscription exists once this returns.
    async fn events(&self, types: &str) -> Events {
        common::events::subscribe(&self.http, &self.base, ADMIN, types).await
    }
}

/// Waits until a condition on the simulators holds.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_come_online_and_scans_reach_the_event_stream() {
    let node = start().await;
    node.all_online().await;
    let (s, list) = node.call(Method::GET, "/v1/devices", ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 5);
    assert_eq!(list["pagination"]["has_more"], false);
    let zpl = data.iter().find(|d| d["id"] == "zpl-1").expect("zpl-1");
    assert_eq!(zpl["kind"], "label_printer");
    assert_eq!(zpl["profile"], "zebra-zpl-203");
    assert_eq!(zpl["station"], "pack-1");
    assert_eq!(zpl["transport"]["tcp"]["host"], "127.0.0.1");
    assert_eq!(zpl["status"]["paper_out"], false);
    let handheld = data
        .iter()
        .find(|d| d["id"] == "handheld-1")
        .expect("handheld");
    assert_eq!(handheld["profile"], "generic-serial-scanner");
    // Floor roles do not see the device registry.
    let (s, _) = node.call(Method::GET, "/v1/devices", PACKER, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, health) = node.call(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        health["services"]["devices"],
        json!({"online": 5, "offline": 0})
    );
    assert_eq!(health["status"], "healthy");
    let (s, metrics) = node.call(Method::GET, "/metrics", ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
    let metrics = metrics.as_str().unwrap_or("").to_string();
    assert!(
        metrics.contains("wms_edge_device_up{device=\"zpl-1\",kind=\"label_printer\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("wms_edge_device_error{device=\"scale-1\",kind=\"scale\"} 0"));
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");

    let mut events = node.events("scan").await;
    node.sims
        .scanner
        .write(b"]E00012345600012\r")
        .await
        .expect("scan");
    let (kind, ev) = events.next().await;
    assert_eq!(kind, "scan");
    assert_eq!(ev["type"], "scan");
    assert_eq!(ev["device_id"], "scanner-1");
    // Scanners at no station are only interpreted (a station's workflow would answer instead).
    assert_eq!(ev["station"], Value::Null);
    assert_eq!(ev["data"], "0012345600012");
    assert_eq!(ev["symbology"], "]E0");
    assert_eq!(ev["kind"], "gtin");
    assert_eq!(ev["result"], "accepted");
    assert_eq!(ev["feedback"], "good");
    assert!(ev["prompt"].is_string());
    node.wait_device("scanner-1", "last_scan_at", |v| {
        v["status"]["last_scan_at"].is_string()
    })
    .await;

    // A bad check digit is answered bad, with the reason as the prompt; a PIN never shows.
    node.sims
        .scanner
        .write(b"00012345600013\r")
        .await
        .expect("scan");
    let (_, ev) = events.next().await;
    assert_eq!(
        (ev["result"].as_str(), ev["feedback"].as_str()),
        (Some("rejected"), Some("bad"))
    );
    assert_eq!(ev["symbology"], Value::Null);
    assert!(!ev["prompt"].as_str().unwrap_or("").is_empty());
    node.sims.scanner.write(b"PIN:4711\r").await.expect("scan");
    let (_, ev) = events.next().await;
    assert_eq!(ev["data"], "PIN:****");
    assert!(!ev.to_string().contains("4711"));

    // A handheld's HTTP scan takes the same path.
    let (s, ans) = node
        .call(
            Method::POST,
            "/v1/scans",
            PICKER,
            Some(json!({"device_id": "handheld-1", "data": "LOC:A-03-2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ans}");
    assert_eq!(ans["result"], "accepted");
    assert_eq!(ans["feedback"], "good");
    assert_eq!(ans["context"]["kind"], "location");
    assert_eq!(ans["context"]["station"], Value::Null);
    let (_, ev) = events.next().await;
    assert_eq!(ev["device_id"], "handheld-1");
    assert_eq!(ev["data"], "LOC:A-03-2");
    assert_eq!(ev["kind"], "location");
    let (s, err) = node
        .call(
            Method::POST,
            "/v1/scans",
            PICKER,
            Some(json!({"device_id": "nope", "data": "LOC:A-03-2"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "validation_error");
    let (s, _) = node
        .call(
            Method::POST,
            "/v1/scans",
            PICKER,
            Some(json!({"device_id": "scale-1", "data": "LOC:A-03-2"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_is_read_exactly_and_faults_are_named() {
    let node = start().await;
    node.wait_state("scale-1", "online").await;
    let (s, w) = node
        .call(Method::GET, "/v1/devices/scale-1/weight", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w, json!({"value": "2.345", "unit": "kg", "stable": true}));
    node.wait_device("scale-1", "last stable weight", |v| {
        v["status"]["last_stable_weight"] == json!({"value": "2.345", "unit": "kg"})
    })
    .await;

    lock(&node.sims.scale_state).overload = true;
    let (s, err) = node
        .call(
            Method::GET,
            "/v1/devices/scale-1/weight?timeout_ms=1000",
            PACKER,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "conflict");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("overload"),
        "{err}"
    );
    {
        let mut st = lock(&node.sims.scale_state);
        st.overload = false;
        st.place("1.250", 1000);
    }
    let (s, err) = node
        .call(
            Method::GET,
            "/v1/devices/scale-1/weight?timeout_ms=300",
            PACKER,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("motion"),
        "{err}"
    );
    lock(&node.sims.scale_state).place("1.250", 0);
    let (s, _) = node
        .call(Method::POST, "/v1/devices/scale-1/tare", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, w) = node
        .call(Method::GET, "/v1/devices/scale-1/weight", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(w["value"], "0.000");
    // Not a scale; not a packer.
    let (s, _) = node
        .call(Method::GET, "/v1/devices/zpl-1/weight", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = node
        .call(Method::GET, "/v1/devices/scale-1/weight", PICKER, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = node
        .call(Method::GET, "/v1/devices/nope/weight", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Unplugged: offline in the registry and on the stream, 503 on a read; back by itself.
    let mut events = node.events("device.state").await;
    node.sims.scale.unplug().await;
    node.wait_state("scale-1", "offline").await;
    let (_, ev) = events.next().await;
    assert_eq!(ev["device_id"], "scale-1");
    assert_eq!(ev["state"], "offline");
    let (s, err) = node
        .call(
            Method::GET,
            "/v1/devices/scale-1/weight?timeout_ms=500",
            PACKER,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{err}");
    assert_eq!(err["error"]["code"], "device_unavailable");
    let (_, health) = node.call(Method::GET, "/health", ADMIN, None).await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["services"]["devices"]["offline"], 1);
    node.sims.scale.replug().await.expect("replug");
    node.wait_state("scale-1", "online").await;
    let (_, ev) = events.next().await;
    assert_eq!(
        (ev["device_id"].as_str(), ev["state"].as_str()),
        (Some("scale-1"), Some("online"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_print_waits_for_paper_and_prints_once() {
    let node = start().await;
    node.wait_state("zpl-1", "online").await;
    node.wait_state("receipt-1", "online").await;
    lock(&node.sims.zpl_state).set(true, false, false);
    let v = node.wait_state("zpl-1", "error").await;
    assert_eq!(v["status"]["paper_out"], true);
    assert!(v["last_error"].is_string());

    let (s, job) = node
        .call(Method::POST, "/v1/devices/zpl-1/test-print", ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["state"], "queued");
    assert!(job["job_id"].is_string());
    // Several status polls later the label is still held back.
    let polled = lock(&node.sims.zpl_state).hs_queries;
    eventually("more status polls", || {
        lock(&node.sims.zpl_state).hs_queries >= polled + 3
    })
    .await;
    {
        let st = lock(&node.sims.zpl_state);
        assert_eq!(st.printed, 0);
        assert!(st.formats.is_empty(), "sent while paper out");
    }
    lock(&node.sims.zpl_state).set(false, false, false);
    eventually("held label printed", || {
        lock(&node.sims.zpl_state).printed == 1
    })
    .await;
    node.wait_state("zpl-1", "online").await;
    let polled = lock(&node.sims.zpl_state).hs_queries;
    eventually("more status polls", || {
        lock(&node.sims.zpl_state).hs_queries >= polled + 3
    })
    .await;
    {
        let st = lock(&node.sims.zpl_state);
        assert_eq!(st.printed, 1, "printed once");
        assert_eq!(st.formats.len(), 1);
        assert!(st.formats[0].contains("^XA"), "{:?}", st.formats[0]);
    }

    let (s, job) = node
        .call(
            Method::POST,
            "/v1/devices/receipt-1/test-print",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    eventually("receipt printed", || {
        lock(&node.sims.escpos_state).receipts == 1
    })
    .await;
    let (s, _) = node
        .call(Method::POST, "/v1/devices/scale-1/test-print", ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = node
        .call(Method::POST, "/v1/devices/zpl-1/test-print", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_devices_go_offline_and_come_back() {
    let node = start().await;
    node.all_online().await;
    node.sims.zpl.unplug().await;
    node.sims.scanner.unplug().await;
    node.wait_state("zpl-1", "offline").await;
    let v = node.wait_state("scanner-1", "offline").await;
    assert!(v["last_error"].is_string());
    node.sims.zpl.replug().await.expect("replug printer");
    node.sims.scanner.replug().await.expect("replug scanner");
    node.wait_state("zpl-1", "online").await;
    node.wait_state("scanner-1", "online").await;
    // The scanner reads again after it is back.
    let mut events = node.events("scan").await;
    node.sims
        .scanner
        .write(b"TOTE:T-0042\r")
        .await
        .expect("scan");
    let (_, ev) = events.next().await;
    assert_eq!(ev["device_id"], "scanner-1");
    assert_eq!(ev["data"], "TOTE:T-0042");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_printers_start_empty_without_multicast() {
    let node = start().await;
    let (s, v) = node
        .call(Method::GET, "/v1/devices/discovered", ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!([]));
    let (s, _) = node
        .call(Method::GET, "/v1/devices/discovered", PACKER, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_job_survives_a_restart_and_prints_once() {
    let node = start().await;
    node.wait_state("zpl-1", "online").await;
    lock(&node.sims.zpl_state).set(true, false, false);
    node.wait_state("zpl-1", "error").await;
    let (s, job) = node
        .call(Method::POST, "/v1/devices/zpl-1/test-print", ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let (sims, dir) = node.shutdown().await;
    assert_eq!(lock(&sims.zpl_state).printed, 0);
    assert!(lock(&sims.zpl_state).formats.is_empty());

    let node = boot(sims, dir).await;
    node.wait_state("zpl-1", "error").await;
    lock(&node.sims.zpl_state).set(false, false, false);
    eventually("held label printed after the restart", || {
        lock(&node.sims.zpl_state).printed == 1
    })
    .await;
    node.wait_state("zpl-1", "online").await;
    let polled = lock(&node.sims.zpl_state).hs_queries;
    eventually("more status polls", || {
        lock(&node.sims.zpl_state).hs_queries >= polled + 3
    })
    .await;
    let st = lock(&node.sims.zpl_state).clone();
    assert_eq!((st.printed, st.formats.len()), (1, 1), "printed once");
}
