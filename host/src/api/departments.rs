//! Departments: who rings when a flow routes to one (or a colleague dials its extension).

use crate::store::Tenant;
use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::call::hunting::Strategy;
use crate::call::record::unix_ms;
use crate::store::Department;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentBody {
    /// What flows name (`{"department": "sales"}`); in the path for PUT.
    id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// 2 to 6 digits, unique across employees and departments.
    #[schema(pattern = r"^[0-9]{2,6}$")]
    extension: String,
    /// `ring_all`, `in_turn` or `increasingly`.
    #[serde(default = "ring_all")]
    #[schema(pattern = r"^(ring_all|in_turn|increasingly)$")]
    strategy: String,
    /// Seconds between one member and the next.
    #[serde(default = "fifteen")]
    #[schema(minimum = 1, maximum = 300)]
    step_secs: i64,
    /// Nothing rings after this many seconds.
    #[serde(default = "sixty")]
    #[schema(minimum = 5, maximum = 3600)]
    timeout_secs: i64,
    /// Employees' logins, in hunting order.
    #[serde(default)]
    members: Vec<String>,
    /// Ring members who are on a call (their phones' call waiting); by default they are
    /// skipped, like members in do-not-disturb or logged out of the department.
    #[serde(default)]
    ring_busy: bool,
    /// Where callers go when nobody answered within `timeout_secs` (or nobody was free): a
    /// route, e.g. `{"department": "support"}`, `{"employee": "alice"}`, `{"voicemail":
    /// {"mailbox": "alice"}}`, `{"callback": {}}`; none: voicemail with a callback request.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    overflow: Option<serde_json::Value>,
    /// How far its members may call out when they have no right of their own: `internal`,
    /// `local`, `mobile`, `national` or `international`; empty: not set.
    #[serde(default)]
    calling_rights: String,
}

fn ring_all() -> String {
    "ring_all".into()
}
fn fifteen() -> i64 {
    15
}
fn sixty() -> i64 {
    60
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentList {
    departments: Vec<Department>,
}

/// Create a department (422 when the id is taken: `PUT` replaces).
#[utoipa::path(post, path = "/departments", tag = "departments", request_body = DepartmentBody,
    responses((status = 201, body = Department), (status = 422, description = "a field is invalid or taken", body = ErrorBody)))]
pub async fn create(
    tenant: Tenant,
    body: Result<Json<DepartmentBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Department>), ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    let id = body.id.clone().unwrap_or_default();
    if tenant
        .department(&id, false)
        .await
        .map_err(ApiError::internal)?
        .is_some()
    {
        return Err(ApiError::unprocessable(
            "id",
            &format!("department {id:?} exists (PUT replaces it)"),
        ));
    }
    let department = save(&tenant, id, body).await?;
    Ok((StatusCode::CREATED, Json(department)))
}

/// Create or replace a department, members included.
#[utoipa::path(put, path = "/departments/{id}", tag = "departments", params(("id" = String, Path)),
    request_body = DepartmentBody,
    responses((status = 200, body = Department), (status = 422, description = "a field is invalid or taken", body = ErrorBody)))]
pub async fn replace(
    tenant: Tenant,
    Path(id): Path<String>,
    body: Result<Json<DepartmentBody>, JsonRejection>,
) -> Result<Json<Department>, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(ApiError::unprocessable("id", "the body's id differs from the path's"));
    }
    Ok(Json(save(&tenant, id, body).await?))
}

/// Checks the body and stores it as department `id`.
async fn save(tenant: &Tenant, id: String, body: DepartmentBody) -> Result<Department, ApiError> {
    if !crate::admin::is_name(&id, crate::admin::lower_name_char) {
        return Err(ApiError::unprocessable(
            "id",
            "use 1-64 lower-case letters, digits, '.', '_' or '-'",
        ));
    }
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::unprocessable("name", "use 1-200 characters"));
    }
    crate::admin::check_extension(&body.extension)?;
    if let Some(owner) = tenant
        .extension_owner(&body.extension)
        .await
        .map_err(ApiError::internal)?
        && owner != format!("department {id}")
    {
        return Err(ApiError::unprocessable("extension", &format!("{} has it", owner)));
    }
    body.strategy
        .parse::<Strategy>()
        .map_err(|e| ApiError::unprocessable("strategy", &e))?;
    if !(1..=300).contains(&body.step_secs) {
        return Err(ApiError::unprocessable("step_secs", "use 1 to 300 seconds"));
    }
    if !(5..=3600).contains(&body.timeout_secs) {
        return Err(ApiError::unprocessable("timeout_secs", "use 5 to 3600 seconds"));
    }
    let mut member_ids = Vec::with_capacity(body.members.len());
    for login in &body.members {
        let employee = tenant.employee(login, false).await.map_err(ApiError::internal)?;
        let Some(employee) = employee else {
            return Err(ApiError::unprocessable("members", &format!("no employee {login:?}")));
        };
        if member_ids.contains(&employee.id) {
            return Err(ApiError::unprocessable(
                "members",
                &format!("{login:?} is listed twice"),
            ));
        }
        member_ids.push(employee.id);
    }
    if let Some(route) = &body.overflow {
        crate::admin::check_route(tenant, "overflow", route)
            .await
            .map_err(ApiError::internal)??;
    }
    // Members keep their logged-out and paused states across a replace.
    let before = tenant.department(&id, false).await.map_err(ApiError::internal)?;
    let (logged_out, paused) = before.map(|d| (d.logged_out, d.paused)).unwrap_or_default();
    let still_members = |logins: Vec<String>| logins.into_iter().filter(|l| body.members.contains(l)).collect();
    if !body.calling_rights.is_empty() {
        body.calling_rights
            .parse::<crate::call::Reach>()
            .map_err(|e| ApiError::unprocessable("calling_rights", &e))?;
    }
    let department = Department {
        calling_rights: body.calling_rights,
        logged_out: still_members(logged_out),
        paused: still_members(paused),
        ring_busy: body.ring_busy,
        overflow: body.overflow.filter(|o| !o.is_null()),
        id,
        name: body.name,
        extension: body.extension,
        strategy: body.strategy,
        step_secs: body.step_secs,
        timeout_secs: body.timeout_secs,
        members: body.members,
        member_ids,
    };
    tenant
        .put_department(&department, unix_ms())
        .await
        .map_err(ApiError::internal)?;
    Ok(department)
}

#[utoipa::path(get, path = "/departments", tag = "departments", responses((status = 200, body = DepartmentList)))]
pub async fn list(tenant: Tenant) -> Result<Json<DepartmentList>, ApiError> {
    let departments = tenant.departments().await.map_err(ApiError::internal)?;
    Ok(Json(DepartmentList { departments }))
}

#[utoipa::path(get, path = "/departments/{id}", tag = "departments", params(("id" = String, Path)),
    responses((status = 200, body = Department), (status = 404, description = "no such department", body = ErrorBody)))]
pub async fn show(tenant: Tenant, Path(id): Path<String>) -> Result<Json<Department>, ApiError> {
    match tenant.department(&id, false).await.map_err(ApiError::internal)? {
        Some(d) => Ok(Json(d)),
        None => Err(ApiError::not_found("department", &id)),
    }
}

#[utoipa::path(delete, path = "/departments/{id}", tag = "departments", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such department", body = ErrorBody)))]
pub async fn delete(tenant: Tenant, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if tenant.delete_department(&id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("department", &id))
    }
}
