//! Any JSON as label data for any kind: rendering never panics nor leaks a `~` (the checks live in `checks.rs`, shared with `labels/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::label_render(data));
