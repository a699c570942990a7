//! The point of sale's transactions (pos-api.md): register sessions, sales and their carts, tenders
//! and completion. The rules are `domain::pos` (pricing, balance, card); this module reads what
//! they need in the sale's transaction, calls them and stores what they decide.
//!
//! A sale keeps two things: its `cart` (what the cashier decided: lines, coupon, manual
//! discounts, customer group) and `priced` (what pricing made of it). Every cart change re-prices
//! from the cart, so lines and totals can never drift from the rules.

pub mod card;
pub mod cash;
mod complete;
pub mod customers;
pub mod payments;
pub mod receipt;
pub mod refund;
pub mod registers;
pub mod reports;
pub mod reversals;
pub mod sales;
pub mod void;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::domain::pos::balance::Balance;
use crate::domain::pos::pricing::{Cart, Priced};
use crate::error::{Error, Result};

pub use registers::PosSession;

/// A sale as stored, with its tenders and what is still due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sale {
    pub id: String,
    pub register_id: String,
    pub session_id: String,
    pub tenant_id: String,
    pub currency: String,
    pub cashier: String,
    pub customer_id: Option<String>,
    /// `open`, `completed` or `voided`.
    pub status: String,
    pub cart: Cart,
    pub priced: Priced,
    pub payments: Vec<Payment>,
    pub balance: Balance,
    pub receipt_no: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
    /// Units refunded per line (`line_id` → qty), by completed refunds.
    pub refunded_qty: std::collections::BTreeMap<String, i64>,
    /// Money given back by completed refunds.
    pub refunded: i64,
}

impl Sale {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    /// Some tender is approved or pending: the lines are fixed from here on.
    pub fn has_payments(&self) -> bool {
        self.payments
            .iter()
            .any(|p| matches!(p.state.as_str(), "approved" | "partial" | "pending"))
    }
}

/// One tender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub id: String,
    pub sale_id: String,
    pub method: String,
    /// The amount applied to the sale (or held, while pending).
    pub amount: i64,
    /// `pending`, `approved`, `partial`, `declined`, `aborted` or `failed`.
    pub state: String,
    pub tendered: Option<i64>,
    pub change: i64,
    pub rounding: i64,
    pub card: Option<serde_json::Value>,
    pub offline: bool,
    pub error: Option<String>,
    pub created_at: String,
}

const PAYMENT_COLS: &str = "id, sale_id, method, amount, state, tendered, change, rounding, card, \
    offline, error, created_at";

fn payment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Payment> {
    let card: Option<String> = r.get(8)?;
    Ok(Payment {
        id: r.get(0)?,
        sale_id: r.get(1)?,
        method: r.get(2)?,
        amount: r.get(3)?,
        state: r.get(4)?,
        tendered: r.get(5)?,
        change: r.get(6)?,
        rounding: r.get(7)?,
        card: card.and_then(|c| serde_json::from_str(&c).ok()),
        offline: r.get(9)?,
        error: r.get(10)?,
        created_at: r.get(11)?,
    })
}

pub fn payments_of(conn: &Connection, sale_id: &str) -> Result<Vec<Payment>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLS} FROM pos_payments WHERE sale_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([sale_id], payment_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get_payment(conn: &Connection, id: &str) -> Result<Option<Payment>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PAYMENT_COLS} FROM pos_payments WHERE id = ?1"
        ))?
        .query_row([id], payment_from_row)
        .optional()?)
}

/// The balance a sale's tenders leave.
pub fn balance_of(total: i64, payments: &[Payment]) -> Balance {
    let (mut paid, mut held, mut rounding, mut change) = (0, 0, 0, 0);
    for p in payments {
        match p.state.as_str() {
            "approved" | "partial" => {
                paid += p.amount;
                rounding += p.rounding;
                change += p.change;
            }
            "pending" => held += p.amount,
            _ => {}
        }
    }
    Balance::new(total, rounding, paid, held, change)
}

const SALE_COLS: &str = "id, register_id, session_id, tenant_id, currency, cashier, customer_id, \
    status, cart, priced, receipt_no, created_at, completed_at";

/// A sale with its payments, or `None`.
pub fn get_sale(conn: &Connection, id: &str) -> Result<Option<Sale>> {
    let row = conn
        .prepare_cached(&format!("SELECT {SALE_COLS} FROM pos_sales WHERE id = ?1"))?
        .query_row([id], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ),
                (
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, String>(11)?,
                    r.get::<_, Option<String>>(12)?,
                ),
            ))
        })
        .optional()?;
    let Some((a, b)) = row else {
        return Ok(None);
    };
    let (id, register_id, session_id, tenant_id, currency, cashier, customer_id) = a;
    let (status, cart, priced, receipt_no, created_at, completed_at) = b;
    let cart: Cart = serde_json::from_str(&cart)
        .map_err(|e| Error::Internal(format!("sale {id}: stored cart: {e}")))?;
    let priced: Priced = serde_json::from_str(&priced)
        .map_err(|e| Error::Internal(format!("sale {id}: stored prices: {e}")))?;
    let payments = payments_of(conn, &id)?;
    let balance = balance_of(priced.totals.total, &payments);
    let refunded_qty = conn
        .prepare_cached(
            "SELECT l.line_id, sum(l.qty) FROM pos_refund_lines l
               JOIN pos_refunds r ON r.id = l.refund_id
              WHERE r.sale_id = ?1 AND r.state = 'completed' GROUP BY l.line_id",
        )?
        .query_map([&id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let refunded: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(amount), 0) FROM pos_refunds
              WHERE sale_id = ?1 AND state = 'completed'",
        )?
        .query_row([&id], |r| r.get(0))?;
    Ok(Some(Sale {
        id,
        register_id,
        session_id,
        tenant_id,
        currency,
        cashier,
        customer_id,
        status,
        cart,
        priced,
        payments,
        balance,
        receipt_no,
        created_at,
        completed_at,
        refunded_qty,
        refunded,
    }))
}

/// The sale or a 404 that names it.
pub fn sale(conn: &Connection, id: &str) -> Result<Sale> {
    get_sale(conn, id)?.ok_or_else(|| Error::not_found(format!("sale {id} not found")))
}

/// Filters of `GET /v1/pos/sales`.
#[derive(Debug, Clone, Default)]
pub struct SaleFilter {
    pub register: Option<String>,
    pub session: Option<String>,
    pub status: Option<String>,
    pub receipt_no: Option<String>,
    pub customer: Option<String>,
    /// Only this tenant's sales (a tenant-limited caller).
    pub tenant: Option<String>,
    /// After this `(created_at, id)`, in the newest-first order.
    pub after: Option<(String, String)>,
    pub limit: usize,
}

pub fn list_sales(conn: &Connection, f: &SaleFilter) -> Result<Vec<Sale>> {
    let mut st = conn.prepare_cached(
        "SELECT id FROM pos_sales
         WHERE (?1 IS NULL OR register_id = ?1) AND (?2 IS NULL OR session_id = ?2)
           AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR receipt_no = ?4)
           AND (?5 IS NULL OR customer_id = ?5) AND (?7 IS NULL OR tenant_id = ?7)
           AND (?8 IS NULL OR created_at < ?8 OR (created_at = ?8 AND id < ?9))
         ORDER BY created_at DESC, id DESC LIMIT ?6",
    )?;
    let ids: Vec<String> = st
        .query_map(
            rusqlite::params![
                f.register,
                f.session,
                f.status,
                f.receipt_no,
                f.customer,
                f.limit.clamp(1, 500) as i64,
                f.tenant,
                f.after.as_ref().map(|a| a.0.as_str()),
                f.after.as_ref().map(|a| a.1.as_str()),
            ],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = get_sale(conn, &id)? {
            out.push(s);
        }
    }
    Ok(out)
}
