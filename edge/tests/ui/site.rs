//! A node for the browser tests, in this process: a warehouse's pick and pack stations with
//! handheld scanners (`POST /v1/scans`), a SICS scale on a pty and a label printer simulator on
//! loopback TCP at the pack bench, and a store's
//! register `pos-1` with a receipt printer and a payment terminal simulated on loopback TCP;
//! real HTTP on a port of its own and a real SQLite file. It can be stopped and started again on
//! the same port and data, as a node restarted under an open page.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_hardware::sim::{
    EscPosPrinter, PaymentTerminal, PtySim, SicsScale, TcpSim, ZplPrinter, ZplState,
};
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

pub const ADMIN: &str = "ui-test-admin-key-0001";
pub const PIN: &str = "4321";
/// (user id, name, badge, roles, tenant)
pub const USERS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("u-pia", "Pia", "B-101", "picker", None),
    ("u-ben", "Ben", "B-102", "packer", None),
    ("u-cas", "Cass", "B-200", "cashier", Some("acme")),
    ("u-sam", "Sam", "B-300", "supervisor", None),
];
pub const TEE: &str = "00614141000012";
pub const MUG: &str = "0614141000029";
pub const SHIRT: &str = "00012345600012";

pub struct Sims {
    /// The central platform: ID blocks (tracking numbers, SSCCs) and the upstream events.
    pub central: CentralSim,
    /// The pack bench's scale, showing a carton of two shirts.
    pub scale: PtySim,
    pub terminal: TcpSim,
    pub receipt: TcpSim,
    pub label: TcpSim,
    pub label_state: Arc<Mutex<ZplState>>,
}

pub struct Site {
    pub base: String,
    pub http: Client,
    pub dir: tempfile::TempDir,
    pub sims: Sims,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn config(dir: &std::path::Path, listen: &str, sims: &Sims) -> String {
    let creds = sims.central.credentials();
    format!(
        "[site]\nid = \"st-ui\"\ntimezone = \"UTC\"\ndata_dir = \"{data}\"\n\
         ship_from = {{ name = \"Acme Fulfillment\", street1 = \"5 Dock Rd\", city = \"Newark\", region = \"NJ\", postal_code = \"07101\", country = \"US\" }}\n\
         [http]\nlisten = \"{listen}\"\n[discovery]\nenabled = false\n\
         [central]\nurl = \"{central}\"\napi_key = \"{central_key}\"\nsigning_secret = \"{secret}\"\nretry_base_ms = 50\nretry_cap_ms = 500\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n\
         [[stations]]\nid = \"pick-1\"\nkind = \"pick\"\n\
         [[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n\
         [[stations]]\nid = \"count-1\"\nkind = \"count\"\nidle_timeout_s = 3\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [stations.pos]\nreceipt_header = [\"Acme Store\"]\n\
         [[devices]]\nid = \"hh-pick\"\nkind = \"scanner\"\nstation = \"pick-1\"\ntransport = {{ http = {{}} }}\n\
         [[devices]]\nid = \"hh-pack\"\nkind = \"scanner\"\nstation = \"pack-1\"\ntransport = {{ http = {{}} }}\n\
         [[devices]]\nid = \"label-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"pack-1\"\n\
         poll_interval_ms = 200\ntransport = {{ tcp = {{ host = \"127.0.0.1\", port = {label} }} }}\n\
         [[devices]]\nid = \"scale-1\"\nkind = \"scale\"\nprofile = \"mettler-toledo-sics\"\nstation = \"pack-1\"\n\
         transport = {{ serial = {{ path = \"{scale}\" }} }}\n\
         [[devices]]\nid = \"term-1\"\nkind = \"payment_terminal\"\nprofile = \"nexo-terminal\"\nstation = \"pos-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {term} }} }}\n\
         [[devices]]\nid = \"rcpt-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pos-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {rcpt} }} }}\n",
        data = dir.join("data").display(),
        central = creds.central_url,
        central_key = creds.api_key,
        secret = String::from_utf8_lossy(&creds.signing_secret),
        label = sims.label.port(),
        scale = sims.scale.path_str(),
        term = sims.terminal.port(),
        rcpt = sims.receipt.port(),
    )
}

async fn serve(toml: String) -> (SocketAddr, oneshot::Sender<()>, oneshot::Receiver<()>) {
    let cfg = wms_edge::config::parse("ui.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let r = wms_edge::node::serve(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        )
        .await;
        if let Err(e) = r {
            eprintln!("node stopped with {e}");
        }
        let _ = done_tx.send(());
    });
    let addr = tokio::time::timeout(super::browser::DEADLINE, addr_rx)
        .await
        .expect("listening in time")
        .expect("listening");
    (addr, stop_tx, done_rx)
}

pub async fn start() -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let zpl = ZplPrinter::new();
    let label_state = zpl.state();
    let mut central = SimConfig::new("st-ui");
    central.faults = Faults::none();
    let sims = Sims {
        central: CentralSim::start(central).await.expect("central simulator"),
        scale: PtySim::start("scale-1", SicsScale::new("0.500", "kg")).expect("scale"),
        terminal: TcpSim::start(PaymentTerminal::new())
            .await
            .expect("terminal"),
        receipt: TcpSim::start(EscPosPrinter::new())
            .await
            .expect("receipt printer"),
        label: TcpSim::start(zpl).await.expect("label printer"),
        label_state,
    };
    let (addr, stop, done) = serve(config(dir.path(), "127.0.0.1:0", &sims)).await;
    let site = Site {
        base: format!("http://{addr}"),
        http: Client::new(),
        dir,
        sims,
        addr,
        stop: Some(stop),
        done: Some(done),
    };
    site.seed().await;
    site
}

impl Site {
    /// Stops the node and waits until it has; the data and the simulators stay.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = tokio::time::timeout(super::browser::DEADLINE, d).await;
        }
    }

    /// Starts the node again on the same address and data.
    pub async fn start_again(&mut self) {
        let toml = config(self.dir.path(), &self.addr.to_string(), &self.sims);
        let (addr, stop, done) = serve(toml).await;
        assert_eq!(addr, self.addr);
        self.stop = Some(stop);
        self.done = Some(done);
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token)
            .timeout(super::browser::DEADLINE);
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

    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, ADMIN, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    /// A session token of a floor user, as `POST /v1/sessions` gives it.
    pub async fn token(&self, badge: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/v1/sessions", self.base))
            .json(&json!({"badge": badge, "pin": PIN}))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let v: Value = resp.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// A scan through `POST /v1/scans`, as another client (a handheld app) sends it.
    pub async fn scan(&self, device: &str, data: &str) -> Value {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/scans",
                ADMIN,
                Some(json!({"device_id": device, "data": data})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{data}: {v}");
        v
    }

    pub async fn device_state(&self, id: &str) -> String {
        let d = self
            .ok(Method::GET, &format!("/v1/devices/{id}"), None)
            .await;
        d["state"].as_str().unwrap_or_default().to_string()
    }

    pub async fn wait_device(&self, id: &str, state: &str) {
        let end = tokio::time::Instant::now() + super::browser::DEADLINE;
        while self.device_state(id).await != state {
            assert!(
                tokio::time::Instant::now() < end,
                "device {id} never {state}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A warehouse with two shelves and an order to pick, a store with two products, a tax
    /// rate and the people of `USERS`.
    async fn seed(&self) {
        self.ok(
            Method::PUT,
            "/v1/locations/STORE",
            Some(json!({"kind": "store", "pick_sequence": 0})),
        )
        .await;
        for (code, seq) in [("A-01-1", 1), ("A-02-1", 2)] {
            self.ok(
                Method::PUT,
                &format!("/v1/locations/{code}"),
                Some(json!({"zone": "A", "pick_sequence": seq})),
            )
            .await;
        }
        self.ok(
            Method::PUT,
            "/v1/tax-rates/STD",
            Some(json!({"name": "Sales tax", "rate": "8.875"})),
        )
        .await;
        for (sku, name, price, barcode) in [
            ("TEE", "Acme T-shirt", 1999, TEE),
            ("MUG", "Acme mug", 1250, MUG),
            ("SHIRT", "Oxford shirt", 3500, SHIRT),
        ] {
            self.ok(
                Method::PUT,
                &format!("/v1/products/acme/{sku}"),
                Some(json!({"name": name, "barcodes": [barcode], "weight": {"value": "0.250", "unit": "kg"},
                    "price": {"amount": price, "currency": "USD"}, "tax_code": "STD"})),
            )
            .await;
        }
        for (sku, location) in [("SHIRT", "A-02-1"), ("TEE", "STORE"), ("MUG", "STORE")] {
            self.ok(
                Method::POST,
                "/v1/inventory/adjustments",
                Some(json!({"tenant_id": "acme", "sku": sku, "location": location, "delta": 12, "reason": "received"})),
            )
            .await;
        }
        for (id, name, badge, role, tenant) in USERS {
            self.ok(
                Method::PUT,
                &format!("/v1/users/{id}"),
                Some(json!({"name": name, "badge": badge, "pin": PIN, "roles": [role], "tenant_id": tenant})),
            )
            .await;
        }
        self.ok(
            Method::POST,
            "/v1/orders",
            Some(json!({"id": "O-1001", "tenant_id": "acme",
                        "shipping": {"carrier": "ups", "service": "ground"},
                        "ship_to": {"name": "Ada Lovelace", "street1": "1 Main St", "city": "Springfield",
                                    "region": "IL", "postal_code": "62701", "country": "US"},
                        "lines": [{"line_id": "1", "sku": "SHIRT", "qty": 2}]})),
        )
        .await;
        self.wait_device("term-1", "online").await;
        self.wait_device("scale-1", "online").await;
    }
}

pub fn lock<T>(m: &Arc<Mutex<T>>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
