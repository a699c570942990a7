//! `wms-edge demo` through the real binary: it prints a URL and an admin key, the node behind them
//! has its six simulated devices online, the central simulator's orders allocated, sync online
//! with an empty queue, a scale that weighs, a scan typed into the scanner's pty on the event stream
//! and a test label at the printer simulator; SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(90);

/// Kills the demo if the test fails before stopping it.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads lines from `rx` until the URL, the key, the scanner's pty and the customer display's
/// screen file have been printed.
fn banner(rx: &mpsc::Receiver<String>) -> (String, String, String, String) {
    let end = Instant::now() + DEADLINE;
    let (mut url, mut key, mut pty, mut display) = (None, None, None, None);
    let mut seen = Vec::new();
    while url.is_none() || key.is_none() || pty.is_none() || display.is_none() {
        let left = end.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(e) => panic!("no banner ({e}); stdout so far: {seen:#?}"),
        };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("url:") {
            url = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("admin key:") {
            key = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("scanner pty:") {
            pty = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("display:") {
            display = v.split_whitespace().next().map(str::to_string);
        }
        seen.push(line);
    }
    (
        url.unwrap_or_default(),
        key.unwrap_or_default(),
        pty.unwrap_or_default(),
        display.unwrap_or_default(),
    )
}

async fn get(http: &Client, url: &str, key: &str) -> (StatusCode, Value) {
    let resp = http
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .expect("request");
    let s = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `f` until it returns `Some` or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) if tokio::time::Instant::now() >= end => {
                panic!("{what} never happened; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_a_complete_node_and_stops_on_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_wms-edge"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start wms-edge demo");
    let mut demo = Demo(child);
    let stdout = demo.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    // Keeps draining stdout so the demo never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let (base, key, pty, display) = banner(&rx);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(key.starts_with("wmse_"), "{key}");
    assert!(std::path::Path::new(&pty).exists(), "scanner pty {pty}");
    let http = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");

    // The screens the banner names open for the supervisor it names (badge 1004).
    let login = http
        .post(format!("{base}/ui/session"))
        .json(&json!({"badge": "1004", "pin": "1234"}))
        .send()
        .await
        .expect("screen login");
    assert_eq!(login.status(), StatusCode::CREATED);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    for (path, _) in wms_edge::demo::SCREENS {
        let page = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("screen");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let html = page.text().await.expect("html");
        assert!(html.contains("data-page="), "{path}: {html}");
    }

    // Healthy with the simulated devices online.
    let health = eventually("healthy with 8 devices online", || async {
        let (s, h) = get(&http, &format!("{base}/health"), &key).await;
        if s == StatusCode::OK
            && h["status"] == "healthy"
            && h["services"]["devices"] == json!({"online": 8, "offline": 0})
        {
            Ok(h)
        } else {
            Err(format!("{s} {h}"))
        }
    })
    .await;
    assert_eq!(health["status"], "healthy");
    let (s, devices) = get(&http, &format!("{base}/v1/devices"), &key).await;
    assert_eq!(s, StatusCode::OK, "{devices}");
    let list = devices["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 8, "{devices}");
    for kind in [
        "scanner",
        "scale",
        "label_printer",
        "receipt_printer",
        "payment_terminal",
        "customer_display",
    ] {
        assert!(
            list.iter()
                .any(|d| d["kind"] == kind && d["state"] == "online"),
            "no online {kind}: {devices}"
        );
    }
    // The register's customer display greets, and the banner's file shows it.
    eventually("the customer display's screen file greets", || async {
        match std::fs::read_to_string(&display) {
            Ok(screen) if screen.contains("WELCOME") => Ok(()),
            other => Err(format!("{display}: {other:?}")),
        }
    })
    .await;

    // The central's orders arrive allocated (one is held by the central).
    for id in wms_edge::demo::order_ids() {
        let want = if id == wms_edge::demo::HELD_ORDER {
            "on_hold"
        } else {
            "allocated"
        };
        let o = eventually(&format!("order {id} {want}"), || async {
            let (s, o) = get(&http, &format!("{base}/v1/orders/{id}"), &key).await;
            if s == StatusCode::OK && o["status"] == want {
                Ok(o)
            } else {
                Err(format!("{s} {o}"))
            }
        })
        .await;
        if want == "allocated" {
            let lines = o["lines"].as_array().cloned().unwrap_or_default();
            assert!(!lines.is_empty(), "{o}");
            for l in &lines {
                assert_eq!(l["reserved"], l["qty"], "{o}");
            }
        }
    }

    // Sync is online and the queue drains.
    eventually("sync online with an empty queue", || async {
        let (s, st) = get(&http, &format!("{base}/v1/sync/status"), &key).await;
        if s == StatusCode::OK && st["state"] == "online" && st["queue_depth"] == 0 {
            Ok(())
        } else {
            Err(format!("{s} {st}"))
        }
    })
    .await;

    // The scale weighs.
    let (s, w) = get(&http, &format!("{base}/v1/devices/scale-1/weight"), &key).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w, json!({"value": "0.125", "unit": "kg", "stable": true}));

    // A scan typed into the scanner's pty shows up on the event stream.
    let mut events = http
        .get(format!("{base}/v1/events?types=scan"))
        .bearer_auth(&key)
        .timeout(DEADLINE)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    {
        use std::io::Write;
        let mut tty = std::fs::OpenOptions::new()
            .write(true)
            .open(&pty)
            .expect("open scanner pty");
        tty.write_all(b"LOC:A-01-1\r").expect("type a scan");
    }
    let end = tokio::time::Instant::now() + DEADLINE;
    let mut seen = String::new();
    while !seen.contains("\"data\":\"LOC:A-01-1\"") {
        let chunk = tokio::time::timeout_at(end, events.chunk())
            .await
            .unwrap_or_else(|_| panic!("no scan event; stream so far: {seen}"))
            .expect("event stream");
        let Some(chunk) = chunk else {
            panic!("event stream ended: {seen}")
        };
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"device_id\":\"scanner-1\""), "{seen}");
    drop(events);

    // A test label reaches the label printer simulator, which says where it wrote it.
    let resp = http
        .post(format!("{base}/v1/devices/label-1/test-print"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("test print");
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let end = Instant::now() + DEADLINE;
    let printed = loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("no label printed");
        if line.starts_with("label printer simulator: label 1 received") {
            break line;
        }
    };
    let path = printed.rsplit("-> ").next().unwrap_or_default();
    let zpl = std::fs::read_to_string(path).expect("printed label file");
    assert!(
        zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"),
        "{zpl}"
    );

    // The banner's walk takes DEMO-1002 from the central to shipped: the shipping label and
    // the packing slip reach the label printer, the central hears of the shipment.
    for (device, data, _) in wms_edge::demo::WALK {
        let ready_to_ship = *data == "CMD:DONE" && *device == "scanner-2";
        if ready_to_ship {
            // The scale is read after the last item's answer; the label follows it.
            eventually("the walk's order is packed", || async {
                let (_, o) = get(&http, &format!("{base}/v1/orders/DEMO-1002"), &key).await;
                match o["status"].as_str() {
                    Some("packed") => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
        }
        let resp = http
            .post(format!("{base}/v1/scans"))
            .bearer_auth(&key)
            .json(&json!({"device_id": device, "data": data}))
            .send()
            .await
            .expect("scan");
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.expect("scan answer");
        assert_eq!(v["feedback"], "good", "{device} {data}: {v}");
    }
    let (_, order) = get(&http, &format!("{base}/v1/orders/DEMO-1002"), &key).await;
    assert_eq!(order["status"], "shipped", "{order}");
    let tracking = order["shipments"][0]["packages"][0]["tracking_number"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!tracking.is_empty(), "{order}");
    let end = Instant::now() + DEADLINE;
    let label = loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("no shipping label printed");
        if line.starts_with("label printer simulator: label 2 received") {
            break line;
        }
    };
    let path = label.rsplit("-> ").next().unwrap_or_default();
    let zpl = std::fs::read_to_string(path).expect("printed label file");
    assert!(zpl.contains(&tracking), "{zpl}");
    assert!(zpl.contains("Order DEMO-1002"), "{zpl}");
    eventually("the central has the shipment", || async {
        let (_, st) = get(&http, &format!("{base}/v1/sync/status"), &key).await;
        match st["queue_depth"].as_u64() {
            Some(0) => Ok(()),
            other => Err(format!("queue depth {other:?}")),
        }
    })
    .await;

    // The banner's register walk: Cy opens the drawer, then sells by scans alone — a card sale
    // on the simulated terminal and a cash sale; both receipts reach the receipt file.
    let login: Value = http
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"badge": "1003", "pin": "1234"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("token");
    let token = login["token"].as_str().expect("token").to_string();
    let resp = http
        .post(format!("{base}/v1/pos/registers/pos-1/sessions"))
        .bearer_auth(&token)
        .json(&json!({"opening_float": 10000}))
        .send()
        .await
        .expect("open");
    assert_eq!(resp.status(), StatusCode::CREATED);
    for (device, data, _) in wms_edge::demo::REGISTER_WALK {
        let resp = http
            .post(format!("{base}/v1/scans"))
            .bearer_auth(&key)
            .json(&json!({"device_id": device, "data": data}))
            .send()
            .await
            .expect("scan");
        let v: Value = resp.json().await.expect("scan answer");
        assert_eq!(v["feedback"], "good", "{device} {data}: {v}");
        if *data == "CMD:CARD" {
            // A person waits for the terminal before the next customer; so does the test.
            eventually("the card sale completes", || async {
                let (_, r) = get(&http, &format!("{base}/v1/pos/registers/pos-1"), &key).await;
                if r["sale"].is_null() {
                    Ok(())
                } else {
                    Err(format!("{r}"))
                }
            })
            .await;
        }
    }
    let (_, sales) = get(&http, &format!("{base}/v1/pos/sales?register=pos-1"), &key).await;
    let sales = sales["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(sales.len(), 2, "{sales:?}");
    assert!(
        sales.iter().all(|s| s["status"] == "completed"),
        "{sales:?}"
    );
    let end = Instant::now() + DEADLINE;
    let printed = loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("no receipts printed");
        if line.starts_with("receipt printer simulator: 2 receipt(s) printed") {
            break line;
        }
    };
    let path = printed.rsplit("-> ").next().unwrap_or_default();
    let receipts = std::fs::read_to_string(path).expect("receipts file");
    assert!(receipts.contains("Auth A1B2C3"), "{receipts}");
    assert!(receipts.contains("Cap"), "{receipts}");

    // The banner's refund of the cap and the close of the day.
    let cap = sales
        .iter()
        .find(|s| s["lines"][0]["name"] == "Cap")
        .expect("the cap's sale");
    let resp = http
        .post(format!(
            "{base}/v1/pos/sales/{}/refunds",
            cap["id"].as_str().unwrap_or_default()
        ))
        .bearer_auth(&token)
        .json(&json!({"lines": [{"line_id": "L1", "qty": 1}], "reason": "changed mind"}))
        .send()
        .await
        .expect("refund");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (_, reg) = get(&http, &format!("{base}/v1/pos/registers/pos-1"), &token).await;
    let session = reg["session"]["id"].as_str().expect("session").to_string();
    let (_, x) = get(&http, &format!("{base}/v1/pos/sessions/{session}"), &token).await;
    assert_eq!(x["report"]["cash"]["expected"]["amount"], 10000, "{x}");
    let z: Value = http
        .post(format!("{base}/v1/pos/sessions/{session}/close"))
        .bearer_auth(&token)
        .json(&json!({"counted_cash": 10000}))
        .send()
        .await
        .expect("close")
        .json()
        .await
        .expect("z");
    assert_eq!(z["z_no"], 1, "{z}");
    let end = Instant::now() + DEADLINE;
    let printed = loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("no Z report printed");
        if line.starts_with("receipt printer simulator: 4 receipt(s) printed") {
            break line;
        }
    };
    let path = printed.rsplit("-> ").next().unwrap_or_default();
    let receipts = std::fs::read_to_string(path).expect("receipts file");
    assert!(receipts.contains("REFUND"), "{receipts}");
    assert!(receipts.contains("Z REPORT #1"), "{receipts}");

    // SIGTERM: a clean exit 0.
    let pid = demo.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = demo.0.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < end, "the demo did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}
