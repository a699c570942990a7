//! Device tasks. Each configured device runs as one supervised tokio task that owns its
//! transport, reconnects with capped exponential backoff, publishes a [`DeviceStatus`] through
//! a `watch` channel and talks to the rest of the node only through bounded channels. The
//! handle types ([`ScannerHandle`], [`ScaleHandle`], [`PrinterHandle`], [`PaymentHandle`],
//! [`DisplayHandle`]) are cheap to clone and safe to share between HTTP handlers.

mod display;
mod payment;
mod printer;
mod scale;
mod scanner;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::link::Feedback;
pub use display::DisplayHandle;
pub use payment::{
    fresh_service_id, LateAnswer, PaymentHandle, PaymentOutcome, PaymentReceipt, PaymentRequest,
    RefundOutcome,
};
pub use printer::{PrinterHandle, HOLD_AFTER_SEND_ENV};
pub use scale::ScaleHandle;
pub use scanner::ScannerHandle;

use crate::error::{Error, Result};
use crate::mqtt::MqttHub;
use crate::profiles::{self, DeviceKind, Profile};
use crate::status::{DeviceStatus, StatusTx};
use crate::transport::{Backoff, Endpoint, Link, TransportConfig};

/// One `[[devices]]` entry. Timing keys are optional overrides of the profile (tests and
/// unusual sites); everything else is as in the configuration reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Unique device id.
    pub id: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Firmware profile name; defaults to the kind's generic profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// Station the device belongs to.
    #[serde(default)]
    pub station: Option<String>,
    /// How to reach it.
    pub transport: TransportConfig,
    /// Override of the profile's status timeout.
    #[serde(default)]
    pub status_timeout_ms: Option<u64>,
    /// Override of the profile's poll interval.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// Cap of the reconnect backoff (default 5 s).
    #[serde(default)]
    pub reconnect_max_ms: Option<u64>,
    /// Payment terminals: override of the response timeout.
    #[serde(default)]
    pub response_timeout_ms: Option<u64>,
    /// Payment terminals: override of how long a lost response is chased.
    #[serde(default)]
    pub recovery_timeout_ms: Option<u64>,
    /// Payment terminals: the terminal's POIID (default: the device id).
    #[serde(default)]
    pub poi_id: Option<String>,
    /// Payment terminals: this till's SaleID (default: the station or device id).
    #[serde(default)]
    pub sale_id: Option<String>,
}

impl DeviceConfig {
    /// A minimal entry (everything optional left out).
    pub fn new(
        id: &str,
        kind: DeviceKind,
        profile: Option<&str>,
        transport: TransportConfig,
    ) -> Self {
        DeviceConfig {
            id: id.to_string(),
            kind,
            profile: profile.map(str::to_string),
            station: None,
            transport,
            status_timeout_ms: None,
            poll_interval_ms: None,
            reconnect_max_ms: None,
            response_timeout_ms: None,
            recovery_timeout_ms: None,
            poi_id: None,
            sale_id: None,
        }
    }

    /// The profile this entry uses (the kind's generic one when none is named), checked
    /// against the kind. This is what `config check` should call.
    pub fn resolve_profile(&self) -> Result<&'static Profile> {
        let name = match &self.profile {
            Some(p) => p.as_str(),
            None => match self.kind {
                DeviceKind::Scanner => "generic-serial-scanner",
                DeviceKind::Scale => "mettler-toledo-sics",
                DeviceKind::LabelPrinter => "zebra-zpl-203",
                DeviceKind::ReceiptPrinter => "escpos-80mm",
                DeviceKind::PaymentTerminal => "nexo-terminal",
                DeviceKind::CustomerDisplay => "escpos-display-2x20",
            },
        };
        let p = profiles::get(name)?;
        if p.kind != self.kind {
            return Err(Error::Config(format!(
                "device {}: profile {name} is for a {}, not a {}",
                self.id,
                p.kind.as_str(),
                self.kind.as_str()
            )));
        }
        Ok(p)
    }

    /// Checks the entry without starting anything.
    pub fn validate(&self) -> Result<()> {
        if self.id.is_empty() || self.id.contains(['/', '+', '#']) {
            return Err(Error::Config(format!(
                "device id {:?} is empty or has MQTT wildcards",
                self.id
            )));
        }
        let p = self.resolve_profile()?;
        Endpoint::resolve(&self.transport, p)?;
        if matches!(self.transport, TransportConfig::Http(_)) && self.kind != DeviceKind::Scanner {
            return Err(Error::Config(format!(
                "device {}: http transport is for scanners only",
                self.id
            )));
        }
        if matches!(self.transport, TransportConfig::Mqtt(_))
            && !matches!(self.kind, DeviceKind::Scanner | DeviceKind::Scale)
        {
            return Err(Error::Config(format!(
                "device {}: mqtt transport is for scanners and scales only",
                self.id
            )));
        }
        Ok(())
    }
}

/// Effective timings of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timings {
    pub status_timeout: Duration,
    pub poll_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub response_timeout: Duration,
    pub recovery_timeout: Duration,
}

impl Timings {
    fn resolve(cfg: &DeviceConfig, p: &Profile) -> Timings {
        let ms = Duration::from_millis;
        let pay = p.payment.as_ref();
        Timings {
            status_timeout: ms(cfg.status_timeout_ms.unwrap_or(p.status_timeout_ms).max(10)),
            poll_interval: ms(cfg.poll_interval_ms.unwrap_or(p.poll_interval_ms).max(10)),
            backoff_initial: ms(50),
            backoff_max: ms(cfg.reconnect_max_ms.unwrap_or(5000).max(50)),
            response_timeout: ms(cfg
                .response_timeout_ms
                .or(pay.map(|x| x.response_timeout_ms))
                .unwrap_or(125_000)),
            recovery_timeout: ms(cfg
                .recovery_timeout_ms
                .or(pay.map(|x| x.recovery_timeout_ms))
                .unwrap_or(300_000)),
        }
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff_initial, self.backoff_max)
    }
}

/// One barcode read, from any source, tagged with the device and its station.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// Device id.
    pub device_id: String,
    /// Station of the device.
    pub station: Option<String>,
    /// Payload without terminator and AIM prefix.
    pub data: String,
    /// AIM identifier or None.
    pub symbology: Option<String>,
    /// Frame bytes (AIM prefix included) for GS1 parsing.
    #[serde(skip)]
    pub raw: Vec<u8>,
    /// When the node received it.
    pub received_at: DateTime<Utc>,
    /// Monotonic receive time, for latency measurement.
    #[serde(skip)]
    pub received: std::time::Instant,
}

/// What every device task gets from the node.
#[derive(Clone, Debug)]
pub struct DeviceContext {
    /// Cancelled at shutdown; every task stops promptly.
    pub shutdown: CancellationToken,
    /// Where scans from all scanners go (bounded; the edge reads it).
    pub scans: mpsc::Sender<Scan>,
    /// Base directory of print spools (`data_dir/spool`); each printer uses `<dir>/<id>`.
    pub spool_dir: PathBuf,
    /// The site's MQTT connection, for devices with an MQTT transport.
    pub mqtt: Option<MqttHub>,
}

/// A running device of any kind.
#[derive(Clone, Debug)]
pub enum Device {
    /// Scanner.
    Scanner(ScannerHandle),
    /// Scale.
    Scale(ScaleHandle),
    /// ZPL label printer.
    LabelPrinter(PrinterHandle),
    /// ESC/POS receipt printer.
    ReceiptPrinter(PrinterHandle),
    /// Payment terminal.
    PaymentTerminal(PaymentHandle),
    /// Customer display.
    CustomerDisplay(DisplayHandle),
}

impl Device {
    fn common(&self) -> &Common {
        match self {
            Device::Scanner(h) => &h.common,
            Device::Scale(h) => &h.common,
            Device::LabelPrinter(h) | Device::ReceiptPrinter(h) => &h.common,
            Device::PaymentTerminal(h) => &h.common,
            Device::CustomerDisplay(h) => &h.common,
        }
    }

    /// Device id.
    pub fn id(&self) -> &str {
        &self.common().id
    }

    /// Kind.
    pub fn kind(&self) -> DeviceKind {
        self.common().kind
    }

    /// Latest status; `.borrow()` for a snapshot, `.changed()` to follow it.
    pub fn status(&self) -> watch::Receiver<DeviceStatus> {
        self.common().status.clone()
    }

    /// Waits for the device task to end (after the context's shutdown token is cancelled).
    pub async fn join(&self) {
        self.common().join().await;
    }
}

/// Parts every handle shares.
#[derive(Clone, Debug)]
pub(crate) struct Common {
    pub id: Arc<str>,
    pub kind: DeviceKind,
    pub status: watch::Receiver<DeviceStatus>,
    pub task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Common {
    pub(crate) async fn join(&self) {
        let t = self.task.lock().await.take();
        if let Some(t) = t {
            let _ = t.await;
        }
    }
}

/// Starts the device described by `cfg`. Must be called inside a tokio runtime.
pub fn spawn(cfg: &DeviceConfig, ctx: &DeviceContext) -> Result<Device> {
    cfg.validate()?;
    let profile = cfg.resolve_profile()?;
    let endpoint = Endpoint::resolve(&cfg.transport, profile)?;
    let timings = Timings::resolve(cfg, profile);
    let (status_tx, status_rx) = StatusTx::new(cfg.kind);
    let common = Common {
        id: Arc::from(cfg.id.as_str()),
        kind: cfg.kind,
        status: status_rx,
        task: Arc::new(Mutex::new(None)),
    };
    let span = tracing::info_span!("device", device = %cfg.id, kind = cfg.kind.as_str());
    let mqtt = || {
        ctx.mqtt.clone().ok_or_else(|| {
            Error::Config(format!(
                "device {} uses mqtt but no [mqtt] is configured",
                cfg.id
            ))
        })
    };
    let (device, task) = match (cfg.kind, endpoint) {
        (DeviceKind::Scanner, ep) => {
            let src = match (ep, &cfg.transport) {
                (Some(ep), _) => scanner::Source::Stream(ep),
                (None, TransportConfig::Mqtt(_)) => {
                    scanner::Source::Mqtt(mqtt()?.register(&cfg.id)?)
                }
                (None, _) => scanner::Source::Http,
            };
            let (h, t) = scanner::start(
                cfg,
                profile,
                timings,
                src,
                ctx.clone(),
                status_tx,
                common.clone(),
                span,
            );
            (Device::Scanner(h), t)
        }
        (DeviceKind::Scale, ep) => {
            let src = match ep {
                Some(ep) => scale::Source::Stream(ep),
                None => scale::Source::Mqtt(mqtt()?.register(&cfg.id)?),
            };
            let (h, t) = scale::start(
                profile,
                timings,
                src,
                ctx.clone(),
                status_tx,
                common.clone(),
                span,
            );
            (Device::Scale(h), t)
        }
        (DeviceKind::LabelPrinter | DeviceKind::ReceiptPrinter, Some(ep)) => {
            let dir = ctx.spool_dir.join(&cfg.id);
            let (h, t) = printer::start(
                profile,
                timings,
                ep,
                dir,
                ctx.clone(),
                status_tx,
                common.clone(),
                span,
            )?;
            if cfg.kind == DeviceKind::LabelPrinter {
                (Device::LabelPrinter(h), t)
            } else {
                (Device::ReceiptPrinter(h), t)
            }
        }
        (DeviceKind::PaymentTerminal, Some(ep)) => {
            let sale_id = cfg
                .sale_id
                .clone()
                .or_else(|| cfg.station.clone())
                .unwrap_or_else(|| cfg.id.clone());
            let poi_id = cfg.poi_id.clone().unwrap_or_else(|| cfg.id.clone());
            let (h, t) = payment::start(
                profile,
                timings,
                ep,
                sale_id,
                poi_id,
                ctx.clone(),
                status_tx,
                common.clone(),
                span,
            );
            (Device::PaymentTerminal(h), t)
        }
        (DeviceKind::CustomerDisplay, Some(ep)) => {
            let (h, t) = display::start(
                profile,
                timings,
                ep,
                ctx.clone(),
                status_tx,
                common.clone(),
                span,
            );
            (Device::CustomerDisplay(h), t)
        }
        (kind, None) => {
            return Err(Error::Config(format!(
                "device {}: a {} needs a serial, tcp or usb_lp transport",
                cfg.id,
                kind.as_str()
            )))
        }
    };
    if let Ok(mut slot) = common.task.try_lock() {
        *slot = task;
    }
    Ok(device)
}

/// How a connection ended.
pub(crate) enum End {
    Shutdown,
    Lost(String),
}

/// Opens the endpoint, waiting out the backoff between attempts. Commands that arrive while
/// the device is unreachable are handed to `offline` (which answers them with an error).
/// Returns `None` at shutdown.
pub(crate) async fn connect<C>(
    ep: &Endpoint,
    t: &Timings,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    status: &StatusTx,
    rx: &mut mpsc::Receiver<C>,
    mut offline: impl FnMut(C),
) -> Option<Link> {
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        let attempt = tokio::time::timeout(t.status_timeout.max(Duration::from_secs(1)), ep.open());
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = attempt => match r {
                Ok(Ok(link)) => return Some(link),
                Ok(Err(e)) => status.offline(&e.to_string()),
                Err(_) => status.offline(&format!("{}: connect timed out", ep.describe())),
            },
        }
        let sleep = tokio::time::sleep(backoff.next_delay());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = shutdown.cancelled() => return None,
                c = rx.recv() => match c {
                    Some(c) => offline(c),
                    None => return None,
                },
            }
        }
    }
}
