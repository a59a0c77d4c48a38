//! The console's templates (compiled into the binary, HTML-escaped by default) and the filters
//! they use to show times in the company's timezone.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::{Environment, Error, ErrorKind, Value};

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("login.html", include_str!("templates/login.html")),
    ("set_password.html", include_str!("templates/set_password.html")),
    ("failure.html", include_str!("templates/failure.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("live.html", include_str!("templates/live.html")),
    ("employees.html", include_str!("templates/employees.html")),
    ("employee.html", include_str!("templates/employee.html")),
    ("departments.html", include_str!("templates/departments.html")),
    ("department.html", include_str!("templates/department.html")),
    ("flows.html", include_str!("templates/flows.html")),
    ("flow.html", include_str!("templates/flow.html")),
    ("numbers.html", include_str!("templates/numbers.html")),
    ("number.html", include_str!("templates/number.html")),
    ("calls.html", include_str!("templates/calls.html")),
    ("call.html", include_str!("templates/call.html")),
    ("me.html", include_str!("templates/me.html")),
    ("directory.html", include_str!("templates/directory.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("my_calls.html", include_str!("templates/my_calls.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("schedule.html", include_str!("templates/schedule.html")),
    ("contacts.html", include_str!("templates/contacts.html")),
    ("voicemail.html", include_str!("templates/voicemail.html")),
    ("contact.html", include_str!("templates/contact.html")),
    ("employee_select.html", include_str!("templates/employee_select.html")),
    ("companies.html", include_str!("templates/companies.html")),
    ("company.html", include_str!("templates/company.html")),
    ("plan_fields.html", include_str!("templates/plan_fields.html")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("console template {name}: {e}"));
        }
        env.add_filter("when", when);
        env.add_filter("day", day);
        env.add_filter("duration", duration);
        env
    })
}

/// `template` rendered with `context`; a template error is logged and shown as a short page.
pub fn page(template: &str, context: serde_json::Value) -> Html<String> {
    let rendered = environment()
        .get_template(template)
        .and_then(|t| t.render(Value::from_serialize(&context)));
    match rendered {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(template, error = %e, "console page failed to render");
            Html("<!doctype html><title>Error</title><p>This page failed to render; see the server log.</p>".into())
        }
    }
}

/// A Unix-ms time in `tz`: `2026-12-05 14:03:07`.
fn when(ms: Option<i64>, tz: &str) -> Result<String, Error> {
    format_in(ms, tz, "%Y-%m-%d %H:%M:%S")
}

/// A Unix-ms time's date in `tz`: `2026-12-05`.
fn day(ms: Option<i64>, tz: &str) -> Result<String, Error> {
    format_in(ms, tz, "%Y-%m-%d")
}

fn format_in(ms: Option<i64>, tz: &str, format: &str) -> Result<String, Error> {
    let Some(ms) = ms else {
        return Ok(String::new());
    };
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let at =
        jiff::Timestamp::from_millisecond(ms).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(zone.to_datetime(at).strftime(format).to_string())
}

/// Milliseconds as `1:02:03` or `2:05`.
fn duration(ms: Option<i64>) -> String {
    let secs = ms.unwrap_or(0).max(0) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The first millisecond of `day` (`YYYY-MM-DD`) in `tz`.
pub fn start_of_day(day: &str, tz: &str) -> Option<i64> {
    let date: jiff::civil::Date = day.trim().parse().ok()?;
    let zone = jiff::tz::TimeZone::get(tz).ok()?;
    let start = date.to_datetime(jiff::civil::Time::midnight());
    Some(zone.to_timestamp(start).ok()?.as_millisecond())
}

/// Midnight today in `tz`, as Unix ms (the dashboard's "today").
pub fn midnight(tz: &str) -> i64 {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = jiff::Timestamp::now();
    let midnight = zone.to_datetime(now).date().to_datetime(jiff::civil::Time::midnight());
    zone.to_timestamp(midnight).unwrap_or(now).as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_companys_timezone() {
        // 2026-07-01 12:00:00 UTC.
        let ms = Some(1_782_907_200_000);
        assert_eq!(when(ms, "UTC").unwrap(), "2026-07-01 12:00:00");
        assert_eq!(when(ms, "Europe/Berlin").unwrap(), "2026-07-01 14:00:00");
        assert_eq!(when(ms, "Not/AZone").unwrap(), "2026-07-01 12:00:00");
        assert_eq!(when(None, "UTC").unwrap(), "");
        assert_eq!(duration(Some(62_500)), "1:02");
        assert_eq!(duration(Some(3_723_000)), "1:02:03");
    }

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
