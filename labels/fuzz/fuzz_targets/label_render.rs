//! Any JSON as label data for any kind: rendering returns an error or bytes, never panics, and
//! a rendered label's field data never carries a `~`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else { return };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let kinds = wms_labels::samples::KINDS;
    let kind = kinds[usize::from(selector) % kinds.len()];
    let format = if selector & 0x80 == 0 { "zpl" } else { "escpos" };
    let dpi = if selector & 0x40 == 0 { 203 } else { 300 };
    if let Ok(bytes) = wms_labels::cli::render(kind, &value, dpi, format) {
        if format == "zpl" {
            assert!(!bytes.contains(&b'~'));
        }
    }
    let _ = wms_labels::cli::render_with_template(kind, &value, &String::from_utf8_lossy(json));
});
