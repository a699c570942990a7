//! The pack station: `ORD:` or `TOTE:` takes an order, one item scan per unit verifies it against
//! the order (a wrong item or one unit too many is refused — zero mis-packs), a stable scale
//! reading is checked against the catalog weight plus the carton tare, and only then do the label
//! and slip print; `CMD:DONE` confirms the shipment. Out of tolerance nothing prints: the packer
//! fixes the carton and scans `CMD:WEIGH`, or a supervisor overrides with badge + PIN (audited).
//! A held or cancelled order is refused at every step with "put tote aside".
//!
//! Multi-carton orders: `CMD:DONE` while verifying closes the carton with what is in it; it is
//! weighed and labelled on its own, and the next item scan opens the next carton. The shipment
//! is confirmed once every unit is in a labelled carton.
//!
//! Partial shipments: with at least one carton labelled, `CMD:DONE` before every unit is packed
//! asks for a supervisor (badge + PIN, audited) to approve shipping what is packed; the order
//! becomes `partially_shipped` and what is left in the tote goes back to the shelves. A short pick
//! that left an order in `exception` is packed this way: only picked units can be verified.
//!
//! Lots and serials: a GS1 scan's lot (AI 10) must be one the tote holds for the line (with units
//! of it left to verify), and a serial (AI 21) may be packed once; both are kept per unit and
//! travel in the cartons and the shipment, so what ships is exactly what was packed. Units whose
//! scan named no lot take the line's other picked lots, in lot order.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::item::{identify, ItemRead};
use super::view::{Block, FloorView, OrderView, UserView};
use super::{
    code_of, is_item, show_weight, take_qty, Command, Ctx, ScaleReading, ShippedLine, StationInput,
    Step, UnitLot,
};
use crate::domain::order::Status;
use crate::domain::role::Role;
use wms_labels::scan::Scan;

/// The pack station's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum PackWork {
    Idle,
    Order(PackOrder),
}

/// The order on the bench.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackOrder {
    pub order_id: String,
    pub tenant_id: String,
    pub tote: Option<String>,
    pub lines: Vec<PackLine>,
    /// `QTY:n` waiting for its item scan.
    pub pending_qty: Option<u32>,
    pub step: PackStage,
    /// Cartons already weighed and labelled, in order.
    #[serde(default)]
    pub cartons: Vec<PackedCarton>,
}

/// A weighed and labelled carton.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedCarton {
    pub number: u32,
    pub weight_mg: i64,
    /// The supervisor who overrode its weight check.
    pub override_by: Option<String>,
    pub lines: Vec<ShippedLine>,
}

/// One order line and how many of its units the packer has verified (in every carton).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackLine {
    pub line_id: String,
    pub sku: String,
    pub qty: u32,
    pub verified: u32,
    /// Units picked for the line and waiting in totes: no more can be verified.
    #[serde(default = "every_unit")]
    pub available: u32,
    /// Those units by lot (`""` for stock without one), as the bench found them.
    #[serde(default)]
    pub picked_lots: Vec<(String, u32)>,
    /// The lots and serials the scans named, for the verified units they were told for.
    #[serde(default)]
    pub scanned: Vec<UnitLot>,
}

fn every_unit() -> u32 {
    u32::MAX
}

impl PackLine {
    /// How many units of the line can be verified: ordered, and picked.
    fn limit(&self) -> u32 {
        self.qty.min(self.available)
    }

    /// Whether the line's picked stock has lots at all (else a scanned lot says nothing).
    fn has_lots(&self) -> bool {
        self.picked_lots.iter().any(|(lot, _)| !lot.is_empty())
    }

    /// Units of `lot` picked for the line and not yet verified as that lot.
    fn lot_room(&self, lot: &str) -> u32 {
        let picked: u32 = self
            .picked_lots
            .iter()
            .filter(|(l, _)| l == lot)
            .map(|(_, n)| n)
            .sum();
        let claimed: u32 = self
            .scanned
            .iter()
            .filter(|u| u.lot.as_deref() == Some(lot))
            .map(|u| u.qty)
            .sum();
        picked.saturating_sub(claimed)
    }
}

/// Where the order is on the bench.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum PackStage {
    /// Scanning units.
    Verifying,
    /// The open carton is closed (every unit verified, or `CMD:DONE`); waiting for a stable
    /// weight.
    Weighing,
    /// The last stable weight was out of tolerance; nothing printed. `supervisor` is set once a
    /// supervisor badge was scanned for an override and the PIN is awaited.
    OutOfTolerance {
        measured_mg: i64,
        expected_mg: i64,
        allowed_mg: i64,
        supervisor: Option<String>,
    },
    /// The last carton is labelled. With every unit packed `CMD:DONE` ships; otherwise the next
    /// item scan opens the next carton, and `CMD:DONE` asks for a partial shipment.
    Labelled,
    /// The packer asked to ship what is packed; a supervisor must approve. `supervisor` is set
    /// once their badge was scanned and the PIN is awaited.
    ApprovePartial { supervisor: Option<String> },
}

impl PackOrder {
    fn units(&self) -> (u32, u32) {
        let verified = self.lines.iter().map(|l| l.verified).sum();
        let total = self.lines.iter().map(|l| l.qty).sum();
        (verified, total)
    }

    fn label_printed(&self) -> bool {
        !self.cartons.is_empty()
    }

    fn all_verified(&self) -> bool {
        self.lines.iter().all(|l| l.verified == l.qty)
    }

    /// Every unit that can be verified is (a short-picked order can get no further).
    fn all_available_verified(&self) -> bool {
        self.lines.iter().all(|l| l.verified == l.limit())
    }

    /// The verified units per line: what leaves with the shipment.
    fn shipped_lines(&self) -> Vec<ShippedLine> {
        self.lines
            .iter()
            .filter(|l| l.verified > 0)
            .map(|l| ShippedLine {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                qty: l.verified,
                lots: l.scanned.clone(),
            })
            .collect()
    }

    /// Units verified into the open carton, per line.
    fn open_carton(&self) -> Vec<ShippedLine> {
        self.lines
            .iter()
            .filter_map(|l| {
                let boxed: Vec<&ShippedLine> = self
                    .cartons
                    .iter()
                    .flat_map(|c| &c.lines)
                    .filter(|c| c.line_id == l.line_id)
                    .collect();
                let qty = l.verified.saturating_sub(boxed.iter().map(|c| c.qty).sum());
                let boxed_lots: Vec<&UnitLot> = boxed.iter().flat_map(|c| &c.lots).collect();
                (qty > 0).then(|| ShippedLine {
                    line_id: l.line_id.clone(),
                    sku: l.sku.clone(),
                    qty,
                    lots: UnitLot::subtract(&l.scanned, &boxed_lots),
                })
            })
            .collect()
    }

    fn prompt(&self) -> String {
        match &self.step {
            PackStage::Verifying => {
                let (verified, total) = self.units();
                format!(
                    "Order {}: scan items ({verified} of {total} verified)",
                    self.order_id
                )
            }
            PackStage::Weighing => "Place the carton on the scale (CMD:WEIGH to read)".into(),
            PackStage::OutOfTolerance { supervisor, .. } => match supervisor {
                Some(_) => "Supervisor: scan your PIN to override".into(),
                None => "Fix the carton and scan CMD:WEIGH, or supervisor badge to override".into(),
            },
            PackStage::Labelled if self.all_verified() => {
                format!(
                    "Order {}: label printed — scan CMD:DONE to ship",
                    self.order_id
                )
            }
            PackStage::Labelled if self.all_available_verified() => {
                let (verified, total) = self.units();
                format!(
                    "Order {}: every picked item packed, {} short — scan CMD:DONE to ship partially (supervisor)",
                    self.order_id,
                    total - verified
                )
            }
            PackStage::Labelled => {
                let (verified, total) = self.units();
                format!(
                    "Carton {} labelled — scan the {} items left into the next carton, or CMD:DONE to ship partially (supervisor)",
                    self.cartons.len(),
                    total - verified
                )
            }
            PackStage::ApprovePartial { supervisor: None } => {
                let (verified, total) = self.units();
                format!(
                    "Ship {verified} of {total} items partially: supervisor badge, then PIN — or scan an item to keep packing"
                )
            }
            PackStage::ApprovePartial {
                supervisor: Some(_),
            } => "Supervisor: scan your PIN to approve the partial shipment".into(),
        }
    }
}

impl PackWork {
    /// The supervisor whose PIN the bench waits for (weight override, partial shipment).
    pub(crate) fn supervisor_pending(&self) -> Option<&str> {
        match self {
            PackWork::Order(PackOrder {
                step:
                    PackStage::OutOfTolerance {
                        supervisor: Some(s),
                        ..
                    }
                    | PackStage::ApprovePartial {
                        supervisor: Some(s),
                    },
                ..
            }) => Some(s),
            _ => None,
        }
    }

    /// The order returns to the pack queue when the session ends.
    pub(crate) fn abandon(&self) -> Vec<Command> {
        match self {
            PackWork::Idle => Vec::new(),
            PackWork::Order(order) => vec![Command::ReleaseOrder {
                order_id: order.order_id.clone(),
                label_printed: order.label_printed(),
            }],
        }
    }

    pub(crate) fn context(&self, map: &mut Map<String, Value>) {
        match self {
            PackWork::Idle => {
                map.insert("stage".into(), json!("await_order"));
            }
            PackWork::Order(order) => {
                let stage = match order.step {
                    PackStage::Verifying => "verifying",
                    PackStage::Weighing => "weighing",
                    PackStage::OutOfTolerance { .. } => "weight_out_of_tolerance",
                    PackStage::Labelled => "labelled",
                    PackStage::ApprovePartial { .. } => "approve_partial",
                };
                map.insert("stage".into(), json!(stage));
                // The node reads the station's scale while this is true.
                map.insert(
                    "read_scale".into(),
                    json!(matches!(order.step, PackStage::Weighing)),
                );
                let lines: Vec<Value> = order
                    .lines
                    .iter()
                    .map(|l| json!({"line_id": l.line_id, "sku": l.sku, "qty": l.qty, "verified": l.verified, "available": l.limit(), "scanned": l.scanned}))
                    .collect();
                map.insert(
                    "order".into(),
                    json!({
                        "order_id": order.order_id,
                        "tote": order.tote,
                        "lines": lines,
                        "cartons": order.cartons.len(),
                    }),
                );
                if let PackStage::OutOfTolerance {
                    measured_mg,
                    expected_mg,
                    allowed_mg,
                    ..
                } = order.step
                {
                    map.insert(
                        "weight".into(),
                        json!({"measured_mg": measured_mg, "expected_mg": expected_mg, "allowed_mg": allowed_mg}),
                    );
                }
            }
        }
    }
}

fn blocked_prompt(order: &PackOrder, block: Block) -> String {
    let what = match block {
        Block::OnHold => "on hold",
        Block::Cancelled => "cancelled",
    };
    if order.label_printed() {
        format!(
            "Order {} {what} — void the label, put tote aside for re-stock (CMD:CANCEL)",
            order.order_id
        )
    } else {
        format!(
            "Order {} {what} — put tote aside (CMD:CANCEL)",
            order.order_id
        )
    }
}

pub(crate) fn on_input(
    ctx: &Ctx,
    work: &PackWork,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    let PackWork::Order(order) = work else {
        return await_order(ctx, work, input, view);
    };
    // Hold and cancel before anything else: a held order takes no step at this bench.
    let block = match view.order(&order.order_id) {
        Some(current) => current.block(),
        None => Some(Block::Cancelled),
    };
    if let Some(block) = block {
        return blocked(ctx, work, order, block, input, view);
    }
    if let Some(step) = leave_order(work, order, input) {
        return step;
    }
    match &order.step {
        PackStage::Verifying => verifying(work, order, input, view),
        PackStage::Weighing => weighing(ctx, work, order, input, view),
        PackStage::OutOfTolerance {
            measured_mg,
            expected_mg,
            allowed_mg,
            supervisor,
        } => {
            let off = OffWeight {
                measured_mg: *measured_mg,
                expected_mg: *expected_mg,
                allowed_mg: *allowed_mg,
                supervisor: supervisor.as_deref(),
            };
            out_of_tolerance(ctx, work, order, &off, input, view)
        }
        PackStage::Labelled => labelled(work, order, input, view),
        PackStage::ApprovePartial { supervisor } => {
            approve_partial(ctx, work, order, supervisor.as_deref(), input, view)
        }
    }
}

/// The control code of a scan; a scale reading has none.
fn code_in(input: &StationInput) -> Option<(&'static str, &str)> {
    match input {
        StationInput::Scan(scan) => code_of(scan),
        StationInput::Weight(_) => None,
    }
}

/// The order to release when the bench lets go of it.
fn release(order: &PackOrder) -> Command {
    Command::ReleaseOrder {
        order_id: order.order_id.clone(),
        label_printed: order.label_printed(),
    }
}

/// An empty bench: an order or a tote scan takes an order.
fn await_order(
    ctx: &Ctx,
    work: &PackWork,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match (input, code_in(input)) {
        (_, Some(("ORD", id))) => take_order(ctx, work, id, None, view, Vec::new()),
        (_, Some(("TOTE", tote))) => take_tote(ctx, work, tote, view, Vec::new()),
        (StationInput::Weight(_), _) => {
            Step::reject(work, "No order on the bench — scan an order (ORD:)")
        }
        _ => Step::reject(work, "Scan an order (ORD:) or tote (TOTE:)"),
    }
}

/// The order on the bench was held or cancelled: it can only be set aside, by `CMD:CANCEL` or by
/// scanning the next order or tote.
fn blocked(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    block: Block,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match code_in(input) {
        Some(("CMD", "CANCEL")) => {
            let prompt = format!("Order {} set aside — scan the next order", order.order_id);
            Step::accept(PackWork::Idle, vec![release(order)], prompt)
        }
        // Setting the tote aside and scanning the next one is the natural move.
        Some(("ORD", id)) if id != order.order_id => {
            take_order(ctx, work, id, None, view, vec![release(order)])
        }
        Some(("TOTE", tote)) if Some(tote) != order.tote.as_deref() => {
            take_tote(ctx, work, tote, view, vec![release(order)])
        }
        _ => Step::reject(work, blocked_prompt(order, block)),
    }
}

/// At any stage, `CMD:CANCEL` returns the order to the pack queue, and another order or tote is
/// refused until then. `None` when the input is for the stage.
fn leave_order(work: &PackWork, order: &PackOrder, input: &StationInput) -> Option<Step<PackWork>> {
    match code_in(input) {
        Some(("CMD", "CANCEL")) => {
            let prompt = format!(
                "Order {} returned to the pack queue — scan the next order",
                order.order_id
            );
            Some(Step::accept(PackWork::Idle, vec![release(order)], prompt))
        }
        Some(("ORD" | "TOTE", _)) => Some(Step::reject(
            work,
            format!(
                "Finish order {} or scan CMD:CANCEL — {}",
                order.order_id,
                order.prompt()
            ),
        )),
        _ => None,
    }
}

/// The carton is closed: a stable reading checks it, `CMD:WEIGH` asks the node to read the scale.
fn weighing(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match (input, code_in(input)) {
        (StationInput::Weight(reading), _) => weigh(ctx, work, order, *reading, view),
        (_, Some(("CMD", "WEIGH"))) => {
            Step::accept(work.clone(), Vec::new(), "Reading the scale — hold still")
        }
        _ => Step::reject(work, order.prompt()),
    }
}

/// An out-of-tolerance reading, and the supervisor whose PIN would override it.
struct OffWeight<'a> {
    measured_mg: i64,
    expected_mg: i64,
    allowed_mg: i64,
    supervisor: Option<&'a str>,
}

/// Nothing printed: the packer fixes the carton and weighs again, or a supervisor overrides with
/// badge, then PIN.
fn out_of_tolerance(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    off: &OffWeight,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match (input, code_in(input)) {
        (StationInput::Weight(reading), _) => weigh(ctx, work, order, *reading, view),
        (_, Some(("CMD", "WEIGH"))) => {
            let mut next = order.clone();
            next.step = PackStage::Weighing;
            Step::accept(
                PackWork::Order(next),
                Vec::new(),
                "Reading the scale — hold still",
            )
        }
        (_, Some(("EMP", badge))) => override_badge(work, order, off, badge, view),
        (_, Some(("PIN", pin))) => override_pin(ctx, work, order, off, pin, view),
        _ => Step::reject(work, order.prompt()),
    }
}

/// A supervisor's badge starts a weight override; anyone else's is refused.
fn override_badge(
    work: &PackWork,
    order: &PackOrder,
    off: &OffWeight,
    badge: &str,
    view: &impl FloorView,
) -> Step<PackWork> {
    let refusal = "Override needs a supervisor badge";
    supervisor_badge(work, badge, view, refusal, |user| {
        let mut next = order.clone();
        next.step = PackStage::OutOfTolerance {
            measured_mg: off.measured_mg,
            expected_mg: off.expected_mg,
            allowed_mg: off.allowed_mg,
            supervisor: Some(user.user_id.clone()),
        };
        let prompt = format!("{}: scan your PIN to override the weight", user.name);
        Step::accept(PackWork::Order(next), Vec::new(), prompt)
    })
}

/// The supervisor's PIN overrides the weight check (audited upstream) and the label prints.
fn override_pin(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    off: &OffWeight,
    pin: &str,
    view: &impl FloorView,
) -> Step<PackWork> {
    supervisor_pin(work, off.supervisor, pin, view, |supervisor| {
        let changes = json!({
            "measured_mg": off.measured_mg,
            "expected_mg": off.expected_mg,
            "allowed_mg": off.allowed_mg,
        });
        let audit = approval(ctx, order, "pack.weight_override", supervisor, changes);
        print(
            order,
            off.measured_mg,
            Some(supervisor.to_string()),
            vec![audit],
            "Weight overridden",
        )
    })
}

/// A carton is labelled: `CMD:DONE` ships, or, with units left, asks for a partial shipment.
fn labelled(
    work: &PackWork,
    order: &PackOrder,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match code_in(input) {
        Some(("CMD", "DONE")) if order.all_verified() => {
            let commands = vec![confirm(order, None)];
            let prompt = format!("Order {} shipped — scan the next order", order.order_id);
            Step::accept(PackWork::Idle, commands, prompt)
        }
        Some(("CMD", "DONE")) => {
            let mut next = order.clone();
            next.step = PackStage::ApprovePartial { supervisor: None };
            let prompt = next.prompt();
            Step::accept(PackWork::Order(next), Vec::new(), prompt)
        }
        _ => after_label(work, order, input, view),
    }
}

/// Shipping less than the order waits for a supervisor's badge and PIN.
fn approve_partial(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    supervisor: Option<&str>,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match code_in(input) {
        Some(("EMP", badge)) => partial_badge(work, order, badge, view),
        Some(("PIN", pin)) => partial_pin(ctx, work, order, supervisor, pin, view),
        _ => after_label(work, order, input, view),
    }
}

/// Once a carton is labelled, `CMD:REPRINT` prints its label again, and while units are left an
/// item scan opens the next carton (and ends a request for a partial shipment).
fn after_label(
    work: &PackWork,
    order: &PackOrder,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    match code_in(input) {
        Some(("CMD", "REPRINT")) => reprint(work, order),
        Some(("QTY", _)) | None if !order.all_verified() => next_carton(work, order, input, view),
        _ => Step::reject(work, order.prompt()),
    }
}

/// A supervisor's badge starts the approval; anyone else's is refused.
fn partial_badge(
    work: &PackWork,
    order: &PackOrder,
    badge: &str,
    view: &impl FloorView,
) -> Step<PackWork> {
    let refusal = "A partial shipment needs a supervisor badge";
    supervisor_badge(work, badge, view, refusal, |user| {
        let mut next = order.clone();
        next.step = PackStage::ApprovePartial {
            supervisor: Some(user.user_id.clone()),
        };
        let prompt = format!(
            "{}: scan your PIN to approve the partial shipment",
            user.name
        );
        Step::accept(PackWork::Order(next), Vec::new(), prompt)
    })
}

/// The supervisor's PIN approves the partial shipment (audited upstream) and confirms it.
fn partial_pin(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    supervisor: Option<&str>,
    pin: &str,
    view: &impl FloorView,
) -> Step<PackWork> {
    supervisor_pin(work, supervisor, pin, view, |supervisor| {
        let (verified, total) = order.units();
        let changes = json!({
            "shipped": {"old": null, "new": verified},
            "ordered": total,
        });
        let audit = approval(ctx, order, "pack.partial_shipment", supervisor, changes);
        let commands = vec![audit, confirm(order, Some(supervisor.to_string()))];
        let prompt = format!(
            "Order {} shipped partially ({verified} of {total} items) — put the rest of the tote back; scan the next order",
            order.order_id
        );
        Step::accept(PackWork::Idle, commands, prompt)
    })
}

/// A supervisor's approval at the bench, audited upstream in the supervisor's name with the
/// packer and the station beside what was approved.
fn approval(
    ctx: &Ctx,
    order: &PackOrder,
    action: &str,
    supervisor: &str,
    mut changes: Value,
) -> Command {
    if let Value::Object(fields) = &mut changes {
        fields.insert("packer".into(), json!(ctx.user.user_id));
        fields.insert("station".into(), json!(ctx.config.station_id));
    }
    Command::Audit {
        action: action.into(),
        target: format!("order:{}", order.order_id),
        by_user: supervisor.to_string(),
        changes,
        upstream: true,
    }
}

/// A supervisor's badge at the bench asks for their PIN (`asked` says for what); anyone else's
/// badge is refused with `refusal`.
fn supervisor_badge(
    work: &PackWork,
    badge: &str,
    view: &impl FloorView,
    refusal: &str,
    asked: impl FnOnce(&UserView) -> Step<PackWork>,
) -> Step<PackWork> {
    match view.user_by_badge(badge) {
        Some(user) if user.can(Role::Supervisor) => asked(&user),
        _ => Step::reject(work, refusal),
    }
}

/// The PIN of the supervisor whose badge was scanned lets `approved` go ahead; without the badge
/// first, or with a wrong PIN, nothing happens.
fn supervisor_pin(
    work: &PackWork,
    supervisor: Option<&str>,
    pin: &str,
    view: &impl FloorView,
    approved: impl FnOnce(&str) -> Step<PackWork>,
) -> Step<PackWork> {
    let Some(supervisor) = supervisor else {
        return Step::reject(work, "Scan the supervisor badge first");
    };
    if !view.verify_pin(supervisor, pin) {
        return wrong_supervisor_pin(work, supervisor);
    }
    approved(supervisor)
}

/// A supervisor's wrong PIN is refused like any wrong scan, and audited as a failed login.
fn wrong_supervisor_pin(work: &PackWork, supervisor: &str) -> Step<PackWork> {
    Step {
        work: work.clone(),
        commands: vec![Command::LoginFailed {
            user_id: Some(supervisor.to_string()),
            reason: super::LoginFailure::WrongPin,
        }],
        good: false,
        prompt: "Wrong PIN — supervisor: scan your PIN again".into(),
    }
}

/// Confirms the shipment of every verified unit; `approved_by` is the supervisor who approved
/// shipping less than the order.
fn confirm(order: &PackOrder, approved_by: Option<String>) -> Command {
    Command::ConfirmShipment {
        order_id: order.order_id.clone(),
        cartons: order.cartons.len() as u32,
        weight_mg: order.cartons.iter().map(|c| c.weight_mg).sum(),
        lines: order.shipped_lines(),
        approved_by,
    }
}

fn reprint(work: &PackWork, order: &PackOrder) -> Step<PackWork> {
    Step::accept(
        work.clone(),
        vec![Command::Reprint {
            order_id: order.order_id.clone(),
            carton: order.cartons.len() as u32,
        }],
        format!("Label reprinted — {}", order.prompt()),
    )
}

/// An item scan after a labelled carton opens the next carton with that item.
fn next_carton(
    work: &PackWork,
    order: &PackOrder,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    let mut opened = order.clone();
    opened.step = PackStage::Verifying;
    let step = verifying(&PackWork::Order(opened.clone()), &opened, input, view);
    if step.good {
        step
    } else {
        Step::reject(work, step.prompt)
    }
}

fn take_tote(
    ctx: &Ctx,
    work: &PackWork,
    tote: &str,
    view: &impl FloorView,
    before: Vec<Command>,
) -> Step<PackWork> {
    let orders: Vec<String> = view
        .orders_in_tote(tote)
        .into_iter()
        .filter(|id| {
            view.order(id)
                .is_some_and(|o| ctx.user.sees_tenant(&o.tenant_id) && !o.status.has_shipped())
        })
        .collect();
    match orders.as_slice() {
        [] => Step::reject(
            work,
            format!("Tote {tote} has no order to pack — scan ORD:"),
        ),
        [only] => take_order(ctx, work, only, Some(tote), view, before),
        many => Step::reject(
            work,
            format!(
                "Tote {tote} holds {} orders — scan the order (ORD:)",
                many.len()
            ),
        ),
    }
}

fn take_order(
    ctx: &Ctx,
    work: &PackWork,
    order_id: &str,
    tote: Option<&str>,
    view: &impl FloorView,
    before: Vec<Command>,
) -> Step<PackWork> {
    // Another tenant's order is "unknown" to a tenant's own staff: nothing leaks.
    let Some(order) = view
        .order(order_id)
        .filter(|o| ctx.user.sees_tenant(&o.tenant_id))
    else {
        return Step::reject(work, format!("Unknown order {order_id}"));
    };
    if let Some(block) = order.block() {
        let what = match block {
            Block::OnHold => "on hold",
            Block::Cancelled => "cancelled",
        };
        return Step::reject(work, format!("Order {order_id} {what} — put tote aside"));
    }
    let ready = matches!(
        order.status,
        Status::Picked | Status::Packing | Status::Packed
    ) || order.packable_short();
    if !ready {
        return Step::reject(
            work,
            format!(
                "Order {order_id} is {}, not ready to pack",
                order.status.as_str()
            ),
        );
    }
    let mut commands = before;
    commands.push(Command::StartPacking {
        order_id: order_id.to_string(),
        tote: tote.map(str::to_string),
    });
    let bench = bench_for(&order, tote);
    let prompt = if order.packable_short() {
        let picked: u32 = bench.lines.iter().map(PackLine::limit).sum();
        let (_, total) = bench.units();
        format!(
            "Order {order_id} was picked short ({picked} of {total}) — pack what is here; shipping it needs a supervisor. {}",
            bench.prompt()
        )
    } else {
        bench.prompt()
    };
    Step::accept(PackWork::Order(bench), commands, prompt)
}

fn bench_for(order: &OrderView, tote: Option<&str>) -> PackOrder {
    PackOrder {
        order_id: order.order_id.clone(),
        tenant_id: order.tenant_id.clone(),
        tote: tote.map(str::to_string),
        lines: order
            .lines
            .iter()
            .map(|l| PackLine {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                qty: l.qty,
                verified: 0,
                available: l.picked,
                picked_lots: l.picked_lots.clone(),
                scanned: Vec::new(),
            })
            .collect(),
        pending_qty: None,
        step: PackStage::Verifying,
        cartons: Vec::new(),
    }
}

/// Scanning units into the open carton: `QTY:n` before an item counts it n times, `CMD:DONE`
/// closes the carton with what is in it, an item scan verifies one unit (or n).
fn verifying(
    work: &PackWork,
    order: &PackOrder,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PackWork> {
    let StationInput::Scan(scan) = input else {
        return Step::reject(work, format!("Not yet — {}", order.prompt()));
    };
    match code_of(scan) {
        Some(("QTY", value)) => take_qty(work, value, |qty| {
            let mut next = order.clone();
            next.pending_qty = Some(qty);
            PackWork::Order(next)
        }),
        Some(("CMD", "DONE")) => close_carton(work, order),
        Some(_) => Step::reject(work, order.prompt()),
        None if !is_item(scan) => Step::reject(work, order.prompt()),
        None => verify_item(work, order, scan, view),
    }
}

/// Close the carton with what is in it: it is weighed and labelled on its own.
fn close_carton(work: &PackWork, order: &PackOrder) -> Step<PackWork> {
    let units: u32 = order.open_carton().iter().map(|l| l.qty).sum();
    if units == 0 {
        let (verified, total) = order.units();
        return Step::reject(
            work,
            format!(
                "{} items left to verify — {}",
                total - verified,
                order.prompt()
            ),
        );
    }
    let mut next = order.clone();
    next.pending_qty = None;
    next.step = PackStage::Weighing;
    let prompt = format!(
        "Carton {} closed with {units} items — place it on the scale",
        order.cartons.len() + 1
    );
    Step::accept(PackWork::Order(next), Vec::new(), prompt)
}

/// An item scan: the product must be on the order, and neither more than ordered nor more than
/// picked (zero mis-packs); a scanned lot must be one picked for the line, a serial new to the
/// order. The carton closes by itself once every unit that can be is verified.
fn verify_item(
    work: &PackWork,
    order: &PackOrder,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<PackWork> {
    let Some((item, products)) = identify(view, scan, |t| t == order.tenant_id) else {
        return Step::reject(work, format!("Not a product — {}", order.prompt()));
    };
    let Some(product) = products
        .iter()
        .find(|p| order.lines.iter().any(|l| l.sku == p.sku))
    else {
        return match products.first() {
            None => Step::reject(work, item.not_found()),
            Some(p) => Step::reject(
                work,
                format!(
                    "Wrong item: SKU {} is not in order {} — take it out",
                    p.sku, order.order_id
                ),
            ),
        };
    };
    let sku = &product.sku;
    let qty = order.pending_qty.unwrap_or(1).saturating_mul(item.count);
    if let Some(refusal) = over_scan(order, sku, qty) {
        return Step::reject(work, refusal);
    }
    let lot = item
        .lot
        .clone()
        .filter(|_| order.lines.iter().any(|l| &l.sku == sku && l.has_lots()));
    if let Some(refusal) = lot_or_serial_refused(order, sku, &item, lot.as_deref(), qty) {
        return Step::reject(work, refusal);
    }
    let mut next = order.clone();
    next.pending_qty = None;
    let mut left = qty;
    for line in next.lines.iter_mut().filter(|l| &l.sku == sku) {
        let mut take = left.min(line.limit() - line.verified);
        if let Some(lot) = &lot {
            take = take.min(line.lot_room(lot));
        }
        if take == 0 {
            continue;
        }
        line.verified += take;
        left -= take;
        if lot.is_some() || item.serial.is_some() {
            UnitLot::add(&mut line.scanned, lot.clone(), take, item.serial.clone());
        }
    }
    let (verified, total) = next.units();
    let prompt = if verified == total {
        next.step = PackStage::Weighing;
        format!("All {total} items verified — place the carton on the scale")
    } else if next.all_available_verified() {
        next.step = PackStage::Weighing;
        format!(
            "Every picked item verified ({verified} of {total}) — place the carton on the scale"
        )
    } else {
        format!("Verified {sku} ({verified} of {total}) — scan the next item")
    };
    Step::accept(PackWork::Order(next), Vec::new(), prompt)
}

/// Why the scan's lot or serial cannot be packed: a lot the tote does not hold for the line (or
/// holds fewer of), a serial already packed, a serial counted for more than one unit.
fn lot_or_serial_refused(
    order: &PackOrder,
    sku: &str,
    item: &ItemRead,
    lot: Option<&str>,
    qty: u32,
) -> Option<String> {
    if let Some(serial) = &item.serial {
        if qty > 1 {
            return Some(format!(
                "Serial {serial} names one unit — scan each unit without QTY:"
            ));
        }
        let packed = order
            .lines
            .iter()
            .flat_map(|l| &l.scanned)
            .any(|u| u.serials.contains(serial));
        if packed {
            return Some(format!(
                "Serial {serial} is already packed for order {} — take it out",
                order.order_id
            ));
        }
    }
    let lot = lot?;
    let lines = || order.lines.iter().filter(|l| l.sku == sku);
    let room: u32 = lines().map(|l| l.lot_room(lot)).sum();
    if room >= qty {
        return None;
    }
    let mut picked: Vec<&str> = lines()
        .flat_map(|l| &l.picked_lots)
        .map(|(l, _)| l.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    picked.dedup();
    let held = lines().flat_map(|l| &l.picked_lots).any(|(l, _)| l == lot);
    Some(if held {
        format!(
            "Over-scan: lot {lot} of SKU {sku} has {room} more picked for order {} — take it out",
            order.order_id
        )
    } else {
        format!(
            "Wrong lot: lot {lot} of SKU {sku} was not picked for order {} (picked: {}) — take it out",
            order.order_id,
            picked.join(", ")
        )
    })
}

/// Why `qty` more units of `sku` would be too many (more than ordered, or than picked).
fn over_scan(order: &PackOrder, sku: &str, qty: u32) -> Option<String> {
    let (done, wanted, picked) = order
        .lines
        .iter()
        .filter(|l| l.sku == sku)
        .fold((0, 0, 0), |(d, w, p), l| {
            (d + l.verified, w + l.qty, p + l.limit())
        });
    if done + qty > wanted {
        return Some(format!(
            "Over-scan: SKU {sku} needs {} more ({done} of {wanted} verified) — take it out",
            wanted - done
        ));
    }
    if done + qty > picked {
        return Some(format!(
            "Over-scan: only {picked} of SKU {sku} were picked for order {} ({done} verified) — take it out",
            order.order_id
        ));
    }
    None
}

/// Expected weight of the open carton: catalog weight of every unit in it plus the station's
/// carton tare. `None` when a product has no catalog weight (the check cannot be made).
fn expected_weight(ctx: &Ctx, order: &PackOrder, view: &impl FloorView) -> Option<i64> {
    let mut total = ctx.config.carton_tare_mg;
    for line in order.open_carton() {
        let unit = view.product(&order.tenant_id, &line.sku)?.weight_mg?;
        total = total.checked_add(unit.checked_mul(i64::from(line.qty))?)?;
    }
    Some(total)
}

/// The allowed deviation: the larger of the percentage and the floor.
pub fn allowed_deviation(expected_mg: i64, pct: u32, min_mg: i64) -> i64 {
    let by_pct = i128::from(expected_mg.abs()) * i128::from(pct) / 100;
    i64::try_from(by_pct).unwrap_or(i64::MAX).max(min_mg)
}

fn weigh(
    ctx: &Ctx,
    work: &PackWork,
    order: &PackOrder,
    reading: ScaleReading,
    view: &impl FloorView,
) -> Step<PackWork> {
    if !reading.stable {
        return Step::reject(work, "Weight not stable — hold still");
    }
    if reading.milligrams <= 0 {
        return Step::reject(work, "Scale reads nothing — place the carton on the scale");
    }
    let Some(expected) = expected_weight(ctx, order, view) else {
        // Without catalog weights the check cannot be made; say so in the audit log rather than
        // block the floor. Item verification has already caught wrong and extra units.
        let audit = Command::Audit {
            action: "pack.weight_unchecked".into(),
            target: format!("order:{}", order.order_id),
            by_user: ctx.user.user_id.clone(),
            changes: json!({"measured_mg": reading.milligrams, "reason": "no catalog weight"}),
            upstream: false,
        };
        return print(
            order,
            reading.milligrams,
            None,
            vec![audit],
            "No catalog weight — not checked",
        );
    };
    let allowed = allowed_deviation(
        expected,
        ctx.config.weight_tolerance_pct,
        ctx.config.weight_tolerance_min_mg,
    );
    let off = reading.milligrams.abs_diff(expected);
    if off <= allowed.unsigned_abs() {
        return print(
            order,
            reading.milligrams,
            None,
            Vec::new(),
            &format!("Weight {} OK", show_weight(reading.milligrams)),
        );
    }
    let mut next = order.clone();
    next.step = PackStage::OutOfTolerance {
        measured_mg: reading.milligrams,
        expected_mg: expected,
        allowed_mg: allowed,
        supervisor: None,
    };
    let prompt = format!(
        "Weight {} out of tolerance (expected {} ± {}) — nothing printed. Fix the carton and scan CMD:WEIGH, or supervisor badge to override",
        show_weight(reading.milligrams),
        show_weight(expected),
        show_weight(allowed)
    );
    Step {
        work: PackWork::Order(next),
        commands: Vec::new(),
        good: false,
        prompt,
    }
}

fn print(
    order: &PackOrder,
    weight_mg: i64,
    override_by: Option<String>,
    mut commands: Vec<Command>,
    note: &str,
) -> Step<PackWork> {
    let number = order.cartons.len() as u32 + 1;
    let complete = order.all_verified();
    commands.push(Command::PrintLabel {
        order_id: order.order_id.clone(),
        carton: number,
        weight_mg,
        complete,
    });
    // The slip goes in the first carton.
    if number == 1 {
        commands.push(Command::PrintSlip {
            order_id: order.order_id.clone(),
        });
    }
    let mut next = order.clone();
    next.cartons.push(PackedCarton {
        number,
        weight_mg,
        override_by,
        lines: order.open_carton(),
    });
    next.step = PackStage::Labelled;
    let prompt = format!("{note} — label printed. {}", next.prompt());
    Step::accept(PackWork::Order(next), commands, prompt)
}
