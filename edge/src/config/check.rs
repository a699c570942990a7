//! The checks serde cannot make: formats, uniqueness and cross-references, one validator per
//! section. Each reports on the line of the value it is about; a new section gets a validator of
//! its own here (or, like `[stations.pos]`, in the section's module) and a call in [`check`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::str::FromStr;

use toml::Spanned;

use super::problems::{did_you_mean, line_of, Problem};
use super::{
    parse_weight, pos, ApiKeyConfig, BackupConfig, CentralConfig, Config, DeviceConfig, DeviceKind,
    HttpConfig, MqttConfig, SiteConfig, StationConfig, Transport,
};
use crate::domain::role::Role;

/// Every problem of a parsed config, in line order (problems on one line in the order found).
pub(super) fn check(text: &str, cfg: &Config) -> Vec<Problem> {
    let mut found = Findings {
        text,
        problems: Vec::new(),
    };
    site(&mut found, &cfg.site);
    http(&mut found, &cfg.http);
    api_keys(&mut found, &cfg.api_keys);
    if let Some(c) = &cfg.central {
        central(&mut found, c);
    }
    if let Some(m) = &cfg.mqtt {
        mqtt(&mut found, m);
    }
    if let Some(b) = &cfg.backup {
        backup(&mut found, b);
    }
    let station_ids = stations(&mut found, &cfg.stations);
    devices(&mut found, &cfg.devices, &station_ids, cfg.mqtt.is_some());
    let mut problems = found.problems;
    problems.sort_by_key(|p| p.line);
    problems
}

/// `[backup]`: an absolute directory, an interval from a minute to a month, at least one kept.
fn backup(found: &mut Findings, b: &BackupConfig) {
    if let Some(d) = &b.dir {
        if !d.get_ref().is_absolute() {
            found.at(
                d.span(),
                format!(
                    "backup dir \"{}\" must be an absolute path",
                    d.get_ref().display()
                ),
            );
        }
    }
    if let Some(m) = &b.interval_min {
        if !(1..=43_200).contains(m.get_ref()) {
            found.at(
                m.span(),
                format!("interval_min = {} must be 1..43200", m.get_ref()),
            );
        }
    }
    if let Some(k) = &b.keep {
        if !(1..=1000).contains(k.get_ref()) {
            found.at(k.span(), format!("keep = {} must be 1..1000", k.get_ref()));
        }
    }
}

/// The problems found so far, each placed on the line of its value.
struct Findings<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Findings<'_> {
    fn at(&mut self, span: Range<usize>, message: String) {
        self.problems.push(Problem {
            line: line_of(self.text, span.start),
            message,
        });
    }

    /// Ids and names end up in URLs, file names and log lines: a short, plain spelling only.
    fn ident(&mut self, what: &str, value: &Spanned<String>) {
        let v = value.get_ref();
        if !is_ident(v) {
            self.at(
                value.span(),
                format!("{what} \"{v}\" must be 1-64 letters, digits, '-', '_' or '.'"),
            );
        }
    }

    /// An id or name that must also differ from the others of its section (`seen` so far).
    fn unique_ident<'a>(
        &mut self,
        seen: &mut HashSet<&'a str>,
        what: &str,
        value: &'a Spanned<String>,
    ) {
        self.ident(what, value);
        let v = value.get_ref();
        if !seen.insert(v.as_str()) {
            self.at(value.span(), format!("duplicate {what} \"{v}\""));
        }
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `[site]`: the id, an IANA time zone (cut-offs are site-local) and a data dir.
fn site(found: &mut Findings, site: &SiteConfig) {
    found.ident("site id", &site.id);
    let tz = site.timezone.get_ref();
    if chrono_tz::Tz::from_str(tz).is_err() {
        found.at(
            site.timezone.span(),
            format!("unknown time zone \"{tz}\" (use an IANA name like \"America/New_York\")"),
        );
    }
    if site.data_dir.get_ref().as_os_str().is_empty() {
        found.at(site.data_dir.span(), "data_dir must not be empty".into());
    }
}

/// `[http]`: an address to bind.
fn http(found: &mut Findings, http: &HttpConfig) {
    let listen = http.listen.get_ref();
    if SocketAddr::from_str(listen).is_err() {
        found.at(
            http.listen.span(),
            format!("listen \"{listen}\" is not an address like \"127.0.0.1:8080\""),
        );
    }
}

/// `[[api_keys]]`: unique names, known roles, and exactly one usable secret each.
fn api_keys(found: &mut Findings, keys: &[ApiKeyConfig]) {
    let mut names = HashSet::new();
    for k in keys {
        found.unique_ident(&mut names, "api key name", &k.name);
        let role = k.role.get_ref();
        if Role::parse(role).is_none() {
            let hint = did_you_mean(role, Role::ALL.iter().map(|r| r.as_str()));
            found.at(
                k.role.span(),
                format!("unknown role \"{role}\"{hint}; roles are picker, packer, cashier, supervisor, admin, central"),
            );
        }
        api_key_secret(found, k);
    }
}

/// A key in clear (long enough to resist guessing) or its SHA-256, not both.
fn api_key_secret(found: &mut Findings, k: &ApiKeyConfig) {
    let name = k.name.get_ref();
    match (&k.key, &k.key_sha256) {
        (None, None) => found.at(
            k.name.span(),
            format!("api key \"{name}\" needs key or key_sha256"),
        ),
        (Some(_), Some(h)) => found.at(
            h.span(),
            format!("api key \"{name}\" has both key and key_sha256; keep one"),
        ),
        (Some(key), None) if key.get_ref().len() < 12 => found.at(
            key.span(),
            format!("api key \"{name}\" is shorter than 12 characters"),
        ),
        (None, Some(h)) => {
            let v = h.get_ref();
            if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                found.at(h.span(), "key_sha256 must be 64 hex digits".into());
            }
        }
        _ => {}
    }
}

/// `[central]`: an HTTP(S) URL and the sync client's bounds.
fn central(found: &mut Findings, c: &CentralConfig) {
    let url = c.url.get_ref();
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        found.at(
            c.url.span(),
            format!("central url \"{url}\" must start with http:// or https://"),
        );
    }
    if let Some(d) = &c.outbox_retention_days {
        if !(1..=3650).contains(d.get_ref()) {
            found.at(
                d.span(),
                format!(
                    "outbox_retention_days = {} must be 1..3650 (delivered events are kept that many days)",
                    d.get_ref()
                ),
            );
        }
    }
    if let Some(s) = &c.unauthorized_retry_s {
        if !(1..=86_400).contains(s.get_ref()) {
            found.at(
                s.span(),
                format!("unauthorized_retry_s = {} must be 1..86400", s.get_ref()),
            );
        }
    }
}

/// `[mqtt]`: a broker URL.
fn mqtt(found: &mut Findings, m: &MqttConfig) {
    let url = m.url.get_ref();
    if !(url.starts_with("mqtt://") || url.starts_with("mqtts://")) {
        found.at(
            m.url.span(),
            format!("mqtt url \"{url}\" must start with mqtt:// or mqtts://"),
        );
    }
}

/// `[[stations]]`: unique ids, weights the pack check can use, a register's settings. Returns the
/// ids, which devices refer to.
fn stations<'a>(found: &mut Findings, stations: &'a [StationConfig]) -> HashSet<&'a str> {
    let mut ids = HashSet::new();
    for s in stations {
        found.unique_ident(&mut ids, "station id", &s.id);
        for (span, message) in pos::check(s) {
            found.at(span, message);
        }
        for (key, w) in [
            ("carton_tare", &s.carton_tare),
            ("weight_tolerance_min", &s.weight_tolerance_min),
        ] {
            if let Some(w) = w {
                if parse_weight(w.get_ref()).is_none() {
                    found.at(
                        w.span(),
                        format!(
                            "{key} \"{}\" is not a weight like \"0.050 kg\" (kg, g, lb, oz)",
                            w.get_ref()
                        ),
                    );
                }
            }
        }
    }
    ids
}

/// `[[devices]]`: unique ids, a known station, a transport and profile that fit the kind, and
/// then the hardware crate's own rules, so what passes here is what the device manager starts.
fn devices(
    found: &mut Findings,
    devices: &[DeviceConfig],
    station_ids: &HashSet<&str>,
    has_mqtt: bool,
) {
    let mut ids = HashSet::new();
    for d in devices {
        found.unique_ident(&mut ids, "device id", &d.id);
        device_station(found, d, station_ids);
        let transport_bad = device_transport(found, d, has_mqtt);
        let profile_bad = device_profile(found, d);
        // The hardware crate's rules (ports, transports per kind), unless a clearer message
        // was already given for this entry.
        if !profile_bad && !transport_bad {
            if let Err(e) = d.to_hardware().validate() {
                let message = match e {
                    wms_hardware::Error::Config(m) => m,
                    other => other.to_string(),
                };
                found.at(d.transport.span(), message);
            }
        }
    }
}

/// The station a device names is one of `[[stations]]`.
fn device_station(found: &mut Findings, d: &DeviceConfig, station_ids: &HashSet<&str>) {
    let Some(st) = &d.station else {
        return;
    };
    if !station_ids.contains(st.get_ref().as_str()) {
        let hint = did_you_mean(st.get_ref(), station_ids.iter().copied());
        found.at(
            st.span(),
            format!(
                "device \"{}\" names station \"{}\", which is not in [[stations]]{hint}",
                d.id.get_ref(),
                st.get_ref()
            ),
        );
    }
}

/// A profile where the transport needs one, MQTT only with a broker, HTTP only for scanners.
/// True when the transport cannot work, so the hardware rules need not repeat it.
fn device_transport(found: &mut Findings, d: &DeviceConfig, has_mqtt: bool) -> bool {
    let id = d.id.get_ref();
    let transport = d.transport.get_ref();
    if d.profile.is_none() && !matches!(transport, Transport::Http(_) | Transport::Mqtt(_)) {
        found.at(
            d.id.span(),
            format!("device \"{id}\" needs a profile (a file in firmware-profiles/)"),
        );
    }
    let mqtt_missing = matches!(transport, Transport::Mqtt(_)) && !has_mqtt;
    if mqtt_missing {
        found.at(
            d.transport.span(),
            format!("device \"{id}\" uses MQTT but there is no [mqtt] section"),
        );
    }
    let http_misuse =
        matches!(transport, Transport::Http(_)) && *d.kind.get_ref() != DeviceKind::Scanner;
    if http_misuse {
        found.at(
            d.transport.span(),
            format!("device \"{id}\": only scanners can use the http transport"),
        );
    }
    mqtt_missing || http_misuse
}

/// The profile exists and is for this kind of device. True when it is not.
fn device_profile(found: &mut Findings, d: &DeviceConfig) -> bool {
    let Some(p) = &d.profile else {
        return false;
    };
    let name = p.get_ref();
    let kind = *d.kind.get_ref();
    match wms_hardware::profiles::get(name) {
        Err(_) => {
            let hint = did_you_mean(name, wms_hardware::profiles::names());
            found.at(p.span(), format!("unknown profile \"{name}\"{hint}"));
            true
        }
        Ok(prof) if prof.kind != kind => {
            found.at(
                p.span(),
                format!(
                    "device \"{}\": profile \"{name}\" is for a {}, not a {}",
                    d.id.get_ref(),
                    prof.kind.as_str(),
                    kind.as_str()
                ),
            );
            true
        }
        Ok(_) => false,
    }
}
