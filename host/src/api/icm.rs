//! The company's one ICM configuration (`icm.rs`): the built-in `icm` flow's settings, used by
//! extension 6100 and by every number whose flow is the ICM (the number's own settings on top).
//! Checked against the flow's settings schema; CRM tokens and URLs are secrets, shown hidden.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde_json::Value;

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use crate::store::Tenant;

/// The company's ICM configuration, its secrets hidden (`{}`: not configured).
#[utoipa::path(get, path = "/icm", tag = "company",
    responses((status = 200, description = "the `icm` flow's settings (docs/flows.md)", body = Object)))]
pub async fn show(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<Value>, ApiError> {
    let settings = tenant.icm_settings().await.map_err(ApiError::internal)?;
    Ok(Json(shown(&s, &settings)))
}

/// Set the company's ICM configuration: the `icm` flow's settings (sources, CRM accounts,
/// country and city code, exceptions, ring_mobile, busy_route, fallback, ...). Secrets sent
/// back hidden (`***`) keep their values. Extension 6100 and every ICM number use it from the
/// next call on.
#[utoipa::path(put, path = "/icm", tag = "company", request_body(content = Object, description = "the `icm` flow's settings"),
    responses((status = 200, body = Object), (status = 422, description = "names the setting at fault", body = ErrorBody)))]
pub async fn replace(
    State(s): State<ApiState>,
    tenant: Tenant,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(mut settings) = body.map_err(ApiError::from_json)?;
    if !settings.is_object() {
        return Err(ApiError::unprocessable(
            "settings",
            "the ICM's settings are a JSON object",
        ));
    }
    let Some(icm) = s.registry.builtin(crate::icm::FLOW) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the built-in icm flow is not loaded"
        )));
    };
    let Some(schema) = &icm.settings_schema else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the built-in icm flow has no settings schema"
        )));
    };
    let before = tenant.icm_settings().await.map_err(ApiError::internal)?;
    let before = serde_json::from_str(&before).unwrap_or_default();
    let known = crate::admin::known_names(&tenant).await.map_err(ApiError::internal)?;
    schema
        .take(&mut settings, Some(&before), &known)
        .map_err(|why| ApiError::unprocessable("settings", &format!("the settings do not fit the ICM: {why}")))?;
    let settings = settings.to_string();
    tenant.set_icm_settings(&settings).await.map_err(ApiError::internal)?;
    // Calls read the configuration from the companies in memory (here and on other nodes).
    s.companies_changed().await?;
    Ok(Json(shown(&s, &settings)))
}

/// `settings` as the API shows them: secrets hidden.
fn shown(s: &ApiState, settings: &str) -> Value {
    let mut value: Value = serde_json::from_str(settings).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(schema) = s
        .registry
        .builtin(crate::icm::FLOW)
        .as_ref()
        .and_then(|v| v.settings_schema.as_ref())
    {
        schema.hide_secrets(&mut value);
    }
    value
}
