//! `/ui/`: the screens this person may open — the floor's stations for floor roles, the
//! registers and their customer displays for cashiers, the supervisor page for supervisors.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::{layout, Shell, Ui, Viewer};
use crate::domain::role::Role;

pub(crate) async fn page(State(ui): State<Ui>, headers: HeaderMap) -> Response {
    let viewer = match Viewer::of(&ui, &headers, "/ui/").await {
        Ok(v) => v,
        Err(to_login) => return to_login,
    };
    let stations: Vec<(String, &'static str)> = ui
        .st
        .devices
        .floor()
        .map(|f| {
            f.stations
                .values()
                .map(|s| (s.station_id.clone(), s.kind.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let mut registers: Vec<&String> = ui
        .st
        .registers
        .values()
        .filter(|r| {
            viewer
                .user
                .tenant_id
                .as_ref()
                .is_none_or(|t| *t == r.tenant_id)
        })
        .map(|r| &r.id)
        .collect();
    registers.sort();
    let floor = viewer.user.roles.iter().any(|r| r.is_floor());
    let cashier = viewer.has(Role::Cashier);
    let supervisor = viewer.has(Role::Supervisor);
    let body = html! {
        main.home {
            h1 { "Hello " (viewer.user.name) }
            @if floor && !stations.is_empty() {
                section {
                    h2 { "Stations" }
                    ul.tiles {
                        @for (id, kind) in &stations {
                            li { a.tile href={ "/ui/station/" (id) } { strong { (id) } span { (kind) } } }
                        }
                    }
                }
            }
            @if cashier && !registers.is_empty() {
                section {
                    h2 { "Registers" }
                    ul.tiles {
                        @for id in &registers {
                            li { a.tile href={ "/ui/register/" (id) } { strong { (id) } span { "register" } } }
                            li { a.tile href={ "/ui/customer/" (id) } { strong { (id) } span { "customer display" } } }
                        }
                    }
                }
            }
            @if supervisor {
                section {
                    h2 { "Site" }
                    ul.tiles {
                        li { a.tile href="/ui/supervisor" { strong { "Supervisor" } span { "devices, sync, orders, registers" } } }
                    }
                }
            }
            @if !floor && !cashier && !supervisor {
                p.notice { "No screen is meant for your roles." }
            }
        }
    };
    layout(&viewer, &Shell::new("Screens", "home"), body)
}
