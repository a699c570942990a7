//! Balance checks at the till (pos-api.md "Payments"): a gift card's balance and a customer's
//! store credit, read from the central — online only.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::P;
use super::pos::money;
use super::AppState;
use crate::domain::role::Role;
use crate::store::base::catalog::Money;
use crate::store::base::customers;
use crate::store::workflow::pos::balances::masked_code;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GiftCardOut {
    /// The code's last four characters.
    pub code: String,
    pub balance: Money,
    pub active: bool,
}

/// A gift card's balance at the central (unreachable central: 409).
#[utoipa::path(get, path = "/v1/pos/gift-cards/{code}", tag = "pos", security(("bearer" = [])),
    params(("code" = String, Path)),
    responses((status = 200, body = GiftCardOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn gift_card(
    caller: Caller,
    State(st): State<AppState>,
    P(code): P<String>,
) -> ApiResult<Json<GiftCardOut>> {
    caller.require(Role::Cashier)?;
    if code.trim().is_empty() || code.len() > 64 {
        return Err(ApiError::unprocessable(
            "code",
            "must be 1 to 64 characters",
        ));
    }
    let card = st.till.gift_card(code.trim()).await?;
    Ok(Json(GiftCardOut {
        code: masked_code(&card.code),
        balance: money(card.balance.amount, &card.balance.currency),
        active: card.active,
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditOut {
    pub customer_id: String,
    pub balance: Money,
}

/// A customer's store credit at the central (unreachable central: 409).
#[utoipa::path(get, path = "/v1/pos/customers/{id}/credit", tag = "pos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CreditOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn store_credit(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<CreditOut>> {
    caller.require(Role::Cashier)?;
    let cid = id.clone();
    let customer = st
        .store
        .read(move |c| customers::get_customer(c, &cid))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("customer {id} not found")))?;
    caller.check_tenant(&customer.tenant_id)?;
    let credit = st.till.store_credit(&id).await?;
    Ok(Json(CreditOut {
        customer_id: credit.customer_id,
        balance: money(credit.balance.amount, &credit.balance.currency),
    }))
}
