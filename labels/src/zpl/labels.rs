//! The built-in 4x6 label layouts. Each takes typed data, validates what would make a label that
//! does not scan (bad SSCC check digit, tracking number a scanner cannot read back), and writes
//! ZPL through [`Canvas`], which escapes every field.

use super::{plain_symbols, Canvas, Dpi, LABEL_4X6_AT_203};
use crate::error::{Error, Result};
use crate::gs1::{ElementString, Symbol};
use crate::model::*;

const W: u32 = LABEL_4X6_AT_203.0;
const H: u32 = LABEL_4X6_AT_203.1;
const MARGIN: u32 = 30;

/// Check an SSCC (18 digits, correct check digit) and return it.
pub fn valid_sscc(sscc: &str) -> Result<&str> {
    let mut es = ElementString::new();
    es.push("00", sscc)
        .map_err(|e| Error::data("sscc", e.to_string().replace("AI 00: ", "")))?;
    Ok(sscc)
}

/// A tracking number must be printable ASCII (Code 128 subset B), 1–40 characters.
pub fn valid_tracking(t: &str) -> Result<&str> {
    if t.is_empty() || t.len() > 40 || !t.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(Error::data(
            "tracking_number",
            "must be 1 to 40 printable ASCII characters without spaces",
        ));
    }
    Ok(t)
}

/// The AI 420 value for a postal code: letters and digits only, upper case (GS1 does not allow
/// spaces; "SW1A 1AA" becomes "SW1A1AA", "94105-1234" becomes "941051234").
pub fn postal_for_ai420(postal: &str) -> Result<String> {
    let v: String = postal
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if v.is_empty() || v.len() > 20 {
        return Err(Error::data(
            "ship_to.postal_code",
            "must have 1 to 20 letters or digits",
        ));
    }
    Ok(v)
}

/// The weight as printed: the decimal value and unit (`2.35 kg`).
pub fn weight_text(w: &Weight) -> Result<String> {
    let value = match &w.value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => {
            return Err(Error::data(
                "weight.value",
                "must be a number or decimal string",
            ))
        }
    };
    let valid = !value.is_empty()
        && value.len() <= 12
        && value.bytes().filter(|&b| b == b'.').count() <= 1
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return Err(Error::data(
            "weight.value",
            "must be a non-negative decimal",
        ));
    }
    let unit = w.unit.to_ascii_lowercase();
    if !matches!(unit.as_str(), "kg" | "g" | "lb" | "oz") {
        return Err(Error::data("weight.unit", "must be kg, g, lb or oz"));
    }
    Ok(format!("{value} {unit}"))
}

/// "2 of 3"; with `count` 0 (a multi-carton order whose last carton is not packed yet) just "2".
fn carton_text(c: &Carton) -> Result<String> {
    if c.index == 0 || (c.count != 0 && c.index > c.count) {
        return Err(Error::data("carton", "index must be from 1 to count"));
    }
    if c.count == 0 {
        return Ok(c.index.to_string());
    }
    Ok(format!("{} of {}", c.index, c.count))
}

fn required(field: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(Error::data(field, "is required"));
    }
    Ok(())
}

fn element_string(pairs: &[(&str, &str)]) -> Result<ElementString> {
    let mut es = ElementString::new();
    for (ai, v) in pairs {
        es.push(ai, v)?;
    }
    Ok(es)
}

/// `2027-03-31` → `270331` for GS1 date AIs.
pub fn iso_to_yymmdd(field: &str, iso: &str) -> Result<String> {
    let b = iso.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !ok {
        return Err(Error::data(field, "must be an ISO date YYYY-MM-DD"));
    }
    Ok(format!("{}{}{}", &iso[2..4], &iso[5..7], &iso[8..10]))
}

/// The validated pieces of a shipping label, shared by the built-in layout and tenant templates.
pub struct ShippingParts {
    pub tracking: String,
    pub postal: ElementString,
    pub sscc: ElementString,
    pub weight: String,
    pub carton: String,
}

/// Validate shipping label data.
pub fn shipping_parts(d: &ShippingLabel) -> Result<ShippingParts> {
    required("order_id", &d.order_id)?;
    required("carrier", &d.carrier)?;
    required("ship_to.name", &d.ship_to.name)?;
    let tracking = valid_tracking(&d.tracking_number)?.to_string();
    valid_sscc(&d.sscc)?;
    let postal = postal_for_ai420(&d.ship_to.postal_code)?;
    Ok(ShippingParts {
        tracking,
        postal: element_string(&[("420", &postal)])?,
        sscc: element_string(&[("00", &d.sscc)])?,
        weight: weight_text(&d.weight)?,
        carton: carton_text(&d.carton)?,
    })
}

/// The 4x6 shipping label: ship-from, ship-to, carrier/service, AI 420 postal barcode, weight,
/// carton n of m, tracking number barcode, SSCC barcode, order id.
pub fn shipping(d: &ShippingLabel, dpi: Dpi) -> Result<String> {
    let p = shipping_parts(d)?;
    let mut c = Canvas::begin(dpi, W, H);
    c.text(MARGIN, 24, 20, "FROM", 10);
    let from = d.ship_from.lines();
    let from_refs: Vec<&str> = from.iter().map(String::as_str).collect();
    c.block(MARGIN, 48, 22, 420, &from_refs, 40);
    c.text(470, 24, 44, &d.carrier, 18);
    c.text(470, 76, 28, &d.service, 26);
    c.rule(MARGIN, 190, W - 2 * MARGIN, 4);
    c.text(MARGIN, 206, 24, "SHIP TO", 10);
    let to = d.ship_to.lines();
    let to_refs: Vec<&str> = to.iter().map(String::as_str).collect();
    c.block(MARGIN, 236, 36, W - 2 * MARGIN, &to_refs, 38);
    c.rule(MARGIN, 462, W - 2 * MARGIN, 4);
    c.text(MARGIN, 476, 20, "SHIP TO POSTAL CODE", 30);
    c.code128(MARGIN - 10, 502, 110, 470, 3, &p.postal.symbols())?;
    c.text(MARGIN, 620, 22, &p.postal.to_bracketed(), 40);
    c.text(530, 476, 20, "WEIGHT", 10);
    c.text(530, 500, 40, &p.weight, 14);
    c.text(530, 560, 20, "CARTON", 10);
    c.text(530, 584, 40, &p.carton, 14);
    c.rule(MARGIN, 656, W - 2 * MARGIN, 4);
    c.text(MARGIN, 670, 20, "TRACKING #", 20);
    c.code128(
        MARGIN - 10,
        696,
        140,
        W - 2 * MARGIN + 20,
        3,
        &plain_symbols(&p.tracking),
    )?;
    c.text(MARGIN, 844, 26, &p.tracking, 40);
    c.rule(MARGIN, 882, W - 2 * MARGIN, 4);
    c.text(MARGIN, 896, 20, "SSCC", 10);
    c.code128(
        MARGIN - 10,
        922,
        170,
        W - 2 * MARGIN + 20,
        4,
        &p.sscc.symbols(),
    )?;
    c.text(MARGIN, 1100, 26, &p.sscc.to_bracketed(), 40);
    c.text(MARGIN, 1150, 28, &format!("Order {}", d.order_id), 40);
    Ok(c.finish())
}

/// The element strings of a carton label: the content barcode (02/37/10/15/330n/400) and the
/// SSCC barcode (00).
pub fn carton_parts(d: &CartonLabel) -> Result<(Option<ElementString>, ElementString)> {
    valid_sscc(&d.sscc)?;
    let mut content = ElementString::new();
    if let Some(g) = &d.content_gtin {
        content.push("02", &normalise_gtin("content_gtin", g)?)?;
    }
    if let Some(n) = d.count {
        content.push("37", &n.to_string())?;
    }
    if let Some(b) = &d.batch {
        content.push("10", b)?;
    }
    if let Some(bb) = &d.best_before {
        content.push("15", &iso_to_yymmdd("best_before", bb)?)?;
    }
    if let Some(w) = &d.gross_weight_kg {
        let (ai, v) = kg_to_ai330(w)?;
        content.push(&ai, &v)?;
    }
    if let Some(o) = &d.order_number {
        content.push("400", o)?;
    }
    let content = if content.elements().is_empty() {
        None
    } else {
        Some(content)
    };
    Ok((content, element_string(&[("00", &d.sscc)])?))
}

/// A GTIN of 8, 12, 13 or 14 digits as GTIN-14.
pub fn normalise_gtin(field: &str, g: &str) -> Result<String> {
    if !matches!(g.len(), 8 | 12 | 13 | 14) || !g.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::data(field, "must be 8, 12, 13 or 14 digits"));
    }
    Ok(format!("{g:0>14}"))
}

fn kg_to_ai330(w: &str) -> Result<(String, String)> {
    let (int, frac) = w.split_once('.').unwrap_or((w, ""));
    let digits = format!("{int}{frac}");
    if int.is_empty()
        || frac.len() > 5
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.trim_start_matches('0').len() > 6
    {
        return Err(Error::data(
            "gross_weight_kg",
            "must be a decimal of at most 6 digits",
        ));
    }
    let trimmed = digits.trim_start_matches('0');
    Ok((format!("330{}", frac.len()), format!("{trimmed:0>6}")))
}

/// The GS1 logistics label: from/to, the content in human-readable form and its barcodes.
pub fn carton(d: &CartonLabel, dpi: Dpi) -> Result<String> {
    let (content, sscc) = carton_parts(d)?;
    let mut c = Canvas::begin(dpi, W, H);
    c.text(MARGIN, 24, 20, "FROM", 10);
    let from = d.ship_from.lines();
    let refs: Vec<&str> = from.iter().map(String::as_str).collect();
    c.block(MARGIN, 48, 22, 360, &refs, 34);
    if let Some(to) = &d.ship_to {
        c.text(420, 24, 20, "TO", 10);
        let lines = to.lines();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        c.block(420, 48, 22, 360, &refs, 34);
    }
    c.rule(MARGIN, 200, W - 2 * MARGIN, 4);
    c.text(MARGIN, 220, 24, "SSCC", 10);
    c.text(MARGIN, 250, 44, &d.sscc, 20);
    let mut y = 320;
    if let Some(g) = &d.content_gtin {
        c.text(MARGIN, y, 24, &format!("CONTENT {g}"), 40);
        y += 40;
    }
    if let Some(n) = d.count {
        c.text(MARGIN, y, 24, &format!("COUNT {n}"), 40);
        y += 40;
    }
    if let Some(b) = &d.batch {
        c.text(MARGIN, y, 24, &format!("BATCH/LOT {b}"), 40);
        y += 40;
    }
    if let Some(bb) = &d.best_before {
        c.text(MARGIN, y, 24, &format!("BEST BEFORE {bb}"), 40);
        y += 40;
    }
    if let Some(w) = &d.gross_weight_kg {
        c.text(MARGIN, y, 24, &format!("GROSS WEIGHT {w} kg"), 40);
        y += 40;
    }
    if let Some(o) = &d.order_number {
        c.text(MARGIN, y, 24, &format!("ORDER {o}"), 40);
    }
    c.rule(MARGIN, 620, W - 2 * MARGIN, 4);
    if let Some(content) = &content {
        c.code128(
            MARGIN - 10,
            640,
            160,
            W - 2 * MARGIN + 20,
            3,
            &content.symbols(),
        )?;
        c.text(MARGIN, 806, 22, &content.to_bracketed(), 60);
    }
    c.code128(
        MARGIN - 10,
        880,
        200,
        W - 2 * MARGIN + 20,
        4,
        &sscc.symbols(),
    )?;
    c.text(MARGIN, 1090, 26, &sscc.to_bracketed(), 40);
    Ok(c.finish())
}

/// The element string of a product label: 01 + optional 17, 10, 21.
pub fn product_parts(d: &ProductLabel) -> Result<ElementString> {
    let mut es = ElementString::new();
    es.push("01", &normalise_gtin("gtin", &d.gtin)?)?;
    if let Some(e) = &d.expiry {
        es.push("17", &iso_to_yymmdd("expiry", e)?)?;
    }
    if let Some(l) = &d.lot {
        es.push("10", l)?;
    }
    if let Some(s) = &d.serial {
        es.push("21", s)?;
    }
    Ok(es)
}

/// The product label: description, SKU, GTIN/lot/expiry in GS1-128 or GS1 DataMatrix.
pub fn product(d: &ProductLabel, dpi: Dpi) -> Result<String> {
    let es = product_parts(d)?;
    let mut c = Canvas::begin(dpi, W, H);
    c.block(
        MARGIN,
        40,
        44,
        W - 2 * MARGIN,
        &[d.description.as_str()],
        60,
    );
    if !d.sku.is_empty() {
        c.text(MARGIN, 150, 32, &format!("SKU {}", d.sku), 40);
    }
    let mut y = 210;
    for el in es.elements() {
        let label = match el.ai.as_str() {
            "01" => "GTIN",
            "17" => "EXPIRY",
            "10" => "LOT",
            _ => "SERIAL",
        };
        let shown = if el.ai == "17" {
            d.expiry.clone().unwrap_or_default()
        } else {
            el.value.clone()
        };
        c.text(MARGIN, y, 30, &format!("{label} {shown}"), 50);
        y += 44;
    }
    match d.symbol.as_deref().unwrap_or("gs1-128") {
        "gs1-128" => {
            c.code128(MARGIN - 10, 520, 200, W - 2 * MARGIN + 20, 3, &es.symbols())?;
            c.text(MARGIN, 740, 24, &es.to_bracketed(), 60);
        }
        "datamatrix" => {
            c.gs1_datamatrix(MARGIN + 20, 520, 10, &es.symbols());
            c.text(MARGIN, 900, 24, &es.to_bracketed(), 60);
        }
        other => {
            return Err(Error::data(
                "symbol",
                format!("{other:?} is not gs1-128 or datamatrix"),
            ))
        }
    }
    Ok(c.finish())
}

fn code_value(field: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 40 || !v.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(Error::data(
            field,
            "must be 1 to 40 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

/// A bin location label: the code large and as `LOC:<code>` Code 128 (the scan grammar).
pub fn location(d: &LocationLabel, dpi: Dpi) -> Result<String> {
    code_value("code", &d.code)?;
    let mut c = Canvas::begin(dpi, W, H);
    c.text(MARGIN, 60, 30, "LOCATION", 20);
    c.text(MARGIN, 110, 150, &d.code, 12);
    c.text(MARGIN, 290, 32, &d.description, 40);
    let payload = format!("LOC:{}", d.code);
    c.code128(
        MARGIN - 10,
        400,
        300,
        W - 2 * MARGIN + 20,
        4,
        &plain_symbols(&payload),
    )?;
    c.text(MARGIN, 720, 28, &payload, 50);
    c.qr(MARGIN, 800, 8, &payload);
    Ok(c.finish())
}

/// A tote / license plate label: `TOTE:<id>` as Code 128 and QR.
pub fn tote(d: &ToteLabel, dpi: Dpi) -> Result<String> {
    code_value("id", &d.id)?;
    let mut c = Canvas::begin(dpi, W, H);
    c.text(MARGIN, 60, 30, "TOTE / LPN", 20);
    c.text(MARGIN, 110, 150, &d.id, 12);
    c.text(MARGIN, 290, 32, &d.description, 40);
    let payload = format!("TOTE:{}", d.id);
    c.code128(
        MARGIN - 10,
        400,
        300,
        W - 2 * MARGIN + 20,
        4,
        &plain_symbols(&payload),
    )?;
    c.text(MARGIN, 720, 28, &payload, 50);
    c.qr(MARGIN, 800, 8, &payload);
    Ok(c.finish())
}

/// A packing slip on a 4x6 label (for stations without a receipt printer): brand, ship-to, the
/// lines, gift message and notes, and `ORD:<id>` for the packer to scan.
pub fn packing_slip(d: &PackingSlip, dpi: Dpi) -> Result<String> {
    required("order_id", &d.order_id)?;
    code_value("order_id", &d.order_id)?;
    let mut c = Canvas::begin(dpi, W, H);
    let brand = slip_brand(d);
    c.text(MARGIN, 30, 44, &brand, 30);
    c.text(MARGIN, 86, 26, &format!("Order {}", d.order_id), 40);
    if !d.order_date.is_empty() {
        c.text(460, 86, 26, &d.order_date, 20);
    }
    c.rule(MARGIN, 124, W - 2 * MARGIN, 3);
    c.text(MARGIN, 136, 20, "SHIP TO", 10);
    let to = d.ship_to.lines();
    let refs: Vec<&str> = to.iter().map(String::as_str).collect();
    c.block(MARGIN, 160, 24, W - 2 * MARGIN, &refs, 50);
    c.rule(MARGIN, 330, W - 2 * MARGIN, 3);
    c.text(MARGIN, 342, 22, "QTY  SKU / ITEM", 30);
    let mut y = 372;
    let max_lines = 14usize;
    for line in d.lines.iter().take(max_lines) {
        c.text(MARGIN, y, 24, &format!("{:>3}", line.qty), 6);
        c.text(100, y, 24, &format!("{} {}", line.sku, line.name), 48);
        y += 32;
    }
    if d.lines.len() > max_lines {
        c.text(
            100,
            y,
            24,
            &format!("… and {} more lines", d.lines.len() - max_lines),
            40,
        );
    }
    let mut y = 860;
    if !d.branding.gift_message.is_empty() {
        c.text(MARGIN, y, 22, "GIFT MESSAGE", 20);
        c.block(
            MARGIN,
            y + 26,
            24,
            W - 2 * MARGIN,
            &[d.branding.gift_message.as_str()],
            200,
        );
        y += 110;
    }
    if !d.branding.notes.is_empty() {
        c.block(
            MARGIN,
            y,
            22,
            W - 2 * MARGIN,
            &[d.branding.notes.as_str()],
            160,
        );
    }
    let payload = format!("ORD:{}", d.order_id);
    c.code128(MARGIN - 10, 1080, 80, 500, 2, &plain_symbols(&payload))?;
    c.text(MARGIN, 1170, 22, &payload, 50);
    Ok(c.finish())
}

/// The name printed at the top of a slip: the merchant's brand when white-labelled.
pub fn slip_brand(d: &PackingSlip) -> String {
    if d.branding.white_label && !d.branding.brand_name.is_empty() {
        d.branding.brand_name.clone()
    } else if !d.merchant_name.is_empty() {
        d.merchant_name.clone()
    } else {
        "Packing slip".to_string()
    }
}

/// Symbols for a GS1 element string (used by templates).
pub fn symbols_of(es: &ElementString) -> Vec<Symbol> {
    es.symbols()
}
