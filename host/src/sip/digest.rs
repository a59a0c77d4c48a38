//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617): MD5 with `qop=auth`.
//!
//! - Only HA1 = MD5(user:realm:password) is stored, never a password.
//! - Nonces carry their issue time and an HMAC of it (and of the client's address) under a
//!   shared secret, so any node holding the secret can check them without shared state; an old
//!   nonce is answered `stale=true`.
//! - `nc` is a 32-bit hex counter (a phone's 256th request on one nonce is fine); each nonce
//!   keeps a 64-wide replay window, and a response without `qop` uses its nonce up.
//!
//! Written here rather than taken from rsipstack because its verifier wants the plaintext
//! password and reads `nc` into a byte.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use parking_lot::Mutex;
use sha2::Sha256;

/// How long a nonce is good for.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

pub fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// HA1 for a user's credentials in a realm.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{realm}:{password}"))
}

/// The fields of an `Authorization: Digest ...` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    /// As sent (8 hex digits): the hash uses the text, the replay check its value.
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Parses `Digest k=v, k="v", ...`; `None` when it is not a digest header or misses fields.
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header
            .trim()
            .strip_prefix("Digest")
            .or_else(|| header.trim().strip_prefix("digest"))?;
        let mut c = Credentials::default();
        for (key, value) in params(rest)? {
            match key.to_ascii_lowercase().as_str() {
                "username" => c.username = value,
                "realm" => c.realm = value,
                "nonce" => c.nonce = value,
                "uri" => c.uri = value,
                "response" => c.response = value.to_ascii_lowercase(),
                "algorithm" => c.algorithm = Some(value),
                "qop" => c.qop = Some(value),
                "nc" => c.nc = Some(value),
                "cnonce" => c.cnonce = Some(value),
                _ => {}
            }
        }
        let complete = ![&c.username, &c.realm, &c.nonce, &c.uri, &c.response]
            .iter()
            .any(|f| f.is_empty());
        complete.then_some(c)
    }

    /// The response a client knowing `ha1` computes for `method`.
    pub fn expected_response(&self, ha1: &str, method: &str) -> Option<String> {
        if self
            .algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return None;
        }
        let ha2 = md5_hex(&format!("{method}:{}", self.uri));
        Some(match self.qop.as_deref() {
            None => md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (nc, cnonce) = (self.nc.as_deref()?, self.cnonce.as_deref()?);
                md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
            }
            Some(_) => return None, // auth-int is not offered
        })
    }

    /// The `nc` value, when present and well-formed.
    pub fn nonce_count(&self) -> Option<u32> {
        self.nc.as_deref().and_then(|nc| u32::from_str_radix(nc, 16).ok())
    }
}

/// `k=v` pairs separated by commas; values may be quoted (with `\` escapes).
fn params(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return None;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => v.push(chars.next()?),
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',' && !c.is_whitespace())).collect()
        };
        out.push((key, value));
    }
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    /// Ours, but too old: challenge again with `stale=true` (the password was right).
    Stale,
    /// Not ours, forged, or issued to another address.
    Invalid,
}

/// Issues and checks nonces. A nonce carries its issue time and a random salt, bound with an
/// HMAC to the address it was issued to: any node holding the secret can check it without
/// shared state, and a nonce a stranger fetched from his own address is no good from an address
/// he spoofs (so his wrong guesses count against him, never against the address he names).
pub struct Nonces {
    secret: Vec<u8>,
}

impl Nonces {
    pub fn new(secret: Vec<u8>) -> Self {
        Nonces { secret }
    }

    fn mac(&self, issued_at: u64, salt: &str, client: IpAddr) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(&issued_at.to_be_bytes());
        mac.update(salt.as_bytes());
        match client {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A fresh nonce for a challenge to `client` at `now` (Unix seconds): no two challenges
    /// share a nonce, nor its `nc` window.
    pub fn issue(&self, now: u64, client: IpAddr) -> String {
        let salt = hex::encode(rand::random::<[u8; 8]>());
        format!("{now:016x}{salt}{}", self.mac(now, &salt, client))
    }

    pub fn check(&self, nonce: &str, now: u64, client: IpAddr) -> NonceCheck {
        if nonce.len() != 64 || !nonce.is_ascii() {
            return NonceCheck::Invalid;
        }
        let (time, salt, mac) = (&nonce[..16], &nonce[16..32], &nonce[32..]);
        let Ok(issued_at) = u64::from_str_radix(time, 16) else {
            return NonceCheck::Invalid;
        };
        if mac != self.mac(issued_at, salt, client) || issued_at > now + 5 {
            return NonceCheck::Invalid;
        }
        if now - issued_at.min(now) > NONCE_LIFETIME.as_secs() {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

/// Which uses of each nonce were seen, so that no request can be replayed: with `qop`, each
/// `nc` once; without `qop` (RFC 2069 clients), the nonce itself once. A trait, so that several
/// nodes can share one ledger (in the database) as they share the nonce secret.
pub trait NonceLedger: Send + Sync {
    /// Records use `nc` of `nonce` (0 for a response without `qop`); false when it was used
    /// already (a replay).
    fn first_use(&self, nonce: &str, nc: u32, now: u64) -> bool;
}

/// The ledger of one node: a 64-wide window of `nc` values per nonce, for the nonce's lifetime.
///
/// Nonces are remembered by a keyed 64-bit hash (a collision would at worst refuse one request
/// as a replay, and nobody outside can aim for one), and forgotten once they are stale: a stale
/// nonce is answered with a new challenge before the ledger is asked. Only requests with right
/// credentials reach the ledger, so what it holds is bounded by the real callers' rate.
#[derive(Default)]
pub struct MemoryLedger {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    hasher: std::hash::RandomState,
    windows: HashMap<u64, ReplayWindow>,
    /// When the stale ones were last forgotten (seconds): at most once a second, as one pass
    /// costs the whole map.
    pruned_at: u64,
}

/// The highest `nc` seen and a bitmap of the 64 below it.
#[derive(Debug, Clone, Copy, Default)]
struct ReplayWindow {
    highest: u32,
    bits: u64,
    first_seen: u64,
}

/// A nonce first seen this long ago is stale by now: its lifetime, plus the 5 s a nonce's time
/// may run ahead of this node's clock (another node's nonce), plus a margin.
const FORGET_AFTER_SECS: u64 = NONCE_LIFETIME.as_secs() + 10;

impl NonceLedger for MemoryLedger {
    fn first_use(&self, nonce: &str, nc: u32, now: u64) -> bool {
        use std::hash::BuildHasher;
        let mut seen = self.seen.lock();
        if seen.windows.len() > 10_000 && now > seen.pruned_at {
            seen.pruned_at = now;
            seen.windows
                .retain(|_, w| now.saturating_sub(w.first_seen) <= FORGET_AFTER_SECS);
        }
        let key = seen.hasher.hash_one(nonce);
        let w = seen.windows.entry(key).or_insert(ReplayWindow {
            first_seen: now,
            ..Default::default()
        });
        if nc > w.highest {
            let shift = nc - w.highest;
            w.bits = if shift >= 64 { 0 } else { w.bits << shift };
            w.bits |= 1;
            w.highest = nc;
            return true;
        }
        let back = w.highest - nc;
        if back >= 64 || w.bits & (1 << back) != 0 {
            return false;
        }
        w.bits |= 1 << back;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example, with SIP's method in HA2.
    #[test]
    fn computes_the_rfc_2617_response() {
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = Credentials::parse(header).unwrap();
        let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(c.expected_response(&ha1, "GET").unwrap(), c.response);
        assert_eq!(c.nonce_count(), Some(1));
    }

    #[test]
    fn refuses_incomplete_or_foreign_headers() {
        assert!(Credentials::parse("Basic QWxhZGRpbjpvcGVu").is_none());
        assert!(Credentials::parse(r#"Digest username="a", realm="r""#).is_none());
        assert!(Credentials::parse(r#"Digest username="a, realm="r"#).is_none());
        let sha = r#"Digest username="a", realm="r", nonce="n", uri="sip:x", response="f", algorithm=SHA-256"#;
        assert_eq!(
            Credentials::parse(sha).unwrap().expected_response("x", "REGISTER"),
            None
        );
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let nonces = Nonces::new(b"secret".to_vec());
        let (client, spoofed): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let n = nonces.issue(1_000, client);
        assert_eq!(nonces.check(&n, 1_100, client), NonceCheck::Valid);
        assert_eq!(
            nonces.check(&n, 1_000 + NONCE_LIFETIME.as_secs() + 1, client),
            NonceCheck::Stale
        );
        assert_eq!(
            nonces.check(&n, 1_100, spoofed),
            NonceCheck::Invalid,
            "issued to another address"
        );
        let other = Nonces::new(b"other".to_vec());
        assert_eq!(other.check(&n, 1_100, client), NonceCheck::Invalid);
        assert_eq!(
            nonces.check("0000000000000001deadbeef", 1_100, client),
            NonceCheck::Invalid
        );
        assert_eq!(nonces.check("", 1_100, client), NonceCheck::Invalid);
        assert_ne!(
            nonces.issue(1_000, client),
            nonces.issue(1_000, client),
            "two challenges, two nonces"
        );
        let mut tampered = n.clone().into_bytes();
        tampered[20] = if tampered[20] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            nonces.check(std::str::from_utf8(&tampered).unwrap(), 1_100, client),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn nonce_counts_replay_window_and_no_limit_at_255() {
        let ledger = MemoryLedger::default();
        for nc in 1..=300 {
            assert!(ledger.first_use("n", nc, 0), "nc {nc}");
        }
        assert!(!ledger.first_use("n", 300, 0), "replay");
        assert!(!ledger.first_use("n", 290, 0), "replay inside the window");
        assert!(ledger.first_use("n", 310, 0));
        assert!(ledger.first_use("n", 305, 0), "late but unseen");
        assert!(!ledger.first_use("n", 200, 0), "older than the window");
    }

    #[test]
    fn stale_nonces_are_forgotten_and_live_ones_kept() {
        let ledger = MemoryLedger::default();
        for n in 0..10_001 {
            assert!(ledger.first_use(&format!("old{n}"), 1, 0));
        }
        assert!(ledger.first_use("live", 1, FORGET_AFTER_SECS));
        // Past the lifetime of the first ones: the next use prunes them.
        assert!(ledger.first_use("new", 1, FORGET_AFTER_SECS + 1));
        assert_eq!(ledger.seen.lock().windows.len(), 2, "only the two nonces still alive");
        assert!(
            !ledger.first_use("live", 1, FORGET_AFTER_SECS + 2),
            "a live nonce's replay is still caught"
        );
    }

    #[test]
    fn a_response_without_qop_uses_its_nonce_up() {
        let ledger = MemoryLedger::default();
        assert!(ledger.first_use("m", 0, 0));
        assert!(!ledger.first_use("m", 0, 0), "the same response again is a replay");
    }
}
