//! `/ui/customer/{id}`: the register's second screen, facing the customer — the lines as they are
//! rung up, the total, what is paid and the change, in type readable across a counter. It follows
//! the same `pos.sale` and `pos.payment` events as the pole display, and never logs out by itself.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};

use serde_json::Value;

use super::money::{major, minor, shown};
use super::register::current_sale;
use super::{fragment, layout, s, PartQuery, Shell, Ui, Viewer};
use crate::domain::role::Role;

pub(crate) async fn page(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    Query(q): Query<PartQuery>,
    headers: HeaderMap,
) -> Response {
    let viewer = match Viewer::of(&ui, &headers, &format!("/ui/customer/{id}")).await {
        Ok(v) => v,
        Err(to_login) => return to_login,
    };
    if !viewer.has(Role::Cashier) {
        return viewer.refused("The customer display", Role::Cashier);
    }
    if q.part.as_deref() == Some("sale") {
        return fragment(sale(&ui, &viewer, &id).await);
    }
    let title = format!("Welcome · {id}");
    let mut shell = Shell::new(&title, "customer");
    shell.events = "pos.sale,pos.payment";
    shell.idle_s = 0;
    shell.data = vec![("register", id.clone())];
    let body = html! {
        main.customer data-part="sale" data-src={ "/ui/customer/" (id) "?part=sale" } {
            (sale(&ui, &viewer, &id).await)
        }
    };
    layout(&viewer, &shell, body)
}

async fn sale(ui: &Ui, viewer: &Viewer, id: &str) -> Markup {
    let sale = match current_sale(ui, viewer, id).await {
        Ok(Some(sale)) if s(&sale, "status") != "voided" => sale,
        Ok(_) => return welcome(),
        Err(m) => return m,
    };
    let t = &sale["totals"];
    let done = s(&sale, "status") != "open";
    let currency = t["total"]["currency"].as_str().unwrap_or("");
    let handed = handed_over(&sale);
    html! {
        ul.big-lines {
            @for l in sale["lines"].as_array().into_iter().flatten() {
                li data-testid="sale-line" {
                    span.name { (l["qty"].as_i64().unwrap_or(0)) " × " (s(l, "name")) }
                    span.amount { (shown(&l["net"])) }
                }
            }
        }
        dl.big-totals {
            dt { "Total" } dd data-testid="sale-total" { (shown(&t["total"])) }
            @if handed > 0 {
                dt { "Paid" } dd data-testid="sale-paid" { (major(handed, currency)) }
            }
            @if !done {
                dt { "To pay" } dd data-testid="sale-due" { (shown(&t["due"])) }
            }
            @if done {
                dt.change { "Change" } dd.change data-testid="change" { (shown(&t["change"])) }
            }
        }
        @if done {
            p.thanks { "Thank you!" }
        }
    }
}

/// What the customer handed over: cash as tendered (the change comes back), cards as charged.
fn handed_over(sale: &Value) -> i64 {
    sale["payments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| matches!(s(p, "state"), "approved" | "partial"))
        .map(|p| {
            if p["tendered"].is_object() {
                minor(&p["tendered"])
            } else {
                minor(&p["amount"])
            }
        })
        .sum()
}

fn welcome() -> Markup {
    html! { p.thanks data-testid="welcome" { "Welcome" } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_customer_sees_what_they_handed_over_not_what_was_applied() {
        let sale = json!({"payments": [
            {"method": "cash", "state": "approved", "amount": {"amount": 1000, "currency": "USD"},
             "tendered": {"amount": 1000, "currency": "USD"}},
            {"method": "card", "state": "declined", "amount": {"amount": 2537, "currency": "USD"}, "tendered": null},
            {"method": "cash", "state": "approved", "amount": {"amount": 2537, "currency": "USD"},
             "tendered": {"amount": 3000, "currency": "USD"}}
        ]});
        assert_eq!(handed_over(&sale), 4000);
    }
}
