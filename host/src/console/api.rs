//! The console asks the API in-process. Each page shows what the API answers to the session's
//! token, and each form becomes the API request it stands for: the console holds no rules of
//! its own (roles, tenancy, validation, plan limits are the API's, checked once, in one place).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;

/// The API's router, called without a socket.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// Who asks: the session's token (none before login), the browser's address (the API
/// throttles logins by it) and the host it asked for (links the API makes point there).
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub token: Option<&'a str>,
    pub client: SocketAddr,
    pub host: Option<&'a str>,
}

/// What the API refused, as its error body said.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
    pub detail: String,
    /// The field at fault (422).
    pub field: Option<String>,
}

impl Refusal {
    /// 422: the form's `field` could not be read (before the API was asked).
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
            error: format!("invalid {field}"),
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    /// 403: the console refuses it itself.
    pub fn forbidden(detail: &str) -> Self {
        Refusal {
            status: StatusCode::FORBIDDEN.as_u16(),
            error: "forbidden".into(),
            detail: detail.into(),
            field: None,
        }
    }

    /// The session is gone (expired, revoked, the password changed).
    pub fn is_unauthorized(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED.as_u16()
    }
}

/// The largest JSON answer a page reads (a page of 1,000 call records with traces).
const MAX_ANSWER_BYTES: usize = 32 << 20;

impl Api {
    pub fn new(router: Router) -> Self {
        Api { router }
    }

    /// `method path` with a JSON body; the answer's JSON (null for an empty one) or the refusal.
    pub async fn call(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let body = match body {
            Some(json) => Body::from(json.to_string()),
            None => Body::empty(),
        };
        self.call_with(caller, method, path, "application/json", body).await
    }

    /// `method path` with a body of `content_type` (an upload); the answer as [`Api::call`]'s.
    pub async fn call_with(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        content_type: &str,
        body: Body,
    ) -> Result<Value, Refusal> {
        let response = self.send(caller, method, path, content_type, body).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| Refusal {
                status: 500,
                error: "the API's answer could not be read".into(),
                detail: e.to_string(),
                field: None,
            })?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(json);
        }
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        Err(Refusal {
            status: status.as_u16(),
            error: text("error").unwrap_or_else(|| status.to_string()),
            detail: text("detail").unwrap_or_default(),
            field: text("field"),
        })
    }

    /// A request with any body, answered as the API answers it (audio, CSV, uploads).
    pub async fn send(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        content_type: &str,
        body: Body,
    ) -> Response {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type);
        if let Some(token) = caller.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(host) = caller.host {
            request = request.header(header::HOST, host);
        }
        let mut request = match request.body(body) {
            Ok(request) => request,
            Err(e) => {
                return axum::response::IntoResponse::into_response((StatusCode::BAD_REQUEST, e.to_string()));
            }
        };
        request.extensions_mut().insert(ConnectInfo(caller.client));
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// `value` for a query string, or for a path segment (the values put there — logins, numbers,
/// ids — hold no spaces, which a query writes as `+`).
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::encode("+49 30/1&x=é"), "%2B49+30%2F1%26x%3D%C3%A9");
        assert_eq!(super::encode("alice.b-c_d"), "alice.b-c_d");
    }
}
