//! A store's node in this process, for the point-of-sale tests: register `pos-1` of tenant
//! `acme` at location `STORE` (USD), its devices simulated on loopback TCP (an ESC/POS receipt
//! printer, a nexo payment terminal), real HTTP and a real SQLite file; two products with a tax
//! rate, a cashier `B-200`/`482913` and a supervisor `B-300`/`771155`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wms_hardware::sim::{EscPosPrinter, EscPosState, PaymentTerminal, TcpSim, TerminalState};

pub const DEADLINE: Duration = Duration::from_secs(30);
pub const ADMIN: &str = "till-test-admin-key-0001";
pub const CASHIER: (&str, &str) = ("B-200", "482913");
pub const SUPERVISOR: (&str, &str) = ("B-300", "771155");
pub const TEE: &str = "00614141000012";
pub const MUG: &str = "0614141000029";

/// Waits for `cond` with a deadline (no sleeps as synchronisation).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn lock<T>(m: &Arc<Mutex<T>>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the register has and how it is set up.
pub struct TillOptions {
    pub terminal: bool,
    pub printer: bool,
    /// Lines added under `[stations.pos]`.
    pub pos: String,
    /// TOML appended to the config (a `[central]`, more devices).
    pub extra: String,
}

impl Default for TillOptions {
    fn default() -> Self {
        TillOptions {
            terminal: true,
            printer: true,
            pos: String::new(),
            extra: String::new(),
        }
    }
}

pub struct TillNode {
    pub base: String,
    pub http: Client,
    pub db: std::path::PathBuf,
    pub terminal: Arc<Mutex<TerminalState>>,
    pub printer: Arc<Mutex<EscPosState>>,
    pub terminal_sim: Option<TcpSim>,
    pub printer_sim: Option<TcpSim>,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl Drop for TillNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn start(opts: TillOptions) -> TillNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = PaymentTerminal::new();
    let terminal = t.state();
    let p = EscPosPrinter::new();
    let printer = p.state();
    let mut toml = format!(
        "[site]\nid = \"st-14\"\ntimezone = \"America/New_York\"\ndata_dir = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [stations.pos]\ncash_rounding = 5\ndiscount_limit_pct = 10\n\
         receipt_header = [\"Acme Store #14\"]\nreceipt_footer = [\"Returns within 30 days\"]\n{}",
        dir.path().join("data").display(),
        opts.pos
    );
    let terminal_sim = if opts.terminal {
        let sim = TcpSim::start(t).await.expect("terminal");
        toml.push_str(&format!(
            "[[devices]]\nid = \"term-1\"\nkind = \"payment_terminal\"\nprofile = \"nexo-terminal\"\nstation = \"pos-1\"\n\
             response_timeout_ms = 800\ntransport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n",
            sim.port()
        ));
        Some(sim)
    } else {
        None
    };
    let printer_sim = if opts.printer {
        let sim = TcpSim::start(p).await.expect("printer");
        toml.push_str(&format!(
            "[[devices]]\nid = \"rcpt-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pos-1\"\n\
             transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n",
            sim.port()
        ));
        Some(sim)
    } else {
        None
    };
    toml.push_str(&opts.extra);
    let cfg = wms_edge::config::parse("till.toml", &toml).expect("config");
    let db = cfg.db_path();
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
    let addr = addr_rx.await.expect("listening");
    let node = TillNode {
        base: format!("http://{addr}"),
        http: Client::new(),
        db,
        terminal,
        printer,
        terminal_sim,
        printer_sim,
        dir,
        stop: Some(stop_tx),
        done: Some(done_rx),
    };
    node.seed().await;
    if opts.terminal {
        node.wait_device("term-1", "online").await;
    }
    node
}

impl TillNode {
    /// Stops the node and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = tokio::time::timeout(DEADLINE, d).await;
        }
    }

    pub async fn call(
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

    pub async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
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
        for (sku, price, barcode) in [("TEE", 1999, TEE), ("MUG", 1250, MUG)] {
            self.ok(
                Method::PUT,
                &format!("/v1/products/acme/{sku}"),
                ADMIN,
                Some(json!({"name": format!("Acme {sku}"), "barcodes": [barcode],
                    "price": {"amount": price, "currency": "USD"}, "tax_code": "STD"})),
            )
            .await;
        }
        for (id, (badge, pin), role) in [
            ("u-cash", CASHIER, "cashier"),
            ("u-sup", SUPERVISOR, "supervisor"),
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

    pub async fn wait_device(&self, id: &str, state: &str) {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let d = self
                .ok(Method::GET, &format!("/v1/devices/{id}"), ADMIN, None)
                .await;
            if d["state"] == state {
                return;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "device {id} never {state}: {d}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn login(&self, (badge, pin): (&str, &str)) -> String {
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

    /// Logs the cashier in and opens `pos-1` with a float of 100.00.
    pub async fn open_register(&self) -> String {
        let cashier = self.login(CASHIER).await;
        self.ok(
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            &cashier,
            Some(json!({"opening_float": 10000})),
        )
        .await;
        cashier
    }

    /// A new sale with `codes` scanned in (one unit each).
    pub async fn sale_with(&self, cashier: &str, codes: &[&str]) -> Value {
        let mut sale = self
            .ok(
                Method::POST,
                "/v1/pos/sales",
                cashier,
                Some(json!({"register_id": "pos-1"})),
            )
            .await;
        for code in codes {
            let id = sale["id"].as_str().expect("id").to_string();
            sale = self
                .ok(
                    Method::POST,
                    &format!("/v1/pos/sales/{id}/lines"),
                    cashier,
                    Some(json!({"code": code})),
                )
                .await;
        }
        sale
    }

    pub async fn pay(
        &self,
        cashier: &str,
        sale: &str,
        key: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/v1/pos/sales/{sale}/payments"),
            cashier,
            Some(body),
            Some(key),
        )
        .await
    }

    /// The payment once it is final (long polls of the API itself).
    pub async fn settled(&self, token: &str, payment: &str) -> Value {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let p = self
                .ok(
                    Method::GET,
                    &format!("/v1/pos/payments/{payment}?wait=5"),
                    token,
                    None,
                )
                .await;
            if p["state"] != "pending" {
                return p;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "payment {payment} still pending: {p}"
            );
        }
    }

    pub async fn sale(&self, token: &str, id: &str) -> Value {
        self.ok(Method::GET, &format!("/v1/pos/sales/{id}"), token, None)
            .await
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).expect("open db")
    }

    /// Every receipt text the printer simulator printed so far.
    pub fn printed(&self) -> String {
        lock(&self.printer).printed.clone()
    }
}

pub fn amount(v: &Value) -> i64 {
    v["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no amount in {v}"))
}

pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}
