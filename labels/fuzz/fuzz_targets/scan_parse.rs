//! Any byte string from a scanner: interpretation must not panic, and an accepted GS1 scan must
//! rebuild to the same elements (see `scan_check.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "scan_check.rs"]
mod scan_check;

fuzz_target!(|data: &[u8]| {
    scan_check::check(data);
});
