//! Firmware profiles: one TOML file per device model in `firmware-profiles/`, embedded in the
//! binary at build time. A profile supplies the defaults a config entry leaves out (serial
//! settings, framing, protocol, dpi, timeouts) and records the model's known quirks, so site IT
//! only writes a port path and a profile name.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/profiles.rs"));

/// What a device is; decides which handle type drives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Barcode scanner.
    Scanner,
    /// Weighing scale.
    Scale,
    /// ZPL label printer.
    LabelPrinter,
    /// ESC/POS receipt printer.
    ReceiptPrinter,
    /// Semi-integrated card payment terminal.
    PaymentTerminal,
    /// The customer's second screen at a register: a 2-line pole display.
    CustomerDisplay,
}

impl DeviceKind {
    /// The config spelling (`label_printer`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceKind::Scanner => "scanner",
            DeviceKind::Scale => "scale",
            DeviceKind::LabelPrinter => "label_printer",
            DeviceKind::ReceiptPrinter => "receipt_printer",
            DeviceKind::PaymentTerminal => "payment_terminal",
            DeviceKind::CustomerDisplay => "customer_display",
        }
    }
}

/// The wire protocol the device speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolKind {
    /// Scanner sending one terminated line per barcode, optional AIM prefix.
    SerialLine,
    /// Mettler Toledo MT-SICS level 0/1.
    MtSics,
    /// Mettler Toledo 8217 weight-only protocol (`W` request).
    #[serde(rename = "toledo_8217")]
    Toledo8217,
    /// NCI / Avery Weigh-Tronix general serial protocol.
    NciGeneral,
    /// Toledo continuous output (unsolicited STX frames with status words).
    ToledoContinuous,
    /// Zebra ZPL II with `~HS` / `~HQES` status.
    Zpl,
    /// Epson ESC/POS with `DLE EOT` real-time status.
    Escpos,
    /// nexo Sale-to-POI messages as JSON, one object per line over TCP.
    NexoJson,
    /// Epson DM-D customer display commands (`ESC @`, `FF`, `US $ x y`, text in a code page).
    EscposDisplay,
}

impl ProtocolKind {
    fn fits(&self, kind: DeviceKind) -> bool {
        use ProtocolKind::*;
        match kind {
            DeviceKind::Scanner => matches!(self, SerialLine),
            DeviceKind::Scale => {
                matches!(self, MtSics | Toledo8217 | NciGeneral | ToledoContinuous)
            }
            DeviceKind::LabelPrinter => matches!(self, Zpl),
            DeviceKind::ReceiptPrinter => matches!(self, Escpos),
            DeviceKind::PaymentTerminal => matches!(self, NexoJson),
            DeviceKind::CustomerDisplay => matches!(self, EscposDisplay),
        }
    }
}

/// Serial parity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

/// Serial flow control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    /// No handshake.
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// How a scanner ends a barcode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    /// Carriage return.
    #[default]
    Cr,
    /// Line feed.
    Lf,
    /// CR LF.
    Crlf,
    /// Horizontal tab.
    Tab,
    /// Any of CR, LF, CR LF or TAB (factory-default scanners vary).
    Any,
}

/// Character set the scanner transmits in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8; invalid sequences make the frame noise.
    #[default]
    Utf8,
    /// Windows-1252 (Honeywell's default character chart).
    Cp1252,
    /// ISO-8859-1.
    Latin1,
}

/// The character table a customer display writes text in; each has the number `ESC t n`
/// selects it by (see `protocol::display`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodePage {
    /// PC437 (USA, standard Europe): page 0, the power-on default of Epson displays.
    #[default]
    Pc437,
    /// Windows-1252 (Western European): page 16.
    Wpc1252,
}

/// Transport defaults a config entry may override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportDefaults {
    /// Bits per second.
    pub baud: u32,
    /// 7 or 8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// 1 or 2.
    pub stop_bits: u8,
    /// Handshake.
    pub flow_control: FlowControl,
    /// Default TCP port for network models.
    pub tcp_port: Option<u16>,
}

impl Default for TransportDefaults {
    fn default() -> Self {
        TransportDefaults {
            baud: 9600,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow_control: FlowControl::None,
            tcp_port: None,
        }
    }
}

/// Line framing for line-oriented devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Framing {
    /// End of a frame.
    pub terminator: Terminator,
    /// Longest accepted frame in bytes; longer ones are discarded whole.
    pub max_line: usize,
    /// Character set.
    pub encoding: Encoding,
    /// Silence after which unterminated bytes are a partial frame and dropped.
    pub idle_gap_ms: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            terminator: Terminator::Cr,
            max_line: 4096,
            encoding: Encoding::Utf8,
            idle_gap_ms: 250,
        }
    }
}

/// Printer geometry and options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterSpec {
    /// Print resolution in dots per inch.
    pub dpi: u32,
    /// Printable width in dots.
    pub print_width_dots: u32,
    /// Paper or maximum media width in millimetres.
    pub media_width_mm: u32,
    /// Has an auto-cutter (receipts) or cutter option fitted by default (labels).
    #[serde(default)]
    pub cutter: bool,
    /// Character set to select before text (`^CI28`, `ESC t 16`, …), informative.
    #[serde(default)]
    pub code_page: Option<String>,
    /// Answers `~HS` even while faulted (older ZPL firmware); newer firmware stays silent.
    #[serde(default)]
    pub hs_answers_when_faulted: bool,
    /// Has a cash-drawer kick connector.
    #[serde(default)]
    pub drawer_kick: bool,
}

/// Scale options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    /// Unit used when the protocol sends none (8217, continuous without unit bits).
    pub unit: String,
    /// Capacity in `unit`, informative.
    #[serde(default)]
    pub capacity: Option<String>,
    /// Division (readability) in `unit`, informative.
    #[serde(default)]
    pub division: Option<String>,
    /// Continuous output carries a checksum byte after CR.
    #[serde(default)]
    pub checksum: bool,
}

/// Scanner options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerSpec {
    /// The scanner is set up to send AIM symbology identifiers.
    #[serde(default)]
    pub aim_ids: bool,
    /// Bytes (hex, space separated) that make the scanner sound a good-read beep.
    #[serde(default)]
    pub beep_good: Option<String>,
    /// Bytes (hex) for a bad-read / error beep.
    #[serde(default)]
    pub beep_bad: Option<String>,
}

/// Payment-terminal options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSpec {
    /// nexo protocol version sent in every header.
    pub protocol_version: String,
    /// How long to wait for a payment response before asking for the transaction status.
    pub response_timeout_ms: u64,
    /// How long to keep asking for the status of a payment whose response was lost.
    pub recovery_timeout_ms: u64,
}

/// Customer display options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplaySpec {
    /// Characters per line (the display has two lines).
    pub columns: usize,
    /// The character table text is written in (selected with `ESC t` on every connect).
    pub code_page: CodePage,
}

/// One firmware profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Must equal the file stem; what `profile = "…"` in the config names.
    pub name: String,
    /// One line for operators.
    pub description: String,
    /// Manufacturer, absent for generic profiles.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Model name, absent for generic profiles.
    #[serde(default)]
    pub model: Option<String>,
    /// A protocol-level profile rather than a specific model.
    #[serde(default)]
    pub generic: bool,
    /// What the device is.
    pub kind: DeviceKind,
    /// What it speaks.
    pub protocol: ProtocolKind,
    /// Serial/TCP defaults.
    #[serde(default)]
    pub transport: TransportDefaults,
    /// Line framing.
    #[serde(default)]
    pub framing: Framing,
    /// A status query unanswered for this long makes the device `offline`.
    pub status_timeout_ms: u64,
    /// How often to poll status when idle (printers, polled scales).
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// Printer geometry (printers only).
    #[serde(default)]
    pub printer: Option<PrinterSpec>,
    /// Scale options (scales only).
    #[serde(default)]
    pub scale: Option<ScaleSpec>,
    /// Scanner options (scanners only).
    #[serde(default)]
    pub scanner: Option<ScannerSpec>,
    /// Payment options (payment terminals only).
    #[serde(default)]
    pub payment: Option<PaymentSpec>,
    /// Display geometry and code page (customer displays only).
    #[serde(default)]
    pub display: Option<DisplaySpec>,
    /// Known model quirks, for operators and for reviewers of the driver.
    #[serde(default)]
    pub quirks: Vec<String>,
}

fn default_poll() -> u64 {
    2000
}

const BAUDS: &[u32] = &[
    1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115_200, 230_400,
];

impl Profile {
    /// Parses one profile text and validates it against its file stem.
    pub fn from_toml(stem: &str, text: &str) -> Result<Profile> {
        let p: Profile = toml::from_str(text).map_err(|e| Error::Profile {
            name: stem.to_string(),
            message: e.to_string(),
        })?;
        p.validate(stem)?;
        Ok(p)
    }

    /// Checks the cross-field rules serde cannot express.
    pub fn validate(&self, stem: &str) -> Result<()> {
        let fail = |m: String| {
            Err(Error::Profile {
                name: stem.to_string(),
                message: m,
            })
        };
        if self.name != stem {
            return fail(format!("name {:?} differs from the file name", self.name));
        }
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("name must be lower-case letters, digits and '-'".into());
        }
        if self.description.trim().is_empty() {
            return fail("description is empty".into());
        }
        if !self.generic && (self.vendor.is_none() || self.model.is_none()) {
            return fail("a model profile needs vendor and model".into());
        }
        if !self.protocol.fits(self.kind) {
            return fail(format!(
                "protocol {:?} does not fit kind {}",
                self.protocol,
                self.kind.as_str()
            ));
        }
        let t = &self.transport;
        if !BAUDS.contains(&t.baud) {
            return fail(format!("unsupported baud {}", t.baud));
        }
        if !(7..=8).contains(&t.data_bits) {
            return fail(format!("data_bits must be 7 or 8, not {}", t.data_bits));
        }
        if !(1..=2).contains(&t.stop_bits) {
            return fail(format!("stop_bits must be 1 or 2, not {}", t.stop_bits));
        }
        if !(16..=65536).contains(&self.framing.max_line) {
            return fail("framing.max_line must be 16..=65536".into());
        }
        if !(5..=5000).contains(&self.framing.idle_gap_ms) {
            return fail("framing.idle_gap_ms must be 5..=5000".into());
        }
        if !(50..=300_000).contains(&self.status_timeout_ms) {
            return fail("status_timeout_ms must be 50..=300000".into());
        }
        if !(50..=600_000).contains(&self.poll_interval_ms) {
            return fail("poll_interval_ms must be 50..=600000".into());
        }
        let printer = matches!(
            self.kind,
            DeviceKind::LabelPrinter | DeviceKind::ReceiptPrinter
        );
        if printer != self.printer.is_some() {
            return fail("a [printer] section is required for printers and only for them".into());
        }
        if (self.kind == DeviceKind::Scale) != self.scale.is_some() {
            return fail("a [scale] section is required for scales and only for them".into());
        }
        if self.kind != DeviceKind::Scanner && self.scanner.is_some() {
            return fail("a [scanner] section is only for scanners".into());
        }
        if (self.kind == DeviceKind::PaymentTerminal) != self.payment.is_some() {
            return fail(
                "a [payment] section is required for payment terminals and only for them".into(),
            );
        }
        if (self.kind == DeviceKind::CustomerDisplay) != self.display.is_some() {
            return fail(
                "a [display] section is required for customer displays and only for them".into(),
            );
        }
        if let Some(d) = &self.display {
            if !(8..=40).contains(&d.columns) {
                return fail(format!("display.columns {} must be 8..=40", d.columns));
            }
        }
        if let Some(p) = &self.printer {
            if ![152, 180, 203, 300, 600].contains(&p.dpi) {
                return fail(format!("unusual dpi {}", p.dpi));
            }
            // Printable width can't exceed the media width.
            let max_dots = u64::from(p.media_width_mm) * u64::from(p.dpi) * 10 / 254 + 1;
            if p.print_width_dots == 0 || u64::from(p.print_width_dots) > max_dots {
                return fail(format!(
                    "print_width_dots {} does not fit {} mm at {} dpi",
                    p.print_width_dots, p.media_width_mm, p.dpi
                ));
            }
            if p.drawer_kick && self.kind != DeviceKind::ReceiptPrinter {
                return fail("drawer_kick is for receipt printers".into());
            }
        }
        if let Some(s) = &self.scale {
            if !["g", "kg", "lb", "oz"].contains(&s.unit.as_str()) {
                return fail(format!("scale unit {:?} is not g, kg, lb or oz", s.unit));
            }
            for v in [&s.capacity, &s.division].into_iter().flatten() {
                crate::decimal::Decimal::parse(v).map_err(|e| Error::Profile {
                    name: stem.to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        if let Some(s) = &self.scanner {
            for v in [&s.beep_good, &s.beep_bad].into_iter().flatten() {
                parse_hex(v).map_err(|m| Error::Profile {
                    name: stem.to_string(),
                    message: m,
                })?;
            }
        }
        if let Some(p) = &self.payment {
            if p.protocol_version.trim().is_empty() {
                return fail("payment.protocol_version is empty".into());
            }
            if p.response_timeout_ms == 0 || p.recovery_timeout_ms == 0 {
                return fail("payment timeouts must be positive".into());
            }
        }
        Ok(())
    }

    /// The bytes of the good-read beep, if the model has one.
    pub fn beep_good(&self) -> Option<Vec<u8>> {
        self.scanner
            .as_ref()
            .and_then(|s| s.beep_good.as_deref())
            .and_then(|h| parse_hex(h).ok())
    }

    /// The bytes of the bad-read beep, if the model has one.
    pub fn beep_bad(&self) -> Option<Vec<u8>> {
        self.scanner
            .as_ref()
            .and_then(|s| s.beep_bad.as_deref())
            .and_then(|h| parse_hex(h).ok())
    }
}

/// Decodes `"16 4D 0D"` into bytes.
pub fn parse_hex(text: &str) -> std::result::Result<Vec<u8>, String> {
    text.split_whitespace()
        .map(|t| u8::from_str_radix(t, 16).map_err(|_| format!("bad hex byte {t:?}")))
        .collect()
}

struct Registry {
    profiles: BTreeMap<&'static str, Profile>,
    errors: Vec<String>,
}

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut profiles = BTreeMap::new();
        let mut errors = Vec::new();
        for (stem, text) in EMBEDDED {
            match Profile::from_toml(stem, text) {
                Ok(p) => {
                    profiles.insert(*stem, p);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Registry { profiles, errors }
    })
}

/// The profile named `name`, or [`Error::UnknownProfile`].
pub fn get(name: &str) -> Result<&'static Profile> {
    registry()
        .profiles
        .get(name)
        .ok_or_else(|| Error::UnknownProfile(name.to_string()))
}

/// Every valid embedded profile, sorted by name.
pub fn all() -> impl Iterator<Item = &'static Profile> {
    registry().profiles.values()
}

/// Names accepted in `profile = "…"`, sorted; `config check` rejects anything else.
pub fn names() -> Vec<&'static str> {
    registry().profiles.keys().copied().collect()
}

/// Problems found in embedded profiles (empty in a correct build; the tests assert it).
pub fn load_errors() -> &'static [String] {
    &registry().errors
}

/// The embedded raw files `(stem, TOML)`, for tooling that wants to show them.
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    EMBEDDED
}

/// The generic profiles that always exist whatever models are added.
pub const GENERIC: &[&str] = &[
    "generic-serial-scanner",
    "mettler-toledo-sics",
    "toledo-8217",
    "nci-general",
    "zebra-zpl-203",
    "zebra-zpl-300",
    "escpos-80mm",
    "escpos-58mm",
    "nexo-terminal",
    "escpos-display-2x20",
];
