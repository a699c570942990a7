//! The receive station. Receiving: item scans (GS1 lot and expiry captured; lot-tracked products
//! must bring their lot) then `CMD:DONE` books them into the station's receiving location.
//! Put-away: `LOC:<from>`, item scans (only what is on hand there), `LOC:<to>` moves them.
//! Scans are kept in the persisted state until they are booked, so an acknowledged scan survives
//! a restart; `CMD:CANCEL` drops them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::item::{identify, ItemRead};
use super::view::{FloorView, ProductView};
use super::{code_of, is_item, take_qty, Command, Ctx, StationInput, Step};
use crate::domain::Tracking;
use wms_labels::scan::Scan;

/// The receive station's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum ReceiveWork {
    Idle,
    Receiving {
        items: Vec<ReceivedItem>,
        pending_qty: Option<u32>,
    },
    PutAway {
        from: String,
        items: Vec<MovedItem>,
        pending_qty: Option<u32>,
    },
}

/// Units of one (tenant, sku, lot, expiry) scanned in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedItem {
    pub tenant_id: String,
    pub sku: String,
    pub lot: Option<String>,
    pub expiry: Option<String>,
    pub qty: u32,
}

/// Units of one (tenant, sku, lot) taken from the put-away source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedItem {
    pub tenant_id: String,
    pub sku: String,
    pub lot: Option<String>,
    pub qty: u32,
}

impl ReceiveWork {
    pub(crate) fn context(&self, map: &mut Map<String, Value>) {
        let (stage, units) = match self {
            ReceiveWork::Idle => ("await_item", 0),
            ReceiveWork::Receiving { items, .. } => {
                ("receiving", items.iter().map(|i| i.qty).sum())
            }
            ReceiveWork::PutAway { from, items, .. } => {
                map.insert("from".into(), json!(from));
                ("put_away", items.iter().map(|i| i.qty).sum::<u32>())
            }
        };
        map.insert("stage".into(), json!(stage));
        map.insert("units".into(), json!(units));
    }
}

/// The scan's reading and its one product among the tenants the user sees, or the prompt why
/// not.
fn one_product(
    ctx: &Ctx,
    view: &impl FloorView,
    scan: &Scan,
    not_a_product: &str,
    narrow: impl Fn(&ProductView) -> bool,
) -> Result<(ItemRead, ProductView), String> {
    let Some((item, mut products)) = identify(view, scan, |t| ctx.user.sees_tenant(t)) else {
        return Err(not_a_product.to_string());
    };
    if products.len() > 1 {
        products.retain(|p| narrow(p));
    }
    match products.as_slice() {
        [] => Err(item.not_found()),
        [one] => Ok((item.clone(), one.clone())),
        _ => Err(format!(
            "Barcode {} is ambiguous — scan the SKU label",
            item.shown
        )),
    }
}

pub(crate) fn on_input(
    ctx: &Ctx,
    work: &ReceiveWork,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<ReceiveWork> {
    let StationInput::Scan(scan) = input else {
        return Step::reject(work, "No scale step at a receive station");
    };
    match work {
        ReceiveWork::Idle => idle(ctx, work, scan, view),
        ReceiveWork::Receiving { items, pending_qty } => {
            receiving(ctx, work, items, *pending_qty, scan, view)
        }
        ReceiveWork::PutAway {
            from,
            items,
            pending_qty,
        } => putting_away(ctx, work, from, items, *pending_qty, scan, view),
    }
}

/// Nothing scanned yet: an item (or `QTY:n` and an item) starts receiving, a location starts a
/// put-away from it.
fn idle(ctx: &Ctx, work: &ReceiveWork, scan: &Scan, view: &impl FloorView) -> Step<ReceiveWork> {
    match code_of(scan) {
        Some(("LOC", from)) => match view.location(from) {
            Some(_) => Step::accept(
                ReceiveWork::PutAway {
                    from: from.to_string(),
                    items: Vec::new(),
                    pending_qty: None,
                },
                Vec::new(),
                format!("Put-away from LOC {from}: scan items"),
            ),
            None => Step::reject(work, format!("Unknown location {from}")),
        },
        Some(("QTY", _)) if ctx.config.receiving_location.is_none() => {
            Step::reject(work, "Station has no receiving location — see supervisor")
        }
        Some(("QTY", value)) => take_qty(work, value, |qty| ReceiveWork::Receiving {
            items: Vec::new(),
            pending_qty: Some(qty),
        }),
        None if is_item(scan) => receive_item(ctx, work, &[], None, scan, view),
        _ => Step::reject(work, "Scan items to receive, or LOC: to put away"),
    }
}

/// Receiving: more items, `CMD:DONE` books them, `CMD:CANCEL` drops them.
fn receiving(
    ctx: &Ctx,
    work: &ReceiveWork,
    items: &[ReceivedItem],
    pending_qty: Option<u32>,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<ReceiveWork> {
    match code_of(scan) {
        Some(("QTY", value)) => take_qty(work, value, |qty| ReceiveWork::Receiving {
            items: items.to_vec(),
            pending_qty: Some(qty),
        }),
        Some(("CMD", "DONE")) => book_received(ctx, work, items),
        Some(("CMD", "CANCEL")) => Step::accept(
            ReceiveWork::Idle,
            Vec::new(),
            "Receiving dropped — nothing booked",
        ),
        Some(_) => Step::reject(work, "Scan items, then CMD:DONE to book them"),
        None if is_item(scan) => receive_item(ctx, work, items, pending_qty, scan, view),
        None => Step::reject(work, "Scan items, then CMD:DONE to book them"),
    }
}

/// `CMD:DONE`: every scanned item is received into the station's receiving location.
fn book_received(ctx: &Ctx, work: &ReceiveWork, items: &[ReceivedItem]) -> Step<ReceiveWork> {
    let Some(location) = &ctx.config.receiving_location else {
        return Step::reject(work, "Station has no receiving location — see supervisor");
    };
    if items.is_empty() {
        return Step::reject(work, "Nothing scanned yet — scan items to receive");
    }
    let units: u32 = items.iter().map(|i| i.qty).sum();
    let commands = items
        .iter()
        .map(|i| Command::Receive {
            location: location.clone(),
            tenant_id: i.tenant_id.clone(),
            sku: i.sku.clone(),
            lot: i.lot.clone(),
            expiry: i.expiry.clone(),
            qty: i.qty,
        })
        .collect();
    Step::accept(
        ReceiveWork::Idle,
        commands,
        format!("{units} units received into {location}"),
    )
}

/// Putting away: items taken from `from`, then the destination `LOC:` moves them.
fn putting_away(
    ctx: &Ctx,
    work: &ReceiveWork,
    from: &str,
    items: &[MovedItem],
    pending_qty: Option<u32>,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<ReceiveWork> {
    match code_of(scan) {
        Some(("QTY", value)) => take_qty(work, value, |qty| ReceiveWork::PutAway {
            from: from.to_string(),
            items: items.to_vec(),
            pending_qty: Some(qty),
        }),
        Some(("LOC", to)) => move_to(work, from, items, to, view),
        Some(("CMD", "CANCEL")) => Step::accept(
            ReceiveWork::Idle,
            Vec::new(),
            "Put-away dropped — nothing moved",
        ),
        Some(_) => Step::reject(work, "Scan items, then the destination LOC:"),
        None if is_item(scan) => putaway_item(ctx, work, from, items, pending_qty, scan, view),
        None => Step::reject(work, "Scan items, then the destination LOC:"),
    }
}

/// The destination `LOC:`: every item taken moves there from `from`.
fn move_to(
    work: &ReceiveWork,
    from: &str,
    items: &[MovedItem],
    to: &str,
    view: &impl FloorView,
) -> Step<ReceiveWork> {
    if items.is_empty() {
        return Step::reject(work, format!("Scan items to move from LOC {from} first"));
    }
    if to == from {
        return Step::reject(work, "Scan the destination location (not the source)");
    }
    if view.location(to).is_none() {
        return Step::reject(work, format!("Unknown location {to}"));
    }
    let units: u32 = items.iter().map(|i| i.qty).sum();
    let commands = items
        .iter()
        .map(|i| Command::Move {
            tenant_id: i.tenant_id.clone(),
            sku: i.sku.clone(),
            lot: i.lot.clone(),
            from: from.to_string(),
            to: to.to_string(),
            qty: i.qty,
        })
        .collect();
    Step::accept(
        ReceiveWork::Idle,
        commands,
        format!("{units} units moved to {to}"),
    )
}

fn receive_item(
    ctx: &Ctx,
    work: &ReceiveWork,
    items: &[ReceivedItem],
    pending_qty: Option<u32>,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<ReceiveWork> {
    if ctx.config.receiving_location.is_none() {
        return Step::reject(work, "Station has no receiving location — see supervisor");
    }
    let (item, product) = match one_product(
        ctx,
        view,
        scan,
        "Not a product — scan items to receive",
        |_| true,
    ) {
        Ok(found) => found,
        Err(prompt) => return Step::reject(work, prompt),
    };
    if product.tracking.needs_lot() && item.lot.is_none() {
        return Step::reject(
            work,
            format!("Scan the GS1 label with the lot of {}", product.sku),
        );
    }
    if product.tracking == Tracking::LotExpiry && item.expiry.is_none() {
        return Step::reject(
            work,
            format!("Scan the GS1 label with lot and expiry of {}", product.sku),
        );
    }
    let lot = item.lot.clone().filter(|_| product.tracking.needs_lot());
    let expiry = item.expiry.clone().filter(|_| lot.is_some());
    let qty = pending_qty.unwrap_or(1).saturating_mul(item.count);
    let mut items = items.to_vec();
    match items.iter_mut().find(|i| {
        i.tenant_id == product.tenant_id
            && i.sku == product.sku
            && i.lot == lot
            && i.expiry == expiry
    }) {
        Some(i) => i.qty = i.qty.saturating_add(qty),
        None => items.push(ReceivedItem {
            tenant_id: product.tenant_id.clone(),
            sku: product.sku.clone(),
            lot,
            expiry,
            qty,
        }),
    }
    let units: u32 = items.iter().map(|i| i.qty).sum();
    let prompt = format!(
        "Received {qty} × {} ({units} scanned) — more items or CMD:DONE",
        product.sku
    );
    Step::accept(
        ReceiveWork::Receiving {
            items,
            pending_qty: None,
        },
        Vec::new(),
        prompt,
    )
}

fn putaway_item(
    ctx: &Ctx,
    work: &ReceiveWork,
    from: &str,
    items: &[MovedItem],
    pending_qty: Option<u32>,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<ReceiveWork> {
    let here = view.stock_at(from);
    let (item, product) = match one_product(
        ctx,
        view,
        scan,
        "Not a product — scan items to move",
        |p| {
            here.iter()
                .any(|s| s.tenant_id == p.tenant_id && s.sku == p.sku)
        },
    ) {
        Ok(found) => found,
        Err(prompt) => return Step::reject(work, prompt),
    };
    let lot = if product.tracking.needs_lot() {
        match &item.lot {
            Some(lot) => Some(lot.clone()),
            None => {
                return Step::reject(
                    work,
                    format!("Scan the GS1 label with the lot of {}", product.sku),
                )
            }
        }
    } else {
        None
    };
    let qty = pending_qty.unwrap_or(1).saturating_mul(item.count);
    let on_hand: i64 = here
        .iter()
        .filter(|s| s.tenant_id == product.tenant_id && s.sku == product.sku && s.lot == lot)
        .map(|s| s.on_hand)
        .sum();
    let mut items = items.to_vec();
    let already = items
        .iter()
        .find(|i| i.tenant_id == product.tenant_id && i.sku == product.sku && i.lot == lot)
        .map_or(0, |i| i.qty);
    if i64::from(already) + i64::from(qty) > on_hand {
        return Step::reject(
            work,
            format!(
                "Only {} × {} at LOC {from}",
                (on_hand - i64::from(already)).max(0),
                product.sku
            ),
        );
    }
    match items
        .iter_mut()
        .find(|i| i.tenant_id == product.tenant_id && i.sku == product.sku && i.lot == lot)
    {
        Some(i) => i.qty += qty,
        None => items.push(MovedItem {
            tenant_id: product.tenant_id.clone(),
            sku: product.sku.clone(),
            lot,
            qty,
        }),
    }
    let units: u32 = items.iter().map(|i| i.qty).sum();
    Step::accept(
        ReceiveWork::PutAway {
            from: from.to_string(),
            items,
            pending_qty: None,
        },
        Vec::new(),
        format!(
            "{qty} × {} ({units} to move) — more items or the destination LOC:",
            product.sku
        ),
    )
}
