//! What every hardware fuzz target asserts, one function per target. The fuzz targets call these,
//! and so does `hardware/tests/fuzz_replay.rs`, which replays each target's seeds (and any corpus
//! or crash found locally) on stable Rust, so CI runs them without a fuzzer.

use std::time::{Duration, Instant};

use wms_hardware::profiles::{Encoding, Terminator};
use wms_hardware::protocol::display::{DisplayScreen, LINES};
use wms_hardware::protocol::nci::{self, NciFramer};
use wms_hardware::protocol::nexo;
use wms_hardware::protocol::scanner::{FrameEvent, FramerConfig, LineFramer};
use wms_hardware::protocol::toledo::{self, ContinuousParser};
use wms_hardware::protocol::{sics, DelimitedFramer, LineSplitter};

/// A fuzz target's name (its `[[bin]]` in `fuzz/Cargo.toml`) and its checks.
pub type Target = (&'static str, fn(&[u8]));

/// Each target by the name of its `[[bin]]` in `fuzz/Cargo.toml`.
pub const TARGETS: &[Target] = &[
    ("scanner_framing", scanner_framing),
    ("scale_sics", scale_sics),
    ("scale_toledo_nci", scale_toledo_nci),
    ("display_screen", display_screen),
    ("nexo_lines", nexo_lines),
];

/// Scanner framing never panics and never emits a frame over the cap or an empty one. The first
/// byte picks the terminator, encoding and line cap; `0xFE` bytes split the rest into chunks that
/// arrive 40 ms apart, exercising the idle-gap path.
pub fn scanner_framing(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let terminator = [
        Terminator::Cr,
        Terminator::Lf,
        Terminator::Crlf,
        Terminator::Tab,
        Terminator::Any,
    ][usize::from(sel % 5)];
    let encoding = [Encoding::Utf8, Encoding::Cp1252, Encoding::Latin1][usize::from((sel / 5) % 3)];
    let max_line = 16 + usize::from(sel / 15);
    let mut f = LineFramer::new(FramerConfig {
        terminator,
        max_line,
        encoding,
        idle_gap: Duration::from_millis(50),
    });
    let t0 = Instant::now();
    let mut out = Vec::new();
    for (i, chunk) in rest.split(|b| *b == 0xFE).enumerate() {
        f.push(chunk, t0 + Duration::from_millis(40 * i as u64), &mut out);
    }
    for e in out {
        if let FrameEvent::Scan(s) = e {
            assert!(s.raw.len() <= max_line);
            assert!(!s.data.is_empty());
        }
    }
}

/// MT-SICS reply parsing never panics on any bytes.
pub fn scale_sics(data: &[u8]) {
    let mut s = LineSplitter::new(256);
    let mut lines = Vec::new();
    s.push(data, &mut lines);
    for l in lines {
        let _ = sics::parse_line(&l);
    }
}

/// 8217, NCI and Toledo continuous parsing never panic on any bytes.
pub fn scale_toledo_nci(data: &[u8]) {
    let mut f = DelimitedFramer::new(toledo::STX, toledo::CR, 32);
    let mut frames = Vec::new();
    f.push(data, &mut frames);
    for fr in frames {
        let _ = toledo::parse_8217(&fr);
    }
    let mut n = NciFramer::new();
    let mut frames = Vec::new();
    n.push(data, &mut frames);
    for fr in frames {
        let _ = nci::parse(&fr);
    }
    for checksum in [false, true] {
        let mut c = ContinuousParser::new(checksum);
        let mut out = Vec::new();
        c.push(data, &mut out);
    }
}

/// The customer display's command interpreter (what the simulator and the tests read the screen
/// from) never panics on any bytes, and its cursor never leaves the screen.
pub fn display_screen(data: &[u8]) {
    let columns = usize::from(data.first().copied().unwrap_or(20) % 40) + 1;
    let mut screen = DisplayScreen::new(columns);
    screen.feed(data);
    let (x, y) = screen.cursor();
    assert!((1..=columns + 1).contains(&x) && (1..=LINES).contains(&y));
    assert!(screen.lines().iter().all(|l| l.chars().count() == columns));
}

/// Payment terminal messages, one JSON object per line as they arrive over TCP: decoding never
/// panics; what a decoded response keeps of a card is at most BIN + last four digits and a short
/// entry-mode word; a decoded message encodes and decodes back to itself; and an error never
/// quotes a card-number-long run of the input's digits.
pub fn nexo_lines(data: &[u8]) {
    for line in data.split_inclusive(|b| *b == b'\n') {
        match nexo::decode_response(line) {
            Ok(r) => {
                for card in cards(&r) {
                    if let Some(pan) = &card.masked_pan {
                        assert!(
                            pan.chars().filter(char::is_ascii_digit).count() <= 10,
                            "{pan}"
                        );
                    }
                    if let Some(mode) = &card.entry_mode {
                        assert!(mode.len() <= 20 && mode.chars().all(|c| c.is_ascii_alphabetic()));
                    }
                }
                let again = nexo::encode_response(&r).expect("a decoded response encodes");
                assert_eq!(nexo::decode_response(&again).expect("and decodes again"), r);
            }
            Err(e) => assert!(!quotes_a_card_number(&e.to_string()), "{e}"),
        }
        match nexo::decode_request(line) {
            Ok(r) => {
                let again = nexo::encode_request(&r).expect("a decoded request encodes");
                assert_eq!(nexo::decode_request(&again).expect("and decodes again"), r);
            }
            Err(e) => assert!(!quotes_a_card_number(&e.to_string()), "{e}"),
        }
    }
}

fn cards(r: &nexo::SaleToPoiResponse) -> Vec<&nexo::CardData> {
    let mut payments: Vec<&nexo::PaymentResponse> = r.payment.iter().collect();
    if let Some(repeated) = r.status.as_ref().and_then(|s| s.repeated.as_ref()) {
        payments.extend(repeated.body.payment_response.iter());
    }
    payments
        .into_iter()
        .filter_map(|p| p.payment_result.as_ref())
        .filter_map(|p| p.instrument.as_ref())
        .filter_map(|i| i.card_data.as_ref())
        .collect()
}

/// Eleven digits in a row: longer than any masked number and than the line and column an error
/// names.
fn quotes_a_card_number(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 11 {
            return true;
        }
    }
    false
}
