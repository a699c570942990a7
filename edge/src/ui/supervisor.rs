//! `/ui/supervisor`: the site at a glance for a shift supervisor — every device and its state
//! (live from `device.state`), sync with queue depth, oldest pending age and dead letters (retry
//! or discard them here), orders on hold or in exception, totes waiting for put-back, the
//! registers with their offline card exposure, and the most recent audit entries.
//!
//! The full audit log stays an admin's (`GET /v1/audit`); a site-wide supervisor sees its last
//! entries here, read from the store, because "who did what just now" is part of running a shift.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::money::shown;
use super::{fragment, layout, s, short_time, unavailable, PartQuery, Shell, Ui, Viewer};
use crate::domain::role::Role;
use crate::store::base::audit::{self, AuditFilter};

/// Parts of the page, each redrawn on its own.
const PARTS: [(&str, &str); 7] = [
    ("devices", "Devices"),
    ("sync", "Sync"),
    ("deadletters", "Dead letters"),
    ("orders", "Orders on hold or in exception"),
    ("putbacks", "Totes waiting for put-back"),
    ("registers", "Registers"),
    ("audit", "Recent audit"),
];

/// How many audit entries the page shows.
const AUDIT_SHOWN: usize = 15;

pub(crate) async fn page(
    State(ui): State<Ui>,
    Query(q): Query<PartQuery>,
    headers: HeaderMap,
) -> Response {
    let viewer = match Viewer::of(&ui, &headers, "/ui/supervisor").await {
        Ok(v) => v,
        Err(to_login) => return to_login,
    };
    if !viewer.has(Role::Supervisor) {
        return viewer.refused("The supervisor page", Role::Supervisor);
    }
    if let Some(part) = q.part.as_deref() {
        return fragment(render(&ui, &viewer, part).await);
    }
    let mut shell = Shell::new("Supervisor", "supervisor");
    shell.events = "device.state,sync.state,order.status_changed,pos.register,pos.payment,pos.sale,scan,station";
    let mut sections = Vec::with_capacity(PARTS.len());
    for (part, title) in PARTS {
        sections.push((part, title, render(&ui, &viewer, part).await));
    }
    let body = html! {
        main.supervisor {
            @for (part, title, inner) in &sections {
                section.panel id=(part) {
                    h2 { (title) }
                    div data-part=(part) data-src={ "/ui/supervisor?part=" (part) } { (inner) }
                }
            }
        }
    };
    layout(&viewer, &shell, body)
}

async fn render(ui: &Ui, viewer: &Viewer, part: &str) -> Markup {
    match part {
        "devices" => devices(ui, viewer).await,
        "sync" => sync(ui, viewer).await,
        "deadletters" => dead_letters(ui, viewer).await,
        "orders" => orders(ui, viewer).await,
        "putbacks" => putbacks(ui, viewer).await,
        "registers" => registers(ui, viewer).await,
        "audit" => recent_audit(ui, viewer).await,
        _ => html! { p.notice.bad { "No such part of the page." } },
    }
}

/// A device's status flags that are set, e.g. "paper out, cover open".
fn flags(status: &Value) -> String {
    let Some(map) = status.as_object() else {
        return String::new();
    };
    let mut out: Vec<String> = map
        .iter()
        .filter(|(_, v)| v.as_bool() == Some(true))
        .map(|(k, _)| k.replace('_', " "))
        .collect();
    if let Some(w) = map.get("last_stable_weight").filter(|w| w.is_object()) {
        out.push(format!("{} {}", s(w, "value"), s(w, "unit")));
    }
    out.join(", ")
}

/// The flags a device raises and its last error, each said once.
fn detail(d: &Value) -> String {
    let f = flags(&d["status"]);
    match d["last_error"].as_str() {
        Some(e) if !f.contains(e) => [f.as_str(), e]
            .iter()
            .filter(|x| !x.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("; "),
        _ => f,
    }
}

async fn devices(ui: &Ui, viewer: &Viewer) -> Markup {
    let list = match ui.get(viewer, "/v1/devices").await {
        Ok(v) => v,
        Err(f) => return unavailable("Devices", &f),
    };
    let rows = list["data"].as_array().cloned().unwrap_or_default();
    html! {
        @if rows.is_empty() {
            p.muted { "No devices are configured." }
        } @else {
            table.grid {
                thead { tr { th { "Device" } th.opt { "Kind" } th { "Station" } th { "State" } th.opt { "Detail" } } }
                tbody {
                    @for d in &rows {
                        tr data-testid="device-row" data-device-id=(s(d, "id")) data-state=(s(d, "state")) {
                            td { strong { (s(d, "id")) } }
                            td.opt { (s(d, "kind").replace('_', " ")) }
                            td { (s(d, "station")) }
                            td { span.state data-state=(s(d, "state")) { (s(d, "state")) } }
                            td.muted.opt { (detail(d)) }
                        }
                    }
                }
            }
        }
    }
}

fn age(secs: Option<u64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 120 => format!("{s} s"),
        Some(s) if s < 7200 => format!("{} min", s / 60),
        Some(s) => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

async fn sync(ui: &Ui, viewer: &Viewer) -> Markup {
    let v = match ui.get(viewer, "/v1/sync/status").await {
        Ok(v) => v,
        Err(f) => return unavailable("Sync status", &f),
    };
    let state = s(&v, "state");
    html! {
        dl.facts {
            dt { "State" }
            dd { span.state data-testid="sync-state" data-state=(state) { (state) } }
            dt { "Queue depth" }
            dd data-testid="queue-depth" { (v["queue_depth"].as_u64().unwrap_or(0)) }
            dt { "Oldest pending" }
            dd data-testid="oldest-age" { (age(v["oldest_pending_age_s"].as_u64())) }
            dt { "Dead letters" }
            dd data-testid="dead-letters" { (v["dead_letters"].as_u64().unwrap_or(0)) }
            dt { "Last success" }
            dd { (v["last_success_at"].as_str().map(short_time).unwrap_or_else(|| "—".into())) }
            @if let Some(e) = v["last_error"].as_str() {
                dt { "Last error" } dd.muted { (e) }
            }
        }
    }
}

async fn dead_letters(ui: &Ui, viewer: &Viewer) -> Markup {
    let v = match ui.get(viewer, "/v1/sync/dead-letters?limit=50").await {
        Ok(v) => v,
        Err(f) => return unavailable("Dead letters", &f),
    };
    let rows = v["data"].as_array().cloned().unwrap_or_default();
    html! {
        @if rows.is_empty() {
            p.muted { "None." }
        } @else {
            ul.items {
                @for d in &rows {
                    @let id = s(d, "id");
                    li data-testid="dead-letter" data-id=(id) {
                        div { strong { (s(d, "type")) } " " (s(d, "aggregate")) }
                        div.muted { (s(d, "code")) ": " (s(d, "message")) " · " (short_time(s(d, "dead_at"))) }
                        div.buttons {
                            button type="button" data-post={ "/v1/sync/dead-letters/" (id) "/retry" }
                                data-refresh="deadletters sync" { "Retry" }
                            button.danger type="button" data-post={ "/v1/sync/dead-letters/" (id) "/discard" }
                                data-confirm="Discard this event for good? The central will never receive it."
                                data-refresh="deadletters sync" { "Discard" }
                        }
                    }
                }
            }
        }
    }
}

async fn orders(ui: &Ui, viewer: &Viewer) -> Markup {
    let mut rows = Vec::new();
    for status in ["on_hold", "exception"] {
        match ui
            .get(viewer, &format!("/v1/orders?status={status}&limit=100"))
            .await
        {
            Ok(v) => rows.extend(v["data"].as_array().cloned().unwrap_or_default()),
            Err(f) => return unavailable("Orders", &f),
        }
    }
    html! {
        @if rows.is_empty() {
            p.muted { "No order is on hold or in exception." }
        } @else {
            table.grid {
                thead { tr { th { "Order" } th { "Tenant" } th { "Status" } th { "Ship by" } } }
                tbody {
                    @for o in &rows {
                        tr data-testid="order-row" data-order-id=(s(o, "id")) data-status=(s(o, "status")) {
                            td { strong { (s(o, "id")) } }
                            td { (s(o, "tenant_id")) }
                            td { span.state data-state=(s(o, "status")) { (s(o, "status").replace('_', " ")) } }
                            td { (o["ship_by"].as_str().map(short_time).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

async fn putbacks(ui: &Ui, viewer: &Viewer) -> Markup {
    let v = match ui.get(viewer, "/v1/putbacks?limit=50").await {
        Ok(v) => v,
        Err(f) => return unavailable("The put-back list", &f),
    };
    let totes = v["data"].as_array().cloned().unwrap_or_default();
    html! {
        @if totes.is_empty() {
            p.muted { "No tote is waiting for put-back." }
        } @else {
            ul.items {
                @for t in &totes {
                    li data-testid="putback" {
                        div { strong { "Tote " (s(t, "tote")) } " · " (t["units"].as_i64().unwrap_or(0)) " units · waiting " (age(t["age_s"].as_u64())) }
                        @for i in t["items"].as_array().into_iter().flatten() {
                            div.muted { (i["qty"].as_i64().unwrap_or(0)) " × " (s(i, "sku")) " of " (s(i, "order_id"))
                                " (" (s(i, "reason").replace('_', " ")) ") → " (i["location"].as_str().unwrap_or("?")) }
                        }
                    }
                }
            }
        }
    }
}

async fn registers(ui: &Ui, viewer: &Viewer) -> Markup {
    let v = match ui.get(viewer, "/v1/pos/registers").await {
        Ok(v) => v,
        Err(f) => return unavailable("Registers", &f),
    };
    let regs = v["data"].as_array().cloned().unwrap_or_default();
    html! {
        @if regs.is_empty() {
            p.muted { "This site has no registers." }
        } @else {
            table.grid {
                thead { tr { th { "Register" } th { "Drawer" } th { "Sale" } th { "Offline cards" } } }
                tbody {
                    @for r in &regs {
                        @let oc = &r["offline_cards"];
                        tr data-testid="register-row" data-register-id=(s(r, "id")) data-state=(s(r, "state")) {
                            td { a href={ "/ui/register/" (s(r, "id")) } { strong { (s(r, "id")) } } }
                            td {
                                span.state data-state=(s(r, "state")) { (s(r, "state")) }
                                @if r["session"].is_object() { " · " (s(&r["session"], "cashier")) }
                            }
                            td { @if r["sale"].is_string() { "in progress" } @else { "—" } }
                            td data-testid="offline-cards" {
                                (oc["count"].as_i64().unwrap_or(0)) " · " (shown(&oc["total"]))
                                @if let Some(at) = oc["oldest_at"].as_str() { " · oldest " (short_time(at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn recent_audit(ui: &Ui, viewer: &Viewer) -> Markup {
    if viewer.user.tenant_id.is_some() {
        return html! { p.muted { "The audit log belongs to the whole site; this login is limited to one tenant." } };
    }
    let filter = AuditFilter {
        user: None,
        device: None,
        api_key: None,
        action: None,
        since: None,
        until: None,
        before_id: None,
        limit: AUDIT_SHOWN,
    };
    let entries = match ui.st.store.read(move |c| audit::list(c, &filter)).await {
        Ok(e) => e,
        Err(e) => {
            return html! { p.notice.bad { "The audit log cannot be read now: " (e.to_string()) } }
        }
    };
    html! {
        @if entries.is_empty() {
            p.muted { "Nothing recorded yet." }
        } @else {
            table.grid {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "On" } } }
                tbody {
                    @for e in &entries {
                        tr data-testid="audit-row" {
                            td { (short_time(&e.at)) }
                            td {
                                (e.actor.user.as_deref().or(e.actor.api_key.as_deref()).unwrap_or("node"))
                                @if let Some(d) = &e.actor.device { span.muted { " @" (d) } }
                            }
                            td { (e.action) }
                            td.muted { (e.target) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_shows_the_flags_it_raises() {
        let st = serde_json::json!({"paper_out": true, "head_open": false, "paused": null,
            "last_stable_weight": {"value": "1.250", "unit": "kg"}});
        assert_eq!(flags(&st), "paper out, 1.250 kg");
        assert_eq!(flags(&Value::Null), "");
        let d = serde_json::json!({"status": {"paper_out": true}, "last_error": "paper out"});
        assert_eq!(detail(&d), "paper out");
        let d = serde_json::json!({"status": {}, "last_error": "connection refused"});
        assert_eq!(detail(&d), "connection refused");
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(None), "—");
        assert_eq!(age(Some(42)), "42 s");
        assert_eq!(age(Some(600)), "10 min");
        assert_eq!(age(Some(3 * 3600 + 120)), "3 h 2 min");
    }
}
