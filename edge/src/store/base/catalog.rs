//! What the site knows: products, locations and floor users, whether created locally (admin PUTs)
//! or synced down. Each replace writes its audit entry in the same transaction.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::query::Where;
use super::{audit, Origin};
use crate::domain::role::Role;
use crate::domain::rules;
use crate::domain::{LocationKind, Tracking};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WeightUnit {
    Kg,
    G,
    Lb,
    Oz,
}

/// A weight as the contract writes it: a decimal string, never a binary float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    #[schema(value_type = rules::Decimal, example = "2.500")]
    pub value: String,
    pub unit: WeightUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    In,
    Cm,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    #[schema(value_type = rules::Decimal)]
    pub length: String,
    #[schema(value_type = rules::Decimal)]
    pub width: String,
    #[schema(value_type = rules::Decimal)]
    pub height: String,
    pub unit: LengthUnit,
}

/// Money in minor units with an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceTier {
    #[schema(minimum = 1)]
    pub min_qty: i64,
    #[schema(minimum = 0)]
    pub amount: i64,
}

/// A customer group's unit price: a sale whose customer is in `group` pays `amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPrice {
    #[schema(value_type = GroupName)]
    pub group: String,
    #[schema(minimum = 0)]
    pub amount: i64,
}

/// A price in a request: minor units, not below zero, and its currency.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Price {
    #[schema(minimum = 0)]
    amount: i64,
    #[schema(value_type = rules::Currency)]
    currency: String,
}

/// A customer group's name: anything with a character that is not white space.
pub const GROUP: rules::Text = rules::Text {
    min: 1,
    max: usize::MAX,
    forbidden: &[],
    forbidden_are: "",
    visible: true,
    must_hold: None,
};

/// [`GROUP`] in the document.
pub struct GroupName;

impl utoipa::PartialSchema for GroupName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        GROUP.schema("A customer group: any text with a character that is not white space.")
    }
}

impl ToSchema for GroupName {}

/// Body of `PUT /v1/products/{tenant_id}/{sku}` (the fields of `product.upsert`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Optional; must equal the path when present.
    #[schema(value_type = Option<rules::Ident>)]
    pub tenant_id: Option<String>,
    /// Optional; must equal the path when present.
    #[schema(value_type = Option<rules::Ident>)]
    pub sku: Option<String>,
    #[schema(value_type = rules::Name200)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Vec<rules::Barcode>)]
    pub barcodes: Vec<String>,
    pub weight: Option<Weight>,
    pub dimensions: Option<Dimensions>,
    #[serde(default)]
    pub tracking: Tracking,
    #[schema(value_type = Option<Price>)]
    pub price: Option<Money>,
    #[serde(default)]
    pub price_tiers: Vec<PriceTier>,
    #[serde(default)]
    pub group_prices: Vec<GroupPrice>,
    pub tax_code: Option<String>,
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub tenant_id: String,
    pub sku: String,
    pub name: String,
    pub barcodes: Vec<String>,
    pub weight: Option<Weight>,
    pub dimensions: Option<Dimensions>,
    pub tracking: Tracking,
    pub price: Option<Money>,
    pub price_tiers: Vec<PriceTier>,
    pub group_prices: Vec<GroupPrice>,
    pub tax_code: Option<String>,
    pub version: Option<i64>,
    pub updated_at: String,
}

/// Identifiers end up in aggregate ids (`tenant/sku/location/lot`), barcodes and URLs: keep them
/// printable, slash-free and short ([`rules::IDENT`]).
pub fn check_ident(field: &str, v: &str) -> Result<()> {
    rules::IDENT.check_field(field, v)
}

fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    rules::text(max).check_field(field, v)
}

impl ProductInput {
    pub fn validate(&self, tenant_id: &str, sku: &str) -> Result<()> {
        check_ident("tenant_id", tenant_id)?;
        check_ident("sku", sku)?;
        if self.tenant_id.as_deref().is_some_and(|t| t != tenant_id) {
            return Err(Error::validation("tenant_id", "must match the path"));
        }
        if self.sku.as_deref().is_some_and(|s| s != sku) {
            return Err(Error::validation("sku", "must match the path"));
        }
        rules::name(200).check_field("name", &self.name)?;
        for (i, b) in self.barcodes.iter().enumerate() {
            rules::line(1, 128).check_field(&format!("barcodes[{i}]"), b)?;
        }
        if let Some(w) = &self.weight {
            rules::DECIMAL.check_field("weight.value", &w.value)?;
        }
        if let Some(d) = &self.dimensions {
            for (f, v) in [
                ("length", &d.length),
                ("width", &d.width),
                ("height", &d.height),
            ] {
                rules::DECIMAL.check_field(&format!("dimensions.{f}"), v)?;
            }
        }
        for (i, t) in self.price_tiers.iter().enumerate() {
            if t.amount < 0 || t.min_qty < 1 {
                return Err(Error::validation(
                    &format!("price_tiers[{i}]"),
                    "needs min_qty of at least 1 and an amount not below zero",
                ));
            }
        }
        for (i, g) in self.group_prices.iter().enumerate() {
            if g.amount < 0 {
                return Err(Error::validation(
                    &format!("group_prices[{i}].amount"),
                    "must not be negative",
                ));
            }
            GROUP.check_field(&format!("group_prices[{i}].group"), &g.group)?;
        }
        if let Some(p) = &self.price {
            if p.amount < 0 {
                return Err(Error::validation("price.amount", "must not be negative"));
            }
            rules::CURRENCY.check_field("price.currency", &p.currency)?;
        }
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(s: Option<String>) -> Option<T> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

fn product_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
    let js = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
    let tracking: String = r.get(6)?;
    Ok(Product {
        tenant_id: r.get(0)?,
        sku: r.get(1)?,
        name: r.get(2)?,
        barcodes: parse(js(3)?).unwrap_or_default(),
        weight: parse(js(4)?),
        dimensions: parse(js(5)?),
        tracking: Tracking::parse(&tracking).unwrap_or_default(),
        price: parse(js(7)?),
        price_tiers: parse(js(8)?).unwrap_or_default(),
        tax_code: r.get(9)?,
        version: r.get(10)?,
        updated_at: r.get(11)?,
        group_prices: parse(js(12)?).unwrap_or_default(),
    })
}

const PRODUCT_COLS: &str =
    "tenant_id, sku, name, barcodes, weight, dimensions, tracking, price, price_tiers, tax_code, version, updated_at, group_prices";

/// The `(tenant_id, sku)` of every product a scanned code names: a barcode or a SKU. A GTIN-14
/// also matches the 13-, 12- and 8-digit forms a catalog may hold.
pub fn products_by_code(conn: &Connection, code: &str) -> Result<Vec<(String, String)>> {
    let mut codes = vec![code.to_string()];
    if code.len() == 14 && code.bytes().all(|b| b.is_ascii_digit()) {
        for n in [13usize, 12, 8] {
            let (pad, rest) = code.split_at(14 - n);
            if pad.bytes().all(|b| b == b'0') {
                codes.push(rest.to_string());
            }
        }
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for c in &codes {
        let mut stmt = conn.prepare_cached(
            "SELECT tenant_id, sku FROM product_barcodes WHERE code = ?1
             UNION SELECT tenant_id, sku FROM products WHERE sku = ?1",
        )?;
        for k in stmt.query_map([c], |r| Ok((r.get(0)?, r.get(1)?)))? {
            let k = k?;
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

pub fn get_product(conn: &Connection, tenant_id: &str, sku: &str) -> Result<Option<Product>> {
    let sql = format!("SELECT {PRODUCT_COLS} FROM products WHERE tenant_id = ?1 AND sku = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![tenant_id, sku], product_from_row)
        .optional()?)
}

/// Products after the `(tenant, sku)` cursor, optionally for one tenant.
pub fn list_products(
    conn: &Connection,
    tenant: Option<&str>,
    after: Option<(String, String)>,
    limit: usize,
) -> Result<Vec<Product>> {
    let tenant = tenant.map(str::to_string);
    let mut w = Where::new();
    w.and_some("tenant_id = ?", &tenant);
    if let Some((t, sku)) = &after {
        w.and("(tenant_id, sku) > (?, ?)", &[t, sku]);
    }
    let limit = limit as i64;
    w.query(
        conn,
        &format!("SELECT {PRODUCT_COLS} FROM products"),
        "ORDER BY tenant_id, sku LIMIT ?",
        &[&limit],
        product_from_row,
    )
}

/// Create or replace a product; returns it and whether it was new.
pub fn put_product(
    conn: &Connection,
    origin: &Origin,
    now: &str,
    tenant_id: &str,
    sku: &str,
    input: ProductInput,
) -> Result<(Product, bool)> {
    input.validate(tenant_id, sku)?;
    let old = get_product(conn, tenant_id, sku)?;
    let product = Product {
        tenant_id: tenant_id.to_string(),
        sku: sku.to_string(),
        name: input.name,
        barcodes: input.barcodes,
        weight: input.weight,
        dimensions: input.dimensions,
        tracking: input.tracking,
        price: input.price,
        price_tiers: input.price_tiers,
        group_prices: input.group_prices,
        tax_code: input.tax_code,
        version: input.version,
        updated_at: now.to_string(),
    };
    let opt_json = |v: &Option<_>| -> Result<Option<String>> {
        Ok(match v {
            Some(x) => Some(serde_json::to_string::<Value>(x)?),
            None => None,
        })
    };
    conn.execute(
        "INSERT INTO products(tenant_id, sku, name, barcodes, weight, dimensions, tracking, price, price_tiers, tax_code, version, updated_at, group_prices)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(tenant_id, sku) DO UPDATE SET name = excluded.name, barcodes = excluded.barcodes,
           weight = excluded.weight, dimensions = excluded.dimensions, tracking = excluded.tracking,
           price = excluded.price, price_tiers = excluded.price_tiers, tax_code = excluded.tax_code,
           group_prices = excluded.group_prices, version = excluded.version, updated_at = excluded.updated_at",
        params![
            tenant_id,
            sku,
            product.name,
            serde_json::to_string(&product.barcodes)?,
            opt_json(&product.weight.as_ref().map(|w| json!(w)))?,
            opt_json(&product.dimensions.as_ref().map(|d| json!(d)))?,
            product.tracking.as_str(),
            opt_json(&product.price.as_ref().map(|p| json!(p)))?,
            serde_json::to_string(&product.price_tiers)?,
            product.tax_code,
            product.version,
            now,
            serde_json::to_string(&product.group_prices)?
        ],
    )?;
    conn.execute(
        "DELETE FROM product_barcodes WHERE tenant_id = ?1 AND sku = ?2",
        params![tenant_id, sku],
    )?;
    for code in &product.barcodes {
        conn.execute(
            "INSERT OR IGNORE INTO product_barcodes(code, tenant_id, sku) VALUES (?1, ?2, ?3)",
            params![code, tenant_id, sku],
        )?;
    }
    let strip = |p: &Product| {
        let mut v = json!(p);
        if let Some(m) = v.as_object_mut() {
            m.remove("updated_at");
        }
        v
    };
    let changes = audit::diff(old.as_ref().map(strip).as_ref(), &strip(&product), &[]);
    audit::record(
        conn,
        origin,
        now,
        if old.is_some() {
            "product.replace"
        } else {
            "product.create"
        },
        &format!("product:{tenant_id}/{sku}"),
        &changes,
    )?;
    Ok((product, old.is_none()))
}

/// A tenant exists once the site has a product or a user of it.
pub fn tenant_exists(conn: &Connection, tenant_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM products WHERE tenant_id = ?1)
                 OR EXISTS(SELECT 1 FROM users WHERE tenant_id = ?1)",
        )?
        .query_row([tenant_id], |r| r.get(0))?)
}

// ---- locations ----

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// Optional; must equal the path when present.
    #[schema(value_type = Option<rules::Ident>)]
    pub code: Option<String>,
    #[schema(value_type = Option<rules::Text64>)]
    pub zone: Option<String>,
    #[serde(default)]
    pub pick_sequence: i64,
    #[serde(default)]
    pub kind: LocationKind,
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Location {
    pub code: String,
    pub zone: Option<String>,
    pub pick_sequence: i64,
    pub kind: LocationKind,
    pub version: Option<i64>,
    pub updated_at: String,
}

fn location_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Location> {
    let kind: String = r.get(3)?;
    Ok(Location {
        code: r.get(0)?,
        zone: r.get(1)?,
        pick_sequence: r.get(2)?,
        kind: LocationKind::parse(&kind).unwrap_or_default(),
        version: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn get_location(conn: &Connection, code: &str) -> Result<Option<Location>> {
    Ok(conn
        .prepare_cached(
            "SELECT code, zone, pick_sequence, kind, version, updated_at FROM locations WHERE code = ?1",
        )?
        .query_row([code], location_from_row)
        .optional()?)
}

pub fn list_locations(
    conn: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Location>> {
    let after = after.map(str::to_string);
    let mut w = Where::new();
    w.and_some("code > ?", &after);
    let limit = limit as i64;
    w.query(
        conn,
        "SELECT code, zone, pick_sequence, kind, version, updated_at FROM locations",
        "ORDER BY code LIMIT ?",
        &[&limit],
        location_from_row,
    )
}

pub fn put_location(
    conn: &Connection,
    origin: &Origin,
    now: &str,
    code: &str,
    input: LocationInput,
) -> Result<(Location, bool)> {
    check_ident("code", code)?;
    if input.code.as_deref().is_some_and(|c| c != code) {
        return Err(Error::validation("code", "must match the path"));
    }
    if let Some(z) = &input.zone {
        check_text("zone", z, 64)?;
    }
    let old = get_location(conn, code)?;
    let loc = Location {
        code: code.to_string(),
        zone: input.zone,
        pick_sequence: input.pick_sequence,
        kind: input.kind,
        version: input.version,
        updated_at: now.to_string(),
    };
    conn.execute(
        "INSERT INTO locations(code, zone, pick_sequence, kind, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(code) DO UPDATE SET zone = excluded.zone, pick_sequence = excluded.pick_sequence,
           kind = excluded.kind, version = excluded.version, updated_at = excluded.updated_at",
        params![code, loc.zone, loc.pick_sequence, loc.kind.as_str(), loc.version, now],
    )?;
    let strip = |l: &Location| {
        let mut v = json!(l);
        if let Some(m) = v.as_object_mut() {
            m.remove("updated_at");
        }
        v
    };
    let changes = audit::diff(old.as_ref().map(strip).as_ref(), &strip(&loc), &[]);
    audit::record(
        conn,
        origin,
        now,
        if old.is_some() {
            "location.replace"
        } else {
            "location.create"
        },
        &format!("location:{code}"),
        &changes,
    )?;
    Ok((loc, old.is_none()))
}

// ---- users ----

/// Body of `PUT /v1/users/{id}`. The PIN arrives in clear and is hashed (Argon2id) before it is
/// stored; it is never returned.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Optional; must equal the path when present.
    #[schema(value_type = Option<rules::Ident>)]
    pub id: Option<String>,
    #[schema(value_type = rules::Name200)]
    pub name: String,
    #[schema(value_type = Option<rules::Ident>)]
    pub badge: Option<String>,
    #[schema(value_type = Option<rules::Pin>)]
    pub pin: Option<String>,
    /// At least one; `central` is a key's role, not a person's.
    #[schema(value_type = Vec<crate::domain::role::PersonRole>, min_items = 1)]
    pub roles: Vec<Role>,
    /// `null` = every tenant of the site.
    #[schema(value_type = Option<rules::Ident>)]
    pub tenant_id: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    pub version: Option<i64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub badge: Option<String>,
    pub roles: Vec<Role>,
    pub active: bool,
    /// Whether a PIN is set (the PIN itself is never returned).
    pub has_pin: bool,
    pub version: Option<i64>,
    pub updated_at: String,
}

impl UserInput {
    pub fn validate(&self, id: &str) -> Result<()> {
        check_ident("id", id)?;
        if self.id.as_deref().is_some_and(|i| i != id) {
            return Err(Error::validation("id", "must match the path"));
        }
        rules::name(200).check_field("name", &self.name)?;
        if let Some(b) = &self.badge {
            check_ident("badge", b)?;
        }
        if let Some(t) = &self.tenant_id {
            check_ident("tenant_id", t)?;
        }
        if let Some(p) = &self.pin {
            rules::PIN.check_field("pin", p)?;
        }
        if self.roles.is_empty() {
            return Err(Error::validation("roles", "must name at least one role"));
        }
        if self.roles.contains(&Role::Central) {
            return Err(Error::validation(
                "roles",
                "central is not a floor user's role",
            ));
        }
        Ok(())
    }
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let roles: String = r.get(4)?;
    let pin_hash: Option<String> = r.get(6)?;
    Ok(User {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        badge: r.get(3)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        active: r.get(5)?,
        has_pin: pin_hash.is_some(),
        version: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

const USER_COLS: &str = "id, tenant_id, name, badge, roles, active, pin_hash, version, updated_at";

pub fn get_user(conn: &Connection, id: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], user_from_row)
        .optional()?)
}

/// Users after the id cursor; with a tenant, that tenant's users and the site-wide ones.
pub fn list_users(
    conn: &Connection,
    tenant: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<User>> {
    let (tenant, after) = (tenant.map(str::to_string), after.map(str::to_string));
    let mut w = Where::new();
    // With a tenant: that tenant's users and the site-wide ones.
    w.and_some("tenant_id = ? OR tenant_id IS NULL", &tenant)
        .and_some("id > ?", &after);
    let limit = limit as i64;
    w.query(
        conn,
        &format!("SELECT {USER_COLS} FROM users"),
        "ORDER BY id LIMIT ?",
        &[&limit],
        user_from_row,
    )
}

/// Create or replace a user. `pin_hash` is the Argon2id PHC string of the new PIN, or `None` to
/// keep the current one.
pub fn put_user(
    conn: &Connection,
    origin: &Origin,
    now: &str,
    id: &str,
    input: UserInput,
    pin_hash: Option<String>,
) -> Result<(User, bool)> {
    input.validate(id)?;
    if let Some(badge) = &input.badge {
        let holder: Option<String> = conn
            .query_row(
                "SELECT id FROM users WHERE badge = ?1 AND id <> ?2",
                params![badge, id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(holder) = holder {
            return Err(Error::conflict(format!(
                "badge {badge} already belongs to user {holder}"
            )));
        }
    }
    let old = get_user(conn, id)?;
    let old_hash: Option<String> = conn
        .query_row("SELECT pin_hash FROM users WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let pin_changed = pin_hash.is_some();
    let stored_hash = pin_hash.or(old_hash);
    conn.execute(
        "INSERT INTO users(id, tenant_id, name, badge, pin_hash, roles, active, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name,
           badge = excluded.badge, pin_hash = excluded.pin_hash, roles = excluded.roles,
           active = excluded.active, version = excluded.version, updated_at = excluded.updated_at",
        params![
            id,
            input.tenant_id,
            input.name,
            input.badge,
            stored_hash,
            serde_json::to_string(&input.roles)?,
            input.active,
            input.version,
            now
        ],
    )?;
    let user = get_user(conn, id)?.ok_or_else(|| Error::Internal("user vanished".into()))?;
    let view = |u: &User| {
        let mut v = json!(u);
        if let Some(m) = v.as_object_mut() {
            m.remove("updated_at");
            m.remove("has_pin");
        }
        v
    };
    let mut changes = audit::diff(old.as_ref().map(view).as_ref(), &view(&user), &[]);
    if pin_changed {
        if let Some(m) = changes.as_object_mut() {
            m.insert("pin".into(), json!({"old": if old.as_ref().is_some_and(|u| u.has_pin) { json!("***") } else { Value::Null }, "new": "***"}));
        }
    }
    audit::record(
        conn,
        origin,
        now,
        if old.is_some() {
            "user.replace"
        } else {
            "user.create"
        },
        &format!("user:{id}"),
        &changes,
    )?;
    Ok((user, old.is_none()))
}
