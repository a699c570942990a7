//! The devices' lifetime: spawning every device task (and the MQTT hub), the node's own
//! background tasks beside them (scan router, state watchers, print dispatcher, idle timer),
//! and stopping them all at shutdown. Each device task reconnects with its own backoff inside
//! `wms_hardware`; here they are started once and joined once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::Instrument;
use wms_hardware::mqtt::{MqttHub, MqttIdentity};
use wms_hardware::{CancellationToken, DeviceContext};

use crate::config::Config;
use crate::discovery::Candidates;
use crate::error::{Error, Result};
use crate::events::EventBus;

use super::{DeviceManager, Entry, Floor, Inner};

/// Scans waiting for the router; a burst larger than this holds the scanner tasks back
/// rather than growing memory.
const SCAN_QUEUE: usize = 1024;

impl DeviceManager {
    /// Starts every configured device (and the MQTT hub when `[mqtt]` is set), the scan router
    /// and one state watcher per device. Must run inside the tokio runtime.
    pub fn start(cfg: &Config, events: EventBus, discovered: Candidates) -> Result<Self> {
        let shutdown = CancellationToken::new();
        let mqtt = match &cfg.mqtt {
            Some(m) => Some(MqttHub::new(
                &m.to_hardware(),
                &MqttIdentity {
                    site_id: cfg.site_id().to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                },
            )?),
            None => None,
        };
        let (scan_tx, scan_rx) = mpsc::channel(SCAN_QUEUE);
        let ctx = DeviceContext {
            shutdown: shutdown.clone(),
            scans: scan_tx,
            spool_dir: spool_dir(cfg),
            mqtt: mqtt.clone(),
        };
        let mut entries = BTreeMap::new();
        let registers = cfg.registers();
        for d in &cfg.devices {
            let mut hw = d.to_hardware();
            // A register's terminal is asked for the status of a payment after the register's
            // `terminal_timeout_s` unless the device sets its own response timeout.
            if hw.kind == wms_hardware::profiles::DeviceKind::PaymentTerminal
                && hw.response_timeout_ms.is_none()
            {
                if let Some(r) = registers
                    .iter()
                    .find(|r| hw.station.as_deref() == Some(r.id.as_str()))
                {
                    hw.response_timeout_ms = Some(r.terminal_timeout_s.saturating_mul(1000));
                }
            }
            let profile = hw.resolve_profile()?.name.clone();
            let device = match wms_hardware::spawn(&hw, &ctx) {
                Ok(dev) => dev,
                Err(e) => {
                    // Stop what was already started before reporting.
                    shutdown.cancel();
                    return Err(Error::Config(format!("device {}: {e}", hw.id)));
                }
            };
            tracing::info!(device = %hw.id, kind = hw.kind.as_str(), profile = %profile,
                station = hw.station.as_deref().unwrap_or(""), "device started");
            entries.insert(
                hw.id.clone(),
                Entry {
                    config: hw,
                    profile,
                    device,
                },
            );
        }
        if let Some(hub) = &mqtt {
            if let Err(e) = hub.start(shutdown.clone()) {
                shutdown.cancel();
                return Err(e.into());
            }
        }
        let mgr = DeviceManager {
            inner: Arc::new(Inner::new(
                entries,
                events,
                shutdown.clone(),
                mqtt,
                discovered,
            )),
        };
        let mut tasks = vec![tokio::spawn(mgr.clone().route_scans(scan_rx))];
        for e in mgr.inner.entries.values() {
            let span = tracing::info_span!("device_state", device = %e.config.id,
                station = e.config.station.as_deref().unwrap_or(""));
            tasks.push(tokio::spawn(
                mgr.clone().watch_state(e.clone()).instrument(span),
            ));
        }
        if let Ok(mut t) = mgr.inner.tasks.try_lock() {
            t.extend(tasks);
        }
        Ok(mgr)
    }

    /// Cancels every device task and waits for them (spools are left consistent).
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        for e in self.inner.entries.values() {
            e.device.join().await;
        }
        if let Some(hub) = &self.inner.mqtt {
            hub.join().await;
        }
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().await);
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The registers' till, for scans at a register (set once).
    pub fn attach_till(&self, till: crate::till::Till) {
        let _ = self.inner.till.set(till);
    }

    /// Rung whenever something outside a station step queued print jobs.
    pub fn print_wake(&self) -> Arc<tokio::sync::Notify> {
        self.inner.print_wake.clone()
    }

    /// The floor's stations and their settings, once attached (the station screens read them).
    pub fn floor(&self) -> Option<&Floor> {
        self.inner.floor.get()
    }

    /// Let scans at the floor's stations run their workflow, and start the print dispatcher
    /// and the registers' customer displays (set once; later calls are ignored).
    pub fn attach_floor(&self, floor: Floor) {
        let store = floor.store.clone();
        if self.inner.floor.set(floor).is_ok() {
            let displays = self.customer_displays();
            // Subscribed here, before the task reads the open sales, so no sale event falls
            // between the two.
            let till = (!displays.is_empty()).then(|| {
                tokio::spawn(crate::till_display::drive(
                    displays,
                    store,
                    self.inner.events.subscribe(),
                    self.inner.shutdown.clone(),
                ))
            });
            let prints = tokio::spawn(self.clone().dispatch_prints());
            let idle = tokio::spawn(self.clone().expire_idle_sessions());
            let cutoffs = self
                .inner
                .floor
                .get()
                .map(|f| tokio::spawn(f.clone().watch_cutoffs(self.inner.shutdown.clone())));
            if let Ok(mut t) = self.inner.tasks.try_lock() {
                t.push(prints);
                t.push(idle);
                t.extend(cutoffs);
                t.extend(till);
            }
        }
    }
}

/// `data_dir/spool`: each printer keeps its durable jobs under `<spool>/<device id>`.
pub fn spool_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir().join("spool")
}
