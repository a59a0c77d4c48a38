//! Employees: the list with the form that adds one (the API mails him his access details), and
//! each employee's page with the form that edits him.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session};
use super::{Console, page, refused, see};

pub async fn list(State(console): State<Console>, session: Session) -> Response {
    render_list(&console, &session, Value::Null, None).await
}

async fn render_list(console: &Console, session: &Session, form: Value, refusal: Option<Refusal>) -> Response {
    let employees = match console
        .api
        .call(session.caller(), Method::GET, "/employees", None)
        .await
    {
        Ok(list) => list["employees"].clone(),
        Err(refusal) => return refused(refusal),
    };
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let data = json!({ "employees": employees, "form": form, "refusal": refusal });
    (status, page(session, "employees", "employees.html", data)).into_response()
}

/// What the "ring the mobile after" field says when it cannot be read.
pub const MOBILE_AFTER_WHY: &str = "a whole number of seconds, or empty for never";

/// The fields of the employee forms as the API takes them (`password` only when typed).
fn employee_body(posted: &Posted, names: &[&str]) -> Result<Map<String, Value>, Refusal> {
    let mut body = Map::new();
    for name in names {
        let value = posted.field(name).trim();
        match *name {
            "mobile_after_secs" => {
                let secs = posted.seconds(name, MOBILE_AFTER_WHY)?;
                body.insert((*name).into(), Value::from(secs));
            }
            "password" if value.is_empty() => {}
            _ => {
                body.insert((*name).into(), Value::from(value));
            }
        }
    }
    Ok(body)
}

const FIELDS: &[&str] = &[
    "name",
    "position",
    "extension",
    "role",
    "email",
    "mobile",
    "mobile_after_secs",
    "caller_id",
    "password",
];

pub async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let mut names = vec!["login"];
    names.extend_from_slice(FIELDS);
    let form = posted.echo();
    let body = match employee_body(&posted, &names) {
        Ok(body) => Value::Object(body),
        Err(refusal) => return render_list(&console, &posted.session, form, Some(refusal)).await,
    };
    match console
        .api
        .call(posted.session.caller(), Method::POST, "/employees", Some(&body))
        .await
    {
        // The link is shown once, here (not put in a URL to redirect to).
        Ok(created) if !created["password_link"].is_null() => {
            let login = created["login"].as_str().unwrap_or_default();
            let link = created["password_link"].clone();
            render_one(
                &console,
                &posted.session,
                login,
                None,
                None,
                Some(Notice::Created(link)),
            )
            .await
        }
        Ok(created) => {
            let login = created["login"].as_str().unwrap_or_default();
            see(&format!("/console/employees/{}?created=1", encode(login)))
        }
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_list(&console, &posted.session, form, Some(refusal)).await,
    }
}

#[derive(serde::Deserialize)]
pub struct ShowQuery {
    created: Option<u8>,
    saved: Option<u8>,
}

pub async fn show(
    State(console): State<Console>,
    session: Session,
    Path(login): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ShowQuery>,
) -> Response {
    let notice = match (q.created, q.saved) {
        (Some(_), _) => Some(Notice::Created(Value::Null)),
        (_, Some(_)) => Some(Notice::Saved),
        _ => None,
    };
    render_one(&console, &session, &login, None, None, notice).await
}

/// What the employee's page says above its forms.
enum Notice {
    /// He was just created; with the set-password link made for him, if one was.
    Created(Value),
    Saved,
    /// A new set-password link.
    Link(Value),
}

async fn render_one(
    console: &Console,
    session: &Session,
    login: &str,
    form: Option<Value>,
    refusal: Option<Refusal>,
    notice: Option<Notice>,
) -> Response {
    let path = format!("/employees/{}", encode(login));
    let access_path = format!("{path}/access");
    let (employee, access) = match tokio::try_join!(
        console.api.call(session.caller(), Method::GET, &path, None),
        console.api.call(session.caller(), Method::GET, &access_path, None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let form = form.unwrap_or_else(|| employee.clone());
    let (notice, link) = match notice {
        Some(Notice::Created(link)) => (Some("created"), link),
        Some(Notice::Saved) => (Some("saved"), Value::Null),
        Some(Notice::Link(link)) => (Some("link"), link),
        None => (None, Value::Null),
    };
    let data = json!({
        "employee": employee, "access": access, "form": form, "refusal": refusal,
        "notice": notice, "link": link,
    });
    (status, page(session, "employees", "employee.html", data)).into_response()
}

pub async fn update(State(console): State<Console>, Path(login): Path<String>, posted: Posted) -> Response {
    let path = format!("/employees/{}", encode(&login));
    if posted.field("action") == "password-link" {
        let link_path = format!("{path}/password-link");
        return match console
            .api
            .call(posted.session.caller(), Method::POST, &link_path, None)
            .await
        {
            Ok(link) => render_one(&console, &posted.session, &login, None, None, Some(Notice::Link(link))).await,
            Err(refusal) => refused(refusal),
        };
    }
    if posted.field("action") == "delete" {
        return match console
            .api
            .call(posted.session.caller(), Method::DELETE, &path, None)
            .await
        {
            Ok(_) => see("/console/employees"),
            Err(refusal) => refused(refusal),
        };
    }
    let form = posted.echo();
    let body = match employee_body(&posted, FIELDS) {
        Ok(body) => Value::Object(body),
        Err(refusal) => return render_one(&console, &posted.session, &login, Some(form), Some(refusal), None).await,
    };
    match console
        .api
        .call(posted.session.caller(), Method::PATCH, &path, Some(&body))
        .await
    {
        Ok(_) => see(&format!("/console/employees/{}?saved=1", encode(&login))),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_one(&console, &posted.session, &login, Some(form), Some(refusal), None).await,
    }
}
