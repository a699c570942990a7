//! HTTP read throughput: `GET /v1/inventory` on the real node (auth, store read, JSON) against a
//! bare axum handler returning a JSON body of the same size, in the same run, driven by the same
//! in-process keep-alive client. Writes its figures to BENCHMARKS.md.
//!
//! `cargo bench -p wms-edge --bench http` (`WMS_BENCH_ROUNDS` rounds of `WMS_BENCH_SECONDS` per side,
//! default 24 × 1 s). For profiling, `WMS_BENCH_ONLY=/v1/inv` measures only the paths starting so and
//! `WMS_BENCH_SIDE=node|bare` drives only one side; either leaves BENCHMARKS.md alone.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const CONNECTIONS: usize = 32;
const KEY: &str = "bench-admin-key-0001";

/// Where the node's extra cost per request goes; see BENCHMARKS.md.
const NOTES: &str = "Where the node's extra CPU per request goes (perf, same machine): the hop to a store reader \
thread and back (a futex wake-up and a context switch each way when the thread was idle), stepping the SQLite \
statement and reading its columns, writing the JSON, and the middleware (request id, metrics, bearer auth). \
The health row isolates the hop and the middleware; the inventory row adds auth, the 20-row query and 2 KB of \
JSON. Rounds spread widely on this shared 2-core VM; the median is the figure.\n";

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000)
            };
            tv(u.user_time()) + tv(u.system_time())
        })
        .unwrap_or_default()
}

/// One side's round: requests per second, and the whole process's CPU per request in µs
/// (client, server and kernel), which a shared box disturbs less than throughput.
#[derive(Clone, Copy)]
struct Round {
    rps: f64,
    cpu_us: f64,
}

async fn drive(url: String, auth: bool, secs: u64) -> Round {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let cpu0 = cpu_time();
    let start = Instant::now();
    for _ in 0..CONNECTIONS {
        let client = client.clone();
        let url = url.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop {
                let mut req = client.get(&url);
                if auth {
                    req = req.bearer_auth(KEY);
                }
                let resp = req.send().await.expect("request");
                assert!(resp.status().is_success());
                let _ = resp.bytes().await.expect("body");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let n = done.load(Ordering::Relaxed).max(1) as f64;
    Round {
        rps: n / start.elapsed().as_secs_f64(),
        cpu_us: (cpu_time() - cpu0).as_secs_f64() * 1e6 / n,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// What one path measured over all rounds.
struct PathResult {
    path: &'static str,
    bytes: usize,
    bare_rps: f64,
    node_rps: f64,
    /// Median over rounds of node ÷ bare, each round's two sides run back to back.
    ratio: f64,
    ratio_min: f64,
    ratio_max: f64,
    bare_cpu_us: f64,
    node_cpu_us: f64,
}

fn main() {
    let secs: u64 = std::env::var("WMS_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rounds: usize = std::env::var("WMS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    // Profiling aid: measure only the paths starting with this, and leave BENCHMARKS.md alone.
    let only = std::env::var("WMS_BENCH_ONLY").ok();
    // Profiling aid: drive only `node` or only `bare` (BENCHMARKS.md is then left alone too).
    let side = std::env::var("WMS_BENCH_SIDE").ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[site]\nid = \"wh-bench\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [[api_keys]]\nname = \"bench\"\nrole = \"admin\"\nkey = \"{KEY}\"\n[log]\nlevel = \"warn\"\n",
        dir.path().display()
    );
    let cfg = wms_edge::config::parse("bench.toml", &toml).expect("config");
    let results = rt.block_on(async {
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
        tokio::spawn(wms_edge::node::serve(cfg, std::future::pending(), move |a| {
            let _ = addr_tx.send(a);
        }));
        let addr = addr_rx.await.expect("addr");
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        let put = |path: String, body: serde_json::Value| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let s = http.put(format!("{base}{path}")).bearer_auth(KEY).json(&body).send().await.expect("put").status();
                assert!(s.is_success());
            }
        };
        put("/v1/products/acme/SKU-1".into(), json!({"name": "Bench"})).await;
        for i in 0..20 {
            put(format!("/v1/locations/L-{i:02}"), json!({})).await;
            let s = http
                .post(format!("{base}/v1/inventory/adjustments"))
                .bearer_auth(KEY)
                .json(&json!({"tenant_id": "acme", "sku": "SKU-1", "location": format!("L-{i:02}"), "delta": 5}))
                .send()
                .await
                .expect("adj")
                .status();
            assert!(s.is_success());
        }
        // The figure is GET /v1/inventory; /health (one trivial store read, no auth) and
        // /v1/openapi.json (no store) show where the difference goes.
        let paths = ["/v1/inventory?limit=20", "/health", "/v1/openapi.json"];
        let mut results = Vec::new();
        for path in paths {
            if only.as_deref().is_some_and(|o| !path.starts_with(o)) {
                continue;
            }
            let url = format!("{base}{path}");
            let body = http.get(&url).bearer_auth(KEY).send().await.expect("get").bytes().await.expect("body");
            // The baseline: a bare axum handler serving the same bytes.
            let canned = body.clone();
            let bare = axum::Router::new().route(
                "/bare",
                axum::routing::get(move || {
                    let b = canned.clone();
                    async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], b) }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let bare_addr = listener.local_addr().expect("addr");
            tokio::spawn(async move { axum::serve(listener, bare).await });
            let bare_url = format!("http://{bare_addr}/bare");
            let _ = drive(bare_url.clone(), false, 1).await;
            let _ = drive(url.clone(), true, 1).await;
            // Alternate the sides and compare each round's pair: background load on a shared box
            // then hurts both sides of a pair alike, and the median drops the disturbed pairs.
            let (mut bare, mut node) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                if side.as_deref() != Some("node") {
                    bare.push(drive(bare_url.clone(), false, secs).await);
                }
                if side.as_deref() != Some("bare") {
                    node.push(drive(url.clone(), true, secs).await);
                }
            }
            let ratios: Vec<f64> = bare.iter().zip(&node).map(|(b, n)| n.rps / b.rps).collect();
            let ratios = if ratios.is_empty() { vec![0.0] } else { ratios };
            results.push(PathResult {
                path,
                bytes: body.len(),
                bare_rps: median(bare.iter().map(|r| r.rps).collect()),
                node_rps: median(node.iter().map(|r| r.rps).collect()),
                ratio: median(ratios.clone()),
                ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratio_max: ratios.iter().copied().fold(0.0, f64::max),
                bare_cpu_us: median(bare.iter().map(|r| r.cpu_us).collect()),
                node_cpu_us: median(node.iter().map(|r| r.cpu_us).collect()),
            });
        }
        results
    });
    let mut rows = String::new();
    for r in &results {
        let pct = |x: f64| x * 100.0;
        println!(
            "GET {}: node {:.0} req/s, {:.1} µs CPU/req; bare axum {:.0} req/s, {:.1} µs CPU/req; ratio {:.0}% ({:.0}–{:.0}%)",
            r.path, r.node_rps, r.node_cpu_us, r.bare_rps, r.bare_cpu_us, pct(r.ratio), pct(r.ratio_min), pct(r.ratio_max)
        );
        let what = match r.path {
            "/health" => "`GET /health`: one trivial store read, no auth",
            "/v1/openapi.json" => "`GET /v1/openapi.json`: no store, no auth (middleware only)",
            _ => "**`GET /v1/inventory?limit=20`: bearer auth + SQLite read of 20 rows + JSON** (target ≥ 50%)",
        };
        rows.push_str(&format!(
            "| {what} | {} | {:.0} | {:.0} | **{:.0}%** ({:.0}–{:.0}%) | {:.1} | {:.1} |\n",
            r.bytes,
            r.bare_rps,
            r.node_rps,
            pct(r.ratio),
            pct(r.ratio_min),
            pct(r.ratio_max),
            r.bare_cpu_us,
            r.node_cpu_us
        ));
    }
    if only.is_some() || side.is_some() {
        return;
    }
    let body = format!(
        "## HTTP reads vs a bare axum handler\n\n\
         `cargo bench -p wms-edge --bench http` — {date}, {machine}. {CONNECTIONS} keep-alive connections from an\n\
         in-process client; for each path a bare axum handler serves the node's exact response bytes. The sides\n\
         alternate for {rounds} rounds of {secs} s; the ratio is the median of the rounds' node ÷ bare throughput\n\
         (range in brackets), the req/s columns are medians too. CPU/req is the whole process's user + system time\n\
         per request (client, server and kernel), which a shared box disturbs less than throughput. The client\n\
         shares the machine's 2 cores with the server, so absolute numbers understate a dedicated box.\n\n\
         | path | bytes | bare axum req/s | node req/s | node vs bare | bare µs CPU/req | node µs CPU/req |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n{rows}\n\
         {NOTES}",
        date = common::today(),
        machine = common::machine(),
    );
    common::write_section("edge-http", &body);
}
