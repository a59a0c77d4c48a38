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
