//! MT-SICS reply parsing never panics on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wms_hardware::protocol::{sics, LineSplitter};

fuzz_target!(|data: &[u8]| {
    let mut s = LineSplitter::new(256);
    let mut lines = Vec::new();
    s.push(data, &mut lines);
    for l in lines {
        let _ = sics::parse_line(&l);
    }
});
