//! The whole scan path, end to end: 50 simulated scanners on real ptys, each reading a barcode at
//! a steady rate, through the real serial driver, the scan router, the station workflow (real
//! pick and pack steps: SQLite on disk, WAL, `synchronous=FULL`, group commit), and back to the
//! scanner as its Host ACK beep. Each scanner times from the last byte of its frame leaving for
//! the pty to the first byte of the beep arriving, as a scanner on a serial cable would; HTTP
//! handhelds time `POST /v1/scans` from request to response. Baselines in the same run: the same
//! ptys answered by a bare echo loop (the transport's floor) and raw single-row durable commits at
//! the same aggregate rate (the disk's floor); the frame's time on the wire at the profile's baud
//! is the physical floor. Writes the edge-scan-path section of BENCHMARKS.md.
//!
//! `cargo bench -p wms-edge --bench scan_path` (`WMS_SCAN_SECONDS` for the 10 scans/s run,
//! default 30; `WMS_SWEEP_SECONDS` for each other rate of the sweep, default 8).

mod common;

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use wms_hardware::sim::{PtySim, SicsScale, TcpSim, ZplPrinter};
use wms_hardware::transport::FdStream;

const PICK_STATIONS: usize = 45;
const PACK_STATIONS: usize = 5;
const SCANNERS: usize = PICK_STATIONS + PACK_STATIONS;
/// Units per pick order: ORD, TOTE, LOC, one scan per unit, DONE.
const PICK_UNITS: usize = 25;
/// Units per pack order: ORD, one scan per unit (the last one weighs), DONE.
const PACK_UNITS: usize = 3;
const PROFILE: &str = "honeywell-xenon-1900-host-ack";
const BAUD: f64 = 115_200.0;
/// Host ACK good read and refusal (firmware-profiles/honeywell-xenon-1900-host-ack.toml).
const GOOD: &[u8] = b"\x1b7,";
const BAD: &[u8] = b"\x1b8,\x1b8,";
const ADMIN: &str = "bench-admin-key-0001";
const HANDHELD: &str = "bench-handheld-key-01";
const SITE: &str = "wh-bench";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// GTIN-14 with its check digit, from 13 digits.
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

fn pick_gtin(station: usize) -> String {
    gtin(1_234_560_000 + station as u64)
}

fn pack_gtin() -> String {
    gtin(1_234_569_999)
}

/// One read: what the scanner sends, and how many beeps come back before it may read again
/// (the last unit at a pack station is answered, then weighed and answered again).
#[derive(Clone, Debug)]
struct Step {
    frame: Vec<u8>,
    beeps: usize,
}

fn code(text: &str) -> Step {
    Step {
        frame: format!("]C0{text}\r").into_bytes(),
        beeps: 1,
    }
}

fn item(gtin: &str, beeps: usize) -> Step {
    Step {
        frame: format!("]C101{gtin}\r").into_bytes(),
        beeps,
    }
}

/// What one station's operator scans, forever: a picker picking order after order into fresh
/// totes, or a packer packing the pre-picked orders one after another.
struct Script {
    queue: VecDeque<Step>,
    station: usize,
    next_order: usize,
    orders: usize,
}

impl Script {
    fn pick(station: usize, orders: usize) -> Self {
        let mut s = Script {
            queue: VecDeque::new(),
            station,
            next_order: 0,
            orders,
        };
        s.queue.push_back(code(&format!("EMP:B-{station}")));
        s
    }

    fn pack(station: usize, orders: usize) -> Self {
        let mut s = Script::pick(station, orders);
        s.next_order = 0;
        s
    }

    fn refill(&mut self) -> bool {
        if self.next_order >= self.orders {
            return false;
        }
        let n = self.next_order;
        self.next_order += 1;
        let st = self.station;
        if st < PICK_STATIONS {
            let order = format!("O-{st:02}-{n:03}");
            self.queue.push_back(code(&format!("ORD:{order}")));
            self.queue
                .push_back(code(&format!("TOTE:T-{st:02}-{n:03}")));
            self.queue.push_back(code(&format!("LOC:L-{st:02}")));
            for _ in 0..PICK_UNITS {
                self.queue.push_back(item(&pick_gtin(st), 1));
            }
            self.queue.push_back(code("CMD:DONE"));
        } else {
            let p = st - PICK_STATIONS;
            self.queue
                .push_back(code(&format!("ORD:{}", pack_order(n * PACK_STATIONS + p))));
            for u in 0..PACK_UNITS {
                let beeps = if u + 1 == PACK_UNITS { 2 } else { 1 };
                self.queue.push_back(item(&pack_gtin(), beeps));
            }
            self.queue.push_back(code("CMD:DONE"));
        }
        true
    }

    fn next(&mut self) -> Option<Step> {
        if self.queue.is_empty() && !self.refill() {
            return None;
        }
        self.queue.pop_front()
    }

    /// The next step as an HTTP handheld's `data` (same bytes, without the CR).
    fn next_text(&mut self) -> Option<String> {
        self.next().map(|s| {
            String::from_utf8_lossy(s.frame.strip_suffix(b"\r").unwrap_or(&s.frame)).into_owned()
        })
    }
}

fn pack_order(n: usize) -> String {
    format!("P-{n:04}")
}

/// One simulated scanner: the master side of a pty. The slave is what the node's driver opens.
struct Scanner {
    master: FdStream,
    _slave: OwnedFd,
    path: PathBuf,
}

fn open_pty() -> Scanner {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let p = nix::pty::openpty(None, None).expect("openpty");
    let mut t = tcgetattr(&p.slave).expect("tcgetattr");
    cfmakeraw(&mut t);
    tcsetattr(&p.slave, SetArg::TCSANOW, &t).expect("tcsetattr");
    let path = nix::unistd::ttyname(&p.slave).expect("ttyname");
    let master = FdStream::new(File::from(p.master)).expect("master");
    Scanner {
        master,
        _slave: p.slave,
        path,
    }
}

#[derive(Default)]
struct Samples {
    /// Frame's last byte written → first byte of the beep, µs.
    latency_us: Vec<f64>,
    /// The same, split by station kind (pack steps also weigh, print and ship).
    pick_latency_us: Vec<f64>,
    pack_latency_us: Vec<f64>,
    good: usize,
    bad: usize,
    /// Scans whose beep never came (5 s).
    lost: usize,
    scans: usize,
    frame_bytes: usize,
}

impl Samples {
    fn merge(&mut self, o: Samples) {
        self.latency_us.extend(o.latency_us);
        self.pick_latency_us.extend(o.pick_latency_us);
        self.pack_latency_us.extend(o.pack_latency_us);
        self.good += o.good;
        self.bad += o.bad;
        self.lost += o.lost;
        self.scans += o.scans;
        self.frame_bytes += o.frame_bytes;
    }
}

/// Reads beeps until `want` of them were heard; returns when the first byte came and how many
/// were good. Host ACK replies are whole escape commands, each ending in a comma.
async fn hear(master: &mut FdStream, want: usize) -> Option<(Instant, usize, usize)> {
    let mut heard = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 64];
    let (mut good, mut bad) = (0, 0);
    while good + bad < want {
        let n = match tokio::time::timeout(Duration::from_secs(5), master.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return None,
        };
        first.get_or_insert_with(Instant::now);
        heard.extend_from_slice(&buf[..n]);
        loop {
            if heard.starts_with(GOOD) {
                heard.drain(..GOOD.len());
                good += 1;
            } else if heard.starts_with(BAD) {
                heard.drain(..BAD.len());
                bad += 1;
            } else {
                break;
            }
        }
    }
    first.map(|f| (f, good, bad))
}

/// One scanner reading at `hz` until `until`, each read waiting for its beep (Host ACK: the
/// scanner reads nothing more until the host answers), starting at a random phase.
async fn read_at(
    scanner: &mut Scanner,
    script: &mut Script,
    hz: f64,
    until: tokio::time::Instant,
) -> Samples {
    let every = Duration::from_secs_f64(1.0 / hz);
    let phase = every.mul_f64(rand::random::<f64>());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut s = Samples::default();
    loop {
        tick.tick().await;
        if tokio::time::Instant::now() >= until {
            break;
        }
        let Some(step) = script.next() else { break };
        if scanner.master.write_all(&step.frame).await.is_err() {
            s.lost += 1;
            break;
        }
        let sent = Instant::now();
        s.scans += 1;
        s.frame_bytes += step.frame.len();
        match hear(&mut scanner.master, step.beeps).await {
            Some((at, good, bad)) => {
                let us = at.saturating_duration_since(sent).as_secs_f64() * 1e6;
                s.latency_us.push(us);
                if script.station < PICK_STATIONS {
                    s.pick_latency_us.push(us);
                } else {
                    s.pack_latency_us.push(us);
                }
                s.good += good;
                s.bad += bad;
            }
            None => s.lost += 1,
        }
    }
    s
}

/// Every scanner at `hz` for `secs`, on the simulators' runtime; the scanners and scripts come
/// back for the next run.
fn run_serial(
    sim: &Runtime,
    scanners: &mut Vec<Scanner>,
    scripts: &mut Vec<Script>,
    hz: f64,
    secs: f64,
) -> (Samples, f64) {
    let started = Instant::now();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = scanners
        .drain(..)
        .zip(scripts.drain(..))
        .map(|(mut sc, mut script)| {
            sim.spawn(async move {
                let s = read_at(&mut sc, &mut script, hz, until).await;
                (sc, script, s)
            })
        })
        .collect();
    let mut all = Samples::default();
    sim.block_on(async {
        for t in tasks {
            let (sc, script, s) = t.await.expect("scanner task");
            scanners.push(sc);
            scripts.push(script);
            all.merge(s);
        }
    });
    (all, started.elapsed().as_secs_f64())
}

/// The transport's floor: the same ptys, answered by a bare loop that beeps as soon as it sees
/// the CR, on the node's runtime.
fn run_echo(node: &Runtime, sim: &Runtime, scanners: &mut Vec<Scanner>, secs: f64) -> Samples {
    let stop = wms_hardware::CancellationToken::new();
    for sc in scanners.iter() {
        let path = sc.path.clone();
        let stop = stop.clone();
        node.spawn(async move {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open slave");
            let mut fd = FdStream::new(file).expect("slave");
            let mut buf = [0u8; 256];
            loop {
                let n = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = fd.read(&mut buf) => match r { Ok(n) if n > 0 => n, _ => break },
                };
                for _ in buf[..n].iter().filter(|b| **b == b'\r') {
                    if fd.write_all(GOOD).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    let mut scripts: Vec<Script> = (0..scanners.len())
        .map(|i| {
            let mut s = Script::pick(i, 0);
            s.queue = std::iter::repeat_n(item(&pick_gtin(i), 1), 100_000).collect();
            s
        })
        .collect();
    let (s, _) = run_serial(sim, scanners, &mut scripts, 10.0, secs);
    stop.cancel();
    s
}

/// The disk's floor: raw single-row durable commits (WAL, FULL) at `per_s`, each timed.
fn run_raw_commits(dir: &std::path::Path, per_s: f64, secs: f64) -> Vec<f64> {
    let c = rusqlite::Connection::open(dir.join("raw.db")).expect("raw db");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL").expect("full");
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT")
        .expect("table");
    let n = (per_s * secs) as usize;
    let every = Duration::from_secs_f64(1.0 / per_s);
    let start = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = Instant::now();
        c.execute_batch("BEGIN IMMEDIATE").expect("begin");
        c.execute("INSERT INTO t(body) VALUES (?1)", [format!("row {i}")])
            .expect("insert");
        c.execute_batch("COMMIT").expect("commit");
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat
}

/// The site: 45 pick stations and 5 pack stations, one Host ACK scanner each on a pty, an HTTP
/// handheld at every pick station, and at every pack station a MT-SICS scale on a pty showing
/// the orders' weight and a ZPL printer on loopback TCP.
fn config(
    dir: &std::path::Path,
    central: &wms_sync::central_sim::CentralSim,
    scanners: &[Scanner],
    scales: &[PtySim],
    printers: &[TcpSim],
) -> String {
    let creds = central.credentials();
    let mut t = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n\
         ship_from = {{ name = \"Bench DC\", street1 = \"1 Dock Rd\", city = \"Newark\", region = \"NJ\", postal_code = \"07101\", country = \"US\" }}\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n\
         [[api_keys]]\nname = \"handhelds\"\nrole = \"picker\"\nkey = \"{HANDHELD}\"\n\
         [central]\nurl = \"{}\"\napi_key = \"{}\"\nsigning_secret = \"{}\"\n",
        dir.join("data").display(),
        creds.central_url,
        creds.api_key,
        String::from_utf8_lossy(&creds.signing_secret),
    );
    for (i, sc) in scanners.iter().enumerate() {
        let kind = if i < PICK_STATIONS { "pick" } else { "pack" };
        t.push_str(&format!(
            "[[stations]]\nid = \"st-{i:02}\"\nkind = \"{kind}\"\n\
             [[devices]]\nid = \"scanner-{i:02}\"\nkind = \"scanner\"\nprofile = \"{PROFILE}\"\nstation = \"st-{i:02}\"\n\
             transport = {{ serial = {{ path = \"{}\" }} }}\n",
            sc.path.display()
        ));
        if i < PICK_STATIONS {
            t.push_str(&format!(
                "[[devices]]\nid = \"hh-{i:02}\"\nkind = \"scanner\"\nstation = \"st-{i:02}\"\ntransport = {{ http = {{}} }}\n"
            ));
        } else {
            let p = i - PICK_STATIONS;
            t.push_str(&format!(
                "[[devices]]\nid = \"scale-{p}\"\nkind = \"scale\"\nprofile = \"mettler-toledo-sics\"\nstation = \"st-{i:02}\"\n\
                 transport = {{ serial = {{ path = \"{}\" }} }}\n\
                 [[devices]]\nid = \"label-{p}\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"st-{i:02}\"\n\
                 transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n",
                scales[p].path_str(),
                printers[p].port()
            ));
        }
    }
    t
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) {
    let r = http
        .request(method, &url)
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    assert!(status.is_success(), "{url}: {status}: {:?}", r.text().await);
}

fn order(id: &str, sku: &str, qty: usize) -> Value {
    json!({"id": id, "tenant_id": "acme", "channel": "web", "created_at": "2026-12-01T10:00:00.000Z",
           "ship_by": "2026-12-03T17:00:00.000Z", "priority": "two_day",
           "shipping": {"carrier": "ups", "service": "ground"},
           "ship_to": {"name": "Grace Hopper", "street1": "1 Navy Way", "city": "Arlington",
                       "region": "VA", "postal_code": "22202", "country": "US"},
           "lines": [{"line_id": "1", "sku": sku, "qty": qty}]})
}

/// Products, locations, stock, people, tracking and SSCC numbers and orders, through the API.
async fn seed(base: &str, pick_orders: usize, pack_orders: usize) {
    let http = reqwest::Client::new();
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    for st in 0..PICK_STATIONS {
        call(&http, put.clone(), format!("{base}/v1/products/acme/SKU-{st:02}"),
            json!({"name": format!("Item {st}"), "barcodes": [pick_gtin(st)], "weight": {"value": "0.250", "unit": "kg"}})).await;
        call(
            &http,
            put.clone(),
            format!("{base}/v1/locations/L-{st:02}"),
            json!({"pick_sequence": st}),
        )
        .await;
        call(&http, post.clone(), format!("{base}/v1/inventory/adjustments"),
            json!({"tenant_id": "acme", "sku": format!("SKU-{st:02}"), "location": format!("L-{st:02}"),
                   "delta": pick_orders * PICK_UNITS, "reason": "received"})).await;
    }
    call(&http, put.clone(), format!("{base}/v1/products/acme/SKU-PK"),
        json!({"name": "Boxed", "barcodes": [pack_gtin()], "weight": {"value": "0.250", "unit": "kg"}})).await;
    call(
        &http,
        put.clone(),
        format!("{base}/v1/locations/L-PK"),
        json!({"pick_sequence": 99}),
    )
    .await;
    call(
        &http,
        post.clone(),
        format!("{base}/v1/inventory/adjustments"),
        json!({"tenant_id": "acme", "sku": "SKU-PK", "location": "L-PK",
               "delta": pack_orders * PACK_UNITS, "reason": "received"}),
    )
    .await;
    for i in 0..SCANNERS {
        call(
            &http,
            put.clone(),
            format!("{base}/v1/users/u-{i}"),
            json!({"name": format!("Op {i}"), "badge": format!("B-{i}"), "roles": ["picker", "packer"]}),
        )
        .await;
    }
    // Orders from a few clients at once (each a durable commit).
    let mut ids: Vec<(String, String, usize)> = Vec::new();
    for st in 0..PICK_STATIONS {
        for n in 0..pick_orders {
            ids.push((
                format!("O-{st:02}-{n:03}"),
                format!("SKU-{st:02}"),
                PICK_UNITS,
            ));
        }
    }
    for n in 0..pack_orders {
        ids.push((pack_order(n), "SKU-PK".into(), PACK_UNITS));
    }
    let ids = Arc::new(std::sync::Mutex::new(ids));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let ids = ids.clone();
        let http = http.clone();
        let base = base.to_string();
        clients.push(tokio::spawn(async move {
            loop {
                let next = ids.lock().expect("ids").pop();
                let Some((id, sku, qty)) = next else { break };
                call(
                    &http,
                    reqwest::Method::POST,
                    format!("{base}/v1/orders"),
                    order(&id, &sku, qty),
                )
                .await;
            }
        }));
    }
    for c in clients {
        c.await.expect("seed client");
    }
}

/// Labels need tracking and SSCC numbers leased from the central: wait for both kinds.
async fn wait_for_numbers(base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = http
            .get(format!("{base}/v1/sync/status"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json");
        let ready = |kind: &str| {
            v["id_blocks"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|k| k["kind"] == kind && k["remaining"].as_u64().unwrap_or(0) > 1000)
            })
        };
        if ready("sscc") && ready("tracking:ups") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no ID blocks from the central: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `POST /v1/scans`; its answer's feedback.
async fn http_scan(http: &reqwest::Client, base: &str, device: &str, data: &str) -> Option<bool> {
    let r = http
        .post(format!("{base}/v1/scans"))
        .bearer_auth(HANDHELD)
        .json(&json!({"device_id": device, "data": data}))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    Some(v["feedback"] == "good")
}

/// The pack stations' orders picked beforehand by the pick stations' handhelds (not timed).
async fn prepick(base: &str, pack_orders: usize) {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for st in 0..PICK_STATIONS {
        let http = http.clone();
        let base = base.to_string();
        tasks.push(tokio::spawn(async move {
            let dev = format!("hh-{st:02}");
            assert_eq!(
                http_scan(&http, &base, &dev, &format!("EMP:B-{st}")).await,
                Some(true)
            );
            let mut n = st;
            while n < pack_orders {
                let mut steps = vec![
                    format!("ORD:{}", pack_order(n)),
                    format!("TOTE:PT-{n:04}"),
                    "LOC:L-PK".into(),
                ];
                steps.extend(std::iter::repeat_n(
                    format!("01{}", pack_gtin()),
                    PACK_UNITS,
                ));
                steps.push("CMD:DONE".into());
                for s in steps {
                    assert_eq!(
                        http_scan(&http, &base, &dev, &s).await,
                        Some(true),
                        "{dev}: {s}"
                    );
                }
                n += PICK_STATIONS;
            }
        }));
    }
    for t in tasks {
        t.await.expect("prepick");
    }
}

/// Every pick station's handheld at `hz` for `secs`, request to response.
fn run_http(sim: &Runtime, base: &str, scripts: &mut [Script], hz: f64, secs: f64) -> Samples {
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let taken: Vec<Script> = (0..PICK_STATIONS)
        .map(|i| std::mem::replace(&mut scripts[i], Script::pick(i, 0)))
        .collect();
    for (i, mut script) in taken.into_iter().enumerate() {
        let http = http.clone();
        let base = base.to_string();
        tasks.push(sim.spawn(async move {
            let dev = format!("hh-{i:02}");
            let every = Duration::from_secs_f64(1.0 / hz);
            let phase = every.mul_f64(rand::random::<f64>());
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut s = Samples::default();
            loop {
                tick.tick().await;
                if tokio::time::Instant::now() >= until {
                    break;
                }
                let Some(data) = script.next_text() else {
                    break;
                };
                let t = Instant::now();
                s.scans += 1;
                match http_scan(&http, &base, &dev, &data).await {
                    Some(good) => {
                        s.latency_us.push(t.elapsed().as_secs_f64() * 1e6);
                        if good {
                            s.good += 1;
                        } else {
                            s.bad += 1;
                        }
                    }
                    None => s.lost += 1,
                }
            }
            (i, script, s)
        }));
    }
    let mut all = Samples::default();
    sim.block_on(async {
        for t in tasks {
            let (i, script, s) = t.await.expect("handheld");
            scripts[i] = script;
            all.merge(s);
        }
    });
    all
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Row {
    what: String,
    offered: f64,
    achieved: f64,
    s: Samples,
}

impl Row {
    fn new(what: impl Into<String>, offered: f64, secs: f64, mut s: Samples) -> Row {
        s.latency_us.sort_by(f64::total_cmp);
        s.pick_latency_us.sort_by(f64::total_cmp);
        s.pack_latency_us.sort_by(f64::total_cmp);
        Row {
            what: what.into(),
            offered,
            achieved: s.scans as f64 / secs,
            s,
        }
    }
    fn p(&self, p: f64) -> f64 {
        pct(&self.s.latency_us, p)
    }
    /// The row's latencies at one kind of station, under it in the table.
    fn kind_line(what: &str, sorted: &[f64]) -> String {
        let ms = |p: f64| format!("{:.2}", pct(sorted, p) / 1000.0);
        format!(
            "| {what} | | | {} | {} | {} | {} | {} | |\n",
            sorted.len(),
            ms(0.5),
            ms(0.99),
            ms(0.999),
            ms(1.0)
        )
    }

    fn line(&self) -> String {
        let ms = |us: f64| format!("{:.2}", us / 1000.0);
        format!(
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {}/{}/{} |\n",
            self.what,
            self.offered,
            self.achieved,
            self.s.scans,
            ms(self.p(0.5)),
            ms(self.p(0.99)),
            ms(self.p(0.999)),
            ms(self.p(1.0)),
            self.s.good,
            self.s.bad,
            self.s.lost,
        )
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let main_secs = env("WMS_SCAN_SECONDS", 30) as f64;
    let sweep_secs = env("WMS_SWEEP_SECONDS", 8) as f64;
    let sweep: [f64; 7] = [1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0];
    let load_start = load();
    // The machine line names the load when the run began.
    let machine = common::machine();
    // The node as `wms-edge run` has it on a 2-core box: a runtime with one worker per core.
    let node = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("node runtime");
    // The devices on a runtime of their own, so a simulator never waits behind the node's work.
    let sim = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("sim runtime");
    let dir = tempfile::tempdir().expect("tempdir");

    // The node logs at info to a file through its log writer thread, as `wms-edge run` does to
    // the journal (`WMS_BENCH_LOG` sets another filter, to see what the logging itself costs).
    let log = File::create(dir.path().join("node.log")).expect("log");
    let (log, _log_guard) = wms_edge::cli::log_writer(log);
    let filter = std::env::var("WMS_BENCH_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(log)
        .init();

    let mut scanners: Vec<Scanner> =
        sim.block_on(async { (0..SCANNERS).map(|_| open_pty()).collect() });

    // Baselines first, on the idle ptys and disk.
    let echo = Row::new(
        "baseline: bare echo loop on the same ptys (transport floor)",
        SCANNERS as f64 * 10.0,
        sweep_secs,
        run_echo(&node, &sim, &mut scanners, sweep_secs),
    );
    let raw = {
        let mut lat = run_raw_commits(dir.path(), SCANNERS as f64 * 10.0, sweep_secs);
        lat.sort_by(f64::total_cmp);
        lat
    };

    // Orders enough for every run: the 10/s run, the sweep and the HTTP run.
    let per_station_scans =
        10.0 * main_secs + sweep.iter().sum::<f64>() * sweep_secs + 12.0 * sweep_secs + 100.0;
    let pick_orders = (per_station_scans / (PICK_UNITS + 4) as f64).ceil() as usize + 2;
    let pack_orders =
        PACK_STATIONS * ((per_station_scans / (PACK_UNITS + 2) as f64).ceil() as usize + 2);

    // The central on a runtime of its own: its batches (parsing, signatures) must not hold up
    // the scanners' clocks.
    let upstream = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("central runtime");
    let central = upstream.block_on(async {
        let mut sc = wms_sync::central_sim::SimConfig::new(SITE);
        sc.faults = wms_sync::central_sim::Faults::none();
        wms_sync::central_sim::CentralSim::start(sc)
            .await
            .expect("central")
    });
    let (scales, printers) = sim.block_on(async {
        let scales: Vec<PtySim> = (0..PACK_STATIONS)
            .map(|p| {
                let w = format!("{:.3}", 0.25 * PACK_UNITS as f64);
                PtySim::start(&format!("scale-{p}"), SicsScale::new(&w, "kg")).expect("scale")
            })
            .collect();
        let mut printers = Vec::new();
        for _ in 0..PACK_STATIONS {
            printers.push(TcpSim::start(ZplPrinter::new()).await.expect("printer"));
        }
        (scales, printers)
    });
    let toml = config(dir.path(), &central, &scanners, &scales, &printers);
    let cfg = wms_edge::config::parse("bench.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let served = node.spawn(async move {
        wms_edge::node::serve(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        )
        .await
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("node listening");
    let base = format!("http://{addr}");
    let t = Instant::now();
    node.block_on(seed(&base, pick_orders, pack_orders));
    node.block_on(wait_for_numbers(&base));
    node.block_on(prepick(&base, pack_orders));
    eprintln!("seeded and pre-picked in {:.1}s", t.elapsed().as_secs_f64());

    let mut scripts: Vec<Script> = (0..SCANNERS)
        .map(|i| {
            if i < PICK_STATIONS {
                Script::pick(i, pick_orders)
            } else {
                Script::pack(i, pack_orders / PACK_STATIONS)
            }
        })
        .collect();
    // Warm-up: logins and the first orders, not counted.
    let (warm, _) = run_serial(&sim, &mut scanners, &mut scripts, 10.0, 3.0);
    assert_eq!(
        warm.bad + warm.lost,
        0,
        "warm-up: {} bad, {} lost",
        warm.bad,
        warm.lost
    );

    let load_main = load();
    let (s, secs) = run_serial(&sim, &mut scanners, &mut scripts, 10.0, main_secs);
    let main_row = Row::new(
        format!("**{SCANNERS} serial scanners at 10 scans/s each**"),
        SCANNERS as f64 * 10.0,
        secs,
        s,
    );
    eprint!("{}", main_row.line());
    let mut sweep_rows = Vec::new();
    for hz in sweep {
        let (s, secs) = run_serial(&sim, &mut scanners, &mut scripts, hz, sweep_secs);
        let row = Row::new(
            format!("{SCANNERS} serial scanners at {hz} scans/s each"),
            SCANNERS as f64 * hz,
            secs,
            s,
        );
        eprint!("{}", row.line());
        sweep_rows.push(row);
    }
    let http_hz = SCANNERS as f64 * 10.0 / PICK_STATIONS as f64;
    let http_row = Row::new(
        format!("{PICK_STATIONS} HTTP handhelds at {http_hz:.1} scans/s each (`POST /v1/scans`, keep-alive)"),
        SCANNERS as f64 * 10.0,
        sweep_secs,
        run_http(&sim, &base, &mut scripts, http_hz, sweep_secs),
    );
    eprint!("{}", http_row.line());
    let load_end = load();

    let _ = stop_tx.send(());
    let _ = node.block_on(served);

    let frame = main_row.s.frame_bytes as f64 / main_row.s.scans.max(1) as f64;
    // 8N1: ten bits a byte, the frame out and the good beep back.
    let wire_us = (frame + GOOD.len() as f64) * 10.0 / BAUD * 1e6;
    let crossing = sweep_rows
        .iter()
        .find(|r| r.p(0.99) >= 10_000.0)
        .map(|r| {
            format!(
                "p99 first reaches 10 ms at **{:.0} scans/s** offered ({:.0} achieved)",
                r.offered, r.achieved
            )
        })
        .unwrap_or_else(|| {
            format!(
                "p99 stays under 10 ms up to the sweep's top, **{:.0} scans/s** offered",
                sweep_rows.last().map(|r| r.offered).unwrap_or(0.0)
            )
        });
    let below = sweep_rows
        .iter()
        .rev()
        .find(|r| r.p(0.99) < 10_000.0)
        .map(|r| {
            format!(
                "the highest rate of the sweep with p99 under 10 ms is {:.0} scans/s",
                r.offered
            )
        })
        .unwrap_or_else(|| "no rate of the sweep keeps p99 under 10 ms".into());
    let verdict = if main_row.p(0.99) < 10_000.0 {
        "met"
    } else {
        "NOT met"
    };
    let mut rows = String::new();
    rows.push_str(&main_row.line());
    rows.push_str(&Row::kind_line(
        "… of which scans at the pick stations",
        &main_row.s.pick_latency_us,
    ));
    rows.push_str(&Row::kind_line(
        "… of which scans at the pack stations",
        &main_row.s.pack_latency_us,
    ));
    for r in &sweep_rows {
        rows.push_str(&r.line());
    }
    rows.push_str(&http_row.line());
    rows.push_str(&echo.line());
    let body = format!(
        "## Scan path end to end: 50 serial scanners into the node and their beeps back\n\n\
`cargo bench -p wms-edge --bench scan_path` — {date}, {machine}. Release build; the node\n\
(`node::serve`, a tokio runtime with one worker per core, logging at info to a file through its log writer thread) in one\n\
process with the device simulators (a runtime of their own, one thread) and the central simulator\n\
(another). Load average (1 min)\n\
at the start / the 10 scans/s run / the end: {load_start} / {load_main} / {load_end} — the machine\n\
is shared with other engineers' builds, so absolute figures are noisy; compare rows of this run.\n\n\
The site: {PICK_STATIONS} pick stations and {PACK_STATIONS} pack stations, each with a `{PROFILE}` scanner\n\
on a real pty (the node's serial driver opens the pty slave, 115200 8N1). A pick station picks\n\
orders of {PICK_UNITS} units into fresh totes (ORD, TOTE, LOC, one scan per unit — each a durable pick:\n\
two ledger rows, two outbox events, tote and task updates —, CMD:DONE); a pack station packs\n\
pre-picked orders of {PACK_UNITS} units (ORD, one scan per unit, the last one read from the station's\n\
MT-SICS scale on a pty and printed as a 4x6 ZPL label to a printer simulator on loopback TCP, and\n\
CMD:DONE confirming the shipment). The store is the node's own: SQLite on disk, WAL,\n\
`synchronous=FULL`, group commit. Each scanner waits for its beep before it reads again (Host ACK),\n\
starting at a random phase. Latency: from the last byte of the frame written to the pty master to\n\
the first byte of the Host ACK escape command read back from it; for HTTP handhelds, from the\n\
request to the response.\n\n\
| what | offered scans/s | achieved | scans | p50 ms | p99 ms | p99.9 ms | max ms | good/bad/lost |\n\
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n\
{rows}\
| baseline: raw single-row durable commits (WAL, FULL) at {raw_rate:.0}/s (disk floor) | {raw_rate:.0} | | {raw_n} | {r50:.2} | {r99:.2} | {r999:.2} | {rmax:.2} | |\n\n\
Target (design.md §5): p99 < 10 ms at 50 scanners × 10 scans/s: **{verdict}** ({p99:.2} ms). {crossing};\n\
{below}.\n\n\
The physical floor: a frame of {frame:.0} bytes (AIM prefix, data, CR) plus the {beep}-byte beep at\n\
115200 baud 8N1 is {wire:.0} µs on a real cable, which the ptys do not spend. At 10 scans/s the\n\
node's p50 is **{r_wire50:.1}×** that wire time and its p99 **{r_wire99:.1}×**; the bare echo loop's\n\
p50 is {e_wire:.2}× it. Against the floors of this run: p50 {r_echo:.1}× the echo loop's, and p99\n\
{r_raw:.1}× the raw durable commit's p99.\n",
        date = common::today(),
        machine = machine,
        raw_rate = SCANNERS as f64 * 10.0,
        raw_n = raw.len(),
        r50 = pct(&raw, 0.5) / 1000.0,
        r99 = pct(&raw, 0.99) / 1000.0,
        r999 = pct(&raw, 0.999) / 1000.0,
        rmax = pct(&raw, 1.0) / 1000.0,
        p99 = main_row.p(0.99) / 1000.0,
        beep = GOOD.len(),
        wire = wire_us,
        r_wire50 = main_row.p(0.5) / wire_us,
        r_wire99 = main_row.p(0.99) / wire_us,
        e_wire = echo.p(0.5) / wire_us,
        r_echo = main_row.p(0.5) / echo.p(0.5),
        r_raw = main_row.p(0.99) / pct(&raw, 0.99),
    );
    println!("{body}");
    if std::env::var_os("WMS_BENCH_NO_WRITE").is_none() {
        common::write_section("edge-scan-path", &body);
    }
}
