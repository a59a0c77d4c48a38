//! The company directory, for every employee: colleagues with their position, extension and
//! departments, who is an admin, and who is on the phone now; the departments' extensions.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::ApiError;
use crate::call::LineStatus;
use crate::store::Tenant;

#[derive(Serialize, ToSchema)]
pub struct Directory {
    employees: Vec<Colleague>,
    departments: Vec<DepartmentEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct Colleague {
    login: String,
    name: String,
    /// Job title.
    position: String,
    extension: String,
    admin: bool,
    /// Ids of the departments he is in.
    departments: Vec<String>,
    /// `available`, `ringing`, `busy` (on a call) or `offline` (no phone registered), as this
    /// node sees his line.
    phone: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentEntry {
    id: String,
    name: String,
    extension: String,
}

/// Everyone in the company and every department, by name.
#[utoipa::path(get, path = "/directory", tag = "employees", responses((status = 200, body = Directory)))]
pub async fn show(State(s): State<ApiState>, tenant: Tenant) -> Result<Json<Directory>, ApiError> {
    let now = crate::sip::unix_secs() as i64;
    let (employees, departments, registrations) =
        tokio::try_join!(tenant.employees(), tenant.departments(), tenant.registrations(now),)
            .map_err(ApiError::internal)?;
    let office = s.offices.of(tenant.id()).await.map_err(ApiError::internal)?;
    let registered: BTreeSet<&str> = registrations.iter().map(|r| r.login.as_str()).collect();
    let mut member_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for department in &departments {
        for login in &department.members {
            member_of.entry(login.as_str()).or_default().push(department.id.clone());
        }
    }
    let mut colleagues: Vec<Colleague> = employees
        .iter()
        .map(|e| Colleague {
            login: e.login.clone(),
            name: e.fields.name.clone(),
            position: e.fields.position.clone(),
            extension: e.fields.extension.clone(),
            admin: e.fields.role == "admin",
            departments: member_of.get(e.login.as_str()).cloned().unwrap_or_default(),
            phone: LineStatus::of(
                registered.contains(e.login.as_str()),
                office.dial.presence.state(&e.login),
            )
            .name(),
        })
        .collect();
    colleagues.sort_by(|a, b| {
        let name = |c: &Colleague| {
            if c.name.is_empty() {
                c.login.to_lowercase()
            } else {
                c.name.to_lowercase()
            }
        };
        name(a).cmp(&name(b))
    });
    Ok(Json(Directory {
        employees: colleagues,
        departments: departments
            .into_iter()
            .map(|d| DepartmentEntry {
                id: d.id,
                name: d.name,
                extension: d.extension,
            })
            .collect(),
    }))
}
