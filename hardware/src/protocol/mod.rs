//! Pure protocol code: bytes in, typed values out (and back). No I/O, no clocks except where a
//! caller passes an `Instant`, so every parser is property-tested and fuzzed.

pub mod display;
pub mod escpos;
pub mod nci;
pub mod nexo;
pub mod scanner;
pub mod sics;
pub mod toledo;
pub mod zpl;

/// Splits a byte stream into CR/LF-terminated text lines with a length cap; used by MT-SICS.
/// A line longer than the cap is dropped whole (up to its terminator).
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    overlong: bool,
}

impl LineSplitter {
    /// A splitter that drops lines longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            max: max.max(1),
            overlong: false,
        }
    }

    /// Feeds bytes; complete non-empty lines (without CR/LF) are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                if !self.overlong && !self.buf.is_empty() {
                    out.push(String::from_utf8_lossy(&self.buf).into_owned());
                }
                self.buf.clear();
                self.overlong = false;
            } else if !self.overlong {
                if self.buf.len() >= self.max {
                    self.overlong = true;
                    self.buf.clear();
                } else {
                    self.buf.push(b);
                }
            }
        }
    }

    /// Forgets a partial line (after reconnecting).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.overlong = false;
    }
}

/// Collects frames that begin with `start` and end with `end` (both excluded), dropping bytes
/// outside frames and frames longer than `max`; used by 8217, NCI and ZPL status replies.
#[derive(Debug)]
pub struct DelimitedFramer {
    start: u8,
    end: u8,
    max: usize,
    buf: Vec<u8>,
    inside: bool,
}

impl DelimitedFramer {
    /// A framer for `start … end` frames of at most `max` bytes.
    pub fn new(start: u8, end: u8, max: usize) -> Self {
        DelimitedFramer {
            start,
            end,
            max,
            buf: Vec::new(),
            inside: false,
        }
    }

    /// Feeds bytes; complete frame bodies are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        for &b in bytes {
            if !self.inside {
                if b == self.start {
                    self.inside = true;
                    self.buf.clear();
                }
                continue;
            }
            if b == self.end {
                out.push(std::mem::take(&mut self.buf));
                self.inside = false;
            } else if b == self.start && self.start != self.end {
                // A new start inside a frame: the earlier one was partial; resynchronise.
                self.buf.clear();
            } else if self.buf.len() >= self.max {
                self.inside = false;
                self.buf.clear();
            } else {
                self.buf.push(b);
            }
        }
    }

    /// Forgets a partial frame.
    pub fn reset(&mut self) {
        self.inside = false;
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_frames() {
        let mut s = LineSplitter::new(8);
        let mut out = Vec::new();
        s.push(b"S S 1 g\r\nxxxxxxxxxxxx\r\nZ A\r", &mut out);
        assert_eq!(out, vec!["S S 1 g".to_string(), "Z A".to_string()]);
        let mut f = DelimitedFramer::new(0x02, 0x0D, 16);
        let mut out = Vec::new();
        f.push(b"junk\x0201.2\x0201.250\r\x02?A\r", &mut out);
        assert_eq!(out, vec![b"01.250".to_vec(), b"?A".to_vec()]);
    }
}
