//! Products, locations and floor users: what the site knows, created locally or synced down.

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
use crate::domain::role::Role;
use crate::domain::time;
use crate::store::base::catalog::{
    self, Location, LocationInput, Product, ProductInput, User, UserInput,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantPageQuery {
    pub tenant_id: Option<String>,
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
}

fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// List products.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(TenantPageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Product>)))]
pub async fn list_products(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<TenantPageQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Supervisor)?;
    let limit = page::limit(q.limit)?;
    let after: Option<(String, String)> = page::decode(q.cursor.as_deref())?;
    let tenant = caller.tenant_filter(q.tenant_id)?;
    Ok(page::read(
        &st.store,
        limit,
        move |c| catalog::list_products(c, tenant.as_deref(), after, limit + 1),
        |p: &Product| (p.tenant_id.clone(), p.sku.clone()),
    )
    .await?)
}

/// One product.
#[utoipa::path(get, path = "/v1/products/{tenant_id}/{sku}", tag = "catalog",
    params(("tenant_id" = String, Path), ("sku" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 404, description = "no such product (or one of another tenant)", body = ErrorBody)))]
pub async fn get_product(
    caller: Caller,
    State(st): State<AppState>,
    P((tenant, sku)): P<(String, String)>,
) -> ApiResult<Json<Product>> {
    caller.require(Role::Supervisor)?;
    if caller.tenant().is_some_and(|t| t != tenant) {
        return Err(ApiError::not_found("product not found"));
    }
    st.store
        .read(move |c| catalog::get_product(c, &tenant, &sku))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("product not found"))
}

/// Create or replace a product (201 when created, 200 when replaced).
#[utoipa::path(put, path = "/v1/products/{tenant_id}/{sku}", tag = "catalog",
    params(("tenant_id" = String, Path), ("sku" = String, Path)), request_body = ProductInput,
    security(("bearer" = [])),
    responses((status = 200, description = "replaced", body = Product), (status = 201, description = "created", body = Product)))]
pub async fn put_product(
    caller: Caller,
    State(st): State<AppState>,
    P((tenant, sku)): P<(String, String)>,
    Body(input): Body<ProductInput>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    caller.require(Role::Admin)?;
    caller.check_tenant(&tenant)?;
    let origin = caller.origin();
    let (p, created) = st
        .store
        .write(move |c| catalog::put_product(c, &origin, &time::now(), &tenant, &sku, input))
        .await?;
    Ok((created_or_ok(created), Json(p)))
}

/// List locations.
#[utoipa::path(get, path = "/v1/locations", tag = "catalog", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<Location>)))]
pub async fn list_locations(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<PageQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Supervisor)?;
    let limit = page::limit(q.limit)?;
    let after: Option<String> = page::decode(q.cursor.as_deref())?;
    Ok(page::read(
        &st.store,
        limit,
        move |c| catalog::list_locations(c, after.as_deref(), limit + 1),
        |l: &Location| l.code.clone(),
    )
    .await?)
}

/// One location.
#[utoipa::path(get, path = "/v1/locations/{code}", tag = "catalog", params(("code" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Location), (status = 404, description = "no location with this id", body = ErrorBody)))]
pub async fn get_location(
    caller: Caller,
    State(st): State<AppState>,
    P(code): P<String>,
) -> ApiResult<Json<Location>> {
    caller.require(Role::Supervisor)?;
    st.store
        .read(move |c| catalog::get_location(c, &code))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("location not found"))
}

/// Create or replace a location.
#[utoipa::path(put, path = "/v1/locations/{code}", tag = "catalog", params(("code" = String, Path)),
    request_body = LocationInput, security(("bearer" = [])),
    responses((status = 200, description = "replaced", body = Location), (status = 201, description = "created", body = Location)))]
pub async fn put_location(
    caller: Caller,
    State(st): State<AppState>,
    P(code): P<String>,
    Body(input): Body<LocationInput>,
) -> ApiResult<(StatusCode, Json<Location>)> {
    caller.require(Role::Admin)?;
    if caller.tenant().is_some() {
        return Err(ApiError::forbidden(
            "locations are site-wide; a tenant key cannot change them",
        ));
    }
    let origin = caller.origin();
    let (l, created) = st
        .store
        .write(move |c| catalog::put_location(c, &origin, &time::now(), &code, input))
        .await?;
    Ok((created_or_ok(created), Json(l)))
}

/// List floor users (never their PINs).
#[utoipa::path(get, path = "/v1/users", tag = "catalog", params(TenantPageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<User>)))]
pub async fn list_users(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<TenantPageQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Supervisor)?;
    let limit = page::limit(q.limit)?;
    let after: Option<String> = page::decode(q.cursor.as_deref())?;
    let tenant = caller.tenant_filter(q.tenant_id)?;
    Ok(page::read(
        &st.store,
        limit,
        move |c| catalog::list_users(c, tenant.as_deref(), after.as_deref(), limit + 1),
        |u: &User| u.id.clone(),
    )
    .await?)
}

/// One floor user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "catalog", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = User), (status = 404, description = "no such user (or one of another tenant)", body = ErrorBody)))]
pub async fn get_user(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<User>> {
    caller.require(Role::Supervisor)?;
    let user = st.store.read(move |c| catalog::get_user(c, &id)).await?;
    match user {
        Some(u)
            if caller.tenant().is_none()
                || u.tenant_id.is_none()
                || u.tenant_id.as_deref() == caller.tenant() =>
        {
            Ok(Json(u))
        }
        _ => Err(ApiError::not_found("user not found")),
    }
}

/// Create or replace a floor user; the PIN is hashed (Argon2id) on arrival and never returned.
#[utoipa::path(put, path = "/v1/users/{id}", tag = "catalog", params(("id" = String, Path)),
    request_body = UserInput, security(("bearer" = [])),
    responses((status = 200, description = "replaced", body = User), (status = 201, description = "created", body = User), (status = 409, description = "the badge belongs to another user", body = ErrorBody)))]
pub async fn put_user(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Body(input): Body<UserInput>,
) -> ApiResult<(StatusCode, Json<User>)> {
    caller.require(Role::Admin)?;
    match (&input.tenant_id, caller.tenant()) {
        (Some(t), Some(_)) => caller.check_tenant(t)?,
        (None, Some(_)) => {
            return Err(ApiError::forbidden(
                "a tenant key cannot create site-wide users",
            ))
        }
        _ => {}
    }
    input.validate(&id)?;
    let pin_hash = match input.pin.clone() {
        Some(pin) => Some(
            tokio::task::spawn_blocking(move || crate::pin::hash(&pin))
                .await
                .map_err(|e| ApiError::from(crate::error::Error::Internal(e.to_string())))??,
        ),
        None => None,
    };
    let origin = caller.origin();
    let (u, created) = st
        .store
        .write(move |c| catalog::put_user(c, &origin, &time::now(), &id, input, pin_hash))
        .await?;
    Ok((created_or_ok(created), Json(u)))
}
