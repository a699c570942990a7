//! Receipt, packing slip and X/Z report layouts on the ESC/POS encoder.

use super::{Align, Encoder, Paper};
use crate::error::{Error, Result};
use crate::model::PackingSlip;
use serde::Deserialize;
use serde_json::Value;

/// Store identity printed at the top of receipts and reports.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Store {
    pub name: String,
    pub lines: Vec<String>,
    pub tax_id: String,
}

/// A labelled amount (discount, tax line).
#[derive(Debug, Clone, Deserialize)]
pub struct Amount {
    pub label: String,
    pub amount: String,
}

/// One sold line.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiptLine {
    pub name: String,
    pub qty: Value,
    pub unit_price: String,
    pub total: String,
    #[serde(default)]
    pub discount: Option<Amount>,
}

/// Card data as the payment terminal returns it: never more than a masked PAN.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Card {
    pub brand: String,
    pub masked_pan: String,
    pub auth_code: String,
    /// Taken while the central (or the card network) was unreachable: the receipt says so, as
    /// the customer's card may still be declined later.
    pub offline: bool,
}

/// One payment.
#[derive(Debug, Clone, Deserialize)]
pub struct Tender {
    pub kind: String,
    pub amount: String,
    #[serde(default)]
    pub card: Option<Card>,
}

/// Data of a POS receipt.
#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    pub receipt_number: String,
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub header: Vec<String>,
    #[serde(default)]
    pub cashier: String,
    #[serde(default)]
    pub register: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub currency: String,
    pub lines: Vec<ReceiptLine>,
    #[serde(default)]
    pub discounts: Vec<Amount>,
    pub subtotal: String,
    #[serde(default)]
    pub taxes: Vec<Amount>,
    pub total: String,
    #[serde(default)]
    pub tenders: Vec<Tender>,
    #[serde(default)]
    pub change: Option<String>,
    #[serde(default)]
    pub footer: Vec<String>,
    /// `code128` (default), `qr` or `none`: how the receipt number is printed for returns.
    #[serde(default)]
    pub barcode: Option<String>,
    /// Open the cash drawer after printing (cash sales).
    #[serde(default)]
    pub open_drawer: Option<bool>,
    /// Printed large under the header: `COPY` on a reprint, `REFUND`, `GIFT RECEIPT`.
    #[serde(default)]
    pub title: Option<String>,
    /// A gift receipt: items and quantities, no prices, totals or tenders.
    #[serde(default)]
    pub gift: bool,
}

/// Per-tender totals in a report.
#[derive(Debug, Clone, Deserialize)]
pub struct TenderTotal {
    pub kind: String,
    pub amount: String,
    #[serde(default)]
    pub count: u64,
}

/// Cash drawer reconciliation in a report.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct CashCount {
    pub opening: String,
    pub expected: String,
    pub counted: String,
    pub difference: String,
}

/// Data of an X (mid-shift, nothing reset) or Z (end of day, totals reset) report.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    /// `x` or `z`.
    pub kind: String,
    #[serde(default)]
    pub number: u64,
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub register: String,
    #[serde(default)]
    pub opened_at: String,
    #[serde(default)]
    pub closed_at: String,
    #[serde(default)]
    pub cashier: String,
    #[serde(default)]
    pub counts: serde_json::Map<String, Value>,
    pub gross: String,
    #[serde(default)]
    pub discounts: String,
    #[serde(default)]
    pub refunds: String,
    pub net: String,
    #[serde(default)]
    pub taxes: Vec<Amount>,
    #[serde(default)]
    pub tenders: Vec<TenderTotal>,
    #[serde(default)]
    pub cash: Option<CashCount>,
}

/// Check that an amount is a plain decimal (`-12.50`), so garbage never looks like money.
fn money<'a>(field: &str, v: &'a str) -> Result<&'a str> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !int.is_empty()
        && int.len() <= 12
        && frac.len() <= 4
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (frac.is_empty() != digits.contains('.'));
    if !ok {
        return Err(Error::data(field, format!("{v:?} is not a decimal amount")));
    }
    Ok(v)
}

fn qty_text(q: &Value) -> Result<String> {
    match q {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 10
                && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            Ok(s.clone())
        }
        _ => Err(Error::data("lines.qty", "must be a number")),
    }
}

fn header(e: &mut Encoder, store: &Store) {
    e.align(Align::Center).bold(true).size(2, 2);
    e.wrapped_at(&store.name, e.columns() / 2);
    e.size(1, 1).bold(false);
    for l in &store.lines {
        e.wrapped(l);
    }
    if !store.tax_id.is_empty() {
        e.line(&store.tax_id);
    }
    e.align(Align::Left);
}

impl Encoder {
    fn wrapped_at(&mut self, text: &str, width: usize) -> &mut Self {
        for l in super::wrap(text, width.max(1)) {
            self.line(&l);
        }
        self
    }
}

/// The last four digits of a masked PAN, the only card digits a receipt shows.
fn card_tail(masked: &str) -> String {
    let digits: Vec<char> = masked.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("**** {tail}")
}

/// A POS receipt: header, lines with discounts, subtotal, taxes, total, tenders (card shown as
/// brand and last four digits only), change, receipt number barcode/QR, footer, cut, and the
/// drawer kick when asked.
pub fn receipt(r: &Receipt, paper: Paper) -> Result<Vec<u8>> {
    if r.receipt_number.is_empty() {
        return Err(Error::data("receipt_number", "is required"));
    }
    let mut e = Encoder::new(paper);
    header(&mut e, &r.store);
    e.align(Align::Center);
    for h in &r.header {
        e.wrapped(h);
    }
    if let Some(t) = r.title.as_deref().filter(|t| !t.is_empty()) {
        e.bold(true).size(2, 2).wrapped(t).size(1, 1).bold(false);
    }
    e.align(Align::Left).rule('-');
    e.line(&format!("Receipt {}", r.receipt_number));
    if !r.timestamp.is_empty() {
        e.line(&r.timestamp);
    }
    if !r.cashier.is_empty() || !r.register.is_empty() {
        e.two_columns(&format!("Cashier {}", r.cashier), &r.register);
    }
    e.rule('-');
    if r.gift {
        for l in &r.lines {
            e.two_columns(&l.name, &qty_text(&l.qty)?);
        }
        return finish_receipt(e, r);
    }
    for (i, l) in r.lines.iter().enumerate() {
        let total = money(&format!("lines[{i}].total"), &l.total)?;
        let unit = money(&format!("lines[{i}].unit_price"), &l.unit_price)?;
        e.two_columns(&l.name, total);
        e.line(&format!("  {} x {unit}", qty_text(&l.qty)?));
        if let Some(d) = &l.discount {
            e.two_columns(
                &format!("  {}", d.label),
                &format!("-{}", money("discount", &d.amount)?),
            );
        }
    }
    e.rule('-');
    e.two_columns("Subtotal", money("subtotal", &r.subtotal)?);
    for d in &r.discounts {
        e.two_columns(&d.label, &format!("-{}", money("discounts", &d.amount)?));
    }
    for t in &r.taxes {
        e.two_columns(&t.label, money("taxes", &t.amount)?);
    }
    e.bold(true).size(1, 2);
    let total_label = if r.currency.is_empty() {
        "TOTAL".to_string()
    } else {
        format!("TOTAL {}", r.currency)
    };
    e.two_columns(&total_label, money("total", &r.total)?);
    e.size(1, 1).bold(false);
    for t in &r.tenders {
        let amount = money("tenders.amount", &t.amount)?;
        match &t.card {
            Some(card) => {
                e.two_columns(
                    &format!("{} {}", card.brand, card_tail(&card.masked_pan)),
                    amount,
                );
                if !card.auth_code.is_empty() {
                    e.line(&format!("  Auth {}", card.auth_code));
                }
                if card.offline {
                    e.line("  OFFLINE");
                }
            }
            None => {
                e.two_columns(&capitalise(&t.kind), amount);
            }
        }
    }
    if let Some(c) = &r.change {
        e.two_columns("Change", money("change", c)?);
    }
    finish_receipt(e, r)
}

/// The receipt's tail: its number as a barcode for returns, the footer, the cut and the drawer.
fn finish_receipt(mut e: Encoder, r: &Receipt) -> Result<Vec<u8>> {
    e.rule('-').align(Align::Center);
    match r.barcode.as_deref().unwrap_or("code128") {
        "code128" => {
            e.code128(&r.receipt_number);
        }
        "qr" => {
            e.qr(&r.receipt_number);
        }
        "none" => {}
        other => {
            return Err(Error::data(
                "barcode",
                format!("{other:?} is not code128, qr or none"),
            ))
        }
    }
    for f in &r.footer {
        e.wrapped(f);
    }
    e.align(Align::Left).feed(3).cut();
    if r.open_drawer.unwrap_or(false) {
        e.kick_drawer();
    }
    Ok(e.finish())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A packing slip on the receipt printer: brand (white label), order, ship-to, lines, gift
/// message, notes, footer and `ORD:<id>` as Code 128.
pub fn packing_slip(d: &PackingSlip, paper: Paper) -> Result<Vec<u8>> {
    if d.order_id.is_empty() {
        return Err(Error::data("order_id", "is required"));
    }
    let mut e = Encoder::new(paper);
    e.align(Align::Center).bold(true).size(2, 2);
    let brand = crate::zpl::labels::slip_brand(d);
    e.wrapped_at(&brand, e.columns() / 2);
    e.size(1, 1).bold(false).align(Align::Left).rule('=');
    e.two_columns(&format!("Order {}", d.order_id), &d.order_date);
    e.rule('-').bold(true).line("Ship to").bold(false);
    for l in d.ship_to.lines() {
        e.wrapped(&l);
    }
    e.rule('-');
    e.two_columns("Item", "Qty");
    for l in &d.lines {
        e.two_columns(&format!("{} {}", l.sku, l.name), &l.qty.to_string());
    }
    e.rule('-');
    if !d.branding.gift_message.is_empty() {
        e.bold(true).line("Gift message").bold(false);
        e.wrapped(&d.branding.gift_message);
        e.rule('-');
    }
    if !d.branding.notes.is_empty() {
        e.wrapped(&d.branding.notes);
        e.rule('-');
    }
    e.align(Align::Center);
    if !d.branding.footer.is_empty() {
        e.wrapped(&d.branding.footer);
    }
    e.code128(&format!("ORD:{}", d.order_id));
    e.align(Align::Left).feed(3).cut();
    Ok(e.finish())
}

/// An X or Z report: period, counts, gross/discounts/refunds/net, taxes, tenders, cash count.
pub fn report(r: &Report, paper: Paper) -> Result<Vec<u8>> {
    let title = match r.kind.to_ascii_lowercase().as_str() {
        "x" => "X REPORT".to_string(),
        "z" => format!("Z REPORT #{}", r.number),
        other => return Err(Error::data("kind", format!("{other:?} is not x or z"))),
    };
    let mut e = Encoder::new(paper);
    header(&mut e, &r.store);
    e.align(Align::Center)
        .bold(true)
        .size(2, 1)
        .line(&title)
        .size(1, 1)
        .bold(false);
    e.align(Align::Left).rule('=');
    e.two_columns("Register", &r.register);
    e.two_columns("Opened", &r.opened_at);
    e.two_columns("Closed", &r.closed_at);
    if !r.cashier.is_empty() {
        e.two_columns("Cashier", &r.cashier);
    }
    e.rule('-');
    for (k, v) in &r.counts {
        let shown = match v {
            Value::Number(n) => n.to_string(),
            _ => return Err(Error::data(format!("counts.{k}"), "must be a number")),
        };
        e.two_columns(&capitalise(&k.replace('_', " ")), &shown);
    }
    e.rule('-');
    e.two_columns("Gross sales", money("gross", &r.gross)?);
    if !r.discounts.is_empty() {
        e.two_columns(
            "Discounts",
            &format!("-{}", money("discounts", &r.discounts)?),
        );
    }
    if !r.refunds.is_empty() {
        e.two_columns("Refunds", &format!("-{}", money("refunds", &r.refunds)?));
    }
    e.bold(true)
        .two_columns("Net sales", money("net", &r.net)?)
        .bold(false);
    for t in &r.taxes {
        e.two_columns(&t.label, money("taxes", &t.amount)?);
    }
    e.rule('-');
    for t in &r.tenders {
        e.two_columns(
            &format!("{} ({})", capitalise(&t.kind), t.count),
            money("tenders.amount", &t.amount)?,
        );
    }
    if let Some(c) = &r.cash {
        e.rule('-');
        for (label, v) in [
            ("Opening float", &c.opening),
            ("Expected cash", &c.expected),
            ("Counted cash", &c.counted),
            ("Difference", &c.difference),
        ] {
            if !v.is_empty() {
                e.two_columns(label, money("cash", v)?);
            }
        }
    }
    e.rule('=');
    if title.starts_with('Z') {
        e.align(Align::Center)
            .line("Totals reset")
            .align(Align::Left);
    }
    e.feed(3).cut();
    Ok(e.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_never_prints_more_than_last_four() {
        let mut d = crate::samples::sample_data("receipt").unwrap();
        d["tenders"][0]["card"]["masked_pan"] = Value::from("4111111111111111");
        d["footer"] = serde_json::json!(["card 4111 1111 1111 1111"]);
        let r: Receipt = serde_json::from_value(d).unwrap();
        let bytes = receipt(&r, Paper::Mm80).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("411111"), "{text}");
        assert!(text.contains("VISA **** 1111"));
    }

    #[test]
    fn a_gift_receipt_has_items_but_no_prices_and_a_copy_says_so() {
        let d = crate::samples::sample_data("receipt").unwrap();
        let mut r: Receipt = serde_json::from_value(d).unwrap();
        let full = String::from_utf8_lossy(&receipt(&r, Paper::Mm80).unwrap()).into_owned();
        r.gift = true;
        r.title = Some("GIFT RECEIPT".into());
        let gift = String::from_utf8_lossy(&receipt(&r, Paper::Mm80).unwrap()).into_owned();
        assert!(gift.contains("GIFT RECEIPT"));
        assert!(gift.contains(&r.lines[0].name));
        assert!(
            full.contains(&r.total) && !gift.contains(&r.total),
            "{gift}"
        );
        assert!(!gift.contains("TOTAL"));
        assert!(
            gift.contains(&r.receipt_number),
            "the number stays for an exchange"
        );
    }

    #[test]
    fn rejects_non_amounts() {
        let mut d = crate::samples::sample_data("receipt").unwrap();
        d["total"] = Value::from("12,50");
        let r: Receipt = serde_json::from_value(d).unwrap();
        assert!(receipt(&r, Paper::Mm58).is_err());
    }
}
