//! The company's own profile: its name and its main caller ID — the number shown to the people
//! its employees call outside (an employee's own `caller_id` comes first; with neither, the
//! trunk's `--outbound-caller-id`).

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
}

#[utoipa::path(get, path = "/company", tag = "company", responses((status = 200, body = CompanyProfile)))]
pub async fn show(tenant: Tenant) -> Result<Json<CompanyProfile>, ApiError> {
    let (name, main_caller_id) = tenant.company_profile().await.map_err(ApiError::internal)?;
    Ok(Json(CompanyProfile { name, main_caller_id }))
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
    tenant
        .set_company_profile(&name, &main_caller_id)
        .await
        .map_err(ApiError::internal)?;
    // Calls out read the main number from the companies in memory (here and on other nodes).
    s.companies.reload().await.map_err(ApiError::internal)?;
    s.store.announce(crate::store::Change::Companies).await;
    Ok(Json(CompanyProfile { name, main_caller_id }))
}
