//! Interpretation of one scan exactly as the floor reads it: scanner framing and the AIM
//! symbology identifier are removed, then the payload is classified (GS1 element string, GS1
//! Digital Link, GTIN, UPC-E, SSCC, the site's control codes of the scan grammar, or a code only
//! the catalog knows).
//!
//! **Three verdicts.** A scan is *accepted*; or *invalid*: it is a GS1 code (or a GTIN/SSCC) that
//! breaks the GS1 General Specifications — a wrong check digit, an impossible date, a value too
//! long or with a character its AI does not allow, an AI that does not exist or may not appear
//! with the others — and each problem names its AI; or *rejected*: not a scan at all (empty, a
//! lone `]`, an unknown AIM identifier, control bytes, a malformed site code).
//!
//! **Bare GS1 strings.** Many scanners send no AIM identifier, so a GS1-128 carton label arrives
//! as `0109506000134352172512311012AB…`. Without an identifier a payload is read as GS1 when it
//! starts with FNC1 (a GS byte or a placeholder such as `^` or `{GS}`), is in the human-readable
//! form `(01)…(17)…`, or parses completely as an element string that carries a GS separator or a
//! numeric GS1 key (GTIN, SSCC, GLN, GSIN, GRAI, ITIP, GSRN, GDTI, GCN). Once read as GS1, every
//! rule applies and a breach makes it invalid. A string that starts with a numeric key in full
//! (`01` + 14 digits …) is GS1 even when what follows does not parse: it is reported invalid, not
//! unknown. Anything else (`10-PACK`, `TSHIRT-M`) is a code for the catalog. At a station a code
//! the tenant's catalog knows, as a barcode or a SKU, wins over every GS1 reading.
//!
//! **Limits.** A missing GS after a variable-length value is found when the run-on value exceeds
//! its AI's maximum length or swallows a GTIN or SSCC with a valid check digit; a run-on that
//! still fits (lot `AB1` followed by `17251231` read as lot `AB117251231`) cannot be told from a
//! lot that really is that, by this or any reader.

use crate::check::{gs1_check_digit, gs1_check_digit_ok};
use crate::error::Error;
use crate::gs1::{self, ai, Element, Options, GS};
use serde_json::{json, Map, Value};

/// What a scan is, as reported by `scan parse` and on the scan event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gs1,
    Gtin,
    Sscc,
    UpcE,
    Control,
    Location,
    Tote,
    Order,
    Badge,
    Unknown,
}

impl Kind {
    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gs1 => "gs1",
            Kind::Gtin => "gtin",
            Kind::Sscc => "sscc",
            Kind::UpcE => "upc_e",
            Kind::Control => "control",
            Kind::Location => "location",
            Kind::Tote => "tote",
            Kind::Order => "order",
            Kind::Badge => "badge",
            Kind::Unknown => "unknown",
        }
    }

    /// Kinds whose rules are the GS1 General Specifications': a breach makes the scan invalid
    /// (with a reason) rather than unreadable.
    pub fn is_gs1_family(self) -> bool {
        matches!(self, Kind::Gs1 | Kind::Gtin | Kind::Sscc | Kind::UpcE)
    }
}

/// How a GS1 scan was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// After a GS1 AIM identifier (`]C1`, `]d2`, `]Q3`, `]e0` …).
    Aim,
    /// Without an AIM identifier: FNC1 first, or recognised by the bare-string rule.
    Bare,
    /// The human-readable form `(01)…(10)…`.
    Bracketed,
    /// A GS1 Digital Link URI.
    DigitalLink,
}

impl Form {
    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Aim => "aim",
            Form::Bare => "bare",
            Form::Bracketed => "bracketed",
            Form::DigitalLink => "digital_link",
        }
    }
}

/// The verdict on a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Accepted,
    /// A GS1 code (or GTIN, SSCC) that breaks the rules.
    Invalid,
    /// Not a readable scan.
    Rejected,
}

impl Status {
    /// The lower-case name used in JSON and by `scan parse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Invalid => "invalid",
            Status::Rejected => "rejected",
        }
    }
}

/// Why a scan is not accepted; `ai` names the Application Identifier when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub ai: Option<String>,
    pub reason: String,
}

impl ScanError {
    fn plain(reason: impl Into<String>) -> Self {
        ScanError {
            ai: None,
            reason: reason.into(),
        }
    }
}

impl From<Error> for ScanError {
    fn from(e: Error) -> Self {
        match e {
            Error::Ai { ai, reason } => ScanError {
                ai: Some(ai),
                reason,
            },
            other => ScanError::plain(other.to_string()),
        }
    }
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.ai {
            Some(ai) => write!(f, "AI {ai}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// The trade items a logistic unit's label says it contains: AI 02 (their GTIN) and AI 37 (how
/// many).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub gtin: String,
    pub count: Option<u32>,
}

/// A site code from the scan grammar (`LOC:A-03-2`, `CMD:DONE`, `QTY:3` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCode {
    /// The prefix without the colon, upper case: `EMP`, `LOC`, `TOTE`, `ORD`, `CMD`, `PIN`, `QTY`,
    /// and at a register `CPN` (a coupon) and `CUST` (a customer's loyalty card).
    pub prefix: &'static str,
    /// The text after the colon (`CMD` verbs upper-cased).
    pub value: String,
}

/// The verbs `CMD:` accepts.
pub const COMMAND_VERBS: &[&str] = &[
    "DONE", "SHORT", "SKIP", "REPRINT", "WEIGH", "CANCEL", "LOGOUT", "CASH", "CARD", "PRICE",
    "VOID",
];

/// The outcome of interpreting one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub kind: Kind,
    /// For GS1 scans: how the element string was written.
    pub form: Option<Form>,
    /// The AIM symbology identifier (`]C1`) when the scanner sent one.
    pub symbology: Option<String>,
    /// The payload without framing and AIM id (GS kept as the byte).
    pub data: String,
    /// GTIN-14 for GTIN/UPC-E scans and GS1 strings carrying AI 01.
    pub gtin: Option<String>,
    /// SSCC-18 for SSCC scans and GS1 strings carrying AI 00.
    pub sscc: Option<String>,
    /// AI 02 and AI 37 of a logistic unit's label.
    pub content: Option<Content>,
    pub elements: Vec<Element>,
    /// `(ai, ISO date)` for date AIs.
    pub dates: Vec<(String, String)>,
    /// `(ai, decimal)` for decimal AIs.
    pub decimals: Vec<(String, String)>,
    pub code: Option<SiteCode>,
    /// Why the scan is not accepted, one line each (`AI 17: month 13 is not a month`); empty
    /// when it is accepted.
    pub errors: Vec<String>,
    /// The same problems with the AI at fault apart from the reason, in the same order.
    pub problems: Vec<ScanError>,
}

impl Scan {
    /// Whether the scan is accepted.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Accepted, invalid (a GS1-family code breaking its rules) or rejected.
    pub fn status(&self) -> Status {
        if self.ok() {
            Status::Accepted
        } else if self.kind.is_gs1_family() {
            Status::Invalid
        } else {
            Status::Rejected
        }
    }

    /// The first problem as one line (`AI 17: month 13 is not a month`), or `""`.
    pub fn reason(&self) -> String {
        self.errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// The value of the first element with this AI.
    pub fn element(&self, ai: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| e.value.as_str())
    }

    fn new(symbology: Option<String>, data: String) -> Self {
        Scan {
            kind: Kind::Unknown,
            form: None,
            symbology,
            data,
            gtin: None,
            sscc: None,
            content: None,
            elements: Vec::new(),
            dates: Vec::new(),
            decimals: Vec::new(),
            code: None,
            errors: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, e: impl Into<ScanError>) {
        let e = e.into();
        self.errors.push(e.to_string());
        self.problems.push(e);
    }

    fn reject(&mut self, reason: impl Into<String>) {
        self.problem(ScanError::plain(reason));
    }

    /// The JSON object of `wms-edge scan parse --json`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ok".into(), Value::Bool(self.ok()));
        m.insert("status".into(), Value::from(self.status().as_str()));
        m.insert("kind".into(), Value::from(self.kind.as_str()));
        m.insert(
            "form".into(),
            self.form.map_or(Value::Null, |f| Value::from(f.as_str())),
        );
        m.insert(
            "symbology".into(),
            self.symbology
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        m.insert("data".into(), Value::from(self.data.clone()));
        m.insert("gtin".into(), opt(&self.gtin));
        m.insert("sscc".into(), opt(&self.sscc));
        m.insert(
            "content".into(),
            match &self.content {
                Some(c) => json!({"gtin": c.gtin, "count": c.count}),
                None => Value::Null,
            },
        );
        m.insert(
            "elements".into(),
            Value::Array(
                self.elements
                    .iter()
                    .map(|e| json!({"ai": e.ai, "value": e.value}))
                    .collect(),
            ),
        );
        m.insert("dates".into(), pairs(&self.dates));
        m.insert("decimals".into(), pairs(&self.decimals));
        m.insert(
            "code".into(),
            match &self.code {
                Some(c) => json!({"prefix": c.prefix, "value": c.value}),
                None => Value::Null,
            },
        );
        m.insert(
            "errors".into(),
            Value::Array(self.errors.iter().cloned().map(Value::from).collect()),
        );
        m.insert(
            "invalid".into(),
            Value::Array(
                self.problems
                    .iter()
                    .filter(|_| self.status() == Status::Invalid)
                    .map(|e| json!({"ai": e.ai, "reason": e.reason}))
                    .collect(),
            ),
        );
        Value::Object(m)
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::from).unwrap_or(Value::Null)
}

fn pairs(p: &[(String, String)]) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

/// Remove scanner framing: leading spaces, Tabs and NUL padding, and trailing CR, LF, Tab, space
/// and NUL (the suffixes keyboard-wedge and Tab-terminated scanners are configured with).
pub fn strip_framing(raw: &[u8]) -> &[u8] {
    let pad = |b: &u8| matches!(b, b'\r' | b'\n' | b'\t' | b' ' | 0);
    let start = raw.iter().position(|b| !pad(b)).unwrap_or(raw.len());
    let end = raw.iter().rposition(|b| !pad(b)).map_or(start, |i| i + 1);
    &raw[start..end]
}

/// Split off an AIM symbology identifier `]cm` (`]C1`, `]d2`, `]E0` …) if present. Lenient: any
/// letter and modifier; [`interpret`] refuses identifiers no symbology uses.
pub fn split_aim(data: &[u8]) -> (Option<&str>, &[u8]) {
    if data.len() >= 3
        && data[0] == b']'
        && data[1].is_ascii_alphabetic()
        && data[2].is_ascii_alphanumeric()
    {
        // The three bytes are ASCII, so this cannot fail.
        let id = std::str::from_utf8(&data[..3]).unwrap_or("");
        (Some(id), &data[3..])
    } else {
        (None, data)
    }
}

/// Symbology code characters of ISO/IEC 15424 (`]C…` Code 128, `]d…` Data Matrix, `]Q…` QR …).
const AIM_FLAGS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUXYZcdeghopz";

/// The AIM identifier at the front of `data` (which starts with `]`), or why there is none.
fn aim_of(data: &[u8]) -> Result<(&str, &[u8]), String> {
    match data {
        [b']'] => Err(
            "a lone ']' is not a scan: the scanner sent an AIM prefix without its identifier — scan again"
                .into(),
        ),
        [b']', _] => Err(
            "incomplete AIM symbology identifier — check the scanner's prefix settings".into(),
        ),
        [b']', flag, modifier, rest @ ..]
            if AIM_FLAGS.contains(flag)
                && (modifier.is_ascii_digit() || modifier.is_ascii_uppercase()) =>
        {
            let id = std::str::from_utf8(&data[..3]).unwrap_or("");
            Ok((id, rest))
        }
        _ => {
            let shown: String = data
                .iter()
                .take(3)
                .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
                .collect();
            Err(format!(
                "unknown AIM symbology identifier {shown} — check the scanner's prefix settings"
            ))
        }
    }
}

/// AIM identifiers whose payload is a GS1 element string (FNC1 in first position).
fn is_gs1_symbology(id: &str) -> bool {
    matches!(
        id,
        "]C1" | "]e0" | "]e1" | "]e2" | "]e3" | "]d2" | "]Q3" | "]Q5" | "]J1" | "]z1"
    )
}

/// Numeric GS1 keys: a bare string that parses and carries one is read as GS1.
const BARE_KEYS: &[&str] = &[
    "00", "01", "02", "253", "255", "402", "410", "411", "412", "413", "414", "415", "416", "417",
    "8003", "8006", "8017", "8018",
];

fn is_url(payload: &[u8]) -> bool {
    let head = |p: &[u8]| payload.len() >= p.len() && payload[..p.len()].eq_ignore_ascii_case(p);
    head(b"https://") || head(b"http://")
}

/// Interpret one scan with the current year for two-digit years.
pub fn interpret(raw: &[u8]) -> Scan {
    interpret_with(raw, &Options::default())
}

/// Interpret one scan; `opts` pins the reference year so results are reproducible.
pub fn interpret_with(raw: &[u8], opts: &Options) -> Scan {
    let framed = strip_framing(raw);
    if framed.is_empty() {
        let mut scan = Scan::new(None, String::new());
        scan.reject("empty scan — nothing was read, scan again");
        return scan;
    }
    let (aim, payload) = if framed[0] == b']' {
        match aim_of(framed) {
            Ok((id, rest)) => (Some(id), rest),
            Err(why) => {
                let mut scan = Scan::new(None, String::from_utf8_lossy(framed).into_owned());
                scan.reject(why);
                return scan;
            }
        }
    } else {
        (None, framed)
    };
    let mut scan = Scan::new(
        aim.map(str::to_string),
        String::from_utf8_lossy(payload).into_owned(),
    );
    if payload.is_empty() {
        scan.reject(format!(
            "empty scan after the AIM identifier {} — scan again",
            aim.unwrap_or("")
        ));
        return scan;
    }
    match aim {
        Some(id) if is_gs1_symbology(id) => {
            if is_url(payload) {
                digital_link(&mut scan, payload, opts);
            } else {
                let normalized = gs1::normalize_separators(payload);
                gs1_from(
                    &mut scan,
                    Form::Aim,
                    gs1::parse_element_string(&normalized),
                    opts,
                );
            }
        }
        Some("]E0") | Some("]E3") | Some("]E4") | Some("]X0") => retail(&mut scan, payload, aim),
        _ => classify_plain(&mut scan, payload, opts),
    }
    scan
}

fn starts_with_fnc1(payload: &[u8]) -> bool {
    payload[0] == GS
        || gs1::normalize_separators(&payload[..payload.len().min(6)]).first() == Some(&GS)
}

fn classify_plain(scan: &mut Scan, payload: &[u8], opts: &Options) {
    if starts_with_fnc1(payload) {
        let normalized = gs1::normalize_separators(payload);
        gs1_from(
            scan,
            Form::Bare,
            gs1::parse_element_string(&normalized),
            opts,
        );
        return;
    }
    if payload[0] == b'(' && payload.get(1).is_some_and(u8::is_ascii_digit) {
        match std::str::from_utf8(payload) {
            Ok(text) => gs1_from(scan, Form::Bracketed, gs1::parse_bracketed(text), opts),
            Err(_) => {
                scan.kind = Kind::Gs1;
                scan.form = Some(Form::Bracketed);
                scan.reject("bracketed element string is not valid UTF-8");
            }
        }
        return;
    }
    if let Some(code) = site_code(scan, payload) {
        scan.code = Some(code);
        return;
    }
    if is_url(payload) {
        digital_link(scan, payload, opts);
        return;
    }
    if payload.iter().all(u8::is_ascii_digit) {
        match payload.len() {
            8 | 12 | 13 | 14 => return retail(scan, payload, None),
            18 => return sscc(scan, payload),
            _ => {}
        }
    }
    if payload.len() >= 4 && payload[..2].iter().all(u8::is_ascii_digit) {
        let normalized = gs1::normalize_separators(payload);
        match gs1::parse_element_string(&normalized) {
            Ok(els) => {
                let keyed = els.iter().any(|e| BARE_KEYS.contains(&e.ai.as_str()));
                if keyed || normalized.contains(&GS) {
                    gs1_from(scan, Form::Bare, Ok(els), opts);
                    return;
                }
            }
            Err(e) => {
                if normalized.contains(&GS) || starts_with_key(&normalized) {
                    gs1_from(scan, Form::Bare, Err(e), opts);
                    return;
                }
            }
        }
    }
    unknown(scan, payload)
}

/// Whether `data` begins with a whole numeric GS1 key element (`01` and 14 digits …): then it
/// was printed as GS1, whatever follows.
fn starts_with_key(data: &[u8]) -> bool {
    let Some(def) = ai::lookup(data) else {
        return false;
    };
    if !BARE_KEYS.contains(&def.prefix) {
        return false;
    }
    let Some(total) = ai::predefined_length(data).or_else(|| {
        def.parts
            .first()
            .map(|p| usize::from(def.len) + usize::from(p.min))
    }) else {
        return false;
    };
    data.len() >= total
        && data[usize::from(def.len)..total]
            .iter()
            .all(u8::is_ascii_digit)
}

fn digital_link(scan: &mut Scan, payload: &[u8], opts: &Options) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return unknown(scan, payload);
    };
    if !gs1::looks_like_digital_link(text) {
        // A URL that names no GS1 key is just a code the catalog may know.
        return unknown(scan, payload);
    }
    gs1_from(scan, Form::DigitalLink, gs1::parse_digital_link(text), opts);
}

fn unknown(scan: &mut Scan, payload: &[u8]) {
    scan.kind = Kind::Unknown;
    if let Some(pos) = payload.iter().position(|&b| b < 0x20 || b == 0x7F) {
        scan.reject(format!(
            "unprintable byte 0x{:02X} at position {}",
            payload[pos],
            pos + 1
        ));
    } else if std::str::from_utf8(payload).is_err() {
        scan.reject("scan is not valid UTF-8");
    }
}

fn gs1_from(
    scan: &mut Scan,
    form: Form,
    parsed: crate::error::Result<Vec<Element>>,
    opts: &Options,
) {
    scan.kind = Kind::Gs1;
    scan.form = Some(form);
    let elements = match parsed {
        Ok(e) => e,
        Err(e) => {
            scan.problem(e);
            return;
        }
    };
    for el in &elements {
        match gs1::validate(el, opts) {
            Ok(meaning) => {
                if let Some(d) = meaning.date {
                    scan.dates.push((el.ai.clone(), d));
                }
                if let Some(d) = meaning.decimal {
                    scan.decimals.push((el.ai.clone(), d));
                }
                match el.ai.as_str() {
                    "01" if scan.gtin.is_none() => scan.gtin = Some(el.value.clone()),
                    "00" if scan.sscc.is_none() => scan.sscc = Some(el.value.clone()),
                    "02" if scan.content.is_none() => {
                        scan.content = Some(Content {
                            gtin: el.value.clone(),
                            count: None,
                        })
                    }
                    _ => {}
                }
                if let Some(e) = run_on_key(el) {
                    scan.problem(e);
                }
            }
            Err(e) => scan.problem(e),
        }
    }
    if let (Some(content), Some(count)) = (
        scan.content.as_mut(),
        elements.iter().find(|e| e.ai == "37"),
    ) {
        content.count = count.value.parse().ok();
    }
    let mut seen: Vec<&str> = Vec::with_capacity(elements.len());
    for el in &elements {
        if seen.contains(&el.ai.as_str()) {
            scan.problem(ScanError {
                ai: Some(el.ai.clone()),
                reason: "appears twice".into(),
            });
        }
        seen.push(&el.ai);
    }
    if scan.errors.is_empty() {
        for e in gs1::check_pairings(&elements) {
            scan.problem(e);
        }
    }
    scan.elements = elements;
}

/// A variable-length value that swallowed a GTIN or SSCC (with a valid check digit) that should
/// have followed it after a GS: `10AB1230109506000134352`.
fn run_on_key(el: &Element) -> Option<Error> {
    let def = ai::lookup(el.ai.as_bytes())?;
    // Only a variable-length text value (lot, serial, order number …) can have run on into the
    // next element unnoticed; numeric ones would have failed their own checks.
    if def.fixed_value_len().is_some() || def.parts.iter().any(|p| p.charset != ai::Charset::Cset82)
    {
        return None;
    }
    let v = el.value.as_bytes();
    (1..v.len()).find_map(|k| {
        let rest = &v[k..];
        let len = match rest.get(..2)? {
            b"00" => 18,
            b"01" | b"02" => 14,
            _ => return None,
        };
        let key = rest.get(2..2 + len)?;
        (key.iter().all(u8::is_ascii_digit) && gs1_check_digit_ok(key)).then(|| {
            Error::ai(
                el.ai.clone(),
                format!(
                    "value runs into AI {} ({}) — the GS separator after AI {} is missing",
                    String::from_utf8_lossy(&rest[..2]),
                    String::from_utf8_lossy(key),
                    el.ai
                ),
            )
        })
    })
}

fn retail(scan: &mut Scan, payload: &[u8], aim: Option<&str>) {
    scan.kind = Kind::Gtin;
    if !payload.iter().all(u8::is_ascii_digit) {
        scan.reject("GTIN must be digits only");
        return;
    }
    let digits = match aim {
        // EAN/UPC with a 2- or 5-digit add-on: the add-on follows the 13 digits.
        Some("]E3") if payload.len() == 15 || payload.len() == 18 => &payload[..13],
        _ => payload,
    };
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match digits.len() {
        8 if aim != Some("]E4") && matches!(digits[0], b'0' | b'1') => {
            // Eight digits starting 0/1 are UPC-E unless the scanner said EAN-8 (]E4).
            if let Some(upca) = expand_upc_e(digits) {
                scan.kind = Kind::UpcE;
                check_gtin(scan, format!("00{upca}"), "UPC-E");
                return;
            }
            check_gtin(scan, format!("000000{}", s(digits)), "GTIN");
        }
        7 if aim == Some("]E0") || aim == Some("]X0") => {
            // UPC-E without check digit: compute and report the expanded GTIN.
            match expand_upc_e_body(digits) {
                Some(body) => {
                    scan.kind = Kind::UpcE;
                    let cd = gs1_check_digit(body.as_bytes()).unwrap_or(0);
                    scan.gtin = Some(format!("00{body}{cd}"));
                }
                None => scan.reject("UPC-E number system must be 0 or 1"),
            }
        }
        8 => check_gtin(scan, format!("000000{}", s(digits)), "GTIN"),
        12 => check_gtin(scan, format!("00{}", s(digits)), "GTIN"),
        13 => check_gtin(scan, format!("0{}", s(digits)), "GTIN"),
        14 => check_gtin(scan, s(digits), "GTIN"),
        n => scan.reject(format!("GTIN must be 8, 12, 13 or 14 digits, got {n}")),
    }
}

fn check_gtin(scan: &mut Scan, gtin14: String, what: &str) {
    if gs1_check_digit_ok(gtin14.as_bytes()) {
        scan.gtin = Some(gtin14);
    } else {
        let want = gs1_check_digit(&gtin14.as_bytes()[..13]).unwrap_or(0);
        scan.reject(format!("{what} check digit should be {want}"));
    }
}

fn sscc(scan: &mut Scan, payload: &[u8]) {
    scan.kind = Kind::Sscc;
    if gs1_check_digit_ok(payload) {
        scan.sscc = Some(String::from_utf8_lossy(payload).into_owned());
    } else {
        let want = gs1_check_digit(&payload[..17]).unwrap_or(0);
        scan.reject(format!("SSCC check digit should be {want}"));
    }
}

/// Expand a UPC-E number (number system, six digits, check digit) to the 12-digit UPC-A it
/// stands for, or `None` when it is not UPC-E shaped. The check digit is not verified here.
pub fn expand_upc_e(upce: &[u8]) -> Option<String> {
    if upce.len() != 8 {
        return None;
    }
    let body = expand_upc_e_body(&upce[..7])?;
    Some(format!("{body}{}", upce[7] as char))
}

fn expand_upc_e_body(ns_and_six: &[u8]) -> Option<String> {
    if ns_and_six.len() != 7 || !ns_and_six.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ns = ns_and_six[0];
    if ns != b'0' && ns != b'1' {
        return None;
    }
    let d: Vec<char> = ns_and_six[1..].iter().map(|&b| b as char).collect();
    let (d1, d2, d3, d4, d5, d6) = (d[0], d[1], d[2], d[3], d[4], d[5]);
    let body: String = match d6 {
        '0' | '1' | '2' => [d1, d2, d6, '0', '0', '0', '0', d3, d4, d5]
            .iter()
            .collect(),
        '3' => [d1, d2, d3, '0', '0', '0', '0', '0', d4, d5]
            .iter()
            .collect(),
        '4' => [d1, d2, d3, d4, '0', '0', '0', '0', '0', d5]
            .iter()
            .collect(),
        _ => [d1, d2, d3, d4, d5, '0', '0', '0', '0', d6]
            .iter()
            .collect(),
    };
    Some(format!("{}{body}", ns as char))
}

fn site_code(scan: &mut Scan, payload: &[u8]) -> Option<SiteCode> {
    let colon = payload.iter().take(5).position(|&b| b == b':')?;
    let prefix_raw = &payload[..colon];
    let (prefix, kind): (&'static str, Kind) = match prefix_raw.to_ascii_uppercase().as_slice() {
        b"EMP" => ("EMP", Kind::Badge),
        b"LOC" => ("LOC", Kind::Location),
        b"TOTE" => ("TOTE", Kind::Tote),
        b"ORD" => ("ORD", Kind::Order),
        b"CMD" => ("CMD", Kind::Control),
        b"PIN" => ("PIN", Kind::Control),
        b"QTY" => ("QTY", Kind::Control),
        b"CPN" => ("CPN", Kind::Control),
        b"CUST" => ("CUST", Kind::Control),
        _ => return None,
    };
    scan.kind = kind;
    let value_bytes = &payload[colon + 1..];
    let value = String::from_utf8_lossy(value_bytes).into_owned();
    if value.is_empty() {
        scan.reject(format!("{prefix}: value is empty"));
    } else if let Some(b) = value_bytes.iter().find(|&&b| b < 0x20 || b == 0x7F) {
        scan.reject(format!("{prefix}: unprintable byte 0x{b:02X}"));
    } else if value.chars().count() > 64 {
        scan.reject(format!("{prefix}: value longer than 64 characters"));
    } else {
        match prefix {
            "CMD" => {
                let verb = value.to_ascii_uppercase();
                if !COMMAND_VERBS.contains(&verb.as_str()) {
                    scan.reject(format!(
                        "CMD: unknown verb {value:?} (known: {})",
                        COMMAND_VERBS.join(", ")
                    ));
                }
                return Some(SiteCode {
                    prefix,
                    value: verb,
                });
            }
            "PIN"
                if !(4..=12).contains(&value.len())
                    || !value.bytes().all(|b| b.is_ascii_digit()) =>
            {
                scan.reject("PIN: must be 4 to 12 digits");
            }
            "QTY" => match value.parse::<u32>() {
                Ok(q) if (1..=99_999).contains(&q) && value.bytes().all(|b| b.is_ascii_digit()) => {
                }
                _ => scan.reject(format!("QTY: {value:?} is not a quantity from 1 to 99999")),
            },
            _ => {}
        }
    }
    Some(SiteCode { prefix, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(raw: &[u8]) -> Scan {
        interpret_with(
            raw,
            &Options {
                reference_year: 2026,
            },
        )
    }

    #[test]
    fn sscc_with_aim_and_cr() {
        let s = scan(b"]C100106141411234567897\r");
        assert!(s.ok(), "{:?}", s.errors);
        assert_eq!(s.kind, Kind::Gs1);
        assert_eq!(s.symbology.as_deref(), Some("]C1"));
        assert_eq!(s.sscc.as_deref(), Some("106141411234567897"));
    }

    #[test]
    fn gs1_datamatrix_with_separator() {
        let s = scan(b"]d2011231231231233310ABC123\x1D99TESTING\r\n");
        assert!(s.ok(), "{:?}", s.errors);
        assert_eq!(s.gtin.as_deref(), Some("12312312312333"));
        assert_eq!(s.elements.len(), 3);
    }

    #[test]
    fn retail_codes() {
        let s = scan(b"]E05901234123457");
        assert_eq!(
            (s.kind, s.gtin.as_deref()),
            (Kind::Gtin, Some("05901234123457"))
        );
        let s = scan(b"]E00416000336108");
        assert_eq!(s.gtin.as_deref(), Some("00416000336108"));
        let s = scan(b"]E402345673");
        assert_eq!(s.gtin.as_deref(), Some("00000002345673"));
        let s = scan(b"5901234123458");
        assert_eq!(s.reason(), "GTIN check digit should be 7");
        assert_eq!(s.status(), Status::Invalid);
    }

    #[test]
    fn upc_e_expands() {
        // UPC-E 04252614 ↔ UPC-A 042100005264
        let s = scan(b"04252614");
        assert_eq!(s.kind, Kind::UpcE);
        assert_eq!(s.gtin.as_deref(), Some("00042100005264"));
        assert!(s.ok());
    }

    #[test]
    fn site_codes() {
        let s = scan(b"LOC:A-03-2\r");
        assert_eq!(
            (s.kind, s.code.as_ref().map(|c| c.value.as_str())),
            (Kind::Location, Some("A-03-2"))
        );
        assert_eq!(scan(b"EMP:1042").kind, Kind::Badge);
        assert_eq!(scan(b"TOTE:T-17").kind, Kind::Tote);
        assert_eq!(scan(b"ORD:SO-1001").kind, Kind::Order);
        let s = scan(b"CMD:done");
        assert!(s.ok());
        assert_eq!(s.code.map(|c| c.value), Some("DONE".to_string()));
        assert!(!scan(b"CMD:EXPLODE").ok());
        assert!(scan(b"PIN:1234").ok());
        assert!(!scan(b"PIN:12a4").ok());
        assert!(scan(b"QTY:12").ok());
        assert!(!scan(b"QTY:0").ok());
        assert!(!scan(b"LOC:").ok());
        let s = scan(b"CPN:SPRING10");
        assert_eq!(
            (
                s.kind,
                s.code.as_ref().map(|c| (c.prefix, c.value.as_str()))
            ),
            (Kind::Control, Some(("CPN", "SPRING10")))
        );
        let s = scan(b"CUST:L-0042");
        assert_eq!(s.code.map(|c| c.prefix), Some("CUST"));
        for verb in ["CASH", "CARD", "PRICE", "VOID"] {
            assert!(scan(format!("CMD:{verb}").as_bytes()).ok(), "{verb}");
        }
    }

    #[test]
    fn unknown_and_empty() {
        let s = scan(b"TSHIRT-M\r\n");
        assert_eq!(s.kind, Kind::Unknown);
        assert!(s.ok());
        assert!(!scan(b"\r\n").ok());
        assert!(!scan(b"AB\x07C").ok());
    }

    #[test]
    fn bracketed_and_leading_gs() {
        let s = scan(b"(01)09501101530003(17)271301");
        assert_eq!(s.reason(), "AI 17: month 13 is not a month");
        assert_eq!(s.problems[0].ai.as_deref(), Some("17"));
        let s = scan(b"\x1D0109501101530003");
        assert!(s.ok());
        assert_eq!(s.gtin.as_deref(), Some("09501101530003"));
    }

    #[test]
    fn json_shape() {
        let v = scan(b"]C1010950110153000317270300\x1D3103001234").to_json();
        // 17 then 3103: 17 is predefined length, so no GS is needed but one is tolerated.
        assert_eq!(v["ok"], true);
        assert_eq!(v["kind"], "gs1");
        assert_eq!(v["dates"]["17"], "2027-03-31");
        assert_eq!(v["decimals"]["3103"], "1.234");
        assert_eq!(v["elements"][0]["ai"], "01");
    }
}
