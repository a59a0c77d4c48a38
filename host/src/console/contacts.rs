//! Contacts and callbacks (the ICM's side the office sees): the callbacks still to make, the
//! contact cards with their responsible employee, next follow-up and history, and on a card
//! the forms to change it, log what was done, ask for a callback and complete one.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Refusal, encode};
use super::render::start_of_day;
use super::session::{Posted, Session};
use super::{Console, page, refused, see};

/// Contacts and callbacks a page lists.
const LIST: i64 = 100;

#[derive(serde::Deserialize, serde::Serialize, Default)]
pub struct ContactsQuery {
    phone: Option<String>,
    /// Only contacts whose follow-up is due.
    due: Option<String>,
}

pub async fn list(State(console): State<Console>, session: Session, Query(q): Query<ContactsQuery>) -> Response {
    render_list(&console, &session, q, json!({}), None).await
}

async fn render_list(
    console: &Console,
    session: &Session,
    q: ContactsQuery,
    form: Value,
    refusal: Option<Refusal>,
) -> Response {
    let mut path = format!("/contacts?limit={LIST}");
    if let Some(phone) = q.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        path.push_str(&format!("&phone={}", encode(phone)));
    }
    if q.due.is_some() {
        path.push_str("&due=true");
    }
    let callbacks = format!("/callbacks?status=open&limit={LIST}");
    let caller = session.caller();
    let (contacts, callbacks, employees) = match tokio::try_join!(
        console.api.call(caller, Method::GET, &path, None),
        console.api.call(caller, Method::GET, &callbacks, None),
        console.api.call(caller, Method::GET, "/employees", None),
    ) {
        Ok(all) => all,
        Err(refusal) => return refused(refusal),
    };
    let status = match &refusal {
        Some(r) => StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        None => StatusCode::OK,
    };
    let data = json!({
        "contacts": contacts["contacts"], "callbacks": callbacks["callbacks"], "employees": employees["employees"],
        "filter": q, "form": form, "refusal": refusal,
    });
    (status, page(session, "contacts", "contacts.html", data)).into_response()
}

/// A day field (`YYYY-MM-DD`, the company's timezone) as Unix ms; empty: `None`.
fn day_field(posted: &Posted, name: &str) -> Result<Option<i64>, Refusal> {
    match posted.given(name) {
        None => Ok(None),
        Some(day) => start_of_day(day, posted.session.timezone())
            .map(Some)
            .ok_or_else(|| Refusal::invalid(name, "a date, e.g. 2026-12-24")),
    }
}

/// A login picked in a form; empty: nobody.
fn employee_field(posted: &Posted) -> Value {
    posted.given("employee").map_or(Value::Null, Value::from)
}

/// A new contact card, then its page.
pub async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let body = day_field(&posted, "next_follow_up").map(|next| {
        json!({
            "phone": posted.field("phone").trim(),
            "name": posted.field("name").trim(),
            "employee": employee_field(&posted),
            "next_follow_up_at": next,
        })
    });
    let created = match body {
        Ok(body) => {
            console
                .api
                .call(posted.session.caller(), Method::POST, "/contacts", Some(&body))
                .await
        }
        Err(refusal) => Err(refusal),
    };
    match created {
        Ok(card) => see(&format!(
            "/console/contacts/{}",
            card["id"].as_i64().unwrap_or_default()
        )),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => {
            let q = ContactsQuery::default();
            render_list(&console, &posted.session, q, posted.echo(), Some(refusal)).await
        }
    }
}

pub async fn show(State(console): State<Console>, session: Session, Path(id): Path<i64>) -> Response {
    render_card(&console, &session, id, None).await
}

async fn render_card(console: &Console, session: &Session, id: i64, refusal: Option<Refusal>) -> Response {
    let path = format!("/contacts/{id}");
    let caller = session.caller();
    let (card, employees) = match tokio::try_join!(
        console.api.call(caller, Method::GET, &path, None),
        console.api.call(caller, Method::GET, "/employees", None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let status = match &refusal {
        Some(r) => StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        None => StatusCode::OK,
    };
    let data = json!({ "card": card, "employees": employees["employees"], "refusal": refusal });
    (status, page(session, "contacts", "contact.html", data)).into_response()
}

/// The card's forms: `action=update` (name, responsible, follow-up), `note` (a log line),
/// `callback` (a callback request for the contact's number).
pub async fn act(State(console): State<Console>, Path(id): Path<i64>, posted: Posted) -> Response {
    let caller = posted.session.caller();
    let result = match posted.field("action") {
        "update" => match (
            day_field(&posted, "next_follow_up"),
            posted.seconds("every_days", "a whole number of days"),
        ) {
            (Ok(next), Ok(every)) => {
                let body = json!({
                    "name": posted.field("name").trim(),
                    "employee": employee_field(&posted),
                    "next_follow_up_at": next,
                    "follow_up_every_days": every,
                });
                console
                    .api
                    .call(caller, Method::PATCH, &format!("/contacts/{id}"), Some(&body))
                    .await
            }
            (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
        },
        "note" => {
            let body = json!({
                "action": posted.field("kind"),
                "result": posted.field("result").trim(),
                "employee": posted.session.login(),
            });
            console
                .api
                .call(caller, Method::POST, &format!("/contacts/{id}/log"), Some(&body))
                .await
        }
        "callback" => match day_field(&posted, "due") {
            Ok(due) => {
                let body = json!({
                    "phone": posted.field("phone"),
                    "employee": employee_field(&posted),
                    "reason": posted.field("reason").trim(),
                    "due_at": due,
                });
                console.api.call(caller, Method::POST, "/callbacks", Some(&body)).await
            }
            Err(refusal) => Err(refusal),
        },
        other => Err(Refusal::invalid("action", format!("no such change: {other:?}"))),
    };
    match result {
        Ok(_) => see(&format!("/console/contacts/{id}")),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_card(&console, &posted.session, id, Some(refusal)).await,
    }
}

/// Completes a callback (done or cancelled, with what came of it), back to its contact.
pub async fn complete(State(console): State<Console>, Path(id): Path<i64>, posted: Posted) -> Response {
    let body = json!({
        "result": posted.field("result").trim(),
        "reached": posted.field("reached") == "on",
        "status": if posted.field("status") == "cancelled" { "cancelled" } else { "done" },
        "employee": posted.session.login(),
    });
    let path = format!("/callbacks/{id}/complete");
    let contact: i64 = posted.field("contact").parse().unwrap_or_default();
    match console
        .api
        .call(posted.session.caller(), Method::POST, &path, Some(&body))
        .await
    {
        Ok(done) => see(&format!(
            "/console/contacts/{}",
            done["contact_id"].as_i64().unwrap_or(contact)
        )),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_card(&console, &posted.session, contact, Some(refusal)).await,
    }
}
