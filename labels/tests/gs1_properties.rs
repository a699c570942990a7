//! GS1 properties. For every AI of the table, an element built from it (with the AIs the pairing
//! rules make it need) parses back to exactly the same elements through every way a scan carries
//! it: after a GS1 AIM identifier, bare (FNC1 as a GS byte or as a placeholder, with framing
//! around it), in the bracketed human-readable form, and as a Digital Link when it has a primary
//! key. A corrupted check digit or date is invalid and names its AI; arbitrary bytes never
//! panic. Case count: PROPTEST_CASES (default 256).

mod common;

use common::{valid_element, with_requisites, Gen};
use proptest::prelude::*;
use wms_labels::gs1::ai::{self, AiDef, Lint, AIS};
use wms_labels::gs1::{self, DigitalLinkBuilder, Element, ElementString, Options, GS};
use wms_labels::scan::{self, Form, Kind, Status};

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

fn read(raw: &[u8]) -> scan::Scan {
    scan::interpret_with(raw, &opts())
}

fn sorted(els: &[Element]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = els
        .iter()
        .map(|e| (e.ai.clone(), e.value.clone()))
        .collect();
    v.sort();
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Every way a scanner (or a person) hands us `set`, with the form it must be read as.
fn carriers(set: &[Element]) -> Vec<(&'static str, Vec<u8>, Form)> {
    let es = ElementString::from_elements(set.to_vec()).expect("valid set");
    let wire = es.to_transmitted();
    let caret: Vec<u8> = wire
        .iter()
        .map(|&b| if b == GS { b'^' } else { b })
        .collect();
    let braced = String::from_utf8(wire.clone())
        .expect("ascii")
        .replace('\u{1d}', "{GS}");
    let mut out = vec![
        ("]C1 + CR", cat(&[b"]C1", &wire, b"\r"]), Form::Aim),
        ("]d2 + CR LF", cat(&[b"]d2", &wire, b"\r\n"]), Form::Aim),
        ("]Q3 + Tab", cat(&[b"]Q3", &wire, b"\t"]), Form::Aim),
        ("]e0", cat(&[b"]e0", &wire]), Form::Aim),
        ("leading GS", cat(&[&[GS], &wire, b"\r"]), Form::Bare),
        ("^ placeholders", cat(&[b"^", &caret]), Form::Bare),
        (
            "{GS} placeholders, NUL and space padding",
            cat(&[b"\0\0 {GS}", braced.as_bytes(), b" \t\0"]),
            Form::Bare,
        ),
        ("bracketed", es.to_bracketed().into_bytes(), Form::Bracketed),
    ];
    let keys = set.iter().filter(|e| ai::link_key(&e.ai).is_some()).count();
    if keys == 1 {
        let mut ordered: Vec<Element> = set.to_vec();
        ordered.sort_by_key(|e| ai::link_key(&e.ai).is_none());
        for base in ["https://id.example.com", "HTTP://example.org/shop/01/x"] {
            let uri = DigitalLinkBuilder::new(base)
                .build(&ordered)
                .expect("first is a key");
            out.push(("Digital Link", uri.clone().into_bytes(), Form::DigitalLink));
            out.push((
                "Digital Link in QR (]Q1)",
                cat(&[b"]Q1", uri.as_bytes()]),
                Form::DigitalLink,
            ));
        }
    }
    out
}

#[test]
fn every_ai_round_trips_through_every_scan_form() {
    let mut g = Gen(0x2545_F491_4F6C_DD1D);
    let mut covered = 0;
    let mut missed = Vec::new();
    for def in AIS {
        let mut done = false;
        for _ in 0..12 {
            let el = valid_element(def, &mut g);
            let Some(set) = with_requisites(el, &mut g) else {
                continue;
            };
            for (what, raw, form) in carriers(&set) {
                let s = read(&raw);
                assert!(
                    s.ok(),
                    "AI {} {what}: {:?} from {:?}",
                    def.prefix,
                    s.errors,
                    String::from_utf8_lossy(&raw)
                );
                assert_eq!((s.kind, s.form), (Kind::Gs1, Some(form)), "{what}");
                assert_eq!(
                    sorted(&s.elements),
                    sorted(&set),
                    "AI {} {what}",
                    def.prefix
                );
                if form != Form::DigitalLink {
                    assert_eq!(s.elements, set, "AI {} {what}: order kept", def.prefix);
                }
            }
            // Bare with nothing in front: read as GS1 when it carries a separator or a numeric
            // key; otherwise it is a code for the catalog, never a half-read GS1 string.
            let wire = ElementString::from_elements(set.clone())
                .expect("valid")
                .to_transmitted();
            let s = read(&wire);
            match s.kind {
                Kind::Gs1 => {
                    assert!(
                        s.ok(),
                        "bare {:?}: {:?}",
                        String::from_utf8_lossy(&wire),
                        s.errors
                    );
                    assert_eq!(s.elements, set);
                }
                Kind::Unknown => assert!(!wire.contains(&GS)),
                // All digits of a retail length are GTINs, 18 digits an SSCC.
                Kind::Gtin | Kind::UpcE | Kind::Sscc => {
                    assert!(wire.iter().all(u8::is_ascii_digit))
                }
                other => panic!(
                    "bare {:?} read as {other:?}",
                    String::from_utf8_lossy(&wire)
                ),
            }
            done = true;
            break;
        }
        if done {
            covered += 1;
        } else {
            missed.push(def.prefix);
        }
    }
    assert!(
        missed.len() * 20 < AIS.len(),
        "{covered} AIs covered; no valid set found for {missed:?}"
    );
}

/// AIs with a check digit or a date in their value, and the index where it starts.
fn checkable() -> Vec<(&'static AiDef, usize, Lint)> {
    let mut out = Vec::new();
    for def in AIS {
        let mut at = 0usize;
        for part in def.parts {
            if part.min != part.max {
                break;
            }
            if matches!(
                part.lint,
                Lint::CheckDigit(_) | Lint::Date { .. } | Lint::DateTime { .. }
            ) {
                out.push((def, at, part.lint));
                break;
            }
            at += usize::from(part.max);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_element_strings_parse_back_and_only_pairings_can_fail(seed in any::<u64>(), n in 1usize..6) {
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
        let s = read(&cat(&[b"]C1", &wire, b"\r"]));
        prop_assert_eq!(&s.elements, &es.elements().to_vec());
        let pairing: Vec<String> = gs1::check_pairings(es.elements()).iter().map(ToString::to_string).collect();
        let got: Vec<String> = s.errors.iter().map(ToString::to_string).collect();
        prop_assert_eq!(got, pairing);
    }

    #[test]
    fn a_wrong_check_digit_or_date_is_invalid_and_names_its_ai(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let list = checkable();
        let (def, at, lint) = list[pick.index(list.len())];
        let mut g = Gen(seed | 1);
        let el = valid_element(def, &mut g);
        let Some(mut set) = with_requisites(el, &mut g) else { return Ok(()) };
        let mut v = set[0].value.clone().into_bytes();
        let expect = match lint {
            Lint::CheckDigit(_) => {
                let len = def.parts.iter().find(|p| p.lint == lint).map(|p| usize::from(p.max)).unwrap_or(0);
                let last = at + len - 1;
                v[last] = b'0' + (v[last] - b'0' + 1 + (seed % 9) as u8) % 10;
                "check digit should be"
            }
            _ => {
                // Month 13 of any year.
                v[at + 2] = b'1';
                v[at + 3] = b'3';
                "month 13 is not a month"
            }
        };
        set[0].value = String::from_utf8(v).expect("ascii");
        let wire: Vec<u8> = {
            let mut w = Vec::new();
            for (i, e) in set.iter().enumerate() {
                w.extend_from_slice(e.ai.as_bytes());
                w.extend_from_slice(e.value.as_bytes());
                let sep = ai::lookup(e.ai.as_bytes()).map(AiDef::needs_separator).unwrap_or(true);
                if sep && i + 1 < set.len() { w.push(GS); }
            }
            w
        };
        for raw in [cat(&[b"]C1", &wire]), cat(&[&[GS], &wire])] {
            let s = read(&raw);
            prop_assert_eq!(s.status(), Status::Invalid, "{:?}", s);
            prop_assert_eq!(s.problems[0].ai.as_deref(), Some(set[0].ai.as_str()));
            prop_assert!(s.problems[0].reason.contains(expect), "{}", s.errors[0]);
        }
    }

    #[test]
    fn scan_interpretation_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..80)) {
        let s = read(&raw);
        let _ = s.to_json();
        prop_assert!(s.ok() || s.status() != Status::Accepted);
    }

    #[test]
    fn gs1_shaped_noise_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("01".to_string()), Just("00".to_string()), Just("10".to_string()), Just("17".to_string()),
        Just("\u{1d}".to_string()), Just("^".to_string()), Just("(".to_string()), Just(")".to_string()),
        Just("]C1".to_string()), Just("]Q1".to_string()), Just("https://x.example/".to_string()),
        Just("/".to_string()), Just("?".to_string()), Just("=".to_string()), Just("%".to_string()),
        Just("{GS}".to_string()), Just("\u{241d}".to_string()), "[0-9]{1,14}", "[A-Z%/]{1,4}",
    ], 0..12)) {
        let raw = parts.concat();
        let s = read(raw.as_bytes());
        let _ = s.to_json();
        if s.ok() && s.kind == Kind::Gs1 {
            // Whatever is accepted rebuilds and is valid as a whole.
            let es = ElementString::from_elements(s.elements.clone());
            prop_assert!(es.is_ok(), "{raw:?}: {:?}", es);
        }
    }
}
