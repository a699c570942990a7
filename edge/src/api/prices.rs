//! What the till prices with, for site IT and tests without a central: tax rates and promotions
//! (normally sent down as `tax_rate.upsert` and `promotion.upsert`; the same checks apply).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Body, P, Q};
use super::page::{self, Page};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::rules;
use crate::domain::time;
use crate::store::base::prices::{self, PromotionRow, TaxRateRow};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateIn {
    pub name: Option<String>,
    /// Decimal percent, e.g. `"8.875"`.
    #[schema(value_type = rules::Percent100Text)]
    pub rate: String,
    pub version: Option<i64>,
}

/// The tax rates in force at this site.
#[utoipa::path(get, path = "/v1/tax-rates", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = Page<TaxRateRow>)))]
pub async fn list_tax_rates(
    caller: Caller,
    State(st): State<AppState>,
) -> ApiResult<Json<Page<TaxRateRow>>> {
    caller.require(Role::Cashier)?;
    Ok(Json(page::whole(st.store.read(prices::tax_rates).await?)))
}

/// Create or replace a tax rate.
#[utoipa::path(put, path = "/v1/tax-rates/{code}", tag = "catalog", params(("code" = rules::Ident, Path)),
    request_body = TaxRateIn, security(("bearer" = [])),
    responses((status = 200, body = TaxRateRow)))]
pub async fn put_tax_rate(
    caller: Caller,
    State(st): State<AppState>,
    P(code): P<String>,
    Body(input): Body<TaxRateIn>,
) -> ApiResult<Json<TaxRateRow>> {
    caller.require(Role::Admin)?;
    if caller.tenant().is_some() {
        return Err(ApiError::forbidden(
            "tax rates are site-wide; a tenant key cannot change them",
        ));
    }
    let row = TaxRateRow {
        code,
        name: input.name,
        rate: input.rate,
        version: input.version,
    };
    let origin = caller.origin();
    let r = row.clone();
    st.store
        .write(move |c| prices::put_tax_rate(c, &origin, &time::now(), &r))
        .await?;
    Ok(Json(row))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PromotionQuery {
    /// Checked in the handler, after the caller's role (a caller without it hears 403).
    #[param(required = true)]
    pub tenant_id: Option<String>,
}

/// A tenant's promotions and coupons.
#[utoipa::path(get, path = "/v1/promotions", tag = "catalog", params(PromotionQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<PromotionRow>)))]
pub async fn list_promotions(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<PromotionQuery>,
) -> ApiResult<Json<Page<PromotionRow>>> {
    caller.require(Role::Supervisor)?;
    let tenant = q
        .tenant_id
        .ok_or_else(|| ApiError::unprocessable("tenant_id", "is required"))?;
    caller.check_tenant(&tenant)?;
    Ok(Json(page::whole(
        st.store
            .read(move |c| prices::promotions(c, &tenant))
            .await?,
    )))
}

/// Create or replace a promotion (`code` null: automatic; else a coupon).
#[utoipa::path(put, path = "/v1/promotions/{id}", tag = "catalog", params(("id" = String, Path)),
    request_body = PromotionRow, security(("bearer" = [])),
    responses((status = 200, body = PromotionRow)))]
pub async fn put_promotion(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<PromotionRow>,
) -> ApiResult<(StatusCode, Json<PromotionRow>)> {
    caller.require(Role::Admin)?;
    caller.check_tenant(&input.tenant_id)?;
    if input.id != id {
        return Err(ApiError::unprocessable("id", "must equal the path's id"));
    }
    let origin = caller.origin();
    let r = input.clone();
    st.store
        .write(move |c| prices::put_promotion(c, &origin, &time::now(), &r))
        .await?;
    Ok((StatusCode::OK, Json(input)))
}
