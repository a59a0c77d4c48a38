//! An employee's own page: his phone's settings (mobile after N seconds, do not disturb), his
//! password, and his voicemail to listen to and delete.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session};
use super::{Console, page, refused, see};

#[derive(serde::Deserialize)]
pub struct MeQuery {
    saved: Option<String>,
}

pub async fn show(State(console): State<Console>, session: Session, Query(q): Query<MeQuery>) -> Response {
    render(&console, &session, None, None, q.saved.as_deref()).await
}

#[derive(serde::Deserialize)]
pub struct CallsQuery {
    /// Unix ms: the page starts before it.
    before: Option<i64>,
}

/// The company's voicemail, every mailbox's, newest first (an admin's page).
pub async fn company_voicemail(State(console): State<Console>, session: Session) -> Response {
    if !session.is_admin() {
        return see("/console/me#voicemail-h");
    }
    match console
        .api
        .call(session.caller(), Method::GET, "/recordings?limit=200", None)
        .await
    {
        Ok(list) => {
            let voicemail: Vec<&Value> = list["recordings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["kind"] == "voicemail")
                .collect();
            page(
                &session,
                "voicemail",
                "voicemail.html",
                json!({ "voicemail": voicemail }),
            )
        }
        Err(refusal) => refused(refusal),
    }
}

/// Calls on one page of "My calls".
const CALLS_PAGE: i64 = 50;

/// The employee's own calls, newest first: made, offered to him, answered.
pub async fn calls(State(console): State<Console>, session: Session, Query(q): Query<CallsQuery>) -> Response {
    let Some(login) = session.login() else {
        return see("/console/calls");
    };
    let mut path = format!("/employees/{}/calls?limit={CALLS_PAGE}", encode(login));
    if let Some(before) = q.before {
        path.push_str(&format!("&before={before}"));
    }
    let me = format!("/employees/{}", encode(login));
    match tokio::try_join!(
        console.api.call(session.caller(), Method::GET, &path, None),
        console.api.call(session.caller(), Method::GET, &me, None),
    ) {
        Ok((calls, me)) => {
            let data = json!({
                "calls": calls["calls"], "next_before": calls["next_before"], "paged": q.before.is_some(),
                "login": login, "extension": me["extension"],
            });
            page(&session, "my-calls", "my_calls.html", data)
        }
        Err(refusal) => refused(refusal),
    }
}

async fn render(
    console: &Console,
    session: &Session,
    form: Option<Value>,
    refusal: Option<Refusal>,
    notice: Option<&str>,
) -> Response {
    let Some(login) = session.login() else {
        return see("/console/");
    };
    let path = format!("/employees/{}", encode(login));
    let mailbox = format!("/recordings?mailbox={}&limit=200", encode(login));
    let (me, voicemail) = match tokio::try_join!(
        console.api.call(session.caller(), Method::GET, &path, None),
        console.api.call(session.caller(), Method::GET, &mailbox, None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let mine: Vec<Value> = voicemail["recordings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["kind"] == "voicemail" && r["mailbox"].as_str() == Some(login))
        .cloned()
        .collect();
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let data = json!({
        "me": me,
        "form": form.unwrap_or_else(|| me.clone()),
        "voicemail": mine,
        "refusal": refusal,
        "notice": notice,
    });
    (status, page(session, "me", "me.html", data)).into_response()
}

/// His own settings become `PATCH /employees/{himself}`.
pub async fn update(State(console): State<Console>, posted: Posted) -> Response {
    let Some(login) = posted.session.login().map(str::to_owned) else {
        return see("/console/");
    };
    let mut body = Map::new();
    for name in ["name", "email", "mobile"] {
        body.insert(name.into(), Value::from(posted.field(name).trim()));
    }
    let after = match posted.seconds("mobile_after_secs", super::employees::MOBILE_AFTER_WHY) {
        Ok(after) => after,
        Err(refusal) => return render(&console, &posted.session, Some(posted.echo()), Some(refusal), None).await,
    };
    body.insert("mobile_after_secs".into(), Value::from(after));
    body.insert("dnd".into(), Value::Bool(posted.given("dnd").is_some()));
    let path = format!("/employees/{}", encode(&login));
    match console
        .api
        .call(
            posted.session.caller(),
            Method::PATCH,
            &path,
            Some(&Value::Object(body)),
        )
        .await
    {
        Ok(_) => see("/console/me?saved=settings"),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render(&console, &posted.session, Some(posted.echo()), Some(refusal), None).await,
    }
}

/// A new password (with the current one): every other session of his ends, and so does this
/// one — he logs in again with the new password.
pub async fn password(State(console): State<Console>, posted: Posted) -> Response {
    let Some(login) = posted.session.login().map(str::to_owned) else {
        return see("/console/");
    };
    if posted.field("password") != posted.field("password_again") {
        let refusal = Refusal::invalid("password", "the two new passwords differ");
        return render(&console, &posted.session, None, Some(refusal), None).await;
    }
    let body = json!({ "password": posted.field("password"), "current_password": posted.field("current_password") });
    let path = format!("/employees/{}", encode(&login));
    match console
        .api
        .call(posted.session.caller(), Method::PATCH, &path, Some(&body))
        .await
    {
        Ok(_) => see("/console/login?next=%2Fconsole%2Fme"),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(mut refusal) => {
            // A wrong current password is the API's 403; beside the field it belongs to.
            if refusal.status == 403 {
                refusal.field = Some("current_password".into());
            }
            render(&console, &posted.session, None, Some(refusal), None).await
        }
    }
}

/// Marks a message heard or new, or deletes it.
pub async fn voicemail(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let path = format!("/recordings/{}", encode(&id));
    let caller = posted.session.caller();
    let done = match posted.field("action") {
        "delete" => console.api.call(caller, Method::DELETE, &path, None).await,
        "heard" | "new" => {
            let body = json!({ "heard": posted.field("action") == "heard" });
            console.api.call(caller, Method::PATCH, &path, Some(&body)).await
        }
        _ => Err(Refusal {
            status: 400,
            error: "invalid action".into(),
            detail: "delete, heard or new".into(),
            field: Some("action".into()),
        }),
    };
    match done {
        // From the company's voicemail page, back there.
        Ok(_) if posted.field("back") == "company" => see("/console/voicemail"),
        Ok(_) => see("/console/me#voicemail-h"),
        Err(refusal) => refused(refusal),
    }
}
