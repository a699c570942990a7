//! GS1 Digital Link URIs (`https://id.example.com/01/09506000134352/10/AB1?17=271231`): the
//! primary key and its qualifiers in the path, data attributes in the query string, values
//! percent-encoded, on any domain (with any path prefix before the key).
//!
//! The path is read from its end, the way the standard resolves a custom domain's own path
//! segments: the last AI/value pairs must be qualifiers of a primary key that comes just before
//! them, in the order the standard gives (`01` then `22`, `10`, `21`). Anything else — an AI that
//! is not a qualifier in the path, qualifiers out of order, an AI without a value, a key or a
//! qualifier in the query — makes the URI invalid rather than "some other URL", as soon as its
//! path names a primary key at all.

use super::{ai, Element};
use crate::error::{Error, Result};

fn strip_scheme(uri: &str) -> Option<&str> {
    for scheme in ["https://", "http://"] {
        if uri.len() >= scheme.len() && uri[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&uri[scheme.len()..]);
        }
    }
    None
}

/// The path segments after the domain, and the query string.
fn split(uri: &str) -> Option<(Vec<&str>, Option<&str>)> {
    let rest = strip_scheme(uri)?;
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let mut segs = path.split('/');
    let domain = segs.next().unwrap_or("");
    if domain.is_empty() {
        return None;
    }
    let mut segs: Vec<&str> = segs.collect();
    if segs.last() == Some(&"") {
        segs.pop();
    }
    Some((segs, query))
}

/// Whether a URI is meant as a GS1 Digital Link: an http(s) URI whose path names a primary key
/// (`/01/`, `/00/`, `/414/` …) followed by a value that could be one (a numeric key's value starts
/// with a digit, so `/2025/01/spring` stays a blog URL). Any other URI is just a URL.
pub fn looks_like_digital_link(uri: &str) -> bool {
    split(uri).is_some_and(|(segs, _)| {
        segs.windows(2).any(|w| {
            ai::link_key(w[0]).is_some()
                && ai::lookup(w[0].as_bytes())
                    .and_then(|d| d.parts.first())
                    .is_some_and(|p| {
                        p.charset != ai::Charset::Numeric
                            || w[1].bytes().next().is_some_and(|b| b.is_ascii_digit())
                    })
        })
    })
}

fn decode(ai: &str, s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::ai(ai, "bad percent escape in the Digital Link"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::ai(ai, "value is not UTF-8"))
}

fn element(ai: &str, raw: &str) -> Result<Element> {
    if raw.is_empty() {
        return Err(Error::ai(ai, "has no value in the Digital Link"));
    }
    let mut value = decode(ai, raw)?;
    // The standard lets a GTIN-8, -12 or -13 stand in the path; the element is the GTIN-14.
    if ai == "01" && matches!(value.len(), 8 | 12 | 13) && value.bytes().all(|b| b.is_ascii_digit())
    {
        value = format!("{value:0>14}");
    }
    Ok(Element::new(ai, value))
}

/// Why no key could be taken at path position `i`, or `None` when it can.
fn key_problem(segs: &[&str], i: usize, key: &ai::LinkKey) -> Option<Error> {
    let quals: Vec<&str> = segs[i + 2..].iter().step_by(2).copied().collect();
    if let Some(q) = quals.iter().find(|q| !key.qualified_by(q)) {
        return Some(
            if ai::lookup(q.as_bytes()).is_some_and(|d| usize::from(d.len) == q.len()) {
                Error::ai(
                *q,
                format!(
                    "is not a qualifier of AI {} in a Digital Link path (data attributes go in the query: ?{q}=…)",
                    key.ai
                ),
            )
            } else {
                Error::Gs1(format!(
                    "Digital Link path: {q:?} after AI {} is not a qualifier AI",
                    key.ai
                ))
            },
        );
    }
    if !key.accepts(&quals) {
        let orders: Vec<String> = key.qualifiers.iter().map(|s| s.join(", ")).collect();
        return Some(Error::ai(
            key.ai,
            format!(
                "qualifiers in a Digital Link path must come in the order {}",
                orders.join(" or ")
            ),
        ));
    }
    None
}

/// Parse a GS1 Digital Link URI into its elements: the primary key, its qualifiers, then the
/// AIs of the query string (other query parameters are ignored). Values are percent-decoded but
/// not validated here.
pub fn parse_digital_link(uri: &str) -> Result<Vec<Element>> {
    let (segs, query) = split(uri).ok_or_else(|| {
        Error::Gs1("a Digital Link must be an http:// or https:// URI with a domain".into())
    })?;
    let n = segs.len();
    let mut found = None;
    let mut first_problem = None;
    let mut k = 2;
    while k <= n {
        let i = n - k;
        if let Some(key) = ai::link_key(segs[i]) {
            match key_problem(&segs, i, key) {
                None => {
                    found = Some((i, key));
                    break;
                }
                Some(problem) => {
                    first_problem.get_or_insert(problem);
                }
            }
        }
        k += 2;
    }
    let Some((start, key)) = found else {
        if let Some(problem) = first_problem {
            return Err(problem);
        }
        return Err(match segs.iter().position(|s| ai::link_key(s).is_some()) {
            Some(i) if i + 1 == n => Error::ai(segs[i], "has no value in the Digital Link"),
            Some(i) => Error::Gs1(format!(
                "Digital Link path after AI {}: an AI has no value",
                segs[i]
            )),
            None => Error::Gs1("Digital Link has no GS1 primary key in its path".into()),
        });
    };
    let mut out = Vec::with_capacity((n - start) / 2 + 2);
    for pair in segs[start..].chunks(2) {
        out.push(element(pair[0], pair[1])?);
    }
    if let Some(q) = query {
        for kv in q.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if k.is_empty() || !k.bytes().all(|c| c.is_ascii_digit()) {
                // linkType, context and the like: not data about the item.
                continue;
            }
            if ai::lookup(k.as_bytes()).map(|d| usize::from(d.len)) != Some(k.len()) {
                return Err(Error::ai(k, "no such GS1 Application Identifier"));
            }
            if ai::link_key(k).is_some() || key.qualified_by(k) {
                return Err(Error::ai(
                    k,
                    "is a key or qualifier: it belongs in the Digital Link path, not the query",
                ));
            }
            out.push(element(k, v)?);
        }
    }
    Ok(out)
}

/// Builds Digital Link URIs from elements (the inverse of [`parse_digital_link`]): the first
/// element must be a primary key; its qualifiers go in the path in the standard's order, every
/// other element in the query string.
#[derive(Debug, Clone)]
pub struct DigitalLinkBuilder {
    base: String,
}

fn encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl DigitalLinkBuilder {
    /// URIs under `base` (`https://id.example.com` or `https://example.com/some/prefix`).
    pub fn new(base: impl Into<String>) -> Self {
        DigitalLinkBuilder {
            base: base.into().trim_end_matches('/').to_string(),
        }
    }

    /// The URI for `elements`, or `None` when the first is not a Digital Link primary key.
    pub fn build(&self, elements: &[Element]) -> Option<String> {
        let (first, rest) = elements.split_first()?;
        let key = ai::link_key(&first.ai)?;
        let mut uri = self.base.clone();
        uri.push('/');
        uri.push_str(&first.ai);
        uri.push('/');
        encode(&mut uri, &first.value);
        let sequence = key
            .qualifiers
            .iter()
            .find(|seq| rest.iter().any(|e| seq.contains(&e.ai.as_str())))
            .copied()
            .unwrap_or(&[]);
        for q in sequence {
            if let Some(e) = rest.iter().find(|e| e.ai == *q) {
                uri.push('/');
                uri.push_str(&e.ai);
                uri.push('/');
                encode(&mut uri, &e.value);
            }
        }
        let mut sep = '?';
        for e in rest.iter().filter(|e| !sequence.contains(&e.ai.as_str())) {
            uri.push(sep);
            sep = '&';
            uri.push_str(&e.ai);
            uri.push('=');
            encode(&mut uri, &e.value);
        }
        Some(uri)
    }
}
