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

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn every_caller_joins_the_room() {
        let call = TestCall::new();
        let left = run(&call, settings(r#"{"room": "weekly-sales"}"#));
        assert!(
            matches!(left, Err(CallError::Hangup)),
            "the caller stays until he hangs up"
        );
        assert_eq!(call.decisions(), ["answer", "conference weekly-sales"]);
    }

    #[test]
    fn a_greeting_plays_first() {
        let call = TestCall::new();
        let _ = run(&call, settings(r#"{"greeting": "tts:Welcome."}"#));
        assert_eq!(call.decisions(), ["answer", "play tts:Welcome.", "conference main"]);
    }

    #[test]
    fn a_caller_who_leaves_during_the_greeting_never_joins() {
        let call = TestCall::new().hangs_up_at_verb(1);
        let _ = run(&call, settings(r#"{"greeting": "tts:Welcome."}"#));
        assert_eq!(call.decisions(), ["answer", "play tts:Welcome. → caller gone"]);
    }
}
