//! Digest authentication of employees' requests (RFC 3261 §22, RFC 2617 with `qop=auth`):
//! REGISTERs and SUBSCRIBEs are challenged with 401, INVITEs with 407.
//!
//! What a stranger learns and can do here is bounded:
//! - every request without valid credentials gets the same challenge, whether its user exists
//!   or not, and wrong credentials the same 403 (no enumeration of logins);
//! - a nonce is good only from the address it was issued to, and each use of it only once;
//! - the digest's `uri` must name the request's own Request-URI (a response computed for one
//!   request does not authenticate another);
//! - wrong passwords are counted per source and account ([`Guesses`]): a locked pair, or a
//!   source that sprayed many accounts, gets no answer at all for a while;
//! - users' credentials come from the [`Location`] service's memory, never from a database
//!   query a stranger can cause.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, Request, StatusCode};

use super::digest::{Credentials, MemoryLedger, NonceCheck, NonceLedger, Nonces};
use super::location::{Domain, Location};
use crate::tenant::CompanyId;
use crate::throttle::{GuessLimits, Guesses, QuietLog};

/// Which challenge a request gets: a registrar's (401) or a proxy's (407).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Www,
    Proxy,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// His company (a trunk account's: the home company).
    pub company: CompanyId,
    pub id: i64,
    pub username: String,
    /// A trunk's account (a peer PBX or carrier), not an employee.
    pub trunk: bool,
}

/// A final response: its status and extra headers.
pub type Answer = (StatusCode, Vec<Header>);

/// What to do instead of going on.
#[derive(Debug)]
pub enum Refusal {
    /// Answer with this.
    Answer(Answer),
    /// Answer nothing (a source locked out for guessing passwords: its tool just times out).
    Silence,
}

impl Refusal {
    pub fn answer(status: StatusCode, headers: Vec<Header>) -> Self {
        Refusal::Answer((status, headers))
    }
}

impl From<Answer> for Refusal {
    fn from(answer: Answer) -> Self {
        Refusal::Answer(answer)
    }
}

pub struct Authenticator {
    nonces: Nonces,
    ledger: Arc<dyn NonceLedger>,
    location: Arc<dyn Location>,
    /// Trunks that authenticate by digest (their accounts come before employees' logins).
    trunks: super::Trunks,
    guesses: Arc<Guesses>,
    /// Failures are a stranger's to cause: logged at a bounded rate.
    failure_log: QuietLog,
}

impl Authenticator {
    pub fn new(secret: Vec<u8>, location: Arc<dyn Location>, trunks: super::Trunks) -> Self {
        Authenticator {
            nonces: Nonces::new(secret),
            ledger: Arc::new(MemoryLedger::default()),
            location,
            trunks,
            guesses: Arc::new(Guesses::new(GuessLimits::SIP)),
            failure_log: QuietLog::new(20, std::time::Duration::from_secs(10)),
        }
    }

    /// The wrong passwords counted (shared with the other nodes).
    pub fn guesses(&self) -> Arc<Guesses> {
        self.guesses.clone()
    }

    pub(super) fn location(&self) -> &dyn Location {
        self.location.as_ref()
    }

    pub(super) fn location_arc(&self) -> Arc<dyn Location> {
        self.location.clone()
    }

    /// The user the request authenticates as, or what to do instead (challenge, refuse, or
    /// nothing).
    pub async fn authenticate(&self, req: &Request, source: SocketAddr, kind: Challenge) -> Result<User, Refusal> {
        let now = super::unix_secs();
        let ip = source.ip();
        if self.guesses.source_locked(ip).is_some() {
            return Err(Refusal::Silence);
        }
        let domain = self.domain_of(req);
        if let Some(reason) = &domain.suspended {
            return Err(Refusal::answer(StatusCode::Forbidden, vec![suspended_reason(reason)]));
        }
        let realm = domain.realm.as_str();
        let authorization = req.headers.iter().find_map(|h| match (h, kind) {
            (Header::Authorization(a), Challenge::Www) => Some(a.value().to_string()),
            (Header::ProxyAuthorization(a), Challenge::Proxy) => Some(a.value().to_string()),
            _ => None,
        });
        let Some(creds) = authorization.as_deref().and_then(Credentials::parse) else {
            return Err(self.challenge(now, source, false, kind, realm));
        };
        if creds.realm != realm {
            return Err(self.challenge(now, source, false, kind, realm));
        }
        let freshness = self.nonces.check(&creds.nonce, now, ip);
        if freshness == NonceCheck::Invalid {
            return Err(self.challenge(now, source, false, kind, realm));
        }
        if self.guesses.locked(ip, &creds.username).is_some() {
            return Err(Refusal::Silence);
        }
        let method = req.method.to_string();
        // Trunk accounts are the operator's, in the home company's realm.
        let trunk = self
            .trunks
            .account(&creds.username)
            .filter(|_| domain.company == CompanyId::HOME);
        let known = match trunk {
            Some(account) => Some((0, account.ha1.clone())),
            None => self
                .location
                .credentials(domain.company, &creds.username)
                .await
                .map_err(|e| Refusal::Answer(internal(e)))?,
        };
        // An unknown user costs the same hash as a wrong password (no timing to tell them apart).
        let ha1 = known.as_ref().map_or(UNKNOWN_HA1, |(_, ha1)| ha1.as_str());
        let expected = creds.expected_response(ha1, &method);
        let id = match known {
            Some((id, _)) if expected.as_ref() == Some(&creds.response) => id,
            _ => return Err(self.failed(source, &creds.username, &method, "wrong credentials")),
        };
        if !same_target(&creds.uri, &req.uri) {
            // Right for another request: a response captured elsewhere, replayed here.
            tracing::debug!(digest_uri = %creds.uri, request_uri = %req.uri, "digest for another Request-URI");
            return Err(self.failed(source, &creds.username, &method, "digest uri is not the Request-URI"));
        }
        if freshness == NonceCheck::Stale {
            return Err(self.challenge(now, source, true, kind, realm));
        }
        let nc = match (&creds.qop, creds.nonce_count()) {
            (Some(_), Some(nc)) if nc > 0 => nc,
            (Some(_), _) => {
                return Err(Refusal::answer(
                    StatusCode::BadRequest,
                    vec![warning("qop without a valid nc")],
                ));
            }
            // RFC 2069 style: the nonce is good for this one request.
            (None, _) => 0,
        };
        if !self.ledger.first_use(&creds.nonce, nc, now) {
            return Err(self.challenge(now, source, false, kind, realm)); // a replay: start afresh
        }
        self.guesses.succeeded(ip, &creds.username);
        Ok(User {
            company: domain.company,
            id,
            username: creds.username,
            trunk: trunk.is_some(),
        })
    }

    /// The company a request speaks to: by the domain of its Request-URI, From or To.
    pub fn domain_of(&self, req: &Request) -> Domain {
        let from = req.from_header().and_then(|h| h.uri()).ok();
        let to = req.to_header().and_then(|h| h.uri()).ok();
        let hosts: Vec<String> = [Some(req.uri.clone()), from, to]
            .into_iter()
            .flatten()
            .map(|u| u.host_with_port.host.to_string())
            .collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        self.location.domain(&hosts)
    }

    /// The same challenge for every user of a domain, whether he exists or not.
    fn challenge(&self, now: u64, source: SocketAddr, stale: bool, kind: Challenge, realm: &str) -> Refusal {
        let nonce = self.nonces.issue(now, source.ip());
        let stale = if stale { ", stale=true" } else { "" };
        let value = format!(r#"Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"{stale}"#);
        match kind {
            Challenge::Www => Refusal::answer(StatusCode::Unauthorized, vec![Header::WwwAuthenticate(value.into())]),
            Challenge::Proxy => Refusal::answer(
                StatusCode::ProxyAuthenticationRequired,
                vec![Header::ProxyAuthenticate(value.into())],
            ),
        }
    }

    fn failed(&self, source: SocketAddr, username: &str, method: &str, why: &str) -> Refusal {
        if let Some(left_out) = self.failure_log.admit() {
            let username: String = username.chars().take(64).collect();
            tracing::warn!(%source, %username, %method, why, left_out, "authentication failed");
        }
        self.guesses.failed(source.ip(), username);
        // The same answer whatever was wrong (an unknown user, a wrong password, a replay).
        Refusal::answer(StatusCode::Forbidden, vec![warning("wrong credentials")])
    }
}

/// Why a suspended company's request is refused (RFC 3326 Reason).
pub fn suspended_reason(reason: &str) -> Header {
    let text = reason_text(reason);
    Header::Reason(format!(r#"SIP;cause=403;text="company suspended: {text}""#).into())
}

/// Text fit for an RFC 3326 Reason's quoted `text` (it may come from an admin or operator): no
/// quotes, backslashes or control characters, at most 100 characters.
pub fn reason_text(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .take(100)
        .collect()
}

/// Stands in for the HA1 of a user who does not exist.
const UNKNOWN_HA1: &str = "00000000000000000000000000000000";

/// Whether the digest's `uri` names the same resource as the Request-URI: scheme, host and port
/// (5060 when none is written), and the user when it names one (some clients, sipp among them,
/// hash the Request-URI without its user part; the method is in the hash all the same, and the
/// nonce's use is single). Parameters may differ in spelling.
fn same_target(digest_uri: &str, request_uri: &rsipstack::sip::Uri) -> bool {
    let Ok(named) = rsipstack::sip::Uri::try_from(digest_uri) else {
        return false;
    };
    let user = |u: &rsipstack::sip::Uri| u.auth.as_ref().map(|a| a.user.clone());
    let port = |u: &rsipstack::sip::Uri| u.host_with_port.port.as_ref().map_or(5060, |p| p.value());
    let host = |u: &rsipstack::sip::Uri| u.host_with_port.host.to_string().to_ascii_lowercase();
    named.scheme == request_uri.scheme
        && user(&named).is_none_or(|u| Some(u) == user(request_uri))
        && host(&named) == host(request_uri)
        && port(&named) == port(request_uri)
}

/// A `Warning` (RFC 3261 §20.43) explaining a refusal to the person reading the phone's log.
pub fn warning(text: &str) -> Header {
    Header::Warning(format!("399 switchboard \"{text}\"").into())
}

/// The storage behind [`super::Location`] cannot be reached now (the database is away): a
/// request that needs it is to be tried again shortly.
#[derive(Debug, thiserror::Error)]
#[error("the storage is unreachable")]
pub struct Unavailable;

/// What a phone is told to wait before trying again when the storage is unreachable.
const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 10;

/// The answer to a request the storage failed: 503 with Retry-After when it was unreachable
/// (RFC 3261 §21.5.4: the phone tries again, or the proxy another node), else 500.
pub fn internal(e: anyhow::Error) -> Answer {
    if e.downcast_ref::<Unavailable>().is_some() {
        // The heartbeat says in the log that the database is away, not each request.
        tracing::debug!(error = %e, "user storage unreachable");
        let retry = Header::RetryAfter(UNAVAILABLE_RETRY_AFTER_SECS.to_string().into());
        return (
            StatusCode::ServiceUnavailable,
            vec![retry, warning("storage unavailable: try again shortly")],
        );
    }
    tracing::error!(error = %e, "user storage failed");
    (StatusCode::ServerInternalError, vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage that could not be reached asks the phone to try again later; any other
    /// failure is the exchange's own (500).
    #[test]
    fn an_unreachable_storage_is_503_with_retry_after() {
        let unreachable = anyhow::anyhow!("pool timed out").context(Unavailable);
        let (status, headers) = internal(unreachable);
        assert_eq!(status, StatusCode::ServiceUnavailable);
        assert!(
            headers
                .iter()
                .any(|h| matches!(h, Header::RetryAfter(v) if v.value() == "10"))
        );
        assert_eq!(
            internal(anyhow::anyhow!("a refused statement")).0,
            StatusCode::ServerInternalError
        );
    }

    #[test]
    fn the_digest_uri_must_name_the_request_uri() {
        let r = rsipstack::sip::Uri::try_from("sip:127.0.0.1").unwrap();
        assert!(same_target("sip:127.0.0.1:5060", &r));
        assert!(same_target("sip:127.0.0.1;transport=udp", &r));
        assert!(!same_target("sip:127.0.0.1:5070", &r));
        assert!(!same_target("sip:+15550100100@127.0.0.1", &r));
        let invite = rsipstack::sip::Uri::try_from("sip:102@pbx.example").unwrap();
        assert!(same_target("sip:102@PBX.example", &invite));
        assert!(!same_target("sip:103@pbx.example", &invite));
        assert!(
            same_target("sip:pbx.example", &invite),
            "without its user part, as sipp hashes it"
        );
        assert!(!same_target("not a uri", &invite));
    }
}
