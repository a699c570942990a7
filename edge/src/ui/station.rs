//! `/ui/station/{id}`: a pick, pack, count or receive station. The prompt of the last scan in
//! large type, good/bad by colour, word and sound, the work in hand, and a scan field that sends
//! what a keyboard-wedge scanner types as the station's scanner (`POST /v1/scans`), exactly as a
//! scan on the serial port would. Scans from the station's real scanner, weights read and idle
//! logouts arrive on `/v1/events` and change the page at once.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde_json::Value;
use wms_hardware::profiles::DeviceKind;

use super::{fragment, layout, s, unavailable, Fail, PartQuery, Shell, Ui, Viewer};
use crate::domain::station::{context_for, StationConfig, StationState};
use crate::store::workflow::station::load_state;

pub(crate) async fn page(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    Query(q): Query<PartQuery>,
    headers: HeaderMap,
) -> Response {
    let back = match &q.device {
        Some(d) => format!("/ui/station/{id}?device={d}"),
        None => format!("/ui/station/{id}"),
    };
    let viewer = match Viewer::of(&ui, &headers, &back).await {
        Ok(v) => v,
        Err(to_login) => return to_login,
    };
    let Some(config) = ui
        .st
        .devices
        .floor()
        .and_then(|f| f.stations.get(&id))
        .cloned()
    else {
        if ui.st.registers.contains_key(&id) {
            return Redirect::to(&format!("/ui/register/{id}")).into_response();
        }
        return not_found(&viewer, &id);
    };
    if !viewer.user.roles.iter().any(|r| r.is_floor()) {
        return viewer.refused("A station", crate::domain::role::Role::Picker);
    }
    let state = read_state(&ui, &id).await;
    if q.part.as_deref() == Some("work") {
        return fragment(work(&config, &state));
    }
    let device = scanner_of(&ui, &id, q.device.as_deref());
    let prompt = match &state {
        Ok(st) => opening_prompt(&context_for(&config, st)),
        Err(_) => "The station's state cannot be read now".to_string(),
    };
    let title = format!("{} · {}", config.station_id, config.kind.as_str());
    let mut shell = Shell::new(&title, "station");
    shell.events = "scan,station";
    shell.idle_s = config.idle_timeout_s;
    shell.data = vec![("station", id.clone())];
    if let Some(d) = &device {
        shell.data.push(("device", d.clone()));
    }
    let body = html! {
        main.station {
            section.promptbox {
                div.feedback data-testid="feedback" data-feedback="" aria-live="polite" { "Ready" }
                p.prompt data-testid="prompt" aria-live="polite" { (prompt) }
            }
            form.scan #scan autocomplete="off" {
                label for="scan-input" { "Scan" }
                @if let Some(d) = &device {
                    input #scan-input name="scan" data-testid="scan-input" autofocus
                        autocomplete="off" autocapitalize="off" spellcheck="false"
                        maxlength="512" placeholder={ "scan or type, Enter sends as " (d) };
                    button type="submit" { "Send" }
                } @else {
                    input #scan-input name="scan" data-testid="scan-input" disabled
                        placeholder="no scanner is configured at this station";
                }
            }
            p.weight-read data-testid="weight-read" aria-live="polite" {}
            section.work data-part="work" data-src={ "/ui/station/" (id) "?part=work" } {
                (work(&config, &state))
            }
        }
    };
    layout(&viewer, &shell, body)
}

fn not_found(viewer: &Viewer, id: &str) -> Response {
    let body = html! {
        main.narrow {
            h1 { "No such station" }
            p.notice.bad { "This node has no pick, pack, count or receive station " strong { (id) } "." }
            p { a href="/ui/" { "The screens you can open" } }
        }
    };
    (
        StatusCode::NOT_FOUND,
        layout(viewer, &Shell::new("No such station", "missing"), body),
    )
        .into_response()
}

async fn read_state(ui: &Ui, id: &str) -> Result<StationState, Fail> {
    let sid = id.to_string();
    ui.st
        .store
        .read(move |c| load_state(c, &sid))
        .await
        .map_err(|e| Fail {
            message: e.to_string(),
            missing: false,
        })
}

/// The scanner this page scans as: `?device=` when it is a configured scanner, else the first
/// scanner of the station.
fn scanner_of(ui: &Ui, station: &str, asked: Option<&str>) -> Option<String> {
    let scanners = || {
        ui.st
            .devices
            .entries()
            .filter(|e| e.config.kind == DeviceKind::Scanner)
    };
    if let Some(a) = asked {
        return scanners()
            .find(|e| e.config.id == a)
            .map(|e| e.config.id.clone());
    }
    scanners()
        .find(|e| e.config.station.as_deref() == Some(station))
        .map(|e| e.config.id.clone())
}

/// What the operator is asked for in the state the station is in, until the next scan's own
/// prompt replaces it.
fn opening_prompt(ctx: &Value) -> String {
    let task = &ctx["task"];
    let picking = task.is_object();
    match (s(ctx, "kind"), s(ctx, "stage")) {
        (_, "logged_out") => "Scan your badge".into(),
        (_, "awaiting_pin") => "Scan your PIN".into(),
        ("pick", "await_tote") => "Scan a tote to start picking".into(),
        ("pick", "await_location") if picking => format!("Go to {}", s(task, "location")),
        ("pick", "await_item") if picking => format!(
            "Pick {} × {} at {}",
            task["qty"].as_i64().unwrap_or(0),
            s(task, "sku"),
            s(task, "location")
        ),
        ("pick", "tote_complete") => "Tote complete — scan CMD:DONE".into(),
        ("pick", "put_back") => format!("Put back into {}", s(&ctx["item"], "location")),
        ("pack", "await_order") => "Scan an order or a tote".into(),
        ("pack", "verifying") => "Scan each item".into(),
        ("pack", "weighing") => "Put the carton on the scale".into(),
        ("pack", "weight_out_of_tolerance") => {
            "Weight out of tolerance — fix the carton and scan CMD:WEIGH".into()
        }
        ("pack", "labelled") => "Label printed — scan CMD:DONE to ship".into(),
        ("pack", "approve_partial") => "A supervisor must approve the partial shipment".into(),
        ("count", "await_location") => "Scan a location to count".into(),
        ("count", _) => "Scan the items, then CMD:DONE".into(),
        ("receive", "await_item") => "Scan the items to receive".into(),
        (_, other) if !other.is_empty() => format!("Carry on: {}", other.replace('_', " ")),
        _ => "Scan".into(),
    }
}

fn stage_label(stage: &str) -> String {
    match stage {
        "logged_out" => "nobody logged in".into(),
        "weight_out_of_tolerance" => "weight out of tolerance".into(),
        other => other.replace('_', " "),
    }
}

fn kg(mg: &Value) -> String {
    mg.as_i64()
        .map(|m| {
            let sign = if m < 0 { "-" } else { "" };
            let a = m.unsigned_abs();
            format!("{sign}{}.{:03} kg", a / 1_000_000, (a % 1_000_000) / 1_000)
        })
        .unwrap_or_default()
}

/// The work in hand: who is at the station, the stage, and the task, order, count or receipt.
fn work(config: &StationConfig, state: &Result<StationState, Fail>) -> Markup {
    let state = match state {
        Ok(s) => s,
        Err(f) => return unavailable("The station's state", f),
    };
    let ctx = context_for(config, state);
    let stage = s(&ctx, "stage");
    html! {
        dl.facts {
            dt { "At the station" }
            dd data-testid="station-user" {
                @match state.user() {
                    Some(u) => { (u.name) }
                    None => { "nobody — scan a badge" }
                }
            }
            dt { "Stage" }
            dd data-testid="stage" data-stage=(stage) { (stage_label(stage)) }
            @if let Some(t) = ctx["tote"].as_str() {
                dt { "Tote" } dd { (t) }
            }
            @if let Some(o) = ctx["order_id"].as_str() {
                dt { "Order" } dd { (o) }
            }
        }
        @if ctx["task"].is_object() {
            @let t = &ctx["task"];
            div.task data-testid="task" {
                div.big { (s(t, "location")) }
                div { "Pick " strong { (t["qty"].as_i64().unwrap_or(0)) } " × " strong { (s(t, "sku")) }
                    @if let Some(lot) = t["lot"].as_str() { " lot " (lot) } }
                div.muted { "for order " (s(t, "order_id")) " · picked " (t["picked"].as_i64().unwrap_or(0)) }
                @if let Some(q) = ctx["pending_qty"].as_i64() {
                    div.muted { "next scan counts " (q) }
                }
            }
        }
        @if ctx["order"].is_object() {
            @let o = &ctx["order"];
            div.order data-testid="order" {
                h2 { "Order " (s(o, "order_id")) @if let Some(t) = o["tote"].as_str() { span.muted { " · tote " (t) } } }
                table.lines {
                    thead { tr { th { "SKU" } th.num { "Verified" } th.num { "Qty" } } }
                    tbody {
                        @for l in o["lines"].as_array().into_iter().flatten() {
                            @let qty = l["qty"].as_i64().unwrap_or(0);
                            @let done = l["verified"].as_i64().unwrap_or(0);
                            tr.line data-testid="pack-line" data-done=(if done >= qty { "true" } else { "false" }) {
                                td { (s(l, "sku")) }
                                td.num { (done) }
                                td.num { (qty) }
                            }
                        }
                    }
                }
                p.label data-testid="label-state" {
                    @match o["cartons"].as_i64().unwrap_or(0) {
                        0 => { "No label printed yet" }
                        1 => { "Label printed" }
                        n => { (n) " cartons labelled" }
                    }
                }
            }
        }
        @if ctx["weight"].is_object() {
            @let w = &ctx["weight"];
            div.weight.bad data-testid="weight" {
                div { "Read " strong { (kg(&w["measured_mg"])) } }
                div { "Expected " (kg(&w["expected_mg"])) " ± " (kg(&w["allowed_mg"])) }
            }
        }
        @if ctx["item"].is_object() {
            @let i = &ctx["item"];
            div.task {
                div.big { (s(i, "location")) }
                div { "Put back " (s(i, "sku")) " of order " (s(i, "order_id")) }
            }
        }
        @if let Some(loc) = ctx["location"].as_str() {
            div.task { div.big { (loc) } div { "Counted " (ctx["counted_units"].as_i64().unwrap_or(0)) " units" } }
        }
        @if let Some(u) = ctx["units"].as_i64() {
            div.task { div { (u) " units scanned" @if let Some(f) = ctx["from"].as_str() { " from " (f) } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::station::StationKind;

    #[test]
    fn a_station_nobody_is_at_asks_for_a_badge() {
        let cfg = StationConfig::new("pack-1", StationKind::Pack);
        let st = StationState::default();
        let ctx = context_for(&cfg, &st);
        assert_eq!(opening_prompt(&ctx), "Scan your badge");
        let html = work(&cfg, &Ok(st)).into_string();
        assert!(html.contains("nobody — scan a badge"), "{html}");
        assert!(html.contains("data-stage=\"logged_out\""), "{html}");
    }
}
