//! The register by scans (pos-api.md "The register, by scans"): what one scan at a register's
//! scanner asks for, given who is logged in there and what earlier scans armed (`QTY:`,
//! `CMD:PRICE`), and what the scanner's state becomes once the till has carried it out. Pure:
//! the till reads and writes the store; this decides.
//!
//! Opening and closing the register's session counts money, so it happens on the register's
//! screen or the API; everything between is possible with the scanner alone.

use serde::{Deserialize, Serialize};
use wms_labels::scan::{Kind, Scan};

/// A cashier logged in at the scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerCashier {
    pub user_id: String,
    pub name: String,
}

/// What a register's scanner remembers between scans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerState {
    pub cashier: Option<ScannerCashier>,
    /// A badge was scanned; its PIN is next.
    pub pin_for: Option<String>,
    /// `QTY:<n>` was scanned: the next product adds n.
    pub qty: Option<i64>,
    /// `CMD:PRICE` was scanned: the next product is only priced.
    pub price_check: bool,
    /// The SKU of the last unit added, which `CMD:VOID` takes back.
    pub last_sku: Option<String>,
}

/// What a scan asks the till to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `EMP:<badge>`: the PIN comes next.
    AskPin {
        badge: String,
    },
    /// `PIN:<digits>` after a badge.
    Login {
        badge: String,
        pin: String,
    },
    Logout,
    /// Only the scanner's state changes (`QTY:`, `CMD:PRICE`); good, with this prompt.
    Arm {
        next: ScannerState,
        prompt: String,
    },
    /// Add `qty` units of the product `code` names (opening a sale when none is open).
    AddItem {
        code: String,
        qty: i64,
    },
    /// Price `code` without adding it to anything.
    PriceCheck {
        code: String,
    },
    /// Take back one unit of the last product added.
    VoidLastUnit {
        sku: Option<String>,
    },
    Coupon {
        code: String,
    },
    Customer {
        loyalty_id: String,
    },
    /// The customer pays the whole balance in exact cash (rounded).
    PayCash,
    /// A card payment for the whole balance on the register's terminal.
    PayCard,
    /// Abort a pending card payment, else void the open sale if nothing is paid.
    Cancel,
    /// Refused: bad feedback with this prompt, nothing changes.
    Refuse(String),
}

/// What the scan asks for.
pub fn decide(state: &ScannerState, scan: &Scan) -> Action {
    let code = scan.code.as_ref().map(|c| (c.prefix, c.value.as_str()));
    if !scan.ok() {
        // A PIN's digits are never echoed, whatever is wrong with it.
        return Action::Refuse(match code {
            Some(("PIN", _)) => "PIN rejected: must be 4 to 12 digits".into(),
            _ => scan.errors.join("; "),
        });
    }
    match code {
        Some(("EMP", badge)) => {
            return Action::AskPin {
                badge: badge.to_string(),
            }
        }
        Some(("PIN", pin)) => {
            return match &state.pin_for {
                Some(badge) => Action::Login {
                    badge: badge.clone(),
                    pin: pin.to_string(),
                },
                None => Action::Refuse("Scan your badge (EMP:) before the PIN".into()),
            }
        }
        _ => {}
    }
    if state.cashier.is_none() {
        return Action::Refuse("Log in: scan your badge (EMP:) and PIN".into());
    }
    match code {
        Some(("CMD", "LOGOUT")) => Action::Logout,
        Some(("CMD", "PRICE")) => Action::Arm {
            next: ScannerState {
                price_check: true,
                qty: None,
                ..state.clone()
            },
            prompt: "Price check: scan the item".into(),
        },
        Some(("QTY", n)) => match n.parse::<i64>() {
            Ok(n) if (1..=9999).contains(&n) => Action::Arm {
                next: ScannerState {
                    qty: Some(n),
                    price_check: false,
                    ..state.clone()
                },
                prompt: format!("Quantity {n}: scan the item"),
            },
            _ => Action::Refuse("A register sells 1 to 9999 units per scan".into()),
        },
        Some(("CMD", "VOID")) => Action::VoidLastUnit {
            sku: state.last_sku.clone(),
        },
        Some(("CMD", "CASH")) => Action::PayCash,
        Some(("CMD", "CARD")) => Action::PayCard,
        Some(("CMD", "CANCEL")) => Action::Cancel,
        Some(("CMD", verb)) => Action::Refuse(format!("CMD:{verb} does nothing at a register")),
        Some(("CPN", c)) => Action::Coupon {
            code: c.to_string(),
        },
        Some(("CUST", c)) => Action::Customer {
            loyalty_id: c.to_string(),
        },
        Some((prefix, _)) => Action::Refuse(format!(
            "{prefix}: scans are for the floor, not for a register"
        )),
        None if scan.kind == Kind::Sscc || (scan.sscc.is_some() && scan.gtin.is_none()) => {
            Action::Refuse("A carton's SSCC is not for sale: scan the item".into())
        }
        None if state.price_check => Action::PriceCheck {
            code: scan.data.clone(),
        },
        None => Action::AddItem {
            code: scan.data.clone(),
            qty: state.qty.unwrap_or(1),
        },
    }
}

/// How an action ended, as the till reports it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A badge + PIN login succeeded for this cashier.
    LoggedIn(ScannerCashier),
    /// A unit of this SKU was added.
    Added { sku: String },
    /// The action succeeded (nothing else to remember).
    Ok,
    /// The action failed (the prompt says why).
    Failed,
}

/// The scanner's state after `action` ended as `done`.
pub fn after(state: &ScannerState, action: &Action, done: &Done) -> ScannerState {
    match (action, done) {
        (Action::Arm { next, .. }, _) => next.clone(),
        (Action::AskPin { badge }, _) => ScannerState {
            pin_for: Some(badge.clone()),
            qty: None,
            price_check: false,
            ..state.clone()
        },
        (Action::Login { .. }, Done::LoggedIn(c)) => ScannerState {
            cashier: Some(c.clone()),
            ..ScannerState::default()
        },
        (Action::Login { .. }, _) => ScannerState {
            pin_for: None,
            ..state.clone()
        },
        (Action::Logout, _) => ScannerState::default(),
        (Action::Refuse(_), _) => state.clone(),
        (_, Done::Added { sku }) => ScannerState {
            last_sku: Some(sku.clone()),
            qty: None,
            price_check: false,
            pin_for: None,
            ..state.clone()
        },
        // A completed, voided or cancelled sale leaves nothing to take back.
        (Action::PayCash | Action::Cancel, Done::Ok) => ScannerState {
            last_sku: None,
            qty: None,
            price_check: false,
            pin_for: None,
            ..state.clone()
        },
        _ => ScannerState {
            qty: None,
            price_check: false,
            pin_for: None,
            ..state.clone()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scan(s: &str) -> Scan {
        wms_labels::scan::interpret(s.as_bytes())
    }

    fn cashier() -> ScannerState {
        ScannerState {
            cashier: Some(ScannerCashier {
                user_id: "u-1".into(),
                name: "Cass".into(),
            }),
            ..ScannerState::default()
        }
    }

    #[test]
    fn badge_then_pin_logs_in_and_nothing_else_works_before() {
        let s = ScannerState::default();
        assert!(matches!(
            decide(&s, &scan("00614141000012")),
            Action::Refuse(_)
        ));
        assert!(matches!(decide(&s, &scan("CMD:CASH")), Action::Refuse(_)));
        assert!(matches!(decide(&s, &scan("PIN:1234")), Action::Refuse(_)));
        let a = decide(&s, &scan("EMP:B-200"));
        assert_eq!(
            a,
            Action::AskPin {
                badge: "B-200".into()
            }
        );
        let s = after(&s, &a, &Done::Ok);
        let a = decide(&s, &scan("PIN:482913"));
        assert_eq!(
            a,
            Action::Login {
                badge: "B-200".into(),
                pin: "482913".into()
            }
        );
        let c = ScannerCashier {
            user_id: "u-1".into(),
            name: "Cass".into(),
        };
        let s2 = after(&s, &a, &Done::LoggedIn(c.clone()));
        assert_eq!(s2.cashier, Some(c));
        assert_eq!(s2.pin_for, None);
        // A wrong PIN forgets the badge: the next PIN needs the badge again.
        let s3 = after(&s, &a, &Done::Failed);
        assert!(s3.cashier.is_none() && s3.pin_for.is_none());
    }

    #[test]
    fn qty_and_price_arm_the_next_product_only() {
        let s = cashier();
        let Action::Arm { next, .. } = decide(&s, &scan("QTY:3")) else {
            panic!("QTY arms")
        };
        let a = decide(&next, &scan("00614141000012"));
        assert_eq!(
            a,
            Action::AddItem {
                code: "00614141000012".into(),
                qty: 3
            }
        );
        let s = after(&next, &a, &Done::Added { sku: "TEE".into() });
        assert_eq!((s.qty, s.last_sku.as_deref()), (None, Some("TEE")));
        let Action::Arm { next, .. } = decide(&s, &scan("CMD:PRICE")) else {
            panic!("PRICE arms")
        };
        let a = decide(&next, &scan("0614141000029"));
        assert!(matches!(a, Action::PriceCheck { .. }));
        let s = after(&next, &a, &Done::Ok);
        assert!(!s.price_check);
        assert_eq!(
            s.last_sku.as_deref(),
            Some("TEE"),
            "a price check adds nothing"
        );
        assert!(matches!(decide(&s, &scan("QTY:0")), Action::Refuse(_)));
    }

    #[test]
    fn the_register_verbs_and_what_is_not_for_a_register() {
        let s = cashier();
        assert_eq!(decide(&s, &scan("CMD:CASH")), Action::PayCash);
        assert_eq!(decide(&s, &scan("CMD:CARD")), Action::PayCard);
        assert_eq!(decide(&s, &scan("CMD:CANCEL")), Action::Cancel);
        assert_eq!(
            decide(&s, &scan("CMD:VOID")),
            Action::VoidLastUnit { sku: None }
        );
        assert_eq!(decide(&s, &scan("CMD:LOGOUT")), Action::Logout);
        assert_eq!(
            decide(&s, &scan("CPN:SPRING10")),
            Action::Coupon {
                code: "SPRING10".into()
            }
        );
        assert_eq!(
            decide(&s, &scan("CUST:L-42")),
            Action::Customer {
                loyalty_id: "L-42".into()
            }
        );
        for bad in [
            "CMD:DONE",
            "LOC:A-01-1",
            "TOTE:T-1",
            "]C100106141411234567897",
        ] {
            assert!(matches!(decide(&s, &scan(bad)), Action::Refuse(_)), "{bad}");
        }
        // A malformed PIN is refused without its digits.
        let Action::Refuse(p) = decide(&s, &scan("PIN:12a4")) else {
            panic!("refused")
        };
        assert!(!p.contains("12a4"));
    }

    proptest! {
        /// Whatever is scanned, nothing but a badge and its PIN gets past a scanner nobody is
        /// logged in at, and a refused scan never changes the scanner's state.
        #[test]
        fn only_a_badge_and_pin_open_a_scanner(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            let s = ScannerState::default();
            let sc = wms_labels::scan::interpret(&raw);
            match decide(&s, &sc) {
                Action::AskPin { .. } | Action::Refuse(_) => {}
                other => prop_assert!(false, "{other:?} before a login"),
            }
            let c = cashier();
            let a = decide(&c, &sc);
            if matches!(a, Action::Refuse(_)) {
                prop_assert_eq!(after(&c, &a, &Done::Failed), c);
            }
        }
    }
}
