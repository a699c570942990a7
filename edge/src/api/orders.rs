//! Fulfillment orders: accept (admin), read (packer), hold/release/cancel (supervisor).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, P, Q};
use super::page::{self, Page, PageJson};
use super::AppState;
use crate::domain::order::Status;
use crate::domain::role::Role;
use crate::domain::time;
use crate::store::orders::{
    self, OrderDetail, OrderFilter, OrderInput, OrderSummary, ReasonInput, SupervisorAction,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    pub tenant_id: Option<String>,
    pub status: Option<Status>,
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
}

/// List orders.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(OrderQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<OrderSummary>)))]
pub async fn list_orders(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<OrderQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Packer)?;
    let limit = page::limit(q.limit)?;
    let filter = OrderFilter {
        tenant_id: caller.tenant_filter(q.tenant_id)?,
        status: q.status,
        after: page::decode(q.cursor.as_deref())?,
        limit: limit + 1,
    };
    Ok(page::read(
        &st.store,
        limit,
        move |c| orders::list_orders(c, &filter),
        |o: &OrderSummary| o.id.clone(),
    )
    .await?)
}

/// One order with its lines, allocation, shipments and timeline.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = OrderDetail), (status = 404, description = "no such order (or one of another tenant)", body = ErrorBody)))]
pub async fn get_order(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<OrderDetail>> {
    caller.require(Role::Packer)?;
    let order = st.store.read(move |c| orders::get_order(c, &id)).await?;
    match order {
        Some(o) if caller.tenant().is_none_or(|t| t == o.tenant_id) => Ok(Json(o)),
        _ => Err(ApiError::not_found("order not found")),
    }
}

/// Accept a fulfillment order locally; stock is reserved at once, or the order is backordered.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = OrderInput, security(("bearer" = [])),
    responses((status = 201, body = OrderDetail), (status = 409, description = "the order exists and has moved on", body = ErrorBody)))]
pub async fn create_order(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<OrderInput>,
) -> ApiResult<(StatusCode, Json<OrderDetail>)> {
    caller.require(Role::Admin)?;
    caller.check_tenant(&input.tenant_id)?;
    let origin = caller.origin();
    let site = st.site_id.clone();
    let order = st
        .store
        .write(move |c| orders::accept(c, &site, &origin, &time::now(), input))
        .await?;
    publish_status(&st, &order);
    Ok((StatusCode::CREATED, Json(order)))
}

/// Tell live screens about an order's latest status.
fn publish_status(st: &AppState, order: &OrderDetail) {
    if let Some(last) = order.timeline.last() {
        st.events.publish(
            "order.status_changed",
            serde_json::json!({"order_id": order.id, "tenant_id": order.tenant_id,
                               "from": last.from, "to": last.to, "note": last.note, "at": last.at}),
        );
    }
}

async fn act(
    caller: Caller,
    st: AppState,
    id: String,
    body: Option<ReasonInput>,
    what: SupervisorAction,
) -> ApiResult<Json<OrderDetail>> {
    caller.require(Role::Supervisor)?;
    let origin = caller.origin();
    let site = st.site_id.clone();
    let scope = caller.tenant().map(str::to_string);
    let reason = body.and_then(|b| b.reason);
    let order = st
        .store
        .write(move |c| {
            let now = time::now();
            let cx = crate::store::Ctx {
                conn: c,
                site: &site,
                origin: &origin,
                now: &now,
            };
            orders::act(&cx, &id, scope.as_deref(), what, reason)
        })
        .await?;
    publish_status(&st, &order);
    Ok(Json(order))
}

/// Put an order on hold: no step takes it further until it is released.
#[utoipa::path(post, path = "/v1/orders/{id}/hold", tag = "orders", params(("id" = String, Path)),
    request_body = ReasonInput, security(("bearer" = [])),
    responses((status = 200, body = OrderDetail), (status = 404, description = "no order with this id", body = ErrorBody), (status = 409, description = "the order cannot be held now (shipped, cancelled)", body = ErrorBody)))]
pub async fn hold_order(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(b): Body<ReasonInput>,
) -> ApiResult<Json<OrderDetail>> {
    act(caller, st, id, Some(b), SupervisorAction::Hold).await
}

/// Release a held order back to where it was.
#[utoipa::path(post, path = "/v1/orders/{id}/release", tag = "orders", params(("id" = String, Path)),
    request_body = ReasonInput, security(("bearer" = [])),
    responses((status = 200, body = OrderDetail), (status = 404, description = "no order with this id", body = ErrorBody), (status = 409, description = "the order is not on hold", body = ErrorBody)))]
pub async fn release_order(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(b): Body<ReasonInput>,
) -> ApiResult<Json<OrderDetail>> {
    act(caller, st, id, Some(b), SupervisorAction::Release).await
}

/// Cancel an order and release its reservations; 409 once it has shipped.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", params(("id" = String, Path)),
    request_body = ReasonInput, security(("bearer" = [])),
    responses((status = 200, body = OrderDetail), (status = 404, description = "no order with this id", body = ErrorBody), (status = 409, description = "too late: the order has shipped", body = ErrorBody)))]
pub async fn cancel_order(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(b): Body<ReasonInput>,
) -> ApiResult<Json<OrderDetail>> {
    act(caller, st, id, Some(b), SupervisorAction::Cancel).await
}
