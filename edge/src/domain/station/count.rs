//! The count station: `LOC:` starts a blind count of one location, item scans (or `QTY:n` + scan)
//! count units, `CMD:DONE` books a [`Command::Count`] for every sku and lot counted or on the
//! books there. A count off by more than the station's threshold is not booked: the location is
//! counted again, and only a recount that agrees with the previous count applies (a mis-scan
//! should not write stock off).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::item::identify;
use super::view::FloorView;
use super::{code_of, is_item, take_qty, Command, Ctx, StationInput, Step};

/// The count station's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum CountWork {
    Idle,
    Counting(CountSheet),
}

/// The count of one location in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountSheet {
    pub location: String,
    pub counted: Vec<CountedItem>,
    pub pending_qty: Option<u32>,
    /// The previous count of this location when a recount was asked for.
    pub previous: Option<Vec<CountedItem>>,
}

/// Units of one (tenant, sku, lot) counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct CountedItem {
    pub tenant_id: String,
    pub sku: String,
    pub lot: Option<String>,
    pub qty: u32,
}

impl CountSheet {
    fn units(&self) -> u32 {
        self.counted.iter().map(|c| c.qty).sum()
    }

    fn prompt(&self) -> String {
        let again = if self.previous.is_some() {
            "Recount: "
        } else {
            ""
        };
        format!(
            "{again}LOC {}: scan items ({} counted), CMD:DONE when done",
            self.location,
            self.units()
        )
    }
}

impl CountWork {
    pub(crate) fn context(&self, map: &mut Map<String, Value>) {
        match self {
            CountWork::Idle => {
                map.insert("stage".into(), json!("await_location"));
            }
            CountWork::Counting(sheet) => {
                let stage = if sheet.previous.is_some() {
                    "recounting"
                } else {
                    "counting"
                };
                map.insert("stage".into(), json!(stage));
                map.insert("location".into(), json!(sheet.location));
                map.insert("counted_units".into(), json!(sheet.units()));
            }
        }
    }
}

type Key = (String, String, Option<String>);

pub(crate) fn on_input(
    ctx: &Ctx,
    work: &CountWork,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<CountWork> {
    let StationInput::Scan(scan) = input else {
        return Step::reject(work, "No scale step at a count station");
    };
    let code = code_of(scan);
    let sheet = match work {
        CountWork::Idle => {
            return match code {
                Some(("LOC", location)) => match view.location(location) {
                    Some(_) => {
                        let sheet = CountSheet {
                            location: location.to_string(),
                            counted: Vec::new(),
                            pending_qty: None,
                            previous: None,
                        };
                        let prompt = sheet.prompt();
                        Step::accept(CountWork::Counting(sheet), Vec::new(), prompt)
                    }
                    None => Step::reject(work, format!("Unknown location {location}")),
                },
                _ => Step::reject(work, "Scan a location to count (LOC:)"),
            };
        }
        CountWork::Counting(sheet) => sheet,
    };
    match code {
        Some(("QTY", value)) => take_qty(work, value, |qty| {
            let mut next = sheet.clone();
            next.pending_qty = Some(qty);
            CountWork::Counting(next)
        }),
        Some(("CMD", "DONE")) => done(ctx, sheet, view),
        Some(("CMD", "CANCEL" | "SKIP")) => Step::accept(
            CountWork::Idle,
            Vec::new(),
            format!("Count of LOC {} dropped — scan a location", sheet.location),
        ),
        Some(("LOC", location)) if location == sheet.location => Step::reject(work, sheet.prompt()),
        Some(("LOC", _)) => Step::reject(
            work,
            format!(
                "Finish LOC {} first (CMD:DONE) or CMD:CANCEL",
                sheet.location
            ),
        ),
        Some(_) => Step::reject(work, sheet.prompt()),
        None if is_item(scan) => count_item(ctx, work, sheet, scan, view),
        None => Step::reject(work, sheet.prompt()),
    }
}

fn count_item(
    ctx: &Ctx,
    work: &CountWork,
    sheet: &CountSheet,
    scan: &wms_labels::scan::Scan,
    view: &impl FloorView,
) -> Step<CountWork> {
    let Some((item, mut products)) = identify(view, scan, |t| ctx.user.sees_tenant(t)) else {
        return Step::reject(work, format!("Not a product — {}", sheet.prompt()));
    };
    if products.len() > 1 {
        // The same barcode in several tenants' catalogs: what is booked here decides.
        let here = view.stock_at(&sheet.location);
        products.retain(|p| {
            here.iter()
                .any(|s| s.tenant_id == p.tenant_id && s.sku == p.sku)
        });
    }
    let product = match products.as_slice() {
        [] => return Step::reject(work, item.not_found()),
        [one] => one,
        _ => {
            return Step::reject(
                work,
                format!("Barcode {} is ambiguous — scan the SKU label", item.shown),
            )
        }
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
    let qty = sheet.pending_qty.unwrap_or(1).saturating_mul(item.count);
    let mut next = sheet.clone();
    next.pending_qty = None;
    match next
        .counted
        .iter_mut()
        .find(|c| c.tenant_id == product.tenant_id && c.sku == product.sku && c.lot == lot)
    {
        Some(c) => c.qty = c.qty.saturating_add(qty),
        None => {
            next.counted.push(CountedItem {
                tenant_id: product.tenant_id.clone(),
                sku: product.sku.clone(),
                lot,
                qty,
            });
            next.counted.sort();
        }
    }
    let prompt = format!("Counted {qty} × {}. {}", product.sku, next.prompt());
    Step::accept(CountWork::Counting(next), Vec::new(), prompt)
}

fn done(ctx: &Ctx, sheet: &CountSheet, view: &impl FloorView) -> Step<CountWork> {
    let mut rows: Vec<(Key, u32, i64)> = Vec::new();
    for c in &sheet.counted {
        rows.push((
            (c.tenant_id.clone(), c.sku.clone(), c.lot.clone()),
            c.qty,
            0,
        ));
    }
    for s in view.stock_at(&sheet.location) {
        if !ctx.user.sees_tenant(&s.tenant_id) {
            continue;
        }
        let key = (s.tenant_id.clone(), s.sku.clone(), s.lot.clone());
        match rows.iter_mut().find(|(k, _, _)| *k == key) {
            Some(row) => row.2 += s.on_hand,
            None => rows.push((key, 0, s.on_hand)),
        }
    }
    rows.sort();
    let worst = rows
        .iter()
        .map(|(k, counted, expected)| ((i64::from(*counted) - expected).abs(), k))
        .max_by_key(|(diff, _)| *diff);
    let threshold = i64::from(ctx.config.recount_above_units);
    let agrees_with_previous = sheet.previous.as_ref() == Some(&sheet.counted);
    if let Some((diff, key)) = worst {
        if diff > threshold && !agrees_with_previous {
            let next = CountSheet {
                location: sheet.location.clone(),
                counted: Vec::new(),
                pending_qty: None,
                previous: Some(sheet.counted.clone()),
            };
            let prompt = format!("{} off by {diff} — recount LOC {}", key.1, sheet.location);
            return Step::accept(CountWork::Counting(next), Vec::new(), prompt);
        }
    }
    let recounted = sheet.previous.is_some();
    let commands: Vec<Command> = rows
        .into_iter()
        .map(
            |((tenant_id, sku, lot), counted, expected)| Command::Count {
                location: sheet.location.clone(),
                tenant_id,
                sku,
                lot,
                counted,
                expected,
                recounted,
            },
        )
        .collect();
    let prompt = format!(
        "Count of LOC {} booked ({} units) — scan the next location",
        sheet.location,
        sheet.units()
    );
    Step::accept(CountWork::Idle, commands, prompt)
}
