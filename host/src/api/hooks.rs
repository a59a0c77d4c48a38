//! The company's missed-call hook (`missed_hook.rs`): a flow the exchange runs after each call
//! nobody answered — the built-in `notify` (a webhook and a callback request) or the company's
//! own upload. Its settings are checked against the flow's schema and its secrets shown hidden.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use crate::missed_hook::Hook;
use crate::store::Tenant;

/// The company's missed-call hook, its secret settings hidden.
#[utoipa::path(get, path = "/missed-call-hook", tag = "company",
    responses((status = 200, body = Hook), (status = 404, description = "no hook set", body = ErrorBody)))]
pub async fn show(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<Hook>, ApiError> {
    let stored = tenant.missed_call_hook().await.map_err(ApiError::internal)?;
    let Some(hook) = Hook::parse(&stored) else {
        return Err(ApiError::not_found("missed-call hook", "missed-call-hook"));
    };
    Ok(Json(shown(&s, hook).await))
}

/// Set the missed-call hook: `{"flow": "notify", "settings": {"url": "https://…", "request_callback": true},
/// "allowed_hosts": ["crm.example.com"]}`. From the next missed call on, the exchange runs the
/// flow with nobody on the line: it may send HTTP requests to `allowed_hosts` and file callback
/// requests for the caller. Secrets sent back hidden (`***`) keep their values.
#[utoipa::path(put, path = "/missed-call-hook", tag = "company", request_body = Hook,
    responses((status = 200, body = Hook), (status = 422, description = "names the field at fault", body = ErrorBody)))]
pub async fn replace(
    State(s): State<ApiState>,
    tenant: Tenant,
    body: Result<Json<Hook>, JsonRejection>,
) -> Result<Json<Hook>, ApiError> {
    let Json(mut hook) = body.map_err(ApiError::from_json)?;
    if !hook.settings.is_object() {
        return Err(ApiError::unprocessable(
            "settings",
            "the flow's settings are a JSON object",
        ));
    }
    if hook.allowed_hosts.len() > 32 {
        return Err(ApiError::unprocessable("allowed_hosts", "at most 32 hosts"));
    }
    if let Some(bad) = hook
        .allowed_hosts
        .iter()
        .find_map(|h| crate::web::check_allowed_host(h).err())
    {
        return Err(ApiError::unprocessable("allowed_hosts", &bad));
    }
    let Some(sha) = tenant.resolve_flow(&hook.flow).await.map_err(ApiError::internal)? else {
        return Err(ApiError::unprocessable(
            "flow",
            &format!("no flow named or hashed {:?}", hook.flow),
        ));
    };
    let version = s.registry.version(&sha).await.map_err(ApiError::internal)?;
    if let Some(schema) = &version.settings_schema {
        let before = tenant.missed_call_hook().await.map_err(ApiError::internal)?;
        let before = Hook::parse(&before).filter(|b| b.flow == sha).map(|b| b.settings);
        let known = crate::admin::known_names(&tenant).await.map_err(ApiError::internal)?;
        schema
            .take(&mut hook.settings, before.as_ref(), &known)
            .map_err(|why| ApiError::unprocessable("settings", &format!("the settings do not fit the flow: {why}")))?;
    }
    hook.flow = sha;
    let stored = serde_json::to_string(&hook).expect("a hook serialises");
    tenant.set_missed_call_hook(&stored).await.map_err(ApiError::internal)?;
    s.companies_changed().await?;
    Ok(Json(shown(&s, hook).await))
}

/// Remove the missed-call hook.
#[utoipa::path(delete, path = "/missed-call-hook", tag = "company", responses((status = 204)))]
pub async fn remove(State(s): State<ApiState>, tenant: Tenant) -> Result<StatusCode, ApiError> {
    tenant.set_missed_call_hook("").await.map_err(ApiError::internal)?;
    s.companies_changed().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `hook` as the API shows it: its flow's secret settings hidden.
async fn shown(s: &ApiState, mut hook: Hook) -> Hook {
    if let Ok(version) = s.registry.version(&hook.flow).await
        && let Some(schema) = &version.settings_schema
    {
        schema.hide_secrets(&mut hook.settings);
    }
    hook
}
