//! What a station may read about the site: a read-only [`FloorView`] and the plain records it
//! answers with. The station never writes through it; everything it wants changed comes back as a
//! [`Command`](super::Command).
//!
//! The store implements the trait over the same SQLite transaction in which it then executes the
//! commands, so what the station saw and what the store changes are one snapshot. The records
//! carry only what a workflow decides on, so tests can implement the trait over a few vectors.

use serde::{Deserialize, Serialize};

use crate::domain::order::Status;
use crate::domain::role::Role;
use crate::domain::{LocationKind, Tracking};

/// Read-only questions the station workflows ask about the site.
pub trait FloorView {
    /// The active user wearing `badge`; `None` for unknown or deactivated badges.
    fn user_by_badge(&self, badge: &str) -> Option<UserView>;

    /// Whether `pin` is the PIN of `user_id`. The PIN is compared against its hash and never kept,
    /// logged or echoed.
    fn verify_pin(&self, user_id: &str, pin: &str) -> bool;

    /// Every product whose barcode or SKU is `code`, across tenants. `code` is either a GTIN-14
    /// (as `Scan::gtin` writes it) or the scanned text verbatim; matching GTINs of other lengths
    /// to their 14-digit form is the store's job.
    fn products_by_code(&self, code: &str) -> Vec<ProductView>;

    /// One product by its key (catalog weight for the pack check, tracking for receiving).
    fn product(&self, tenant_id: &str, sku: &str) -> Option<ProductView>;

    /// An order as it is now: status (hold and cancel show here first) and lines.
    fn order(&self, order_id: &str) -> Option<OrderView>;

    /// Orders with picked units in `tote` that have not shipped yet.
    fn orders_in_tote(&self, tote: &str) -> Vec<String>;

    /// The pick tasks `user_id` may take into `tote`: tasks already claimed by this user first,
    /// then unclaimed ones; within each, the most urgent orders first (overnight, two-day,
    /// standard, then the earlier cut-off) and walk order among equally urgent ones. Tasks
    /// claimed by someone else are not offered. `order` narrows them to one order's tasks (a tote
    /// opened for one order): the store then reads that order's few rows, not every open task
    /// of the site.
    fn pick_tasks(&self, user_id: &str, order: Option<&str>) -> Vec<PickTask>;

    /// One pick task as it stands now; `None` once it is done or withdrawn (a hold or cancel
    /// released its allocation, a short pick re-allocated it). `qty` is what is left to pick.
    fn pick_task(&self, task_id: &str) -> Option<PickTask>;

    /// Units in `tote` that must go back to the shelves: picked for orders since cancelled, or
    /// left over when an order shipped partially.
    fn put_backs(&self, tote: &str) -> Vec<PutBack>;

    /// A known location.
    fn location(&self, code: &str) -> Option<LocationView>;

    /// On-hand stock at `location`, one row per (tenant, sku, lot).
    fn stock_at(&self, location: &str) -> Vec<StockView>;
}

/// A floor user as a station needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub user_id: String,
    pub name: String,
    /// A merchant's own staff see only that tenant's orders and products; `None` is site staff.
    pub tenant_id: Option<String>,
    pub roles: Vec<Role>,
}

impl UserView {
    /// Whether one of the user's roles satisfies `required` (roles nest: see `role.rs`).
    pub fn can(&self, required: Role) -> bool {
        self.roles.iter().any(|r| r.satisfies(required))
    }

    /// Supervisors, cashiers and admins log in with badge + PIN; pickers and packers with the badge
    /// alone (design.md §4), because a badge alone is too easy to borrow for roles that can
    /// override checks or take money.
    pub fn needs_pin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| matches!(r, Role::Supervisor | Role::Cashier | Role::Admin))
    }

    /// Whether this user may see data of `tenant_id`.
    pub fn sees_tenant(&self, tenant_id: &str) -> bool {
        self.tenant_id.as_deref().is_none_or(|t| t == tenant_id)
    }
}

/// A catalog product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    pub tenant_id: String,
    pub sku: String,
    pub tracking: Tracking,
    /// Catalog weight of one unit in milligrams; `None` when the catalog has none.
    pub weight_mg: Option<i64>,
}

/// An order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineView {
    pub line_id: String,
    pub sku: String,
    pub qty: u32,
    /// Units of the line picked into totes and not shipped yet: what a packer can have in hand.
    pub picked: u32,
    /// Those units by lot (`""` for stock without one), in lot order.
    #[serde(default)]
    pub picked_lots: Vec<(String, u32)>,
}

/// An order as the floor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: String,
    pub tenant_id: String,
    pub status: Status,
    pub lines: Vec<OrderLineView>,
    /// A shipping label has been printed (a cancel now means voiding it and re-stocking).
    pub label_printed: bool,
}

/// Why an order may not take its next floor step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    OnHold,
    Cancelled,
}

impl OrderView {
    /// Hold and cancel stop an order at its next step (design invariant 4).
    pub fn block(&self) -> Option<Block> {
        match self.status {
            Status::OnHold => Some(Block::OnHold),
            Status::Cancelled => Some(Block::Cancelled),
            _ => None,
        }
    }

    /// An order a short pick left in `exception` with picked units waiting and no label yet:
    /// the packer may pack what is there, and a supervisor may approve shipping it partially.
    /// Other exceptions (an address changed after the label) are not the packer's to resolve.
    pub fn packable_short(&self) -> bool {
        self.status == Status::Exception
            && !self.label_printed
            && self.lines.iter().any(|l| l.picked > 0)
            && self.lines.iter().any(|l| l.picked < l.qty)
    }
}

/// Picked units of a cancelled or partially shipped order still in a tote: `qty` of `sku` (lot `lot`) to put back,
/// at `location` (where they were picked from) when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutBack {
    pub tote: String,
    pub order_id: String,
    pub line_id: String,
    pub tenant_id: String,
    pub sku: String,
    pub lot: Option<String>,
    pub qty: u32,
    pub location: Option<String>,
}

/// One unit of picking work: take `qty` of `sku` (lot `lot`) from `location` for an order line.
/// It stands for (part of) a reservation; `task_id` is the store's handle on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickTask {
    pub task_id: String,
    pub order_id: String,
    pub line_id: String,
    pub tenant_id: String,
    pub sku: String,
    pub location: String,
    /// The allocated lot, when the product is lot-tracked.
    pub lot: Option<String>,
    /// The allocated lot's expiry (ISO date), when known.
    pub expiry: Option<String>,
    /// Units still to pick.
    pub qty: u32,
}

/// A location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationView {
    pub code: String,
    pub kind: LocationKind,
}

/// On-hand stock of one (tenant, sku, lot) at a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockView {
    pub tenant_id: String,
    pub sku: String,
    pub lot: Option<String>,
    pub on_hand: i64,
}
