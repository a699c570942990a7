//! Defensive scanner line framing. Serial scanners send `[AIM id][data][terminator]`, but the
//! wire also carries power-up noise (NULs, banners), half frames from a hot-plug and overlong
//! garbage. The framer emits only frames that are complete, printable in the configured code
//! page and within the length cap; everything else is reported as discarded so it can be
//! counted, never passed on as a scan. NUL padding around a frame (some scanners pad to a fixed
//! length) is stripped; a frame of nothing but NULs is noise.

use std::time::{Duration, Instant};

use crate::profiles::{Encoding, Profile, Terminator};

/// Framing parameters, normally from the device's profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramerConfig {
    /// Frame end.
    pub terminator: Terminator,
    /// Longest accepted frame (without terminator).
    pub max_line: usize,
    /// Code page of the bytes.
    pub encoding: Encoding,
    /// Silence after which buffered bytes without terminator are a partial frame.
    pub idle_gap: Duration,
}

impl FramerConfig {
    /// The framing a profile describes.
    pub fn from_profile(p: &Profile) -> Self {
        FramerConfig {
            terminator: p.framing.terminator,
            max_line: p.framing.max_line,
            encoding: p.framing.encoding,
            idle_gap: Duration::from_millis(p.framing.idle_gap_ms),
        }
    }
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            terminator: Terminator::Any,
            max_line: 4096,
            encoding: Encoding::Utf8,
            idle_gap: Duration::from_millis(250),
        }
    }
}

/// One barcode read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanFrame {
    /// Payload without terminator and AIM prefix.
    pub data: String,
    /// AIM symbology identifier such as `]C1`, when the scanner sent one.
    pub symbology: Option<String>,
    /// The frame's bytes (AIM prefix included, terminator excluded) for GS1 parsing.
    pub raw: Vec<u8>,
}

/// Why bytes were thrown away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscardReason {
    /// Control bytes other than GS/RS/FS/EOT: line noise.
    Noise,
    /// Longer than the cap.
    Overlong,
    /// Unterminated bytes followed by silence, or an AIM prefix without data.
    Partial,
    /// Not valid in the configured code page.
    Encoding,
}

/// What the framer produced from some bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameEvent {
    /// A complete, valid scan.
    Scan(ScanFrame),
    /// Bytes dropped, with how many.
    Discarded {
        /// Why.
        reason: DiscardReason,
        /// How many bytes.
        len: usize,
    },
}

/// Incremental scanner framer. Feed it chunks as they arrive, with the arrival time.
#[derive(Debug)]
pub struct LineFramer {
    cfg: FramerConfig,
    buf: Vec<u8>,
    overlong: bool,
    last_byte: Option<Instant>,
}

impl LineFramer {
    /// A framer with the given configuration.
    pub fn new(cfg: FramerConfig) -> Self {
        LineFramer {
            cfg,
            buf: Vec::new(),
            overlong: false,
            last_byte: None,
        }
    }

    /// Drops whatever is buffered (after a reconnect the old bytes mean nothing).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.overlong = false;
        self.last_byte = None;
    }

    /// Feeds bytes received at `now`; events are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<FrameEvent>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(last) = self.last_byte {
            if (!self.buf.is_empty() || self.overlong)
                && now.saturating_duration_since(last) > self.cfg.idle_gap
            {
                if !self.buf.is_empty() {
                    out.push(FrameEvent::Discarded {
                        reason: DiscardReason::Partial,
                        len: self.buf.len(),
                    });
                }
                self.buf.clear();
                self.overlong = false;
            }
        }
        self.last_byte = Some(now);
        for &b in bytes {
            if self.ends_frame(b) {
                self.finish(out);
                continue;
            }
            if self.overlong {
                continue;
            }
            if self.buf.is_empty() && self.skip_leading(b) {
                continue;
            }
            if self.buf.len() >= self.cfg.max_line {
                out.push(FrameEvent::Discarded {
                    reason: DiscardReason::Overlong,
                    len: self.buf.len() + 1,
                });
                self.buf.clear();
                self.overlong = true;
                continue;
            }
            self.buf.push(b);
        }
    }

    fn ends_frame(&self, b: u8) -> bool {
        match self.cfg.terminator {
            Terminator::Cr => b == b'\r',
            Terminator::Lf | Terminator::Crlf => b == b'\n',
            Terminator::Tab => b == b'\t',
            Terminator::Any => matches!(b, b'\r' | b'\n' | b'\t'),
        }
    }

    /// A stray LF after a CR terminator (scanner set to CR LF while we expect CR) is not data.
    fn skip_leading(&self, b: u8) -> bool {
        matches!(self.cfg.terminator, Terminator::Cr) && b == b'\n'
            || matches!(self.cfg.terminator, Terminator::Tab) && matches!(b, b'\r' | b'\n')
    }

    fn finish(&mut self, out: &mut Vec<FrameEvent>) {
        if self.overlong {
            self.overlong = false;
            self.buf.clear();
            return;
        }
        let mut raw = std::mem::take(&mut self.buf);
        if matches!(self.cfg.terminator, Terminator::Lf | Terminator::Crlf)
            && raw.last() == Some(&b'\r')
        {
            raw.pop();
        }
        if raw.is_empty() {
            return;
        }
        out.push(validate(raw, self.cfg.encoding));
    }
}

fn allowed_control(b: u8) -> bool {
    // GS separates GS1 fields; RS, FS and EOT appear in ISO/IEC 15434 envelopes.
    matches!(b, 0x1D | 0x1E | 0x1C | 0x04)
}

fn validate(mut raw: Vec<u8>, enc: Encoding) -> FrameEvent {
    let len = raw.len();
    // Some scanners pad a frame with NULs: padding, not noise, around plain ASCII. NULs with
    // anything else (bytes above 0x7F at power-up) or alone are noise.
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let start = raw.iter().position(|&b| b != 0).unwrap_or(end);
    let padded = start > 0 || end < raw.len();
    if padded {
        let inner = &raw[start..end];
        if inner.is_empty() || !inner.iter().all(u8::is_ascii) {
            return FrameEvent::Discarded {
                reason: DiscardReason::Noise,
                len,
            };
        }
        raw.truncate(end);
        raw.drain(..start);
    }
    if raw
        .iter()
        .any(|&b| (b < 0x20 && !allowed_control(b)) || b == 0x7F)
    {
        return FrameEvent::Discarded {
            reason: DiscardReason::Noise,
            len,
        };
    }
    let text = match decode(&raw, enc) {
        Some(t) => t,
        None => {
            return FrameEvent::Discarded {
                reason: DiscardReason::Encoding,
                len,
            }
        }
    };
    let (symbology, data) = split_aim(&text);
    if data.is_empty() {
        return FrameEvent::Discarded {
            reason: DiscardReason::Partial,
            len,
        };
    }
    FrameEvent::Scan(ScanFrame {
        data: data.to_string(),
        symbology: symbology.map(str::to_string),
        raw,
    })
}

/// Splits `]Cm` off the front when present.
pub fn split_aim(text: &str) -> (Option<&str>, &str) {
    let b = text.as_bytes();
    if b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric() {
        (Some(&text[..3]), &text[3..])
    } else {
        (None, text)
    }
}

/// Decodes bytes in a scanner code page; `None` when they are not valid in it.
pub fn decode(raw: &[u8], enc: Encoding) -> Option<String> {
    match enc {
        Encoding::Utf8 => std::str::from_utf8(raw).ok().map(str::to_string),
        Encoding::Latin1 => Some(raw.iter().map(|&b| char::from(b)).collect()),
        Encoding::Cp1252 => raw.iter().map(|&b| cp1252(b)).collect(),
    }
}

fn cp1252(b: u8) -> Option<char> {
    const HIGH: [u32; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => match HIGH[usize::from(b - 0x80)] {
            0 => None,
            c => char::from_u32(c),
        },
        _ => Some(char::from(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scans(cfg: FramerConfig, chunks: &[&[u8]]) -> Vec<FrameEvent> {
        let mut f = LineFramer::new(cfg);
        let now = Instant::now();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, now, &mut out);
        }
        out
    }

    fn only_scans(ev: &[FrameEvent]) -> Vec<String> {
        ev.iter()
            .filter_map(|e| match e {
                FrameEvent::Scan(s) => Some(s.data.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn aim_kept_and_gs_preserved() {
        let ev = scans(
            FramerConfig::default(),
            &[b"]C1", b"0109501101530003", b"10ABC123\x1d21XYZ\r"],
        );
        match &ev[..] {
            [FrameEvent::Scan(s)] => {
                assert_eq!(s.symbology.as_deref(), Some("]C1"));
                assert_eq!(s.data, "010950110153000310ABC123\u{1d}21XYZ");
                assert_eq!(&s.raw[..3], b"]C1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn noise_and_overlong_dropped() {
        let cfg = FramerConfig {
            max_line: 16,
            ..FramerConfig::default()
        };
        let ev = scans(
            cfg,
            &[
                b"\x00\x00\xff\r",
                b"]E05901234123457\r",
                b"012345678901234567890123\r",
                b"LOC:A-03-2\r",
            ],
        );
        assert_eq!(only_scans(&ev), vec!["5901234123457", "LOC:A-03-2"]);
        assert!(
            ev.contains(&FrameEvent::Discarded {
                reason: DiscardReason::Noise,
                len: 4
            }) || ev.iter().any(|e| matches!(
                e,
                FrameEvent::Discarded {
                    reason: DiscardReason::Noise | DiscardReason::Encoding,
                    ..
                }
            ))
        );
        assert!(ev.iter().any(|e| matches!(
            e,
            FrameEvent::Discarded {
                reason: DiscardReason::Overlong,
                ..
            }
        )));
    }

    #[test]
    fn nul_padding_is_stripped_and_nuls_alone_are_noise() {
        let ev = scans(
            FramerConfig::default(),
            &[b"\x00\x00LOC:A-1\x00\x00\r\x00\x00\x00\r]C10109501101530003\x00\r"],
        );
        assert_eq!(only_scans(&ev), vec!["LOC:A-1", "0109501101530003"]);
        match &ev[0] {
            FrameEvent::Scan(s) => assert_eq!(s.raw, b"LOC:A-1"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ev[1],
            FrameEvent::Discarded {
                reason: DiscardReason::Noise,
                len: 3
            }
        );
    }

    #[test]
    fn partial_frame_before_silence_is_dropped() {
        let mut f = LineFramer::new(FramerConfig::default());
        let t0 = Instant::now();
        let mut out = Vec::new();
        f.push(b"]E059012", t0, &mut out);
        f.push(b"]E05901234123457\r", t0 + Duration::from_secs(1), &mut out);
        assert_eq!(only_scans(&out), vec!["5901234123457"]);
        assert_eq!(
            out[0],
            FrameEvent::Discarded {
                reason: DiscardReason::Partial,
                len: 8
            }
        );
    }

    #[test]
    fn terminators() {
        let crlf = FramerConfig {
            terminator: Terminator::Crlf,
            ..FramerConfig::default()
        };
        assert_eq!(
            only_scans(&scans(crlf, &[b"A1\r\nB2\r\n"])),
            vec!["A1", "B2"]
        );
        let cr = FramerConfig {
            terminator: Terminator::Cr,
            ..FramerConfig::default()
        };
        assert_eq!(only_scans(&scans(cr, &[b"A1\r\nB2\r\n"])), vec!["A1", "B2"]);
        assert_eq!(
            only_scans(&scans(FramerConfig::default(), &[b"A1\tB2\nC3\r\n"])),
            vec!["A1", "B2", "C3"]
        );
    }

    #[test]
    fn code_pages() {
        let cfg = FramerConfig {
            encoding: Encoding::Cp1252,
            ..FramerConfig::default()
        };
        assert_eq!(
            only_scans(&scans(cfg.clone(), &[b"M\xfcller \x80\r"])),
            vec!["Müller €"]
        );
        assert!(only_scans(&scans(cfg, &[b"\x81\r"])).is_empty());
        // The same bytes are not UTF-8.
        assert!(only_scans(&scans(FramerConfig::default(), &[b"M\xfcller\r"])).is_empty());
        assert_eq!(
            only_scans(&scans(FramerConfig::default(), &["Müller\r".as_bytes()])),
            vec!["Müller"]
        );
    }

    proptest! {
        /// Valid scans survive arbitrary chunking and are found between noise lines.
        #[test]
        fn chunking_does_not_matter(
            items in proptest::collection::vec("[A-Z0-9:-]{1,30}", 1..20),
            cuts in proptest::collection::vec(0usize..400, 0..10),
            noise in proptest::collection::vec(proptest::collection::vec(0u8..0x20, 1..5), 0..5),
        ) {
            let mut wire = Vec::new();
            for (i, it) in items.iter().enumerate() {
                if let Some(n) = noise.get(i) {
                    let n: Vec<u8> = n.iter().map(|b| if matches!(b, b'\r' | b'\n' | b'\t' | 0x1c..=0x1e | 0x04) { 0 } else { *b }).collect();
                    wire.extend_from_slice(&n);
                    wire.push(b'\r');
                }
                wire.extend_from_slice(it.as_bytes());
                wire.push(b'\r');
            }
            let mut cuts = cuts;
            cuts.push(wire.len());
            cuts.sort();
            let mut f = LineFramer::new(FramerConfig::default());
            let now = Instant::now();
            let mut out = Vec::new();
            let mut start = 0;
            for c in cuts {
                let c = c.min(wire.len());
                if c > start {
                    f.push(&wire[start..c], now, &mut out);
                    start = c;
                }
            }
            prop_assert_eq!(only_scans(&out), items);
        }

        /// No input makes it panic, and every scan respects the cap and carries no noise byte.
        #[test]
        fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600), max in 16usize..64) {
            let mut f = LineFramer::new(FramerConfig { max_line: max, ..FramerConfig::default() });
            let mut out = Vec::new();
            f.push(&data, Instant::now(), &mut out);
            for e in out {
                if let FrameEvent::Scan(s) = e {
                    prop_assert!(s.raw.len() <= max);
                    prop_assert!(!s.data.is_empty());
                    prop_assert!(!s.raw.iter().any(|&b| b < 0x20 && !allowed_control(b)));
                }
            }
        }
    }
}
