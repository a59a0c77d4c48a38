//! Business hours: during the number's hours (a schedule of weekly hours, holidays and extra
//! working days, in the number's timezone) calls take the `open` route, outside them the
//! `closed` route. Without a schedule the number is open around the clock. A route is any of
//! the SDK's [`routes::Route`]s: a department, an employee, a voice menu, voicemail, a message.

use serde::Deserialize;
use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::{Menu, Route, Voicemail};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The business-hours schedule (`PUT /schedules/{id}`); none: open around the clock.
    pub schedule: Option<String>,
    /// Where calls go during business hours.
    pub open: Route,
    /// Where calls go outside them.
    pub closed: Route,
    /// Played when a route reaches nobody.
    pub unavailable_prompt: String,
}

/// A fresh number's chain: the voice menu during business hours, voicemail outside them.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            schedule: None,
            open: Route::Menu(Box::default()),
            closed: Route::Voicemail(Voicemail::default()),
            unavailable_prompt: Menu::default().unavailable_prompt,
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    let open = match &settings.schedule {
        None => true,
        Some(schedule) => match call.is_open(schedule) {
            Ok(open) => open,
            // The admin deleted the schedule the number still names: better open than lost.
            Err(e) => {
                log::warn(&format!("{e}: taking the business-hours route"));
                true
            }
        },
    };
    let route = if open { &settings.open } else { &settings.closed };
    let now = call.now();
    log::info(&format!(
        "{} {} {:02}:{:02}: {}",
        now.timezone,
        now.date,
        now.minute / 60,
        now.minute % 60,
        if open { "open" } else { "closed" }
    ));
    route.run(call, &settings.unavailable_prompt)
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn after_hours_the_caller_reaches_voicemail() {
        let call = TestCall::new().schedule("office", false);
        run(&call, settings(r#"{"schedule": "office"}"#)).unwrap();
        assert_eq!(
            call.decisions(),
            [
                "is-open office → closed",
                "answer",
                "request-callback voicemail",
                "play voicemail-greeting",
                "record max 120 s",
                "play voicemail-thanks",
                "hangup"
            ]
        );
    }

    #[test]
    fn in_hours_the_menu_answers() {
        let call = TestCall::new()
            .schedule("office", true)
            .presses("1")
            .dial_answers(Some("alice"));
        run(&call, settings(r#"{"schedule": "office"}"#)).unwrap();
        assert_eq!(call.decisions()[0], "is-open office → open");
        assert_eq!(call.decisions()[3], "dial department sales → answered by alice");
    }

    #[test]
    fn without_a_schedule_it_is_open_around_the_clock() {
        let call = TestCall::new().dial_answers(None);
        run(&call, settings(r#"{"open": {"department": "support"}}"#)).unwrap();
        assert_eq!(call.decisions(), ["dial department support → answered"]);
    }

    #[test]
    fn a_schedule_that_is_gone_counts_as_open() {
        let call = TestCall::new();
        run(
            &call,
            settings::<Settings>(r#"{"schedule": "deleted", "open": {"hangup": "tts:Hello"}}"#),
        )
        .unwrap();
        assert_eq!(
            call.decisions(),
            ["is-open deleted → no such schedule", "play tts:Hello", "hangup"]
        );
    }
}
