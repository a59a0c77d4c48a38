//! The web console: the pages an office manager and the employees use in a browser, served by
//! the exchange at `/` of its HTTP listener. Pages are rendered on the server from templates
//! compiled into the binary (`templates/`), with one small script (`assets/console.js`) for
//! the live view; nothing is loaded from another host.
//!
//! The console is a thin layer over the API (`api.rs`): a page is what the API answers to the
//! session's token, a form is the API request it stands for, so the console enforces exactly
//! the API's rules and keeps none of its own.

mod api;
mod calls;
mod companies;
mod contacts;
mod dashboard;
mod departments;
mod directory;
mod employees;
mod flows;
mod live;
mod me;
mod numbers;
mod render;
mod route_map;
mod schedules;
mod session;
mod settings_form;
mod signup;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

pub use api::Api;
use api::{Caller, Refusal};
use session::{Posted, Session};

/// The console's shared state.
#[derive(Clone)]
pub struct Console {
    /// The API it asks.
    api: Api,
    /// This node's calls in progress (the live view wakes when they change).
    live: std::sync::Arc<crate::live::LiveCalls>,
    /// Live views open at once on this node (each looks at the store every few seconds).
    streams: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Live views a node serves at once; more get 503 and the page shows the first view only.
const MAX_LIVE_VIEWS: usize = 256;

/// The console's routes, asking `api` (the API's router, with its state).
pub fn router(api: Router, live: std::sync::Arc<crate::live::LiveCalls>) -> Router {
    let console = Console {
        api: Api::new(api),
        live,
        streams: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_LIVE_VIEWS)),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(dashboard::show))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/signup", get(signup::page).post(signup::submit))
        .route(
            "/console/set-password/{token}",
            get(set_password_page).post(set_password),
        )
        .route("/console/live", get(live::stream))
        .route("/console/employees", get(employees::list).post(employees::create))
        .route(
            "/console/employees/{login}",
            get(employees::show).post(employees::update),
        )
        .route("/console/departments", get(departments::list).post(departments::create))
        .route(
            "/console/departments/{id}",
            get(departments::show).post(departments::update),
        )
        .route("/console/numbers", get(numbers::list))
        .route("/console/numbers/{number}", get(numbers::show).post(numbers::assign))
        .route("/console/flows", get(flows::list).post(flows::upload))
        .route("/console/flows/{flow}", get(flows::show).post(flows::act))
        .route("/console/schedules", get(schedules::list).post(schedules::create))
        .route("/console/schedules/{id}", get(schedules::show).post(schedules::save))
        .route("/console/contacts", get(contacts::list).post(contacts::create))
        .route("/console/contacts/{id}", get(contacts::show).post(contacts::act))
        .route("/console/callbacks/{id}", post(contacts::complete))
        .route("/console/calls", get(calls::list))
        .route("/console/calls/{id}", get(calls::show))
        .route("/console/recordings/{id}", get(calls::recording))
        .route("/console/directory", get(directory::show))
        .route("/console/companies", get(companies::list).post(companies::create))
        .route("/console/companies/{id}", get(companies::show).post(companies::update))
        .route("/console/me", get(me::show).post(me::update))
        .route("/console/me/password", post(me::password))
        .route("/console/me/calls", get(me::calls))
        .route("/console/voicemail", get(me::company_voicemail))
        .route("/console/me/voicemail/{id}", post(me::voicemail))
        .route("/console/assets/{name}", get(asset))
        // A flow upload's form carries the component (the API's own limit is lower).
        .layer(axum::extract::DefaultBodyLimit::max(24 << 20))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

/// No page may be framed, run a script or load anything from another host, or be sniffed as
/// another type; a page with a session's data is not cached.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let no_cache_said = !headers.contains_key(header::CACHE_CONTROL);
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; \
         connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "same-origin");
    set("x-frame-options", "DENY");
    if no_cache_said {
        set("cache-control", "no-store");
    }
    response
}

/// The stylesheet and the script, compiled in.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "console.css" => ("text/css; charset=utf-8", include_str!("assets/console.css")),
        "console.js" => ("text/javascript; charset=utf-8", include_str!("assets/console.js")),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A page for what the API refused (or for a page that does not exist).
fn failure_page(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let html = render::page("failure.html", json!({ "refusal": refusal }));
    (status, html).into_response()
}

/// Renders `template` for `session`'s page in `section` with `data` merged in.
fn page(session: &Session, section: &str, template: &str, data: serde_json::Value) -> Response {
    let mut context = session.frame(section);
    if let (Some(context), serde_json::Value::Object(data)) = (context.as_object_mut(), data) {
        context.extend(data);
    }
    render::page(template, context).into_response()
}

/// Answers a refusal that ended the session by sending to the login page, any other as a page.
fn refused(refusal: Refusal) -> Response {
    if refusal.is_unauthorized() {
        return Redirect::to("/console/login").into_response();
    }
    failure_page(&refusal)
}

/// After a form: back to `to` (303, so reloading does not send the form again).
fn see(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
    /// Back from setting a password with a link.
    set: Option<u8>,
}

/// Only pages of the console are places to come back to (no open redirect).
fn back_to(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with("/console/") && !next.starts_with("/console//") && !next.contains('\\') => next,
        _ => "/console/",
    }
}

async fn login_page(
    State(console): State<Console>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let signup_open = signup::is_open(&console, client).await;
    let data = json!({
        "next": back_to(q.next.as_deref()), "password_set": q.set.is_some(), "signup_open": signup_open,
    });
    render::page("login.html", data).into_response()
}

/// The page a set-password link opens: the new password, twice.
async fn set_password_page(axum::extract::Path(token): axum::extract::Path<String>) -> Response {
    render::page("set_password.html", json!({ "token": token })).into_response()
}

#[derive(serde::Deserialize)]
struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// The form becomes `POST /set-password`; the link is the credential, used once.
async fn set_password(
    State(console): State<Console>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::extract::Path(token): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<SetPasswordForm>,
) -> Response {
    if !session::same_origin(&headers) {
        return session::forbidden("the form came from another site");
    }
    let refused_form = |refusal: Refusal| {
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let html = render::page("set_password.html", json!({ "token": token, "refusal": refusal }));
        (status, html).into_response()
    };
    if form.password != form.password_again {
        return refused_form(Refusal::invalid("password", "the two passwords differ"));
    }
    let body = json!({ "token": token, "password": form.password });
    let caller = Caller {
        token: None,
        client,
        host: None,
    };
    match console
        .api
        .call(caller, Method::POST, "/set-password", Some(&body))
        .await
    {
        Ok(_) => Redirect::to("/console/login?set=1").into_response(),
        Err(refusal) => refused_form(refusal),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// The login form becomes `POST /login`: the API checks the password, throttles guessing and
/// issues the token the cookie keeps.
async fn login(
    State(console): State<Console>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let body = json!({ "login": form.login.trim(), "password": form.password });
    let host = session::host_of(&headers);
    let caller = Caller {
        token: None,
        client,
        host: host.as_deref(),
    };
    match console.api.call(caller, Method::POST, "/login", Some(&body)).await {
        Ok(answer) => {
            let token = answer["token"].as_str().unwrap_or_default();
            let response = Redirect::to(back_to(Some(&form.next))).into_response();
            session::with_session_cookie(response, Some(token), &headers)
        }
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNAUTHORIZED);
            let html = render::page(
                "login.html",
                json!({ "next": back_to(Some(&form.next)), "login": form.login, "refusal": refusal }),
            );
            (status, html).into_response()
        }
    }
}

/// Ends the session: the API forgets the token, the browser the cookie.
async fn logout(State(console): State<Console>, headers: axum::http::HeaderMap, posted: Posted) -> Response {
    if let Err(refusal) = console
        .api
        .call(posted.session.caller(), Method::POST, "/logout", None)
        .await
    {
        tracing::warn!(error = %refusal.error, "logout: the session's token was not revoked");
    }
    session::with_session_cookie(Redirect::to("/console/login").into_response(), None, &headers)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_console_pages_are_returned_to() {
        assert_eq!(super::back_to(Some("/console/calls?page=2")), "/console/calls?page=2");
        assert_eq!(super::back_to(Some("https://evil.example/")), "/console/");
        assert_eq!(super::back_to(Some("//evil.example/console/")), "/console/");
        assert_eq!(super::back_to(Some("/console//evil.example")), "/console/");
        assert_eq!(super::back_to(None), "/console/");
    }
}
