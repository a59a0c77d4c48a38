//! Numbers: which flow (and settings) answers each company number, in which timezone, whether
//! its calls are recorded, and where calls go when the flow fails.

use crate::store::Tenant;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use crate::admin::numbers::{self, NumberOptions, default_chain};
use crate::call::Target;
use crate::store::Assignment;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// Flow name (its newest version) or sha256; none: the default chain — the `schedule` flow
    /// on the `office` schedule (a fresh install's Mon–Fri 09:00–18:00): the voice menu to the
    /// departments in business hours, voicemail outside them.
    #[serde(default)]
    flow: Option<String>,
    /// The flow's settings; checked against the flow's settings schema when it has one.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    settings: Value,
    /// IANA timezone the number's schedule is read in.
    #[serde(default = "utc")]
    timezone: String,
    /// Record both parties of every bridged call to the number.
    #[serde(default)]
    record_calls: bool,
    /// Where calls go when the flow fails; default the sales department.
    #[serde(default)]
    fallback: Option<Target>,
    /// Login of the employee whose mailbox takes voicemail left on the number (he lists and
    /// hears it with his own token).
    #[serde(default)]
    mailbox: Option<String>,
    /// Mail the `mailbox` owner about each call nobody answered and that left no voicemail (a
    /// missed call), when mail is on.
    #[serde(default)]
    missed_call_mail: bool,
    /// Hosts the flow may send HTTP requests to, e.g. the company's CRM (`example.amocrm.ru`, or
    /// `name:port` for one port only). None by default.
    #[serde(default)]
    #[schema(max_items = 32)]
    allowed_hosts: Vec<String>,
    /// E.164 the flow's calls out through the carrier show (forwarding a caller to a mobile or
    /// an outside number); none: the company's main number (`/company`).
    #[serde(default)]
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    caller_id: Option<String>,
    /// Shown first on an employee's ringing phone (the From display name) for the number's
    /// callers, e.g. `Sales` (at most 24 letters, digits, spaces and `-.&'`); empty: nothing.
    #[serde(default)]
    #[schema(max_length = 24)]
    display_prefix: String,
    /// The ringing phone also shows whether the caller is `new` or `returning` — or, with a
    /// contact card, the card's name and its manager.
    #[serde(default = "yes")]
    show_caller_status: bool,
}

fn yes() -> bool {
    true
}

fn empty_object() -> Value {
    json!({})
}

fn utc() -> String {
    "UTC".into()
}

/// A number as assigned.
#[derive(Serialize, ToSchema)]
pub struct NumberView {
    number: String,
    timezone: String,
    /// sha256 of the flow version.
    flow: String,
    #[schema(value_type = Object)]
    settings: Value,
    record_calls: bool,
    fallback: Option<Target>,
    mailbox: Option<String>,
    missed_call_mail: bool,
    allowed_hosts: Vec<String>,
    caller_id: Option<String>,
    display_prefix: String,
    show_caller_status: bool,
    updated_at: i64,
    health: FlowHealthView,
}

/// How the number's flow is doing on this node: a flow that traps or overruns its limits 5 times
/// in a minute is bypassed for 5 minutes (calls go straight to the fallback route); assigning
/// the number again ends that.
#[derive(Serialize, ToSchema)]
pub struct FlowHealthView {
    /// Traps and limit overruns in the last minute.
    recent_failures: usize,
    /// Whether new calls bypass the flow now.
    bypassed: bool,
    /// Seconds until the flow gets calls again (0 when not bypassed).
    bypassed_for_secs: u64,
}

impl NumberView {
    /// The number as the API shows it (its flow's secret settings hidden).
    async fn of(a: &Assignment, s: &ApiState) -> Self {
        NumberView {
            number: a.number.clone(),
            timezone: a.timezone.clone(),
            flow: a.flow_sha256.clone(),
            settings: s.registry.shown_settings(a).await,
            record_calls: a.record_calls,
            fallback: serde_json::from_str(&a.fallback).ok(),
            mailbox: Some(a.mailbox.clone()).filter(|m| !m.is_empty()),
            missed_call_mail: a.missed_call_mail,
            allowed_hosts: a.allowed_hosts.clone(),
            caller_id: Some(a.caller_id.clone()).filter(|c| !c.is_empty()),
            display_prefix: a.display_prefix.clone(),
            show_caller_status: a.show_caller_status,
            updated_at: a.updated_at,
            health: {
                let health = s.registry.health.health(a, std::time::Instant::now());
                FlowHealthView {
                    recent_failures: health.recent_failures,
                    bypassed: health.open_for.is_some(),
                    bypassed_for_secs: health.open_for.map_or(0, |d| d.as_secs().max(1)),
                }
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NumberList {
    numbers: Vec<NumberView>,
}

/// Assign a flow to a number (E.164). Atomic: new calls get the new version at once, calls in
/// progress finish on the one they started with.
#[utoipa::path(put, path = "/numbers/{number}", tag = "numbers",
    params(("number" = String, Path, description = "E.164, e.g. +15550100100")),
    request_body = AssignBody,
    responses((status = 200, body = NumberView),
        (status = 409, description = "another company's number, or the company's plan has room for no more numbers", body = ErrorBody),
        (status = 422, description = "bad number, unknown flow, settings that do not fit", body = ErrorBody)))]
pub async fn assign(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(number): Path<String>,
    body: Result<Json<AssignBody>, JsonRejection>,
) -> Result<Json<NumberView>, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    let (flow, settings) = match body.flow {
        Some(flow) => (flow, body.settings),
        None => default_chain(&tenant, body.settings)
            .await
            .map_err(ApiError::internal)?,
    };
    let options = NumberOptions {
        timezone: body.timezone,
        record_calls: body.record_calls,
        fallback: body.fallback,
        mailbox: body.mailbox,
        missed_call_mail: body.missed_call_mail,
        allowed_hosts: body.allowed_hosts,
        caller_id: body.caller_id,
        display_prefix: body.display_prefix,
        show_caller_status: body.show_caller_status,
    };
    if numbers::assigned(&tenant, &number)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        super::usage::within_plan(&tenant, super::usage::Adding::Number).await?;
    }
    let assignment = numbers::assign(&s.registry, &tenant, &number, &flow, &settings, &options)
        .await
        .map_err(super::assign_error)?;
    Ok(Json(NumberView::of(&assignment, &s).await))
}

#[utoipa::path(get, path = "/numbers", tag = "numbers", responses((status = 200, body = NumberList)))]
pub async fn list(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<NumberList>, ApiError> {
    let assignments = tenant.assignments().await.map_err(ApiError::internal)?;
    let mut numbers = Vec::with_capacity(assignments.len());
    for assignment in &assignments {
        numbers.push(NumberView::of(assignment, &s).await);
    }
    Ok(Json(NumberList { numbers }))
}

/// Where calls to the number go: its flow — built-in or uploaded — run in the simulator under
/// every business-hours state, digit and dial outcome (bounded), the runs merged into one
/// decision tree (`cut_short` says when the exploration stopped early). No call is placed.
#[utoipa::path(get, path = "/numbers/{number}/route-map", tag = "numbers",
    params(("number" = String, Path, description = "E.164, e.g. +15550100100")),
    responses((status = 200, body = crate::explore::RouteMap),
        (status = 404, description = "the company has no such number", body = ErrorBody),
        (status = 429, description = "maps are being drawn: try again in a few seconds", body = ErrorBody)))]
pub async fn route_map(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(number): Path<String>,
) -> Result<Json<crate::explore::RouteMap>, ApiError> {
    let Some(assignment) = numbers::assigned(&tenant, &number).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("number", &number));
    };
    let version = s
        .registry
        .version(&assignment.flow_sha256)
        .await
        .map_err(super::registry_error)?;
    let departments = tenant.departments().await.map_err(ApiError::internal)?;
    let company = crate::explore::Company::with_departments(tenant.id(), &departments);
    let _slot = super::simulation_slot("route maps are being drawn: try again in a few seconds")?;
    let engine = s.registry.engine().clone();
    let prompts = s.prompts.clone();
    let map = tokio::task::spawn_blocking(move || {
        crate::explore::explore(
            &engine,
            &version,
            &assignment.settings,
            &prompts,
            &company,
            &assignment.number,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(map))
}
