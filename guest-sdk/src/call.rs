use std::cell::Cell;

use crate::bindings::switchboard::flow::call::Call;
use crate::bindings::switchboard::flow::{clock, directory, history, http};
use crate::{
    CallError, CollectOptions, DepartmentCard, DialOptions, DialOutcome, EmployeeCard, HttpRequest, HttpResponse,
    LineStatus, LocalTime, QueueOptions, QueueOutcome, QueueStrategy, RecordOptions, Recording, Refusal,
    ScreenedOutcome, Screening, Target, TimedLeg,
};

/// The verbs a flow performs on its call.
///
/// Flows take `&impl CallApi` rather than the concrete [`WasmCall`] so that the same flow code
/// runs against a scripted call in a native `cargo test`.
pub trait CallApi {
    fn id(&self) -> String;
    /// The caller's number.
    fn caller(&self) -> String;
    /// The number the caller dialled.
    fn dialled(&self) -> String;
    fn answer(&self) -> Result<(), CallError>;
    fn play(&self, prompt: &str) -> Result<(), CallError>;
    /// Digits typed by the caller, `None` when nothing came before the first-digit timeout.
    fn collect(&self, opts: &CollectOptions) -> Result<Option<String>, CallError>;
    fn dial(&self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError>;
    /// `dial`, but whoever answers first hears `screening.announce` and accepts the call with
    /// `screening.accept_digit` before the caller is put through.
    fn dial_screened(
        &self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError>;
    /// Records what the caller says; `None` when nothing but silence was heard. A caller who
    /// hangs up while recording still leaves the recording (the verb returns `Hangup`).
    fn record(&self, opts: &RecordOptions) -> Result<Option<Recording>, CallError>;
    /// Joins the conference room `room` until the caller leaves (then `Hangup`).
    fn conference(&self, room: &str) -> Result<(), CallError>;
    /// Waits in the queue of department `department` (id or extension) for its next free
    /// member; returns once an agent answered and the talk is over, or how the wait ended.
    fn enqueue(&self, department: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError>;
    fn hangup(&self);
    /// Refuses the unanswered call with a SIP answer (`Refusal::Decline`: 603) — a caller the
    /// flow blocks by its own judgement; `Invalid` once the call is answered.
    fn reject(&self, refusal: Refusal) -> Result<(), CallError>;
    /// Voicemail recorded from now on in this call goes to employee `login`'s mailbox.
    fn set_mailbox(&self, login: &str) -> Result<(), CallError>;
    /// Now on the number's clocks (its timezone).
    fn now(&self) -> LocalTime;
    /// Whether the business-hours schedule `id` (`PUT /schedules/{id}`) is open now; an error
    /// when there is no such schedule.
    fn is_open(&self, schedule: &str) -> Result<bool, String>;
    /// Files a callback request for the caller when the call ends (for the employee whose
    /// mailbox takes the call's voicemail, with the last voicemail attached); `Invalid` when
    /// the caller has no number to call back.
    fn request_callback(&self, reason: &str) -> Result<(), CallError>;
    /// Whether dials from now on ring employees' mobiles by their own "mobile after N s" rule
    /// (on, the default) or only their registered phones (off).
    fn ring_mobiles(&self, on: bool);
    /// What [`CallApi::ring_mobiles`] last set (on at the start of a call).
    fn rings_mobiles(&self) -> bool;
    /// The employee `login`, if there is one.
    fn employee(&self, login: &str) -> Option<EmployeeCard>;
    /// The employee with this e-mail address (case-insensitive), e.g. a CRM's responsible user.
    fn employee_by_email(&self, email: &str) -> Option<EmployeeCard>;
    /// Whether `login` can take a call now (offline: no phone registered).
    fn presence(&self, login: &str) -> LineStatus;
    /// The department with id (or extension) `key`: its ring time, its overflow as the admin
    /// set it, how many members can take a call now.
    fn department(&self, key: &str) -> Option<DepartmentCard>;
    /// How long `target` rings by its own settings before it gives up.
    fn ring_time_ms(&self, target: &Target) -> u32;
    /// Login of the employee who last had a connected call with `number` (in or out) within
    /// `days` days.
    fn last_connected(&self, number: &str, days: u32) -> Option<String>;
    /// Sends an HTTP request, only to hosts allow-listed on the number (`allowed_hosts`).
    fn fetch(&self, request: &HttpRequest) -> Result<HttpResponse, String>;
}

/// The real call, backed by the host.
pub struct WasmCall {
    call: Call,
    rings_mobiles: Cell<bool>,
}

impl WasmCall {
    pub fn new(call: Call) -> Self {
        WasmCall {
            call,
            rings_mobiles: Cell::new(true),
        }
    }
}

impl CallApi for WasmCall {
    fn id(&self) -> String {
        self.call.id()
    }
    fn caller(&self) -> String {
        self.call.caller()
    }
    fn dialled(&self) -> String {
        self.call.dialled()
    }
    fn answer(&self) -> Result<(), CallError> {
        self.call.answer()
    }
    fn play(&self, prompt: &str) -> Result<(), CallError> {
        self.call.play(prompt)
    }
    fn collect(&self, opts: &CollectOptions) -> Result<Option<String>, CallError> {
        self.call.collect(opts)
    }
    fn dial(&self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError> {
        self.call.dial(legs, opts)
    }
    fn dial_screened(
        &self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError> {
        self.call.dial_screened(legs, opts, screening)
    }
    fn record(&self, opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        self.call.record(opts)
    }
    fn conference(&self, room: &str) -> Result<(), CallError> {
        self.call.conference(room)
    }
    fn enqueue(&self, department: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError> {
        self.call.enqueue(department, opts)
    }
    fn hangup(&self) {
        self.call.hangup()
    }
    fn reject(&self, refusal: Refusal) -> Result<(), CallError> {
        self.call.reject(refusal)
    }
    fn set_mailbox(&self, login: &str) -> Result<(), CallError> {
        self.call.set_mailbox(login)
    }
    fn now(&self) -> LocalTime {
        clock::now()
    }
    fn is_open(&self, schedule: &str) -> Result<bool, String> {
        clock::is_open(schedule)
    }
    fn request_callback(&self, reason: &str) -> Result<(), CallError> {
        self.call.request_callback(reason)
    }
    fn ring_mobiles(&self, on: bool) {
        self.rings_mobiles.set(on);
        self.call.ring_mobiles(on)
    }
    fn rings_mobiles(&self) -> bool {
        self.rings_mobiles.get()
    }
    fn employee(&self, login: &str) -> Option<EmployeeCard> {
        directory::employee(login)
    }
    fn employee_by_email(&self, email: &str) -> Option<EmployeeCard> {
        directory::employee_by_email(email)
    }
    fn presence(&self, login: &str) -> LineStatus {
        directory::presence(login)
    }
    fn department(&self, key: &str) -> Option<DepartmentCard> {
        directory::department(key)
    }
    fn ring_time_ms(&self, target: &Target) -> u32 {
        directory::ring_time_ms(target)
    }
    fn last_connected(&self, number: &str, days: u32) -> Option<String> {
        history::last_connected(number, days)
    }
    fn fetch(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        http::fetch(request)
    }
}

impl RecordOptions {
    /// A voicemail: a beep, then up to `max_seconds`, ended early by `#` or 5 s of silence.
    pub fn voicemail(max_seconds: u32) -> Self {
        RecordOptions {
            max_seconds,
            silence_seconds: 5,
            terminators: "#".into(),
            beep: true,
        }
    }
}

impl CollectOptions {
    /// One digit, with `timeout_ms` to press it.
    pub fn one_digit(prompt: Option<&str>, timeout_ms: u32) -> Self {
        CollectOptions {
            prompt: prompt.map(str::to_owned),
            max_digits: 1,
            terminators: String::new(),
            first_digit_timeout_ms: timeout_ms,
            inter_digit_timeout_ms: timeout_ms,
        }
    }
}

impl Default for QueueOptions {
    /// The built-in hold music, the place in line and the estimated wait every minute, at most
    /// 10 minutes and 50 callers, the longest-idle agent rung 15 s, no wrap-up, and `1` to be
    /// called back instead.
    fn default() -> Self {
        QueueOptions {
            music: "hold-music".into(),
            position_prompt: "tts:You are number {position} in line.".into(),
            wait_prompt: "tts:Your expected wait is about {minutes} minutes.".into(),
            announce_every_ms: 60_000,
            max_wait_ms: 600_000,
            max_length: 50,
            strategy: QueueStrategy::LongestIdle,
            agent_ring_ms: 15_000,
            wrap_up_ms: 0,
            callback_digit: "1".into(),
        }
    }
}
