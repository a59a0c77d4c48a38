//! Flows: components uploaded (content-addressed versions), listed, shown with their imports
//! and settings schema, deleted when no number uses them.

use crate::store::Tenant;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{ApiState, ValidQuery};
use crate::store::FlowInfo;

#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// A name for the flow (versions of one flow share it). Default: `custom`.
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    sha256: String,
    name: String,
    size: usize,
}

#[derive(Serialize, ToSchema)]
pub struct FlowList {
    flows: Vec<FlowInfo>,
}

/// A version with what it needs and takes.
#[derive(Serialize, ToSchema)]
pub struct FlowDetail {
    #[serde(flatten)]
    info: FlowInfo,
    /// The interfaces the component imports.
    imports: Vec<String>,
    /// The JSON Schema its settings must match (null: the flow embeds none, any object goes).
    #[schema(value_type = Option<Object>)]
    settings_schema: Option<Value>,
    /// Numbers assigned to this version.
    numbers: Vec<String>,
}

/// Upload a flow component (`.wasm` bytes as the body); it is compiled and checked against the
/// `switchboard:flow` world at once, so a bad one is refused here, never at call time.
#[utoipa::path(post, path = "/flows", tag = "flows", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = Uploaded), (status = 400, description = "not a flow component", body = ErrorBody),
        (status = 413, description = "over an upload limit (size, declarations, compile time or memory), named in `detail`", body = ErrorBody),
        (status = 409, description = "the company's plan has room for no more flow versions, or another company holds these very bytes", body = ErrorBody),
        (status = 422, description = "bad name", body = ErrorBody)))]
pub async fn upload(
    State(s): State<ApiState>,
    tenant: Tenant,
    ValidQuery(q): ValidQuery<UploadQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let name = q.name.unwrap_or_else(|| "custom".into());
    if !crate::admin::is_name(&name, |c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
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
    let sha256 = crate::flow::FlowEngine::sha256(&body);
    if tenant.flow_info(&sha256).await.map_err(ApiError::internal)?.is_none() {
        super::usage::within_plan(&tenant, super::usage::Adding::FlowVersion(body.len() as i64)).await?;
    }
    let version = s
        .registry
        .upload(&tenant, &name, &body)
        .await
        .map_err(super::registry_error)?;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            sha256: version.sha256.clone(),
            name,
            size: body.len(),
        }),
    ))
}

/// Every stored flow version, built-in ones included.
#[utoipa::path(get, path = "/flows", tag = "flows", responses((status = 200, body = FlowList)))]
pub async fn list(tenant: Tenant) -> Result<Json<FlowList>, ApiError> {
    let flows = tenant.list_flows().await.map_err(ApiError::internal)?;
    Ok(Json(FlowList { flows }))
}

/// One version (by sha256, or a name for its newest version): its imports, settings schema and
/// the numbers that use it.
#[utoipa::path(get, path = "/flows/{flow}", tag = "flows",
    params(("flow" = String, Path, description = "sha256 or name")),
    responses((status = 200, body = FlowDetail), (status = 404, description = "no such flow", body = ErrorBody)))]
pub async fn show(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(flow): Path<String>,
) -> Result<Json<FlowDetail>, ApiError> {
    let info = find(&tenant, &flow).await?;
    let version = s.registry.version(&info.sha256).await.map_err(super::registry_error)?;
    Ok(Json(FlowDetail {
        imports: version.imports.clone(),
        settings_schema: version.settings_schema.as_ref().map(|schema| schema.json.clone()),
        numbers: numbers_using(&tenant, &info.sha256).await?,
        info,
    }))
}

/// Delete a version no number uses (409 names the numbers that do; built-in flows stay).
#[utoipa::path(delete, path = "/flows/{flow}", tag = "flows",
    params(("flow" = String, Path, description = "sha256 (a name is not enough to delete)")),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such flow", body = ErrorBody),
        (status = 409, description = "in use or built-in", body = ErrorBody)))]
pub async fn delete(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(sha256): Path<String>,
) -> Result<StatusCode, ApiError> {
    let info = find(&tenant, &sha256).await?;
    if info.sha256 != sha256 {
        return Err(ApiError::not_found("flow version", &sha256));
    }
    if info.builtin {
        return Err(ApiError::conflict("built-in flows come with the exchange and stay"));
    }
    let numbers = numbers_using(&tenant, &sha256).await?;
    if !numbers.is_empty() {
        return Err(ApiError::conflict(&format!(
            "assigned to {}: assign those numbers another flow first",
            numbers.join(", ")
        )));
    }
    if !tenant.delete_flow(&sha256).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found("flow version", &sha256));
    }
    s.registry.forget(&sha256);
    Ok(StatusCode::NO_CONTENT)
}

async fn find(tenant: &Tenant, reference: &str) -> Result<FlowInfo, ApiError> {
    let Some(sha) = tenant.resolve_flow(reference).await.map_err(ApiError::internal)? else {
        return Err(ApiError::not_found("flow", reference));
    };
    match tenant.flow_info(&sha).await.map_err(ApiError::internal)? {
        Some(info) => Ok(info),
        None => Err(ApiError::not_found("flow", reference)),
    }
}

async fn numbers_using(tenant: &Tenant, sha256: &str) -> Result<Vec<String>, ApiError> {
    let numbers = tenant.assignments().await.map_err(ApiError::internal)?;
    Ok(numbers
        .into_iter()
        .filter(|a| a.flow_sha256 == sha256)
        .map(|a| a.number)
        .collect())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationBody {
    /// The flow's settings (checked against its schema, as an assignment's are).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    settings: Value,
    /// What the caller and the company do (`switchboard flow simulate --script`): `2s press 1;
    /// dial answered`, `schedule office closed`… (at most 16 KiB). Without a `hangup` step the
    /// caller hangs up after an hour.
    #[serde(default)]
    #[schema(max_length = 16384)]
    script: String,
    /// The caller's number; default `+15550100001`.
    caller: Option<String>,
    /// The number dialled; default `+15550100100`.
    dialled: Option<String>,
}

fn empty_object() -> Value {
    serde_json::json!({})
}

#[derive(Serialize, ToSchema)]
pub struct SimulationResult {
    /// What the flow did, as a call record's trace says it.
    trace: Vec<crate::records::TraceEntry>,
    /// `completed`, or why it failed or trapped.
    exit: String,
    /// The flow completed.
    ok: bool,
}

const MAX_SCRIPT: usize = 16 * 1024;

/// Runs the flow version on a simulated call (a paused clock: no real waiting; no call placed,
/// no HTTP request sent — the script says what the CRM answers) and returns its trace. 422
/// names `script` or `settings`; 429 while the node's 2 simulation slots are busy.
#[utoipa::path(post, path = "/flows/{flow}/simulate", tag = "flows",
    params(("flow" = String, Path, description = "sha256 or name")), request_body = SimulationBody,
    responses((status = 200, body = SimulationResult), (status = 404, description = "no such flow", body = ErrorBody),
        (status = 422, description = "the script or the settings are invalid", body = ErrorBody),
        (status = 429, description = "simulations are running: try again in a few seconds", body = ErrorBody)))]
pub async fn simulate(
    State(s): State<ApiState>,
    tenant: Tenant,
    Path(flow): Path<String>,
    body: Result<Json<SimulationBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SimulationResult>, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    if body.script.len() > MAX_SCRIPT {
        return Err(ApiError::unprocessable(
            "script",
            &format!("at most {MAX_SCRIPT} bytes"),
        ));
    }
    let mut script_text = body.script.clone();
    if !script_text.contains("hangup") {
        script_text.push_str("\n3600s hangup");
    }
    let script: crate::call::script::Script = script_text
        .parse()
        .map_err(|e: String| ApiError::unprocessable("script", &e))?;
    let info = find(&tenant, &flow).await?;
    let version = s.registry.version(&info.sha256).await.map_err(super::registry_error)?;
    if let Some(schema) = &version.settings_schema {
        let known = crate::admin::known_names(&tenant).await.map_err(ApiError::internal)?;
        schema
            .check(&body.settings, &known)
            .map_err(|why| ApiError::unprocessable("settings", &format!("the settings do not fit the flow: {why}")))?;
    }
    let _slot = super::simulation_slot("simulations are running: try again in a few seconds")?;
    let (engine, prompts, company) = (s.registry.engine().clone(), s.prompts.clone(), tenant.id());
    let settings = body.settings.to_string();
    let caller = body.caller.unwrap_or_else(|| "+15550100001".into());
    let dialled = body.dialled.unwrap_or_else(|| "+15550100100".into());
    let run = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let runtime = crate::simulate::paused_runtime()?;
        let call = || crate::call::script::ScriptedCall::new(script, prompts, &caller, &dialled).of_company(company);
        let run = crate::simulate::run_scripted(&runtime, &engine, &version, &settings, call);
        Ok((run.trace.into_entries(), run.exit))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let (trace, exit) = run;
    let (ok, exit) = match exit {
        crate::flow::FlowExit::Completed => (true, "completed".to_owned()),
        crate::flow::FlowExit::Failed(why) => (false, format!("failed: {why}")),
        crate::flow::FlowExit::Trapped(why) => (false, format!("trapped: {why}")),
    };
    Ok(Json(SimulationResult { trace, exit, ok }))
}
