//! The fulfillment order state machine. Every step the floor can take is an [`Action`]; whether it
//! is allowed is decided here, once, and the store applies the answer inside the same transaction
//! as the step (design invariant 4: held or cancelled orders never ship).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    Allocated,
    Backordered,
    Picking,
    Picked,
    Packing,
    Packed,
    Shipped,
    PartiallyShipped,
    OnHold,
    Cancelled,
    Exception,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Received,
        Status::Allocated,
        Status::Backordered,
        Status::Picking,
        Status::Picked,
        Status::Packing,
        Status::Packed,
        Status::Shipped,
        Status::PartiallyShipped,
        Status::OnHold,
        Status::Cancelled,
        Status::Exception,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Allocated => "allocated",
            Status::Backordered => "backordered",
            Status::Picking => "picking",
            Status::Picked => "picked",
            Status::Packing => "packing",
            Status::Packed => "packed",
            Status::Shipped => "shipped",
            Status::PartiallyShipped => "partially_shipped",
            Status::OnHold => "on_hold",
            Status::Cancelled => "cancelled",
            Status::Exception => "exception",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Goods have left the building: nothing can call them back.
    pub fn has_shipped(self) -> bool {
        matches!(self, Status::Shipped | Status::PartiallyShipped)
    }

    /// Statuses in which the order still holds stock reservations.
    pub fn holds_reservations(self) -> bool {
        matches!(
            self,
            Status::Allocated | Status::Picking | Status::Picked | Status::Packing | Status::Packed
        )
    }
}

/// Something that would move an order on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stock was reserved for every line.
    Allocate,
    /// Not enough stock: waits explicitly for replenishment.
    Backorder,
    StartPicking,
    FinishPicking,
    StartPacking,
    FinishPacking,
    Ship,
    ShipPartially,
    Hold,
    /// Back to where the order was when it was held.
    Release {
        held_from: Status,
    },
    Cancel,
    RaiseException,
}

/// Why an action was refused; the API answers 409 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("order is on hold")]
    OnHold,
    #[error("order is cancelled")]
    Cancelled,
    #[error("order has already shipped")]
    AlreadyShipped,
    #[error("order is already on hold")]
    AlreadyOnHold,
    #[error("order is not on hold")]
    NotOnHold,
    #[error("order is {from}; cannot {action}")]
    NotAllowed {
        from: &'static str,
        action: &'static str,
    },
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allocate => "allocate",
        Action::Backorder => "backorder",
        Action::StartPicking => "start picking",
        Action::FinishPicking => "finish picking",
        Action::StartPacking => "start packing",
        Action::FinishPacking => "finish packing",
        Action::Ship => "ship",
        Action::ShipPartially => "ship partially",
        Action::Hold => "hold",
        Action::Release { .. } => "release",
        Action::Cancel => "cancel",
        Action::RaiseException => "raise an exception",
    }
}

/// The one place that decides the next status. Hold and cancel are checked before anything else,
/// so no forward step can slip past them.
pub fn next(from: Status, action: Action) -> Result<Status, Refusal> {
    use Status as S;
    match (from, action) {
        (S::Cancelled, _) => Err(Refusal::Cancelled),
        (S::Shipped | S::PartiallyShipped, Action::Hold | Action::Cancel) => {
            Err(Refusal::AlreadyShipped)
        }
        (S::OnHold, Action::Hold) => Err(Refusal::AlreadyOnHold),
        (S::OnHold, Action::Release { held_from }) => {
            if held_from == S::OnHold || held_from == S::Cancelled || held_from.has_shipped() {
                Err(Refusal::NotAllowed {
                    from: from.as_str(),
                    action: "release",
                })
            } else {
                Ok(held_from)
            }
        }
        (_, Action::Release { .. }) => Err(Refusal::NotOnHold),
        (S::OnHold, Action::Cancel) => Ok(S::Cancelled),
        (S::OnHold, _) => Err(Refusal::OnHold),
        (_, Action::Hold) => Ok(S::OnHold),
        (_, Action::Cancel) => Ok(S::Cancelled),
        (S::Received | S::Backordered, Action::Allocate) => Ok(S::Allocated),
        // A short-picked order waiting in exception gets its missing units when stock arrives.
        (S::Exception, Action::Allocate) => Ok(S::Allocated),
        (S::Received, Action::Backorder) => Ok(S::Backordered),
        (S::Allocated, Action::Backorder) => Ok(S::Backordered),
        (S::Allocated, Action::StartPicking) => Ok(S::Picking),
        (S::Picking, Action::FinishPicking) => Ok(S::Picked),
        (S::Picked | S::Allocated, Action::StartPacking) => Ok(S::Packing),
        // A short-picked order's units may still be packed and shipped partially (supervisor).
        (S::Exception, Action::StartPacking) => Ok(S::Packing),
        (S::Packing, Action::FinishPacking) => Ok(S::Packed),
        (S::Packed, Action::Ship) => Ok(S::Shipped),
        (S::Packed | S::Packing, Action::ShipPartially) => Ok(S::PartiallyShipped),
        (S::Shipped, _) => Err(Refusal::AlreadyShipped),
        (s, Action::RaiseException) if !s.has_shipped() => Ok(S::Exception),
        (s, a) => Err(Refusal::NotAllowed {
            from: s.as_str(),
            action: action_name(a),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORWARD: [Action; 8] = [
        Action::Allocate,
        Action::Backorder,
        Action::StartPicking,
        Action::FinishPicking,
        Action::StartPacking,
        Action::FinishPacking,
        Action::Ship,
        Action::ShipPartially,
    ];

    /// Invariant 4: an order on hold or cancelled takes no forward step, whatever the step.
    #[test]
    fn held_or_cancelled_orders_never_ship() {
        for a in FORWARD {
            assert_eq!(next(Status::OnHold, a), Err(Refusal::OnHold), "{a:?}");
            assert_eq!(next(Status::Cancelled, a), Err(Refusal::Cancelled), "{a:?}");
        }
        assert_eq!(
            next(Status::Cancelled, Action::Hold),
            Err(Refusal::Cancelled)
        );
        assert_eq!(
            next(
                Status::Cancelled,
                Action::Release {
                    held_from: Status::Packed
                }
            ),
            Err(Refusal::Cancelled)
        );
        assert_eq!(
            next(Status::Cancelled, Action::Cancel),
            Err(Refusal::Cancelled)
        );
        assert_eq!(
            next(Status::OnHold, Action::Hold),
            Err(Refusal::AlreadyOnHold)
        );
    }

    #[test]
    fn shipped_orders_cannot_be_held_or_cancelled() {
        for s in [Status::Shipped, Status::PartiallyShipped] {
            assert_eq!(next(s, Action::Hold), Err(Refusal::AlreadyShipped));
            assert_eq!(next(s, Action::Cancel), Err(Refusal::AlreadyShipped));
        }
    }

    #[test]
    fn release_returns_to_where_the_order_was() {
        assert_eq!(
            next(
                Status::OnHold,
                Action::Release {
                    held_from: Status::Packing
                }
            ),
            Ok(Status::Packing)
        );
        assert_eq!(
            next(
                Status::Allocated,
                Action::Release {
                    held_from: Status::Packing
                }
            ),
            Err(Refusal::NotOnHold)
        );
        assert_eq!(next(Status::OnHold, Action::Cancel), Ok(Status::Cancelled));
    }

    #[test]
    fn the_happy_path_reaches_shipped() {
        let mut s = Status::Received;
        for a in [
            Action::Allocate,
            Action::StartPicking,
            Action::FinishPicking,
            Action::StartPacking,
            Action::FinishPacking,
            Action::Ship,
        ] {
            s = next(s, a).unwrap_or_else(|e| panic!("{a:?} from {s:?}: {e}"));
        }
        assert_eq!(s, Status::Shipped);
    }

    #[test]
    fn a_short_picked_order_in_exception_is_allocated_again_when_stock_arrives() {
        assert_eq!(
            next(Status::Exception, Action::Allocate),
            Ok(Status::Allocated)
        );
        assert_eq!(
            next(Status::Exception, Action::StartPacking),
            Ok(Status::Packing)
        );
        assert!(next(Status::Exception, Action::Ship).is_err());
    }

    #[test]
    fn every_status_round_trips_its_name() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
