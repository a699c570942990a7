//! The register's node is SIGKILLed with a card payment outstanding (research/pos-payments.md
//! §8.13). The restarted node finds the `pending` attempt it committed before sending, asks the
//! terminal about that ServiceID before the register takes another card, and ends with the sale
//! in the state the terminal's money says: charged once and completed, aborted and unpaid, or
//! not processed and free to try again. Never a second charge. The node's own log (at debug
//! level), its database and WAL never hold the full card number the terminal leaks.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{spawn_with_log, write_config, Edge};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use wms_hardware::sim::{PaymentTerminal, TcpSim, TerminalMode, TerminalState, TEST_PAN};

const KEY: &str = "pos-kill9-admin-key";
const DEADLINE: Duration = Duration::from_secs(30);

fn lock(
    s: &std::sync::Arc<std::sync::Mutex<TerminalState>>,
) -> std::sync::MutexGuard<'_, TerminalState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Run {
    http: Client,
    base: String,
}

impl Run {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("send");
        let s = resp.status();
        let text = resp.text().await.expect("text");
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let (s, v) = self.call(method, path, token, body, None).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    async fn login(&self) -> String {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/v1/sessions",
                "",
                Some(json!({"badge": "B-200", "pin": "482913"})),
            )
            .await;
        v["token"].as_str().expect("token").to_string()
    }

    async fn settled(&self, token: &str, payment: &str) -> Value {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let p = self
                .ok(
                    reqwest::Method::GET,
                    &format!("/v1/pos/payments/{payment}?wait=5"),
                    token,
                    None,
                )
                .await;
            if p["state"] != "pending" {
                return p;
            }
            assert!(tokio::time::Instant::now() < end, "still pending: {p}");
        }
    }
}

fn config(dir: &Path, terminal_port: u16) -> std::path::PathBuf {
    write_config(
        dir,
        "st-k9",
        KEY,
        &format!(
            "[log]\nlevel = \"debug\"\n[discovery]\nenabled = false\n\
             [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
             [[devices]]\nid = \"term-1\"\nkind = \"payment_terminal\"\nprofile = \"nexo-terminal\"\nstation = \"pos-1\"\n\
             response_timeout_ms = 800\ntransport = {{ tcp = {{ host = \"127.0.0.1\", port = {terminal_port} }} }}\n"
        ),
    )
}

fn start(dir: &Path, cfg: &Path, n: usize) -> Run {
    let log = std::fs::File::create(dir.join(format!("node-{n}.log"))).expect("log file");
    let edge = spawn_with_log(cfg, log);
    let base = edge.base.clone();
    EDGES.with(|e| e.borrow_mut().push(edge));
    Run {
        http: Client::new(),
        base,
    }
}

thread_local! {
    /// Every child of the test, killed when the test ends (or fails).
    static EDGES: std::cell::RefCell<Vec<Edge>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn kill_last() {
    EDGES.with(|e| {
        if let Some(edge) = e.borrow_mut().last_mut() {
            let _ = edge.child.kill();
            let _ = edge.child.wait();
        }
    });
}

async fn seed(r: &Run) {
    use reqwest::Method;
    r.ok(
        Method::PUT,
        "/v1/locations/STORE",
        KEY,
        Some(json!({"kind": "store"})),
    )
    .await;
    r.ok(
        Method::PUT,
        "/v1/products/acme/TEE",
        KEY,
        Some(json!({"name": "Acme TEE", "barcodes": ["00614141000012"],
                    "price": {"amount": 1999, "currency": "USD"}})),
    )
    .await;
    r.ok(
        Method::PUT,
        "/v1/users/u-cash",
        KEY,
        Some(
            json!({"name": "Cass", "badge": "B-200", "pin": "482913", "roles": ["cashier"],
                    "tenant_id": "acme"}),
        ),
    )
    .await;
}

/// Opens a sale of one TEE and starts a card payment on it; returns (sale, payment).
async fn card_sale(r: &Run, token: &str, key: &str) -> (String, String) {
    use reqwest::Method;
    let sale = r
        .ok(
            Method::POST,
            "/v1/pos/sales",
            token,
            Some(json!({"register_id": "pos-1"})),
        )
        .await;
    let sid = sale["id"].as_str().expect("sale").to_string();
    r.ok(
        Method::POST,
        &format!("/v1/pos/sales/{sid}/lines"),
        token,
        Some(json!({"code": "00614141000012"})),
    )
    .await;
    let (s, v) = r
        .call(
            Method::POST,
            &format!("/v1/pos/sales/{sid}/payments"),
            token,
            Some(json!({"method": "card"})),
            Some(key),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    (
        sid,
        v["payment"]["id"].as_str().expect("payment").to_string(),
    )
}

async fn wait_terminal_online(r: &Run) {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let d = r
            .ok(reqwest::Method::GET, "/v1/devices/term-1", KEY, None)
            .await;
        if d["state"] == "online" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "terminal never online: {d}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_card_payment_outstanding_at_sigkill_is_resolved_by_the_terminal_never_charged_twice() {
    let terminal = PaymentTerminal::new();
    let state = terminal.state();
    let sim = TcpSim::start(terminal).await.expect("terminal sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), sim.port());
    let mut n = 0;
    let mut run = start(dir.path(), &cfg, n);
    seed(&run).await;
    wait_terminal_online(&run).await;
    let token = run.login().await;
    run.ok(
        reqwest::Method::POST,
        "/v1/pos/registers/pos-1/sessions",
        &token,
        Some(json!({"opening_float": 5000})),
    )
    .await;

    // 1. The terminal approved but its answer never came; the node dies before asking.
    lock(&state).modes.push_back(TerminalMode::Silent);
    let (sale_a, pay_a) = card_sale(&run, &token, "k-a").await;
    until("the terminal charged", || lock(&state).charges.len() == 1).await;
    kill_last();
    n += 1;
    run = start(dir.path(), &cfg, n);
    let token = run.login().await;
    let p = run.settled(&token, &pay_a).await;
    assert_eq!(p["state"], "approved", "{p}");
    let s = run
        .ok(
            reqwest::Method::GET,
            &format!("/v1/pos/sales/{sale_a}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(lock(&state).payment_requests, 1, "asked, never paid again");
    assert_eq!(lock(&state).net_charged(&sale_a).len(), 1);

    // 2. The customer is still at the card reader when the node dies. After the restart the
    //    register takes no other card until this one is resolved; the cashier aborts it.
    lock(&state).modes.push_back(TerminalMode::Timeout);
    let (sale_b, pay_b) = card_sale(&run, &token, "k-b").await;
    until("the terminal waits for the card", || {
        lock(&state).payment_requests == 2
    })
    .await;
    kill_last();
    n += 1;
    run = start(dir.path(), &cfg, n);
    let token = run.login().await;
    until("the restarted node asked about it", || {
        lock(&state).status_requests >= 2
    })
    .await;
    let (s, v) = run
        .call(
            reqwest::Method::POST,
            &format!("/v1/pos/sales/{sale_b}/payments"),
            &token,
            Some(json!({"method": "card"})),
            Some("k-b2"),
        )
        .await;
    assert!(
        s == StatusCode::CONFLICT || s == StatusCode::UNPROCESSABLE_ENTITY,
        "a second card while one is unresolved: {s} {v}"
    );
    let (s, v) = run
        .call(
            reqwest::Method::POST,
            &format!("/v1/pos/payments/{pay_b}/abort"),
            &token,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let p = run.settled(&token, &pay_b).await;
    assert_eq!(p["state"], "aborted", "{p}");
    assert_eq!(lock(&state).net_charged(&sale_b).len(), 0);

    // 3. The request never reached the card reader: after the restart it is "not processed",
    //    and a new attempt charges once.
    lock(&state).modes.push_back(TerminalMode::Ignore);
    let (s, v) = run
        .call(
            reqwest::Method::POST,
            &format!("/v1/pos/sales/{sale_b}/payments"),
            &token,
            Some(json!({"method": "card"})),
            Some("k-b3"),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let pay_b3 = v["payment"]["id"].as_str().expect("id").to_string();
    until("the terminal got it", || lock(&state).payment_requests == 3).await;
    kill_last();
    n += 1;
    run = start(dir.path(), &cfg, n);
    let token = run.login().await;
    let p = run.settled(&token, &pay_b3).await;
    assert_eq!(p["state"], "failed", "{p}");
    let (s, v) = run
        .call(
            reqwest::Method::POST,
            &format!("/v1/pos/sales/{sale_b}/payments"),
            &token,
            Some(json!({"method": "card"})),
            Some("k-b4"),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let p = run
        .settled(&token, v["payment"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(p["state"], "approved", "{p}");
    assert_eq!(lock(&state).net_charged(&sale_b).len(), 1);
    assert_eq!(lock(&state).charges.len(), 2, "one charge per sale, ever");

    // No full card number in what the node kept or logged.
    kill_last();
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".log") {
            let text = std::fs::read_to_string(entry.path()).expect("log");
            assert!(!text.contains(TEST_PAN), "full PAN in {name}");
            assert!(!text.contains("Track2"), "track data in {name}");
            logs.push_str(&text);
        }
    }
    // The logs searched are the real ones: they tell the whole story, at debug level.
    for said in [
        "payment requested",
        "card payment settled",
        "left pending by the last run",
    ] {
        assert!(logs.contains(said), "the log never says {said:?}");
    }
    for name in ["wms-edge.db", "wms-edge.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join("data").join(name)) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TEST_PAN),
                "PAN in {name}"
            );
        }
    }
}
