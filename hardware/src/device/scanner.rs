//! Scanner task: frames bytes from a serial/TCP scanner (or takes MQTT scans), forwards valid
//! scans to the node's scan channel and plays feedback where the device can.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument, Span};

use super::{connect, Common, DeviceConfig, DeviceContext, End, Scan, Timings};
use crate::error::{Error, Result};
use crate::link::{Feedback, MqttDeviceLink, MqttInbound};
use crate::profiles::Profile;
use crate::protocol::scanner::{FrameEvent, FramerConfig, LineFramer};
use crate::status::{KindStatus, StatusTx};
use crate::transport::Endpoint;

pub(crate) enum Source {
    Stream(Endpoint),
    Mqtt(MqttDeviceLink),
    Http,
}

/// Handle of a scanner. Scans themselves go to [`DeviceContext::scans`].
#[derive(Clone, Debug)]
pub struct ScannerHandle {
    pub(crate) common: Common,
    cmd: Option<mpsc::Sender<Feedback>>,
}

impl ScannerHandle {
    /// Latest status.
    pub fn status(&self) -> tokio::sync::watch::Receiver<crate::status::DeviceStatus> {
        self.common.status.clone()
    }

    /// Sends good/bad feedback to the device (MQTT feedback topic, or the profile's beep
    /// bytes on serial). Devices without a feedback channel ignore it.
    pub async fn feedback(&self, f: Feedback) -> Result<()> {
        match &self.cmd {
            Some(tx) => tx.send(f).await.map_err(|_| Error::Stopped),
            None => Ok(()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    cfg: &DeviceConfig,
    profile: &'static Profile,
    t: Timings,
    src: Source,
    ctx: DeviceContext,
    status: StatusTx,
    common: Common,
    span: Span,
) -> (ScannerHandle, Option<JoinHandle<()>>) {
    let id: Arc<str> = common.id.clone();
    let station = cfg.station.clone();
    let (tx, rx) = mpsc::channel(16);
    let task = match src {
        Source::Http => {
            // Scans arrive through the HTTP API; the device is as available as the node.
            status.online();
            return (ScannerHandle { common, cmd: None }, None);
        }
        Source::Stream(ep) => {
            tokio::spawn(run_stream(id, station, profile, t, ep, ctx, status, rx).instrument(span))
        }
        Source::Mqtt(link) => {
            tokio::spawn(run_mqtt(id, station, link, ctx, status, rx).instrument(span))
        }
    };
    (
        ScannerHandle {
            common,
            cmd: Some(tx),
        },
        Some(task),
    )
}

#[allow(clippy::too_many_arguments)]
async fn run_stream(
    id: Arc<str>,
    station: Option<String>,
    profile: &'static Profile,
    t: Timings,
    ep: Endpoint,
    ctx: DeviceContext,
    status: StatusTx,
    mut rx: mpsc::Receiver<Feedback>,
) {
    let mut backoff = t.backoff();
    let mut framer = LineFramer::new(FramerConfig::from_profile(profile));
    let (good, bad) = (profile.beep_good(), profile.beep_bad());
    let mut buf = vec![0u8; 4096];
    let mut events = Vec::new();
    loop {
        let Some(link) = connect(
            &ep,
            &t,
            &mut backoff,
            &ctx.shutdown,
            &status,
            &mut rx,
            |_| {},
        )
        .await
        else {
            break;
        };
        info!(target: "wms_hardware", endpoint = %ep.describe(), "scanner port open");
        status.online();
        status.seen();
        backoff.reset();
        framer.reset();
        let (mut rd, mut wr) = tokio::io::split(link);
        let end = loop {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break End::Shutdown,
                r = rd.read(&mut buf) => match r {
                    Ok(0) => break End::Lost("port closed".into()),
                    Ok(n) => {
                        let now = Instant::now();
                        framer.push(&buf[..n], now, &mut events);
                        for ev in events.drain(..) {
                            match ev {
                                FrameEvent::Scan(f) => {
                                    let scan = Scan {
                                        device_id: id.to_string(),
                                        station: station.clone(),
                                        data: f.data,
                                        symbology: f.symbology,
                                        raw: f.raw,
                                        received_at: Utc::now(),
                                        received: now,
                                    };
                                    let at = scan.received_at;
                                    status.update(|k| *k = KindStatus::Scanner { last_scan_at: Some(at) });
                                    status.seen();
                                    if ctx.scans.send(scan).await.is_err() {
                                        debug!("scan receiver gone");
                                    }
                                }
                                FrameEvent::Discarded { reason, len } => {
                                    debug!(?reason, len, "scanner bytes discarded");
                                }
                            }
                        }
                    }
                    Err(e) => break End::Lost(e.to_string()),
                },
                c = rx.recv() => match c {
                    Some(f) => {
                        let bytes = if f.feedback { &good } else { &bad };
                        if let Some(b) = bytes {
                            if let Err(e) = wr.write_all(b).await {
                                break End::Lost(e.to_string());
                            }
                        }
                    }
                    None => break End::Shutdown,
                },
            }
        };
        match end {
            End::Shutdown => break,
            End::Lost(e) => {
                warn!(error = %e, "scanner connection lost");
                status.offline(&e);
            }
        }
    }
}

async fn run_mqtt(
    id: Arc<str>,
    station: Option<String>,
    mut link: MqttDeviceLink,
    ctx: DeviceContext,
    status: StatusTx,
    mut rx: mpsc::Receiver<Feedback>,
) {
    let mut conn = link.connection();
    let mut device_online: Option<bool> = None;
    let refresh = |connected: bool, device: Option<bool>| {
        if !connected {
            status.offline("mqtt broker unreachable");
        } else if device == Some(false) {
            status.offline("device reported offline");
        } else {
            status.online();
        }
    };
    refresh(*conn.borrow(), device_online);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            c = conn.changed() => {
                if c.is_err() { break; }
                let up = *conn.borrow();
                refresh(up, device_online);
            }
            m = link.rx.recv() => match m {
                Some(MqttInbound::Scan { data, raw }) => {
                    let (symbology, payload) = crate::protocol::scanner::split_aim(&data);
                    let scan = Scan {
                        device_id: id.to_string(),
                        station: station.clone(),
                        data: payload.to_string(),
                        symbology: symbology.map(str::to_string),
                        raw,
                        received_at: Utc::now(),
                        received: Instant::now(),
                    };
                    let at = scan.received_at;
                    status.update(|k| *k = KindStatus::Scanner { last_scan_at: Some(at) });
                    status.seen();
                    let _ = ctx.scans.send(scan).await;
                }
                Some(MqttInbound::State(on)) => {
                    device_online = Some(on);
                    status.seen();
                    refresh(*conn.borrow(), device_online);
                }
                Some(MqttInbound::Weight(_)) => {}
                None => break,
            },
            f = rx.recv() => match f {
                Some(f) => {
                    if let Err(e) = link.publish_feedback(&f).await {
                        warn!(error = %e, "feedback not published");
                    }
                }
                None => break,
            },
        }
    }
}
