//! The admin HTTP API (axum). JSON in and out; errors are `{ "error": ..., "detail": ... }`.

mod auth;
mod contacts;
mod departments;
mod employees;
mod error;
mod media;
mod schedules;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

pub use auth::{Principal, Tokens, hash_token, new_token};
use error::ApiError;

use crate::call::Target;
use crate::flow::{FlowRegistry, NumberOptions, RegistryError};
use crate::live::LiveCalls;
use crate::media::PromptLibrary;
use crate::store::{CallFilter, Store};
use crate::throttle::FailureLimit;

/// Uploads (flows, prompts) larger than this are refused (a flow is typically 50–500 KiB, a
/// minute of 16 kHz speech 1.9 MiB).
const MAX_FLOW_BYTES: usize = 20 << 20;

#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<FlowRegistry>,
    pub store: Store,
    pub tokens: Tokens,
    /// The SIP digest realm, part of every stored password hash.
    pub realm: String,
    /// Where uploaded prompts go live.
    pub prompts: Arc<PromptLibrary>,
    /// Calls in progress.
    pub live: Arc<LiveCalls>,
    /// Wrong passwords per address (shared with SIP's digest authentication).
    pub failures: Arc<FailureLimit>,
    /// Renders `/metrics` (the process's Prometheus recorder).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/flows", post(upload_flow).get(list_flows))
        .route("/numbers", get(list_numbers))
        .route("/numbers/{number}", put(assign_number))
        .route("/calls", get(list_calls))
        .route("/calls/live", get(live_calls))
        .route("/calls/live/{id}", axum::routing::delete(hang_up_live_call))
        .route("/calls/{id}", get(show_call))
        .route("/employees", post(employees::create).get(employees::list))
        .route(
            "/employees/{login}",
            get(employees::show).patch(employees::update).delete(employees::delete),
        )
        .route("/registrations", get(list_registrations))
        .route("/schedules", get(schedules::list))
        .route(
            "/schedules/{id}",
            get(schedules::show).put(schedules::put).delete(schedules::delete),
        )
        .route("/departments", post(departments::create).get(departments::list))
        .route(
            "/departments/{id}",
            get(departments::show)
                .put(departments::replace)
                .delete(departments::delete),
        )
        .route("/contacts", post(contacts::create).get(contacts::list))
        .route(
            "/contacts/{id}",
            get(contacts::show).patch(contacts::update).delete(contacts::delete),
        )
        .route("/contacts/{id}/log", post(contacts::add_log))
        .route(
            "/callbacks",
            post(contacts::create_callback).get(contacts::list_callbacks),
        )
        .route("/callbacks/{id}", get(contacts::show_callback))
        .route("/callbacks/{id}/complete", post(contacts::complete_callback))
        .route("/prompts", post(media::upload_prompt).get(media::list_prompts))
        .route("/recordings", get(media::list_recordings))
        .route(
            "/recordings/{id}",
            get(media::get_recording).delete(media::delete_recording),
        )
        .layer(DefaultBodyLimit::max(MAX_FLOW_BYTES))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/login", post(auth::login))
        .merge(protected)
        // After routing, so that requests are counted by route, not by path.
        .route_layer(middleware::from_fn(count_request))
        .with_state(state)
}

/// `switchboard_api_requests_total{method, route, status}`.
async fn count_request(request: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchboard_api_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Prometheus text format. Registrations are counted from the store at scrape time (they
/// expire without anyone touching them).
async fn metrics_text(State(s): State<ApiState>) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Some(handle) = &s.metrics else {
        return Err(ApiError::not_found("metrics recorder", "this process"));
    };
    let now = crate::sip::unix_secs() as i64;
    let live = s.store.registrations(None, now).await.map_err(ApiError::internal)?;
    metrics::gauge!("switchboard_registrations").set(live.len() as f64);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[derive(Deserialize)]
struct UploadQuery {
    /// A name for the flow (versions of one flow share it). Default: "custom".
    name: Option<String>,
}

async fn upload_flow(
    State(s): State<ApiState>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = q.name.unwrap_or_else(|| "custom".into());
    if !is_name(&name, |c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ApiError::unprocessable(
            "name",
            "use 1-64 letters, digits, '-', '_' or '.'",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty body",
            "send the .wasm component as the request body",
        ));
    }
    let version = s.registry.upload(&name, &body, false).await.map_err(registry_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "sha256": version.sha256, "name": name, "size": body.len() })),
    ))
}

async fn list_flows(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "flows": s.store.list_flows().await.map_err(ApiError::internal)? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// Flow name (newest version) or sha256.
    flow: String,
    #[serde(default = "empty_object")]
    settings: Value,
    #[serde(default = "utc")]
    timezone: String,
    /// Record both parties of every bridged call to the number.
    #[serde(default)]
    record_calls: bool,
    /// Where calls go when the flow fails, e.g. `{"department": "sales"}` (the default).
    #[serde(default)]
    fallback: Option<Value>,
}

fn empty_object() -> Value {
    json!({})
}

fn utc() -> String {
    "UTC".into()
}

async fn assign_number(
    State(s): State<ApiState>,
    Path(number): Path<String>,
    body: Result<Json<AssignBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    let fallback = match body.fallback {
        None | Some(Value::Null) => None,
        Some(route) => Some(serde_json::from_value::<Target>(route).map_err(|e| {
            ApiError::unprocessable(
                "fallback",
                &format!("{e}: use {{\"department\": id}}, {{\"employee\": login}}, {{\"extension\": \"101\"}} or {{\"external\": \"+1555…\"}}"),
            )
        })?),
    };
    let options = NumberOptions {
        timezone: body.timezone,
        record_calls: body.record_calls,
        fallback,
    };
    let assignment = s
        .registry
        .assign(&number, &body.flow, &body.settings, &options)
        .await
        .map_err(registry_error)?;
    Ok(Json(assignment_json(&assignment)))
}

async fn list_numbers(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let numbers = s.store.assignments().await.map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "numbers": numbers.iter().map(assignment_json).collect::<Vec<_>>() }),
    ))
}

fn assignment_json(a: &crate::store::Assignment) -> Value {
    json!({
        "number": a.number,
        "timezone": a.timezone,
        "flow": a.flow_sha256,
        "settings": serde_json::from_str::<Value>(&a.settings).unwrap_or(Value::Null),
        "record_calls": a.record_calls,
        "fallback": serde_json::from_str::<Value>(&a.fallback).unwrap_or(Value::Null),
        "updated_at": a.updated_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallsQuery {
    limit: Option<i64>,
    caller: Option<String>,
    dialled: Option<String>,
    outcome: Option<String>,
    /// Unix ms: calls that started at or after it.
    since: Option<i64>,
    /// Unix ms: calls that started before it (the next page: the last call's `started_at`).
    before: Option<i64>,
}

/// `GET /calls`: the newest first, filtered; `next` is the query for the following page.
async fn list_calls(
    State(s): State<ApiState>,
    q: Result<Query<CallsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid query", &e.body_text()))?;
    let filter = CallFilter {
        id: None,
        caller: q.caller,
        dialled: q.dialled,
        outcome: q.outcome,
        since: q.since,
        until: q.before,
        limit: q.limit.unwrap_or(50).clamp(1, 1000),
    };
    let calls = s.store.call_records(&filter).await.map_err(ApiError::internal)?;
    let next = (calls.len() as i64 == filter.limit)
        .then(|| calls.last().map(|c| c.started_at))
        .flatten();
    Ok(Json(json!({ "calls": calls, "next_before": next })))
}

/// `GET /calls/live`: calls in progress on this node, oldest first.
async fn live_calls(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({ "calls": s.live.list() }))
}

/// `DELETE /calls/live/{id}`: hangs the call up (BYE to everyone in it); 202, the call record
/// follows with outcome `hung-up-by-admin`.
async fn hang_up_live_call(State(s): State<ApiState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if s.live.end(&id) {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found("live call", &id))
    }
}

/// `GET /calls/{id}`: one call with its decision trace and the recordings it left.
async fn show_call(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let filter = CallFilter {
        id: Some(id.clone()),
        limit: 1,
        ..CallFilter::default()
    };
    let Some(call) = s.store.call_records(&filter).await.map_err(ApiError::internal)?.pop() else {
        return Err(ApiError::not_found("call", &id));
    };
    let recordings = s.store.recordings(Some(&id), 100).await.map_err(ApiError::internal)?;
    let mut body = json!(call);
    body["recordings"] = json!(recordings);
    Ok(Json(body))
}

async fn list_registrations(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let now = crate::sip::unix_secs() as i64;
    Ok(Json(
        json!({ "registrations": s.store.registrations(None, now).await.map_err(ApiError::internal)? }),
    ))
}

/// A numeric id from the path (`/contacts/{id}`); anything else is a 400 in our JSON error shape.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<i64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(e) => Err(ApiError::bad_request("invalid id", &e.body_text())),
        }
    }
}

/// For `PATCH` bodies: tells an absent field (`None`, with `#[serde(default)]`) from an explicit
/// `null` (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Extensions are 2 to 6 digits (one numbering plan for employees and departments).
fn check_extension(extension: &str) -> Result<(), ApiError> {
    if (2..=6).contains(&extension.len()) && extension.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::unprocessable("extension", "use 2 to 6 digits"))
    }
}

/// 1 to 64 characters, each one `allowed`: the rule for flow, prompt and login names.
fn is_name(name: &str, allowed: impl Fn(char) -> bool) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(allowed)
}

/// Lower-case letters, digits, '.', '_', '-' (logins and prompt names: safe in SIP URIs and paths).
fn lower_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)
}

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::Flow(e) => ApiError::bad_request("invalid flow component", &e.to_string()),
        RegistryError::UnknownFlow(_) => ApiError::unprocessable("flow", &e.to_string()),
        RegistryError::BadNumber(_) => ApiError::unprocessable("number", &e.to_string()),
        RegistryError::BadSettings => ApiError::unprocessable("settings", &e.to_string()),
        RegistryError::Store(e) => ApiError::internal(e),
    }
}
