//! What the till prices with, as the central sends it: tax rates (`tax_rate.upsert`) and
//! promotions (`promotion.upsert`), and the read that gathers a cart's [`pricing::Catalog`] in
//! the sale's own transaction, so a price never mixes two versions of the catalogue.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::catalog::{GroupPrice, PriceTier};
use super::{audit, Origin};
use crate::domain::pos::pricing::{self, ProductPrice, Promotion, PromotionKind, TaxRate};
use crate::domain::pos::Percent;
use crate::error::{Error, Result};

/// A tax rate as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxRateRow {
    pub code: String,
    pub name: Option<String>,
    /// Decimal percent, e.g. `"8.875"`.
    pub rate: String,
    pub version: Option<i64>,
}

/// Creates or replaces a tax rate; refuses a rate that is not an exact decimal percent.
pub fn put_tax_rate(conn: &Connection, origin: &Origin, now: &str, row: &TaxRateRow) -> Result<()> {
    super::catalog::check_ident("code", &row.code)?;
    let rate = Percent::parse(&row.rate).map_err(|e| Error::validation("rate", e))?;
    if rate > Percent::whole(100) {
        return Err(Error::validation("rate", "must be at most 100"));
    }
    let old: Option<String> = conn
        .query_row(
            "SELECT rate FROM tax_rates WHERE code = ?1",
            [&row.code],
            |r| r.get(0),
        )
        .optional()?;
    conn.prepare_cached(
        "INSERT INTO tax_rates(code, name, rate, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(code) DO UPDATE SET name = excluded.name, rate = excluded.rate,
           version = excluded.version, updated_at = excluded.updated_at",
    )?
    .execute(params![
        row.code,
        row.name,
        rate.to_string(),
        row.version,
        now
    ])?;
    audit::record(
        conn,
        origin,
        now,
        "tax_rate.upsert",
        &format!("tax_rate:{}", row.code),
        &json!({"rate": {"old": old, "new": rate.to_string()}}),
    )?;
    Ok(())
}

pub fn tax_rates(conn: &Connection) -> Result<Vec<TaxRateRow>> {
    let mut st =
        conn.prepare_cached("SELECT code, name, rate, version FROM tax_rates ORDER BY code")?;
    let rows = st.query_map([], |r| {
        Ok(TaxRateRow {
            code: r.get(0)?,
            name: r.get(1)?,
            rate: r.get(2)?,
            version: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A promotion as stored and served (`promotion.upsert`'s fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PromotionRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub code: Option<String>,
    /// `percent_off`, `amount_off` or `buy_x_get_y`.
    pub kind: String,
    pub skus: Option<Vec<String>>,
    pub percent: Option<String>,
    pub amount: Option<i64>,
    pub buy_qty: Option<i64>,
    pub get_qty: Option<i64>,
    pub min_subtotal: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub active: bool,
    pub version: Option<i64>,
}

fn promotion_kind(kind: &str) -> Result<PromotionKind> {
    serde_json::from_value(json!(kind))
        .map_err(|_| Error::validation("kind", "must be percent_off, amount_off or buy_x_get_y"))
}

impl PromotionRow {
    /// The rule the pricing functions apply; refuses a promotion that lacks what its kind needs.
    pub fn to_rule(&self) -> Result<Promotion> {
        let kind = promotion_kind(&self.kind)?;
        let percent = match &self.percent {
            Some(p) => Some(Percent::parse(p).map_err(|e| Error::validation("percent", e))?),
            None => None,
        };
        match kind {
            PromotionKind::PercentOff if percent.is_none_or(|p| p > Percent::whole(100)) => {
                return Err(Error::validation(
                    "percent",
                    "percent_off needs a percent of 0 to 100",
                ));
            }
            PromotionKind::AmountOff if self.amount.is_none_or(|a| a < 0) => {
                return Err(Error::validation(
                    "amount",
                    "amount_off needs an amount not below zero",
                ));
            }
            PromotionKind::BuyXGetY
                if self.buy_qty.is_none_or(|b| b < 1) || self.get_qty.is_none_or(|g| g < 1) =>
            {
                return Err(Error::validation(
                    "buy_qty",
                    "buy_x_get_y needs buy_qty and get_qty of at least 1",
                ));
            }
            _ => {}
        }
        Ok(Promotion {
            id: self.id.clone(),
            name: self.name.clone(),
            code: self.code.clone(),
            kind,
            skus: self.skus.clone(),
            percent,
            amount: self.amount,
            buy_qty: self.buy_qty,
            get_qty: self.get_qty,
            min_subtotal: self.min_subtotal,
            starts_at: self.starts_at.clone(),
            ends_at: self.ends_at.clone(),
            active: self.active,
        })
    }
}

/// Creates or replaces a promotion after checking it prices (see [`PromotionRow::to_rule`]).
pub fn put_promotion(
    conn: &Connection,
    origin: &Origin,
    now: &str,
    row: &PromotionRow,
) -> Result<()> {
    super::catalog::check_ident("id", &row.id)?;
    row.to_rule()?;
    let skus = row.skus.as_ref().map(serde_json::to_string).transpose()?;
    conn.prepare_cached(
        "INSERT INTO promotions(id, tenant_id, name, code, kind, skus, percent, amount, buy_qty,
            get_qty, min_subtotal, starts_at, ends_at, active, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT(id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name,
           code = excluded.code, kind = excluded.kind, skus = excluded.skus,
           percent = excluded.percent, amount = excluded.amount, buy_qty = excluded.buy_qty,
           get_qty = excluded.get_qty, min_subtotal = excluded.min_subtotal,
           starts_at = excluded.starts_at, ends_at = excluded.ends_at, active = excluded.active,
           version = excluded.version, updated_at = excluded.updated_at",
    )?
    .execute(params![
        row.id,
        row.tenant_id,
        row.name,
        row.code,
        row.kind,
        skus,
        row.percent,
        row.amount,
        row.buy_qty,
        row.get_qty,
        row.min_subtotal,
        row.starts_at,
        row.ends_at,
        row.active,
        row.version,
        now
    ])?;
    audit::record(
        conn,
        origin,
        now,
        "promotion.upsert",
        &format!("promotion:{}", row.id),
        &json!({"promotion": {"old": null, "new": row}}),
    )?;
    Ok(())
}

fn promotion_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PromotionRow> {
    let skus: Option<String> = r.get(5)?;
    Ok(PromotionRow {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        code: r.get(3)?,
        kind: r.get(4)?,
        skus: skus.and_then(|s| serde_json::from_str(&s).ok()),
        percent: r.get(6)?,
        amount: r.get(7)?,
        buy_qty: r.get(8)?,
        get_qty: r.get(9)?,
        min_subtotal: r.get(10)?,
        starts_at: r.get(11)?,
        ends_at: r.get(12)?,
        active: r.get(13)?,
        version: r.get(14)?,
    })
}

const PROMOTION_COLS: &str = "id, tenant_id, name, code, kind, skus, percent, amount, buy_qty, \
    get_qty, min_subtotal, starts_at, ends_at, active, version";

/// A tenant's promotions, automatic and coupons, in id order.
pub fn promotions(conn: &Connection, tenant_id: &str) -> Result<Vec<PromotionRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {PROMOTION_COLS} FROM promotions WHERE tenant_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([tenant_id], promotion_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// name, price JSON, tiers JSON, group prices JSON, tax code.
type PriceColumns = (String, Option<String>, String, String, Option<String>);

/// A product's price facts, or `None` when the tenant has no such SKU.
pub fn product_price(
    conn: &Connection,
    tenant_id: &str,
    sku: &str,
) -> Result<Option<ProductPrice>> {
    let row: Option<PriceColumns> = conn
        .prepare_cached(
            "SELECT name, price, price_tiers, group_prices, tax_code FROM products
             WHERE tenant_id = ?1 AND sku = ?2",
        )?
        .query_row(params![tenant_id, sku], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    Ok(row.map(|(name, price, tiers, groups, tax_code)| {
        let price = price
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .and_then(|v| v["amount"].as_i64());
        let tiers: Vec<PriceTier> = serde_json::from_str(&tiers).unwrap_or_default();
        let groups: Vec<GroupPrice> = serde_json::from_str(&groups).unwrap_or_default();
        ProductPrice {
            sku: sku.to_string(),
            name,
            price,
            tiers: tiers.into_iter().map(|t| (t.min_qty, t.amount)).collect(),
            group_prices: groups.into_iter().map(|g| (g.group, g.amount)).collect(),
            tax_code,
        }
    }))
}

/// Everything [`pricing::price`] needs for `skus` of `tenant_id` at `now`. A SKU the tenant does
/// not have is left out (pricing then names it as unknown). A stored promotion that no longer
/// passes the checks is left out too rather than stopping every sale.
pub fn catalog_for(
    conn: &Connection,
    tenant_id: &str,
    skus: &[&str],
    now: &str,
) -> Result<pricing::Catalog> {
    let mut products = Vec::with_capacity(skus.len());
    for sku in skus {
        if let Some(p) = product_price(conn, tenant_id, sku)? {
            products.push(p);
        }
    }
    let tax_rates = tax_rates(conn)?
        .into_iter()
        .filter_map(|t| {
            Percent::parse(&t.rate)
                .ok()
                .map(|rate| TaxRate { code: t.code, rate })
        })
        .collect();
    let promotions = promotions(conn, tenant_id)?
        .iter()
        .filter_map(|p| p.to_rule().ok())
        .collect();
    Ok(pricing::Catalog {
        products,
        tax_rates,
        promotions,
        now: now.to_string(),
    })
}

/// A product as a till search finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductHit {
    pub sku: String,
    pub name: String,
    pub price: Option<i64>,
    pub currency: String,
    pub barcodes: Vec<String>,
}

/// The tenant's products whose name or SKU contains `q` (case-insensitive) or that carry `q` as a
/// barcode, by SKU.
pub fn search(
    conn: &Connection,
    tenant_id: &str,
    q: &str,
    limit: usize,
) -> Result<Vec<ProductHit>> {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let like = format!("%{escaped}%");
    let mut st = conn.prepare_cached(
        "SELECT sku, name, price, barcodes FROM products p
         WHERE tenant_id = ?1
           AND (name LIKE ?2 ESCAPE '\\' OR sku LIKE ?2 ESCAPE '\\'
                OR EXISTS (SELECT 1 FROM product_barcodes b
                           WHERE b.tenant_id = p.tenant_id AND b.sku = p.sku AND b.code = ?3))
         ORDER BY sku LIMIT ?4",
    )?;
    let rows = st.query_map(params![tenant_id, like, q, limit as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (sku, name, price, barcodes) = row?;
        let price: Option<serde_json::Value> = price.and_then(|p| serde_json::from_str(&p).ok());
        out.push(ProductHit {
            sku,
            name,
            price: price.as_ref().and_then(|v| v["amount"].as_i64()),
            currency: price
                .as_ref()
                .and_then(|v| v["currency"].as_str().map(str::to_string))
                .unwrap_or_default(),
            barcodes: serde_json::from_str(&barcodes).unwrap_or_default(),
        });
    }
    Ok(out)
}
