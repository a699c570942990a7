//! Scanner framing never panics and never emits a frame over the cap or with noise bytes.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use wms_hardware::profiles::{Encoding, Terminator};
use wms_hardware::protocol::scanner::{FrameEvent, FramerConfig, LineFramer};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let terminator = [Terminator::Cr, Terminator::Lf, Terminator::Crlf, Terminator::Tab, Terminator::Any][usize::from(sel % 5)];
    let encoding = [Encoding::Utf8, Encoding::Cp1252, Encoding::Latin1][usize::from((sel / 5) % 3)];
    let max_line = 16 + usize::from(sel / 15);
    let mut f = LineFramer::new(FramerConfig { terminator, max_line, encoding, idle_gap: Duration::from_millis(50) });
    let t0 = Instant::now();
    let mut out = Vec::new();
    // Chunks separated by 0xFE bytes arrive "later", exercising the idle-gap path.
    for (i, chunk) in rest.split(|b| *b == 0xFE).enumerate() {
        f.push(chunk, t0 + Duration::from_millis(40 * i as u64), &mut out);
    }
    for e in out {
        if let FrameEvent::Scan(s) = e {
            assert!(s.raw.len() <= max_line);
            assert!(!s.data.is_empty());
        }
    }
});
