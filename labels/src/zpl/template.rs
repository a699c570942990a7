//! Tenant template overrides (white label). A template is ZPL with `{{placeholders}}` inside
//! `^FH^FD…^FS` fields. It is checked when loaded: only layout commands from an allow-list (no
//! `~` commands, nothing that changes printer settings permanently), every placeholder known
//! for the label kind and inside a `^FH` field, barcode placeholders only in `^BC` fields. Field
//! values are escaped exactly like the built-in layouts', so a template cannot open a path for
//! injected commands.

use super::labels::{carton_parts, product_parts, shipping_parts};
use super::{code128_field, escape_field, plain_symbols};
use crate::error::{Error, Result};
use crate::gs1::Symbol;
use crate::model::*;
use serde_json::Value;

/// ZPL commands a template may use (two letters after `^`; `A` covers every font command).
const ALLOWED: &[&str] = &[
    "XA", "XZ", "CI", "PW", "LL", "LH", "LT", "LS", "PO", "PQ", "PR", "MD", "FO", "FT", "CF", "FB",
    "FH", "FD", "FS", "FR", "FW", "GB", "GC", "GD", "GE", "BY", "BC", "BQ", "FX",
];

const ADDRESS_FIELDS: &[&str] = &[
    "name",
    "company",
    "street1",
    "street2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
];

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Text(String),
    Barcode(String),
}

/// A validated tenant template for one label kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    kind: String,
    segments: Vec<Segment>,
}

fn text_fields(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    // (plain fields, address-valued fields)
    Some(match kind {
        "shipping" => (
            &[
                "order_id",
                "tracking_number",
                "carrier",
                "service",
                "sscc",
                "weight_text",
                "carton_text",
                "postal_hri",
                "sscc_hri",
            ],
            &["ship_from", "ship_to"],
        ),
        "carton" => (
            &[
                "sscc",
                "content_gtin",
                "batch",
                "best_before",
                "order_number",
                "content_hri",
                "sscc_hri",
            ],
            &["ship_from", "ship_to"],
        ),
        "product" => (
            &[
                "gtin",
                "description",
                "sku",
                "lot",
                "expiry",
                "serial",
                "hri",
            ],
            &[],
        ),
        "location" => (&["code", "description"], &[]),
        "tote" => (&["id", "description"], &[]),
        _ => return None,
    })
}

fn barcode_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "shipping" => &["barcode.tracking", "barcode.postal", "barcode.sscc"],
        "carton" => &["barcode.content", "barcode.sscc"],
        "product" => &["barcode.gs1"],
        "location" | "tote" => &["barcode.code"],
        _ => &[],
    }
}

fn known_text(kind: &str, name: &str) -> bool {
    let Some((plain, addr)) = text_fields(kind) else {
        return false;
    };
    if plain.contains(&name) {
        return true;
    }
    match name.split_once('.') {
        Some((a, f)) => addr.contains(&a) && ADDRESS_FIELDS.contains(&f),
        None => false,
    }
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Template {
    /// Parse and validate a template for `kind` (`shipping`, `carton`, `product`, `location`,
    /// `tote`).
    pub fn parse(kind: &str, text: &str) -> Result<Template> {
        let terr = |pos: usize, reason: String| Error::Template {
            line: line_of(text, pos),
            reason,
        };
        if text_fields(kind).is_none() {
            return Err(Error::Unsupported(format!(
                "label kind {kind:?} has no template override"
            )));
        }
        if text.len() > 64 * 1024 {
            return Err(terr(0, "template is larger than 64 KiB".into()));
        }
        let trimmed = text.trim();
        if !trimmed.starts_with("^XA") || !trimmed.ends_with("^XZ") {
            return Err(terr(
                0,
                "template must start with ^XA and end with ^XZ".into(),
            ));
        }
        if !text.contains("^CI28") {
            return Err(terr(0, "template must select UTF-8 with ^CI28".into()));
        }
        let b = text.as_bytes();
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut fh = false;
        let mut barcode = false;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'~' => {
                    return Err(terr(
                        i,
                        "control commands (~) are not allowed in templates".into(),
                    ))
                }
                b'^' => {
                    let name: String = b
                        .get(i + 1..i + 3)
                        .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
                        .unwrap_or_default();
                    let ok = name.starts_with('A') || ALLOWED.contains(&name.as_str());
                    if !ok {
                        return Err(terr(
                            i,
                            format!("command ^{name} is not allowed in templates"),
                        ));
                    }
                    let params_end = b[i + 1..]
                        .iter()
                        .position(|&c| c == b'^' || c == b'~')
                        .map(|p| p + i + 1)
                        .unwrap_or(b.len());
                    let body_start = (i + 3).min(params_end);
                    let body = &text[body_start..params_end];
                    match name.as_str() {
                        "FD" => {
                            literal.push_str(&text[i..body_start]);
                            let mut rest = body;
                            let mut offset = body_start;
                            while let Some(open) = rest.find("{{") {
                                let close = rest[open..].find("}}").ok_or_else(|| {
                                    terr(offset + open, "unclosed {{ placeholder".into())
                                })? + open;
                                let ph = rest[open + 2..close].trim();
                                literal.push_str(&rest[..open]);
                                let is_barcode = barcode_fields(kind).contains(&ph);
                                if !fh {
                                    return Err(terr(
                                        offset + open,
                                        format!(
                                            "placeholder {{{{{ph}}}}} must be in a field with ^FH"
                                        ),
                                    ));
                                }
                                if is_barcode != barcode {
                                    return Err(terr(
                                        offset + open,
                                        if is_barcode {
                                            format!("barcode placeholder {{{{{ph}}}}} must be in a ^BC field")
                                        } else {
                                            format!(
                                                "placeholder {{{{{ph}}}}} cannot be barcode data"
                                            )
                                        },
                                    ));
                                }
                                if !is_barcode && !known_text(kind, ph) {
                                    return Err(terr(
                                        offset + open,
                                        format!(
                                            "unknown placeholder {{{{{ph}}}}} for {kind} labels"
                                        ),
                                    ));
                                }
                                if is_barcode && rest[..open].trim() != "" {
                                    return Err(terr(
                                        offset + open,
                                        "barcode placeholder must be the whole field data".into(),
                                    ));
                                }
                                segments.push(Segment::Literal(std::mem::take(&mut literal)));
                                segments.push(if is_barcode {
                                    Segment::Barcode(ph.to_string())
                                } else {
                                    Segment::Text(ph.to_string())
                                });
                                offset += close + 2;
                                rest = &rest[close + 2..];
                            }
                            literal.push_str(rest);
                        }
                        other => {
                            if body.contains("{{") {
                                return Err(terr(
                                    i,
                                    "placeholders are only allowed in ^FD data".into(),
                                ));
                            }
                            match other {
                                "FH" => {
                                    if !(body.is_empty() || body == "_") {
                                        return Err(terr(
                                            i,
                                            "^FH must use the default indicator _".into(),
                                        ));
                                    }
                                    fh = true;
                                }
                                "FS" => {
                                    fh = false;
                                    barcode = false;
                                }
                                "BC" => barcode = true,
                                _ => {}
                            }
                            literal.push_str(&text[i..params_end]);
                        }
                    }
                    i = params_end;
                }
                _ => {
                    if text[i..].starts_with("{{") {
                        return Err(terr(i, "placeholders are only allowed in ^FD data".into()));
                    }
                    let next = b[i..]
                        .iter()
                        .position(|&c| c == b'^' || c == b'~')
                        .map(|p| p + i)
                        .unwrap_or(b.len());
                    literal.push_str(&text[i..next]);
                    i = next;
                }
            }
        }
        segments.push(Segment::Literal(literal));
        Ok(Template {
            kind: kind.to_string(),
            segments,
        })
    }

    /// Render with `data` (same JSON as the built-in layout of this kind, validated the same way).
    pub fn render(&self, data: &Value) -> Result<String> {
        let (computed, barcodes) = computed_fields(&self.kind, data)?;
        let mut out = String::with_capacity(2048);
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Text(path) => {
                    let v = computed
                        .iter()
                        .find(|(k, _)| k == path)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| lookup_text(data, path));
                    escape_field(&mut out, &v, 200);
                }
                Segment::Barcode(name) => {
                    let symbols = barcodes
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default();
                    if symbols.is_empty() {
                        return Err(Error::data(name.clone(), "has no data for this label"));
                    }
                    out.push_str(&code128_field(&symbols)?.0);
                }
            }
        }
        Ok(out)
    }
}

type Computed = (Vec<(String, String)>, Vec<(String, Vec<Symbol>)>);

fn typed<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T> {
    T::deserialize(data).map_err(|e| Error::Json(e.to_string()))
}

fn computed_fields(kind: &str, data: &Value) -> Result<Computed> {
    let s = |k: &str, v: String| (k.to_string(), v);
    Ok(match kind {
        "shipping" => {
            let d: ShippingLabel = typed(data)?;
            let p = shipping_parts(&d)?;
            (
                vec![
                    s("weight_text", p.weight.clone()),
                    s("carton_text", p.carton.clone()),
                    s("postal_hri", p.postal.to_bracketed()),
                    s("sscc_hri", p.sscc.to_bracketed()),
                ],
                vec![
                    ("barcode.tracking".into(), plain_symbols(&p.tracking)),
                    ("barcode.postal".into(), p.postal.symbols()),
                    ("barcode.sscc".into(), p.sscc.symbols()),
                ],
            )
        }
        "carton" => {
            let d: CartonLabel = typed(data)?;
            let (content, sscc) = carton_parts(&d)?;
            let mut texts = vec![s("sscc_hri", sscc.to_bracketed())];
            let mut codes = vec![("barcode.sscc".to_string(), sscc.symbols())];
            if let Some(c) = content {
                texts.push(s("content_hri", c.to_bracketed()));
                codes.push(("barcode.content".into(), c.symbols()));
            }
            (texts, codes)
        }
        "product" => {
            let d: ProductLabel = typed(data)?;
            let es = product_parts(&d)?;
            (
                vec![s("hri", es.to_bracketed())],
                vec![("barcode.gs1".into(), es.symbols())],
            )
        }
        "location" => {
            let d: LocationLabel = typed(data)?;
            super::labels::location(&d, super::Dpi::Dpi203)?;
            (
                vec![],
                vec![(
                    "barcode.code".into(),
                    plain_symbols(&format!("LOC:{}", d.code)),
                )],
            )
        }
        "tote" => {
            let d: ToteLabel = typed(data)?;
            super::labels::tote(&d, super::Dpi::Dpi203)?;
            (
                vec![],
                vec![(
                    "barcode.code".into(),
                    plain_symbols(&format!("TOTE:{}", d.id)),
                )],
            )
        }
        other => return Err(Error::Unsupported(format!("no template for {other}"))),
    })
}

fn lookup_text(data: &Value, path: &str) -> String {
    let mut v = data;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return String::new(),
        }
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "^XA\n^CI28\n^FO10,10^A0N,30,30^FH^FDTo: {{ship_to.name}}^FS\n^BY2^FO10,60^BCN,100,N,N,N^FH^FD{{barcode.tracking}}^FS\n^XZ\n";

    #[test]
    fn accepts_and_renders() {
        let t = Template::parse("shipping", OK).unwrap();
        let data = crate::samples::sample_data("shipping").unwrap();
        let mut data = data;
        data["ship_to"]["name"] = Value::from("Eve ^XZ~JR");
        let zpl = t.render(&data).unwrap();
        assert!(zpl.contains("^FH^FDTo: Eve _5EXZ_7EJR^FS"), "{zpl}");
        assert!(
            zpl.contains("^BCN,100,N,N,N^FH^FD>:1Z999AA10123456784^FS"),
            "{zpl}"
        );
    }

    #[test]
    fn rejects_unsafe_templates() {
        let cases = [
            (OK.replace("^FH^FDTo", "^FDTo"), "^FH"),
            (
                OK.replace("ship_to.name", "ship_to.secret"),
                "unknown placeholder",
            ),
            (OK.replace("^XZ\n", "~JR^XZ\n"), "control commands"),
            (OK.replace("^CI28", "^CI28^JUS"), "^JU"),
            (OK.replace("^CI28\n", ""), "^CI28"),
            (
                OK.replace("{{barcode.tracking}}", "{{ship_to.name}}"),
                "cannot be barcode",
            ),
            (
                OK.replace("^FO10,10", "^FO{{order_id}},10"),
                "only allowed in ^FD",
            ),
        ];
        for (text, want) in cases {
            let e = Template::parse("shipping", &text).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should mention {want}");
        }
        let e = Template::parse("shipping", &OK.replace("~JR", "")).unwrap();
        assert!(!e.segments.is_empty());
        let e = Template::parse("shipping", &OK.replace("^XZ\n", "\n~JR\n^XZ\n")).unwrap_err();
        assert!(matches!(e, Error::Template { line: 6, .. }), "{e:?}");
    }
}
