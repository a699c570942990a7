//! `GET /v1/events`: a live screen sees an order's status change as it happens.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const ADMIN: &str = "test-key-for-admin";
const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn holding_an_order_is_published_on_the_event_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[site]\nid = \"wh-ev\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n[[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n",
        dir.path().display()
    );
    let cfg = wms_edge::config::parse("test.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stop_rx.await;
        };
        wms_edge::node::serve(cfg, shutdown, move |a| {
            let _ = addr_tx.send(a);
        })
        .await
        .expect("serve");
    });
    let base = format!("http://{}", addr_rx.await.expect("listening"));
    let http = Client::new();
    let send = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let r = send(
        reqwest::Method::PUT,
        "/v1/products/acme/SKU-1",
        json!({"name": "Shirt"}),
    )
    .await
    .expect("product");
    assert!(r.status().is_success());
    let r = send(
        reqwest::Method::POST,
        "/v1/orders",
        json!({"id": "O-1", "tenant_id": "acme", "lines": [{"line_id": "1", "sku": "SKU-1", "qty": 1}]}),
    )
    .await
    .expect("order");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );

    let mut stream = http
        .get(format!("{base}/v1/events?types=order.status_changed"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    let ct = stream
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/event-stream"), "{ct}");

    let r = send(
        reqwest::Method::POST,
        "/v1/orders/O-1/hold",
        json!({"reason": "address check"}),
    )
    .await
    .expect("hold");
    assert_eq!(r.status(), StatusCode::OK);

    let mut buf = String::new();
    let end = tokio::time::Instant::now() + DEADLINE;
    let block = loop {
        if let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            if block.contains("event:") {
                break block;
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(end, stream.chunk())
            .await
            .expect("timed out waiting for the event")
            .expect("stream")
            .expect("stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    };
    let mut lines = block.lines();
    assert_eq!(
        lines.next().map(str::trim),
        Some("event: order.status_changed"),
        "{block}"
    );
    let data: Value = block
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .and_then(|d| serde_json::from_str(d.trim()).ok())
        .expect("data line");
    assert_eq!(data["type"], "order.status_changed");
    assert_eq!(data["order_id"], "O-1");
    assert_eq!(data["tenant_id"], "acme");
    assert_eq!(data["to"], "on_hold");
    let _ = stop_tx.send(());
}

#[tokio::test]
async fn an_open_event_stream_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[site]\nid = \"wh-ev2\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n[[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n",
        dir.path().display()
    );
    let cfg = wms_edge::config::parse("test.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    let node = tokio::spawn(async move {
        let shutdown = async {
            let _ = stop_rx.await;
        };
        wms_edge::node::serve(cfg, shutdown, move |a| {
            let _ = addr_tx.send(a);
        })
        .await
    });
    let base = format!("http://{}", addr_rx.await.expect("listening"));
    let mut stream = Client::new()
        .get(format!("{base}/v1/events"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    let _ = stop_tx.send(());
    tokio::time::timeout(DEADLINE, node)
        .await
        .expect("node stopped with a screen connected")
        .expect("node task")
        .expect("serve");
    // The screen sees its stream end rather than hang.
    let end = tokio::time::Instant::now() + DEADLINE;
    while let Ok(Some(_)) = tokio::time::timeout_at(end, stream.chunk())
        .await
        .expect("stream ended")
    {}
}
