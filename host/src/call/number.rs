//! Phone numbers: the one place that decides when two spellings are the same number.

/// The canonical key of a number: `+` and its digits (E.164 style). Separators are dropped;
/// a SIP user part without `+` is taken as already international.
pub fn canonical(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}

/// Whether `number` is written as E.164: `+`, then 8 to 15 digits, the first not 0.
/// The number's digits one by one, as a number is read out (`+1555…` → `1 5 5 5 …`).
pub fn spoken(number: &str) -> String {
    let digits: Vec<String> = number.chars().filter(char::is_ascii_digit).map(String::from).collect();
    digits.join(" ")
}

pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// Whether a dialled string is a phone number to call outside (digits, an optional `+`, at
/// least 7 of them) rather than an extension. Employees' own calls and transfers both use it.
pub fn is_outside_number(dialled: &str) -> bool {
    let digits = dialled.strip_prefix('+').unwrap_or(dialled);
    digits.len() >= 7 && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_number_agree() {
        assert_eq!(canonical("+1 (555) 010-0100"), "+15550100100");
        assert_eq!(canonical("15550100100"), canonical("+15550100100"));
    }

    #[test]
    fn outside_numbers_and_extensions() {
        assert!(is_outside_number("+4930123456") && is_outside_number("5550100"));
        assert!(!is_outside_number("102"));
        assert!(!is_outside_number("+123") && !is_outside_number("alice1234567"));
    }

    #[test]
    fn e164_shape() {
        assert!(is_e164("+15550100100"));
        assert!(!is_e164("15550100100"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1234"));
        assert!(!is_e164("+1555abc0100"));
    }
}
