//! Zebra ZPL II status: `~HS` host status (three `STX … ETX CR LF` strings), `~HQES`
//! error/warning flags and the `~HQOD` print odometer. Newer firmware stays silent on `~HS` while
//! media out, ribbon out or head open, so drivers fall back to `~HQES`.
//!
//! The odometer tells whether the printer moved media since a reading: the printer task reads it
//! before it hands a job over and again after a restart, to decide whether a job whose bytes may
//! have gone out printed (see `device::printer`). Its reply, as a ZPL-emulation manual gives it
//! for `~HQ` with query type `OD` (the family of the `~HQES` layout in the protocol notes):
//! `STX CR LF "PRINT METERS" CR LF "TOTAL NONRESETTABLE: n \"" CR LF "USER RESETTABLE CNTR1:
//! n \"" CR LF "USER RESETTABLE CNTR2: n \"" CR LF ETX`, distances in inches (`"`) or `cm`.
//! Zebra's own guides pad the numbers to a column, so the parser takes any spacing.

/// Host status query.
pub const HS: &[u8] = b"~HS";
/// Extended error/warning query.
pub const HQES: &[u8] = b"~HQES";
/// Print odometer query.
pub const HQOD: &[u8] = b"~HQOD";
/// STX.
pub const STX: u8 = 0x02;
/// ETX.
pub const ETX: u8 = 0x03;

/// Parsed `~HS` reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStatus {
    /// Communication settings word (string 1, field aaa).
    pub comm: u16,
    /// Paper out.
    pub paper_out: bool,
    /// Pause active.
    pub paused: bool,
    /// Label length in dots.
    pub label_length: u32,
    /// Formats in the receive buffer.
    pub formats_in_buffer: u32,
    /// Receive buffer full.
    pub buffer_full: bool,
    /// A format is partially received.
    pub partial_format: bool,
    /// Configuration lost / corrupt RAM.
    pub corrupt_ram: bool,
    /// Head under temperature.
    pub under_temperature: bool,
    /// Head over temperature.
    pub over_temperature: bool,
    /// Head up / open.
    pub head_open: bool,
    /// Ribbon out.
    pub ribbon_out: bool,
    /// Thermal-transfer mode.
    pub thermal_transfer: bool,
    /// Print mode digit/letter.
    pub print_mode: char,
    /// Labels remaining in the batch.
    pub labels_remaining: u32,
}

impl HostStatus {
    /// True when the printer cannot print now.
    pub fn fault(&self) -> bool {
        self.paper_out
            || self.paused
            || self.head_open
            || self.ribbon_out
            || self.over_temperature
            || self.corrupt_ram
    }

    /// The three strings as the printer sends them (for the simulator).
    pub fn encode(&self) -> Vec<u8> {
        let b = |x: bool| u8::from(x);
        let s1 = format!(
            "{:03},{},{},{:04},{:03},{},0,{},000,{},{},{}",
            self.comm.min(999),
            b(self.paper_out),
            b(self.paused),
            self.label_length.min(9999),
            self.formats_in_buffer.min(999),
            b(self.buffer_full),
            b(self.partial_format),
            b(self.corrupt_ram),
            b(self.under_temperature),
            b(self.over_temperature),
        );
        let s2 = format!(
            "{:03},0,{},{},{},{},0,0,{:08},1,000",
            if self.thermal_transfer { 1 } else { 0 },
            b(self.head_open),
            b(self.ribbon_out),
            b(self.thermal_transfer),
            self.print_mode,
            self.labels_remaining.min(99_999_999),
        );
        let s3 = "1234,0".to_string();
        let mut v = Vec::new();
        for s in [s1, s2, s3] {
            v.push(STX);
            v.extend_from_slice(s.as_bytes());
            v.extend_from_slice(&[ETX, b'\r', b'\n']);
        }
        v
    }
}

/// Reassembles `~HS` replies from `STX … ETX` blocks, identifying the strings by their field
/// counts (12, 11, 2) so late or partial replies cannot be mixed up.
#[derive(Debug, Default)]
pub struct HsAssembler {
    s1: Option<HostStatus>,
    s2: Option<HostStatus>,
}

fn flag(f: &str) -> Option<bool> {
    match f.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

fn num(f: &str) -> Option<u32> {
    let f = f.trim();
    if f.is_empty() || f.len() > 8 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    f.parse().ok()
}

impl HsAssembler {
    /// A fresh assembler.
    pub fn new() -> Self {
        HsAssembler::default()
    }

    /// Feeds one block body; returns the status once strings 1, 2 and 3 have arrived in order.
    pub fn push(&mut self, block: &str) -> Option<HostStatus> {
        let f: Vec<&str> = block.split(',').collect();
        match f.len() {
            12 => {
                let mut s = HostStatus {
                    comm: num(f[0])? as u16,
                    paper_out: flag(f[1])?,
                    paused: flag(f[2])?,
                    label_length: num(f[3])?,
                    formats_in_buffer: num(f[4])?,
                    buffer_full: flag(f[5])?,
                    partial_format: flag(f[7])?,
                    corrupt_ram: flag(f[9])?,
                    under_temperature: flag(f[10])?,
                    over_temperature: flag(f[11])?,
                    ..HostStatus::default()
                };
                s.print_mode = '0';
                self.s1 = Some(s);
                self.s2 = None;
                None
            }
            11 => {
                let mut s = self.s1.take()?;
                s.head_open = flag(f[2])?;
                s.ribbon_out = flag(f[3])?;
                s.thermal_transfer = flag(f[4])?;
                s.print_mode = f[5].trim().chars().next()?;
                s.labels_remaining = num(f[8])?;
                self.s2 = Some(s);
                None
            }
            2 => self.s2.take(),
            _ => None,
        }
    }

    /// Forgets partial state.
    pub fn reset(&mut self) {
        self.s1 = None;
        self.s2 = None;
    }
}

/// Parsed `~HQES` reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorStatus {
    /// Error group 1 (nibbles 8–1).
    pub errors: u32,
    /// Warning group 1.
    pub warnings: u32,
}

impl ErrorStatus {
    /// Media out.
    pub fn media_out(&self) -> bool {
        self.errors & 0x1 != 0
    }
    /// Ribbon out.
    pub fn ribbon_out(&self) -> bool {
        self.errors & 0x2 != 0
    }
    /// Head open.
    pub fn head_open(&self) -> bool {
        self.errors & 0x4 != 0
    }
    /// Paused (kiosk printers report it as an error).
    pub fn paused(&self) -> bool {
        self.errors & 0x1_0000 != 0
    }
    /// Paper near end warning.
    pub fn paper_near_end(&self) -> bool {
        self.warnings & 0x8 != 0
    }
    /// Any error flag.
    pub fn any_error(&self) -> bool {
        self.errors != 0
    }

    /// The reply block as the printer sends it (for the simulator).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![STX];
        v.extend_from_slice(
            format!(
                "\r\nPRINTER STATUS\r\nERRORS: {} 00000000 {:08X}\r\nWARNINGS: {} 00000000 {:08X}\r\n",
                u8::from(self.errors != 0),
                self.errors,
                u8::from(self.warnings != 0),
                self.warnings
            )
            .as_bytes(),
        );
        v.push(ETX);
        v
    }
}

/// Parses a `~HQES` block body; `None` when it is not one.
pub fn parse_hqes(block: &str) -> Option<ErrorStatus> {
    if !block.contains("PRINTER STATUS") {
        return None;
    }
    let group = |label: &str| -> Option<u32> {
        let line = block.lines().find(|l| l.trim_start().starts_with(label))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        // LABEL: f grp2 grp1
        let g1 = fields.get(3)?;
        u32::from_str_radix(g1, 16).ok()
    };
    Some(ErrorStatus {
        errors: group("ERRORS:")?,
        warnings: group("WARNINGS:").unwrap_or(0),
    })
}

/// The print odometer (`~HQOD`): media printed since the printer was made (non-resettable) and
/// on the two user counters, in whole inches or centimetres.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Odometer {
    /// The non-resettable total: the one to compare, since an operator may reset the others.
    pub total: u64,
    pub counter1: u64,
    pub counter2: u64,
    /// Centimetres (`cm`) rather than inches (`"`).
    pub metric: bool,
}

impl Odometer {
    /// The reply block as the printer sends it (for the simulator).
    pub fn encode(&self) -> Vec<u8> {
        let unit = if self.metric { "cm" } else { "\"" };
        let mut v = vec![STX];
        v.extend_from_slice(
            format!(
                "\r\nPRINT METERS\r\nTOTAL NONRESETTABLE: {} {unit}\r\nUSER RESETTABLE CNTR1: {} {unit}\r\nUSER RESETTABLE CNTR2: {} {unit}\r\n",
                self.total, self.counter1, self.counter2
            )
            .as_bytes(),
        );
        v.push(ETX);
        v
    }
}

/// Parses a `~HQOD` block body; `None` when it is not one.
pub fn parse_hqod(block: &str) -> Option<Odometer> {
    if !block.contains("PRINT METERS") {
        return None;
    }
    let field = |label: &str| -> Option<(u64, bool)> {
        let line = block.lines().find(|l| l.trim_start().starts_with(label))?;
        let rest = line.trim_start()[label.len()..].trim();
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect();
        if digits.is_empty() || digits.len() > 15 {
            return None;
        }
        let unit = rest[rest.find(|c: char| !c.is_ascii_digit() && c != ',')?..].trim();
        let metric = match unit {
            "\"" | "IN" | "in" => false,
            "cm" | "CM" => true,
            _ => return None,
        };
        Some((digits.parse().ok()?, metric))
    };
    let (total, metric) = field("TOTAL NONRESETTABLE:")?;
    Some(Odometer {
        total,
        counter1: field("USER RESETTABLE CNTR1:").map_or(0, |f| f.0),
        counter2: field("USER RESETTABLE CNTR2:").map_or(0, |f| f.0),
        metric,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DelimitedFramer;
    use proptest::prelude::*;

    fn blocks(bytes: &[u8]) -> Vec<String> {
        let mut f = DelimitedFramer::new(STX, ETX, 512);
        let mut out = Vec::new();
        f.push(bytes, &mut out);
        out.into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    #[test]
    fn research_vector_idle() {
        let wire = b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n\x02000,0,0,0,0,2,0,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n";
        let mut a = HsAssembler::new();
        let mut got = None;
        for b in blocks(wire) {
            got = a.push(&b).or(got);
        }
        let s = got.unwrap();
        assert_eq!(s.comm, 30);
        assert_eq!(s.label_length, 1218);
        assert!(!s.fault());
        assert_eq!(s.print_mode, '2');
        let again = HostStatus { ..s }.encode();
        assert_eq!(&again[..], &wire[..]);
    }

    #[test]
    fn paused_with_labels() {
        let s = HostStatus {
            paused: true,
            labels_remaining: 5,
            print_mode: '2',
            ..Default::default()
        };
        let mut a = HsAssembler::new();
        let mut got = None;
        for b in blocks(&s.encode()) {
            got = a.push(&b).or(got);
        }
        assert_eq!(got, Some(s));
    }

    #[test]
    fn hqes_vectors() {
        let e = ErrorStatus {
            errors: 1,
            warnings: 0,
        };
        let wire = e.encode();
        assert_eq!(
            &wire[..],
            &b"\x02\r\nPRINTER STATUS\r\nERRORS: 1 00000000 00000001\r\nWARNINGS: 0 00000000 00000000\r\n\x03"[..]
        );
        let b = blocks(&wire);
        let p = parse_hqes(&b[0]).unwrap();
        assert!(p.media_out() && !p.head_open());
        let p = parse_hqes("\r\nPRINTER STATUS\r\nERRORS: 1 00000000 00000006\r\nWARNINGS: 0 00000000 00000000\r\n").unwrap();
        assert!(p.head_open() && p.ribbon_out() && !p.media_out());
        assert!(parse_hqes("030,0,0").is_none());
    }

    #[test]
    fn hqod_vectors() {
        let o = Odometer {
            total: 144,
            counter1: 144,
            counter2: 144,
            metric: false,
        };
        assert_eq!(
            &o.encode()[..],
            &b"\x02\r\nPRINT METERS\r\nTOTAL NONRESETTABLE: 144 \"\r\nUSER RESETTABLE CNTR1: 144 \"\r\nUSER RESETTABLE CNTR2: 144 \"\r\n\x03"[..]
        );
        let b = blocks(&o.encode());
        assert_eq!(parse_hqod(&b[0]), Some(o));
        // Zebra's guides pad the numbers into a column and may group digits.
        let padded = "\r\nPRINT METERS\r\n   TOTAL NONRESETTABLE:     8,560 \"\r\n   USER RESETTABLE CNTR1:        9 \"\r\n   USER RESETTABLE CNTR2:        5 \"\r\n";
        assert_eq!(
            parse_hqod(padded),
            Some(Odometer {
                total: 8560,
                counter1: 9,
                counter2: 5,
                metric: false
            })
        );
        let metric = "\r\nPRINT METERS\r\nTOTAL NONRESETTABLE: 366 cm\r\n";
        assert_eq!(
            parse_hqod(metric).map(|o| (o.total, o.metric)),
            Some((366, true))
        );
        assert!(parse_hqod("\r\nPRINTER STATUS\r\nERRORS: 1 00000000 00000001\r\n").is_none());
        assert!(parse_hqod("\r\nPRINT METERS\r\nTOTAL NONRESETTABLE: lots\r\n").is_none());
    }

    proptest! {
        #[test]
        fn odometer_roundtrip(total in 0u64..1_000_000_000, c1 in 0u64..1_000_000, c2 in 0u64..1_000_000, metric: bool) {
            let o = Odometer { total, counter1: c1, counter2: c2, metric };
            let b = blocks(&o.encode());
            prop_assert_eq!(parse_hqod(&b[0]), Some(o));
        }

        #[test]
        fn roundtrip(paper: bool, paused: bool, head: bool, ribbon: bool, n in 0u32..99_999_999, q in 0u32..999) {
            let s = HostStatus { paper_out: paper, paused, head_open: head, ribbon_out: ribbon, labels_remaining: n, formats_in_buffer: q, print_mode: '2', ..Default::default() };
            let mut a = HsAssembler::new();
            let mut got = None;
            for b in blocks(&s.encode()) { got = a.push(&b).or(got); }
            prop_assert_eq!(got, Some(s));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut a = HsAssembler::new();
            for b in blocks(&data) { let _ = a.push(&b); let _ = parse_hqes(&b); let _ = parse_hqod(&b); }
        }
    }
}
