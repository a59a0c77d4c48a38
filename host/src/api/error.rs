//! API errors as JSON: `{ "error": short text, "detail": what to do about it }`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    detail: String,
    /// Seconds, for `Retry-After` (429).
    retry_after: Option<u64>,
    /// The request's field at fault (422), for a form to show the error beside it.
    field: Option<String>,
}

impl ApiError {
    pub fn bad_request(error: &str, detail: &str) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            detail: detail.into(),
            retry_after: None,
            field: None,
        }
    }

    /// 422 naming the field at fault.
    /// 413: an upload over a size limit, which `detail` names.
    pub fn too_large(error: &str, detail: &str) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: error.into(),
            detail: detail.into(),
            retry_after: None,
            field: None,
        }
    }

    pub fn unprocessable(field: &str, detail: &str) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: format!("invalid {field}"),
            detail: detail.into(),
            retry_after: None,
            field: Some(field.into()),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: format!("no such {what}"),
            detail: format!("there is no {what} {id:?}"),
            retry_after: None,
            field: None,
        }
    }

    pub fn unauthorized(detail: &str) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized".into(),
            detail: detail.into(),
            retry_after: None,
            field: None,
        }
    }

    pub fn forbidden(detail: &str) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            error: "forbidden".into(),
            detail: detail.into(),
            retry_after: None,
            field: None,
        }
    }

    /// 409: the company's plan does not allow it; `limit` names the plan's field.
    pub fn over_plan(limit: &str, detail: &str) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            error: format!("over the plan's {limit}"),
            detail: detail.into(),
            retry_after: None,
            field: None,
        }
    }

    pub fn conflict(detail: &str) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            error: "conflict".into(),
            detail: detail.into(),
            retry_after: None,
            field: None,
        }
    }

    /// 429, come back after `retry_after`.
    pub fn too_many(detail: &str, retry_after: std::time::Duration) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "too many requests".into(),
            detail: detail.into(),
            retry_after: Some(retry_after.as_secs().max(1)),
            field: None,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "API request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "internal error".into(),
            detail: "see the server log".into(),
            retry_after: None,
            field: None,
        }
    }

    pub fn from_json(rejection: JsonRejection) -> Self {
        ApiError {
            status: rejection.status(),
            error: "invalid JSON body".into(),
            detail: rejection.body_text(),
            retry_after: None,
            field: None,
        }
    }
}

/// The body of every error response.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, e.g. `invalid extension` (422 names the field).
    pub error: String,
    /// What to do about it.
    pub detail: String,
    /// The field at fault, when one is (422): `extension`, `settings`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            detail: self.detail,
            field: self.field,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", "Bearer".parse().expect("static header"));
        }
        response
    }
}

/// A rule of administration broken: 422 naming the field.
impl From<crate::admin::Invalid> for ApiError {
    fn from(e: crate::admin::Invalid) -> Self {
        ApiError::unprocessable(e.field, &e.why)
    }
}
