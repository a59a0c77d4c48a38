//! The carriers (and peer PBXs) that may deliver calls to the company's numbers, and how each
//! proves it is who it says:
//! - by its signalling address (the transport's peer, see `source.rs`), optionally also with a
//!   required From host (what carriers put there: a second check, never the only one);
//! - or by digest authentication as a trunk account (a peer PBX or a carrier without fixed
//!   addresses): its INVITEs are challenged like a phone's, and once authenticated they are
//!   carrier calls — to the company's numbers only, never out through a trunk.

use std::net::IpAddr;

use ipnet::IpNet;

/// One trunk.
#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    /// Where its INVITEs may come from (empty: only by its account).
    pub addresses: Vec<IpNet>,
    /// The host its From must name (e.g. `sip.carrier.example`), besides the address.
    pub from_host: Option<String>,
    /// A digest account it authenticates with instead of (or besides) its address.
    pub account: Option<TrunkAccount>,
}

/// A trunk's digest credentials: the user name and HA1 in the exchange's realm.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkAccount {
    pub username: String,
    pub ha1: String,
}

impl std::fmt::Debug for TrunkAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkAccount")
            .field("username", &self.username)
            .field("ha1", &"***")
            .finish()
    }
}

/// Every trunk.
#[derive(Debug, Clone, Default)]
pub struct Trunks(Vec<Trunk>);

impl Trunks {
    pub fn new(trunks: Vec<Trunk>) -> Self {
        Trunks(trunks)
    }

    /// Every trunk address (what the edge never throttles).
    pub fn acl(&self) -> super::TrunkAcl {
        super::TrunkAcl::new(self.0.iter().flat_map(|t| t.addresses.iter().copied()).collect())
    }

    /// The trunk a request from `ip` whose From names `from_host` comes from, if any.
    pub fn by_address(&self, ip: IpAddr, from_host: Option<&str>) -> Option<&Trunk> {
        self.0.iter().find(|t| {
            t.addresses.iter().any(|net| net.contains(&ip))
                && t.from_host
                    .as_deref()
                    .is_none_or(|required| from_host.is_some_and(|h| h.eq_ignore_ascii_case(required)))
        })
    }

    /// The trunk with digest account `username`.
    pub fn account(&self, username: &str) -> Option<&TrunkAccount> {
        self.0
            .iter()
            .filter_map(|t| t.account.as_ref())
            .find(|a| a.username == username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trunk_is_known_by_its_address_and_its_from_host_when_it_requires_one() {
        let trunks = Trunks::new(vec![
            Trunk {
                name: "carrier".into(),
                addresses: vec!["192.0.2.0/28".parse().unwrap()],
                from_host: Some("sip.carrier.example".into()),
                account: None,
            },
            Trunk {
                name: "branch".into(),
                addresses: vec![],
                from_host: None,
                account: Some(TrunkAccount {
                    username: "branch".into(),
                    ha1: "x".into(),
                }),
            },
        ]);
        let ip: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(
            trunks
                .by_address(ip, Some("SIP.carrier.example"))
                .map(|t| t.name.as_str()),
            Some("carrier")
        );
        assert!(trunks.by_address(ip, Some("evil.example")).is_none());
        assert!(trunks.by_address(ip, None).is_none());
        assert!(
            trunks
                .by_address("192.0.2.99".parse().unwrap(), Some("sip.carrier.example"))
                .is_none()
        );
        assert!(trunks.account("branch").is_some() && trunks.account("alice").is_none());
        assert!(trunks.acl().allows(ip) && !trunks.acl().allows("198.51.100.1".parse().unwrap()));
        assert!(!format!("{trunks:?}").contains("\"x\""));
    }
}
