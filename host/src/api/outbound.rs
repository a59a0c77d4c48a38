//! The company's rules for calls out through the carrier (toll-fraud protection): which numbers
//! (national by default, premium ranges never), how many calls at once, callbacks a day.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use crate::call::OutboundRules;
use crate::store::Tenant;

/// The rules calls out follow now.
#[utoipa::path(get, path = "/outbound-rules", tag = "security", responses((status = 200, body = OutboundRules)))]
pub async fn show(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<OutboundRules>, ApiError> {
    Ok(Json(s.toll(&tenant).await?.rules().as_ref().clone()))
}

/// Replace the rules: in force at once for every new call out (calls under way go on). Fields
/// left out take their defaults (`deny`: the premium and fraud-prone ranges).
#[utoipa::path(put, path = "/outbound-rules", tag = "security", request_body = OutboundRules,
    responses((status = 200, body = OutboundRules), (status = 422, description = "names the field at fault", body = ErrorBody)))]
pub async fn replace(
    State(s): State<ApiState>,
    tenant: Tenant,
    body: Result<Json<OutboundRules>, JsonRejection>,
) -> Result<Json<OutboundRules>, ApiError> {
    let Json(rules) = body.map_err(ApiError::from_json)?;
    if let Some((field, why)) = rules.problem() {
        return Err(ApiError::unprocessable(field, &why));
    }
    let json = serde_json::to_string(&rules).map_err(ApiError::internal)?;
    tenant.set_outbound_rules(&json).await.map_err(ApiError::internal)?;
    s.toll(&tenant).await?.set_rules(rules.clone());
    Ok(Json(rules))
}
