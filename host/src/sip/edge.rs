//! The edge: how much a stranger can make the SIP server do before anyone knows who he is.
//!
//! - Requests that open something (out of any dialog, or naming a dialog we do not have) are
//!   admitted per source address from a token bucket, and all strangers together from one more:
//!   a flood from one address is dropped unanswered, and so is a flood from many spoofed ones,
//!   at a bounded rate of work and memory (each answered request holds a finished transaction
//!   for 32 s), while carriers' trunk addresses are never throttled. In-dialog requests of live
//!   calls are not counted.
//! - When all strangers together run out of their allowance — many offices' phones at once,
//!   the node's capacity passed — a bounded number more are answered 503 with Retry-After
//!   instead of dropped: a phone whose request goes unanswered sends it again after 500 ms,
//!   1 s, 2 s…, and silence would multiply the load it is meant to shed ([`super::overload`]
//!   sheds the rest by the node's own lag).
//! - TCP connections: at most so many per source and in all, a first message within a few
//!   seconds of connecting, and a short idle timeout afterwards ([`super::tcp`]).
//! - What a stranger can make us log (refused or malformed packets) is logged at a bounded rate.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::throttle::{Buckets, QuietLog, Rate};

use super::TrunkAcl;
use super::source::Proxies;

/// New requests a second one address may send (phones behind one office NAT share it: a BLF
/// phone booting subscribes to dozens of keys, each challenged once), and its burst.
const PER_SOURCE_RATE: f64 = 100.0;
const PER_SOURCE_BURST: f64 = 500.0;
/// New requests a second from all non-trunk addresses together.
const STRANGERS_RATE: f64 = 2_000.0;
const STRANGERS_BURST: f64 = 4_000.0;
/// Past the strangers' allowance, requests a second answered 503 rather than dropped.
const REFUSALS_RATE: f64 = 2_000.0;
const REFUSALS_BURST: f64 = 2_000.0;

/// What the edge does with a request that opens something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Take,
    /// Answer 503 with Retry-After, and do nothing more.
    Refuse,
    /// Drop unanswered.
    Drop,
}

pub struct Edge {
    trunks: TrunkAcl,
    /// Relay many clients' requests: each client is charged once the request is read
    /// ([`Edge::admit`] with the address the proxy stamped), never the proxy.
    proxies: Proxies,
    per_source: Buckets,
    strangers: Rate,
    /// Requests answered 503 once the strangers' allowance is spent.
    refusals: Rate,
    /// Dropped requests are logged at this rate at most.
    dropped: QuietLog,
}

impl Edge {
    pub fn new(trunks: TrunkAcl, proxies: Proxies) -> Self {
        Edge {
            trunks,
            proxies,
            per_source: Buckets::new(PER_SOURCE_RATE, PER_SOURCE_BURST),
            strangers: Rate::new(STRANGERS_RATE, STRANGERS_BURST),
            refusals: Rate::new(REFUSALS_RATE, REFUSALS_BURST),
            dropped: QuietLog::new(10, Duration::from_secs(10)),
        }
    }

    /// The proxies trusted to say who is behind them.
    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    /// What becomes of a datagram's request that opens something, from `peer`, before it is
    /// read: a trusted proxy's are taken here and charged to the client behind it later.
    pub fn admit_datagram(&self, peer: SocketAddr) -> Admission {
        match self.proxies.trusts(peer) {
            true => Admission::Take,
            false => self.admit(peer.ip()),
        }
    }

    /// What becomes of a request that opens something, from `ip`.
    pub fn admit(&self, ip: IpAddr) -> Admission {
        if self.trunks.allows(ip) {
            return Admission::Take;
        }
        if self.per_source.take(ip) {
            if self.strangers.take() {
                return Admission::Take;
            }
            if self.refusals.take() {
                metrics::counter!("switchboard_sip_overload_refused_total").increment(1);
                return Admission::Refuse;
            }
        }
        if let Some(left_out) = self.dropped.admit() {
            tracing::warn!(%ip, left_out, "too many requests: dropped unanswered");
        }
        Admission::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_stranger_is_cut_off_and_the_trunk_never() {
        let edge = Edge::new(TrunkAcl::new(vec!["192.0.2.5/32".parse().unwrap()]), Proxies::default());
        let (stranger, neighbour, trunk) = (
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            "192.0.2.5".parse().unwrap(),
        );
        let admitted = (0..2_000).filter(|_| edge.admit(stranger) == Admission::Take).count();
        assert!(
            (500..520).contains(&admitted),
            "the burst and what refilled meanwhile: {admitted}"
        );
        assert_eq!(
            edge.admit(neighbour),
            Admission::Take,
            "another address has its own allowance"
        );
        assert!((0..10_000).all(|_| edge.admit(trunk) == Admission::Take));
    }

    #[test]
    fn many_phones_past_the_allowance_are_refused_then_a_flood_dropped() {
        let edge = Edge::new(TrunkAcl::new(Vec::new()), Proxies::default());
        let phones = (0..10_000u32).map(|n| IpAddr::from((0xC633_0000u32 + n).to_be_bytes()));
        let said: Vec<Admission> = phones.map(|ip| edge.admit(ip)).collect();
        let count = |what| said.iter().filter(|a| **a == what).count();
        assert!(
            (4_000..4_100).contains(&count(Admission::Take)),
            "{}",
            count(Admission::Take)
        );
        assert!(
            (2_000..2_100).contains(&count(Admission::Refuse)),
            "{}",
            count(Admission::Refuse)
        );
        assert!(count(Admission::Drop) > 3_800, "the rest: {}", count(Admission::Drop));
    }
}
