//! Weights as exact integers. Catalog weights and scale readings arrive as decimal strings in
//! kg, g, lb or oz; the pack check compares milligrams, so no binary float ever decides whether
//! a carton ships.

use wms_hardware::decimal::Decimal;

/// Micrograms per unit: exact for kg and g, and for lb and oz by their legal definitions
/// (1 lb = 453.59237 g, 1 oz = 1/16 lb).
fn micrograms_per(unit: &str) -> Option<i128> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "kg" => Some(1_000_000_000),
        "g" => Some(1_000_000),
        "mg" => Some(1_000),
        "lb" => Some(453_592_370),
        "oz" => Some(28_349_523),
        _ => None,
    }
}

/// `value` `unit` in milligrams, rounded half away from zero (lb and oz are not whole
/// milligrams). `None` for an unknown unit, a malformed value or an overflow.
pub fn to_mg(value: &str, unit: &str) -> Option<i64> {
    let d = Decimal::parse(value).ok()?;
    decimal_to_mg(&d, unit)
}

/// [`to_mg`] for a decimal already parsed (a scale reading).
pub fn decimal_to_mg(d: &Decimal, unit: &str) -> Option<i64> {
    let per = micrograms_per(unit)?;
    let micro = i128::from(d.mantissa()).checked_mul(per)?;
    let div = 10i128.checked_pow(d.scale())?.checked_mul(1_000)?;
    let half = div / 2;
    let rounded = if micro >= 0 {
        (micro + half) / div
    } else {
        (micro - half) / div
    };
    i64::try_from(rounded).ok()
}

/// Milligrams as the contract's weight object: `{"value": "1.250", "unit": "kg"}`.
pub fn kg_json(mg: i64) -> serde_json::Value {
    serde_json::json!({"value": kg_text(mg), "unit": "kg"})
}

/// Milligrams as a kg decimal string with three decimals ("1.250"), rounded to the gram.
pub fn kg_text(mg: i64) -> String {
    let grams = (i128::from(mg) + if mg >= 0 { 500 } else { -500 }) / 1_000;
    let sign = if grams < 0 { "-" } else { "" };
    let g = grams.unsigned_abs();
    format!("{sign}{}.{:03}", g / 1_000, g % 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units_convert_exactly() {
        assert_eq!(to_mg("1.250", "kg"), Some(1_250_000));
        assert_eq!(to_mg("250", "g"), Some(250_000));
        assert_eq!(to_mg("0.1", "G"), Some(100));
        assert_eq!(to_mg("1", "lb"), Some(453_592));
        assert_eq!(to_mg("16", "oz"), Some(453_592));
        assert_eq!(to_mg("-0.5", "kg"), Some(-500_000));
        assert_eq!(to_mg("1", "stone"), None);
        assert_eq!(to_mg("1.2.3", "kg"), None);
        assert_eq!(kg_text(1_250_000), "1.250");
        assert_eq!(kg_text(499), "0.000");
        assert_eq!(kg_text(1_999_600), "2.000");
        assert_eq!(kg_json(50_000)["value"], "0.050");
    }

    proptest! {
        #[test]
        fn grams_round_trip_through_kg_text(g in 0i64..100_000_000) {
            let mg = g * 1_000;
            prop_assert_eq!(to_mg(&kg_text(mg), "kg"), Some(mg));
        }

        #[test]
        fn never_panics(v in ".{0,30}", u in "[a-zA-Z]{0,4}") {
            let _ = to_mg(&v, &u);
        }
    }
}
