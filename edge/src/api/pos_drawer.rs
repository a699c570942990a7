//! The drawer and the day over HTTP (pos-api.md): a session with its running X report, cash
//! movements, the close with counted cash (the Z report), and the store's sales report over any
//! period.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, P, Q};
use super::pos::{cashier, money, reader, register, write, MoneyIn, SessionOut};
use super::sessions::{approver, Approval};
use super::AppState;
use crate::domain::pos::report::{PeriodReport, Report};
use crate::domain::role::Role;
use crate::domain::rules;
use crate::store::base::catalog::Money;
use crate::store::workflow::pos::cash::{self, MovementIn};
use crate::store::workflow::pos::registers;
use crate::store::workflow::pos::reports;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub session: SessionOut,
    /// The running X report while open; the Z report once closed.
    pub report: Report,
}

/// A register session with its report; reading it changes nothing.
#[utoipa::path(get, path = "/v1/pos/sessions/{id}", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SessionDetail), (status = 404, description = "no session with this id", body = ErrorBody)))]
pub async fn get_session(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<SessionDetail>> {
    caller.require(Role::Cashier)?;
    let sid = id.clone();
    let session = st
        .store
        .read(move |c| registers::get_session(c, &sid))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("session {id} not found")))?;
    let reg = register(&st, &session.register_id)?;
    reader(&caller, &reg)?;
    let sid = id.clone();
    let report = st
        .store
        .read(move |c| reports::session_report_now(c, &reg, &sid))
        .await?;
    Ok(Json(SessionDetail {
        session: session.into(),
        report,
    }))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovementBody {
    /// `pay_in`, `pay_out`, `safe_drop` or `no_sale`.
    pub kind: MovementKind,
    /// 0 for a no-sale, more than zero otherwise.
    #[schema(value_type = super::pos::AmountNotNegative)]
    pub amount: MoneyIn,
    /// Needed for a pay-in or pay-out; at most 200 characters (white space around it ignored).
    pub reason: Option<String>,
    pub approval: Option<Approval>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    PayIn,
    PayOut,
    SafeDrop,
    NoSale,
}

impl MovementKind {
    fn as_str(self) -> &'static str {
        match self {
            MovementKind::PayIn => "pay_in",
            MovementKind::PayOut => "pay_out",
            MovementKind::SafeDrop => "safe_drop",
            MovementKind::NoSale => "no_sale",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MovementOut {
    pub id: String,
    pub session_id: String,
    pub register_id: String,
    pub kind: String,
    pub amount: Money,
    pub reason: Option<String>,
    pub cashier: String,
    pub approved_by: Option<String>,
    pub created_at: String,
}

/// Cash in or out of the drawer without a sale; the drawer opens. A no-sale needs a supervisor;
/// none happens while a sale is open; a pay-out or drop never exceeds what the drawer should hold.
#[utoipa::path(post, path = "/v1/pos/sessions/{id}/cash-movements", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MovementBody,
    responses((status = 201, body = MovementOut), (status = 404, description = "no session with this id", body = ErrorBody), (status = 409, description = "the session is closed, a sale is open, or the drawer holds less", body = ErrorBody), (status = 429, description = "the approving badge is locked after five wrong PINs", body = ErrorBody)))]
pub async fn cash_movement(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<MovementBody>,
) -> ApiResult<(StatusCode, Json<MovementOut>)> {
    let reg = register_of_session(&st, &id).await?;
    let who = cashier(&caller, &reg)?;
    let amount = input.amount.minor("amount", &reg)?;
    let approved_by = approver(&st, &caller, input.approval.as_ref())
        .await?
        .map(|p| p.user_id);
    let m = MovementIn {
        kind: input.kind.as_str().into(),
        amount,
        reason: input.reason,
        approved_by,
    };
    let r = reg.clone();
    let mv = write(&st, caller.origin(), move |cx| {
        cash::cash_movement(cx, &r, &id, &who, m)
    })
    .await?;
    st.devices.prints_queued();
    st.events.publish(
        "pos.register",
        json!({"register_id": reg.id, "tenant_id": reg.tenant_id, "state": "open",
               "session_id": mv.session_id, "cash_movement": mv.kind,
               "amount": money(mv.amount, &reg.currency)}),
    );
    Ok((
        StatusCode::CREATED,
        Json(MovementOut {
            amount: money(mv.amount, &reg.currency),
            id: mv.id,
            session_id: mv.session_id,
            register_id: mv.register_id,
            kind: mv.kind,
            reason: mv.reason,
            cashier: mv.cashier,
            approved_by: mv.approved_by,
            created_at: mv.created_at,
        }),
    ))
}

async fn register_of_session(
    st: &AppState,
    id: &str,
) -> std::result::Result<crate::config::RegisterConfig, ApiError> {
    let sid = id.to_string();
    let session = st
        .store
        .read(move |c| registers::get_session(c, &sid))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("session {id} not found")))?;
    register(st, &session.register_id)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    #[schema(value_type = super::pos::AmountNotNegative)]
    pub counted_cash: MoneyIn,
    #[schema(value_type = Option<CloseNote>)]
    pub note: Option<String>,
}

/// A closing note: at most 500 characters of anything.
const CLOSE_NOTE: rules::Text = rules::Text {
    min: 0,
    max: 500,
    forbidden: &[],
    forbidden_are: "",
    visible: false,
    must_hold: None,
};

/// [`CLOSE_NOTE`] in the document.
pub struct CloseNote;

impl utoipa::PartialSchema for CloseNote {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        CLOSE_NOTE.schema("A note on the close: at most 500 characters.")
    }
}

impl ToSchema for CloseNote {}

/// Close the session with the counted cash: the Z report (numbered per register, never
/// repeated), printed on the register's printer and sent upstream. 409 while a sale is open or a
/// card payment, reversal or refund is unresolved, and for a session already closed.
#[utoipa::path(post, path = "/v1/pos/sessions/{id}/close", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CloseBody,
    responses((status = 200, body = Report), (status = 404, description = "no session with this id", body = ErrorBody), (status = 409, description = "the session is closed, or a sale, card payment, reversal or refund is unresolved", body = ErrorBody)))]
pub async fn close_session(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<CloseBody>,
) -> ApiResult<Json<Report>> {
    let reg = register_of_session(&st, &id).await?;
    cashier(&caller, &reg)?;
    let counted = input.counted_cash.minor("counted_cash", &reg)?;
    if counted < 0 {
        return Err(ApiError::unprocessable(
            "counted_cash",
            "must not be negative",
        ));
    }
    if let Some(n) = &input.note {
        CLOSE_NOTE.check_field("note", n)?;
    }
    let r = reg.clone();
    let note = input.note;
    let report = write(&st, caller.origin(), move |cx| {
        reports::close_session(cx, &r, &id, counted, note.as_deref())
    })
    .await?;
    st.devices.prints_queued();
    st.events.publish(
        "pos.register",
        json!({"register_id": reg.id, "tenant_id": reg.tenant_id, "state": "closed",
               "session_id": report.session_id, "z_no": report.z_no}),
    );
    Ok(Json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesReportQuery {
    /// From this instant, inclusive.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Up to this instant, exclusive.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// One register (default: all).
    pub register: Option<String>,
    /// Default: the registers' currency.
    #[param(value_type = Option<rules::Currency>)]
    pub currency: Option<String>,
}

fn instant(field: &str, v: &Option<String>) -> std::result::Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| Some(crate::domain::time::format(d.with_timezone(&chrono::Utc))))
            .map_err(|_| ApiError::unprocessable(field, "must be an RFC 3339 time")),
    }
}

/// The store's sales over a period: totals, by payment method, tax, cashier and register.
#[utoipa::path(get, path = "/v1/pos/reports/sales", tag = "pos", security(("bearer" = [])),
    params(SalesReportQuery),
    responses((status = 200, body = PeriodReport), (status = 404, description = "no register with this id", body = ErrorBody)))]
pub async fn sales_report(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<SalesReportQuery>,
) -> ApiResult<Json<PeriodReport>> {
    caller.require(Role::Supervisor)?;
    let from = instant("from", &q.from)?;
    let to = instant("to", &q.to)?;
    let mut regs: Vec<crate::config::RegisterConfig> = st
        .registers
        .values()
        .filter(|r| caller.tenant().is_none_or(|t| t == r.tenant_id))
        .cloned()
        .collect();
    regs.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(r) = &q.register {
        let one = register(&st, r)?;
        caller.check_tenant(&one.tenant_id)?;
    }
    let currency = match (&q.currency, &q.register) {
        (Some(c), _) => c.clone(),
        (None, Some(r)) => register(&st, r)?.currency,
        (None, None) => regs
            .first()
            .map(|r| r.currency.clone())
            .unwrap_or_else(|| "USD".into()),
    };
    rules::CURRENCY.check_field("currency", &currency)?;
    let register_id = q.register;
    let tenant = caller.tenant().map(str::to_string);
    Ok(Json(
        st.store
            .read(move |c| {
                reports::period_report(
                    c,
                    &regs,
                    from.as_deref(),
                    to.as_deref(),
                    register_id.as_deref(),
                    &currency,
                    tenant.as_deref(),
                )
            })
            .await?,
    ))
}
