//! 8217, NCI and Toledo continuous parsing never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wms_hardware::protocol::nci::{self, NciFramer};
use wms_hardware::protocol::toledo::{self, ContinuousParser};
use wms_hardware::protocol::DelimitedFramer;

fuzz_target!(|data: &[u8]| {
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
});
