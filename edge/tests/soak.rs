//! The whole site for a long stretch, with faults: `wms-edge run` as a child process drives two
//! pick stations with serial scanners on ptys, one with an HTTP handheld and one with an MQTT
//! handheld through a real Mosquitto broker, a pack station (serial scanner, MT-SICS scale on a
//! pty, ZPL label printer and ESC/POS slip printer on loopback TCP) packing what the pickers
//! picked, and a register selling for cash and by card on a simulated nexo terminal; orders come
//! down from the reference central, which fails about one request in five (500, 429, hangs,
//! resets, answers lost after applying); a supervisor adjusts stock over HTTP; the printers run
//! out of paper and are refilled; and the node is SIGKILLed every few minutes during the first
//! half. The second half is one life of the node, watched for memory, file descriptors and tasks.
//!
//! At the end: every acknowledged action is in the database, the central applied every upstream
//! event exactly once and in per-aggregate order, RSS after warm-up grew less than 10 %, open
//! descriptors and runtime tasks came back to their baseline, and no log has a panic.
//!
//! Duration: `WMS_SOAK_SECONDS` (default 165, what CI runs: about three minutes with the build,
//! the set-up and the final drain; a release soak is 7200); `WMS_SOAK_KILL_EVERY` seconds between
//! kills (default: a sixth of the duration, at most 300). Needs Mosquitto (`.ci/setup-mosquitto`)
//! and fails without it.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use wms_hardware::sim::{
    Action, Behavior, EscPosPrinter, EscPosState, PaymentTerminal, PtySim, SicsScale, TcpSim,
    ZplPrinter, ZplState,
};
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

const KEY: &str = "soak-admin-key-0000001";
const SITE: &str = "wh-soak";
const CASHIER: (&str, &str) = ("B-900", "482913");
const TEE: &str = "00614141000012";
/// Host ACK beeps (firmware-profiles/honeywell-xenon-1900-host-ack.toml).
const GOOD: &[u8] = b"\x1b7,";
const BAD: &[u8] = b"\x1b8,\x1b8,";
/// Pick stations and how their operator's scans reach the node.
const PICKERS: [(&str, &str); 4] = [
    ("pick-1", "serial"),
    ("pick-2", "serial"),
    ("pick-3", "http"),
    ("pick-4", "mqtt"),
];
const UNITS: i64 = 2;
/// How long an operator waits for an answer before taking the node for gone.
const ANSWER: Duration = Duration::from_secs(4);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn gtin(body: u64) -> String {
    let digits = format!("{body:013}");
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

fn sku_gtin(station: usize) -> String {
    gtin(1_234_560_100 + station as u64)
}

/// The broker's program, when installed.
fn mosquitto() -> Option<String> {
    ["mosquitto", "/usr/sbin/mosquitto"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("-h")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok()
        })
        .map(str::to_string)
}

struct Broker(std::process::Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn start_broker(dir: &Path, program: &str) -> (Broker, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .expect("mosquitto.conf");
    let child = std::process::Command::new(program)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start mosquitto");
    (Broker(child), port)
}

/// A scanner on a pty that passes on every byte the node sends it (its Host ACK beeps).
struct Beeps(mpsc::UnboundedSender<Vec<u8>>);

impl Behavior for Beeps {
    fn on_input(&mut self, input: &[u8], _: &mut Vec<u8>) -> Action {
        let _ = self.0.send(input.to_vec());
        Action::Continue
    }
}

/// What one scan got back.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    Good(String),
    Bad(String),
    /// No answer in time: the node is down (or the answer was lost with it).
    None,
}

/// How an operator's scans reach the node: a serial scanner, an HTTP handheld, an MQTT handheld.
enum Gun {
    Serial {
        sim: PtySim,
        beeps: mpsc::UnboundedReceiver<Vec<u8>>,
    },
    Http {
        device: String,
        http: Client,
        base: String,
    },
    Mqtt {
        device: String,
        client: AsyncClient,
        feedback: mpsc::Receiver<Value>,
    },
}

impl Gun {
    /// One scan; `extra` more answers are expected after the first (a pack station's weighing).
    async fn scan(&mut self, data: &str, extra: usize) -> Answer {
        match self {
            Gun::Serial { sim, beeps } => {
                while beeps.try_recv().is_ok() {}
                let aim = if data.starts_with("01") && !data.contains(':') {
                    "]C1"
                } else {
                    "]C0"
                };
                if sim
                    .write(format!("{aim}{data}\r").as_bytes())
                    .await
                    .is_err()
                {
                    return Answer::None;
                }
                let mut heard = Vec::new();
                let mut answers = Vec::new();
                let end = tokio::time::Instant::now() + ANSWER;
                while answers.len() <= extra {
                    match tokio::time::timeout_at(end, beeps.recv()).await {
                        Ok(Some(b)) => heard.extend(b),
                        _ => break,
                    }
                    loop {
                        if heard.starts_with(GOOD) {
                            heard.drain(..GOOD.len());
                            answers.push(true);
                        } else if heard.starts_with(BAD) {
                            heard.drain(..BAD.len());
                            answers.push(false);
                        } else {
                            break;
                        }
                    }
                }
                match answers.first() {
                    Some(true) => Answer::Good(String::new()),
                    Some(false) => Answer::Bad(String::new()),
                    None => Answer::None,
                }
            }
            Gun::Http { device, http, base } => {
                let r = http
                    .post(format!("{base}/v1/scans"))
                    .bearer_auth(KEY)
                    .json(&json!({"device_id": device, "data": data}))
                    .timeout(ANSWER)
                    .send()
                    .await;
                let Ok(r) = r else { return Answer::None };
                let Ok(v) = r.json::<Value>().await else {
                    return Answer::None;
                };
                let prompt = v["prompt"].as_str().unwrap_or_default().to_string();
                if v["feedback"] == "good" {
                    Answer::Good(prompt)
                } else {
                    Answer::Bad(prompt)
                }
            }
            Gun::Mqtt {
                device,
                client,
                feedback,
            } => {
                while feedback.try_recv().is_ok() {}
                let topic = format!("wms/{SITE}/devices/{device}/scan");
                let body = json!({"data": data}).to_string();
                if client
                    .publish(topic, QoS::AtLeastOnce, false, body)
                    .await
                    .is_err()
                {
                    return Answer::None;
                }
                match tokio::time::timeout(ANSWER, feedback.recv()).await {
                    Ok(Some(v)) => {
                        let prompt = v["prompt"].as_str().unwrap_or_default().to_string();
                        if v["feedback"] == "good" {
                            Answer::Good(prompt)
                        } else {
                            Answer::Bad(prompt)
                        }
                    }
                    _ => Answer::None,
                }
            }
        }
    }

    /// Whether a good answer to an item scan says a unit was picked. A serial scanner only
    /// beeps: at a pick station in the middle of a task, a good beep on an item is a pick.
    fn is_pick(&self, a: &Answer) -> bool {
        match (self, a) {
            (Gun::Serial { .. }, Answer::Good(_)) => true,
            (_, Answer::Good(p)) => p.starts_with("Picked"),
            _ => false,
        }
    }
}

/// What the operators did and what the node acknowledged, for the checks at the end.
#[derive(Default)]
struct Record {
    /// Units the node acknowledged as picked, per station.
    picks_acked: BTreeMap<String, i64>,
    /// Item scans sent at each pick station (an upper bound of what can have been picked).
    picks_sent: BTreeMap<String, i64>,
    /// Orders whose tote the node acknowledged as closed, with their station: ready to pack.
    picked: Vec<(String, usize)>,
    /// Orders the node acknowledged as shipped.
    shipped: Vec<String>,
    /// Sales the node acknowledged as completed, with their tender.
    sales: Vec<(String, &'static str)>,
    /// Adjustments acknowledged (201) and attempted, by note.
    adjusted: HashSet<String>,
    adjust_sent: HashSet<String>,
    scans: u64,
    unanswered: u64,
    refused: u64,
}

struct Shared {
    base: String,
    central: CentralSim,
    record: Mutex<Record>,
    /// Operators finish their current action and wait while this is set.
    paused: AtomicBool,
    /// Operators are waiting (counted), so a quiet moment can be measured.
    waiting: AtomicU64,
    stop: AtomicBool,
    /// Order numbers handed out to the pickers.
    orders: AtomicU64,
}

impl Shared {
    /// Between actions: stop when told, wait while paused.
    async fn checkpoint(&self) -> bool {
        if self.paused.load(Ordering::SeqCst) {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            while self.paused.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        !self.stop.load(Ordering::SeqCst)
    }

    /// Waits (bounded) for the node to answer `/health` again after an unanswered request.
    async fn node_back(&self, http: &Client) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end && !self.stop.load(Ordering::SeqCst) {
            let up = http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn client() -> Client {
    // No idle connections kept: the node's descriptors then say what the node holds itself.
    Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn call(
    http: &Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Option<(StatusCode, Value)> {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.ok()?;
    let s = r.status();
    let text = r.text().await.ok()?;
    Some((
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn order(id: &str, sku: &str) -> Value {
    json!({"id": id, "tenant_id": "acme", "channel": "web", "created_at": "2026-12-01T10:00:00.000Z",
           "ship_by": "2026-12-03T17:00:00.000Z", "priority": "two_day",
           "shipping": {"carrier": "ups", "service": "ground"},
           "ship_to": {"name": "Grace Hopper", "company": null, "street1": "1 Navy Way", "street2": null,
                       "city": "Arlington", "region": "VA", "postal_code": "22202", "country": "US",
                       "phone": null},
           "lines": [{"line_id": "1", "sku": sku, "qty": UNITS}], "notes": null, "gift_message": null,
           "branding": null, "version": 1})
}

/// A picker: an order comes down from the central, then ORD, a fresh tote, the location, one
/// scan per unit until the station says the tote is complete, and CMD:DONE. An unanswered or
/// refused scan logs out (which gives the work back) and starts again with the next order.
async fn picker(sh: Arc<Shared>, station: usize, mut gun: Gun) {
    let http = client();
    let name = PICKERS[station].0;
    let sku = format!("SKU-{station}");
    let mut logged_in = false;
    while sh.checkpoint().await {
        let n = sh.orders.fetch_add(1, Ordering::SeqCst);
        let id = format!("S-{n:06}");
        sh.central.push_change("order.upsert", order(&id, &sku));
        // Wait (bounded) until the order is down at the site and allocated.
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let got = call(
                &http,
                &sh.base,
                Method::GET,
                &format!("/v1/orders/{id}"),
                KEY,
                None,
                None,
            )
            .await;
            if matches!(&got, Some((s, v)) if s.is_success() && v["status"] == "allocated") {
                break;
            }
            if Instant::now() > end || sh.stop.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut steps: Vec<String> = Vec::new();
        if !logged_in {
            steps.push(format!("EMP:B-{station}"));
        }
        steps.extend([
            format!("ORD:{id}"),
            format!("TOTE:T-{id}"),
            format!("LOC:L-{station}"),
        ]);
        let mut ok = true;
        for s in &steps {
            let a = gun.scan(s, 0).await;
            lock(&sh.record).scans += 1;
            if !matches!(a, Answer::Good(_)) {
                ok = false;
                note_failure(&sh, &http, &a).await;
                break;
            }
        }
        logged_in = ok;
        if ok {
            // Units until the station refuses one (the tote is complete), then close the tote.
            for _ in 0..=UNITS {
                let a = gun.scan(&format!("01{}", sku_gtin(station)), 0).await;
                {
                    let mut r = lock(&sh.record);
                    r.scans += 1;
                    *r.picks_sent.entry(name.to_string()).or_default() += 1;
                    if gun.is_pick(&a) {
                        *r.picks_acked.entry(name.to_string()).or_default() += 1;
                    }
                }
                if !matches!(a, Answer::Good(_)) {
                    if a == Answer::None {
                        ok = false;
                        note_failure(&sh, &http, &a).await;
                    }
                    break;
                }
            }
        }
        if ok {
            let a = gun.scan("CMD:DONE", 0).await;
            lock(&sh.record).scans += 1;
            match a {
                Answer::Good(_) => lock(&sh.record).picked.push((id.clone(), station)),
                other => {
                    ok = false;
                    note_failure(&sh, &http, &other).await;
                }
            }
        }
        if !ok {
            // Whatever the station holds goes back; the next order starts clean.
            let _ = gun.scan("CMD:LOGOUT", 0).await;
            logged_in = false;
        }
    }
}

async fn note_failure(sh: &Shared, http: &Client, a: &Answer) {
    if *a == Answer::None {
        lock(&sh.record).unanswered += 1;
        sh.node_back(http).await;
    } else {
        lock(&sh.record).refused += 1;
    }
}

/// The packer: ORD of an order the pickers closed, one scan per unit (the last is weighed on the
/// scale and labelled), CMD:DONE.
async fn packer(sh: Arc<Shared>, mut gun: Gun) {
    let http = client();
    let mut logged_in = false;
    let mut next = 0usize;
    while sh.checkpoint().await {
        let got = lock(&sh.record).picked.get(next).cloned();
        let Some((id, station)) = got else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        next += 1;
        let mut steps: Vec<(String, usize)> = Vec::new();
        if !logged_in {
            steps.push(("EMP:B-8".into(), 0));
        }
        steps.push((format!("ORD:{id}"), 0));
        let gtin = sku_gtin(station);
        for u in 0..UNITS {
            steps.push((format!("01{gtin}"), usize::from(u + 1 == UNITS)));
        }
        steps.push(("CMD:DONE".into(), 0));
        let mut ok = true;
        for (i, (s, extra)) in steps.iter().enumerate() {
            let a = gun.scan(s, *extra).await;
            lock(&sh.record).scans += 1;
            if !matches!(a, Answer::Good(_)) {
                ok = false;
                note_failure(&sh, &http, &a).await;
                break;
            }
            if i + 1 == steps.len() {
                lock(&sh.record).shipped.push(id.clone());
            }
        }
        logged_in = ok;
        if !ok {
            let _ = gun.scan("CMD:LOGOUT", 0).await;
        }
    }
}

/// The register: log in, open the drawer (once), sell a T-shirt for cash, then one by card.
async fn cashier(sh: Arc<Shared>) {
    let http = client();
    let mut token: Option<String> = None;
    let mut n = 0u64;
    while sh.checkpoint().await {
        let t = match &token {
            Some(t) => t.clone(),
            None => {
                let r = http
                    .post(format!("{}/v1/sessions", sh.base))
                    .json(&json!({"badge": CASHIER.0, "pin": CASHIER.1}))
                    .send()
                    .await;
                let v = match r {
                    Ok(r) if r.status() == StatusCode::CREATED => r.json::<Value>().await.ok(),
                    _ => None,
                };
                let Some(t) = v.and_then(|v| v["token"].as_str().map(str::to_string)) else {
                    note_failure(&sh, &http, &Answer::None).await;
                    continue;
                };
                // Opening a drawer that is already open is refused: either way it is open.
                let _ = call(
                    &http,
                    &sh.base,
                    Method::POST,
                    "/v1/pos/registers/pos-1/sessions",
                    &t,
                    Some(json!({"opening_float": 10000})),
                    None,
                )
                .await;
                token = Some(t.clone());
                t
            }
        };
        n += 1;
        let tender: &'static str = if n % 2 == 0 { "card" } else { "cash" };
        match sell(&sh, &http, &t, n, tender).await {
            Some(sale) => lock(&sh.record).sales.push((sale, tender)),
            None => {
                note_failure(&sh, &http, &Answer::None).await;
                token = None;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One sale to its completion; `None` when the node went away (the open sale is left behind, as
/// a cashier whose till rebooted starts a new one).
async fn sell(sh: &Shared, http: &Client, t: &str, n: u64, tender: &str) -> Option<String> {
    let (s, sale) = call(
        http,
        &sh.base,
        Method::POST,
        "/v1/pos/sales",
        t,
        Some(json!({"register_id": "pos-1"})),
        None,
    )
    .await?;
    if !s.is_success() {
        return None;
    }
    let id = sale["id"].as_str()?.to_string();
    let (s, sale) = call(
        http,
        &sh.base,
        Method::POST,
        &format!("/v1/pos/sales/{id}/lines"),
        t,
        Some(json!({"code": TEE})),
        None,
    )
    .await?;
    if !s.is_success() {
        return None;
    }
    let total = sale["totals"]["total"]["amount"].as_i64()?;
    let key = format!("pay-{n}");
    let body = if tender == "cash" {
        json!({"method": "cash", "tendered": total})
    } else {
        json!({"method": "card"})
    };
    let pay = format!("/v1/pos/sales/{id}/payments");
    let (s, v) = call(
        http,
        &sh.base,
        Method::POST,
        &pay,
        t,
        Some(body.clone()),
        Some(&key),
    )
    .await?;
    if !s.is_success() {
        return None;
    }
    if tender == "card" {
        let pid = v["payment"]["id"].as_str()?.to_string();
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let got = call(
                http,
                &sh.base,
                Method::GET,
                &format!("/v1/pos/payments/{pid}?wait=5"),
                t,
                None,
                None,
            )
            .await;
            match got {
                Some((s, p)) if s.is_success() && p["state"] != "pending" => {
                    if p["state"] != "approved" {
                        return None;
                    }
                    break;
                }
                Some(_) => {}
                None => sh.node_back(http).await,
            }
            if Instant::now() > end {
                return None;
            }
        }
    }
    let (s, sale) = call(
        http,
        &sh.base,
        Method::GET,
        &format!("/v1/pos/sales/{id}"),
        t,
        None,
        None,
    )
    .await?;
    (s.is_success() && sale["status"] == "completed").then_some(id)
}

/// A supervisor adjusting stock over HTTP, each adjustment with a note of its own.
async fn adjuster(sh: Arc<Shared>) {
    let http = client();
    let mut i = 0u64;
    while sh.checkpoint().await {
        i += 1;
        let note = format!("soak-{i}");
        lock(&sh.record).adjust_sent.insert(note.clone());
        let body = json!({"tenant_id": "acme", "sku": "SKU-ADJ", "location": "BULK", "delta": 1,
                          "reason": "adjusted", "note": note});
        match call(
            &http,
            &sh.base,
            Method::POST,
            "/v1/inventory/adjustments",
            KEY,
            Some(body),
            None,
        )
        .await
        {
            Some((s, _)) if s == StatusCode::CREATED => {
                lock(&sh.record).adjusted.insert(note);
            }
            Some((s, v)) => panic!("adjustment refused: {s} {v}"),
            None => note_failure(&sh, &http, &Answer::None).await,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The label and slip printers run out of paper now and then, and are refilled.
async fn paper(sh: Arc<Shared>, labels: Arc<Mutex<ZplState>>, slips: Arc<Mutex<EscPosState>>) {
    let mut out = false;
    while !sh.stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(if out { 4 } else { 15 })).await;
        out = !out;
        lock(&labels).set(out, false, false);
        lock(&slips).set(out, false, false);
    }
    lock(&labels).set(false, false, false);
    lock(&slips).set(false, false, false);
}

fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn alive_tasks(http: &Client, base: &str) -> Option<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .bearer_auth(KEY)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("wms_edge_runtime_alive_tasks "))
        .and_then(|v| v.trim().parse().ok())
}

/// Holds every operator between actions until they all wait.
async fn pause(sh: &Shared, operators: &[tokio::task::JoinHandle<()>]) {
    sh.paused.store(true, Ordering::SeqCst);
    let end = Instant::now() + Duration::from_secs(90);
    while sh.waiting.load(Ordering::SeqCst) < operators.len() as u64 {
        assert!(
            !operators.iter().any(|t| t.is_finished()),
            "an operator stopped early (its panic is above)"
        );
        assert!(Instant::now() < end, "operators did not pause");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Quiet {
    fds: usize,
    tasks: u64,
}

/// A quiet node's descriptors and tasks: the smallest seen while the node finishes what the
/// operators started (a print job, a card, a sync batch), over a few seconds.
async fn settle(pid: u32, base: &str, http: &Client, floor: Option<&Quiet>) -> Quiet {
    let end = Instant::now() + Duration::from_secs(120);
    let mut best = Quiet {
        fds: usize::MAX,
        tasks: u64::MAX,
    };
    let mut stable = 0;
    loop {
        let q = Quiet {
            fds: open_fds(pid),
            tasks: alive_tasks(http, base).await.unwrap_or(u64::MAX),
        };
        best.fds = best.fds.min(q.fds);
        best.tasks = best.tasks.min(q.tasks);
        match floor {
            Some(f) if best.fds <= f.fds && best.tasks <= f.tasks => return best,
            None => {
                stable += 1;
                if stable >= 25 {
                    return best;
                }
            }
            _ => {}
        }
        if Instant::now() > end {
            return best;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn config(dir: &Path, port: u16, broker: u16, central: &CentralSim, devs: &str) -> PathBuf {
    let creds = central.credentials();
    let path = dir.join("edge.toml");
    let text = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n\
         ship_from = {{ name = \"Soak DC\", street1 = \"5 Dock Rd\", city = \"Newark\", region = \"NJ\", postal_code = \"07101\", country = \"US\" }}\n\
         [http]\nlisten = \"127.0.0.1:{port}\"\n[discovery]\nenabled = false\n[log]\nlevel = \"info\"\n\
         [[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{KEY}\"\n\
         [central]\nurl = \"{}\"\napi_key = \"{}\"\nsigning_secret = \"{}\"\nretry_base_ms = 50\nretry_cap_ms = 1000\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\n{devs}",
        dir.join("data").display(),
        creds.central_url,
        creds.api_key,
        String::from_utf8_lossy(&creds.signing_secret),
    );
    std::fs::write(&path, text).expect("config");
    path
}

struct Life {
    edge: common::Edge,
    log: PathBuf,
}

fn start_node(config: &Path, dir: &Path, n: usize) -> Life {
    let log = dir.join(format!("node-{n}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    Life {
        edge: common::spawn_with_log(config, file),
        log,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_keeps_every_promise_through_hours_of_faults_and_kills() {
    let secs = env_u64("WMS_SOAK_SECONDS", 165);
    let kill_every = env_u64("WMS_SOAK_KILL_EVERY", (secs / 6).clamp(10, 300));
    let Some(program) = mosquitto() else {
        wms_test_support::outside::missing("Mosquitto", ".ci/setup-mosquitto");
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, mqtt_port) = start_broker(dir.path(), &program);

    let mut sim_cfg = SimConfig::new(SITE);
    // One fault kind in five requests: 4 % each of 500, 429, hang, reset and lost answer.
    sim_cfg.faults = Faults::chaos(0.04, Duration::from_millis(800));
    sim_cfg.faults_on_reads = true;
    sim_cfg.seed = 17;
    let central = CentralSim::start(sim_cfg).await.expect("central");

    // The devices, which outlive every node.
    let mut serial = Vec::new();
    let mut beeps = Vec::new();
    for name in ["pick-1", "pick-2", "pack-1"] {
        let (tx, rx) = mpsc::unbounded_channel();
        serial.push(PtySim::start(&format!("sc-{name}"), Beeps(tx)).expect("pty"));
        beeps.push(rx);
    }
    let weight = format!("{:.3}", 0.25 * UNITS as f64);
    let scale = PtySim::start("scale-1", SicsScale::new(&weight, "kg")).expect("scale");
    let zpl = ZplPrinter::new();
    let labels = zpl.state();
    let label_sim = TcpSim::start(zpl).await.expect("label printer");
    let escpos = EscPosPrinter::new();
    let slips = escpos.state();
    let slip_sim = TcpSim::start(escpos).await.expect("slip printer");
    let receipt_sim = TcpSim::start(EscPosPrinter::new())
        .await
        .expect("receipt printer");
    let terminal_sim = TcpSim::start(PaymentTerminal::new())
        .await
        .expect("terminal");

    let mut devs = String::new();
    for (name, via) in PICKERS {
        devs.push_str(&format!("[[stations]]\nid = \"{name}\"\nkind = \"pick\"\n"));
        let transport = match via {
            "serial" => {
                let i = if name == "pick-1" { 0 } else { 1 };
                format!("{{ serial = {{ path = \"{}\" }} }}", serial[i].path_str())
            }
            "http" => "{ http = {} }".to_string(),
            _ => "{ mqtt = {} }".to_string(),
        };
        let profile = if via == "serial" {
            "profile = \"honeywell-xenon-1900-host-ack\"\n"
        } else {
            ""
        };
        devs.push_str(&format!(
            "[[devices]]\nid = \"sc-{name}\"\nkind = \"scanner\"\n{profile}station = \"{name}\"\ntransport = {transport}\n"
        ));
    }
    devs.push_str(&format!(
        "[[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n\
         [[devices]]\nid = \"sc-pack-1\"\nkind = \"scanner\"\nprofile = \"honeywell-xenon-1900-host-ack\"\nstation = \"pack-1\"\n\
         transport = {{ serial = {{ path = \"{}\" }} }}\n\
         [[devices]]\nid = \"scale-1\"\nkind = \"scale\"\nprofile = \"mettler-toledo-sics\"\nstation = \"pack-1\"\n\
         transport = {{ serial = {{ path = \"{}\" }} }}\n\
         [[devices]]\nid = \"label-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"pack-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\nstatus_timeout_ms = 500\npoll_interval_ms = 200\n\
         [[devices]]\nid = \"slip-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pack-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\npoll_interval_ms = 200\n",
        serial[2].path_str(),
        scale.path_str(),
        label_sim.port(),
        slip_sim.port(),
    ));
    devs.push_str(&format!(
        "[[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [[devices]]\nid = \"term-1\"\nkind = \"payment_terminal\"\nprofile = \"nexo-terminal\"\nstation = \"pos-1\"\n\
         response_timeout_ms = 800\ntransport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n\
         [[devices]]\nid = \"rcpt-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pos-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n",
        terminal_sim.port(),
        receipt_sim.port(),
    ));
    let port = free_port();
    let cfg = config(dir.path(), port, mqtt_port, &central, &devs);
    let base = format!("http://127.0.0.1:{port}");
    let mut lives = vec![start_node(&cfg, dir.path(), 0)];
    let http = client();

    // Reference data through the node's API; stock received.
    for (i, _) in PICKERS.iter().enumerate() {
        put(&http, &base, &format!("/v1/products/acme/SKU-{i}"),
            json!({"name": format!("Item {i}"), "barcodes": [sku_gtin(i)], "weight": {"value": "0.250", "unit": "kg"}})).await;
        put(
            &http,
            &base,
            &format!("/v1/locations/L-{i}"),
            json!({"pick_sequence": i}),
        )
        .await;
        adjust(
            &http,
            &base,
            &format!("SKU-{i}"),
            &format!("L-{i}"),
            1_000_000,
        )
        .await;
    }
    put(
        &http,
        &base,
        "/v1/products/acme/SKU-ADJ",
        json!({"name": "Loose"}),
    )
    .await;
    put(
        &http,
        &base,
        "/v1/locations/BULK",
        json!({"pick_sequence": 90}),
    )
    .await;
    put(
        &http,
        &base,
        "/v1/locations/STORE",
        json!({"kind": "store", "pick_sequence": 0}),
    )
    .await;
    put(
        &http,
        &base,
        "/v1/tax-rates/STD",
        json!({"name": "Sales tax", "rate": "8.875"}),
    )
    .await;
    put(&http, &base, "/v1/products/acme/TEE",
        json!({"name": "Tee", "barcodes": [TEE], "price": {"amount": 1999, "currency": "USD"}, "tax_code": "STD"})).await;
    adjust(&http, &base, "TEE", "STORE", 1_000_000).await;
    for i in 0..PICKERS.len() {
        put(
            &http,
            &base,
            &format!("/v1/users/u-{i}"),
            json!({"name": format!("Picker {i}"), "badge": format!("B-{i}"), "roles": ["picker"]}),
        )
        .await;
    }
    put(
        &http,
        &base,
        "/v1/users/u-pack",
        json!({"name": "Packer", "badge": "B-8", "roles": ["packer"]}),
    )
    .await;
    put(&http, &base, "/v1/users/u-cash",
        json!({"name": "Cy", "badge": CASHIER.0, "pin": CASHIER.1, "roles": ["cashier"], "tenant_id": "acme"})).await;

    let sh = Arc::new(Shared {
        base: base.clone(),
        central,
        record: Mutex::new(Record::default()),
        paused: AtomicBool::new(false),
        waiting: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        orders: AtomicU64::new(0),
    });

    // The MQTT handheld: subscribed to its feedback before it scans.
    let mut o = MqttOptions::new("handheld-pick-4", "127.0.0.1", mqtt_port);
    o.set_keep_alive(Duration::from_secs(5));
    let (mq, mut el) = AsyncClient::new(o, 64);
    let (fb_tx, fb_rx) = mpsc::channel::<Value>(64);
    let mq_loop = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Ok(v) = serde_json::from_slice::<Value>(&p.payload) {
                        let _ = fb_tx.send(v).await;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    mq.subscribe(
        format!("wms/{SITE}/devices/sc-pick-4/feedback"),
        QoS::AtLeastOnce,
    )
    .await
    .expect("subscribe");

    let mut beeps = beeps.into_iter();
    let mut serial = serial.into_iter();
    let mut fb_rx = Some(fb_rx);
    let mut tasks = Vec::new();
    for (i, (name, via)) in PICKERS.into_iter().enumerate() {
        let gun = match via {
            "serial" => Gun::Serial {
                sim: serial.next().expect("pty"),
                beeps: beeps.next().expect("beeps"),
            },
            "http" => Gun::Http {
                device: format!("sc-{name}"),
                http: client(),
                base: base.clone(),
            },
            _ => Gun::Mqtt {
                device: format!("sc-{name}"),
                client: mq.clone(),
                feedback: fb_rx.take().expect("one MQTT handheld"),
            },
        };
        tasks.push(tokio::spawn(picker(sh.clone(), i, gun)));
    }
    let pack_gun = Gun::Serial {
        sim: serial.next().expect("pack pty"),
        beeps: beeps.next().expect("pack beeps"),
    };
    tasks.push(tokio::spawn(packer(sh.clone(), pack_gun)));
    tasks.push(tokio::spawn(cashier(sh.clone())));
    tasks.push(tokio::spawn(adjuster(sh.clone())));
    let printers = tokio::spawn(paper(sh.clone(), labels.clone(), slips.clone()));

    // The first half: a SIGKILL every `kill_every` seconds.
    let total = Duration::from_secs(secs);
    let mut next_kill = Duration::from_secs(kill_every);
    while next_kill <= total / 2 {
        tokio::time::sleep_until((started + next_kill).into()).await;
        let life = lives.last_mut().expect("a life");
        life.edge.child.kill().expect("SIGKILL");
        life.edge.child.wait().expect("reap");
        let n = lives.len();
        lives.push(start_node(&cfg, dir.path(), n));
        next_kill += Duration::from_secs(kill_every);
    }
    let kills = lives.len() - 1;

    // The second half is one life: warm up for half of it (the database's page caches fill as it
    // grows), then measure at a quiet moment.
    let last_start = Instant::now();
    let rest = total.saturating_sub(started.elapsed());
    tokio::time::sleep(rest / 2).await;
    let pid = lives.last().expect("a life").edge.child.id();
    pause(&sh, &tasks).await;
    let before = settle(pid, &base, &http, None).await;
    let rss_before = proc_status(pid, "VmRSS:").expect("VmRSS");
    sh.paused.store(false, Ordering::SeqCst);
    let mut rss_peak = rss_before;
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_peak = rss_peak.max(proc_status(pid, "VmRSS:").unwrap_or(0));
    }
    sh.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("an operator did not stop")
            .expect("operator task");
    }
    printers.await.expect("paper task");
    let rss_after = proc_status(pid, "VmRSS:").expect("VmRSS");

    // Everything reaches the central, through the faults.
    let end = Instant::now() + Duration::from_secs(180);
    loop {
        let st = call(
            &http,
            &base,
            Method::GET,
            "/v1/sync/status",
            KEY,
            None,
            None,
        )
        .await;
        if let Some((_, v)) = &st {
            if v["queue_depth"] == 0 && v["dead_letters"] == 0 {
                break;
            }
        }
        assert!(Instant::now() < end, "the outbox never drained: {st:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = settle(pid, &base, &http, Some(&before)).await;

    // The checks.
    let r = std::mem::take(&mut *lock(&sh.record));
    let db = rusqlite::Connection::open_with_flags(
        dir.path().join("data").join("wms-edge.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db");
    let one = |sql: &str, p: &str| -> i64 {
        db.query_row(sql, [p], |row| row.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    for (i, (name, _)) in PICKERS.iter().enumerate() {
        let booked = one(
            "SELECT coalesce(-sum(delta), 0) FROM ledger WHERE reason = 'picked' AND location = ?1",
            &format!("L-{i}"),
        );
        let acked = r.picks_acked.get(*name).copied().unwrap_or(0);
        let sent = r.picks_sent.get(*name).copied().unwrap_or(0);
        assert!(
            booked >= acked,
            "{name}: {acked} picks acknowledged, {booked} in the ledger"
        );
        assert!(
            booked <= sent,
            "{name}: {booked} picks in the ledger, only {sent} item scans sent"
        );
    }
    for id in &r.shipped {
        let status: String = db
            .query_row("SELECT status FROM orders WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .expect("shipped order");
        assert_eq!(status, "shipped", "order {id} was acknowledged as shipped");
    }
    for (id, tender) in &r.sales {
        let status: String = db
            .query_row("SELECT status FROM pos_sales WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .expect("sale");
        assert_eq!(status, "completed", "{tender} sale {id} was acknowledged");
    }
    let notes: Vec<String> = {
        let mut st = db
            .prepare("SELECT note FROM ledger WHERE note LIKE 'soak-%'")
            .expect("notes");
        st.query_map([], |row| row.get(0))
            .expect("notes")
            .collect::<Result<_, _>>()
            .expect("notes")
    };
    let present: HashSet<&String> = notes.iter().collect();
    assert_eq!(present.len(), notes.len(), "an adjustment was booked twice");
    for n in &r.adjusted {
        assert!(
            present.contains(n),
            "acknowledged adjustment {n} is not in the ledger"
        );
    }
    for n in &notes {
        assert!(r.adjust_sent.contains(n), "{n} came from nowhere");
    }

    // Exactly once upstream, in per-aggregate order.
    let last_seq: i64 = db
        .query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |row| {
            row.get(0)
        })
        .expect("outbox");
    let applied = sh.central.applied();
    let ids: HashSet<&str> = applied.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), applied.len(), "an event was applied twice");
    let mut seqs: Vec<u64> = applied.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=last_seq as u64).collect::<Vec<_>>(),
        "the central did not apply exactly the site's events 1..={last_seq}"
    );
    let mut last: HashMap<&str, u64> = HashMap::new();
    for a in &applied {
        let prev = last.insert(a.aggregate.as_str(), a.seq).unwrap_or(0);
        assert!(prev < a.seq, "{} applied out of order", a.aggregate);
    }
    let stats = sh.central.stats();
    assert_eq!(stats.order_violations, 0);
    let faults: u64 = stats.faults.values().sum();

    // Flat memory, no leaks, no panics.
    let growth = rss_after as f64 / rss_before as f64 - 1.0;
    let mut panics = Vec::new();
    for life in &lives {
        let text = std::fs::read_to_string(&life.log).unwrap_or_default();
        panics.extend(
            text.lines()
                .filter(|l| l.contains("panicked"))
                .map(str::to_string),
        );
    }
    let summary = format!(
        "soak: {secs} s ({kills} SIGKILLs in the first half, the last life {last_life:.0} s); \
         {scans} scans ({unanswered} unanswered while the node was down, {refused} refused), \
         {picks} picks acknowledged, {picked} totes closed, {shipped} orders shipped, \
         {cash} cash and {card} card sales, {adj} adjustments; central: {events} events applied \
         once each of {requests} requests with {faults} faults injected, 0 out of order; \
         RSS after warm-up {rb} KiB, peak {rp} KiB, at the end {ra} KiB ({g:+.1} %); \
         open fds {fb} → {fa}; runtime tasks {tb} → {ta}; panics in the logs: {np}",
        last_life = last_start.elapsed().as_secs_f64(),
        scans = r.scans,
        unanswered = r.unanswered,
        refused = r.refused,
        picks = r.picks_acked.values().sum::<i64>(),
        picked = r.picked.len(),
        shipped = r.shipped.len(),
        cash = r.sales.iter().filter(|s| s.1 == "cash").count(),
        card = r.sales.iter().filter(|s| s.1 == "card").count(),
        adj = r.adjusted.len(),
        events = applied.len(),
        requests = stats.requests,
        rb = rss_before,
        rp = rss_peak,
        ra = rss_after,
        g = growth * 100.0,
        fb = before.fds,
        fa = after.fds,
        tb = before.tasks,
        ta = after.tasks,
        np = panics.len(),
    );
    eprintln!("{summary}");
    if let Some(path) = std::env::var_os("WMS_SOAK_REPORT") {
        let _ = std::fs::write(path, format!("{summary}\n"));
    }
    assert!(panics.is_empty(), "panics in the node's logs: {panics:?}");
    assert!(faults > 0, "the central injected no faults");
    assert!(kills > 0 || secs < 20, "the node was never killed");
    assert!(
        !r.shipped.is_empty() && !r.sales.is_empty() && !r.adjusted.is_empty(),
        "the site did too little to prove anything: {summary}"
    );
    assert!(
        growth < 0.10,
        "RSS grew {:.1} % after warm-up",
        growth * 100.0
    );
    assert!(
        after.fds <= before.fds,
        "open descriptors {} → {}",
        before.fds,
        after.fds
    );
    assert!(
        after.tasks <= before.tasks,
        "runtime tasks {} → {}",
        before.tasks,
        after.tasks
    );
    mq_loop.abort();
}

async fn put(http: &Client, base: &str, path: &str, body: Value) {
    let r = call(http, base, Method::PUT, path, KEY, Some(body), None).await;
    assert!(
        matches!(&r, Some((s, _)) if s.is_success()),
        "{path}: {r:?}"
    );
}

async fn adjust(http: &Client, base: &str, sku: &str, location: &str, delta: i64) {
    let body = json!({"tenant_id": "acme", "sku": sku, "location": location, "delta": delta, "reason": "received"});
    let r = call(
        http,
        base,
        Method::POST,
        "/v1/inventory/adjustments",
        KEY,
        Some(body),
        None,
    )
    .await;
    assert!(matches!(&r, Some((s, _)) if s.is_success()), "{sku}: {r:?}");
}
