//! Voicemail: a greeting, a beep, then the caller's message is recorded (up to `max_secs`,
//! ended early by `#`, by `silence_secs` of silence, or by the caller hanging up) and stored
//! with the call; the API lists it under `/recordings`. The same as the SDK's
//! [`routes::Voicemail`], which other flows use as a route (`{"voicemail": {...}}`).

use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::Voicemail;

pub type Settings = Voicemail;

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    settings.run(call)
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");
