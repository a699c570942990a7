//! ESC/POS output for 58 and 80 mm receipt printers: a small byte encoder (no I/O, every byte
//! chosen here and pinned by golden files), code page selection for non-ASCII text, control
//! bytes stripped from data, card numbers masked, and the receipt/slip/report layouts.

pub mod docs;

pub use docs::{packing_slip, receipt, report, Receipt, Report};

use crate::check::luhn_ok;

/// Paper width of a receipt printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    Mm58,
    Mm80,
}

impl Paper {
    /// Characters per line in font A (12×24): 32 on 58 mm, 48 on 80 mm.
    pub fn columns(self) -> usize {
        match self {
            Paper::Mm58 => 32,
            Paper::Mm80 => 48,
        }
    }
}

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;

/// Code pages this encoder can select with `ESC t n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodePage {
    /// WPC1252, Western European (`ESC t 16`).
    Wpc1252,
    /// PC866, Cyrillic (`ESC t 17`).
    Pc866,
}

impl CodePage {
    fn number(self) -> u8 {
        match self {
            CodePage::Wpc1252 => 16,
            CodePage::Pc866 => 17,
        }
    }
}

fn cp1252(c: char) -> Option<u8> {
    let u = c as u32;
    if (0xA0..=0xFF).contains(&u) {
        return Some(u as u8);
    }
    Some(match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    })
}

fn cp866(c: char) -> Option<u8> {
    let u = c as u32;
    Some(match u {
        0x0410..=0x043F => (u - 0x0410 + 0x80) as u8,
        0x0440..=0x044F => (u - 0x0440 + 0xE0) as u8,
        0x0401 => 0xF0,
        0x0451 => 0xF1,
        _ => return None,
    })
}

/// Replace every card-number-looking run (13–19 digits, spaces or dashes allowed between, valid
/// Luhn) by asterisks except its last four digits, so no full PAN is ever printed.
pub fn mask_pans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // Extend over digits and single separators.
        let mut j = i;
        let mut digit_pos = Vec::new();
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digit_pos.push(j);
                j += 1;
            } else if (chars[j] == ' ' || chars[j] == '-')
                && j + 1 < chars.len()
                && chars[j + 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
        }
        let digits: Vec<u8> = digit_pos.iter().map(|&p| chars[p] as u8).collect();
        if (13..=19).contains(&digits.len()) && luhn_ok(&digits) {
            for &p in &digit_pos[..digit_pos.len() - 4] {
                out[p] = '*';
            }
        }
        i = j.max(i + 1);
    }
    out.into_iter().collect()
}

/// Byte encoder for one print job.
pub struct Encoder {
    out: Vec<u8>,
    codepage: Option<CodePage>,
    paper: Paper,
}

/// Horizontal alignment (`ESC a n`).
#[derive(Debug, Clone, Copy)]
pub enum Align {
    Left = 0,
    Center = 1,
    Right = 2,
}

impl Encoder {
    /// A job that starts with `ESC @` (initialise, so no mode from a previous job leaks in).
    pub fn new(paper: Paper) -> Encoder {
        Encoder {
            out: vec![ESC, b'@'],
            codepage: None,
            paper,
        }
    }

    /// Characters per line.
    pub fn columns(&self) -> usize {
        self.paper.columns()
    }

    /// Set alignment.
    pub fn align(&mut self, a: Align) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'a', a as u8]);
        self
    }

    /// Emphasis on/off.
    pub fn bold(&mut self, on: bool) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'E', u8::from(on)]);
        self
    }

    /// Character size multipliers 1–8 (`GS ! n`).
    pub fn size(&mut self, width: u8, height: u8) -> &mut Self {
        let w = width.clamp(1, 8) - 1;
        let h = height.clamp(1, 8) - 1;
        self.out.extend_from_slice(&[GS, b'!', (w << 4) | h]);
        self
    }

    /// Append text: control characters dropped, card numbers masked, each character encoded in
    /// a code page that has it (switching with `ESC t` only when needed), `?` when none has it.
    pub fn text(&mut self, text: &str) -> &mut Self {
        let masked = mask_pans(text);
        for ch in masked.chars() {
            if ch.is_control() {
                continue;
            }
            if ch.is_ascii() {
                self.out.push(ch as u8);
                continue;
            }
            let choice = [CodePage::Wpc1252, CodePage::Pc866]
                .into_iter()
                .filter_map(|cp| {
                    let b = match cp {
                        CodePage::Wpc1252 => cp1252(ch),
                        CodePage::Pc866 => cp866(ch),
                    }?;
                    Some((cp, b))
                })
                // Prefer the page already selected.
                .min_by_key(|(cp, _)| Some(*cp) != self.codepage);
            match choice {
                Some((cp, b)) => {
                    if self.codepage != Some(cp) {
                        self.out.extend_from_slice(&[ESC, b't', cp.number()]);
                        self.codepage = Some(cp);
                    }
                    self.out.push(b);
                }
                None => self.out.push(b'?'),
            }
        }
        self
    }

    /// Text then a line feed.
    pub fn line(&mut self, text: &str) -> &mut Self {
        self.text(text);
        self.out.push(b'\n');
        self
    }

    /// Text wrapped at the line width (words kept whole when they fit).
    pub fn wrapped(&mut self, text: &str) -> &mut Self {
        for l in wrap(text, self.columns()) {
            self.line(&l);
        }
        self
    }

    /// `left` and `right` on one line, right flush; `left` is cut to make room.
    pub fn two_columns(&mut self, left: &str, right: &str) -> &mut Self {
        let cols = self.columns();
        let right_len = right.chars().count().min(cols);
        let room = cols.saturating_sub(right_len + 1);
        let left_cut: String = left.chars().take(room).collect();
        let pad = cols - right_len - left_cut.chars().count();
        let right_cut: String = right.chars().take(right_len).collect();
        let line = format!("{left_cut}{}{right_cut}", " ".repeat(pad));
        self.line(&line)
    }

    /// A full-width rule of `c`.
    pub fn rule(&mut self, c: char) -> &mut Self {
        let l: String = std::iter::repeat_n(c, self.columns()).collect();
        self.line(&l)
    }

    /// Feed `n` lines (`ESC d n`).
    pub fn feed(&mut self, n: u8) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'd', n]);
        self
    }

    /// CODE128 (`GS k 73`) with HRI below; digits-only even-length data in set C. Data that
    /// cannot be encoded (non-printable, longer than 80) is printed as text instead.
    pub fn code128(&mut self, data: &str) -> &mut Self {
        let printable = !data.is_empty()
            && data.len() <= 80
            && data.bytes().all(|b| (0x20..=0x7E).contains(&b));
        if !printable {
            return self.line(data);
        }
        let mut payload = Vec::with_capacity(data.len() + 4);
        if data.len() % 2 == 0 && data.bytes().all(|b| b.is_ascii_digit()) {
            payload.extend_from_slice(b"{C");
            for pair in data.as_bytes().chunks(2) {
                payload.push((pair[0] - b'0') * 10 + (pair[1] - b'0'));
            }
        } else {
            payload.extend_from_slice(b"{B");
            for b in data.bytes() {
                if b == b'{' {
                    payload.extend_from_slice(b"{{");
                } else {
                    payload.push(b);
                }
            }
        }
        self.out
            .extend_from_slice(&[GS, b'h', 80, GS, b'w', 2, GS, b'H', 2, GS, b'k', 73]);
        self.out.push(payload.len() as u8);
        self.out.extend_from_slice(&payload);
        self.out.push(b'\n');
        self
    }

    /// QR code model 2, module 6, error correction M, of printable ASCII `data`.
    pub fn qr(&mut self, data: &str) -> &mut Self {
        let clean: Vec<u8> = data
            .bytes()
            .filter(|b| (0x20..=0x7E).contains(b))
            .take(700)
            .collect();
        let o = &mut self.out;
        o.extend_from_slice(&[GS, b'(', b'k', 4, 0, 49, 65, 50, 0]);
        o.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 67, 6]);
        o.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 69, 49]);
        let len = clean.len() + 3;
        o.extend_from_slice(&[
            GS,
            b'(',
            b'k',
            (len & 0xFF) as u8,
            (len >> 8) as u8,
            49,
            80,
            48,
        ]);
        o.extend_from_slice(&clean);
        o.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 81, 48]);
        o.push(b'\n');
        self
    }

    /// Feed to the cutter and cut partially (`GS V 66 0`).
    pub fn cut(&mut self) -> &mut Self {
        self.out.extend_from_slice(&[GS, b'V', 66, 0]);
        self
    }

    /// Pulse the cash drawer on pin 2 for 50 ms on / 500 ms off (`ESC p 0 25 250`).
    pub fn kick_drawer(&mut self) -> &mut Self {
        self.out.extend_from_slice(&[ESC, b'p', 0, 25, 250]);
        self
    }

    /// The finished job.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Split `text` into lines of at most `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word: String = word.to_string();
        while word.chars().count() > width {
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let need = if cur.is_empty() { 0 } else { 1 } + word.chars().count();
        if cur.chars().count() + need > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_stripped_and_code_pages_selected() {
        let mut e = Encoder::new(Paper::Mm58);
        e.text("A\x1B@\x1DV\u{9b}é€Ж");
        assert_eq!(
            e.finish(),
            vec![0x1B, b'@', b'A', b'@', b'V', 0x1B, b't', 16, 0xE9, 0x80, 0x1B, b't', 17, 0x86]
        );
    }

    #[test]
    fn pans_are_masked() {
        assert_eq!(
            mask_pans("card 4111 1111 1111 1111 ok"),
            "card **** **** **** 1111 ok"
        );
        assert_eq!(mask_pans("order 1234567890123"), "order 1234567890123");
        assert_eq!(mask_pans("4111111111111111"), "************1111");
    }

    #[test]
    fn barcodes_match_reference_bytes() {
        // QR "ABC123" store command from the protocol notes.
        let mut e = Encoder::new(Paper::Mm80);
        e.qr("ABC123");
        let b = e.finish();
        let store = [
            0x1D, 0x28, 0x6B, 0x09, 0x00, 0x31, 0x50, 0x30, b'A', b'B', b'C', b'1', b'2', b'3',
        ];
        assert!(b.windows(store.len()).any(|w| w == store));
        let mut e = Encoder::new(Paper::Mm80);
        e.code128("123456");
        let b = e.finish();
        assert!(b.ends_with(&[0x1D, b'k', 73, 5, b'{', b'C', 12, 34, 56, b'\n']));
    }

    #[test]
    fn two_columns_fill_the_line() {
        let mut e = Encoder::new(Paper::Mm58);
        e.two_columns("Total", "34.15");
        let b = e.finish();
        assert_eq!(b.len(), 2 + 32 + 1);
    }
}
