//! A call for a flow's own `cargo test`: no SIP, no WebAssembly. The caller and the world follow
//! what the test sets up — the digits the caller presses, what each dial comes to, whether a
//! schedule is open, the clock, when the caller hangs up — and every verb the flow performs is
//! kept as a line the test asserts on.
//!
//! ```
//! use switchboard_sdk::prelude::*;
//! use switchboard_sdk::testing::TestCall;
//!
//! fn run(call: &impl CallApi) -> FlowResult {
//!     call.answer()?;
//!     match call.collect(&CollectOptions::one_digit(Some("ivr-greeting"), 5_000))? {
//!         Some(d) if d == "1" => Dial::ring_all([Target::Department("sales".into())]).run(call).map(|_| ()),
//!         _ => call.play("all-busy"),
//!     }
//! }
//!
//! let call = TestCall::new().presses("1").dial_answers(Some("alice"));
//! run(&call).unwrap();
//! assert_eq!(call.decisions(), [
//!     "answer",
//!     "collect ivr-greeting → 1",
//!     "dial department sales → answered by alice",
//! ]);
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::{
    Answered, CallApi, CallError, CollectOptions, DialOptions, DialOutcome, LocalTime, RecordOptions, Recording,
    Target, TimedLeg,
};

/// Settings from JSON, read exactly as the exchange hands them to the flow (blank: defaults);
/// panics with serde's message when they do not fit.
pub fn settings<S: serde::de::DeserializeOwned + Default>(json: &str) -> S {
    crate::parse_settings(json).unwrap_or_else(|e| panic!("{e}"))
}

/// A scripted call; see the module documentation.
pub struct TestCall {
    caller: String,
    dialled: String,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// What each `collect` gets, in order; when empty, the caller presses nothing.
    digits: VecDeque<Option<String>>,
    /// What each `dial` comes to, in order; when empty, `unavailable`.
    dials: VecDeque<DialOutcome>,
    schedules: Vec<(String, bool)>,
    clock: Option<LocalTime>,
    /// The caller hangs up when the flow starts its verb number N (0-based).
    hangs_up_at: Option<usize>,
    verbs: usize,
    gone: bool,
    decisions: Vec<String>,
    dialled: Vec<Vec<TimedLeg>>,
}

impl Default for TestCall {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCall {
    /// A call from +15550100001 to +15550100100 whose caller presses nothing.
    pub fn new() -> Self {
        TestCall {
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            state: RefCell::default(),
        }
    }

    pub fn from(mut self, caller: &str) -> Self {
        self.caller = caller.into();
        self
    }

    pub fn to(mut self, dialled: &str) -> Self {
        self.dialled = dialled.into();
        self
    }

    /// The next `collect` gets these digits.
    pub fn presses(self, digits: &str) -> Self {
        self.state.borrow_mut().digits.push_back(Some(digits.into()));
        self
    }

    /// The next `collect` times out with nothing pressed.
    pub fn presses_nothing(self) -> Self {
        self.state.borrow_mut().digits.push_back(None);
        self
    }

    /// The next `dial` is answered (by the employee named, if any).
    pub fn dial_answers(self, employee: Option<&str>) -> Self {
        self.dial_ends(DialOutcome::Answered(Answered {
            employee: employee.map(str::to_owned),
            talk_seconds: 60,
        }))
    }

    /// The next `dial` comes to `outcome` (busy, no-answer, ...).
    pub fn dial_ends(self, outcome: DialOutcome) -> Self {
        self.state.borrow_mut().dials.push_back(outcome);
        self
    }

    /// What `is_open(id)` answers.
    pub fn schedule(self, id: &str, open: bool) -> Self {
        self.state.borrow_mut().schedules.push((id.into(), open));
        self
    }

    /// What `now()` answers (default: Monday 2026-01-05 10:00 UTC).
    pub fn clock(self, now: LocalTime) -> Self {
        self.state.borrow_mut().clock = Some(now);
        self
    }

    /// The caller hangs up as the flow starts its `n`-th verb (counting from 0); that verb and
    /// every later one return `CallError::Hangup`.
    pub fn hangs_up_at_verb(self, n: usize) -> Self {
        self.state.borrow_mut().hangs_up_at = Some(n);
        self
    }

    /// Every verb the flow performed, as lines like `play all-busy`, `collect ivr-greeting → 1`,
    /// `dial department sales → busy`, `record max 120 s`, `hangup`.
    pub fn decisions(&self) -> Vec<String> {
        self.state.borrow().decisions.clone()
    }

    /// The legs of every dial, in order (for start and stop times).
    pub fn dials(&self) -> Vec<Vec<TimedLeg>> {
        self.state.borrow().dialled.clone()
    }

    /// Counts a verb; `Err(Hangup)` once the caller has hung up (noted as the decision).
    fn verb(&self, decision: String) -> Result<(), CallError> {
        let mut s = self.state.borrow_mut();
        if s.hangs_up_at == Some(s.verbs) {
            s.gone = true;
        }
        s.verbs += 1;
        if s.gone {
            s.decisions.push(format!("{decision} → caller gone"));
            return Err(CallError::Hangup);
        }
        s.decisions.push(decision);
        Ok(())
    }

    /// Appends what a verb came to, to its decision line.
    fn came_to(&self, result: &str) {
        if let Some(last) = self.state.borrow_mut().decisions.last_mut() {
            last.push_str(" → ");
            last.push_str(result);
        }
    }
}

fn describe(target: &Target) -> String {
    match target {
        Target::Employee(login) => format!("employee {login}"),
        Target::Department(id) => format!("department {id}"),
        Target::Extension(extension) => format!("extension {extension}"),
        Target::External(number) => format!("external {number}"),
    }
}

fn describe_outcome(outcome: &DialOutcome) -> String {
    match outcome {
        DialOutcome::Answered(a) => match &a.employee {
            Some(employee) => format!("answered by {employee}"),
            None => "answered".into(),
        },
        DialOutcome::NoAnswer => "no-answer".into(),
        DialOutcome::Busy => "busy".into(),
        DialOutcome::Unavailable => "unavailable".into(),
        DialOutcome::Failed(why) => format!("failed: {why}"),
    }
}

impl CallApi for TestCall {
    fn id(&self) -> String {
        "test".into()
    }
    fn caller(&self) -> String {
        self.caller.clone()
    }
    fn dialled(&self) -> String {
        self.dialled.clone()
    }
    fn answer(&self) -> Result<(), CallError> {
        self.verb("answer".into())
    }
    fn play(&self, prompt: &str) -> Result<(), CallError> {
        self.verb(format!("play {prompt}"))
    }
    fn collect(&self, opts: &CollectOptions) -> Result<Option<String>, CallError> {
        let prompt = opts.prompt.as_deref().unwrap_or("(no prompt)");
        self.verb(format!("collect {prompt}"))?;
        let digits = self.state.borrow_mut().digits.pop_front().flatten();
        self.came_to(digits.as_deref().unwrap_or("nothing"));
        Ok(digits)
    }
    fn dial(&self, legs: &[TimedLeg], _opts: &DialOptions) -> Result<DialOutcome, CallError> {
        let targets: Vec<String> = legs.iter().map(|l| describe(&l.target)).collect();
        self.verb(format!("dial {}", targets.join(", ")))?;
        let outcome = {
            let mut s = self.state.borrow_mut();
            s.dialled.push(legs.to_vec());
            s.dials.pop_front().unwrap_or(DialOutcome::Unavailable)
        };
        self.came_to(&describe_outcome(&outcome));
        Ok(outcome)
    }
    fn record(&self, opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        self.verb(format!("record max {} s", opts.max_seconds))?;
        Ok(Some(Recording {
            id: "test-recording".into(),
            duration_ms: 3_000,
            ended_by: "#".into(),
        }))
    }
    fn conference(&self, room: &str) -> Result<(), CallError> {
        self.verb(format!("conference {room}"))?;
        // The caller stays until they hang up, which in a test is the end of the verb.
        Err(CallError::Hangup)
    }
    fn hangup(&self) {
        let _ = self.verb("hangup".into());
    }
    fn set_mailbox(&self, login: &str) -> Result<(), CallError> {
        self.verb(format!("set-mailbox {login}"))
    }
    fn now(&self) -> LocalTime {
        self.state.borrow().clock.clone().unwrap_or(LocalTime {
            date: "2026-01-05".into(),
            weekday: 0,
            minute: 10 * 60,
            timezone: "UTC".into(),
        })
    }
    fn is_open(&self, schedule: &str) -> Result<bool, String> {
        let open = self
            .state
            .borrow()
            .schedules
            .iter()
            .find(|(id, _)| id == schedule)
            .map(|(_, open)| *open);
        let _ = self.verb(format!("is-open {schedule}"));
        match open {
            Some(open) => {
                self.came_to(if open { "open" } else { "closed" });
                Ok(open)
            }
            None => {
                self.came_to("no such schedule");
                Err(format!("there is no schedule {schedule:?}"))
            }
        }
    }
}
