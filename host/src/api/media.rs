//! Prompts (uploaded WAVs callers hear) and recordings (what callers said) over the API.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;
use crate::call::record::unix_ms;
use crate::media::{Prompt, PromptError};
use crate::store::Change;

#[derive(Deserialize)]
pub struct PromptQuery {
    name: Option<String>,
}

/// `POST /prompts?name=…` with a WAV body: stored (as 8 kHz mono, replacing a prompt of the same
/// name, built-ins included) and playable at once.
pub async fn upload_prompt(
    State(s): State<ApiState>,
    Query(q): Query<PromptQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = q.name.unwrap_or_default();
    if !super::is_name(&name, super::lower_name_char) {
        return Err(ApiError::unprocessable(
            "name",
            "use 1-64 lower-case letters, digits, '-', '_' or '.'",
        ));
    }
    let prompt = Prompt::from_wav(&body).map_err(|e| match e {
        PromptError::NotWav(_) | PromptError::Unsupported(_) => {
            ApiError::bad_request("not a usable WAV file", &e.to_string())
        }
        other => ApiError::internal(other),
    })?;
    if prompt.samples().is_empty() {
        return Err(ApiError::bad_request("empty prompt", "the WAV file holds no audio"));
    }
    s.store
        .put_prompt(&name, &prompt.to_wav(), prompt.duration_ms(), unix_ms())
        .await
        .map_err(ApiError::internal)?;
    let duration_ms = prompt.duration_ms();
    s.prompts.insert(name.clone(), prompt);
    s.store.announce(Change::Prompts).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": name, "duration_ms": duration_ms })),
    ))
}

pub async fn list_prompts(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let prompts = s.store.prompt_list().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "prompts": prompts })))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

pub async fn list_recordings(State(s): State<ApiState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let recordings = s.store.recordings(None, limit).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "recordings": recordings })))
}

/// `GET /recordings/{id}`: the audio, as `audio/wav`.
pub async fn get_recording(State(s): State<ApiState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    match s.store.recording_wav(&id).await.map_err(ApiError::internal)? {
        Some(wav) => Ok(([(header::CONTENT_TYPE, "audio/wav")], wav)),
        None => Err(ApiError::not_found("recording", &id)),
    }
}

pub async fn delete_recording(State(s): State<ApiState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if s.store.delete_recording(&id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("recording", &id))
    }
}
