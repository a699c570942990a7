//! mDNS/DNS-SD: the node advertises itself as `_wms-edge._tcp` (TXT `site`, `version`,
//! `api=/v1`) so handhelds find it without configuration, and browses for network printers
//! (`_pdl-datastream._tcp`, `_printer._tcp`) to list them as candidates. A candidate is only
//! shown to site IT; the node never adds a device on its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use serde::Serialize;
use tokio::task::JoinHandle;
use utoipa::ToSchema;
use wms_hardware::CancellationToken;

use crate::config::Config;

/// Our own service type.
pub const SERVICE: &str = "_wms-edge._tcp.local.";
/// Printer service types browsed for candidates.
pub const PRINTER_SERVICES: [&str; 2] = ["_pdl-datastream._tcp.local.", "_printer._tcp.local."];

/// A network printer seen on the LAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Candidate {
    /// DNS-SD instance name, e.g. `ZTC ZD421-203dpi._pdl-datastream._tcp.local.`.
    pub name: String,
    /// `_pdl-datastream._tcp` (raw port printing, usually 9100) or `_printer._tcp` (LPD).
    pub service: String,
    pub host: String,
    pub addresses: Vec<String>,
    pub port: u16,
    /// Model as the printer announces it (TXT `ty` or `product`), when it does.
    pub model: Option<String>,
    /// Whether a configured device already points at this address and port.
    pub configured: bool,
    /// When it was last announced.
    pub seen_at: String,
}

/// The candidate list, shared between the browser and the HTTP handler.
#[derive(Clone, Default)]
pub struct Candidates(Arc<Mutex<BTreeMap<String, Candidate>>>);

impl Candidates {
    /// Adds or refreshes a candidate (by instance name).
    pub fn upsert(&self, c: Candidate) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(c.name.clone(), c);
        }
    }

    pub fn remove(&self, name: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(name);
        }
    }

    /// Sorted by instance name.
    pub fn list(&self) -> Vec<Candidate> {
        self.0
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The running advertiser/browser; dropped daemons stop with [`Discovery::shutdown`].
pub struct Discovery {
    daemon: ServiceDaemon,
    tasks: Vec<JoinHandle<()>>,
}

impl Discovery {
    /// Starts advertising and browsing when `[discovery]` is enabled. Multicast may be
    /// unavailable (containers, some Wi-Fi): that is logged and the node runs without it.
    pub fn start(
        cfg: &Config,
        addr: SocketAddr,
        candidates: Candidates,
        shutdown: CancellationToken,
    ) -> Option<Discovery> {
        if !cfg.discovery.enabled {
            return None;
        }
        let daemon = match ServiceDaemon::new() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "mDNS unavailable; discovery off");
                return None;
            }
        };
        advertise(&daemon, cfg, addr);
        let mut tasks = Vec::new();
        for ty in PRINTER_SERVICES {
            match daemon.browse(ty) {
                Ok(rx) => {
                    let c = candidates.clone();
                    let stop = shutdown.clone();
                    tasks.push(tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                _ = stop.cancelled() => break,
                                ev = rx.recv_async() => match ev {
                                    Ok(ev) => on_event(&c, ty, ev),
                                    Err(_) => break,
                                },
                            }
                        }
                    }));
                }
                Err(e) => tracing::warn!(service = ty, error = %e, "mDNS browse failed"),
            }
        }
        Some(Discovery { daemon, tasks })
    }

    pub async fn shutdown(self) {
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), rx.recv_async()).await;
        }
    }
}

/// The TXT record of our own announcement.
pub fn txt(cfg: &Config) -> [(&'static str, String); 3] {
    [
        ("site", cfg.site_id().to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("api", "/v1".to_string()),
    ]
}

fn advertise(daemon: &ServiceDaemon, cfg: &Config, addr: SocketAddr) {
    // A loopback listener cannot be reached by a handheld: announcing it would mislead.
    if addr.ip().is_loopback() {
        tracing::info!(%addr, "listening on loopback; not advertising over mDNS");
        return;
    }
    let name = format!("wms-edge-{}", cfg.site_id());
    let host = format!("{name}.local.");
    let info = if addr.ip().is_unspecified() {
        ServiceInfo::new(SERVICE, &name, &host, "", addr.port(), &txt(cfg)[..])
            .map(ServiceInfo::enable_addr_auto)
    } else {
        ServiceInfo::new(SERVICE, &name, &host, addr.ip(), addr.port(), &txt(cfg)[..])
    };
    match info.and_then(|i| daemon.register(i)) {
        Ok(()) => tracing::info!(
            service = SERVICE,
            port = addr.port(),
            "advertised over mDNS"
        ),
        Err(e) => tracing::warn!(error = %e, "mDNS advertisement failed"),
    }
}

fn on_event(c: &Candidates, ty: &str, ev: ServiceEvent) {
    match ev {
        ServiceEvent::ServiceResolved(s) => {
            let mut addresses: Vec<String> = s
                .get_addresses()
                .iter()
                .map(|a| a.to_ip_addr().to_string())
                .collect();
            addresses.sort();
            let model = s
                .get_property_val_str("ty")
                .or_else(|| s.get_property_val_str("product"))
                .map(|m| m.trim_matches(['(', ')']).to_string());
            tracing::info!(
                name = s.get_fullname(),
                port = s.get_port(),
                "printer discovered"
            );
            c.upsert(Candidate {
                name: s.get_fullname().to_string(),
                service: ty.trim_end_matches(".local.").to_string(),
                host: s.get_hostname().to_string(),
                addresses,
                port: s.get_port(),
                model,
                configured: false,
                seen_at: crate::domain::time::now(),
            });
        }
        ServiceEvent::ServiceRemoved(_, name) => c.remove(&name),
        _ => {}
    }
}
