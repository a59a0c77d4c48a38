//! The company's own profile: its name, its main caller ID — the number shown to the people
//! its employees call outside (an employee's own `caller_id` comes first; with neither, the
//! trunk's `--outbound-caller-id`) — and its business hours, inside which the exchange calls
//! people back.

use crate::store::Tenant;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct CompanyProfile {
    name: String,
    /// E.164 shown to the people the company's employees call; empty: the trunk's default.
    main_caller_id: String,
    /// IANA timezone of the company's business hours, e.g. `Europe/Berlin`.
    timezone: String,
    /// The schedule (`/schedules/{id}`) inside whose hours the exchange places callbacks and
    /// follow-ups; null: around the clock.
    business_hours: Option<String>,
    /// Callers the company will not take: E.164 prefixes (a whole number is its own prefix).
    blocked_callers: Vec<String>,
    /// Callers who show no number are blocked too.
    block_anonymous: bool,
    /// Played to a blocked caller before hanging up; empty: his call is refused (603 Decline).
    blocked_prompt: String,
}

/// `PATCH` body: only what is given changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyChange {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// E.164, or empty for the trunk's default.
    #[schema(pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    main_caller_id: Option<String>,
    /// IANA timezone, e.g. `Europe/Berlin`.
    timezone: Option<String>,
    /// A schedule's id; null: around the clock.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    business_hours: Option<Option<String>>,
    /// E.164 prefixes (`+1900`) or numbers; at most 1000.
    #[schema(max_items = 1000)]
    blocked_callers: Option<Vec<String>>,
    block_anonymous: Option<bool>,
    /// A prompt's name (built-in, uploaded or `tts:`), or empty to refuse.
    blocked_prompt: Option<String>,
}

/// The most prefixes a company blocks.
const MAX_BLOCKED: usize = 1000;

#[utoipa::path(get, path = "/company", tag = "company", responses((status = 200, body = CompanyProfile)))]
pub async fn show(tenant: Tenant) -> Result<Json<CompanyProfile>, ApiError> {
    profile(&tenant).await.map(Json)
}

async fn profile(tenant: &Tenant) -> Result<CompanyProfile, ApiError> {
    let (name, main_caller_id) = tenant.company_profile().await.map_err(ApiError::internal)?;
    let (timezone, hours) = tenant.business_hours().await.map_err(ApiError::internal)?;
    let blocking = tenant.blocking().await.map_err(ApiError::internal)?;
    Ok(CompanyProfile {
        name,
        main_caller_id,
        timezone,
        business_hours: Some(hours).filter(|h| !h.is_empty()),
        blocked_callers: blocking.prefixes,
        block_anonymous: blocking.anonymous,
        blocked_prompt: blocking.prompt,
    })
}

/// Change the company's name or main caller ID (in force for the next call out).
#[utoipa::path(patch, path = "/company", tag = "company", request_body = CompanyChange,
    responses((status = 200, body = CompanyProfile), (status = 422, description = "names the field at fault", body = ErrorBody)))]
pub async fn update(
    State(s): State<ApiState>,
    tenant: Tenant,
    body: Result<Json<CompanyChange>, JsonRejection>,
) -> Result<Json<CompanyProfile>, ApiError> {
    let Json(change) = body.map_err(ApiError::from_json)?;
    let (mut name, mut main_caller_id) = tenant.company_profile().await.map_err(ApiError::internal)?;
    if let Some(new) = change.name {
        if new.trim().is_empty() || new.len() > 200 {
            return Err(ApiError::unprocessable("name", "use 1 to 200 characters"));
        }
        name = new;
    }
    if let Some(new) = change.main_caller_id {
        if !new.is_empty() {
            crate::admin::check_e164("main_caller_id", &new)?;
        }
        main_caller_id = new;
    }
    let (mut timezone, mut hours) = tenant.business_hours().await.map_err(ApiError::internal)?;
    if let Some(new) = change.timezone {
        crate::admin::check_timezone("timezone", &new)?;
        timezone = new;
    }
    if let Some(new) = change.business_hours {
        let new = new.unwrap_or_default();
        let known = new.is_empty()
            || !tenant
                .schedules(Some(&new))
                .await
                .map_err(ApiError::internal)?
                .is_empty();
        if !known {
            return Err(ApiError::unprocessable(
                "business_hours",
                &format!("no schedule {new:?} (PUT /schedules/{{id}} first)"),
            ));
        }
        hours = new;
    }
    let mut blocking = tenant.blocking().await.map_err(ApiError::internal)?;
    if let Some(prefixes) = change.blocked_callers {
        if prefixes.len() > MAX_BLOCKED {
            return Err(ApiError::unprocessable(
                "blocked_callers",
                &format!("at most {MAX_BLOCKED}"),
            ));
        }
        let e164_prefix = |p: &String| {
            let digits = p.strip_prefix('+').unwrap_or_default();
            (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        };
        if let Some(bad) = prefixes.iter().find(|p| !e164_prefix(p)) {
            return Err(ApiError::unprocessable(
                "blocked_callers",
                &format!("{bad:?} is not an E.164 prefix (+ and 1 to 15 digits)"),
            ));
        }
        blocking.prefixes = prefixes;
    }
    if let Some(anonymous) = change.block_anonymous {
        blocking.anonymous = anonymous;
    }
    if let Some(prompt) = change.blocked_prompt {
        let known = crate::admin::known_names(&tenant).await.map_err(ApiError::internal)?;
        if !prompt.is_empty() && !known.knows_prompt(&prompt) {
            return Err(ApiError::unprocessable(
                "blocked_prompt",
                &format!("no prompt {prompt:?}"),
            ));
        }
        blocking.prompt = prompt;
    }
    tenant.set_blocking(&blocking).await.map_err(ApiError::internal)?;
    tenant
        .set_company_profile(&name, &main_caller_id)
        .await
        .map_err(ApiError::internal)?;
    tenant
        .set_business_hours(&timezone, &hours)
        .await
        .map_err(ApiError::internal)?;
    // Calls out read the main number from the companies in memory (here and on other nodes).
    s.companies_changed().await?;
    profile(&tenant).await.map(Json)
}
