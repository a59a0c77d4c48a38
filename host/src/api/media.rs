//! Prompts (uploaded WAVs callers hear) and recordings (what callers said) over the API.

use crate::store::Tenant;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Principal, ValidQuery};
use crate::call::record::unix_ms;
use crate::media::{Prompt, PromptError};
use crate::store::{Change, PromptInfo, RecordingFilter, RecordingInfo};

#[derive(Deserialize, IntoParams)]
pub struct PromptQuery {
    /// 1-64 lower-case letters, digits, `-`, `_`, `.`; a built-in's name replaces it.
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PromptUploaded {
    name: String,
    duration_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PromptList {
    prompts: Vec<PromptInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct RecordingList {
    recordings: Vec<RecordingInfo>,
}

/// Upload a prompt (a WAV body: 16-bit PCM mono, 8–48 kHz): stored as 8 kHz mono, replacing a
/// prompt of the same name (built-ins included), playable at once.
#[utoipa::path(post, path = "/prompts", tag = "media", params(PromptQuery),
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    responses((status = 201, body = PromptUploaded),
        (status = 413, description = "over the company plan's storage (`max_storage_bytes`)", body = ErrorBody),
        (status = 422, description = "bad name", body = ErrorBody)))]
pub async fn upload_prompt(
    State(s): State<ApiState>,
    tenant: Tenant,
    ValidQuery(q): ValidQuery<PromptQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<PromptUploaded>), ApiError> {
    let name = q.name.unwrap_or_default();
    if !crate::admin::is_name(&name, crate::admin::lower_name_char) {
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
    let wav = prompt.to_wav();
    super::usage::within_plan(&tenant, super::usage::Adding::Storage(wav.len() as i64)).await?;
    tenant
        .put_prompt(&name, &wav, prompt.duration_ms(), unix_ms())
        .await
        .map_err(ApiError::internal)?;
    let duration_ms = prompt.duration_ms();
    s.prompts.insert_for(tenant.id(), &name, prompt);
    tenant.store().announce(Change::Prompts).await;
    Ok((StatusCode::CREATED, Json(PromptUploaded { name, duration_ms })))
}

/// Uploaded prompts.
#[utoipa::path(get, path = "/prompts", tag = "media", responses((status = 200, body = PromptList)))]
pub async fn list_prompts(tenant: Tenant) -> Result<Json<PromptList>, ApiError> {
    let prompts = tenant.prompt_list().await.map_err(ApiError::internal)?;
    Ok(Json(PromptList { prompts }))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this employee's voicemail (login).
    mailbox: Option<String>,
    /// 1 to 1000; default 50.
    limit: Option<i64>,
}

/// Voicemail and call recordings, newest first; an employee with the `user` role sees the
/// voicemail in his own mailbox.
#[utoipa::path(get, path = "/recordings", tag = "media", params(ListQuery), responses((status = 200, body = RecordingList)))]
pub async fn list_recordings(
    tenant: Tenant,
    Extension(principal): Extension<Principal>,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> Result<Json<RecordingList>, ApiError> {
    let mailbox = match principal {
        Principal::Admin => q.mailbox,
        Principal::User(login) => Some(login),
    };
    let filter = RecordingFilter {
        mailbox,
        limit: q.limit.unwrap_or(50).clamp(1, 1000),
        ..RecordingFilter::default()
    };
    let recordings = tenant.recordings(&filter).await.map_err(ApiError::internal)?;
    Ok(Json(RecordingList { recordings }))
}

/// The recording if `principal` may have it: an admin any, a user those in his mailbox (to
/// anyone else, someone else's recording does not exist).
async fn recording_for(tenant: &Tenant, principal: &Principal, id: &str) -> Result<RecordingInfo, ApiError> {
    let filter = RecordingFilter {
        id: Some(id.to_owned()),
        limit: 1,
        ..RecordingFilter::default()
    };
    let found = tenant.recordings(&filter).await.map_err(ApiError::internal)?.pop();
    match (found, principal) {
        (Some(r), Principal::Admin) => Ok(r),
        (Some(r), Principal::User(login)) if r.mailbox.as_ref() == Some(login) => Ok(r),
        _ => Err(ApiError::not_found("recording", id)),
    }
}

/// Tells the phones of the recording's mailbox owner (if any) that his mailbox changed.
async fn mailbox_changed(state: &ApiState, tenant: &Tenant, recording: &RecordingInfo) {
    let (Some(login), Ok(office)) = (&recording.mailbox, state.offices.of(tenant.id()).await) else {
        return;
    };
    office.dial.mailboxes.changed(tenant.id(), login);
}

/// The recording's audio (`audio/wav`). The mailbox's owner fetching his voicemail has heard
/// it: his phone's message-waiting lamp goes out when nothing else is new.
#[utoipa::path(get, path = "/recordings/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 200, description = "8 kHz 16-bit WAV", content_type = "audio/wav", body = Vec<u8>),
        (status = 404, description = "no such recording", body = ErrorBody)))]
pub async fn get_recording(
    tenant: Tenant,
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let recording = recording_for(&tenant, &principal, &id).await?;
    let Some(wav) = tenant.recording_wav(&id).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("recording", &id));
    };
    let owner_listens = matches!(&principal, Principal::User(login) if recording.mailbox.as_ref() == Some(login));
    if owner_listens && !recording.heard {
        tenant.set_heard(&id, true).await.map_err(ApiError::internal)?;
        mailbox_changed(&state, &tenant, &recording).await;
    }
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingChange {
    /// Heard (the message-waiting lamp counts it as old), or new again.
    heard: bool,
}

/// Marks a voicemail heard, or new again.
#[utoipa::path(patch, path = "/recordings/{id}", tag = "media", params(("id" = String, Path)),
    request_body = RecordingChange,
    responses((status = 200, body = RecordingInfo), (status = 404, description = "no such recording", body = ErrorBody)))]
pub async fn update_recording(
    tenant: Tenant,
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<RecordingChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RecordingInfo>, ApiError> {
    let Json(change) = body.map_err(ApiError::from_json)?;
    let mut recording = recording_for(&tenant, &principal, &id).await?;
    if !tenant.set_heard(&id, change.heard).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found("recording", &id));
    }
    recording.heard = change.heard;
    mailbox_changed(&state, &tenant, &recording).await;
    Ok(Json(recording))
}

#[utoipa::path(delete, path = "/recordings/{id}", tag = "media", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such recording", body = ErrorBody)))]
pub async fn delete_recording(
    tenant: Tenant,
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let recording = recording_for(&tenant, &principal, &id).await?;
    if tenant.delete_recording(&id).await.map_err(ApiError::internal)? {
        mailbox_changed(&state, &tenant, &recording).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("recording", &id))
    }
}
