//! What every labels fuzz target asserts, one function per target. The fuzz targets call these,
//! and so does `labels/tests/fuzz_replay.rs`, which replays each target's seeds (and any corpus
//! or crash found locally, and the GS1 corpus) on stable Rust, so CI runs them without a fuzzer.

use wms_labels::gs1::ElementString;
use wms_labels::scan::{self, Kind, Status};
use wms_labels::zpl::{code128_field, escape_field, plain_symbols, unescape_field};

/// A fuzz target's name (its `[[bin]]` in `fuzz/Cargo.toml`) and its checks.
pub type Target = (&'static str, fn(&[u8]));

/// Each target by the name of its `[[bin]]` in `fuzz/Cargo.toml`.
pub const TARGETS: &[Target] = &[
    ("scan_parse", scan_parse),
    ("zpl_escape", zpl_escape),
    ("label_render", label_render),
];

/// Any byte string from a scanner: interpretation never panics, the verdict agrees with the
/// errors, and an accepted GS1 scan rebuilds and reads back to the same elements.
pub fn scan_parse(data: &[u8]) {
    let s = scan::interpret(data);
    let json = s.to_json();
    assert_eq!(json["ok"].as_bool(), Some(s.ok()));
    assert_eq!(s.ok(), s.status() == Status::Accepted);
    assert_eq!(s.errors.len(), s.problems.len());
    if s.status() == Status::Invalid {
        assert!(s.kind.is_gs1_family());
    }
    if s.ok() && s.kind == Kind::Gs1 {
        let es =
            ElementString::from_elements(s.elements.clone()).expect("accepted elements rebuild");
        assert_eq!(es.elements(), &s.elements[..]);
        let mut again = b"]C1".to_vec();
        again.extend_from_slice(&es.to_transmitted());
        let back = scan::interpret(&again);
        assert!(
            back.ok(),
            "{:?} rebuilt as {again:?}: {:?}",
            s.data,
            back.errors
        );
        assert_eq!(back.elements, s.elements);
    }
    let _ = wms_labels::cli::scan_parse(&String::from_utf8_lossy(data));
}

/// Any text as ZPL field data (the bytes' longest UTF-8 prefix, as libFuzzer hands a `&str`
/// target): no `^`/`~` or control character comes out, and unescaping gives the text back
/// (controls removed); Code 128 data never carries a prefix either; ESC/POS text never panics.
pub fn zpl_escape(data: &[u8]) {
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or_default(),
    };
    let mut out = String::new();
    escape_field(&mut out, text, usize::MAX);
    assert!(!out.contains('^') && !out.contains('~'));
    let expected: String = text.chars().filter(|c| !c.is_control()).collect();
    assert_eq!(unescape_field(&out), expected);
    if let Ok((data, _)) = code128_field(&plain_symbols(text)) {
        assert!(!data.contains('^') && !data.contains('~'));
    }
    let mut e = wms_labels::escpos::Encoder::new(wms_labels::escpos::Paper::Mm58);
    e.text(text).two_columns(text, text).wrapped(text);
    let _ = e.finish();
}

/// Any JSON as label data for any kind (the first byte picks kind, format and resolution):
/// rendering returns an error or bytes, never panics, and a rendered label's field data never
/// carries a `~`.
pub fn label_render(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let kinds = wms_labels::samples::KINDS;
    let kind = kinds[usize::from(selector) % kinds.len()];
    let format = if selector & 0x80 == 0 {
        "zpl"
    } else {
        "escpos"
    };
    let dpi = if selector & 0x40 == 0 { 203 } else { 300 };
    if let Ok(bytes) = wms_labels::cli::render(kind, &value, dpi, format) {
        if format == "zpl" {
            assert!(!bytes.contains(&b'~'));
        }
    }
    let _ = wms_labels::cli::render_with_template(kind, &value, &String::from_utf8_lossy(json));
}
