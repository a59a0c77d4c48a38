//! Where a call can go, as settings describe it — the building blocks of the built-in flows,
//! for your own flows too: ring someone, play a message and hang up, take a voicemail, leave a
//! callback request, or a voice menu whose choices are routes again. `Route::run` carries the
//! call there, and on when nobody answers: no caller is ever simply hung up on.
//!
//! As JSON: `{"department": "sales"}`, `{"employee": "alice"}`, `{"extension": "101"}`,
//! `{"external": "+15550100199"}`, `{"hangup": "prompt"}`, `{"reject": "decline"}`, `{"voicemail": {...}}`,
//! `{"callback": {...}}`, `{"queue": {...}}`, `{"menu": {...}}` (the language
//! `routes.schema.json` describes).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{
    CallApi, CallError, CollectOptions, Dial, DialOutcome, FlowResult, QueueOptions, QueueOutcome, QueueStrategy,
    RecordOptions, Target, log,
};

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
    /// Refuse the call with a SIP answer, unanswered (a blocked caller): `decline` (603),
    /// `busy` (486), `unavailable` (480) or `forbidden` (403).
    Reject(Refused),
    /// Take a message.
    Voicemail(Voicemail),
    /// Promise a callback, file the request, hang up.
    Callback(Callback),
    /// Wait in a department's queue.
    Queue(Box<Queue>),
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
            Route::Reject(refused) => {
                // Answered already (a menu's greeting): a refusal can only be a hang-up now.
                if call.reject(refused.refusal()).is_err() {
                    call.hangup();
                }
                return Ok(Rung::Done);
            }
            Route::Voicemail(voicemail) => return voicemail.run(call).map(|()| Rung::Done),
            Route::Callback(callback) => return callback.run(call).map(|()| Rung::Done),
            Route::Queue(queue) => return queue.wait(call, visited),
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

/// A route's refusal, as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    Decline,
    Busy,
    Unavailable,
    Forbidden,
}

impl Refused {
    fn refusal(self) -> crate::Refusal {
        match self {
            Refused::Decline => crate::Refusal::Decline,
            Refused::Busy => crate::Refusal::Busy,
            Refused::Unavailable => crate::Refusal::Unavailable,
            Refused::Forbidden => crate::Refusal::Forbidden,
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

/// A queue: the caller waits for the department's next free member with music, hearing his
/// place and the estimated wait now and then, and may press a digit to be called back instead
/// (keeping his place). Waiting too long, a full queue, or a queue nobody staffs go on to
/// `overflow` — or the department's own overflow, or voicemail with a callback request.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Queue {
    /// The department (id or extension) whose members take the queue's calls.
    pub department: String,
    /// Played in a loop while the caller waits.
    pub music: String,
    /// Announces the place in line; `{position}` in a `tts:` text is the place; empty: none.
    pub position_prompt: String,
    /// Announces the estimated wait; `{minutes}` in a `tts:` text; empty: none.
    pub wait_prompt: String,
    /// How often the announcements come (the first at once); 0: never.
    pub announce_every_secs: u32,
    pub max_wait_secs: u32,
    /// A caller finding this many waiting goes to the overflow at once.
    pub max_length: u32,
    pub strategy: Strategy,
    /// How long an offered agent rings.
    pub agent_ring_secs: u32,
    /// An agent's rest after a call before the next.
    pub wrap_up_secs: u32,
    /// Pressed while waiting, the caller is called back instead, keeping his place; empty: none.
    pub callback_digit: String,
    /// Played to a caller who asked to be called back, before hanging up.
    pub callback_prompt: String,
    /// Where callers go who waited too long, found the queue full or nobody staffing it; none:
    /// the department's overflow as its admin set it, else voicemail with a callback request.
    pub overflow: Option<Route>,
}

/// Which free agent is offered the caller at the head of a queue.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent whose last queue call ended longest ago.
    #[default]
    LongestIdle,
    /// The first free agent in the department's order.
    InOrder,
    /// Every free agent at once.
    RingAll,
}

impl Default for Queue {
    fn default() -> Self {
        let host = QueueOptions::default();
        Queue {
            department: "sales".into(),
            music: host.music,
            position_prompt: host.position_prompt,
            wait_prompt: host.wait_prompt,
            announce_every_secs: host.announce_every_ms / 1000,
            max_wait_secs: host.max_wait_ms / 1000,
            max_length: host.max_length,
            strategy: Strategy::LongestIdle,
            agent_ring_secs: host.agent_ring_ms / 1000,
            wrap_up_secs: host.wrap_up_ms / 1000,
            callback_digit: host.callback_digit,
            callback_prompt: "callback-promise".into(),
            overflow: None,
        }
    }
}

impl Queue {
    /// The options the host's `enqueue` takes.
    pub fn options(&self) -> QueueOptions {
        QueueOptions {
            music: self.music.clone(),
            position_prompt: self.position_prompt.clone(),
            wait_prompt: self.wait_prompt.clone(),
            announce_every_ms: self.announce_every_secs.saturating_mul(1000),
            max_wait_ms: self.max_wait_secs.saturating_mul(1000),
            max_length: self.max_length,
            strategy: match self.strategy {
                Strategy::LongestIdle => QueueStrategy::LongestIdle,
                Strategy::InOrder => QueueStrategy::InOrder,
                Strategy::RingAll => QueueStrategy::RingAll,
            },
            agent_ring_ms: self.agent_ring_secs.saturating_mul(1000),
            wrap_up_ms: self.wrap_up_secs.saturating_mul(1000),
            callback_digit: self.callback_digit.clone(),
        }
    }

    /// Waits in the queue, then runs the overflow should the wait end unanswered.
    pub fn run(&self, call: &impl CallApi, unavailable: &str) -> FlowResult {
        let route = Route::Queue(Box::new(self.clone()));
        route.run(call, unavailable)
    }

    fn wait(&self, call: &impl CallApi, visited: &mut Vec<String>) -> Result<Rung, CallError> {
        let card = call.department(&self.department);
        let overflow = || {
            self.overflow
                .clone()
                .or_else(|| card.as_ref().and_then(|d| overflow_of(&d.overflow)))
        };
        if let Some(card) = &card {
            if visited.contains(&card.id) {
                log::info(&format!("department {} was offered the call already", card.id));
                return Ok(Rung::Unanswered(None));
            }
            visited.push(card.id.clone());
        }
        match call.enqueue(&self.department, &self.options())? {
            QueueOutcome::Answered(_) => Ok(Rung::Done),
            QueueOutcome::Callback => {
                log::info("the caller asked to be called back: his place is kept");
                call.play(&self.callback_prompt)?;
                call.hangup();
                Ok(Rung::Done)
            }
            other => {
                log::info(&format!("queue {}: {other:?}", self.department));
                Ok(Rung::Unanswered(overflow()))
            }
        }
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
    fn a_department_can_overflow_to_a_refusal() {
        let closed = DepartmentCard {
            available: 0,
            overflow: r#"{"reject": "busy"}"#.into(),
            ..department("sales")
        };
        let call = TestCall::new().department(closed);
        route(r#"{"department": "sales"}"#).run(&call, "all-busy").unwrap();
        assert_eq!(call.decisions(), ["reject busy"]);
        assert!(serde_json::from_str::<Route>(r#"{"reject": "maybe"}"#).is_err());
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

    #[test]
    fn a_queue_waits_and_overflows_where_it_says_or_where_the_department_says() {
        let sales = DepartmentCard {
            overflow: r#"{"department": "support"}"#.into(),
            ..department("sales")
        };
        let call = TestCall::new()
            .department(sales.clone())
            .queue_ends(QueueOutcome::Timeout)
            .dial_answers(Some("carol"));
        route(r#"{"queue": {"department": "sales", "max_wait_secs": 30, "strategy": "ring_all"}}"#)
            .run(&call, "all-busy")
            .unwrap();
        assert_eq!(
            call.decisions(),
            ["enqueue sales → timeout", "dial department support → answered by carol"]
        );
        let options = &call.queue_options()[0];
        assert_eq!(
            (options.max_wait_ms, options.strategy, options.music.as_str()),
            (30_000, QueueStrategy::RingAll, "hold-music")
        );

        let call = TestCall::new().department(sales).queue_ends(QueueOutcome::Full);
        route(r#"{"queue": {"department": "sales", "overflow": {"hangup": "all-busy"}}}"#)
            .run(&call, "all-busy")
            .unwrap();
        assert_eq!(call.decisions(), ["enqueue sales → full", "play all-busy", "hangup"]);
    }

    #[test]
    fn a_caller_who_asks_for_a_callback_hears_the_promise_and_is_let_go() {
        let call = TestCall::new().queue_ends(QueueOutcome::Callback);
        route(r#"{"queue": {"department": "support"}}"#)
            .run(&call, "all-busy")
            .unwrap();
        assert_eq!(
            call.decisions(),
            ["enqueue support → callback", "play callback-promise", "hangup"]
        );
    }

    #[test]
    fn an_empty_queue_with_no_overflow_ends_in_voicemail() {
        let call = TestCall::new().queue_ends(QueueOutcome::Empty);
        route(r#"{"queue": {"department": "sales"}}"#)
            .run(&call, "all-busy")
            .unwrap();
        assert_eq!(call.decisions()[..2], ["enqueue sales → empty", "play all-busy"]);
        assert!(call.decisions().contains(&"record max 120 s".to_string()));
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
