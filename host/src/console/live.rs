//! The dashboard's live view: calls in progress and registered phones, pushed to the browser as
//! Server-Sent Events (the `live.html` fragment, rendered here). The stream wakes at once when
//! a call on this node starts or ends, and looks every two seconds for what it cannot hear:
//! other nodes' calls (shared through the database) and phones registering or expiring. It
//! sends only when something changed, and ends with the session.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::session::Session;
use super::{Console, api, render};

/// How often the stream looks for changes it is not told about.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Calls now and phones now, as `live.html` shows them.
pub async fn snapshot(console: &Console, session: &Session) -> Result<Value, api::Refusal> {
    let (calls, phones) = tokio::try_join!(
        console.api.call(session.caller(), Method::GET, "/calls/live", None),
        console.api.call(session.caller(), Method::GET, "/registrations", None),
    )?;
    let calls = calls["calls"].as_array().cloned().unwrap_or_default();
    let clustered = calls.iter().any(|c| c.get("node").is_some_and(|n| !n.is_null()));
    Ok(json!({
        "calls": calls,
        "registrations": phones["registrations"],
        "clustered": clustered,
    }))
}

pub async fn stream(State(console): State<Console>, session: Session) -> Response {
    if !session.is_admin() {
        return super::session::forbidden("the live view is for admins");
    }
    let Ok(permit) = console.streams.clone().try_acquire_owned() else {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "too many live views open").into_response();
    };
    let mut changed = console.live.changes();
    let events = async_stream(move |tx| async move {
        let _permit = permit;
        let mut last = String::new();
        loop {
            let live = match snapshot(&console, &session).await {
                Ok(live) => live,
                // The session ended (logout, expiry): so does the stream.
                Err(_) => return,
            };
            let mut context = session.frame("dashboard");
            context["live"] = live;
            let html = render::page("live.html", context).0;
            if html != last {
                if tx
                    .send(Ok(Event::default().event("live").data(html.clone())))
                    .await
                    .is_err()
                {
                    return;
                }
                last = html;
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = changed.changed() => {
                    // A burst of calls starting is one update.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// A stream fed by `task` through a small channel (the task ends when the browser goes).
fn async_stream<F, Fut>(task: F) -> impl futures::Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(task(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
