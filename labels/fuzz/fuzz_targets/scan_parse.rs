//! Any byte string from a scanner: interpretation must not panic, and an accepted GS1 scan must
//! rebuild to the same elements.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wms_labels::gs1::ElementString;
use wms_labels::scan;

fuzz_target!(|data: &[u8]| {
    let s = scan::interpret(data);
    let _ = s.to_json();
    if s.ok() && s.kind == scan::Kind::Gs1 {
        let es = ElementString::from_elements(s.elements.clone()).expect("accepted elements rebuild");
        assert_eq!(es.elements(), &s.elements[..]);
    }
    let _ = wms_labels::cli::scan_parse(&String::from_utf8_lossy(data));
});
