//! The pack station's commands made real: labels with numbers from the ID blocks, packing slips,
//! print jobs, voided labels and the shipment confirm. Each function runs inside the station
//! step's one transaction (see `station.rs`); a refusal rolls the whole step back.
//!
//! **Where picked stock lives.** A pick moves units from the bin into the tote, which is a stock
//! position of its own: location `TOTE:<id>` (see `ledger::tote_location`). Totes are not rows of
//! `locations`, so allocation never reserves stock sitting in a tote. Shipping books the units
//! out of the tote (`shipped`), so every movement the floor makes is one `inventory.adjusted`
//! event upstream and the central's stock per position stays equal to the edge's.
//!
//! Labels and slips print through `print` (a print job is a row of the step's transaction).

use rusqlite::{params, Connection};
use serde_json::{json, Value};
use wms_labels::model::{self as lm, Branding, Carton, PackingSlip, ShippingLabel, SlipLine};

use super::print::queue_print;
use super::SiteInfo;
use crate::domain::order::{Action, Status};
use crate::domain::station::{ShippedLine, StationConfig};
use crate::domain::weight::kg_json;
use crate::domain::Reason;
use crate::error::{Error, Result};
use crate::store::base::outbox::{self, NewEvent};
use crate::store::base::{audit, catalog, ids, Ctx};
use crate::store::orders::{self, OrderDetail};
use crate::store::stock::ledger::{self, tote_location, Movement};

fn order_detail(conn: &Connection, order_id: &str) -> Result<OrderDetail> {
    orders::get_order(conn, order_id)?
        .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))
}

fn address(a: &orders::Address) -> lm::Address {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    lm::Address {
        name: s(&a.name),
        company: s(&a.company),
        street1: s(&a.street1),
        street2: s(&a.street2),
        city: s(&a.city),
        region: s(&a.region),
        postal_code: s(&a.postal_code),
        country: s(&a.country),
        phone: s(&a.phone),
    }
}

/// A live (not voided) carton of an order.
#[derive(Debug, Clone)]
struct CartonRow {
    carton: u32,
    tracking_number: String,
    sscc: String,
    weight_mg: i64,
}

fn live_cartons(conn: &Connection, order_id: &str) -> Result<Vec<CartonRow>> {
    let rows = conn
        .prepare_cached(
            "SELECT carton, tracking_number, sscc, weight_mg FROM cartons
             WHERE order_id = ?1 AND voided_at IS NULL ORDER BY carton",
        )?
        .query_map([order_id], |r| {
            let n: i64 = r.get(0)?;
            Ok(CartonRow {
                carton: u32::try_from(n).unwrap_or(0),
                tracking_number: r.get(1)?,
                sscc: r.get(2)?,
                weight_mg: r.get(3)?,
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn label_printer(cfg: &StationConfig) -> Result<&str> {
    cfg.label_printer.as_deref().ok_or_else(|| {
        Error::conflict(format!(
            "station {} has no label printer configured",
            cfg.station_id
        ))
    })
}

fn label_zpl(
    cfg: &StationConfig,
    site: &SiteInfo,
    order: &OrderDetail,
    carton: &CartonRow,
    count: u32,
) -> Result<Vec<u8>> {
    let carrier = order.shipping.carrier.clone().unwrap_or_default();
    let data = ShippingLabel {
        order_id: order.id.clone(),
        tracking_number: carton.tracking_number.clone(),
        carrier,
        service: order.shipping.service.clone().unwrap_or_default(),
        sscc: carton.sscc.clone(),
        ship_from: site.ship_from.clone(),
        ship_to: address(&order.ship_to),
        weight: lm::Weight {
            value: kg_json(carton.weight_mg)["value"].clone(),
            unit: "kg".into(),
        },
        carton: Carton {
            index: carton.carton,
            count,
        },
    };
    let dpi = if cfg.label_dpi >= 300 {
        wms_labels::zpl::Dpi::Dpi300
    } else {
        wms_labels::zpl::Dpi::Dpi203
    };
    wms_labels::zpl::labels::shipping(&data, dpi)
        .map(String::into_bytes)
        .map_err(|e| Error::conflict(format!("label for order {}: {e}", order.id)))
}

/// `Command::StartPacking`: the first packer to take a picked order starts packing it.
pub fn start_packing(cx: &Ctx<'_>, order_id: &str) -> Result<()> {
    let (status, _, _) = orders::status_of(cx.conn, order_id)?
        .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))?;
    match status {
        Status::Picked | Status::Allocated => {
            orders::move_order(cx, order_id, Action::StartPacking, None)
        }
        Status::Packing | Status::Packed => Ok(()),
        // A short pick's exception: what was picked may be packed (and shipped partially, with
        // a supervisor). The station's own rule, asked again at commit.
        Status::Exception
            if orders::order_view(cx.conn, order_id)?.is_some_and(|o| o.packable_short()) =>
        {
            orders::move_order(cx, order_id, Action::StartPacking, None)
        }
        other => Err(Error::conflict(format!(
            "order {order_id} is {}, not ready to pack",
            other.as_str()
        ))),
    }
}

/// `Command::ReleaseOrder`: the order leaves the bench. Labels printed for it are voided (their
/// numbers are never reused) and the void is audited, so a stray label can be told from a real
/// one.
pub fn release_order(cx: &Ctx<'_>, order_id: &str, label_printed: bool) -> Result<()> {
    if !label_printed {
        return Ok(());
    }
    let voided = live_cartons(cx.conn, order_id)?;
    if voided.is_empty() {
        return Ok(());
    }
    cx.conn
        .prepare_cached(
            "UPDATE cartons SET voided_at = ?2 WHERE order_id = ?1 AND voided_at IS NULL",
        )?
        .execute(params![order_id, cx.now])?;
    cx.conn
        .prepare_cached("UPDATE orders SET label_printed_at = NULL WHERE id = ?1")?
        .execute([order_id])?;
    let numbers: Vec<Value> = voided
        .iter()
        .map(|c| json!({"carton": c.carton, "tracking_number": c.tracking_number, "sscc": c.sscc}))
        .collect();
    // A voided label is security-relevant: it travels upstream.
    audit::record_upstream(
        cx.conn,
        cx.site,
        cx.origin,
        cx.now,
        "pack.label_voided",
        &format!("order:{order_id}"),
        &json!({"labels": {"old": numbers, "new": null}}),
    )?;
    Ok(())
}

/// `Command::PrintLabel`: a carton passed its weight check. Takes a tracking number and an SSCC
/// from their ID blocks, records the carton, queues the label on the station's label printer and
/// sets `label_printed_at`; with `complete` the order is packed.
pub fn print_label(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    site: &SiteInfo,
    order_id: &str,
    carton: u32,
    weight_mg: i64,
    complete: bool,
) -> Result<()> {
    let printer = label_printer(cfg)?.to_string();
    let order = order_detail(cx.conn, order_id)?;
    let carrier = order
        .shipping
        .carrier
        .clone()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| Error::conflict(format!("order {order_id} has no carrier")))?;
    let taken = |kind: &str, what: &str| -> Result<String> {
        let id = ids::take_id(cx.conn, kind).map_err(|_| {
            Error::conflict(format!(
                "no {what} numbers left (ID block {kind}) — see supervisor"
            ))
        })?;
        id.render()
            .map_err(|e| Error::Internal(format!("{kind} number: {e}")))
    };
    let tracking_number = taken(&ids::tracking_kind(&carrier), "tracking")?;
    let sscc = taken("sscc", "SSCC")?;
    let row = CartonRow {
        carton,
        tracking_number,
        sscc,
        weight_mg,
    };
    let count = if complete { carton } else { 0 };
    let zpl = label_zpl(cfg, site, &order, &row, count)?;
    cx.conn
        .prepare_cached(
            "INSERT INTO cartons(order_id, carton, tracking_number, sscc, weight_mg, station_id, printed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            order_id,
            carton,
            row.tracking_number,
            row.sscc,
            weight_mg,
            cfg.station_id,
            cx.now
        ])
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Error::conflict(format!("order {order_id} already has a carton {carton}"))
            }
            other => other.into(),
        })?;
    cx.conn
        .prepare_cached("UPDATE orders SET label_printed_at = ?2 WHERE id = ?1")?
        .execute(params![order_id, cx.now])?;
    queue_print(cx, &printer, "shipping_label", order_id, &zpl)?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pack.label_printed",
        &format!("order:{order_id}"),
        &json!({"carton": {"old": null, "new": {"carton": carton, "tracking_number": row.tracking_number,
                 "sscc": row.sscc, "weight": kg_json(weight_mg), "printer": printer}}}),
    )?;
    if complete {
        let (status, _, _) = orders::status_of(cx.conn, order_id)?
            .ok_or_else(|| Error::not_found(format!("order {order_id} not found")))?;
        if status == Status::Packing {
            orders::move_order(cx, order_id, Action::FinishPacking, None)?;
        }
    }
    Ok(())
}

/// `Command::PrintSlip`: the packing slip, as ESC/POS on the station's receipt printer or as a
/// ZPL slip on its label printer when it has none. A station with neither prints no slip.
pub fn print_slip(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    site: &SiteInfo,
    order_id: &str,
) -> Result<()> {
    let order = order_detail(cx.conn, order_id)?;
    let mut lines = Vec::with_capacity(order.lines.len());
    for l in &order.lines {
        let name = catalog::get_product(cx.conn, &order.tenant_id, &l.sku)?
            .map(|p| p.name)
            .unwrap_or_default();
        lines.push(SlipLine {
            sku: l.sku.clone(),
            name,
            qty: u32::try_from(l.qty).unwrap_or(0),
        });
    }
    // A tenant with its own slip template ships white-label: no site or platform name on it.
    let template = order.branding.packing_slip_template.clone();
    let slip = PackingSlip {
        order_id: order.id.clone(),
        order_date: order
            .created_at
            .clone()
            .unwrap_or_else(|| order.accepted_at.clone())
            .chars()
            .take(10)
            .collect(),
        merchant_name: if template.is_some() {
            String::new()
        } else {
            order.tenant_id.clone()
        },
        ship_to: address(&order.ship_to),
        lines,
        branding: Branding {
            white_label: template.is_some(),
            brand_name: template.unwrap_or_default(),
            gift_message: order.gift_message.clone().unwrap_or_default(),
            notes: String::new(),
            footer: format!("Shipped from {}", site.site_id),
        },
        paper_mm: None,
    };
    let (device, data) = match (&cfg.receipt_printer, &cfg.label_printer) {
        (Some(receipt), _) => (
            receipt.clone(),
            wms_labels::escpos::packing_slip(&slip, wms_labels::escpos::Paper::Mm80)
                .map_err(|e| Error::conflict(format!("packing slip for {order_id}: {e}")))?,
        ),
        (None, Some(label)) => {
            let dpi = if cfg.label_dpi >= 300 {
                wms_labels::zpl::Dpi::Dpi300
            } else {
                wms_labels::zpl::Dpi::Dpi203
            };
            (
                label.clone(),
                wms_labels::zpl::labels::packing_slip(&slip, dpi)
                    .map(String::into_bytes)
                    .map_err(|e| Error::conflict(format!("packing slip for {order_id}: {e}")))?,
            )
        }
        (None, None) => return Ok(()),
    };
    queue_print(cx, &device, "packing_slip", order_id, &data)
}

/// `Command::Reprint`: the carton's label again, with the same numbers.
pub fn reprint(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    site: &SiteInfo,
    order_id: &str,
    carton: u32,
) -> Result<()> {
    let printer = label_printer(cfg)?.to_string();
    let order = order_detail(cx.conn, order_id)?;
    let cartons = live_cartons(cx.conn, order_id)?;
    let row = cartons
        .iter()
        .find(|c| c.carton == carton)
        .ok_or_else(|| Error::conflict(format!("order {order_id} has no carton {carton}")))?;
    let count = if order.status == Status::Packed {
        cartons.len() as u32
    } else {
        0
    };
    let zpl = label_zpl(cfg, site, &order, row, count)?;
    queue_print(cx, &printer, "shipping_label", order_id, &zpl)?;
    audit::record(
        cx.conn,
        cx.origin,
        cx.now,
        "pack.label_reprinted",
        &format!("order:{order_id}"),
        &json!({"carton": {"old": null, "new": {"carton": carton, "tracking_number": row.tracking_number}}}),
    )?;
    Ok(())
}

/// One row of `tote_contents`.
#[derive(Clone)]
struct InTote {
    tote: String,
    line_id: String,
    sku: String,
    lot: String,
    qty: i64,
}

fn in_totes(conn: &Connection, order_id: &str) -> Result<Vec<InTote>> {
    let rows = conn
        .prepare_cached(
            "SELECT tote, line_id, sku, lot, qty FROM tote_contents WHERE order_id = ?1
             ORDER BY tote, line_id, lot",
        )?
        .query_map([order_id], |r| {
            Ok(InTote {
                tote: r.get(0)?,
                line_id: r.get(1)?,
                sku: r.get(2)?,
                lot: r.get(3)?,
                qty: r.get(4)?,
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// `Command::ConfirmShipment`: the cartons leave. Checks that what was packed is what was
/// picked and that every carton is labelled, books the units out of their totes (`shipped`),
/// ships the order and appends `shipment.created`.
///
/// With `approved_by` the shipment may hold less than the order (never more than was picked):
/// the order becomes `partially_shipped`, its remaining reservations are released, the units left
/// in its totes stay there as put-backs (the station audits the approval). Which lot of a line
/// leaves when only part of it ships is taken in lot order.
#[allow(clippy::too_many_arguments)]
pub fn confirm_shipment(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    order_id: &str,
    cartons: u32,
    weight_mg: i64,
    lines: &[ShippedLine],
    approved_by: Option<&str>,
) -> Result<()> {
    let order = order_detail(cx.conn, order_id)?;
    let labelled = labelled_cartons(cx.conn, order_id, cartons)?;
    let in_tote = in_totes(cx.conn, order_id)?;
    let (shipping, whole) = units_shipping(&order, &in_tote, lines, approved_by.is_some())?;
    let shipment_id = next_shipment_id(cx)?;
    take_out_of_totes(cx, &order, &shipment_id, &shipping)?;
    ship(cx, order_id, &shipment_id, approved_by.filter(|_| !whole))?;
    let shipment = Shipment {
        id: &shipment_id,
        cartons,
        weight_mg,
        labelled: &labelled,
        items: shipment_items(&shipping, lines),
    };
    record_shipment(cx, cfg, &order, &shipment)
}

/// The order's live (labelled, not voided) cartons, which must be the `cartons` the station
/// packed: a carton without a label never leaves.
fn labelled_cartons(conn: &Connection, order_id: &str, cartons: u32) -> Result<Vec<CartonRow>> {
    let labelled = live_cartons(conn, order_id)?;
    if labelled.len() != cartons as usize || labelled.is_empty() {
        return Err(Error::conflict(format!(
            "order {order_id}: {} labelled cartons, {cartons} packed",
            labelled.len()
        )));
    }
    Ok(labelled)
}

/// `<site>-S000001`: shipment numbers count per site, in the shipment's own transaction.
fn next_shipment_id(cx: &Ctx<'_>) -> Result<String> {
    let n: i64 = cx.conn.query_row(
        "INSERT INTO counters(name, value) VALUES ('shipment', 1)
         ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        [],
        |r| r.get(0),
    )?;
    Ok(format!("{}-S{n:06}", cx.site))
}

/// Moves the order to `shipped`, or, when a supervisor approved shipping less than the order, to
/// `partially_shipped` with what it still held reserved given back.
fn ship(
    cx: &Ctx<'_>,
    order_id: &str,
    shipment_id: &str,
    partial_approved_by: Option<&str>,
) -> Result<()> {
    match partial_approved_by {
        Some(supervisor) => {
            orders::release_reservations(cx.conn, order_id)?;
            let note = format!("{shipment_id}, approved by {supervisor}");
            orders::move_order(cx, order_id, Action::ShipPartially, Some(&note))
        }
        None => orders::move_order(cx, order_id, Action::Ship, Some(shipment_id)),
    }
}

/// Which tote units a confirmed carton set ships, and whether that is the whole order. Every
/// line must ship exactly what was picked and ordered, or, with a supervisor's approval, no more
/// than either. The lots the packer's scans named are taken first, exactly; a line's other units
/// are taken from its remaining tote rows in lot order.
fn units_shipping(
    order: &OrderDetail,
    in_tote: &[InTote],
    packed_lines: &[ShippedLine],
    approved: bool,
) -> Result<(Vec<InTote>, bool)> {
    let mut whole = true;
    let mut shipping: Vec<InTote> = Vec::new();
    for l in &order.lines {
        let mut rows: Vec<InTote> = in_tote
            .iter()
            .filter(|p| p.line_id == l.line_id)
            .cloned()
            .collect();
        let picked: i64 = rows.iter().map(|p| p.qty).sum();
        let packed_here: Vec<&ShippedLine> = packed_lines
            .iter()
            .filter(|s| s.line_id == l.line_id)
            .collect();
        let packed: i64 = packed_here.iter().map(|s| i64::from(s.qty)).sum();
        let exact = picked == packed && packed == l.qty;
        let fits = exact || (approved && packed <= picked && packed <= l.qty);
        if !fits {
            return Err(Error::conflict(format!(
                "order {} line {}: {} ordered, {picked} picked, {packed} packed",
                order.id, l.line_id, l.qty
            )));
        }
        whole &= exact;
        let mut left = packed;
        for unit in packed_here.iter().flat_map(|s| &s.lots) {
            let Some(lot) = &unit.lot else { continue };
            let mut want = i64::from(unit.qty);
            for p in rows.iter_mut().filter(|p| &p.lot == lot) {
                let take = want.min(p.qty);
                if take > 0 {
                    want -= take;
                    p.qty -= take;
                    shipping.push(InTote {
                        qty: take,
                        ..p.clone()
                    });
                }
            }
            if want > 0 {
                return Err(Error::conflict(format!(
                    "order {} line {}: {} of lot {lot} packed, not in its totes",
                    order.id, l.line_id, unit.qty
                )));
            }
            left -= i64::from(unit.qty);
        }
        for p in rows.iter_mut() {
            let take = left.min(p.qty);
            if take > 0 {
                left -= take;
                p.qty -= take;
                shipping.push(InTote {
                    qty: take,
                    ..p.clone()
                });
            }
        }
    }
    if shipping.is_empty() {
        return Err(Error::conflict(format!(
            "order {}: nothing packed",
            order.id
        )));
    }
    Ok((shipping, whole))
}

/// The `items` of a shipment: units per (sku, lot) in the order they were taken, with the serials
/// the packer scanned (a serial scanned without a lot rides on its line's first lot).
fn shipment_items(units: &[InTote], packed_lines: &[ShippedLine]) -> Vec<Value> {
    let mut rows: Vec<(String, String, String, i64, Vec<String>)> = Vec::new();
    for u in units {
        match rows.iter_mut().find(|r| r.0 == u.line_id && r.2 == u.lot) {
            Some(r) => r.3 += u.qty,
            None => rows.push((
                u.line_id.clone(),
                u.sku.clone(),
                u.lot.clone(),
                u.qty,
                Vec::new(),
            )),
        }
    }
    for line in packed_lines {
        for unit in line.lots.iter().filter(|u| !u.serials.is_empty()) {
            let lot = unit.lot.as_deref();
            let row = rows
                .iter_mut()
                .find(|r| r.0 == line.line_id && lot.is_none_or(|l| l == r.2));
            if let Some(row) = row {
                row.4.extend(unit.serials.iter().cloned());
            }
        }
    }
    rows.into_iter()
        .map(|(_, sku, lot, qty, serials)| {
            let mut item = json!({"sku": sku, "qty": qty, "lot": (!lot.is_empty()).then_some(lot)});
            if !serials.is_empty() {
                item["serials"] = json!(serials);
            }
            item
        })
        .collect()
}

/// Books the shipped units out of their totes (`shipped`) and frees the totes they emptied.
fn take_out_of_totes(
    cx: &Ctx<'_>,
    order: &OrderDetail,
    shipment_id: &str,
    shipping: &[InTote],
) -> Result<()> {
    let mut totes: Vec<&str> = Vec::new();
    for p in shipping {
        let location = tote_location(&p.tote);
        ledger::book(
            cx.conn,
            cx.site,
            cx.origin,
            cx.now,
            Movement {
                tenant_id: &order.tenant_id,
                sku: &p.sku,
                location: &location,
                lot: &p.lot,
                delta: -p.qty,
                reason: Reason::Shipped,
                r#ref: json!({"order_id": order.id, "shipment_id": shipment_id}),
                note: None,
            },
        )?;
        let key = params![p.tote, order.id, p.line_id, p.lot, p.qty];
        let emptied = cx
            .conn
            .prepare_cached(
                "DELETE FROM tote_contents
                 WHERE tote = ?1 AND order_id = ?2 AND line_id = ?3 AND lot = ?4 AND qty = ?5",
            )?
            .execute(key)?;
        if emptied == 0 {
            cx.conn
                .prepare_cached(
                    "UPDATE tote_contents SET qty = qty - ?5
                     WHERE tote = ?1 AND order_id = ?2 AND line_id = ?3 AND lot = ?4",
                )?
                .execute(key)?;
        }
        if !totes.contains(&p.tote.as_str()) {
            totes.push(&p.tote);
        }
    }
    for tote in totes {
        // An emptied tote is free for the next pick.
        cx.conn
            .prepare_cached(
                "DELETE FROM totes WHERE tote = ?1
                 AND NOT EXISTS (SELECT 1 FROM tote_contents WHERE tote = ?1)",
            )?
            .execute([tote])?;
    }
    Ok(())
}

/// A shipment as it is recorded: its cartons and the units they carry.
struct Shipment<'a> {
    id: &'a str,
    cartons: u32,
    weight_mg: i64,
    labelled: &'a [CartonRow],
    items: Vec<Value>,
}

/// The `shipments` row, the cartons tied to it, and `shipment.created` upstream (the first
/// carton's numbers at the top, every carton in `packages`).
fn record_shipment(
    cx: &Ctx<'_>,
    cfg: &StationConfig,
    order: &OrderDetail,
    shipment: &Shipment<'_>,
) -> Result<()> {
    let Some(first) = shipment.labelled.first() else {
        return Err(Error::conflict(format!(
            "order {}: no labelled carton",
            order.id
        )));
    };
    cx.conn
        .prepare_cached(
            "UPDATE cartons SET shipment_id = ?2 WHERE order_id = ?1 AND voided_at IS NULL",
        )?
        .execute(params![order.id, shipment.id])?;
    let items = &shipment.items;
    let packages: Vec<Value> = shipment
        .labelled
        .iter()
        .map(|c| {
            json!({"weight": kg_json(c.weight_mg), "dimensions": null,
                   "tracking_number": c.tracking_number, "sscc": c.sscc})
        })
        .collect();
    let items_text = serde_json::to_string(&items)?;
    cx.conn
        .prepare_cached(
            "INSERT INTO shipments(id, order_id, carrier, service, cartons, weight_mg, items, station_id, shipped_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            shipment.id,
            order.id,
            order.shipping.carrier,
            order.shipping.service,
            shipment.cartons,
            shipment.weight_mg,
            items_text,
            cfg.station_id,
            cx.now
        ])?;
    outbox::append(
        cx.conn,
        cx.site,
        NewEvent {
            kind: "shipment.created",
            aggregate_type: "order",
            aggregate_id: order.id.clone(),
            occurred_at: cx.now,
            actor: &cx.origin.actor,
            data: json!({
                "order_id": order.id, "tenant_id": order.tenant_id, "shipment_id": shipment.id,
                "carrier": order.shipping.carrier, "service": order.shipping.service,
                "tracking_number": first.tracking_number, "sscc": first.sscc,
                "packages": packages, "items": items, "shipped_at": cx.now,
            }),
        },
    )?;
    Ok(())
}
