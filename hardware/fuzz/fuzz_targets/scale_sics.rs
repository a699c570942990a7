//! MT-SICS reply parsing never panics on any bytes (the checks live in `checks.rs`, shared with `hardware/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::scale_sics(data));
