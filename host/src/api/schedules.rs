//! Schedules: business hours, holidays and extra working days.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;
use crate::call::record::unix_ms;
use crate::schedule::Schedule;
use crate::store::StoredSchedule;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    name: String,
    #[serde(flatten)]
    schedule: Schedule,
}

fn to_json(stored: &StoredSchedule) -> Value {
    let mut body = serde_json::from_str::<Value>(&stored.definition).unwrap_or(Value::Null);
    body["id"] = json!(stored.id);
    body["name"] = json!(stored.name);
    body["updated_at"] = json!(stored.updated_at);
    body
}

/// `PUT /schedules/{id}`: creates or replaces it.
pub async fn put(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(raw) = body.map_err(ApiError::from_json)?;
    if !super::is_name(&id, super::lower_name_char) {
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
    s.store.put_schedule(&stored).await.map_err(ApiError::internal)?;
    Ok(Json(to_json(&stored)))
}

pub async fn list(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let all = s.store.schedules(None).await.map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "schedules": all.iter().map(to_json).collect::<Vec<_>>() }),
    ))
}

pub async fn show(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    match s.store.schedules(Some(&id)).await.map_err(ApiError::internal)?.first() {
        Some(stored) => Ok(Json(to_json(stored))),
        None => Err(ApiError::not_found("schedule", &id)),
    }
}

pub async fn delete(State(s): State<ApiState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if s.store.delete_schedule(&id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("schedule", &id))
    }
}
