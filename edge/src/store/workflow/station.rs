//! The station workflows made real: [`station_step`] runs one input end to end inside one
//! `Store::write` (load state → `on_input` over a [`TxView`] → execute the workflow's
//! [`Command`]s → persist the next state); [`station_tick`] is the idle timeout. Each command is
//! carried out by the module that owns it (`pick`, `pack`, `count`, `receive`); every command
//! that moves an order on is re-checked against hold and cancel first (invariant 4).
//!
//! PINs are verified before the write, on a blocking thread (see `view`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use wms_labels::scan::Scan;

use super::view::{PinCheck, TxView};
use super::{count, pack, pick, receive, SiteInfo};
use crate::domain::station::{
    self, Command, Feedback, LoginFailure, SessionEnd, StationConfig, StationInput, StationState,
};
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::store::base::{audit, Ctx, Origin};
use crate::store::orders;
use crate::store::stock::ledger::CountInput;
use crate::store::Store;

/// The answer to one station input.
#[derive(Debug, Clone, PartialEq)]
pub struct StepAnswer {
    pub feedback: Feedback,
    pub context: Value,
    /// The input was refused by the store (the station kept its previous state).
    pub refused: bool,
    /// Print jobs were queued: the node should hand them to their printers now.
    pub printed: bool,
}

/// The persisted state of a station (the default for one never used).
pub fn load_state(conn: &Connection, station_id: &str) -> Result<StationState> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT state FROM station_state WHERE station_id = ?1")?
        .query_row([station_id], |r| r.get(0))
        .optional()?;
    match raw {
        Some(s) => serde_json::from_str(&s).map_err(|e| {
            Error::Internal(format!("station {station_id}: unreadable saved state: {e}"))
        }),
        None => Ok(StationState::default()),
    }
}

fn save_state(conn: &Connection, station_id: &str, state: &StationState, now: &str) -> Result<()> {
    let s =
        serde_json::to_string(state).map_err(|e| Error::Internal(format!("station state: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO station_state(station_id, state, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(station_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )?
    .execute(params![station_id, s, now])?;
    Ok(())
}

/// Execute a station's commands in the caller's transaction. Any error refuses the whole step.
pub fn execute(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    site: &SiteInfo,
    commands: &[Command],
) -> Result<()> {
    for c in commands {
        if let Some(order_id) = c.order_moved_on() {
            orders::recheck(cx.conn, order_id)?;
        }
        apply(cx, cfg, site, c)?;
    }
    Ok(())
}

/// One command, by the module that owns it: sessions and audit here, the rest in `pick`, `pack`,
/// `count` and `receive`.
fn apply(cx: &Ctx<'_>, cfg: &StationConfig, site: &SiteInfo, command: &Command) -> Result<()> {
    let station = cfg.station_id.as_str();
    match command {
        Command::SessionStarted { user_id } => session_started(cx, station, user_id),
        Command::LoginFailed { user_id, reason } => login_failed(cx, station, user_id, reason),
        Command::SessionEnded { user_id, reason } => session_ended(cx, station, user_id, reason),
        Command::Audit {
            action,
            target,
            by_user,
            changes,
            upstream,
        } => audit_by(cx, by_user, action, target, changes, *upstream),
        Command::ClaimTask {
            task_id,
            order_id,
            tote,
        } => pick::claim_task(cx, task_id, order_id, tote),
        Command::ReleaseTask { task_id, .. } => pick::release_task(cx, task_id),
        Command::Pick {
            task_id,
            order_id,
            line_id,
            tenant_id,
            sku,
            location,
            lot,
            qty,
            tote,
        } => pick::pick(
            cx,
            &pick::Picked {
                task_id,
                order_id,
                line_id,
                tenant_id,
                sku,
                location,
                lot: lot.as_deref().unwrap_or(""),
                qty: *qty,
                tote,
            },
        ),
        Command::ShortPick {
            task_id,
            order_id,
            line_id,
            tenant_id,
            sku,
            location,
            lot,
            short_qty,
        } => pick::short_pick(
            cx,
            &pick::ShortPicked {
                task_id,
                order_id,
                line_id,
                tenant_id,
                sku,
                location,
                lot: lot.as_deref().unwrap_or(""),
                short_qty: *short_qty,
            },
        ),
        Command::CloseTote { tote, order_ids } => pick::close_tote(cx, tote, order_ids),
        Command::PutBack {
            tote,
            order_id,
            line_id,
            tenant_id,
            sku,
            lot,
            location,
            qty,
        } => pick::put_back(
            cx,
            tote,
            order_id,
            line_id,
            (tenant_id, sku, lot.as_deref().unwrap_or("")),
            location,
            *qty,
        ),
        Command::Count {
            location,
            tenant_id,
            sku,
            lot,
            counted,
            ..
        } => count::count(
            cx,
            CountInput {
                tenant_id: tenant_id.clone(),
                sku: sku.clone(),
                location: location.clone(),
                lot: lot.clone(),
                counted: i64::from(*counted),
            },
        )
        .map(drop),
        Command::StartPacking { order_id, .. } => pack::start_packing(cx, order_id),
        Command::ReleaseOrder {
            order_id,
            label_printed,
        } => pack::release_order(cx, order_id, *label_printed),
        Command::PrintLabel {
            order_id,
            carton,
            weight_mg,
            complete,
        } => pack::print_label(cx, cfg, site, order_id, *carton, *weight_mg, *complete),
        Command::PrintSlip { order_id } => pack::print_slip(cx, cfg, site, order_id),
        Command::Reprint { order_id, carton } => pack::reprint(cx, cfg, site, order_id, *carton),
        Command::ConfirmShipment {
            order_id,
            cartons,
            weight_mg,
            lines,
            approved_by,
        } => pack::confirm_shipment(
            cx,
            cfg,
            order_id,
            *cartons,
            *weight_mg,
            lines,
            approved_by.as_deref(),
        ),
        Command::Receive {
            location,
            tenant_id,
            sku,
            lot,
            expiry,
            qty,
        } => receive::receive(
            cx,
            location,
            tenant_id,
            sku,
            lot.as_deref(),
            expiry.as_deref(),
            *qty,
        ),
        Command::Move {
            tenant_id,
            sku,
            lot,
            from,
            to,
            qty,
        } => receive::put_away(
            cx,
            tenant_id,
            sku,
            lot.as_deref().unwrap_or(""),
            from,
            to,
            *qty,
        ),
    }
}

/// `Command::SessionStarted`: a login, security-relevant, so it travels upstream (sync-api.md).
fn session_started(cx: &Ctx<'_>, station: &str, user_id: &str) -> Result<()> {
    audit::record_upstream(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        "station.session_started",
        &format!("station:{station}"),
        &json!({"user": {"old": null, "new": user_id}}),
    )
    .map(drop)
}

/// `Command::LoginFailed`: a wrong badge or PIN, upstream like a login.
fn login_failed(
    cx: &Ctx<'_>,
    station: &str,
    user_id: &Option<String>,
    reason: &LoginFailure,
) -> Result<()> {
    audit::record_upstream(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        "station.login_failed",
        &format!("station:{station}"),
        &json!({"user": {"old": null, "new": user_id}, "reason": reason}),
    )
    .map(drop)
}

/// `Command::SessionEnded`: a logout or an idle timeout.
fn session_ended(cx: &Ctx<'_>, station: &str, user_id: &str, reason: &SessionEnd) -> Result<()> {
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "station.session_ended",
        &format!("station:{station}"),
        &json!({"user": {"old": user_id, "new": null}, "reason": reason}),
    )
    .map(drop)
}

/// `Command::Audit`: an entry in another user's name (a supervisor's override or approval at the
/// station), upstream when security-relevant.
fn audit_by(
    cx: &Ctx<'_>,
    by_user: &str,
    action: &str,
    target: &str,
    changes: &Value,
    upstream: bool,
) -> Result<()> {
    let origin = Origin {
        actor: Actor {
            user: Some(by_user.to_string()),
            ..cx.origin.actor.clone()
        },
        request_id: cx.origin.request_id.clone(),
    };
    if upstream {
        audit::record_upstream(cx.conn, cx.site, &origin, cx.now, action, target, changes)?;
    } else {
        audit::record(cx.conn, &origin, cx.now, action, target, changes)?;
    }
    Ok(())
}

/// Runs `f` with the transaction's context for a station outcome: attributed to the outcome's
/// actor, stamped `now`.
fn in_step<R>(
    conn: &Connection,
    site: &SiteInfo,
    actor: Actor,
    now: DateTime<Utc>,
    f: impl FnOnce(&Ctx<'_>) -> Result<R>,
) -> Result<R> {
    let origin = Origin {
        actor,
        request_id: None,
    };
    let at = crate::domain::time::format(now);
    f(&Ctx {
        conn,
        site: &site.site_id,
        origin: &origin,
        now: &at,
    })
}

/// The PIN check a `PIN:` scan needs, done here on a blocking thread so the writer never hashes.
async fn precheck_pin(store: &Store, station_id: &str, scan: &Scan) -> Result<PinCheck> {
    let Some(code) = scan.code.as_ref().filter(|c| c.prefix == "PIN") else {
        return Ok(None);
    };
    let pin = code.value.clone();
    let sid = station_id.to_string();
    let pending = store
        .read(move |conn| {
            let state = load_state(conn, &sid)?;
            let Some(user_id) = state.pin_awaited_from() else {
                return Ok(None);
            };
            let hash: Option<String> = conn
                .prepare_cached("SELECT pin_hash FROM users WHERE id = ?1 AND active = 1")?
                .query_row([user_id], |r| r.get(0))
                .optional()?
                .flatten();
            Ok(Some((user_id.to_string(), hash)))
        })
        .await?;
    let Some((user_id, hash)) = pending else {
        return Ok(None);
    };
    let ok = match hash {
        Some(h) => tokio::task::spawn_blocking(move || crate::pin::verify(&pin, &h))
            .await
            .map_err(|e| Error::Internal(format!("pin check task: {e}")))?,
        None => false,
    };
    Ok(Some((user_id, ok)))
}

/// One input at a station, end to end, in one `Store::write`: load the persisted state, run the
/// workflow, execute its commands, persist the next state. A refusal rolls all of it back; the
/// operator hears why and the station keeps its previous state.
pub async fn station_step(
    store: &Store,
    site: &SiteInfo,
    config: &StationConfig,
    input: StationInput,
    now: DateTime<Utc>,
) -> Result<StepAnswer> {
    let pin = match &input {
        StationInput::Scan(scan) => precheck_pin(store, &config.station_id, scan).await?,
        StationInput::Weight(_) => None,
    };
    let config = config.clone();
    let site = site.clone();
    let cfg = config.clone();
    let ran = store
        .write(move |conn| {
            let state = load_state(conn, &cfg.station_id)?;
            let view = TxView::new(conn, pin);
            let outcome = station::on_input(&cfg, &state, &input, &view, now);
            if let Some(e) = view.take_error() {
                return Err(e);
            }
            let actor = outcome.actor.clone();
            in_step(conn, &site, actor, now, |cx| {
                execute(cx, &cfg, &site, &outcome.commands)
            })?;
            let at = crate::domain::time::format(now);
            let mut outcome = outcome;
            if outcome.feedback.good {
                // The commands may have made new work for this station (a short pick
                // re-allocated elsewhere): offer it in the same transaction.
                let view = TxView::new(conn, None);
                if let Some((next, claims, prompt)) = station::refresh(&cfg, &outcome.next, &view) {
                    if let Some(e) = view.take_error() {
                        return Err(e);
                    }
                    in_step(conn, &site, outcome.actor.clone(), now, |cx| {
                        execute(cx, &cfg, &site, &claims)
                    })?;
                    let done = outcome
                        .feedback
                        .prompt
                        .split(". Tote ")
                        .next()
                        .unwrap_or("");
                    outcome.feedback.prompt = format!("{done}. {prompt}");
                    outcome.context = station::context_for(&cfg, &next);
                    outcome.next = next;
                }
            }
            if outcome.next != state {
                save_state(conn, &cfg.station_id, &outcome.next, &at)?;
            }
            let printed = outcome.commands.iter().any(|c| {
                matches!(
                    c,
                    Command::PrintLabel { .. }
                        | Command::PrintSlip { .. }
                        | Command::Reprint { .. }
                )
            });
            Ok((outcome.feedback, outcome.context, printed))
        })
        .await;
    match ran {
        Ok((feedback, context, printed)) => Ok(StepAnswer {
            feedback,
            context,
            refused: false,
            printed,
        }),
        Err(e @ (Error::Conflict(_) | Error::NotFound(_) | Error::Validation { .. })) => {
            let state = store
                .read({
                    let sid = config.station_id.clone();
                    move |conn| load_state(conn, &sid)
                })
                .await?;
            Ok(StepAnswer {
                feedback: Feedback {
                    good: false,
                    prompt: format!("Refused: {}", refusal_text(&e)),
                },
                context: station::context_for(&config, &state),
                refused: true,
                printed: false,
            })
        }
        Err(e) => Err(e),
    }
}

fn refusal_text(e: &Error) -> String {
    match e {
        Error::Conflict(m) | Error::NotFound(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The idle check of one station, in one write: a session with no accepted input for its idle
/// timeout ends (its claimed tasks and the order on the bench go back to their queues). `None`
/// when nothing expired.
pub async fn station_tick(
    store: &Store,
    site: &SiteInfo,
    config: &StationConfig,
    now: DateTime<Utc>,
) -> Result<Option<StepAnswer>> {
    // Most checks find nothing: look on a reader first, so the writer is not taken for them.
    let sid = config.station_id.clone();
    let state = store.read(move |conn| load_state(conn, &sid)).await?;
    if station::tick(config, &state, now).is_none() {
        return Ok(None);
    }
    let cfg = config.clone();
    let site = site.clone();
    store
        .write(move |conn| {
            let state = load_state(conn, &cfg.station_id)?;
            let Some(outcome) = station::tick(&cfg, &state, now) else {
                return Ok(None);
            };
            in_step(conn, &site, outcome.actor.clone(), now, |cx| {
                execute(cx, &cfg, &site, &outcome.commands)?;
                save_state(conn, &cfg.station_id, &outcome.next, cx.now)
            })?;
            Ok(Some(StepAnswer {
                feedback: outcome.feedback,
                context: outcome.context,
                refused: false,
                printed: false,
            }))
        })
        .await
}
