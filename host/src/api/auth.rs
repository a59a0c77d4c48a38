//! Who may call the API. Bearer tokens are stored as sha256 hashes; a token given in the
//! configuration, the bootstrap token and tokens an admin makes act for the company (admin);
//! an employee who logs in (`POST /login`, password kept as an Argon2 hash) gets a token of
//! their own, with their role: an `admin` may do everything, a `user` see and edit himself.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use crate::admin::employees::OPERATOR_LOGIN;
use crate::store::{CompanyId, Tenant, TokenRole};
use crate::throttle::{Buckets, GuessLimits, Guesses};

/// The hashes of tokens accepted besides those in the store (from the configuration).
#[derive(Clone, Default)]
pub struct Tokens {
    pub configured: Vec<String>,
}

/// Who a request speaks for (put into the request's extensions by [`require_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    /// An employee with the `user` role.
    User(String),
}

/// The employee whose own login token a request carries (none: an admin or integration token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting(pub Option<String>);

/// The sha256 of the token the request carries (for `POST /logout`).
#[derive(Debug, Clone)]
pub struct Presented(String);

/// The request carries the operator's token (put into the request's extensions by
/// [`require_token`]; the operator's routes take it as an extractor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Operator>()
            .copied()
            .ok_or_else(|| ApiError::forbidden("only the operator of the exchange manages companies"))
    }
}

/// The company a request acts in, as its token says (resolved once, in [`require_token`]):
/// handlers reach company data only through it.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| ApiError::internal("a route outside the token check asked for a company"))
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token to hand out once.
pub fn new_token() -> String {
    format!("sb_{}", hex::encode(rand::random::<[u8; 24]>()))
}

/// The API password as an Argon2id PHC string (slow on purpose: run it off the async threads).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches the PHC string (an empty one matches nothing).
pub async fn password_matches(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

pub async fn require_token(State(s): State<ApiState>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::unauthorized("send `Authorization: Bearer <token>`"));
    };
    let hash = hash_token(token);
    request.extensions_mut().insert(Presented(hash.clone()));
    let (principal, company) = if s.tokens.configured.contains(&hash) {
        request.extensions_mut().insert(Operator);
        (Principal::Admin, CompanyId::HOME)
    } else {
        let now = crate::call::record::unix_ms();
        let Some(owner) = s.store.token_owner(&hash, now).await.map_err(ApiError::internal)? else {
            return Err(ApiError::unauthorized("unknown or expired token"));
        };
        if owner.suspended {
            return Err(ApiError::forbidden(
                "this company is suspended: ask the operator of the exchange",
            ));
        }
        if owner.operator {
            request.extensions_mut().insert(Operator);
        }
        let principal = match owner.who {
            TokenRole::Company => Principal::Admin,
            TokenRole::Employee { role, login } => {
                request.extensions_mut().insert(Acting(Some(login.clone())));
                match role.as_str() {
                    "admin" => Principal::Admin,
                    _ => Principal::User(login),
                }
            }
        };
        (principal, owner.company)
    };
    request.extensions_mut().insert(s.store.company(company));
    if request.extensions().get::<Acting>().is_none() {
        request.extensions_mut().insert(Acting(None));
    }
    if let Principal::User(login) = &principal
        && !user_may(request.method(), request.uri().path(), login)
    {
        return Err(ApiError::forbidden(
            "an employee with the user role may only see and edit himself",
        ));
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Who a token speaks for.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Whoami {
    /// The employee whose login token it is; null for a company's or the operator's token.
    login: Option<String>,
    /// The employee's name (empty when none is set).
    name: String,
    /// `admin` or `user`: what the API lets the token do in its company.
    role: &'static str,
    /// The operator's token: it also manages companies.
    operator: bool,
    company: WhoamiCompany,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WhoamiCompany {
    name: String,
    sip_domain: String,
    /// IANA timezone the company's dates are shown in.
    timezone: String,
}

/// Who this token speaks for: the employee and role, and the company it acts in.
#[utoipa::path(get, path = "/whoami", tag = "employees", responses((status = 200, body = Whoami)))]
pub async fn whoami(
    State(s): State<ApiState>,
    tenant: Tenant,
    principal: axum::Extension<Principal>,
    acting: axum::Extension<Acting>,
    operator: Option<axum::Extension<Operator>>,
) -> Result<axum::Json<Whoami>, ApiError> {
    let name = match &acting.0.0 {
        Some(login) => tenant
            .employee(login, false)
            .await
            .map_err(ApiError::internal)?
            .map(|e| e.fields.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let (company_name, _) = tenant.company_profile().await.map_err(ApiError::internal)?;
    let (timezone, _) = tenant.business_hours().await.map_err(ApiError::internal)?;
    let sip_domain = s
        .companies
        .get(tenant.id())
        .map(|c| c.sip_domain.clone())
        .unwrap_or_default();
    Ok(axum::Json(Whoami {
        login: acting.0.0.clone(),
        name,
        role: match principal.0 {
            Principal::Admin => "admin",
            Principal::User(_) => "user",
        },
        operator: operator.is_some(),
        company: WhoamiCompany {
            name: company_name,
            sip_domain,
            timezone,
        },
    }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    login: String,
    password: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LoginToken {
    /// `Authorization: Bearer <token>` for the employee's requests.
    token: String,
    login: String,
    /// `admin` or `user`.
    role: String,
    /// When the token stops working (Unix ms); a password change ends it sooner.
    expires_at: i64,
}

/// How long a login token works: a working day and a half, then log in again.
pub const LOGIN_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// What keeps `POST /login` from being a password-guessing service or a way to burn the CPU:
/// wrong passwords are counted per (address, login) with growing locks — never per address
/// alone, which behind a reverse proxy is everybody's —, an address may try so many logins a
/// minute whatever the outcome, and only a few Argon2 checks run at once, whoever asks.
pub struct LoginThrottle {
    guesses: Arc<Guesses>,
    attempts: Buckets,
    hashing: tokio::sync::Semaphore,
}

/// What wrong set-password links are counted under.
const SET_PASSWORD: &str = "set-password link";

/// Login attempts an address may make: a burst of 20, then one every 2 s.
const LOGIN_BURST: f64 = 20.0;
const LOGINS_PER_SEC: f64 = 0.5;
/// Argon2 checks at once (each takes a core for tens of milliseconds).
const CONCURRENT_HASHES: usize = 2;

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            guesses: Arc::new(Guesses::new(GuessLimits::API)),
            attempts: Buckets::new(LOGINS_PER_SEC, LOGIN_BURST),
            hashing: tokio::sync::Semaphore::new(CONCURRENT_HASHES),
        }
    }
}

impl LoginThrottle {
    /// The wrong passwords counted (shared with the other nodes).
    pub fn guesses(&self) -> Arc<Guesses> {
        self.guesses.clone()
    }

    /// `Err` (the 429 to send) when `client` may not try to log in as `as_typed` now.
    fn admit(&self, client: std::net::IpAddr, as_typed: &str) -> Result<(), ApiError> {
        if !self.attempts.take(client) {
            return Err(ApiError::too_many(
                "too many logins from this address: try again in a few seconds",
                std::time::Duration::from_secs(3),
            ));
        }
        if let Some(left) = self.guesses.locked(client, as_typed) {
            return Err(ApiError::too_many(
                "too many wrong passwords for this login from this address: try again later",
                left,
            ));
        }
        Ok(())
    }

    /// `Err` (the 429 to send) when `client` may not try a set-password link now: links count
    /// like logins, wrong ones like wrong passwords.
    pub fn admit_link(&self, client: std::net::IpAddr) -> Result<(), ApiError> {
        self.admit(client, SET_PASSWORD)
    }

    /// `client` tried a link that does not work.
    pub fn link_failed(&self, client: std::net::IpAddr) {
        self.guesses.failed(client, SET_PASSWORD);
    }

    /// Whether `token` is an operator's token (the login `operator` gives it as the password),
    /// counted like a password.
    async fn check_operator(&self, s: &ApiState, client: std::net::IpAddr, token: &str) -> Result<bool, ApiError> {
        self.admit(client, OPERATOR_LOGIN)?;
        let hash = hash_token(token);
        let now = crate::call::record::unix_ms();
        let stored = s.store.token_owner(&hash, now).await.map_err(ApiError::internal)?;
        let is_operator = s.tokens.configured.contains(&hash) || stored.is_some_and(|o| o.operator);
        if is_operator {
            self.guesses.succeeded(client, OPERATOR_LOGIN);
        } else {
            self.guesses.failed(client, OPERATOR_LOGIN);
        }
        Ok(is_operator)
    }

    /// Whether `password` is `login`'s (his id) in `tenant`, if `client` may ask now: `Err` is
    /// the 429 to send. Wrong passwords are counted by the login `as_typed` (with its domain).
    pub async fn check(
        &self,
        tenant: &Tenant,
        client: std::net::IpAddr,
        login: &str,
        password: String,
        as_typed: &str,
    ) -> Result<Option<i64>, ApiError> {
        self.admit(client, as_typed)?;
        let known = tenant.api_password(login).await.map_err(ApiError::internal)?;
        // An unknown login is checked against a stand-in hash with the same parameters, so it
        // takes as long to refuse as a wrong password: the timing does not tell which exist.
        let (id, phc, exists) = match known {
            Some((id, phc)) => (id, phc, true),
            None => (0, stand_in_hash().await?, false),
        };
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        if password_matches(password, phc).await && exists {
            self.guesses.succeeded(client, as_typed);
            Ok(Some(id))
        } else {
            self.guesses.failed(client, as_typed);
            Ok(None)
        }
    }
}

/// An employee's own token (`alice`, or `alice@<company domain>`), or the operator's session
/// (login `operator`, an operator's API token as the password). 401 for a wrong login or password (which of the two is not said);
/// 429 after five wrong passwords for one login from one address (for a minute, then longer
/// each time), or more than a burst of logins from one address.
#[utoipa::path(post, path = "/login", tag = "employees", security(()), request_body = LoginBody,
    responses((status = 201, body = LoginToken), (status = 401, description = "wrong login or password", body = ErrorBody),
        (status = 429, description = "too many attempts; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(s): State<ApiState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<axum::Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, axum::Json<LoginToken>), ApiError> {
    let axum::Json(body) = body.map_err(ApiError::from_json)?;
    if body.login == OPERATOR_LOGIN {
        return operator_login(&s, client.ip(), &body.password).await;
    }
    // `alice` logs in to the home company, `alice@acme.example` to the company of that domain;
    // an unknown domain is checked (and refused) like an unknown login.
    let (login, company) = match body.login.rsplit_once('@') {
        Some((login, domain)) => (login, s.companies.by_domain(domain).map(|c| c.id)),
        None => (body.login.as_str(), Some(CompanyId::HOME)),
    };
    // No company has id 0: an unknown domain finds no login, and costs the same hash.
    let tenant = s.store.company(company.unwrap_or(CompanyId(0)));
    let checked = s
        .logins
        .check(&tenant, client.ip(), login, body.password, &body.login)
        .await?;
    let employee = match checked {
        Some(_) => tenant.employee(login, false).await.map_err(ApiError::internal)?,
        None => None,
    };
    let (Some(id), Some(employee)) = (checked, employee) else {
        tracing::warn!(%client, login = %body.login.chars().take(64).collect::<String>(), "wrong API login");
        return Err(ApiError::unauthorized("wrong login or password"));
    };
    let session = LoginSession::new();
    tenant
        .add_login_token(&hash_token(&session.token), id, session.now, session.expires_at)
        .await
        .map_err(ApiError::internal)?;
    Ok(session.answer(employee.login, employee.fields.role))
}

/// A login's new token, made now, ending after [`LOGIN_TOKEN_LIFETIME`].
struct LoginSession {
    token: String,
    now: i64,
    expires_at: i64,
}

impl LoginSession {
    fn new() -> Self {
        let now = crate::call::record::unix_ms();
        LoginSession {
            token: new_token(),
            now,
            expires_at: now + LOGIN_TOKEN_LIFETIME.as_millis() as i64,
        }
    }

    /// `POST /login`'s answer, once the token is kept.
    fn answer(self, login: String, role: String) -> (axum::http::StatusCode, axum::Json<LoginToken>) {
        let token = LoginToken {
            token: self.token,
            login,
            role,
            expires_at: self.expires_at,
        };
        (axum::http::StatusCode::CREATED, axum::Json(token))
    }
}

/// The operator's session: a token of his own that ends like an employee's.
async fn operator_login(
    s: &ApiState,
    client: std::net::IpAddr,
    token: &str,
) -> Result<(axum::http::StatusCode, axum::Json<LoginToken>), ApiError> {
    if !s.logins.check_operator(s, client, token).await? {
        tracing::warn!(%client, "wrong operator token at login");
        return Err(ApiError::unauthorized("wrong login or password"));
    }
    let session = LoginSession::new();
    let hash = hash_token(&session.token);
    s.store
        .add_operator_token(&hash, "operator login", session.now, Some(session.expires_at))
        .await
        .map_err(ApiError::internal)?;
    Ok(session.answer(OPERATOR_LOGIN.into(), "admin".into()))
}

/// Ends the token the request carries (a login's session, typically): it gets 401 from now on.
#[utoipa::path(post, path = "/logout", tag = "employees", responses((status = 204, description = "the token is revoked")))]
pub async fn logout(
    State(s): State<ApiState>,
    presented: axum::Extension<Presented>,
) -> Result<axum::http::StatusCode, ApiError> {
    s.store.forget_token(&presented.0.0).await.map_err(ApiError::internal)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Makes the stand-in hash ahead of the first login (so that one is not slower either).
pub async fn prepare() {
    let _ = stand_in_hash().await;
}

/// An Argon2 hash of a random password, made once, for refusing unknown logins.
async fn stand_in_hash() -> Result<String, ApiError> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_try_init(|| hash_password(hex::encode(rand::random::<[u8; 16]>())))
        .await
        .cloned()
}

/// What an employee with the `user` role may do: read and edit his own employee record, read
/// his phone's access details, and list, hear and delete his voicemail (the handlers show him
/// only what is in his mailbox).
fn user_may(method: &Method, path: &str, login: &str) -> bool {
    match path {
        "/whoami" | "/directory" => return method == Method::GET,
        "/logout" => return method == Method::POST,
        _ => {}
    }
    if path == "/recordings" {
        return method == Method::GET;
    }
    if let Some(id) = path.strip_prefix("/recordings/") {
        return !id.contains('/') && (method == Method::GET || method == Method::PATCH || method == Method::DELETE);
    }
    let Some(rest) = path.strip_prefix("/employees/") else {
        return false;
    };
    if rest == login {
        return method == Method::GET || method == Method::PATCH;
    }
    match rest.strip_prefix(login) {
        Some("/access") | Some("/calls") => method == Method::GET,
        // Logging himself in to or out of his departments.
        Some(membership) => {
            let department = membership.strip_prefix("/departments/");
            method == Method::PUT && department.is_some_and(|d| !d.is_empty() && !d.contains('/'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_reaches_only_himself() {
        assert!(user_may(&Method::GET, "/employees/alice", "alice"));
        assert!(user_may(&Method::PATCH, "/employees/alice", "alice"));
        assert!(!user_may(&Method::DELETE, "/employees/alice", "alice"));
        assert!(!user_may(&Method::GET, "/employees/bob", "alice"));
        assert!(!user_may(&Method::GET, "/employees", "alice"));
        assert!(!user_may(&Method::GET, "/employees/alice/../bob", "alice"));
        assert!(!user_may(&Method::GET, "/calls", "alice"));
        assert!(user_may(&Method::GET, "/employees/alice/access", "alice"));
        assert!(!user_may(&Method::GET, "/employees/bob/access", "alice"));
        assert!(user_may(&Method::GET, "/employees/alice/calls", "alice"));
        assert!(!user_may(&Method::GET, "/employees/bob/calls", "alice"));
        assert!(user_may(&Method::PUT, "/employees/alice/departments/sales", "alice"));
        assert!(!user_may(&Method::PUT, "/employees/bob/departments/sales", "alice"));
        assert!(!user_may(&Method::PUT, "/employees/alicex/departments/sales", "alice"));
        assert!(!user_may(
            &Method::DELETE,
            "/employees/alice/departments/sales",
            "alice"
        ));
        assert!(!user_may(&Method::PUT, "/employees/alice/departments/sales/x", "alice"));
        assert!(!user_may(&Method::GET, "/employees/alicex/access", "alice"));
        assert!(!user_may(&Method::PATCH, "/employees/alice/access", "alice"));
        assert!(user_may(&Method::GET, "/recordings", "alice"));
        assert!(user_may(&Method::DELETE, "/recordings/r1", "alice"));
        assert!(!user_may(&Method::POST, "/recordings", "alice"));
        assert!(!user_may(&Method::GET, "/recordings/r1/x", "alice"));
    }

    #[tokio::test]
    async fn passwords_are_checked_against_their_hash() {
        let phc = hash_password("correct-horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(password_matches("correct-horse".into(), phc.clone()).await);
        assert!(!password_matches("battery".into(), phc).await);
        assert!(!password_matches("".into(), String::new()).await);
    }
}
