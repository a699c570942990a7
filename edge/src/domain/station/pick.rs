//! The pick station: `TOTE:` opens a tote, then for each task the station hands out, `LOC:` (must
//! be the task's location) and one item scan per unit (or `QTY:n` + one scan), `CMD:SHORT` in
//! place of an item when the location is short, and `CMD:DONE` closes the tote once its tasks are
//! done. Each accepted unit is a [`Command::Pick`] at once, so a picked unit is on the books the
//! moment the picker hears the good beep.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::item::identify;
use super::view::{Block, FloorView, PickTask, PutBack};
use super::{code_of, is_item, qty_of, Command, Ctx, StationInput, Step};
use wms_labels::scan::Scan;

/// The pick station's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per station, cloned once per scan; boxing buys nothing"
)]
pub enum PickWork {
    /// Logged in, no tote open.
    Idle,
    /// `ORD:` before `TOTE:`: the next tote picks only this order (pick by order, beside the
    /// canonical batch pick where a tote takes every task in walk order).
    ForOrder {
        order_id: String,
    },
    Tote(ToteWork),
    /// The tote holds units of cancelled or partially shipped orders: they go back to the
    /// shelves first.
    PutBack(PutBackWork),
}

/// Putting a cancelled or partially shipped order's leftover units back, one [`PutBack`] at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutBackWork {
    pub tote: String,
    pub item: PutBack,
    /// Units of `item` already put back.
    pub done: u32,
    /// The shelf the picker scanned.
    pub at: Option<String>,
    pub pending_qty: Option<u32>,
}

impl PutBackWork {
    fn left(&self) -> u32 {
        self.item.qty.saturating_sub(self.done)
    }

    fn prompt(&self) -> String {
        let what = format!(
            "{} × {}{}",
            self.left(),
            self.item.sku,
            self.item
                .lot
                .as_ref()
                .map(|l| format!(" lot {l}"))
                .unwrap_or_default()
        );
        match (&self.at, &self.item.location) {
            (Some(at), _) => format!("Put back {what} at {at}: scan the item"),
            (None, Some(loc)) => format!(
                "Put back {what} of order {} at {loc} (scan LOC:{loc})",
                self.item.order_id
            ),
            (None, None) => format!(
                "Put back {what} of order {}: scan the shelf (LOC:)",
                self.item.order_id
            ),
        }
    }
}

/// An open tote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToteWork {
    pub tote: String,
    /// The task being picked; `None` when the tote's tasks are done.
    pub task: Option<TaskInHand>,
    /// Tasks put off with `CMD:SKIP` (still claimed; offered again when nothing else is left).
    pub skipped: Vec<PickTask>,
    /// Tasks handed back with `CMD:CANCEL` or finished here: not offered again to this tote.
    pub passed: Vec<String>,
    /// Orders with units picked into this tote.
    pub orders: Vec<String>,
    /// The one order this tote picks, when the picker chose it with `ORD:`.
    #[serde(default)]
    pub only_order: Option<String>,
}

/// The task in the picker's hands and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInHand {
    pub task: PickTask,
    /// Units picked so far (already committed as `Pick` commands).
    pub picked: u32,
    /// The picker scanned the task's location.
    pub at_location: bool,
    /// `QTY:n` waiting for its item scan.
    pub pending_qty: Option<u32>,
}

impl TaskInHand {
    fn new(task: PickTask) -> Self {
        TaskInHand {
            task,
            picked: 0,
            at_location: false,
            pending_qty: None,
        }
    }

    fn left(&self) -> u32 {
        self.task.qty.saturating_sub(self.picked)
    }

    fn prompt(&self) -> String {
        if self.at_location {
            format!(
                "Scan item {}{} ({} of {} picked)",
                self.task.sku,
                lot_note(&self.task),
                self.picked,
                self.task.qty
            )
        } else {
            format!(
                "Scan location {} ({} × {})",
                self.task.location,
                self.left(),
                self.task.sku
            )
        }
    }
}

fn lot_note(task: &PickTask) -> String {
    task.lot
        .as_ref()
        .map(|lot| format!(" lot {lot}"))
        .unwrap_or_default()
}

impl PickWork {
    /// When the session ends, claimed tasks go back to the queue and a tote with picked units in
    /// it is closed, so what is in it goes on to packing instead of waiting for this picker.
    pub(crate) fn abandon(&self) -> Vec<Command> {
        let PickWork::Tote(tote) = self else {
            return Vec::new();
        };
        let mut commands = Vec::new();
        if let Some(hand) = &tote.task {
            commands.push(release(&hand.task));
        }
        for task in &tote.skipped {
            commands.push(release(task));
        }
        if !tote.orders.is_empty() {
            commands.push(Command::CloseTote {
                tote: tote.tote.clone(),
                order_ids: tote.orders.clone(),
            });
        }
        commands
    }

    pub(crate) fn context(&self, map: &mut Map<String, Value>) {
        match self {
            PickWork::Idle => {
                map.insert("stage".into(), json!("await_tote"));
            }
            PickWork::ForOrder { order_id } => {
                map.insert("stage".into(), json!("await_tote"));
                map.insert("order_id".into(), json!(order_id));
            }
            PickWork::PutBack(w) => {
                map.insert("stage".into(), json!("put_back"));
                map.insert("tote".into(), json!(w.tote));
                map.insert(
                    "put_back".into(),
                    json!({"order_id": w.item.order_id, "sku": w.item.sku, "lot": w.item.lot,
                           "qty": w.left(), "location": w.at.as_ref().or(w.item.location.as_ref())}),
                );
            }
            PickWork::Tote(tote) => {
                map.insert("tote".into(), json!(tote.tote));
                match &tote.task {
                    None => {
                        map.insert("stage".into(), json!("tote_complete"));
                    }
                    Some(hand) => {
                        let stage = if hand.at_location {
                            "await_item"
                        } else {
                            "await_location"
                        };
                        map.insert("stage".into(), json!(stage));
                        map.insert(
                            "task".into(),
                            json!({
                                "task_id": hand.task.task_id,
                                "order_id": hand.task.order_id,
                                "location": hand.task.location,
                                "sku": hand.task.sku,
                                "qty": hand.left(),
                                "lot": hand.task.lot,
                                "picked": hand.picked,
                            }),
                        );
                        if let Some(q) = hand.pending_qty {
                            map.insert("pending_qty".into(), json!(q));
                        }
                    }
                }
            }
        }
    }
}

fn release(task: &PickTask) -> Command {
    Command::ReleaseTask {
        task_id: task.task_id.clone(),
        order_id: task.order_id.clone(),
    }
}

fn withdrawn_prompt(hand: &TaskInHand) -> String {
    if hand.picked > 0 {
        format!(
            "Task for order {} withdrawn — put its {} picked back, then scan CMD:SKIP",
            hand.task.order_id, hand.picked
        )
    } else {
        format!(
            "Task for order {} withdrawn — scan CMD:SKIP",
            hand.task.order_id
        )
    }
}

fn block_of(view: &impl FloorView, order_id: &str) -> Option<Block> {
    match view.order(order_id) {
        Some(order) => order.block(),
        // An order that vanished is as good as cancelled for the floor.
        None => Some(Block::Cancelled),
    }
}

fn blocked_prompt(order_id: &str, block: Block) -> String {
    let what = match block {
        Block::OnHold => "on hold",
        Block::Cancelled => "cancelled",
    };
    format!("Order {order_id} {what} — put its items back, then scan CMD:SKIP")
}

/// The next task for this tote: a fresh one first, then the skipped ones again. Tasks of held or
/// cancelled orders are not handed out.
fn next_task(
    ctx: &Ctx,
    view: &impl FloorView,
    tote: &ToteWork,
    exclude: &str,
) -> (Option<PickTask>, Vec<PickTask>) {
    let offered: Vec<PickTask> = view
        .pick_tasks(&ctx.user.user_id, tote.only_order.as_deref())
        .into_iter()
        .filter(|t| {
            t.task_id != exclude
                && t.qty > 0
                && tote.only_order.as_ref().is_none_or(|o| *o == t.order_id)
                && !tote.passed.contains(&t.task_id)
                && ctx.user.sees_tenant(&t.tenant_id)
                && block_of(view, &t.order_id).is_none()
        })
        .collect();
    let was_skipped = |t: &PickTask| tote.skipped.iter().any(|s| s.task_id == t.task_id);
    if let Some(fresh) = offered.iter().find(|t| !was_skipped(t)) {
        return (Some(fresh.clone()), tote.skipped.clone());
    }
    // Only skipped tasks are left: offer the oldest skip again.
    for (i, skipped) in tote.skipped.iter().enumerate() {
        if let Some(t) = offered.iter().find(|t| t.task_id == skipped.task_id) {
            let mut skipped = tote.skipped.clone();
            skipped.remove(i);
            return (Some(t.clone()), skipped);
        }
    }
    (None, Vec::new())
}

/// A tote left without a task after the store ran the step's commands gets the next task if
/// one appeared meanwhile (a short pick re-allocated the line to another bin): the tote, the
/// claim and the task's prompt. `None` when there is still nothing to pick.
pub(crate) fn refill(
    ctx: &Ctx,
    tote: &ToteWork,
    view: &impl FloorView,
) -> Option<(ToteWork, Vec<Command>, String)> {
    if tote.task.is_some() {
        return None;
    }
    let (next, skipped) = next_task(ctx, view, tote, "");
    let task = next?;
    let commands = vec![Command::ClaimTask {
        task_id: task.task_id.clone(),
        order_id: task.order_id.clone(),
        tote: tote.tote.clone(),
    }];
    let hand = TaskInHand::new(task);
    let prompt = hand.prompt();
    let mut tote = tote.clone();
    tote.skipped = skipped;
    tote.task = Some(hand);
    Some((tote, commands, prompt))
}

/// Move on to the next task after the current one is finished, shorted, skipped or handed back.
fn advance(
    ctx: &Ctx,
    view: &impl FloorView,
    mut tote: ToteWork,
    mut commands: Vec<Command>,
    done_prompt: String,
) -> Step<PickWork> {
    let exclude = tote
        .task
        .as_ref()
        .map(|h| h.task.task_id.clone())
        .unwrap_or_default();
    let (next, skipped) = next_task(ctx, view, &tote, &exclude);
    tote.skipped = skipped;
    let prompt = match &next {
        Some(task) => {
            // Claiming a task this user already holds is a no-op for the store; it also re-checks
            // the order's hold and cancel.
            commands.push(Command::ClaimTask {
                task_id: task.task_id.clone(),
                order_id: task.order_id.clone(),
                tote: tote.tote.clone(),
            });
            let hand = TaskInHand::new(task.clone());
            format!("{done_prompt}. {}", hand.prompt())
        }
        None => format!("{done_prompt}. Tote {} complete — scan CMD:DONE", tote.tote),
    };
    tote.task = next.map(TaskInHand::new);
    Step::accept(PickWork::Tote(tote), commands, prompt)
}

pub(crate) fn on_input(
    ctx: &Ctx,
    work: &PickWork,
    input: &StationInput,
    view: &impl FloorView,
) -> Step<PickWork> {
    let StationInput::Scan(scan) = input else {
        return Step::reject(work, "No scale step at a pick station");
    };
    match work {
        PickWork::Idle => no_tote(ctx, work, scan, view),
        PickWork::ForOrder { order_id } => tote_for_order(ctx, work, order_id, scan, view),
        PickWork::PutBack(w) => put_back(ctx, work, w, scan, view),
        PickWork::Tote(tote) => match &tote.task {
            None => tote_complete(work, tote, scan),
            Some(hand) => task_in_hand(ctx, work, tote, hand, scan, view),
        },
    }
}

/// No tote open: a tote opens one, an order picks only that order into the next tote.
fn no_tote(ctx: &Ctx, work: &PickWork, scan: &Scan, view: &impl FloorView) -> Step<PickWork> {
    match code_of(scan) {
        Some(("TOTE", id)) => open_tote(ctx, work, id, None, view),
        Some(("ORD", id)) => choose_order(ctx, work, id, view),
        _ => Step::reject(work, "Scan a tote (TOTE:)"),
    }
}

/// An order was chosen: the next tote picks it (or another order is chosen, or it is dropped).
fn tote_for_order(
    ctx: &Ctx,
    work: &PickWork,
    order_id: &str,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<PickWork> {
    match code_of(scan) {
        Some(("TOTE", id)) => open_tote(ctx, work, id, Some(order_id), view),
        Some(("ORD", id)) => choose_order(ctx, work, id, view),
        Some(("CMD", "CANCEL")) => {
            Step::accept(PickWork::Idle, Vec::new(), "Order dropped — scan a tote")
        }
        _ => Step::reject(work, format!("Scan a tote (TOTE:) for order {order_id}")),
    }
}

/// Every task of the tote is done: `CMD:DONE` closes it.
fn tote_complete(work: &PickWork, tote: &ToteWork, scan: &Scan) -> Step<PickWork> {
    match code_of(scan) {
        Some(("CMD", "DONE")) => {
            let commands = vec![Command::CloseTote {
                tote: tote.tote.clone(),
                order_ids: tote.orders.clone(),
            }];
            let prompt = format!("Tote {} closed — scan the next tote", tote.tote);
            Step::accept(PickWork::Idle, commands, prompt)
        }
        _ => Step::reject(work, format!("Tote {} complete — scan CMD:DONE", tote.tote)),
    }
}

/// A task in the picker's hands: first whether it may still be picked, then the scan.
fn task_in_hand(
    ctx: &Ctx,
    work: &PickWork,
    tote: &ToteWork,
    hand: &TaskInHand,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<PickWork> {
    // Hold and cancel first, and a task withdrawn under the picker's feet (its allocation was
    // released or moved): nothing moves, the picker is told to put back and move on.
    let live = view.pick_task(&hand.task.task_id);
    let stopped = match (block_of(view, &hand.task.order_id), &live) {
        (Some(block), _) => Some(blocked_prompt(&hand.task.order_id, block)),
        (None, None) => Some(withdrawn_prompt(hand)),
        (None, Some(_)) => None,
    };
    if let Some(prompt) = stopped {
        return match code_of(scan) {
            Some(("CMD", "SKIP" | "CANCEL")) => {
                let mut next = tote.clone();
                next.passed.push(hand.task.task_id.clone());
                let prompt = format!("Order {} set aside", hand.task.order_id);
                advance(ctx, view, next, vec![release(&hand.task)], prompt)
            }
            _ => Step::reject(work, prompt),
        };
    }
    // What is left is what the store says is left, if that is less than this station believes
    // (another station picked or the allocation shrank).
    let mut refreshed = hand.clone();
    if let Some(live) = &live {
        refreshed.task.qty = hand.picked + live.qty.min(hand.left());
    }
    let hand = &refreshed;
    match code_of(scan) {
        Some(("LOC", location)) => at_location(work, tote, hand, location),
        Some(("QTY", value)) => pick_qty(work, tote, hand, value),
        Some(("CMD", "SHORT")) => short_pick(ctx, work, tote, hand, view),
        Some(("CMD", "SKIP")) => skip_task(ctx, work, tote, hand, view),
        Some(("CMD", "CANCEL")) => {
            let mut next = tote.clone();
            next.passed.push(hand.task.task_id.clone());
            let prompt = format!("Task for order {} returned", hand.task.order_id);
            advance(ctx, view, next, vec![release(&hand.task)], prompt)
        }
        Some(("CMD", "DONE")) => Step::reject(
            work,
            format!("Task not finished — {} or CMD:SHORT", hand.prompt()),
        ),
        Some(("TOTE", id)) if id == tote.tote => Step::reject(work, hand.prompt()),
        Some(("TOTE", _)) => Step::reject(
            work,
            format!("Finish tote {} first — {}", tote.tote, hand.prompt()),
        ),
        Some(_) => Step::reject(work, hand.prompt()),
        None if is_item(scan) => pick_item(ctx, work, tote, hand, scan, view),
        None => Step::reject(work, hand.prompt()),
    }
}

/// `LOC:` must be the task's location; then the items are scanned.
fn at_location(
    work: &PickWork,
    tote: &ToteWork,
    hand: &TaskInHand,
    location: &str,
) -> Step<PickWork> {
    if location != hand.task.location {
        return Step::reject(
            work,
            format!("Wrong location: scan LOC {}", hand.task.location),
        );
    }
    if hand.at_location {
        return Step::reject(work, hand.prompt());
    }
    let mut next = tote.clone();
    let mut hand = hand.clone();
    hand.at_location = true;
    let prompt = hand.prompt();
    next.task = Some(hand);
    Step::accept(PickWork::Tote(next), Vec::new(), prompt)
}

/// `QTY:n` at the location: the next item scan counts n units, never more than are left.
fn pick_qty(work: &PickWork, tote: &ToteWork, hand: &TaskInHand, value: &str) -> Step<PickWork> {
    if !hand.at_location {
        return Step::reject(work, format!("First {}", hand.prompt()));
    }
    let Some(qty) = qty_of(value) else {
        return Step::reject(work, "Quantity not understood");
    };
    if qty > hand.left() {
        return Step::reject(
            work,
            format!("Over-pick: only {} left for this task", hand.left()),
        );
    }
    let mut next = tote.clone();
    let mut hand = hand.clone();
    hand.pending_qty = Some(qty);
    next.task = Some(hand);
    let prompt = format!("Quantity {qty}: scan item {}", hand_sku(&next));
    Step::accept(PickWork::Tote(next), Vec::new(), prompt)
}

/// `CMD:SHORT` at the location: what is left of the task is recorded short, and the next task
/// follows.
fn short_pick(
    ctx: &Ctx,
    work: &PickWork,
    tote: &ToteWork,
    hand: &TaskInHand,
    view: &impl FloorView,
) -> Step<PickWork> {
    if !hand.at_location {
        return Step::reject(work, format!("First {}", hand.prompt()));
    }
    let task = &hand.task;
    let commands = vec![Command::ShortPick {
        task_id: task.task_id.clone(),
        order_id: task.order_id.clone(),
        line_id: task.line_id.clone(),
        tenant_id: task.tenant_id.clone(),
        sku: task.sku.clone(),
        location: task.location.clone(),
        lot: task.lot.clone(),
        short_qty: hand.left(),
    }];
    let mut next = tote.clone();
    next.passed.push(task.task_id.clone());
    let prompt = format!("Short pick of {} × {} recorded", hand.left(), task.sku);
    advance(ctx, view, next, commands, prompt)
}

/// `CMD:SKIP` puts the task off (still claimed) when there is another to pick meanwhile.
fn skip_task(
    ctx: &Ctx,
    work: &PickWork,
    tote: &ToteWork,
    hand: &TaskInHand,
    view: &impl FloorView,
) -> Step<PickWork> {
    let (other, _) = next_task(ctx, view, tote, &hand.task.task_id);
    if other.is_none() {
        return Step::reject(work, format!("Nothing else to pick — {}", hand.prompt()));
    }
    let mut next = tote.clone();
    next.skipped.push(hand.task.clone());
    advance(ctx, view, next, Vec::new(), "Skipped".into())
}

fn hand_sku(tote: &ToteWork) -> String {
    tote.task
        .as_ref()
        .map(|h| h.task.sku.clone())
        .unwrap_or_default()
}

/// `ORD:` at a pick station with no tote open: the next tote picks only this order.
fn choose_order(ctx: &Ctx, work: &PickWork, id: &str, view: &impl FloorView) -> Step<PickWork> {
    let Some(order) = view
        .order(id)
        .filter(|o| ctx.user.sees_tenant(&o.tenant_id))
    else {
        return Step::reject(work, format!("Unknown order {id}"));
    };
    if let Some(block) = order.block() {
        return Step::reject(work, blocked_prompt(id, block));
    }
    let has_tasks = view
        .pick_tasks(&ctx.user.user_id, Some(id))
        .iter()
        .any(|t| t.order_id == id && t.qty > 0);
    if !has_tasks {
        return Step::reject(
            work,
            format!(
                "Order {id} has nothing to pick for you ({})",
                order.status.as_str()
            ),
        );
    }
    let next = PickWork::ForOrder {
        order_id: id.to_string(),
    };
    Step::accept(next, Vec::new(), format!("Order {id}: scan a tote (TOTE:)"))
}

fn open_tote(
    ctx: &Ctx,
    work: &PickWork,
    id: &str,
    only_order: Option<&str>,
    view: &impl FloorView,
) -> Step<PickWork> {
    let fresh = ToteWork {
        tote: id.to_string(),
        task: None,
        skipped: Vec::new(),
        passed: Vec::new(),
        orders: Vec::new(),
        only_order: only_order.map(str::to_string),
    };
    // A tote still holding a cancelled order's units is emptied first.
    if let Some(item) = view
        .put_backs(id)
        .into_iter()
        .find(|p| ctx.user.sees_tenant(&p.tenant_id))
    {
        let w = PutBackWork {
            tote: id.to_string(),
            item,
            done: 0,
            at: None,
            pending_qty: None,
        };
        let prompt = format!("Tote {id} holds items to put back. {}", w.prompt());
        return Step::accept(PickWork::PutBack(w), Vec::new(), prompt);
    }
    let (task, _) = next_task(ctx, view, &fresh, "");
    let Some(task) = task else {
        return Step::reject(work, "No pick tasks for you — see supervisor");
    };
    let commands = vec![Command::ClaimTask {
        task_id: task.task_id.clone(),
        order_id: task.order_id.clone(),
        tote: id.to_string(),
    }];
    let hand = TaskInHand::new(task);
    let prompt = format!("Tote {id} open. {}", hand.prompt());
    let tote = ToteWork {
        task: Some(hand),
        ..fresh
    };
    Step::accept(PickWork::Tote(tote), commands, prompt)
}

fn pick_item(
    ctx: &Ctx,
    work: &PickWork,
    tote: &ToteWork,
    hand: &TaskInHand,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<PickWork> {
    if !hand.at_location {
        return Step::reject(work, format!("First {}", hand.prompt()));
    }
    let task = &hand.task;
    let Some((item, products)) = identify(view, scan, |t| t == task.tenant_id) else {
        return Step::reject(work, format!("Not a product — scan item {}", task.sku));
    };
    if products.is_empty() {
        return Step::reject(
            work,
            format!("{} — scan item {}", item.not_found(), task.sku),
        );
    }
    if !products.iter().any(|p| p.sku == task.sku) {
        return Step::reject(work, format!("Wrong item: expected SKU {}", task.sku));
    }
    if let Some(lot) = &task.lot {
        match &item.lot {
            None => {
                return Step::reject(
                    work,
                    format!("Scan the GS1 label: lot {lot} expected for {}", task.sku),
                )
            }
            Some(scanned) if scanned != lot => {
                return Step::reject(work, format!("Wrong lot {scanned}: expected lot {lot}"))
            }
            Some(_) => {}
        }
    }
    if let (Some(expected), Some(scanned)) = (&task.expiry, &item.expiry) {
        if expected != scanned {
            return Step::reject(work, format!("Wrong expiry {scanned}: expected {expected}"));
        }
    }
    let qty = hand.pending_qty.unwrap_or(1).saturating_mul(item.count);
    if qty > hand.left() {
        return Step::reject(
            work,
            format!("Over-pick: only {} left for this task", hand.left()),
        );
    }
    let commands = vec![Command::Pick {
        task_id: task.task_id.clone(),
        order_id: task.order_id.clone(),
        line_id: task.line_id.clone(),
        tenant_id: task.tenant_id.clone(),
        sku: task.sku.clone(),
        location: task.location.clone(),
        lot: task.lot.clone(),
        qty,
        tote: tote.tote.clone(),
    }];
    let mut next = tote.clone();
    if !next.orders.contains(&task.order_id) {
        next.orders.push(task.order_id.clone());
    }
    let mut hand = hand.clone();
    hand.picked += qty;
    hand.pending_qty = None;
    if hand.left() == 0 {
        next.passed.push(task.task_id.clone());
        next.task = Some(hand);
        let prompt = format!("Picked {qty} × {}", task.sku);
        return advance(ctx, view, next, commands, prompt);
    }
    let prompt = format!("Picked {qty}. {}", hand.prompt());
    next.task = Some(hand);
    Step::accept(PickWork::Tote(next), commands, prompt)
}

/// One scan while putting a cancelled order's units back: the shelf, then one scan per unit (or
/// `QTY:n` + one scan). `CMD:CANCEL` leaves the rest in the tote for later.
fn put_back(
    ctx: &Ctx,
    work: &PickWork,
    w: &PutBackWork,
    scan: &Scan,
    view: &impl FloorView,
) -> Step<PickWork> {
    match code_of(scan) {
        Some(("CMD", "CANCEL")) => {
            let prompt = format!("Tote {} set aside with items to put back", w.tote);
            return Step::accept(PickWork::Idle, Vec::new(), prompt);
        }
        Some(("LOC", code)) => {
            if let Some(expected) = &w.item.location {
                if expected != code {
                    return Step::reject(work, format!("Wrong shelf — {}", w.prompt()));
                }
            }
            let Some(loc) = view.location(code) else {
                return Step::reject(work, format!("Unknown location {code}"));
            };
            let mut next = w.clone();
            next.at = Some(loc.code);
            return Step::accept(PickWork::PutBack(next.clone()), Vec::new(), next.prompt());
        }
        Some(("QTY", value)) if w.at.is_some() => {
            let Some(qty) = qty_of(value).filter(|q| *q <= w.left()) else {
                return Step::reject(work, format!("Quantity not understood — {}", w.prompt()));
            };
            let mut next = w.clone();
            next.pending_qty = Some(qty);
            return Step::accept(
                PickWork::PutBack(next),
                Vec::new(),
                format!("Quantity {qty}: scan the item"),
            );
        }
        Some(_) => return Step::reject(work, w.prompt()),
        None if !is_item(scan) => return Step::reject(work, w.prompt()),
        None => {}
    }
    let Some(at) = &w.at else {
        return Step::reject(work, format!("First the shelf — {}", w.prompt()));
    };
    let Some((item, products)) = identify(view, scan, |t| t == w.item.tenant_id) else {
        return Step::reject(work, w.prompt());
    };
    if products.is_empty() {
        return Step::reject(work, format!("{} — {}", item.not_found(), w.prompt()));
    }
    let matches = products.iter().any(|p| p.sku == w.item.sku);
    if !matches || (item.lot.is_some() && item.lot != w.item.lot) {
        return Step::reject(work, format!("Wrong item — {}", w.prompt()));
    }
    let qty = w
        .pending_qty
        .unwrap_or(1)
        .saturating_mul(item.count)
        .min(w.left());
    let commands = vec![Command::PutBack {
        tote: w.tote.clone(),
        order_id: w.item.order_id.clone(),
        line_id: w.item.line_id.clone(),
        tenant_id: w.item.tenant_id.clone(),
        sku: w.item.sku.clone(),
        lot: w.item.lot.clone(),
        location: at.clone(),
        qty,
    }];
    let mut next = w.clone();
    next.done += qty;
    next.pending_qty = None;
    if next.left() > 0 {
        let prompt = format!("Put back {qty}. {}", next.prompt());
        return Step::accept(PickWork::PutBack(next), commands, prompt);
    }
    // This one is done; the view does not see it yet, so skip it when looking for the next.
    let same = |p: &PutBack| {
        p.order_id == w.item.order_id && p.line_id == w.item.line_id && p.lot == w.item.lot
    };
    match view
        .put_backs(&w.tote)
        .into_iter()
        .find(|p| !same(p) && ctx.user.sees_tenant(&p.tenant_id))
    {
        Some(item) => {
            let next = PutBackWork {
                tote: w.tote.clone(),
                item,
                done: 0,
                at: None,
                pending_qty: None,
            };
            let prompt = format!("Put back {qty}. {}", next.prompt());
            Step::accept(PickWork::PutBack(next), commands, prompt)
        }
        None => Step::accept(
            PickWork::Idle,
            commands,
            format!("Tote {} put back — scan a tote", w.tote),
        ),
    }
}
