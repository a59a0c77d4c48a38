//! The call model: a plain async API over one call (DESIGN §2). `flow/` translates WIT verbs
//! into [`CallControl`]; the real implementation drives SIP and RTP ([`InboundCall`]), the
//! scripted one a virtual caller ([`script::ScriptedCall`]).

mod bridged;
mod collect;
mod conversation;
mod fax;
mod feature;
pub mod fork;
mod handover;
pub mod hunting;
mod inbound;
pub mod limits;
pub mod lookup;
pub mod number;
pub mod originate;
pub mod queue;
pub mod record;
mod room;
mod screening;
pub mod script;
pub mod services;
pub mod supervision;
pub mod toll;

pub use feature::{Feature, FeatureRequest, FeatureRequests};
pub use fork::{Calendar, DialEnv, Directory, Reachable, RingStep};
pub use handover::Handovers;
pub use inbound::{InboundCall, MediaEnv};
pub use queue::{QueueOptions, QueueOutcome, QueueStrategy};
pub use record::{CallRecord, CallRecording, CallResult, Trace};
pub use services::{
    Agent, AgentState, CallbackDesk, CallbackRequest, ContactManager, DepartmentCard, EmployeeCard, EmployeeKey,
    History, HttpRequest, HttpResponse, LineStatus, OwnNumbers, Staff, Web,
};
pub use toll::{OutboundRules, Reach, TollGate};

/// Why a verb could not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The caller is gone.
    Hangup,
    Invalid(String),
    Denied(String),
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Hangup => write!(f, "hangup"),
            CallError::Invalid(m) => write!(f, "invalid: {m}"),
            CallError::Denied(m) => write!(f, "denied: {m}"),
            CallError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

/// Who to ring, by name. As JSON (a number's fallback route): `{"department": "sales"}`,
/// `{"employee": "alice"}`, `{"extension": "101"}`, `{"external": "+15550100199"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Employee(String),
    Department(String),
    Extension(String),
    External(String),
}

impl Target {
    /// As call records list whom a call was offered to: `department:sales`, `employee:alice`.
    pub fn label(&self) -> String {
        match self {
            Target::Employee(login) => format!("employee:{login}"),
            Target::Department(id) => format!("department:{id}"),
            Target::Extension(extension) => format!("extension:{extension}"),
            Target::External(number) => format!("external:{number}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedLeg {
    pub target: Target,
    pub start_after_ms: u32,
    pub stop_after_ms: Option<u32>,
}

/// `d` in the whole milliseconds a dial's timeout and the WIT carry (at most `u32::MAX`).
pub fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialOptions {
    pub timeout_ms: u32,
    pub caller_id: Option<String>,
    pub ringback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    Answered {
        employee: Option<String>,
        talk_seconds: u32,
    },
    NoAnswer,
    Busy,
    Unavailable,
    Failed(String),
}

/// A secretary's announcement to whoever answers a screened dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    /// Prompt names, or `recording:<id>` for a recording made earlier in the call.
    pub announce: Vec<String>,
    pub accept_digit: char,
    pub timeout_ms: u32,
}

/// How a screened dial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenedOutcome {
    /// Accepted and bridged: `DialOutcome::Answered`.
    Accepted(DialOutcome),
    Declined,
    NotAnswered(DialOutcome),
}

/// A prompt that names a recording made earlier in the call.
pub const RECORDING_PROMPT: &str = "recording:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectOptions {
    pub prompt: Option<String>,
    pub max_digits: u8,
    pub terminators: String,
    pub first_digit_timeout_ms: u32,
    pub inter_digit_timeout_ms: u32,
}

/// How to record the caller (voicemail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    pub max_seconds: u32,
    /// 0: silence does not end the recording.
    pub silence_seconds: u32,
    pub terminators: String,
    pub beep: bool,
}

/// What `record` tells the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub id: String,
    pub duration_ms: u32,
    /// `max-length`, `silence`, or the terminator digit.
    pub ended_by: String,
}

/// Facts about a call for its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// Unix ms.
    pub answered_at: Option<i64>,
    /// Login of the employee the caller talked to last (none: nobody answered a dial).
    pub answered_by: Option<String>,
    /// The legs the call's dials rang.
    pub legs: Vec<record::LegRecord>,
    /// Whom the call's dials offered it to, in order ([`Target::label`]).
    pub offered: Vec<String>,
    /// The caller hung up or cancelled (nothing more can be sent to them).
    pub caller_gone: bool,
    /// Callback requests the flow filed for the caller (their reasons).
    pub callbacks: Vec<String>,
    /// The mailbox the flow chose for the call's voicemail.
    pub mailbox: Option<String>,
    /// The queue the caller hung up in while waiting ([`Target::label`]).
    pub abandoned_in: Option<String>,
}

/// The verbs of a call. Every blocking verb returns `Err(CallError::Hangup)` once the caller
/// is gone, so flows unwind with `?`.
#[async_trait::async_trait]
pub trait CallControl: Send {
    fn id(&self) -> &str;
    fn caller(&self) -> &str;
    fn dialled(&self) -> &str;
    /// What the call record needs to know about the call.
    fn facts(&self) -> CallFacts;
    /// Whether the call is over (the caller left, or it was ended): every verb answers `Hangup`
    /// from now on, and the flow has only its grace left (`flow/sandbox.rs`).
    fn is_over(&mut self) -> bool;
    async fn answer(&mut self) -> Result<(), CallError>;
    async fn play(&mut self, prompt: &str) -> Result<(), CallError>;
    async fn collect(&mut self, opts: &CollectOptions) -> Result<Option<String>, CallError>;
    async fn dial(&mut self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError>;
    /// `dial` whose answering party hears an announcement and accepts with a digit first.
    async fn dial_screened(
        &mut self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError>;
    /// Records the caller. The recording is kept even when the caller hangs up meanwhile (the
    /// verb then returns `Hangup`); `None`: nothing but silence was heard.
    async fn record(&mut self, opts: &RecordOptions) -> Result<Option<Recording>, CallError>;
    /// Puts the caller into the queue of department `department` (id or extension) until an
    /// agent answered and the talk is over, or the wait ended otherwise.
    async fn enqueue(&mut self, department: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError>;
    /// Puts the caller into a conference room until they leave (then `Hangup`).
    async fn conference(&mut self, room: &str) -> Result<(), CallError>;
    /// Voicemail recorded from now on goes to employee `login`'s mailbox.
    async fn set_mailbox(&mut self, login: &str) -> Result<(), CallError>;
    /// Now on the number's clocks, and the number's timezone.
    fn local_time(&self) -> (crate::schedule::LocalTime, String);
    /// Whether business-hours schedule `id` is open now on the number's clocks.
    async fn is_open(&mut self, schedule: &str) -> Result<bool, CallError>;
    /// Files a callback request for the caller when the call ends.
    async fn request_callback(&mut self, reason: &str) -> Result<(), CallError>;
    /// Dials from now on ring employees' mobiles by their own rule (on) or only their phones.
    fn ring_mobiles(&mut self, on: bool);
    /// An employee as flows may see them; none when there is none.
    async fn employee(&mut self, by: EmployeeKey<'_>) -> Result<Option<EmployeeCard>, CallError>;
    /// Whether employee `login` can take a call now.
    async fn presence(&mut self, login: &str) -> Result<LineStatus, CallError>;
    /// The department with id (or extension) `key`; none when there is none.
    async fn department(&mut self, key: &str) -> Result<Option<DepartmentCard>, CallError>;
    /// How long `target` rings by its own settings before it gives up.
    async fn ring_time(&mut self, target: &Target) -> Result<std::time::Duration, CallError>;
    /// The employee who last had a connected call with `number` within `days` days.
    async fn last_connected(&mut self, number: &str, days: u32) -> Result<Option<String>, CallError>;
    /// Outbound HTTP for the flow, only to the hosts the number allows.
    async fn fetch(&mut self, request: HttpRequest) -> Result<HttpResponse, String>;
    async fn hangup(&mut self);
    /// Refuses the unanswered call with SIP `code` and `reason` (after early media too);
    /// `Invalid` once it is answered.
    async fn reject(&mut self, code: u16, reason: &'static str) -> Result<(), CallError>;
    /// The recordings made during the call, to be stored with its record (taken once).
    fn take_recordings(&mut self) -> Vec<CallRecording> {
        Vec::new()
    }
}

/// A prompt the flow named but cannot have: its mistake (unknown name) or the host's trouble.
pub(crate) fn prompt_error(e: crate::media::PromptError) -> CallError {
    match e {
        crate::media::PromptError::Unknown(_) => CallError::Invalid(e.to_string()),
        _ => CallError::Failed(e.to_string()),
    }
}
