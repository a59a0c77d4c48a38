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
