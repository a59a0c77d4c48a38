//! What an employee's ringing phone shows of a caller to one of the company's numbers, in the
//! From display name as cloud PBXs do: the number's prefix (`Sales`), then who calls — his
//! contact card's name and manager when he has one, else `returning` (he called before) or
//! `new`. The From user stays the caller's number, so the phone shows (and calls back) that.

use crate::call::number;
use crate::store::Tenant;

/// The longest prefix, and the longest display name a phone is sent.
const MAX_PREFIX: usize = 24;
const MAX_DISPLAY: usize = 64;

/// A display prefix as an admin may set it: short, and nothing that could break out of a SIP
/// quoted string.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.chars().count() > MAX_PREFIX || !prefix.chars().all(allowed) {
        return Err(format!(
            "at most {MAX_PREFIX} letters, digits, spaces and -.&' characters"
        ));
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || " -.&'".contains(c)
}

/// The display name for `caller` calling a number with `prefix` (empty: none) that shows the
/// caller's status when `status`; none when there is nothing to show.
pub async fn display(store: &Tenant, caller: &str, prefix: &str, status: bool) -> Option<String> {
    let who = match status && number::is_outside_number(caller) {
        true => Some(who_calls(store, caller).await),
        false => None,
    };
    let shown = match (prefix.trim(), who) {
        ("", None) => return None,
        ("", Some(who)) => who,
        (prefix, None) => prefix.to_owned(),
        (prefix, Some(who)) => format!("{prefix} - {who}"),
    };
    quotable(&shown)
}

/// `shown` as a SIP quoted string may carry it: a card's name is anyone's to type (an API
/// client, a CRM), so only safe characters, and short; none when nothing is left.
fn quotable(shown: &str) -> Option<String> {
    let safe: String = shown
        .chars()
        .filter(|c| allowed(*c) || *c == '/')
        .take(MAX_DISPLAY)
        .collect();
    Some(safe.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `Acme Ltd / alice` from the caller's contact card; else `returning` or `new`.
async fn who_calls(store: &Tenant, caller: &str) -> String {
    let canonical = number::canonical(caller);
    if let Ok(Some(card)) = store
        .contacts(None, Some(&canonical), None, 1)
        .await
        .map(|mut c| c.pop())
    {
        let name = Some(card.name.trim().to_owned()).filter(|n| !n.is_empty());
        match (name, card.employee) {
            (Some(name), Some(manager)) => return format!("{name} / {manager}"),
            (Some(name), None) => return name,
            (None, Some(manager)) => return format!("returning / {manager}"),
            (None, None) => return "returning".into(),
        }
    }
    let bare = canonical.trim_start_matches('+').to_owned();
    match store.called_before(&[canonical, bare]).await {
        Ok(true) => "returning".into(),
        Ok(false) => "new".into(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether the caller called before");
            "new".into()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_stay_short_and_quotable() {
        assert!(super::check_prefix("Sales").is_ok());
        assert!(super::check_prefix("").is_ok());
        assert!(super::check_prefix("Bob's Bikes & Co.").is_ok());
        assert!(super::check_prefix("Sales\"<sip:evil>").is_err());
        assert!(super::check_prefix(&"x".repeat(25)).is_err());
    }

    #[test]
    fn a_hostile_card_name_cannot_break_out_of_the_display_name() {
        let hostile = "Sales - Evil\" <sip:attacker@192.0.2.1>\r\nX-Injected: 1";
        let shown = super::quotable(hostile).unwrap();
        assert!(!shown.contains(['"', '<', '>', '\r', '\n', '\\', ':', '@']), "{shown}");
        assert_eq!(super::quotable(&"a".repeat(500)).unwrap().len(), super::MAX_DISPLAY);
        assert_eq!(super::quotable("\"<>\r\n"), None);
    }
}
