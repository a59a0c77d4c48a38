//! Bearer-token authentication. Tokens are stored as sha256 hashes; a token given in the
//! configuration is accepted too.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::ApiState;
use super::error::ApiError;

/// The hashes of tokens accepted besides those in the store (from the configuration).
#[derive(Clone, Default)]
pub struct Tokens {
    pub configured: Vec<String>,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn require_token(State(s): State<ApiState>, request: Request, next: Next) -> Result<Response, ApiError> {
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
    let known = s.tokens.configured.contains(&hash) || s.store.token_known(&hash).await.map_err(ApiError::internal)?;
    if !known {
        return Err(ApiError::unauthorized("unknown token"));
    }
    Ok(next.run(request).await)
}
