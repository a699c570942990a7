//! The register's path through the real store, without device delays: a product scan at a
//! register's scanner to the committed cart (`Till::scan`: the scan rules, the SKU lookup, one
//! transaction re-pricing the cart, the answer), and a sale's completion by `CMD:CASH` (one
//! transaction: tender, receipt number, `sold` stock, audit, outbox — and the receipt's ESC/POS
//! bytes rendered and queued in it). Each is one durable commit, so the baseline measured in the
//! same run is raw SQLite with the same pragmas committing one small row per transaction.
//! Writes BENCHMARKS.md.
//!
//! `cargo bench -p wms-edge --bench till` (`WMS_BENCH_SALES` sales, default 300, of
//! `WMS_BENCH_ITEMS` scans each, default 5; `WMS_BENCH_REGISTERS` registers selling at once for
//! the second run, default 10).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wms_edge::config::RegisterConfig;
use wms_edge::domain::Actor;
use wms_edge::events::EventBus;
use wms_edge::store::base::catalog::{self, LocationInput, ProductInput};
use wms_edge::store::base::prices::{self, TaxRateRow};
use wms_edge::store::workflow::pos::registers;
use wms_edge::store::{Ctx, Origin, Store, StoreOptions};
use wms_edge::till::Till;

const SITE: &str = "st-bench";
const CODES: [&str; 5] = [
    "00614141000012",
    "00614141000029",
    "00614141000036",
    "00614141000043",
    "00614141000050",
];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn origin() -> Origin {
    Origin {
        actor: Actor {
            user: Some("u-0".into()),
            device: Some("bench".into()),
            api_key: None,
        },
        request_id: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `n` registers of one store, each with a receipt printer (receipts are rendered and queued).
fn registers(n: usize) -> Vec<RegisterConfig> {
    let mut toml = format!(
        "[site]\nid = \"{SITE}\"\ntimezone = \"America/New_York\"\ndata_dir = \"/tmp/unused\"\n"
    );
    for i in 0..n {
        toml.push_str(&format!(
            "[[stations]]\nid = \"pos-{i}\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
             [stations.pos]\ncash_rounding = 5\nreceipt_header = [\"Acme Store #14\", \"12 Main St\"]\n\
             receipt_footer = [\"Returns within 30 days\"]\n\
             [[devices]]\nid = \"rcpt-{i}\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pos-{i}\"\n\
             transport = {{ tcp = {{ host = \"127.0.0.1\", port = 9100 }} }}\n"
        ));
    }
    wms_edge::config::parse("bench.toml", &toml)
        .expect("config")
        .registers()
}

/// A store location, five taxed products, one cashier per register (PIN 1234), and an open
/// session on every register.
async fn seed(store: &Store, regs: &[RegisterConfig]) {
    let pin = wms_edge::pin::hash("1234").expect("hash");
    let regs = regs.to_vec();
    store
        .write(move |c| {
            let o = origin();
            let now = "2026-01-01T00:00:00.000Z";
            let l: LocationInput = serde_json::from_value(json!({"kind": "store"}))?;
            catalog::put_location(c, &o, now, "STORE", l)?;
            prices::put_tax_rate(
                c,
                &o,
                now,
                &TaxRateRow {
                    code: "STD".into(),
                    name: Some("Sales tax".into()),
                    rate: "8.875".into(),
                    version: None,
                },
            )?;
            for (i, code) in CODES.iter().enumerate() {
                let p: ProductInput = serde_json::from_value(json!({
                    "name": format!("Item {i}"), "barcodes": [code], "tax_code": "STD",
                    "price": {"amount": 999 + 250 * i as i64, "currency": "USD"}}))?;
                catalog::put_product(c, &o, now, "acme", &format!("SKU-{i}"), p)?;
            }
            for (i, reg) in regs.iter().enumerate() {
                let u: catalog::UserInput = serde_json::from_value(json!({
                    "name": format!("Cashier {i}"), "badge": format!("B-{i}"),
                    "roles": ["cashier"], "tenant_id": "acme"}))?;
                catalog::put_user(c, &o, now, &format!("u-{i}"), u, Some(pin.clone()))?;
                let cx = Ctx {
                    conn: c,
                    site: SITE,
                    origin: &o,
                    now,
                };
                registers::open_session(&cx, reg, &format!("u-{i}"), 10_000)?;
            }
            Ok(())
        })
        .await
        .expect("seed");
}

fn parsed(text: &str) -> wms_labels::scan::Scan {
    wms_labels::scan::interpret(text.as_bytes())
}

async fn scan(till: &Till, reg: &str, device: &str, text: &str) -> Duration {
    let t = Instant::now();
    let r = till
        .scan(reg, device, &parsed(text), Box::new(|_, _| {}))
        .await;
    let took = t.elapsed();
    assert!(r.good, "{text}: {}", r.prompt);
    took
}

/// `sales` sales of `items` scans on each of `n` registers at once: (scan latencies, completion
/// latencies, wall time).
fn sell(n: usize, sales: usize, items: usize) -> (Vec<Duration>, Vec<Duration>, Duration) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("till.db"), StoreOptions::default()).expect("open");
    let regs = registers(n);
    rt.block_on(async {
        seed(&store, &regs).await;
        let map: HashMap<String, RegisterConfig> =
            regs.iter().map(|r| (r.id.clone(), r.clone())).collect();
        let till = Till::without_terminals(
            store.clone(),
            SITE.into(),
            EventBus::default(),
            Arc::new(map),
        );
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..n {
            let till = till.clone();
            tasks.push(tokio::spawn(async move {
                let reg = format!("pos-{i}");
                let dev = format!("scan-{i}");
                scan(&till, &reg, &dev, &format!("EMP:B-{i}")).await;
                scan(&till, &reg, &dev, "PIN:1234").await;
                let mut lines = Vec::with_capacity(sales * items);
                let mut done = Vec::with_capacity(sales);
                for s in 0..sales {
                    for k in 0..items {
                        let code = CODES[(s + k) % CODES.len()];
                        lines.push(scan(&till, &reg, &dev, code).await);
                    }
                    done.push(scan(&till, &reg, &dev, "CMD:CASH").await);
                }
                (lines, done)
            }));
        }
        let (mut lines, mut done) = (Vec::new(), Vec::new());
        for t in tasks {
            let (l, d) = t.await.expect("register task");
            lines.extend(l);
            done.extend(d);
        }
        let wall = started.elapsed();
        lines.sort();
        done.sort();
        (lines, done, wall)
    })
}

/// The baseline's database: one small table, the node's durability pragmas.
fn raw_commits(path: &std::path::Path, n: usize) -> Vec<Duration> {
    let c = rusqlite::Connection::open(path).expect("raw db");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL").expect("full");
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT")
        .expect("table");
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        c.execute_batch("BEGIN IMMEDIATE").expect("begin");
        c.execute("INSERT INTO t(body) VALUES (?1)", [format!("row {i}")])
            .expect("insert");
        c.execute_batch("COMMIT").expect("commit");
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn lat(v: &[Duration]) -> String {
    format!(
        "{} / {} / {} ms",
        ms(percentile(v, 0.5)),
        ms(percentile(v, 0.99)),
        ms(v.last().copied().unwrap_or_default())
    )
}

fn main() {
    let sales = env("WMS_BENCH_SALES", 300);
    let items = env("WMS_BENCH_ITEMS", 5);
    let regs = env("WMS_BENCH_REGISTERS", 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let raw_before = raw_commits(&dir.path().join("raw1.db"), 2000);
    let (one_lines, one_done, _) = sell(1, sales, items);
    let (many_lines, many_done, wall) = sell(regs, sales / regs.max(1) * 2, items);
    let raw_after = raw_commits(&dir.path().join("raw2.db"), 2000);
    let mut raw: Vec<Duration> = raw_before.into_iter().chain(raw_after).collect();
    raw.sort();
    let raw_p99 = percentile(&raw, 0.99);
    let raw_p50 = percentile(&raw, 0.5);
    let ratio = |v: &[Duration], p: f64, base: Duration| {
        percentile(v, p).as_secs_f64() / base.as_secs_f64().max(1e-9)
    };
    let verdict = |v: &[Duration]| {
        if percentile(v, 0.99) < Duration::from_millis(10) {
            "met"
        } else {
            "NOT met"
        }
    };
    let scans = many_lines.len() + many_done.len();
    let body = format!(
        "## Till: a register's scan to the committed cart, and a sale's completion\n\n\
`cargo bench -p wms-edge --bench till` — {date}, {machine}. Release build, tokio with 2 workers,\n\
the node's real store (WAL, `synchronous=FULL`, group commit), through `Till::scan` (the register's\n\
scan rules, the SKU lookup on a reader, one write re-pricing the cart, the answer) without the\n\
scanner's transport. Completion is `CMD:CASH` on a {items}-line sale: one transaction taking the\n\
tender, numbering the receipt, booking `sold` stock, auditing, queuing `pos.sale_completed` and\n\
rendering the receipt's ESC/POS bytes into the print queue. Baseline, same run: raw SQLite with the\n\
same pragmas, one small row per transaction ({rawn} commits, latency p50 {raw_p50} ms, p99 {raw_p99} ms).\n\n\
| what | p50 / p99 / max | p99 vs raw commit p99 |\n| --- | ---: | ---: |\n\
| one register: product scan → cart committed ({n1} scans; target p99 < 10 ms: {v1}) | {l1} | {r1:.1}× |\n\
| one register: `CMD:CASH` → sale completed, receipt bytes queued ({d1} sales; target p99 < 10 ms: {v2}) | {c1} | {r2:.1}× |\n\
| {regs} registers selling at once: product scan → cart committed ({nm} scans; target: {v3}) | {lm} | {r3:.1}× |\n\
| {regs} registers at once: `CMD:CASH` → completed ({dm} sales) | {cm} | {r4:.1}× |\n\
| {regs} registers at once: scans/s through the till | {rate:.0} | |\n\n\
A register rings items up one by one, so one register's figures are the cashier's experience; the\n\
{regs} registers share the one writer, and its group commit folds their changes into common\n\
transactions. A scan reads the SKU on a reader and re-prices the whole cart in its write; the\n\
completion writes the most rows of any till step (tender, sale, one ledger row and stock update\n\
per line, audit, outbox, print job).\n",
        date = common::today(),
        machine = common::machine(),
        rawn = raw.len(),
        raw_p50 = ms(raw_p50),
        raw_p99 = ms(raw_p99),
        n1 = one_lines.len(),
        v1 = verdict(&one_lines),
        l1 = lat(&one_lines),
        r1 = ratio(&one_lines, 0.99, raw_p99),
        d1 = one_done.len(),
        v2 = verdict(&one_done),
        c1 = lat(&one_done),
        r2 = ratio(&one_done, 0.99, raw_p99),
        nm = many_lines.len(),
        v3 = verdict(&many_lines),
        lm = lat(&many_lines),
        r3 = ratio(&many_lines, 0.99, raw_p99),
        dm = many_done.len(),
        cm = lat(&many_done),
        r4 = ratio(&many_done, 0.99, raw_p99),
        rate = scans as f64 / wall.as_secs_f64(),
    );
    println!("{body}");
    common::write_section("edge-till", &body);
}
