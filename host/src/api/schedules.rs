//! Schedules: business hours, holidays and extra working days.

use crate::store::Tenant;
use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::call::record::unix_ms;
use crate::schedule::Schedule;
use crate::store::StoredSchedule;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    name: String,
    #[serde(flatten)]
    schedule: Schedule,
}

/// A schedule as stored.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    id: String,
    name: String,
    #[serde(flatten)]
    schedule: Schedule,
    updated_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    schedules: Vec<ScheduleView>,
}

fn view(stored: &StoredSchedule) -> Result<ScheduleView, ApiError> {
    Ok(ScheduleView {
        id: stored.id.clone(),
        name: stored.name.clone(),
        schedule: serde_json::from_str(&stored.definition).map_err(ApiError::internal)?,
        updated_at: stored.updated_at,
    })
}

/// Create or replace a schedule: weekly hours per weekday, holidays, extra working days.
#[utoipa::path(put, path = "/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    request_body = ScheduleBody,
    responses((status = 200, body = ScheduleView), (status = 422, description = "names the mistake", body = ErrorBody)))]
pub async fn put(
    tenant: Tenant,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<ScheduleView>, ApiError> {
    let Json(raw) = body.map_err(ApiError::from_json)?;
    if !crate::admin::is_name(&id, crate::admin::lower_name_char) {
        return Err(ApiError::unprocessable(
            "id",
            "use 1-64 lower-case letters, digits, '.', '_' or '-'",
        ));
    }
    let body: ScheduleBody =
        serde_json::from_value(raw).map_err(|e| ApiError::unprocessable("schedule", &e.to_string()))?;
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::unprocessable("name", "use 1-200 characters"));
    }
    if let Some(problem) = body.schedule.problem() {
        return Err(ApiError::unprocessable("schedule", &problem));
    }
    let stored = StoredSchedule {
        id,
        name: body.name,
        definition: serde_json::to_string(&body.schedule).map_err(ApiError::internal)?,
        updated_at: unix_ms(),
    };
    tenant.put_schedule(&stored).await.map_err(ApiError::internal)?;
    Ok(Json(view(&stored)?))
}

#[utoipa::path(get, path = "/schedules", tag = "schedules", responses((status = 200, body = ScheduleList)))]
pub async fn list(tenant: Tenant) -> Result<Json<ScheduleList>, ApiError> {
    let all = tenant.schedules(None).await.map_err(ApiError::internal)?;
    let schedules = all.iter().map(view).collect::<Result<_, _>>()?;
    Ok(Json(ScheduleList { schedules }))
}

#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404, description = "no such schedule", body = ErrorBody)))]
pub async fn show(tenant: Tenant, Path(id): Path<String>) -> Result<Json<ScheduleView>, ApiError> {
    match tenant.schedules(Some(&id)).await.map_err(ApiError::internal)?.first() {
        Some(stored) => Ok(Json(view(stored)?)),
        None => Err(ApiError::not_found("schedule", &id)),
    }
}

#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such schedule", body = ErrorBody)))]
pub async fn delete(tenant: Tenant, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if tenant.delete_schedule(&id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("schedule", &id))
    }
}
