//! Calls: the records of finished calls (CDRs with their decision trace), calls in progress,
//! hanging one up and bringing a colleague into one.

use crate::store::Tenant;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{ApiState, ValidQuery};
use crate::call::supervision::Mode;
use crate::call::{CallRecord, CallResult, Feature};
use crate::live::{AskError, LiveCall};
use crate::store::{CallFilter, RecordingFilter, RecordingInfo};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    /// 1 to 1000; default 50.
    limit: Option<i64>,
    caller: Option<String>,
    dialled: Option<String>,
    outcome: Option<String>,
    /// What the call came to: `answered`, `missed`, `voicemail`, `failed`, `self-service`.
    result: Option<CallResult>,
    /// Unix ms: calls that started at or after it.
    since: Option<i64>,
    /// Unix ms: calls that started before it (the next page: the previous page's `next_before`).
    before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CallPage {
    calls: Vec<CallRecord>,
    /// `before` for the next page; null on the last.
    next_before: Option<i64>,
}

/// A call record with the recordings the call left.
#[derive(Serialize, ToSchema)]
pub struct CallDetail {
    #[serde(flatten)]
    call: CallRecord,
    recordings: Vec<RecordingInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct LiveCallList {
    calls: Vec<LiveCall>,
}

/// Call records, newest first, filtered.
#[utoipa::path(get, path = "/calls", tag = "calls", params(CallsQuery),
    responses((status = 200, body = CallPage)))]
pub async fn list(tenant: Tenant, ValidQuery(q): ValidQuery<CallsQuery>) -> Result<Json<CallPage>, ApiError> {
    page(&tenant, q.filter(None)).await
}

impl CallsQuery {
    fn filter(self, party: Option<crate::store::Party>) -> CallFilter {
        CallFilter {
            id: None,
            caller: self.caller,
            dialled: self.dialled,
            outcome: self.outcome,
            result: self.result,
            since: self.since,
            until: self.before,
            limit: self.limit.unwrap_or(50).clamp(1, 1000),
            without_trace: false,
            party,
        }
    }
}

/// An employee's calls, newest first: those he made, was offered (alone, or by extension) or
/// answered. An employee with the `user` role sees his own.
#[utoipa::path(get, path = "/employees/{login}/calls", tag = "calls", params(("login" = String, Path), CallsQuery),
    responses((status = 200, body = CallPage), (status = 404, description = "no such employee", body = ErrorBody)))]
pub async fn of_employee(
    tenant: Tenant,
    Path(login): Path<String>,
    ValidQuery(q): ValidQuery<CallsQuery>,
) -> Result<Json<CallPage>, ApiError> {
    let Some(employee) = tenant.employee(&login, false).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("employee", &login));
    };
    let party = crate::store::Party {
        login: employee.login,
        extension: employee.fields.extension,
    };
    page(&tenant, q.filter(Some(party))).await
}

/// A page of the calls `filter` selects, with where the next one starts.
async fn page(tenant: &Tenant, filter: CallFilter) -> Result<Json<CallPage>, ApiError> {
    let calls = tenant.call_records(&filter).await.map_err(ApiError::internal)?;
    let next_before = (calls.len() as i64 == filter.limit)
        .then(|| calls.last().map(|c| c.started_at))
        .flatten();
    Ok(Json(CallPage { calls, next_before }))
}

/// Calls in progress, oldest first (`id` is the id their record will have); with several
/// nodes on one database, every node's (each with its `node`).
#[utoipa::path(get, path = "/calls/live", tag = "calls", responses((status = 200, body = LiveCallList)))]
pub async fn live(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<LiveCallList>, ApiError> {
    Ok(Json(LiveCallList {
        calls: calls_up(&s, &tenant).await?,
    }))
}

/// The company's calls in progress: this node's, or every node's when several share the
/// database.
pub(super) async fn calls_up(s: &ApiState, tenant: &Tenant) -> Result<Vec<crate::live::LiveCall>, ApiError> {
    match &s.cluster {
        Some(cluster) => cluster.calls(tenant).await.map_err(ApiError::internal),
        None => Ok(s.live.list(tenant.id())),
    }
}

/// Hang a call up (BYE to everyone in it); its record follows with outcome `hung-up-by-admin`.
#[utoipa::path(delete, path = "/calls/live/{id}", tag = "calls",
    params(("id" = String, Path)),
    responses((status = 202, description = "hanging up"), (status = 404, description = "no such call up", body = ErrorBody)))]
pub async fn hang_up(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if s.live.company_of(&id) == Some(tenant.id()) && s.live.end(&id) {
        return Ok(StatusCode::ACCEPTED);
    }
    // Another node's call: that node is told to hang it up.
    let elsewhere = match &s.cluster {
        Some(cluster) => cluster.hang_up(&tenant, &id).await.map_err(ApiError::internal)?,
        None => false,
    };
    if elsewhere {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found("live call", &id))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreeWayBody {
    /// The colleague's (or a department's) extension, or an outside number (rung through the
    /// carrier under the company's rules for calls out).
    #[schema(pattern = "^(\\+?[0-9]{7,15}|[0-9]{2,6})$")]
    extension: String,
}

#[derive(Serialize, ToSchema)]
pub struct FeatureStarted {
    /// What the call is doing about it, e.g. `ringing 102`.
    status: String,
}

/// Bring a colleague (or an outside number) into a call in progress: his phone rings, and once
/// he answers the caller, the employee on the call and he talk together (a three-way
/// conference), as when the employee types `*3<extension>#`.
#[utoipa::path(post, path = "/calls/live/{id}/three-way", tag = "calls", params(("id" = String, Path)),
    request_body = ThreeWayBody,
    responses((status = 202, body = FeatureStarted),
        (status = 404, description = "no such call up", body = ErrorBody),
        (status = 409, description = "the call is not in a two-party conversation, or a colleague is already ringing", body = ErrorBody)))]
pub async fn three_way(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(id): Path<String>,
    body: Result<Json<ThreeWayBody>, JsonRejection>,
) -> Result<(StatusCode, Json<FeatureStarted>), ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    let extension = body.extension;
    if !is_extension(&extension) && !crate::call::number::is_outside_number(&extension) {
        return Err(ApiError::unprocessable(
            "extension",
            "use an extension of 2 to 6 digits or an outside number",
        ));
    }
    ask_live(&s, &tenant, &id, Feature::ThreeWay { extension }).await
}

fn is_extension(s: &str) -> bool {
    (2..=6).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuperviseBody {
    /// `listen` (nobody hears the supervisor), `whisper` (only the employee does) or `barge`.
    mode: Mode,
    /// The supervisor's extension: his phone rings, and once he answers he is in the call. On
    /// the line, 4, 5 and 6 switch to listen, whisper and barge.
    #[schema(pattern = "^[0-9]{2,6}$")]
    extension: String,
}

/// Supervise a call in progress: ring a supervisor's phone and, once he answers, let him listen
/// silently, whisper to the employee only, or barge in (as `*55`/`*56`/`*57` and the
/// employee's extension from his desk phone). The supervisor is listed among the call's legs,
/// with the mode he came in with.
#[utoipa::path(post, path = "/calls/live/{id}/supervise", tag = "calls", params(("id" = String, Path)),
    request_body = SuperviseBody,
    responses((status = 202, body = FeatureStarted),
        (status = 404, description = "no such call up", body = ErrorBody),
        (status = 409, description = "the call is not in a conversation, or has its supervisors already", body = ErrorBody)))]
pub async fn supervise(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(id): Path<String>,
    body: Result<Json<SuperviseBody>, JsonRejection>,
) -> Result<(StatusCode, Json<FeatureStarted>), ApiError> {
    let Json(SuperviseBody { mode, extension }) = body.map_err(ApiError::from_json)?;
    if !is_extension(&extension) {
        return Err(ApiError::unprocessable("extension", "use 2 to 6 digits"));
    }
    ask_live(&s, &tenant, &id, Feature::Supervise { mode, extension }).await
}

/// Asks the company's live call `id` for `feature`, on whichever node has it.
async fn ask_live(
    s: &ApiState,
    tenant: &Tenant,
    id: &str,
    feature: Feature,
) -> Result<(StatusCode, Json<FeatureStarted>), ApiError> {
    // Only the company's own call: another's is as unknown as one that does not exist.
    let asked = match s.live.company_of(id) {
        Some(company) if company == tenant.id() => s.live.ask(id, feature.clone()).await,
        Some(_) => return Err(ApiError::not_found("live call", id)),
        None => Err(AskError::NoSuchCall),
    };
    let status = match asked {
        Ok(status) => status,
        Err(AskError::Refused(why)) => return Err(ApiError::conflict(&why)),
        Err(AskError::NoSuchCall) => {
            // Another node's call: that node is told (it answers nobody).
            let elsewhere = match &s.cluster {
                Some(cluster) => cluster.ask(tenant, id, &feature).await.map_err(ApiError::internal)?,
                None => false,
            };
            if !elsewhere {
                return Err(ApiError::not_found("live call", id));
            }
            "asked the node that has the call".to_owned()
        }
    };
    Ok((StatusCode::ACCEPTED, Json(FeatureStarted { status })))
}

/// One call with its decision trace and the recordings it left.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = CallDetail), (status = 404, description = "no such call", body = ErrorBody)))]
pub async fn show(tenant: Tenant, Path(id): Path<String>) -> Result<Json<CallDetail>, ApiError> {
    let filter = CallFilter {
        id: Some(id.clone()),
        limit: 1,
        ..CallFilter::default()
    };
    let Some(call) = tenant.call_records(&filter).await.map_err(ApiError::internal)?.pop() else {
        return Err(ApiError::not_found("call", &id));
    };
    let filter = RecordingFilter {
        call_id: Some(id),
        limit: 100,
        ..RecordingFilter::default()
    };
    let recordings = tenant.recordings(&filter).await.map_err(ApiError::internal)?;
    Ok(Json(CallDetail { call, recordings }))
}
