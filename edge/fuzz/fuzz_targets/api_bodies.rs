//! Request bodies of the HTTP API: parsing never panics and every refusal is the error object's
//! 400 or 422 (the checks live in `checks.rs`, shared with `edge/tests/fuzz_replay.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::api_bodies(data));
