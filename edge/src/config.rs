//! The node's TOML configuration (`edge-api.md`), and `config check`: every problem is reported as
//! `<file>:<line>: <message>`, unknown keys are rejected with a suggestion, and cross-references
//! (devices → stations, keys → roles) are checked before the node starts.
//!
//! This file is the file format (one serde type per section); `check` holds one validator per
//! section, `problems` the wording and line numbers, `pos` a register's settings and their checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod check;
pub mod pos;
mod problems;
pub use pos::RegisterConfig;
pub use problems::{Problem, Problems};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: SiteConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    pub central: Option<CentralConfig>,
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    #[serde(default)]
    pub stations: Vec<StationConfig>,
    pub mqtt: Option<MqttConfig>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// Scheduled backups; none without the section.
    pub backup: Option<BackupConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: Spanned<String>,
    /// Cut-offs and reports use site-local time.
    pub timezone: Spanned<String>,
    pub data_dir: Spanned<PathBuf>,
    /// The return address printed as "FROM" on shipping labels; the site id when absent.
    pub ship_from: Option<AddressConfig>,
    /// Orders not shipped this many minutes before their cut-off (`ship_by`) are flagged as
    /// `missed_cutoff` exceptions (default 60).
    pub cutoff_warning_min: Option<u32>,
    /// How often the node looks for such orders, in seconds (default 60).
    pub cutoff_check_s: Option<u32>,
}

/// A postal address in the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AddressConfig {
    pub name: String,
    pub company: String,
    pub street1: String,
    pub street2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8080".to_string())
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}

/// A static API key for integrations. `key` in clear suits development only; production configs
/// carry `key_sha256`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub key: Option<Spanned<String>>,
    pub key_sha256: Option<Spanned<String>>,
    /// Restricts the key to one merchant's data.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralConfig {
    pub url: Spanned<String>,
    pub api_key: String,
    pub signing_secret: String,
    pub webhook_secret: Option<String>,
    /// First retry delay of the sync client (default 500 ms); full jitter, doubling to the cap.
    pub retry_base_ms: Option<u64>,
    /// Longest retry delay (default 60 000 ms).
    pub retry_cap_ms: Option<u64>,
    /// Time a push or status request may take before it counts as failed (default 30 000 ms).
    pub request_timeout_ms: Option<u64>,
    /// Days a delivered (`done`) outbox row is kept before it is pruned (default 7, at least 1):
    /// long enough to inspect recent traffic, short enough that the database does not grow
    /// with every event the site ever sent.
    pub outbox_retention_days: Option<Spanned<u64>>,
    /// Seconds between retries after a 401/403 (default 60, the contract's interval).
    pub unauthorized_retry_s: Option<Spanned<u64>>,
}

impl CentralConfig {
    /// `outbox_retention_days` or its default.
    pub fn outbox_retention(&self) -> std::time::Duration {
        let days = self
            .outbox_retention_days
            .as_ref()
            .map(|d| *d.get_ref())
            .unwrap_or(DEFAULT_OUTBOX_RETENTION_DAYS);
        std::time::Duration::from_secs(days.saturating_mul(86_400))
    }
}

/// Default of `[central] outbox_retention_days`.
pub const DEFAULT_OUTBOX_RETENTION_DAYS: u64 = 7;

/// Device kinds and transports are the hardware crate's own serde types, so what `config check`
/// accepts is exactly what the device manager can start.
pub use wms_hardware::profiles::DeviceKind;
pub use wms_hardware::transport::TransportConfig as Transport;

/// One `[[devices]]` entry. Fields carry their position for line-precise problems; the timing
/// overrides are passed to the hardware crate unchanged (tests and unusual sites).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: Spanned<String>,
    pub kind: Spanned<DeviceKind>,
    pub profile: Option<Spanned<String>>,
    pub station: Option<Spanned<String>>,
    pub transport: Spanned<Transport>,
    pub status_timeout_ms: Option<u64>,
    pub poll_interval_ms: Option<u64>,
    pub reconnect_max_ms: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    pub recovery_timeout_ms: Option<u64>,
    pub poi_id: Option<String>,
    pub sale_id: Option<String>,
}

impl DeviceConfig {
    /// The entry as the hardware crate takes it.
    pub fn to_hardware(&self) -> wms_hardware::DeviceConfig {
        let mut d = wms_hardware::DeviceConfig::new(
            self.id.get_ref(),
            *self.kind.get_ref(),
            self.profile.as_ref().map(|p| p.get_ref().as_str()),
            self.transport.get_ref().clone(),
        );
        d.station = self.station.as_ref().map(|s| s.get_ref().clone());
        d.status_timeout_ms = self.status_timeout_ms;
        d.poll_interval_ms = self.poll_interval_ms;
        d.reconnect_max_ms = self.reconnect_max_ms;
        d.response_timeout_ms = self.response_timeout_ms;
        d.recovery_timeout_ms = self.recovery_timeout_ms;
        d.poi_id = self.poi_id.clone();
        d.sale_id = self.sale_id.clone();
        d
    }
}

/// `[discovery]`: mDNS advertisement of the node and browsing for network printers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// On by default; sites without multicast (or tests) turn it off.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StationKind {
    Pick,
    Pack,
    Receive,
    Count,
    Pos,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    pub id: Spanned<String>,
    pub kind: StationKind,
    /// Weight of an empty carton, added to the expected weight at a pack station ("0.250 kg").
    pub carton_tare: Option<Spanned<String>>,
    /// Allowed deviation in percent (default 10).
    pub weight_tolerance_pct: Option<u32>,
    /// Allowed deviation floor (default "0.050 kg").
    pub weight_tolerance_min: Option<Spanned<String>>,
    /// Receiving location for a receive station.
    pub location: Option<String>,
    /// A session with no accepted scan for this long ends (default 900).
    pub idle_timeout_s: Option<u32>,
    /// A count off by more than this many units must be recounted before it applies (default 2).
    pub recount_above_units: Option<u32>,
    /// A register's merchant (pos stations).
    pub tenant_id: Option<Spanned<String>>,
    /// A register's currency, ISO 4217 (pos stations).
    pub currency: Option<Spanned<String>>,
    /// `[stations.pos]`.
    pub pos: Option<pos::PosSection>,
}

/// "0.250 kg", "250 g", "0.5 lb": a weight in the config, in milligrams.
pub fn parse_weight(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let (value, unit) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    crate::domain::weight::to_mg(value, unit).filter(|mg| *mg >= 0)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub url: Spanned<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
}

impl MqttConfig {
    /// The section as the hardware crate's MQTT hub takes it.
    pub fn to_hardware(&self) -> wms_hardware::mqtt::MqttConfig {
        wms_hardware::mqtt::MqttConfig {
            url: self.url.get_ref().clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            keep_alive_s: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `wms_edge=debug,info`.
    #[serde(default = "default_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_level() -> String {
    "info".into()
}
fn default_format() -> String {
    "text".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: default_format(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Read-only connections serving queries (default 3).
    pub readers: Option<usize>,
    /// Most writes folded into one commit (default 512).
    pub max_group: Option<usize>,
    /// `/health` turns `degraded` when the data dir's filesystem has less than this many MiB
    /// free (default 32): the warning comes before writes start failing.
    pub min_free_mb: Option<u64>,
}

impl StoreConfig {
    /// `min_free_mb` in bytes, or its default.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_mb
            .unwrap_or(DEFAULT_MIN_FREE_MB)
            .saturating_mul(1024 * 1024)
    }
}

/// Default of `[store] min_free_mb`.
pub const DEFAULT_MIN_FREE_MB: u64 = 32;

/// `[backup]`: the node copies its database on a schedule (SQLite online backup, verified), and
/// keeps the newest few.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where the copies go (default `<data_dir>/backups`); another disk is better, as long as
    /// the service may write there (`ReadWritePaths=` in a unit drop-in).
    pub dir: Option<Spanned<PathBuf>>,
    /// Minutes between backups (default 1440, a day).
    pub interval_min: Option<Spanned<u64>>,
    /// How many backups to keep (default 7); older ones are deleted after each new one.
    pub keep: Option<Spanned<u64>>,
}

/// Defaults of `[backup]`.
pub const DEFAULT_BACKUP_INTERVAL_MIN: u64 = 1440;
pub const DEFAULT_BACKUP_KEEP: u64 = 7;

/// Parse and check a config text. `file` is used only in messages.
pub fn parse(file: &str, text: &str) -> Result<Config, Problems> {
    let fail = |items| Problems {
        file: file.to_string(),
        items,
    };
    let cfg: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => return Err(fail(vec![problems::from_toml(text, &e)])),
    };
    let problems = check::check(text, &cfg);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(fail(problems))
    }
}

pub fn load(path: &Path) -> Result<Config, Problems> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&file, &text),
        Err(e) => Err(Problems {
            file,
            items: vec![Problem {
                line: 0,
                message: format!("cannot read: {e}"),
            }],
        }),
    }
}

impl Config {
    pub fn site_id(&self) -> &str {
        self.site.id.get_ref()
    }

    /// The registers: one per `pos` station.
    pub fn registers(&self) -> Vec<RegisterConfig> {
        let mut regs: Vec<RegisterConfig> = self
            .stations
            .iter()
            .filter_map(RegisterConfig::of)
            .collect();
        for r in &mut regs {
            r.receipt_printer = self
                .devices
                .iter()
                .find(|d| {
                    *d.kind.get_ref() == DeviceKind::ReceiptPrinter
                        && d.station.as_ref().is_some_and(|s| *s.get_ref() == r.id)
                })
                .map(|d| d.id.get_ref().clone());
            r.timezone = self.site.timezone.get_ref().clone();
        }
        regs
    }

    pub fn data_dir(&self) -> &Path {
        self.site.data_dir.get_ref()
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("wms-edge.db")
    }

    pub fn listen(&self) -> &str {
        self.http.listen.get_ref()
    }

    /// The scheduled backups' directory, interval and count, when `[backup]` is configured.
    pub fn backup_schedule(&self) -> Option<crate::ops::backup::Schedule> {
        let b = self.backup.as_ref()?;
        Some(crate::ops::backup::Schedule {
            dir: b
                .dir
                .as_ref()
                .map(|d| d.get_ref().clone())
                .unwrap_or_else(|| self.data_dir().join("backups")),
            interval: std::time::Duration::from_secs(
                b.interval_min
                    .as_ref()
                    .map(|m| *m.get_ref())
                    .unwrap_or(DEFAULT_BACKUP_INTERVAL_MIN)
                    .saturating_mul(60),
            ),
            keep: b
                .keep
                .as_ref()
                .map(|k| *k.get_ref())
                .unwrap_or(DEFAULT_BACKUP_KEEP) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[site]
id = "wh-east-1"
timezone = "America/New_York"
data_dir = "/tmp/x"

[http]
listen = "127.0.0.1:8080"

[[api_keys]]
name = "ops"
role = "admin"
key = "dev-only-plaintext"

[[stations]]
id = "pack-1"
kind = "pack"

[[devices]]
id = "scale-1"
kind = "scale"
profile = "mettler-toledo-sics"
station = "pack-1"
transport = { serial = { path = "/dev/ttyUSB0", baud = 9600 } }
"#;

    #[test]
    fn the_documented_example_parses() {
        let cfg = parse("edge.toml", GOOD).expect("valid");
        assert_eq!(cfg.site_id(), "wh-east-1");
        assert_eq!(cfg.devices.len(), 1);
        assert!(
            matches!(cfg.devices[0].transport.get_ref(), Transport::Serial(s) if s.baud == Some(9600))
        );
    }

    #[test]
    fn unknown_key_is_reported_with_its_line_and_a_suggestion() {
        let bad = GOOD.replace("baud = 9600", "baudrate = 9600");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "edge.toml:24: unknown key \"baudrate\" in [[devices]] (did you mean \"baud\"?)"
        );
    }

    #[test]
    fn unknown_top_level_key_and_bad_role_are_line_precise() {
        let bad = GOOD.replace("listen = \"127.0.0.1:8080\"", "listne = \"127.0.0.1:8080\"");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "edge.toml:8: unknown key \"listne\" in [http] (did you mean \"listen\"?)"
        );
        let bad = GOOD.replace("role = \"admin\"", "role = \"admn\"");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert!(
            err.starts_with("edge.toml:12: unknown role \"admn\" (did you mean \"admin\"?)"),
            "{err}"
        );
    }

    #[test]
    fn cross_references_are_checked() {
        let bad = GOOD.replace("station = \"pack-1\"", "station = \"pack-2\"");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "edge.toml:23: device \"scale-1\" names station \"pack-2\", which is not in [[stations]] (did you mean \"pack-1\"?)"
        );
        let bad = GOOD.replace("America/New_York", "Mars/Olympus");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert!(err.starts_with("edge.toml:4: unknown time zone"), "{err}");
    }

    #[test]
    fn station_weights_are_checked_and_converted() {
        let bad = GOOD.replace(
            "kind = \"pack\"\n",
            "kind = \"pack\"\ncarton_tare = \"12 stone\"\n",
        );
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert!(
            err.starts_with("edge.toml:18: carton_tare \"12 stone\" is not a weight"),
            "{err}"
        );
        assert_eq!(parse_weight("0.250 kg"), Some(250_000));
        assert_eq!(parse_weight("50 g"), Some(50_000));
        assert_eq!(parse_weight("1 lb"), Some(453_592));
        assert_eq!(parse_weight("-1 kg"), None);
        assert_eq!(parse_weight("1kg"), None);
    }

    #[test]
    fn unknown_profile_is_reported_with_a_suggestion() {
        let bad = GOOD.replace("mettler-toledo-sics", "zebra-zpl-600");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "edge.toml:22: unknown profile \"zebra-zpl-600\" (did you mean \"zebra-zpl-300\"?)"
        );
    }

    #[test]
    fn a_profile_of_another_kind_is_rejected() {
        let bad = GOOD.replace("mettler-toledo-sics", "zebra-zpl-203");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "edge.toml:22: device \"scale-1\": profile \"zebra-zpl-203\" is for a label_printer, not a scale"
        );
    }

    #[test]
    fn the_hardware_rules_are_applied() {
        // A scale has no default TCP port: the entry cannot be resolved.
        let bad = GOOD.replace(
            "{ serial = { path = \"/dev/ttyUSB0\", baud = 9600 } }",
            "{ tcp = { host = \"10.0.0.9\" } }",
        );
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert!(
            err.starts_with("edge.toml:24: ") && err.contains("needs a port"),
            "{err}"
        );
        let cfg = parse("edge.toml", GOOD).expect("valid");
        let hw = cfg.devices[0].to_hardware();
        assert_eq!(hw.station.as_deref(), Some("pack-1"));
        assert_eq!(hw.profile.as_deref(), Some("mettler-toledo-sics"));
        assert!(cfg.discovery.enabled);
    }

    #[test]
    fn central_retention_and_retry_are_checked_with_their_line() {
        let with = |extra: &str| {
            format!(
                "{GOOD}\n[central]\nurl = \"http://127.0.0.1:8700/v2\"\napi_key = \"k\"\nsigning_secret = \"s\"\n{extra}"
            )
        };
        let cfg = parse("edge.toml", &with("")).expect("valid");
        let c = cfg.central.as_ref().expect("central");
        assert_eq!(
            c.outbox_retention(),
            std::time::Duration::from_secs(7 * 86_400)
        );
        let cfg = parse(
            "edge.toml",
            &with("outbox_retention_days = 30\nunauthorized_retry_s = 5"),
        )
        .expect("valid");
        let c = cfg.central.as_ref().expect("central");
        assert_eq!(
            c.outbox_retention(),
            std::time::Duration::from_secs(30 * 86_400)
        );
        let err = parse("edge.toml", &with("outbox_retention_days = 0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("edge.toml:30: outbox_retention_days = 0 must be 1..3650"),
            "{err}"
        );
        let err = parse("edge.toml", &with("unauthorized_retry_s = 0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("edge.toml:30: unauthorized_retry_s = 0 must be 1..86400"),
            "{err}"
        );
        let err = parse("edge.toml", &with("outbox_retention = 3"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "edge.toml:30: unknown key \"outbox_retention\" in [central] (did you mean \"outbox_retention_days\"?)"
            ),
            "{err}"
        );
    }

    #[test]
    fn backup_schedule_has_defaults_and_checked_values() {
        let cfg = parse("edge.toml", &format!("{GOOD}\n[backup]\n")).expect("valid");
        let s = cfg.backup_schedule().expect("scheduled");
        assert_eq!(s.dir, std::path::Path::new("/tmp/x/backups"));
        assert_eq!(s.interval, std::time::Duration::from_secs(86_400));
        assert_eq!(s.keep, 7);
        assert!(parse("edge.toml", GOOD)
            .expect("valid")
            .backup_schedule()
            .is_none());
        let bad = format!("{GOOD}\n[backup]\ndir = \"backups\"\ninterval_min = 0\nkeep = 0\n");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "edge.toml:27: backup dir \"backups\" must be an absolute path\n\
             edge.toml:28: interval_min = 0 must be 1..43200\n\
             edge.toml:29: keep = 0 must be 1..1000"
        );
    }

    #[test]
    fn wrong_enum_value_names_the_choices() {
        let bad = GOOD.replace("kind = \"scale\"", "kind = \"scael\"");
        let err = parse("edge.toml", &bad).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "edge.toml:21: unknown value \"scael\" in [[devices]] (did you mean \"scale\"?)"
            ),
            "{err}"
        );
    }
}
