//! The operator's pages: every company on the exchange with what it uses against its plan, a
//! new company with its first admin, and one company's plan, name and suspension. The API
//! refuses these to anyone but the operator (403), so the pages do too.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session};
use super::{Console, page, refused, see};

/// The plan's limits as the forms name them; empty: no limit.
const LIMITS: [&str; 5] = [
    "max_employees",
    "max_numbers",
    "max_calls",
    "max_flow_versions",
    "max_storage_bytes",
];

pub async fn list(State(console): State<Console>, session: Session) -> Response {
    render_list(&console, &session, json!({}), None).await
}

async fn render_list(console: &Console, session: &Session, form: Value, refusal: Option<Refusal>) -> Response {
    let companies = match console
        .api
        .call(session.caller(), Method::GET, "/companies", None)
        .await
    {
        Ok(list) => list["companies"].clone(),
        Err(refusal) => return refused(refusal),
    };
    let status = match &refusal {
        Some(r) => StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        None => StatusCode::OK,
    };
    let data = json!({ "companies": companies, "form": form, "refusal": refusal, "limits": LIMITS });
    (status, page(session, "companies", "companies.html", data)).into_response()
}

/// The plan the form's `max_*` fields describe; a field that is not a whole number is refused
/// beside it.
fn plan_of(posted: &Posted) -> Result<Value, Refusal> {
    let mut plan = serde_json::Map::new();
    for limit in LIMITS {
        let value = match posted.given(limit) {
            None => Value::Null,
            Some(text) => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| Refusal::invalid(&format!("plan.{limit}"), "a whole number, or empty for no limit"))?,
        };
        plan.insert(limit.into(), value);
    }
    Ok(Value::Object(plan))
}

/// A new company and its first admin; the admin sets his password through the link (mailed
/// to him when mail is on, shown on the company's page otherwise).
pub async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let plan = match plan_of(&posted) {
        Ok(plan) => plan,
        Err(refusal) => return render_list(&console, &posted.session, posted.echo(), Some(refusal)).await,
    };
    let mut body = json!({
        "name": posted.field("name").trim(),
        "plan": plan,
        "admin": {
            "login": posted.field("admin_login").trim(),
            "name": posted.field("admin_name").trim(),
            "email": posted.field("admin_email").trim(),
        },
    });
    if let Some(domain) = posted.given("sip_domain") {
        body["sip_domain"] = json!(domain);
    }
    match console
        .api
        .call(posted.session.caller(), Method::POST, "/companies", Some(&body))
        .await
    {
        Ok(created) => {
            let id = created["company"]["id"].as_i64().unwrap_or_default();
            let link = &created["admin"]["password_link"];
            render_one(&console, &posted.session, id, None, Some(link.clone())).await
        }
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(mut refusal) => {
            // The admin's fields are the API's `login`, `name`, `email` inside `admin`.
            if let Some(field) = refusal.field.as_deref()
                && ["login", "name", "email", "extension"].contains(&field)
                && !refusal.error.contains("company")
            {
                refusal.field = Some(format!("admin_{field}"));
            }
            render_list(&console, &posted.session, posted.echo(), Some(refusal)).await
        }
    }
}

pub async fn show(State(console): State<Console>, session: Session, Path(id): Path<i64>) -> Response {
    render_one(&console, &session, id, None, None).await
}

async fn render_one(
    console: &Console,
    session: &Session,
    id: i64,
    refusal: Option<Refusal>,
    password_link: Option<Value>,
) -> Response {
    let company = match console
        .api
        .call(session.caller(), Method::GET, &format!("/companies/{id}"), None)
        .await
    {
        Ok(company) => company,
        Err(refusal) => return refused(refusal),
    };
    let status = match &refusal {
        Some(r) => StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        None => StatusCode::OK,
    };
    let data = json!({
        "company": company, "refusal": refusal, "limits": LIMITS,
        "password_link": password_link.filter(|l| !l.is_null()),
    });
    (status, page(session, "companies", "company.html", data)).into_response()
}

/// The company's page's forms: `action=plan` (the limits), `rename` (name and SIP domain),
/// `suspend` (with a reason) or `resume`.
pub async fn update(State(console): State<Console>, Path(id): Path<i64>, posted: Posted) -> Response {
    let body = match posted.field("action") {
        "plan" => match plan_of(&posted) {
            Ok(plan) => json!({ "plan": plan }),
            Err(refusal) => return render_one(&console, &posted.session, id, Some(refusal), None).await,
        },
        "rename" => json!({ "name": posted.field("name").trim(), "sip_domain": posted.field("sip_domain").trim() }),
        "suspend" => json!({ "suspended": true, "suspended_reason": posted.field("suspended_reason").trim() }),
        "resume" => json!({ "suspended": false, "suspended_reason": "" }),
        other => {
            let refusal = Refusal::invalid("action", format!("no such change: {other:?}"));
            return render_one(&console, &posted.session, id, Some(refusal), None).await;
        }
    };
    match console
        .api
        .call(
            posted.session.caller(),
            Method::PATCH,
            &format!("/companies/{id}"),
            Some(&body),
        )
        .await
    {
        Ok(_) => see(&format!("/console/companies/{}", encode(&id.to_string()))),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_one(&console, &posted.session, id, Some(refusal), None).await,
    }
}
