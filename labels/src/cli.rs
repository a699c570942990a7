//! The functions behind `wms-edge scan parse` and `wms-edge label render|sample`: JSON in, bytes
//! or JSON out, exit codes decided here so the binary only does I/O.

use crate::error::{Error, Result};
use crate::model::*;
use crate::samples::{sample_data, KINDS};
use crate::zpl::{labels, template::Template, Dpi};
use crate::{escpos, scan};
use serde_json::Value;

/// Exit code for an accepted scan.
pub const EXIT_OK: i32 = 0;
/// Exit code for a rejected scan or invalid label data (usage/validation error).
pub const EXIT_REJECTED: i32 = 2;

/// `wms-edge scan parse [--json] <raw>`: the scan's JSON object and the exit code (0 accepted,
/// 2 invalid or rejected). Because a shell cannot easily pass control bytes, `<GS>`, `\x1D`/`\x1d`, `\r`,
/// `\n` and `\t` in `raw` stand for those bytes.
pub fn scan_parse(raw: &str) -> (Value, i32) {
    let bytes = unescape_cli(raw);
    let s = scan::interpret(&bytes);
    let code = if s.ok() { EXIT_OK } else { EXIT_REJECTED };
    (s.to_json(), code)
}

/// One-line human summary of a scan (for `scan parse` without `--json`).
pub fn scan_summary(v: &Value) -> String {
    let verdict = match v["status"].as_str() {
        Some("accepted") => "ok",
        Some(other) => other,
        None => "?",
    };
    let mut out = format!("{verdict} {}", v["kind"].as_str().unwrap_or("?"));
    if let Some(form) = v["form"].as_str() {
        out.push_str(&format!(" ({form})"));
    }
    for key in ["gtin", "sscc"] {
        if let Some(s) = v[key].as_str() {
            out.push_str(&format!(" {key}={s}"));
        }
    }
    if let Some(gtin) = v["content"]["gtin"].as_str() {
        out.push_str(&format!(" content={gtin}"));
        if let Some(n) = v["content"]["count"].as_u64() {
            out.push_str(&format!("×{n}"));
        }
    }
    if let Some(els) = v["elements"].as_array() {
        for el in els {
            out.push_str(&format!(
                " ({}){}",
                el["ai"].as_str().unwrap_or(""),
                el["value"].as_str().unwrap_or("")
            ));
        }
    }
    if let Some(code) = v["code"].as_object() {
        out.push_str(&format!(
            " {}:{}",
            code.get("prefix").and_then(Value::as_str).unwrap_or(""),
            code.get("value").and_then(Value::as_str).unwrap_or("")
        ));
    }
    if let Some(errs) = v["errors"].as_array() {
        for e in errs {
            out.push_str(&format!("\n  error: {}", e.as_str().unwrap_or("")));
        }
    }
    out
}

fn unescape_cli(raw: &str) -> Vec<u8> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"<GS>") || rest.starts_with(b"\\x1D") || rest.starts_with(b"\\x1d") {
            out.push(0x1D);
            i += 4;
        } else if rest.starts_with(b"\\r") {
            out.push(b'\r');
            i += 2;
        } else if rest.starts_with(b"\\n") {
            out.push(b'\n');
            i += 2;
        } else if rest.starts_with(b"\\t") {
            out.push(b'\t');
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn typed<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T> {
    T::deserialize(data).map_err(|e| Error::Json(e.to_string()))
}

/// `wms-edge label render <kind> --data file.json [--dpi 203|300] [--format zpl|escpos]`: the
/// printer bytes for `kind` from `data`. ZPL kinds: shipping, carton, product, location, tote,
/// packing_slip; ESC/POS kinds: receipt, packing_slip, report (paper width from the data's
/// `paper_mm`, 58 or 80, default 80). `dpi` is ignored for ESC/POS.
pub fn render(kind: &str, data: &Value, dpi: u32, format: &str) -> Result<Vec<u8>> {
    if !KINDS.contains(&kind) {
        return Err(Error::UnknownKind(kind.to_string(), KINDS.join(", ")));
    }
    match format {
        "zpl" => {
            let dpi = Dpi::from_number(dpi)?;
            let zpl = match kind {
                "shipping" => labels::shipping(&typed(data)?, dpi)?,
                "carton" => labels::carton(&typed(data)?, dpi)?,
                "product" => labels::product(&typed(data)?, dpi)?,
                "location" => labels::location(&typed(data)?, dpi)?,
                "tote" => labels::tote(&typed(data)?, dpi)?,
                "packing_slip" => labels::packing_slip(&typed(data)?, dpi)?,
                other => {
                    return Err(Error::Unsupported(format!(
                        "{other} is printed on a receipt printer: use --format escpos"
                    )))
                }
            };
            Ok(zpl.into_bytes())
        }
        "escpos" => {
            let paper = paper_of(data)?;
            match kind {
                "receipt" => escpos::receipt(&typed(data)?, paper),
                "packing_slip" => {
                    let slip: PackingSlip = typed(data)?;
                    escpos::packing_slip(&slip, paper)
                }
                "report" => escpos::report(&typed(data)?, paper),
                other => Err(Error::Unsupported(format!(
                    "{other} is printed on a label printer: use --format zpl"
                ))),
            }
        }
        other => Err(Error::Unsupported(format!(
            "format {other:?} is not supported (zpl or escpos)"
        ))),
    }
}

/// The format a kind prints in when the CLI is not told (`zpl` for labels, `escpos` for receipt
/// and report).
pub fn default_format(kind: &str) -> &'static str {
    match kind {
        "receipt" | "report" => "escpos",
        _ => "zpl",
    }
}

fn paper_of(data: &Value) -> Result<escpos::Paper> {
    match data.get("paper_mm").and_then(Value::as_u64) {
        None | Some(80) => Ok(escpos::Paper::Mm80),
        Some(58) => Ok(escpos::Paper::Mm58),
        Some(other) => Err(Error::data("paper_mm", format!("{other} is not 58 or 80"))),
    }
}

/// `wms-edge label sample <kind>`: `render` with the built-in sample data.
pub fn sample(kind: &str, dpi: u32, format: &str) -> Result<Vec<u8>> {
    render(kind, &sample_data(kind)?, dpi, format)
}

/// Render with a tenant template override (`text` is the template file's content).
pub fn render_with_template(kind: &str, data: &Value, template_text: &str) -> Result<Vec<u8>> {
    let t = Template::parse(kind, template_text)?;
    Ok(t.render(data)?.into_bytes())
}

/// The exit code for a render error (all are usage/validation errors).
pub fn exit_code(_err: &Error) -> i32 {
    EXIT_REJECTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_parse_exit_codes() {
        let (v, code) = scan_parse("]C1010950110153000310ABC<GS>17271301");
        assert_eq!(code, 2);
        assert_eq!(v["errors"][0], "AI 17: month 13 is not a month");
        let (v, code) = scan_parse("]C1010950110153000310ABC\\x1D17270300\\r\\n");
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["dates"]["17"], "2027-03-31");
        assert!(
            scan_summary(&v).starts_with("ok gs1 (aim) gtin=09501101530003"),
            "{}",
            scan_summary(&v)
        );
        let (v, code) = scan_parse("0109506000134353172512311012AB");
        assert_eq!(code, 2);
        assert_eq!(
            scan_summary(&v),
            "invalid gs1 (bare) (01)09506000134353 (17)251231 (10)12AB\n  error: AI 01: GTIN check digit should be 2"
        );
    }

    #[test]
    fn render_rejects_bad_requests() {
        assert!(matches!(
            render("nope", &Value::Null, 203, "zpl"),
            Err(Error::UnknownKind(..))
        ));
        assert!(matches!(
            sample("shipping", 600, "zpl"),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            sample("receipt", 203, "zpl"),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            sample("shipping", 203, "pdf"),
            Err(Error::Unsupported(_))
        ));
        let mut d = sample_data("shipping").unwrap();
        d["sscc"] = Value::from("106141411234567890");
        let e = render("shipping", &d, 203, "zpl").unwrap_err();
        assert_eq!(e.to_string(), "sscc: SSCC check digit should be 7");
        assert!(matches!(
            render("shipping", &Value::from(3), 203, "zpl"),
            Err(Error::Json(_))
        ));
    }
}
