//! Flows: the company's versions (and the built-in ones) with the numbers that use each, an
//! upload form for a `.wasm` component, and a version's page with its simulator — type what the
//! caller does, see what the flow did.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session, Upload};
use super::{Console, page, refused, see};

/// A component larger than this is not read from the form (the API's own limit is lower).
const MAX_UPLOAD_BYTES: usize = 20 << 20;

pub async fn list(State(console): State<Console>, session: Session) -> Response {
    render_list(&console, &session, None).await
}

async fn render_list(console: &Console, session: &Session, refusal: Option<Refusal>) -> Response {
    let (flows, numbers) = match tokio::try_join!(
        console.api.call(session.caller(), Method::GET, "/flows", None),
        console.api.call(session.caller(), Method::GET, "/numbers", None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let versions: Vec<Value> = flows["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let mut f = f.clone();
            let using: Vec<Value> = numbers["numbers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["flow"] == f["sha256"])
                .map(|n| n["number"].clone())
                .collect();
            f["numbers"] = json!(using);
            f
        })
        .collect();
    let status = match refusal {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let data = json!({ "flows": versions, "refusal": refusal });
    (status, page(session, "flows", "flows.html", data)).into_response()
}

/// The upload form (multipart: a name and the file) becomes `POST /flows?name=…` with the bytes.
pub async fn upload(State(console): State<Console>, upload: Upload) -> Response {
    let (session, mut form) = (upload.session, upload.fields);
    let (mut name, mut wasm) = (String::new(), Vec::new());
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("name") => name = field.text().await.unwrap_or_default(),
                Some("wasm") => match field.bytes().await {
                    Ok(bytes) if bytes.len() <= MAX_UPLOAD_BYTES => wasm = bytes.to_vec(),
                    _ => return too_large(&console, &session).await,
                },
                _ => {}
            },
            Ok(None) => break,
            Err(_) => return too_large(&console, &session).await,
        }
    }
    if wasm.is_empty() {
        let refusal = Refusal::invalid("wasm", "choose a .wasm file (a component built for wasm32-wasip2)");
        return render_list(&console, &session, Some(refusal)).await;
    }
    let name = name.trim();
    let path = match name {
        "" => "/flows".to_owned(),
        name => format!("/flows?name={}", encode(name)),
    };
    let uploaded = console
        .api
        .call_with(
            session.caller(),
            Method::POST,
            &path,
            "application/wasm",
            Body::from(wasm),
        )
        .await;
    match uploaded {
        Ok(answer) => see(&format!(
            "/console/flows/{}",
            encode(answer["sha256"].as_str().unwrap_or_default())
        )),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(mut refusal) => {
            // What the API refused of an upload is the file, unless it names the name.
            refusal.field.get_or_insert_with(|| "wasm".into());
            render_list(&console, &session, Some(refusal)).await
        }
    }
}

async fn too_large(console: &Console, session: &Session) -> Response {
    let refusal = Refusal {
        status: 413,
        error: "invalid wasm".into(),
        detail: format!("the file is over {} MiB", MAX_UPLOAD_BYTES >> 20),
        field: Some("wasm".into()),
    };
    render_list(console, session, Some(refusal)).await
}

pub async fn show(State(console): State<Console>, session: Session, Path(flow): Path<String>) -> Response {
    render_one(&console, &session, &flow, None, None).await
}

async fn render_one(
    console: &Console,
    session: &Session,
    flow: &str,
    simulation: Option<(Value, Result<Value, Refusal>)>,
    notice: Option<&str>,
) -> Response {
    let detail = match console
        .api
        .call(session.caller(), Method::GET, &format!("/flows/{}", encode(flow)), None)
        .await
    {
        Ok(detail) => detail,
        Err(refusal) => return refused(refusal),
    };
    let (form, result, refusal) = match simulation {
        Some((form, Ok(result))) => (form, result, None),
        Some((form, Err(refusal))) => (form, Value::Null, Some(refusal)),
        None => (
            json!({ "settings": "{}", "script": "1s press 1\ndial answered talk 30s" }),
            Value::Null,
            None,
        ),
    };
    let status = match refusal {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let data = json!({ "flow": detail, "form": form, "result": result, "refusal": refusal, "notice": notice });
    (status, page(session, "flows", "flow.html", data)).into_response()
}

/// The simulator: settings and a script become `POST /flows/{flow}/simulate`.
pub async fn act(State(console): State<Console>, Path(flow): Path<String>, posted: Posted) -> Response {
    let session = &posted.session;
    if posted.field("action") == "delete" {
        let path = format!("/flows/{}", encode(&flow));
        return match console.api.call(session.caller(), Method::DELETE, &path, None).await {
            Ok(_) => see("/console/flows"),
            Err(refusal) if refusal.is_unauthorized() => refused(refusal),
            Err(refusal) => render_one(&console, session, &flow, Some((posted.echo(), Err(refusal))), None).await,
        };
    }
    let form = posted.echo();
    let settings = match serde_json::from_str::<Value>(posted.given("settings").unwrap_or("{}")) {
        Ok(settings) => settings,
        Err(e) => {
            let refusal = Refusal::invalid("settings", format!("not JSON: {e}"));
            return render_one(&console, session, &flow, Some((form, Err(refusal))), None).await;
        }
    };
    let body = json!({ "settings": settings, "script": posted.field("script") });
    let path = format!("/flows/{}/simulate", encode(&flow));
    let result = console
        .api
        .call(session.caller(), Method::POST, &path, Some(&body))
        .await;
    if let Err(refusal) = &result
        && refusal.is_unauthorized()
    {
        return refused(refusal.clone());
    }
    render_one(&console, session, &flow, Some((form, result)), None).await
}
