//! A sale's cart: open a sale, add and change lines, discounts, a coupon, a customer. Every change
//! re-prices the whole cart in the same transaction and is refused once money is taken.

use rusqlite::params;
use serde_json::json;

use super::registers::{open_sale_of, open_session_of};
use super::{sale, Sale};
use crate::config::RegisterConfig;
use crate::domain::pos::pricing::{
    self, Cart, CartLine, DiscountValue, ManualDiscount, PricingError, Register,
};
use crate::domain::pos::Percent;
use crate::error::{Error, Result};
use crate::store::base::{audit, catalog, customers, prices, Ctx};

/// One change a cashier makes to a cart.
#[derive(Debug, Clone)]
pub enum CartChange {
    /// Add `qty` of a product named by a scanned `code` (GTIN, GS1 string, SKU barcode) or `sku`.
    AddLine {
        code: Option<String>,
        sku: Option<String>,
        qty: i64,
    },
    SetQty {
        line_id: String,
        qty: i64,
    },
    RemoveLine {
        line_id: String,
    },
    /// Take away the last unit added (`CMD:VOID`).
    RemoveLastUnit,
    Discount {
        line_id: Option<String>,
        value: DiscountValue,
        reason: String,
    },
    Coupon {
        code: String,
    },
    Customer {
        customer_id: Option<String>,
    },
}

impl CartChange {
    fn action(&self) -> &'static str {
        match self {
            CartChange::AddLine { .. } => "pos.line_added",
            CartChange::SetQty { .. } => "pos.line_changed",
            CartChange::RemoveLine { .. } | CartChange::RemoveLastUnit => "pos.line_removed",
            CartChange::Discount { .. } => "pos.discount_given",
            CartChange::Coupon { .. } => "pos.coupon_applied",
            CartChange::Customer { .. } => "pos.customer_set",
        }
    }
}

/// What pricing knows of a register.
pub fn register_rules(reg: &RegisterConfig) -> Register {
    Register {
        prices_include_tax: reg.prices_include_tax,
        discount_limit_pct: reg.discount_limit_pct,
    }
}

fn pricing_error(e: PricingError) -> Error {
    match e {
        PricingError::UnknownProduct(sku) => {
            Error::validation("sku", format!("unknown product {sku}"))
        }
        PricingError::NoPrice(sku) => Error::validation("sku", format!("No price for {sku}")),
        PricingError::Coupon { code, reason } => {
            Error::validation("code", format!("coupon {code}: {reason}"))
        }
        PricingError::Invalid(m) => Error::validation("sale", m),
    }
}

/// Prices `cart` for `reg` with the catalogue as it is in this transaction.
pub fn price_cart(cx: &Ctx<'_>, reg: &RegisterConfig, cart: &Cart) -> Result<pricing::Priced> {
    let skus: Vec<&str> = cart.lines.iter().map(|l| l.sku.as_str()).collect();
    let catalog = prices::catalog_for(cx.conn, &reg.tenant_id, &skus, cx.now)?;
    pricing::price(&register_rules(reg), cart, &catalog).map_err(pricing_error)
}

fn customer_group(cx: &Ctx<'_>, reg: &RegisterConfig, id: &str) -> Result<Option<String>> {
    let c = customers::get_customer(cx.conn, id)?
        .filter(|c| c.tenant_id == reg.tenant_id && c.active)
        .ok_or_else(|| Error::validation("customer_id", format!("unknown customer {id}")))?;
    Ok(c.group)
}

/// Opens a sale on `reg` for `cashier`; 409 without an open session or with a sale open.
pub fn create_sale(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    cashier: &str,
    customer_id: Option<&str>,
) -> Result<Sale> {
    let session = open_session_of(cx.conn, &reg.id)?.ok_or_else(|| {
        Error::conflict(format!(
            "Register closed: register {} has no open session",
            reg.id
        ))
    })?;
    if let Some(open) = open_sale_of(cx.conn, &reg.id)? {
        return Err(Error::conflict(format!(
            "register {} already has sale {open} open",
            reg.id
        )));
    }
    let mut cart = Cart::default();
    if let Some(c) = customer_id {
        cart.customer_group = customer_group(cx, reg, c)?;
    }
    let priced = price_cart(cx, reg, &cart)?;
    let id = uuid::Uuid::now_v7().to_string();
    cx.conn
        .prepare_cached(
            "INSERT INTO pos_sales(id, register_id, session_id, tenant_id, currency, cashier,
                customer_id, cart, priced, total, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )?
        .execute(params![
            id,
            reg.id,
            session.id,
            reg.tenant_id,
            reg.currency,
            cashier,
            customer_id,
            serde_json::to_string(&cart)?,
            serde_json::to_string(&priced)?,
            priced.totals.total,
            cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pos.sale_opened",
        &format!("sale:{id}"),
        &json!({"register": reg.id, "session": session.id}),
    )?;
    sale(cx.conn, &id)
}

/// The SKU of the register tenant's product a scanned code names.
pub fn sku_for_code(
    conn: &rusqlite::Connection,
    reg: &RegisterConfig,
    code: &str,
) -> Result<String> {
    let scan = wms_labels::scan::interpret(code.as_bytes());
    let read = crate::domain::station::item::read_item(&scan);
    let codes = read
        .map(|r| r.codes)
        .unwrap_or_else(|| vec![code.to_string()]);
    for c in &codes {
        for (tenant, sku) in catalog::products_by_code(conn, c)? {
            if tenant == reg.tenant_id {
                return Ok(sku);
            }
        }
    }
    Err(Error::validation("code", format!("Unknown barcode {code}")))
}

/// What a price check tells the cashier: one unit's price now, its promotions, and stock here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceLookup {
    pub sku: String,
    pub name: String,
    pub unit_price: i64,
    /// Names of the automatic promotions a single unit gets now.
    pub promotions: Vec<String>,
    pub tax_code: Option<String>,
    /// On hand at the register's location.
    pub available: i64,
}

/// A price check without a sale: the product a scanned code names, priced as one unit.
pub fn price_check(
    conn: &rusqlite::Connection,
    reg: &RegisterConfig,
    code: &str,
    now: &str,
) -> Result<PriceLookup> {
    let sku = sku_for_code(conn, reg, code)?;
    let catalog = prices::catalog_for(conn, &reg.tenant_id, &[&sku], now)?;
    let cart = Cart {
        lines: vec![CartLine {
            line_id: "L1".into(),
            sku: sku.clone(),
            qty: 1,
        }],
        ..Cart::default()
    };
    let priced = pricing::price(&register_rules(reg), &cart, &catalog)
        .map_err(|e| Error::validation("code", e))?;
    let line = priced
        .lines
        .first()
        .ok_or_else(|| Error::Internal(format!("price check of {sku}: no line")))?;
    let promotions = catalog
        .promotions
        .iter()
        .filter(|p| line.discounts.iter().any(|d| d.id == p.id))
        .map(|p| p.name.clone())
        .collect();
    let available =
        crate::store::stock::ledger::position(conn, &reg.tenant_id, &sku, &reg.location, "")?
            .on_hand;
    Ok(PriceLookup {
        name: line.name.clone(),
        unit_price: line.unit_price,
        tax_code: line.tax_code.clone(),
        sku,
        promotions,
        available,
    })
}

fn next_id(prefix: &str, ids: impl Iterator<Item = String>) -> String {
    let n = ids
        .filter_map(|i| i.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    format!("{prefix}{}", n + 1)
}

/// Applies one change to the cart of an open sale with nothing paid, re-prices and stores it.
/// `approved_by` is the supervisor who approved (for a discount above the register's limit).
pub fn change_cart(
    cx: &Ctx<'_>,
    reg: &RegisterConfig,
    sale_id: &str,
    change: CartChange,
    approved_by: Option<&str>,
) -> Result<Sale> {
    super::reversals::refuse_while_voiding(cx.conn, sale_id)?;
    let current = sale(cx.conn, sale_id)?;
    if current.register_id != reg.id {
        return Err(Error::not_found(format!(
            "sale {sale_id} not found on register {}",
            reg.id
        )));
    }
    if !current.is_open() {
        return Err(Error::conflict(format!(
            "sale {sale_id} is {}",
            current.status
        )));
    }
    if current.has_payments() {
        return Err(Error::conflict(format!(
            "sale {sale_id} has a payment: its lines change only while nothing is paid"
        )));
    }
    let mut cart = current.cart.clone();
    let mut customer_id = current.customer_id.clone();
    let action = change.action();
    let mut new_discount = None;
    match change {
        CartChange::AddLine { code, sku, qty } => {
            if !(1..=9999).contains(&qty) {
                return Err(Error::validation("qty", "must be 1 to 9999"));
            }
            let sku = match (code, sku) {
                (Some(code), _) => sku_for_code(cx.conn, reg, code.trim())?,
                (None, Some(sku)) => sku,
                (None, None) => return Err(Error::validation("code", "give a code or a sku")),
            };
            match cart.lines.iter_mut().find(|l| l.sku == sku) {
                Some(line) => line.qty += qty,
                None => {
                    let line_id = next_id("L", cart.lines.iter().map(|l| l.line_id.clone()));
                    cart.lines.push(CartLine { line_id, sku, qty });
                }
            }
        }
        CartChange::SetQty { line_id, qty } => {
            if !(1..=9999).contains(&qty) {
                return Err(Error::validation(
                    "qty",
                    "must be 1 to 9999 (delete the line for 0)",
                ));
            }
            let line = cart
                .lines
                .iter_mut()
                .find(|l| l.line_id == line_id)
                .ok_or_else(|| Error::not_found(format!("line {line_id} not found")))?;
            line.qty = qty;
        }
        CartChange::RemoveLine { line_id } => {
            let before = cart.lines.len();
            cart.lines.retain(|l| l.line_id != line_id);
            if cart.lines.len() == before {
                return Err(Error::not_found(format!("line {line_id} not found")));
            }
            cart.manual
                .retain(|m| m.line_id.as_deref() != Some(line_id.as_str()));
        }
        CartChange::RemoveLastUnit => {
            let Some(last) = cart.lines.last_mut() else {
                return Err(Error::conflict("the sale has no line to take back"));
            };
            last.qty -= 1;
            if last.qty == 0 {
                let gone = last.line_id.clone();
                cart.lines.pop();
                cart.manual
                    .retain(|m| m.line_id.as_deref() != Some(gone.as_str()));
            }
        }
        CartChange::Discount {
            line_id,
            value,
            reason,
        } => {
            if reason.trim().is_empty() {
                return Err(Error::validation("reason", "a discount needs a reason"));
            }
            if let DiscountValue::Percent(p) = value {
                if p > Percent::whole(100) {
                    return Err(Error::validation("percent", "must be at most 100"));
                }
            }
            let id = next_id("D", cart.manual.iter().map(|m| m.id.clone()));
            cart.manual.push(ManualDiscount {
                id: id.clone(),
                line_id,
                value,
                reason,
                approved_by: approved_by.map(str::to_string),
            });
            new_discount = Some(id);
        }
        CartChange::Coupon { code } => {
            if let Some(c) = &cart.coupon {
                return Err(Error::conflict(format!(
                    "coupon {c} is already on the sale: one coupon per sale"
                )));
            }
            cart.coupon = Some(code.trim().to_string());
        }
        CartChange::Customer { customer_id: id } => {
            cart.customer_group = match &id {
                Some(c) => customer_group(cx, reg, c)?,
                None => None,
            };
            customer_id = id;
        }
    }
    let priced = price_cart(cx, reg, &cart)?;
    if let Some(id) = &new_discount {
        if priced.needs_approval.contains(id) {
            return Err(Error::Forbidden(format!(
                "a discount above {} % needs a supervisor's approval",
                reg.discount_limit_pct
            )));
        }
    }
    cx.conn
        .prepare_cached(
            "UPDATE pos_sales SET cart = ?2, priced = ?3, total = ?4, customer_id = ?5, updated_at = ?6
             WHERE id = ?1",
        )?
        .execute(params![
            sale_id,
            serde_json::to_string(&cart)?,
            serde_json::to_string(&priced)?,
            priced.totals.total,
            customer_id,
            cx.now
        ])?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        action,
        &format!("sale:{sale_id}"),
        &json!({"total": {"old": current.priced.totals.total, "new": priced.totals.total},
                "approved_by": approved_by}),
    )?;
    sale(cx.conn, sale_id)
}
