//! Cycle counts, from the count station or `POST /v1/inventory/counts`. When a count finds less
//! than is reserved, the newest reservations at the position are released first and their orders
//! backordered: a discovered shortage is made explicit, never left as negative available stock.
//! Then the ledger books the difference.

use crate::domain::stock;
use crate::error::Result;
use crate::store::base::Ctx;
use crate::store::orders;
use crate::store::stock::ledger::{self, CountInput, LedgerEntry};

/// Counts one position: backorders what the count takes from reservations, then books it.
pub fn count(cx: &Ctx<'_>, input: CountInput) -> Result<LedgerEntry> {
    // The ledger validates the input; a refusal there rolls back the backorders too.
    let lot = input.lot.as_deref().unwrap_or("");
    let before = ledger::position(cx.conn, &input.tenant_id, &input.sku, &input.location, lot)?;
    let shortfall = stock::count_shortfall(before, input.counted);
    if shortfall > 0 {
        orders::backorder_for_shortfall(
            cx,
            (&input.tenant_id, &input.sku, &input.location, lot),
            shortfall,
        )?;
    }
    ledger::count(cx.conn, cx.site, cx.origin, cx.now, input)
}
