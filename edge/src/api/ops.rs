//! Operations endpoints: health, metrics, sync status, the audit log and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiResult, ErrorBody};
use super::extract::Q;
use super::page::{self, Page, PageJson};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::time;
use crate::store::base::audit::{self, AuditEntry, AuditFilter};
use crate::store::base::outbox;

#[derive(Serialize, ToSchema)]
pub struct DeviceCounts {
    pub online: u32,
    pub offline: u32,
}

#[derive(Serialize, ToSchema)]
pub struct Services {
    /// `ok`, `full` (writes refused for lack of disk space) or `down`.
    pub database: String,
    /// The sync state (see `/v1/sync/status`).
    pub sync: String,
    pub devices: DeviceCounts,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `healthy`, or `degraded` when a service is down.
    pub status: String,
    /// Why it is `degraded`, one line per cause (empty when healthy): the database, offline
    /// devices, a sync state that needs an operator, an ID kind with no serials left.
    pub reasons: Vec<String>,
    pub version: String,
    pub site_id: String,
    pub uptime_s: u64,
    pub services: Services,
}

/// Liveness and a summary of the node's services; needs no credential.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health(State(st): State<AppState>) -> Json<Health> {
    // One read for the probe and, with sync, the ID leases: exhausted kinds mean labels or
    // receipts cannot be numbered, which an operator must hear about.
    let with_ids = st.sync.is_some();
    let probe = st
        .store
        .read(move |c| {
            c.prepare_cached("SELECT 1")?
                .query_row([], |r| r.get::<_, i64>(0))?;
            let kinds = if with_ids {
                crate::store::base::ids::id_status(c).unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok(kinds
                .into_iter()
                .filter(|k| k.exhausted)
                .map(|k| k.kind)
                .collect::<Vec<_>>())
        })
        .await;
    let db_ok = probe.is_ok();
    let exhausted = probe.unwrap_or_default();
    let sync = sync_state(&st);
    let (online, offline) = st.devices.counts();
    let mut reasons = Vec::new();
    if !db_ok {
        reasons.push("database unavailable".to_string());
    }
    if offline > 0 {
        reasons.push(format!("{offline} device(s) offline"));
    }
    reasons.extend(st.ops.storage_reasons(&st.store, st.devices.spool_full()));
    if super::sync::is_down(&st) {
        reasons.push(format!("sync {sync}"));
    }
    for kind in exhausted {
        reasons.push(format!(
            "ID kind {kind} exhausted: no serials left until the central grants a block"
        ));
    }
    // Card payments taken offline and still not at the central after `offline_card_hours`: the
    // acquirer may refuse them soon, and the merchant carries that risk.
    match st.till.offline_overdue().await {
        Ok(0) => {}
        Ok(n) => reasons.push(format!(
            "{n} card payment(s) taken offline are overdue: the central has not received them"
        )),
        Err(_) if !db_ok => {}
        Err(e) => tracing::warn!(error = %e, "offline card check failed"),
    }
    Json(Health {
        status: if reasons.is_empty() {
            "healthy"
        } else {
            "degraded"
        }
        .into(),
        reasons,
        version: env!("CARGO_PKG_VERSION").into(),
        site_id: st.site_id.to_string(),
        uptime_s: st.started.elapsed().as_secs(),
        services: Services {
            database: match (db_ok, st.store.stats.storage_full()) {
                (false, _) => "down",
                (true, true) => "full",
                (true, false) => "ok",
            }
            .into(),
            sync,
            devices: DeviceCounts { online, offline },
        },
    })
}

/// The registers' offline card exposure, keeping `# EOF` last.
fn append_till_metrics(out: &mut String, count: i64, total: i64, overdue: i64) {
    use std::fmt::Write as _;
    let had_eof = match out.trim_end().strip_suffix("# EOF").map(str::len) {
        Some(n) => {
            out.truncate(n);
            true
        }
        None => false,
    };
    for (name, help, v) in [
        (
            "wms_pos_offline_cards",
            "Card payments taken while the central was unreachable and not yet acknowledged by it",
            count,
        ),
        (
            "wms_pos_offline_card_value",
            "Their value in minor units of the registers' currency",
            total,
        ),
        (
            "wms_pos_offline_cards_overdue",
            "Stored offline card payments older than the register's offline_card_hours",
            overdue,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}.\n# TYPE {name} gauge\n{name} {v}"
        );
    }
    if had_eof {
        out.push_str("# EOF\n");
    }
}

fn sync_state(st: &AppState) -> String {
    super::sync::state_name(st)
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn metrics(caller: Caller, State(st): State<AppState>) -> ApiResult<impl IntoResponse> {
    caller.require(Role::Admin)?;
    let figures = st.store.read(outbox::figures).await?;
    let mut text = st.metrics.render(&figures, &st.store.stats);
    let ids = if st.sync.is_some() {
        super::sync::id_blocks(&st).await?
    } else {
        Vec::new()
    };
    super::sync::append_metrics(&st, &ids, &mut text);
    st.devices.append_metrics(&mut text);
    st.ops
        .append_metrics(&st.store, st.devices.spool_full(), &mut text);
    if !st.registers.is_empty() {
        let (count, total, _) = st.till.offline_exposure(None).await?;
        let overdue = st.till.offline_overdue().await?;
        append_till_metrics(&mut text, count, total, overdue);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SyncStatus {
    /// `disabled`, `online`, `offline`, `degraded`, `unauthorized` or `diverged`.
    pub state: String,
    /// Events not yet done at the central (held-back ones included).
    pub queue_depth: u64,
    pub oldest_pending_age_s: Option<u64>,
    pub acked_through: u64,
    pub last_success_at: Option<String>,
    pub dead_letters: u64,
    pub last_error: Option<String>,
    /// ID-block leases per kind (`sscc`, `receipt`, `tracking:<carrier>`).
    pub id_blocks: Vec<super::sync::IdKindStatus>,
}

/// The upstream queue: depth, age and state.
#[utoipa::path(get, path = "/v1/sync/status", tag = "sync", security(("bearer" = [])),
    responses((status = 200, body = SyncStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn sync_status(
    caller: Caller,
    State(st): State<AppState>,
) -> ApiResult<Json<SyncStatus>> {
    caller.require(Role::Supervisor)?;
    let f = st.store.read(outbox::figures).await?;
    let age = f
        .oldest_pending_at
        .as_deref()
        .and_then(time::parse)
        .map(|t| (chrono::Utc::now() - t).num_seconds().max(0) as u64);
    let live = st.sync.as_ref().map(|l| l.handle.status());
    Ok(Json(SyncStatus {
        state: sync_state(&st),
        queue_depth: f.depth,
        oldest_pending_age_s: age,
        acked_through: f.acked_through,
        last_success_at: live
            .as_ref()
            .and_then(|s| s.last_success_at)
            .map(time::format),
        dead_letters: f.dead_letters,
        last_error: live.and_then(|s| s.last_error),
        id_blocks: super::sync::id_blocks(&st).await?,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Floor user id.
    pub user: Option<String>,
    pub device: Option<String>,
    /// API key name.
    pub api_key: Option<String>,
    /// e.g. `order.hold`, `inventory.adjusted`, `product.create`.
    pub action: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<usize>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "operations", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<AuditEntry>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<AuditQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Admin)?;
    let limit = page::limit(q.limit)?;
    let norm = |field: &str, v: Option<String>| -> ApiResult<Option<String>> {
        match v {
            None => Ok(None),
            Some(s) => time::parse(&s)
                .map(|t| Some(time::format(t)))
                .ok_or_else(|| {
                    super::error::ApiError::unprocessable(field, "must be an RFC 3339 timestamp")
                }),
        }
    };
    let filter = AuditFilter {
        user: q.user,
        device: q.device,
        api_key: q.api_key,
        action: q.action,
        since: norm("since", q.since)?,
        until: norm("until", q.until)?,
        before_id: page::decode(q.cursor.as_deref())?,
        limit: limit + 1,
    };
    Ok(page::read(
        &st.store,
        limit,
        move |c| audit::list(c, &filter),
        |e: &AuditEntry| e.id,
    )
    .await?)
}

/// The OpenAPI document of this API (no credential needed).
pub async fn openapi(State(st): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        st.openapi_json.as_ref().clone(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated event types to receive (default: all), e.g. `scan,order.status_changed`.
    pub types: Option<String>,
}

/// Server-sent events for live screens: each event has an `event:` line with its type and a JSON
/// `data:` line that also carries `"type"`. A client too slow to keep up gets a `lagged` event.
#[utoipa::path(get, path = "/v1/events", tag = "operations", params(EventsQuery), security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"), (status = 401, body = ErrorBody)))]
pub async fn events(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<EventsQuery>,
) -> ApiResult<impl IntoResponse> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    caller.require_floor()?;
    let wanted: Option<Vec<String>> = q.types.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let tenant = caller.tenant().map(str::to_string);
    let rx = st.events.subscribe();
    let bus = st.events.clone();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let wanted = wanted.clone();
        let tenant = tenant.clone();
        let bus = bus.clone();
        async move {
            loop {
                let next = tokio::select! {
                    r = rx.recv() => r,
                    _ = bus.closed() => return None,
                };
                match next {
                    Ok(ev) => {
                        if wanted
                            .as_ref()
                            .is_some_and(|w| !w.iter().any(|t| *t == ev.kind))
                        {
                            continue;
                        }
                        if let (Some(own), Some(t)) = (tenant.as_deref(), ev.tenant()) {
                            if own != t {
                                continue;
                            }
                        }
                        let data = serde_json::Value::Object(ev.data.clone()).to_string();
                        let sse = SseEvent::default().event(ev.kind.clone()).data(data);
                        return Some((Ok::<_, std::convert::Infallible>(sse), rx));
                    }
                    Err(RecvError::Lagged(n)) => {
                        let data = serde_json::json!({"type": "lagged", "missed": n}).to_string();
                        return Some((Ok(SseEvent::default().event("lagged").data(data)), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
