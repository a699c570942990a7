//! The point of sale over HTTP (pos-api.md): registers and their sessions, sales, lines,
//! discounts, coupons, customers, price checks and tenders. Mutations need a floor user's session
//! (a person to attribute them to); reads take a session or an API key with the cashier role.
//! Money goes out as `{"amount", "currency"}`; request bodies may send a bare integer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{parse_json, Body, P, Q};
use super::page::{self, Page};
use super::sessions::{approver, Approval};
use super::AppState;
use crate::config::RegisterConfig;
use crate::domain::pos::pricing::DiscountValue;
use crate::domain::pos::Percent;
use crate::domain::role::Role;
use crate::domain::rules;
use crate::domain::time;
use crate::error::Result;
use crate::store::base::catalog::Money;
use crate::store::base::customers::{self, Customer};
use crate::store::base::keys::sha256_hex;
use crate::store::base::prices;
use crate::store::workflow::pos::balances::BalanceSource;
use crate::store::workflow::pos::customers::{self as pos_customers, NewCustomer};
use crate::store::workflow::pos::payments::{self, TenderRequest};
use crate::store::workflow::pos::registers::{self, PosSession};
use crate::store::workflow::pos::sales::{self, CartChange};
use crate::store::workflow::pos::{self as pos_store, Payment, Sale, SaleFilter};
use crate::store::{Ctx, Origin};
use crate::till::{changed_line, publish_payment, publish_sale, publish_sale_line};

// ---- shapes -------------------------------------------------------------------------------------

/// Most matches a product or customer search answers with (`has_more` says there were more).
const SEARCH_LIMIT: usize = 50;

pub(super) fn money(amount: i64, currency: &str) -> Money {
    Money {
        amount,
        currency: currency.to_string(),
    }
}

/// An amount in a request: a bare integer of minor units, or `{"amount", "currency"}` in the
/// register's currency.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MoneyIn {
    Minor(i64),
    Money {
        amount: i64,
        #[schema(value_type = rules::Currency)]
        currency: String,
    },
}

/// Declares how the document states an amount in a request that may not be below `$min`.
macro_rules! amount_schema {
    ($(#[$doc:meta])* $name:ident, $min:expr, $description:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                amount_in($min, $description)
            }
        }

        impl ToSchema for $name {}
    };
}

fn amount_in(
    min: Option<i64>,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
    let minor = || {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(min.map(|m| m as f64))
    };
    OneOfBuilder::new()
        .item(minor().description(Some("Minor units (cents).")))
        .item(
            ObjectBuilder::new()
                .property("amount", minor())
                .required("amount")
                .property(
                    "currency",
                    <rules::Currency as utoipa::PartialSchema>::schema(),
                )
                .required("currency")
                .description(Some("Minor units and the register's currency.")),
        )
        .description(Some(description))
        .into()
}

amount_schema!(
    /// An amount of cash counted or handed over, in the document.
    AmountNotNegative,
    Some(0),
    "An amount not below zero, in the register's currency."
);
amount_schema!(
    /// An amount that moves money, in the document.
    AmountPositive,
    Some(1),
    "An amount above zero, in the register's currency."
);

impl MoneyIn {
    pub(super) fn minor(
        &self,
        field: &str,
        reg: &RegisterConfig,
    ) -> std::result::Result<i64, ApiError> {
        match self {
            MoneyIn::Minor(a) => Ok(*a),
            MoneyIn::Money { amount, currency } if *currency == reg.currency => Ok(*amount),
            MoneyIn::Money { currency, .. } => Err(ApiError::unprocessable(
                field,
                format!("register {} takes {}, not {currency}", reg.id, reg.currency),
            )),
        }
    }
}

/// A device of a register and its state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterDevice {
    pub id: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterDevices {
    pub scanner: Option<RegisterDevice>,
    pub receipt_printer: Option<RegisterDevice>,
    pub payment_terminal: Option<RegisterDevice>,
    pub customer_display: Option<RegisterDevice>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfflineCards {
    pub count: i64,
    pub total: Money,
    pub oldest_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionOut {
    pub id: String,
    pub register_id: String,
    pub cashier: String,
    pub opened_at: String,
    pub opening_float: Money,
    /// `open` or `closed`.
    pub state: String,
    pub closed_at: Option<String>,
}

impl From<PosSession> for SessionOut {
    fn from(s: PosSession) -> Self {
        SessionOut {
            opening_float: money(s.opening_float, &s.currency),
            id: s.id,
            register_id: s.register_id,
            cashier: s.cashier,
            opened_at: s.opened_at,
            state: s.state,
            closed_at: s.closed_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterOut {
    pub id: String,
    pub tenant_id: String,
    pub location: String,
    pub currency: String,
    /// `closed` or `open`.
    pub state: String,
    pub session: Option<SessionOut>,
    /// The open sale's id.
    pub sale: Option<String>,
    pub devices: RegisterDevices,
    pub offline_cards: OfflineCards,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscountOut {
    /// `promotion`, `coupon` or `manual`.
    pub kind: String,
    pub id: String,
    pub amount: Money,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineOut {
    pub line_id: String,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub unit_price: Money,
    /// `list`, `tier` or `group`.
    pub price_source: String,
    pub discounts: Vec<DiscountOut>,
    pub net: Money,
    pub tax_code: Option<String>,
    pub tax: Money,
    pub refunded_qty: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TotalsOut {
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
    pub rounding: Money,
    pub paid: Money,
    pub due: Money,
    pub change: Money,
    pub refunded: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentOut {
    pub id: String,
    pub sale_id: String,
    /// `cash`, `card`, `gift_card` or `store_credit`.
    pub method: String,
    pub amount: Money,
    /// `pending`, `approved`, `partial`, `declined`, `aborted` or `failed`.
    pub state: String,
    pub tendered: Option<Money>,
    pub change: Money,
    /// Card payments: brand, masked_pan (at most first 6 / last 4), entry_mode,
    /// approval_code, terminal_txn_id, offline.
    #[schema(value_type = Option<Object>)]
    pub card: Option<serde_json::Value>,
    /// Gift card and store credit payments: masked_code or customer_id, balance_after.
    #[schema(value_type = Option<Object>)]
    pub balance: Option<serde_json::Value>,
    pub error: Option<String>,
}

pub(super) fn payment_out(p: &Payment, currency: &str) -> PaymentOut {
    PaymentOut {
        id: p.id.clone(),
        sale_id: p.sale_id.clone(),
        method: p.method.clone(),
        amount: money(p.amount, currency),
        state: p.state.clone(),
        tendered: p.tendered.map(|t| money(t, currency)),
        change: money(p.change, currency),
        card: (p.method == "card").then(|| {
            pick(
                p.card.as_ref(),
                &[
                    "brand",
                    "masked_pan",
                    "entry_mode",
                    "approval_code",
                    "terminal_txn_id",
                ],
                p.offline,
            )
        }),
        balance: matches!(p.method.as_str(), "gift_card" | "store_credit").then(|| {
            let mut b = pick(
                p.card.as_ref(),
                &["masked_code", "customer_id", "balance_after"],
                false,
            );
            if let Some(m) = b.as_object_mut() {
                m.remove("offline");
                if let Some(a) = m.get("balance_after").and_then(serde_json::Value::as_i64) {
                    m.insert("balance_after".into(), json!(money(a, currency)));
                }
            }
            b
        }),
        error: p.error.clone(),
    }
}

/// Only the named facts of a payment's stored card or balance JSON reach the API.
fn pick(facts: Option<&serde_json::Value>, keys: &[&str], offline: bool) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for k in keys {
        if let Some(v) = facts.and_then(|f| f.get(*k)) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    let terminal_offline = facts
        .and_then(|f| f.get("terminal_offline"))
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    out.insert("offline".into(), json!(offline || terminal_offline));
    serde_json::Value::Object(out)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SaleOut {
    /// UUID v7, made on the edge.
    pub id: String,
    pub register_id: String,
    pub session_id: String,
    pub cashier: String,
    pub customer_id: Option<String>,
    /// `open`, `completed` or `voided`.
    pub status: String,
    pub lines: Vec<LineOut>,
    pub coupon: Option<String>,
    pub totals: TotalsOut,
    pub payments: Vec<PaymentOut>,
    pub receipt_no: Option<String>,
    pub warnings: Vec<String>,
    pub completed_at: Option<String>,
}

fn as_str<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl From<&Sale> for SaleOut {
    fn from(s: &Sale) -> Self {
        let c = s.currency.as_str();
        let t = s.priced.totals;
        let b = s.balance;
        SaleOut {
            id: s.id.clone(),
            register_id: s.register_id.clone(),
            session_id: s.session_id.clone(),
            cashier: s.cashier.clone(),
            customer_id: s.customer_id.clone(),
            status: s.status.clone(),
            lines: s
                .priced
                .lines
                .iter()
                .map(|l| LineOut {
                    line_id: l.line_id.clone(),
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    qty: l.qty,
                    unit_price: money(l.unit_price, c),
                    price_source: as_str(&l.price_source),
                    discounts: l
                        .discounts
                        .iter()
                        .map(|d| DiscountOut {
                            kind: as_str(&d.kind),
                            id: d.id.clone(),
                            amount: money(d.amount, c),
                            reason: d.reason.clone(),
                        })
                        .collect(),
                    net: money(l.net, c),
                    tax_code: l.tax_code.clone(),
                    tax: money(l.tax, c),
                    refunded_qty: s.refunded_qty.get(&l.line_id).copied().unwrap_or(0),
                })
                .collect(),
            coupon: s.cart.coupon.clone(),
            totals: TotalsOut {
                subtotal: money(t.subtotal, c),
                discount: money(t.discount, c),
                tax: money(t.tax, c),
                total: money(t.total, c),
                rounding: money(b.rounding, c),
                paid: money(b.paid, c),
                due: money(b.due, c),
                change: money(b.change, c),
                refunded: money(s.refunded, c),
            },
            payments: s.payments.iter().map(|p| payment_out(p, c)).collect(),
            receipt_no: s.receipt_no.clone(),
            warnings: s.priced.warnings.clone(),
            completed_at: s.completed_at.clone(),
        }
    }
}

// ---- helpers ------------------------------------------------------------------------------------

pub(super) fn register(st: &AppState, id: &str) -> std::result::Result<RegisterConfig, ApiError> {
    st.registers
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("register {id} not found")))
}

/// A till mutation: a person with the cashier role, of the register's tenant.
pub(super) fn cashier(
    caller: &Caller,
    reg: &RegisterConfig,
) -> std::result::Result<String, ApiError> {
    let user = caller.person()?;
    caller.require(Role::Cashier)?;
    caller.check_tenant(&reg.tenant_id)?;
    Ok(user.user_id.clone())
}

/// A till read: a session or a key with the cashier role, of the register's tenant.
pub(super) fn reader(caller: &Caller, reg: &RegisterConfig) -> std::result::Result<(), ApiError> {
    caller.require(Role::Cashier)?;
    caller.check_tenant(&reg.tenant_id)
}

pub(super) async fn write<R, F>(st: &AppState, origin: Origin, f: F) -> ApiResult<R>
where
    R: Send + 'static,
    F: FnOnce(&Ctx<'_>) -> Result<R> + Send + 'static,
{
    let site = st.site_id.clone();
    Ok(st
        .store
        .write(move |c| {
            let now = time::now();
            let cx = Ctx {
                conn: c,
                site: &site,
                origin: &origin,
                now: &now,
            };
            f(&cx)
        })
        .await?)
}

/// The register a sale belongs to, read before the write so the caller can be checked.
pub(super) async fn register_of_sale(
    st: &AppState,
    sale_id: &str,
) -> std::result::Result<RegisterConfig, ApiError> {
    let id = sale_id.to_string();
    let register_id: Option<String> = st
        .store
        .read(move |c| Ok(pos_store::get_sale(c, &id)?.map(|s| s.register_id)))
        .await?;
    let register_id =
        register_id.ok_or_else(|| ApiError::not_found(format!("sale {sale_id} not found")))?;
    register(st, &register_id)
}

fn publish_sale_of(st: &AppState, s: &Sale) {
    publish_sale(&st.events, s);
}

// ---- registers and sessions ---------------------------------------------------------------------

async fn register_out(st: &AppState, reg: RegisterConfig) -> ApiResult<RegisterOut> {
    let id = reg.id.clone();
    let (session, sale) = st
        .store
        .read(move |c| {
            Ok((
                registers::open_session_of(c, &id)?,
                registers::open_sale_of(c, &id)?,
            ))
        })
        .await?;
    let offline = st.till.offline_exposure(Some(reg.id.clone())).await?;
    let devices: Vec<super::devices::DeviceView> =
        st.devices.entries().map(super::devices::view).collect();
    let of_kind = |kind: &str| {
        devices
            .iter()
            .find(|d| d.station.as_deref() == Some(reg.id.as_str()) && d.kind == kind)
            .map(|d| RegisterDevice {
                id: d.id.clone(),
                state: d.state.clone(),
            })
    };
    Ok(RegisterOut {
        state: if session.is_some() { "open" } else { "closed" }.into(),
        session: session.map(SessionOut::from),
        sale,
        devices: RegisterDevices {
            scanner: of_kind("scanner"),
            receipt_printer: of_kind("receipt_printer"),
            payment_terminal: of_kind("payment_terminal"),
            customer_display: of_kind("customer_display"),
        },
        offline_cards: OfflineCards {
            count: offline.0,
            total: money(offline.1, &reg.currency),
            oldest_at: offline.2,
        },
        id: reg.id,
        tenant_id: reg.tenant_id,
        location: reg.location,
        currency: reg.currency,
    })
}

/// The site's registers the caller may see.
#[utoipa::path(get, path = "/v1/pos/registers", tag = "pos", security(("bearer" = [])),
    responses((status = 200, body = Page<RegisterOut>)))]
pub async fn list_registers(
    caller: Caller,
    State(st): State<AppState>,
) -> ApiResult<Json<Page<RegisterOut>>> {
    caller.require(Role::Cashier)?;
    let mut regs: Vec<RegisterConfig> = st
        .registers
        .values()
        .filter(|r| caller.tenant().is_none_or(|t| t == r.tenant_id))
        .cloned()
        .collect();
    regs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = Vec::with_capacity(regs.len());
    for r in regs {
        out.push(register_out(&st, r).await?);
    }
    Ok(Json(page::whole(out)))
}

/// One register: its session, open sale and devices.
#[utoipa::path(get, path = "/v1/pos/registers/{id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RegisterOut), (status = 404, description = "no register with this id", body = ErrorBody)))]
pub async fn get_register(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<RegisterOut>> {
    caller.require(Role::Cashier)?;
    let reg = register(&st, &id)?;
    reader(&caller, &reg)?;
    Ok(Json(register_out(&st, reg).await?))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSessionIn {
    /// The cash put in the drawer.
    #[schema(value_type = AmountNotNegative)]
    pub opening_float: MoneyIn,
}

/// Open a register session with a float; 409 when one is open.
#[utoipa::path(post, path = "/v1/pos/registers/{id}/sessions", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = OpenSessionIn,
    responses((status = 201, body = SessionOut), (status = 404, description = "no register with this id", body = ErrorBody), (status = 409, description = "a session is open at the register", body = ErrorBody)))]
pub async fn open_session(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<OpenSessionIn>,
) -> ApiResult<(StatusCode, Json<SessionOut>)> {
    let reg = register(&st, &id)?;
    let user = cashier(&caller, &reg)?;
    let float = input.opening_float.minor("opening_float", &reg)?;
    let r = reg.clone();
    let session = write(&st, caller.origin(), move |cx| {
        registers::open_session(cx, &r, &user, float)
    })
    .await?;
    st.devices.prints_queued();
    st.events.publish(
        "pos.register",
        json!({"register_id": reg.id, "tenant_id": reg.tenant_id, "state": "open", "session_id": session.id}),
    );
    Ok((StatusCode::CREATED, Json(session.into())))
}

// ---- sales --------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSaleIn {
    pub register_id: String,
    pub customer_id: Option<String>,
}

/// Open a sale; 409 without an open session or with a sale already open.
#[utoipa::path(post, path = "/v1/pos/sales", tag = "pos", security(("bearer" = [])),
    request_body = NewSaleIn,
    responses((status = 201, body = SaleOut), (status = 404, description = "no register with this id", body = ErrorBody), (status = 409, description = "no open session, or a sale is open already", body = ErrorBody)))]
pub async fn create_sale(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<NewSaleIn>,
) -> ApiResult<(StatusCode, Json<SaleOut>)> {
    let reg = register(&st, &input.register_id)?;
    let user = cashier(&caller, &reg)?;
    let sale = write(&st, caller.origin(), move |cx| {
        sales::create_sale(cx, &reg, &user, input.customer_id.as_deref())
    })
    .await?;
    publish_sale_of(&st, &sale);
    Ok((StatusCode::CREATED, Json(SaleOut::from(&sale))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    pub register: Option<String>,
    pub session: Option<String>,
    pub status: Option<String>,
    pub receipt_no: Option<String>,
    pub customer: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
}

/// Sales, newest first.
#[utoipa::path(get, path = "/v1/pos/sales", tag = "pos", security(("bearer" = [])),
    params(SalesQuery),
    responses((status = 200, body = Page<SaleOut>)))]
pub async fn list_sales(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<SalesQuery>,
) -> ApiResult<Json<Page<SaleOut>>> {
    caller.require(Role::Cashier)?;
    let limit = page::limit(q.limit)?;
    let after: Option<(String, String)> = page::decode(q.cursor.as_deref())?;
    let filter = SaleFilter {
        register: q.register,
        session: q.session,
        status: q.status,
        receipt_no: q.receipt_no,
        customer: q.customer,
        tenant: caller.tenant().map(str::to_string),
        after,
        limit: limit + 1,
    };
    let found = st
        .store
        .read(move |c| pos_store::list_sales(c, &filter))
        .await?;
    let page = page::build(found, limit, |s| (s.created_at.clone(), s.id.clone()));
    Ok(Json(Page {
        data: page.data.iter().map(SaleOut::from).collect(),
        pagination: page.pagination,
    }))
}

/// One sale.
#[utoipa::path(get, path = "/v1/pos/sales/{id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SaleOut), (status = 404, description = "no sale with this id", body = ErrorBody)))]
pub async fn get_sale(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<SaleOut>> {
    caller.require(Role::Cashier)?;
    let sid = id.clone();
    let sale = st.store.read(move |c| pos_store::sale(c, &sid)).await?;
    caller.check_tenant(&sale.tenant_id)?;
    Ok(Json(SaleOut::from(&sale)))
}

async fn change(
    caller: &Caller,
    st: &AppState,
    sale_id: String,
    change: CartChange,
    approval: Option<&Approval>,
) -> ApiResult<Json<SaleOut>> {
    let reg = register_of_sale(st, &sale_id).await?;
    cashier(caller, &reg)?;
    let approved_by = match approval {
        Some(_) => approver(st, caller, approval).await?.map(|p| p.user_id),
        None => match &caller.principal {
            super::auth::Principal::User(u)
                if u.roles.iter().any(|r| r.satisfies(Role::Supervisor)) =>
            {
                Some(u.user_id.clone())
            }
            _ => None,
        },
    };
    let (before, sale) = write(st, caller.origin(), move |cx| {
        let before = pos_store::sale(cx.conn, &sale_id)?;
        let after = sales::change_cart(cx, &reg, &sale_id, change, approved_by.as_deref())?;
        Ok((before, after))
    })
    .await?;
    publish_sale_line(&st.events, &sale, changed_line(&before, &sale));
    Ok(Json(SaleOut::from(&sale)))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLineIn {
    /// A scan: GTIN, GS1 string or SKU barcode (taken before `sku` when both are given).
    pub code: Option<String>,
    /// Used when there is no `code`; one of the two is needed.
    pub sku: Option<String>,
    /// Default 1.
    #[schema(value_type = Option<rules::TillQty>)]
    pub qty: Option<i64>,
}

/// Add a product (one line per SKU: adding it again adds to its line).
#[utoipa::path(post, path = "/v1/pos/sales/{id}/lines", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AddLineIn,
    responses((status = 201, body = SaleOut), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the sale is not open or has a tender", body = ErrorBody)))]
pub async fn add_line(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<AddLineIn>,
) -> ApiResult<(StatusCode, Json<SaleOut>)> {
    let c = CartChange::AddLine {
        code: input.code,
        sku: input.sku,
        qty: input.qty.unwrap_or(1),
    };
    Ok((
        StatusCode::CREATED,
        change(&caller, &st, id, c, None).await?,
    ))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQtyIn {
    #[schema(value_type = rules::TillQty)]
    pub qty: i64,
}

/// Change a line's quantity.
#[utoipa::path(patch, path = "/v1/pos/sales/{id}/lines/{line_id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path), ("line_id" = String, Path)), request_body = SetQtyIn,
    responses((status = 200, body = SaleOut), (status = 404, description = "no such sale or line", body = ErrorBody), (status = 409, description = "the sale is not open or has a tender", body = ErrorBody)))]
pub async fn set_line_qty(
    caller: Caller,
    State(st): State<AppState>,
    P((id, line_id)): P<(String, String)>,
    Body(input): Body<SetQtyIn>,
) -> ApiResult<Json<SaleOut>> {
    let c = CartChange::SetQty {
        line_id,
        qty: input.qty,
    };
    change(&caller, &st, id, c, None).await
}

/// Remove a line.
#[utoipa::path(delete, path = "/v1/pos/sales/{id}/lines/{line_id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path), ("line_id" = String, Path)),
    responses((status = 200, body = SaleOut), (status = 404, description = "no such sale or line", body = ErrorBody), (status = 409, description = "the sale is not open or has a tender", body = ErrorBody), (status = 422, description = "the sale could not be priced without the line", body = ErrorBody)))]
pub async fn remove_line(
    caller: Caller,
    State(st): State<AppState>,
    P((id, line_id)): P<(String, String)>,
) -> ApiResult<Json<SaleOut>> {
    change(&caller, &st, id, CartChange::RemoveLine { line_id }, None).await
}

/// A percent: a decimal string or a number.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountIn {
    /// Null: the whole sale.
    pub line_id: Option<String>,
    /// 0 to 100; give either `percent` or `amount`.
    #[schema(value_type = Option<rules::Percent100>, example = "12.5")]
    pub percent: Option<Percent>,
    #[schema(value_type = Option<AmountNotNegative>)]
    pub amount: Option<MoneyIn>,
    #[schema(value_type = rules::NotBlank)]
    pub reason: String,
    pub approval: Option<Approval>,
}

/// A manual discount; above the register's limit it needs a supervisor.
#[utoipa::path(post, path = "/v1/pos/sales/{id}/discounts", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = DiscountIn,
    responses((status = 201, body = SaleOut), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the sale is not open or has a tender", body = ErrorBody), (status = 429, description = "the approving badge is locked after five wrong PINs", body = ErrorBody)))]
pub async fn add_discount(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<DiscountIn>,
) -> ApiResult<(StatusCode, Json<SaleOut>)> {
    let reg = register_of_sale(&st, &id).await?;
    let value = match (&input.percent, &input.amount) {
        (Some(p), None) => DiscountValue::Percent(*p),
        (None, Some(a)) => DiscountValue::Amount(a.minor("amount", &reg)?),
        _ => {
            return Err(ApiError::unprocessable(
                "percent",
                "give either percent or amount",
            ))
        }
    };
    let c = CartChange::Discount {
        line_id: input.line_id,
        value,
        reason: input.reason,
    };
    Ok((
        StatusCode::CREATED,
        change(&caller, &st, id, c, input.approval.as_ref()).await?,
    ))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponIn {
    pub code: String,
}

/// Apply a coupon (one per sale); 422 when unknown, expired or not applicable, with why.
#[utoipa::path(post, path = "/v1/pos/sales/{id}/coupons", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CouponIn,
    responses((status = 201, body = SaleOut), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the sale is not open, has a tender or a coupon", body = ErrorBody)))]
pub async fn add_coupon(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<CouponIn>,
) -> ApiResult<(StatusCode, Json<SaleOut>)> {
    let c = CartChange::Coupon { code: input.code };
    Ok((
        StatusCode::CREATED,
        change(&caller, &st, id, c, None).await?,
    ))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub customer_id: Option<String>,
}

/// Attach (or detach) the sale's customer; re-prices for the customer's group.
#[utoipa::path(put, path = "/v1/pos/sales/{id}/customer", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CustomerIn,
    responses((status = 200, body = SaleOut), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the sale is not open or has a tender", body = ErrorBody)))]
pub async fn set_customer(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<CustomerIn>,
) -> ApiResult<Json<SaleOut>> {
    let c = CartChange::Customer {
        customer_id: input.customer_id,
    };
    change(&caller, &st, id, c, None).await
}

// ---- payments -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIn {
    #[schema(value_type = PaymentMethod)]
    pub method: String,
    /// Default: what is due; a card or a balance pays more than zero and at most what is due.
    #[schema(value_type = Option<AmountNotNegative>)]
    pub amount: Option<MoneyIn>,
    /// Cash only: what the customer handed over.
    #[schema(value_type = Option<AmountNotNegative>)]
    pub tendered: Option<MoneyIn>,
    /// Gift card only: the card's code, 1 to 64 characters.
    pub code: Option<String>,
}

/// How a payment is made (the document's statement of `PaymentIn::method`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PaymentMethod {
    Cash,
    Card,
    GiftCard,
    StoreCredit,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentResult {
    pub payment: PaymentOut,
    pub sale: SaleOut,
}

/// Take a tender. `Idempotency-Key` is required: a retry with the same key and body returns the
/// same payment and never charges twice; the same key with another body is 409.
#[utoipa::path(post, path = "/v1/pos/sales/{id}/payments", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = String, Header)), request_body = PaymentIn,
    responses((status = 201, description = "cash, gift card or store credit taken", body = PaymentResult), (status = 202, description = "card payment sent to the terminal: pending", body = PaymentResult), (status = 200, description = "a retry: the payment the first request made", body = PaymentResult), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the same Idempotency-Key with another body, nothing due, the sale not open, or a balance refused", body = ErrorBody), (status = 422, description = "a missing or malformed Idempotency-Key header, an unknown method or an amount in another currency", body = ErrorBody), (status = 503, description = "device_unavailable: the register's terminal or the central cannot be reached", body = ErrorBody)))]
pub async fn create_payment(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<PaymentResult>)> {
    let reg = register_of_sale(&st, &id).await?;
    cashier(&caller, &reg)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "Idempotency-Key",
                "a payment needs an Idempotency-Key header (1-128 characters)",
            )
        })?
        .to_string();
    let input: PaymentIn = parse_json(&body)?;
    let request_hash = sha256_hex(&String::from_utf8_lossy(&body));
    let amount = input
        .amount
        .as_ref()
        .map(|a| a.minor("amount", &reg))
        .transpose()?;
    let tendered = input
        .tendered
        .as_ref()
        .map(|a| a.minor("tendered", &reg))
        .transpose()?;
    let req = TenderRequest {
        idempotency_key: key,
        request_hash,
        amount,
        tendered,
    };
    let done = match input.method.as_str() {
        "cash" => {
            let done = write(&st, caller.origin(), move |cx| {
                payments::pay_cash(cx, &reg, &id, &req)
            })
            .await?;
            if done.created {
                if !done.sale.is_open() {
                    st.devices.prints_queued();
                }
                publish_payment(&st.events, &done.payment, &done.sale);
                publish_sale(&st.events, &done.sale);
            }
            done
        }
        "card" => {
            if input.code.is_some() {
                return Err(ApiError::unprocessable(
                    "code",
                    "is for gift cards: a card payment is read at the terminal",
                ));
            }
            // Published by the till (pending now, the outcome later).
            st.till.pay_card(caller.origin(), &reg, &id, req).await?
        }
        "gift_card" => {
            let code = input
                .code
                .clone()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty() && c.len() <= 64)
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "code",
                        "a gift card payment needs the card's code (1-64 characters)",
                    )
                })?;
            st.till
                .pay_balance(
                    caller.origin(),
                    &reg,
                    &id,
                    req,
                    BalanceSource::GiftCard { code },
                )
                .await?
        }
        "store_credit" => {
            st.till
                .pay_balance(caller.origin(), &reg, &id, req, BalanceSource::StoreCredit)
                .await?
        }
        other => {
            return Err(ApiError::unprocessable(
                "method",
                format!("unknown method {other}: cash, card, gift_card or store_credit"),
            ))
        }
    };
    let currency = done.sale.currency.clone();
    if done.created && done.payment.state == "declined" && done.payment.method != "card" {
        // A balance the central refused: recorded, nothing spent, the reason for the cashier.
        return Err(ApiError::from(crate::error::Error::conflict(format!(
            "{} refused: {}",
            done.payment.method.replace('_', " "),
            done.payment.error.as_deref().unwrap_or("no reason given")
        ))));
    }
    let status = if !done.created {
        StatusCode::OK
    } else if done.payment.state == "pending" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(PaymentResult {
            payment: payment_out(&done.payment, &currency),
            sale: SaleOut::from(&done.sale),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    /// Long poll: wait up to this many seconds for a pending payment to become final.
    #[param(value_type = Option<rules::WaitSeconds>)]
    pub wait: Option<u64>,
}

/// One payment; with `?wait=` a pending card payment is followed until it is final (at most
/// 30 s). A payment that is already final is answered at once.
#[utoipa::path(get, path = "/v1/pos/payments/{id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path), PaymentQuery),
    responses((status = 200, body = PaymentOut), (status = 404, description = "no payment with this id", body = ErrorBody)))]
pub async fn get_payment(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Q(q): Q<PaymentQuery>,
) -> ApiResult<Json<PaymentOut>> {
    caller.require(Role::Cashier)?;
    if let Some(w) = q.wait {
        rules::WaitSeconds::check_field("wait", i64::try_from(w).unwrap_or(i64::MAX))?;
    }
    let (p, tenant, currency) = payment_with_sale(&st, &id).await?;
    caller.check_tenant(&tenant)?;
    let p = match q.wait {
        Some(w) if w > 0 && p.state == "pending" => st
            .till
            .wait_final(&id, std::time::Duration::from_secs(w))
            .await?
            .unwrap_or(p),
        _ => p,
    };
    Ok(Json(payment_out(&p, &currency)))
}

async fn payment_with_sale(
    st: &AppState,
    id: &str,
) -> std::result::Result<(Payment, String, String), ApiError> {
    let pid = id.to_string();
    let found = st
        .store
        .read(move |c| {
            let Some(p) = pos_store::get_payment(c, &pid)? else {
                return Ok(None);
            };
            let s = pos_store::sale(c, &p.sale_id)?;
            Ok(Some((p, s.tenant_id, s.currency)))
        })
        .await?;
    found.ok_or_else(|| ApiError::not_found(format!("payment {id} not found")))
}

/// Abort a pending card payment: the node asks the terminal to cancel it. The terminal's answer
/// decides; an approval that wins the race stays approved (void the sale to reverse it).
#[utoipa::path(post, path = "/v1/pos/payments/{id}/abort", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = PaymentOut), (status = 404, description = "no payment with this id", body = ErrorBody), (status = 409, description = "the payment is not pending", body = ErrorBody), (status = 503, description = "device_unavailable: the terminal cannot be reached", body = ErrorBody)))]
pub async fn abort_payment(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<(StatusCode, Json<PaymentOut>)> {
    let (p, _, currency) = payment_with_sale(&st, &id).await?;
    let sale_id = p.sale_id.clone();
    let reg = register_of_sale(&st, &sale_id).await?;
    cashier(&caller, &reg)?;
    let p = st.till.abort(caller.origin(), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(payment_out(&p, &currency))))
}

// ---- price check and search ---------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PriceQuery {
    #[param(value_type = rules::NotBlank, required = true)]
    pub register: Option<String>,
    /// A scan or a SKU.
    #[param(value_type = rules::NotBlank, required = true)]
    pub code: Option<String>,
}

/// A query value the document states as required: checked in the handler, after the caller's
/// role, so a caller without the role hears 403 whatever the query holds.
fn required(v: Option<String>, field: &str) -> std::result::Result<String, ApiError> {
    let v = v.ok_or_else(|| ApiError::unprocessable(field, "is required"))?;
    rules::not_blank(usize::MAX).check_field(field, &v)?;
    Ok(v)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceCheck {
    pub sku: String,
    pub name: String,
    pub unit_price: Money,
    /// Names of the automatic promotions a single unit gets now.
    pub promotions: Vec<String>,
    pub tax_code: Option<String>,
    /// On hand at the register's location.
    pub available: i64,
}

/// Price check without a sale.
#[utoipa::path(get, path = "/v1/pos/price", tag = "pos", security(("bearer" = [])),
    params(PriceQuery),
    responses((status = 200, body = PriceCheck), (status = 404, description = "no register with this id", body = ErrorBody), (status = 422, description = "an unknown code, or no price", body = ErrorBody)))]
pub async fn price_check(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<PriceQuery>,
) -> ApiResult<Json<PriceCheck>> {
    caller.require(Role::Cashier)?;
    let reg = register(&st, &required(q.register, "register")?)?;
    reader(&caller, &reg)?;
    let code = required(q.code, "code")?;
    let currency = reg.currency.clone();
    let p = st
        .store
        .read(move |c| sales::price_check(c, &reg, code.trim(), &time::now()))
        .await?;
    Ok(Json(PriceCheck {
        sku: p.sku,
        name: p.name,
        unit_price: money(p.unit_price, &currency),
        promotions: p.promotions,
        tax_code: p.tax_code,
        available: p.available,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductSearch {
    #[param(value_type = rules::NotBlank, required = true)]
    pub register: Option<String>,
    /// Part of a name or SKU, or a whole barcode (white space around it is ignored).
    #[param(value_type = rules::Search64, required = true)]
    pub q: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductHit {
    pub sku: String,
    pub name: String,
    pub unit_price: Option<Money>,
    pub barcodes: Vec<String>,
}

/// The register tenant's products whose name, SKU or barcode matches `q` (at most 50).
#[utoipa::path(get, path = "/v1/pos/products", tag = "pos", security(("bearer" = [])),
    params(ProductSearch),
    responses((status = 200, body = Page<ProductHit>), (status = 404, description = "no register with this id", body = ErrorBody)))]
pub async fn search_products(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<ProductSearch>,
) -> ApiResult<Json<Page<ProductHit>>> {
    caller.require(Role::Cashier)?;
    let reg = register(&st, &required(q.register, "register")?)?;
    reader(&caller, &reg)?;
    let needle = required(q.q, "q")?;
    rules::not_blank(64).check_field("q", &needle)?;
    let needle = needle.trim().to_string();
    let hits = st
        .store
        .read(move |c| prices::search(c, &reg.tenant_id, &needle, SEARCH_LIMIT + 1))
        .await?;
    Ok(Json(page::first_matches(
        hits.into_iter()
            .map(|p| ProductHit {
                unit_price: p.price.map(|a| money(a, &p.currency)),
                sku: p.sku,
                name: p.name,
                barcodes: p.barcodes,
            })
            .collect(),
        SEARCH_LIMIT,
    )))
}

// ---- customers ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Phone, email, loyalty id or name (white space around it is ignored).
    #[param(value_type = rules::Search128, required = true)]
    pub q: Option<String>,
    pub tenant_id: Option<String>,
}

/// Customers by phone, email, loyalty id or name (at most 50).
#[utoipa::path(get, path = "/v1/pos/customers", tag = "pos", security(("bearer" = [])),
    params(CustomerQuery),
    responses((status = 200, body = Page<Customer>)))]
pub async fn search_customers(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<CustomerQuery>,
) -> ApiResult<Json<Page<Customer>>> {
    caller.require(Role::Cashier)?;
    let tenant = caller.tenant_filter(q.tenant_id)?;
    let needle = required(q.q, "q")?;
    rules::not_blank(128).check_field("q", &needle)?;
    let needle = needle.trim().to_string();
    Ok(Json(page::first_matches(
        st.store
            .read(move |c| customers::search(c, tenant.as_deref(), &needle, SEARCH_LIMIT + 1))
            .await?,
        SEARCH_LIMIT,
    )))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: Customer,
    /// The customer's sales at this site, newest first.
    pub sales: Vec<SaleOut>,
}

/// A customer with their sales at this site.
#[utoipa::path(get, path = "/v1/pos/customers/{id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CustomerDetail), (status = 404, description = "no customer with this id", body = ErrorBody)))]
pub async fn get_customer(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<CustomerDetail>> {
    caller.require(Role::Cashier)?;
    let cid = id.clone();
    let found = st
        .store
        .read(move |c| {
            let Some(customer) = customers::get_customer(c, &cid)? else {
                return Ok(None);
            };
            let filter = SaleFilter {
                customer: Some(cid.clone()),
                limit: 100,
                ..SaleFilter::default()
            };
            Ok(Some((customer, pos_store::list_sales(c, &filter)?)))
        })
        .await?;
    let (customer, sales) =
        found.ok_or_else(|| ApiError::not_found(format!("customer {id} not found")))?;
    caller.check_tenant(&customer.tenant_id)?;
    Ok(Json(CustomerDetail {
        customer,
        sales: sales.iter().map(SaleOut::from).collect(),
    }))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerIn {
    #[schema(value_type = pos_customers::CustomerName)]
    pub name: String,
    #[schema(value_type = Option<pos_customers::Email>)]
    pub email: Option<String>,
    #[schema(value_type = Option<pos_customers::Phone>)]
    pub phone: Option<String>,
    /// Default: the caller's tenant, or the site's only register tenant.
    pub tenant_id: Option<String>,
}

/// Register a customer at the till (works offline; `customer.created` goes upstream).
#[utoipa::path(post, path = "/v1/pos/customers", tag = "pos", security(("bearer" = [])),
    request_body = NewCustomerIn,
    responses((status = 201, body = Customer)))]
pub async fn create_customer(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<NewCustomerIn>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    caller.person()?;
    caller.require(Role::Cashier)?;
    let mut tenants: Vec<&str> = st
        .registers
        .values()
        .map(|r| r.tenant_id.as_str())
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    let tenant = match (
        caller.tenant_filter(input.tenant_id.clone())?,
        tenants.as_slice(),
    ) {
        (Some(t), _) => t,
        (None, [only]) => only.to_string(),
        (None, _) => {
            return Err(ApiError::unprocessable(
                "tenant_id",
                "name the tenant: this site's registers sell for several",
            ))
        }
    };
    let new = NewCustomer {
        tenant_id: tenant,
        name: input.name,
        email: input.email,
        phone: input.phone,
    };
    let customer = write(&st, caller.origin(), move |cx| {
        pos_customers::register_customer(cx, new)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(customer)))
}
