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
use crate::domain::rules;
use crate::store::base::catalog::Money;
use crate::store::base::customers;
use crate::store::workflow::pos::balances::masked_code;

/// A gift card's code as typed or scanned: 1 to 64 characters, not all white space.
pub const GIFT_CARD_CODE: rules::Text = rules::not_blank(64);

/// [`GIFT_CARD_CODE`] in the document.
pub struct GiftCardCode;

impl utoipa::PartialSchema for GiftCardCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        GIFT_CARD_CODE.schema("A gift card's code: 1 to 64 characters, not all white space.")
    }
}

impl ToSchema for GiftCardCode {}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GiftCardOut {
    /// The code's last four characters.
    pub code: String,
    pub balance: Money,
    pub active: bool,
}

/// A gift card's balance at the central (unreachable central: 409).
#[utoipa::path(get, path = "/v1/pos/gift-cards/{code}", tag = "pos", security(("bearer" = [])),
    params(("code" = GiftCardCode, Path, description = "the card's code (white space around it ignored)")),
    responses((status = 200, body = GiftCardOut), (status = 404, description = "the central knows no such gift card", body = ErrorBody), (status = 409, description = "the central cannot be asked now", body = ErrorBody), (status = 422, description = "a code that is empty or longer than 64 characters", body = ErrorBody), (status = 503, description = "device_unavailable: the central could not be reached", body = ErrorBody)))]
pub async fn gift_card(
    caller: Caller,
    State(st): State<AppState>,
    P(code): P<String>,
) -> ApiResult<Json<GiftCardOut>> {
    caller.require(Role::Cashier)?;
    GIFT_CARD_CODE.check_field("code", &code)?;
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
    responses((status = 200, body = CreditOut), (status = 404, description = "no customer with this id", body = ErrorBody), (status = 409, description = "the central cannot be asked now", body = ErrorBody), (status = 503, description = "device_unavailable: the central could not be reached", body = ErrorBody)))]
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
