//! Stock arithmetic for one (tenant, sku, location, lot) position. On-hand changes only through
//! ledger deltas; reserved only through reservations; available = on_hand − reserved and may never
//! drop below zero by accident (design invariant 5). A shortfall the floor discovers (a count
//! below what is reserved) is resolved explicitly by releasing reservations into backorder.

use serde::Serialize;
use utoipa::ToSchema;

/// The derived quantities of one stock position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Position {
    pub on_hand: i64,
    pub reserved: i64,
}

impl Position {
    pub fn available(self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// Why a stock change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockRefusal {
    #[error("delta must not be zero")]
    ZeroDelta,
    #[error("would make available stock negative: available {available}, delta {delta}")]
    WouldGoNegative { available: i64, delta: i64 },
    #[error("cannot reserve {qty}: only {available} available")]
    NotEnoughToReserve { available: i64, qty: i64 },
    #[error("quantity must be positive")]
    NonPositiveQty,
    #[error("arithmetic overflow")]
    Overflow,
}

/// Apply an on-hand delta. Refuses any change that leaves available stock below zero.
pub fn apply_delta(pos: Position, delta: i64) -> Result<Position, StockRefusal> {
    if delta == 0 {
        return Err(StockRefusal::ZeroDelta);
    }
    let on_hand = pos
        .on_hand
        .checked_add(delta)
        .ok_or(StockRefusal::Overflow)?;
    if on_hand < pos.reserved || on_hand < 0 {
        return Err(StockRefusal::WouldGoNegative {
            available: pos.available(),
            delta,
        });
    }
    Ok(Position { on_hand, ..pos })
}

/// A sale at a register: the goods are in the customer's hand, so it never fails for lack of
/// booked stock. On-hand may go below zero where nothing is reserved (a `store` location, which
/// fulfilment never allocates from); a delta that would break a reservation is still refused.
pub fn apply_sale_delta(pos: Position, delta: i64) -> Result<Position, StockRefusal> {
    if delta == 0 {
        return Err(StockRefusal::ZeroDelta);
    }
    let on_hand = pos
        .on_hand
        .checked_add(delta)
        .ok_or(StockRefusal::Overflow)?;
    if pos.reserved > 0 && on_hand < pos.reserved {
        return Err(StockRefusal::WouldGoNegative {
            available: pos.available(),
            delta,
        });
    }
    Ok(Position { on_hand, ..pos })
}

/// Reserve `qty` units for an order line.
pub fn reserve(pos: Position, qty: i64) -> Result<Position, StockRefusal> {
    if qty <= 0 {
        return Err(StockRefusal::NonPositiveQty);
    }
    if pos.available() < qty {
        return Err(StockRefusal::NotEnoughToReserve {
            available: pos.available(),
            qty,
        });
    }
    Ok(Position {
        reserved: pos.reserved + qty,
        ..pos
    })
}

/// Give back `qty` reserved units (cancel, backorder, pick).
pub fn release(pos: Position, qty: i64) -> Result<Position, StockRefusal> {
    if qty <= 0 || qty > pos.reserved {
        return Err(StockRefusal::NonPositiveQty);
    }
    Ok(Position {
        reserved: pos.reserved - qty,
        ..pos
    })
}

/// How much of the reservations must be released for a physical count of `counted` to be booked
/// without available stock going negative.
pub fn count_shortfall(pos: Position, counted: i64) -> i64 {
    (pos.reserved - counted).max(0)
}

/// Greedy allocation of `qty` over candidate positions (already in pick order). Returns how much to
/// take from each, or `None` when the candidates cannot cover `qty` — an order is then backordered
/// explicitly rather than reserving stock it cannot have.
pub fn allocate(candidates: &[Position], qty: i64) -> Option<Vec<i64>> {
    if qty <= 0 {
        return None;
    }
    let mut left = qty;
    let mut takes = Vec::with_capacity(candidates.len());
    for pos in candidates {
        let take = pos.available().max(0).min(left);
        takes.push(take);
        left -= take;
    }
    (left == 0).then_some(takes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delta_that_would_make_available_negative_is_refused() {
        let pos = Position {
            on_hand: 5,
            reserved: 3,
        };
        assert_eq!(
            apply_delta(pos, -3),
            Err(StockRefusal::WouldGoNegative {
                available: 2,
                delta: -3
            })
        );
        assert_eq!(apply_delta(pos, -2).map(Position::available), Ok(0));
        assert_eq!(apply_delta(pos, 0), Err(StockRefusal::ZeroDelta));
    }

    #[test]
    fn allocation_covers_exactly_or_not_at_all() {
        let c = [
            Position {
                on_hand: 2,
                reserved: 1,
            },
            Position {
                on_hand: 5,
                reserved: 0,
            },
        ];
        assert_eq!(allocate(&c, 3), Some(vec![1, 2]));
        assert_eq!(allocate(&c, 6), Some(vec![1, 5]));
        assert_eq!(allocate(&c, 7), None);
    }

    proptest! {
        /// Invariant 5: whatever sequence of deltas, reservations and releases is attempted, the
        /// rules never produce a position with negative available stock.
        #[test]
        fn inventory_never_goes_negative_by_accident(
            ops in prop::collection::vec((0u8..3, -50i64..50), 0..200)
        ) {
            let mut pos = Position::default();
            for (op, n) in ops {
                let next = match op {
                    0 => apply_delta(pos, n),
                    1 => reserve(pos, n),
                    _ => release(pos, n),
                };
                if let Ok(p) = next {
                    pos = p;
                }
                prop_assert!(pos.available() >= 0);
                prop_assert!(pos.reserved >= 0);
                prop_assert!(pos.on_hand >= 0);
            }
        }

        #[test]
        fn allocation_never_takes_more_than_available(
            avail in prop::collection::vec((0i64..20, 0i64..20), 0..10), qty in 1i64..100
        ) {
            let c: Vec<Position> = avail.iter().map(|&(a, r)| Position { on_hand: a + r, reserved: r }).collect();
            if let Some(takes) = allocate(&c, qty) {
                prop_assert_eq!(takes.iter().sum::<i64>(), qty);
                for (t, p) in takes.iter().zip(&c) {
                    prop_assert!(*t >= 0 && *t <= p.available());
                }
            } else {
                prop_assert!(c.iter().map(|p| p.available()).sum::<i64>() < qty);
            }
        }
    }
}
