//! What the labels crate's GS1 tests share: a small deterministic generator that makes one valid
//! value for any AI of the table, and element sets that satisfy the GS1 pairing rules.
#![allow(dead_code)]

use wms_labels::check::gs1_check_digit;
use wms_labels::gs1::ai::{self, AiDef, Charset, Lint};
use wms_labels::gs1::{self, Element};

/// Small deterministic generator so one seed yields one valid value for any AI.
pub struct Gen(pub u64);
impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| (b'0' + self.below(10) as u8) as char)
            .collect()
    }
    pub fn pick(&mut self, set: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| set[self.below(set.len() as u64) as usize] as char)
            .collect()
    }
}

pub fn charset_bytes(cs: Charset) -> Vec<u8> {
    (0x20u8..0x7F)
        .filter(|&c| match cs {
            Charset::Numeric => c.is_ascii_digit(),
            Charset::Cset82 => ai::in_cset82(c),
            Charset::Cset39 => ai::in_cset39(c),
            Charset::Cset64 => ai::in_cset64(c),
        })
        .collect()
}

fn two(n: u64) -> String {
    format!("{n:02}")
}

/// A valid value for `def`, and the AI code (with a decimal digit for 310n-style families).
pub fn valid_element(def: &AiDef, g: &mut Gen) -> Element {
    let ai = match def.max_decimals {
        Some(maxd) => format!("{}{}", def.prefix, g.below(u64::from(maxd) + 1)),
        None => def.prefix.to_string(),
    };
    let mut value = String::new();
    for part in def.parts {
        let len = if part.min == part.max {
            usize::from(part.max)
        } else {
            let lo = u64::from(part.min.max(1));
            (lo + g.below(u64::from(part.max) - lo + 1)) as usize
        };
        let v = match part.lint {
            Lint::CheckDigit(_) => {
                let body = g.digits(len - 1);
                let cd = gs1_check_digit(body.as_bytes()).expect("digits");
                format!("{body}{cd}")
            }
            Lint::Date { .. } => format!(
                "{}{}{}",
                two(g.below(100)),
                two(1 + g.below(12)),
                two(1 + g.below(28))
            ),
            Lint::DateTime { .. } => format!(
                "{}{}{}{}{}",
                two(g.below(100)),
                two(1 + g.below(12)),
                two(1 + g.below(28)),
                two(g.below(24)),
                two(g.below(60))
            ),
            Lint::FullDate => format!(
                "{}{}{}",
                1900 + g.below(200),
                two(1 + g.below(12)),
                two(1 + g.below(28))
            ),
            Lint::Time => {
                let pairs = (len / 2).max(usize::from(part.min).div_ceil(2));
                let mut t = two(g.below(24));
                for _ in 1..pairs {
                    t.push_str(&two(g.below(60)));
                }
                t
            }
            Lint::Iso3 => format!("{:03}", 1 + g.below(999)),
            Lint::Flag => g.below(2).to_string(),
            Lint::None => {
                if part.charset == Charset::Numeric {
                    g.digits(len)
                } else {
                    g.pick(&charset_bytes(part.charset), len)
                }
            }
        };
        value.push_str(&v);
    }
    Element::new(ai, value)
}

/// The table entry of an AI code (`"3103"` finds the `310` family).
pub fn def_of(code: &str) -> Option<&'static AiDef> {
    ai::lookup(code.as_bytes()).filter(|d| usize::from(d.len) == code.len())
}

/// A valid element for a concrete AI code.
pub fn element_for(code: &str, g: &mut Gen) -> Option<Element> {
    let def = def_of(code)?;
    let mut el = valid_element(def, g);
    el.ai = code.to_string();
    Some(el)
}

fn concrete(pattern: &str) -> Option<String> {
    // A family pattern stands for its first member (`31nn` → `3100`, `310n` → `3100`).
    let code = pattern.replace('n', "0");
    def_of(&code).map(|_| code)
}

/// `el` with what the GS1 pairing rules make it need (one AI of each required group, chosen so
/// that nothing excludes anything), or `None` when no such set is found quickly. The first
/// element is `el` itself.
pub fn with_requisites(el: Element, g: &mut Gen) -> Option<Vec<Element>> {
    let mut set = vec![el];
    for _ in 0..8 {
        let problems = gs1::check_pairings(&set);
        if problems.is_empty() {
            return Some(set);
        }
        let mut added = false;
        'find: for (i, member) in set.clone().iter().enumerate() {
            let Some(rule) = ai::pairing(&member.ai) else {
                continue;
            };
            for group in rule.requires {
                if set
                    .iter()
                    .any(|o| group.iter().any(|p| ai::matches_pattern(&o.ai, p)))
                {
                    continue;
                }
                for option in group.iter().filter_map(|p| concrete(p)) {
                    if set.iter().any(|o| o.ai == option) {
                        continue;
                    }
                    let Some(extra) = element_for(&option, g) else {
                        continue;
                    };
                    let mut trial = set.clone();
                    trial.push(extra);
                    let excluded = gs1::check_pairings(&trial)
                        .iter()
                        .any(|p| p.to_string().contains("cannot appear"));
                    if !excluded {
                        set = trial;
                        added = true;
                        break 'find;
                    }
                }
                let _ = i;
                return None;
            }
        }
        if !added {
            return None;
        }
    }
    None
}
