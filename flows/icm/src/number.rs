//! The caller's number as the history and the CRMs know it: E.164.

/// `caller` in E.164: a local number (up to 7 digits) gets the country and city code in front;
/// a national number with the trunk prefix 8 (Russia: `8 495 ...`) or without a prefix (10
/// digits) gets the country code; anything else is taken as international already.
pub fn full(caller: &str, country_code: &str, city_code: &str) -> String {
    let digits: String = caller.chars().filter(char::is_ascii_digit).collect();
    if caller.trim_start().starts_with('+') || country_code.is_empty() {
        return format!("+{digits}");
    }
    match digits.len() {
        1..=7 if !city_code.is_empty() => format!("+{country_code}{city_code}{digits}"),
        11 if country_code == "7" && digits.starts_with('8') => format!("+7{}", &digits[1..]),
        10 => format!("+{country_code}{digits}"),
        _ => format!("+{digits}"),
    }
}

#[cfg(test)]
mod tests {
    use super::full;

    #[test]
    fn local_numbers_get_the_city_code() {
        assert_eq!(full("2345678", "7", "495"), "+74952345678");
        assert_eq!(full("234-56-78", "7", "812"), "+78122345678");
    }

    #[test]
    fn national_and_international_numbers() {
        assert_eq!(full("84951234567", "7", "495"), "+74951234567");
        assert_eq!(full("4951234567", "7", "495"), "+74951234567");
        assert_eq!(full("+74951234567", "7", "495"), "+74951234567");
        assert_eq!(full("74951234567", "7", "495"), "+74951234567");
        assert_eq!(full("+15550100001", "", ""), "+15550100001");
        assert_eq!(full("15550100001", "", ""), "+15550100001");
    }
}
