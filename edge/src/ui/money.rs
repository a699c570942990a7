//! Amounts as people write them: minor units shown in major units with the currency's decimals
//! (`4000` USD is `40.00`), as the screens show and take them.

use serde_json::Value;

use crate::domain::pos::format_minor;

/// `amount` minor units of `currency` in major units, e.g. `-1999` USD → `-19.99`.
pub(crate) fn major(amount: i64, currency: &str) -> String {
    format_minor(amount, currency)
}

/// A money object of the API (`{"amount", "currency"}`) in major units; "" when absent.
pub(crate) fn shown(v: &Value) -> String {
    match (v["amount"].as_i64(), v["currency"].as_str()) {
        (Some(a), Some(c)) => major(a, c),
        _ => String::new(),
    }
}

/// The amount of a money object in minor units (0 when absent).
pub(crate) fn minor(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_shown_as_people_write_them() {
        assert_eq!(major(4000, "USD"), "40.00");
        assert_eq!(major(1999, "USD"), "19.99");
        assert_eq!(major(5, "USD"), "0.05");
        assert_eq!(major(-1999, "USD"), "-19.99");
        assert_eq!(major(1500, "JPY"), "1500");
        assert_eq!(major(1234, "BHD"), "1.234");
        assert_eq!(
            shown(&serde_json::json!({"amount": 250, "currency": "EUR"})),
            "2.50"
        );
        assert_eq!(shown(&Value::Null), "");
    }

    proptest! {
        #[test]
        fn shown_amounts_read_back_to_the_same_minor_units(a in -10_000_000_000i64..10_000_000_000) {
            let s = major(a, "USD");
            let (int, frac) = s.trim_start_matches('-').split_once('.').expect("two decimals");
            prop_assert_eq!(frac.len(), 2);
            let back = int.parse::<i64>().expect("int") * 100 + frac.parse::<i64>().expect("frac");
            prop_assert_eq!(if a < 0 { -back } else { back }, a);
        }
    }
}
