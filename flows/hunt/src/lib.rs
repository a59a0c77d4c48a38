//! The hunt group: rings a list of employees with one of three strategies; when nobody could
//! take the call, the caller goes on to the group's `overflow` route (another group, a queue,
//! voicemail with a callback request, ...), or hears the failure prompt.
//!
//! - `ring_all`: everyone at once; the first to answer wins, the others stop ringing.
//! - `in_turn`: one at a time for `step_secs` each; the previous phone stops when the next starts.
//! - `increasingly`: one more every `step_secs`; earlier phones keep ringing.

use serde::Deserialize;
use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::Route;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    RingAll,
    InTurn,
    Increasingly,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Employees' logins, in hunting order.
    pub members: Vec<String>,
    pub strategy: Strategy,
    /// In turn / increasingly: seconds between one member and the next.
    pub step_secs: u32,
    /// Give up after this many seconds; none: the last member rings for 30 s.
    pub timeout_secs: Option<u32>,
    /// Played (after answering) when nobody took the call; none: the call is refused with
    /// 486 Busy Here or 480 Temporarily Unavailable, as the members' phones answered.
    pub failure_prompt: Option<String>,
    /// Played in a loop while the members' phones ring (e.g. `hold-music`); none: ringback.
    pub music: Option<String>,
    /// Where the call goes when nobody took it (after the failure prompt, if any); none: the
    /// call ends after the failure prompt.
    pub overflow: Option<Route>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            members: Vec::new(),
            strategy: Strategy::RingAll,
            step_secs: 15,
            timeout_secs: None,
            failure_prompt: Some("all-busy".into()),
            music: None,
            overflow: None,
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    if settings.members.is_empty() {
        return Err(CallError::Invalid("hunt: `members` lists nobody to ring".into()));
    }
    let members = settings.members.iter().cloned().map(Target::Employee);
    let step_ms = settings.step_secs.saturating_mul(1000);
    let mut dial = match settings.strategy {
        Strategy::RingAll => Dial::ring_all(members),
        Strategy::InTurn => Dial::in_turn(members, step_ms),
        Strategy::Increasingly => Dial::increasingly(members, step_ms),
    };
    if let Some(secs) = settings.timeout_secs {
        dial = dial.timeout_secs(secs);
    }
    if let Some(music) = &settings.music {
        dial = dial.ringback(music);
    }
    match dial.run(call)? {
        DialOutcome::Answered(a) => {
            log::info(&format!(
                "answered by {:?} after talking {} s",
                a.employee, a.talk_seconds
            ));
            Ok(())
        }
        other => {
            log::info(&format!("nobody took the call: {other:?}"));
            if let Some(prompt) = &settings.failure_prompt {
                call.play(prompt)?;
            }
            if let Some(overflow) = &settings.overflow {
                return overflow.run(call, settings.failure_prompt.as_deref().unwrap_or("all-busy"));
            }
            call.hangup();
            Ok(())
        }
    }
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn in_turn_rings_one_member_at_a_time() {
        let call = TestCall::new().dial_answers(Some("bob"));
        run(
            &call,
            settings::<Settings>(r#"{"members": ["alice", "bob"], "strategy": "in_turn", "step_secs": 10}"#),
        )
        .unwrap();
        assert_eq!(
            call.decisions(),
            ["dial employee alice, employee bob → answered by bob"]
        );
        let legs = call.dials().remove(0);
        let timing: Vec<_> = legs.iter().map(|l| (l.start_after_ms, l.stop_after_ms)).collect();
        assert_eq!(timing, [(0, Some(10_000)), (10_000, Some(10_000))]);
    }

    #[test]
    fn increasingly_keeps_earlier_members_ringing() {
        let call = TestCall::new().dial_answers(None);
        run(
            &call,
            settings::<Settings>(r#"{"members": ["a", "b", "c"], "strategy": "increasingly", "step_secs": 5}"#),
        )
        .unwrap();
        let legs = call.dials().remove(0);
        let timing: Vec<_> = legs.iter().map(|l| (l.start_after_ms, l.stop_after_ms)).collect();
        assert_eq!(timing, [(0, None), (5_000, None), (10_000, None)]);
    }

    #[test]
    fn nobody_answering_plays_the_failure_prompt_or_refuses() {
        let call = TestCall::new().dial_ends(DialOutcome::Busy);
        run(&call, settings(r#"{"members": ["alice"]}"#)).unwrap();
        assert_eq!(
            call.decisions(),
            ["dial employee alice → busy", "play all-busy", "hangup"]
        );
        let call = TestCall::new().dial_ends(DialOutcome::NoAnswer);
        run(
            &call,
            settings::<Settings>(r#"{"members": ["alice"], "failure_prompt": null}"#),
        )
        .unwrap();
        assert_eq!(call.decisions(), ["dial employee alice → no-answer", "hangup"]);
    }

    #[test]
    fn nobody_answering_goes_on_to_the_overflow() {
        let call = TestCall::new().dial_ends(DialOutcome::NoAnswer);
        let with_overflow = r#"{"members": ["alice"], "overflow": {"voicemail": {"mailbox": "alice"}}}"#;
        run(&call, settings::<Settings>(with_overflow)).unwrap();
        let decisions = call.decisions();
        assert_eq!(decisions[..2], ["dial employee alice → no-answer", "play all-busy"]);
        assert!(decisions.contains(&"set-mailbox alice".to_string()), "{decisions:?}");
        assert!(decisions.iter().any(|d| d.starts_with("record")), "{decisions:?}");
    }

    #[test]
    fn no_members_is_a_mistake_the_flow_reports() {
        let result = run(&TestCall::new(), Settings::default());
        assert!(matches!(result, Err(CallError::Invalid(_))));
    }
}
