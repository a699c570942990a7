//! The point of sale's rules, pure (pos-api.md): what a cart costs (`pricing`), what is still due
//! once tenders are applied (`balance`), and how a card payment's attempt may move (`card`). The
//! store's POS transactions call these with data read in the same transaction; nothing here does
//! I/O.
//!
//! Money is an integer in minor units of the register's currency everywhere; percents are exact
//! decimals ([`Percent`]); every rounding is half away from zero to the minor unit unless a rule
//! says otherwise.

pub mod balance;
pub mod card;
pub mod percent;
pub mod pricing;
pub mod refund;
pub mod report;
pub mod scans;

pub use percent::Percent;

/// Digits after the decimal point of an ISO 4217 currency's minor unit (2 unless listed).
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Minor units as a decimal string in the currency's major unit (`1999` USD → `"19.99"`).
pub fn format_minor(amount: i64, currency: &str) -> String {
    let d = minor_digits(currency);
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    if d == 0 {
        return format!("{sign}{a}");
    }
    let scale = 10u64.pow(d);
    format!(
        "{sign}{}.{:0width$}",
        a / scale,
        a % scale,
        width = d as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_print_in_the_major_unit() {
        assert_eq!(format_minor(1999, "USD"), "19.99");
        assert_eq!(format_minor(-5, "EUR"), "-0.05");
        assert_eq!(format_minor(1500, "JPY"), "1500");
        assert_eq!(format_minor(1234, "KWD"), "1.234");
    }
}
