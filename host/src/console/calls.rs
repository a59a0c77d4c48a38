//! The call log (filtered, a page at a time, newest first), one call with its legs, decision
//! trace and recordings, and the recordings' audio for the page's `<audio>` player.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::json;

use super::api::encode;
use super::session::Session;
use super::{Console, page, refused};

/// Calls a page shows.
const PAGE: i64 = 50;

#[derive(serde::Deserialize, serde::Serialize, Default)]
pub struct Filter {
    caller: Option<String>,
    dialled: Option<String>,
    result: Option<String>,
    /// Unix ms: calls from then on.
    since: Option<i64>,
    /// A day in the company's timezone (`2026-12-05`): calls of that day and before.
    until_day: Option<String>,
    /// Unix ms: the next page starts before it.
    before: Option<i64>,
}

impl Filter {
    /// The API's query for this filter, and the filter as this page's links keep it.
    fn queries(&self, tz: &str) -> (String, String) {
        let mut kept = Vec::new();
        for (key, value) in [
            ("caller", &self.caller),
            ("dialled", &self.dialled),
            ("result", &self.result),
            ("until_day", &self.until_day),
        ] {
            if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                kept.push(format!("{key}={}", encode(value)));
            }
        }
        if let Some(since) = self.since {
            kept.push(format!("since={since}"));
        }
        let mut api: Vec<String> = kept.iter().filter(|q| !q.starts_with("until_day=")).cloned().collect();
        api.push(format!("limit={PAGE}"));
        let day_end = self.until_day.as_deref().and_then(|day| end_of_day(day, tz));
        if let Some(before) = [self.before, day_end].into_iter().flatten().min() {
            api.push(format!("before={before}"));
        }
        (format!("/calls?{}", api.join("&")), kept.join("&"))
    }
}

/// The first millisecond after `day` (`YYYY-MM-DD`) in `tz`.
fn end_of_day(day: &str, tz: &str) -> Option<i64> {
    let date: jiff::civil::Date = day.parse().ok()?;
    super::render::start_of_day(&date.tomorrow().ok()?.to_string(), tz)
}

pub async fn list(State(console): State<Console>, session: Session, Query(filter): Query<Filter>) -> Response {
    let (api_query, kept) = filter.queries(session.timezone());
    let calls = match console.api.call(session.caller(), Method::GET, &api_query, None).await {
        Ok(calls) => calls,
        Err(refusal) => return refused(refusal),
    };
    let results = ["answered", "missed", "abandoned", "voicemail", "failed", "self-service"];
    let data = json!({
        "calls": calls["calls"],
        "next_before": calls["next_before"],
        "filter": filter,
        "kept": kept,
        "results": results,
    });
    page(&session, "calls", "calls.html", data)
}

pub async fn show(State(console): State<Console>, session: Session, Path(id): Path<String>) -> Response {
    let path = format!("/calls/{}", encode(&id));
    let call = match console.api.call(session.caller(), Method::GET, &path, None).await {
        Ok(call) => call,
        Err(refusal) => return refused(refusal),
    };
    page(&session, "calls", "call.html", json!({ "call": call }))
}

/// The recording's audio as the API gives it to this session (an employee only his voicemail).
pub async fn recording(State(console): State<Console>, session: Session, Path(id): Path<String>) -> Response {
    let path = format!("/recordings/{}", encode(&id));
    let mut response = console
        .api
        .send(session.caller(), Method::GET, &path, "application/json", Body::empty())
        .await;
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_becomes_the_apis_query_and_the_pages_links() {
        let filter = Filter {
            caller: Some(" +4930 ".into()),
            result: Some("missed".into()),
            until_day: Some("2026-07-01".into()),
            before: Some(1_900_000_000_000),
            ..Filter::default()
        };
        let (api, kept) = filter.queries("Europe/Berlin");
        // The day ends at midnight Berlin time (22:00 UTC in summer), before `before`.
        assert_eq!(api, "/calls?caller=%2B4930&result=missed&limit=50&before=1782943200000");
        assert_eq!(kept, "caller=%2B4930&result=missed&until_day=2026-07-01");
    }
}
