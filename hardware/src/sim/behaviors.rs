//! Scale and printer simulators.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Action, Behavior};
use crate::decimal::Decimal;
use crate::protocol::escpos::EscPosStatus;
use crate::protocol::nci::{self, NciStatus};
use crate::protocol::toledo::{self, Status8217};
use crate::protocol::zpl::{ErrorStatus, HostStatus, Odometer};
use crate::protocol::{sics, LineSplitter};
use crate::Weight;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What is on a simulated scale, shared with the test that drives it.
#[derive(Clone, Debug)]
pub struct ScaleState {
    /// Gross weight on the platform.
    pub weight: Decimal,
    /// Unit the scale reports in.
    pub unit: String,
    /// How many more reads report motion before the weight settles.
    pub moving_reads: u32,
    /// Above capacity.
    pub overload: bool,
    /// Below zero (pan removed).
    pub underload: bool,
    /// Current tare.
    pub tare: Decimal,
    /// Weight requests answered.
    pub requests: u32,
}

impl ScaleState {
    fn new(weight: &str, unit: &str) -> Arc<Mutex<ScaleState>> {
        Arc::new(Mutex::new(ScaleState {
            weight: Decimal::parse(weight).unwrap_or(Decimal::ZERO),
            unit: unit.to_string(),
            moving_reads: 0,
            overload: false,
            underload: false,
            tare: Decimal::ZERO,
            requests: 0,
        }))
    }

    fn net(&self) -> Decimal {
        let s = self.weight.scale().max(self.tare.scale());
        let widen = |d: Decimal| {
            let mut m = d.mantissa();
            for _ in d.scale()..s {
                m = m.saturating_mul(10);
            }
            m
        };
        Decimal::new(widen(self.weight) - widen(self.tare), s).unwrap_or(self.weight)
    }

    /// Puts a new load on the platform that settles after `moving_reads` reads.
    pub fn place(&mut self, weight: &str, moving_reads: u32) {
        if let Ok(w) = Decimal::parse(weight) {
            self.weight = w;
        }
        self.moving_reads = moving_reads;
    }
}

/// Mettler Toledo MT-SICS balance.
#[derive(Debug)]
pub struct SicsScale {
    state: Arc<Mutex<ScaleState>>,
    lines: LineSplitter,
}

impl SicsScale {
    /// A balance showing `weight` `unit`.
    pub fn new(weight: &str, unit: &str) -> Self {
        SicsScale {
            state: ScaleState::new(weight, unit),
            lines: LineSplitter::new(64),
        }
    }

    /// Shared state for the test.
    pub fn state(&self) -> Arc<Mutex<ScaleState>> {
        self.state.clone()
    }
}

impl Behavior for SicsScale {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        let mut lines = Vec::new();
        self.lines.push(input, &mut lines);
        let mut st = lock(&self.state);
        for l in lines {
            let cmd = l.trim();
            let reply: Vec<u8> = match cmd {
                "S" | "SI" => {
                    st.requests += 1;
                    if st.overload {
                        b"S +\r\n".to_vec()
                    } else if st.underload {
                        b"S -\r\n".to_vec()
                    } else if st.moving_reads > 0 {
                        st.moving_reads -= 1;
                        if cmd == "S" {
                            b"S I\r\n".to_vec()
                        } else {
                            sics::format_weight("S", false, &Weight::new(st.net(), &st.unit))
                        }
                    } else {
                        sics::format_weight("S", true, &Weight::new(st.net(), &st.unit))
                    }
                }
                "Z" => {
                    if st.moving_reads > 0 {
                        b"Z I\r\n".to_vec()
                    } else {
                        st.weight = Decimal::new(0, st.weight.scale()).unwrap_or(st.weight);
                        b"Z A\r\n".to_vec()
                    }
                }
                "T" => {
                    if st.moving_reads > 0 {
                        b"T I\r\n".to_vec()
                    } else {
                        st.tare = st.weight;
                        sics::format_weight("T", true, &Weight::new(st.tare, &st.unit))
                    }
                }
                "TAC" => {
                    st.tare = Decimal::ZERO;
                    b"TAC A\r\n".to_vec()
                }
                "I4" | "@" => b"I4 A \"0123456789\"\r\n".to_vec(),
                _ => b"ES\r\n".to_vec(),
            };
            out.extend_from_slice(&reply);
        }
        Action::Continue
    }
}

/// Toledo 8217 scale (single-letter commands, STX … CR replies).
#[derive(Debug)]
pub struct Toledo8217Scale {
    state: Arc<Mutex<ScaleState>>,
}

impl Toledo8217Scale {
    /// A scale showing `weight` (e.g. `"1.250"`).
    pub fn new(weight: &str, unit: &str) -> Self {
        Toledo8217Scale {
            state: ScaleState::new(weight, unit),
        }
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<ScaleState>> {
        self.state.clone()
    }
}

impl Behavior for Toledo8217Scale {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        let mut st = lock(&self.state);
        for &b in input {
            match b {
                b'W' => {
                    st.requests += 1;
                    let s = Status8217 {
                        motion: st.moving_reads > 0,
                        over_capacity: st.overload,
                        under_zero: st.underload,
                        ..Default::default()
                    };
                    if st.moving_reads > 0 {
                        st.moving_reads -= 1;
                    }
                    if s.motion || s.over_capacity || s.under_zero {
                        out.extend_from_slice(&toledo::encode_8217_status(&s));
                    } else {
                        let net = st.tare.mantissa() != 0;
                        out.extend_from_slice(&toledo::encode_8217_weight(&st.net(), 2, net));
                    }
                }
                b'Z' | b'T' | b'C' => {
                    let moving = st.moving_reads > 0;
                    if !moving {
                        match b {
                            b'Z' => {
                                st.weight = Decimal::new(0, st.weight.scale()).unwrap_or(st.weight)
                            }
                            b'T' => st.tare = st.weight,
                            _ => st.tare = Decimal::ZERO,
                        }
                    }
                    let s = Status8217 {
                        motion: moving,
                        center_of_zero: !moving && st.net().mantissa() == 0,
                        net: st.tare.mantissa() != 0,
                        ..Default::default()
                    };
                    out.extend_from_slice(&toledo::encode_8217_status(&s));
                }
                b'E' => out.extend_from_slice(&[toledo::STX, b'E', toledo::CR]),
                _ => {}
            }
        }
        Action::Continue
    }
}

/// NCI general serial protocol scale.
#[derive(Debug)]
pub struct NciScale {
    state: Arc<Mutex<ScaleState>>,
    lines: LineSplitter,
}

impl NciScale {
    /// A scale showing `weight` `unit` (lb by tradition).
    pub fn new(weight: &str, unit: &str) -> Self {
        NciScale {
            state: ScaleState::new(weight, unit),
            lines: LineSplitter::new(16),
        }
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<ScaleState>> {
        self.state.clone()
    }
}

impl Behavior for NciScale {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        let mut lines = Vec::new();
        self.lines.push(input, &mut lines);
        let mut st = lock(&self.state);
        for l in lines {
            let moving = st.moving_reads > 0;
            let status = |st: &ScaleState| NciStatus {
                motion: st.moving_reads > 0,
                at_zero: st.net().mantissa() == 0,
                under_capacity: st.underload,
                over_capacity: st.overload,
                ..Default::default()
            };
            match l.trim() {
                "W" => {
                    st.requests += 1;
                    let s = status(&st);
                    if moving {
                        st.moving_reads -= 1;
                    }
                    if s.motion || s.over_capacity || s.under_capacity {
                        out.extend_from_slice(&nci::encode(None, &s));
                    } else {
                        let w = format!("{:0>6}{}", st.net().to_string(), st.unit);
                        out.extend_from_slice(&nci::encode(Some(&w), &s));
                    }
                }
                "S" => out.extend_from_slice(&nci::encode(None, &status(&st))),
                "Z" => {
                    if !moving {
                        st.weight = Decimal::new(0, st.weight.scale()).unwrap_or(st.weight);
                    }
                    out.extend_from_slice(&nci::encode(None, &status(&st)));
                }
                _ => out.extend_from_slice(&[nci::LF, b'?', b'\r', nci::ETX]),
            }
        }
        Action::Continue
    }
}

/// Indicator streaming Toledo continuous output every 100 ms.
#[derive(Debug)]
pub struct ContinuousScale {
    state: Arc<Mutex<ScaleState>>,
}

impl ContinuousScale {
    /// Streams `weight` (kg, up to 3 decimals).
    pub fn new(weight: &str) -> Self {
        ContinuousScale {
            state: ScaleState::new(weight, "kg"),
        }
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<ScaleState>> {
        self.state.clone()
    }
}

impl Behavior for ContinuousScale {
    fn on_input(&mut self, _: &[u8], _: &mut Vec<u8>) -> Action {
        Action::Continue
    }
    fn tick(&self) -> Option<Duration> {
        Some(Duration::from_millis(100))
    }
    fn on_tick(&mut self, out: &mut Vec<u8>) {
        let mut st = lock(&self.state);
        let moving = st.moving_reads > 0;
        if moving {
            st.moving_reads -= 1;
        }
        let w = st.net();
        let d = w.scale().min(5) as u8;
        let m = w.mantissa().unsigned_abs() as u32;
        out.extend_from_slice(&toledo::encode_continuous(
            m,
            d,
            st.unit == "kg",
            moving,
            w.is_negative(),
            st.overload || st.underload,
            true,
        ));
    }
}

/// Simulated ZPL printer state.
#[derive(Clone, Debug, Default)]
pub struct ZplState {
    /// Out of media.
    pub paper_out: bool,
    /// Head open.
    pub head_open: bool,
    /// Paused.
    pub paused: bool,
    /// Older firmware: answer `~HS` even while faulted.
    pub hs_when_faulted: bool,
    /// Labels printed.
    pub printed: u32,
    /// Formats received while faulted or busy, printed on recovery.
    pub buffered: u32,
    /// Every complete format received, in order.
    pub formats: Vec<String>,
    /// The formats that printed, in order (a format lost in a power cycle never does).
    pub labels: Vec<String>,
    /// The received formats waiting to print.
    pub pending: Vec<String>,
    /// Still printing what it holds: formats stay in the buffer (and `~HS` reports them) until
    /// [`ZplState::release`].
    pub busy: bool,
    /// Media printed, in dots at 203 dpi (each label adds its `^LL` length, 1218 by default):
    /// the `~HQOD` odometer.
    pub odometer_dots: u64,
    /// Older firmware without the `~HQ` odometer query: `~HQOD` goes unanswered.
    pub no_odometer: bool,
    /// `~HS` queries answered.
    pub hs_queries: u32,
    /// `~HQOD` queries answered.
    pub hqod_queries: u32,
}

fn label_dots(format: &str) -> u64 {
    format
        .find("^LL")
        .map(|i| {
            format[i + 3..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .fold(0u64, |a, d| {
                    a.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                })
        })
        .filter(|&n| n > 0)
        .unwrap_or(1218)
}

impl ZplState {
    fn fault(&self) -> bool {
        self.paper_out || self.head_open || self.paused
    }

    fn print_one(&mut self, format: String) {
        self.printed += 1;
        self.odometer_dots += label_dots(&format);
        self.labels.push(format);
    }

    fn print_pending(&mut self) {
        if self.fault() || self.busy {
            return;
        }
        for f in std::mem::take(&mut self.pending) {
            self.print_one(f);
        }
        self.buffered = 0;
    }

    fn receive(&mut self, format: String) {
        self.formats.push(format.clone());
        if self.fault() || self.busy {
            self.buffered += 1;
            self.pending.push(format);
        } else {
            self.print_one(format);
        }
    }

    /// Loads paper / closes the head / unpauses as asked; buffered labels print.
    pub fn set(&mut self, paper_out: bool, head_open: bool, paused: bool) {
        self.paper_out = paper_out;
        self.head_open = head_open;
        self.paused = paused;
        self.print_pending();
    }

    /// The busy printer gets through what it holds: buffered labels print.
    pub fn release(&mut self) {
        self.busy = false;
        self.print_pending();
    }

    /// Power off and on: whatever was buffered and not printed is gone; the odometer stays.
    pub fn power_cycle(&mut self) {
        self.pending.clear();
        self.buffered = 0;
        self.busy = false;
    }

    /// The odometer as `~HQOD` reports it: whole inches.
    pub fn odometer(&self) -> Odometer {
        let inches = self.odometer_dots / 203;
        Odometer {
            total: inches,
            counter1: inches,
            counter2: inches,
            metric: false,
        }
    }
}

/// Zebra ZPL printer answering `~HS`, `~HQES` and `~HQOD`.
#[derive(Debug)]
pub struct ZplPrinter {
    state: Arc<Mutex<ZplState>>,
    buf: Vec<u8>,
}

impl ZplPrinter {
    /// An idle printer with paper.
    pub fn new() -> Self {
        ZplPrinter {
            state: Arc::new(Mutex::new(ZplState::default())),
            buf: Vec::new(),
        }
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<ZplState>> {
        self.state.clone()
    }
}

impl Default for ZplPrinter {
    fn default() -> Self {
        ZplPrinter::new()
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

impl Behavior for ZplPrinter {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        self.buf.extend_from_slice(input);
        let mut st = lock(&self.state);
        loop {
            let hs = find(&self.buf, b"~HS");
            let hq = find(&self.buf, b"~HQES");
            let od = find(&self.buf, b"~HQOD");
            let xa = find(&self.buf, b"^XA");
            let first = [hs, hq, od, xa].into_iter().flatten().min();
            let Some(pos) = first else {
                let keep = self.buf.len().min(4);
                self.buf.drain(..self.buf.len() - keep);
                break;
            };
            if Some(pos) == hs {
                self.buf.drain(..pos + 3);
                st.hs_queries += 1;
                let silent = (st.paper_out || st.head_open) && !st.hs_when_faulted;
                if !silent {
                    let s = HostStatus {
                        comm: 30,
                        paper_out: st.paper_out,
                        paused: st.paused,
                        label_length: 1218,
                        formats_in_buffer: st.buffered,
                        head_open: st.head_open,
                        print_mode: '2',
                        labels_remaining: 0,
                        ..Default::default()
                    };
                    out.extend_from_slice(&s.encode());
                }
            } else if Some(pos) == hq {
                self.buf.drain(..pos + 5);
                let e = ErrorStatus {
                    errors: u32::from(st.paper_out)
                        | u32::from(st.head_open) << 2
                        | u32::from(st.paused) << 16,
                    warnings: 0,
                };
                out.extend_from_slice(&e.encode());
            } else if Some(pos) == od {
                self.buf.drain(..pos + 5);
                if !st.no_odometer {
                    st.hqod_queries += 1;
                    out.extend_from_slice(&st.odometer().encode());
                }
            } else {
                let Some(end) = find(&self.buf[pos..], b"^XZ") else {
                    if self.buf.len() > 1 << 20 {
                        self.buf.clear();
                    }
                    break;
                };
                let fmt: Vec<u8> = self.buf.drain(..pos + end + 3).skip(pos).collect();
                st.receive(String::from_utf8_lossy(&fmt).into_owned());
            }
        }
        Action::Continue
    }
}

/// Simulated ESC/POS printer state.
#[derive(Clone, Debug, Default)]
pub struct EscPosState {
    /// Real-time status flags.
    pub status: EscPosStatus,
    /// Receipts cut (printed).
    pub receipts: u32,
    /// Receipts received while offline, printed on recovery.
    pub buffered: u32,
    /// Drawer kicks.
    pub drawer_kicks: u32,
    /// The text it printed (printable bytes and line feeds outside commands), for tests that
    /// read a receipt as the customer would.
    pub printed: String,
}

impl EscPosState {
    /// Sets paper end / cover open; the printer is offline while either holds.
    pub fn set(&mut self, paper_end: bool, cover_open: bool, near_end: bool) {
        self.status.paper_end = paper_end;
        self.status.paper_end_stop = paper_end;
        self.status.cover_open = cover_open;
        self.status.paper_near_end = near_end;
        self.status.offline = paper_end || cover_open;
        if !self.status.offline {
            self.receipts += self.buffered;
            self.buffered = 0;
        }
    }
}

/// Epson-style ESC/POS printer answering `DLE EOT n`.
#[derive(Debug)]
pub struct EscPosPrinter {
    state: Arc<Mutex<EscPosState>>,
    buf: Vec<u8>,
}

impl EscPosPrinter {
    /// A ready printer.
    pub fn new() -> Self {
        EscPosPrinter {
            state: Arc::new(Mutex::new(EscPosState::default())),
            buf: Vec::new(),
        }
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<EscPosState>> {
        self.state.clone()
    }
}

impl Default for EscPosPrinter {
    fn default() -> Self {
        EscPosPrinter::new()
    }
}

impl Behavior for EscPosPrinter {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        self.buf.extend_from_slice(input);
        let mut st = lock(&self.state);
        let mut i = 0;
        let b = &self.buf;
        while i < b.len() {
            match (b[i], b.get(i + 1).copied()) {
                (0x10, Some(0x04)) => {
                    let Some(&n) = b.get(i + 2) else { break };
                    out.push(st.status.encode(n));
                    i += 3;
                }
                (0x1B, Some(0x70)) => {
                    if b.len() < i + 5 {
                        break;
                    }
                    st.drawer_kicks += 1;
                    i += 5;
                }
                (0x1D, Some(0x56)) => {
                    let Some(&m) = b.get(i + 2) else { break };
                    let len = if matches!(m, 0x41 | 0x42 | 0x61 | 0x62 | 0x67 | 0x68) {
                        4
                    } else {
                        3
                    };
                    if b.len() < i + len {
                        break;
                    }
                    if st.status.offline {
                        st.buffered += 1;
                    } else {
                        st.receipts += 1;
                    }
                    i += len;
                }
                (0x10 | 0x1B | 0x1D, None) => break,
                // Other commands are skipped with their parameters, so the text stays readable.
                // A barcode (GS k m n d1…dn, or NUL-terminated for m < 65) and a 2-D code
                // (GS ( k pL pH …) carry data that is not printed text.
                (0x1D, Some(b'k')) => {
                    let Some(&m) = b.get(i + 2) else { break };
                    let len = if m >= 65 {
                        match b.get(i + 3) {
                            Some(&n) => 4 + usize::from(n),
                            None => break,
                        }
                    } else {
                        match b[i + 3..].iter().position(|&x| x == 0) {
                            Some(p) => 4 + p,
                            None => break,
                        }
                    };
                    if b.len() < i + len {
                        break;
                    }
                    i += len;
                }
                (0x1D, Some(b'(')) => {
                    let (Some(&pl), Some(&ph)) = (b.get(i + 3), b.get(i + 4)) else {
                        break;
                    };
                    let len = 5 + usize::from(pl) + 256 * usize::from(ph);
                    if b.len() < i + len {
                        break;
                    }
                    i += len;
                }
                (0x1B | 0x1D, Some(cmd)) => {
                    let len = match cmd {
                        b'@' => 2,
                        b'a' | b'E' | b'!' | b'd' | b'M' | b'-' | b't' | b'h' | b'w' | b'H' => 3,
                        _ => 2,
                    };
                    if b.len() < i + len {
                        break;
                    }
                    i += len;
                }
                (c, _) => {
                    if c == b'\n' || (0x20..0x7F).contains(&c) {
                        st.printed.push(char::from(c));
                    }
                    i += 1;
                }
            }
        }
        self.buf.drain(..i);
        Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::zpl::{self, parse_hqod};
    use crate::protocol::DelimitedFramer;

    fn odometer(p: &mut ZplPrinter) -> Option<u64> {
        let mut out = Vec::new();
        p.on_input(zpl::HQOD, &mut out);
        let mut f = DelimitedFramer::new(zpl::STX, zpl::ETX, 512);
        let mut blocks = Vec::new();
        f.push(&out, &mut blocks);
        blocks
            .first()
            .and_then(|b| parse_hqod(&String::from_utf8_lossy(b)))
            .map(|o| o.total)
    }

    #[test]
    fn the_odometer_moves_when_a_label_prints_and_not_before() {
        let mut p = ZplPrinter::new();
        let state = p.state();
        assert_eq!(odometer(&mut p), Some(0));
        let mut out = Vec::new();
        p.on_input(b"^XA^LL1218^FDone^FS^XZ", &mut out);
        assert!(out.is_empty(), "a format gets no answer");
        assert_eq!(odometer(&mut p), Some(6), "6 in at 203 dpi");
        // Busy: the next format waits in the buffer and `~HS` says so; the odometer stays.
        lock(&state).busy = true;
        p.on_input(b"^XA^FDtwo^FS^XZ", &mut out);
        assert_eq!(lock(&state).buffered, 1);
        assert_eq!(odometer(&mut p), Some(6));
        lock(&state).release();
        assert_eq!(odometer(&mut p), Some(12));
        assert_eq!(lock(&state).labels.len(), 2);
        // A power cycle loses what was buffered: received, never printed.
        lock(&state).busy = true;
        p.on_input(b"^XA^FDthree^FS^XZ", &mut out);
        lock(&state).power_cycle();
        assert_eq!(odometer(&mut p), Some(12));
        let st = lock(&state);
        assert_eq!((st.formats.len(), st.labels.len(), st.printed), (3, 2, 2));
        drop(st);
        // Firmware without the query stays silent.
        lock(&state).no_odometer = true;
        assert_eq!(odometer(&mut p), None);
    }

    #[test]
    fn a_receipt_printer_keeps_text_not_barcode_or_qr_data() {
        let mut p = EscPosPrinter::new();
        let mut out = Vec::new();
        let mut bytes = b"Receipt 42\n".to_vec();
        // CODE128 (function B: m = 73, n = 6) and a QR store-data block (GS ( k pL pH ...).
        bytes.extend_from_slice(&[0x1D, b'k', 73, 6]);
        bytes.extend_from_slice(b"{C\x2a\x2b\x2c\x2d");
        bytes.extend_from_slice(&[0x1D, b'(', b'k', 9, 0, 49, 80, 48]);
        bytes.extend_from_slice(b"HIDDEN");
        // A NUL-terminated barcode (function A, m = 4: CODE39).
        bytes.extend_from_slice(&[0x1D, b'k', 4]);
        bytes.extend_from_slice(b"ALSOHIDDEN\0");
        bytes.extend_from_slice(b"Thank you\n");
        // Fed in two pieces cut inside a barcode: the parser waits for the rest.
        let (a, b) = bytes.split_at(15);
        p.on_input(a, &mut out);
        p.on_input(b, &mut out);
        let printed = lock(&p.state).printed.clone();
        assert_eq!(printed, "Receipt 42\nThank you\n");
    }
}
