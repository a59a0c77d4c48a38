use crate::bindings::switchboard::flow::call::Call;
use crate::bindings::switchboard::flow::clock;
use crate::{CallError, CollectOptions, DialOptions, DialOutcome, LocalTime, RecordOptions, Recording, TimedLeg};

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
    /// Records what the caller says; `None` when nothing but silence was heard. A caller who
    /// hangs up while recording still leaves the recording (the verb returns `Hangup`).
    fn record(&self, opts: &RecordOptions) -> Result<Option<Recording>, CallError>;
    /// Joins the conference room `room` until the caller leaves (then `Hangup`).
    fn conference(&self, room: &str) -> Result<(), CallError>;
    fn hangup(&self);
    /// Voicemail recorded from now on in this call goes to employee `login`'s mailbox.
    fn set_mailbox(&self, login: &str) -> Result<(), CallError>;
    /// Now on the number's clocks (its timezone).
    fn now(&self) -> LocalTime;
    /// Whether the business-hours schedule `id` (`PUT /schedules/{id}`) is open now; an error
    /// when there is no such schedule.
    fn is_open(&self, schedule: &str) -> Result<bool, String>;
}

/// The real call, backed by the host.
pub struct WasmCall(Call);

impl WasmCall {
    pub fn new(call: Call) -> Self {
        Self(call)
    }
}

impl CallApi for WasmCall {
    fn id(&self) -> String {
        self.0.id()
    }
    fn caller(&self) -> String {
        self.0.caller()
    }
    fn dialled(&self) -> String {
        self.0.dialled()
    }
    fn answer(&self) -> Result<(), CallError> {
        self.0.answer()
    }
    fn play(&self, prompt: &str) -> Result<(), CallError> {
        self.0.play(prompt)
    }
    fn collect(&self, opts: &CollectOptions) -> Result<Option<String>, CallError> {
        self.0.collect(opts)
    }
    fn dial(&self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError> {
        self.0.dial(legs, opts)
    }
    fn record(&self, opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        self.0.record(opts)
    }
    fn conference(&self, room: &str) -> Result<(), CallError> {
        self.0.conference(room)
    }
    fn hangup(&self) {
        self.0.hangup()
    }
    fn set_mailbox(&self, login: &str) -> Result<(), CallError> {
        self.0.set_mailbox(login)
    }
    fn now(&self) -> LocalTime {
        clock::now()
    }
    fn is_open(&self, schedule: &str) -> Result<bool, String> {
        clock::is_open(schedule)
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
