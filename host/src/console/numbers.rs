//! Numbers: which flow answers each, and the flow's settings as a form generated from the
//! flow's settings schema (`settings_form.rs`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session};
use super::settings_form::{self, PREFIX};
use super::{Console, page, refused, see};

#[derive(serde::Deserialize)]
pub struct ListQuery {
    /// A number typed into "add a number": its page.
    add: Option<String>,
}

pub async fn list(State(console): State<Console>, session: Session, Query(q): Query<ListQuery>) -> Response {
    // `+49 30 1234` is `+49301234` (the API checks the rest when the form is saved).
    let added: Option<String> = q.add.map(|n| n.split_whitespace().collect());
    if let Some(number) = added.filter(|n| !n.is_empty()) {
        return see(&format!("/console/numbers/{}", encode(&number)));
    }
    let (numbers, flows) = match tokio::try_join!(
        console.api.call(session.caller(), Method::GET, "/numbers", None),
        console.api.call(session.caller(), Method::GET, "/flows", None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let names = flow_names(&flows);
    let numbers: Vec<Value> = numbers["numbers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let mut n = n.clone();
            let sha = n["flow"].as_str().unwrap_or_default().to_owned();
            n["flow_name"] = Value::from(
                names
                    .get(&sha)
                    .cloned()
                    .unwrap_or_else(|| sha.chars().take(12).collect()),
            );
            n
        })
        .collect();
    page(&session, "numbers", "numbers.html", json!({ "numbers": numbers }))
}

/// sha256 → name, for every flow version the company may use.
fn flow_names(flows: &Value) -> BTreeMap<String, String> {
    flows["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["sha256"].as_str()?.to_owned(), f["name"].as_str()?.to_owned())))
        .collect()
}

#[derive(serde::Deserialize)]
pub struct ShowQuery {
    /// Show the form for this flow (name or sha256) instead of the number's.
    flow: Option<String>,
    saved: Option<u8>,
}

pub async fn show(
    State(console): State<Console>,
    session: Session,
    Path(number): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notice = q.saved.map(|_| "saved");
    let view = Form {
        chosen: q.flow,
        posted: None,
        refusal: None,
        problems: BTreeMap::new(),
        notice,
    };
    render(&console, &session, &number, view).await
}

/// What the number's page shows besides the stored assignment.
struct Form<'a> {
    /// The flow picked (else the number's, else the voice menu).
    chosen: Option<String>,
    /// A refused form's fields, shown again.
    posted: Option<&'a [(String, String)]>,
    refusal: Option<Refusal>,
    /// Setting → why it was refused.
    problems: BTreeMap<String, String>,
    notice: Option<&'static str>,
}

/// The number as assigned now (none for a number not yet assigned).
async fn current(console: &Console, session: &Session, number: &str) -> Result<Option<Value>, Refusal> {
    let numbers = console
        .api
        .call(session.caller(), Method::GET, "/numbers", None)
        .await?;
    let canonical = crate::call::number::canonical(number);
    Ok(numbers["numbers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["number"].as_str().map(crate::call::number::canonical) == Some(canonical.clone()))
        .cloned())
}

async fn render(console: &Console, session: &Session, number: &str, form: Form<'_>) -> Response {
    let (current, flows) = match tokio::try_join!(
        current(console, session, number),
        console.api.call(session.caller(), Method::GET, "/flows", None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let current_flow = current.as_ref().and_then(|c| c["flow"].as_str()).map(str::to_owned);
    let chosen = form
        .chosen
        .clone()
        .or_else(|| current_flow.clone())
        .unwrap_or_else(|| "ivr".into());
    let detail = match console
        .api
        .call(
            session.caller(),
            Method::GET,
            &format!("/flows/{}", encode(&chosen)),
            None,
        )
        .await
    {
        Ok(detail) => detail,
        Err(refusal) => return refused(refusal),
    };
    let same_flow = current_flow.as_deref() == detail["sha256"].as_str();
    let settings = match (&current, same_flow) {
        (Some(current), true) => current["settings"].clone(),
        _ => json!({}),
    };
    let schema = &detail["settings_schema"];
    let mut fields = settings_form::fields(schema, &settings);
    if let Some(posted) = form.posted {
        for field in &mut fields {
            let typed = posted
                .iter()
                .find(|(k, _)| k.strip_prefix(PREFIX) == Some(field.name.as_str()));
            if !field.secret {
                field.value = typed.map(|(_, v)| v.clone()).unwrap_or_default();
            }
            field.checked = typed.is_some();
        }
    }
    let options = match form.posted {
        Some(posted) => Value::Object(
            posted
                .iter()
                .filter(|(k, _)| !k.starts_with(PREFIX) && k != "csrf")
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        ),
        None => current
            .clone()
            .unwrap_or_else(|| json!({ "timezone": session.timezone(), "show_caller_status": true })),
    };
    let mut names: Vec<&str> = flows["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    // Where calls go now (for a number set up): its flow explored in the simulator.
    let map = match &current {
        Some(_) => {
            let path = format!("/numbers/{}/route-map", encode(number));
            match console.api.call(session.caller(), Method::GET, &path, None).await {
                Ok(map) => json!({ "found": map, "picture": super::route_map::lay_out(&map) }),
                Err(refusal) => json!({ "refusal": refusal }),
            }
        }
        None => Value::Null,
    };
    let status = if form.refusal.is_some() || !form.problems.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let data = json!({
        "number": number,
        "current": current,
        "flow": detail,
        "flow_names": names,
        "fields": fields,
        "raw_settings": serde_json::to_string_pretty(&settings).unwrap_or_default(),
        "has_schema": !schema.is_null(),
        "options": options,
        "refusal": form.refusal,
        "problems": form.problems,
        "notice": form.notice,
        "map": map,
    });
    (status, page(session, "numbers", "number.html", data)).into_response()
}

pub async fn assign(State(console): State<Console>, Path(number): Path<String>, posted: Posted) -> Response {
    let session = &posted.session;
    let chosen = posted.field("flow").to_owned();
    let refused_form = |refusal: Option<Refusal>, problems: BTreeMap<String, String>| Form {
        chosen: Some(chosen.clone()),
        posted: Some(&posted.fields),
        refusal,
        problems,
        notice: None,
    };
    let flow_path = format!("/flows/{}", encode(&chosen));
    let (current, detail) = match tokio::try_join!(
        current(&console, session, &number),
        console.api.call(session.caller(), Method::GET, &flow_path, None),
    ) {
        Ok(both) => both,
        Err(refusal) if refusal.is_unauthorized() => return refused(refusal),
        Err(refusal) => return render(&console, session, &number, refused_form(Some(refusal), BTreeMap::new())).await,
    };
    let shown = match &current {
        Some(current) if current["flow"] == detail["sha256"] => current["settings"].clone(),
        _ => Value::Null,
    };
    let settings = if detail["settings_schema"].is_null() {
        match serde_json::from_str::<Value>(posted.given("settings").unwrap_or("{}")) {
            Ok(settings) => settings,
            Err(e) => {
                let problems = BTreeMap::from([("settings".to_owned(), format!("not JSON: {e}"))]);
                return render(&console, session, &number, refused_form(None, problems)).await;
            }
        }
    } else {
        match settings_form::collect(&detail["settings_schema"], &posted.fields, &shown) {
            Ok(settings) => settings,
            Err(problems) => return render(&console, session, &number, refused_form(None, problems)).await,
        }
    };
    // What the form does not show is kept as it is.
    let kept = |key: &str, default: Value| current.as_ref().map(|c| c[key].clone()).unwrap_or(default);
    let optional = |name: &str| posted.given(name).map(Value::from).unwrap_or(Value::Null);
    let body = json!({
        "flow": chosen,
        "settings": settings,
        "timezone": posted.given("timezone").unwrap_or("UTC"),
        "record_calls": posted.given("record_calls").is_some(),
        "mailbox": optional("mailbox"),
        "missed_call_mail": posted.given("missed_call_mail").is_some(),
        "display_prefix": posted.field("display_prefix").trim(),
        "caller_id": optional("caller_id"),
        "show_caller_status": posted.given("show_caller_status").is_some(),
        "fallback": kept("fallback", Value::Null),
        "allowed_hosts": kept("allowed_hosts", json!([])),
    });
    let path = format!("/numbers/{}", encode(&number));
    match console
        .api
        .call(session.caller(), Method::PUT, &path, Some(&body))
        .await
    {
        Ok(_) => see(&format!("/console/numbers/{}?saved=1", encode(&number))),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) if refusal.field.as_deref() == Some("settings") => {
            let problems = settings_form::problems_by_setting(&refusal.detail);
            render(&console, session, &number, refused_form(None, problems)).await
        }
        Err(refusal) => render(&console, session, &number, refused_form(Some(refusal), BTreeMap::new())).await,
    }
}
