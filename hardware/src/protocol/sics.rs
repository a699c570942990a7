//! Mettler Toledo MT-SICS level 0/1: ASCII commands and replies, each ending CR LF. A reply is
//! `ID status [value unit]`; generic errors `ES`/`ET`/`EL` carry no command echo.

use crate::decimal::{Decimal, Weight};

/// Bytes of a command (`"S"`, `"SI"`, `"Z"`, `"T"`, `"TAC"`, `"I4"`, `"@"`).
pub fn command(cmd: &str) -> Vec<u8> {
    let mut v = cmd.as_bytes().to_vec();
    v.extend_from_slice(b"\r\n");
    v
}

/// One parsed reply line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SicsReply {
    /// A weight (`S S`, `S D`, `T S`, `TA A`…); `stable` is false for `D` (dynamic).
    Weight {
        /// Command echoed (`S`, `SI`, `T`…).
        command: String,
        /// Stable reading.
        stable: bool,
        /// Value and unit as sent.
        weight: Weight,
    },
    /// Command executed (`Z A`, `TAC A`, `ZI S`…).
    Done {
        /// Command echoed.
        command: String,
    },
    /// `X I`: not executable now (motion, busy, stability timeout).
    NotExecutable {
        /// Command echoed.
        command: String,
    },
    /// `X +`: overload or above zero range.
    Overload {
        /// Command echoed.
        command: String,
    },
    /// `X -`: underload or below zero range.
    Underload {
        /// Command echoed.
        command: String,
    },
    /// `X L`: parameter not allowed.
    WrongParameter {
        /// Command echoed.
        command: String,
    },
    /// `X A "…" …`: information reply (serial number, versions).
    Info {
        /// Command echoed.
        command: String,
        /// Quoted values.
        values: Vec<String>,
    },
    /// `ES`: unknown command.
    SyntaxError,
    /// `ET`: transmission error (parity, overrun).
    TransmissionError,
    /// `EL`: logical error.
    LogicalError,
    /// Anything else (newer status letters are treated as errors by callers).
    Unknown(String),
}

impl SicsReply {
    /// The command this reply answers, when it says.
    pub fn command(&self) -> Option<&str> {
        match self {
            SicsReply::Weight { command, .. }
            | SicsReply::Done { command }
            | SicsReply::NotExecutable { command }
            | SicsReply::Overload { command }
            | SicsReply::Underload { command }
            | SicsReply::WrongParameter { command }
            | SicsReply::Info { command, .. } => Some(command),
            _ => None,
        }
    }
}

/// Parses one line (without CR LF).
pub fn parse_line(line: &str) -> SicsReply {
    let line = line.trim_matches(|c: char| c == ' ' || c == '\0');
    match line {
        "ES" => return SicsReply::SyntaxError,
        "ET" => return SicsReply::TransmissionError,
        "EL" => return SicsReply::LogicalError,
        _ => {}
    }
    let mut it = line.splitn(3, ' ');
    let (Some(cmd), Some(status)) = (it.next(), it.next()) else {
        return SicsReply::Unknown(line.to_string());
    };
    if cmd.is_empty() || !cmd.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'@') {
        return SicsReply::Unknown(line.to_string());
    }
    let rest = it.next().unwrap_or("").trim();
    let command = cmd.to_string();
    match status {
        "S" | "D" | "A" if !rest.is_empty() && rest.starts_with('"') => SicsReply::Info {
            command,
            values: quoted(rest),
        },
        "S" | "D" | "A" if !rest.is_empty() => match weight(rest) {
            Some(weight) => SicsReply::Weight {
                command,
                stable: status != "D",
                weight,
            },
            None => SicsReply::Unknown(line.to_string()),
        },
        "S" | "D" | "A" => SicsReply::Done { command },
        "I" => SicsReply::NotExecutable { command },
        "+" => SicsReply::Overload { command },
        "-" => SicsReply::Underload { command },
        "L" => SicsReply::WrongParameter { command },
        _ => SicsReply::Unknown(line.to_string()),
    }
}

fn weight(rest: &str) -> Option<Weight> {
    let (value, unit) = rest.rsplit_once(' ')?;
    let unit = unit.trim();
    if unit.is_empty() || unit.len() > 4 || !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    // Some balances put a space between sign and digits.
    let compact: String = value.chars().filter(|c| *c != ' ').collect();
    let value = Decimal::parse(&compact).ok()?;
    Some(Weight::new(value, unit))
}

fn quoted(rest: &str) -> Vec<String> {
    rest.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// Formats a weight reply the way a balance does: value right-aligned in 10 columns.
pub fn format_weight(cmd: &str, stable: bool, w: &Weight) -> Vec<u8> {
    let s = format!(
        "{cmd} {} {:>10} {}\r\n",
        if stable { "S" } else { "D" },
        w.value.to_string(),
        w.unit
    );
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(v: &str, u: &str) -> Weight {
        Weight::new(Decimal::parse(v).unwrap(), u)
    }

    #[test]
    fn research_vectors() {
        assert_eq!(
            parse_line("S S     12.345 g"),
            SicsReply::Weight {
                command: "S".into(),
                stable: true,
                weight: w("12.345", "g")
            }
        );
        assert_eq!(
            parse_line("S D     12.340 g"),
            SicsReply::Weight {
                command: "S".into(),
                stable: false,
                weight: w("12.340", "g")
            }
        );
        assert_eq!(
            parse_line("S I"),
            SicsReply::NotExecutable {
                command: "S".into()
            }
        );
        assert_eq!(
            parse_line("S +"),
            SicsReply::Overload {
                command: "S".into()
            }
        );
        assert_eq!(
            parse_line("S -"),
            SicsReply::Underload {
                command: "S".into()
            }
        );
        assert_eq!(
            parse_line("Z A"),
            SicsReply::Done {
                command: "Z".into()
            }
        );
        assert_eq!(
            parse_line("Z I"),
            SicsReply::NotExecutable {
                command: "Z".into()
            }
        );
        assert_eq!(
            parse_line("I4 A \"0123456789\""),
            SicsReply::Info {
                command: "I4".into(),
                values: vec!["0123456789".into()]
            }
        );
        assert_eq!(parse_line("ES"), SicsReply::SyntaxError);
        assert_eq!(parse_line("EL"), SicsReply::LogicalError);
        assert_eq!(parse_line("ET"), SicsReply::TransmissionError);
        assert_eq!(
            parse_line("T S      0.100 kg"),
            SicsReply::Weight {
                command: "T".into(),
                stable: true,
                weight: w("0.100", "kg")
            }
        );
        assert_eq!(
            parse_line("S S    - 0.005 kg"),
            SicsReply::Weight {
                command: "S".into(),
                stable: true,
                weight: w("-0.005", "kg")
            }
        );
        assert!(matches!(parse_line("S X 1 g"), SicsReply::Unknown(_)));
        assert!(matches!(parse_line("S S abc g"), SicsReply::Unknown(_)));
        assert_eq!(command("SI"), b"SI\r\n");
        assert_eq!(
            format_weight("S", true, &w("12.345", "g")),
            b"S S     12.345 g\r\n"
        );
    }

    proptest! {
        #[test]
        fn weight_roundtrip(m in -10_000_000i64..10_000_000, s in 0u32..5, stable: bool, unit in "(g|kg|lb|oz)") {
            let weight = Weight::new(Decimal::new(m, s).unwrap(), &unit);
            let bytes = format_weight("S", stable, &weight);
            let line = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(
                parse_line(line.trim_end()),
                SicsReply::Weight { command: "S".into(), stable, weight }
            );
        }

        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = parse_line(&s);
        }
    }
}
