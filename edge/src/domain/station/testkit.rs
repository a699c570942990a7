//! An in-memory site for the station tests: it answers [`FloorView`] and executes [`Command`]s the
//! way the store must — all of an outcome or nothing, hold and cancel re-checked through
//! `order::next` at commit time — and keeps the books the invariants are asserted on.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use wms_labels::gs1::Options;
use wms_labels::scan::{interpret_with, Scan};

use super::*;
use crate::domain::order::{next as order_next, Action, Status};
use crate::domain::{LocationKind, Tracking};

/// A scan as the floor reads it, with 2026 as the reference year for GS1 dates.
pub fn scan(text: &str) -> Scan {
    interpret_with(
        text.as_bytes(),
        &Options {
            reference_year: 2026,
        },
    )
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

pub const TSHIRT_GTIN: &str = "05901234123457";
pub const MUG_GTIN: &str = "09501101530003";
/// GS1 element string of a mug of lot L1, expiry 2027-03-31.
pub const MUG_L1: &str = "]C1010950110153000317270331\x1D10L1";
pub const MUG_L2: &str = "]C1010950110153000317270331\x1D10L2";

/// A task of the model: the reservation behind a [`PickTask`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub task: PickTask,
    pub claimed_by: Option<(String, String)>,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    pub view: OrderView,
    pub held_from: Option<Status>,
    /// Units picked per line (in some tote).
    pub picked: BTreeMap<String, u32>,
    pub shipped_lines: Vec<ShippedLine>,
}

type StockKey = (String, String, String, Option<String>);

#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    pub users: Vec<(String, UserView, String)>,
    pub products: Vec<(ProductView, Vec<String>)>,
    pub locations: Vec<LocationView>,
    /// On hand per (location, tenant, sku, lot).
    pub stock: BTreeMap<StockKey, i64>,
    /// Units in totes per (tote, order, sku, lot).
    pub totes: BTreeMap<(String, String, String, Option<String>), i64>,
    pub orders: BTreeMap<String, OrderRow>,
    pub tasks: Vec<TaskRow>,
    /// Units that left the site.
    pub shipped_units: i64,
    pub received_units: i64,
    /// Sum of stock adjustments (short picks, counts).
    pub adjusted_units: i64,
    pub initial_units: i64,
    pub labels_printed: Vec<String>,
    pub shipments: Vec<String>,
    pub audit: Vec<Command>,
    next_task_id: u32,
}

impl Floor {
    /// Users, products, locations, stock and two allocated orders with their pick tasks.
    pub fn sample() -> Floor {
        let user = |id: &str, name: &str, roles: Vec<Role>| UserView {
            user_id: id.into(),
            name: name.into(),
            tenant_id: None,
            roles,
        };
        let product = |sku: &str, tracking, grams: i64| ProductView {
            tenant_id: "acme".into(),
            sku: sku.into(),
            tracking,
            weight_mg: Some(grams * 1000),
        };
        let loc = |code: &str, kind| LocationView {
            code: code.into(),
            kind,
        };
        let mut floor = Floor {
            users: vec![
                (
                    "100".into(),
                    user("u-pia", "Pia", vec![Role::Picker]),
                    String::new(),
                ),
                (
                    "200".into(),
                    user("u-pat", "Pat", vec![Role::Packer]),
                    String::new(),
                ),
                (
                    "300".into(),
                    user("u-cy", "Cy", vec![Role::Picker]),
                    String::new(),
                ),
                (
                    "400".into(),
                    user("u-rob", "Rob", vec![Role::Packer]),
                    String::new(),
                ),
                (
                    "900".into(),
                    user("u-sue", "Sue", vec![Role::Supervisor]),
                    "4321".into(),
                ),
                (
                    "500".into(),
                    user("u-cas", "Cas", vec![Role::Cashier]),
                    "1111".into(),
                ),
            ],
            products: vec![
                (
                    product("TSHIRT-M", Tracking::None, 200),
                    vec![TSHIRT_GTIN.into(), "TSHIRT-M".into()],
                ),
                (
                    product("MUG", Tracking::LotExpiry, 350),
                    vec![MUG_GTIN.into(), "MUG".into()],
                ),
                (
                    product("CAP", Tracking::None, 100),
                    vec!["CAP-BLUE".into(), "CAP".into()],
                ),
            ],
            locations: vec![
                loc("A-03-2", LocationKind::Pick),
                loc("A-04-1", LocationKind::Pick),
                loc("B-01-1", LocationKind::Pick),
                loc("C-02-1", LocationKind::Pick),
                loc("D-01-1", LocationKind::Bulk),
                loc("RCV-1", LocationKind::Receiving),
            ],
            stock: BTreeMap::new(),
            totes: BTreeMap::new(),
            orders: BTreeMap::new(),
            tasks: Vec::new(),
            shipped_units: 0,
            received_units: 0,
            adjusted_units: 0,
            initial_units: 0,
            labels_printed: Vec::new(),
            shipments: Vec::new(),
            audit: Vec::new(),
            next_task_id: 1,
        };
        for (location, sku, lot, qty) in [
            ("A-03-2", "TSHIRT-M", None, 10),
            ("A-04-1", "TSHIRT-M", None, 4),
            ("B-01-1", "MUG", Some("L1"), 5),
            ("C-02-1", "CAP", None, 3),
        ] {
            floor.stock.insert(
                (
                    location.into(),
                    "acme".into(),
                    sku.into(),
                    lot.map(Into::into),
                ),
                qty,
            );
        }
        floor.add_order(
            "SO-1",
            &[
                ("L1", "TSHIRT-M", 2, "A-03-2", None),
                ("L2", "MUG", 1, "B-01-1", Some("L1")),
            ],
        );
        floor.add_order("SO-2", &[("L1", "CAP", 1, "C-02-1", None)]);
        floor.initial_units = floor.total_units();
        floor
    }

    /// An allocated order with one pick task per line.
    pub fn add_order(&mut self, id: &str, lines: &[(&str, &str, u32, &str, Option<&str>)]) {
        let view = OrderView {
            order_id: id.into(),
            tenant_id: "acme".into(),
            status: Status::Allocated,
            lines: lines
                .iter()
                .map(|(line, sku, qty, _, _)| OrderLineView {
                    line_id: (*line).into(),
                    sku: (*sku).into(),
                    qty: *qty,
                    picked: 0,
                    picked_lots: Vec::new(),
                })
                .collect(),
            label_printed: false,
        };
        for (line, sku, qty, location, lot) in lines {
            self.add_task(id, line, sku, *qty, location, lot.map(Into::into));
        }
        self.orders.insert(
            id.into(),
            OrderRow {
                view,
                held_from: None,
                picked: BTreeMap::new(),
                shipped_lines: Vec::new(),
            },
        );
    }

    fn add_task(
        &mut self,
        order: &str,
        line: &str,
        sku: &str,
        qty: u32,
        location: &str,
        lot: Option<String>,
    ) {
        let expiry = lot.as_ref().map(|_| "2027-03-31".to_string());
        self.tasks.push(TaskRow {
            task: PickTask {
                task_id: format!("T{}", self.next_task_id),
                order_id: order.into(),
                line_id: line.into(),
                tenant_id: "acme".into(),
                sku: sku.into(),
                location: location.into(),
                lot,
                expiry,
                qty,
            },
            claimed_by: None,
            open: true,
        });
        self.next_task_id += 1;
    }

    /// Every unit on the site or shipped: bins, totes and what left.
    pub fn total_units(&self) -> i64 {
        self.stock.values().sum::<i64>() + self.totes.values().sum::<i64>() + self.shipped_units
    }

    pub fn status(&self, order: &str) -> Option<Status> {
        self.orders.get(order).map(|o| o.view.status)
    }

    /// A hold from the central or a supervisor, in its own transaction: the order stops, its
    /// open pick tasks are withdrawn (the allocation is released; put-back is the store's task).
    pub fn hold(&mut self, order: &str) -> bool {
        self.stop(order, Action::Hold)
    }

    pub fn cancel(&mut self, order: &str) -> bool {
        self.stop(order, Action::Cancel)
    }

    fn stop(&mut self, order: &str, action: Action) -> bool {
        let Some(row) = self.orders.get_mut(order) else {
            return false;
        };
        let Ok(status) = order_next(row.view.status, action) else {
            return false;
        };
        if action == Action::Hold {
            row.held_from = Some(row.view.status);
        }
        row.view.status = status;
        for t in self.tasks.iter_mut().filter(|t| t.task.order_id == order) {
            t.open = false;
        }
        true
    }

    pub fn release(&mut self, order: &str) -> bool {
        let Some(row) = self.orders.get_mut(order) else {
            return false;
        };
        let Some(held_from) = row.held_from else {
            return false;
        };
        match order_next(row.view.status, Action::Release { held_from }) {
            Ok(status) => {
                row.view.status = status;
                row.held_from = None;
                true
            }
            Err(_) => false,
        }
    }

    /// Execute an outcome's commands as one transaction: all or nothing.
    pub fn execute(&mut self, user: Option<&str>, commands: &[Command]) -> Result<(), String> {
        let mut trial = self.clone();
        for c in commands {
            trial.apply(user, c)?;
        }
        *self = trial;
        Ok(())
    }

    fn move_order(&mut self, order: &str, action: Action) -> Result<(), String> {
        let row = self
            .orders
            .get_mut(order)
            .ok_or_else(|| format!("unknown order {order}"))?;
        row.view.status = order_next(row.view.status, action).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The store's re-check: no forward step for a held or cancelled order.
    fn recheck(&self, order: &str) -> Result<&OrderRow, String> {
        let row = self
            .orders
            .get(order)
            .ok_or_else(|| format!("unknown order {order}"))?;
        match row.view.block() {
            Some(Block::OnHold) => Err(format!("order {order} is on hold")),
            Some(Block::Cancelled) => Err(format!("order {order} is cancelled")),
            None => Ok(row),
        }
    }

    fn task_mut(&mut self, id: &str) -> Result<&mut TaskRow, String> {
        self.tasks
            .iter_mut()
            .find(|t| t.task.task_id == id)
            .ok_or_else(|| format!("unknown task {id}"))
    }

    fn apply(&mut self, user: Option<&str>, command: &Command) -> Result<(), String> {
        if let Some(order) = command.order_moved_on() {
            self.recheck(order)?;
        }
        match command {
            Command::SessionStarted { .. }
            | Command::SessionEnded { .. }
            | Command::LoginFailed { .. }
            | Command::Audit { .. } => self.audit.push(command.clone()),
            Command::ClaimTask {
                task_id,
                order_id,
                tote,
            } => self.claim_task(user.unwrap_or(""), task_id, order_id, tote)?,
            Command::ReleaseTask { task_id, .. } => {
                let task = self.task_mut(task_id)?;
                task.claimed_by = None;
            }
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
            } => {
                let at = stock_key(location, tenant_id, sku, lot);
                self.pick(task_id, order_id, line_id, at, *qty, tote)?;
            }
            Command::ShortPick {
                task_id,
                order_id,
                line_id,
                tenant_id,
                sku,
                location,
                lot,
                short_qty,
            } => {
                let at = stock_key(location, tenant_id, sku, lot);
                self.short_pick(task_id, order_id, line_id, at, *short_qty)?;
            }
            Command::CloseTote { order_ids, .. } => self.close_tote(order_ids)?,
            Command::StartPacking { order_id, .. } => {
                let short = self.order(order_id).is_some_and(|o| o.packable_short());
                if self.status(order_id) == Some(Status::Picked) || short {
                    self.move_order(order_id, Action::StartPacking)?;
                }
            }
            Command::ReleaseOrder {
                order_id,
                label_printed,
            } => {
                if *label_printed {
                    if let Some(row) = self.orders.get_mut(order_id) {
                        row.view.label_printed = false;
                    }
                }
            }
            Command::PrintLabel {
                order_id, complete, ..
            } => {
                if *complete && self.status(order_id) == Some(Status::Packing) {
                    self.move_order(order_id, Action::FinishPacking)?;
                }
                let row = self.orders.get_mut(order_id).ok_or("unknown order")?;
                row.view.label_printed = true;
                self.labels_printed.push(order_id.clone());
            }
            Command::PrintSlip { .. } => {}
            Command::Reprint { order_id, .. } => {
                if !self.recheck(order_id)?.view.label_printed {
                    return Err("no label to reprint".into());
                }
            }
            Command::ConfirmShipment {
                order_id,
                lines,
                approved_by,
                ..
            } => self.confirm_shipment(order_id, lines, approved_by.is_some())?,
            Command::Count {
                location,
                tenant_id,
                sku,
                lot,
                counted,
                ..
            } => {
                let key = stock_key(location, tenant_id, sku, lot);
                let before = self.stock.get(&key).copied().unwrap_or(0);
                self.adjusted_units += i64::from(*counted) - before;
                self.stock.insert(key, i64::from(*counted));
            }
            Command::Receive {
                location,
                tenant_id,
                sku,
                lot,
                qty,
                ..
            } => {
                let key = stock_key(location, tenant_id, sku, lot);
                *self.stock.entry(key).or_default() += i64::from(*qty);
                self.received_units += i64::from(*qty);
            }
            Command::PutBack {
                tote,
                order_id,
                tenant_id,
                sku,
                lot,
                location,
                qty,
                ..
            } => {
                let to = stock_key(location, tenant_id, sku, lot);
                self.put_back(tote, order_id, to, *qty)?;
            }
            Command::Move {
                tenant_id,
                sku,
                lot,
                from,
                to,
                qty,
            } => {
                let from = stock_key(from, tenant_id, sku, lot);
                let to = stock_key(to, tenant_id, sku, lot);
                self.move_stock(from, to, *qty)?;
            }
        }
        Ok(())
    }

    fn claim_task(
        &mut self,
        me: &str,
        task_id: &str,
        order_id: &str,
        tote: &str,
    ) -> Result<(), String> {
        let task = self.task_mut(task_id)?;
        if !task.open {
            return Err(format!("task {task_id} is closed"));
        }
        if let Some((holder, _)) = &task.claimed_by {
            if *holder != me {
                return Err(format!("task {task_id} is claimed by {holder}"));
            }
        }
        task.claimed_by = Some((me.to_string(), tote.to_string()));
        if self.status(order_id) == Some(Status::Allocated) {
            self.move_order(order_id, Action::StartPicking)?;
        }
        Ok(())
    }

    fn pick(
        &mut self,
        task_id: &str,
        order_id: &str,
        line_id: &str,
        at: StockKey,
        qty: u32,
        tote: &str,
    ) -> Result<(), String> {
        let task = self.task_mut(task_id)?;
        if !task.open || task.task.qty < qty || qty == 0 {
            return Err(format!("task {task_id} has not {qty} left"));
        }
        task.task.qty -= qty;
        task.open = task.task.qty > 0;
        let on_hand = self.stock.get(&at).copied().unwrap_or(0);
        if on_hand < i64::from(qty) {
            return Err(format!("location {} is short", at.0));
        }
        let (_, _, sku, lot) = at.clone();
        self.stock.insert(at, on_hand - i64::from(qty));
        *self
            .totes
            .entry((tote.to_string(), order_id.to_string(), sku, lot))
            .or_default() += i64::from(qty);
        let row = self.orders.get_mut(order_id).ok_or("unknown order")?;
        let line_qty = row
            .view
            .lines
            .iter()
            .find(|l| l.line_id == line_id)
            .map_or(0, |l| l.qty);
        let picked = row.picked.entry(line_id.to_string()).or_default();
        *picked += qty;
        if *picked > line_qty {
            return Err(format!("over-pick of {order_id}/{line_id}"));
        }
        if row.view.status == Status::Allocated {
            self.move_order(order_id, Action::StartPicking)?;
        }
        Ok(())
    }

    fn short_pick(
        &mut self,
        task_id: &str,
        order_id: &str,
        line_id: &str,
        at: StockKey,
        short_qty: u32,
    ) -> Result<(), String> {
        let task = self.task_mut(task_id)?;
        if !task.open || task.task.qty != short_qty {
            return Err(format!("task {task_id} does not lack {short_qty}"));
        }
        task.open = false;
        let on_hand = self.stock.remove(&at).unwrap_or(0);
        self.adjusted_units -= on_hand;
        let (location, tenant_id, sku, lot) = &at;
        // Re-allocate from another location with enough of the same sku and lot.
        let other = self
            .stock
            .iter()
            .find(|((l, t, s, lt), q)| {
                l != location
                    && t == tenant_id
                    && s == sku
                    && lt == lot
                    && **q >= i64::from(short_qty)
            })
            .map(|((l, ..), _)| l.clone());
        match other {
            Some(l) => self.add_task(order_id, line_id, sku, short_qty, &l, lot.clone()),
            None => self.move_order(order_id, Action::RaiseException)?,
        }
        Ok(())
    }

    fn close_tote(&mut self, order_ids: &[String]) -> Result<(), String> {
        for id in order_ids {
            let Some(row) = self.orders.get(id) else {
                continue;
            };
            let complete = row
                .view
                .lines
                .iter()
                .all(|l| row.picked.get(&l.line_id).copied().unwrap_or(0) == l.qty);
            if complete && row.view.status == Status::Picking {
                self.move_order(id, Action::FinishPicking)?;
            }
        }
        Ok(())
    }

    fn confirm_shipment(
        &mut self,
        order_id: &str,
        lines: &[ShippedLine],
        approved: bool,
    ) -> Result<(), String> {
        let row = self.recheck(order_id)?.clone();
        if !row.view.label_printed {
            return Err(format!("order {order_id} has no label"));
        }
        let mut whole = true;
        for l in &row.view.lines {
            let picked = row.picked.get(&l.line_id).copied().unwrap_or(0);
            let shipping: u32 = lines
                .iter()
                .filter(|s| s.line_id == l.line_id)
                .map(|s| s.qty)
                .sum();
            let fits = if approved {
                shipping <= picked && shipping <= l.qty
            } else {
                picked == l.qty && shipping == l.qty
            };
            if !fits {
                return Err(format!(
                    "order {order_id} line {} does not match",
                    l.line_id
                ));
            }
            whole &= picked == l.qty && shipping == l.qty;
        }
        if whole {
            self.move_order(order_id, Action::Ship)?;
        } else {
            self.move_order(order_id, Action::ShipPartially)?;
            for t in self
                .tasks
                .iter_mut()
                .filter(|t| t.task.order_id == order_id)
            {
                t.open = false;
            }
        }
        // Shipped units leave their totes; a partial shipment's rest stays for put-back.
        for shipped in lines {
            let mut left = i64::from(shipped.qty);
            let keys: Vec<_> = self
                .totes
                .keys()
                .filter(|(_, o, sku, _)| o == order_id && sku == &shipped.sku)
                .cloned()
                .collect();
            for key in keys {
                let held = self.totes.get(&key).copied().unwrap_or(0);
                let take = left.min(held);
                self.totes.insert(key, held - take);
                self.shipped_units += take;
                left -= take;
            }
        }
        let row = self.orders.get_mut(order_id).ok_or("unknown order")?;
        row.shipped_lines = lines.to_vec();
        self.shipments.push(order_id.to_string());
        Ok(())
    }

    fn put_back(
        &mut self,
        tote: &str,
        order_id: &str,
        to: StockKey,
        qty: u32,
    ) -> Result<(), String> {
        if !matches!(
            self.status(order_id),
            Some(Status::Cancelled | Status::PartiallyShipped)
        ) {
            return Err(format!("order {order_id} is not cancelled"));
        }
        let (_, _, sku, lot) = to.clone();
        let key = (tote.to_string(), order_id.to_string(), sku, lot);
        let in_tote = self.totes.get(&key).copied().unwrap_or(0);
        if in_tote < i64::from(qty) {
            return Err(format!("tote {tote} holds only {in_tote}"));
        }
        self.totes.insert(key, in_tote - i64::from(qty));
        *self.stock.entry(to).or_default() += i64::from(qty);
        Ok(())
    }

    fn move_stock(&mut self, from: StockKey, to: StockKey, qty: u32) -> Result<(), String> {
        let on_hand = self.stock.get(&from).copied().unwrap_or(0);
        if on_hand < i64::from(qty) {
            return Err(format!("only {on_hand} at {}", from.0));
        }
        self.stock.insert(from, on_hand - i64::from(qty));
        *self.stock.entry(to).or_default() += i64::from(qty);
        Ok(())
    }
}

/// The model's stock position: (location, tenant, sku, lot).
fn stock_key(location: &str, tenant_id: &str, sku: &str, lot: &Option<String>) -> StockKey {
    (
        location.to_string(),
        tenant_id.to_string(),
        sku.to_string(),
        lot.clone(),
    )
}

impl FloorView for Floor {
    fn user_by_badge(&self, badge: &str) -> Option<UserView> {
        self.users
            .iter()
            .find(|(b, _, _)| b == badge)
            .map(|(_, u, _)| u.clone())
    }

    fn verify_pin(&self, user_id: &str, pin: &str) -> bool {
        self.users
            .iter()
            .any(|(_, u, p)| u.user_id == user_id && !p.is_empty() && p == pin)
    }

    fn products_by_code(&self, code: &str) -> Vec<ProductView> {
        self.products
            .iter()
            .filter(|(_, codes)| codes.iter().any(|c| c == code))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn product(&self, tenant_id: &str, sku: &str) -> Option<ProductView> {
        self.products
            .iter()
            .map(|(p, _)| p)
            .find(|p| p.tenant_id == tenant_id && p.sku == sku)
            .cloned()
    }

    fn order(&self, order_id: &str) -> Option<OrderView> {
        self.orders.get(order_id).map(|o| {
            let mut view = o.view.clone();
            for line in &mut view.lines {
                let picked = o.picked.get(&line.line_id).copied().unwrap_or(0);
                let shipped: u32 = o
                    .shipped_lines
                    .iter()
                    .filter(|s| s.line_id == line.line_id)
                    .map(|s| s.qty)
                    .sum();
                line.picked = picked.saturating_sub(shipped);
                line.picked_lots = self
                    .totes
                    .iter()
                    .filter(|((_, o, sku, _), q)| o == order_id && *sku == line.sku && **q > 0)
                    .map(|((_, _, _, lot), q)| {
                        (
                            lot.clone().unwrap_or_default(),
                            u32::try_from(*q).unwrap_or(0),
                        )
                    })
                    .collect();
            }
            view
        })
    }

    fn orders_in_tote(&self, tote: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .totes
            .iter()
            .filter(|((t, _, _, _), q)| t == tote && **q > 0)
            .map(|((_, o, _, _), _)| o.clone())
            .collect();
        ids.dedup();
        ids
    }

    fn pick_tasks(&self, user_id: &str, order: Option<&str>) -> Vec<PickTask> {
        let of_order = |t: &&TaskRow| order.is_none_or(|o| t.task.order_id == o);
        let mine = self
            .tasks
            .iter()
            .filter(|t| t.open && t.claimed_by.as_ref().is_some_and(|(u, _)| u == user_id));
        let free = self
            .tasks
            .iter()
            .filter(|t| t.open && t.claimed_by.is_none());
        mine.chain(free)
            .filter(of_order)
            .map(|t| t.task.clone())
            .collect()
    }

    fn pick_task(&self, task_id: &str) -> Option<PickTask> {
        self.tasks
            .iter()
            .find(|t| t.open && t.task.task_id == task_id)
            .map(|t| t.task.clone())
    }

    fn put_backs(&self, tote: &str) -> Vec<PutBack> {
        self.totes
            .iter()
            .filter(|((t, o, _, _), q)| {
                t == tote
                    && **q > 0
                    && self.orders.get(o).is_some_and(|r| {
                        matches!(r.view.status, Status::Cancelled | Status::PartiallyShipped)
                    })
            })
            .filter_map(|((t, o, sku, lot), q)| {
                let row = self.orders.get(o)?;
                let line = row.view.lines.iter().find(|l| &l.sku == sku)?;
                let from = self
                    .tasks
                    .iter()
                    .find(|x| &x.task.order_id == o && &x.task.sku == sku)
                    .map(|x| x.task.location.clone());
                Some(PutBack {
                    tote: t.clone(),
                    order_id: o.clone(),
                    line_id: line.line_id.clone(),
                    tenant_id: row.view.tenant_id.clone(),
                    sku: sku.clone(),
                    lot: lot.clone(),
                    qty: u32::try_from(*q).unwrap_or(0),
                    location: from,
                })
            })
            .collect()
    }

    fn location(&self, code: &str) -> Option<LocationView> {
        self.locations.iter().find(|l| l.code == code).cloned()
    }

    fn stock_at(&self, location: &str) -> Vec<StockView> {
        self.stock
            .iter()
            .filter(|((l, ..), q)| l == location && **q != 0)
            .map(|((_, tenant, sku, lot), q)| StockView {
                tenant_id: tenant.clone(),
                sku: sku.clone(),
                lot: lot.clone(),
                on_hand: *q,
            })
            .collect()
    }
}

/// One station on the in-memory floor, driven the way the node drives it: input, outcome,
/// commands executed as one transaction, state kept only if they all applied.
pub struct Bench {
    pub config: StationConfig,
    pub state: StationState,
    pub now: DateTime<Utc>,
}

impl Bench {
    pub fn new(station_id: &str, kind: StationKind) -> Bench {
        let mut config = StationConfig::new(station_id, kind);
        config.receiving_location = Some("RCV-1".into());
        Bench {
            config,
            state: StationState::default(),
            now: t0(),
        }
    }

    /// Run one input against `floor`. A refused transaction keeps the old state and turns the
    /// feedback bad with the store's reason.
    pub fn input(&mut self, floor: &mut Floor, input: StationInput) -> Outcome {
        self.now += chrono::Duration::seconds(2);
        let mut out = on_input(&self.config, &self.state, &input, &*floor, self.now);
        match floor.execute(out.actor.user.as_deref(), &out.commands) {
            Ok(()) => self.state = out.next.clone(),
            Err(why) => {
                out.feedback = Feedback {
                    good: false,
                    prompt: format!("Refused: {why}"),
                };
                out.commands.clear();
                out.next = self.state.clone();
            }
        }
        out
    }

    pub fn scan(&mut self, floor: &mut Floor, text: &str) -> Outcome {
        self.input(floor, StationInput::Scan(scan(text)))
    }

    pub fn weigh(&mut self, floor: &mut Floor, grams: i64) -> Outcome {
        self.input(
            floor,
            StationInput::Weight(ScaleReading {
                milligrams: grams * 1000,
                stable: true,
            }),
        )
    }

    /// Scan each text, asserting every one is accepted.
    pub fn all_good(&mut self, floor: &mut Floor, texts: &[&str]) -> Vec<Outcome> {
        texts
            .iter()
            .map(|t| {
                let out = self.scan(floor, t);
                assert!(out.feedback.good, "{t}: {}", out.feedback.prompt);
                out
            })
            .collect()
    }
}
