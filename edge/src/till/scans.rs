//! The register by scans, carried out: `domain::pos::scans` decides what a scan at a register's
//! scanner asks for; this runs it against the store (the same transactions the HTTP API uses)
//! and answers the scanner. A cashier logs in with badge + PIN through the same lockout as
//! `POST /v1/sessions`; every change is attributed to that cashier at that scanner.
//!
//! Who is logged in at which scanner is kept in memory: a restarted node asks the cashier to
//! scan the badge again, and a scanner nobody has used for the register's `idle_timeout_s`
//! logs out by itself.

use std::time::Instant;

use serde_json::{json, Value};

use super::Till;
use crate::config::RegisterConfig;
use crate::domain::pos::format_minor;
use crate::domain::pos::scans::{after, decide, Action, Done, ScannerCashier, ScannerState};
use crate::domain::role::Role;
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::store::base::{audit, customers, Origin};
use crate::store::workflow::people;
use crate::store::workflow::pos::payments::{self, TenderRequest};
use crate::store::workflow::pos::registers::{open_sale_of, open_session_of};
use crate::store::workflow::pos::sales::{self, CartChange};
use crate::store::workflow::pos::void::{self, VoidIn, VoidStep};
use crate::store::workflow::pos::{self as pos_store, Sale};

/// How a register answered a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanReply {
    pub good: bool,
    pub prompt: String,
    /// What the handheld shows (the sale's id, totals; never a PIN).
    pub context: Value,
}

/// A scanner's state and when it was last used.
#[derive(Debug, Clone)]
pub(super) struct Scanner {
    state: ScannerState,
    last: Instant,
}

/// Called once with the outcome of a card payment a scan started.
pub type Followup = Box<dyn FnOnce(bool, String) + Send + 'static>;

fn good(prompt: impl Into<String>) -> (Done, ScanReply) {
    (
        Done::Ok,
        ScanReply {
            good: true,
            prompt: prompt.into(),
            context: Value::Null,
        },
    )
}

fn bad(prompt: impl Into<String>) -> (Done, ScanReply) {
    (
        Done::Failed,
        ScanReply {
            good: false,
            prompt: prompt.into(),
            context: Value::Null,
        },
    )
}

/// What the operator hears for a refused store operation: the reason, without internals.
fn refused(e: &Error) -> String {
    match e {
        Error::Validation { details, .. } => details
            .first()
            .map(|d| d.message.clone())
            .unwrap_or_else(|| e.to_string()),
        Error::Conflict(m) | Error::NotFound(m) | Error::Forbidden(m) => m.clone(),
        Error::DeviceUnavailable(m) => m.clone(),
        Error::RateLimited { message, .. } => message.clone(),
        Error::Unauthenticated(_) => "Wrong badge or PIN".into(),
        Error::StorageFull(_) => crate::devices::STORAGE_FULL_PROMPT.into(),
        _ => "Register error: scan again or see a supervisor".into(),
    }
}

fn money(amount: i64, s: &Sale) -> String {
    format_minor(amount, &s.currency)
}

fn sale_context(s: &Sale) -> Value {
    json!({"sale_id": s.id, "status": s.status, "lines": s.priced.lines.len(),
           "total": s.priced.totals.total, "due": s.balance.due, "currency": s.currency})
}

impl Till {
    /// Whether `station` is one of the site's registers.
    pub fn is_register(&self, station: &str) -> bool {
        self.inner.registers.contains_key(station)
    }

    /// One scan at a register's scanner `device_id`, answered once the store has committed what
    /// it changed. `followup` hears the outcome of a card payment the scan started.
    pub async fn scan(
        &self,
        register: &str,
        device_id: &str,
        parsed: &wms_labels::scan::Scan,
        followup: Followup,
    ) -> ScanReply {
        let Some(reg) = self.inner.registers.get(register).cloned() else {
            return bad(format!("{register} is not a register")).1;
        };
        let state = self.scanner_state(device_id, reg.idle_timeout_s);
        let action = decide(&state, parsed);
        let cashier = state.cashier.clone();
        let (done, mut reply) = match &action {
            Action::Refuse(why) => bad(why.clone()),
            Action::Arm { prompt, .. } => good(prompt.clone()),
            Action::AskPin { .. } => good("Scan your PIN"),
            Action::Login { badge, pin } => self.login(&reg, device_id, badge, pin).await,
            _ => {
                let Some(c) = cashier else {
                    return bad("Log in: scan your badge (EMP:) and PIN").1;
                };
                let origin = Origin {
                    actor: Actor {
                        user: Some(c.user_id.clone()),
                        device: Some(device_id.to_string()),
                        api_key: None,
                    },
                    request_id: None,
                };
                self.act(&reg, origin, &c, &action, followup).await
            }
        };
        if reply.context.is_null() {
            reply.context = json!({"station": register, "kind": "pos"});
        } else if let Some(m) = reply.context.as_object_mut() {
            m.insert("station".into(), json!(register));
            m.insert("kind".into(), json!("pos"));
        }
        let next = after(&state, &action, &done);
        self.set_scanner_state(device_id, next);
        reply
    }

    fn scanner_state(&self, device_id: &str, idle_timeout_s: u32) -> ScannerState {
        let Ok(map) = self.inner.scanners.lock() else {
            return ScannerState::default();
        };
        match map.get(device_id) {
            Some(s) if s.last.elapsed().as_secs() < u64::from(idle_timeout_s) => s.state.clone(),
            Some(s) if s.state.cashier.is_some() => {
                tracing::info!(device = %device_id, "register scanner idle: cashier logged out");
                ScannerState::default()
            }
            _ => ScannerState::default(),
        }
    }

    fn set_scanner_state(&self, device_id: &str, state: ScannerState) {
        if let Ok(mut map) = self.inner.scanners.lock() {
            map.insert(
                device_id.to_string(),
                Scanner {
                    state,
                    last: Instant::now(),
                },
            );
        }
    }

    async fn login(
        &self,
        reg: &RegisterConfig,
        device_id: &str,
        badge: &str,
        pin: &str,
    ) -> (Done, ScanReply) {
        let origin = Origin {
            actor: Actor {
                user: None,
                device: Some(device_id.to_string()),
                api_key: None,
            },
            request_id: None,
        };
        let tenant = reg.tenant_id.clone();
        let register = reg.id.clone();
        let r = people::check_badge_pin(
            &self.inner.store,
            &self.inner.site,
            origin,
            badge,
            pin,
            "pos.scanner_login",
            move |cx, person| {
                if !person.has(Role::Cashier) {
                    return Err(Error::Forbidden(format!(
                        "{} is not a cashier",
                        person.name
                    )));
                }
                if person.tenant_id.as_deref().is_some_and(|t| t != tenant) {
                    return Err(Error::Forbidden(format!(
                        "{} does not sell at this register",
                        person.name
                    )));
                }
                audit::record(
                    cx.conn,
                    &Origin {
                        actor: Actor {
                            user: Some(person.user_id.clone()),
                            ..cx.origin.actor.clone()
                        },
                        request_id: None,
                    },
                    cx.now,
                    "pos.scanner_login",
                    &format!("register:{register}"),
                    &json!({"user": {"old": null, "new": person.user_id}}),
                )?;
                let open = open_session_of(cx.conn, &register)?.is_some();
                Ok((
                    ScannerCashier {
                        user_id: person.user_id.clone(),
                        name: person.name.clone(),
                    },
                    open,
                ))
            },
        )
        .await;
        match r {
            Ok((c, open)) => {
                let prompt = if open {
                    format!("Hello {} — scan the first item", c.name)
                } else {
                    format!(
                        "Hello {} — Register closed: open it on the register screen",
                        c.name
                    )
                };
                (
                    Done::LoggedIn(c),
                    ScanReply {
                        good: true,
                        prompt,
                        context: Value::Null,
                    },
                )
            }
            Err(e) => bad(refused(&e)),
        }
    }

    async fn act(
        &self,
        reg: &RegisterConfig,
        origin: Origin,
        c: &ScannerCashier,
        action: &Action,
        followup: Followup,
    ) -> (Done, ScanReply) {
        let r = match action {
            Action::Logout => self.logout(reg, origin).await,
            Action::AddItem { code, qty } => self.add_item(reg, origin, c, code, *qty).await,
            Action::PriceCheck { code } => self.price(reg, code).await,
            Action::VoidLastUnit { sku } => self.void_last(reg, origin, sku.as_deref()).await,
            Action::Coupon { code } => {
                let change = CartChange::Coupon { code: code.clone() };
                self.change(reg, origin, c, change, false)
                    .await
                    .map(|s| {
                        (
                            Done::Ok,
                            format!("Coupon {code}  Total {}", money(s.priced.totals.total, &s)),
                            s,
                        )
                    })
                    .map(|(d, p, s)| {
                        (
                            d,
                            ScanReply {
                                good: true,
                                prompt: p,
                                context: sale_context(&s),
                            },
                        )
                    })
            }
            Action::Customer { loyalty_id } => self.customer(reg, origin, c, loyalty_id).await,
            Action::PayCash => self.pay_cash(reg, origin).await,
            Action::PayCard => self.pay_card_by_scan(reg, origin, followup).await,
            Action::Cancel => self.cancel(reg, origin).await,
            Action::Login { .. }
            | Action::AskPin { .. }
            | Action::Arm { .. }
            | Action::Refuse(_) => {
                return bad("Scan again");
            }
        };
        match r {
            Ok(x) => x,
            Err(e) => {
                if matches!(
                    e,
                    Error::Sql(_) | Error::Internal(_) | Error::Commit(_) | Error::StoreClosed(_)
                ) {
                    tracing::error!(register = %reg.id, error = %e, "register scan failed");
                }
                bad(refused(&e))
            }
        }
    }

    async fn logout(&self, reg: &RegisterConfig, origin: Origin) -> Result<(Done, ScanReply)> {
        let register = reg.id.clone();
        self.write(origin, move |cx| {
            audit::record(
                cx.conn,
                cx.origin,
                cx.now,
                "pos.scanner_logout",
                &format!("register:{register}"),
                &json!({"user": {"old": cx.origin.actor.user, "new": null}}),
            )
        })
        .await?;
        Ok(good("Logged out"))
    }

    /// The open sale, opened for this cashier when there is none.
    fn open_sale(
        cx: &crate::store::base::Ctx<'_>,
        reg: &RegisterConfig,
        cashier: &str,
        create: bool,
    ) -> Result<Option<Sale>> {
        if open_session_of(cx.conn, &reg.id)?.is_none() {
            return Err(Error::conflict(
                "Register closed: open it on the register screen",
            ));
        }
        match open_sale_of(cx.conn, &reg.id)? {
            Some(id) => Ok(Some(pos_store::sale(cx.conn, &id)?)),
            None if create => Ok(Some(sales::create_sale(cx, reg, cashier, None)?)),
            None => Ok(None),
        }
    }

    async fn change(
        &self,
        reg: &RegisterConfig,
        origin: Origin,
        c: &ScannerCashier,
        change: CartChange,
        _quiet: bool,
    ) -> Result<Sale> {
        let r = reg.clone();
        let cashier = c.user_id.clone();
        let (before, sale) = self
            .write(origin, move |cx| {
                let s = Self::open_sale(cx, &r, &cashier, true)?
                    .ok_or_else(|| Error::conflict("no open sale"))?;
                let after = sales::change_cart(cx, &r, &s.id, change, None)?;
                Ok((s, after))
            })
            .await?;
        super::publish_sale_line(
            &self.inner.events,
            &sale,
            super::changed_line(&before, &sale),
        );
        Ok(sale)
    }

    async fn add_item(
        &self,
        reg: &RegisterConfig,
        origin: Origin,
        c: &ScannerCashier,
        code: &str,
        qty: i64,
    ) -> Result<(Done, ScanReply)> {
        let r = reg.clone();
        let code_owned = code.to_string();
        let sku = self
            .inner
            .store
            .read(move |conn| sales::sku_for_code(conn, &r, &code_owned))
            .await?;
        let change = CartChange::AddLine {
            code: None,
            sku: Some(sku.clone()),
            qty,
        };
        let s = self.change(reg, origin, c, change, false).await?;
        let line = s.priced.lines.iter().find(|l| l.sku == sku);
        let (name, unit) = line
            .map(|l| (l.name.clone(), l.unit_price))
            .unwrap_or_default();
        let qty_text = if qty > 1 {
            format!("{qty} x ")
        } else {
            String::new()
        };
        Ok((
            Done::Added { sku },
            ScanReply {
                good: true,
                prompt: format!(
                    "{qty_text}{name} {}  Total {}",
                    money(unit, &s),
                    money(s.priced.totals.total, &s)
                ),
                context: sale_context(&s),
            },
        ))
    }

    async fn price(&self, reg: &RegisterConfig, code: &str) -> Result<(Done, ScanReply)> {
        let r = reg.clone();
        let code = code.to_string();
        let p = self
            .inner
            .store
            .read(move |c| sales::price_check(c, &r, &code, &crate::domain::time::now()))
            .await?;
        let promo = if p.promotions.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.promotions.join(", "))
        };
        Ok(good(format!(
            "Price {} {}{promo}  {} in stock",
            p.name,
            format_minor(p.unit_price, &reg.currency),
            p.available
        )))
    }

    async fn void_last(
        &self,
        reg: &RegisterConfig,
        origin: Origin,
        sku: Option<&str>,
    ) -> Result<(Done, ScanReply)> {
        let Some(sku) = sku.map(str::to_string) else {
            return Ok(bad(
                "Nothing to take back: scan CMD:VOID right after an item",
            ));
        };
        let r = reg.clone();
        let (before, s) = self
            .write(origin, move |cx| {
                let s = Self::open_sale(cx, &r, "", false)?
                    .ok_or_else(|| Error::conflict("No open sale"))?;
                let line = s
                    .cart
                    .lines
                    .iter()
                    .find(|l| l.sku == sku)
                    .ok_or_else(|| Error::conflict("That item is no longer on the sale"))?;
                let change = if line.qty > 1 {
                    CartChange::SetQty {
                        line_id: line.line_id.clone(),
                        qty: line.qty - 1,
                    }
                } else {
                    CartChange::RemoveLine {
                        line_id: line.line_id.clone(),
                    }
                };
                let after = sales::change_cart(cx, &r, &s.id, change, None)?;
                Ok((s, after))
            })
            .await?;
        super::publish_sale_line(&self.inner.events, &s, super::changed_line(&before, &s));
        // Taken back: the next CMD:VOID has nothing to take unless another item is scanned.
        Ok((
            Done::Ok,
            ScanReply {
                good: true,
                prompt: format!("Taken back  Total {}", money(s.priced.totals.total, &s)),
                context: sale_context(&s),
            },
        ))
    }

    async fn customer(
        &self,
        reg: &RegisterConfig,
        origin: Origin,
        c: &ScannerCashier,
        loyalty_id: &str,
    ) -> Result<(Done, ScanReply)> {
        let tenant = reg.tenant_id.clone();
        let lid = loyalty_id.to_string();
        let found = self
            .inner
            .store
            .read(move |conn| customers::by_loyalty(conn, &tenant, &lid))
            .await?;
        let Some(customer) = found else {
            return Ok(bad(format!("No customer with loyalty card {loyalty_id}")));
        };
        let change = CartChange::Customer {
            customer_id: Some(customer.id.clone()),
        };
        let s = self.change(reg, origin, c, change, false).await?;
        Ok((
            Done::Ok,
            ScanReply {
                good: true,
                prompt: format!(
                    "Customer {}  Total {}",
                    customer.name.as_deref().unwrap_or(&customer.id),
                    money(s.priced.totals.total, &s)
                ),
                context: sale_context(&s),
            },
        ))
    }

    async fn pay_cash(&self, reg: &RegisterConfig, origin: Origin) -> Result<(Done, ScanReply)> {
        let r = reg.clone();
        let req = TenderRequest {
            idempotency_key: format!("scan-{}", uuid::Uuid::now_v7()),
            request_hash: String::new(),
            amount: None,
            tendered: None,
        };
        let done = self
            .write(origin, move |cx| {
                let s = Self::open_sale(cx, &r, "", false)?
                    .ok_or_else(|| Error::conflict("No open sale: scan an item first"))?;
                payments::pay_cash(cx, &r, &s.id, &req)
            })
            .await?;
        super::publish_payment(&self.inner.events, &done.payment, &done.sale);
        super::publish_sale(&self.inner.events, &done.sale);
        if !done.sale.is_open() {
            self.inner.print_wake.notify_one();
        }
        let s = &done.sale;
        let prompt = if s.is_open() {
            format!(
                "Cash {}  Due {}",
                money(done.payment.amount, s),
                money(s.balance.due, s)
            )
        } else {
            format!("Paid cash {} — thank you", money(done.payment.amount, s))
        };
        Ok((
            Done::Ok,
            ScanReply {
                good: true,
                prompt,
                context: sale_context(s),
            },
        ))
    }

    async fn pay_card_by_scan(
        &self,
        reg: &RegisterConfig,
        origin: Origin,
        followup: Followup,
    ) -> Result<(Done, ScanReply)> {
        let r = reg.clone();
        let sale_id = self
            .inner
            .store
            .read(move |c| {
                if open_session_of(c, &r.id)?.is_none() {
                    return Err(Error::conflict(
                        "Register closed: open it on the register screen",
                    ));
                }
                open_sale_of(c, &r.id)
            })
            .await?
            .ok_or_else(|| Error::conflict("No open sale: scan an item first"))?;
        let req = TenderRequest {
            idempotency_key: format!("scan-{}", uuid::Uuid::now_v7()),
            request_hash: String::new(),
            amount: None,
            tendered: None,
        };
        let done = self.pay_card(origin, reg, &sale_id, req).await?;
        let payment_id = done.payment.id.clone();
        let me = self.clone();
        let currency = done.sale.currency.clone();
        self.spawn(async move {
            let end = tokio::time::Instant::now() + super::WAIT_MAX * 20;
            loop {
                match me.wait_final(&payment_id, super::WAIT_MAX).await {
                    Ok(Some(p)) if p.state != "pending" => {
                        let (ok, prompt) = match p.state.as_str() {
                            "approved" => (true, "Card approved — thank you".to_string()),
                            "partial" => (
                                true,
                                format!(
                                    "Card approved for {} only: take the rest",
                                    format_minor(p.amount, &currency)
                                ),
                            ),
                            "declined" => {
                                (false, "Card declined: take another card or cash".into())
                            }
                            "aborted" => (false, "Card payment aborted".into()),
                            _ => (
                                false,
                                format!(
                                    "Card payment failed: {}",
                                    p.error.as_deref().unwrap_or("see the terminal")
                                ),
                            ),
                        };
                        followup(ok, prompt);
                        return;
                    }
                    Ok(Some(_)) if tokio::time::Instant::now() < end => continue,
                    _ => return,
                }
            }
        });
        Ok((
            Done::Ok,
            ScanReply {
                good: true,
                prompt: format!(
                    "Card payment started for {}: follow the terminal",
                    money(done.payment.amount, &done.sale)
                ),
                context: sale_context(&done.sale),
            },
        ))
    }

    async fn cancel(&self, reg: &RegisterConfig, origin: Origin) -> Result<(Done, ScanReply)> {
        let r = reg.clone();
        let open = self
            .inner
            .store
            .read(move |c| match open_sale_of(c, &r.id)? {
                Some(id) => Ok(Some(pos_store::sale(c, &id)?)),
                None => Ok(None),
            })
            .await?;
        let Some(s) = open else {
            return Ok(bad("Nothing to cancel"));
        };
        if let Some(p) = s.payments.iter().find(|p| p.state == "pending") {
            self.abort(origin, &p.id).await?;
            return Ok(good("Cancelling the card payment: follow the terminal"));
        }
        let r = reg.clone();
        let sale_id = s.id.clone();
        let v = VoidIn {
            reason: "cancelled at the register's scanner".into(),
            approved_by: None,
        };
        let step = self
            .write(origin, move |cx| {
                void::begin_void(cx, &r, &sale_id, &v, String::new)
            })
            .await?;
        let VoidStep::Done(s) = step else {
            return Ok(bad("This sale has taken money: a supervisor voids it"));
        };
        super::publish_sale(&self.inner.events, &s);
        Ok(good("Sale cancelled"))
    }
}
