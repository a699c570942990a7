//! Customer display simulator: a 2-line DM-D display that interprets every byte it receives
//! ([`DisplayScreen`]) and keeps what the customer sees, each change of it, and optionally writes
//! the current screen to a file for a person to watch (`wms-edge demo`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Action, Behavior};
use crate::protocol::display::{DisplayScreen, COLUMNS};

/// How many past screens a simulated display remembers.
pub const HISTORY: usize = 1024;

/// What a simulated display shows, shared with the test that watches it.
#[derive(Clone, Debug)]
pub struct DisplayState {
    /// The screen as the command set left it.
    pub screen: DisplayScreen,
    /// The screens the customer saw, oldest first (consecutive repeats collapsed; the latest
    /// [`HISTORY`] kept). A screen split over two reads may appear half written in between.
    pub history: VecDeque<[String; 2]>,
    /// Bytes received.
    pub bytes: usize,
}

impl DisplayState {
    /// The two lines as shown now, trailing spaces included.
    pub fn lines(&self) -> [String; 2] {
        self.screen.lines()
    }

    /// The two lines without trailing spaces (how a person reads them).
    pub fn text(&self) -> [String; 2] {
        self.lines().map(|l| l.trim_end().to_string())
    }
}

/// Epson DM-D compatible pole display.
#[derive(Debug)]
pub struct CustomerDisplay {
    state: Arc<Mutex<DisplayState>>,
    log: Option<PathBuf>,
}

fn lock(m: &Mutex<DisplayState>) -> MutexGuard<'_, DisplayState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CustomerDisplay {
    /// A blank 2×20 display.
    pub fn new() -> Self {
        CustomerDisplay::with_columns(COLUMNS)
    }

    /// A blank display `columns` wide.
    pub fn with_columns(columns: usize) -> Self {
        let screen = DisplayScreen::new(columns);
        CustomerDisplay {
            state: Arc::new(Mutex::new(DisplayState {
                history: VecDeque::from([screen.lines()]),
                screen,
                bytes: 0,
            })),
            log: None,
        }
    }

    /// Also writes the screen to `path` (framed, two lines) whenever it changes, so a person can
    /// `watch cat` it.
    pub fn log_to(mut self, path: PathBuf) -> Self {
        self.log = Some(path);
        self
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<DisplayState>> {
        self.state.clone()
    }
}

impl Default for CustomerDisplay {
    fn default() -> Self {
        CustomerDisplay::new()
    }
}

/// The screen in a frame, as a person would look at the display.
fn framed(lines: &[String; 2]) -> String {
    let width = lines[0].chars().count();
    let rule = format!("+{}+", "-".repeat(width));
    format!("{rule}\n|{}|\n|{}|\n{rule}\n", lines[0], lines[1])
}

impl Behavior for CustomerDisplay {
    fn on_input(&mut self, input: &[u8], _out: &mut Vec<u8>) -> Action {
        let changed = {
            let mut st = lock(&self.state);
            st.bytes += input.len();
            st.screen.feed(input);
            let now = st.screen.lines();
            if st.history.back() != Some(&now) {
                if st.history.len() >= HISTORY {
                    st.history.pop_front();
                }
                st.history.push_back(now.clone());
                Some(now)
            } else {
                None
            }
        };
        if let (Some(lines), Some(path)) = (changed, &self.log) {
            // Best effort: a full disk must not take the simulated display down.
            let _ = std::fs::write(path, framed(&lines));
        }
        Action::Continue
    }
}
