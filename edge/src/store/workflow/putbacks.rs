//! Totes waiting for put-back, for a supervisor: units of cancelled or partially shipped orders
//! still sitting in a tote (the next pick station that scans the tote puts them back; until one
//! does, they are on this list, oldest first, so nothing sits forgotten).

use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time;
use crate::error::Result;

/// One tote with units to put back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PutbackTote {
    pub tote: String,
    /// When its oldest units became put-backs (their order was cancelled or shipped partially).
    pub since: String,
    /// Seconds since then, at the time of the request.
    pub age_s: u64,
    /// Units to put back, in all.
    pub units: i64,
    pub items: Vec<PutbackItem>,
}

/// Units of one order line (and lot) in a tote, and the shelf they go back to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PutbackItem {
    pub order_id: String,
    pub line_id: String,
    pub tenant_id: String,
    pub sku: String,
    /// `null` when the stock has no lot.
    pub lot: Option<String>,
    pub qty: i64,
    /// Where they were picked from, when known.
    pub location: Option<String>,
    /// `cancelled` or `partially_shipped`.
    pub reason: String,
    pub since: String,
}

/// Every tote with put-backs (of `tenant_id` alone, when given), oldest first.
pub fn list(conn: &Connection, tenant_id: Option<&str>, now: &str) -> Result<Vec<PutbackTote>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.tote, t.order_id, t.line_id, t.tenant_id, t.sku, t.lot, t.qty, t.from_location,
                o.status,
                coalesce((SELECT max(e.at) FROM order_events e
                          WHERE e.order_id = o.id AND e.to_status = o.status), o.updated_at)
         FROM tote_contents t JOIN orders o ON o.id = t.order_id
         WHERE o.status IN ('cancelled', 'partially_shipped')
           AND (?1 IS NULL OR t.tenant_id = ?1)
         ORDER BY t.tote, t.order_id, t.line_id, t.lot",
    )?;
    let rows = stmt.query_map([tenant_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            PutbackItem {
                order_id: r.get(1)?,
                line_id: r.get(2)?,
                tenant_id: r.get(3)?,
                sku: r.get(4)?,
                lot: Some(r.get::<_, String>(5)?).filter(|l| !l.is_empty()),
                qty: r.get(6)?,
                location: r.get(7)?,
                reason: r.get(8)?,
                since: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            },
        ))
    })?;
    let mut totes: Vec<PutbackTote> = Vec::new();
    for row in rows {
        let (tote, item) = row?;
        match totes.iter_mut().find(|t| t.tote == tote) {
            Some(t) => {
                if item.since < t.since {
                    t.since = item.since.clone();
                }
                t.units += item.qty;
                t.items.push(item);
            }
            None => totes.push(PutbackTote {
                tote,
                since: item.since.clone(),
                age_s: 0,
                units: item.qty,
                items: vec![item],
            }),
        }
    }
    let now = time::parse(now);
    for t in &mut totes {
        t.age_s = match (now, time::parse(&t.since)) {
            (Some(now), Some(since)) => u64::try_from((now - since).num_seconds()).unwrap_or(0),
            _ => 0,
        };
    }
    totes.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.tote.cmp(&b.tote)));
    Ok(totes)
}
