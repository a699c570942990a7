//! The till's second half over HTTP (pos-api.md): voids, refunds, returns without a receipt and
//! receipt reprints. Mutations need a floor user's session; a supervisor approves by being the
//! caller or by an `approval` object, which is audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, P};
use super::pos::{cashier, money, reader, register, register_of_sale, write, SaleOut};
use super::sessions::{approver, Approval};
use super::AppState;
use crate::domain::pos::refund::RefundTo;
use crate::domain::role::Role;
use crate::domain::rules;
use crate::store::base::audit;
use crate::store::base::catalog::Money;
use crate::store::workflow::pos::receipt::queue_reprint;
use crate::store::workflow::pos::refund::{self, Refund, RefundIn, RefundLineIn, ReturnLineIn};
use crate::store::workflow::pos::void::VoidIn;
use crate::store::workflow::pos::{self as pos_store};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {
    #[schema(value_type = rules::NotBlank)]
    pub reason: String,
    pub approval: Option<Approval>,
}

/// Void a sale: an open sale with nothing paid by the cashier; one that has taken money (open,
/// or completed in this session) by a supervisor, every card payment reversed at the terminal
/// first. A reversal the terminal refuses leaves the sale as it was (409 with the reason).
#[utoipa::path(post, path = "/v1/pos/sales/{id}/void", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = VoidBody,
    responses((status = 200, body = SaleOut), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the sale cannot be voided, or the terminal refused a reversal", body = ErrorBody), (status = 429, description = "the approving badge is locked after five wrong PINs", body = ErrorBody), (status = 503, description = "device_unavailable: the terminal could not be reached", body = ErrorBody)))]
pub async fn void_sale(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<VoidBody>,
) -> ApiResult<Json<SaleOut>> {
    let reg = register_of_sale(&st, &id).await?;
    cashier(&caller, &reg)?;
    let approved_by = approver(&st, &caller, input.approval.as_ref())
        .await?
        .map(|p| p.user_id);
    let s = st
        .till
        .void_sale(
            caller.origin(),
            &reg,
            &id,
            VoidIn {
                reason: input.reason,
                approved_by,
            },
        )
        .await?;
    st.devices.prints_queued();
    Ok(Json(SaleOut::from(&s)))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineBody {
    /// A line of the sale, named once per refund.
    pub line_id: String,
    #[schema(minimum = 1)]
    pub qty: i64,
    /// Back on the shelf (`sale_returned`); false records the units as damaged.
    #[serde(default = "yes")]
    pub restock: bool,
}

fn yes() -> bool {
    true
}

/// Where a refund's money goes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum TenderChoice {
    /// The original tenders: cards first (referenced refund at the terminal), then cash.
    #[default]
    Original,
    Cash,
    StoreCredit,
}

impl From<TenderChoice> for RefundTo {
    fn from(t: TenderChoice) -> Self {
        match t {
            TenderChoice::Original => RefundTo::Original,
            TenderChoice::Cash => RefundTo::Cash,
            TenderChoice::StoreCredit => RefundTo::StoreCredit,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    #[schema(min_items = 1)]
    pub lines: Vec<RefundLineBody>,
    #[schema(value_type = rules::NotBlank)]
    pub reason: String,
    pub approval: Option<Approval>,
    #[serde(default)]
    pub tender: TenderChoice,
    /// The register whose drawer pays it (default: the sale's).
    pub register_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundLineOut {
    pub line_id: String,
    pub sku: String,
    pub qty: i64,
    pub amount: Money,
    pub tax: Money,
    pub restock: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundTenderOut {
    pub method: String,
    pub amount: Money,
    /// `pending`, `approved` or `refused` (a refused card share is paid in cash).
    pub state: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundOut {
    pub id: String,
    /// Null for a return without a receipt.
    pub sale_id: Option<String>,
    pub register_id: String,
    pub session_id: String,
    /// `pending` (a card refund awaits the terminal) or `completed`.
    pub state: String,
    pub lines: Vec<RefundLineOut>,
    pub amount: Money,
    pub tax: Money,
    pub tenders: Vec<RefundTenderOut>,
    pub reason: String,
    pub approved_by: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

impl From<&Refund> for RefundOut {
    fn from(r: &Refund) -> Self {
        let c = r.currency.as_str();
        RefundOut {
            id: r.id.clone(),
            sale_id: r.sale_id.clone(),
            register_id: r.register_id.clone(),
            session_id: r.session_id.clone(),
            state: r.state.clone(),
            lines: r
                .lines
                .iter()
                .map(|l| RefundLineOut {
                    line_id: l.line_id.clone(),
                    sku: l.sku.clone(),
                    qty: l.qty,
                    amount: money(l.amount, c),
                    tax: money(l.tax, c),
                    restock: l.restock,
                })
                .collect(),
            amount: money(r.amount, c),
            tax: money(r.tax, c),
            tenders: r
                .tenders
                .iter()
                .map(|t| RefundTenderOut {
                    method: t.method.clone(),
                    amount: money(t.amount, c),
                    state: t.state.clone(),
                    detail: t.detail.clone(),
                })
                .collect(),
            reason: r.reason.clone(),
            approved_by: r.approved_by.clone(),
            created_at: r.created_at.clone(),
            completed_at: r.completed_at.clone(),
        }
    }
}

fn publish_refund(st: &AppState, r: &Refund) {
    st.events.publish(
        "pos.refund",
        json!({"refund_id": r.id, "sale_id": r.sale_id, "register_id": r.register_id,
               "tenant_id": r.tenant_id, "state": r.state,
               "amount": money(r.amount, &r.currency)}),
    );
}

/// Refund lines of a completed sale: each unit returns exactly its share of what its line was
/// charged. Asking for more than remains is 409; a sale older than the register's return window
/// needs a supervisor.
#[utoipa::path(post, path = "/v1/pos/sales/{id}/refunds", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RefundBody,
    responses((status = 201, body = RefundOut), (status = 404, description = "no such sale or register", body = ErrorBody), (status = 409, description = "more than remains, or the sale is not completed", body = ErrorBody), (status = 429, description = "the approving badge is locked after five wrong PINs", body = ErrorBody), (status = 503, description = "device_unavailable: the terminal or the central could not be reached", body = ErrorBody)))]
pub async fn refund_sale(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<RefundBody>,
) -> ApiResult<(StatusCode, Json<RefundOut>)> {
    let sold_at = register_of_sale(&st, &id).await?;
    let reg = match &input.register_id {
        Some(r) => register(&st, r)?,
        None => sold_at,
    };
    let who = cashier(&caller, &reg)?;
    let approved_by = approver(&st, &caller, input.approval.as_ref())
        .await?
        .map(|p| p.user_id);
    let r = RefundIn {
        lines: input
            .lines
            .into_iter()
            .map(|l| RefundLineIn {
                line_id: l.line_id,
                qty: l.qty,
                restock: l.restock,
            })
            .collect(),
        reason: input.reason,
        approved_by,
        to: input.tender.into(),
        customer_id: None,
    };
    let rf = st
        .till
        .refund_sale(caller.origin(), &reg, &id, &who, r)
        .await?;
    st.devices.prints_queued();
    publish_refund(&st, &rf);
    if let Ok(s) = st.till.sale(&id).await {
        crate::till::publish_sale(&st.events, &s);
    }
    Ok((StatusCode::CREATED, Json(RefundOut::from(&rf))))
}

/// One refund.
#[utoipa::path(get, path = "/v1/pos/refunds/{id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RefundOut), (status = 404, description = "no refund with this id", body = ErrorBody)))]
pub async fn get_refund(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<RefundOut>> {
    caller.require(Role::Cashier)?;
    let rid = id.clone();
    let rf = st
        .store
        .read(move |c| refund::get_refund(c, &rid))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("refund {id} not found")))?;
    caller.check_tenant(&rf.tenant_id)?;
    Ok(Json(RefundOut::from(&rf)))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineBody {
    pub sku: String,
    #[schema(value_type = rules::TillQty)]
    pub qty: i64,
    /// What the customer gets back per unit, tax included.
    #[schema(value_type = super::pos::AmountNotNegative)]
    pub unit_price: super::pos::MoneyIn,
    #[serde(default = "yes")]
    pub restock: bool,
}

/// Cash or store credit for a return without a receipt.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReturnTender {
    #[default]
    Cash,
    StoreCredit,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    pub register_id: String,
    #[schema(min_items = 1)]
    pub lines: Vec<ReturnLineBody>,
    #[schema(value_type = rules::NotBlank)]
    pub reason: String,
    pub approval: Option<Approval>,
    #[serde(default)]
    pub tender: ReturnTender,
    /// Whose store credit receives it (required with `tender: store_credit`).
    pub customer_id: Option<String>,
}

/// A return without a receipt (always a supervisor's approval).
#[utoipa::path(post, path = "/v1/pos/returns", tag = "pos", security(("bearer" = [])),
    request_body = ReturnBody,
    responses((status = 201, body = RefundOut), (status = 404, description = "no such register", body = ErrorBody), (status = 409, description = "the session is not open", body = ErrorBody), (status = 429, description = "the approving badge is locked after five wrong PINs", body = ErrorBody), (status = 503, description = "device_unavailable: the central could not be reached for store credit", body = ErrorBody)))]
pub async fn create_return(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<ReturnBody>,
) -> ApiResult<(StatusCode, Json<RefundOut>)> {
    let reg = register(&st, &input.register_id)?;
    let who = cashier(&caller, &reg)?;
    let approved_by = approver(&st, &caller, input.approval.as_ref())
        .await?
        .map(|p| p.user_id);
    if approved_by.is_none() {
        return Err(ApiError::forbidden(
            "a return without a receipt needs a supervisor's approval",
        ));
    }
    let mut lines = Vec::with_capacity(input.lines.len());
    for l in &input.lines {
        lines.push(ReturnLineIn {
            sku: l.sku.clone(),
            qty: l.qty,
            unit_price: l.unit_price.minor("unit_price", &reg)?,
            restock: l.restock,
        });
    }
    if lines.is_empty() {
        return Err(ApiError::unprocessable("lines", "name at least one line"));
    }
    if matches!(input.tender, ReturnTender::StoreCredit) {
        st.till.balance_ready()?;
    }
    let r = RefundIn {
        lines: Vec::new(),
        reason: input.reason,
        approved_by,
        to: match input.tender {
            ReturnTender::Cash => RefundTo::Cash,
            ReturnTender::StoreCredit => RefundTo::StoreCredit,
        },
        customer_id: input.customer_id,
    };
    let reg2 = reg.clone();
    let rf = write(&st, caller.origin(), move |cx| {
        refund::begin_return(cx, &reg2, &who, &lines, &r)
    })
    .await?;
    let rf = st
        .till
        .give_back_refund(caller.origin(), &reg, &rf.id)
        .await?;
    st.devices.prints_queued();
    publish_refund(&st, &rf);
    Ok((StatusCode::CREATED, Json(RefundOut::from(&rf))))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReprintBody {
    /// A copy of the receipt (marked COPY); the default.
    #[serde(default = "yes")]
    pub copy: bool,
    /// A gift receipt: items and quantities, no prices.
    #[serde(default)]
    pub gift: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReprintOut {
    /// False when the register has no receipt printer.
    pub queued: bool,
}

/// Reprint a completed sale's receipt (COPY) or print a gift receipt; the drawer stays shut.
#[utoipa::path(post, path = "/v1/pos/sales/{id}/receipt", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReprintBody,
    responses((status = 202, body = ReprintOut), (status = 404, description = "no sale with this id", body = ErrorBody), (status = 409, description = "the sale is not completed", body = ErrorBody)))]
pub async fn reprint(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<ReprintBody>,
) -> ApiResult<(StatusCode, Json<ReprintOut>)> {
    let reg = register_of_sale(&st, &id).await?;
    reader(&caller, &reg)?;
    caller.person()?;
    let _ = input.copy;
    let gift = input.gift;
    let queued = write(&st, caller.origin(), move |cx| {
        let s = pos_store::sale(cx.conn, &id)?;
        if s.status != "completed" {
            return Err(crate::error::Error::conflict(format!(
                "sale {id} is {}: only a completed sale has a receipt",
                s.status
            )));
        }
        let queued = queue_reprint(cx, &reg, &s, gift)?;
        audit::record(
            cx.conn,
            cx.origin,
            cx.now,
            "pos.receipt_reprinted",
            &format!("sale:{id}"),
            &json!({"gift": gift, "receipt_no": s.receipt_no}),
        )?;
        Ok(queued)
    })
    .await?;
    st.devices.prints_queued();
    Ok((StatusCode::ACCEPTED, Json(ReprintOut { queued })))
}
