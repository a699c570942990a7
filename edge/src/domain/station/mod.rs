//! Station sessions and the scan workflows of the floor (design.md §4), as pure functions.
//!
//! **State in, outcome out.** [`on_input`] takes a station's configuration, its persisted
//! [`StationState`], one [`StationInput`] (a scan or a scale reading), a read-only [`FloorView`]
//! of the site and the time, and returns an [`Outcome`]: the next state, the [`Command`]s that
//! make the step real, the operator's [`Feedback`] (good/bad and a short prompt) and a JSON
//! context for the handheld (`context.task` at a pick station). Nothing here does I/O, so every
//! workflow is tested with plain values and a model-based property test.
//!
//! **The store executes an outcome in one transaction.** It builds the view over that transaction,
//! calls `on_input`, executes every command, writes `next` (the state is serde-serializable for
//! exactly this) and acknowledges only after the commit; a crash in between loses nothing that was
//! acknowledged and the station resumes from the persisted state. If the store refuses any command
//! — above all because the order went on hold or was cancelled (see [`Command::order_moved_on`])
//! — the whole transaction rolls back, the station keeps its previous state and the operator
//! hears the refusal. The workflows check holds and cancels at every step themselves, so the
//! operator gets the right prompt ("Order on hold — put tote aside"); the store re-checks them so
//! that no stale view can ever ship a held order (design invariant 4).
//!
//! **Wrong scans never change state.** A rejected scan returns the state it was given (after the
//! idle check: a session that timed out ends whatever is scanned next), with bad feedback and no
//! commands but those ending the timed-out session. The one input that is refused *and*
//! remembered is a scale reading out of tolerance: the measurement is kept so that a supervisor
//! override can audit it.
//!
//! Layout: this file holds the session layer (badge, PIN, logout, idle timeout), the state,
//! input, outcome and command types; `view` the read-only [`FloorView`]; `item` how a scan names
//! a product (GTIN, GS1 with lot/expiry, SKU barcode); `pick`, `pack`, `count` and `receive` one
//! workflow each. `testkit` is an in-memory site that executes commands the way the store must,
//! used by the unit tests (`tests`) and the model-based property test (`model_tests`).

mod count;
pub mod item;
mod pack;
mod pick;
mod receive;
pub mod view;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use wms_labels::scan::{Kind, Scan, Status};

use super::role::Role;
use super::Actor;

pub use count::{CountSheet, CountWork, CountedItem};
pub use item::{identify, read_item, ItemRead};
pub use pack::{PackLine, PackOrder, PackStage, PackWork, PackedCarton};
pub use pick::{PickWork, PutBackWork, TaskInHand, ToteWork};
pub use receive::{MovedItem, ReceiveWork, ReceivedItem};
pub use view::{
    Block, FloorView, LocationView, OrderLineView, OrderView, PickTask, ProductView, PutBack,
    StockView, UserView,
};

/// What a station is for; decides what each scan means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationKind {
    Pick,
    Pack,
    Count,
    Receive,
}

impl StationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StationKind::Pick => "pick",
            StationKind::Pack => "pack",
            StationKind::Count => "count",
            StationKind::Receive => "receive",
        }
    }

    /// Whether a user may log in here. Supervisors and admins satisfy every floor role.
    fn admits(self, user: &UserView) -> bool {
        match self {
            StationKind::Pick => user.can(Role::Picker),
            StationKind::Pack => user.can(Role::Packer),
            StationKind::Count | StationKind::Receive => {
                user.can(Role::Picker) || user.can(Role::Packer)
            }
        }
    }
}

/// A station's settings (from `[[stations]]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationConfig {
    pub station_id: String,
    pub kind: StationKind,
    /// Weight of an empty carton, added to the expected weight at a pack station.
    pub carton_tare_mg: i64,
    /// Allowed deviation from the expected weight, in percent.
    pub weight_tolerance_pct: u32,
    /// Allowed deviation floor: light cartons get at least this much.
    pub weight_tolerance_min_mg: i64,
    /// Where a receive station books what it receives.
    pub receiving_location: Option<String>,
    /// A session with no accepted input for this long ends.
    pub idle_timeout_s: u32,
    /// A count differing from the books by more than this many units (for any sku and lot) must
    /// be recounted, and the recount must agree, before it applies.
    pub recount_above_units: u32,
    /// The station's shipping-label printer (a device id): labels and, without a receipt
    /// printer, ZPL packing slips go there.
    pub label_printer: Option<String>,
    /// Resolution of the label printer (203 or 300 dpi).
    pub label_dpi: u32,
    /// The station's receipt printer (a device id): packing slips as ESC/POS.
    pub receipt_printer: Option<String>,
    /// The scale that weighs this station's cartons (a device id).
    pub scale: Option<String>,
}

impl StationConfig {
    /// A station with the defaults of design.md §4: tare 0, tolerance the larger of 10% and 50 g,
    /// 15 minutes idle timeout, recount when a count is off by more than 2 units.
    pub fn new(station_id: impl Into<String>, kind: StationKind) -> Self {
        StationConfig {
            station_id: station_id.into(),
            kind,
            carton_tare_mg: 0,
            weight_tolerance_pct: 10,
            weight_tolerance_min_mg: 50_000,
            receiving_location: None,
            idle_timeout_s: 15 * 60,
            recount_above_units: 2,
            label_printer: None,
            label_dpi: 203,
            receipt_printer: None,
            scale: None,
        }
    }
}

/// The user a session belongs to, copied into the state so a restored station needs no lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: String,
    pub name: String,
    pub tenant_id: Option<String>,
    pub roles: Vec<Role>,
}

impl SessionUser {
    fn from_view(user: &UserView) -> Self {
        SessionUser {
            user_id: user.user_id.clone(),
            name: user.name.clone(),
            tenant_id: user.tenant_id.clone(),
            roles: user.roles.clone(),
        }
    }

    /// Whether this user may see data of `tenant_id`.
    pub fn sees_tenant(&self, tenant_id: &str) -> bool {
        self.tenant_id.as_deref().is_none_or(|t| t == tenant_id)
    }
}

/// Who is at the station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "session", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per station, cloned once per scan; boxing buys nothing"
)]
pub enum Session {
    LoggedOut,
    /// The badge was accepted; the role needs a PIN next.
    AwaitingPin {
        user: SessionUser,
    },
    Active {
        user: SessionUser,
        work: Work,
    },
}

/// The workflow in progress, one variant per station kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    Pick(PickWork),
    Pack(PackWork),
    Count(CountWork),
    Receive(ReceiveWork),
}

impl Work {
    fn idle(kind: StationKind) -> Work {
        match kind {
            StationKind::Pick => Work::Pick(PickWork::Idle),
            StationKind::Pack => Work::Pack(PackWork::Idle),
            StationKind::Count => Work::Count(CountWork::Idle),
            StationKind::Receive => Work::Receive(ReceiveWork::Idle),
        }
    }

    fn kind(&self) -> StationKind {
        match self {
            Work::Pick(_) => StationKind::Pick,
            Work::Pack(_) => StationKind::Pack,
            Work::Count(_) => StationKind::Count,
            Work::Receive(_) => StationKind::Receive,
        }
    }

    fn is_idle(&self) -> bool {
        matches!(
            self,
            Work::Pick(PickWork::Idle | PickWork::ForOrder { .. })
                | Work::Pack(PackWork::Idle)
                | Work::Count(CountWork::Idle)
                | Work::Receive(ReceiveWork::Idle)
        )
    }

    /// Commands that hand unfinished work back when the session ends: claimed pick tasks and the
    /// order on the pack bench return to their queues. Unbooked count and receive scans are
    /// dropped (nothing was booked yet).
    fn abandon(&self) -> Vec<Command> {
        match self {
            Work::Pick(w) => w.abandon(),
            Work::Pack(w) => w.abandon(),
            Work::Count(_) | Work::Receive(_) => Vec::new(),
        }
    }

    fn context(&self, map: &mut Map<String, Value>) {
        match self {
            Work::Pick(w) => w.context(map),
            Work::Pack(w) => w.context(map),
            Work::Count(w) => w.context(map),
            Work::Receive(w) => w.context(map),
        }
    }
}

/// Everything a station remembers between inputs. The store persists it with each outcome, so a
/// restarted node resumes mid-order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationState {
    pub session: Session,
    /// When the last accepted input arrived (drives the idle timeout).
    pub last_activity: Option<DateTime<Utc>>,
}

impl Default for StationState {
    fn default() -> Self {
        StationState {
            session: Session::LoggedOut,
            last_activity: None,
        }
    }
}

impl StationState {
    /// The logged-in (or PIN-pending) user.
    pub fn user(&self) -> Option<&SessionUser> {
        match &self.session {
            Session::LoggedOut => None,
            Session::AwaitingPin { user } | Session::Active { user, .. } => Some(user),
        }
    }

    /// Whose PIN a `PIN:` scan is checked against now: the user logging in, or the supervisor
    /// whose badge was scanned for an override or approval. The store hashes before the write.
    pub fn pin_awaited_from(&self) -> Option<&str> {
        match &self.session {
            Session::LoggedOut => None,
            Session::AwaitingPin { user } => Some(&user.user_id),
            Session::Active {
                work: Work::Pack(work),
                ..
            } => work.supervisor_pending(),
            Session::Active { .. } => None,
        }
    }
}

/// A scale reading, exact: milligrams are integers for every scale division in use (0.1 g and
/// up), so no float is ever compared. The device task converts the scale's decimal and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleReading {
    pub milligrams: i64,
    /// Only a stable reading is checked; a swinging one is refused.
    pub stable: bool,
}

/// Why a login or a supervisor's PIN was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailure {
    UnknownBadge,
    WrongPin,
    RoleNotAdmitted,
}

/// One input to a station.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one input in flight per station, never stored in bulk"
)]
pub enum StationInput {
    Scan(Scan),
    Weight(ScaleReading),
}

/// The answer to every input: good/bad beep and a short prompt for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub good: bool,
    pub prompt: String,
}

/// What one input leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub next: StationState,
    /// Executed by the store, in order, in one transaction with persisting `next`.
    pub commands: Vec<Command>,
    pub feedback: Feedback,
    /// For the handheld / HTTP response: station, user, stage, and the current task or order.
    /// Never holds a PIN.
    pub context: Value,
    /// Who acted and where: every command is attributed to this (design invariant 8).
    pub actor: Actor,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    Logout,
    IdleTimeout,
    /// Another badge logged in at the station.
    Replaced,
}

/// Units of an order line that ship (or sit in one carton).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedLine {
    pub line_id: String,
    pub sku: String,
    pub qty: u32,
    /// What the packer's scans said about some of those units: their lot and serial. Units no
    /// scan told about take the line's other picked lots, in lot order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<UnitLot>,
}

/// Units of one lot as scanned at the pack bench (`lot` is `None` for a unit whose scan carried
/// a serial but no lot), with the serials scanned among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitLot {
    pub lot: Option<String>,
    pub qty: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serials: Vec<String>,
}

impl UnitLot {
    /// `have` without `taken`, lot by lot: units and serials already in a carton or shipped.
    pub fn subtract(have: &[UnitLot], taken: &[&UnitLot]) -> Vec<UnitLot> {
        let mut out: Vec<UnitLot> = have.to_vec();
        for t in taken {
            if let Some(o) = out.iter_mut().find(|o| o.lot == t.lot) {
                o.qty = o.qty.saturating_sub(t.qty);
                o.serials.retain(|s| !t.serials.contains(s));
            }
        }
        out.retain(|o| o.qty > 0);
        out
    }

    /// Adds `qty` units of `lot` (with `serial`) to `lots`, merging by lot.
    pub fn add(lots: &mut Vec<UnitLot>, lot: Option<String>, qty: u32, serial: Option<String>) {
        let entry = match lots.iter_mut().position(|l| l.lot == lot) {
            Some(i) => &mut lots[i],
            None => {
                lots.push(UnitLot {
                    lot,
                    qty: 0,
                    serials: Vec::new(),
                });
                let last = lots.len() - 1;
                &mut lots[last]
            }
        };
        entry.qty += qty;
        entry.serials.extend(serial);
    }
}

/// A change the store makes, each inside the input's one transaction with state, ledger, audit and
/// outbox rows. Commands naming an order that moves forward are re-checked against hold and
/// cancel there ([`Command::order_moved_on`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Audit the login (user, station).
    SessionStarted { user_id: String },
    /// Audit the logout or timeout.
    SessionEnded { user_id: String, reason: SessionEnd },
    /// Audit a failed login or supervisor PIN (security-relevant: it travels upstream). Only an
    /// audit row: the station's state does not change. Never carries the PIN.
    LoginFailed {
        /// The user the badge belongs to; `None` for an unknown badge.
        user_id: Option<String>,
        reason: LoginFailure,
    },
    /// Assign a pick task to this station's user and tote, so no other picker is offered it. The
    /// store refuses a task claimed by someone else or whose order is held or cancelled; the first
    /// claim of an `allocated` order applies `Action::StartPicking`.
    ClaimTask {
        task_id: String,
        order_id: String,
        tote: String,
    },
    /// Unassign a pick task: it goes back to the queue with whatever is left to pick. Never
    /// refused (it is how an operator gets out of a held order).
    ReleaseTask { task_id: String, order_id: String },
    /// `qty` units moved from `location` into `tote` for the order line: ledger `picked` delta at
    /// the location, reservation consumed by `qty`, task remainder reduced. Refused when the task
    /// has less than `qty` left or the order is held or cancelled.
    Pick {
        task_id: String,
        order_id: String,
        line_id: String,
        tenant_id: String,
        sku: String,
        location: String,
        lot: Option<String>,
        qty: u32,
        tote: String,
    },
    /// The location holds none of the `short_qty` units the task still wanted: the store writes
    /// the shortage off at the location (ledger `adjusted`, position to zero for that sku/lot),
    /// re-allocates the line from another location if it can (a new task) and otherwise raises
    /// an `order.exception`.
    ShortPick {
        task_id: String,
        order_id: String,
        line_id: String,
        tenant_id: String,
        sku: String,
        location: String,
        lot: Option<String>,
        short_qty: u32,
    },
    /// Units of a cancelled order go from the tote back to a shelf: ledger `putaway` out of the
    /// tote's position and into `location`, the tote's contents reduced. Refused unless the
    /// order is cancelled and the tote holds that many.
    PutBack {
        tote: String,
        order_id: String,
        line_id: String,
        tenant_id: String,
        sku: String,
        lot: Option<String>,
        location: String,
        qty: u32,
    },
    /// The tote is full of finished tasks: orders whose every line is now picked become `picked`
    /// (`Action::FinishPicking`) and the tote is queued for packing.
    CloseTote {
        tote: String,
        order_ids: Vec<String>,
    },
    /// The packer took the order (`Action::StartPacking` unless already `packing`/`packed`).
    StartPacking {
        order_id: String,
        tote: Option<String>,
    },
    /// The order goes back to the pack queue as it was. With `label_printed` the store voids the
    /// label. Never refused.
    ReleaseOrder {
        order_id: String,
        label_printed: bool,
    },
    /// A carton weighed within tolerance (or overridden): tracking number and SSCC from their ID
    /// blocks, shipping label to the station's label printer, `label_printed_at` set. With
    /// `complete` (every unit of the order is in a labelled carton) also `Action::FinishPacking`.
    /// Refused for held or cancelled orders.
    PrintLabel {
        order_id: String,
        /// 1, 2, … per order.
        carton: u32,
        weight_mg: i64,
        complete: bool,
    },
    /// Packing slip (tenant branding, gift message) to the station's receipt printer, or as ZPL
    /// when it has none. Refused for held or cancelled orders.
    PrintSlip { order_id: String },
    /// Print a carton's existing label again (same tracking number and SSCC). Refused for held
    /// or cancelled orders.
    Reprint { order_id: String, carton: u32 },
    /// The cartons leave: `Action::Ship`, ledger `shipped` deltas out of the tote, and
    /// `shipment.created` in the outbox. Refused for held or cancelled orders and when `lines`
    /// differ from what was picked. With `approved_by` (a supervisor who checked their PIN) the
    /// shipment may hold less than the order: `Action::ShipPartially`, the order's remaining
    /// reservations are released and the units left in its totes become put-backs.
    ConfirmShipment {
        order_id: String,
        cartons: u32,
        /// Sum of the cartons' weights.
        weight_mg: i64,
        lines: Vec<ShippedLine>,
        approved_by: Option<String>,
    },
    /// A physical count of one (sku, lot) at a location. The store books `counted − on_hand` (at
    /// commit time) as a `cycle_count` adjustment and backorders reservations the count cannot
    /// cover. `expected` is what the station compared against.
    Count {
        location: String,
        tenant_id: String,
        sku: String,
        lot: Option<String>,
        counted: u32,
        expected: i64,
        recounted: bool,
    },
    /// Units received into `location` (ledger `received`); lot-tracked products carry their lot,
    /// and expiry when the scan had one. Backorders get the stock first.
    Receive {
        location: String,
        tenant_id: String,
        sku: String,
        lot: Option<String>,
        expiry: Option<String>,
        qty: u32,
    },
    /// Put-away: units from one location to another (ledger `putaway` out and in). Refused when
    /// `from` has fewer available units.
    Move {
        tenant_id: String,
        sku: String,
        lot: Option<String>,
        from: String,
        to: String,
        qty: u32,
    },
    /// An audited decision that is not a stock or order change, e.g. a supervisor's weight
    /// override: `by_user` is who decided (not necessarily the session's user). `upstream`
    /// marks security-relevant ones (overrides), which also travel as `audit.recorded`.
    Audit {
        action: String,
        target: String,
        by_user: String,
        changes: Value,
        upstream: bool,
    },
}

impl Command {
    /// The order this command moves forward, if any. The store refuses the command — and with it
    /// the whole outcome — when that order is on hold or cancelled at commit time.
    pub fn order_moved_on(&self) -> Option<&str> {
        match self {
            Command::ClaimTask { order_id, .. }
            | Command::Pick { order_id, .. }
            | Command::ShortPick { order_id, .. }
            | Command::StartPacking { order_id, .. }
            | Command::PrintLabel { order_id, .. }
            | Command::PrintSlip { order_id }
            | Command::Reprint { order_id, .. }
            | Command::ConfirmShipment { order_id, .. } => Some(order_id),
            _ => None,
        }
    }
}

/// What a per-kind workflow answers; the session layer wraps it into an [`Outcome`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step<W> {
    pub work: W,
    pub commands: Vec<Command>,
    pub good: bool,
    pub prompt: String,
}

impl<W: Clone> Step<W> {
    /// A refused input: same work, no commands, bad beep.
    pub fn reject(work: &W, prompt: impl Into<String>) -> Self {
        Step {
            work: work.clone(),
            commands: Vec::new(),
            good: false,
            prompt: prompt.into(),
        }
    }

    pub fn accept(work: W, commands: Vec<Command>, prompt: impl Into<String>) -> Self {
        Step {
            work,
            commands,
            good: true,
            prompt: prompt.into(),
        }
    }
}

/// What a workflow gets to know about the input besides the view.
pub(crate) struct Ctx<'a> {
    pub config: &'a StationConfig,
    pub user: &'a SessionUser,
}

/// A site code of the scan grammar, as (prefix, value).
pub(crate) fn code_of(scan: &Scan) -> Option<(&'static str, &str)> {
    scan.code.as_ref().map(|c| (c.prefix, c.value.as_str()))
}

/// `QTY:n` as a number (the scan is only passed here once it is known to be valid).
pub(crate) fn qty_of(value: &str) -> Option<u32> {
    value.parse::<u32>().ok().filter(|q| *q > 0)
}

/// `QTY:n` before an item scan: the scan then counts n units. `waiting` is the work that waits
/// for that scan with `n` noted.
pub(crate) fn take_qty<W: Clone>(work: &W, value: &str, waiting: impl FnOnce(u32) -> W) -> Step<W> {
    let Some(qty) = qty_of(value) else {
        return Step::reject(work, "Quantity not understood");
    };
    Step::accept(
        waiting(qty),
        Vec::new(),
        format!("Quantity {qty}: scan the item"),
    )
}

/// The session ends if no input was accepted for the idle timeout. Returns the state as of `now`
/// and the commands that end the session.
pub fn expire_idle(
    config: &StationConfig,
    state: &StationState,
    now: DateTime<Utc>,
) -> (StationState, Vec<Command>) {
    let Some(user) = state.user() else {
        return (state.clone(), Vec::new());
    };
    let Some(last) = state.last_activity else {
        return (state.clone(), Vec::new());
    };
    if now - last < Duration::seconds(i64::from(config.idle_timeout_s)) {
        return (state.clone(), Vec::new());
    }
    let mut commands = match &state.session {
        Session::Active { work, .. } => work.abandon(),
        _ => Vec::new(),
    };
    commands.push(Command::SessionEnded {
        user_id: user.user_id.clone(),
        reason: SessionEnd::IdleTimeout,
    });
    (StationState::default(), commands)
}

/// For the node's timer: the outcome of ending an idle session, or `None` when nothing expires.
pub fn tick(config: &StationConfig, state: &StationState, now: DateTime<Utc>) -> Option<Outcome> {
    let (next, commands) = expire_idle(config, state, now);
    if commands.is_empty() {
        return None;
    }
    let actor = actor_for(config, state);
    Some(Outcome {
        context: context_for(config, &next),
        next,
        commands,
        feedback: Feedback {
            good: true,
            prompt: "Session timed out — scan your badge".into(),
        },
        actor,
    })
}

/// After the store executed an outcome's commands, what the station should offer may have
/// changed under it: a short pick that re-allocated the line to another bin leaves the tote with
/// a new task the outcome could not see. Returns the refreshed state, the commands that claim
/// the new work (executed in the same transaction) and the prompt for it; `None` when nothing
/// changes.
pub fn refresh(
    config: &StationConfig,
    state: &StationState,
    view: &impl FloorView,
) -> Option<(StationState, Vec<Command>, String)> {
    let Session::Active {
        user,
        work: Work::Pick(PickWork::Tote(tote)),
    } = &state.session
    else {
        return None;
    };
    let ctx = Ctx { config, user };
    let (tote, commands, prompt) = pick::refill(&ctx, tote, view)?;
    let next = StationState {
        session: Session::Active {
            user: user.clone(),
            work: Work::Pick(PickWork::Tote(tote)),
        },
        last_activity: state.last_activity,
    };
    Some((next, commands, prompt))
}

/// One scan at a station. See [`on_input`].
pub fn on_scan(
    config: &StationConfig,
    state: &StationState,
    scan: &Scan,
    view: &impl FloorView,
    now: DateTime<Utc>,
) -> Outcome {
    on_input(config, state, &StationInput::Scan(scan.clone()), view, now)
}

/// One input at a station: the idle check, then the session (badge, PIN, logout), then the
/// workflow of the station's kind.
pub fn on_input(
    config: &StationConfig,
    state: &StationState,
    input: &StationInput,
    view: &impl FloorView,
    now: DateTime<Utc>,
) -> Outcome {
    let (current, mut commands) = expire_idle(config, state, now);
    let timed_out = !commands.is_empty();
    let (next, step_commands, mut feedback) = session_step(config, &current, input, view);
    commands.extend(step_commands);
    if timed_out && !feedback.good {
        feedback.prompt = format!("Session timed out — {}", feedback.prompt);
    }
    let mut next = next;
    if feedback.good || next != current {
        next.last_activity = Some(now);
    }
    let actor = actor_for(config, if state.user().is_some() { state } else { &next });
    Outcome {
        context: context_for(config, &next),
        next,
        commands,
        feedback,
        actor,
    }
}

fn actor_for(config: &StationConfig, state: &StationState) -> Actor {
    Actor {
        user: state.user().map(|u| u.user_id.clone()),
        device: Some(config.station_id.clone()),
        api_key: None,
    }
}

fn bad(prompt: impl Into<String>) -> Feedback {
    Feedback {
        good: false,
        prompt: prompt.into(),
    }
}

fn good(prompt: impl Into<String>) -> Feedback {
    Feedback {
        good: true,
        prompt: prompt.into(),
    }
}

/// The session layer. Returns (next state, commands, feedback); `last_activity` is set by the
/// caller.
fn session_step(
    config: &StationConfig,
    state: &StationState,
    input: &StationInput,
    view: &impl FloorView,
) -> (StationState, Vec<Command>, Feedback) {
    let unchanged = |f: Feedback| (state.clone(), Vec::new(), f);
    if let StationInput::Scan(scan) = input {
        // The reason is safe to show: PIN errors never quote the digits.
        let why = scan.reason();
        match scan.status() {
            Status::Accepted => {}
            // A code that breaks the GS1 rules may still be a barcode a catalog knows verbatim
            // (the catalog wins); the workflow decides, and says why when it is not.
            Status::Invalid if item::known_verbatim(view, scan) => {}
            Status::Invalid => {
                return unchanged(bad(format!("Invalid barcode ({why}) — scan another label")))
            }
            Status::Rejected => {
                return unchanged(bad(format!("Unreadable scan ({why}) — scan again")))
            }
        }
    }
    let scan_code = match input {
        StationInput::Scan(scan) => code_of(scan),
        StationInput::Weight(_) => None,
    };
    match &state.session {
        Session::LoggedOut => match scan_code {
            Some(("EMP", badge)) => login(config, state, badge, view, None),
            _ => unchanged(bad("Scan your badge (EMP:)")),
        },
        Session::AwaitingPin { user } => match scan_code {
            Some(("PIN", pin)) => {
                if view.verify_pin(&user.user_id, pin) {
                    let next = StationState {
                        session: Session::Active {
                            user: user.clone(),
                            work: Work::idle(config.kind),
                        },
                        last_activity: state.last_activity,
                    };
                    let commands = vec![Command::SessionStarted {
                        user_id: user.user_id.clone(),
                    }];
                    let prompt = format!("Welcome {} — {}", user.name, first_prompt(config));
                    (next, commands, good(prompt))
                } else {
                    let failed = vec![Command::LoginFailed {
                        user_id: Some(user.user_id.clone()),
                        reason: LoginFailure::WrongPin,
                    }];
                    (
                        state.clone(),
                        failed,
                        bad("Wrong PIN — scan your PIN again"),
                    )
                }
            }
            Some(("EMP", badge)) => login(config, state, badge, view, None),
            Some(("CMD", "LOGOUT" | "CANCEL")) => (
                StationState::default(),
                Vec::new(),
                good("Login cancelled — scan your badge"),
            ),
            _ => unchanged(bad(format!("Scan the PIN for {} (PIN:)", user.name))),
        },
        Session::Active { user, work } => {
            // A config change of the station kind while a session was persisted starts afresh.
            let work = if work.kind() == config.kind {
                work.clone()
            } else {
                Work::idle(config.kind)
            };
            match scan_code {
                Some(("CMD", "LOGOUT")) => {
                    let mut commands = work.abandon();
                    commands.push(Command::SessionEnded {
                        user_id: user.user_id.clone(),
                        reason: SessionEnd::Logout,
                    });
                    (
                        StationState::default(),
                        commands,
                        good(format!("Goodbye {} — scan your badge", user.name)),
                    )
                }
                Some(("EMP", badge)) if work.is_idle() => {
                    login(config, state, badge, view, Some(user))
                }
                _ => {
                    let ctx = Ctx { config, user };
                    let (work, commands, feedback) = work_step(&ctx, &work, input, view);
                    let next = StationState {
                        session: Session::Active {
                            user: user.clone(),
                            work,
                        },
                        last_activity: state.last_activity,
                    };
                    if feedback.good || next != *state {
                        (next, commands, feedback)
                    } else {
                        // A refused scan changes nothing; only a failed PIN's audit goes on.
                        let audits = commands
                            .into_iter()
                            .filter(|c| matches!(c, Command::LoginFailed { .. }))
                            .collect();
                        (state.clone(), audits, feedback)
                    }
                }
            }
        }
    }
}

fn work_step(
    ctx: &Ctx,
    work: &Work,
    input: &StationInput,
    view: &impl FloorView,
) -> (Work, Vec<Command>, Feedback) {
    fn wrap<W>(step: Step<W>, f: impl Fn(W) -> Work) -> (Work, Vec<Command>, Feedback) {
        let feedback = Feedback {
            good: step.good,
            prompt: step.prompt,
        };
        (f(step.work), step.commands, feedback)
    }
    match work {
        Work::Pick(w) => wrap(pick::on_input(ctx, w, input, view), Work::Pick),
        Work::Pack(w) => wrap(pack::on_input(ctx, w, input, view), Work::Pack),
        Work::Count(w) => wrap(count::on_input(ctx, w, input, view), Work::Count),
        Work::Receive(w) => wrap(receive::on_input(ctx, w, input, view), Work::Receive),
    }
}

fn first_prompt(config: &StationConfig) -> &'static str {
    match config.kind {
        StationKind::Pick => "scan a tote (TOTE:), or an order (ORD:) to pick just that one",
        StationKind::Pack => "scan an order (ORD:) or tote (TOTE:)",
        StationKind::Count => "scan a location (LOC:)",
        StationKind::Receive => "scan items to receive, or LOC: to put away",
    }
}

/// A badge at the station: log in (with a PIN step where the role needs one). `replacing` is the
/// user whose idle session this badge takes over.
fn login(
    config: &StationConfig,
    state: &StationState,
    badge: &str,
    view: &impl FloorView,
    replacing: Option<&SessionUser>,
) -> (StationState, Vec<Command>, Feedback) {
    let unchanged = |f: Feedback| (state.clone(), Vec::new(), f);
    let failed = |user_id: Option<&str>, reason, f: Feedback| {
        let audit = Command::LoginFailed {
            user_id: user_id.map(str::to_string),
            reason,
        };
        (state.clone(), vec![audit], f)
    };
    let Some(user) = view.user_by_badge(badge) else {
        return failed(
            None,
            LoginFailure::UnknownBadge,
            bad("Unknown badge — see supervisor"),
        );
    };
    if replacing.is_some_and(|u| u.user_id == user.user_id) {
        return unchanged(good(format!("{} is logged in here", user.name)));
    }
    if !config.kind.admits(&user) {
        return failed(
            Some(&user.user_id),
            LoginFailure::RoleNotAdmitted,
            bad(format!(
                "{} may not work at a {} station",
                user.name,
                config.kind.as_str()
            )),
        );
    }
    let mut commands = Vec::new();
    if let Some(previous) = replacing {
        commands.push(Command::SessionEnded {
            user_id: previous.user_id.clone(),
            reason: SessionEnd::Replaced,
        });
    }
    let session_user = SessionUser::from_view(&user);
    if user.needs_pin() {
        let next = StationState {
            session: Session::AwaitingPin { user: session_user },
            last_activity: state.last_activity,
        };
        return (
            next,
            commands,
            good(format!("{}: scan your PIN", user.name)),
        );
    }
    commands.push(Command::SessionStarted {
        user_id: user.user_id.clone(),
    });
    let next = StationState {
        session: Session::Active {
            user: session_user,
            work: Work::idle(config.kind),
        },
        last_activity: state.last_activity,
    };
    let prompt = format!("Welcome {} — {}", user.name, first_prompt(config));
    (next, commands, good(prompt))
}

/// The JSON context of a state: station, kind, user, stage and the work in hand.
pub fn context_for(config: &StationConfig, state: &StationState) -> Value {
    let mut map = Map::new();
    map.insert("station".into(), json!(config.station_id));
    map.insert("kind".into(), json!(config.kind.as_str()));
    map.insert(
        "user".into(),
        state.user().map_or(Value::Null, |u| json!(u.user_id)),
    );
    match &state.session {
        Session::LoggedOut => {
            map.insert("stage".into(), json!("logged_out"));
        }
        Session::AwaitingPin { .. } => {
            map.insert("stage".into(), json!("awaiting_pin"));
        }
        Session::Active { work, .. } => work.context(&mut map),
    }
    Value::Object(map)
}

/// Whether a scan is a product (anything that is not a site code, an SSCC or unreadable).
pub(crate) fn is_item(scan: &Scan) -> bool {
    !matches!(
        scan.kind,
        Kind::Control | Kind::Location | Kind::Tote | Kind::Order | Kind::Badge | Kind::Sscc
    )
}

/// A weight in grams with three decimals, for prompts ("1.250 kg").
pub(crate) fn show_weight(mg: i64) -> String {
    let sign = if mg < 0 { "-" } else { "" };
    let abs = mg.unsigned_abs();
    format!(
        "{sign}{}.{:03} kg",
        abs / 1_000_000,
        (abs % 1_000_000) / 1_000
    )
}
