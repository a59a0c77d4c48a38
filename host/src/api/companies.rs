//! The operator's routes: the companies on the exchange — create (with a first admin and a
//! fresh install's departments and office hours), list, show with usage, change (name, SIP
//! domain, plan) and suspend. Only the operator's token reaches them ([`Operator`]).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Operator;
use super::employees::NewEmployee;
use super::error::{ApiError, ErrorBody};
use super::{ApiState, Id};
use crate::call::record::unix_ms;
use crate::store::{CompanyInfo, Plan, Usage};
use crate::tenant::CompanyId;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    #[schema(max_length = 200)]
    name: String,
    /// Its phones' SIP domain (and digest realm); default: a test domain
    /// `<slug of the name>.<the operator's domain>`.
    #[serde(default)]
    sip_domain: Option<String>,
    #[serde(default)]
    plan: Plan,
    /// The company's first admin (role `admin`; the extension defaults to 100).
    admin: NewEmployee,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedCompany {
    company: CompanyInfo,
    /// Its first admin (with a set-password link when created without a password).
    admin: super::employees::CreatedEmployee,
}

impl NewCompany {
    /// A company from the public sign-up: a test domain and the sign-up plan.
    pub(super) fn signed_up(name: String, plan: Plan, admin: NewEmployee) -> Self {
        NewCompany {
            name,
            sip_domain: None,
            plan,
            admin,
        }
    }
}

impl CreatedCompany {
    pub(super) fn parts(&self) -> (&CompanyInfo, &super::employees::CreatedEmployee) {
        (&self.company, &self.admin)
    }
}

#[derive(Serialize, ToSchema)]
pub struct CompanyView {
    #[serde(flatten)]
    company: CompanyInfo,
    usage: UsageNow,
}

/// What a company uses against its plan.
#[derive(Serialize, ToSchema)]
pub struct UsageNow {
    employees: i64,
    numbers: i64,
    flow_versions: i64,
    storage_bytes: i64,
    /// Its calls in progress on this node.
    calls_now: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CompanyList {
    companies: Vec<CompanyInfo>,
}

/// `PATCH` body: what is given changes. Suspending keeps the company's data and refuses its
/// calls and API tokens; `suspended: false` lifts it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyChange {
    name: Option<String>,
    sip_domain: Option<String>,
    plan: Option<Plan>,
    suspended: Option<bool>,
    /// Told to its phones in the SIP Reason (e.g. "unpaid").
    suspended_reason: Option<String>,
}

/// Create a company with its first admin, its departments (sales 600, support 601) and office
/// hours. 409 when the SIP domain is another company's.
#[utoipa::path(post, path = "/companies", tag = "operator", request_body = NewCompany,
    responses((status = 201, body = CreatedCompany), (status = 403, description = "not the operator", body = ErrorBody),
        (status = 409, description = "the SIP domain is taken", body = ErrorBody),
        (status = 422, description = "names the field at fault", body = ErrorBody)))]
pub async fn create(
    _: Operator,
    State(s): State<ApiState>,
    headers: axum::http::HeaderMap,
    body: Result<Json<NewCompany>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedCompany>), ApiError> {
    let Json(c) = body.map_err(ApiError::from_json)?;
    let created = found(&s, &headers, c).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A new company with its first admin (the operator's `POST /companies` and the public
/// sign-up): checked, stored, and undone when its admin is refused.
pub(super) async fn found(
    s: &ApiState,
    headers: &axum::http::HeaderMap,
    mut c: NewCompany,
) -> Result<CreatedCompany, ApiError> {
    check_name(&c.name)?;
    check_plan(&c.plan)?;
    let domain = match c.sip_domain.take() {
        Some(domain) => domain.to_ascii_lowercase(),
        None => format!("{}.{}", slug(&c.name), s.operator_domain),
    };
    check_domain(&domain)?;
    let now = unix_ms();
    let Some(id) = s
        .store
        .create_company(&c.name, &domain, &c.plan, now)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::conflict(&format!("{domain} is another company's SIP domain")));
    };
    s.companies_changed().await?;
    let tenant = s.store.company(id);
    let mut admin = c.admin;
    admin.role = "admin".into();
    if admin.extension.is_empty() {
        admin.extension = "100".into();
    }
    // A company without its admin is no use to anyone: undone when the admin is refused.
    let admin = match super::employees::add(s, &tenant, headers, admin).await {
        Ok(admin) => admin,
        Err(e) => {
            if let Err(undo) = s.store.delete_company(id).await {
                tracing::error!(error = %undo, %id, "a company whose admin was refused could not be removed");
            }
            s.companies_changed().await?;
            return Err(e);
        }
    };
    let company = info(s, id).await?;
    tracing::info!(%id, domain = %company.sip_domain, "company created");
    Ok(CreatedCompany { company, admin })
}

/// Every company on the exchange, the operator's own first.
#[utoipa::path(get, path = "/companies", tag = "operator", responses((status = 200, body = CompanyList)))]
pub async fn list(_: Operator, State(s): State<ApiState>) -> Result<Json<CompanyList>, ApiError> {
    let companies = s.store.companies().await.map_err(ApiError::internal)?;
    Ok(Json(CompanyList { companies }))
}

/// One company with what it uses.
#[utoipa::path(get, path = "/companies/{id}", tag = "operator", params(("id" = i64, Path)),
    responses((status = 200, body = CompanyView), (status = 404, description = "no such company", body = ErrorBody)))]
pub async fn show(_: Operator, State(s): State<ApiState>, Id(id): Id) -> Result<Json<CompanyView>, ApiError> {
    let id = CompanyId(id);
    let company = info(&s, id).await?;
    let used: Usage = s.store.company(id).usage(0).await.map_err(ApiError::internal)?;
    Ok(Json(CompanyView {
        company,
        usage: UsageNow {
            employees: used.employees,
            numbers: used.numbers,
            flow_versions: used.flow_versions,
            storage_bytes: used.storage_bytes,
            calls_now: s.offices.calls_now(id),
        },
    }))
}

/// Change a company's name, SIP domain or plan, or suspend it (its calls and tokens are
/// refused at once; calls in progress go on). The operator's own company cannot be suspended.
#[utoipa::path(patch, path = "/companies/{id}", tag = "operator", params(("id" = i64, Path)),
    request_body = CompanyChange,
    responses((status = 200, body = CompanyInfo), (status = 404, description = "no such company", body = ErrorBody),
        (status = 409, description = "the SIP domain is taken, or the operator's own company suspended", body = ErrorBody),
        (status = 422, description = "names the field at fault", body = ErrorBody)))]
pub async fn update(
    _: Operator,
    State(s): State<ApiState>,
    Id(id): Id,
    body: Result<Json<CompanyChange>, JsonRejection>,
) -> Result<Json<CompanyInfo>, ApiError> {
    let Json(change) = body.map_err(ApiError::from_json)?;
    let id = CompanyId(id);
    let mut company = info(&s, id).await?;
    if let Some(name) = change.name {
        check_name(&name)?;
        company.name = name;
    }
    if let Some(domain) = change.sip_domain {
        let domain = domain.to_ascii_lowercase();
        check_domain(&domain)?;
        if id != CompanyId::HOME && domain != company.sip_domain {
            // Its phones' passwords are hashed with the old domain (their realm).
            tracing::warn!(%id, from = %company.sip_domain, to = %domain, "company moved to another SIP domain: its employees set their passwords again");
        }
        company.sip_domain = domain;
    }
    if let Some(plan) = change.plan {
        check_plan(&plan)?;
        company.plan = plan;
    }
    if let Some(suspended) = change.suspended {
        if suspended && id == CompanyId::HOME {
            return Err(ApiError::conflict("the operator's own company cannot be suspended"));
        }
        company.suspended = suspended;
    }
    if let Some(reason) = change.suspended_reason {
        if reason.len() > 200 {
            return Err(ApiError::unprocessable(
                "suspended_reason",
                "use at most 200 characters",
            ));
        }
        company.suspended_reason = reason;
    }
    match s.store.update_company(&company).await.map_err(ApiError::internal)? {
        None => return Err(ApiError::not_found("company", &id.to_string())),
        Some(false) => {
            return Err(ApiError::conflict(&format!(
                "{} is another company's SIP domain",
                company.sip_domain
            )));
        }
        Some(true) => {}
    }
    s.companies_changed().await?;
    tracing::info!(%id, suspended = company.suspended, "company changed");
    Ok(Json(info(&s, id).await?))
}

async fn info(s: &ApiState, id: CompanyId) -> Result<CompanyInfo, ApiError> {
    s.store
        .company_info(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("company", &id.to_string()))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    match name.trim().is_empty() || name.len() > 200 {
        true => Err(ApiError::unprocessable("name", "use 1 to 200 characters")),
        false => Ok(()),
    }
}

/// A DNS name: labels of letters, digits and '-', dot-separated, 253 characters at most (no IP
/// address: those reach the operator's own company).
fn check_domain(domain: &str) -> Result<(), ApiError> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let is_name = domain.len() <= 253 && domain.contains('.') && domain.split('.').all(label_ok);
    let is_ip = domain.parse::<std::net::IpAddr>().is_ok() || domain.split('.').all(|l| l.parse::<u8>().is_ok());
    match is_name && !is_ip {
        true => Ok(()),
        false => Err(ApiError::unprocessable(
            "sip_domain",
            "use a DNS name, e.g. acme.example.com",
        )),
    }
}

fn check_plan(plan: &Plan) -> Result<(), ApiError> {
    let limits = [
        ("plan.max_employees", plan.max_employees),
        ("plan.max_numbers", plan.max_numbers),
        ("plan.max_calls", plan.max_calls),
        ("plan.max_flow_versions", plan.max_flow_versions),
        ("plan.max_storage_bytes", plan.max_storage_bytes),
    ];
    match limits.iter().find(|(_, limit)| limit.is_some_and(|l| l < 0)) {
        Some((field, _)) => Err(ApiError::unprocessable(field, "use 0 or more (leave out: no limit)")),
        None => Ok(()),
    }
}

/// A company name as a DNS label: lower-case letters and digits, others as '-'.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        match c.to_ascii_lowercase() {
            c if c.is_ascii_alphanumeric() => slug.push(c),
            _ if !slug.ends_with('-') && !slug.is_empty() => slug.push('-'),
            _ => {}
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    match slug.trim_end_matches('-') {
        "" => "company".into(),
        slug => slug.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_make_test_domains_and_domains_are_checked() {
        assert_eq!(slug("Acme & Sons, Ltd."), "acme-sons-ltd");
        assert_eq!(slug("  ?? "), "company");
        assert!(check_domain("acme.pbx.example").is_ok());
        assert!(check_domain("ACME").is_err(), "one label");
        assert!(check_domain("10.0.0.1").is_err(), "an address");
        assert!(check_domain("a..b").is_err());
        assert!(check_domain("-a.b").is_err());
        assert!(check_domain("a b.c").is_err());
    }
}
