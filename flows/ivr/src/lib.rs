//! The voice menu: greets the caller, maps one digit to a route, and sends callers who press
//! nothing within the timeout (5 s by default) to the default route.

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Prompt played (and interrupted by the first digit) while waiting for a choice.
    pub greeting: String,
    /// Prompt played after a digit that maps to nothing.
    pub invalid_prompt: String,
    /// Prompt played when the chosen route could not reach anyone.
    pub unavailable_prompt: String,
    /// How long to wait for a digit after the greeting started.
    pub timeout_ms: u32,
    /// How many times an invalid digit replays the menu before the default route.
    pub retries: u32,
    /// Digit -> route.
    pub options: BTreeMap<String, Route>,
    /// Where callers go when they press nothing, or keep pressing invalid digits.
    pub default: Route,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            greeting: "ivr-greeting".into(),
            invalid_prompt: "ivr-invalid".into(),
            unavailable_prompt: "all-busy".into(),
            timeout_ms: 5_000,
            retries: 2,
            options: BTreeMap::from([
                ("1".into(), Route::Department("sales".into())),
                ("2".into(), Route::Department("support".into())),
            ]),
            default: Route::Department("sales".into()),
        }
    }
}

/// Where a choice leads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Route {
    Department(String),
    Employee(String),
    Extension(String),
    External(String),
    /// Play the prompt and hang up.
    Hangup(String),
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    call.answer()?;
    let ask = CollectOptions::one_digit(Some(&settings.greeting), settings.timeout_ms);
    for _ in 0..=settings.retries {
        let Some(digit) = call.collect(&ask)? else {
            log::info("no digit: default route");
            return route(call, &settings, &settings.default);
        };
        if let Some(choice) = settings.options.get(&digit) {
            log::info(&format!("digit {digit}: {choice:?}"));
            return route(call, &settings, choice);
        }
        log::info(&format!("digit {digit}: not on the menu"));
        call.play(&settings.invalid_prompt)?;
    }
    route(call, &settings, &settings.default)
}

fn route(call: &impl CallApi, settings: &Settings, route: &Route) -> FlowResult {
    let target = match route {
        Route::Department(id) => Target::Department(id.clone()),
        Route::Employee(id) => Target::Employee(id.clone()),
        Route::Extension(ext) => Target::Extension(ext.clone()),
        Route::External(number) => Target::External(number.clone()),
        Route::Hangup(prompt) => {
            call.play(prompt)?;
            call.hangup();
            return Ok(());
        }
    };
    match Dial::ring_all([target]).timeout_secs(30).run(call)? {
        DialOutcome::Answered(_) => Ok(()),
        other => {
            log::info(&format!("route not connected: {other:?}"));
            call.play(&settings.unavailable_prompt)?;
            call.hangup();
            Ok(())
        }
    }
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");
