//! The site's MQTT connection (`rumqttc`). One client per node, id `wms-edge-<site_id>`, with a
//! persistent session (clean session off, QoS 1, manual acks after a message is handed to its
//! device) so scans published while the node restarts are delivered when it is back. Publishes
//! the retained `edge/state` with a matching last will, routes `devices/<id>/{scan,weight,state}`
//! to registered devices and publishes `devices/<id>/feedback`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::decimal::Weight;
use crate::error::{Error, Result};
pub use crate::link::{Feedback, MqttDeviceLink, MqttInbound, WeightMessage};
use crate::protocol::nexo::JsonDecimal;
use crate::transport::Backoff;

/// `[mqtt]` section plus what the node knows about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:1883` (or `mqtts://` with the `mqtt-tls` feature).
    pub url: String,
    /// Optional user name.
    #[serde(default)]
    pub username: Option<String>,
    /// Optional password.
    #[serde(default)]
    pub password: Option<String>,
    /// Keep-alive in seconds (default 30).
    #[serde(default)]
    pub keep_alive_s: Option<u64>,
}

/// What the hub needs besides the section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttIdentity {
    /// Site id: topic root `wms/<site_id>/`, client id `wms-edge-<site_id>`.
    pub site_id: String,
    /// Node version for `edge/state`.
    pub version: String,
}

#[derive(Deserialize)]
struct WeightJson {
    value: JsonDecimal,
    unit: String,
    #[serde(default)]
    stable: bool,
}

#[derive(Deserialize)]
struct ScanJson {
    data: String,
}

struct Inner {
    client: AsyncClient,
    eventloop: Mutex<Option<EventLoop>>,
    routes: Mutex<HashMap<String, mpsc::Sender<MqttInbound>>>,
    connected: watch::Sender<bool>,
    root: String,
    version: String,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttHub")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Cheap-to-clone handle on the site's MQTT connection.
#[derive(Clone, Debug)]
pub struct MqttHub {
    inner: Arc<Inner>,
}

fn parse_url(url: &str) -> Result<(String, u16, bool)> {
    let (rest, tls, default_port) = if let Some(r) = url.strip_prefix("mqtt://") {
        (r, false, 1883)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (r, true, 8883)
    } else if let Some(r) = url.strip_prefix("tcp://") {
        (r, false, 1883)
    } else {
        return Err(Error::Config(format!(
            "mqtt url {url:?} must start with mqtt:// or mqtts://"
        )));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| Error::Config(format!("mqtt url {url:?}: bad port")))?,
        ),
        None => (rest, default_port),
    };
    if host.is_empty() {
        return Err(Error::Config(format!("mqtt url {url:?}: no host")));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port, tls))
}

impl MqttHub {
    /// Prepares the client. Register devices, then call [`MqttHub::start`]; messages that a
    /// persistent session delivers at connect time then find their device.
    pub fn new(cfg: &MqttConfig, id: &MqttIdentity) -> Result<MqttHub> {
        let (host, port, tls) = parse_url(&cfg.url)?;
        let root = format!("wms/{}/", id.site_id);
        let mut opts = MqttOptions::new(format!("wms-edge-{}", id.site_id), host, port);
        opts.set_keep_alive(Duration::from_secs(cfg.keep_alive_s.unwrap_or(30).max(5)));
        opts.set_clean_session(false);
        opts.set_manual_acks(true);
        opts.set_last_will(LastWill::new(
            format!("{root}edge/state"),
            r#"{"state":"offline"}"#,
            QoS::AtLeastOnce,
            true,
        ));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            opts.set_credentials(u.clone(), p.clone());
        }
        if tls {
            #[cfg(feature = "mqtt-tls")]
            {
                opts.set_transport(rumqttc::Transport::tls_with_default_config());
            }
            #[cfg(not(feature = "mqtt-tls"))]
            return Err(Error::Config("mqtts:// needs the mqtt-tls feature".into()));
        }
        let (client, eventloop) = AsyncClient::new(opts, 64);
        let (connected, _) = watch::channel(false);
        Ok(MqttHub {
            inner: Arc::new(Inner {
                client,
                eventloop: Mutex::new(Some(eventloop)),
                routes: Mutex::new(HashMap::new()),
                connected,
                root,
                version: id.version.clone(),
                task: Mutex::new(None),
            }),
        })
    }

    /// Routes this device's topics to the returned link.
    pub fn register(&self, device_id: &str) -> Result<MqttDeviceLink> {
        let (tx, rx) = mpsc::channel(64);
        let mut routes = self
            .inner
            .routes
            .lock()
            .map_err(|_| Error::Mqtt("route table poisoned".into()))?;
        if routes.contains_key(device_id) {
            return Err(Error::Config(format!(
                "device {device_id} registered twice on mqtt"
            )));
        }
        routes.insert(device_id.to_string(), tx);
        Ok(MqttDeviceLink::new(
            rx,
            self.inner.connected.subscribe(),
            self.inner.client.clone(),
            self.feedback_topic(device_id),
        ))
    }

    /// Broker connection state (true = connected).
    pub fn connection(&self) -> watch::Receiver<bool> {
        self.inner.connected.subscribe()
    }

    /// Publishes feedback to a handheld (QoS 1).
    pub async fn publish_feedback(&self, device_id: &str, f: &Feedback) -> Result<()> {
        crate::link::publish_feedback(&self.inner.client, &self.feedback_topic(device_id), f).await
    }

    fn feedback_topic(&self, device_id: &str) -> String {
        format!("{}devices/{device_id}/feedback", self.inner.root)
    }

    /// Starts the network loop (reconnecting with capped backoff) until `shutdown`.
    pub fn start(&self, shutdown: CancellationToken) -> Result<()> {
        let el = self
            .inner
            .eventloop
            .lock()
            .map_err(|_| Error::Mqtt("poisoned".into()))?
            .take()
            .ok_or_else(|| Error::Mqtt("already started".into()))?;
        let inner = self.inner.clone();
        let t = tokio::spawn(run(inner, el, shutdown));
        if let Ok(mut slot) = self.inner.task.lock() {
            *slot = Some(t);
        }
        Ok(())
    }

    /// Waits for the network loop to end after shutdown.
    pub async fn join(&self) {
        let t = self.inner.task.lock().ok().and_then(|mut s| s.take());
        if let Some(t) = t {
            let _ = t.await;
        }
    }

    async fn route(&self, topic: &str, payload: &[u8]) {
        let Some(rest) = topic
            .strip_prefix(&self.inner.root)
            .and_then(|r| r.strip_prefix("devices/"))
        else {
            return;
        };
        let Some((device, leaf)) = rest.split_once('/') else {
            return;
        };
        let msg = match leaf {
            "scan" => {
                let text = match serde_json::from_slice::<ScanJson>(payload) {
                    Ok(j) => j.data,
                    Err(_) => match std::str::from_utf8(payload) {
                        Ok(s) => s.trim_end_matches(['\r', '\n']).to_string(),
                        Err(_) => {
                            warn!(device, "scan payload is not UTF-8; dropped");
                            return;
                        }
                    },
                };
                if text.is_empty() {
                    return;
                }
                MqttInbound::Scan {
                    raw: text.as_bytes().to_vec(),
                    data: text,
                }
            }
            "weight" => match serde_json::from_slice::<WeightJson>(payload) {
                Ok(w) => MqttInbound::Weight(WeightMessage {
                    weight: Weight::new(w.value.0, &w.unit),
                    stable: w.stable,
                }),
                Err(_) => {
                    warn!(device, "weight payload not understood; dropped");
                    return;
                }
            },
            "state" => match payload {
                b"online" => MqttInbound::State(true),
                b"offline" => MqttInbound::State(false),
                _ => return,
            },
            _ => return,
        };
        let tx = self
            .inner
            .routes
            .lock()
            .ok()
            .and_then(|r| r.get(device).cloned());
        match tx {
            Some(tx) => {
                let _ = tx.send(msg).await;
            }
            None => debug!(device, "message for an unconfigured device dropped"),
        }
    }
}

async fn run(inner: Arc<Inner>, mut el: EventLoop, shutdown: CancellationToken) {
    let hub = MqttHub {
        inner: inner.clone(),
    };
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    let started_at = chrono::Utc::now().to_rfc3339();
    loop {
        let ev = tokio::select! {
            _ = shutdown.cancelled() => break,
            ev = el.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(session_present = ack.session_present, "mqtt connected");
                backoff.reset();
                inner.connected.send_replace(true);
                let state = serde_json::json!({"state": "online", "version": inner.version, "started_at": started_at});
                let c = inner.client.clone();
                let root = inner.root.clone();
                // Requests are queued to the event loop; don't await them from inside it.
                tokio::spawn(async move {
                    for leaf in ["scan", "weight", "state"] {
                        let _ = c
                            .subscribe(format!("{root}devices/+/{leaf}"), QoS::AtLeastOnce)
                            .await;
                    }
                    let _ = c
                        .publish(
                            format!("{root}edge/state"),
                            QoS::AtLeastOnce,
                            true,
                            state.to_string(),
                        )
                        .await;
                });
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                hub.route(&p.topic, &p.payload).await;
                // Ack only after the device has the message: a crash before this redelivers.
                let c = inner.client.clone();
                tokio::spawn(async move {
                    let _ = c.ack(&p).await;
                });
            }
            Ok(_) => {}
            Err(e) => {
                inner.connected.send_replace(false);
                let d = backoff.next_delay();
                debug!(error = %e, delay_ms = d.as_millis() as u64, "mqtt connection failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(d) => {}
                }
            }
        }
    }
    // Graceful: say offline (the will covers crashes) and disconnect.
    if *inner.connected.borrow() {
        let _ = inner.client.try_publish(
            format!("{}edge/state", inner.root),
            QoS::AtLeastOnce,
            true,
            r#"{"state":"offline"}"#,
        );
        let _ = inner.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while el.poll().await.is_ok() {}
        })
        .await;
    }
    inner.connected.send_replace(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://host:1884").unwrap(),
            ("host".into(), 1884, false)
        );
        assert_eq!(
            parse_url("mqtt://10.0.0.1").unwrap(),
            ("10.0.0.1".into(), 1883, false)
        );
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("mqtt://:1").is_err());
    }
}
