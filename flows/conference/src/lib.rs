//! Conference bridge: every caller to the number joins the same room and hears everyone else
//! in it. A beep announces each caller's arrival to themselves; they stay until they hang up.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The room's name: numbers with the same room meet in it.
    pub room: String,
    /// Played before joining; none: only the beep.
    pub greeting: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            room: "main".into(),
            greeting: None,
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    call.answer()?;
    if let Some(greeting) = &settings.greeting {
        call.play(greeting)?;
    }
    log::info(&format!("joins room {}", settings.room));
    call.conference(&settings.room)
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");
