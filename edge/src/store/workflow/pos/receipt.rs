//! The receipt a completed sale prints, and the drawer kicks: ESC/POS jobs queued on the
//! register's receipt printer in the transaction that caused them (`workflow::print`), so a
//! printer in error prints the receipt once when it recovers.

use rusqlite::OptionalExtension;
use serde_json::json;
use wms_labels::escpos::{self, docs, Paper};

use super::Sale;
use crate::config::RegisterConfig;
use crate::domain::pos::format_minor;
use crate::error::{Error, Result};
use crate::store::base::Ctx;
use crate::store::workflow::print::queue_print;

/// The receipt of `s` as the labels crate lays it out.
pub fn receipt_of(s: &Sale, reg: &RegisterConfig, cashier_name: &str) -> docs::Receipt {
    let c = s.currency.as_str();
    let m = |a: i64| format_minor(a, c);
    let mut taxes: Vec<docs::Amount> = Vec::new();
    for l in &s.priced.lines {
        let Some(code) = &l.tax_code else { continue };
        let label = format!("Tax {code} {}%", l.tax_rate);
        match taxes.iter_mut().find(|t| t.label == label) {
            Some(_) => {}
            None => taxes.push(docs::Amount {
                label,
                amount: String::new(),
            }),
        }
    }
    for t in &mut taxes {
        let sum: i64 = s
            .priced
            .lines
            .iter()
            .filter(|l| {
                l.tax_code
                    .as_ref()
                    .is_some_and(|code| t.label == format!("Tax {code} {}%", l.tax_rate))
            })
            .map(|l| l.tax)
            .sum();
        t.amount = m(sum);
    }
    if s.balance.rounding != 0 {
        taxes.push(docs::Amount {
            label: "Cash rounding".into(),
            amount: m(s.balance.rounding),
        });
    }
    let paid = s
        .payments
        .iter()
        .filter(|p| matches!(p.state.as_str(), "approved" | "partial"));
    let cash_taken = s
        .payments
        .iter()
        .any(|p| p.method == "cash" && p.state == "approved" && p.amount + p.change > 0);
    let rounding = s.balance.rounding;
    docs::Receipt {
        receipt_number: s.receipt_no.clone().unwrap_or_default(),
        store: docs::Store::default(),
        header: reg.receipt_header.clone(),
        cashier: cashier_name.to_string(),
        register: reg.id.clone(),
        timestamp: s
            .completed_at
            .as_deref()
            .map(|t| local_time(t, &reg.timezone))
            .unwrap_or_default(),
        currency: s.currency.clone(),
        lines: s
            .priced
            .lines
            .iter()
            .map(|l| {
                let off: i64 = l.discounts.iter().map(|d| d.amount).sum();
                docs::ReceiptLine {
                    name: l.name.clone(),
                    qty: json!(l.qty),
                    unit_price: m(l.unit_price),
                    total: m(l.unit_price * l.qty),
                    discount: (off > 0).then(|| docs::Amount {
                        label: l
                            .discounts
                            .iter()
                            .filter_map(|d| d.reason.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                        amount: m(off),
                    }),
                }
            })
            .collect(),
        discounts: Vec::new(),
        subtotal: m(s.priced.totals.subtotal - s.priced.totals.discount),
        taxes,
        total: m(s.priced.totals.total + rounding),
        tenders: paid
            .map(|p| docs::Tender {
                kind: p.method.clone(),
                amount: m(p.amount + p.change),
                card: p.card.as_ref().map(|c| docs::Card {
                    brand: c["brand"].as_str().unwrap_or_default().to_string(),
                    masked_pan: c["masked_pan"].as_str().unwrap_or_default().to_string(),
                    auth_code: c["approval_code"].as_str().unwrap_or_default().to_string(),
                    offline: p.offline || c["terminal_offline"].as_bool() == Some(true),
                }),
            })
            .collect(),
        change: (s.balance.change > 0).then(|| m(s.balance.change)),
        footer: reg.receipt_footer.clone(),
        barcode: None,
        open_drawer: Some(cash_taken),
        title: None,
        gift: false,
    }
}

/// An RFC 3339 instant as the store's wall clock shows it (`2026-12-07 09:41`); the instant as
/// given when the zone or the time cannot be read.
pub fn local_time(at: &str, timezone: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) else {
        return at.to_string();
    };
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// Queues the receipt of a completed sale (and the drawer kick when cash was taken). A register
/// without a receipt printer prints nothing.
pub fn queue_receipt(cx: &Ctx<'_>, reg: &RegisterConfig, s: &Sale) -> Result<bool> {
    let Some(printer) = &reg.receipt_printer else {
        return Ok(false);
    };
    let name: String = cx
        .conn
        .prepare_cached("SELECT name FROM users WHERE id = ?1")?
        .query_row([&s.cashier], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| s.cashier.clone());
    let bytes = docs::receipt(&receipt_of(s, reg, &name), Paper::Mm80)
        .map_err(|e| Error::Internal(format!("receipt of sale {}: {e}", s.id)))?;
    queue_print(cx, printer, "receipt", &s.id, &bytes)?;
    Ok(true)
}

fn cashier_name(cx: &Ctx<'_>, user: &str) -> Result<String> {
    Ok(cx
        .conn
        .prepare_cached("SELECT name FROM users WHERE id = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| user.to_string()))
}

/// Reprints a completed sale's receipt: `COPY` on it, or a gift receipt without prices; the
/// drawer stays shut. Audited by the caller.
pub fn queue_reprint(cx: &Ctx<'_>, reg: &RegisterConfig, s: &Sale, gift: bool) -> Result<bool> {
    let Some(printer) = &reg.receipt_printer else {
        return Ok(false);
    };
    let name = cashier_name(cx, &s.cashier)?;
    let mut doc = receipt_of(s, reg, &name);
    doc.open_drawer = Some(false);
    doc.gift = gift;
    doc.title = Some(if gift { "GIFT RECEIPT" } else { "COPY" }.into());
    let bytes = docs::receipt(&doc, Paper::Mm80)
        .map_err(|e| Error::Internal(format!("reprint of sale {}: {e}", s.id)))?;
    queue_print(
        cx,
        printer,
        "receipt",
        &format!("{}:{}", s.id, cx.now),
        &bytes,
    )?;
    Ok(true)
}

/// The receipt of a refund: what came back, line by line, and where the money went; the drawer
/// opens when cash was paid out.
pub fn queue_refund_receipt(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    rf: &super::refund::Refund,
    original: Option<&Sale>,
) -> Result<bool> {
    let Some(printer) = &reg.receipt_printer else {
        return Ok(false);
    };
    let c = rf.currency.as_str();
    let m = |a: i64| format_minor(a, c);
    let name_of = |line_id: &str, sku: &str| {
        original
            .and_then(|s| s.priced.lines.iter().find(|l| l.line_id == line_id))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| sku.to_string())
    };
    let paid: Vec<&super::refund::RefundTender> = rf
        .tenders
        .iter()
        .filter(|t| t.state == "approved")
        .collect();
    let cash_out = paid.iter().any(|t| t.method == "cash");
    let mut header = reg.receipt_header.clone();
    header.push(match original.and_then(|s| s.receipt_no.as_deref()) {
        Some(no) => format!("Refund of receipt {no}"),
        None => "Return without receipt".to_string(),
    });
    let doc = docs::Receipt {
        receipt_number: original
            .and_then(|s| s.receipt_no.clone())
            .unwrap_or_else(|| rf.id.clone()),
        store: docs::Store::default(),
        header,
        cashier: cashier_name(cx, &rf.cashier)?,
        register: reg.id.clone(),
        timestamp: local_time(cx.now, &reg.timezone),
        currency: rf.currency.clone(),
        lines: rf
            .lines
            .iter()
            .map(|l| docs::ReceiptLine {
                name: name_of(&l.line_id, &l.sku),
                qty: json!(l.qty),
                unit_price: m(l.amount / l.qty.max(1)),
                total: m(l.amount),
                discount: None,
            })
            .collect(),
        discounts: Vec::new(),
        subtotal: m(rf.amount - rf.tax),
        taxes: vec![docs::Amount {
            label: "Tax refunded".into(),
            amount: m(rf.tax),
        }],
        total: m(rf.amount),
        tenders: paid
            .iter()
            .map(|t| docs::Tender {
                kind: t.method.clone(),
                amount: m(t.amount),
                card: None,
            })
            .collect(),
        change: None,
        footer: reg.receipt_footer.clone(),
        barcode: Some("none".into()),
        open_drawer: Some(cash_out),
        title: Some("REFUND".into()),
        gift: false,
    };
    let bytes = docs::receipt(&doc, Paper::Mm80)
        .map_err(|e| Error::Internal(format!("refund receipt {}: {e}", rf.id)))?;
    queue_print(cx, printer, "receipt", &format!("refund:{}", rf.id), &bytes)?;
    Ok(true)
}

/// Opens the drawer (a session opened, cash paid in or out).
pub fn queue_drawer_kick(cx: &Ctx<'_>, reg: &RegisterConfig, why: &str) -> Result<bool> {
    let Some(printer) = &reg.receipt_printer else {
        return Ok(false);
    };
    let mut e = escpos::Encoder::new(Paper::Mm80);
    e.kick_drawer();
    queue_print(cx, printer, "drawer", why, &e.finish())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::local_time;

    #[test]
    fn receipts_show_the_stores_wall_clock() {
        assert_eq!(
            local_time("2026-12-07T14:41:05.120Z", "America/New_York"),
            "2026-12-07 09:41"
        );
        assert_eq!(
            local_time("2026-07-01T00:30:00Z", "Europe/Berlin"),
            "2026-07-01 02:30"
        );
        assert_eq!(local_time("not a time", "UTC"), "not a time");
    }
}
