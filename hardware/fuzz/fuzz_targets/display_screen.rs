//! The customer display's command interpreter (what the simulator and the tests read the
//! screen from) never panics on any bytes, and its cursor never leaves the screen.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wms_hardware::protocol::display::{DisplayScreen, LINES};

fuzz_target!(|data: &[u8]| {
    let columns = usize::from(data.first().copied().unwrap_or(20) % 40) + 1;
    let mut screen = DisplayScreen::new(columns);
    screen.feed(data);
    let (x, y) = screen.cursor();
    assert!((1..=columns + 1).contains(&x) && (1..=LINES).contains(&y));
    assert!(screen.lines().iter().all(|l| l.chars().count() == columns));
});
