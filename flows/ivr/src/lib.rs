//! The voice menu: greets the caller, maps one digit to a route, and sends callers who press
//! nothing within the timeout (5 s by default) to the default route. The menu itself is the
//! SDK's [`routes::Menu`], which other flows use as a route too (`{"menu": {...}}`).

use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::Menu;

pub type Settings = Menu;

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    settings.run(call)
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn no_digit_takes_the_default_route_to_sales() {
        let call = TestCall::new().presses_nothing().dial_answers(Some("alice"));
        run(&call, Settings::default()).unwrap();
        assert_eq!(
            call.decisions(),
            [
                "answer",
                "collect ivr-greeting → nothing",
                "dial department sales → answered by alice"
            ]
        );
        assert_eq!(call.dials()[0][0].start_after_ms, 0);
    }

    #[test]
    fn a_digit_on_the_menu_chooses_its_route() {
        let call = TestCall::new().presses("2").dial_answers(None);
        run(&call, Settings::default()).unwrap();
        assert_eq!(call.decisions()[2], "dial department support → answered");
    }

    #[test]
    fn invalid_digits_replay_the_menu_then_the_default_route() {
        let settings: Settings = settings(r#"{"retries": 1, "default": {"hangup": "all-busy"}}"#);
        let call = TestCall::new().presses("7").presses("8");
        run(&call, settings).unwrap();
        assert_eq!(
            call.decisions(),
            [
                "answer",
                "collect ivr-greeting → 7",
                "play ivr-invalid",
                "collect ivr-greeting → 8",
                "play ivr-invalid",
                "play all-busy",
                "hangup"
            ]
        );
    }

    #[test]
    fn an_employee_nobody_answers_takes_a_message_and_a_nested_menu_works() {
        let settings: Settings = settings(
            r#"{"options": {"3": {"menu": {"greeting": "tts:Press 1 for billing",
                "options": {"1": {"employee": "bob"}}}}}}"#,
        );
        let call = TestCall::new().presses("3").presses("1").dial_ends(DialOutcome::Busy);
        run(&call, settings).unwrap();
        let decisions = call.decisions();
        assert_eq!(decisions[3], "collect tts:Press 1 for billing → 1");
        assert_eq!(decisions[4], "dial employee bob → busy");
        // Bob's own voicemail takes the caller.
        assert_eq!(
            &decisions[5..8],
            ["answer", "set-mailbox bob", "request-callback voicemail"]
        );
        assert_eq!(decisions.last().unwrap(), "hangup");
    }

    #[test]
    fn a_caller_who_hangs_up_ends_the_flow_quietly() {
        let call = TestCall::new().hangs_up_at_verb(1);
        assert!(matches!(run(&call, Settings::default()), Err(CallError::Hangup)));
        assert_eq!(call.decisions(), ["answer", "collect ivr-greeting → caller gone"]);
    }
}
