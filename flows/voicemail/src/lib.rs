//! Voicemail: a greeting, a beep, then the caller's message is recorded (up to `max_secs`,
//! ended early by `#`, by `silence_secs` of silence, or by the caller hanging up) and stored
//! with the call; the API lists it under `/recordings`.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Played before the beep.
    pub greeting: String,
    /// Longest message, in seconds (the host caps it at 600).
    pub max_secs: u32,
    /// Silence that ends the message; 0: only `#`, the maximum or a hangup end it.
    pub silence_secs: u32,
    /// Played after the message, before hanging up; none: hang up at once.
    pub thanks: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            greeting: "voicemail-greeting".into(),
            max_secs: 120,
            silence_secs: 5,
            thanks: Some("voicemail-thanks".into()),
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    call.answer()?;
    call.play(&settings.greeting)?;
    let opts = RecordOptions {
        max_seconds: settings.max_secs,
        silence_seconds: settings.silence_secs,
        terminators: "#".into(),
        beep: true,
    };
    match call.record(&opts)? {
        Some(message) => log::info(&format!(
            "message {} ({} ms, ended by {})",
            message.id, message.duration_ms, message.ended_by
        )),
        None => log::info("the caller left no message"),
    }
    if let Some(thanks) = &settings.thanks {
        call.play(thanks)?;
    }
    call.hangup();
    Ok(())
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");
