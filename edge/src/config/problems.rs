//! How `config check` words what it finds: every problem on the line of the value it is about, a
//! parse error in the operator's terms ("unknown key", the table it sits in), and a did-you-mean
//! for names that are a likely typo of a known one.

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// All problems of a file, rendered as `<file>:<line>: <message>` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub file: String,
    pub items: Vec<Problem>,
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.file, p.line, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// The 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML error as one problem, on its line and naming the table it was found in.
pub(super) fn from_toml(text: &str, e: &toml::de::Error) -> Problem {
    let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
    let section = section_at(text, line);
    Problem {
        line,
        message: rewrite_message(e.message(), section.as_deref()),
    }
}

/// The table header (`[site]`, `[[devices]]`) in force at a line.
fn section_at(text: &str, line: usize) -> Option<String> {
    text.lines()
        .take(line)
        .filter_map(|l| {
            let t = l.trim();
            t.starts_with('[').then(|| {
                let end = t.rfind(']').map(|i| i + 1).unwrap_or(t.len());
                t[..end].to_string()
            })
        })
        .last()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known name, when it is close enough to be a likely typo.
pub(super) fn suggest<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (levenshtein(unknown, k), k))
        .filter(|(d, k)| {
            *d <= 2.max(k.len() / 3) || k.starts_with(unknown) || unknown.starts_with(k)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// ` (did you mean "x"?)` for the closest known name, or nothing.
pub(super) fn did_you_mean<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    suggest(unknown, known)
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}

/// Turn serde's "unknown field `x`, expected one of `a`, `b`" into the operator's wording.
fn rewrite_message(msg: &str, section: Option<&str>) -> String {
    let msg = msg.trim();
    let within = section.map(|s| format!(" in {s}")).unwrap_or_default();
    for (prefix, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some(end) = rest.find('`') {
                let name = &rest[..end];
                let expected: Vec<&str> = rest[end..].split('`').skip(2).step_by(2).collect();
                let hint = suggest(name, expected.iter().copied())
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_else(|| {
                        if expected.is_empty() {
                            String::new()
                        } else {
                            format!(" (expected one of: {})", expected.join(", "))
                        }
                    });
                return format!("unknown {noun} \"{name}\"{within}{hint}");
            }
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some(end) = rest.find('`') {
            return format!("missing key \"{}\"{within}", &rest[..end]);
        }
    }
    format!("{msg}{within}")
}
