//! Any text as ZPL field data: nothing a printer reads as a command comes out (the checks live in `checks.rs`, shared with `labels/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::zpl_escape(data));
