//! A customer registered at the till: works offline, with an id made here, and reaches the
//! central as `customer.created`.

use rusqlite::params;
use serde_json::json;

use crate::domain::rules;
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

/// A customer's name: 1 to 128 printable characters, not all white space.
pub const NAME: rules::Text = rules::line(1, 128).visible();
/// An email address, as far as the till checks one: printable, with an `@`.
pub const EMAIL: rules::Text = rules::line(1, 254).holding('@');
/// A phone number as typed.
pub const PHONE: rules::Text = rules::line(1, 32).visible();

/// [`NAME`] in the document.
pub struct CustomerName;
/// [`EMAIL`] in the document.
pub struct Email;
/// [`PHONE`] in the document.
pub struct Phone;

impl utoipa::PartialSchema for CustomerName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        NAME.schema("A customer's name: 1 to 128 printable characters, not all white space.")
    }
}
impl utoipa::ToSchema for CustomerName {}

impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        EMAIL.schema("An email address: up to 254 printable characters with an '@'.")
    }
}
impl utoipa::ToSchema for Email {}

impl utoipa::PartialSchema for Phone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        PHONE.schema("A phone number: 1 to 32 printable characters, not all white space.")
    }
}
impl utoipa::ToSchema for Phone {}

pub fn register_customer(cx: &Ctx<'_>, c: NewCustomer) -> Result<Customer> {
    NAME.check_field("name", &c.name)?;
    if let Some(e) = &c.email {
        EMAIL.check_field("email", e)?;
    }
    if let Some(p) = &c.phone {
        PHONE.check_field("phone", p)?;
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
