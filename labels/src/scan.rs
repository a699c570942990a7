//! Interpretation of one scan exactly as the floor reads it: scanner framing and the AIM
//! symbology identifier are removed, then the payload is classified (GS1 element string, GTIN,
//! UPC-E, SSCC, the site's control codes of the scan grammar, or a code only the catalog knows).

use crate::check::{gs1_check_digit, gs1_check_digit_ok};
use crate::gs1::{self, Element, Options, GS};
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
    /// The AIM symbology identifier (`]C1`) when the scanner sent one.
    pub symbology: Option<String>,
    /// The payload without framing and AIM id (GS kept as the byte).
    pub data: String,
    /// GTIN-14 for GTIN/UPC-E scans and GS1 strings carrying AI 01.
    pub gtin: Option<String>,
    /// SSCC-18 for SSCC scans and GS1 strings carrying AI 00.
    pub sscc: Option<String>,
    pub elements: Vec<Element>,
    /// `(ai, ISO date)` for date AIs.
    pub dates: Vec<(String, String)>,
    /// `(ai, decimal)` for decimal AIs.
    pub decimals: Vec<(String, String)>,
    pub code: Option<SiteCode>,
    /// Why the scan is rejected; empty when it is accepted.
    pub errors: Vec<String>,
}

impl Scan {
    /// Whether the scan is accepted.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    fn new(symbology: Option<String>, data: String) -> Self {
        Scan {
            kind: Kind::Unknown,
            symbology,
            data,
            gtin: None,
            sscc: None,
            elements: Vec::new(),
            dates: Vec::new(),
            decimals: Vec::new(),
            code: None,
            errors: Vec::new(),
        }
    }

    /// The JSON object of `wms-edge scan parse --json`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ok".into(), Value::Bool(self.ok()));
        m.insert("kind".into(), Value::from(self.kind.as_str()));
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

/// Remove scanner framing: any trailing CR, LF and TAB (suffixes scanners are configured with).
pub fn strip_framing(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b'\r' | b'\n' | b'\t') {
        end -= 1;
    }
    &raw[..end]
}

/// Split off an AIM symbology identifier `]cm` (`]C1`, `]d2`, `]E0` …) if present.
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

/// AIM identifiers whose payload is a GS1 element string (FNC1 in first position).
fn is_gs1_symbology(id: &str) -> bool {
    matches!(
        id,
        "]C1" | "]e0" | "]e1" | "]e2" | "]d2" | "]Q3" | "]Q5" | "]J1"
    )
}

/// Interpret one scan with the current year for two-digit years.
pub fn interpret(raw: &[u8]) -> Scan {
    interpret_with(raw, &Options::default())
}

/// Interpret one scan; `opts` pins the reference year so results are reproducible.
pub fn interpret_with(raw: &[u8], opts: &Options) -> Scan {
    let framed = strip_framing(raw);
    let (aim, payload) = split_aim(framed);
    let mut scan = Scan::new(
        aim.map(str::to_string),
        String::from_utf8_lossy(payload).into_owned(),
    );
    if payload.is_empty() {
        scan.errors.push("empty scan".into());
        return scan;
    }
    match aim {
        Some(id) if is_gs1_symbology(id) => {
            gs1_from(&mut scan, gs1::parse_element_string(payload), opts);
            return scan;
        }
        Some("]E0") | Some("]E3") | Some("]E4") | Some("]X0") => {
            retail(&mut scan, payload, aim);
            return scan;
        }
        _ => {}
    }
    classify_plain(&mut scan, payload, opts);
    scan
}

fn classify_plain(scan: &mut Scan, payload: &[u8], opts: &Options) {
    if payload[0] == GS {
        gs1_from(scan, gs1::parse_element_string(payload), opts);
        return;
    }
    if payload[0] == b'(' && payload.get(1).is_some_and(u8::is_ascii_digit) {
        match std::str::from_utf8(payload) {
            Ok(text) => gs1_from(scan, gs1::parse_bracketed(text), opts),
            Err(_) => {
                scan.kind = Kind::Gs1;
                scan.errors
                    .push("bracketed element string is not valid UTF-8".into());
            }
        }
        return;
    }
    if let Some(code) = site_code(scan, payload) {
        scan.code = Some(code);
        return;
    }
    let lower_start: Vec<u8> = payload.iter().take(8).map(u8::to_ascii_lowercase).collect();
    if lower_start.starts_with(b"https://") || lower_start.starts_with(b"http://") {
        if let Ok(text) = std::str::from_utf8(payload) {
            if let Ok(els) = gs1::parse_digital_link(text) {
                gs1_from(scan, Ok(els), opts);
                return;
            }
        }
        // A URL that is not a Digital Link is just an unknown code.
        return unknown(scan, payload);
    }
    if payload.iter().all(u8::is_ascii_digit) {
        match payload.len() {
            8 | 12 | 13 | 14 => return retail(scan, payload, None),
            18 => return sscc(scan, payload),
            _ => {}
        }
        // Digits starting with AI 00/01/02 and parsing cleanly: a GS1 string sent without AIM id.
        if payload.len() > 16 && matches!(&payload[..2], b"00" | b"01" | b"02") {
            if let Ok(els) = gs1::parse_element_string(payload) {
                let mut trial = scan.clone();
                gs1_from(&mut trial, Ok(els), opts);
                if trial.ok() {
                    *scan = trial;
                    return;
                }
            }
        }
    } else if payload.contains(&GS) && payload[0].is_ascii_digit() {
        gs1_from(scan, gs1::parse_element_string(payload), opts);
        return;
    }
    unknown(scan, payload)
}

fn unknown(scan: &mut Scan, payload: &[u8]) {
    scan.kind = Kind::Unknown;
    if let Some(pos) = payload.iter().position(|&b| b < 0x20 || b == 0x7F) {
        scan.errors.push(format!(
            "unprintable byte 0x{:02X} at position {}",
            payload[pos],
            pos + 1
        ));
    } else if std::str::from_utf8(payload).is_err() {
        scan.errors.push("scan is not valid UTF-8".into());
    }
}

fn gs1_from(scan: &mut Scan, parsed: crate::error::Result<Vec<Element>>, opts: &Options) {
    scan.kind = Kind::Gs1;
    let elements = match parsed {
        Ok(e) => e,
        Err(e) => {
            scan.errors.push(e.to_string());
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
                if el.ai == "01" && scan.gtin.is_none() {
                    scan.gtin = Some(el.value.clone());
                }
                if el.ai == "00" && scan.sscc.is_none() {
                    scan.sscc = Some(el.value.clone());
                }
            }
            Err(e) => scan.errors.push(e.to_string()),
        }
    }
    let mut seen: Vec<&str> = Vec::with_capacity(elements.len());
    for el in &elements {
        if seen.contains(&el.ai.as_str()) {
            scan.errors.push(format!("AI {} appears twice", el.ai));
        }
        seen.push(&el.ai);
    }
    scan.elements = elements;
}

fn retail(scan: &mut Scan, payload: &[u8], aim: Option<&str>) {
    scan.kind = Kind::Gtin;
    if !payload.iter().all(u8::is_ascii_digit) {
        scan.errors.push("GTIN must be digits only".into());
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
                None => scan
                    .errors
                    .push("UPC-E number system must be 0 or 1".into()),
            }
        }
        8 => check_gtin(scan, format!("000000{}", s(digits)), "GTIN"),
        12 => check_gtin(scan, format!("00{}", s(digits)), "GTIN"),
        13 => check_gtin(scan, format!("0{}", s(digits)), "GTIN"),
        14 => check_gtin(scan, s(digits), "GTIN"),
        n => scan
            .errors
            .push(format!("GTIN must be 8, 12, 13 or 14 digits, got {n}")),
    }
}

fn check_gtin(scan: &mut Scan, gtin14: String, what: &str) {
    if gs1_check_digit_ok(gtin14.as_bytes()) {
        scan.gtin = Some(gtin14);
    } else {
        let want = gs1_check_digit(&gtin14.as_bytes()[..13]).unwrap_or(0);
        scan.errors
            .push(format!("{what} check digit should be {want}"));
    }
}

fn sscc(scan: &mut Scan, payload: &[u8]) {
    scan.kind = Kind::Sscc;
    if gs1_check_digit_ok(payload) {
        scan.sscc = Some(String::from_utf8_lossy(payload).into_owned());
    } else {
        let want = gs1_check_digit(&payload[..17]).unwrap_or(0);
        scan.errors
            .push(format!("SSCC check digit should be {want}"));
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
        scan.errors.push(format!("{prefix}: value is empty"));
    } else if let Some(b) = value_bytes.iter().find(|&&b| b < 0x20 || b == 0x7F) {
        scan.errors
            .push(format!("{prefix}: unprintable byte 0x{b:02X}"));
    } else if value.chars().count() > 64 {
        scan.errors
            .push(format!("{prefix}: value longer than 64 characters"));
    } else {
        match prefix {
            "CMD" => {
                let verb = value.to_ascii_uppercase();
                if !COMMAND_VERBS.contains(&verb.as_str()) {
                    scan.errors.push(format!(
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
                scan.errors.push("PIN: must be 4 to 12 digits".into());
            }
            "QTY" => match value.parse::<u32>() {
                Ok(q) if (1..=99_999).contains(&q) && value.bytes().all(|b| b.is_ascii_digit()) => {
                }
                _ => scan
                    .errors
                    .push(format!("QTY: {value:?} is not a quantity from 1 to 99999")),
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
        assert_eq!(s.errors, vec!["GTIN check digit should be 7".to_string()]);
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
        assert_eq!(s.errors, vec!["AI 17: month 13 is not a month".to_string()]);
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
