//! GS1 element strings: parsing (FNC1/GS-separated, bracketed human-readable form, Digital Link
//! URIs), value validation against the AI table, and building with separators exactly where the
//! GS1 General Specifications require them.

pub mod ai;
mod link;

pub use link::{looks_like_digital_link, parse_digital_link, DigitalLinkBuilder};

use crate::check::{gs1_check_digit, gs1_check_digit_ok};
use crate::error::{Error, Result};
use ai::{AiDef, Charset, Lint};

/// The GS byte that stands for FNC1 in a transmitted element string.
pub const GS: u8 = 0x1D;

/// One AI with its raw value, in the order it appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The AI digits, e.g. `"01"` or `"3103"`.
    pub ai: String,
    /// The value exactly as encoded.
    pub value: String,
}

impl Element {
    /// An element from an AI and its value (not yet validated; `validate` or the builder do that).
    pub fn new(ai: impl Into<String>, value: impl Into<String>) -> Self {
        Element {
            ai: ai.into(),
            value: value.into(),
        }
    }
}

/// What a validated element means beyond its raw value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meaning {
    /// ISO 8601 date or date-time for date AIs.
    pub date: Option<String>,
    /// The value with the decimal point applied, for 310n–369n, 390n–395n.
    pub decimal: Option<String>,
}

/// Settings that make parsing deterministic: the year that two-digit years are read relative to.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Current year for the GS1 century rule (YY within -49..+50 years of it).
    pub reference_year: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reference_year: current_year(),
        }
    }
}

/// The current UTC year from the system clock (only used to resolve two-digit years).
pub fn current_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    civil_year(days)
}

fn civil_year(days_since_epoch: i64) -> i32 {
    // Howard Hinnant's days-to-civil, year part only.
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as i32
}

fn err(ai: &str, msg: impl std::fmt::Display) -> Error {
    Error::ai(ai, msg.to_string())
}

/// Spellings of FNC1 that scanners and people use where the GS byte cannot travel (a keyboard
/// wedge, a form field, a text file): replaced by GS before an element string is parsed. None of
/// them can occur inside a valid value (`^ { [ ␝` are outside GS1 character set 82; `<GS>` and
/// `<FNC1>` only in the implausible case of a value spelling them out).
const PLACEHOLDERS: &[&[u8]] = &[
    b"{FNC1}",
    b"<FNC1>",
    b"[FNC1]",
    b"{GS}",
    b"<GS>",
    b"[GS]",
    "\u{241D}".as_bytes(),
    b"^",
];

/// `data` with every FNC1 placeholder replaced by GS (borrowed when there is none, which keeps
/// the common path free of allocations).
pub fn normalize_separators(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !data
        .iter()
        .any(|b| matches!(b, b'^' | b'{' | b'<' | b'[' | 0xE2))
    {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    'next: while i < data.len() {
        for p in PLACEHOLDERS {
            if data[i..].starts_with(p) {
                out.push(GS);
                i += p.len();
                continue 'next;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// Parse an unbracketed element string as transmitted by a scanner after the AIM id: elements
/// back to back, a GS after each variable-length value that is followed by another element. A
/// leading GS (FNC1 in first position sent as a byte) and a trailing GS are tolerated.
pub fn parse_element_string(data: &[u8]) -> Result<Vec<Element>> {
    let mut out = Vec::with_capacity(4);
    let mut rest = data;
    while let Some((&GS, tail)) = rest.split_first() {
        rest = tail;
    }
    if rest.is_empty() {
        return Err(Error::Gs1("empty element string".into()));
    }
    while !rest.is_empty() {
        let def = ai::lookup(rest).ok_or_else(|| unknown_ai(rest))?;
        let ai_len = usize::from(def.len);
        let ai_str = ascii(&rest[..ai_len]);
        let body = &rest[ai_len..];
        let (value, next) = if let Some(total) = ai::predefined_length(rest) {
            let vlen = total - ai_len;
            if body.len() < vlen || body[..vlen].contains(&GS) {
                let got = body.iter().take_while(|&&b| b != GS).count();
                return Err(err(
                    &ai_str,
                    format!("value is {got} characters, it must be {vlen}"),
                ));
            }
            (&body[..vlen], &body[vlen..])
        } else {
            let end = body.iter().position(|&b| b == GS).unwrap_or(body.len());
            (&body[..end], &body[end..])
        };
        let value = std::str::from_utf8(value).map_err(|_| err(&ai_str, "value is not ASCII"))?;
        out.push(Element {
            ai: ai_str,
            value: value.to_string(),
        });
        rest = next;
        while let Some((&GS, tail)) = rest.split_first() {
            rest = tail;
        }
    }
    Ok(out)
}

fn unknown_ai(rest: &[u8]) -> Error {
    let digits: String = rest
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    if digits.len() < 2 {
        let shown: String = rest
            .iter()
            .take(4)
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect();
        Error::Gs1(format!("expected an AI (digits) at {shown:?}"))
    } else {
        Error::ai(
            digits,
            "no GS1 Application Identifier starts with these digits",
        )
    }
}

fn ascii(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// Parse the human-readable form `(01)09501101530003(10)ABC123`. A literal parenthesis inside a
/// value is written `\(`; spaces around an element (as printed under a symbol) are ignored,
/// since no GS1 value may contain one.
pub fn parse_bracketed(text: &str) -> Result<Vec<Element>> {
    let b = text.trim().as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    if b.first() != Some(&b'(') {
        return Err(Error::Gs1(
            "bracketed element string must start with '('".into(),
        ));
    }
    while i < b.len() {
        if b[i] != b'(' {
            return Err(Error::Gs1(format!("expected '(' at position {}", i + 1)));
        }
        let close = b[i + 1..]
            .iter()
            .position(|&c| c == b')')
            .ok_or_else(|| Error::Gs1("unclosed '(' around an AI".into()))?;
        let ai_bytes = &b[i + 1..i + 1 + close];
        let ai_text = String::from_utf8_lossy(ai_bytes).into_owned();
        if ai_bytes.is_empty() || !ai_bytes.iter().all(u8::is_ascii_digit) {
            return Err(Error::Gs1(format!("({ai_text}) is not an AI")));
        }
        if ai::lookup(ai_bytes)
            .filter(|d| usize::from(d.len) == ai_bytes.len())
            .is_none()
        {
            return Err(err(&ai_text, "no such GS1 Application Identifier"));
        }
        i += close + 2;
        let mut value = String::new();
        while i < b.len() && b[i] != b'(' {
            if b[i] == b'\\' && b.get(i + 1) == Some(&b'(') {
                value.push('(');
                i += 2;
                continue;
            }
            // Push the whole UTF-8 character so non-ASCII input reports cleanly later.
            let ch_len = utf8_len(b[i]);
            let end = (i + ch_len).min(b.len());
            value.push_str(std::str::from_utf8(&b[i..end]).unwrap_or("\u{FFFD}"));
            i = end;
        }
        out.push(Element {
            ai: ai_text,
            value: value.trim_matches(' ').to_string(),
        });
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// The problems of combining these elements in one scan: an AI missing that another needs (a lot
/// without the GTIN it belongs to), or two AIs that may not appear together (a GTIN and a content
/// GTIN). Each problem names the AI it is about.
pub fn check_pairings(elements: &[Element]) -> Vec<Error> {
    let mut problems = Vec::new();
    let present = |pattern: &str, skip: usize| {
        elements
            .iter()
            .enumerate()
            .find(|(i, o)| *i != skip && ai::matches_pattern(&o.ai, pattern))
            .map(|(_, o)| o.ai.as_str())
    };
    for (i, el) in elements.iter().enumerate() {
        let Some(rule) = ai::pairing(&el.ai) else {
            continue;
        };
        for group in rule.requires {
            if !group.iter().any(|p| present(p, usize::MAX).is_some()) {
                problems.push(err(
                    &el.ai,
                    format!("needs AI {} in the same scan", group.join(" or ")),
                ));
            }
        }
        for pattern in rule.excludes {
            if let Some(other) = present(pattern, i) {
                // A pair both sides exclude is reported once, at its first element.
                let mutual = elements
                    .iter()
                    .position(|o| o.ai == other)
                    .is_some_and(|j| j < i)
                    && ai::pairing(other)
                        .is_some_and(|r| r.excludes.iter().any(|p| ai::matches_pattern(&el.ai, p)));
                if !mutual {
                    problems.push(err(&el.ai, format!("cannot appear with AI {other}")));
                }
            }
        }
    }
    problems
}

/// Check one element's value against the AI table and work out its meaning (date, decimal).
pub fn validate(el: &Element, opts: &Options) -> Result<Meaning> {
    let def = ai::lookup(el.ai.as_bytes())
        .filter(|d| usize::from(d.len) == el.ai.len())
        .ok_or_else(|| err(&el.ai, "no such GS1 Application Identifier"))?;
    let v = el.value.as_bytes();
    let ai = el.ai.as_str();
    if v.is_empty() {
        return Err(err(ai, "value is empty"));
    }
    if let Some(fixed) = def.fixed_value_len() {
        if v.len() != fixed {
            return Err(err(
                ai,
                format!("value is {} characters, it must be {fixed}", v.len()),
            ));
        }
    } else if v.len() > def.max_value_len() {
        // Where a scanner dropped the GS after a variable-length value, the next element runs
        // into it; saying so points at the printing fault rather than at the value.
        let hint = if def.needs_separator() {
            " (is the GS separator after it missing?)"
        } else {
            ""
        };
        return Err(err(
            ai,
            format!(
                "value is {} characters, at most {} allowed{hint}",
                v.len(),
                def.max_value_len()
            ),
        ));
    }
    let mut meaning = Meaning::default();
    let mut pos = 0usize;
    for (idx, part) in def.parts.iter().enumerate() {
        let remaining = v.len() - pos;
        let take = if idx + 1 == def.parts.len() {
            remaining
        } else {
            usize::from(part.max).min(remaining)
        };
        let seg = &v[pos..pos + take];
        if seg.len() < usize::from(part.min) {
            return Err(err(
                ai,
                format!(
                    "value is {} characters, at least {} needed",
                    v.len(),
                    pos + usize::from(part.min)
                ),
            ));
        }
        if seg.len() > usize::from(part.max) {
            return Err(err(
                ai,
                format!(
                    "value is {} characters, at most {} allowed",
                    v.len(),
                    def.max_value_len()
                ),
            ));
        }
        for (k, &c) in seg.iter().enumerate() {
            let ok = match part.charset {
                Charset::Numeric => c.is_ascii_digit(),
                Charset::Cset82 => ai::in_cset82(c),
                Charset::Cset39 => ai::in_cset39(c),
                Charset::Cset64 => ai::in_cset64(c),
            };
            if !ok {
                let what = match part.charset {
                    Charset::Numeric => "must be a digit",
                    _ => "is not allowed in GS1 data",
                };
                return Err(err(
                    ai,
                    format!("character {} {what}", describe_char(c, pos + k + 1)),
                ));
            }
        }
        lint_part(def, ai, part.lint, seg, opts, &mut meaning, pos == 0)?;
        pos += take;
    }
    if let Some(maxd) = def.max_decimals {
        let n = usize::from(el.ai.as_bytes()[3] - b'0');
        let _ = maxd;
        // The amount is the last component (after a currency/country code for 391n/393n).
        let amount_start = if def.parts.len() > 1 { 3 } else { 0 };
        if let Some(amount) = el.value.get(amount_start..) {
            meaning.decimal = Some(apply_decimal(amount, n));
        }
    }
    Ok(meaning)
}

fn describe_char(c: u8, pos: usize) -> String {
    if c.is_ascii_graphic() {
        format!("'{}' at position {pos}", c as char)
    } else {
        format!("0x{c:02X} at position {pos}")
    }
}

fn lint_part(
    def: &AiDef,
    ai: &str,
    lint: Lint,
    seg: &[u8],
    opts: &Options,
    meaning: &mut Meaning,
    first: bool,
) -> Result<()> {
    if seg.is_empty() {
        // An optional component that is absent has nothing to check.
        return Ok(());
    }
    match lint {
        Lint::None => {}
        Lint::CheckDigit(what) => {
            if !gs1_check_digit_ok(seg) {
                let want = gs1_check_digit(&seg[..seg.len() - 1]).unwrap_or(0);
                return Err(err(ai, format!("{what} check digit should be {want}")));
            }
        }
        Lint::Date { day00 } => {
            if seg.len() != 6 {
                return Err(err(ai, "a date must be six digits, YYMMDD"));
            }
            let iso = check_yymmdd(ai, seg, day00, opts)?;
            match meaning.date.as_mut() {
                // A second date (7007's harvest period) makes an ISO 8601 interval.
                Some(start) if !first => {
                    start.push('/');
                    start.push_str(&iso);
                }
                _ => meaning.date = Some(iso),
            }
        }
        Lint::DateTime { day00 } => {
            let iso = check_yymmdd(ai, &seg[..6], day00, opts)?;
            let t = check_time(ai, &seg[6..])?;
            meaning.date = Some(format!("{iso}T{t}"));
        }
        Lint::FullDate => {
            let year = digits_u32(&seg[..4]) as i32;
            let month = digits_u32(&seg[4..6]);
            let day = digits_u32(&seg[6..8]);
            check_month_day(ai, year, month, day, false)?;
            meaning.date = Some(format!("{year:04}-{month:02}-{day:02}"));
        }
        Lint::Time => {
            if !seg.is_empty() {
                let t = check_time(ai, seg)?;
                if let Some(d) = meaning.date.as_mut() {
                    d.push('T');
                    d.push_str(&t);
                }
            }
        }
        Lint::Iso3 => {
            if seg == b"000" {
                return Err(err(ai, "000 is not an ISO country or currency code"));
            }
        }
        Lint::Flag => {
            if seg != b"0" && seg != b"1" {
                return Err(err(ai, "value must be 0 or 1"));
            }
        }
    }
    let _ = def;
    Ok(())
}

fn digits_u32(b: &[u8]) -> u32 {
    b.iter()
        .fold(0u32, |a, &c| a * 10 + u32::from(c.wrapping_sub(b'0') % 10))
}

fn check_time(ai: &str, seg: &[u8]) -> Result<String> {
    if seg.len() % 2 != 0 || seg.len() > 6 {
        return Err(err(ai, "time must be hh, hhmm or hhmmss"));
    }
    let mut parts = Vec::new();
    for (i, pair) in seg.chunks(2).enumerate() {
        let v = digits_u32(pair);
        let (limit, name) = match i {
            0 => (23, "hour"),
            1 => (59, "minute"),
            _ => (59, "second"),
        };
        if v > limit {
            return Err(err(
                ai,
                format!(
                    "{name} {v} is not a{} {name}",
                    if name == "hour" { "n" } else { "" }
                ),
            ));
        }
        parts.push(format!("{v:02}"));
    }
    while parts.len() < 2 {
        parts.push("00".into());
    }
    Ok(parts.join(":"))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn check_month_day(ai: &str, year: i32, month: u32, day: u32, day00: bool) -> Result<u32> {
    if !(1..=12).contains(&month) {
        return Err(err(ai, format!("month {month} is not a month")));
    }
    let dim = days_in_month(year, month);
    if day == 0 {
        if day00 {
            return Ok(dim);
        }
        return Err(err(ai, "day 00 is not a day"));
    }
    if day > dim {
        return Err(err(
            ai,
            format!("day {day} is not a day of {year:04}-{month:02} (it has {dim})"),
        ));
    }
    Ok(day)
}

/// Resolve a two-digit year with the GS1 rule: within 49 years back and 50 years ahead of the
/// reference year.
pub fn resolve_year(yy: u32, reference_year: i32) -> i32 {
    let century = reference_year.div_euclid(100) * 100;
    let diff = yy as i32 - reference_year.rem_euclid(100);
    if diff >= 51 {
        century - 100 + yy as i32
    } else if diff <= -50 {
        century + 100 + yy as i32
    } else {
        century + yy as i32
    }
}

fn check_yymmdd(ai: &str, seg: &[u8], day00: bool, opts: &Options) -> Result<String> {
    let yy = digits_u32(&seg[0..2]);
    let month = digits_u32(&seg[2..4]);
    let day = digits_u32(&seg[4..6]);
    let year = resolve_year(yy, opts.reference_year);
    let day = check_month_day(ai, year, month, day, day00)?;
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

/// Insert the decimal point `n` digits from the right and drop superfluous leading zeros:
/// `("001234", 3)` → `"1.234"`.
pub fn apply_decimal(digits: &str, n: usize) -> String {
    let (int_part, frac) = if n >= digits.len() {
        ("", digits)
    } else {
        digits.split_at(digits.len() - n)
    };
    let int_trim = int_part.trim_start_matches('0');
    let int_out = if int_trim.is_empty() { "0" } else { int_trim };
    if n == 0 {
        int_out.to_string()
    } else {
        format!("{int_out}.{frac:0>n$}")
    }
}

/// A validated list of elements that knows how to encode itself for scanners and printers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElementString {
    elements: Vec<Element>,
}

/// One unit of a GS1-128 symbol's content: a data character or FNC1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    Fnc1,
    Char(u8),
}

impl ElementString {
    /// An empty element string; add elements with [`ElementString::push`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one element after validating it against the AI table, so an invalid value fails here
    /// and not on the scanner at the customer's dock.
    pub fn push(&mut self, ai: &str, value: &str) -> Result<&mut Self> {
        let el = Element::new(ai, value);
        validate(&el, &Options::default())?;
        self.elements.push(el);
        Ok(self)
    }

    /// Build from already-separated elements, validating each.
    pub fn from_elements(elements: Vec<Element>) -> Result<Self> {
        let opts = Options::default();
        for el in &elements {
            validate(el, &opts)?;
        }
        Ok(ElementString { elements })
    }

    /// The elements in order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// Symbol content: FNC1 first, then each element; FNC1 after a value only when the AI is not
    /// of predefined length and another element follows.
    pub fn symbols(&self) -> Vec<Symbol> {
        let mut out = vec![Symbol::Fnc1];
        for (i, el) in self.elements.iter().enumerate() {
            out.extend(el.ai.bytes().map(Symbol::Char));
            out.extend(el.value.bytes().map(Symbol::Char));
            let last = i + 1 == self.elements.len();
            let needs = ai::lookup(el.ai.as_bytes())
                .map(AiDef::needs_separator)
                .unwrap_or(true);
            if !last && needs {
                out.push(Symbol::Fnc1);
            }
        }
        out
    }

    /// The element string as a scanner transmits it after `]C1`: GS where FNC1 separates.
    pub fn to_transmitted(&self) -> Vec<u8> {
        self.symbols()
            .into_iter()
            .skip(1)
            .map(|s| match s {
                Symbol::Fnc1 => GS,
                Symbol::Char(c) => c,
            })
            .collect()
    }

    /// Human-readable form `(01)…(10)…`, as printed under a GS1-128 symbol.
    pub fn to_bracketed(&self) -> String {
        let mut s = String::new();
        for el in &self.elements {
            s.push('(');
            s.push_str(&el.ai);
            s.push(')');
            s.push_str(&el.value.replace('(', "\\("));
        }
        s
    }
}

/// Build an SSCC-18: extension digit, GS1 company prefix (4–12 digits) and serial reference
/// (left-padded with zeros to fill 16 digits with the prefix), check digit computed.
pub fn build_sscc(extension: u8, company_prefix: &str, serial_reference: &str) -> Result<String> {
    if extension > 9 {
        return Err(Error::data("extension", "must be one digit 0-9"));
    }
    if !(4..=12).contains(&company_prefix.len())
        || !company_prefix.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Error::data("company_prefix", "must be 4 to 12 digits"));
    }
    let room = 16 - company_prefix.len();
    if serial_reference.is_empty()
        || serial_reference.len() > room
        || !serial_reference.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Error::data(
            "serial_reference",
            format!(
                "must be 1 to {room} digits with a {}-digit company prefix",
                company_prefix.len()
            ),
        ));
    }
    let body = format!("{extension}{company_prefix}{serial_reference:0>room$}");
    let cd = gs1_check_digit(body.as_bytes()).unwrap_or(0);
    Ok(format!("{body}{cd}"))
}

/// Append the GS1 check digit to `body` (e.g. 13 digits → GTIN-14).
pub fn with_check_digit(body: &str) -> Result<String> {
    let cd = gs1_check_digit(body.as_bytes())
        .ok_or_else(|| Error::Gs1("check digit needs digits only".into()))?;
    Ok(format!("{body}{cd}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            reference_year: 2026,
        }
    }

    #[test]
    fn parses_gs_separated() {
        let els = parse_element_string(b"0109501101530003" as &[u8]).unwrap();
        assert_eq!(els, vec![Element::new("01", "09501101530003")]);
        let raw = b"011231231231233310ABC123\x1D99TESTING";
        let els = parse_element_string(raw).unwrap();
        assert_eq!(
            els,
            vec![
                Element::new("01", "12312312312333"),
                Element::new("10", "ABC123"),
                Element::new("99", "TESTING")
            ]
        );
    }

    #[test]
    fn date_rules() {
        let m = validate(&Element::new("17", "270300"), &opts()).unwrap();
        assert_eq!(m.date.as_deref(), Some("2027-03-31"));
        let m = validate(&Element::new("17", "280200"), &opts()).unwrap();
        assert_eq!(m.date.as_deref(), Some("2028-02-29"));
        let e = validate(&Element::new("17", "271301"), &opts()).unwrap_err();
        assert_eq!(e.to_string(), "AI 17: month 13 is not a month");
        let e = validate(&Element::new("7006", "270300"), &opts()).unwrap_err();
        assert_eq!(e.to_string(), "AI 7006: day 00 is not a day");
        let e = validate(&Element::new("17", "270230"), &opts()).unwrap_err();
        assert!(e.to_string().contains("day 30"), "{e}");
        // Century window: seen from 2026, 76 is 2076 (50 ahead) and 77 is 1977.
        assert_eq!(resolve_year(76, 2026), 2076);
        assert_eq!(resolve_year(77, 2026), 1977);
        assert_eq!(resolve_year(2, 2098), 2102);
    }

    #[test]
    fn decimals() {
        let m = validate(&Element::new("3103", "001234"), &opts()).unwrap();
        assert_eq!(m.decimal.as_deref(), Some("1.234"));
        assert_eq!(apply_decimal("000500", 2), "5.00");
        assert_eq!(apply_decimal("000500", 0), "500");
        assert_eq!(apply_decimal("5", 3), "0.005");
        let m = validate(&Element::new("3922", "1250"), &opts()).unwrap();
        assert_eq!(m.decimal.as_deref(), Some("12.50"));
        let m = validate(&Element::new("3912", "9781250"), &opts()).unwrap();
        assert_eq!(m.decimal.as_deref(), Some("12.50"));
    }

    #[test]
    fn check_digit_errors() {
        let e = validate(&Element::new("01", "09501101530004"), &opts()).unwrap_err();
        assert_eq!(e.to_string(), "AI 01: GTIN check digit should be 3");
        let e = validate(&Element::new("00", "106141411234567890"), &opts()).unwrap_err();
        assert_eq!(e.to_string(), "AI 00: SSCC check digit should be 7");
        let e = validate(&Element::new("414", "0614141000006"), &opts()).unwrap_err();
        assert_eq!(e.to_string(), "AI 414: GLN check digit should be 5");
    }

    #[test]
    fn separators_only_where_required() {
        let mut es = ElementString::new();
        es.push("01", "09501101530003").unwrap();
        es.push("10", "ABC123").unwrap();
        es.push("17", "270331").unwrap();
        es.push("21", "XYZ").unwrap();
        assert_eq!(
            es.to_transmitted(),
            b"010950110153000310ABC123\x1D1727033121XYZ".to_vec()
        );
        assert_eq!(
            es.to_bracketed(),
            "(01)09501101530003(10)ABC123(17)270331(21)XYZ"
        );
    }

    #[test]
    fn sscc_builder() {
        assert_eq!(
            build_sscc(1, "0614141", "123456789").unwrap(),
            "106141411234567897"
        );
        assert_eq!(build_sscc(0, "0614141", "1").unwrap(), "006141410000000012");
        assert!(build_sscc(10, "0614141", "1").is_err());
        assert!(build_sscc(0, "12", "1").is_err());
        assert!(build_sscc(0, "0614141", "1234567890").is_err());
    }

    #[test]
    fn bracketed_and_digital_link() {
        let els = parse_bracketed("(01)09501101530003(10)A\\(B(17)270331").unwrap();
        assert_eq!(els[1].value, "A(B");
        let els =
            parse_digital_link("https://id.example.com/01/9506000134352/10/AB%2F1?17=271231&x=1")
                .unwrap();
        assert_eq!(
            els,
            vec![
                Element::new("01", "09506000134352"),
                Element::new("10", "AB/1"),
                Element::new("17", "271231")
            ]
        );
    }

    #[test]
    fn civil_year_known_days() {
        assert_eq!(civil_year(0), 1970);
        assert_eq!(civil_year(20_454), 2026); // 2026-01-01
        assert_eq!(civil_year(20_453), 2025);
    }
}
