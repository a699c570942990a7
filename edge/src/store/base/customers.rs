//! The customers a store knows offline: those the central sends (`customer.upsert`) and those
//! registered at a till (`customer.created` upstream, with an id made here).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{audit, Origin};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: String,
    pub tenant_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub loyalty_id: Option<String>,
    /// Price group (`product.group_prices`).
    pub group: Option<String>,
    pub active: bool,
    pub version: Option<i64>,
}

/// Creates or replaces a customer the central sent.
pub fn put_customer(conn: &Connection, origin: &Origin, now: &str, c: &Customer) -> Result<()> {
    super::catalog::check_ident("id", &c.id)?;
    conn.prepare_cached(
        "INSERT INTO customers(id, tenant_id, name, email, phone, loyalty_id, price_group, active,
            version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name,
           email = excluded.email, phone = excluded.phone, loyalty_id = excluded.loyalty_id,
           price_group = excluded.price_group, active = excluded.active,
           version = excluded.version, updated_at = excluded.updated_at",
    )?
    .execute(params![
        c.id,
        c.tenant_id,
        c.name,
        c.email,
        c.phone,
        c.loyalty_id,
        c.group,
        c.active,
        c.version,
        now
    ])?;
    audit::record(
        conn,
        origin,
        now,
        "customer.upsert",
        &format!("customer:{}", c.id),
        &json!({"customer": {"old": null, "new": {"id": c.id, "group": c.group, "active": c.active}}}),
    )?;
    Ok(())
}

const COLS: &str = "id, tenant_id, name, email, phone, loyalty_id, price_group, active, version";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        phone: r.get(4)?,
        loyalty_id: r.get(5)?,
        group: r.get(6)?,
        active: r.get(7)?,
        version: r.get(8)?,
    })
}

pub fn get_customer(conn: &Connection, id: &str) -> Result<Option<Customer>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM customers WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The active customer of `tenant_id` with this loyalty id (a `CUST:` scan).
pub fn by_loyalty(
    conn: &Connection,
    tenant_id: &str,
    loyalty_id: &str,
) -> Result<Option<Customer>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM customers WHERE tenant_id = ?1 AND loyalty_id = ?2 AND active = 1"
        ))?
        .query_row(params![tenant_id, loyalty_id], from_row)
        .optional()?)
}

/// A tenant's active customers whose phone, email, loyalty id or name matches `q` (name and
/// email by part, case-insensitive; phone and loyalty id whole), by name.
pub fn search(
    conn: &Connection,
    tenant_id: Option<&str>,
    q: &str,
    limit: usize,
) -> Result<Vec<Customer>> {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let like = format!("%{escaped}%");
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM customers WHERE (?1 IS NULL OR tenant_id = ?1) AND active = 1
           AND (name LIKE ?2 ESCAPE '\\' OR email LIKE ?2 ESCAPE '\\' OR phone = ?3 OR loyalty_id = ?3)
         ORDER BY name, id LIMIT ?4"
    ))?;
    let rows = st.query_map(params![tenant_id, like, q, limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
