//! Employees: created with a password (kept only as the SIP digest hash), edited, removed.

use crate::store::Tenant;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Acting;
use super::auth::hash_password;
use super::error::{ApiError, ErrorBody};
use super::{ApiState, Principal};
use crate::call::record::unix_ms;
use crate::store::{Employee, EmployeeFields, MemberState, Secrets};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmployee {
    /// SIP user name and API login: lower-case letters, digits, `.`, `_`, `-`.
    #[schema(pattern = r"^[a-z0-9._-]{1,64}$")]
    login: String,
    /// At least 8 characters; kept only as hashes. Left out, the employee sets his own through
    /// a one-time link (`password_link` in the answer, and in his access-details mail).
    #[serde(default)]
    password: String,
    /// 2 to 6 digits, unique across employees and departments (a company's first admin,
    /// left out: 100).
    #[serde(default)]
    #[schema(pattern = r"^[0-9]{2,6}$")]
    pub(super) extension: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    name: String,
    /// `admin` or `user`.
    #[serde(default = "user")]
    #[schema(pattern = r"^(admin|user)$")]
    pub(super) role: String,
    #[serde(default)]
    email: String,
    /// E.164, or empty.
    #[serde(default)]
    #[schema(pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    mobile: String,
    /// Ring the mobile this many seconds after the desk phones (needs `mobile`).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 300)]
    mobile_after_secs: Option<i64>,
    /// E.164 shown to the people he calls outside; empty: the company's main number.
    #[serde(default)]
    #[schema(pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    caller_id: String,
    /// Job title, shown in the company directory.
    #[serde(default)]
    #[schema(max_length = 100)]
    position: String,
}

impl NewEmployee {
    /// A company's first admin as the public sign-up makes him: no password (he sets his own
    /// through the link mailed to him), extension 100.
    pub(super) fn first_admin(login: String, name: String, email: String) -> Self {
        NewEmployee {
            login,
            password: String::new(),
            extension: "100".into(),
            name,
            role: "admin".into(),
            email,
            mobile: String::new(),
            mobile_after_secs: None,
            caller_id: String::new(),
            position: String::new(),
        }
    }
}

fn user() -> String {
    "user".into()
}

/// `PATCH` body: only what is given changes; `mobile_after_secs: null` stops ringing the mobile.
/// A new `password` ends the employee's login tokens; changing one's own needs
/// `current_password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmployeeChange {
    password: Option<String>,
    /// The password now, when an employee changes his own.
    current_password: Option<String>,
    extension: Option<String>,
    name: Option<String>,
    role: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    /// Only an admin changes it.
    #[schema(pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    caller_id: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<i64>)]
    mobile_after_secs: Option<Option<i64>>,
    /// Job title, shown in the company directory (an admin sets it).
    position: Option<String>,
    /// Do not disturb: departments skip him (his phone's `*78` and `*79` set it too).
    dnd: Option<bool>,
    /// How far he may call out: `internal`, `local`, `mobile`, `national` or `international`
    /// (each includes those before it; the company's rules still apply); empty: his
    /// departments' right, else the company's rules alone. Only an admin changes it.
    calling_rights: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmployeeList {
    employees: Vec<Employee>,
}

/// Create an employee; the password becomes the phone's SIP digest hash and the API's Argon2
/// hash, never kept in clear.
#[utoipa::path(post, path = "/employees", tag = "employees", request_body = NewEmployee,
    responses((status = 201, body = Employee),
        (status = 409, description = "the company's plan has room for no more employees (`max_employees`)", body = ErrorBody),
        (status = 422, description = "a field is invalid or taken", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    tenant: Tenant,
    headers: axum::http::HeaderMap,
    body: Result<Json<NewEmployee>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedEmployee>), ApiError> {
    let Json(e) = body.map_err(ApiError::from_json)?;
    let created = add(&s, &tenant, &headers, e).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A new employee, with his set-password link when he was created without a password.
#[derive(Serialize, ToSchema)]
pub struct CreatedEmployee {
    #[serde(flatten)]
    pub employee: Employee,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_link: Option<PasswordLinkView>,
}

/// A one-time link to the console's page where the employee sets his password.
#[derive(Serialize, ToSchema)]
pub struct PasswordLinkView {
    /// Give it to him alone: whoever opens it first sets the password.
    link: String,
    /// Unix ms; after it the link does nothing.
    expires_at: i64,
    /// It went to his e-mail address (with mail on and an address).
    pub(super) mailed: bool,
}

/// How long a set-password link works.
const PASSWORD_LINK_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Where the console is, as the people who get its links reach it: the configured public URL,
/// else the address the request came to.
fn console_base(s: &ApiState, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = &s.public_url {
        return url.clone();
    }
    let host = request_authority(headers).map_or_else(|| "localhost".into(), |a| a.to_string());
    format!("http://{host}")
}

/// What `login` of `company` types at the console's login: the login alone in the operator's
/// own company, else with the company's domain after it (`api/auth.rs` splits it there).
pub(super) fn console_login(s: &ApiState, company: crate::tenant::CompanyId, login: &str) -> String {
    match company {
        crate::tenant::CompanyId::HOME => login.to_owned(),
        _ => format!("{login}@{}", s.companies.realm(company)),
    }
}

/// The host and port the request was sent to (its `Host`), when it names one.
fn request_authority(headers: &axum::http::HeaderMap) -> Option<axum::http::uri::Authority> {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse().ok())
}

/// A fresh one-time link for `employee` (his earlier ones end), mailed to him when it can be.
async fn password_link(
    s: &ApiState,
    tenant: &Tenant,
    headers: &axum::http::HeaderMap,
    employee: &Employee,
) -> Result<PasswordLinkView, ApiError> {
    let token = super::new_token();
    let now = unix_ms();
    let expires_at = now + PASSWORD_LINK_LIFETIME_MS;
    tenant
        .add_password_link(&super::hash_token(&token), &employee.login, now, expires_at)
        .await
        .map_err(ApiError::internal)?;
    let link = format!("{}/console/set-password/{token}", console_base(s, headers));
    let mailed = mail_access_details(s, tenant, headers, employee, Some(&link)).await;
    Ok(PasswordLinkView {
        link,
        expires_at,
        mailed,
    })
}

/// A new one-time link for the employee to set his password (the earlier ones end); mailed to
/// him with his access details when he has an address and mail is on.
#[utoipa::path(post, path = "/employees/{login}/password-link", tag = "employees", params(("login" = String, Path)),
    responses((status = 201, body = PasswordLinkView), (status = 404, description = "no such employee", body = ErrorBody)))]
pub async fn new_password_link(
    State(s): State<ApiState>,
    tenant: Tenant,
    headers: axum::http::HeaderMap,
    Path(login): Path<String>,
) -> Result<(StatusCode, Json<PasswordLinkView>), ApiError> {
    let Some(employee) = tenant.employee(&login, false).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("employee", &login));
    };
    let view = password_link(&s, &tenant, &headers, &employee).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The token at the end of the link.
    token: String,
    /// At least 8 characters.
    password: String,
}

/// The employee sets his password with his one-time link (no other credential): it works
/// once, and ends every session of his. 404 for a link unknown, used or expired; attempts are
/// throttled per address like logins.
#[utoipa::path(post, path = "/set-password", tag = "employees", security(()), request_body = SetPassword,
    responses((status = 204, description = "the password is set"), (status = 404, description = "no such link (used, expired or never made)", body = ErrorBody),
        (status = 422, description = "the password is too short", body = ErrorBody), (status = 429, description = "too many attempts", body = ErrorBody)))]
pub async fn set_password(
    State(s): State<ApiState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<Json<SetPassword>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    s.logins.admit_link(client.ip())?;
    let hash = super::hash_token(&body.token);
    let Some(link) = s
        .store
        .password_link(&hash, unix_ms())
        .await
        .map_err(ApiError::internal)?
    else {
        s.logins.link_failed(client.ip());
        return Err(ApiError::not_found("link", "(used, expired or never made)"));
    };
    crate::admin::employees::check_password(&body.password)?;
    let tenant = s.store.company(link.company);
    let ha1 = crate::sip::digest::ha1(&link.login, &s.companies.realm(link.company), &body.password);
    let api_password = hash_password(body.password).await?;
    // Used up before the password changes: two tabs sending it at once set it once.
    if !s.store.use_password_link(&hash).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found("link", "(used, expired or never made)"));
    }
    let Some(employee) = tenant.employee(&link.login, false).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("link", "(used, expired or never made)"));
    };
    let secrets = Secrets {
        ha1: &ha1,
        api_password: &api_password,
    };
    tenant
        .update_employee(&link.login, &employee.fields, Some(secrets))
        .await
        .map_err(ApiError::internal)?;
    tenant
        .revoke_login_tokens(&link.login)
        .await
        .map_err(ApiError::internal)?;
    s.store.announce(crate::store::Change::Employees).await;
    tracing::info!(login = %link.login, company = link.company.0, "password set with a one-time link");
    Ok(StatusCode::NO_CONTENT)
}

/// Checks and creates an employee (within the company's plan), and mails him his access
/// details: for `POST /employees`, and for the operator creating a company's first admin.
pub(super) async fn add(
    s: &ApiState,
    tenant: &Tenant,
    headers: &axum::http::HeaderMap,
    e: NewEmployee,
) -> Result<CreatedEmployee, ApiError> {
    crate::admin::employees::check_login(&e.login)?;
    // Without a password he sets his own through a link; till then a random one locks the door.
    let by_link = e.password.is_empty();
    let password = match by_link {
        true => hex::encode(rand::random::<[u8; 24]>()),
        false => e.password,
    };
    crate::admin::employees::check_password(&password)?;
    let fields = EmployeeFields {
        caller_id: e.caller_id,
        position: e.position,
        name: e.name,
        extension: e.extension,
        role: e.role,
        email: e.email,
        mobile: e.mobile,
        mobile_after_secs: e.mobile_after_secs,
    };
    check(s, tenant, &fields, None).await?;
    super::usage::within_plan(tenant, super::usage::Adding::Employee).await?;
    let ha1 = crate::sip::digest::ha1(&e.login, &s.companies.realm(tenant.id()), &password);
    let api_password = hash_password(password).await?;
    let secrets = Secrets {
        ha1: &ha1,
        api_password: &api_password,
    };
    let Some(created) = tenant
        .add_employee(&e.login, &fields, secrets, unix_ms())
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::unprocessable("login", "the login is taken"));
    };
    let password_link = match by_link {
        true => Some(password_link(s, tenant, headers, &created).await?),
        false => {
            mail_access_details(s, tenant, headers, &created, None).await;
            None
        }
    };
    Ok(CreatedEmployee {
        employee: created,
        password_link,
    })
}

/// Change what is given (a `user` may change his own password, name, e-mail and mobile).
#[utoipa::path(patch, path = "/employees/{login}", tag = "employees", params(("login" = String, Path)),
    request_body = EmployeeChange,
    responses((status = 200, body = Employee), (status = 404, description = "no such employee", body = ErrorBody),
        (status = 422, description = "a field is invalid or taken", body = ErrorBody)))]
pub async fn update(
    State(s): State<ApiState>,
    tenant: Tenant,
    Extension(principal): Extension<Principal>,
    Extension(acting): Extension<Acting>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(login): Path<String>,
    body: Result<Json<EmployeeChange>, JsonRejection>,
) -> Result<Json<Employee>, ApiError> {
    let Json(change) = body.map_err(ApiError::from_json)?;
    if change.password.is_some() && acting.0.as_deref() == Some(login.as_str()) {
        // Whoever holds a stolen token must not lock the owner out with a password of his own.
        let Some(current) = change.current_password.clone() else {
            return Err(ApiError::unprocessable(
                "current_password",
                "give your current password to change it",
            ));
        };
        if s.logins
            .check(&tenant, client.ip(), &login, current, &login)
            .await?
            .is_none()
        {
            return Err(ApiError::forbidden("current_password is not your password"));
        }
    }
    if principal != Principal::Admin
        && (change.role.is_some()
            || change.extension.is_some()
            || change.caller_id.is_some()
            || change.position.is_some()
            || change.calling_rights.is_some())
    {
        return Err(ApiError::forbidden(
            "only an admin changes a role, an extension, a caller ID, a position or calling rights",
        ));
    }
    if let Some(rights) = change.calling_rights.as_deref().filter(|r| !r.is_empty()) {
        rights
            .parse::<crate::call::Reach>()
            .map_err(|e| ApiError::unprocessable("calling_rights", &e))?;
    }
    let Some(mut employee) = tenant.employee(&login, false).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("employee", &login));
    };
    let f = &mut employee.fields;
    let replace = |field: &mut String, new: Option<String>| {
        if let Some(new) = new {
            *field = new;
        }
    };
    replace(&mut f.name, change.name);
    replace(&mut f.extension, change.extension);
    replace(&mut f.role, change.role);
    replace(&mut f.email, change.email);
    replace(&mut f.mobile, change.mobile);
    replace(&mut f.caller_id, change.caller_id);
    replace(&mut f.position, change.position);
    if let Some(after) = change.mobile_after_secs {
        f.mobile_after_secs = after;
    }
    check(&s, &tenant, f, Some(&login)).await?;
    let hashes = match change.password {
        Some(password) => {
            crate::admin::employees::check_password(&password)?;
            let ha1 = crate::sip::digest::ha1(&login, &s.companies.realm(tenant.id()), &password);
            Some((ha1, hash_password(password).await?))
        }
        None => None,
    };
    let secrets = hashes.as_ref().map(|(ha1, api_password)| Secrets { ha1, api_password });
    tenant
        .update_employee(&login, f, secrets)
        .await
        .map_err(ApiError::internal)?;
    if let Some(rights) = change.calling_rights {
        tenant
            .set_calling_rights(&login, &rights)
            .await
            .map_err(ApiError::internal)?;
        employee.calling_rights = rights;
    }
    if let Some(dnd) = change.dnd {
        tenant.set_dnd(&login, dnd).await.map_err(ApiError::internal)?;
        employee.dnd = dnd;
    }
    if secrets.is_some() {
        // A new password ends every session the old one opened.
        let ended = tenant.revoke_login_tokens(&login).await.map_err(ApiError::internal)?;
        tracing::info!(%login, ended, "password changed: login tokens revoked");
    }
    Ok(Json(employee))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// Whether the department offers him calls; logged out, he keeps his place in its order.
    logged_in: Option<bool>,
    /// On a break: the department's queue and hunting offer him no calls, yet he still staffs
    /// it (its queue takes callers).
    paused: Option<bool>,
}

/// Log an employee in to (or out of) one of his departments, or pause him in it (a break) —
/// or, with `*` for the department, all of his (his phone's `*61`/`*62` log in and out, `*63`/
/// `*64` pause and resume). An employee may do it for himself.
#[utoipa::path(put, path = "/employees/{login}/departments/{id}", tag = "employees",
    params(("login" = String, Path), ("id" = String, Path, description = "a department's id, or `*` for all of his")),
    request_body = Membership,
    responses((status = 204, description = "done"),
        (status = 404, description = "no such employee, or he is not a member", body = ErrorBody),
        (status = 422, description = "neither `logged_in` nor `paused` given", body = ErrorBody)))]
pub async fn set_membership(
    tenant: Tenant,
    Path((login, department)): Path<(String, String)>,
    body: Result<Json<Membership>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(membership) = body.map_err(ApiError::from_json)?;
    let which = Some(department.as_str()).filter(|d| *d != "*");
    let changes = [
        (MemberState::LoggedIn, membership.logged_in),
        (MemberState::Paused, membership.paused),
    ];
    let changes: Vec<(MemberState, bool)> = changes.into_iter().filter_map(|(s, on)| Some((s, on?))).collect();
    if changes.is_empty() {
        return Err(ApiError::unprocessable("logged_in", "give logged_in or paused"));
    }
    for (state, on) in changes {
        let done = tenant.set_membership(which, &login, state, on).await;
        if !done.map_err(ApiError::internal)? {
            return Err(ApiError::not_found("membership", &format!("{login} in {department}")));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/employees", tag = "employees", responses((status = 200, body = EmployeeList)))]
pub async fn list(tenant: Tenant) -> Result<Json<EmployeeList>, ApiError> {
    let employees = tenant.employees().await.map_err(ApiError::internal)?;
    Ok(Json(EmployeeList { employees }))
}

#[utoipa::path(get, path = "/employees/{login}", tag = "employees", params(("login" = String, Path)),
    responses((status = 200, body = Employee), (status = 404, description = "no such employee", body = ErrorBody)))]
pub async fn show(tenant: Tenant, Path(login): Path<String>) -> Result<Json<Employee>, ApiError> {
    match tenant.employee(&login, false).await.map_err(ApiError::internal)? {
        Some(e) => Ok(Json(e)),
        None => Err(ApiError::not_found("employee", &login)),
    }
}

/// Delete the employee with their registrations and department memberships.
#[utoipa::path(delete, path = "/employees/{login}", tag = "employees", params(("login" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such employee", body = ErrorBody)))]
pub async fn delete(tenant: Tenant, Path(login): Path<String>) -> Result<StatusCode, ApiError> {
    if tenant.delete_employee(&login).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("employee", &login))
    }
}

/// What a softphone needs to register as the employee (the password is the one the admin set;
/// it is kept only as hashes and never shown).
#[derive(Serialize, ToSchema)]
pub struct AccessDetails {
    login: String,
    name: String,
    extension: String,
    /// SIP server (registrar and proxy) as host:port.
    server: String,
    transport: &'static str,
    /// User name and authentication user name.
    username: String,
    /// Digest realm (some phones call it "domain" or "auth realm").
    realm: String,
    /// The account's address of record.
    sip_uri: String,
    /// The same, as text to send to the employee.
    text: String,
}

/// The employee's phone set-up data, to hand over (a `user` may read his own).
#[utoipa::path(get, path = "/employees/{login}/access", tag = "employees", params(("login" = String, Path)),
    responses((status = 200, body = AccessDetails), (status = 404, description = "no such employee", body = ErrorBody)))]
pub async fn access(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(login): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Json<AccessDetails>, ApiError> {
    let Some(employee) = tenant.employee(&login, false).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("employee", &login));
    };
    Ok(Json(access_details(&s, &tenant, &headers, &employee)))
}

/// A new employee with an e-mail address gets his access details by mail (when mail is on). The
/// password is not in it: the admin gave it, or `link` lets him set his own. Whether it went.
async fn mail_access_details(
    s: &ApiState,
    tenant: &Tenant,
    headers: &axum::http::HeaderMap,
    employee: &Employee,
    link: Option<&str>,
) -> bool {
    if employee.fields.email.is_empty() || !s.mail.is_on() {
        return false;
    }
    let password = match link {
        Some(link) => format!(
            "Set your password (for your phone and the console) here; the link works once, for 7 days:\n\n  {link}\n"
        ),
        None => "Your administrator gives you the password; change it in the console (My phone) or with \
                 PATCH /employees/{login} (field password, with current_password).\n"
            .replace("{login}", &employee.login),
    };
    let details = access_details(s, tenant, headers, employee);
    let console_login = console_login(s, tenant.id(), &employee.login);
    let mail = crate::mail::Mail {
        to: employee.fields.email.clone(),
        subject: format!("Your phone account: extension {}", details.extension),
        text: format!(
            "Hello {name},\n\nyou have a phone account at your company's exchange. Set up your phone \
             (or softphone) with these details:\n\n{text}\nThe console (your calls, voicemail and \
             settings{admin}): {console}/console/\n  Log in as: {console_login}\n\n{password}",
            name = details.name,
            text = details.text,
            admin = if employee.fields.role == "admin" {
                "; the company's employees, numbers and flows"
            } else {
                ""
            },
            console = console_base(s, headers),
        ),
        attachment: None,
    };
    match s.mail.send(tenant.id(), mail).await {
        Ok(queued) => queued,
        Err(e) => {
            tracing::warn!(error = %e, login = %employee.login, "access details not mailed");
            false
        }
    }
}

/// How the employee sets up his phone. The SIP server is the exchange's address; when it
/// listens on every interface, the address the admin reached the API on is the one to give.
fn access_details(
    s: &ApiState,
    tenant: &Tenant,
    headers: &axum::http::HeaderMap,
    employee: &Employee,
) -> AccessDetails {
    let login = employee.login.clone();
    let host = if s.sip.ip().is_unspecified() {
        // The operator's public address when he gave one (a stranger's Host never goes into
        // mail), else the one the admin reached the API on.
        let public = s.public_url.as_deref().and_then(|u| u.parse::<axum::http::Uri>().ok());
        let from_request = match public.as_ref().and_then(|u| u.host()) {
            Some(host) => Some(host.trim_start_matches('[').trim_end_matches(']').to_owned()),
            None => request_authority(headers).map(|a| a.host().to_owned()),
        };
        from_request.unwrap_or_else(|| s.sip.ip().to_string())
    } else {
        s.sip.ip().to_string()
    };
    let host = match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host,
    };
    let server = format!("{host}:{}", s.sip.port());
    let realm = s.companies.realm(tenant.id());
    // A company with a domain of its own: the phone registers to the domain, through the
    // exchange's address (the outbound proxy).
    let domain = match tenant.id() {
        crate::tenant::CompanyId::HOME => None,
        _ => s.companies.get(tenant.id()).map(|c| c.sip_domain.clone()),
    };
    let sip_uri = match &domain {
        Some(domain) => format!("sip:{login}@{domain}"),
        None => format!("sip:{login}@{server}"),
    };
    let domain_line = match &domain {
        Some(domain) => format!("  Domain: {domain} (outbound proxy: the SIP server)\n"),
        None => String::new(),
    };
    let text = format!(
        "Your phone account\n  SIP server: {server} (UDP)\n{domain_line}  User name: {login}\n  Password: the one you were given\n  \
         Realm: {realm}\n  Your extension: {extension}\n",
        realm = realm,
        extension = employee.fields.extension
    );
    AccessDetails {
        username: login.clone(),
        login,
        name: employee.fields.name.clone(),
        extension: employee.fields.extension.clone(),
        server,
        transport: "udp",
        realm,
        sip_uri,
        text,
    }
}

/// The admin rules for an employee (admin/employees.rs), with the company's rules for calls
/// out.
async fn check(s: &ApiState, tenant: &Tenant, f: &EmployeeFields, login: Option<&str>) -> Result<(), ApiError> {
    let rules = s.toll(tenant).await?.rules();
    match crate::admin::employees::check(tenant, f, login, &rules).await {
        Ok(()) => Ok(()),
        Err(crate::admin::employees::Refusal::Invalid(invalid)) => Err(invalid.into()),
        Err(crate::admin::employees::Refusal::Store(e)) => Err(ApiError::internal(e)),
    }
}
