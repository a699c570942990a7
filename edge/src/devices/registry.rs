//! Which devices exist: the entries fixed at start, their live status for the device
//! endpoints, `/health` and the metrics, and the watcher that turns a device's state changes
//! into `device.state` events.

use std::collections::BTreeMap;

use serde_json::json;
use wms_hardware::device::DisplayHandle;
use wms_hardware::{Device, DeviceState, DeviceStatus};

use crate::discovery::Candidates;

use super::DeviceManager;

/// One configured device: its entry and its running handle.
#[derive(Clone, Debug)]
pub struct Entry {
    pub config: wms_hardware::DeviceConfig,
    /// The profile actually used (the kind's generic one when the entry names none).
    pub profile: String,
    pub device: Device,
}

impl Entry {
    pub fn status(&self) -> DeviceStatus {
        self.device.status().borrow().clone()
    }
}

impl DeviceManager {
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.inner.entries.values()
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.inner.entries.get(id)
    }

    /// Each station's customer display (the first one naming it): a register's second screen.
    pub fn customer_displays(&self) -> BTreeMap<String, DisplayHandle> {
        let mut out = BTreeMap::new();
        for e in self.entries() {
            if let (Device::CustomerDisplay(h), Some(station)) = (&e.device, &e.config.station) {
                out.entry(station.clone()).or_insert_with(|| h.clone());
            }
        }
        out
    }

    /// Printers found on the network (never added to the config by the node itself).
    pub fn discovered(&self) -> &Candidates {
        &self.inner.discovered
    }

    /// `(online, offline)` for `/health`; a device reporting a fault is reachable, so online.
    pub fn counts(&self) -> (u32, u32) {
        self.entries().fold((0, 0), |(on, off), e| {
            if e.status().state == DeviceState::Offline {
                (on, off + 1)
            } else {
                (on + 1, off)
            }
        })
    }

    /// Adds per-device gauges to a Prometheus/OpenMetrics text, keeping `# EOF` last:
    /// `wms_edge_device_up` (1 reachable, 0 offline) and `wms_edge_device_error` (1 while
    /// the device reports a fault), and `wms_edge_device_paper_out` for printers that can tell.
    pub fn append_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        if self.inner.entries.is_empty() {
            return;
        }
        let had_eof = match out.trim_end().strip_suffix("# EOF").map(str::len) {
            Some(n) => {
                out.truncate(n);
                true
            }
            None => false,
        };
        for (name, help) in [
            ("up", "Device reachable (1) or offline (0)"),
            ("error", "Device reachable but reporting a fault (1)"),
        ] {
            let _ = writeln!(out, "# HELP wms_edge_device_{name} {help}.");
            let _ = writeln!(out, "# TYPE wms_edge_device_{name} gauge");
            for e in self.entries() {
                let state = e.status().state;
                let v = match name {
                    "up" => u8::from(state != DeviceState::Offline),
                    _ => u8::from(state == DeviceState::Error),
                };
                let _ = writeln!(
                    out,
                    "wms_edge_device_{name}{{device=\"{}\",kind=\"{}\"}} {v}",
                    e.config.id,
                    e.config.kind.as_str()
                );
            }
        }
        // Printers only, and only those that can tell: out of paper is what site staff must fix.
        let _ = writeln!(
            out,
            "# HELP wms_edge_device_paper_out Printer reports it is out of paper or media (1).\n\
             # TYPE wms_edge_device_paper_out gauge"
        );
        for e in self.entries() {
            if let wms_hardware::status::KindStatus::Printer(p) = &e.status().status {
                if let Some(out_of_paper) = p.paper_out {
                    let _ = writeln!(
                        out,
                        "wms_edge_device_paper_out{{device=\"{}\",kind=\"{}\"}} {}",
                        e.config.id,
                        e.config.kind.as_str(),
                        u8::from(out_of_paper)
                    );
                }
            }
        }
        if had_eof {
            out.push_str("# EOF\n");
        }
    }

    /// Publishes `device.state` whenever the device's state (not only its details) changes.
    pub(super) async fn watch_state(self, entry: Entry) {
        let mut rx = entry.device.status();
        let mut last = rx.borrow_and_update().state;
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => break,
                r = rx.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let st = rx.borrow_and_update().clone();
                    if st.state == last {
                        continue;
                    }
                    tracing::info!(from = state_str(last), to = state_str(st.state),
                        error = st.last_error.as_deref().unwrap_or(""), "device state");
                    self.inner.events.publish(
                        "device.state",
                        json!({
                            "device_id": entry.config.id,
                            "kind": entry.config.kind.as_str(),
                            "station": entry.config.station,
                            "state": st.state,
                            "previous": last,
                            "last_error": st.last_error,
                        }),
                    );
                    last = st.state;
                }
            }
        }
    }
}

pub fn state_str(s: DeviceState) -> &'static str {
    match s {
        DeviceState::Online => "online",
        DeviceState::Offline => "offline",
        DeviceState::Error => "error",
    }
}
