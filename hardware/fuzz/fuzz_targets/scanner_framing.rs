//! Scanner framing never panics and never emits a frame over the cap or with noise bytes (the checks live in `checks.rs`, shared with `hardware/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::scanner_framing(data));
