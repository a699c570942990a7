//! A handheld on MQTT: a node with `[mqtt]` and a scanner on `{ mqtt = {} }`, an in-process
//! broker, and a client playing the handheld. Its scan becomes the same `scan` event as a
//! serial one, and the answer comes back on its feedback topic.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

const ADMIN: &str = "test-key-for-admin";
const DEADLINE: Duration = Duration::from_secs(15);

fn start_broker() -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let cfg = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 20
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&cfg).expect("broker config");
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        let _ = broker.start();
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_scan_is_published_and_answered_on_the_feedback_topic() {
    let port = start_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[site]\nid = \"wh-mq\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n[[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n[[stations]]\nid = \"pick-1\"\nkind = \"pick\"\n[[devices]]\nid = \"hh-1\"\nkind = \"scanner\"\nstation = \"pick-1\"\ntransport = {{ mqtt = {{}} }}\n",
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

    // Wait for the handheld to be online (the hub connected to the broker).
    let end = Instant::now() + DEADLINE;
    loop {
        let v: Value = http
            .get(format!("{base}/v1/devices/hh-1"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("device")
            .json()
            .await
            .expect("json");
        if v["state"] == "online" {
            assert_eq!(v["transport"], serde_json::json!({"mqtt": {}}));
            break;
        }
        assert!(Instant::now() < end, "handheld never online: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The handheld: subscribed to its feedback topic before it scans.
    let mut o = MqttOptions::new("handheld-hh-1", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = AsyncClient::new(o, 16);
    let (tx, mut rx) = mpsc::channel::<(String, Vec<u8>)>(16);
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec())).await;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    client
        .subscribe("wms/wh-mq/devices/hh-1/feedback", QoS::AtLeastOnce)
        .await
        .expect("subscribe");

    let mut events = http
        .get(format!("{base}/v1/events?types=scan"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    client
        .publish(
            "wms/wh-mq/devices/hh-1/scan",
            QoS::AtLeastOnce,
            false,
            r#"{"data": "LOC:A-03-2", "scanned_at": "2026-11-22T10:00:00Z"}"#,
        )
        .await
        .expect("publish");

    let end = tokio::time::Instant::now() + DEADLINE;
    let mut buf = String::new();
    let data = loop {
        if let Some(d) = buf
            .split("\n\n")
            .find(|b| b.contains("event: scan"))
            .and_then(|b| b.lines().find_map(|l| l.strip_prefix("data:")))
        {
            break serde_json::from_str::<Value>(d.trim()).expect("event json");
        }
        let chunk = tokio::time::timeout_at(end, events.chunk())
            .await
            .expect("timed out waiting for the scan event")
            .expect("stream")
            .expect("stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    };
    assert_eq!(data["device_id"], "hh-1");
    assert_eq!(data["station"], "pick-1");
    assert_eq!(data["data"], "LOC:A-03-2");
    assert_eq!(data["kind"], "location");
    // pick-1 runs the pick workflow: with nobody logged in, the station asks for a badge.
    assert_eq!(data["result"], "rejected");
    assert_eq!(data["prompt"], "Scan your badge (EMP:)");

    let (topic, payload) = loop {
        let (t, p) = tokio::time::timeout_at(end, rx.recv())
            .await
            .expect("timed out waiting for feedback")
            .expect("client loop");
        if t.ends_with("/feedback") {
            break (t, p);
        }
    };
    assert_eq!(topic, "wms/wh-mq/devices/hh-1/feedback");
    let fb: Value = serde_json::from_slice(&payload).expect("feedback json");
    assert_eq!(fb["feedback"], "bad");
    assert_eq!(fb["prompt"], data["prompt"]);
    let _ = stop_tx.send(());
}
