//! One employee: every phone he registered rings at once (and his mobile after the seconds he
//! set, by the exchange's own rule); when he is busy, offline or does not answer, the caller
//! leaves a message in his mailbox — or goes wherever `unavailable` says.

use serde::Deserialize;
use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::{Menu, Route, Voicemail};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The employee's login.
    pub employee: String,
    /// How long his phones ring.
    pub ring_secs: u32,
    /// Where the caller goes when he does not take the call; none: his voicemail.
    pub unavailable: Option<Route>,
    /// Played when that route reaches nobody either.
    pub unavailable_prompt: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            employee: String::new(),
            ring_secs: 30,
            unavailable: None,
            unavailable_prompt: Menu::default().unavailable_prompt,
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    if settings.employee.is_empty() {
        return Err(CallError::Invalid("employee: name the employee to ring".into()));
    }
    let ring = Dial::ring_all([Target::Employee(settings.employee.clone())]).timeout_secs(settings.ring_secs);
    match ring.run(call)? {
        DialOutcome::Answered(_) => return Ok(()),
        other => log::info(&format!("{} did not take the call: {other:?}", settings.employee)),
    }
    match &settings.unavailable {
        Some(route) => route.run(call, &settings.unavailable_prompt),
        None => {
            call.set_mailbox(&settings.employee)?;
            Voicemail::default().run(call)
        }
    }
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn his_phones_ring_and_he_answers() {
        let call = TestCall::new().dial_answers(Some("alice"));
        run(&call, settings(r#"{"employee": "alice"}"#)).unwrap();
        assert_eq!(call.decisions(), ["dial employee alice → answered by alice"]);
    }

    #[test]
    fn busy_goes_to_his_voicemail() {
        let call = TestCall::new().dial_ends(DialOutcome::Busy);
        run(&call, settings(r#"{"employee": "alice", "ring_secs": 20}"#)).unwrap();
        assert_eq!(
            call.decisions(),
            [
                "dial employee alice → busy",
                "set-mailbox alice",
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
    fn no_answer_can_go_to_a_department_instead() {
        let call = TestCall::new()
            .dial_ends(DialOutcome::NoAnswer)
            .dial_answers(Some("bob"));
        run(
            &call,
            settings::<Settings>(r#"{"employee": "alice", "unavailable": {"department": "sales"}}"#),
        )
        .unwrap();
        assert_eq!(
            call.decisions(),
            [
                "dial employee alice → no-answer",
                "dial department sales → answered by bob"
            ]
        );
    }
}
