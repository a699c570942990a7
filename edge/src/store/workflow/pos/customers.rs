//! A customer registered at the till: works offline, with an id made here, and reaches the
//! central as `customer.created`.

use rusqlite::params;
use serde_json::json;

use crate::error::{Error, Result};
use crate::store::base::customers::{get_customer, Customer};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, Ctx};

/// What the cashier typed.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub tenant_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

fn check(field: &str, v: &str, max: usize) -> Result<()> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

pub fn register_customer(cx: &Ctx<'_>, c: NewCustomer) -> Result<Customer> {
    check("name", &c.name, 128)?;
    if let Some(e) = &c.email {
        check("email", e, 254)?;
        if !e.contains('@') {
            return Err(Error::validation("email", "is not an email address"));
        }
    }
    if let Some(p) = &c.phone {
        check("phone", p, 32)?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    cx.conn
        .prepare_cached(
            "INSERT INTO customers(id, tenant_id, name, email, phone, active, created_here,
                created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, ?6, ?6)",
        )?
        .execute(params![
            id,
            c.tenant_id,
            c.name.trim(),
            c.email,
            c.phone,
            cx.now
        ])?;
    outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "customer.created",
            aggregate_type: "customer",
            aggregate_id: id.clone(),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({"id": id, "tenant_id": c.tenant_id, "name": c.name.trim(),
                         "email": c.email, "phone": c.phone, "created_at": cx.now}),
        },
    )?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "customer.created",
        &format!("customer:{id}"),
        &json!({"customer": {"old": null, "new": id}}),
    )?;
    get_customer(cx.conn, &id)?.ok_or_else(|| Error::Internal(format!("customer {id} vanished")))
}
