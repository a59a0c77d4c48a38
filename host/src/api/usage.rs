//! What the company uses — people, numbers, flow versions, calls now, calls and connected minutes
//! this month, storage — for its admin (and, with plans, against its plan).

use crate::store::Tenant;
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
    /// What the company's plan allows (`null`: no limit).
    plan: crate::store::Plan,
}

/// What the company uses now and this month.
#[utoipa::path(get, path = "/usage", tag = "company", responses((status = 200, body = UsageView)))]
pub async fn show(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<UsageView>, ApiError> {
    let month_started_at = month_start(jiff::Timestamp::now());
    let usage = tenant.usage(month_started_at).await.map_err(ApiError::internal)?;
    let calls_now = super::calls::calls_up(&s, &tenant).await?.len();
    Ok(Json(UsageView {
        employees: usage.employees,
        numbers: usage.numbers,
        flow_versions: usage.flow_versions,
        calls_now,
        calls_this_month: usage.calls,
        minutes_this_month: usage.connected_minutes,
        storage_bytes: usage.storage_bytes,
        month_started_at,
        plan: s.companies.get(tenant.id()).map(|c| c.plan.clone()).unwrap_or_default(),
    }))
}

/// What a request would add to what the company keeps.
pub(super) enum Adding {
    Employee,
    Number,
    /// An uploaded flow version of this many bytes.
    FlowVersion(i64),
    /// A prompt of this many bytes.
    Storage(i64),
}

/// Whether the company's plan leaves room for `adding`; else the 409 (or, for storage, 413)
/// that names the limit.
pub(super) async fn within_plan(tenant: &Tenant, adding: Adding) -> Result<(), ApiError> {
    let plan = tenant.info().await.map_err(ApiError::internal)?.plan;
    let limited = match adding {
        Adding::Employee => plan.max_employees.is_some(),
        Adding::Number => plan.max_numbers.is_some(),
        Adding::FlowVersion(_) => plan.max_flow_versions.is_some() || plan.max_storage_bytes.is_some(),
        Adding::Storage(_) => plan.max_storage_bytes.is_some(),
    };
    if !limited {
        return Ok(());
    }
    let used = tenant.usage(0).await.map_err(ApiError::internal)?;
    let over = |limit: Option<i64>, now: i64, field: &str, what: &str| match limit {
        Some(limit) if now >= limit => Err(ApiError::over_plan(
            field,
            &format!("the company's plan allows {limit} {what}; it has {now}"),
        )),
        _ => Ok(()),
    };
    let storage = |bytes: i64| match plan.max_storage_bytes {
        Some(limit) if used.storage_bytes + bytes > limit => Err(ApiError::too_large(
            "over the plan's storage",
            &format!(
                "max_storage_bytes: the company's plan keeps {limit} bytes; it keeps {} and this is {bytes} more",
                used.storage_bytes
            ),
        )),
        _ => Ok(()),
    };
    match adding {
        Adding::Employee => over(plan.max_employees, used.employees, "max_employees", "employees"),
        Adding::Number => over(plan.max_numbers, used.numbers, "max_numbers", "numbers"),
        Adding::FlowVersion(bytes) => {
            over(
                plan.max_flow_versions,
                used.flow_versions,
                "max_flow_versions",
                "uploaded flow versions",
            )?;
            storage(bytes)
        }
        Adding::Storage(bytes) => storage(bytes),
    }
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
