//! A call for a flow's own `cargo test`: no SIP, no WebAssembly. The caller and the world follow
//! what the test sets up — the digits the caller presses, what each dial comes to, whether a
//! schedule is open, the clock, when the caller hangs up, the employees and who is busy, who
//! last talked to the caller, what a CRM answers — and every verb and lookup the flow performs
//! is kept as a line the test asserts on.
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
    Answered, CallApi, CallError, CollectOptions, DepartmentCard, DialOptions, DialOutcome, EmployeeCard, HttpRequest,
    HttpResponse, LineStatus, LocalTime, QueueOptions, QueueOutcome, RecordOptions, Recording, Refusal,
    ScreenedOutcome, Screening, Target, TimedLeg,
};

/// An employee known by login only (name = login, no extension, e-mail or mobile); fill in
/// what a test needs: `EmployeeCard { email: "bob@example.com".into(), ..employee("bob") }`.
pub fn employee(login: &str) -> EmployeeCard {
    EmployeeCard {
        login: login.into(),
        name: login.into(),
        extension: String::new(),
        email: String::new(),
        mobile: String::new(),
    }
}

/// A department as the exchange shows it by default: ringing for 60 s, no overflow of its own,
/// one member free; change what a test needs: `DepartmentCard { available: 0, ..department("sales") }`.
pub fn department(id: &str) -> DepartmentCard {
    DepartmentCard {
        id: id.into(),
        name: id.into(),
        extension: String::new(),
        ring_time_ms: DEPARTMENT_RING_MS,
        overflow: String::new(),
        available: 1,
    }
}

const DEPARTMENT_RING_MS: u32 = 60_000;
/// What [`CallApi::ring_time_ms`] says of an employee or extension, and of an outside number.
pub const EMPLOYEE_RING_MS: u32 = 30_000;
pub const EXTERNAL_RING_MS: u32 = 60_000;

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
    /// Each dial's timeout.
    timeouts: Vec<u32>,
    /// The directory: employees and how their lines are (unlisted: available).
    employees: Vec<EmployeeCard>,
    /// Departments (unlisted names: [`department`]; unlisted digits: an employee's extension).
    departments: Vec<DepartmentCard>,
    presence: Vec<(String, LineStatus)>,
    /// Who last talked to the caller.
    last_connected: Option<String>,
    /// What each HTTP request gets, in order; when empty, requests fail.
    replies: VecDeque<Result<HttpResponse, String>>,
    requests: Vec<HttpRequest>,
    /// Employees' mobiles ring by their own rule (`ring_mobiles(false)` turns it off).
    mobiles_off: bool,
    /// Whether each screened party accepts (when empty: he accepts).
    verdicts: VecDeque<bool>,
    /// How each `enqueue` ends, in order; when empty, the caller waits out the maximum.
    queues: VecDeque<QueueOutcome>,
    /// The options of each `enqueue`.
    queued: Vec<QueueOptions>,
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

    /// Whoever answers the next screened dial accepts the call (the default).
    pub fn screened_accepts(self) -> Self {
        self.state.borrow_mut().verdicts.push_back(true);
        self
    }

    /// Whoever answers the next screened dial declines it.
    pub fn screened_declines(self) -> Self {
        self.state.borrow_mut().verdicts.push_back(false);
        self
    }

    /// The directory knows this employee (see [`employee`]).
    pub fn employee(self, card: EmployeeCard) -> Self {
        self.state.borrow_mut().employees.push(card);
        self
    }

    /// The directory knows this department (see [`department`]).
    pub fn department(self, card: DepartmentCard) -> Self {
        self.state.borrow_mut().departments.push(card);
        self
    }

    /// How `login`'s line is (unlisted employees are available).
    pub fn presence(self, login: &str, status: LineStatus) -> Self {
        self.state.borrow_mut().presence.push((login.into(), status));
        self
    }

    /// The call history says `login` last talked to the caller.
    pub fn last_connected(self, login: &str) -> Self {
        self.state.borrow_mut().last_connected = Some(login.into());
        self
    }

    /// The next HTTP request gets this answer (e.g. a CRM's JSON).
    pub fn http_reply(self, status: u16, body: &str) -> Self {
        let reply = HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        };
        self.state.borrow_mut().replies.push_back(Ok(reply));
        self
    }

    /// The next HTTP request fails (timeout, refused, not allow-listed ...).
    pub fn http_fails(self, why: &str) -> Self {
        self.state.borrow_mut().replies.push_back(Err(why.into()));
        self
    }

    /// Every HTTP request the flow sent, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.state.borrow().requests.clone()
    }

    /// Notes a lookup (not a verb: the caller cannot hang up on it) and what it found.
    fn looked_up(&self, line: String) {
        self.state.borrow_mut().decisions.push(line);
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

    /// The timeout of every dial, in order, in ms.
    pub fn dial_timeouts(&self) -> Vec<u32> {
        self.state.borrow().timeouts.clone()
    }

    /// The next `enqueue` ends so.
    pub fn queue_ends(self, outcome: QueueOutcome) -> Self {
        self.state.borrow_mut().queues.push_back(outcome);
        self
    }

    /// The options of each `enqueue` the flow made, in order.
    pub fn queue_options(&self) -> Vec<QueueOptions> {
        self.state.borrow().queued.clone()
    }

    /// The department `key` names (by id or extension), as the directory would say.
    fn department_of(&self, key: &str) -> Option<DepartmentCard> {
        let state = self.state.borrow();
        let listed = state.departments.iter().find(|d| d.id == key || d.extension == key);
        match listed {
            Some(card) => Some(card.clone()),
            None if key.bytes().all(|b| b.is_ascii_digit()) => None,
            None => Some(department(key)),
        }
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

fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Decline => "decline",
        Refusal::Busy => "busy",
        Refusal::Unavailable => "unavailable",
        Refusal::Forbidden => "forbidden",
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
    fn dial(&self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError> {
        let targets: Vec<String> = legs.iter().map(|l| describe(&l.target)).collect();
        self.verb(format!("dial {}", targets.join(", ")))?;
        let outcome = {
            let mut s = self.state.borrow_mut();
            s.dialled.push(legs.to_vec());
            s.timeouts.push(opts.timeout_ms);
            s.dials.pop_front().unwrap_or(DialOutcome::Unavailable)
        };
        self.came_to(&describe_outcome(&outcome));
        Ok(outcome)
    }
    fn dial_screened(
        &self,
        legs: &[TimedLeg],
        _opts: &DialOptions,
        screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError> {
        let targets: Vec<String> = legs.iter().map(|l| describe(&l.target)).collect();
        let announce = screening.announce.join(" + ");
        self.verb(format!(
            "dial-screened {} (announce {announce}, accept {})",
            targets.join(", "),
            screening.accept_digit
        ))?;
        let (outcome, accepts) = {
            let mut s = self.state.borrow_mut();
            s.dialled.push(legs.to_vec());
            let outcome = s.dials.pop_front().unwrap_or(DialOutcome::Unavailable);
            let accepts = matches!(outcome, DialOutcome::Answered(_)) && s.verdicts.pop_front().unwrap_or(true);
            (outcome, accepts)
        };
        let screened = match outcome {
            DialOutcome::Answered(a) if accepts => ScreenedOutcome::Accepted(a),
            DialOutcome::Answered(_) => ScreenedOutcome::Declined,
            other => ScreenedOutcome::NotAnswered(other),
        };
        self.came_to(&match &screened {
            ScreenedOutcome::Accepted(a) => describe_outcome(&DialOutcome::Answered(a.clone())),
            ScreenedOutcome::Declined => "declined".into(),
            ScreenedOutcome::NotAnswered(o) => describe_outcome(o),
        });
        Ok(screened)
    }
    fn record(&self, opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        self.verb(format!("record max {} s", opts.max_seconds))?;
        Ok(Some(Recording {
            id: "test-recording".into(),
            duration_ms: 3_000,
            ended_by: "#".into(),
        }))
    }
    fn enqueue(&self, department: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError> {
        self.verb(format!("enqueue {department}"))?;
        let outcome = {
            let mut s = self.state.borrow_mut();
            s.queued.push(opts.clone());
            s.queues.pop_front().unwrap_or(QueueOutcome::Timeout)
        };
        self.came_to(&match &outcome {
            QueueOutcome::Answered(a) => describe_outcome(&DialOutcome::Answered(a.clone())),
            QueueOutcome::Timeout => "timeout".into(),
            QueueOutcome::Full => "full".into(),
            QueueOutcome::Empty => "empty".into(),
            QueueOutcome::Callback => "callback".into(),
        });
        Ok(outcome)
    }
    fn conference(&self, room: &str) -> Result<(), CallError> {
        self.verb(format!("conference {room}"))?;
        // The caller stays until they hang up, which in a test is the end of the verb.
        Err(CallError::Hangup)
    }
    fn hangup(&self) {
        let _ = self.verb("hangup".into());
    }
    fn reject(&self, refusal: Refusal) -> Result<(), CallError> {
        self.verb(format!("reject {}", refusal_name(refusal)))
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
    fn request_callback(&self, reason: &str) -> Result<(), CallError> {
        self.verb(format!("request-callback {reason}"))
    }
    fn ring_mobiles(&self, on: bool) {
        self.state.borrow_mut().mobiles_off = !on;
        self.looked_up(format!("ring-mobiles {}", if on { "on" } else { "off" }));
    }
    fn rings_mobiles(&self) -> bool {
        !self.state.borrow().mobiles_off
    }
    fn employee(&self, login: &str) -> Option<EmployeeCard> {
        let found = self.state.borrow().employees.iter().find(|e| e.login == login).cloned();
        self.looked_up(format!(
            "employee {login} → {}",
            if found.is_some() { "found" } else { "none" }
        ));
        found
    }
    fn employee_by_email(&self, email: &str) -> Option<EmployeeCard> {
        let state = self.state.borrow();
        let found = state
            .employees
            .iter()
            .find(|e| e.email.eq_ignore_ascii_case(email))
            .cloned();
        drop(state);
        let login = found.as_ref().map_or("none", |e| e.login.as_str());
        self.looked_up(format!("employee-by-email {email} → {login}"));
        found
    }
    fn presence(&self, login: &str) -> LineStatus {
        let state = self.state.borrow();
        let status = state
            .presence
            .iter()
            .find(|(l, _)| l == login)
            .map_or(LineStatus::Available, |(_, s)| *s);
        drop(state);
        let name = match status {
            LineStatus::Offline => "offline",
            LineStatus::Available => "available",
            LineStatus::Ringing => "ringing",
            LineStatus::Busy => "busy",
        };
        self.looked_up(format!("presence {login} → {name}"));
        status
    }
    fn department(&self, key: &str) -> Option<DepartmentCard> {
        self.department_of(key)
    }
    fn ring_time_ms(&self, target: &Target) -> u32 {
        match target {
            Target::Department(key) | Target::Extension(key) => {
                self.department_of(key).map_or(EMPLOYEE_RING_MS, |d| d.ring_time_ms)
            }
            Target::Employee(_) => EMPLOYEE_RING_MS,
            Target::External(_) => EXTERNAL_RING_MS,
        }
    }
    fn last_connected(&self, number: &str, days: u32) -> Option<String> {
        let found = self.state.borrow().last_connected.clone();
        self.looked_up(format!(
            "last-connected {number} within {days} days → {}",
            found.as_deref().unwrap_or("nobody")
        ));
        found
    }
    fn fetch(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        let reply = {
            let mut s = self.state.borrow_mut();
            s.requests.push(request.clone());
            s.replies.pop_front().unwrap_or_else(|| Err("no reply scripted".into()))
        };
        let result = match &reply {
            Ok(r) => r.status.to_string(),
            Err(why) => format!("failed: {why}"),
        };
        self.looked_up(format!("http {} {} → {result}", request.method, request.url));
        reply
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
