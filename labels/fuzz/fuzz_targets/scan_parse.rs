//! Any byte string from a scanner: interpretation never panics and accepted GS1 round-trips (the checks live in `checks.rs`, shared with `labels/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::scan_parse(data));
