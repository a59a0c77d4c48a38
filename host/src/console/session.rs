//! Who is at the browser: the session cookie holds a login token the API issued (`POST /login`),
//! so a session ends exactly when the API's token does (expiry, logout, a new password). Forms
//! carry a CSRF token derived from the session's; the cookie is `SameSite=Strict` as well.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Console;
use super::api::{Caller, Refusal};

/// The session cookie's name.
pub const COOKIE: &str = "sb_session";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// A form's body is at most this long (an uploaded flow goes through its own route).
const MAX_FORM_BYTES: usize = 1 << 20;

/// A logged-in browser.
pub struct Session {
    token: String,
    pub client: SocketAddr,
    /// The host the browser asked for.
    host: Option<String>,
    /// `GET /whoami`: login, name, role, operator, company (name, domain, timezone).
    pub who: Value,
}

impl Session {
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            token: Some(&self.token),
            client: self.client,
            host: self.host.as_deref(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.who["role"] == "admin"
    }

    /// The employee logged in; none for the operator.
    pub fn login(&self) -> Option<&str> {
        self.who["login"]
            .as_str()
            .filter(|l| *l != crate::admin::employees::OPERATOR_LOGIN)
    }

    /// The token every form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_of(&self.token)
    }

    /// The company's timezone (dates are shown in it).
    pub fn timezone(&self) -> &str {
        self.who["company"]["timezone"].as_str().unwrap_or("UTC")
    }

    /// What every page's layout needs.
    pub fn frame(&self, section: &str) -> Value {
        json!({
            "who": self.who,
            "csrf": self.csrf(),
            "section": section,
            "tz": self.timezone(),
            "admin": self.is_admin(),
        })
    }
}

/// One-way from the session's token, so a page's HTML never shows the token itself.
fn csrf_of(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"switchboard console csrf\0")
        .chain_update(token.as_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// The browser's address (the API throttles logins by it).
pub fn client_of(parts: &Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// The `Host` the browser asked for.
pub fn host_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The value of cookie `name`, if the request sent it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for a new session (`None`: the one that ends it).
pub fn session_cookie(token: Option<&str>, secure: bool, lifetime_secs: u64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(token) => format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={lifetime_secs}{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// `response` setting the session cookie to `token` (`None`: ending it), `Secure` when the
/// request with `headers` came over TLS.
pub fn with_session_cookie(mut response: Response, token: Option<&str>, headers: &HeaderMap) -> Response {
    let lifetime = crate::api::LOGIN_TOKEN_LIFETIME.as_secs();
    let cookie = session_cookie(token, over_tls(headers), lifetime);
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether the browser reached us over TLS (a reverse proxy in front says so): the cookie is
/// then `Secure`. A forged header only makes the forger's own cookie stricter.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// To the login page, coming back to `uri` after it.
fn to_login(parts: &Parts, clear: bool) -> Response {
    let back = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/console/");
    let target = format!("/console/login?next={}", super::api::encode(back));
    let response = Redirect::to(&target).into_response();
    match clear {
        true => with_session_cookie(response, None, &parts.headers),
        false => response,
    }
}

impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let client = client_of(parts);
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(to_login(parts, false));
        };
        let host = host_of(&parts.headers);
        let caller = Caller {
            token: Some(&token),
            client,
            host: host.as_deref(),
        };
        match console.api.call(caller, Method::GET, "/whoami", None).await {
            Ok(who) => Ok(Session {
                token,
                client,
                host,
                who,
            }),
            Err(refusal) if refusal.is_unauthorized() => Err(to_login(parts, true)),
            Err(refusal) => Err(super::failure_page(&refusal)),
        }
    }
}

/// A submitted form: its session, checked against cross-site requests, and its fields.
pub struct Posted {
    pub session: Session,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of `name` (empty when absent).
    pub fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The fields to show again in a refused form: never a password or the CSRF token.
    pub fn echo(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .filter(|(k, _)| !k.contains("password") && k != CSRF_FIELD)
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        )
    }

    /// `name` as a whole number of seconds (`None` when empty); else the refusal, saying `why`
    /// beside the field.
    pub fn seconds(&self, name: &str, why: &str) -> Result<Option<i64>, Refusal> {
        match self.given(name) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| Refusal::invalid(name, why)),
        }
    }

    /// `name` trimmed, `None` when empty.
    pub fn given(&self, name: &str) -> Option<&str> {
        Some(self.field(name).trim()).filter(|v| !v.is_empty())
    }
}

/// The session a form was sent in, if the form came from this site.
async fn form_session(parts: &mut Parts, console: &Console) -> Result<Session, Response> {
    let session = Session::from_request_parts(parts, console).await?;
    if !same_origin(&parts.headers) {
        return Err(forbidden("the form came from another site"));
    }
    Ok(session)
}

/// Whether `sent` is `session`'s CSRF token (compared in constant time).
fn csrf_matches(session: &Session, sent: &str) -> bool {
    use subtle::ConstantTimeEq;
    sent.as_bytes().ct_eq(session.csrf().as_bytes()).into()
}

/// Why a form without its session's CSRF token is refused.
const STALE_FORM: &str = "the form's security token is missing or stale: reload the page and send it again";

impl FromRequest<Console> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = form_session(&mut parts, console).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| forbidden("the form is too large"))?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let sent = fields
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !csrf_matches(&session, sent) {
            return Err(forbidden(STALE_FORM));
        }
        Ok(Posted { session, fields })
    }
}

/// A submitted upload form (multipart): its session, checked like [`Posted`]'s — the CSRF token
/// is the form's first field — and the rest of its fields, to read in order.
pub struct Upload {
    pub session: Session,
    pub fields: axum::extract::Multipart,
}

impl FromRequest<Console> for Upload {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = form_session(&mut parts, console).await?;
        let request = Request::from_parts(parts, body);
        let mut fields = axum::extract::Multipart::from_request(request, console)
            .await
            .map_err(|_| forbidden("the form is not an upload form"))?;
        let first = fields.next_field().await.ok().flatten();
        let sent = match first {
            Some(field) if field.name() == Some(CSRF_FIELD) => field.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        if !csrf_matches(&session, &sent) {
            return Err(forbidden(STALE_FORM));
        }
        Ok(Upload { session, fields })
    }
}

/// A browser names the page a form came from in `Origin`; when it does, it must be this host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    !host.is_empty() && origin_host == host
}

/// The page for a request the console refuses itself (403).
pub fn forbidden(why: &str) -> Response {
    super::failure_page(&Refusal::forbidden(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; sb_session=sb_abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("sb_abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn the_csrf_token_is_per_session_and_hides_the_token() {
        let a = csrf_of("sb_one");
        assert_eq!(a, csrf_of("sb_one"));
        assert_ne!(a, csrf_of("sb_two"));
        assert!(!a.contains("sb_one"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn a_form_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = session_cookie(Some("sb_x"), false, 60);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(session_cookie(Some("sb_x"), true, 60).ends_with("; Secure"));
        assert!(session_cookie(None, false, 0).contains("Max-Age=0"));
    }
}
