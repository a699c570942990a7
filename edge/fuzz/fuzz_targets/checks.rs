//! What every edge fuzz target asserts, one function per target. The fuzz targets call these, and
//! so does `edge/tests/fuzz_replay.rs`, which replays each target's seeds (and any corpus or crash
//! found locally) on stable Rust, so CI runs them without a fuzzer.

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use wms_edge::api::error::{ApiError, ErrorCode};
use wms_edge::api::extract::parse_json;
use wms_edge::api::{devices, pos, pos_drawer, pos_returns, prices, sessions};
use wms_edge::store::base::{catalog, prices as price_rows};
use wms_edge::store::orders;
use wms_edge::store::stock::ledger;

/// A fuzz target's name (its `[[bin]]` in `fuzz/Cargo.toml`) and its checks.
pub type Target = (&'static str, fn(&[u8]));

/// Each target by the name of its `[[bin]]` in `fuzz/Cargo.toml`.
pub const TARGETS: &[Target] = &[("api_bodies", api_bodies)];

/// The request body types, in the order the first input byte picks them.
const BODIES: &[fn(&[u8])] = &[
    parse::<catalog::ProductInput>,
    parse::<catalog::LocationInput>,
    parse::<catalog::UserInput>,
    parse::<ledger::AdjustmentInput>,
    parse::<ledger::CountInput>,
    parse::<orders::OrderInput>,
    parse::<orders::ReasonInput>,
    parse::<devices::ScanInput>,
    parse::<sessions::Credentials>,
    parse::<prices::TaxRateIn>,
    parse::<price_rows::PromotionRow>,
    parse::<pos::OpenSessionIn>,
    parse::<pos::NewSaleIn>,
    parse::<pos::AddLineIn>,
    parse::<pos::SetQtyIn>,
    parse::<pos::DiscountIn>,
    parse::<pos::CouponIn>,
    parse::<pos::CustomerIn>,
    parse::<pos::PaymentIn>,
    parse::<pos::NewCustomerIn>,
    parse::<pos_drawer::MovementBody>,
    parse::<pos_drawer::CloseBody>,
    parse::<pos_returns::VoidBody>,
    parse::<pos_returns::RefundBody>,
    parse::<pos_returns::ReturnBody>,
    parse::<pos_returns::ReprintBody>,
];

/// A JSON body of the API: the first byte picks the request type, the rest is the body, read
/// through the same `parse_json` every body extractor uses. It never panics; a body it refuses
/// is a `validation_error` — 400 for what is not JSON, 422 naming the field for the wrong shape.
pub fn api_bodies(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    BODIES[usize::from(pick) % BODIES.len()](body);
}

fn parse<T: DeserializeOwned>(body: &[u8]) {
    if let Err(e) = parse_json::<T>(body) {
        refusal(body, &e);
    }
}

fn refusal(body: &[u8], e: &ApiError) {
    assert_eq!(e.code, ErrorCode::ValidationError, "{e:?}");
    assert!(!e.message.is_empty(), "{e:?}");
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
    if json {
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{e:?}");
        let field = e.details.first().map(|d| d.field.as_str()).unwrap_or("");
        assert!(!field.is_empty(), "a 422 names the field: {e:?}");
    } else {
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{e:?}");
    }
}
