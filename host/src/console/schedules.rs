//! Schedules: opening hours per weekday, holidays and extra working days, which flows ask
//! ("is it open now?") by the schedule's id. The form writes hours as people do —
//! `09:00-13:00, 14:00-18:00` — and the API checks them.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::api::{Refusal, encode};
use super::session::{Posted, Session};
use super::{Console, page, refused, see};

const WEEKDAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

pub async fn list(State(console): State<Console>, session: Session) -> Response {
    match console
        .api
        .call(session.caller(), Method::GET, "/schedules", None)
        .await
    {
        Ok(list) => {
            let data = json!({ "schedules": list["schedules"], "weekdays": WEEKDAYS });
            page(&session, "schedules", "schedules.html", data)
        }
        Err(refusal) => refused(refusal),
    }
}

pub async fn show(State(console): State<Console>, session: Session, Path(id): Path<String>) -> Response {
    let path = format!("/schedules/{}", encode(&id));
    let schedule = match console.api.call(session.caller(), Method::GET, &path, None).await {
        Ok(schedule) => schedule,
        // A new schedule: the page is its empty form.
        Err(refusal) if refusal.status == 404 => json!({ "id": id, "name": "", "new": true }),
        Err(refusal) => return refused(refusal),
    };
    let form = form_of(&schedule);
    render(&session, &id, form, None)
}

fn render(session: &Session, id: &str, form: Value, refusal: Option<Refusal>) -> Response {
    let status = match &refusal {
        Some(r) => StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
        None => StatusCode::OK,
    };
    let data = json!({ "id": id, "form": form, "weekdays": WEEKDAYS, "refusal": refusal });
    (status, page(session, "schedules", "schedule.html", data)).into_response()
}

/// `[["09:00","13:00"],["14:00","18:00"]]` as `09:00-13:00, 14:00-18:00`.
fn hours_text(hours: &Value) -> String {
    hours
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|span| Some(format!("{}-{}", span[0].as_str()?, span[1].as_str()?)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `09:00-13:00, 14:00-18:00` as the API's spans; the refusal names `field`.
fn hours_of(text: &str, field: &str) -> Result<Value, Refusal> {
    let mut spans = Vec::new();
    for span in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((from, to)) = span.split_once('-') else {
            return Err(Refusal::invalid(field, format!("{span:?}: write hours as 09:00-13:00")));
        };
        spans.push(json!([from.trim(), to.trim()]));
    }
    Ok(Value::Array(spans))
}

/// The schedule as the form shows it: one text per weekday, holidays and extra days a line each.
fn form_of(schedule: &Value) -> Value {
    let mut form = Map::new();
    form.insert("name".into(), schedule["name"].clone());
    form.insert("new".into(), schedule["new"].clone());
    for (day, _) in WEEKDAYS {
        form.insert(day.into(), hours_text(&schedule["weekly"][day]).into());
    }
    let holidays: Vec<&str> = schedule["holidays"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    form.insert("holidays".into(), holidays.join("\n").into());
    let extra: Vec<String> = schedule["extra_days"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| format!("{} {}", d["date"].as_str().unwrap_or_default(), hours_text(&d["hours"])))
        .collect();
    form.insert("extra_days".into(), extra.join("\n").into());
    Value::Object(form)
}

/// The API's body from the form.
fn body_of(posted: &Posted) -> Result<Value, Refusal> {
    let mut weekly = Map::new();
    for (day, _) in WEEKDAYS {
        let hours = hours_of(posted.field(day), day)?;
        if hours.as_array().is_some_and(|h| !h.is_empty()) {
            weekly.insert(day.into(), hours);
        }
    }
    let lines = |name: &str| -> Vec<String> {
        posted
            .field(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut extra_days = Vec::new();
    for line in lines("extra_days") {
        let (date, hours) = line.split_once(char::is_whitespace).unwrap_or((line.as_str(), ""));
        extra_days.push(json!({ "date": date, "hours": hours_of(hours, "extra_days")? }));
    }
    Ok(json!({
        "name": posted.field("name").trim(),
        "weekly": weekly,
        "holidays": lines("holidays"),
        "extra_days": extra_days,
    }))
}

/// Saves the schedule (`action=save`) or deletes it (`action=delete`).
pub async fn save(State(console): State<Console>, Path(id): Path<String>, posted: Posted) -> Response {
    let path = format!("/schedules/{}", encode(&id));
    let caller = posted.session.caller();
    let result = match posted.field("action") {
        "delete" => console.api.call(caller, Method::DELETE, &path, None).await,
        _ => match body_of(&posted) {
            Ok(body) => console.api.call(caller, Method::PUT, &path, Some(&body)).await,
            Err(refusal) => Err(refusal),
        },
    };
    match result {
        Ok(_) if posted.field("action") == "delete" => see("/console/schedules"),
        Ok(_) => see(&format!("/console/schedules/{}", encode(&id))),
        Err(refusal) if refusal.is_unauthorized() => refused(refusal),
        Err(refusal) => render(&posted.session, &id, posted.echo(), Some(refusal)),
    }
}

/// The list's "new schedule" form: its id, then its page.
pub async fn create(posted: Posted) -> Response {
    let id = posted.field("id").trim().to_ascii_lowercase();
    see(&format!("/console/schedules/{}", encode(&id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_read_as_people_write_them_and_back() {
        let spans = hours_of("09:00-13:00, 14:00 - 18:00", "mon").unwrap();
        assert_eq!(spans, json!([["09:00", "13:00"], ["14:00", "18:00"]]));
        assert_eq!(hours_text(&spans), "09:00-13:00, 14:00-18:00");
        assert_eq!(hours_of("", "mon").unwrap(), json!([]));
        let refusal = hours_of("9 to 5", "tue").unwrap_err();
        assert_eq!(refusal.field.as_deref(), Some("tue"));
    }
}
