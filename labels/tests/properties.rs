//! Property tests: check digits, every fixed-length AI, FNC1 placement, parse(build(x)) == x,
//! and that ZPL escaping never lets `^`/`~` from data through. Case count: PROPTEST_CASES
//! (default 256 here, kept moderate so `cargo test` stays quick).

use proptest::prelude::*;
use wms_labels::check::{gs1_check_digit, gs1_check_digit_ok};
use wms_labels::gs1::ai::{self, AiDef, Charset, Lint, AIS};
use wms_labels::gs1::{self, Element, ElementString, Options, GS};
use wms_labels::scan;
use wms_labels::zpl::{code128_field, escape_field, unescape_field};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Small deterministic generator so one seed yields one valid value for any AI.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| (b'0' + self.below(10) as u8) as char)
            .collect()
    }
    fn pick(&mut self, set: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| set[self.below(set.len() as u64) as usize] as char)
            .collect()
    }
}

fn charset_bytes(cs: Charset) -> Vec<u8> {
    (0x20u8..0x7F)
        .filter(|&c| match cs {
            Charset::Numeric => c.is_ascii_digit(),
            Charset::Cset82 => ai::in_cset82(c),
            Charset::Cset39 => ai::in_cset39(c),
            Charset::Cset64 => ai::in_cset64(c),
        })
        .collect()
}

fn two(n: u64) -> String {
    format!("{n:02}")
}

/// A valid value for `def`, and the AI code (with a decimal digit for 310n-style families).
fn valid_element(def: &AiDef, g: &mut Gen) -> Element {
    let ai = match def.max_decimals {
        Some(maxd) => format!("{}{}", def.prefix, g.below(u64::from(maxd) + 1)),
        None => def.prefix.to_string(),
    };
    let mut value = String::new();
    for part in def.parts {
        let len = if part.min == part.max {
            usize::from(part.max)
        } else {
            let lo = u64::from(part.min.max(1));
            (lo + g.below(u64::from(part.max) - lo + 1)) as usize
        };
        let v = match part.lint {
            Lint::CheckDigit(_) => {
                let body = g.digits(len - 1);
                let cd = gs1_check_digit(body.as_bytes()).expect("digits");
                format!("{body}{cd}")
            }
            Lint::Date { .. } => format!(
                "{}{}{}",
                two(g.below(100)),
                two(1 + g.below(12)),
                two(1 + g.below(28))
            ),
            Lint::DateTime => format!(
                "{}{}{}{}{}",
                two(g.below(100)),
                two(1 + g.below(12)),
                two(1 + g.below(28)),
                two(g.below(24)),
                two(g.below(60))
            ),
            Lint::FullDate => format!(
                "{}{}{}",
                1900 + g.below(200),
                two(1 + g.below(12)),
                two(1 + g.below(28))
            ),
            Lint::Time => {
                let pairs = (len / 2).max(usize::from(part.min).div_ceil(2));
                let mut t = two(g.below(24));
                for _ in 1..pairs {
                    t.push_str(&two(g.below(60)));
                }
                t
            }
            Lint::Iso3 => format!("{:03}", 1 + g.below(999)),
            Lint::Flag => g.below(2).to_string(),
            Lint::None => {
                if part.charset == Charset::Numeric {
                    g.digits(len)
                } else {
                    g.pick(&charset_bytes(part.charset), len)
                }
            }
        };
        value.push_str(&v);
    }
    Element::new(ai, value)
}

fn opts() -> Options {
    Options {
        reference_year: 2026,
    }
}

#[test]
fn every_fixed_length_ai_accepts_valid_and_rejects_wrong_length() {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut tested = 0;
    for def in AIS {
        let Some(len) = def.fixed_value_len() else {
            continue;
        };
        for _ in 0..20 {
            let el = valid_element(def, &mut g);
            assert_eq!(el.value.len(), len);
            gs1::validate(&el, &opts()).unwrap_or_else(|e| panic!("{el:?}: {e}"));
            // Round trip through the transmitted form, followed by another element.
            let mut es = ElementString::new();
            es.push(&el.ai, &el.value).expect("valid");
            es.push("21", "X1").expect("valid");
            let parsed = gs1::parse_element_string(&es.to_transmitted()).expect("parses");
            assert_eq!(parsed, es.elements().to_vec());
        }
        let el = valid_element(def, &mut g);
        let short = Element::new(el.ai.clone(), el.value[..len - 1].to_string());
        let e = gs1::validate(&short, &opts()).expect_err("short value must fail");
        assert!(e.to_string().starts_with(&format!("AI {}:", el.ai)), "{e}");
        tested += 1;
    }
    assert!(tested > 80, "only {tested} fixed-length AIs");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn check_digit_detects_any_single_digit_change(body in "[0-9]{7,17}", pos in 0usize..18, delta in 1u8..10) {
        let cd = gs1_check_digit(body.as_bytes()).expect("digits");
        let full = format!("{body}{cd}");
        prop_assert!(gs1_check_digit_ok(full.as_bytes()));
        let mut bytes = full.into_bytes();
        let p = pos % bytes.len();
        bytes[p] = b'0' + (bytes[p] - b'0' + delta) % 10;
        prop_assert!(!gs1_check_digit_ok(&bytes));
    }

    #[test]
    fn built_element_strings_parse_back(seed in any::<u64>(), n in 1usize..6) {
        let mut g = Gen(seed | 1);
        let mut es = ElementString::new();
        let mut used = Vec::new();
        while es.elements().len() < n {
            let def = &AIS[g.below(AIS.len() as u64) as usize];
            let el = valid_element(def, &mut g);
            if used.contains(&el.ai) { continue; }
            used.push(el.ai.clone());
            es.push(&el.ai, &el.value).map_err(|e| TestCaseError::fail(format!("{el:?}: {e}")))?;
        }
        let wire = es.to_transmitted();
        // FNC1 (GS) exactly after each non-last element whose AI is not of predefined length.
        let expected_gs = es.elements()[..n - 1]
            .iter()
            .filter(|e| ai::lookup(e.ai.as_bytes()).map(AiDef::needs_separator).unwrap_or(true))
            .count();
        prop_assert_eq!(wire.iter().filter(|&&b| b == GS).count(), expected_gs);
        prop_assert!(wire.last() != Some(&GS));
        prop_assert_eq!(gs1::parse_element_string(&wire).expect("parses"), es.elements().to_vec());
        prop_assert_eq!(gs1::parse_bracketed(&es.to_bracketed()).expect("parses"), es.elements().to_vec());
        // And through the scanner path with an AIM id and CR suffix.
        let mut raw = b"]C1".to_vec();
        raw.extend_from_slice(&wire);
        raw.push(b'\r');
        let s = scan::interpret_with(&raw, &opts());
        prop_assert!(s.ok(), "{:?}", s.errors);
        prop_assert_eq!(s.elements, es.elements().to_vec());
    }

    #[test]
    fn zpl_escaping_never_leaks_prefixes_and_round_trips(text in any::<String>()) {
        let mut out = String::new();
        escape_field(&mut out, &text, usize::MAX);
        prop_assert!(!out.contains('^') && !out.contains('~'));
        prop_assert!(!out.chars().any(char::is_control));
        let expected: String = text.chars().filter(|c| !c.is_control()).collect();
        prop_assert_eq!(unescape_field(&out), expected);
    }

    #[test]
    fn code128_field_data_has_no_prefixes(text in "[ -~]{1,60}") {
        let symbols = wms_labels::zpl::plain_symbols(&text);
        let (data, _) = code128_field(&symbols).expect("printable ASCII encodes");
        prop_assert!(!data.contains('^') && !data.contains('~'));
    }

    #[test]
    fn printer_and_device_input_is_hostile_rendered_labels_never_carry_data_prefixes(name in any::<String>(), street in any::<String>()) {
        let mut d = wms_labels::samples::sample_data("shipping").expect("sample");
        d["ship_to"]["name"] = format!("x{name}").into();
        d["ship_to"]["street1"] = street.into();
        let zpl = String::from_utf8(wms_labels::cli::render("shipping", &d, 203, "zpl").expect("renders")).expect("utf8");
        let clean = wms_labels::cli::sample("shipping", 203, "zpl").expect("renders");
        let count = |s: &str, c: char| s.matches(c).count();
        let clean = String::from_utf8(clean).expect("utf8");
        // Only the template's own commands use '^'; data adds none, and no '~' at all.
        prop_assert_eq!(count(&zpl, '^'), count(&clean, '^'));
        prop_assert_eq!(count(&zpl, '~'), 0);
    }

    #[test]
    fn scan_interpretation_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..80)) {
        let s = scan::interpret_with(&raw, &opts());
        let _ = s.to_json();
    }

    #[test]
    fn escpos_text_has_no_control_bytes_from_data(text in any::<String>()) {
        let mut e = wms_labels::escpos::Encoder::new(wms_labels::escpos::Paper::Mm80);
        e.text(&text);
        let bytes = e.finish();
        // Only ESC @ (init) and ESC t n (code page) may appear; nothing else below 0x20.
        let mut i = 2;
        while i < bytes.len() {
            if bytes[i] == 0x1B {
                prop_assert_eq!(bytes.get(i + 1), Some(&b't'));
                i += 3;
                continue;
            }
            prop_assert!(bytes[i] >= 0x20 && bytes[i] != 0x7F, "byte {:02x}", bytes[i]);
            i += 1;
        }
    }
}
