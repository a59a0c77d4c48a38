//! The admin's first page: calls and phones now (kept live by `live.rs`), today's calls, and
//! what the company uses against its plan. An employee without the admin role has his own page.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::session::Session;
use super::{Console, api, live, page, refused, render, see};

pub async fn show(State(console): State<Console>, session: Session) -> Response {
    if !session.is_admin() {
        return see("/console/me");
    }
    match gather(&console, &session).await {
        Ok(data) => page(&session, "dashboard", "dashboard.html", data),
        Err(refusal) => refused(refusal),
    }
}

async fn gather(console: &Console, session: &Session) -> Result<Value, api::Refusal> {
    let since = render::midnight(session.timezone());
    let report_path = format!("/reports/calls?by=number&since={since}");
    let (usage, live, report) = tokio::try_join!(
        console.api.call(session.caller(), Method::GET, "/usage", None),
        live::snapshot(console, session),
        console.api.call(session.caller(), Method::GET, &report_path, None),
    )?;
    // A call is offered to one number: the rows per number add up to the company's calls.
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    let sum = |key: &str| rows.iter().map(|r| r[key].as_u64().unwrap_or(0)).sum::<u64>();
    let today = json!({
        "since": since,
        "offered": sum("offered"),
        "answered": sum("answered"),
        "missed": sum("missed"),
        "voicemail": sum("voicemail"),
    });
    Ok(json!({ "usage": usage, "live": live, "today": today }))
}
