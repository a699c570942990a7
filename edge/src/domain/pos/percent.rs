//! Exact decimal percents (`"8.875"`, `10`, `"12.5"`), so no binary float ever decides a price or
//! a tax. Kept as an integer count of millionths of a percent.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Millionths of a percent in one percent.
const SCALE: i64 = 1_000_000;

/// A percent with up to six decimals, between 0 and 100 000 %.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent {
    millionths: i64,
}

impl Percent {
    pub const ZERO: Percent = Percent { millionths: 0 };

    /// A whole number of percent.
    pub const fn whole(p: i64) -> Percent {
        Percent {
            millionths: p * SCALE,
        }
    }

    /// Millionths of a percent (`8.875 %` → 8 875 000).
    pub const fn millionths(self) -> i64 {
        self.millionths
    }

    pub const fn from_millionths(millionths: i64) -> Percent {
        Percent { millionths }
    }

    pub fn is_zero(self) -> bool {
        self.millionths == 0
    }

    /// Parses a non-negative decimal with at most six decimals (`"8.875"`, `"10"`, `"0.5"`).
    pub fn parse(s: &str) -> Result<Percent, String> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(format!("{s:?} is not a decimal percent"));
        }
        if frac.len() > 6 {
            return Err(format!("{s:?} has more than six decimals"));
        }
        if int.len() > 6 {
            return Err(format!("{s:?} is too large a percent"));
        }
        let whole: i64 = int.parse().map_err(|_| format!("{s:?} is too large"))?;
        let mut f: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            f += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        Ok(Percent {
            millionths: whole * SCALE + f,
        })
    }

    /// `amount × self / 100`, rounded half away from zero to the minor unit.
    pub fn of(self, amount: i64) -> i64 {
        round_div(
            i128::from(amount) * i128::from(self.millionths),
            i128::from(100 * SCALE),
        )
    }

    /// The tax contained in a tax-inclusive `gross` at this rate: `gross × r / (100 + r)`,
    /// rounded half away from zero.
    pub fn included_in(self, gross: i64) -> i64 {
        round_div(
            i128::from(gross) * i128::from(self.millionths),
            i128::from(100 * SCALE + self.millionths),
        )
    }

    /// What percent `part` is of `whole` (exact to the millionth, rounded half away from zero);
    /// zero when `whole` is zero.
    pub fn ratio(part: i64, whole: i64) -> Percent {
        if whole == 0 {
            return Percent::ZERO;
        }
        let m = round_div(
            i128::from(part) * i128::from(100 * SCALE),
            i128::from(whole),
        );
        Percent { millionths: m }
    }
}

/// `n / d` rounded half away from zero (`d` > 0).
pub fn round_div(n: i128, d: i128) -> i64 {
    let q = n / d;
    let r = n % d;
    let q = if 2 * r.abs() >= d { q + n.signum() } else { q };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.millionths / SCALE;
        let frac = (self.millionths % SCALE).abs();
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let s = format!("{frac:06}");
        write!(f, "{whole}.{}", s.trim_end_matches('0'))
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Percent {
    /// A decimal string or a JSON number (read from its text, never through a float's value
    /// beyond what serde_json already parsed: `12.5` and `"12.5"` are the same percent).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            Float(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => Percent::parse(&t).map_err(de::Error::custom),
            Raw::Int(i) => Percent::parse(&i.to_string()).map_err(de::Error::custom),
            // The shortest text that reads back as this float is what the sender wrote.
            Raw::Float(x) if x.is_finite() && x >= 0.0 => {
                Percent::parse(&format!("{x}")).map_err(de::Error::custom)
            }
            Raw::Float(x) => Err(de::Error::custom(format!("{x} is not a percent"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        for (s, m, back) in [
            ("8.875", 8_875_000, "8.875"),
            ("10", 10_000_000, "10"),
            ("0.5", 500_000, "0.5"),
            ("12.500000", 12_500_000, "12.5"),
        ] {
            let p = Percent::parse(s).expect(s);
            assert_eq!(p.millionths(), m, "{s}");
            assert_eq!(p.to_string(), back);
        }
        for bad in ["", ".5", "5.", "-1", "1e3", "1.2345678", "abc", "1234567"] {
            assert!(Percent::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_numbers_and_strings_agree() {
        let a: Percent = serde_json::from_str("12.5").expect("number");
        let b: Percent = serde_json::from_str("\"12.5\"").expect("string");
        let c: Percent = serde_json::from_str("15").expect("int");
        assert_eq!(a, b);
        assert_eq!(c, Percent::whole(15));
        assert!(serde_json::from_str::<Percent>("-3").is_err());
    }

    #[test]
    fn rounds_half_away_from_zero() {
        let p = Percent::parse("8.875").expect("rate");
        // 1000 × 8.875 % = 88.75 → 89
        assert_eq!(p.of(1000), 89);
        assert_eq!(p.of(-1000), -89);
        // 10 % of 5 = 0.5 → 1
        assert_eq!(Percent::whole(10).of(5), 1);
        // 20 % VAT inside 1.20 is 0.20
        assert_eq!(Percent::whole(20).included_in(120), 20);
        assert_eq!(Percent::ratio(1, 3).to_string(), "33.333333");
        assert_eq!(round_div(-5, 2), -3);
        assert_eq!(round_div(5, 2), 3);
    }
}
