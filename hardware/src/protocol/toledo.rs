//! Toledo scale protocols: the 8217 weight-only request protocol and the continuous output
//! stream. Both put a frame between STX and CR; neither sends a unit except through status bits.

use crate::decimal::{Decimal, Weight};
use crate::error::{Error, Result};

/// STX.
pub const STX: u8 = 0x02;
/// CR.
pub const CR: u8 = 0x0D;

/// Status byte of an 8217 `?x` reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status8217 {
    /// Platform moving.
    pub motion: bool,
    /// Above capacity.
    pub over_capacity: bool,
    /// Below zero.
    pub under_zero: bool,
    /// Outside the zero-capture range.
    pub outside_zero_range: bool,
    /// At centre of zero.
    pub center_of_zero: bool,
    /// Net (tare applied).
    pub net: bool,
}

impl Status8217 {
    /// Decodes the status character (parity bit ignored; bit 6 must be set).
    pub fn from_byte(b: u8) -> Option<Self> {
        let b = b & 0x7F;
        if b & 0x40 == 0 {
            return None;
        }
        Some(Status8217 {
            motion: b & 0x01 != 0,
            over_capacity: b & 0x02 != 0,
            under_zero: b & 0x04 != 0,
            outside_zero_range: b & 0x08 != 0,
            center_of_zero: b & 0x10 != 0,
            net: b & 0x20 != 0,
        })
    }

    /// Encodes the status character (for the simulator).
    pub fn to_byte(&self) -> u8 {
        0x40 | u8::from(self.motion)
            | u8::from(self.over_capacity) << 1
            | u8::from(self.under_zero) << 2
            | u8::from(self.outside_zero_range) << 3
            | u8::from(self.center_of_zero) << 4
            | u8::from(self.net) << 5
    }
}

/// One 8217 reply body (between STX and CR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply8217 {
    /// A valid (stable, in-range) weight.
    Weight {
        /// Value as sent, with its decimals.
        value: Decimal,
        /// Net weight (`N` suffix).
        net: bool,
    },
    /// No valid weight; why.
    Status(Status8217),
    /// `E` acknowledgement of echo mode.
    Echo,
}

/// Parses the body of one `STX … CR` frame.
pub fn parse_8217(body: &[u8]) -> Result<Reply8217> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::Protocol("8217 frame is not ASCII".into()))?
        .trim_start_matches(' ');
    if let Some(rest) = text.strip_prefix('?') {
        let b = rest
            .bytes()
            .next()
            .ok_or_else(|| Error::Protocol("8217 status without status byte".into()))?;
        return Status8217::from_byte(b)
            .map(Reply8217::Status)
            .ok_or_else(|| Error::Protocol("8217 status byte without bit 6".into()));
    }
    if text == "E" {
        return Ok(Reply8217::Echo);
    }
    let (digits, net) = match text.strip_suffix('N') {
        Some(d) => (d, true),
        None => (text, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(Error::Protocol(
            "8217 frame is neither weight nor status".into(),
        ));
    }
    Ok(Reply8217::Weight {
        value: Decimal::parse(digits)?,
        net,
    })
}

/// Encodes a weight reply frame (for the simulator): `STX 01.250 [N] CR`.
pub fn encode_8217_weight(value: &Decimal, int_digits: usize, net: bool) -> Vec<u8> {
    let s = value.to_string();
    let int_len = s.split('.').next().map_or(0, str::len);
    let mut v = vec![STX];
    v.extend(std::iter::repeat_n(
        b'0',
        int_digits.saturating_sub(int_len),
    ));
    v.extend_from_slice(s.as_bytes());
    if net {
        v.push(b'N');
    }
    v.push(CR);
    v
}

/// Encodes a status reply frame: `STX ? s CR`.
pub fn encode_8217_status(s: &Status8217) -> Vec<u8> {
    vec![STX, b'?', s.to_byte(), CR]
}

/// One continuous-output frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContinuousFrame {
    /// Displayed weight (gross or net), sign applied.
    pub weight: Weight,
    /// Tare in the same unit.
    pub tare: Decimal,
    /// Net displayed.
    pub net: bool,
    /// Out of range (over/under capacity).
    pub out_of_range: bool,
    /// Platform moving.
    pub motion: bool,
}

/// Incremental parser of the Toledo continuous stream
/// `STX SWA SWB SWC w×6 t×6 CR [CHK]`, resynchronising on STX.
#[derive(Debug)]
pub struct ContinuousParser {
    checksum: bool,
    buf: Vec<u8>,
    inside: bool,
}

const BODY: usize = 16; // SWA SWB SWC + 6 + 6 + CR

impl ContinuousParser {
    /// A parser; `checksum` when a checksum byte follows CR. The unit comes from status
    /// words B (kg, else lb) and C (grams).
    pub fn new(checksum: bool) -> Self {
        ContinuousParser {
            checksum,
            buf: Vec::new(),
            inside: false,
        }
    }

    /// Forgets a partial frame.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.inside = false;
    }

    /// Feeds bytes; valid frames and errors for invalid ones are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<ContinuousFrame>>) {
        let need = BODY + usize::from(self.checksum);
        for &b in bytes {
            if !self.inside {
                if b == STX {
                    self.inside = true;
                    self.buf.clear();
                }
                continue;
            }
            self.buf.push(b);
            if self.buf.len() == need {
                self.inside = false;
                let frame = std::mem::take(&mut self.buf);
                out.push(self.parse(&frame));
            }
        }
    }

    fn parse(&self, f: &[u8]) -> Result<ContinuousFrame> {
        let bad = |m: &str| Err(Error::Protocol(format!("continuous frame: {m}")));
        if f.get(BODY - 1) != Some(&CR) {
            return bad("no CR at position 17");
        }
        if self.checksum {
            let sum = f[..BODY]
                .iter()
                .fold(u32::from(STX), |a, &b| a + u32::from(b & 0x7F));
            let want = (0x80 - (sum & 0x7F)) & 0x7F;
            if u32::from(f[BODY] & 0x7F) != want {
                return bad("checksum mismatch");
            }
        }
        let (swa, swb, swc) = (f[0] & 0x7F, f[1] & 0x7F, f[2] & 0x7F);
        if swa & 0x20 == 0 || swc & 0x20 == 0 {
            return bad("status words lack bit 5");
        }
        let digits = |r: &[u8]| -> Result<i64> {
            let s =
                std::str::from_utf8(r).map_err(|_| Error::Protocol("non-ASCII weight".into()))?;
            let s = s.replace(' ', "0");
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Protocol("non-digit in weight".into()));
            }
            s.parse::<i64>()
                .map_err(|_| Error::Protocol("weight digits".into()))
        };
        let w = digits(&f[3..9])?;
        let t = digits(&f[9..15])?;
        let place = |m: i64| -> Result<Decimal> {
            match swa & 0x07 {
                0 => Decimal::new(m, 0)?.shifted_left(2),
                1 => Decimal::new(m, 0)?.shifted_left(1),
                p => Decimal::new(m, u32::from(p) - 2),
            }
        };
        let negative = swb & 0x02 != 0;
        let mut value = place(w)?;
        if negative {
            value = Decimal::new(-value.mantissa(), value.scale())?;
        }
        let unit = if swc & 0x01 != 0 {
            "g"
        } else if swb & 0x10 != 0 {
            "kg"
        } else {
            "lb"
        };
        Ok(ContinuousFrame {
            weight: Weight::new(value, unit),
            tare: place(t)?,
            net: swb & 0x01 != 0,
            out_of_range: swb & 0x04 != 0,
            motion: swb & 0x08 != 0,
        })
    }
}

/// Encodes a continuous frame (for the simulator). `decimals` 0..=5; kg or lb.
pub fn encode_continuous(
    weight_mantissa: u32,
    decimals: u8,
    kg: bool,
    motion: bool,
    negative: bool,
    out_of_range: bool,
    checksum: bool,
) -> Vec<u8> {
    let swa = 0x20 | (decimals.min(5) + 2) | 0x08; // ×1 increment
    let swb = 0x20
        | u8::from(negative) << 1
        | u8::from(out_of_range) << 2
        | u8::from(motion) << 3
        | u8::from(kg) << 4;
    let swc = 0x20;
    let mut f = vec![STX, swa, swb, swc];
    f.extend_from_slice(format!("{:06}", weight_mantissa % 1_000_000).as_bytes());
    f.extend_from_slice(b"000000");
    f.push(CR);
    if checksum {
        let sum: u32 = f.iter().map(|&b| u32::from(b)).sum();
        f.push(((0x80 - (sum & 0x7F)) & 0x7F) as u8);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DelimitedFramer;
    use proptest::prelude::*;

    #[test]
    fn vectors_8217() {
        let mut f = DelimitedFramer::new(STX, CR, 32);
        let mut out = Vec::new();
        f.push(b"\x0201.250\r\x0201.250N\r\x02?A\r\x02?D\r", &mut out);
        let r: Vec<_> = out.iter().map(|b| parse_8217(b).unwrap()).collect();
        assert_eq!(
            r[0],
            Reply8217::Weight {
                value: Decimal::parse("1.250").unwrap(),
                net: false
            }
        );
        assert_eq!(
            r[0].clone(),
            Reply8217::Weight {
                value: Decimal::new(1250, 3).unwrap(),
                net: false
            }
        );
        assert!(matches!(r[1], Reply8217::Weight { net: true, .. }));
        assert_eq!(
            r[2],
            Reply8217::Status(Status8217 {
                motion: true,
                ..Default::default()
            })
        );
        assert_eq!(
            r[3],
            Reply8217::Status(Status8217 {
                under_zero: true,
                ..Default::default()
            })
        );
        assert_eq!(
            encode_8217_weight(&Decimal::parse("1.250").unwrap(), 2, false),
            b"\x0201.250\r"
        );
        assert_eq!(
            encode_8217_status(&Status8217 {
                motion: true,
                ..Default::default()
            }),
            b"\x02?A\r"
        );
        assert!(parse_8217(b"?").is_err());
        assert!(parse_8217(b"1x5").is_err());
    }

    #[test]
    fn vectors_continuous() {
        let stable = b"\x02\x2d\x30\x20001234000000\x0d\x2a";
        let moving = b"\x02\x2d\x38\x20001234000000\x0d\x22";
        let mut p = ContinuousParser::new(true);
        let mut out = Vec::new();
        p.push(b"\x00garbage", &mut out);
        p.push(stable, &mut out);
        p.push(moving, &mut out);
        let a = out[0].as_ref().unwrap();
        assert_eq!(a.weight.to_string(), "1.234 kg");
        assert!(!a.motion);
        assert!(out[1].as_ref().unwrap().motion);
        assert_eq!(
            encode_continuous(1234, 3, true, false, false, false, true)[..4],
            [0x02, 0x2d, 0x30, 0x20]
        );
        assert_eq!(
            &encode_continuous(1234, 3, true, false, false, false, true)[..],
            &stable[..]
        );
        let mut bad = stable.to_vec();
        bad[17] = 0x2b;
        out.clear();
        p.push(&bad, &mut out);
        assert!(out[0].is_err());
    }

    proptest! {
        #[test]
        fn continuous_roundtrip(m in 0u32..1_000_000, d in 0u8..=5, kg: bool, motion: bool, neg: bool) {
            let mut p = ContinuousParser::new(true);
            let mut out = Vec::new();
            p.push(&encode_continuous(m, d, kg, motion, neg, false, true), &mut out);
            let f = out.pop().unwrap().unwrap();
            let want = Decimal::new(if neg { -i64::from(m) } else { i64::from(m) }, u32::from(d)).unwrap();
            prop_assert_eq!(f.weight.value, want);
            prop_assert_eq!(f.motion, motion);
            prop_assert_eq!(f.weight.unit.as_str(), if kg { "kg" } else { "lb" });
        }

        #[test]
        fn arbitrary_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut p = ContinuousParser::new(true);
            let mut out = Vec::new();
            p.push(&data, &mut out);
            let mut f = DelimitedFramer::new(STX, CR, 32);
            let mut frames = Vec::new();
            f.push(&data, &mut frames);
            for fr in frames { let _ = parse_8217(&fr); }
        }
    }
}
