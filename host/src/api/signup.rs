//! The public sign-up, off unless the operator starts the exchange with `--signup`: a stranger
//! registers a company, which gets a test SIP domain under the operator's, the sign-up plan's
//! limits, and a first admin without a password. The set-password link goes only to the
//! address given, so whoever signs up with someone else's address gets nothing he can use; the
//! link's host is the operator's `--public-url`, never the request's `Host`.
//!
//! What a stranger can make the exchange hold or send is bounded: a few sign-ups per address
//! and a few an hour for everybody together (each is a company in the store and a mail out).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::companies::NewCompany;
use super::employees::NewEmployee;
use super::error::{ApiError, ErrorBody};
use crate::store::Plan;
use crate::throttle::{Buckets, Rate};

/// Sign-ups one address may make: 3 at once, then one every 20 minutes.
const PER_SOURCE_BURST: f64 = 3.0;
const PER_SOURCE_PER_SEC: f64 = 1.0 / 1200.0;
/// Sign-ups from everybody together: 20 at once, then 20 an hour.
const OVERALL_BURST: f64 = 20.0;
const OVERALL_PER_SEC: f64 = 20.0 / 3600.0;

/// Whether sign-up is open, and what keeps it from being a spam cannon.
pub struct SignupDesk {
    open: bool,
    per_source: Buckets,
    overall: Rate,
}

impl SignupDesk {
    pub fn new(open: bool) -> Self {
        SignupDesk {
            open,
            per_source: Buckets::new(PER_SOURCE_PER_SEC, PER_SOURCE_BURST),
            overall: Rate::new(OVERALL_PER_SEC, OVERALL_BURST),
        }
    }

    fn is_open(&self) -> Result<(), ApiError> {
        match self.open {
            true => Ok(()),
            false => Err(ApiError::not_found(
                "sign-up",
                "this exchange (the operator has not opened it)",
            )),
        }
    }

    fn admit(&self, client: std::net::IpAddr) -> Result<(), ApiError> {
        if !self.per_source.take(client) {
            return Err(ApiError::too_many(
                "too many sign-ups from this address: try again later",
                Duration::from_secs(1200),
            ));
        }
        if !self.overall.take() {
            return Err(ApiError::too_many(
                "too many sign-ups on this exchange just now: try again later",
                Duration::from_secs(300),
            ));
        }
        Ok(())
    }
}

/// What a company signed up by itself may use until the operator changes its plan.
pub fn signup_plan() -> Plan {
    Plan {
        max_employees: Some(10),
        max_numbers: Some(2),
        max_calls: Some(4),
        max_flow_versions: Some(5),
        max_storage_bytes: Some(100 << 20),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignupInfo {
    /// Sign-up is open (else 404).
    open: bool,
    /// Test domains are made under it: `<company>.<domain>`.
    domain: String,
    /// What a new company may use.
    plan: Plan,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// The company's name (its test domain is made from it).
    #[schema(max_length = 200)]
    company: String,
    /// The first admin's name.
    #[serde(default)]
    #[schema(max_length = 200)]
    name: String,
    /// Where the link to set the admin's password goes.
    email: String,
    /// The first admin's login [default: `admin`].
    #[serde(default)]
    #[schema(pattern = r"^[a-z0-9._-]{1,64}$")]
    login: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SignedUp {
    company: String,
    /// Its test SIP domain: phones register to it.
    sip_domain: String,
    /// What the admin logs in to the console with (`login@domain`).
    login: String,
    /// The console's address.
    console: String,
    /// The set-password link was mailed to `email`.
    mailed: bool,
}

/// Whether sign-up is open, the domain test domains are made under, and the plan new
/// companies get.
#[utoipa::path(get, path = "/signup", tag = "operator", security(()),
    responses((status = 200, body = SignupInfo), (status = 404, description = "sign-up is off", body = ErrorBody)))]
pub async fn info(State(s): State<ApiState>) -> Result<Json<SignupInfo>, ApiError> {
    s.signup.is_open()?;
    Ok(Json(SignupInfo {
        open: true,
        domain: s.operator_domain.clone(),
        plan: signup_plan(),
    }))
}

/// Register a company: it gets a test domain and the sign-up plan, and its first admin a mail
/// with the console's address, his login and a one-time link to set his password.
#[utoipa::path(post, path = "/signup", tag = "operator", security(()), request_body = SignupBody,
    responses((status = 201, body = SignedUp), (status = 404, description = "sign-up is off", body = ErrorBody),
        (status = 409, description = "a company of that name has the test domain already", body = ErrorBody),
        (status = 422, description = "names the field at fault", body = ErrorBody),
        (status = 429, description = "too many sign-ups from this address or on the exchange", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Result<Json<SignupBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    s.signup.is_open()?;
    let Json(body) = body.map_err(ApiError::from_json)?;
    // What is plainly wrong costs nobody a sign-up.
    if body.company.trim().is_empty() {
        return Err(ApiError::unprocessable("company", "give the company's name"));
    }
    let email = body.email.trim().to_owned();
    if !crate::admin::employees::is_email(&email) {
        return Err(ApiError::unprocessable(
            "email",
            "give an e-mail address: the link to set your password goes there",
        ));
    }
    let login = body.login.unwrap_or_else(|| "admin".into());
    crate::admin::employees::check_login(&login)?;
    s.signup.admit(client.ip())?;
    let company = NewCompany::signed_up(
        body.company.trim().to_owned(),
        signup_plan(),
        NewEmployee::first_admin(login, body.name.trim().to_owned(), email),
    );
    let created = super::companies::found(&s, &headers, company).await?;
    let (company, admin) = created.parts();
    let mailed = admin.password_link.as_ref().is_some_and(|l| l.mailed);
    let base = s.public_url.clone().unwrap_or_default();
    tracing::info!(domain = %company.sip_domain, %client, "company signed up");
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            login: super::employees::console_login(&s, company.id, &admin.employee.login),
            company: company.name.clone(),
            sip_domain: company.sip_domain.clone(),
            console: format!("{base}/console/"),
            mailed,
        }),
    ))
}
