//! `/ui/register/{id}`: the cashier's screen. The register's session (open with a counted
//! float; the X report; close with counted cash), the sale as it grows (lines, discounts, totals,
//! due), tenders (cash with tendered and change, card with the terminal's live state, split),
//! customer look-up, reprint and gift receipts, voids and refunds (with a supervisor's badge and PIN
//! where the till asks for one). Items are scanned or typed into the scan field; every change is
//! a call of the point-of-sale API made by the page with the cashier's session, and every
//! `pos.sale`, `pos.payment` and `pos.register` event of this register redraws what it touched.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;

use super::money::{minor, shown};
use super::{
    encode_component, fragment, layout, s, short_time, unavailable, PartQuery, Shell, Ui, Viewer,
};
use crate::domain::pos::minor_digits;
use crate::domain::role::Role;

pub(crate) async fn page(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    Query(q): Query<PartQuery>,
    headers: HeaderMap,
) -> Response {
    let viewer = match Viewer::of(&ui, &headers, &format!("/ui/register/{id}")).await {
        Ok(v) => v,
        Err(to_login) => return to_login,
    };
    if !viewer.has(Role::Cashier) {
        return viewer.refused("The register", Role::Cashier);
    }
    let Some(reg) = ui.st.registers.get(&id).cloned() else {
        return missing(&viewer, &id);
    };
    match q.part.as_deref() {
        Some("sale") => return fragment(sale_part(&ui, &viewer, &id).await),
        Some("session") => return fragment(session_part(&ui, &viewer, &id).await),
        Some("report") => return fragment(report_part(&ui, &viewer, q.session.as_deref()).await),
        Some("customers") => {
            return fragment(customers_part(&ui, &viewer, q.q.as_deref().unwrap_or("")).await)
        }
        _ => {}
    }
    let title = format!("Register {id}");
    let mut shell = Shell::new(&title, "register");
    shell.events = "pos.sale,pos.payment,pos.register,pos.refund";
    shell.data = vec![
        ("register", id.clone()),
        ("digits", minor_digits(&reg.currency).to_string()),
        ("currency", reg.currency.clone()),
    ];
    let src = |part: &str| format!("/ui/register/{id}?part={part}");
    let body = html! {
        main.register {
            section.left {
                div.promptline {
                    div.feedback data-testid="feedback" data-feedback="" { "Ready" }
                    p.prompt data-testid="prompt" aria-live="polite" { "Scan or type an item" }
                }
                form.scan #item autocomplete="off" {
                    label for="scan-input" { "Item" }
                    input #scan-input name="code" data-testid="scan-input" autofocus
                        autocomplete="off" autocapitalize="off" spellcheck="false" maxlength="256"
                        placeholder="barcode or SKU, Enter adds";
                    button type="submit" { "Add" }
                }
                section.sale data-part="sale" data-src=(src("sale")) {
                    (sale_part(&ui, &viewer, &id).await)
                }
            }
            section.right {
                div.panel.tender {
                    h2 { "Payment" }
                    label for="tendered" { "Amount (" (reg.currency) ")" }
                    input #tendered data-testid="tendered" inputmode="decimal" autocomplete="off"
                        placeholder="cash handed over, or part to pay";
                    div.buttons {
                        button.primary type="button" data-testid="pay-cash" data-action="pay-cash" { "Cash" }
                        button.primary type="button" data-testid="pay-card" data-action="pay-card" { "Card" }
                    }
                    p.payment data-testid="payment-state" data-state="" aria-live="polite" {}
                    button type="button" data-action="abort-card" hidden { "Abort card payment" }
                }
                div.panel {
                    h2 { "Customer" }
                    form #customer-search autocomplete="off" {
                        input name="q" data-testid="customer-q" placeholder="name, phone, email or loyalty id";
                        button type="submit" { "Find" }
                    }
                    div data-part="customers" data-src=(src("customers")) {}
                }
                div.panel {
                    h2 { "Discount, void, refund" }
                    form #discount autocomplete="off" {
                        input name="percent" inputmode="decimal" placeholder="% off the sale" size="4";
                        input name="reason" placeholder="reason";
                        button type="submit" { "Apply" }
                    }
                    form #void autocomplete="off" {
                        input name="reason" data-testid="void-reason" placeholder="why (void or refund)";
                        button type="submit" data-testid="void" { "Void sale" }
                    }
                    details.approval {
                        summary { "Supervisor approval" }
                        div.row {
                            input #approval-badge placeholder="supervisor badge" autocomplete="off";
                            input #approval-pin type="password" inputmode="numeric" placeholder="PIN" autocomplete="off";
                        }
                        p.muted { "Used once by the next discount, void or refund that needs it." }
                    }
                    div.buttons {
                        button type="button" data-action="reprint" { "Reprint last receipt" }
                        button type="button" data-action="gift-receipt" { "Gift receipt" }
                    }
                }
                div.panel data-part="session" data-src=(src("session")) {
                    (session_part(&ui, &viewer, &id).await)
                }
                div.panel.report data-part="report" data-src=(src("report")) {}
            }
        }
    };
    layout(&viewer, &shell, body)
}

fn missing(viewer: &Viewer, id: &str) -> Response {
    let body = html! {
        main.narrow {
            h1 { "No such register" }
            p.notice.bad { "This node has no register " strong { (id) } "." }
            p { a href="/ui/" { "The screens you can open" } }
        }
    };
    (
        StatusCode::NOT_FOUND,
        layout(viewer, &Shell::new("No such register", "missing"), body),
    )
        .into_response()
}

/// The sale on the register: the open one, else the last one (its change stays on screen until
/// the next customer).
pub(crate) async fn current_sale(
    ui: &Ui,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<Value>, Markup> {
    let reg = ui
        .get(
            viewer,
            &format!("/v1/pos/registers/{}", encode_component(id)),
        )
        .await
        .map_err(|f| unavailable("The register", &f))?;
    if let Some(sale) = reg["sale"].as_str() {
        let v = ui
            .get(viewer, &format!("/v1/pos/sales/{}", encode_component(sale)))
            .await
            .map_err(|f| unavailable("The sale", &f))?;
        return Ok(Some(v));
    }
    // Only a sale of the register's open session: a closed drawer starts clean.
    let Some(session) = reg["session"]["id"].as_str() else {
        return Ok(None);
    };
    let last = ui
        .get(
            viewer,
            &format!(
                "/v1/pos/sales?register={}&session={}&limit=1",
                encode_component(id),
                encode_component(session)
            ),
        )
        .await
        .map_err(|f| unavailable("The last sale", &f))?;
    Ok(last["data"].as_array().and_then(|d| d.first()).cloned())
}

async fn customer_name(ui: &Ui, viewer: &Viewer, sale: &Value) -> Option<String> {
    let id = sale["customer_id"].as_str()?;
    let c = ui
        .get(
            viewer,
            &format!("/v1/pos/customers/{}", encode_component(id)),
        )
        .await
        .ok()?;
    Some(c["name"].as_str().unwrap_or(id).to_string())
}

async fn sale_part(ui: &Ui, viewer: &Viewer, id: &str) -> Markup {
    let sale = match current_sale(ui, viewer, id).await {
        Ok(s) => s,
        Err(m) => return m,
    };
    let Some(sale) = sale else {
        return html! {
            div.salebox data-sale-id="" data-sale-status="" data-last-sale="" {
                p.empty { "No sale yet — scan an item to start one." }
            }
        };
    };
    let customer = customer_name(ui, viewer, &sale).await;
    sale_view(&sale, customer.as_deref())
}

/// A sale as the cashier sees it.
pub(crate) fn sale_view(sale: &Value, customer: Option<&str>) -> Markup {
    let status = s(sale, "status");
    let open = status == "open";
    let t = &sale["totals"];
    let pending = sale["payments"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|p| s(p, "method") == "card")
        .map(|p| (s(p, "id").to_string(), s(p, "state").to_string()));
    html! {
        div.salebox data-sale-id=(if open { s(sale, "id") } else { "" })
            data-sale-status=(status)
            data-last-sale=(if open { "" } else { s(sale, "id") })
            data-card-payment=(pending.as_ref().map(|p| p.0.as_str()).unwrap_or(""))
            data-card-state=(pending.as_ref().map(|p| p.1.as_str()).unwrap_or(""))
            data-due=(minor(&t["due"])) {
            @if !open {
                p.banner.good[status == "completed"] data-testid="sale-status" data-status=(status) {
                    @if status == "completed" { "Paid" } @else if status == "voided" { "Voided" } @else { (status) }
                    @if let Some(r) = sale["receipt_no"].as_str() { " · receipt " (r) }
                    " — next customer: scan an item"
                }
            }
            @if let Some(c) = customer {
                p.customer data-testid="sale-customer" { "Customer: " strong { (c) } }
            }
            table.lines {
                thead { tr { th { "Item" } th.num { "Qty" } th.num { "Price" } th.num { "Amount" } } }
                tbody {
                    @for l in sale["lines"].as_array().into_iter().flatten() {
                        tr data-testid="sale-line" data-sku=(s(l, "sku")) {
                            td {
                                div { (s(l, "name")) }
                                div.muted { (s(l, "sku")) }
                                @for d in l["discounts"].as_array().into_iter().flatten() {
                                    div.discount { (s(d, "kind")) " " (s(d, "id")) " −" (shown(&d["amount"])) }
                                }
                                @let refunded = l["refunded_qty"].as_i64().unwrap_or(0);
                                @if refunded > 0 {
                                    div.muted data-testid="line-refunded" { (refunded) " refunded" }
                                }
                                @if status == "completed" && l["qty"].as_i64().unwrap_or(0) > refunded {
                                    button.small type="button" data-action="refund-line" data-line-id=(s(l, "line_id")) { "Refund 1" }
                                }
                            }
                            td.num { (l["qty"].as_i64().unwrap_or(0)) }
                            td.num { (shown(&l["unit_price"])) }
                            td.num { (shown(&l["net"])) }
                        }
                    }
                }
            }
            @if let Some(c) = sale["coupon"].as_str() {
                p.muted { "Coupon " (c) }
            }
            @for w in sale["warnings"].as_array().into_iter().flatten() {
                p.notice { (w.as_str().unwrap_or("")) }
            }
            dl.totals {
                dt { "Subtotal" } dd { (shown(&t["subtotal"])) }
                @if minor(&t["discount"]) != 0 {
                    dt { "Discount" } dd { "−" (shown(&t["discount"])) }
                }
                dt { "Tax" } dd { (shown(&t["tax"])) }
                @if minor(&t["rounding"]) != 0 {
                    dt { "Rounding" } dd { (shown(&t["rounding"])) }
                }
                dt.total { "Total" } dd.total data-testid="sale-total" { (shown(&t["total"])) }
                @if status != "voided" {
                    dt { "Paid" } dd data-testid="sale-paid" { (shown(&t["paid"])) }
                    dt.due { "Due" } dd.due data-testid="sale-due" { (shown(&t["due"])) }
                }
                @if status == "completed" || minor(&t["change"]) != 0 {
                    dt.change { "Change" } dd.change data-testid="change" { (shown(&t["change"])) }
                }
                @if minor(&t["refunded"]) != 0 {
                    dt { "Refunded" } dd data-testid="sale-refunded" { (shown(&t["refunded"])) }
                }
            }
            @if sale["payments"].as_array().is_some_and(|p| !p.is_empty()) {
                ul.payments {
                    @for p in sale["payments"].as_array().into_iter().flatten() {
                        li data-state=(s(p, "state")) {
                            (s(p, "method")) " " (shown(&p["amount"])) " · " (s(p, "state"))
                            @if let Some(card) = p["card"].as_object() {
                                " · " (card.get("brand").and_then(Value::as_str).unwrap_or(""))
                                " " (card.get("masked_pan").and_then(Value::as_str).unwrap_or(""))
                            }
                            @if let Some(tend) = p["tendered"].as_object() {
                                @if tend.contains_key("amount") {
                                    " · tendered " (shown(&p["tendered"]))
                                }
                            }
                            @if let Some(e) = p["error"].as_str() { " · " (e) }
                        }
                    }
                }
            }
        }
    }
}

async fn session_part(ui: &Ui, viewer: &Viewer, id: &str) -> Markup {
    let reg = match ui
        .get(
            viewer,
            &format!("/v1/pos/registers/{}", encode_component(id)),
        )
        .await
    {
        Ok(r) => r,
        Err(f) => return unavailable("The register", &f),
    };
    let session = &reg["session"];
    html! {
        h2 { "Drawer" }
        @if session.is_object() {
            div data-session-id=(s(session, "id")) data-testid="session" data-state="open" {
                p { "Open since " (short_time(s(session, "opened_at"))) " by " (s(session, "cashier"))
                    " · float " (shown(&session["opening_float"])) }
                button type="button" data-action="x-report" { "X report" }
                form #close-session autocomplete="off" {
                    label for="counted-cash" { "Counted cash" }
                    input #counted-cash name="counted_cash" data-testid="counted-cash"
                        inputmode="decimal" required placeholder="0.00";
                    input name="note" placeholder="note (optional)";
                    button type="submit" data-testid="session-close" { "Close the drawer" }
                }
            }
        } @else {
            div data-session-id="" data-testid="session" data-state="closed" {
                p { "The drawer is closed. Count the float to open it." }
                form #open-session autocomplete="off" {
                    label for="opening-float" { "Opening float" }
                    input #opening-float name="opening_float" data-testid="opening-float"
                        inputmode="decimal" required placeholder="100.00";
                    button.primary type="submit" data-testid="session-open" { "Open the drawer" }
                }
            }
        }
        @let devices = &reg["devices"];
        ul.devices {
            @for (what, key) in [("scanner", "scanner"), ("printer", "receipt_printer"), ("terminal", "payment_terminal"), ("display", "customer_display")] {
                @if devices[key].is_object() {
                    li data-state=(s(&devices[key], "state")) { (what) " " (s(&devices[key], "id")) ": " (s(&devices[key], "state")) }
                }
            }
        }
        @let oc = &reg["offline_cards"];
        @if oc["count"].as_i64().unwrap_or(0) > 0 {
            p.notice { (oc["count"].as_i64().unwrap_or(0)) " card payment(s) taken offline, " (shown(&oc["total"])) " not yet at the central" }
        }
    }
}

/// The X report of the open session (or the Z report of one just closed), when the node has it.
async fn report_part(ui: &Ui, viewer: &Viewer, session: Option<&str>) -> Markup {
    let Some(sid) = session.filter(|s| !s.is_empty()) else {
        return html! {};
    };
    let v = match ui
        .get(
            viewer,
            &format!("/v1/pos/sessions/{}", encode_component(sid)),
        )
        .await
    {
        Ok(v) => v,
        Err(f) => return unavailable("The session report", &f),
    };
    let r = &v["report"];
    if !r.is_object() {
        return html! {
            p.notice data-unavailable="true" { "The X report is not available on this node yet." }
        };
    }
    let cash = &r["cash"];
    html! {
        h2 data-testid="report-title" {
            @if let Some(z) = r["z_no"].as_i64() { "Z report " (z) } @else { "X report" }
        }
        dl.totals {
            dt { "Sales" } dd { (r["sales"]["count"].as_i64().unwrap_or(0)) " · net " (shown(&r["sales"]["net"])) }
            dt { "Tax" } dd { (shown(&r["sales"]["tax"])) }
            dt { "Refunds" } dd { (r["refunds"]["count"].as_i64().unwrap_or(0)) " · " (shown(&r["refunds"]["amount"])) }
            dt { "Voids" } dd { (r["voids"]["count"].as_i64().unwrap_or(0)) " · " (shown(&r["voids"]["amount"])) }
            @for m in r["by_method"].as_array().into_iter().flatten() {
                dt { (s(m, "method")) } dd { (m["count"].as_i64().unwrap_or(0)) " · " (shown(&m["amount"])) }
            }
            dt { "Float" } dd { (shown(&cash["opening_float"])) }
            dt.total { "Cash expected" } dd.total data-testid="cash-expected" { (shown(&cash["expected"])) }
            @if cash["counted"].is_object() {
                dt { "Counted" } dd { (shown(&cash["counted"])) }
                dt { "Over / short" } dd data-testid="over-short" { (shown(&cash["over_short"])) }
            }
        }
    }
}

async fn customers_part(ui: &Ui, viewer: &Viewer, q: &str) -> Markup {
    let q = q.trim();
    if q.is_empty() {
        return html! {};
    }
    let found = match ui
        .get(
            viewer,
            &format!("/v1/pos/customers?q={}", encode_component(q)),
        )
        .await
    {
        Ok(v) => v,
        Err(f) => return unavailable("Customer look-up", &f),
    };
    let list = found["data"].as_array().cloned().unwrap_or_default();
    html! {
        @if list.is_empty() {
            p.muted { "No customer matches “" (q) "”." }
        } @else {
            ul.customers {
                @for c in &list {
                    li data-testid="customer-hit" {
                        span { strong { (s(c, "name")) } " " span.muted { (s(c, "phone")) " " (s(c, "email")) " " (s(c, "loyalty_id")) } }
                        button type="button" data-action="attach-customer" data-customer-id=(s(c, "id")) { "Attach" }
                    }
                }
            }
        }
    }
}
