//! The edge: how much a stranger can make the SIP server do before anyone knows who he is.
//!
//! - Requests that open something (out of any dialog, or naming a dialog we do not have) are
//!   admitted per source address from a token bucket, and all strangers together from one more:
//!   a flood from one address, or from many spoofed ones, is dropped unanswered at a bounded
//!   rate of work and memory (each admitted request holds a finished transaction for 32 s),
//!   while carriers' trunk addresses are never throttled. In-dialog requests of live calls are
//!   not counted.
//! - TCP connections: at most so many per source and in all, a first message within a few
//!   seconds of connecting, and a short idle timeout afterwards ([`super::tcp`]).
//! - What a stranger can make us log (refused or malformed packets) is logged at a bounded rate.

use std::net::IpAddr;
use std::time::Duration;

use crate::throttle::{Buckets, QuietLog, Rate};

use super::TrunkAcl;

/// New requests a second one address may send (phones behind one office NAT share it: a BLF
/// phone booting subscribes to dozens of keys, each challenged once), and its burst.
const PER_SOURCE_RATE: f64 = 100.0;
const PER_SOURCE_BURST: f64 = 500.0;
/// New requests a second from all non-trunk addresses together.
const STRANGERS_RATE: f64 = 2_000.0;
const STRANGERS_BURST: f64 = 4_000.0;

pub struct Edge {
    trunks: TrunkAcl,
    per_source: Buckets,
    strangers: Rate,
    /// Refused requests are logged at this rate at most.
    refusals: QuietLog,
}

impl Edge {
    pub fn new(trunks: TrunkAcl) -> Self {
        Edge {
            trunks,
            per_source: Buckets::new(PER_SOURCE_RATE, PER_SOURCE_BURST),
            strangers: Rate::new(STRANGERS_RATE, STRANGERS_BURST),
            refusals: QuietLog::new(10, Duration::from_secs(10)),
        }
    }

    /// Whether a request that opens something, from `ip`, is taken.
    pub fn admit(&self, ip: IpAddr) -> bool {
        if self.trunks.allows(ip) {
            return true;
        }
        if self.per_source.take(ip) && self.strangers.take() {
            return true;
        }
        if let Some(left_out) = self.refusals.admit() {
            tracing::warn!(%ip, left_out, "too many requests: dropped unanswered");
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_stranger_is_cut_off_and_the_trunk_never() {
        let edge = Edge::new(TrunkAcl::new(vec!["192.0.2.5/32".parse().unwrap()]));
        let (stranger, neighbour, trunk) = (
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            "192.0.2.5".parse().unwrap(),
        );
        let admitted = (0..2_000).filter(|_| edge.admit(stranger)).count();
        assert!(
            (500..520).contains(&admitted),
            "the burst and what refilled meanwhile: {admitted}"
        );
        assert!(edge.admit(neighbour), "another address has its own allowance");
        assert!((0..10_000).all(|_| edge.admit(trunk)));
    }
}
