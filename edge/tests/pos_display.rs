//! The register's customer display over real transports: a node with register `pos-1` whose
//! display is the DM-D simulator on a pty or loopback TCP, a cashier selling through the HTTP
//! API, and the simulator's screen read as the customer sees it — each line rung up with the
//! total, then the total and the change. A display that is offline during the sale neither
//! fails nor holds it up, and shows the present screen once it is back; a restarted node shows
//! the sale in progress.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wms_hardware::protocol::display::DisplayScreen;
use wms_hardware::sim::{CustomerDisplay, DisplayState, PtySim, TcpSim};

const DEADLINE: Duration = Duration::from_secs(20);
const ADMIN: &str = "pos-display-admin-key-01";
const WELCOME: [&str; 2] = ["      WELCOME", ""];

fn lock(s: &Arc<Mutex<DisplayState>>) -> MutexGuard<'_, DisplayState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until the simulated display shows `want` (trailing spaces aside).
async fn shows(display: &Arc<Mutex<DisplayState>>, want: [&str; 2]) {
    let want = want.map(str::to_string);
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let now = lock(display).text();
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the display shows {now:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Node {
    base: String,
    http: Client,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A node with register `pos-1` and its display `disp-1` on `transport` (a TOML inline
/// table), its data in `dir`.
async fn start(dir: &Path, transport: &str) -> Node {
    let toml = format!(
        "[site]\nid = \"st-14\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [[devices]]\nid = \"disp-1\"\nkind = \"customer_display\"\nprofile = \"epson-dm-d110\"\nstation = \"pos-1\"\n\
         transport = {transport}\npoll_interval_ms = 200\nstatus_timeout_ms = 500\nreconnect_max_ms = 300\n",
        dir.display()
    );
    let cfg = wms_edge::config::parse("pos.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    let served = tokio::spawn(async move {
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
        r.expect("the node ran");
    });
    let addr = addr_rx.await.expect("listening");
    Node {
        base: format!("http://{addr}"),
        http: Client::new(),
        stop: Some(stop_tx),
        served: Some(served),
    }
}

fn tcp(port: u16) -> String {
    format!("{{ tcp = {{ host = \"127.0.0.1\", port = {port} }} }}")
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

    /// Stops the node and waits until it has let go of its devices.
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.served.take() {
            h.await.expect("the node stopped");
        }
    }

    async fn seed(&self) {
        self.ok(
            Method::PUT,
            "/v1/locations/STORE",
            ADMIN,
            Some(json!({"kind": "store", "pick_sequence": 0})),
        )
        .await;
        for (sku, name, price, barcode) in [
            ("TEE", "Acme Tee", 1999, "00614141000012"),
            ("MUG", "Crème brûlée mug", 1250, "0614141000029"),
        ] {
            self.ok(
                Method::PUT,
                &format!("/v1/products/acme/{sku}"),
                ADMIN,
                Some(json!({"name": name, "barcodes": [barcode],
                    "price": {"amount": price, "currency": "USD"}})),
            )
            .await;
        }
        self.ok(
            Method::PUT,
            "/v1/users/u-cash",
            ADMIN,
            Some(json!({"name": "Cy", "badge": "B-200", "pin": "482913", "roles": ["cashier"], "tenant_id": "acme"})),
        )
        .await;
    }

    async fn login(&self) -> String {
        let resp = self
            .http
            .post(format!("{}/v1/sessions", self.base))
            .json(&json!({"badge": "B-200", "pin": "482913"}))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let v: Value = resp.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// The register's display as `GET /v1/pos/registers/pos-1` shows it.
    async fn register_display(&self) -> Value {
        let r = self
            .ok(Method::GET, "/v1/pos/registers/pos-1", ADMIN, None)
            .await;
        r["devices"]["customer_display"].clone()
    }

    async fn display_state_is(&self, state: &str) {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let d = self.register_display().await;
            if d["state"] == state {
                assert_eq!(d["id"], "disp-1");
                return;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "the display is {d}, not {state}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens the session and a sale; the sale's id.
    async fn open_sale(&self, cashier: &str) -> String {
        self.ok(
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            cashier,
            Some(json!({"opening_float": 10000})),
        )
        .await;
        let sale = self
            .ok(
                Method::POST,
                "/v1/pos/sales",
                cashier,
                Some(json!({"register_id": "pos-1"})),
            )
            .await;
        sale["id"].as_str().expect("sale id").to_string()
    }
}

#[tokio::test]
async fn a_cash_sale_shows_each_line_the_total_then_the_change() {
    let display = CustomerDisplay::new();
    let screen = display.state();
    let pty = PtySim::start("display", display).expect("display simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let serial = format!("{{ serial = {{ path = {:?} }} }}", pty.path_str());
    let node = start(dir.path(), &serial).await;
    node.seed().await;

    shows(&screen, WELCOME).await;
    node.display_state_is("online").await;
    let devices = node.ok(Method::GET, "/v1/devices", ADMIN, None).await;
    let d = devices["data"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["id"] == "disp-1"))
        .cloned()
        .expect("the display is listed");
    assert_eq!(
        (&d["kind"], &d["profile"], &d["station"], &d["state"]),
        (
            &json!("customer_display"),
            &json!("epson-dm-d110"),
            &json!("pos-1"),
            &json!("online")
        ),
        "{d}"
    );
    assert_eq!(
        d["status"]["shown"][0],
        format!("{:<20}", WELCOME[0]),
        "{d}"
    );

    let cashier = node.login().await;
    let id = node.open_sale(&cashier).await;
    shows(&screen, WELCOME).await;

    let lines = format!("/v1/pos/sales/{id}/lines");
    node.ok(Method::POST, &lines, &cashier, Some(json!({"sku": "TEE"})))
        .await;
    shows(&screen, ["Acme Tee       19.99", "TOTAL          19.99"]).await;
    // By barcode; the name is cut to leave room for the price, its accents in the display's
    // code page (PC437 has è, û and é).
    let sale = node
        .ok(
            Method::POST,
            &lines,
            &cashier,
            Some(json!({"code": "0614141000029"})),
        )
        .await;
    shows(&screen, ["Crème brûlée m 12.50", "TOTAL          32.49"]).await;
    let mug = sale["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku"] == "MUG"))
        .and_then(|l| l["line_id"].as_str())
        .expect("the mug's line")
        .to_string();
    node.ok(
        Method::PATCH,
        &format!("{lines}/{mug}"),
        &cashier,
        Some(json!({"qty": 2})),
    )
    .await;
    shows(&screen, ["Crème brûlée m 12.50", "TOTAL          44.99"]).await;
    node.ok(Method::DELETE, &format!("{lines}/{mug}"), &cashier, None)
        .await;
    shows(&screen, ["Crème brûlée REMOVED", "TOTAL          19.99"]).await;

    // Split tender: 10.00 first, then 20.00 for the 9.99 left.
    let pay = format!("/v1/pos/sales/{id}/payments");
    let (s, v) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(json!({"method": "cash", "tendered": 1000})),
            Some("p-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    shows(&screen, ["PAID           10.00", "DUE             9.99"]).await;
    let (s, v) = node
        .call(
            Method::POST,
            &pay,
            &cashier,
            Some(json!({"method": "cash", "tendered": 2000})),
            Some("p-2"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["sale"]["status"], "completed", "{v}");
    shows(&screen, ["TOTAL          19.99", "CHANGE         10.01"]).await;

    // The next customer is greeted.
    node.ok(
        Method::POST,
        "/v1/pos/sales",
        &cashier,
        Some(json!({"register_id": "pos-1"})),
    )
    .await;
    shows(&screen, WELCOME).await;
    assert_eq!(lock(&screen).screen.inits(), 1, "one connection, one ESC @");
    node.stop().await;
}

#[tokio::test]
async fn an_offline_display_neither_fails_nor_holds_up_the_sale_and_shows_the_present_when_back() {
    let display = CustomerDisplay::new();
    let screen = display.state();
    let sim = TcpSim::start(display).await.expect("display simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path(), &tcp(sim.port())).await;
    node.seed().await;
    shows(&screen, WELCOME).await;
    node.display_state_is("online").await;

    sim.unplug().await;
    node.display_state_is("offline").await;

    let cashier = node.login().await;
    let id = node.open_sale(&cashier).await;
    let lines = format!("/v1/pos/sales/{id}/lines");
    for body in [json!({"sku": "TEE"}), json!({"code": "0614141000029"})] {
        node.ok(Method::POST, &lines, &cashier, Some(body)).await;
    }
    let (s, v) = node
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{id}/payments"),
            &cashier,
            Some(json!({"method": "cash", "tendered": 4000})),
            Some("p-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["sale"]["status"], "completed", "{v}");
    // The sale is done while the display is still away: nothing waited for it.
    assert_eq!(node.register_display().await["state"], "offline");

    sim.replug().await.expect("replug");
    node.display_state_is("online").await;
    shows(&screen, ["TOTAL          32.49", "CHANGE          7.51"]).await;
    let history = lock(&screen).history.clone();
    assert!(
        !history
            .iter()
            .any(|l| l[0].starts_with("Acme Tee") || l[0].starts_with("Crème")),
        "screens missed while offline were replayed: {history:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_restarted_node_shows_the_sale_in_progress() {
    let display = CustomerDisplay::new();
    let screen = display.state();
    let sim = TcpSim::start(display).await.expect("display simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path(), &tcp(sim.port())).await;
    node.seed().await;
    let cashier = node.login().await;
    let id = node.open_sale(&cashier).await;
    node.ok(
        Method::POST,
        &format!("/v1/pos/sales/{id}/lines"),
        &cashier,
        Some(json!({"sku": "TEE", "qty": 3})),
    )
    .await;
    shows(&screen, ["Acme Tee       19.99", "TOTAL          59.97"]).await;
    node.stop().await;

    // The display loses its screen while the node is down; the new node puts the open sale
    // back (not the welcome).
    lock(&screen).screen = DisplayScreen::new(20);
    let node = start(dir.path(), &tcp(sim.port())).await;
    shows(&screen, ["Acme Tee       19.99", "TOTAL          59.97"]).await;
    node.stop().await;
}
