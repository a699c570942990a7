//! The device manager: starts every `[[devices]]` entry with the hardware crate, keeps the
//! registry the device endpoints read, routes every scan (serial, MQTT or `POST /v1/scans`)
//! through one path to its station, and turns device state changes into `device.state` events.
//!
//! A scan from a device whose station runs a workflow (pick, pack, count, receive) runs it
//! (`store::workflow::station::station_step`): one transaction, the workflow's good/bad and prompt on the
//! scanner, the `scan` event and the HTTP response. Its effects follow the commit: print jobs go
//! to their printers and a pack station waiting for a weight has its scale read (see `floor`).
//! Any other scan is only interpreted (as `scan parse` does), answered good/bad and published;
//! nothing is stored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use tracing::Instrument;
use wms_hardware::device::Feedback;
use wms_hardware::mqtt::{MqttHub, MqttIdentity};
use wms_hardware::profiles::DeviceKind;
use wms_hardware::{CancellationToken, Device, DeviceContext, DeviceState, DeviceStatus, Scan};

use crate::config::Config;
use crate::discovery::Candidates;
use crate::error::{Error, Result};
use crate::events::EventBus;

/// Scans waiting for the router; a burst larger than this holds the scanner tasks back
/// rather than growing memory.
const SCAN_QUEUE: usize = 1024;

/// Scans waiting at one station's lane.
const LANE_QUEUE: usize = 64;

/// How long the router waits for a scanner to take its feedback before giving up on it:
/// a stuck scanner must not stall every other station.
const FEEDBACK_TIMEOUT: Duration = Duration::from_millis(500);

impl From<wms_hardware::Error> for Error {
    fn from(e: wms_hardware::Error) -> Self {
        use wms_hardware::Error as H;
        match e {
            H::Motion | H::Overload | H::Underload | H::Busy | H::Rejected(_) => {
                Error::Conflict(e.to_string())
            }
            H::Offline(_) | H::Timeout(_) | H::Stopped => Error::DeviceUnavailable(e.to_string()),
            H::Unsupported(m) => Error::validation("id", m),
            H::Config(m) => Error::Config(m),
            H::UnknownProfile(_) | H::Profile { .. } => Error::Config(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

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

/// How a scan was answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanOutcome {
    /// `accepted` or `rejected`.
    pub result: &'static str,
    /// `good` or `bad`.
    pub feedback: &'static str,
    pub prompt: String,
    /// What the scan was read as, for the handheld's screen.
    pub context: Value,
}

pub use crate::floor::Floor;

struct Inner {
    entries: BTreeMap<String, Entry>,
    /// Set once the store is open; without it every scan is answered parse-only.
    floor: std::sync::OnceLock<Floor>,
    events: EventBus,
    shutdown: CancellationToken,
    mqtt: Option<MqttHub>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    discovered: Candidates,
    /// Rung after a station step queued print jobs.
    print_wake: Arc<tokio::sync::Notify>,
    /// Stations whose scale is being read now (one reading at a time per station).
    weighing: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Cheap to clone; shared by the HTTP handlers.
#[derive(Clone)]
pub struct DeviceManager {
    inner: Arc<Inner>,
}

impl Default for DeviceManager {
    fn default() -> Self {
        Self::empty(EventBus::default())
    }
}

impl DeviceManager {
    /// A manager with no devices (nodes built without starting hardware, e.g. benches).
    pub fn empty(events: EventBus) -> Self {
        Self {
            inner: Arc::new(Inner {
                entries: BTreeMap::new(),
                events,
                shutdown: CancellationToken::new(),
                mqtt: None,
                tasks: Mutex::new(Vec::new()),
                discovered: Candidates::default(),
                floor: std::sync::OnceLock::new(),
                print_wake: Arc::default(),
                weighing: Default::default(),
            }),
        }
    }

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
        for d in &cfg.devices {
            let hw = d.to_hardware();
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
            inner: Arc::new(Inner {
                entries,
                events,
                shutdown: shutdown.clone(),
                mqtt,
                tasks: Mutex::new(Vec::new()),
                discovered,
                floor: std::sync::OnceLock::new(),
                print_wake: Arc::default(),
                weighing: Default::default(),
            }),
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

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.inner.entries.values()
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.inner.entries.get(id)
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
    /// the device reports a fault).
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
        if had_eof {
            out.push_str("# EOF\n");
        }
    }

    /// A scan typed into `POST /v1/scans`: framed and split like a serial scan, then the same
    /// path. Unknown devices and non-scanners are refused.
    pub async fn submit_http_scan(&self, device_id: &str, data: &str) -> Result<ScanOutcome> {
        let entry = self.get(device_id).ok_or_else(|| {
            Error::validation("device_id", format!("unknown device \"{device_id}\""))
        })?;
        if entry.config.kind != DeviceKind::Scanner {
            return Err(Error::validation(
                "device_id",
                format!(
                    "device \"{device_id}\" is a {}, not a scanner",
                    entry.config.kind.as_str()
                ),
            ));
        }
        let framed = wms_labels::scan::strip_framing(data.as_bytes());
        if framed.is_empty() {
            return Err(Error::validation("data", "must not be empty"));
        }
        let (aim, payload) = wms_labels::scan::split_aim(framed);
        let scan = Scan {
            device_id: device_id.to_string(),
            station: entry.config.station.clone(),
            data: String::from_utf8_lossy(payload).into_owned(),
            symbology: aim.map(str::to_string),
            raw: framed.to_vec(),
            received_at: chrono::Utc::now(),
            received: std::time::Instant::now(),
        };
        Ok(self.handle_scan(scan).await)
    }

    /// A transaction outside the station workflows queued print jobs (a register's receipt or
    /// drawer kick): hand them to their printers now.
    pub fn prints_queued(&self) {
        self.inner.print_wake.notify_one();
    }

    /// Let scans at the floor's stations run their workflow, and start the print dispatcher
    /// (set once; later calls are ignored).
    pub fn attach_floor(&self, floor: Floor) {
        if self.inner.floor.set(floor).is_ok() {
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
            }
        }
    }

    /// The station workflow's answer to one input, with the effects it leaves for after the
    /// commit started: queued print jobs are dispatched, and a station now waiting for a weight
    /// has its scale read (answered to `device_id`, the scanner that asked).
    async fn station_input(
        &self,
        config: &crate::domain::station::StationConfig,
        input: crate::domain::station::StationInput,
        at: chrono::DateTime<chrono::Utc>,
        device_id: &str,
    ) -> Option<ScanOutcome> {
        let floor = self.inner.floor.get()?;
        let answer = crate::store::workflow::station::station_step(
            &floor.store,
            &floor.site,
            config,
            input,
            at,
        )
        .await;
        Some(match answer {
            Ok(a) => {
                if a.printed {
                    self.inner.print_wake.notify_one();
                }
                if a.context.get("read_scale") == Some(&Value::Bool(true)) {
                    self.start_weighing(config.station_id.clone(), device_id.to_string());
                }
                ScanOutcome {
                    result: if a.feedback.good {
                        "accepted"
                    } else {
                        "rejected"
                    },
                    feedback: if a.feedback.good { "good" } else { "bad" },
                    prompt: a.feedback.prompt,
                    context: a.context,
                }
            }
            Err(e) => {
                tracing::error!(device = %device_id, station = %config.station_id,
                    error = %e, "station step failed");
                ScanOutcome {
                    result: "rejected",
                    feedback: "bad",
                    prompt: "Station error — scan again or see supervisor".into(),
                    context: json!({"station": config.station_id, "kind": config.kind.as_str()}),
                }
            }
        })
    }

    /// The station workflow's answer to a scan, when the device's station runs one.
    async fn station_answer(
        &self,
        parsed: &wms_labels::scan::Scan,
        scan: &Scan,
    ) -> Option<ScanOutcome> {
        let floor = self.inner.floor.get()?;
        let config = floor.stations.get(scan.station.as_deref()?)?;
        let input = crate::domain::station::StationInput::Scan(parsed.clone());
        self.station_input(config, input, scan.received_at, &scan.device_id)
            .await
    }

    /// Reads the station's scale in the background (a scale that takes seconds to settle must
    /// not hold up other scans) and feeds the weight to the station.
    fn start_weighing(&self, station_id: String, device_id: String) {
        {
            let Ok(mut busy) = self.inner.weighing.lock() else {
                return;
            };
            if !busy.insert(station_id.clone()) {
                return;
            }
        }
        let mgr = self.clone();
        let span = tracing::info_span!("weigh", station = %station_id, device = %device_id);
        let task = tokio::spawn(
            async move {
                mgr.weigh(&station_id, &device_id).await;
                if let Ok(mut busy) = mgr.inner.weighing.lock() {
                    busy.remove(&station_id);
                }
            }
            .instrument(span),
        );
        if let Ok(mut t) = self.inner.tasks.try_lock() {
            t.retain(|t| !t.is_finished());
            t.push(task);
        }
    }

    async fn weigh(&self, station_id: &str, device_id: &str) {
        let Some(floor) = self.inner.floor.get() else {
            return;
        };
        let Some(config) = floor.stations.get(station_id) else {
            return;
        };
        let scale = config
            .scale
            .as_deref()
            .and_then(|id| self.get(id))
            .and_then(|e| match &e.device {
                Device::Scale(h) => Some(h.clone()),
                _ => None,
            });
        let outcome = match scale {
            None => Err("this station has no scale — see supervisor".to_string()),
            Some(h) => {
                let read = tokio::select! {
                    r = h.read_stable(crate::floor::WEIGH_TIMEOUT) => Some(r),
                    _ = self.inner.shutdown.cancelled() => None,
                };
                match read {
                    None => return,
                    Some(Ok(w)) => crate::domain::weight::decimal_to_mg(&w.value, &w.unit)
                        .ok_or_else(|| format!("scale reports an unknown unit {}", w.unit)),
                    Some(Err(e)) => Err(format!("scale: {e}")),
                }
            }
        };
        let (answer, weight) = match outcome {
            Ok(mg) => {
                let input = crate::domain::station::StationInput::Weight(
                    crate::domain::station::ScaleReading {
                        milligrams: mg,
                        stable: true,
                    },
                );
                let at = chrono::Utc::now();
                match self.station_input(config, input, at, device_id).await {
                    Some(a) => (a, Some(mg)),
                    None => return,
                }
            }
            Err(why) => (
                ScanOutcome {
                    result: "rejected",
                    feedback: "bad",
                    prompt: format!("{why} — scan CMD:WEIGH to try again"),
                    context: json!({"station": station_id}),
                },
                None,
            ),
        };
        tracing::info!(station = %station_id, weight_mg = ?weight, result = answer.result, "weighed");
        self.answer_scanner(device_id, &answer).await;
        self.inner.events.publish(
            "station",
            json!({
                "station": station_id, "device_id": device_id, "input": "weight",
                "weight": weight.map(crate::domain::weight::kg_json),
                "result": answer.result, "feedback": answer.feedback, "prompt": answer.prompt,
                "context": answer.context,
            }),
        );
    }

    /// Good/bad and the prompt to the scanner, with a bounded wait.
    async fn answer_scanner(&self, device_id: &str, outcome: &ScanOutcome) {
        if let Some(Device::Scanner(h)) = self.get(device_id).map(|e| &e.device) {
            let fb = Feedback {
                feedback: outcome.feedback == "good",
                prompt: outcome.prompt.clone(),
            };
            match tokio::time::timeout(FEEDBACK_TIMEOUT, h.feedback(fb)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(device = %device_id, error = %e, "scanner feedback failed")
                }
                Err(_) => tracing::warn!(device = %device_id, "scanner feedback timed out"),
            }
        }
    }

    /// Ends sessions nobody has scanned at for their station's idle timeout: a picker who walked
    /// away gives their claimed tasks back, a packer's order returns to the pack queue. Checked at
    /// a quarter of the shortest timeout (between 0.25 s and 30 s), so a session ends at most
    /// that late.
    async fn expire_idle_sessions(self) {
        let Some(floor) = self.inner.floor.get().cloned() else {
            return;
        };
        let shortest = floor
            .stations
            .values()
            .map(|s| s.idle_timeout_s)
            .min()
            .unwrap_or(900);
        let every = Duration::from_millis((u64::from(shortest) * 250).clamp(250, 30_000));
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            for config in floor.stations.values() {
                let now = chrono::Utc::now();
                match crate::store::workflow::station::station_tick(
                    &floor.store,
                    &floor.site,
                    config,
                    now,
                )
                .await
                {
                    Ok(Some(answer)) => {
                        tracing::info!(station = %config.station_id, "idle session ended");
                        self.inner.events.publish(
                            "station",
                            json!({"station": config.station_id, "input": "idle_timeout",
                                   "result": "accepted", "feedback": "good",
                                   "prompt": answer.feedback.prompt, "context": answer.context}),
                        );
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(station = %config.station_id, error = %e, "idle check failed")
                    }
                }
            }
        }
    }

    /// Hands every print job not yet spooled to its printer, at start-up and whenever a step
    /// queued one. The job's own id makes a second hand-over a no-op, so a crash between the
    /// spool and the mark prints nothing twice.
    async fn dispatch_prints(self) {
        let Some(floor) = self.inner.floor.get().cloned() else {
            return;
        };
        let mut failures = 0u32;
        loop {
            let pending = floor
                .store
                .read(|c| crate::store::workflow::print::pending_prints(c, 32))
                .await;
            let mut more = false;
            match pending {
                Ok(jobs) => {
                    more = jobs.len() == 32;
                    for job in jobs {
                        if let Err(e) = self.dispatch_one(&floor, job).await {
                            tracing::warn!(error = %e, "print dispatch failed; will retry");
                            failures = failures.saturating_add(1);
                            more = false;
                            break;
                        }
                        failures = 0;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading print jobs failed; will retry");
                    failures = failures.saturating_add(1);
                }
            }
            if more {
                continue;
            }
            let retry = if failures > 0 {
                Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)))
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => break,
                _ = self.inner.print_wake.notified() => {}
                _ = tokio::time::sleep(retry) => {}
            }
        }
    }

    async fn dispatch_one(
        &self,
        floor: &Floor,
        job: crate::store::workflow::print::PendingPrint,
    ) -> Result<()> {
        let printer = self.get(&job.device_id).and_then(|e| match &e.device {
            Device::LabelPrinter(h) | Device::ReceiptPrinter(h) => Some(h.clone()),
            _ => None,
        });
        let error = match printer {
            Some(h) => {
                let fresh = h.print_as(&job.spool_id, job.data).await?;
                tracing::info!(printer = %job.device_id, job = %job.spool_id, fresh, "print job spooled");
                None
            }
            // The config no longer has that printer: the job can never print; keep it visible.
            None => Some(format!("printer {} is not configured", job.device_id)),
        };
        let id = job.id;
        let now = crate::domain::time::format(chrono::Utc::now());
        floor
            .store
            .write(move |c| {
                crate::store::workflow::print::mark_spooled(c, id, &now, error.as_deref())
            })
            .await
    }

    /// The one path every scan takes: interpret, run the station's workflow (or only the parse),
    /// answer the scanner, publish.
    pub async fn handle_scan(&self, scan: Scan) -> ScanOutcome {
        // Interpreted from the raw frame, so the AIM prefix is split off the same way whether
        // or not the profile announces AIM identifiers.
        let parsed = wms_labels::scan::interpret(&scan.raw);
        let symbology = parsed.symbology.clone().or_else(|| scan.symbology.clone());
        let secret = is_pin(&parsed, &scan.data);
        let shown = if secret {
            "PIN:****".to_string()
        } else {
            parsed.data.clone()
        };
        let kind = parsed.kind.as_str();
        let ok = parsed.ok();
        let prompt = match (ok, secret) {
            (true, _) => format!("{kind} read"),
            (false, true) => "PIN rejected: must be 4 to 12 digits".to_string(),
            (false, false) => parsed.errors.join("; "),
        };
        let station_answer = self.station_answer(&parsed, &scan).await;
        let from_station = station_answer.is_some();
        let outcome = match station_answer {
            Some(answer) => answer,
            None => ScanOutcome {
                result: if ok { "accepted" } else { "rejected" },
                feedback: if ok { "good" } else { "bad" },
                prompt,
                context: context(&parsed, &scan, secret),
            },
        };
        let station = scan.station.as_deref().unwrap_or("");
        tracing::info!(device = %scan.device_id, station, kind, data = %shown,
            result = outcome.result, "scan");
        self.answer_scanner(&scan.device_id, &outcome).await;
        let mut event = json!({
                "device_id": scan.device_id,
                "station": scan.station,
                "data": shown,
                "symbology": symbology,
                "kind": kind,
                "result": outcome.result,
                "feedback": outcome.feedback,
                "prompt": outcome.prompt,
                "scanned_at": crate::domain::time::format(scan.received_at),
        });
        if from_station {
            // The station's context never holds a PIN (see `station::Outcome::context`).
            event["context"] = outcome.context.clone();
        }
        self.inner.events.publish("scan", event);
        outcome
    }

    /// Hands each scan to its station's lane: scans at one station are answered in the order
    /// they were read, while different stations run side by side (so their writes share group
    /// commits and one slow station does not hold up the others). Scans no workflow runs are
    /// answered by the router itself.
    async fn route_scans(self, mut rx: mpsc::Receiver<Scan>) {
        let mut lanes: std::collections::HashMap<String, mpsc::Sender<Scan>> = Default::default();
        let mut workers = Vec::new();
        loop {
            let scan = tokio::select! {
                _ = self.inner.shutdown.cancelled() => break,
                s = rx.recv() => match s {
                    Some(scan) => scan,
                    None => break,
                },
            };
            // A scan no workflow runs is only interpreted: answered here, without the extra hop.
            let runs_workflow = self.inner.floor.get().is_some_and(|f| {
                scan.station
                    .as_deref()
                    .is_some_and(|st| f.stations.contains_key(st))
            });
            let lane = match (&scan.station, runs_workflow) {
                (Some(station), true) => station.clone(),
                _ => {
                    let span = tracing::info_span!("scan", device = %scan.device_id,
                        station = scan.station.as_deref().unwrap_or(""));
                    self.handle_scan(scan).instrument(span).await;
                    continue;
                }
            };
            let tx = lanes.entry(lane).or_insert_with(|| {
                let (tx, mut lane_rx) = mpsc::channel::<Scan>(LANE_QUEUE);
                let mgr = self.clone();
                workers.push(tokio::spawn(async move {
                    while let Some(scan) = lane_rx.recv().await {
                        let span = tracing::info_span!("scan", device = %scan.device_id,
                            station = scan.station.as_deref().unwrap_or(""));
                        mgr.handle_scan(scan).instrument(span).await;
                    }
                }));
                tx
            });
            // A full lane holds the router back rather than growing memory.
            if tx.send(scan).await.is_err() {
                tracing::warn!("scan lane closed");
            }
        }
        drop(lanes);
        for w in workers {
            let _ = w.await;
        }
    }

    async fn watch_state(self, entry: Entry) {
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

/// `data_dir/spool`: each printer keeps its durable jobs under `<spool>/<device id>`.
pub fn spool_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir().join("spool")
}

pub fn state_str(s: DeviceState) -> &'static str {
    match s {
        DeviceState::Online => "online",
        DeviceState::Offline => "offline",
        DeviceState::Error => "error",
    }
}

/// PINs are secrets typed on a scanner: never shown in events, logs or answers.
fn is_pin(parsed: &wms_labels::scan::Scan, data: &str) -> bool {
    parsed.code.as_ref().is_some_and(|c| c.prefix == "PIN")
        || data
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("PIN:"))
}

fn context(parsed: &wms_labels::scan::Scan, scan: &Scan, secret: bool) -> Value {
    json!({
        "station": scan.station,
        "kind": parsed.kind.as_str(),
        "gtin": parsed.gtin,
        "sscc": parsed.sscc,
        "code": parsed.code.as_ref().map(|c| json!({
            "prefix": c.prefix,
            "value": if secret { "****".to_string() } else { c.value.clone() },
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(data: &str) -> Scan {
        Scan {
            device_id: "s1".into(),
            station: Some("pack-1".into()),
            data: data.into(),
            symbology: None,
            raw: data.as_bytes().to_vec(),
            received_at: chrono::Utc::now(),
            received: std::time::Instant::now(),
        }
    }

    #[tokio::test]
    async fn a_pin_never_reaches_the_event_stream() {
        let bus = EventBus::new(8);
        let mut rx = bus.subscribe();
        let mgr = DeviceManager::empty(bus);
        let out = mgr.handle_scan(scan("PIN:4711")).await;
        assert_eq!(out.result, "accepted");
        assert_eq!(out.context["code"]["value"], "****");
        let ev = rx.recv().await.expect("event");
        assert_eq!(ev.data["data"], "PIN:****");
        assert!(!ev.data.values().any(|v| v.to_string().contains("4711")));
        let out = mgr.handle_scan(scan("PIN:47a1")).await;
        assert_eq!((out.result, out.feedback), ("rejected", "bad"));
        assert!(!out.prompt.contains("47a1"));
    }

    #[tokio::test]
    async fn a_bad_check_digit_is_rejected_with_the_reason() {
        let mgr = DeviceManager::empty(EventBus::new(8));
        let out = mgr.handle_scan(scan("00012345600013")).await;
        assert_eq!((out.result, out.feedback), ("rejected", "bad"));
        assert!(!out.prompt.is_empty());
        let out = mgr.handle_scan(scan("00012345600012")).await;
        assert_eq!((out.result, out.feedback), ("accepted", "good"));
        assert_eq!(out.context["gtin"], "00012345600012");
    }
}
