//! The domain core: plain data and pure rules, no I/O. The store calls these functions inside its
//! transactions; the tests call them directly.

pub mod order;
pub mod pos;
pub mod role;
pub mod rules;
pub mod station;
pub mod stock;
pub mod time;
pub mod weight;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who did something, from where: carried on every ledger row, audit entry and upstream event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    /// Floor user id, when a person at a device acted.
    pub user: Option<String>,
    /// Device or station id the action came from.
    pub device: Option<String>,
    /// Name of the API key that authenticated the request.
    pub api_key: Option<String>,
}

/// How a product's units are told apart on the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    #[default]
    None,
    Lot,
    Serial,
    LotExpiry,
}

impl Tracking {
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::None => "none",
            Tracking::Lot => "lot",
            Tracking::Serial => "serial",
            Tracking::LotExpiry => "lot_expiry",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Tracking::None,
            "lot" => Tracking::Lot,
            "serial" => Tracking::Serial,
            "lot_expiry" => Tracking::LotExpiry,
            _ => return None,
        })
    }

    /// Lot-tracked stock must name its lot on every movement.
    pub fn needs_lot(self) -> bool {
        matches!(self, Tracking::Lot | Tracking::LotExpiry)
    }
}

/// Why stock moved; the vocabulary is the sync contract's `inventory.adjusted` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Received,
    Putaway,
    Picked,
    Packed,
    Shipped,
    Adjusted,
    CycleCount,
    TransferOut,
    TransferIn,
    Returned,
    Damaged,
    Sold,
    SaleReturned,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Received => "received",
            Reason::Putaway => "putaway",
            Reason::Picked => "picked",
            Reason::Packed => "packed",
            Reason::Shipped => "shipped",
            Reason::Adjusted => "adjusted",
            Reason::CycleCount => "cycle_count",
            Reason::TransferOut => "transfer_out",
            Reason::TransferIn => "transfer_in",
            Reason::Returned => "returned",
            Reason::Damaged => "damaged",
            Reason::Sold => "sold",
            Reason::SaleReturned => "sale_returned",
        }
    }
}

/// What a location is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    #[default]
    Pick,
    Bulk,
    Receiving,
    Shipping,
    Returns,
    /// A sales floor: registers sell from it, fulfilment never allocates from it.
    Store,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Pick => "pick",
            LocationKind::Bulk => "bulk",
            LocationKind::Receiving => "receiving",
            LocationKind::Shipping => "shipping",
            LocationKind::Returns => "returns",
            LocationKind::Store => "store",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pick" => LocationKind::Pick,
            "bulk" => LocationKind::Bulk,
            "receiving" => LocationKind::Receiving,
            "shipping" => LocationKind::Shipping,
            "returns" => LocationKind::Returns,
            "store" => LocationKind::Store,
            _ => return None,
        })
    }
}

/// The stock aggregate id of the sync contract: `<tenant>/<sku>/<location>/<lot>`, empty lot part
/// when there is none.
pub fn stock_aggregate_id(tenant: &str, sku: &str, location: &str, lot: &str) -> String {
    format!("{tenant}/{sku}/{location}/{lot}")
}
