//! The secretary: asks the caller who he is, his company and why he calls (recorded), then
//! rings the employee, who hears that recording and presses 1 to take the call. Declined, busy
//! or not answered, the caller hears a polite message and may leave his details: a voicemail in
//! the employee's mailbox, with a callback request — or goes wherever `declined` says.

use serde::Deserialize;
use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::{Route, Voicemail};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The employee whose calls are screened (e.g. the director).
    pub employee: String,
    /// Asks the caller to introduce himself, before the tone.
    pub ask_prompt: String,
    /// The longest introduction, in seconds.
    pub max_intro_secs: u32,
    /// Played to the caller before the employee rings; none: straight to ringing.
    pub hold_prompt: Option<String>,
    /// How long the employee's phones ring.
    pub ring_secs: u32,
    /// Played to the employee before the caller's introduction.
    pub intro_prompt: String,
    /// Played to the employee after it: which key takes the call.
    pub accept_prompt: String,
    pub accept_digit: String,
    /// How long the employee has to decide after the announcement.
    pub accept_timeout_secs: u32,
    /// Where the caller goes when the employee declines or cannot be reached; none: the polite
    /// message, then a voicemail in the employee's mailbox with a callback request.
    pub declined: Option<Route>,
    /// The polite message (and the voicemail's greeting).
    pub declined_prompt: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            employee: String::new(),
            ask_prompt: "secretary-ask".into(),
            max_intro_secs: 10,
            hold_prompt: Some("secretary-hold".into()),
            ring_secs: 30,
            intro_prompt: "screening-intro".into(),
            accept_prompt: "screening-accept".into(),
            accept_digit: "1".into(),
            accept_timeout_secs: 10,
            declined: None,
            declined_prompt: "secretary-declined".into(),
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    if settings.employee.is_empty() {
        return Err(CallError::Invalid(
            "employee: name the employee whose calls are screened".into(),
        ));
    }
    call.answer()?;
    call.play(&settings.ask_prompt)?;
    let intro = RecordOptions {
        max_seconds: settings.max_intro_secs,
        silence_seconds: 2,
        terminators: "#".into(),
        beep: true,
    };
    let mut announce = vec![settings.intro_prompt.clone()];
    match call.record(&intro)? {
        Some(said) => announce.push(format!("recording:{}", said.id)),
        // He said nothing: the employee hears only that someone calls.
        None => log::info("the caller did not introduce himself"),
    }
    announce.push(settings.accept_prompt.clone());
    if let Some(hold) = &settings.hold_prompt {
        call.play(hold)?;
    }
    let screening = Screening {
        announce,
        accept_digit: settings.accept_digit.clone(),
        timeout_ms: settings.accept_timeout_secs.saturating_mul(1000),
    };
    let ring = Dial::ring_all([Target::Employee(settings.employee.clone())]).timeout_secs(settings.ring_secs);
    match ring.run_screened(call, &screening)? {
        ScreenedOutcome::Accepted(_) => return Ok(()),
        ScreenedOutcome::Declined => log::info(&format!("{} declined the call", settings.employee)),
        ScreenedOutcome::NotAnswered(outcome) => log::info(&format!("{} not reached: {outcome:?}", settings.employee)),
    }
    match &settings.declined {
        Some(route) => route.run(call, &settings.declined_prompt),
        None => {
            // The polite message is the voicemail's greeting: "... or leave your name and number".
            call.set_mailbox(&settings.employee)?;
            let voicemail = Voicemail {
                greeting: settings.declined_prompt.clone(),
                ..Voicemail::default()
            };
            voicemail.run(call)
        }
    }
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    const BOSS: &str = r#"{"employee": "boss"}"#;

    #[test]
    fn the_employee_hears_who_calls_and_takes_the_call() {
        let call = TestCall::new().dial_answers(Some("boss")).screened_accepts();
        run(&call, settings(BOSS)).unwrap();
        assert_eq!(
            call.decisions(),
            [
                "answer",
                "play secretary-ask",
                "record max 10 s",
                "play secretary-hold",
                "dial-screened employee boss (announce screening-intro + recording:test-recording + screening-accept, accept 1) → answered by boss",
            ]
        );
    }

    #[test]
    fn declined_the_caller_hears_the_polite_message_and_leaves_his_details() {
        let call = TestCall::new().dial_answers(Some("boss")).screened_declines();
        run(&call, settings(BOSS)).unwrap();
        assert_eq!(
            call.decisions()[4..],
            [
                "dial-screened employee boss (announce screening-intro + recording:test-recording + screening-accept, accept 1) → declined",
                "set-mailbox boss",
                "answer",
                "request-callback voicemail",
                "play secretary-declined",
                "record max 120 s",
                "play voicemail-thanks",
                "hangup"
            ]
        );
    }

    #[test]
    fn busy_goes_where_the_settings_say() {
        let call = TestCall::new().dial_ends(DialOutcome::Busy).dial_answers(Some("anna"));
        run(
            &call,
            settings(r#"{"employee": "boss", "declined": {"employee": "anna"}, "hold_prompt": null}"#),
        )
        .unwrap();
        assert_eq!(
            call.decisions()[3..],
            [
                "dial-screened employee boss (announce screening-intro + recording:test-recording + screening-accept, accept 1) → busy",
                "dial employee anna → answered by anna"
            ]
        );
    }
}
