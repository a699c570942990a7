//! Customer pole displays (2 lines of 20 characters, vacuum fluorescent) speaking the Epson DM-D
//! command set: `ESC @` initialises, `FF` clears, `US $ x y` moves the cursor, text goes out one
//! byte per character in the display's code page.
//!
//! Two halves, both pure. [`screen`] and friends turn two lines of text into bytes: every
//! character becomes exactly one printable byte (control characters dropped, characters the code
//! page lacks become `?`) and each line is cut or padded to the display's width, so a line always
//! overwrites the whole row and nothing a customer's or product's name holds can reach the
//! display as a command. [`DisplayScreen`] goes the other way: it interprets the command set
//! byte by byte, as the display does, and keeps the cells; the simulator and the tests read what
//! the customer sees from it.

pub use crate::profiles::CodePage;

/// `ESC`.
pub const ESC: u8 = 0x1B;
/// `US`.
pub const US: u8 = 0x1F;
/// `FF`: clear the screen, cursor home.
pub const FF: u8 = 0x0C;
/// `ESC @`: back to power-on settings; the screen clears and the cursor goes home.
pub const INIT: [u8; 2] = [ESC, b'@'];
/// `US MD1`: overwrite mode (writing past the last cell wraps instead of scrolling).
pub const OVERWRITE_MODE: [u8; 2] = [US, 0x01];
/// Lines of a pole display.
pub const LINES: usize = 2;
/// Columns of the common 2×20 display.
pub const COLUMNS: usize = 20;

/// PC437 from 0x80 to 0xFF.
const PC437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{A0}',
];

/// Windows-1252 from 0x80 to 0x9F (0xA0–0xFF are Latin-1); `None` where the page has no
/// character.
const WPC1252_C1: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The byte tables of each code page live here with the rest of the command set; the type is
/// the profiles', which name a display's page.
impl CodePage {
    /// The `n` of `ESC t n` that selects this page.
    pub fn table(self) -> u8 {
        match self {
            CodePage::Pc437 => 0,
            CodePage::Wpc1252 => 16,
        }
    }

    /// The page `ESC t n` selects, when it is one this driver knows.
    pub fn from_table(n: u8) -> Option<CodePage> {
        match n {
            0 => Some(CodePage::Pc437),
            16 => Some(CodePage::Wpc1252),
            _ => None,
        }
    }

    /// The byte that shows `c`, if the page has it. Never a control byte.
    pub fn encode(self, c: char) -> Option<u8> {
        if (' '..='~').contains(&c) {
            return Some(c as u8);
        }
        match self {
            CodePage::Pc437 => PC437_HIGH
                .iter()
                .position(|&x| x == c)
                .map(|i| 0x80 + i as u8),
            CodePage::Wpc1252 => {
                let u = u32::from(c);
                if (0xA0..=0xFF).contains(&u) {
                    return Some(u as u8);
                }
                WPC1252_C1
                    .iter()
                    .position(|&x| x == Some(c))
                    .map(|i| 0x80 + i as u8)
            }
        }
    }

    /// The character the display shows for `b` (a printable byte); `?` for what the page lacks.
    pub fn decode(self, b: u8) -> char {
        match b {
            0x20..=0x7E => char::from(b),
            0x80..=0xFF => match self {
                CodePage::Pc437 => PC437_HIGH[usize::from(b - 0x80)],
                CodePage::Wpc1252 if b >= 0xA0 => char::from(b),
                CodePage::Wpc1252 => WPC1252_C1[usize::from(b - 0x80)].unwrap_or('?'),
            },
            _ => '?',
        }
    }
}

/// One line as the display receives it: exactly `columns` printable bytes. Control characters
/// are dropped, characters the page lacks become `?`, longer text is cut and shorter text
/// padded with spaces.
pub fn line_bytes(text: &str, page: CodePage, columns: usize) -> Vec<u8> {
    let mut out: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| page.encode(c).unwrap_or(b'?'))
        .take(columns)
        .collect();
    out.resize(columns, b' ');
    out
}

/// What the display shows for `text` on one line (what [`line_bytes`] makes of it, read back).
pub fn shown(text: &str, page: CodePage, columns: usize) -> String {
    line_bytes(text, page, columns)
        .into_iter()
        .map(|b| page.decode(b))
        .collect()
}

/// `US $ x y` to column `x` and line `y`, both counted from 1.
pub fn cursor(x: u8, y: u8) -> [u8; 4] {
    [US, b'$', x, y]
}

/// What a freshly connected display gets first: `ESC @` and `FF` (a clean screen whatever the
/// display showed before), then [`setup`].
pub fn connect(page: CodePage) -> Vec<u8> {
    let mut out = INIT.to_vec();
    out.push(FF);
    out.extend_from_slice(&setup(page));
    out
}

/// The settings a screen relies on, cheap to repeat: the code page (`ESC t n`) and overwrite
/// mode. Sent again with every refresh, so a display that was power-cycled behind a port that
/// stayed open comes back right.
pub fn setup(page: CodePage) -> Vec<u8> {
    let mut out = vec![ESC, b't', page.table()];
    out.extend_from_slice(&OVERWRITE_MODE);
    out
}

/// Both lines, each from its first column: whatever was on the screen is overwritten cell by
/// cell, so a new screen never flickers through a blank one.
pub fn screen(top: &str, bottom: &str, page: CodePage, columns: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * (columns + 4));
    for (y, text) in [(1u8, top), (2u8, bottom)] {
        out.extend_from_slice(&cursor(1, y));
        out.extend_from_slice(&line_bytes(text, page, columns));
    }
    out
}

/// Where the parser is inside a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    Esc,
    Us,
    /// A command that still takes `left` parameter bytes; `first` keeps the first one.
    Args {
        cmd: Cmd,
        left: u8,
        first: Option<u8>,
    },
}

/// Commands with parameters that change the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    /// `ESC t n`.
    Table,
    /// `US $ x y`.
    Cursor,
    /// Any other command whose parameters are skipped.
    Skip,
}

/// How text moves on when it reaches the end of a line (`US MD1`, `US MD2`, `US MD3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Wrap to the next line, from the bottom line back to the top.
    #[default]
    Overwrite,
    /// From the bottom line, the top line takes the bottom one and the bottom line starts empty.
    VerticalScroll,
    /// The line shifts left and the new character appears in its last cell.
    HorizontalScroll,
}

/// A 2-line display's screen as the DM-D command set leaves it: the characters in its cells,
/// the cursor, the selected code page and mode. Feed it any bytes in any chunks; it never
/// panics and the cursor always stays on the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayScreen {
    columns: usize,
    cells: [Vec<char>; LINES],
    /// Column, from 0; `columns` means "after the last cell" (the next character wraps first).
    x: usize,
    y: usize,
    table: u8,
    mode: Mode,
    pending: Pending,
    inits: u32,
}

impl DisplayScreen {
    /// A blank screen `columns` wide (at least 1), as after power-on.
    pub fn new(columns: usize) -> Self {
        let columns = columns.max(1);
        DisplayScreen {
            columns,
            cells: [vec![' '; columns], vec![' '; columns]],
            x: 0,
            y: 0,
            table: 0,
            mode: Mode::Overwrite,
            pending: Pending::None,
            inits: 0,
        }
    }

    /// Interprets `bytes` (a command may be split across calls).
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// The text of each line, trailing spaces included.
    pub fn lines(&self) -> [String; LINES] {
        [
            self.cells[0].iter().collect(),
            self.cells[1].iter().collect(),
        ]
    }

    /// Cursor as `(column, line)`, both from 1 (a column one past the width means the next
    /// character wraps).
    pub fn cursor(&self) -> (usize, usize) {
        (self.x + 1, self.y + 1)
    }

    /// The `n` of the last `ESC t n`.
    pub fn table(&self) -> u8 {
        self.table
    }

    /// The end-of-line behaviour in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How many `ESC @` it has received.
    pub fn inits(&self) -> u32 {
        self.inits
    }

    /// Columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    fn byte(&mut self, b: u8) {
        match self.pending {
            Pending::Esc => {
                self.pending = Pending::None;
                match b {
                    b'@' => self.init(),
                    b't' => self.args(Cmd::Table, 1),
                    // Parameters skipped: international set, user-defined set, cancel a
                    // user-defined character, select peripheral.
                    b'R' | b'%' | b'?' | b'=' => self.args(Cmd::Skip, 1),
                    _ => {}
                }
            }
            Pending::Us => {
                self.pending = Pending::None;
                match b {
                    0x01 => self.mode = Mode::Overwrite,
                    0x02 => self.mode = Mode::VerticalScroll,
                    0x03 => self.mode = Mode::HorizontalScroll,
                    b'$' => self.args(Cmd::Cursor, 2),
                    // Cursor display, brightness, blink, reverse, period/comma/semicolon
                    // display, DTR status.
                    b'C' | b'X' | b'E' | b'r' | b'.' | b',' | b';' | b'v' => {
                        self.args(Cmd::Skip, 1)
                    }
                    // Annunciator.
                    b'#' => self.args(Cmd::Skip, 2),
                    b'B' => self.goto(0, LINES - 1),
                    0x0A => self.up(),
                    0x0D => self.x = self.columns - 1,
                    // Self-test: ends on a clear screen, cursor home.
                    b'@' => self.clear(),
                    _ => {}
                }
            }
            Pending::Args { cmd, left, first } => {
                if left > 1 {
                    self.pending = Pending::Args {
                        cmd,
                        left: left - 1,
                        first: first.or(Some(b)),
                    };
                    return;
                }
                self.pending = Pending::None;
                match cmd {
                    Cmd::Table => self.table = b,
                    Cmd::Cursor => {
                        let (x, y) = (usize::from(first.unwrap_or(0)), usize::from(b));
                        // Out of range: the display ignores the command.
                        if (1..=self.columns).contains(&x) && (1..=LINES).contains(&y) {
                            self.goto(x - 1, y - 1);
                        }
                    }
                    Cmd::Skip => {}
                }
            }
            Pending::None => match b {
                ESC => self.pending = Pending::Esc,
                US => self.pending = Pending::Us,
                FF => self.clear(),
                0x18 => {
                    // CAN: clear the cursor's line, cursor to its start.
                    self.cells[self.y].fill(' ');
                    self.x = 0;
                }
                0x08 => self.left(),
                0x09 => self.right(),
                0x0A => self.down(),
                0x0D => self.x = 0,
                0x0B => self.goto(0, 0),
                0x00..=0x1F => {}
                _ => self.put(b),
            },
        }
    }

    fn args(&mut self, cmd: Cmd, n: u8) {
        self.pending = Pending::Args {
            cmd,
            left: n,
            first: None,
        };
    }

    fn init(&mut self) {
        self.inits = self.inits.saturating_add(1);
        self.table = 0;
        self.mode = Mode::Overwrite;
        self.clear();
    }

    fn clear(&mut self) {
        for line in &mut self.cells {
            line.fill(' ');
        }
        self.goto(0, 0);
    }

    fn goto(&mut self, x: usize, y: usize) {
        self.x = x.min(self.columns - 1);
        self.y = y.min(LINES - 1);
    }

    /// Moves past the last cell of a line as the mode says.
    fn wrap(&mut self) {
        if self.y + 1 < LINES {
            self.x = 0;
            self.y += 1;
            return;
        }
        match self.mode {
            Mode::Overwrite => self.goto(0, 0),
            Mode::VerticalScroll => {
                self.scroll();
                self.x = 0;
            }
            Mode::HorizontalScroll => {
                self.cells[self.y].remove(0);
                self.cells[self.y].push(' ');
                self.x = self.columns - 1;
            }
        }
    }

    fn scroll(&mut self) {
        let bottom = std::mem::replace(&mut self.cells[LINES - 1], vec![' '; self.columns]);
        self.cells[0] = bottom;
    }

    fn put(&mut self, b: u8) {
        if self.x >= self.columns {
            self.wrap();
        }
        let page = CodePage::from_table(self.table);
        self.cells[self.y][self.x] = match page {
            Some(p) => p.decode(b),
            None if b < 0x80 => char::from(b),
            None => '?',
        };
        // Stays "after the last cell" until the next character, so a full line does not wrap
        // (or scroll) before anything else is written.
        self.x += 1;
    }

    fn right(&mut self) {
        if self.x + 1 >= self.columns {
            self.x = self.columns;
            self.wrap();
        } else {
            self.x += 1;
        }
    }

    fn left(&mut self) {
        if self.x > 0 {
            self.x = (self.x - 1).min(self.columns - 1);
        } else if self.y > 0 {
            self.goto(self.columns - 1, self.y - 1);
        } else if self.mode == Mode::Overwrite {
            self.goto(self.columns - 1, LINES - 1);
        }
    }

    fn down(&mut self) {
        if self.y + 1 < LINES {
            self.y += 1;
        } else if self.mode == Mode::VerticalScroll {
            self.scroll();
        } else {
            self.y = 0;
        }
        self.x = self.x.min(self.columns - 1);
    }

    fn up(&mut self) {
        if self.y > 0 {
            self.y -= 1;
        } else if self.mode == Mode::Overwrite {
            self.y = LINES - 1;
        }
        self.x = self.x.min(self.columns - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_screen_is_two_cursor_moves_and_two_full_lines() {
        let bytes = screen("Mug", "TOTAL 12.99", CodePage::Pc437, 20);
        let mut want = vec![0x1F, b'$', 1, 1];
        want.extend_from_slice(b"Mug                 ");
        want.extend_from_slice(&[0x1F, b'$', 1, 2]);
        want.extend_from_slice(b"TOTAL 12.99         ");
        assert_eq!(bytes, want);
        assert_eq!(
            connect(CodePage::Wpc1252),
            vec![0x1B, b'@', 0x0C, 0x1B, b't', 16, 0x1F, 0x01]
        );
    }

    #[test]
    fn control_bytes_are_dropped_and_missing_characters_replaced() {
        assert_eq!(
            line_bytes("A\x1b@\x0cB\u{1f}$\u{7f}C\r\n", CodePage::Pc437, 6),
            b"A@B$C ".to_vec()
        );
        // € is not in PC437; é is (0x82); ✓ is in neither page.
        assert_eq!(
            line_bytes("é€✓", CodePage::Pc437, 3),
            vec![0x82, b'?', b'?']
        );
        assert_eq!(
            line_bytes("é€✓", CodePage::Wpc1252, 3),
            vec![0xE9, 0x80, b'?']
        );
        assert_eq!(
            shown("Crème brûlée 4.50€", CodePage::Pc437, 20),
            "Crème brûlée 4.50?  "
        );
        assert_eq!(
            shown("0123456789ABCDEFGHIJKL", CodePage::Pc437, 20),
            "0123456789ABCDEFGHIJ"
        );
    }

    #[test]
    fn the_parser_follows_the_command_set() {
        let mut s = DisplayScreen::new(20);
        s.feed(&connect(CodePage::Pc437));
        s.feed(&screen("Hello", "World", CodePage::Pc437, 20));
        assert_eq!(s.lines(), ["Hello               ", "World               "]);
        assert_eq!(s.inits(), 1);
        assert_eq!(s.cursor(), (21, 2), "a full line waits at its end");
        // Out-of-range cursor moves are ignored; the next character wraps to the top.
        s.feed(&[0x1F, b'$', 21, 1]);
        assert_eq!(s.cursor(), (21, 2));
        s.feed(b"!");
        assert_eq!(s.lines(), ["!ello               ", "World               "]);
        // CAN clears the cursor's line; FF clears all.
        s.feed(&[0x1F, b'$', 3, 1, 0x18]);
        assert_eq!(s.lines(), ["                    ", "World               "]);
        s.feed(&[0x0C]);
        assert_eq!(s.lines(), [" ".repeat(20), " ".repeat(20)]);
        // Overwrite mode wraps from the bottom line back to the top.
        s.feed(&[0x1F, b'$', 20, 2, b'x', b'y']);
        assert_eq!(s.lines()[0].chars().next(), Some('y'));
        assert_eq!(s.lines()[1].chars().last(), Some('x'));
        // Vertical scroll moves the bottom line up.
        s.feed(&[0x0C, 0x1F, 0x02, 0x1F, b'$', 19, 2, b'a', b'b', b'c']);
        assert_eq!(s.lines()[0], format!("{}ab", " ".repeat(18)));
        assert_eq!(s.lines()[1], format!("c{}", " ".repeat(19)));
        // The page selected with ESC t decides what a high byte shows.
        s.feed(&[0x1B, b'@', 0x1B, b't', 16, 0x80, 0x1B, b't', 0, 0x80]);
        assert_eq!(s.lines()[0], format!("€Ç{}", " ".repeat(18)));
        assert_eq!((s.inits(), s.table(), s.mode()), (2, 0, Mode::Overwrite));
    }

    #[test]
    fn both_pages_round_trip_every_character_they_have() {
        for page in [CodePage::Pc437, CodePage::Wpc1252] {
            for b in 0x20..=0xFFu8 {
                if b == 0x7F {
                    continue;
                }
                let c = page.decode(b);
                if c != '?' {
                    assert_eq!(page.encode(c), Some(b), "{page:?} {b:#04x} {c:?}");
                }
            }
        }
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[ -~]{0,30}",
            proptest::collection::vec(
                prop_oneof![
                    Just('\u{1b}'),
                    Just('\u{1f}'),
                    Just('\u{0c}'),
                    Just('\u{7f}'),
                    Just('é'),
                    Just('€'),
                    Just('µ'),
                    any::<char>(),
                    proptest::char::range(' ', '~'),
                ],
                0..30
            )
            .prop_map(|v| v.into_iter().collect()),
        ]
    }

    /// What the customer should read: the text without control characters, `?` for what the page
    /// lacks, cut or padded to the width.
    fn expected(text: &str, page: CodePage, columns: usize) -> String {
        let mut out: Vec<char> = text
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| if page.encode(c).is_some() { c } else { '?' })
            .take(columns)
            .collect();
        out.resize(columns, ' ');
        out.into_iter().collect()
    }

    proptest! {
        /// Printer and device input is hostile: whatever the text, the only control bytes on the
        /// wire are the driver's own cursor moves, and the display shows exactly the text.
        #[test]
        fn rendering_never_emits_a_control_byte_from_the_text(
            top in any_text(),
            bottom in any_text(),
            wpc in any::<bool>(),
            columns in 1usize..=40,
            cuts in proptest::collection::vec(0usize..120, 0..6),
        ) {
            let page = if wpc { CodePage::Wpc1252 } else { CodePage::Pc437 };
            let bytes = screen(&top, &bottom, page, columns);
            prop_assert_eq!(bytes.len(), 2 * (columns + 4));
            for (line, start) in [(1u8, 0usize), (2u8, columns + 4)] {
                prop_assert_eq!(&bytes[start..start + 4], &cursor(1, line)[..]);
                for &b in &bytes[start + 4..start + 4 + columns] {
                    prop_assert!(b >= 0x20 && b != 0x7F, "control byte {:#04x}", b);
                }
            }
            // The display, fed in arbitrary chunks after connecting, shows exactly the text.
            let mut wire = connect(page);
            wire.extend_from_slice(&bytes);
            let mut s = DisplayScreen::new(columns);
            let mut cuts = cuts;
            cuts.push(wire.len());
            cuts.sort_unstable();
            let mut at = 0;
            for c in cuts {
                let c = c.min(wire.len());
                s.feed(&wire[at..c]);
                at = c;
            }
            let want = [expected(&top, page, columns), expected(&bottom, page, columns)];
            prop_assert_eq!(s.lines(), want.clone());
            prop_assert_eq!(shown(&top, page, columns), want[0].clone());
        }

        /// Any bytes at all: no panic, the cursor stays on the screen, the lines keep their width.
        #[test]
        fn the_parser_survives_any_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            columns in 1usize..=40,
        ) {
            let mut s = DisplayScreen::new(columns);
            s.feed(&bytes);
            let (x, y) = s.cursor();
            prop_assert!((1..=columns + 1).contains(&x) && (1..=LINES).contains(&y));
            for l in s.lines() {
                prop_assert_eq!(l.chars().count(), columns);
            }
        }
    }
}
