//! ESC/POS real-time status (`DLE EOT n`) and the few commands the driver itself sends.
//! Every DLE EOT reply matches the bit pattern `0xx1xx10`; anything else on the line (ASB
//! bytes, XON/XOFF) is not a reply and is skipped.

/// `DLE EOT n`.
pub fn dle_eot(n: u8) -> [u8; 3] {
    [0x10, 0x04, n]
}

/// Drawer kick on pin 2 with 50 ms on/off (`ESC p 0 25 25`).
pub const DRAWER_KICK_PIN2: [u8; 5] = [0x1B, 0x70, 0x00, 0x19, 0x19];
/// Drawer kick on pin 5.
pub const DRAWER_KICK_PIN5: [u8; 5] = [0x1B, 0x70, 0x01, 0x19, 0x19];
/// `GS V 66 0`: feed to the cutter and cut partially.
pub const CUT: [u8; 4] = [0x1D, 0x56, 0x42, 0x00];

/// True when `b` can be a DLE EOT reply.
pub fn is_status_byte(b: u8) -> bool {
    b & 0x93 == 0x12
}

/// Accumulated real-time status from replies to `DLE EOT 1..4`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EscPosStatus {
    /// n=1 bit 3: offline.
    pub offline: bool,
    /// n=1 bit 2: drawer kick connector pin 3 high.
    pub drawer_pin3_high: bool,
    /// n=2 bit 2: cover open.
    pub cover_open: bool,
    /// n=2 bit 5: printing stopped by paper end.
    pub paper_end_stop: bool,
    /// n=2 bit 6: an error occurred.
    pub error: bool,
    /// n=3 bit 3: autocutter error.
    pub autocutter_error: bool,
    /// n=3 bit 5: unrecoverable error.
    pub unrecoverable_error: bool,
    /// n=3 bit 6: auto-recoverable error (head overheat…).
    pub auto_recoverable_error: bool,
    /// n=4 bits 2+3: roll paper near end.
    pub paper_near_end: bool,
    /// n=4 bits 5+6: roll paper end.
    pub paper_end: bool,
}

impl EscPosStatus {
    /// Applies the reply `b` to `DLE EOT n`; false when `b` is not a valid reply.
    pub fn apply(&mut self, n: u8, b: u8) -> bool {
        if !is_status_byte(b) {
            return false;
        }
        match n {
            1 => {
                self.drawer_pin3_high = b & 0x04 != 0;
                self.offline = b & 0x08 != 0;
            }
            2 => {
                self.cover_open = b & 0x04 != 0;
                self.paper_end_stop = b & 0x20 != 0;
                self.error = b & 0x40 != 0;
            }
            3 => {
                self.autocutter_error = b & 0x08 != 0;
                self.unrecoverable_error = b & 0x20 != 0;
                self.auto_recoverable_error = b & 0x40 != 0;
            }
            4 => {
                self.paper_near_end = b & 0x0C == 0x0C;
                self.paper_end = b & 0x60 == 0x60;
            }
            _ => return false,
        }
        true
    }

    /// The reply the printer sends to `DLE EOT n` in this state (for the simulator).
    pub fn encode(&self, n: u8) -> u8 {
        let bit = |x: bool, m: u8| if x { m } else { 0 };
        0x12 | match n {
            1 => bit(self.drawer_pin3_high, 0x04) | bit(self.offline, 0x08),
            2 => {
                bit(self.cover_open, 0x04) | bit(self.paper_end_stop, 0x20) | bit(self.error, 0x40)
            }
            3 => {
                bit(self.autocutter_error, 0x08)
                    | bit(self.unrecoverable_error, 0x20)
                    | bit(self.auto_recoverable_error, 0x40)
            }
            4 => bit(self.paper_near_end, 0x0C) | bit(self.paper_end, 0x60),
            _ => 0,
        }
    }

    /// True when the printer will not print now.
    pub fn fault(&self) -> bool {
        self.offline
            || self.cover_open
            || self.paper_end
            || self.paper_end_stop
            || self.error
            || self.autocutter_error
            || self.unrecoverable_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn research_vectors() {
        let mut s = EscPosStatus::default();
        assert!(s.apply(1, 0x12));
        assert!(!s.offline);
        assert!(s.apply(1, 0x1A));
        assert!(s.offline);
        assert!(s.apply(2, 0x16));
        assert!(s.cover_open);
        assert!(s.apply(2, 0x32));
        assert!(s.paper_end_stop && !s.cover_open);
        assert!(s.apply(4, 0x1E));
        assert!(s.paper_near_end && !s.paper_end);
        assert!(s.apply(4, 0x72));
        assert!(s.paper_end && !s.paper_near_end);
        assert!(s.apply(4, 0x7E));
        assert!(s.paper_end && s.paper_near_end);
        assert!(!s.apply(1, 0x10)); // ASB first byte pattern 0xx1xx00
        assert!(!s.apply(1, 0x11)); // XON
        assert_eq!(EscPosStatus::default().encode(1), 0x12);
        let cover = EscPosStatus {
            offline: true,
            cover_open: true,
            ..Default::default()
        };
        assert_eq!((cover.encode(1), cover.encode(2)), (0x1A, 0x16));
    }

    proptest! {
        #[test]
        fn roundtrip(bits in any::<u16>()) {
            let b = |i: u32| bits & (1 << i) != 0;
            let s = EscPosStatus {
                offline: b(0), drawer_pin3_high: b(1), cover_open: b(2), paper_end_stop: b(3), error: b(4),
                autocutter_error: b(5), unrecoverable_error: b(6), auto_recoverable_error: b(7),
                paper_near_end: b(8), paper_end: b(9),
            };
            let mut t = EscPosStatus::default();
            for n in 1..=4 { prop_assert!(t.apply(n, s.encode(n))); }
            prop_assert_eq!(t, s);
        }
    }
}
