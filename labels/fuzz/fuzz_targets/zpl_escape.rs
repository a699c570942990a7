//! Any text as ZPL field data: no `^`/`~` or control character may come out, and unescaping
//! gives the text back (controls removed); Code 128 data never carries a prefix either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wms_labels::zpl::{code128_field, escape_field, plain_symbols, unescape_field};

fuzz_target!(|text: &str| {
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
});
