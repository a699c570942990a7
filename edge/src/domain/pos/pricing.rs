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

/// Spreads `amount` over `weights` in proportion, largest remainder first (ties to the earlier
/// weight), so the parts add up to exactly `amount`. `amount` is capped at the weights' sum; zero
/// weights get nothing.
pub fn spread(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i64 = weights.iter().map(|w| (*w).max(0)).sum();
    let amount = amount.clamp(0, total);
    if total == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut rems = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let n = i128::from(amount) * i128::from((*w).max(0));
        let d = i128::from(total);
        parts.push(i64::try_from(n / d).unwrap_or(0));
        rems.push((n % d, i));
    }
    let mut left = amount - parts.iter().sum::<i64>();
    // Larger remainder first; among equals the earlier line.
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// Whether a promotion is in force at `now` (RFC 3339 UTC text compares in time order).
fn in_window(p: &Promotion, now: &str) -> Result<(), String> {
    if !p.active {
        return Err("is no longer active".into());
    }
    if p.starts_at.as_deref().is_some_and(|s| now < s) {
        return Err("is not valid yet".into());
    }
    if p.ends_at.as_deref().is_some_and(|e| now >= e) {
        return Err("has expired".into());
    }
    Ok(())
}

fn covers(p: &Promotion, sku: &str) -> bool {
    p.skus
        .as_ref()
        .is_none_or(|skus| skus.iter().any(|s| s == sku))
}

/// What `p` takes off one line of `qty` units at `unit_price` whose net is now `net`.
fn saving_on_line(p: &Promotion, qty: i64, unit_price: i64, net: i64) -> i64 {
    let s = match p.kind {
        PromotionKind::PercentOff => p.percent.map_or(0, |pc| pc.of(net)),
        PromotionKind::AmountOff => p.amount.unwrap_or(0).saturating_mul(qty),
        PromotionKind::BuyXGetY => {
            let (buy, get) = (p.buy_qty.unwrap_or(0), p.get_qty.unwrap_or(0));
            if buy < 1 || get < 1 {
                0
            } else {
                (qty / (buy + get)) * get * unit_price
            }
        }
    };
    s.clamp(0, net)
}

struct Working<'a> {
    line: &'a CartLine,
    product: &'a ProductPrice,
    unit_price: i64,
    source: PriceSource,
    gross: i64,
    discounts: Vec<LineDiscount>,
}

impl Working<'_> {
    fn net(&self) -> i64 {
        self.gross - self.discounts.iter().map(|d| d.amount).sum::<i64>()
    }

    fn take(&mut self, kind: DiscountKind, id: &str, amount: i64, reason: Option<&str>) {
        let amount = amount.clamp(0, self.net());
        if amount > 0 {
            self.discounts.push(LineDiscount {
                kind,
                id: id.to_string(),
                amount,
                reason: reason.map(str::to_string),
            });
        }
    }
}

fn unit_price(
    p: &ProductPrice,
    qty: i64,
    group: Option<&str>,
) -> Result<(i64, PriceSource), PricingError> {
    if let Some(g) = group {
        if let Some((_, amount)) = p.group_prices.iter().find(|(name, _)| name == g) {
            return Ok((*amount, PriceSource::Group));
        }
    }
    let Some(list) = p.price else {
        return Err(PricingError::NoPrice(p.sku.clone()));
    };
    let tier = p
        .tiers
        .iter()
        .filter(|(min, _)| *min <= qty)
        .max_by_key(|(min, _)| *min);
    Ok(match tier {
        Some((_, amount)) => (*amount, PriceSource::Tier),
        None => (list, PriceSource::List),
    })
}

/// Prices `cart` for `register` against `catalog`: the sale's lines and totals.
///
/// Order of work (pos-api.md): unit price; the best automatic promotion per line; the coupon;
/// the manual discounts in the order given; tax per line on what is left. No line goes below zero
/// and Σ line nets = subtotal − discount exactly, because every sale-wide amount is spread with
/// [`spread`].
pub fn price(register: &Register, cart: &Cart, catalog: &Catalog) -> Result<Priced, PricingError> {
    let mut seen = std::collections::HashSet::new();
    let mut work = Vec::with_capacity(cart.lines.len());
    for line in &cart.lines {
        if line.qty < 1 || line.qty > 1_000_000 {
            return Err(PricingError::Invalid(format!(
                "line {}: quantity must be 1 to 1000000",
                line.line_id
            )));
        }
        if !seen.insert(line.sku.as_str()) {
            return Err(PricingError::Invalid(format!(
                "{} is on the sale twice",
                line.sku
            )));
        }
        let product = catalog
            .products
            .iter()
            .find(|p| p.sku == line.sku)
            .ok_or_else(|| PricingError::UnknownProduct(line.sku.clone()))?;
        let (unit, source) = unit_price(product, line.qty, cart.customer_group.as_deref())?;
        if unit < 0 {
            return Err(PricingError::Invalid(format!(
                "{} has a negative price",
                line.sku
            )));
        }
        let gross = unit.checked_mul(line.qty).ok_or_else(|| {
            PricingError::Invalid(format!("line {}: amount out of range", line.line_id))
        })?;
        work.push(Working {
            line,
            product,
            unit_price: unit,
            source,
            gross,
            discounts: Vec::new(),
        });
    }
    let subtotal: i64 = work.iter().map(|w| w.gross).sum();

    apply_promotions(&mut work, catalog, subtotal);
    if let Some(code) = &cart.coupon {
        apply_coupon(&mut work, catalog, code, subtotal)?;
    }
    let needs_approval = apply_manual(&mut work, register, &cart.manual)?;

    let mut warnings = Vec::new();
    let mut lines = Vec::with_capacity(work.len());
    for w in work {
        let net = w.net();
        let rate = match &w.product.tax_code {
            None => Percent::ZERO,
            Some(code) => match catalog.tax_rates.iter().find(|t| &t.code == code) {
                Some(t) => t.rate,
                None => {
                    let msg = format!(
                        "tax code {code} of {} has no known rate: taxed at 0%",
                        w.line.sku
                    );
                    if !warnings.contains(&msg) {
                        warnings.push(msg);
                    }
                    Percent::ZERO
                }
            },
        };
        let tax = if register.prices_include_tax {
            rate.included_in(net)
        } else {
            rate.of(net)
        };
        lines.push(PricedLine {
            line_id: w.line.line_id.clone(),
            sku: w.line.sku.clone(),
            name: w.product.name.clone(),
            qty: w.line.qty,
            unit_price: w.unit_price,
            price_source: w.source,
            discounts: w.discounts,
            net,
            tax_code: w.product.tax_code.clone(),
            tax_rate: rate,
            tax,
        });
    }
    let discount: i64 = lines
        .iter()
        .flat_map(|l| &l.discounts)
        .map(|d| d.amount)
        .sum();
    let tax: i64 = lines.iter().map(|l| l.tax).sum();
    let total = if register.prices_include_tax {
        subtotal - discount
    } else {
        subtotal - discount + tax
    };
    Ok(Priced {
        lines,
        totals: PriceTotals {
            subtotal,
            discount,
            tax,
            total,
        },
        warnings,
        needs_approval,
    })
}

/// At most one automatic promotion per line: the one that saves most (ties: the earlier id).
fn apply_promotions(work: &mut [Working<'_>], catalog: &Catalog, subtotal: i64) {
    let automatic: Vec<&Promotion> = catalog
        .promotions
        .iter()
        .filter(|p| p.code.is_none())
        .filter(|p| in_window(p, &catalog.now).is_ok())
        .filter(|p| p.min_subtotal.is_none_or(|m| subtotal >= m))
        .collect();
    for w in work.iter_mut() {
        let best = automatic
            .iter()
            .filter(|p| covers(p, &w.line.sku))
            .map(|p| (saving_on_line(p, w.line.qty, w.unit_price, w.net()), *p))
            .filter(|(s, _)| *s > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.id.cmp(&a.1.id)));
        if let Some((saving, p)) = best {
            w.take(DiscountKind::Promotion, &p.id, saving, Some(&p.name));
        }
    }
}

/// The sale's one coupon; an unknown, expired or inapplicable code is an error that says why.
fn apply_coupon(
    work: &mut [Working<'_>],
    catalog: &Catalog,
    code: &str,
    subtotal: i64,
) -> Result<(), PricingError> {
    let refuse = |reason: String| PricingError::Coupon {
        code: code.to_string(),
        reason,
    };
    let p = catalog
        .promotions
        .iter()
        .find(|p| p.code.as_deref() == Some(code))
        .ok_or_else(|| refuse("unknown coupon".into()))?;
    in_window(p, &catalog.now).map_err(|r| refuse(format!("the coupon {r}")))?;
    if let Some(min) = p.min_subtotal {
        if subtotal < min {
            return Err(refuse(format!(
                "needs a subtotal of at least {min} (the sale has {subtotal})"
            )));
        }
    }
    let applicable: Vec<usize> = (0..work.len())
        .filter(|i| covers(p, &work[*i].line.sku))
        .collect();
    if applicable.is_empty() {
        return Err(refuse("applies to none of the sale's products".into()));
    }
    if p.kind == PromotionKind::AmountOff && p.skus.is_none() {
        // An amount off the whole sale, spread over the lines by their nets.
        let nets: Vec<i64> = work.iter().map(Working::net).collect();
        let parts = spread(p.amount.unwrap_or(0), &nets);
        for (w, part) in work.iter_mut().zip(parts) {
            w.take(DiscountKind::Coupon, &p.id, part, Some(&p.name));
        }
        return Ok(());
    }
    for i in applicable {
        let w = &mut work[i];
        let saving = saving_on_line(p, w.line.qty, w.unit_price, w.net());
        w.take(DiscountKind::Coupon, &p.id, saving, Some(&p.name));
    }
    Ok(())
}

/// Manual discounts in the order given; returns the ids of those above the register's limit
/// without an approval.
fn apply_manual(
    work: &mut [Working<'_>],
    register: &Register,
    manual: &[ManualDiscount],
) -> Result<Vec<String>, PricingError> {
    let mut needs_approval = Vec::new();
    for m in manual {
        let targets: Vec<usize> = match &m.line_id {
            Some(id) => {
                let i = work
                    .iter()
                    .position(|w| &w.line.line_id == id)
                    .ok_or_else(|| {
                        PricingError::Invalid(format!("discount {}: no line {id}", m.id))
                    })?;
                vec![i]
            }
            None => (0..work.len()).collect(),
        };
        let base: i64 = targets.iter().map(|i| work[*i].net()).sum();
        let pct = match m.value {
            DiscountValue::Percent(p) => {
                if p > Percent::whole(100) {
                    return Err(PricingError::Invalid(format!(
                        "discount {}: a percent above 100",
                        m.id
                    )));
                }
                p
            }
            DiscountValue::Amount(a) => {
                if a < 0 {
                    return Err(PricingError::Invalid(format!(
                        "discount {}: a negative amount",
                        m.id
                    )));
                }
                Percent::ratio(a.min(base), base)
            }
        };
        if pct > register.discount_limit_pct && m.approved_by.is_none() {
            needs_approval.push(m.id.clone());
        }
        match m.value {
            DiscountValue::Percent(p) => {
                for i in targets {
                    let net = work[i].net();
                    work[i].take(DiscountKind::Manual, &m.id, p.of(net), Some(&m.reason));
                }
            }
            DiscountValue::Amount(a) => {
                let nets: Vec<i64> = targets.iter().map(|i| work[*i].net()).collect();
                for (i, part) in targets.into_iter().zip(spread(a, &nets)) {
                    work[i].take(DiscountKind::Manual, &m.id, part, Some(&m.reason));
                }
            }
        }
    }
    Ok(needs_approval)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn product(sku: &str, price: i64, tax: Option<&str>) -> ProductPrice {
        ProductPrice {
            sku: sku.into(),
            name: format!("Product {sku}"),
            price: Some(price),
            tiers: vec![],
            group_prices: vec![],
            tax_code: tax.map(str::to_string),
        }
    }

    fn promo(id: &str, kind: PromotionKind) -> Promotion {
        Promotion {
            id: id.into(),
            name: format!("Promo {id}"),
            code: None,
            kind,
            skus: None,
            percent: None,
            amount: None,
            buy_qty: None,
            get_qty: None,
            min_subtotal: None,
            starts_at: None,
            ends_at: None,
            active: true,
        }
    }

    fn line(id: &str, sku: &str, qty: i64) -> CartLine {
        CartLine {
            line_id: id.into(),
            sku: sku.into(),
            qty,
        }
    }

    fn register(inclusive: bool) -> Register {
        Register {
            prices_include_tax: inclusive,
            discount_limit_pct: Percent::whole(10),
        }
    }

    fn catalog(products: Vec<ProductPrice>) -> Catalog {
        Catalog {
            products,
            tax_rates: vec![TaxRate {
                code: "STD".into(),
                rate: Percent::parse("8.875").expect("rate"),
            }],
            promotions: vec![],
            now: "2026-12-06T12:00:00Z".into(),
        }
    }

    #[test]
    fn group_price_beats_tier_beats_list() {
        let mut p = product("A", 1000, None);
        p.tiers = vec![(3, 900), (10, 800)];
        p.group_prices = vec![("staff".into(), 700)];
        let cat = catalog(vec![p]);
        let mut cart = Cart {
            lines: vec![line("L1", "A", 2)],
            ..Cart::default()
        };
        let at = |cart: &Cart| {
            let l = &price(&register(false), cart, &cat).expect("priced").lines[0];
            (l.unit_price, l.price_source)
        };
        assert_eq!(at(&cart), (1000, PriceSource::List));
        cart.lines[0].qty = 9;
        assert_eq!(at(&cart), (900, PriceSource::Tier));
        cart.lines[0].qty = 10;
        assert_eq!(at(&cart), (800, PriceSource::Tier));
        cart.customer_group = Some("staff".into());
        assert_eq!(at(&cart), (700, PriceSource::Group));
        cart.customer_group = Some("other".into());
        assert_eq!(at(&cart), (800, PriceSource::Tier));
    }

    #[test]
    fn a_product_without_price_cannot_be_sold() {
        let mut p = product("A", 0, None);
        p.price = None;
        let cart = Cart {
            lines: vec![line("L1", "A", 1)],
            ..Cart::default()
        };
        let err = price(&register(false), &cart, &catalog(vec![p])).expect_err("no price");
        assert_eq!(err.to_string(), "No price for A");
    }

    #[test]
    fn exclusive_and_inclusive_tax_round_half_away_from_zero() {
        let cat = catalog(vec![product("A", 1999, Some("STD"))]);
        let cart = Cart {
            lines: vec![line("L1", "A", 1)],
            ..Cart::default()
        };
        // 1999 × 8.875 % = 177.41 → 177.
        let ex = price(&register(false), &cart, &cat).expect("priced");
        assert_eq!((ex.totals.tax, ex.totals.total), (177, 2176));
        // 1999 × 8.875 / 108.875 = 162.95 → 163, inside the 1999.
        let inc = price(&register(true), &cart, &cat).expect("priced");
        assert_eq!((inc.totals.tax, inc.totals.total), (163, 1999));
    }

    #[test]
    fn an_unknown_tax_code_is_zero_with_a_warning_and_a_null_one_is_silent() {
        let cat = catalog(vec![
            product("A", 500, Some("LUX")),
            product("B", 300, None),
        ]);
        let cart = Cart {
            lines: vec![line("L1", "A", 1), line("L2", "B", 1)],
            ..Cart::default()
        };
        let p = price(&register(false), &cart, &cat).expect("priced");
        assert_eq!(p.totals.tax, 0);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("LUX"));
    }

    #[test]
    fn the_promotion_that_saves_most_wins_and_only_one_per_line() {
        let mut cat = catalog(vec![product("A", 1000, None)]);
        let mut pct = promo("P-PCT", PromotionKind::PercentOff);
        pct.percent = Some(Percent::whole(10));
        let mut amt = promo("P-AMT", PromotionKind::AmountOff);
        amt.amount = Some(150);
        let mut bxgy = promo("P-3FOR2", PromotionKind::BuyXGetY);
        bxgy.buy_qty = Some(2);
        bxgy.get_qty = Some(1);
        cat.promotions = vec![pct, amt, bxgy];
        let priced = |qty| {
            let cart = Cart {
                lines: vec![line("L1", "A", qty)],
                ..Cart::default()
            };
            price(&register(false), &cart, &cat).expect("priced").lines[0]
                .discounts
                .clone()
        };
        // 2 units: 10 % = 200, 150 × 2 = 300, no free unit → amount off.
        let d = priced(2);
        assert_eq!((d.len(), d[0].id.as_str(), d[0].amount), (1, "P-AMT", 300));
        // 6 units: 600, 900, two free = 2000 → buy 2 get 1.
        let d = priced(6);
        assert_eq!(
            (d.len(), d[0].id.as_str(), d[0].amount),
            (1, "P-3FOR2", 2000)
        );
    }

    #[test]
    fn promotions_respect_their_window_and_minimum() {
        let mut cat = catalog(vec![product("A", 1000, None)]);
        let mut p = promo("P", PromotionKind::PercentOff);
        p.percent = Some(Percent::whole(50));
        p.ends_at = Some("2026-12-01T00:00:00Z".into());
        let mut q = promo("Q", PromotionKind::PercentOff);
        q.percent = Some(Percent::whole(20));
        q.min_subtotal = Some(5000);
        cat.promotions = vec![p, q];
        let cart = Cart {
            lines: vec![line("L1", "A", 1)],
            ..Cart::default()
        };
        let priced = price(&register(false), &cart, &cat).expect("priced");
        assert_eq!(priced.totals.discount, 0, "expired and below minimum");
        let cart = Cart {
            lines: vec![line("L1", "A", 5)],
            ..Cart::default()
        };
        assert_eq!(
            price(&register(false), &cart, &cat)
                .expect("priced")
                .totals
                .discount,
            1000
        );
    }

    #[test]
    fn coupons_say_why_they_do_not_apply() {
        let mut cat = catalog(vec![product("A", 1000, None), product("B", 500, None)]);
        let mut c = promo("C-5", PromotionKind::AmountOff);
        c.code = Some("SAVE5".into());
        c.amount = Some(500);
        let mut old = promo("C-OLD", PromotionKind::PercentOff);
        old.code = Some("OLD".into());
        old.percent = Some(Percent::whole(10));
        old.ends_at = Some("2026-01-01T00:00:00Z".into());
        let mut only_b = promo("C-B", PromotionKind::PercentOff);
        only_b.code = Some("BONLY".into());
        only_b.percent = Some(Percent::whole(10));
        only_b.skus = Some(vec!["B".into()]);
        cat.promotions = vec![c, old, only_b];
        let cart = |code: &str| Cart {
            lines: vec![line("L1", "A", 1)],
            coupon: Some(code.into()),
            ..Cart::default()
        };
        let err = |code| {
            price(&register(false), &cart(code), &cat)
                .expect_err(code)
                .to_string()
        };
        assert!(err("NOPE").contains("unknown"));
        assert!(err("OLD").contains("expired"));
        assert!(err("BONLY").contains("none of the sale"));
        // 500 off the sale, spread 1000 : 500 → 333 and 167.
        let mut two = cart("SAVE5");
        two.lines.push(line("L2", "B", 1));
        let p = price(&register(false), &two, &cat).expect("priced");
        let amounts: Vec<i64> = p.lines.iter().map(|l| l.discounts[0].amount).collect();
        assert_eq!(amounts, vec![333, 167]);
        assert_eq!(p.totals.total, 1000);
    }

    #[test]
    fn manual_discounts_above_the_limit_need_a_supervisor() {
        let cat = catalog(vec![product("A", 1000, None)]);
        let manual = |value, approved: Option<&str>| ManualDiscount {
            id: "D1".into(),
            line_id: Some("L1".into()),
            value,
            reason: "damaged box".into(),
            approved_by: approved.map(str::to_string),
        };
        let cart = |m| Cart {
            lines: vec![line("L1", "A", 1)],
            manual: vec![m],
            ..Cart::default()
        };
        let check = |m| price(&register(false), &cart(m), &cat).expect("priced");
        assert!(
            check(manual(DiscountValue::Percent(Percent::whole(10)), None))
                .needs_approval
                .is_empty()
        );
        assert_eq!(
            check(manual(DiscountValue::Amount(101), None)).needs_approval,
            vec!["D1".to_string()],
            "101 of 1000 is above 10 %"
        );
        let p = check(manual(DiscountValue::Amount(5000), Some("u-sup")));
        assert!(p.needs_approval.is_empty());
        assert_eq!((p.lines[0].net, p.totals.total), (0, 0), "never below zero");
    }

    #[test]
    fn spread_ties_go_to_the_earlier_line() {
        assert_eq!(spread(2, &[100, 100, 100]), vec![1, 1, 0]);
        assert_eq!(spread(10, &[0, 0]), vec![0, 0]);
        assert_eq!(spread(1000, &[1, 2]), vec![1, 2], "capped at the weights");
    }

    fn arb_case() -> impl Strategy<Value = (Register, Cart, Catalog)> {
        let products = prop::collection::vec(
            (
                0i64..50_000,
                prop::collection::vec((2i64..20, 0i64..50_000), 0..3),
                prop::option::of(0i64..50_000),
                prop::option::of(prop::sample::select(vec!["STD", "RED", "NONE"])),
            ),
            1..6,
        );
        let promos = prop::collection::vec(
            (
                0u8..3,
                prop::option::of(0usize..6),
                0i64..100,
                0i64..3000,
                1i64..4,
                1i64..3,
                prop::bool::ANY,
            ),
            0..5,
        );
        let manual = prop::collection::vec(
            (
                prop::option::of(0usize..6),
                prop::bool::ANY,
                0i64..120,
                0i64..20_000,
            ),
            0..4,
        );
        (
            products,
            promos,
            manual,
            prop::collection::vec(1i64..30, 1..6),
            prop::bool::ANY,
            prop::option::of(0usize..5),
        )
            .prop_map(|(products, promos, manual, qtys, inclusive, coupon)| {
                let products: Vec<ProductPrice> = products
                    .into_iter()
                    .enumerate()
                    .map(|(i, (p, tiers, group, tax))| ProductPrice {
                        sku: format!("S{i}"),
                        name: format!("P{i}"),
                        price: Some(p),
                        tiers,
                        group_prices: group.map(|g| ("vip".to_string(), g)).into_iter().collect(),
                        tax_code: tax.map(str::to_string),
                    })
                    .collect();
                let n = products.len();
                let promotions = promos
                    .into_iter()
                    .enumerate()
                    .map(
                        |(i, (kind, sku, pct, amount, buy, get, is_coupon))| Promotion {
                            id: format!("PR{i}"),
                            name: format!("promo {i}"),
                            code: is_coupon.then(|| format!("CODE{i}")),
                            kind: [
                                PromotionKind::PercentOff,
                                PromotionKind::AmountOff,
                                PromotionKind::BuyXGetY,
                            ][usize::from(kind)],
                            skus: sku.map(|s| vec![format!("S{}", s % n)]),
                            percent: Some(Percent::whole(pct)),
                            amount: Some(amount),
                            buy_qty: Some(buy),
                            get_qty: Some(get),
                            min_subtotal: None,
                            starts_at: None,
                            ends_at: None,
                            active: true,
                        },
                    )
                    .collect::<Vec<_>>();
                let lines: Vec<CartLine> = qtys
                    .iter()
                    .take(n)
                    .enumerate()
                    .map(|(i, q)| line(&format!("L{i}"), &format!("S{i}"), *q))
                    .collect();
                let manual = manual
                    .into_iter()
                    .enumerate()
                    .map(|(i, (target, is_pct, pct, amount))| ManualDiscount {
                        id: format!("D{i}"),
                        line_id: target.map(|t| format!("L{}", t % lines.len())),
                        value: if is_pct {
                            DiscountValue::Percent(Percent::whole(pct.min(100)))
                        } else {
                            DiscountValue::Amount(amount)
                        },
                        reason: "r".into(),
                        approved_by: None,
                    })
                    .collect();
                let coupon = coupon
                    .and_then(|c| promotions.get(c))
                    .and_then(|p: &Promotion| p.code.clone());
                let cart = Cart {
                    lines,
                    coupon,
                    manual,
                    customer_group: inclusive.then(|| "vip".to_string()),
                };
                let catalog = Catalog {
                    products,
                    tax_rates: vec![
                        TaxRate {
                            code: "STD".into(),
                            rate: Percent::parse("8.875").expect("rate"),
                        },
                        TaxRate {
                            code: "RED".into(),
                            rate: Percent::whole(7),
                        },
                    ],
                    promotions,
                    now: "2026-12-06T12:00:00Z".into(),
                };
                (register(inclusive), cart, catalog)
            })
    }

    proptest! {
        #[test]
        fn totals_always_add_up((register, cart, catalog) in arb_case()) {
            let priced = match price(&register, &cart, &catalog) {
                Ok(p) => p,
                // A coupon that fits no line is refused, which is a rule, not a sum.
                Err(PricingError::Coupon { .. }) => return Ok(()),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            };
            let t = priced.totals;
            let gross: i64 = priced.lines.iter().map(|l| l.unit_price * l.qty).sum();
            prop_assert_eq!(t.subtotal, gross);
            let nets: i64 = priced.lines.iter().map(|l| l.net).sum();
            prop_assert_eq!(nets, t.subtotal - t.discount);
            prop_assert_eq!(t.tax, priced.lines.iter().map(|l| l.tax).sum::<i64>());
            let expect = if register.prices_include_tax { nets } else { nets + t.tax };
            prop_assert_eq!(t.total, expect);
            for l in &priced.lines {
                prop_assert!(l.net >= 0 && l.tax >= 0);
                let d: i64 = l.discounts.iter().map(|d| d.amount).sum();
                prop_assert_eq!(l.net, l.unit_price * l.qty - d);
                prop_assert!(l.discounts.iter().filter(|d| d.kind == DiscountKind::Promotion).count() <= 1);
                prop_assert!(l.discounts.iter().filter(|d| d.kind == DiscountKind::Coupon).count() <= 1);
                if register.prices_include_tax {
                    prop_assert!(l.tax <= l.net);
                }
            }
        }

        #[test]
        fn spread_adds_up_exactly(amount in 0i64..1_000_000, weights in prop::collection::vec(0i64..100_000, 1..8)) {
            let parts = spread(amount, &weights);
            let total: i64 = weights.iter().sum();
            prop_assert_eq!(parts.iter().sum::<i64>(), amount.min(total));
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0 && *p <= *w);
            }
        }
    }
}
