//! The public sign-up page (when the operator opened it): a company's name, the admin's name
//! and address; the API makes the company and mails the admin his link. No session: the form
//! is checked to come from the console itself, and the API throttles sign-ups.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::api::{Caller, Refusal};
use super::{Console, render, session};

/// Who asks before anyone logged in.
fn stranger(client: std::net::SocketAddr) -> Caller<'static> {
    Caller {
        token: None,
        client,
        host: None,
    }
}

pub async fn page(State(console): State<Console>, ConnectInfo(client): ConnectInfo<std::net::SocketAddr>) -> Response {
    match console.api.call(stranger(client), Method::GET, "/signup", None).await {
        Ok(info) => render::page("signup.html", json!({ "info": info })).into_response(),
        Err(refusal) => closed(&refusal),
    }
}

/// Whether the login page offers the sign-up.
pub async fn is_open(console: &Console, client: std::net::SocketAddr) -> bool {
    console
        .api
        .call(stranger(client), Method::GET, "/signup", None)
        .await
        .is_ok()
}

/// Sign-up is off: the page says so (and where to log in instead).
fn closed(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::NOT_FOUND);
    (status, render::page("signup.html", json!({ "closed": true }))).into_response()
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct SignupForm {
    #[serde(default)]
    company: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    login: String,
}

pub async fn submit(
    State(console): State<Console>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<SignupForm>,
) -> Response {
    if !session::same_origin(&headers) {
        return session::forbidden("the form came from another site");
    }
    let login = form.login.trim();
    let mut body = json!({ "company": form.company, "name": form.name, "email": form.email });
    if !login.is_empty() {
        body["login"] = json!(login);
    }
    let caller = stranger(client);
    match console.api.call(caller, Method::POST, "/signup", Some(&body)).await {
        Ok(done) => (
            StatusCode::CREATED,
            render::page("signup.html", json!({ "done": done })),
        )
            .into_response(),
        Err(refusal) if refusal.status == 404 => closed(&refusal),
        Err(refusal) => {
            let info = console.api.call(caller, Method::GET, "/signup", None).await.ok();
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let data = json!({ "info": info, "form": form, "refusal": refusal });
            (status, render::page("signup.html", data)).into_response()
        }
    }
}
