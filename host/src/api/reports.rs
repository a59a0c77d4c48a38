//! Call reports over the API: per employee, department or number over a period, as JSON or
//! CSV (`reports.rs` adds them up).

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ValidQuery;
use super::error::ApiError;
use crate::call::record::unix_ms;
use crate::reports::{Report, ReportBy, report};
use crate::store::{CallFilter, Tenant};

/// The most call records one report reads; a longer period is refused (ask for a shorter one).
const MAX_CALLS: i64 = 200_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `employee`, `department` or `number`.
    by: ReportBy,
    /// Unix ms, inclusive; default: 7 days before `until`.
    since: Option<i64>,
    /// Unix ms, exclusive; default: now.
    until: Option<i64>,
    /// Answered within this many seconds counts towards the service level (1–3600; default 20).
    service_level_secs: Option<u32>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Calls offered, answered, missed and left as voicemail, waits, talk time and the service
/// level, per employee, department or number over a period.
#[utoipa::path(get, path = "/reports/calls", tag = "calls", params(ReportQuery),
    responses((status = 200, body = Report, description = "the report (`format=csv`: text/csv)"),
        (status = 400, description = "a query parameter is invalid", body = super::error::ErrorBody)))]
pub async fn calls(tenant: Tenant, ValidQuery(q): ValidQuery<ReportQuery>) -> Result<Response, ApiError> {
    let until = q.until.unwrap_or_else(unix_ms);
    let since = q.since.unwrap_or(until - 7 * DAY_MS);
    if since >= until {
        return Err(ApiError::bad_request("invalid since", "since must be before until"));
    }
    let level = q.service_level_secs.unwrap_or(20);
    if !(1..=3600).contains(&level) {
        return Err(ApiError::bad_request(
            "invalid service_level_secs",
            "use 1 to 3600 seconds",
        ));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::bad_request("invalid format", "use json or csv")),
    };
    let filter = CallFilter {
        since: Some(since),
        until: Some(until),
        limit: MAX_CALLS + 1,
        // Reports need no traces, which are most of a record's size.
        without_trace: true,
        ..CallFilter::default()
    };
    let records = tenant.call_records(&filter).await.map_err(ApiError::internal)?;
    if records.len() as i64 > MAX_CALLS {
        return Err(ApiError::bad_request(
            "invalid since",
            &format!("over {MAX_CALLS} calls in the period: ask for a shorter one"),
        ));
    }
    let made = report(&records, q.by, since, until, level);
    Ok(match csv {
        true => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], made.to_csv()).into_response(),
        false => Json(made).into_response(),
    })
}

/// Queues now, on this node: for each department's line, the callers waiting, the kept
/// callbacks, the longest wait so far, the average talk time and the members' states.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct QueueBoard {
    queues: Vec<crate::call::queue::LineStatus>,
}

/// The company's queues now, as a wallboard shows them (lines appear once they had a caller
/// since the exchange started).
#[utoipa::path(get, path = "/queues", tag = "calls", responses((status = 200, body = QueueBoard)))]
pub async fn queues(
    tenant: Tenant,
    axum::extract::State(state): axum::extract::State<super::ApiState>,
) -> Result<Json<QueueBoard>, ApiError> {
    let office = state.offices.of(tenant.id()).await.map_err(ApiError::internal)?;
    let queues = office.dial.queues.status().await.map_err(ApiError::internal)?;
    Ok(Json(QueueBoard { queues }))
}
