//! Sync endpoints besides the status: the central's doorbell webhook and the supervisor's
//! dead-letter list with retry and discard (each audited, and reported upstream as
//! `audit.recorded`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{RawBody, P, Q};
use super::page::{self, Page, PageJson};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::time;
use crate::store::sync::{self as sync_store, DeadLetter, Resolution};

/// The doorbell: the central says changes are waiting. Verified with `X-Webhook-Signature`
/// (HMAC-SHA256 of the raw body with the webhook secret, constant-time compare); the body is never
/// applied, the pull loop fetches the changes by cursor.
#[utoipa::path(post, path = "/v1/sync/webhook", tag = "sync",
    params(("X-Webhook-Signature" = String, Header, description = "hex HMAC-SHA256 of the raw body")),
    request_body(content = Object, description = "`{\"type\": \"changes.available\", \"site_id\"}`, verified as bytes and never parsed"),
    extensions(("x-raw-body" = json!(true))),
    responses((status = 204, description = "accepted; the edge pulls at once"),
              (status = 401, description = "a missing or wrong X-Webhook-Signature", body = ErrorBody),
              (status = 404, description = "sync is disabled, or no webhook_secret is configured (the node polls)", body = ErrorBody),
              (status = 413, description = "a body larger than 1 MiB", body = ErrorBody),
              (status = 400, description = "a body that could not be read", body = ErrorBody)))]
pub async fn webhook(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<StatusCode> {
    let Some(link) = st.sync.as_ref() else {
        return Err(ApiError::not_found("sync is disabled on this node"));
    };
    let Some(secret) = link.webhook_secret.as_deref() else {
        return Err(ApiError::not_found(
            "no webhook_secret is configured; the node polls the central",
        ));
    };
    let sig = headers
        .get("x-webhook-signature")
        .and_then(|v| v.to_str().ok());
    wms_sync::verify_webhook(secret, &body, sig)
        .map_err(|_| ApiError::unauthenticated("missing or invalid X-Webhook-Signature"))?;
    link.handle.ring_doorbell();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
}

fn require_site_supervisor(caller: &Caller) -> Result<(), ApiError> {
    caller.require(Role::Supervisor)?;
    if caller.tenant().is_some() {
        return Err(ApiError::forbidden(
            "dead letters belong to the whole site; this key is limited to one tenant",
        ));
    }
    Ok(())
}

/// Events the central rejected, oldest first. Each holds back the later events of its aggregate
/// until it is retried or discarded.
#[utoipa::path(get, path = "/v1/sync/dead-letters", tag = "sync", params(DeadLetterQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<DeadLetter>)))]
pub async fn list_dead_letters(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<DeadLetterQuery>,
) -> ApiResult<PageJson> {
    require_site_supervisor(&caller)?;
    let limit = page::limit(q.limit)?;
    let after: u64 = page::decode(q.cursor.as_deref())?.unwrap_or(0);
    Ok(page::read(
        &st.store,
        limit,
        move |c| sync_store::list_dead_letters(c, after, limit + 1),
        |d: &DeadLetter| d.seq,
    )
    .await?)
}

/// The result of a dead-letter action.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resolved {
    /// The event id.
    pub id: String,
    /// `retried` (pending again, same id and body) or `discarded` (never sent).
    pub resolution: String,
}

async fn resolve(
    caller: Caller,
    st: AppState,
    id: String,
    how: Resolution,
) -> ApiResult<Json<Resolved>> {
    require_site_supervisor(&caller)?;
    let origin = caller.origin();
    let site = st.site_id.clone();
    let event_id = id.clone();
    let found = st
        .store
        .write(move |c| {
            sync_store::resolve_dead_letter(c, &site, &origin, &time::now(), &event_id, how)
        })
        .await?;
    if !found {
        return Err(ApiError::not_found(format!(
            "{id} is not an open dead letter"
        )));
    }
    if let Some(link) = st.sync.as_ref() {
        link.handle.events_committed();
    }
    Ok(Json(Resolved {
        id,
        resolution: match how {
            Resolution::Retry => "retried",
            Resolution::Discard => "discarded",
        }
        .into(),
    }))
}

/// Send a dead-lettered event again (same id and body; the central evaluates it afresh).
#[utoipa::path(post, path = "/v1/sync/dead-letters/{id}/retry", tag = "sync",
    params(("id" = String, Path, description = "event id")), security(("bearer" = [])),
    responses((status = 200, body = Resolved), (status = 404, description = "no open dead letter with this event id", body = ErrorBody)))]
pub async fn retry_dead_letter(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<Resolved>> {
    resolve(caller, st, id, Resolution::Retry).await
}

/// Give up on a dead-lettered event: it is never sent; its aggregate is released.
#[utoipa::path(post, path = "/v1/sync/dead-letters/{id}/discard", tag = "sync",
    params(("id" = String, Path, description = "event id")), security(("bearer" = [])),
    responses((status = 200, body = Resolved), (status = 404, description = "no open dead letter with this event id", body = ErrorBody)))]
pub async fn discard_dead_letter(
    caller: Caller,
    State(st): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<Resolved>> {
    resolve(caller, st, id, Resolution::Discard).await
}

/// The sync state as `/health` and `/v1/sync/status` name it: `disabled` without a central.
pub fn state_name(st: &AppState) -> String {
    match st.sync.as_ref() {
        None => "disabled".into(),
        Some(l) => serde_json::to_value(l.handle.status().state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "offline".into()),
    }
}

/// Sync is "down" for `/health` when it needs an operator: `unauthorized` (wrong key or secret),
/// `diverged` (restored database) or `degraded` (the central calls our batches malformed).
/// `offline` is not: the site is built to work through outages, and a WAN blip must not page.
pub fn is_down(st: &AppState) -> bool {
    st.sync.as_ref().is_some_and(|l| {
        matches!(
            l.handle.status().state,
            wms_sync::SyncState::Unauthorized
                | wms_sync::SyncState::Diverged
                | wms_sync::SyncState::Degraded
        )
    })
}

/// Appends the sync client's counters (Prometheus text) to the metrics page, with the ID leases
/// (`ids`, read by the caller) as `wms_edge_sync_id_remaining` / `wms_edge_sync_id_exhausted`.
pub fn append_metrics(st: &AppState, ids: &[IdKindStatus], out: &mut String) {
    use std::fmt::Write;
    let Some(l) = st.sync.as_ref() else { return };
    let m = l.handle.metrics().snapshot();
    let out_eof = out.trim_end().strip_suffix("# EOF").map(str::len);
    if let Some(n) = out_eof {
        out.truncate(n);
    }
    let mut metric = |name: &str, kind: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP wms_edge_sync_{name} {help}");
        let _ = writeln!(out, "# TYPE wms_edge_sync_{name} {kind}");
        let _ = writeln!(out, "wms_edge_sync_{name} {v}");
    };
    metric(
        "batches_sent_total",
        "counter",
        "Batches the central answered with results",
        m.batches_sent,
    );
    metric(
        "events_done_total",
        "counter",
        "Events applied or duplicate at the central",
        m.events_done,
    );
    metric(
        "events_dead_lettered_total",
        "counter",
        "Events moved to the dead-letter list",
        m.events_dead_lettered,
    );
    metric(
        "last_success_timestamp_ms",
        "gauge",
        "Last successful exchange with the central (Unix ms)",
        m.last_success_unix_ms,
    );
    metric(
        "pull_pages_total",
        "counter",
        "Change pages applied",
        m.pull_pages,
    );
    metric(
        "pull_changes_total",
        "counter",
        "Changes applied",
        m.pull_changes,
    );
    metric(
        "pull_skipped_total",
        "counter",
        "Unknown or malformed changes skipped",
        m.pull_skipped,
    );
    metric(
        "pull_lag_ms",
        "gauge",
        "Milliseconds since the pull loop last reached the head of the feed",
        m.pull_lag_ms.unwrap_or(0),
    );
    metric(
        "id_blocks_requested_total",
        "counter",
        "ID blocks requested",
        m.id_blocks_requested,
    );
    let _ = writeln!(out, "# HELP wms_edge_sync_retries_total Retries by reason");
    let _ = writeln!(out, "# TYPE wms_edge_sync_retries_total counter");
    for (reason, n) in &m.retries {
        let _ = writeln!(
            out,
            "wms_edge_sync_retries_total{{reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP wms_edge_sync_state Current sync state (1 for the current one)"
    );
    let _ = writeln!(out, "# TYPE wms_edge_sync_state gauge");
    for s in ["online", "offline", "degraded", "unauthorized", "diverged"] {
        let cur = state_name(st) == s;
        let _ = writeln!(
            out,
            "wms_edge_sync_state{{state=\"{s}\"}} {}",
            u8::from(cur)
        );
    }
    let label = |k: &str| k.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(
        out,
        "# HELP wms_edge_sync_id_remaining Serials left per ID kind across granted blocks"
    );
    let _ = writeln!(out, "# TYPE wms_edge_sync_id_remaining gauge");
    for k in ids {
        let _ = writeln!(
            out,
            "wms_edge_sync_id_remaining{{kind=\"{}\"}} {}",
            label(&k.kind),
            k.remaining
        );
    }
    let _ = writeln!(
        out,
        "# HELP wms_edge_sync_id_exhausted 1 when an ID kind has no serials left (numbering stops)"
    );
    let _ = writeln!(out, "# TYPE wms_edge_sync_id_exhausted gauge");
    for k in ids {
        let _ = writeln!(
            out,
            "wms_edge_sync_id_exhausted{{kind=\"{}\"}} {}",
            label(&k.kind),
            u8::from(k.exhausted)
        );
    }
    if out_eof.is_some() {
        out.push_str("# EOF\n");
    }
}

/// One ID kind's lease state in `/v1/sync/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdKindStatus {
    pub kind: String,
    /// Serials left across all granted blocks.
    pub remaining: u64,
    /// Percent used of the current block (100 when there is none).
    pub current_used_percent: u64,
    /// Granted blocks not used up.
    pub blocks: u64,
    /// Nothing left: numbering of this kind stops until a block arrives (alert).
    pub exhausted: bool,
    /// A new block is being asked for.
    pub needs_block: bool,
}

/// The ID-block leases, read from the store.
pub async fn id_blocks(st: &AppState) -> ApiResult<Vec<IdKindStatus>> {
    let kinds = st.store.read(crate::store::base::ids::id_status).await?;
    Ok(kinds
        .into_iter()
        .map(|k| IdKindStatus {
            kind: k.kind,
            remaining: k.remaining,
            current_used_percent: k.current_used_percent,
            blocks: k.blocks as u64,
            exhausted: k.exhausted,
            needs_block: k.needs_block,
        })
        .collect())
}
