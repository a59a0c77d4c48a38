//! Departments: who rings when a call is routed to one, in which order and how — the members
//! kept in order with buttons that move them (no script needed), the strategy, the step.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session};
use super::{Console, page, refused, see};

pub async fn list(State(console): State<Console>, session: Session) -> Response {
    render_list(&console, &session, json!({ "strategy": "in_turn" }), None).await
}

async fn render_list(console: &Console, session: &Session, form: Value, refusal: Option<Refusal>) -> Response {
    let departments = match console
        .api
        .call(session.caller(), Method::GET, "/departments", None)
        .await
    {
        Ok(list) => list["departments"].clone(),
        Err(refusal) => return refused(refusal),
    };
    let status = match refusal {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let data = json!({ "departments": departments, "form": form, "refusal": refusal });
    (status, page(session, "departments", "departments.html", data)).into_response()
}

/// A new department: id, name, extension and strategy; members are added on its page.
pub async fn create(State(console): State<Console>, posted: Posted) -> Response {
    let body = json!({
        "id": posted.field("id").trim(),
        "name": posted.field("name").trim(),
        "extension": posted.field("extension").trim(),
        "strategy": posted.field("strategy"),
        "members": [],
    });
    match console
        .api
        .call(posted.session.caller(), Method::POST, "/departments", Some(&body))
        .await
    {
        Ok(created) => see(&format!(
            "/console/departments/{}",
            encode(created["id"].as_str().unwrap_or_default())
        )),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_list(&console, &posted.session, posted.echo(), Some(refusal)).await,
    }
}

pub async fn show(State(console): State<Console>, session: Session, Path(id): Path<String>) -> Response {
    render_one(&console, &session, &id, None, None, None).await
}

async fn render_one(
    console: &Console,
    session: &Session,
    id: &str,
    form: Option<Value>,
    refusal: Option<Refusal>,
    notice: Option<&str>,
) -> Response {
    let path = format!("/departments/{}", encode(id));
    let (department, employees) = match tokio::try_join!(
        console.api.call(session.caller(), Method::GET, &path, None),
        console.api.call(session.caller(), Method::GET, "/employees", None),
    ) {
        Ok(both) => both,
        Err(refusal) => return refused(refusal),
    };
    let form = form.unwrap_or_else(|| department.clone());
    let members: Vec<&str> = form["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let others: Vec<&Value> = employees["employees"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| !members.contains(&e["login"].as_str().unwrap_or("")))
        .collect();
    let overflow = match &form["overflow"] {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        route => serde_json::to_string_pretty(route).unwrap_or_default(),
    };
    let status = match refusal {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let data = json!({
        "department": department, "form": form, "others": others, "overflow": overflow,
        "refusal": refusal, "notice": notice,
    });
    (status, page(session, "departments", "department.html", data)).into_response()
}

/// The members after the button pressed: `up:<login>`, `down:<login>`, `remove:<login>`,
/// `add` (the login picked), else as they are.
fn reordered(mut members: Vec<String>, action: &str, picked: &str) -> Vec<String> {
    let (verb, login) = action.split_once(':').unwrap_or((action, ""));
    let at = members.iter().position(|m| m == login);
    match (verb, at) {
        ("up", Some(i)) if i > 0 => members.swap(i, i - 1),
        ("down", Some(i)) if i + 1 < members.len() => members.swap(i, i + 1),
        ("remove", Some(i)) => {
            members.remove(i);
        }
        ("add", _) if !picked.is_empty() && !members.iter().any(|m| m == picked) => members.push(picked.to_owned()),
        _ => {}
    }
    members
}

/// Every button of the department's page saves the whole form (a member moved is saved at once).
pub async fn update(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let path = format!("/departments/{}", encode(&id));
    let action = posted.field("action").to_owned();
    if action == "delete" {
        return match console
            .api
            .call(posted.session.caller(), Method::DELETE, &path, None)
            .await
        {
            Ok(_) => see("/console/departments"),
            Err(refusal) => refused(refusal),
        };
    }
    let members = reordered(
        posted
            .fields
            .iter()
            .filter(|(k, _)| k == "member")
            .map(|(_, v)| v.clone())
            .collect(),
        &action,
        posted.field("add_member"),
    );
    let mut form = posted.echo();
    form["members"] = json!(members);
    let number = |name: &str, default: i64| -> Result<i64, Refusal> {
        Ok(posted.seconds(name, "a whole number of seconds")?.unwrap_or(default))
    };
    let overflow = match posted.given("overflow") {
        None => Ok(Value::Null),
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| {
            Refusal::invalid(
                "overflow",
                format!("a route as JSON, e.g. {{\"voicemail\": {{}}}}: {e}"),
            )
        }),
    };
    let body = match (number("step_secs", 15), number("timeout_secs", 60), overflow) {
        (Ok(step), Ok(timeout), Ok(overflow)) => json!({
            "name": posted.field("name").trim(),
            "extension": posted.field("extension").trim(),
            "strategy": posted.field("strategy"),
            "step_secs": step,
            "timeout_secs": timeout,
            "members": members,
            "ring_busy": posted.given("ring_busy").is_some(),
            "overflow": overflow,
            "calling_rights": posted.field("calling_rights"),
        }),
        (Err(refusal), ..) | (_, Err(refusal), _) | (.., Err(refusal)) => {
            return render_one(&console, &posted.session, &id, Some(form), Some(refusal), None).await;
        }
    };
    match console
        .api
        .call(posted.session.caller(), Method::PUT, &path, Some(&body))
        .await
    {
        Ok(saved) => render_one(&console, &posted.session, &id, Some(saved), None, Some("saved")).await,
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render_one(&console, &posted.session, &id, Some(form), Some(refusal), None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::reordered;

    #[test]
    fn buttons_move_members() {
        let members = || vec!["ann".to_string(), "bob".into(), "cyd".into()];
        assert_eq!(reordered(members(), "up:bob", ""), ["bob", "ann", "cyd"]);
        assert_eq!(reordered(members(), "up:ann", ""), ["ann", "bob", "cyd"]);
        assert_eq!(reordered(members(), "down:bob", ""), ["ann", "cyd", "bob"]);
        assert_eq!(reordered(members(), "down:cyd", ""), ["ann", "bob", "cyd"]);
        assert_eq!(reordered(members(), "remove:ann", ""), ["bob", "cyd"]);
        assert_eq!(reordered(members(), "add", "dee"), ["ann", "bob", "cyd", "dee"]);
        assert_eq!(reordered(members(), "add", "bob"), ["ann", "bob", "cyd"]);
        assert_eq!(reordered(members(), "save", ""), ["ann", "bob", "cyd"]);
    }
}
