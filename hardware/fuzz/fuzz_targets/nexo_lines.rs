//! Payment terminal lines: decoding never panics, keeps no card data and round-trips (the checks live in `checks.rs`, shared with `hardware/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::nexo_lines(data));
