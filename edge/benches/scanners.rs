//! 50 simulated serial scanners on real ptys at 10 scans/s each, into the edge: latency from
//! handing the frame to the pty to the `scan` event being published on the node's event bus
//! (device task, scan router, interpretation, scanner feedback, event), against a raw pty read
//! loop on the same ptys in the same run. Writes the edge-scanners section of BENCHMARKS.md.
//! Run: `cargo bench -p wms-edge --bench scanners`.

mod common;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use wms_edge::events::EventBus;
use wms_hardware::sim::{PtySim, Silent};
use wms_hardware::transport::FdStream;
use wms_hardware::CancellationToken;

const SCANNERS: usize = 50;
const RATE_HZ: u64 = 10;
const SECONDS: u64 = 10;

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

fn cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// A valid GS1 scan (GTIN + lot) unique per frame, so each event can be matched.
fn payload(i: usize, n: u64) -> String {
    format!("010001234560001210L{i:02}{n:08}")
}

async fn drive(sims: &[PtySim], sent: Sent) {
    // One frame every 2 ms round-robin over the 50 scanners = 10 scans/s each.
    let mut ticker =
        tokio::time::interval(Duration::from_micros(1_000_000 / RATE_HZ / SCANNERS as u64));
    let total = SCANNERS as u64 * RATE_HZ * SECONDS;
    for n in 0..total {
        ticker.tick().await;
        let i = (n as usize) % SCANNERS;
        let code = payload(i, n);
        let bytes = format!("]C1{code}\r").into_bytes();
        if let Ok(mut m) = sent.lock() {
            m.insert(code, Instant::now());
        }
        let _ = sims[i].write(&bytes).await;
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx.min(v.len() - 1)]
}

struct Figures {
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    received: usize,
    expected: usize,
    cpu_pct: f64,
}

async fn measure(sims: &[PtySim], mut rx: mpsc::Receiver<(String, Instant)>) -> Figures {
    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let expected = (SCANNERS as u64 * RATE_HZ * SECONDS) as usize;
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let s2 = sent.clone();
    let collector = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(expected);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(SECONDS + 10);
        while lat.len() < expected {
            let Ok(Some((code, at))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                break;
            };
            let mut t0 = None;
            for _ in 0..100 {
                t0 = s2.lock().ok().and_then(|m| m.get(&code).copied());
                if t0.is_some() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            if let Some(t0) = t0 {
                lat.push(at.saturating_duration_since(t0).as_secs_f64() * 1e6);
            }
        }
        lat
    });
    drive(sims, sent).await;
    let mut lat = collector.await.unwrap_or_default();
    let cpu = cpu_seconds() - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    Figures {
        p50_us: percentile(&mut lat, 0.50),
        p99_us: percentile(&mut lat, 0.99),
        max_us: percentile(&mut lat, 1.0),
        received: lat.len(),
        expected,
        cpu_pct: 100.0 * cpu / wall,
    }
}

async fn run_raw(sims: &[PtySim]) -> Figures {
    let (ltx, lrx) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    for s in sims {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
            .open(s.path())
            .expect("open pty");
        let mut fd = FdStream::new(file).expect("fd");
        let ltx = ltx.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut line = Vec::new();
            loop {
                let n = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = fd.read(&mut buf) => match r { Ok(n) if n > 0 => n, _ => break },
                };
                for &b in &buf[..n] {
                    if b == b'\r' {
                        let at = Instant::now();
                        let text = String::from_utf8_lossy(&line).into_owned();
                        line.clear();
                        let code = text.get(3..).unwrap_or("").to_string();
                        if ltx.send((code, at)).await.is_err() {
                            return;
                        }
                    } else {
                        line.push(b);
                    }
                }
            }
        });
    }
    drop(ltx);
    let f = measure(sims, lrx).await;
    stop.cancel();
    f
}

async fn run_edge(sims: &[PtySim]) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut toml = format!(
        "[site]\nid = \"bench\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n",
        dir.path().display()
    );
    for (i, s) in sims.iter().enumerate() {
        toml.push_str(&format!(
            "[[devices]]\nid = \"scanner-{i:02}\"\nkind = \"scanner\"\nprofile = \"honeywell-xenon-1900-serial\"\nstation = \"pack-1\"\ntransport = {{ serial = {{ path = \"{}\" }} }}\n",
            s.path_str()
        ));
    }
    let cfg = wms_edge::config::parse("bench.toml", &toml).expect("config");
    let bus = EventBus::new(4096);
    let mut events = bus.subscribe();
    let mgr =
        wms_edge::devices::DeviceManager::start(&cfg, bus, Default::default()).expect("devices");
    for e in mgr.entries() {
        let mut st = e.device.status();
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            st.wait_for(|s| s.state == wms_hardware::DeviceState::Online),
        )
        .await;
    }
    let (ltx, lrx) = mpsc::channel(1024);
    let forward = tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            let at = Instant::now();
            if ev.kind != "scan" {
                continue;
            }
            let data = ev.data["data"].as_str().unwrap_or("").to_string();
            if ltx.send((data, at)).await.is_err() {
                break;
            }
        }
    });
    let f = measure(sims, lrx).await;
    mgr.shutdown().await;
    forward.abort();
    f
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sims: Vec<PtySim> = (0..SCANNERS)
            .map(|i| PtySim::start(&format!("scanner-{i:02}"), Silent).expect("pty"))
            .collect();
        let raw = run_raw(&sims).await;
        let edge = run_edge(&sims).await;
        let row = |name: &str, r: &Figures| {
            format!(
                "| {name} | {}/{} | {:.0} | {:.0} | {:.0} | {:.1}% |\n",
                r.received, r.expected, r.p50_us, r.p99_us, r.max_us, r.cpu_pct
            )
        };
        let date = common::today();
        let text = format!(
            "## Edge: 50 serial scanners into the node, 10 scans/s each\n\n\
             Machine: {}. Date: {date}. Command: `cargo bench -p wms-edge --bench scanners` (release).\n\n\
             Latency from handing the frame (a valid GS1 GTIN + lot, ending CR) to the pty simulator\n\
             to the `scan` event published on the node's event bus, i.e. what a screen on\n\
             `/v1/events` receives: device task, scan router, interpretation, scanner feedback and\n\
             event. {SECONDS} s per run, {} scans. Baseline: a raw read loop on the same ptys (open,\n\
             read, split on CR) in the same process. CPU is the whole process (simulators included)\n\
             over the run's wall time.\n\n\
             | path | scans | p50 µs | p99 µs | max µs | CPU |\n| --- | --- | --- | --- | --- | --- |\n{}{}\n\
             Ratio edge / raw at p50: {:.2}. Tails on a shared 2-core machine are mostly scheduling.\n\n",
            common::machine(),
            raw.expected,
            row("raw pty read loop", &raw),
            row("wms-edge: pty → scan event", &edge),
            edge.p50_us / raw.p50_us,
        );
        print!("{text}");
        common::write_section("edge-scanners", &text);
    });
}
