//! Helpers shared by the integration tests: deadlines, never sleeps, for synchronisation.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use wms_hardware::device::{DeviceConfig, DeviceContext};
use wms_hardware::profiles::DeviceKind;
use wms_hardware::transport::{SerialConfig, TcpConfig, TransportConfig};
use wms_hardware::{CancellationToken, DeviceState, DeviceStatus, Scan};

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn ctx(spool: &Path) -> (DeviceContext, mpsc::Receiver<Scan>) {
    let (tx, rx) = mpsc::channel(256);
    (
        DeviceContext {
            shutdown: CancellationToken::new(),
            scans: tx,
            spool_dir: spool.to_path_buf(),
            mqtt: None,
        },
        rx,
    )
}

pub fn serial(id: &str, kind: DeviceKind, profile: &str, path: &str) -> DeviceConfig {
    let mut c = DeviceConfig::new(
        id,
        kind,
        Some(profile),
        TransportConfig::Serial(SerialConfig {
            path: path.to_string(),
            baud: None,
            data_bits: None,
            parity: None,
            stop_bits: None,
            flow_control: None,
            terminator: None,
        }),
    );
    c.poll_interval_ms = Some(200);
    c.status_timeout_ms = Some(500);
    c.reconnect_max_ms = Some(300);
    c
}

pub fn tcp(id: &str, kind: DeviceKind, profile: &str, port: u16) -> DeviceConfig {
    let mut c = DeviceConfig::new(
        id,
        kind,
        Some(profile),
        TransportConfig::Tcp(TcpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
        }),
    );
    c.poll_interval_ms = Some(200);
    c.status_timeout_ms = Some(500);
    c.reconnect_max_ms = Some(300);
    c
}

/// Waits until the status satisfies `pred`, failing the test after the deadline.
pub async fn wait_status(
    rx: &mut watch::Receiver<DeviceStatus>,
    what: &str,
    pred: impl FnMut(&DeviceStatus) -> bool,
) -> DeviceStatus {
    let r = tokio::time::timeout(DEADLINE, rx.wait_for(pred))
        .await
        .map(|r| r.map(|s| s.clone()));
    match r {
        Ok(Ok(s)) => s,
        _ => panic!("timed out waiting for {what}; status {:?}", *rx.borrow()),
    }
}

pub async fn wait_state(
    rx: &mut watch::Receiver<DeviceStatus>,
    state: DeviceState,
) -> DeviceStatus {
    wait_status(rx, &format!("{state:?}"), |s| s.state == state).await
}

/// Polls a condition with a deadline (for simulator-side counters).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        if f() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tick.tick().await;
    }
}
