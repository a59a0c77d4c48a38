//! Digest authentication of employees' requests (RFC 3261 §22, RFC 2617 with `qop=auth`):
//! REGISTERs are challenged with 401, INVITEs with 407. Failures are counted per source
//! address across both, so guessing passwords through calls is as slow as through REGISTERs.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::sip::{Header, Request, StatusCode};

use super::digest::{Credentials, NonceCheck, Nonces};
use super::location::Location;
use crate::throttle::FailureLimit;

/// Which challenge a request gets: a registrar's (401) or a proxy's (407).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Www,
    Proxy,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
}

/// The answer to give instead of going on.
pub type Refusal = (StatusCode, Vec<Header>);

pub struct Authenticator {
    realm: String,
    nonces: Nonces,
    location: Arc<dyn Location>,
    /// Wrong passwords per source address (shared with the API's logins).
    failures: Arc<FailureLimit>,
}

impl Authenticator {
    pub fn new(realm: String, secret: Vec<u8>, location: Arc<dyn Location>, failures: Arc<FailureLimit>) -> Self {
        Authenticator {
            realm,
            nonces: Nonces::new(secret),
            location,
            failures,
        }
    }

    pub(super) fn location(&self) -> &dyn Location {
        self.location.as_ref()
    }

    /// The user the request authenticates as, or the response that challenges or refuses it.
    pub async fn authenticate(&self, req: &Request, source: SocketAddr, kind: Challenge) -> Result<User, Refusal> {
        let now = super::unix_secs();
        if self.failures.blocked(source.ip()) {
            return Err((
                StatusCode::Forbidden,
                vec![warning("too many failed attempts, try later")],
            ));
        }
        let authorization = req.headers.iter().find_map(|h| match (h, kind) {
            (Header::Authorization(a), Challenge::Www) => Some(a.value().to_string()),
            (Header::ProxyAuthorization(a), Challenge::Proxy) => Some(a.value().to_string()),
            _ => None,
        });
        let Some(creds) = authorization.as_deref().and_then(Credentials::parse) else {
            return Err(self.challenge(now, false, kind));
        };
        if creds.realm != self.realm {
            return Err(self.challenge(now, false, kind));
        }
        let freshness = self.nonces.check(&creds.nonce, now);
        if freshness == NonceCheck::Invalid {
            return Err(self.challenge(now, false, kind));
        }
        let method = req.method.to_string();
        let id = match self.location.credentials(&creds.username).await {
            Ok(Some((id, ha1))) if creds.expected_response(&ha1, &method).as_ref() == Some(&creds.response) => id,
            Ok(_) => return Err(self.failed(source, &creds.username, &method)),
            Err(e) => return Err(internal(e)),
        };
        if freshness == NonceCheck::Stale {
            return Err(self.challenge(now, true, kind));
        }
        if creds.qop.is_some() {
            match creds.nonce_count() {
                Some(nc) if self.nonces.accept_count(&creds.nonce, nc, now) => {}
                Some(_) => return Err(self.challenge(now, false, kind)), // a replayed nc: start afresh
                None => return Err((StatusCode::BadRequest, vec![warning("qop without a valid nc")])),
            }
        }
        Ok(User {
            id,
            username: creds.username,
        })
    }

    fn challenge(&self, now: u64, stale: bool, kind: Challenge) -> Refusal {
        let nonce = self.nonces.issue(now);
        let stale = if stale { ", stale=true" } else { "" };
        let value = format!(
            r#"Digest realm="{}", nonce="{nonce}", algorithm=MD5, qop="auth"{stale}"#,
            self.realm
        );
        match kind {
            Challenge::Www => (StatusCode::Unauthorized, vec![Header::WwwAuthenticate(value.into())]),
            Challenge::Proxy => (
                StatusCode::ProxyAuthenticationRequired,
                vec![Header::ProxyAuthenticate(value.into())],
            ),
        }
    }

    fn failed(&self, source: SocketAddr, username: &str, method: &str) -> Refusal {
        tracing::warn!(%source, %username, %method, "wrong credentials");
        self.failures.failed(source.ip());
        (StatusCode::Forbidden, vec![warning("wrong credentials")])
    }
}

/// A `Warning` (RFC 3261 §20.43) explaining a refusal to the person reading the phone's log.
pub fn warning(text: &str) -> Header {
    Header::Warning(format!("399 switchboard \"{text}\"").into())
}

pub fn internal(e: anyhow::Error) -> Refusal {
    tracing::error!(error = %e, "user storage failed");
    (StatusCode::ServerInternalError, vec![])
}
