//! Exact decimal numbers for weights and amounts: scales report decimals and we must hand them
//! on with their own number of decimals, never through a float.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Largest number of fractional digits kept.
pub const MAX_SCALE: u32 = 12;

/// A signed decimal `mantissa × 10^-scale`. `1.250` keeps scale 3 so it prints as `1.250`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i64,
    scale: u32,
}

impl Decimal {
    /// Zero with no decimals.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// Builds `mantissa × 10^-scale`; scale is capped at [`MAX_SCALE`].
    pub fn new(mantissa: i64, scale: u32) -> Result<Self> {
        if scale > MAX_SCALE {
            return Err(Error::Protocol(format!("decimal scale {scale} too large")));
        }
        Ok(Decimal { mantissa, scale })
    }

    /// The integer mantissa.
    pub fn mantissa(&self) -> i64 {
        self.mantissa
    }

    /// Number of fractional digits.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// True when the value is negative.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Parses text such as `"  012.340"`, `"-1.5"`, `"+3"`, `".5"`. Surrounding spaces are
    /// ignored; anything else that is not a digit, one point or a leading sign is an error.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim_matches(|c: char| c == ' ' || c == '\t');
        let bad = || Error::Protocol(format!("not a decimal number: {:?}", truncate(text)));
        let (neg, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let digits = digits.trim_start_matches(' ');
        if digits.is_empty() {
            return Err(bad());
        }
        let mut mantissa: i64 = 0;
        let mut scale: u32 = 0;
        let mut seen_point = false;
        let mut seen_digit = false;
        for c in digits.bytes() {
            match c {
                b'0'..=b'9' => {
                    seen_digit = true;
                    mantissa = mantissa
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(i64::from(c - b'0')))
                        .ok_or_else(bad)?;
                    if seen_point {
                        scale += 1;
                        if scale > MAX_SCALE {
                            return Err(bad());
                        }
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => return Err(bad()),
            }
        }
        if !seen_digit {
            return Err(bad());
        }
        Ok(Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            scale,
        })
    }

    /// Multiplies by a power of ten (used for Toledo's `XXXX00` display formats).
    pub fn shifted_left(self, places: u32) -> Result<Self> {
        let mut d = self;
        for _ in 0..places {
            if d.scale > 0 {
                d.scale -= 1;
            } else {
                d.mantissa = d
                    .mantissa
                    .checked_mul(10)
                    .ok_or_else(|| Error::Protocol("decimal overflow".into()))?;
            }
        }
        Ok(d)
    }

    fn widen(&self, scale: u32) -> Option<i128> {
        let mut m = i128::from(self.mantissa);
        for _ in self.scale..scale {
            m = m.checked_mul(10)?;
        }
        Some(m)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let s = self.scale.max(other.scale);
        // Widening to at most 12 more digits of an i64 always fits an i128.
        let a = self.widen(s).unwrap_or(0);
        let b = other.widen(s).unwrap_or(0);
        a.cmp(&b)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let abs = self.mantissa.unsigned_abs();
        let digits = abs.to_string();
        let scale = self.scale as usize;
        let body = if scale == 0 {
            digits
        } else if digits.len() > scale {
            let (i, frac) = digits.split_at(digits.len() - scale);
            format!("{i}.{frac}")
        } else {
            format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
        };
        if neg {
            write!(f, "-{body}")
        } else {
            f.write_str(&body)
        }
    }
}

impl FromStr for Decimal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Decimal::parse(s)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Decimal::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A weight as the scale reported it: exact value plus lower-case unit (`kg`, `g`, `lb`, `oz`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weight {
    /// The value with the scale's own decimals.
    pub value: Decimal,
    /// Lower-case unit.
    pub unit: String,
}

impl Weight {
    /// Builds a weight; the unit is normalised to lower case.
    pub fn new(value: Decimal, unit: &str) -> Self {
        Weight {
            value,
            unit: unit.trim().to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_decimals() {
        assert_eq!(Decimal::parse("  012.340").unwrap().to_string(), "12.340");
        assert_eq!(Decimal::parse("01.250").unwrap().to_string(), "1.250");
        assert_eq!(Decimal::parse("-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(Decimal::parse(".5").unwrap().to_string(), "0.5");
        assert_eq!(Decimal::parse("7").unwrap().to_string(), "7");
        assert!(Decimal::parse("1.2.3").is_err());
        assert!(Decimal::parse("").is_err());
        assert!(Decimal::parse("-").is_err());
        assert!(Decimal::parse("1e3").is_err());
        assert!(Decimal::parse("99999999999999999999").is_err());
        assert_eq!(
            Decimal::parse("1234")
                .unwrap()
                .shifted_left(2)
                .unwrap()
                .to_string(),
            "123400"
        );
        assert!(Decimal::parse("1.50").unwrap() == Decimal::parse("1.50").unwrap());
        assert!(Decimal::parse("1.5").unwrap() < Decimal::parse("1.51").unwrap());
    }

    #[test]
    fn serializes_as_string() {
        let w = Weight::new(Decimal::parse("2.345").unwrap(), "KG");
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"value":"2.345","unit":"kg"}"#
        );
    }

    proptest! {
        #[test]
        fn display_parse_roundtrip(m in -1_000_000_000_000i64..1_000_000_000_000, s in 0u32..8) {
            let d = Decimal::new(m, s).unwrap();
            let back = Decimal::parse(&d.to_string()).unwrap();
            prop_assert_eq!(back, d);
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = Decimal::parse(&s);
        }
    }
}
