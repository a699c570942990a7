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

mod registry;
mod routing;
mod supervision;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use wms_hardware::mqtt::MqttHub;
use wms_hardware::CancellationToken;

use crate::discovery::Candidates;
use crate::error::Error;
use crate::events::EventBus;

pub use crate::floor::Floor;
pub use registry::{state_str, Entry};
pub use routing::{ScanOutcome, STORAGE_FULL_PROMPT};
pub use supervision::spool_dir;

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
            H::SpoolFull(m) => Error::StorageFull(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

struct Inner {
    entries: BTreeMap<String, Entry>,
    /// Set once the store is open; without it every scan is answered parse-only.
    floor: std::sync::OnceLock<Floor>,
    /// The registers' card payments, for scans at a register.
    till: std::sync::OnceLock<crate::till::Till>,
    events: EventBus,
    shutdown: CancellationToken,
    mqtt: Option<MqttHub>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    discovered: Candidates,
    /// Rung after a station step queued print jobs.
    print_wake: Arc<tokio::sync::Notify>,
    /// Stations whose scale is being read now (one reading at a time per station).
    weighing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The last print hand-over failed because the spool's disk is full.
    spool_full: std::sync::atomic::AtomicBool,
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
            inner: Arc::new(Inner::new(
                BTreeMap::new(),
                events,
                CancellationToken::new(),
                None,
                Candidates::default(),
            )),
        }
    }
}

impl DeviceManager {
    /// Print jobs wait because the spool's disk is full (they are kept in the database and handed
    /// over once space returns).
    pub fn spool_full(&self) -> bool {
        self.inner
            .spool_full
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn set_spool_full(&self, full: bool) {
        self.inner
            .spool_full
            .store(full, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Inner {
    /// The one place the manager's state is put together, for an empty manager and a started one.
    fn new(
        entries: BTreeMap<String, Entry>,
        events: EventBus,
        shutdown: CancellationToken,
        mqtt: Option<MqttHub>,
        discovered: Candidates,
    ) -> Self {
        Inner {
            entries,
            events,
            shutdown,
            mqtt,
            tasks: Mutex::new(Vec::new()),
            discovered,
            floor: std::sync::OnceLock::new(),
            till: std::sync::OnceLock::new(),
            print_wake: Arc::default(),
            weighing: Default::default(),
            spool_full: Default::default(),
        }
    }
}
