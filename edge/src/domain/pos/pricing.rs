//! What a cart costs: unit prices (group price → quantity tier → list price), automatic
//! promotions, one coupon, manual discounts, tax per line, totals that always add up
//! (pos-api.md "Money, prices, tax" and "Exact rules").
//!
//! [`price`] is the one entry point: the store reads the cart and the catalog facts it needs in
//! the sale's transaction, calls it, and keeps what it returns as the sale's lines and totals.

use serde::{Deserialize, Serialize};

use super::Percent;

/// What the register sells under (from `[stations.pos]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// Shelf prices include tax (VAT style): tax is the part of the net that is tax.
    pub prices_include_tax: bool,
    /// A cashier's manual discount above this percent needs a supervisor.
    pub discount_limit_pct: Percent,
}

/// One line of the cart as the cashier built it (one line per SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub line_id: String,
    pub sku: String,
    /// At least 1.
    pub qty: i64,
}

/// A manual discount the cashier gave: on one line, or on the whole sale (`line_id` null),
/// as a percent or an amount in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualDiscount {
    /// Stable id of this discount on the sale (`D1`, `D2`, …).
    pub id: String,
    pub line_id: Option<String>,
    pub value: DiscountValue,
    pub reason: String,
    /// The supervisor who approved it, when it was above the limit.
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountValue {
    Percent(Percent),
    Amount(i64),
}

/// The sale's inputs: everything the cashier decided. Prices are derived from it every time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    /// The coupon code applied (at most one per sale).
    pub coupon: Option<String>,
    pub manual: Vec<ManualDiscount>,
    /// The customer's price group, when the sale has a customer with one.
    pub customer_group: Option<String>,
}

/// A product as the till prices it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPrice {
    pub sku: String,
    pub name: String,
    /// List price; `None` means the product cannot be sold.
    pub price: Option<i64>,
    /// `(min_qty, amount)`: the highest `min_qty` ≤ the line's quantity wins.
    pub tiers: Vec<(i64, i64)>,
    /// `(group, amount)`.
    pub group_prices: Vec<(String, i64)>,
    pub tax_code: Option<String>,
}

/// A tax rate in force (`tax_rate.upsert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRate {
    pub code: String,
    pub rate: Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    PercentOff,
    AmountOff,
    BuyXGetY,
}

/// A promotion (`promotion.upsert`): automatic when `code` is `None`, else a coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub id: String,
    pub name: String,
    pub code: Option<String>,
    pub kind: PromotionKind,
    /// `None` = every product.
    pub skus: Option<Vec<String>>,
    pub percent: Option<Percent>,
    /// Minor units off each unit; for a coupon with `skus` null, off the sale.
    pub amount: Option<i64>,
    pub buy_qty: Option<i64>,
    pub get_qty: Option<i64>,
    /// Minor units of the subtotal the sale must reach.
    pub min_subtotal: Option<i64>,
    /// RFC 3339 UTC; compared as text.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub active: bool,
}

/// Everything [`price`] may look at besides the cart.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The products of the cart's lines (a missing one is an error).
    pub products: Vec<ProductPrice>,
    pub tax_rates: Vec<TaxRate>,
    /// Every promotion of the tenant that could apply (automatic ones and the cart's coupon).
    pub promotions: Vec<Promotion>,
    /// RFC 3339 UTC, for the promotions' windows.
    pub now: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    List,
    Tier,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    Promotion,
    Coupon,
    Manual,
}

/// One discount as it landed on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDiscount {
    pub kind: DiscountKind,
    /// The promotion's id, the coupon's promotion id, or the manual discount's id.
    pub id: String,
    pub amount: i64,
    pub reason: Option<String>,
}

/// A priced line: the sale object's `lines[]` (pos-api.md), amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub line_id: String,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub unit_price: i64,
    pub price_source: PriceSource,
    pub discounts: Vec<LineDiscount>,
    /// `unit_price × qty − Σ discounts`, never below zero.
    pub net: i64,
    pub tax_code: Option<String>,
    /// The rate applied (zero for an untaxed line or an unknown code).
    pub tax_rate: Percent,
    pub tax: i64,
}

/// The sale's price totals (before tenders).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTotals {
    /// Σ unit_price × qty.
    pub subtotal: i64,
    /// Σ every discount.
    pub discount: i64,
    /// Σ line tax.
    pub tax: i64,
    /// Exclusive tax: subtotal − discount + tax; inclusive: subtotal − discount.
    pub total: i64,
}

/// What a cart costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub totals: PriceTotals,
    /// Human-readable warnings (an unknown tax code priced at 0 %).
    pub warnings: Vec<String>,
    /// Manual discounts above the register's limit that carry no approval (their ids): the
    /// caller refuses the mutation that added them unless a supervisor approves it.
    pub needs_approval: Vec<String>,
}

/// Why a cart cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("No price for {0}")]
    NoPrice(String),
    #[error("unknown product {0}")]
    UnknownProduct(String),
    #[error("coupon {code}: {reason}")]
    Coupon { code: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}
