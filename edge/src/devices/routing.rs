//! Where inputs go: every scan (serial, MQTT or `POST /v1/scans`) takes one path to its
//! station's lane and workflow, a station waiting for a weight has its scale read, queued print
//! jobs go to their printers, idle sessions end, and good/bad feedback goes back to the scanner
//! that asked.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::Instrument;
use wms_hardware::device::Feedback;
use wms_hardware::profiles::DeviceKind;
use wms_hardware::{Device, Scan};

use crate::error::{Error, Result};

use super::{DeviceManager, Floor};

/// Scans waiting at one station's lane.
const LANE_QUEUE: usize = 64;

/// The scanner's answer when a step could not be saved because the disk is full: the operator
/// must know the scan did not count.
pub const STORAGE_FULL_PROMPT: &str = "Storage full — scan not saved; tell a supervisor";

/// How long the router waits for a scanner to take its feedback before giving up on it:
/// a stuck scanner must not stall every other station.
const FEEDBACK_TIMEOUT: Duration = Duration::from_millis(500);

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

impl DeviceManager {
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
        // An empty field is a malformed request; what a scanner can send — spaces, a suffix, NUL
        // padding, nothing but an AIM prefix — is a scan, answered (and rejected) like any other.
        if data.is_empty() {
            return Err(Error::validation("data", "must not be empty"));
        }
        let framed = wms_labels::scan::strip_framing(data.as_bytes());
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
                let prompt = if matches!(e, Error::StorageFull(_)) {
                    STORAGE_FULL_PROMPT
                } else {
                    "Station error — scan again or see supervisor"
                };
                ScanOutcome {
                    result: "rejected",
                    feedback: "bad",
                    prompt: prompt.into(),
                    context: json!({"station": config.station_id, "kind": config.kind.as_str()}),
                }
            }
        })
    }

    /// The station workflow's answer to a scan, when the device's station runs one (a floor
    /// workflow, or a register's till).
    async fn station_answer(
        &self,
        parsed: &wms_labels::scan::Scan,
        scan: &Scan,
    ) -> Option<ScanOutcome> {
        if let Some(answer) = self.register_answer(parsed, scan).await {
            return Some(answer);
        }
        let floor = self.inner.floor.get()?;
        let config = floor.stations.get(scan.station.as_deref()?)?;
        let input = crate::domain::station::StationInput::Scan(parsed.clone());
        self.station_input(config, input, scan.received_at, &scan.device_id)
            .await
    }

    /// A scan at a register's scanner: the till answers it; a card payment it starts reports its
    /// outcome to the same scanner later, and on `/v1/events`.
    async fn register_answer(
        &self,
        parsed: &wms_labels::scan::Scan,
        scan: &Scan,
    ) -> Option<ScanOutcome> {
        let till = self.inner.till.get()?;
        let station = scan.station.as_deref()?;
        if !till.is_register(station) {
            return None;
        }
        let mgr = self.clone();
        let device_id = scan.device_id.clone();
        let st = station.to_string();
        let followup: crate::till::Followup = Box::new(move |ok, prompt| {
            tokio::spawn(async move {
                let outcome = ScanOutcome {
                    result: if ok { "accepted" } else { "rejected" },
                    feedback: if ok { "good" } else { "bad" },
                    prompt,
                    context: json!({"station": st, "kind": "pos"}),
                };
                mgr.answer_scanner(&device_id, &outcome).await;
                mgr.inner.events.publish(
                    "station",
                    json!({"station": st, "device_id": device_id, "input": "card_outcome",
                           "result": outcome.result, "feedback": outcome.feedback,
                           "prompt": outcome.prompt}),
                );
            });
        });
        let r = till.scan(station, &scan.device_id, parsed, followup).await;
        Some(ScanOutcome {
            result: if r.good { "accepted" } else { "rejected" },
            feedback: if r.good { "good" } else { "bad" },
            prompt: r.prompt,
            context: r.context,
        })
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
    pub(super) async fn expire_idle_sessions(self) {
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
    pub(super) async fn dispatch_prints(self) {
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
                            self.set_spool_full(matches!(e, Error::StorageFull(_)));
                            failures = failures.saturating_add(1);
                            more = false;
                            break;
                        }
                        self.set_spool_full(false);
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
    pub(super) async fn route_scans(self, mut rx: mpsc::Receiver<Scan>) {
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
            let runs_workflow = scan.station.as_deref().is_some_and(|st| {
                self.inner
                    .floor
                    .get()
                    .is_some_and(|f| f.stations.contains_key(st))
                    || self.inner.till.get().is_some_and(|t| t.is_register(st))
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
    use crate::events::EventBus;

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
