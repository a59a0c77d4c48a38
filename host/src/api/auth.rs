//! Who may call the API. Bearer tokens are stored as sha256 hashes; a token given in the
//! configuration, the bootstrap token and tokens an admin makes act for the company (admin);
//! an employee who logs in (`POST /login`, password kept as an Argon2 hash) gets a token of
//! their own, with their role: an `admin` may do everything, a `user` see and edit himself.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::ApiState;
use super::error::ApiError;
use crate::store::TokenOwner;

/// The hashes of tokens accepted besides those in the store (from the configuration).
#[derive(Clone, Default)]
pub struct Tokens {
    pub configured: Vec<String>,
}

/// Who a request speaks for (put into the request's extensions by [`require_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    /// An employee with the `user` role.
    User(String),
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token to hand out once.
pub fn new_token() -> String {
    format!("sb_{}", hex::encode(rand::random::<[u8; 24]>()))
}

/// The API password as an Argon2id PHC string (slow on purpose: run it off the async threads).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches the PHC string (an empty one matches nothing).
pub async fn password_matches(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

pub async fn require_token(State(s): State<ApiState>, mut request: Request, next: Next) -> Result<Response, ApiError> {
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
    let principal = if s.tokens.configured.contains(&hash) {
        Principal::Admin
    } else {
        match s.store.token_owner(&hash).await.map_err(ApiError::internal)? {
            None => return Err(ApiError::unauthorized("unknown token")),
            Some(TokenOwner::Company) => Principal::Admin,
            Some(TokenOwner::Employee { role, .. }) if role == "admin" => Principal::Admin,
            Some(TokenOwner::Employee { login, .. }) => Principal::User(login),
        }
    };
    if let Principal::User(login) = &principal
        && !user_may(request.method(), request.uri().path(), login)
    {
        return Err(ApiError::forbidden(
            "an employee with the user role may only see and edit himself",
        ));
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    login: String,
    password: String,
}

/// `POST /login`: an employee's own token (201 `{"token","login","role"}`); 401 for a wrong
/// login or password (which of the two is not said).
pub async fn login(
    State(s): State<ApiState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<axum::Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, axum::Json<serde_json::Value>), ApiError> {
    let axum::Json(body) = body.map_err(ApiError::from_json)?;
    if s.failures.blocked(client.ip()) {
        return Err(ApiError::too_many(
            "too many wrong passwords from this address: try again in a minute",
        ));
    }
    let known = s.store.api_password(&body.login).await.map_err(ApiError::internal)?;
    let (id, phc) = known.unwrap_or_default();
    // An unknown login has no hash to check against, so it is refused sooner than a wrong
    // password (a timing difference that tells which logins exist; not mended yet).
    let matches = password_matches(body.password, phc).await;
    let employee = s.store.employee(&body.login, false).await.map_err(ApiError::internal)?;
    let Some(employee) = employee.filter(|_| matches) else {
        tracing::warn!(%client, login = %body.login, "wrong API login");
        s.failures.failed(client.ip());
        return Err(ApiError::unauthorized("wrong login or password"));
    };
    let token = new_token();
    s.store
        .add_token(&hash_token(&token), "login", Some(id), crate::call::record::unix_ms())
        .await
        .map_err(ApiError::internal)?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(serde_json::json!({ "token": token, "login": employee.login, "role": employee.fields.role })),
    ))
}

/// What an employee with the `user` role may do: read and edit his own employee record.
fn user_may(method: &Method, path: &str, login: &str) -> bool {
    path.strip_prefix("/employees/") == Some(login) && (method == Method::GET || method == Method::PATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_reaches_only_himself() {
        assert!(user_may(&Method::GET, "/employees/alice", "alice"));
        assert!(user_may(&Method::PATCH, "/employees/alice", "alice"));
        assert!(!user_may(&Method::DELETE, "/employees/alice", "alice"));
        assert!(!user_may(&Method::GET, "/employees/bob", "alice"));
        assert!(!user_may(&Method::GET, "/employees", "alice"));
        assert!(!user_may(&Method::GET, "/employees/alice/../bob", "alice"));
        assert!(!user_may(&Method::GET, "/calls", "alice"));
    }

    #[tokio::test]
    async fn passwords_are_checked_against_their_hash() {
        let phc = hash_password("correct-horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(password_matches("correct-horse".into(), phc.clone()).await);
        assert!(!password_matches("battery".into(), phc).await);
        assert!(!password_matches("".into(), String::new()).await);
    }
}
