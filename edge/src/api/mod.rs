//! The HTTP API (`edge-api.md`): axum routes, each declared once with its OpenAPI description so
//! the served document (`/v1/openapi.json`) is generated from the same code and cannot drift.

pub mod auth;
pub mod catalog;
pub mod devices;
pub mod error;
pub mod extract;
pub mod inventory;
pub mod ops;
pub mod orders;
pub mod page;
pub mod pos;
pub mod pos_balances;
pub mod pos_drawer;
pub mod pos_returns;
pub mod prices;
pub mod putbacks;
pub mod sessions;
pub mod sync;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tracing::Instrument;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Metrics;
use crate::store::base::keys::KeyRecord;
use crate::store::Store;
use error::{ApiError, REQUEST_ID};

/// What every handler can reach. One `Arc`: axum clones the state for every extractor and
/// middleware of every request, and one reference count is cheaper than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The node's services as the API sees them.
pub struct Shared {
    pub site_id: Arc<str>,
    pub store: Store,
    /// Config-file keys by SHA-256 of the key.
    pub config_keys: HashMap<[u8; 32], Arc<KeyRecord>>,
    pub started: Instant,
    pub metrics: Arc<Metrics>,
    /// Whether a `[central]` section is configured (sync is `disabled` otherwise).
    pub central_configured: bool,
    pub openapi_json: Arc<String>,
    /// Live events for `GET /v1/events`.
    pub events: crate::events::EventBus,
    /// Configured devices and discovered candidates.
    pub devices: crate::devices::DeviceManager,
    /// The running sync client (`None` when no `[central]` is configured).
    pub sync: Option<Arc<crate::sync_glue::SyncLink>>,
    /// The site's registers (`pos` stations) by id.
    pub registers: Arc<HashMap<String, crate::config::RegisterConfig>>,
    /// Card payments at the registers' terminals.
    pub till: crate::till::Till,
    /// Disk space, storage trouble and scheduled backups, for `/health` and `/metrics`.
    pub ops: Arc<crate::ops::OpsStatus>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "wms-edge", description = "The per-site edge node of the fulfillment network."),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// All routes with their OpenAPI descriptions.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::health))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::sync_status))
        .routes(routes!(sync::webhook))
        .routes(routes!(sync::list_dead_letters))
        .routes(routes!(sync::retry_dead_letter))
        .routes(routes!(sync::discard_dead_letter))
        .routes(routes!(ops::audit))
        .routes(routes!(ops::events))
        .routes(routes!(catalog::list_products))
        .routes(routes!(catalog::get_product, catalog::put_product))
        .routes(routes!(catalog::list_locations))
        .routes(routes!(catalog::get_location, catalog::put_location))
        .routes(routes!(catalog::list_users))
        .routes(routes!(catalog::get_user, catalog::put_user))
        .routes(routes!(orders::list_orders, orders::create_order))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::hold_order))
        .routes(routes!(orders::release_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(putbacks::list_putbacks))
        .routes(routes!(inventory::list_inventory))
        .routes(routes!(inventory::create_adjustment))
        .routes(routes!(inventory::create_count))
        .routes(routes!(devices::list_devices))
        .routes(routes!(devices::list_discovered))
        .routes(routes!(devices::get_device))
        .routes(routes!(devices::test_print))
        .routes(routes!(devices::weight))
        .routes(routes!(devices::tare))
        .routes(routes!(devices::zero))
        .routes(routes!(devices::post_scan))
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::logout))
        .routes(routes!(prices::list_tax_rates))
        .routes(routes!(prices::put_tax_rate))
        .routes(routes!(prices::list_promotions))
        .routes(routes!(prices::put_promotion))
        .routes(routes!(pos::list_registers))
        .routes(routes!(pos::get_register))
        .routes(routes!(pos::open_session))
        .routes(routes!(pos_drawer::get_session))
        .routes(routes!(pos_balances::gift_card))
        .routes(routes!(pos_balances::store_credit))
        .routes(routes!(pos_drawer::cash_movement))
        .routes(routes!(pos_drawer::close_session))
        .routes(routes!(pos_drawer::sales_report))
        .routes(routes!(pos_returns::void_sale))
        .routes(routes!(pos_returns::refund_sale))
        .routes(routes!(pos_returns::get_refund))
        .routes(routes!(pos_returns::create_return))
        .routes(routes!(pos_returns::reprint))
        .routes(routes!(pos::create_sale, pos::list_sales))
        .routes(routes!(pos::get_sale))
        .routes(routes!(pos::add_line))
        .routes(routes!(pos::set_line_qty, pos::remove_line))
        .routes(routes!(pos::add_discount))
        .routes(routes!(pos::add_coupon))
        .routes(routes!(pos::set_customer))
        .routes(routes!(pos::create_payment))
        .routes(routes!(pos::get_payment))
        .routes(routes!(pos::abort_payment))
        .routes(routes!(pos::price_check))
        .routes(routes!(pos::search_products))
        .routes(routes!(pos::search_customers, pos::create_customer))
        .routes(routes!(pos::get_customer))
}

/// The OpenAPI document as served (and as kept in the repo at `edge/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

pub fn openapi_json() -> String {
    openapi_document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The complete application: the API and the station screens (`crate::ui`), which read the
/// API in-process.
pub fn router(state: AppState) -> Router {
    let (router, _) = api_router().split_for_parts();
    let api: Router = router
        .route("/v1/openapi.json", axum::routing::get(ops::openapi))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state.clone());
    let screens = crate::ui::routes(state, api.clone());
    api.merge(screens)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(middleware::from_fn(request_context))
}

async fn fallback() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "validation_error",
        "method not allowed on this endpoint",
    )
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal error; see the node's log",
    )
    .into_response()
}

fn valid_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then(|| s.to_string())
}

fn new_request_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("req_{tail}")
}

/// Gives every request an id (the client's `X-Request-Id` when well-formed), makes it available
/// to error bodies and logs, and echoes it on the response.
async fn request_context(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(valid_request_id)
        .unwrap_or_else(new_request_id);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req))
        .instrument(span)
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Per-route request counts and latencies for `/metrics`.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .observe_http(&method, &route, resp.status().as_u16(), start.elapsed());
    resp
}
