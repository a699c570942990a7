//! Check digits: the GS1 modulo-10 scheme (GTIN, SSCC, GLN, GSIN …) and Luhn (card numbers, used to
//! recognise a PAN that must never be printed in full).

/// GS1 mod-10 check digit for `digits` (the data without its check digit), or `None` when a byte
/// is not an ASCII digit.
pub fn gs1_check_digit(digits: &[u8]) -> Option<u8> {
    let mut sum: u32 = 0;
    // Weights alternate 3,1,3,… starting from the rightmost data digit.
    for (i, b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = u32::from(b - b'0');
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    Some(((10 - (sum % 10)) % 10) as u8)
}

/// Whether `digits` (data followed by its check digit) carries a correct GS1 check digit.
pub fn gs1_check_digit_ok(digits: &[u8]) -> bool {
    match digits.split_last() {
        Some((last, body)) if last.is_ascii_digit() => gs1_check_digit(body) == Some(last - b'0'),
        _ => false,
    }
}

/// Luhn validity of an all-digit string (payment card numbers).
pub fn luhn_ok(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_gs1_check_digits() {
        // GTIN-13 5901234123457, GTIN-14 09501101530003, SSCC 106141411234567897, GLN 0614141000005
        assert_eq!(gs1_check_digit(b"590123412345"), Some(7));
        assert_eq!(gs1_check_digit(b"0950110153000"), Some(3));
        assert_eq!(gs1_check_digit(b"10614141123456789"), Some(7));
        assert_eq!(gs1_check_digit(b"061414100000"), Some(5));
        assert_eq!(gs1_check_digit(b"0234567"), Some(3));
        assert!(gs1_check_digit_ok(b"5901234123457"));
        assert!(!gs1_check_digit_ok(b"5901234123458"));
        assert!(!gs1_check_digit_ok(b""));
        assert_eq!(gs1_check_digit(b"12a"), None);
    }

    #[test]
    fn luhn() {
        assert!(luhn_ok(b"4111111111111111"));
        assert!(!luhn_ok(b"4111111111111112"));
        assert!(!luhn_ok(b""));
    }
}
