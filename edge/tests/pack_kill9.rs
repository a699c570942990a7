//! SIGKILL in the middle of packing: a real `wms-edge run` with a SICS scale on a pty, a ZPL
//! printer on loopback TCP and the central simulator (all in this test process) is killed at a
//! different point of the pack cycle in each of `WMS_KILL9_TRIALS` trials (default 5): after the
//! packer took the tote, mid-verification, right after the last item (while the scale is read and
//! the label queued), once the carton is labelled, and between the label's bytes reaching the
//! printer and the spool recording them (a crash-test hook holds the printer task there; the
//! printer's odometer settles it). Restarted, the station resumes where its last acknowledged scan
//! left it; every order ships once, its label printed exactly once, and the central ends with
//! every event once and the edge's stock.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{spawn, spawn_with_env, Edge};
use serde_json::{json, Value};
use wms_hardware::device::HOLD_AFTER_SEND_ENV;
use wms_hardware::sim::{PtySim, SicsScale, TcpSim, ZplPrinter, ZplState};
use wms_sync::central_sim::{CentralSim, SimConfig};

const SITE: &str = "wh-pk9";
const KEY: &str = "pack-kill9-admin-key";
const DEADLINE: Duration = Duration::from_secs(60);
const SHIRT: &str = "00012345600012";
const MUG: &str = "00012345600029";

fn trials() -> usize {
    std::env::var("WMS_KILL9_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if cond().await {
            return;
        }
        assert!(tokio::time::Instant::now() < end, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn get(&self, path: &str) -> (u16, Value) {
        match self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    async fn scan(&self, device: &str, data: &str) -> Value {
        let r = self
            .http
            .post(format!("{}/v1/scans", self.base))
            .bearer_auth(KEY)
            .json(&json!({"device_id": device, "data": data}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("scan");
        assert!(r.status().is_success(), "{data}: {}", r.status());
        r.json().await.expect("scan answer")
    }

    async fn good(&self, device: &str, data: &str) -> Value {
        let v = self.scan(device, data).await;
        assert_eq!(v["feedback"], "good", "{data}: {v}");
        v
    }

    async fn status(&self, order: &str) -> String {
        let (_, v) = self.get(&format!("/v1/orders/{order}")).await;
        v["status"].as_str().unwrap_or_default().to_string()
    }
}

fn write_config(dir: &Path, central: &str, scale: &str, printer_port: u16) -> std::path::PathBuf {
    let extra = format!(
        "[log]\nlevel = \"error\"\n[discovery]\nenabled = false\n\
         [central]\nurl = \"{central}\"\napi_key = \"test-key\"\nsigning_secret = \"test-signing-secret\"\n\
         retry_base_ms = 20\nretry_cap_ms = 200\n\
         [[stations]]\nid = \"pick-1\"\nkind = \"pick\"\n\
         [[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n\
         [[devices]]\nid = \"gun-pick\"\nkind = \"scanner\"\nstation = \"pick-1\"\ntransport = {{ http = {{}} }}\n\
         [[devices]]\nid = \"gun-pack\"\nkind = \"scanner\"\nstation = \"pack-1\"\ntransport = {{ http = {{}} }}\n\
         [[devices]]\nid = \"scale-1\"\nkind = \"scale\"\nprofile = \"mettler-toledo-sics\"\nstation = \"pack-1\"\n\
         transport = {{ serial = {{ path = \"{scale}\" }} }}\n\
         [[devices]]\nid = \"label-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"pack-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {printer_port} }} }}\n"
    );
    common::write_config(dir, SITE, KEY, &extra)
}

/// Jobs in a printer's spool whose bytes may have gone out without the spool recording it.
fn jobs_in_doubt(spool: &Path) -> usize {
    std::fs::read_dir(spool)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "sending"))
                .count()
        })
        .unwrap_or(0)
}

/// Jobs in a printer's spool not yet sent.
fn queued_jobs(spool: &Path) -> usize {
    std::fs::read_dir(spool)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "queued"))
                .count()
        })
        .unwrap_or(0)
}

fn kill(edge: &mut Edge) {
    let _ = edge.child.kill(); // SIGKILL
    let _ = edge.child.wait();
}

/// Drives the pack station from whatever stage it is in until the order ships.
async fn finish_packing(c: &Client, order: &str) {
    for _ in 0..30 {
        let v = c.scan("gun-pack", "CMD:WEIGH").await;
        let stage = v["context"]["stage"].as_str().unwrap_or("").to_string();
        match stage.as_str() {
            "logged_out" => {
                c.good("gun-pack", "EMP:B-2").await;
            }
            "await_order" => {
                if c.status(order).await == "shipped" {
                    return;
                }
                c.good("gun-pack", &format!("ORD:{order}")).await;
            }
            "verifying" => {
                let lines = v["context"]["order"]["lines"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let next = lines
                    .iter()
                    .find(|l| l["verified"].as_u64() < l["qty"].as_u64())
                    .and_then(|l| l["sku"].as_str().map(str::to_string));
                match next.as_deref() {
                    Some("SHIRT") => c.good("gun-pack", SHIRT).await,
                    Some(_) => c.good("gun-pack", MUG).await,
                    None => v,
                };
            }
            "weighing" => {
                // CMD:WEIGH was just accepted: the node reads the scale; wait for the label.
                until("the carton is weighed", || async {
                    matches!(c.status(order).await.as_str(), "packed")
                })
                .await;
            }
            "labelled" => {
                c.good("gun-pack", "CMD:DONE").await;
            }
            other => panic!("unexpected stage {other}: {v}"),
        }
    }
    panic!("order {order} did not ship");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_resumes_after_sigkill_and_every_label_prints_once() {
    let central = CentralSim::start(SimConfig::new(SITE))
        .await
        .expect("central");
    for (sku, code, kg) in [("SHIRT", SHIRT, "0.250"), ("MUG", MUG, "0.400")] {
        central.push_change(
            "product.upsert",
            json!({"tenant_id": "acme", "sku": sku, "name": sku, "barcodes": [code],
                   "weight": {"value": kg, "unit": "kg"}, "dimensions": null, "tracking": "none",
                   "price": null, "price_tiers": [], "tax_code": null, "version": 1}),
        );
    }
    for (id, badge, role) in [("u-pick", "B-1", "picker"), ("u-pack", "B-2", "packer")] {
        central.push_change(
            "user.upsert",
            json!({"id": id, "tenant_id": null, "name": id, "badge": badge, "pin_hash": null,
                   "roles": [role], "active": true, "version": 1}),
        );
    }
    central.push_change(
        "location.upsert",
        json!({"code": "A-01", "zone": "A", "pick_sequence": 1, "kind": "pick", "version": 1}),
    );
    // 2 shirts + 1 mug = 0.900 kg.
    let scale_sim = SicsScale::new("0.910", "kg");
    let scale_pty = PtySim::start("pk9-scale", scale_sim).expect("scale");
    let zpl = ZplPrinter::new();
    let labels: Arc<Mutex<ZplState>> = zpl.state();
    let printer = TcpSim::start(zpl).await.expect("printer");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &central.url(),
        &scale_pty.path_str(),
        printer.port(),
    );
    let http = reqwest::Client::new();
    let mut edge = spawn(&config);
    let mut c = Client {
        http: http.clone(),
        base: edge.base.clone(),
    };
    until("the catalog arrives", || async {
        c.get("/v1/locations/A-01").await.0 == 200 && c.get("/v1/users/u-pack").await.0 == 200
    })
    .await;
    let n = trials();
    for (sku, qty) in [("SHIRT", 2 * n as i64), ("MUG", n as i64)] {
        let s = http
            .post(format!("{}/v1/inventory/adjustments", c.base))
            .bearer_auth(KEY)
            .json(&json!({"tenant_id": "acme", "sku": sku, "location": "A-01", "delta": qty, "reason": "received"}))
            .send()
            .await
            .expect("adjust")
            .status();
        assert!(s.is_success());
    }

    for trial in 0..n {
        let order = format!("K-{trial}");
        central.push_change(
            "order.upsert",
            json!({"id": order, "tenant_id": "acme", "channel": "web", "created_at": null,
                   "ship_by": null, "priority": "standard",
                   "shipping": {"carrier": "ups", "service": "ground"},
                   "ship_to": {"name": "Ada", "company": null, "street1": "1 Main St", "street2": null,
                               "city": "Springfield", "region": "IL", "postal_code": "62701",
                               "country": "US", "phone": null},
                   "lines": [{"line_id": "1", "sku": "SHIRT", "qty": 2}, {"line_id": "2", "sku": "MUG", "qty": 1}],
                   "notes": null, "gift_message": null, "branding": null, "version": 1}),
        );
        until("the order is allocated", || async {
            c.status(&order).await == "allocated"
        })
        .await;
        until("numbers are leased", || async {
            let (_, v) = c.get("/v1/sync/status").await;
            let left = |k: &str| {
                v["id_blocks"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["kind"] == k))
                    .and_then(|x| x["remaining"].as_u64())
                    .unwrap_or(0)
            };
            left("sscc") > 0 && left("tracking:ups") > 0
        })
        .await;
        let tote = format!("T-{trial}");
        c.good("gun-pick", "EMP:B-1").await;
        c.good("gun-pick", &format!("ORD:{order}")).await;
        c.good("gun-pick", &format!("TOTE:{tote}")).await;
        c.good("gun-pick", "LOC:A-01").await;
        c.good("gun-pick", "QTY:2").await;
        c.good("gun-pick", SHIRT).await;
        c.good("gun-pick", "LOC:A-01").await;
        c.good("gun-pick", MUG).await;
        c.good("gun-pick", "CMD:DONE").await;
        c.good("gun-pick", "CMD:LOGOUT").await;

        if trial % 5 == 4 {
            // This trial's node holds its printer task right after a send.
            kill(&mut edge);
            edge = spawn_with_env(&config, &[(HOLD_AFTER_SEND_ENV, "1")]);
            c = Client {
                http: http.clone(),
                base: edge.base.clone(),
            };
        }
        // Pack up to this trial's kill point.
        c.good("gun-pack", "EMP:B-2").await;
        c.good("gun-pack", &format!("TOTE:{tote}")).await;
        match trial % 5 {
            0 => {}
            1 => {
                c.good("gun-pack", SHIRT).await;
            }
            2 => {
                c.good("gun-pack", SHIRT).await;
                c.good("gun-pack", SHIRT).await;
                c.good("gun-pack", MUG).await; // the scale is being read now
            }
            3 => {
                c.good("gun-pack", SHIRT).await;
                c.good("gun-pack", SHIRT).await;
                c.good("gun-pack", MUG).await;
                until("packed", || async { c.status(&order).await == "packed" }).await;
                // Killed once the spool has recorded the label as sent.
                let spool = dir.path().join("data/spool/label-1");
                until("the label is sent", || async { queued_jobs(&spool) == 0 }).await;
            }
            _ => {
                c.good("gun-pack", SHIRT).await;
                c.good("gun-pack", SHIRT).await;
                c.good("gun-pack", MUG).await;
                // Killed with the label's bytes at the printer and the spool not yet told.
                let spool = dir.path().join("data/spool/label-1");
                until("the label is sent, the spool not told", || async {
                    let sent = labels
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .formats
                        .iter()
                        .any(|f| {
                            f.contains("TRACKING #") && f.contains(&format!("^FDOrder {order}^FS"))
                        });
                    sent && jobs_in_doubt(&spool) == 1
                })
                .await;
            }
        }
        kill(&mut edge);
        edge = spawn(&config);
        c = Client {
            http: http.clone(),
            base: edge.base.clone(),
        };
        finish_packing(&c, &order).await;
        assert_eq!(c.status(&order).await, "shipped");
        until("its label reaches the printer", || async {
            let state = labels.lock().unwrap_or_else(|e| e.into_inner());
            state
                .formats
                .iter()
                .any(|f| f.contains("TRACKING #") && f.contains(&format!("^FDOrder {order}^FS")))
        })
        .await;
    }

    // Every label exactly once, and no label for a carton that was not made.
    let db = rusqlite::Connection::open(dir.path().join("data/wms-edge.db")).expect("db");
    db.busy_timeout(Duration::from_secs(5)).expect("busy");
    let cartons: i64 = db
        .query_row(
            "SELECT count(*) FROM cartons WHERE voided_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("cartons");
    assert_eq!(cartons, n as i64);
    let mut per_order: BTreeMap<String, usize> = BTreeMap::new();
    {
        let state = labels.lock().unwrap_or_else(|e| e.into_inner());
        for f in &state.formats {
            for trial in 0..n {
                // Shipping labels only (the ZPL packing slip names the order too).
                if f.contains("TRACKING #") && f.contains(&format!("^FDOrder K-{trial}^FS")) {
                    *per_order.entry(format!("K-{trial}")).or_default() += 1;
                }
            }
        }
    }
    for trial in 0..n {
        assert_eq!(
            per_order.get(&format!("K-{trial}")),
            Some(&1),
            "{per_order:?}"
        );
    }
    // The central has every event once and the edge's stock.
    let highest: i64 = db
        .query_row(
            "SELECT value FROM counters WHERE name = 'outbox_seq'",
            [],
            |r| r.get(0),
        )
        .expect("seq");
    until("the central has every event", || async {
        central.acked_through() >= highest as u64
    })
    .await;
    let applied = central.applied();
    let mut ids: Vec<&str> = applied.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), applied.len(), "no event applied twice");
    assert_eq!(applied.len() as i64, highest, "every event applied");
    let mut central_stock: BTreeMap<String, i64> = BTreeMap::new();
    for e in &applied {
        if let Some((_, d)) = &e.sku_delta {
            *central_stock.entry(e.aggregate.clone()).or_default() += d;
        }
    }
    central_stock.retain(|_, v| *v != 0);
    let mut st = db
        .prepare("SELECT tenant_id, sku, location, lot, on_hand FROM stock WHERE on_hand <> 0")
        .expect("prep");
    let edge_stock: BTreeMap<String, i64> = st
        .query_map([], |r| {
            Ok((
                format!(
                    "stock:{}/{}/{}/{}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?
                ),
                r.get(4)?,
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(central_stock, edge_stock);
    kill(&mut edge);
}
