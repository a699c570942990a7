//! The checks the `scan_parse` fuzz target runs on every input, shared with the replay test
//! (`labels/tests/fuzz_replay.rs`) so CI runs them on the seeds and the GS1 corpus without a
//! fuzzer: interpretation never panics, the verdict agrees with the errors, and an accepted GS1
//! scan rebuilds and reads back to the same elements.

use wms_labels::gs1::ElementString;
use wms_labels::scan::{self, Kind, Status};

pub fn check(data: &[u8]) {
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
