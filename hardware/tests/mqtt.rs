//! MQTT against real brokers: an in-process `rumqttd`, and Mosquitto for interop (installed by
//! `.ci/setup-mosquitto`; skipped outside CI when the binary is missing).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use wms_hardware::device::{Device, DeviceConfig, DeviceContext, Feedback};
use wms_hardware::mqtt::{MqttConfig, MqttHub, MqttIdentity};
use wms_hardware::profiles::DeviceKind;
use wms_hardware::transport::{MqttDeviceConfig, TransportConfig};
use wms_hardware::{CancellationToken, DeviceState, Scan};

/// A free loopback port: brokers take their listen address from config, so the port is
/// picked by binding port 0 first.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_rumqttd() -> u16 {
    let port = free_port();
    let cfg = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 100
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
    let config: rumqttd::Config = toml::from_str(&cfg).unwrap();
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        let _ = broker.start();
    });
    port
}

struct TestClient {
    client: AsyncClient,
    rx: mpsc::Receiver<(String, Vec<u8>)>,
    acks: tokio::sync::watch::Receiver<u32>,
}

async fn test_client(port: u16, id: &str, subs: &[&str]) -> TestClient {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = AsyncClient::new(o, 32);
    let (tx, rx) = mpsc::channel(64);
    let (ack_tx, acks) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec())).await;
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    ack_tx.send_modify(|n| *n += 1);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    for s in subs {
        client.subscribe(*s, QoS::AtLeastOnce).await.unwrap();
    }
    TestClient { client, rx, acks }
}

impl TestClient {
    async fn next(&mut self, topic: &str) -> Vec<u8> {
        loop {
            let (t, p) = tokio::time::timeout(DEADLINE, self.rx.recv())
                .await
                .expect("mqtt message")
                .unwrap();
            if t == topic {
                return p;
            }
        }
    }
}

fn mqtt_device(id: &str, kind: DeviceKind) -> DeviceConfig {
    let profile = if kind == DeviceKind::Scanner {
        "generic-serial-scanner"
    } else {
        "mettler-toledo-sics"
    };
    DeviceConfig::new(
        id,
        kind,
        Some(profile),
        TransportConfig::Mqtt(MqttDeviceConfig {}),
    )
}

fn node(
    port: u16,
    site: &str,
    spool: &std::path::Path,
) -> (MqttHub, DeviceContext, mpsc::Receiver<Scan>) {
    let hub = MqttHub::new(
        &MqttConfig {
            url: format!("mqtt://127.0.0.1:{port}"),
            username: None,
            password: None,
            keep_alive_s: Some(5),
        },
        &MqttIdentity {
            site_id: site.into(),
            version: "test".into(),
        },
    )
    .unwrap();
    let (tx, rx) = mpsc::channel(64);
    let ctx = DeviceContext {
        shutdown: CancellationToken::new(),
        scans: tx,
        spool_dir: spool.to_path_buf(),
        mqtt: Some(hub.clone()),
    };
    (hub, ctx, rx)
}

async fn next_scan(rx: &mut mpsc::Receiver<Scan>) -> Scan {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("scan")
        .unwrap()
}

#[tokio::test]
async fn in_process_broker_scans_weight_feedback_and_state() {
    let port = start_rumqttd();
    let dir = tempfile::tempdir().unwrap();
    let (hub, ctx, mut scans) = node(port, "site-a", dir.path());
    let scanner = wms_hardware::spawn(&mqtt_device("hh-1", DeviceKind::Scanner), &ctx).unwrap();
    let scale = wms_hardware::spawn(&mqtt_device("net-scale", DeviceKind::Scale), &ctx).unwrap();
    let mut tc = test_client(
        port,
        "handheld",
        &["wms/site-a/edge/state", "wms/site-a/devices/hh-1/feedback"],
    )
    .await;
    hub.start(ctx.shutdown.clone()).unwrap();
    let mut st = scanner.status();
    wait_state(&mut st, DeviceState::Online).await;
    let state = tc.next("wms/site-a/edge/state").await;
    assert!(String::from_utf8_lossy(&state).contains("\"online\""));

    tc.client
        .publish(
            "wms/site-a/devices/hh-1/scan",
            QoS::AtLeastOnce,
            false,
            "]E05901234123457",
        )
        .await
        .unwrap();
    tc.client
        .publish(
            "wms/site-a/devices/hh-1/scan",
            QoS::AtLeastOnce,
            false,
            r#"{"data": "LOC:A-03-2", "scanned_at": "2026-11-22T10:00:00Z"}"#,
        )
        .await
        .unwrap();
    let s = next_scan(&mut scans).await;
    assert_eq!(
        (
            s.data.as_str(),
            s.symbology.as_deref(),
            s.device_id.as_str()
        ),
        ("5901234123457", Some("]E0"), "hh-1")
    );
    assert_eq!(next_scan(&mut scans).await.data, "LOC:A-03-2");

    let Device::Scanner(h) = &scanner else {
        panic!()
    };
    h.feedback(Feedback {
        feedback: true,
        prompt: "Scan location A-03-2".into(),
    })
    .await
    .unwrap();
    let fb = tc.next("wms/site-a/devices/hh-1/feedback").await;
    let v: serde_json::Value = serde_json::from_slice(&fb).unwrap();
    assert_eq!(v["feedback"], "good");

    let Device::Scale(sc) = &scale else { panic!() };
    let sc2 = sc.clone();
    let read = tokio::spawn(async move { sc2.read_stable(Duration::from_secs(5)).await });
    tc.client
        .publish(
            "wms/site-a/devices/net-scale/weight",
            QoS::AtLeastOnce,
            false,
            r#"{"value": "1.230", "unit": "kg", "stable": false}"#,
        )
        .await
        .unwrap();
    tc.client
        .publish(
            "wms/site-a/devices/net-scale/weight",
            QoS::AtLeastOnce,
            false,
            r#"{"value": "1.234", "unit": "kg", "stable": true}"#,
        )
        .await
        .unwrap();
    let w = read.await.unwrap().unwrap();
    assert_eq!(w.to_string(), "1.234 kg");

    tc.client
        .publish(
            "wms/site-a/devices/hh-1/state",
            QoS::AtLeastOnce,
            true,
            "offline",
        )
        .await
        .unwrap();
    wait_state(&mut st, DeviceState::Offline).await;
    tc.client
        .publish(
            "wms/site-a/devices/hh-1/state",
            QoS::AtLeastOnce,
            true,
            "online",
        )
        .await
        .unwrap();
    wait_state(&mut st, DeviceState::Online).await;

    ctx.shutdown.cancel();
    scanner.join().await;
    hub.join().await;
}

struct Mosquitto {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_binary() -> Option<String> {
    ["mosquitto", "/usr/sbin/mosquitto"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .map(|b| b.to_string())
}

fn start_mosquitto(bin: &str) -> (Mosquitto, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Mosquitto { child, _dir: dir }, port)
}

#[tokio::test]
async fn mosquitto_delivers_scans_published_while_node_is_down() {
    let Some(bin) = mosquitto_binary() else {
        wms_test_support::outside::missing("the Mosquitto broker", ".ci/setup-mosquitto");
        return;
    };
    let (_broker, port) = start_mosquitto(&bin);
    let dir = tempfile::tempdir().unwrap();

    // First run: the node connects, subscribes (persistent session), then stops.
    let (hub, ctx, _scans) = node(port, "site-m", dir.path());
    let dev = wms_hardware::spawn(&mqtt_device("hh-9", DeviceKind::Scanner), &ctx).unwrap();
    let mut tc = test_client(port, "handheld-9", &["wms/site-m/edge/state"]).await;
    hub.start(ctx.shutdown.clone()).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let s = tc.next("wms/site-m/edge/state").await;
    assert!(String::from_utf8_lossy(&s).contains("online"));
    ctx.shutdown.cancel();
    dev.join().await;
    hub.join().await;
    let s = tc.next("wms/site-m/edge/state").await;
    assert!(String::from_utf8_lossy(&s).contains("offline"));

    // While it is down, the handheld keeps scanning (QoS 1, acknowledged by the broker).
    for code in ["TOTE:T-1", "]E05901234123457", "LOC:B-01-1"] {
        tc.client
            .publish(
                "wms/site-m/devices/hh-9/scan",
                QoS::AtLeastOnce,
                false,
                code,
            )
            .await
            .unwrap();
    }
    let mut acks = tc.acks.clone();
    tokio::time::timeout(DEADLINE, acks.wait_for(|n| *n >= 3))
        .await
        .unwrap()
        .unwrap();

    // Second run with the same identity: the queued scans arrive, in order.
    let (hub, ctx, mut scans) = node(port, "site-m", dir.path());
    let dev = wms_hardware::spawn(&mqtt_device("hh-9", DeviceKind::Scanner), &ctx).unwrap();
    hub.start(ctx.shutdown.clone()).unwrap();
    let got: Vec<String> = vec![
        next_scan(&mut scans).await.data,
        next_scan(&mut scans).await.data,
        next_scan(&mut scans).await.data,
    ];
    assert_eq!(got, vec!["TOTE:T-1", "5901234123457", "LOC:B-01-1"]);
    ctx.shutdown.cancel();
    dev.join().await;
    hub.join().await;
}
