//! Device endpoints (`edge-api.md`): the registry with live state and kind-specific status,
//! test prints, scale reads, tare/zero, HTTP scans and discovered network printers.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use wms_hardware::transport::TransportConfig;
use wms_hardware::Device;

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, P, Q};
use super::page::{Page, Pagination};
use super::AppState;
use crate::devices::{state_str, Entry};
use crate::discovery::Candidate;
use crate::domain::role::Role;
use crate::domain::rules;
use crate::error::Error;

/// One configured device as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    /// `scanner`, `scale`, `label_printer`, `receipt_printer`, `payment_terminal` or
    /// `customer_display`.
    pub kind: String,
    /// Firmware profile in use (the kind's generic one when the entry names none).
    pub profile: String,
    pub station: Option<String>,
    /// The entry's transport as configured, e.g. `{"tcp": {"host": "10.1.2.3", "port": 9100}}`.
    #[schema(value_type = Object)]
    pub transport: Value,
    /// `online`, `error` or `offline`.
    pub state: String,
    pub last_seen_at: Option<String>,
    pub last_error: Option<String>,
    /// Kind-specific: printers `paper_out`, `head_open`, `paused`, `ribbon_out`, `cover_open`,
    /// `paper_near_end` (null when the device cannot tell); scales `last_stable_weight`
    /// (`{value, unit}`); scanners `last_scan_at`; customer displays `shown` (the two lines
    /// last written to the display, null before the first).
    #[schema(value_type = Object)]
    pub status: Value,
}

pub(super) fn view(e: &Entry) -> DeviceView {
    let st = e.status();
    let mut status = serde_json::to_value(&st.status).unwrap_or(Value::Null);
    // Timestamps in the API's one format.
    if let Some(t) = status.get_mut("last_scan_at") {
        if let Some(s) = t.as_str().and_then(crate::domain::time::parse) {
            *t = Value::from(crate::domain::time::format(s));
        }
    }
    DeviceView {
        id: e.config.id.clone(),
        kind: e.config.kind.as_str().to_string(),
        profile: e.profile.clone(),
        station: e.config.station.clone(),
        transport: serde_json::to_value(&e.config.transport).unwrap_or(Value::Null),
        state: state_str(st.state).to_string(),
        last_seen_at: st.last_seen_at.map(crate::domain::time::format),
        last_error: st.last_error,
        status,
    }
}

fn entry<'a>(st: &'a AppState, id: &str) -> Result<&'a Entry, ApiError> {
    st.devices
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no device \"{id}\"")))
}

fn whole<T>(data: Vec<T>) -> Page<T> {
    Page {
        data,
        pagination: Pagination {
            next_cursor: None,
            has_more: false,
        },
    }
}

/// Every configured device with its live state.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = Page<DeviceView>)))]
pub async fn list_devices(
    caller: Caller,
    State(st): State<AppState>,
) -> ApiResult<Json<Page<DeviceView>>> {
    caller.require(Role::Supervisor)?;
    Ok(Json(whole(st.devices.entries().map(view).collect())))
}

/// One device with its live state.
#[utoipa::path(get, path = "/v1/devices/{id}", tag = "devices", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = DeviceView), (status = 404, description = "no device with this id", body = ErrorBody)))]
pub async fn get_device(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<DeviceView>> {
    caller.require(Role::Supervisor)?;
    Ok(Json(view(entry(&st, &id)?)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrintJob {
    pub job_id: String,
    /// `queued` (spooled; printed when the printer is ready) or `printed`.
    pub state: String,
}

/// Queue a test label (ZPL printers) or receipt (ESC/POS printers). A printer in error keeps
/// the job spooled and prints it once when the error clears.
#[utoipa::path(post, path = "/v1/devices/{id}/test-print", tag = "devices", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 202, body = PrintJob), (status = 404, description = "no device with this id", body = ErrorBody), (status = 409, description = "the printer refused the job or is busy", body = ErrorBody), (status = 422, description = "the device is not a printer", body = ErrorBody), (status = 503, description = "device_unavailable: the printer cannot be reached", body = ErrorBody)))]
pub async fn test_print(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<(StatusCode, Json<PrintJob>)> {
    caller.require(Role::Supervisor)?;
    let e = entry(&st, &id)?;
    let (printer, bytes) = match &e.device {
        Device::LabelPrinter(h) => {
            let dpi = e
                .config
                .resolve_profile()
                .ok()
                .and_then(|p| p.printer.as_ref())
                .map(|p| if p.dpi >= 300 { 300 } else { 203 })
                .unwrap_or(203);
            (h, wms_labels::cli::sample("location", dpi, "zpl"))
        }
        Device::ReceiptPrinter(h) => (h, wms_labels::cli::sample("receipt", 203, "escpos")),
        _ => {
            return Err(ApiError::unprocessable(
                "id",
                format!("device \"{id}\" is not a printer"),
            ))
        }
    };
    let bytes = bytes.map_err(|e| Error::Internal(format!("test label: {e}")))?;
    let job_id = printer.print(bytes).await.map_err(Error::from)?;
    let state = match printer.job_state(&job_id) {
        wms_hardware::spool::JobState::Printed => "printed",
        _ => "queued",
    };
    tracing::info!(device = %id, job = %job_id, "test print queued");
    Ok((
        StatusCode::ACCEPTED,
        Json(PrintJob {
            job_id,
            state: state.into(),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WeightQuery {
    /// How long to wait for a stable weight (default 5000).
    #[param(value_type = Option<rules::TimeoutMs>)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WeightReading {
    /// Exactly as the scale reported it, with its own decimals.
    pub value: String,
    /// Lower case: `kg`, `g`, `lb`, `oz`.
    pub unit: String,
    pub stable: bool,
}

fn scale<'a>(
    st: &'a AppState,
    id: &str,
) -> Result<&'a wms_hardware::device::ScaleHandle, ApiError> {
    match &entry(st, id)?.device {
        Device::Scale(h) => Ok(h),
        _ => Err(ApiError::unprocessable(
            "id",
            format!("device \"{id}\" is not a scale"),
        )),
    }
}

/// Wait for a stable weight. Not settled in time, overload or underload: 409 naming the
/// reason; scale offline: 503 `device_unavailable`.
#[utoipa::path(get, path = "/v1/devices/{id}/weight", tag = "devices", params(("id" = String, Path), WeightQuery),
    security(("bearer" = [])), responses((status = 200, body = WeightReading), (status = 404, description = "no device with this id", body = ErrorBody), (status = 409, description = "no stable weight in time, overload or underload (the message says which)", body = ErrorBody), (status = 422, description = "the device is not a scale", body = ErrorBody), (status = 503, description = "device_unavailable: the scale cannot be reached", body = ErrorBody)))]
pub async fn weight(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
    Q(q): Q<WeightQuery>,
) -> ApiResult<Json<WeightReading>> {
    caller.require(Role::Packer)?;
    let timeout = q.timeout_ms.unwrap_or(5000);
    rules::TimeoutMs::check_field("timeout_ms", i64::try_from(timeout).unwrap_or(i64::MAX))?;
    let h = scale(&st, &id)?;
    let w = h
        .read_stable(Duration::from_millis(timeout))
        .await
        .map_err(Error::from)?;
    Ok(Json(WeightReading {
        value: w.value.to_string(),
        unit: w.unit,
        stable: true,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScaleAction {
    pub device_id: String,
    /// `tare` or `zero`.
    pub action: String,
}

/// Tare the scale: the stable load on it becomes zero net.
#[utoipa::path(post, path = "/v1/devices/{id}/tare", tag = "devices", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = ScaleAction), (status = 404, description = "no device with this id", body = ErrorBody), (status = 409, description = "the scale is moving, overloaded or refused", body = ErrorBody), (status = 422, description = "the device is not a scale", body = ErrorBody), (status = 503, description = "device_unavailable: the scale cannot be reached", body = ErrorBody)))]
pub async fn tare(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<ScaleAction>> {
    caller.require(Role::Packer)?;
    scale(&st, &id)?.tare().await.map_err(Error::from)?;
    Ok(Json(ScaleAction {
        device_id: id,
        action: "tare".into(),
    }))
}

/// Zero the scale (within its zero range, when stable).
#[utoipa::path(post, path = "/v1/devices/{id}/zero", tag = "devices", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = ScaleAction), (status = 404, description = "no device with this id", body = ErrorBody), (status = 409, description = "the scale is moving, overloaded or out of its zero range", body = ErrorBody), (status = 422, description = "the device is not a scale", body = ErrorBody), (status = 503, description = "device_unavailable: the scale cannot be reached", body = ErrorBody)))]
pub async fn zero(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<ScaleAction>> {
    caller.require(Role::Packer)?;
    scale(&st, &id)?.zero().await.map_err(Error::from)?;
    Ok(Json(ScaleAction {
        device_id: id,
        action: "zero".into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanInput {
    /// A configured scanner (usually one with transport `{ http = {} }`).
    pub device_id: String,
    /// The scan as read, AIM prefix included when the scanner sends one.
    #[schema(min_length = 1)]
    pub data: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanAnswer {
    /// `accepted` or `rejected`.
    pub result: String,
    /// `good` or `bad`.
    pub feedback: String,
    pub prompt: String,
    /// What the scan was read as (`station`, `kind`, `gtin`, `sscc`, `code`).
    #[schema(value_type = Object)]
    pub context: Value,
}

/// A scan from a handheld: the same path a serial or MQTT scan takes (interpreted, routed to
/// the device's station, published as a `scan` event).
#[utoipa::path(post, path = "/v1/scans", tag = "devices", request_body = ScanInput, security(("bearer" = [])),
    responses((status = 200, description = "the scan's answer, accepted or rejected", body = ScanAnswer), (status = 422, description = "an unknown device, one that is not a scanner, or empty data", body = ErrorBody)))]
pub async fn post_scan(
    caller: Caller,
    State(st): State<AppState>,
    Body(input): Body<ScanInput>,
) -> ApiResult<Json<ScanAnswer>> {
    caller.require_floor()?;
    let out = st
        .devices
        .submit_http_scan(&input.device_id, &input.data)
        .await?;
    Ok(Json(ScanAnswer {
        result: out.result.into(),
        feedback: out.feedback.into(),
        prompt: out.prompt,
        context: out.context,
    }))
}

/// Network printers announced over mDNS, as candidates for `[[devices]]`; the node never adds
/// one by itself.
#[utoipa::path(get, path = "/v1/devices/discovered", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = Page<Candidate>)))]
pub async fn list_discovered(
    caller: Caller,
    State(st): State<AppState>,
) -> ApiResult<Json<Page<Candidate>>> {
    caller.require(Role::Supervisor)?;
    let mut list = st.devices.discovered().list();
    for c in &mut list {
        c.configured = st.devices.entries().any(|e| match &e.config.transport {
            TransportConfig::Tcp(t) => {
                (c.addresses.contains(&t.host)
                    || c.host.trim_end_matches('.') == t.host.trim_end_matches('.'))
                    && t.port.unwrap_or(9100) == c.port
            }
            _ => false,
        });
    }
    Ok(Json(whole(list)))
}
