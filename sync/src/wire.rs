//! Typed wire structs of `sync-api.md` (version 1). Deserialisation is lenient about fields the
//! edge does not need (extra fields are ignored, nullable ones are `Option`), strict about
//! identity and `version`, so a newer central does not break an older edge.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The standard error object of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorObject,
}

/// `error` of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Machine-readable code (`validation_error`, `authentication_error`, ...).
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Field-level details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    /// Request id for support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One entry of `error.details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The offending field.
    #[serde(default)]
    pub field: Option<String>,
    /// What is wrong with it.
    #[serde(default)]
    pub message: String,
}

/// Per-event result status of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Applied now.
    Applied,
    /// Applied earlier (same id).
    Duplicate,
    /// Never going to be applied; carries `error`.
    Rejected,
}

/// The `error` of a rejected event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultError {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
}

/// One entry of `results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventResult {
    /// The event id, echoed.
    pub id: String,
    /// What happened to it.
    pub status: EventStatus,
    /// Present when `status` is `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResultError>,
}

/// 200 answer of `POST /edge/sites/{site}/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One result per event, in batch order.
    pub results: Vec<EventResult>,
    /// Highest seq with every event up to it done at the central.
    pub acked_through: u64,
}

/// Answer of `GET /edge/sites/{site}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteStatusResponse {
    /// Central's high-water mark for this site.
    pub acked_through: u64,
    /// Central's clock, for skew detection.
    pub server_time: DateTime<Utc>,
}

/// `pagination` of a changes page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pagination {
    /// Cursor to continue from (same position for an empty page, never null).
    pub next_cursor: String,
    /// More changes are available right now.
    pub has_more: bool,
}

/// A change as it comes over the wire, before typing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawChange {
    /// Central's commit order.
    pub change_id: u64,
    /// Change type, e.g. `order.upsert`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object; typed by [`Change::from_raw`].
    pub object: Value,
}

/// Answer of `GET /edge/sites/{site}/changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesPage {
    /// Changes in central commit order.
    pub data: Vec<RawChange>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// Order priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Ground.
    Standard,
    /// Two-day.
    TwoDay,
    /// Overnight.
    Overnight,
    /// A value this edge does not know yet.
    #[serde(other)]
    Unknown,
}

/// `shipping` of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Shipping {
    /// Carrier code.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Service level.
    #[serde(default)]
    pub service: Option<String>,
}

/// A postal address (`ship_to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    /// Recipient name.
    #[serde(default)]
    pub name: Option<String>,
    /// Company.
    #[serde(default)]
    pub company: Option<String>,
    /// Street line 1.
    #[serde(default)]
    pub street1: Option<String>,
    /// Street line 2.
    #[serde(default)]
    pub street2: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State/region.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO country.
    #[serde(default)]
    pub country: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
}

/// An order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Line id.
    pub line_id: String,
    /// SKU.
    pub sku: String,
    /// Quantity ordered.
    pub qty: i64,
}

/// White-label branding of an order's documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Branding {
    /// Packing-slip template name.
    #[serde(default)]
    pub packing_slip_template: Option<String>,
    /// Logo URL.
    #[serde(default)]
    pub logo_url: Option<String>,
}

/// `order.upsert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderUpsert {
    /// Order id.
    pub id: String,
    /// Tenant (merchant).
    pub tenant_id: String,
    /// Sales channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Carrier cut-off.
    #[serde(default)]
    pub ship_by: Option<DateTime<Utc>>,
    /// Priority.
    pub priority: Priority,
    /// Carrier and service.
    #[serde(default)]
    pub shipping: Shipping,
    /// Destination.
    #[serde(default)]
    pub ship_to: Address,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Notes for the warehouse.
    #[serde(default)]
    pub notes: Option<String>,
    /// Gift message.
    #[serde(default)]
    pub gift_message: Option<String>,
    /// Branding.
    #[serde(default)]
    pub branding: Option<Branding>,
    /// Object version shared by all order change types.
    pub version: u64,
}

/// `order.hold`, `order.release` and `order.cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStateChange {
    /// Order id.
    pub id: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Object version.
    pub version: u64,
}

/// `order.address_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAddressChanged {
    /// Order id.
    pub id: String,
    /// The new address.
    pub ship_to: Address,
    /// Object version.
    pub version: u64,
}

/// A weight with a decimal string value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weight {
    /// Decimal string, e.g. `"2.500"`.
    pub value: String,
    /// `kg`, `g`, `lb`, `oz`.
    pub unit: String,
}

/// Dimensions with decimal string values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimensions {
    /// Length.
    pub length: String,
    /// Width.
    pub width: String,
    /// Height.
    pub height: String,
    /// `in` or `cm`.
    pub unit: String,
}

/// Money in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
}

/// A quantity price break (amount in minor units of the product's currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTier {
    /// From this quantity on.
    pub min_qty: i64,
    /// Unit price in minor units.
    pub amount: i64,
}

/// Product tracking mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    /// No lot/serial.
    None,
    /// Lot tracked.
    Lot,
    /// Serial tracked.
    Serial,
    /// Lot and expiry.
    LotExpiry,
    /// A value this edge does not know yet.
    #[serde(other)]
    Unknown,
}

/// `product.upsert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUpsert {
    /// Tenant.
    pub tenant_id: String,
    /// SKU.
    pub sku: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// GTINs and other codes.
    #[serde(default)]
    pub barcodes: Vec<String>,
    /// Catalog weight.
    #[serde(default)]
    pub weight: Option<Weight>,
    /// Catalog dimensions.
    #[serde(default)]
    pub dimensions: Option<Dimensions>,
    /// Tracking mode.
    pub tracking: Tracking,
    /// Price.
    #[serde(default)]
    pub price: Option<Money>,
    /// Quantity breaks.
    #[serde(default)]
    pub price_tiers: Vec<PriceTier>,
    /// Prices for customer groups (absent from older centrals: none).
    #[serde(default)]
    pub group_prices: Vec<GroupPrice>,
    /// Tax code.
    #[serde(default)]
    pub tax_code: Option<String>,
    /// Object version.
    pub version: u64,
}

/// A customer group's unit price (`product.upsert` `group_prices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPrice {
    /// The price group (`customer.upsert` `group`).
    pub group: String,
    /// Unit price in minor units.
    pub amount: i64,
}

/// `tax_rate.upsert`: a rate in force at this site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRateUpsert {
    /// The code products carry as `tax_code`.
    pub code: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Percent as a decimal string (`"8.875"`), kept as text so no float touches it.
    pub rate: String,
    /// Object version.
    pub version: u64,
}

/// Promotion kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    /// A percent off each matching line.
    PercentOff,
    /// An amount off each matching unit (a coupon without SKUs: off the sale).
    AmountOff,
    /// The cheapest `get_qty` of every `buy_qty + get_qty` matching units are free.
    BuyXGetY,
}

/// `promotion.upsert`: automatic when `code` is null, else a coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionUpsert {
    /// Promotion id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Display name (on the receipt).
    pub name: String,
    /// Coupon code; null = automatic.
    #[serde(default)]
    pub code: Option<String>,
    /// Kind.
    pub kind: PromotionKind,
    /// SKUs it applies to; null = every product.
    #[serde(default)]
    pub skus: Option<Vec<String>>,
    /// Percent as a decimal string.
    #[serde(default)]
    pub percent: Option<String>,
    /// Minor units.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Units to buy.
    #[serde(default)]
    pub buy_qty: Option<i64>,
    /// Units free.
    #[serde(default)]
    pub get_qty: Option<i64>,
    /// Minor units of the subtotal needed.
    #[serde(default)]
    pub min_subtotal: Option<i64>,
    /// RFC 3339.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Active flag.
    pub active: bool,
    /// Object version.
    pub version: u64,
}

/// `customer.upsert`: a customer the central wants this site to know offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUpsert {
    /// Customer id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Loyalty id (`CUST:` scans).
    #[serde(default)]
    pub loyalty_id: Option<String>,
    /// Price group.
    #[serde(default)]
    pub group: Option<String>,
    /// Active flag.
    pub active: bool,
    /// Object version.
    pub version: u64,
}

/// Location kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    /// Pick face.
    Pick,
    /// Bulk storage.
    Bulk,
    /// Receiving dock.
    Receiving,
    /// Shipping dock.
    Shipping,
    /// Returns.
    Returns,
    /// A retail store's sales floor: registers sell from it, fulfilment never allocates from it.
    Store,
    /// A value this edge does not know yet.
    #[serde(other)]
    Unknown,
}

/// `location.upsert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationUpsert {
    /// Location code, e.g. `A-03-2`.
    pub code: String,
    /// Zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// Walk order.
    #[serde(default)]
    pub pick_sequence: Option<i64>,
    /// Kind.
    pub kind: LocationKind,
    /// Object version.
    pub version: u64,
}

/// `user.upsert`. `Debug` hides `pin_hash` so it never reaches logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpsert {
    /// User id.
    pub id: String,
    /// Tenant; `None` = all tenants of the site.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Badge code (`EMP:<badge>`).
    #[serde(default)]
    pub badge: Option<String>,
    /// Argon2id PHC string.
    #[serde(default)]
    pub pin_hash: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Active flag.
    pub active: bool,
    /// Object version.
    pub version: u64,
}

impl std::fmt::Debug for UserUpsert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpsert")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("badge", &self.badge)
            .field("pin_hash", &self.pin_hash.as_ref().map(|_| "<redacted>"))
            .field("roles", &self.roles)
            .field("active", &self.active)
            .field("version", &self.version)
            .finish()
    }
}

/// `id_block.granted` and the 201 body of `POST /edge/sites/{site}/id-blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdBlock {
    /// `sscc`, `tracking:<carrier>`, `receipt`.
    pub kind: String,
    /// For `sscc`: extension digit + GS1 company prefix.
    pub prefix: String,
    /// First serial (inclusive).
    pub first: u64,
    /// Last serial (inclusive).
    pub last: u64,
}

/// Body of `POST /edge/sites/{site}/id-blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdBlockRequest {
    /// Kind wanted.
    pub kind: String,
    /// Number of serials wanted.
    pub size: u64,
}

/// Body of the doorbell webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doorbell {
    /// `changes.available`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Site the doorbell is for.
    pub site_id: String,
}

/// `GET /edge/sites/{site}/gift-cards/{code}`: what the till shows before taking the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCard {
    /// The card's code, echoed.
    pub code: String,
    /// What is left on it.
    pub balance: Money,
    /// An inactive card is never redeemed (lost, stolen, not yet sold).
    pub active: bool,
}

/// Body of `POST .../gift-cards/{code}/redemptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionRequest {
    /// Idempotency id made by the edge (the POS payment's id): a resend never spends twice.
    pub id: String,
    /// What to take off the card (positive, in the card's currency).
    pub amount: Money,
    /// The sale it pays for.
    pub sale_id: String,
}

/// Answer of a redemption and of its reversal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// The redemption's idempotency id.
    pub id: String,
    /// The card.
    pub code: String,
    /// What was taken off the card.
    pub amount: Money,
    /// The card's balance right after this answer's operation (the redemption, or its reversal).
    pub balance_after: Money,
    /// True once the amount went back to the card (a void or refund).
    #[serde(default)]
    pub reversed: bool,
}

/// `GET /edge/sites/{site}/customers/{customer_id}/credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCredit {
    /// The customer, echoed.
    pub customer_id: String,
    /// What the customer may spend.
    pub balance: Money,
}

/// Body of `POST .../customers/{customer_id}/credit/transactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditTransactionRequest {
    /// Idempotency id made by the edge (the payment's or refund's id).
    pub id: String,
    /// Negative spends, positive issues (a refund or return to store credit).
    pub amount: Money,
    /// The sale it belongs to; null for a return without a receipt.
    pub sale_id: Option<String>,
    /// Why (`sale`, `refund`, `return`, ...), kept by the central for its ledger.
    pub reason: String,
}

/// Answer of a store-credit transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditTransaction {
    /// The transaction's idempotency id.
    pub id: String,
    /// The signed amount booked.
    pub amount: Money,
    /// The customer's balance right after it.
    pub balance_after: Money,
}

/// A typed down-sync change.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `order.upsert`.
    OrderUpsert(OrderUpsert),
    /// `order.hold`.
    OrderHold(OrderStateChange),
    /// `order.release`.
    OrderRelease(OrderStateChange),
    /// `order.cancel`.
    OrderCancel(OrderStateChange),
    /// `order.address_changed`.
    OrderAddressChanged(OrderAddressChanged),
    /// `product.upsert`.
    ProductUpsert(ProductUpsert),
    /// `location.upsert`.
    LocationUpsert(LocationUpsert),
    /// `user.upsert`.
    UserUpsert(UserUpsert),
    /// `id_block.granted`.
    IdBlockGranted(IdBlock),
    /// `tax_rate.upsert`.
    TaxRateUpsert(TaxRateUpsert),
    /// `promotion.upsert`.
    PromotionUpsert(PromotionUpsert),
    /// `customer.upsert`.
    CustomerUpsert(CustomerUpsert),
    /// A type this edge does not know. Not applied; handed to the store (to keep for audit or a
    /// later upgrade) and the cursor moves on.
    Unknown {
        /// The unknown type.
        kind: String,
        /// The raw object.
        object: Value,
    },
    /// A known type whose object does not parse. Treated like [`Change::Unknown`] but counted
    /// and reported as an error, because something may be missing on the floor.
    Malformed {
        /// The type.
        kind: String,
        /// The raw object.
        object: Value,
        /// The parse error.
        error: String,
    },
}

/// A typed change with its position in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Central's commit order.
    pub change_id: u64,
    /// The change.
    pub change: Change,
}

fn typed<T: serde::de::DeserializeOwned>(
    kind: &str,
    object: Value,
    wrap: fn(T) -> Change,
) -> Change {
    match T::deserialize(&object) {
        Ok(v) => wrap(v),
        Err(e) => Change::Malformed {
            kind: kind.to_string(),
            object,
            error: e.to_string(),
        },
    }
}

impl Change {
    /// Types a raw change; never fails (unknown → [`Change::Unknown`], bad → [`Change::Malformed`]).
    pub fn from_raw(raw: RawChange) -> ChangeRecord {
        let RawChange {
            change_id,
            kind,
            object,
        } = raw;
        let change = match kind.as_str() {
            "order.upsert" => typed(&kind, object, Change::OrderUpsert),
            "order.hold" => typed(&kind, object, Change::OrderHold),
            "order.release" => typed(&kind, object, Change::OrderRelease),
            "order.cancel" => typed(&kind, object, Change::OrderCancel),
            "order.address_changed" => typed(&kind, object, Change::OrderAddressChanged),
            "product.upsert" => typed(&kind, object, Change::ProductUpsert),
            "location.upsert" => typed(&kind, object, Change::LocationUpsert),
            "user.upsert" => typed(&kind, object, Change::UserUpsert),
            "id_block.granted" => typed(&kind, object, Change::IdBlockGranted),
            "tax_rate.upsert" => typed(&kind, object, Change::TaxRateUpsert),
            "promotion.upsert" => typed(&kind, object, Change::PromotionUpsert),
            "customer.upsert" => typed(&kind, object, Change::CustomerUpsert),
            _ => Change::Unknown { kind, object },
        };
        ChangeRecord { change_id, change }
    }

    /// The wire type name.
    pub fn kind(&self) -> &str {
        match self {
            Change::OrderUpsert(_) => "order.upsert",
            Change::OrderHold(_) => "order.hold",
            Change::OrderRelease(_) => "order.release",
            Change::OrderCancel(_) => "order.cancel",
            Change::OrderAddressChanged(_) => "order.address_changed",
            Change::ProductUpsert(_) => "product.upsert",
            Change::LocationUpsert(_) => "location.upsert",
            Change::UserUpsert(_) => "user.upsert",
            Change::IdBlockGranted(_) => "id_block.granted",
            Change::TaxRateUpsert(_) => "tax_rate.upsert",
            Change::PromotionUpsert(_) => "promotion.upsert",
            Change::CustomerUpsert(_) => "customer.upsert",
            Change::Unknown { kind, .. } | Change::Malformed { kind, .. } => kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(kind: &str, object: Value) -> RawChange {
        RawChange {
            change_id: 1,
            kind: kind.into(),
            object,
        }
    }

    #[test]
    fn every_contract_type_parses() {
        let addr = json!({"name":"A","company":null,"street1":"1 Main","street2":null,"city":"X",
            "region":"NY","postal_code":"10001","country":"US","phone":null});
        let cases = vec![
            raw(
                "order.upsert",
                json!({"id":"O-1","tenant_id":"acme","channel":"web",
                "created_at":"2026-11-22T10:00:00.000Z","ship_by":"2026-11-22T16:00:00.000Z",
                "priority":"two_day","shipping":{"carrier":"ups","service":"2day"},"ship_to":addr,
                "lines":[{"line_id":"1","sku":"SKU-1","qty":2}],"notes":null,"gift_message":null,
                "branding":{"packing_slip_template":"default","logo_url":null},"version":3}),
            ),
            raw(
                "order.hold",
                json!({"id":"O-1","reason":"fraud","version":4}),
            ),
            raw(
                "order.release",
                json!({"id":"O-1","reason":null,"version":5}),
            ),
            raw(
                "order.cancel",
                json!({"id":"O-1","reason":"customer","version":6}),
            ),
            raw(
                "order.address_changed",
                json!({"id":"O-1","ship_to":addr,"version":7}),
            ),
            raw(
                "product.upsert",
                json!({"tenant_id":"acme","sku":"SKU-1","name":"Shirt",
                "barcodes":["0614141000012"],"weight":{"value":"0.250","unit":"kg"},
                "dimensions":{"length":"12","width":"8","height":"6","unit":"in"},
                "tracking":"lot_expiry","price":{"amount":1999,"currency":"USD"},
                "price_tiers":[{"min_qty":10,"amount":1799}],
                "group_prices":[{"group":"vip","amount":1699}],"tax_code":"P1","version":1}),
            ),
            raw(
                "location.upsert",
                json!({"code":"A-03-2","zone":"A","pick_sequence":32,
                "kind":"pick","version":1}),
            ),
            raw(
                "user.upsert",
                json!({"id":"u_17","tenant_id":null,"name":"Ann","badge":"B17",
                "pin_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA","roles":["picker"],
                "active":true,"version":2}),
            ),
            raw(
                "id_block.granted",
                json!({"kind":"sscc","prefix":"00614141","first":1,"last":1000}),
            ),
            raw(
                "tax_rate.upsert",
                json!({"code":"STD","name":"State + city","rate":"8.875","version":1}),
            ),
            raw(
                "promotion.upsert",
                json!({"id":"PR-1","tenant_id":"acme","name":"3 for 2","code":null,
                "kind":"buy_x_get_y","skus":["SKU-1"],"percent":null,"amount":null,"buy_qty":2,
                "get_qty":1,"min_subtotal":null,"starts_at":"2026-12-01T00:00:00Z",
                "ends_at":null,"active":true,"version":1}),
            ),
            raw(
                "customer.upsert",
                json!({"id":"C-1","tenant_id":"acme","name":"Pat","email":"pat@example.com",
                "phone":null,"loyalty_id":"L-100","group":"vip","active":true,"version":1}),
            ),
        ];
        for c in cases {
            let kind = c.kind.clone();
            let rec = Change::from_raw(c);
            assert!(
                !matches!(
                    rec.change,
                    Change::Malformed { .. } | Change::Unknown { .. }
                ),
                "{kind}: {:?}",
                rec.change
            );
            assert_eq!(rec.change.kind(), kind);
        }
    }

    #[test]
    fn unknown_and_malformed_never_fail() {
        let r = Change::from_raw(raw("order.split", json!({"id":"O-1"})));
        assert!(matches!(r.change, Change::Unknown { .. }));
        let r = Change::from_raw(raw("order.hold", json!({"id":"O-1"})));
        assert!(matches!(r.change, Change::Malformed { .. }));
        let r = Change::from_raw(raw(
            "location.upsert",
            json!({"code":"X","kind":"mezzanine","version":1}),
        ));
        assert!(matches!(
            r.change,
            Change::LocationUpsert(LocationUpsert {
                kind: LocationKind::Unknown,
                ..
            })
        ));
    }

    #[test]
    fn user_debug_redacts_pin_hash() {
        let u = UserUpsert {
            id: "u".into(),
            tenant_id: None,
            name: None,
            badge: None,
            pin_hash: Some("$argon2id$secret".into()),
            roles: vec![],
            active: true,
            version: 1,
        };
        assert!(!format!("{u:?}").contains("argon2id"));
    }
}
