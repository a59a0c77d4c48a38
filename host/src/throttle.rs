//! Password guessing is slowed down per source address: after a few wrong attempts within a
//! minute, that address is refused for the rest of the minute. One counter serves SIP (REGISTER,
//! INVITE, SUBSCRIBE digests) and the API's logins, so guesses through either count together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

const MAX_FAILURES: u32 = 5;
pub const WINDOW_SECS: u64 = 60;

/// Failed attempts per source address: (count, start of the window in Unix seconds).
#[derive(Debug, Default)]
pub struct FailureLimit(Mutex<HashMap<IpAddr, (u32, u64)>>);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl FailureLimit {
    /// Counts a wrong attempt from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = now();
        let mut failures = self.0.lock();
        let entry = failures.entry(ip).or_insert((0, now));
        if now.saturating_sub(entry.1) > WINDOW_SECS {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 == MAX_FAILURES {
            tracing::warn!(%ip, "too many failed authentications: refusing this address for {WINDOW_SECS} s");
        }
    }

    /// Whether `ip` is refused for now.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        let now = now();
        let mut failures = self.0.lock();
        if failures.len() > 10_000 {
            failures.retain(|_, (_, start)| now.saturating_sub(*start) <= WINDOW_SECS);
        }
        failures
            .get(&ip)
            .is_some_and(|(n, start)| *n >= MAX_FAILURES && now.saturating_sub(*start) <= WINDOW_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_five_failures() {
        let limit = FailureLimit::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..4 {
            limit.failed(a);
        }
        assert!(!limit.blocked(a));
        limit.failed(a);
        assert!(limit.blocked(a) && !limit.blocked(b));
    }
}
