//! Where a call can go, as settings describe it — the building blocks of the built-in flows,
//! for your own flows too: ring someone, play a message and hang up, take a voicemail, leave a
//! callback request, or a voice menu whose choices are routes again. `Route::run` carries the
//! call there, and on when nobody answers: no caller is ever simply hung up on.
//!
//! As JSON: `{"department": "sales"}`, `{"employee": "alice"}`, `{"extension": "101"}`,
//! `{"external": "+15550100199"}`, `{"hangup": "prompt"}`, `{"voicemail": {...}}`,
//! `{"callback": {...}}`, `{"menu": {...}}` (the language `routes.schema.json` describes).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{CallApi, CallError, CollectOptions, Dial, DialOutcome, FlowResult, RecordOptions, Target, log};

/// Where a call goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Route {
    Department(String),
    Employee(String),
    Extension(String),
    External(String),
    /// Play the prompt and hang up.
    Hangup(String),
    /// Take a message.
    Voicemail(Voicemail),
    /// Promise a callback, file the request, hang up.
    Callback(Callback),
    /// A voice menu.
    Menu(Box<Menu>),
}

/// How many times one call may overflow from a route nobody answered to the next (a
/// department overflowing to another that overflows back must end somewhere).
const MAX_OVERFLOWS: usize = 4;

impl Route {
    /// Carries the call there. A department, an employee, an extension or an outside number
    /// rings for its own ring time (the department's `timeout_secs`, an employee's phones and
    /// then his mobile); when nobody answers, the call goes on to the target's overflow: the
    /// department's as its admin set it, an employee's own voicemail. Without one (or after
    /// [`MAX_OVERFLOWS`]), the caller hears `unavailable` and can leave a message, which files
    /// a callback request.
    pub fn run(&self, call: &impl CallApi, unavailable: &str) -> FlowResult {
        let mut route = self.clone();
        let mut visited: Vec<String> = Vec::new();
        for _ in 0..=MAX_OVERFLOWS {
            match route.ring(call, &mut visited)? {
                Rung::Done => return Ok(()),
                Rung::Unanswered(Some(next)) => {
                    log::info(&format!("overflow to {next:?}"));
                    route = next;
                }
                Rung::Unanswered(None) => break,
            }
        }
        log::info("nobody answered: voicemail with a callback request");
        call.play(unavailable)?;
        Voicemail::default().run(call)
    }

    /// Rings the route's target once (the other routes just run); what comes next when nobody
    /// answered. `visited`: departments rung so far in this call, which are not rung again.
    fn ring(&self, call: &impl CallApi, visited: &mut Vec<String>) -> Result<Rung, CallError> {
        // The ring time, when the lookup that found the target already said it.
        let (target, overflow, ring_time) = match self {
            Route::Department(key) | Route::Extension(key) => match call.department(key) {
                Some(department) => {
                    if visited.contains(&department.id) {
                        log::info(&format!("department {} was rung already", department.id));
                        return Ok(Rung::Unanswered(None));
                    }
                    visited.push(department.id.clone());
                    if department.available == 0 {
                        log::info(&format!("nobody in {} can take a call now", department.id));
                        return Ok(Rung::Unanswered(overflow_of(&department.overflow)));
                    }
                    let overflow = overflow_of(&department.overflow);
                    (
                        Target::Department(department.id),
                        overflow,
                        Some(department.ring_time_ms),
                    )
                }
                None if matches!(self, Route::Department(_)) => {
                    log::warn(&format!("no department {key:?}"));
                    return Ok(Rung::Unanswered(None));
                }
                None => (Target::Extension(key.clone()), None, None),
            },
            Route::Employee(login) => {
                // His own voicemail takes the callers he missed.
                let his = Voicemail {
                    mailbox: Some(login.clone()),
                    ..Voicemail::default()
                };
                (Target::Employee(login.clone()), Some(Route::Voicemail(his)), None)
            }
            Route::External(number) => (Target::External(number.clone()), None, None),
            Route::Hangup(prompt) => {
                call.play(prompt)?;
                call.hangup();
                return Ok(Rung::Done);
            }
            Route::Voicemail(voicemail) => return voicemail.run(call).map(|()| Rung::Done),
            Route::Callback(callback) => return callback.run(call).map(|()| Rung::Done),
            Route::Menu(menu) => return menu.run(call).map(|()| Rung::Done),
        };
        let ring_time = ring_time.unwrap_or_else(|| call.ring_time_ms(&target));
        let dial = Dial::ring_all([target]).timeout_ms(ring_time);
        match dial.run(call)? {
            DialOutcome::Answered(_) => Ok(Rung::Done),
            other => {
                log::info(&format!("route not connected: {other:?}"));
                Ok(Rung::Unanswered(overflow))
            }
        }
    }
}

/// What ringing a route came to.
enum Rung {
    /// Answered, or the route ended the call itself.
    Done,
    /// Nobody answered; where the call goes next, if the target says.
    Unanswered(Option<Route>),
}

/// A department's overflow as its admin set it (a route as JSON); none when empty or unreadable.
fn overflow_of(json: &str) -> Option<Route> {
    if json.is_empty() {
        return None;
    }
    serde_json::from_str(json)
        .inspect_err(|e| log::warn(&format!("unreadable overflow {json:?}: {e}")))
        .ok()
}

/// A verb whose failure does not stop the route: logged as `what`, unless the caller left.
fn unless_gone(done: Result<(), CallError>, what: &str) -> FlowResult {
    match done {
        Err(CallError::Hangup) => Err(CallError::Hangup),
        Err(e) => {
            log::warn(&format!("{what}: {e}"));
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// A callback request: the caller hears that we will call back, the request is filed for the
/// caller's number (`/callbacks`), and the call ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Callback {
    /// Played before hanging up.
    pub prompt: String,
    /// Why, as the callback request lists it.
    pub reason: String,
}

impl Default for Callback {
    fn default() -> Self {
        Callback {
            prompt: "callback-promise".into(),
            reason: "no-answer".into(),
        }
    }
}

impl Callback {
    pub fn run(&self, call: &impl CallApi) -> FlowResult {
        call.answer()?;
        unless_gone(call.request_callback(&self.reason), "no callback request")?;
        call.play(&self.prompt)?;
        call.hangup();
        Ok(())
    }
}

/// A voice menu: the greeting plays, one digit chooses a route; no digit within `timeout_ms` (or
/// too many digits that are not on the menu) takes the default route.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Menu {
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

impl Default for Menu {
    fn default() -> Self {
        Menu {
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

impl Menu {
    pub fn run(&self, call: &impl CallApi) -> FlowResult {
        call.answer()?;
        let ask = CollectOptions::one_digit(Some(&self.greeting), self.timeout_ms);
        for _ in 0..=self.retries {
            let Some(digit) = call.collect(&ask)? else {
                log::info("no digit: default route");
                return self.default.run(call, &self.unavailable_prompt);
            };
            if let Some(choice) = self.options.get(&digit) {
                log::info(&format!("digit {digit}: {choice:?}"));
                return choice.run(call, &self.unavailable_prompt);
            }
            log::info(&format!("digit {digit}: not on the menu"));
            call.play(&self.invalid_prompt)?;
        }
        self.default.run(call, &self.unavailable_prompt)
    }
}

/// Voicemail: a greeting, a beep, then the caller's message is recorded (up to `max_secs`, ended
/// early by `#`, by `silence_secs` of silence, or by the caller hanging up) and stored with the
/// call; the API lists it under `/recordings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Voicemail {
    /// Played before the beep.
    pub greeting: String,
    /// Longest message, in seconds (the host caps it at 600).
    pub max_secs: u32,
    /// Silence that ends the message; 0: only `#`, the maximum or a hangup end it.
    pub silence_secs: u32,
    /// Played after the message, before hanging up; none: hang up at once.
    pub thanks: Option<String>,
    /// File a callback request for the caller (`/callbacks`, with the message attached), even
    /// when he hangs up without leaving one.
    pub callback: bool,
    /// Login of the employee whose mailbox takes the message; none: the number's (or the one
    /// the flow set with `set_mailbox`).
    pub mailbox: Option<String>,
}

impl Default for Voicemail {
    fn default() -> Self {
        Voicemail {
            greeting: "voicemail-greeting".into(),
            max_secs: 120,
            silence_secs: 5,
            thanks: Some("voicemail-thanks".into()),
            callback: true,
            mailbox: None,
        }
    }
}

impl Voicemail {
    pub fn run(&self, call: &impl CallApi) -> FlowResult {
        call.answer()?;
        if let Some(login) = &self.mailbox {
            unless_gone(call.set_mailbox(login), "the number's mailbox takes it")?;
        }
        if self.callback {
            // Filed now, it stands even if the caller hangs up during the message.
            unless_gone(call.request_callback("voicemail"), "no callback request")?;
        }
        call.play(&self.greeting)?;
        let opts = RecordOptions {
            max_seconds: self.max_secs,
            silence_seconds: self.silence_secs,
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
        if let Some(thanks) = &self.thanks {
            call.play(thanks)?;
        }
        call.hangup();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{EMPLOYEE_RING_MS, TestCall, department};
    use crate::{Answered, DepartmentCard};

    fn route(json: &str) -> Route {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_department_rings_for_its_own_ring_time_then_overflows_where_its_admin_said() {
        let sales = DepartmentCard {
            ring_time_ms: 45_000,
            overflow: r#"{"department": "support"}"#.into(),
            ..department("sales")
        };
        let support = DepartmentCard {
            ring_time_ms: 20_000,
            ..department("support")
        };
        let call = TestCall::new()
            .department(sales)
            .department(support)
            .dial_ends(DialOutcome::NoAnswer)
            .dial_answers(Some("carol"));
        route(r#"{"department": "sales"}"#).run(&call, "all-busy").unwrap();
        assert_eq!(
            call.decisions(),
            [
                "dial department sales → no-answer",
                "dial department support → answered by carol"
            ]
        );
        assert_eq!(call.dial_timeouts(), [45_000, 20_000]);
    }

    #[test]
    fn nobody_answering_anywhere_ends_in_voicemail_with_a_callback_request_never_a_hang_up() {
        let call = TestCall::new().dial_ends(DialOutcome::NoAnswer);
        route(r#"{"department": "sales"}"#).run(&call, "all-busy").unwrap();
        assert_eq!(
            call.decisions(),
            [
                "dial department sales → no-answer",
                "play all-busy",
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
    fn a_department_with_nobody_free_is_not_rung_at_all() {
        let busy = DepartmentCard {
            available: 0,
            overflow: r#"{"callback": {}}"#.into(),
            ..department("sales")
        };
        let call = TestCall::new().department(busy);
        route(r#"{"department": "sales"}"#).run(&call, "all-busy").unwrap();
        assert_eq!(
            call.decisions(),
            [
                "answer",
                "request-callback no-answer",
                "play callback-promise",
                "hangup"
            ]
        );
    }

    #[test]
    fn departments_overflowing_in_a_circle_end_after_one_round() {
        let to = |id: &str, next: &str| DepartmentCard {
            overflow: format!(r#"{{"department": "{next}"}}"#),
            ..department(id)
        };
        let call = TestCall::new()
            .department(to("a", "b"))
            .department(to("b", "a"))
            .dial_ends(DialOutcome::Busy)
            .dial_ends(DialOutcome::Busy);
        route(r#"{"department": "a"}"#).run(&call, "all-busy").unwrap();
        let dials: Vec<String> = call.decisions().into_iter().filter(|d| d.starts_with("dial")).collect();
        assert_eq!(dials, ["dial department a → busy", "dial department b → busy"]);
        assert!(call.decisions().contains(&"record max 120 s".to_string()));
    }

    #[test]
    fn an_employee_nobody_answers_for_takes_a_message_in_his_own_mailbox() {
        let call = TestCall::new().dial_ends(DialOutcome::NoAnswer);
        route(r#"{"employee": "alice"}"#).run(&call, "all-busy").unwrap();
        let decisions = call.decisions();
        assert_eq!(
            decisions[..3],
            ["dial employee alice → no-answer", "answer", "set-mailbox alice"]
        );
        assert_eq!(call.dial_timeouts(), [EMPLOYEE_RING_MS]);
    }

    #[test]
    fn an_extension_that_is_a_department_rings_as_that_department() {
        let sales = DepartmentCard {
            extension: "600".into(),
            ring_time_ms: 12_000,
            ..department("sales")
        };
        let answered = DialOutcome::Answered(Answered {
            employee: Some("bob".into()),
            talk_seconds: 5,
        });
        let call = TestCall::new().department(sales).dial_ends(answered);
        route(r#"{"extension": "600"}"#).run(&call, "all-busy").unwrap();
        assert_eq!(call.decisions(), ["dial department sales → answered by bob"]);
        assert_eq!(call.dial_timeouts(), [12_000]);
    }

    /// The flows' settings schemas carry the route language's `$defs` (a component's schema
    /// must stand alone): each copy must be `routes.schema.json`'s.
    #[test]
    fn every_flow_schema_carries_the_route_language_as_it_is() {
        let routes: serde_json::Value = serde_json::from_str(include_str!("../routes.schema.json")).unwrap();
        let flows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
        let mut checked = 0;
        for entry in std::fs::read_dir(flows).unwrap() {
            let path = entry.unwrap().path().join("settings.schema.json");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
            let Some(defs) = schema["$defs"].as_object().filter(|d| d.contains_key("route")) else {
                continue;
            };
            for (name, def) in routes["$defs"].as_object().unwrap() {
                assert_eq!(
                    defs.get(name),
                    Some(def),
                    "{}: $defs/{name} differs from guest-sdk/routes.schema.json; copy it over",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 5, "the built-in flows that take routes: {checked}");
    }
}
