//! ZPL II output. Every `^FD` this module writes is preceded by `^FH` and its data passes through
//! [`escape_field`], so a `^` or `~` in a customer's name reaches the printer as the hex escape
//! `_5E`/`_7E`, never as a command prefix. Coordinates are designed at 203 dpi and scaled.

pub mod labels;
pub mod template;

use crate::error::{Error, Result};
use crate::gs1::Symbol;
use std::fmt::Write as _;

/// Print resolution of a label printer (from its firmware profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dpi {
    Dpi203,
    Dpi300,
}

impl Dpi {
    /// The resolution from a number; only the two resolutions the fleet uses are accepted.
    pub fn from_number(dpi: u32) -> Result<Dpi> {
        match dpi {
            203 => Ok(Dpi::Dpi203),
            300 => Ok(Dpi::Dpi300),
            other => Err(Error::Unsupported(format!(
                "dpi {other} is not supported (203 or 300)"
            ))),
        }
    }

    /// Dots per inch.
    pub fn dots_per_inch(self) -> u32 {
        match self {
            Dpi::Dpi203 => 203,
            Dpi::Dpi300 => 300,
        }
    }

    /// Scale a length designed in 203-dpi dots to this resolution.
    pub fn scale(self, dots_at_203: u32) -> u32 {
        match self {
            Dpi::Dpi203 => dots_at_203,
            Dpi::Dpi300 => (dots_at_203 * 300 + 101) / 203,
        }
    }
}

/// Append `text` to `out` as `^FH` field data: `^`, `~`, `_` and `\` become `_5E`, `_7E`, `_5F`,
/// `_5C`; control characters (C0, DEL, C1) are dropped; other characters, including non-ASCII
/// (sent as UTF-8 under `^CI28`), pass through. At most `max_chars` characters are kept.
pub fn escape_field(out: &mut String, text: &str, max_chars: usize) {
    for ch in text.chars().take(max_chars) {
        match ch {
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '_' => out.push_str("_5F"),
            '\\' => out.push_str("_5C"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

/// The inverse of [`escape_field`] for `_XX` escapes (what the printer does under `^FH`).
pub fn unescape_field(data: &str) -> String {
    let b = data.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            if let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CodeSet {
    B,
    C,
}

/// Code 128 field data in ZPL "no mode" (`^BC…,N`), with code sets chosen for a short symbol:
/// start in subset C when the data starts with digits and stay there while digit pairs last,
/// otherwise subset B; `>8` for FNC1. Returns the field data and the
/// symbol width in modules (without quiet zones) so a layout can pick a module width that fits.
pub fn code128_field(symbols: &[Symbol]) -> Result<(String, u32)> {
    let mut out = String::with_capacity(symbols.len() + 8);
    let mut set: Option<CodeSet> = None;
    let mut codewords: u32 = 0;
    let digit_run = |from: usize| {
        symbols[from..]
            .iter()
            .take_while(|s| matches!(s, Symbol::Char(c) if c.is_ascii_digit()))
            .count()
    };
    let n = symbols.len();
    if n == 0 {
        return Err(Error::data("barcode", "is empty"));
    }
    let mut i = 0;
    while i < n {
        match symbols[i] {
            Symbol::Fnc1 => {
                if set.is_none() {
                    let next = if i + 1 < n { digit_run(i + 1) } else { 0 };
                    let start = if next >= 2 { CodeSet::C } else { CodeSet::B };
                    out.push_str(if start == CodeSet::C { ">;" } else { ">:" });
                    codewords += 1;
                    set = Some(start);
                }
                out.push_str(">8");
                codewords += 1;
                i += 1;
            }
            Symbol::Char(c) => {
                if !(0x20..=0x7E).contains(&c) {
                    return Err(Error::data(
                        "barcode",
                        format!("byte 0x{c:02X} cannot be printed in Code 128 subset B"),
                    ));
                }
                let run = digit_run(i);
                let at_end = i + run == n;
                let want_c = match set {
                    None => run >= 4 || (run == 2 && at_end),
                    Some(CodeSet::C) => run >= 2,
                    // Never switch B→C mid-symbol (`>5`): an offline renderer used to verify
                    // labels mis-encodes it, and digits are valid in B (only density is lost).
                    Some(CodeSet::B) => false,
                };
                if want_c && (run % 2 == 0 || set == Some(CodeSet::C)) {
                    if set != Some(CodeSet::C) {
                        out.push_str(if set.is_none() { ">;" } else { ">5" });
                        codewords += 1;
                        set = Some(CodeSet::C);
                    }
                    let pairs = run / 2;
                    for s in &symbols[i..i + pairs * 2] {
                        if let Symbol::Char(d) = s {
                            out.push(*d as char);
                        }
                    }
                    codewords += pairs as u32;
                    i += pairs * 2;
                    continue;
                }
                if set != Some(CodeSet::B) {
                    out.push_str(if set.is_none() { ">:" } else { ">6" });
                    codewords += 1;
                    set = Some(CodeSet::B);
                }
                match c {
                    b'>' => out.push_str(">0"),
                    b'^' => out.push_str("><"),
                    b'~' => out.push_str(">="),
                    b'_' => out.push_str("_5F"),
                    other => out.push(other as char),
                }
                codewords += 1;
                i += 1;
            }
        }
    }
    // Each codeword and the check character are 11 modules, the stop pattern 13.
    Ok((out, (codewords + 1) * 11 + 13))
}

/// A ZPL label being written, with coordinates given at 203 dpi.
pub struct Canvas {
    out: String,
    dpi: Dpi,
}

/// A 4x6 inch label's size in dots at 203 dpi.
pub const LABEL_4X6_AT_203: (u32, u32) = (812, 1218);

impl Canvas {
    /// Start a label format of `width`×`height` (203-dpi dots): UTF-8, print width, length, home.
    pub fn begin(dpi: Dpi, width: u32, height: u32) -> Canvas {
        let mut c = Canvas {
            out: String::with_capacity(2048),
            dpi,
        };
        let _ = write!(
            c.out,
            "^XA\n^CI28\n^PW{}\n^LL{}\n^LH0,0\n",
            dpi.scale(width),
            dpi.scale(height)
        );
        c
    }

    fn s(&self, v: u32) -> u32 {
        self.dpi.scale(v)
    }

    /// One line of text in the scalable font, cut at `max_chars`.
    pub fn text(&mut self, x: u32, y: u32, height: u32, text: &str, max_chars: usize) {
        let (x, y, h) = (self.s(x), self.s(y), self.s(height));
        let _ = write!(self.out, "^FO{x},{y}^A0N,{h},{h}^FH^FD");
        escape_field(&mut self.out, text, max_chars);
        self.out.push_str("^FS\n");
    }

    /// Several lines in a `^FB` block of `width` dots; each line is escaped and cut separately.
    pub fn block(
        &mut self,
        x: u32,
        y: u32,
        height: u32,
        width: u32,
        lines: &[&str],
        max_chars: usize,
    ) {
        let shown: Vec<&&str> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
        if shown.is_empty() {
            return;
        }
        let (x, y, h, w) = (self.s(x), self.s(y), self.s(height), self.s(width));
        let _ = write!(
            self.out,
            "^FO{x},{y}^A0N,{h},{h}^FB{w},{},0,L,0^FH^FD",
            shown.len()
        );
        for (i, line) in shown.iter().enumerate() {
            if i > 0 {
                self.out.push_str("\\&");
            }
            escape_field(&mut self.out, line, max_chars);
        }
        self.out.push_str("^FS\n");
    }

    /// A horizontal rule.
    pub fn rule(&mut self, x: u32, y: u32, width: u32, thickness: u32) {
        let (x, y, w, t) = (
            self.s(x),
            self.s(y),
            self.s(width),
            self.s(thickness).max(1),
        );
        let _ = writeln!(self.out, "^FO{x},{y}^GB{w},{t},{t}^FS");
    }

    /// A Code 128 symbol with the widest module (up to `max_module` at 203 dpi) that fits in
    /// `avail_width`, quiet zones included; no printer HRI (the layout prints its own).
    pub fn code128(
        &mut self,
        x: u32,
        y: u32,
        height: u32,
        avail_width: u32,
        max_module: u32,
        symbols: &[Symbol],
    ) -> Result<()> {
        let (data, modules) = code128_field(symbols)?;
        let avail = self.s(avail_width);
        let with_quiet = modules + 20;
        let module = (avail / with_quiet).min(self.s(max_module)).max(1);
        if module * with_quiet > avail && module == 1 && with_quiet > avail {
            return Err(Error::data("barcode", "is too long to fit on the label"));
        }
        let (x, y, h) = (self.s(x) + module * 10, self.s(y), self.s(height));
        let _ = writeln!(
            self.out,
            "^BY{module}^FO{x},{y}^BCN,{h},N,N,N^FH^FD{data}^FS"
        );
        Ok(())
    }

    /// A GS1 DataMatrix of `symbols` (FNC1 written `_1` with `_` escaped under `^FH` as `_5F`).
    pub fn gs1_datamatrix(&mut self, x: u32, y: u32, module: u32, symbols: &[Symbol]) {
        let (x, y, m) = (self.s(x), self.s(y), self.s(module));
        let _ = write!(self.out, "^FO{x},{y}^BXN,{m},200,,,,_^FH^FD");
        for s in symbols {
            match s {
                Symbol::Fnc1 => self.out.push_str("_5F1"),
                Symbol::Char(b'_') => self.out.push_str("_5F_5F"),
                Symbol::Char(c) => escape_field(&mut self.out, &(*c as char).to_string(), 1),
            }
        }
        self.out.push_str("^FS\n");
    }

    /// A QR code (model 2, error correction M) of printable text.
    pub fn qr(&mut self, x: u32, y: u32, magnification: u32, text: &str) {
        let (x, y) = (self.s(x), self.s(y));
        let m = match self.dpi {
            Dpi::Dpi203 => magnification,
            Dpi::Dpi300 => magnification * 3 / 2,
        };
        let _ = write!(self.out, "^FO{x},{y}^BQN,2,{m}^FH^FDMA,");
        escape_field(&mut self.out, text, 500);
        self.out.push_str("^FS\n");
    }

    /// Finish the format (one copy) and return the ZPL.
    pub fn finish(mut self) -> String {
        self.out.push_str("^PQ1\n^XZ\n");
        self.out
    }
}

/// Symbols of a plain (non-GS1) Code 128 of `text`.
pub fn plain_symbols(text: &str) -> Vec<Symbol> {
    text.bytes().map(Symbol::Char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_command_prefixes() {
        let mut s = String::new();
        escape_field(&mut s, "A^XZ~JR_\\&Müller\u{7}", 100);
        assert_eq!(s, "A_5EXZ_7EJR_5F_5C&Müller");
        assert_eq!(unescape_field(&s), "A^XZ~JR_\\&Müller");
    }

    #[test]
    fn code128_sets() {
        let sscc: Vec<Symbol> = std::iter::once(Symbol::Fnc1)
            .chain("00106141411234567897".bytes().map(Symbol::Char))
            .collect();
        let (d, modules) = code128_field(&sscc).unwrap();
        assert_eq!(d, ">;>800106141411234567897");
        // start + FNC1 + 10 pairs + check = 13 codewords of 11 modules, stop 13.
        assert_eq!(modules, 13 * 11 + 13);
        let (d, _) = code128_field(&plain_symbols("1Z999AA10123456784")).unwrap();
        assert_eq!(d, ">:1Z999AA10123456784");
        let (d, _) = code128_field(&plain_symbols("A>^~_")).unwrap();
        assert_eq!(d, ">:A>0><>=_5F");
        assert!(code128_field(&plain_symbols("A\u{1}")).is_err());
        assert!(code128_field(&[]).is_err());
    }
}
