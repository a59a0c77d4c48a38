//! What the company uses — people, numbers, flow versions, calls now, calls and connected minutes
//! this month, storage — for its admin (and, with plans, against its plan).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::ApiError;

#[derive(Serialize, ToSchema)]
pub struct UsageView {
    employees: i64,
    numbers: i64,
    /// Uploaded flow versions (built-in flows are not counted).
    flow_versions: i64,
    /// Calls in progress now (every node's).
    calls_now: usize,
    /// Calls that started this month (UTC).
    calls_this_month: i64,
    /// Minutes of connected calls that started this month, each rounded up.
    minutes_this_month: i64,
    /// Bytes of recordings, uploaded prompts and uploaded flow versions.
    storage_bytes: i64,
    /// When this month began (Unix ms, UTC).
    month_started_at: i64,
}

/// What the company uses now and this month.
#[utoipa::path(get, path = "/usage", tag = "company", responses((status = 200, body = UsageView)))]
pub async fn show(State(s): State<ApiState>) -> Result<Json<UsageView>, ApiError> {
    let month_started_at = month_start(jiff::Timestamp::now());
    let usage = s.store.usage(month_started_at).await.map_err(ApiError::internal)?;
    let calls_now = super::calls::calls_up(&s).await?.len();
    Ok(Json(UsageView {
        employees: usage.employees,
        numbers: usage.numbers,
        flow_versions: usage.flow_versions,
        calls_now,
        calls_this_month: usage.calls,
        minutes_this_month: usage.connected_minutes,
        storage_bytes: usage.storage_bytes,
        month_started_at,
    }))
}

/// The first instant of `now`'s month, UTC, in Unix ms.
fn month_start(now: jiff::Timestamp) -> i64 {
    let utc = jiff::tz::TimeZone::UTC;
    let first = utc
        .to_datetime(now)
        .date()
        .first_of_month()
        .to_datetime(jiff::civil::Time::midnight());
    utc.to_timestamp(first).map(|t| t.as_millisecond()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_month_starts_on_the_first_at_midnight_utc() {
        let now: jiff::Timestamp = "2026-12-04T07:56:00Z".parse().unwrap();
        let start: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(super::month_start(now), start.as_millisecond());
    }
}
