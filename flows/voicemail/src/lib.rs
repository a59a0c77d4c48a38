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

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn the_message_comes_with_a_callback_request() {
        let call = TestCall::new();
        run(&call, settings("{}")).unwrap();
        assert_eq!(
            call.decisions(),
            [
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
    fn a_caller_who_hangs_up_during_the_greeting_is_still_called_back() {
        let call = TestCall::new().hangs_up_at_verb(2);
        assert!(matches!(run(&call, settings("{}")), Err(CallError::Hangup)));
        assert_eq!(
            call.decisions()[..3],
            [
                "answer",
                "request-callback voicemail",
                "play voicemail-greeting → caller gone"
            ]
        );
    }

    #[test]
    fn no_callback_when_the_settings_say_so() {
        let call = TestCall::new();
        run(&call, settings(r#"{"callback": false, "thanks": null}"#)).unwrap();
        assert_eq!(
            call.decisions(),
            ["answer", "play voicemail-greeting", "record max 120 s", "hangup"]
        );
    }
}
