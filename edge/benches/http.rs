//! HTTP read throughput: `GET /v1/inventory` on the real node (auth, store read, JSON) against a
//! bare axum handler returning a JSON body of the same size, in the same run, driven by the same
//! in-process keep-alive client. Writes its figures to BENCHMARKS.md.
//!
//! `cargo bench -p wms-edge --bench http` (`WMS_BENCH_ROUNDS` rounds of `WMS_BENCH_SECONDS` per side,
//! default 6 × 2 s).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const CONNECTIONS: usize = 32;
const KEY: &str = "bench-admin-key-0001";

async fn drive(url: String, auth: bool, secs: u64) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
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
    let start = Instant::now();
    for t in tasks {
        t.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: u64 = std::env::var("WMS_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let rounds: usize = std::env::var("WMS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
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
    let (node_rps, bare_rps, body_len) = rt.block_on(async move {
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
        let url = format!("{base}/v1/inventory?limit=20");
        let body = http.get(&url).bearer_auth(KEY).send().await.expect("get").bytes().await.expect("body");
        // The baseline: a bare axum handler serving the same bytes.
        let canned = body.clone();
        let bare = axum::Router::new().route(
            "/v1/inventory",
            axum::routing::get(move || {
                let b = canned.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], b) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let bare_addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, bare).await });
        let bare_url = format!("http://{bare_addr}/v1/inventory");
        let _ = drive(bare_url.clone(), false, 1).await;
        // Alternate the sides and keep each one's best run: background load on a shared box
        // then hurts both sides alike instead of whichever happened to run during it.
        let (mut bare_rps, mut node_rps) = (0f64, 0f64);
        for _ in 0..rounds {
            bare_rps = bare_rps.max(drive(bare_url.clone(), false, secs).await);
            node_rps = node_rps.max(drive(url.clone(), true, secs).await);
        }
        (node_rps, bare_rps, body.len())
    });
    let ratio = node_rps / bare_rps * 100.0;
    println!("node GET /v1/inventory: {node_rps:.0} req/s; bare axum: {bare_rps:.0} req/s; ratio {ratio:.0}%");
    let body = format!(
        "## HTTP reads: `GET /v1/inventory` vs a bare axum handler\n\n\
         `cargo bench -p wms-edge --bench http` — {date}, {machine}. {CONNECTIONS} keep-alive connections from an\n\
         in-process client, the sides alternating for {rounds} rounds of {secs} s each and each side's best round kept, 20 stock rows per response ({body_len} bytes). The client shares the\n\
         machine's 2 cores with the server, so absolute numbers understate a dedicated box; the ratio is the figure.\n\n\
         | what | requests/s | vs baseline |\n| --- | ---: | ---: |\n\
         | bare axum handler, same bytes (baseline) | {bare_rps:.0} | 100% |\n\
         | node: bearer auth + SQLite read + JSON | {node_rps:.0} | **{ratio:.0}%** (target ≥ 50%) |\n",
        date = common::today(),
        machine = common::machine(),
    );
    common::write_section("edge-http", &body);
}
