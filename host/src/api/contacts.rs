//! Contacts (cards with the responsible employee, last contact, next follow-up and a log) and
//! callback requests (create, list what is due, complete with a result).

use crate::store::Tenant;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{Id, ValidQuery};
use crate::call::record::unix_ms;
use crate::store::{
    Callback, CallbackFilter, CallbackResult, Contact, ContactFields, ContactLogEntry, NewCallback, NewLogEntry,
};

/// Lists are capped at this many entries per request.
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactsQuery {
    phone: Option<String>,
    /// Only contacts whose follow-up date has passed, soonest first.
    #[serde(default)]
    due: bool,
    limit: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    phone: String,
    #[serde(default)]
    name: String,
    /// Login of the responsible employee.
    employee: Option<String>,
    /// Unix ms.
    next_follow_up_at: Option<i64>,
    /// Once a follow-up reached the contact, the next is due this many days later (1–3650;
    /// e.g. 182: every six months); left out: once.
    #[schema(minimum = 1, maximum = 3650)]
    follow_up_every_days: Option<i64>,
}

/// `PATCH` body: only what is given changes; `null` clears.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactChange {
    name: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    employee: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<i64>)]
    next_follow_up_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    follow_up_every_days: Option<Option<i64>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// `note`, `call-in`, `call-out`, `email` or `meeting`.
    #[serde(default = "note")]
    #[schema(pattern = r"^(note|call-in|call-out|email|meeting)$")]
    action: String,
    result: String,
    employee: Option<String>,
}

fn note() -> String {
    "note".into()
}

/// What a log line can say was done (`callback` lines come from completed callbacks).
const LOG_ACTIONS: [&str; 5] = ["note", "call-in", "call-out", "email", "meeting"];

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CallbacksQuery {
    /// `open` (the default), `done`, `cancelled` or `all`.
    status: Option<String>,
    /// Only those due now.
    #[serde(default)]
    due: bool,
    employee: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCallbackBody {
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    phone: String,
    /// Who should call back.
    employee: Option<String>,
    #[serde(default)]
    reason: String,
    /// A voicemail left with the request.
    recording: Option<String>,
    /// Unix ms; default: now.
    due_at: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    /// What came of it, e.g. "sent the price list".
    result: String,
    /// The two talked (moves the contact's last contact to now).
    #[serde(default)]
    reached: bool,
    /// `done` (the default) or `cancelled`.
    #[serde(default = "done")]
    #[schema(pattern = r"^(done|cancelled)$")]
    status: String,
    /// Who called back.
    employee: Option<String>,
    /// Call the contact again then (Unix ms).
    next_follow_up_at: Option<i64>,
}

fn done() -> String {
    "done".into()
}

#[derive(Serialize, ToSchema)]
pub struct ContactList {
    contacts: Vec<Contact>,
}

/// A contact card: the contact, its history and its open callbacks.
#[derive(Serialize, ToSchema)]
pub struct ContactCard {
    #[serde(flatten)]
    contact: Contact,
    /// Newest first.
    log: Vec<ContactLogEntry>,
    callbacks: Vec<Callback>,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackList {
    callbacks: Vec<Callback>,
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.len() <= max {
        Ok(())
    } else {
        Err(ApiError::unprocessable(field, &format!("use at most {max} characters")))
    }
}

/// The employee a login names, as its id; 422 when there is none.
async fn employee_id(tenant: &Tenant, login: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(login) = login else { return Ok(None) };
    match tenant.employee(login, false).await.map_err(ApiError::internal)? {
        Some(e) => Ok(Some(e.id)),
        None => Err(ApiError::unprocessable(
            "employee",
            &format!("there is no employee {login:?}"),
        )),
    }
}

fn limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(100).clamp(1, MAX_LIMIT)
}

/// Contact cards by phone, or those due for a follow-up (soonest first).
#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ContactsQuery), responses((status = 200, body = ContactList)))]
pub async fn list(tenant: Tenant, ValidQuery(q): ValidQuery<ContactsQuery>) -> Result<Json<ContactList>, ApiError> {
    let due_by = q.due.then(unix_ms);
    let contacts = tenant
        .contacts(None, q.phone.as_deref(), due_by, limit(q.limit))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(ContactList { contacts }))
}

/// Create a contact card (one per number: 422 when the number has one).
#[utoipa::path(post, path = "/contacts", tag = "contacts", request_body = NewContact,
    responses((status = 201, body = ContactCard), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create(
    tenant: Tenant,
    body: Result<Json<NewContact>, JsonRejection>,
) -> Result<(StatusCode, Json<ContactCard>), ApiError> {
    let Json(c) = body.map_err(ApiError::from_json)?;
    crate::admin::check_e164("phone", &c.phone)?;
    check_text("name", &c.name, 200)?;
    let fields = ContactFields {
        name: c.name,
        employee_id: employee_id(&tenant, c.employee.as_deref()).await?,
        next_follow_up_at: c.next_follow_up_at,
        follow_up_every_days: check_every(c.follow_up_every_days)?,
    };
    let existing = tenant.contacts(None, Some(&c.phone), None, 1).await;
    if !existing.map_err(ApiError::internal)?.is_empty() {
        return Err(ApiError::unprocessable(
            "phone",
            "the number has a contact card already: PATCH /contacts/{id}",
        ));
    }
    let id = tenant
        .put_contact(&c.phone, &fields, unix_ms())
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, card(&tenant, id).await?))
}

/// A follow-up's repeat: 1 to 3650 days.
fn check_every(days: Option<i64>) -> Result<Option<i64>, ApiError> {
    match days {
        Some(d) if !(1..=3650).contains(&d) => Err(ApiError::unprocessable(
            "follow_up_every_days",
            "use 1 to 3650 days (e.g. 182: every six months)",
        )),
        _ => Ok(days),
    }
}

async fn contact(tenant: &Tenant, id: i64) -> Result<Contact, ApiError> {
    let found = tenant.contacts(Some(id), None, None, 1).await;
    match found.map_err(ApiError::internal)?.pop() {
        Some(contact) => Ok(contact),
        None => Err(ApiError::not_found("contact", &id.to_string())),
    }
}

/// The card with its log and open callbacks.
async fn card(tenant: &Tenant, id: i64) -> Result<Json<ContactCard>, ApiError> {
    let contact = contact(tenant, id).await?;
    let log = tenant.contact_log(id, 200).await.map_err(ApiError::internal)?;
    let filter = CallbackFilter {
        contact_id: Some(id),
        status: Some("open".into()),
        limit: MAX_LIMIT,
        ..CallbackFilter::default()
    };
    let callbacks = tenant.callbacks(&filter).await.map_err(ApiError::internal)?;
    Ok(Json(ContactCard {
        contact,
        log,
        callbacks,
    }))
}

#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = ContactCard), (status = 404, description = "no such contact", body = ErrorBody)))]
pub async fn show(tenant: Tenant, Id(id): Id) -> Result<Json<ContactCard>, ApiError> {
    card(&tenant, id).await
}

/// Change what is given; `null` clears.
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", params(("id" = i64, Path)), request_body = ContactChange,
    responses((status = 200, body = ContactCard), (status = 404, description = "no such contact", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn update(
    tenant: Tenant,
    Id(id): Id,
    body: Result<Json<ContactChange>, JsonRejection>,
) -> Result<Json<ContactCard>, ApiError> {
    let Json(change) = body.map_err(ApiError::from_json)?;
    let current = contact(&tenant, id).await?;
    let employee = change.employee.unwrap_or(current.employee);
    let fields = ContactFields {
        name: change.name.unwrap_or(current.name),
        employee_id: employee_id(&tenant, employee.as_deref()).await?,
        next_follow_up_at: change.next_follow_up_at.unwrap_or(current.next_follow_up_at),
        follow_up_every_days: check_every(change.follow_up_every_days.unwrap_or(current.follow_up_every_days))?,
    };
    check_text("name", &fields.name, 200)?;
    tenant.update_contact(id, &fields).await.map_err(ApiError::internal)?;
    card(&tenant, id).await
}

/// Delete the card with its log and callbacks.
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such contact", body = ErrorBody)))]
pub async fn delete(tenant: Tenant, Id(id): Id) -> Result<StatusCode, ApiError> {
    if tenant.delete_contact(id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("contact", &id.to_string()))
    }
}

/// Note what was done and how it went.
#[utoipa::path(post, path = "/contacts/{id}/log", tag = "contacts", params(("id" = i64, Path)), request_body = NewNote,
    responses((status = 201, body = ContactCard), (status = 404, description = "no such contact", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn add_log(
    tenant: Tenant,
    Id(id): Id,
    body: Result<Json<NewNote>, JsonRejection>,
) -> Result<(StatusCode, Json<ContactCard>), ApiError> {
    let Json(n) = body.map_err(ApiError::from_json)?;
    if !LOG_ACTIONS.contains(&n.action.as_str()) {
        return Err(ApiError::unprocessable(
            "action",
            &format!("use one of {LOG_ACTIONS:?}"),
        ));
    }
    check_text("result", &n.result, 2000)?;
    employee_id(&tenant, n.employee.as_deref()).await?;
    contact(&tenant, id).await?;
    let entry = NewLogEntry {
        at: unix_ms(),
        action: &n.action,
        result: &n.result,
        employee: n.employee.as_deref(),
        call_id: None,
    };
    // A note is not a contact; a call or meeting someone logs by hand is.
    let reached = n.action != "note";
    tenant
        .log_contact(id, &entry, reached)
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, card(&tenant, id).await?))
}

/// Callback requests, open ones by default, the soonest due first.
#[utoipa::path(get, path = "/callbacks", tag = "contacts", params(CallbacksQuery),
    responses((status = 200, body = CallbackList), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn list_callbacks(
    tenant: Tenant,
    ValidQuery(q): ValidQuery<CallbacksQuery>,
) -> Result<Json<CallbackList>, ApiError> {
    let status = match q.status.as_deref() {
        None => Some("open".to_owned()),
        Some("all") => None,
        Some(st @ ("open" | "done" | "cancelled")) => Some(st.to_owned()),
        Some(_) => return Err(ApiError::unprocessable("status", "use open, done, cancelled or all")),
    };
    let filter = CallbackFilter {
        status,
        due_by: q.due.then(unix_ms),
        employee_id: employee_id(&tenant, q.employee.as_deref()).await?,
        limit: limit(q.limit),
        ..CallbackFilter::default()
    };
    let callbacks = tenant.callbacks(&filter).await.map_err(ApiError::internal)?;
    Ok(Json(CallbackList { callbacks }))
}

async fn one_callback(tenant: &Tenant, id: i64) -> Result<Callback, ApiError> {
    let filter = CallbackFilter {
        id: Some(id),
        limit: 1,
        ..CallbackFilter::default()
    };
    match tenant.callbacks(&filter).await.map_err(ApiError::internal)?.pop() {
        Some(callback) => Ok(callback),
        None => Err(ApiError::not_found("callback", &id.to_string())),
    }
}

/// File a "call me back" request (the number gets a contact card when it had none).
#[utoipa::path(post, path = "/callbacks", tag = "contacts", request_body = NewCallbackBody,
    responses((status = 201, body = Callback), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create_callback(
    tenant: Tenant,
    body: Result<Json<NewCallbackBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Callback>), ApiError> {
    let Json(c) = body.map_err(ApiError::from_json)?;
    crate::admin::check_e164("phone", &c.phone)?;
    check_text("reason", &c.reason, 2000)?;
    if let Some(id) = &c.recording
        && tenant.recording_wav(id).await.map_err(ApiError::internal)?.is_none()
    {
        return Err(ApiError::unprocessable(
            "recording",
            &format!("there is no recording {id:?}"),
        ));
    }
    let now = unix_ms();
    let new = NewCallback {
        phone: &c.phone,
        employee_id: employee_id(&tenant, c.employee.as_deref()).await?,
        reason: &c.reason,
        recording_id: c.recording.as_deref(),
        due_at: c.due_at.unwrap_or(now),
        now,
    };
    let id = tenant.add_callback(&new).await.map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(one_callback(&tenant, id).await?)))
}

#[utoipa::path(get, path = "/callbacks/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = Callback), (status = 404, description = "no such callback", body = ErrorBody)))]
pub async fn show_callback(tenant: Tenant, Id(id): Id) -> Result<Json<Callback>, ApiError> {
    Ok(Json(one_callback(&tenant, id).await?))
}

/// Close a callback with its result (logged on the contact's card; 409 when it was completed
/// already).
#[utoipa::path(post, path = "/callbacks/{id}/complete", tag = "contacts", params(("id" = i64, Path)), request_body = Completion,
    responses((status = 200, body = Callback), (status = 404, description = "no such callback", body = ErrorBody), (status = 409, description = "completed already", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn complete_callback(
    tenant: Tenant,
    Id(id): Id,
    body: Result<Json<Completion>, JsonRejection>,
) -> Result<Json<Callback>, ApiError> {
    let Json(c) = body.map_err(ApiError::from_json)?;
    if !matches!(c.status.as_str(), "done" | "cancelled") {
        return Err(ApiError::unprocessable("status", "use done or cancelled"));
    }
    check_text("result", &c.result, 2000)?;
    employee_id(&tenant, c.employee.as_deref()).await?;
    let result = CallbackResult {
        status: &c.status,
        result: &c.result,
        reached: c.reached,
        employee: c.employee.as_deref(),
        next_follow_up_at: c.next_follow_up_at,
        at: unix_ms(),
        call_id: None,
    };
    if tenant
        .complete_callback(id, &result)
        .await
        .map_err(ApiError::internal)?
    {
        return Ok(Json(one_callback(&tenant, id).await?));
    }
    // Either unknown (404) or no longer open (409).
    one_callback(&tenant, id).await?;
    Err(ApiError::conflict("the callback is completed already"))
}
