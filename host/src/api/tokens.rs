//! API tokens: an admin makes tokens for scripts and integrations (shown once), lists every
//! token (admin and employees' login tokens) and revokes any.

use crate::store::Tenant;
use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{hash_token, new_token};
use crate::call::record::unix_ms;
use crate::store::{TOKEN_ID_LEN, TokenInfo};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for, e.g. "CRM sync".
    #[schema(min_length = 1, max_length = 100)]
    label: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// `Authorization: Bearer <token>`; shown this once, only its hash is kept.
    token: String,
    #[serde(flatten)]
    info: TokenInfo,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenInfo>,
}

/// Make an admin token (for a script or an integration).
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 422, description = "bad label", body = ErrorBody)))]
pub async fn create(
    tenant: Tenant,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    if body.label.trim().is_empty() || body.label.len() > 100 {
        return Err(ApiError::unprocessable("label", "use 1-100 characters"));
    }
    let token = new_token();
    let hash = hash_token(&token);
    let now = unix_ms();
    tenant
        .add_token(&hash, &body.label, None, now)
        .await
        .map_err(ApiError::internal)?;
    let info = TokenInfo {
        id: hash[..TOKEN_ID_LEN].to_owned(),
        label: body.label,
        employee: None,
        created_at: now,
    };
    Ok((StatusCode::CREATED, Json(CreatedToken { token, info })))
}

/// Every token, newest first (never the secrets).
#[utoipa::path(get, path = "/tokens", tag = "tokens", responses((status = 200, body = TokenList)))]
pub async fn list(tenant: Tenant) -> Result<Json<TokenList>, ApiError> {
    let tokens = tenant.tokens().await.map_err(ApiError::internal)?;
    Ok(Json(TokenList { tokens }))
}

/// Revoke a token: requests with it get 401 from now on.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404, description = "no such token", body = ErrorBody)))]
pub async fn revoke(tenant: Tenant, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if tenant.revoke_token(&id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("token", &id))
    }
}
