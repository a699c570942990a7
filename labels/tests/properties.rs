//! Property tests: check digits, every fixed-length AI, and that ZPL escaping never lets `^`/`~`
//! from data through (the GS1 round trips through every scan form are in `gs1_properties.rs`). Case count: PROPTEST_CASES
//! (default 256 here, kept moderate so `cargo test` stays quick).

mod common;

use common::{valid_element, Gen};
use proptest::prelude::*;
use wms_labels::check::{gs1_check_digit, gs1_check_digit_ok};
use wms_labels::gs1::ai::AIS;
use wms_labels::gs1::{self, Element, ElementString, Options};
use wms_labels::zpl::{code128_field, escape_field, unescape_field};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
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
