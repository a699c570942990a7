//! Inventory: stock positions, adjustments and cycle counts, all through the one ledger.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiResult, ErrorBody};
use super::extract::{Body, Q};
use super::page::{self, Page, PageJson};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::time;
use crate::store::stock::ledger::{
    self, AdjustmentInput, CountInput, LedgerEntry, StockFilter, StockRow,
};
use crate::store::workflow::count;
use crate::store::Ctx;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InventoryQuery {
    pub tenant_id: Option<String>,
    pub sku: Option<String>,
    pub location: Option<String>,
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
}

/// Stock positions: on hand, reserved and available per sku, location and lot.
#[utoipa::path(get, path = "/v1/inventory", tag = "inventory", params(InventoryQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<StockRow>)))]
pub async fn list_inventory(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<InventoryQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Picker)?;
    let limit = page::limit(q.limit)?;
    let filter = StockFilter {
        tenant_id: caller.tenant_filter(q.tenant_id)?,
        sku: q.sku,
        location: q.location,
        after: page::decode(q.cursor.as_deref())?,
        limit: limit + 1,
    };
    Ok(page::stream(&st.store, limit, move |c, page| {
        ledger::each_stock(c, &filter, |r| page.row(r, r.key()))
    })
    .await?)
}

/// Book an adjustment; 409 when it would make available stock negative.
#[utoipa::path(post, path = "/v1/inventory/adjustments", tag = "inventory", request_body = AdjustmentInput,
    security(("bearer" = [])),
    responses((status = 201, body = LedgerEntry), (status = 409, description = "it would make available stock negative", body = ErrorBody)))]
pub async fn create_adjustment(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<AdjustmentInput>,
) -> ApiResult<(StatusCode, Json<LedgerEntry>)> {
    caller.require(Role::Supervisor)?;
    caller.check_tenant(&input.tenant_id)?;
    let origin = caller.origin();
    let site = st.site_id.clone();
    let entry = st
        .store
        .write(move |c| ledger::adjust(c, &site, &origin, &time::now(), input))
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Record a cycle count; books the difference (201), or nothing when it matches (200).
#[utoipa::path(post, path = "/v1/inventory/counts", tag = "inventory", request_body = CountInput,
    security(("bearer" = [])),
    responses((status = 201, description = "the difference, booked", body = LedgerEntry), (status = 200, description = "the count matched: nothing booked", body = LedgerEntry), (status = 409, description = "the count cannot be booked in the current state", body = ErrorBody)))]
pub async fn create_count(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<CountInput>,
) -> ApiResult<(StatusCode, Json<LedgerEntry>)> {
    caller.require(Role::Picker)?;
    caller.check_tenant(&input.tenant_id)?;
    let origin = caller.origin();
    let site = st.site_id.clone();
    let entry = st
        .store
        .write(move |c| {
            let now = time::now();
            let cx = Ctx {
                conn: c,
                site: &site,
                origin: &origin,
                now: &now,
            };
            count::count(&cx, input)
        })
        .await?;
    let status = if entry.id.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry)))
}
