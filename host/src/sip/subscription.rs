//! What busy lamps (`blf.rs`) and message-waiting lamps (`mwi.rs`) read alike of a SUBSCRIBE:
//! its event package and the expiry it asks for.

use rsipstack::sip::{Header, Request};

/// Subscriptions asking for longer are shortened to this (RFC 6665 §4.2.1.1 lets us).
const MAX_EXPIRES: u32 = 3600;
const DEFAULT_EXPIRES: u32 = 3600;

/// The event package named (lower-case, without parameters).
pub(super) fn event_package(req: &Request) -> Option<String> {
    req.headers.iter().find_map(|h| match h {
        Header::Event(e) => Some(
            e.value()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
        ),
        _ => None,
    })
}

/// The expiry asked for, within [`MAX_EXPIRES`].
pub(super) fn requested_expires(req: &Request) -> u32 {
    let asked = req.headers.iter().find_map(|h| match h {
        Header::Expires(e) => e.value().trim().parse::<u32>().ok(),
        _ => None,
    });
    asked.unwrap_or(DEFAULT_EXPIRES).min(MAX_EXPIRES)
}
