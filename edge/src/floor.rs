//! The floor as the node runs it: which stations run a workflow and with which devices, and the
//! two effects a station step leaves for after its commit — reading the station's scale when the
//! workflow waits for a weight, and handing queued print jobs to their printers.
//!
//! Both effects are driven by what is already durable: the pack workflow's persisted stage says
//! "weighing" (`context.read_scale`), and print jobs are rows of `print_jobs` written in the
//! step's transaction (see `store::packing`). So a node killed between the commit and the effect
//! resumes it: the packer scans `CMD:WEIGH` to read the scale again, and the print dispatcher hands
//! every job not yet spooled to its printer at start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Config, StationKind as ConfigKind};
use crate::domain::station::{StationConfig, StationKind};
use crate::store::workflow::SiteInfo;
use crate::store::Store;
use wms_hardware::profiles::DeviceKind;

/// How long a pack station waits for its scale to settle before asking the packer to try again.
pub const WEIGH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the scan router needs to run station workflows.
#[derive(Clone)]
pub struct Floor {
    pub store: Store,
    pub site: SiteInfo,
    pub stations: BTreeMap<String, StationConfig>,
    /// Flag orders this long before their cut-off.
    pub cutoff_warning: chrono::Duration,
    /// How often to look.
    pub cutoff_check: Duration,
}

impl Floor {
    /// Every pick, pack, count and receive station of `cfg`, with its settings and the devices
    /// that name it (first label printer, receipt printer and scale of each). POS stations
    /// have their own workflow.
    pub fn from_config(cfg: &Config, store: Store) -> Floor {
        let stations = cfg
            .stations
            .iter()
            .filter_map(|s| {
                let kind = match s.kind {
                    ConfigKind::Pick => StationKind::Pick,
                    ConfigKind::Pack => StationKind::Pack,
                    ConfigKind::Count => StationKind::Count,
                    ConfigKind::Receive => StationKind::Receive,
                    ConfigKind::Pos => return None,
                };
                let id = s.id.get_ref().clone();
                let mut st = StationConfig::new(id.clone(), kind);
                if let Some(mg) = s
                    .carton_tare
                    .as_ref()
                    .and_then(|w| crate::config::parse_weight(w.get_ref()))
                {
                    st.carton_tare_mg = mg;
                }
                if let Some(pct) = s.weight_tolerance_pct {
                    st.weight_tolerance_pct = pct;
                }
                if let Some(mg) = s
                    .weight_tolerance_min
                    .as_ref()
                    .and_then(|w| crate::config::parse_weight(w.get_ref()))
                {
                    st.weight_tolerance_min_mg = mg;
                }
                st.receiving_location = s.location.clone();
                if let Some(t) = s.idle_timeout_s {
                    st.idle_timeout_s = t;
                }
                if let Some(n) = s.recount_above_units {
                    st.recount_above_units = n;
                }
                let at_station = |kind: DeviceKind| {
                    cfg.devices.iter().find(|d| {
                        *d.kind.get_ref() == kind
                            && d.station.as_ref().map(|x| x.get_ref()) == Some(&id)
                    })
                };
                if let Some(d) = at_station(DeviceKind::LabelPrinter) {
                    st.label_printer = Some(d.id.get_ref().clone());
                    if let Some(spec) = d
                        .to_hardware()
                        .resolve_profile()
                        .ok()
                        .and_then(|p| p.printer.as_ref())
                    {
                        st.label_dpi = spec.dpi;
                    }
                }
                st.receipt_printer =
                    at_station(DeviceKind::ReceiptPrinter).map(|d| d.id.get_ref().clone());
                st.scale = at_station(DeviceKind::Scale).map(|d| d.id.get_ref().clone());
                Some((id, st))
            })
            .collect();
        let ship_from = match &cfg.site.ship_from {
            Some(a) => wms_labels::model::Address {
                name: a.name.clone(),
                company: a.company.clone(),
                street1: a.street1.clone(),
                street2: a.street2.clone(),
                city: a.city.clone(),
                region: a.region.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                phone: a.phone.clone(),
            },
            None => wms_labels::model::Address {
                name: cfg.site_id().to_string(),
                ..Default::default()
            },
        };
        Floor {
            store,
            site: SiteInfo {
                site_id: cfg.site_id().to_string(),
                ship_from,
            },
            stations,
            cutoff_warning: chrono::Duration::minutes(i64::from(
                cfg.site.cutoff_warning_min.unwrap_or(60),
            )),
            cutoff_check: Duration::from_secs(u64::from(
                cfg.site.cutoff_check_s.unwrap_or(60).max(1),
            )),
        }
    }

    /// Flags orders about to miss their cut-off, at start and every `cutoff_check`, until
    /// `shutdown`. Each flag is one write with its `order.exception` upstream.
    pub async fn watch_cutoffs(self, shutdown: wms_hardware::CancellationToken) {
        loop {
            let warn = self.cutoff_warning;
            let site = self.site.site_id.clone();
            let flagged = self
                .store
                .write(move |conn| {
                    let now = chrono::Utc::now();
                    let at = crate::domain::time::format(now);
                    // The node itself decided this: no user, no device.
                    let origin = crate::store::Origin {
                        actor: crate::domain::Actor {
                            device: Some(format!("node:{site}")),
                            ..Default::default()
                        },
                        request_id: None,
                    };
                    let cx = crate::store::Ctx {
                        conn,
                        site: &site,
                        origin: &origin,
                        now: &at,
                    };
                    crate::store::orders::flag_cutoffs(&cx, now, warn)
                })
                .await;
            match flagged {
                Ok(ids) => {
                    for id in ids {
                        tracing::warn!(order = %id, "order is about to miss its cut-off");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cut-off check failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.cutoff_check) => {}
            }
        }
    }
}
