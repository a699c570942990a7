//! Device status snapshots published through `tokio::sync::watch`, so HTTP handlers and the
//! event stream read the latest state without talking to the device task.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::decimal::Weight;
use crate::profiles::DeviceKind;

/// Reachability as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// Reachable, no fault.
    Online,
    /// Transport down, or no answer to a status query within the profile's timeout.
    Offline,
    /// Reachable but reporting a fault (paper out, head open, overload…).
    Error,
}

/// Printer flags; `None` when the printer cannot tell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrinterStatus {
    /// Out of paper / media.
    pub paper_out: Option<bool>,
    /// Print head open.
    pub head_open: Option<bool>,
    /// Paused.
    pub paused: Option<bool>,
    /// Ribbon out.
    pub ribbon_out: Option<bool>,
    /// Cover open.
    pub cover_open: Option<bool>,
    /// Paper roll nearly empty (a warning, not a fault).
    pub paper_near_end: Option<bool>,
}

/// Kind-specific part of the status (the API's `status` object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KindStatus {
    /// Scanner.
    Scanner {
        /// Last accepted scan.
        last_scan_at: Option<DateTime<Utc>>,
    },
    /// Scale.
    Scale {
        /// Last stable weight read.
        last_stable_weight: Option<Weight>,
    },
    /// Label or receipt printer.
    Printer(PrinterStatus),
    /// Payment terminal.
    PaymentTerminal {
        /// A dialogue is running.
        busy: bool,
    },
    /// Customer display.
    CustomerDisplay {
        /// The two lines last written to the display (what the customer sees while it is
        /// online); null before the first write.
        shown: Option<[String; 2]>,
    },
}

impl KindStatus {
    /// The empty status for a kind.
    pub fn for_kind(kind: DeviceKind) -> Self {
        match kind {
            DeviceKind::Scanner => KindStatus::Scanner { last_scan_at: None },
            DeviceKind::Scale => KindStatus::Scale {
                last_stable_weight: None,
            },
            DeviceKind::LabelPrinter | DeviceKind::ReceiptPrinter => {
                KindStatus::Printer(PrinterStatus::default())
            }
            DeviceKind::PaymentTerminal => KindStatus::PaymentTerminal { busy: false },
            DeviceKind::CustomerDisplay => KindStatus::CustomerDisplay { shown: None },
        }
    }
}

/// The snapshot a device task publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// online / offline / error.
    pub state: DeviceState,
    /// Last time the device sent anything valid.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Last fault or transport error, kept after recovery for operators.
    pub last_error: Option<String>,
    /// Kind-specific flags.
    pub status: KindStatus,
}

impl DeviceStatus {
    /// Initial status: offline until the transport opens.
    pub fn new(kind: DeviceKind) -> Self {
        DeviceStatus {
            state: DeviceState::Offline,
            last_seen_at: None,
            last_error: None,
            status: KindStatus::for_kind(kind),
        }
    }
}

/// Writer side held by a device task.
#[derive(Debug)]
pub(crate) struct StatusTx {
    tx: watch::Sender<DeviceStatus>,
}

impl StatusTx {
    pub(crate) fn new(kind: DeviceKind) -> (StatusTx, watch::Receiver<DeviceStatus>) {
        let (tx, rx) = watch::channel(DeviceStatus::new(kind));
        (StatusTx { tx }, rx)
    }

    pub(crate) fn online(&self) {
        self.tx.send_if_modified(|s| {
            let changed = s.state != DeviceState::Online;
            s.state = DeviceState::Online;
            changed
        });
    }

    pub(crate) fn seen(&self) {
        self.tx.send_modify(|s| s.last_seen_at = Some(Utc::now()));
    }

    pub(crate) fn offline(&self, err: &str) {
        self.tx.send_if_modified(|s| {
            let changed = s.state != DeviceState::Offline || s.last_error.as_deref() != Some(err);
            s.state = DeviceState::Offline;
            s.last_error = Some(err.to_string());
            changed
        });
    }

    pub(crate) fn fault(&self, err: &str) {
        self.tx.send_if_modified(|s| {
            let changed = s.state != DeviceState::Error || s.last_error.as_deref() != Some(err);
            s.state = DeviceState::Error;
            s.last_error = Some(err.to_string());
            changed
        });
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut KindStatus)) {
        self.tx.send_modify(|s| f(&mut s.status));
    }
}
