//! What a register's customer display shows, driven by the till's `pos.sale` events.
//!
//! The rules are pure ([`screen`]): after a line is rung up or changed, its name and unit price
//! over the sale's total; on completion the total over the change; a welcome while no sale is
//! open or after a void. [`drive`] follows the event bus and hands each register's screen to
//! its display with [`DisplayHandle::show`], which never waits: the display's own task writes
//! the latest screen when it can, so a slow or offline display costs the till nothing. At
//! start-up (and whenever the bus outran it) the screens are read from the open sales in the
//! store, so a restarted node shows the sale in progress.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::broadcast::{self, error::RecvError};
use wms_hardware::device::DisplayHandle;
use wms_hardware::CancellationToken;

use crate::domain::pos::format_minor;
use crate::events::Event;
use crate::store::workflow::pos::{self as pos_store, registers, Sale};
use crate::store::Store;

/// The greeting while no sale is open.
pub const WELCOME: &str = "WELCOME";
/// Shown when the register's session closes.
pub const CLOSED: &str = "REGISTER CLOSED";

/// A sale as the customer display needs it: from a `pos.sale` event or a stored sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleView {
    pub sale_id: String,
    pub register_id: String,
    /// `open`, `completed` or `voided`.
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub paid: i64,
    pub due: i64,
    pub change: i64,
    /// The line just rung up or changed.
    pub line: Option<LineView>,
}

/// One line of a sale, as the display shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    pub name: String,
    /// 0 when the line was removed.
    pub qty: i64,
    /// Minor units.
    pub unit_price: i64,
}

fn amount(v: &Value) -> Option<i64> {
    v.get("amount").and_then(Value::as_i64)
}

impl SaleView {
    /// Reads a `pos.sale` event's data; `None` when it lacks what a screen needs.
    pub fn from_event(data: &Map<String, Value>) -> Option<SaleView> {
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
        let totals = data.get("totals")?;
        let total = totals.get("total")?;
        let line = data.get("line").filter(|l| !l.is_null()).and_then(|l| {
            Some(LineView {
                name: l.get("name")?.as_str()?.to_string(),
                qty: l.get("qty")?.as_i64()?,
                unit_price: amount(l.get("unit_price")?)?,
            })
        });
        let of = |k: &str| totals.get(k).and_then(amount).unwrap_or(0);
        Some(SaleView {
            sale_id: text("sale_id")?,
            register_id: text("register_id")?,
            status: text("status")?,
            currency: total.get("currency")?.as_str()?.to_string(),
            total: amount(total)?,
            paid: of("paid"),
            due: of("due"),
            change: of("change"),
            line,
        })
    }

    /// A stored sale, its last line standing for the one last rung up.
    pub fn from_sale(s: &Sale) -> SaleView {
        SaleView {
            sale_id: s.id.clone(),
            register_id: s.register_id.clone(),
            status: s.status.clone(),
            currency: s.currency.clone(),
            total: s.priced.totals.total,
            paid: s.balance.paid,
            due: s.balance.due,
            change: s.balance.change,
            line: s.priced.lines.last().map(|l| LineView {
                name: l.name.clone(),
                qty: l.qty,
                unit_price: l.unit_price,
            }),
        }
    }
}

/// `left` and `right` on one line of `columns`: `right` whole and flush right, `left` cut to
/// leave at least one space before it. Control characters are dropped first, so the display
/// (which drops them too) keeps the columns aligned.
pub fn fit(left: &str, right: &str, columns: usize) -> String {
    let clean = |s: &str| s.chars().filter(|c| !c.is_control()).collect::<Vec<char>>();
    let (left, right) = (clean(left), clean(right));
    let right: Vec<char> = right.into_iter().take(columns).collect();
    let room = match right.len() {
        0 => columns,
        n => columns.saturating_sub(n + 1),
    };
    let left: Vec<char> = left.into_iter().take(room).collect();
    let gap = columns - left.len() - right.len();
    left.into_iter()
        .chain(std::iter::repeat_n(' ', gap))
        .chain(right)
        .collect()
}

/// `text` centred on a line of `columns` (cut when longer).
pub fn centred(text: &str, columns: usize) -> String {
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(columns)
        .collect();
    let pad = (columns - text.chars().count()) / 2;
    format!("{}{text}", " ".repeat(pad))
}

/// The greeting screen.
pub fn welcome(columns: usize) -> [String; 2] {
    [centred(WELCOME, columns), String::new()]
}

/// The screen for `sale`. `top` is what the display's first line shows now for this sale
/// (`None` when the sale is new to the display), kept when the change touched no line (a
/// discount or coupon changes the total, not the item shown).
pub fn screen(sale: &SaleView, top: Option<&str>, columns: usize) -> [String; 2] {
    let money = |minor: i64| format_minor(minor, &sale.currency);
    match sale.status.as_str() {
        "completed" => [
            fit("TOTAL", &money(sale.total), columns),
            fit("CHANGE", &money(sale.change), columns),
        ],
        "open" => {
            let total = fit("TOTAL", &money(sale.total), columns);
            match (&sale.line, top) {
                (Some(l), _) if l.qty > 0 => [fit(&l.name, &money(l.unit_price), columns), total],
                (Some(l), _) => [fit(&l.name, "REMOVED", columns), total],
                // Part paid (split tender): what is paid and what is still due.
                (None, _) if sale.paid > 0 => [
                    fit("PAID", &money(sale.paid), columns),
                    fit("DUE", &money(sale.due), columns),
                ],
                (None, Some(top)) => [top.to_string(), total],
                (None, None) => welcome(columns),
            }
        }
        _ => welcome(columns),
    }
}

/// What one register's display was last given, to keep its first line across changes that
/// touch no line.
#[derive(Debug, Default)]
struct Shown {
    sale_id: Option<String>,
    lines: Option<[String; 2]>,
}

struct Till {
    displays: BTreeMap<String, DisplayHandle>,
    shown: HashMap<String, Shown>,
}

impl Till {
    fn show(&mut self, register_id: &str, sale_id: Option<&str>, lines: [String; 2]) {
        let Some(d) = self.displays.get(register_id) else {
            return;
        };
        d.show(&lines[0], &lines[1]);
        let s = self.shown.entry(register_id.to_string()).or_default();
        s.sale_id = sale_id.map(str::to_string);
        s.lines = Some(lines);
    }

    fn sale(&mut self, sale: &SaleView) {
        let Some(d) = self.displays.get(&sale.register_id) else {
            return;
        };
        let columns = d.columns();
        let top = self
            .shown
            .get(&sale.register_id)
            .filter(|s| s.sale_id.as_deref() == Some(sale.sale_id.as_str()))
            .and_then(|s| s.lines.as_ref())
            .map(|l| l[0].clone());
        let lines = screen(sale, top.as_deref(), columns);
        self.show(&sale.register_id, Some(&sale.sale_id), lines);
    }

    fn event(&mut self, ev: &Event) {
        match ev.kind.as_str() {
            "pos.sale" => {
                if let Some(sale) = SaleView::from_event(&ev.data) {
                    self.sale(&sale);
                }
            }
            "pos.register" => {
                let text = |k: &str| ev.data.get(k).and_then(Value::as_str);
                let (Some(id), Some(state)) = (text("register_id"), text("state")) else {
                    return;
                };
                let Some(columns) = self.displays.get(id).map(DisplayHandle::columns) else {
                    return;
                };
                let lines = match state {
                    "closed" => [centred(CLOSED, columns), String::new()],
                    _ => welcome(columns),
                };
                self.show(id, None, lines);
            }
            _ => {}
        }
    }

    /// Every display from the store: the open sale of its register, else the welcome.
    async fn resync(&mut self, store: &Store) {
        let ids: Vec<String> = self.displays.keys().cloned().collect();
        let open = store
            .read(move |c| {
                let mut open = Vec::new();
                for id in ids {
                    if let Some(sale) = registers::open_sale_of(c, &id)? {
                        open.extend(pos_store::get_sale(c, &sale)?);
                    }
                }
                Ok(open)
            })
            .await;
        let open = match open {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "customer displays: reading the open sales failed");
                Vec::new()
            }
        };
        let registers: Vec<(String, usize)> = self
            .displays
            .iter()
            .map(|(id, d)| (id.clone(), d.columns()))
            .collect();
        for (id, columns) in registers {
            match open.iter().find(|s| s.register_id == id) {
                Some(s) => {
                    self.shown.remove(&id);
                    self.sale(&SaleView::from_sale(s));
                }
                None => self.show(&id, None, welcome(columns)),
            }
        }
    }
}

/// Drives the customer displays of the registers in `displays` (register id → its display)
/// from `events` (subscribed before the store is read, so nothing falls between the two) until
/// `shutdown`.
pub async fn drive(
    displays: BTreeMap<String, DisplayHandle>,
    store: Store,
    mut events: broadcast::Receiver<Arc<Event>>,
    shutdown: CancellationToken,
) {
    let mut till = Till {
        displays,
        shown: HashMap::new(),
    };
    till.resync(&store).await;
    loop {
        let ev = tokio::select! {
            _ = shutdown.cancelled() => break,
            ev = events.recv() => ev,
        };
        match ev {
            Ok(ev) => till.event(&ev),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "customer displays fell behind the event bus; re-reading the open sales"
                );
                till.resync(&store).await;
            }
            Err(RecvError::Closed) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> SaleView {
        match v {
            Value::Object(m) => SaleView::from_event(&m).expect("a sale view"),
            _ => panic!("not an object"),
        }
    }

    fn usd(a: i64) -> Value {
        json!({"amount": a, "currency": "USD"})
    }

    fn sale(status: &str, line: Value, total: i64, paid: i64, change: i64) -> SaleView {
        event(json!({
            "sale_id": "s-1", "register_id": "pos-1", "status": status, "line": line,
            "totals": {"total": usd(total), "paid": usd(paid), "due": usd((total - paid).max(0)),
                       "change": usd(change)},
        }))
    }

    #[test]
    fn lines_fit_twenty_columns_with_the_amount_flush_right() {
        assert_eq!(fit("Acme Mug", "12.50", 20), "Acme Mug       12.50");
        assert_eq!(
            fit("A very long product name", "1234.99", 20),
            "A very long  1234.99"
        );
        assert_eq!(fit("Tab\there", "1.00", 12), "Tabhere 1.00");
        assert_eq!(fit("", "x".repeat(30).as_str(), 20), "x".repeat(20));
        assert_eq!(fit("left", "", 8), "left    ");
        assert_eq!(centred(WELCOME, 20), "      WELCOME");
        for (l, r) in [("Crème brûlée", "4.50"), ("", ""), ("é€✓", "99999999.99")] {
            assert_eq!(fit(l, r, 20).chars().count(), 20);
        }
    }

    #[test]
    fn each_line_then_the_total_then_the_change() {
        let line = json!({"line_id": "L1", "sku": "MUG", "name": "Acme Mug", "qty": 2,
                          "unit_price": usd(1250)});
        let open = sale("open", line, 2500, 0, 0);
        assert_eq!(
            screen(&open, None, 20),
            ["Acme Mug       12.50", "TOTAL          25.00"]
        );
        let removed = json!({"line_id": "L1", "sku": "MUG", "name": "Acme Mug", "qty": 0,
                             "unit_price": usd(1250)});
        assert_eq!(
            screen(&sale("open", removed, 0, 0, 0), None, 20),
            ["Acme Mug     REMOVED", "TOTAL           0.00"]
        );
        // A coupon changes the total, not the item shown.
        let discounted = sale("open", Value::Null, 2000, 0, 0);
        assert_eq!(
            screen(&discounted, Some("Acme Mug       12.50"), 20),
            ["Acme Mug       12.50", "TOTAL          20.00"]
        );
        // A new sale greets; part paid shows paid and due; completion the change.
        assert_eq!(screen(&discounted, None, 20), welcome(20));
        assert_eq!(
            screen(&sale("open", Value::Null, 2000, 500, 0), None, 20),
            ["PAID            5.00", "DUE            15.00"]
        );
        assert_eq!(
            screen(&sale("completed", Value::Null, 2000, 2000, 1500), None, 20),
            ["TOTAL          20.00", "CHANGE         15.00"]
        );
        assert_eq!(
            screen(&sale("voided", Value::Null, 2000, 0, 0), Some("x"), 20),
            welcome(20)
        );
    }

    #[test]
    fn amounts_use_the_currency_decimals() {
        let line = json!({"line_id": "L1", "sku": "T", "name": "Tea", "qty": 1,
                          "unit_price": {"amount": 450, "currency": "JPY"}});
        let yen = event(
            json!({"sale_id": "s", "register_id": "r", "status": "open", "line": line,
            "totals": {"total": {"amount": 450, "currency": "JPY"}}}),
        );
        assert_eq!(
            screen(&yen, None, 20),
            ["Tea              450", "TOTAL            450"]
        );
    }

    #[test]
    fn an_event_without_totals_is_ignored() {
        let m = json!({"sale_id": "s", "register_id": "r", "status": "open"});
        assert!(SaleView::from_event(m.as_object().expect("object")).is_none());
    }
}
