//! A call with nobody on the line, for flows the exchange runs on its own:
//! - a question, "whom would the ICM ring for this caller?": extension 6100 runs the company's
//!   ICM flow on one (`icm.rs`), so that a transfer to 6100 applies the whole ICM configuration
//!   — its sources and CRMs, city code, exceptions, mobile toggle, busy route, fallback — with
//!   the flow's own code, not a second copy of it; its first dial is the answer, and ends the
//!   run (the caller is somebody else's call, already connected);
//! - a notice, "this call was missed": the company's missed-call hook (`missed_hook.rs`) runs on
//!   one after the call ended; it may look things up, send HTTP requests and file callback
//!   requests for the caller, and rings nobody.
//!
//! The flow's lookups are real (the company's directory, presence, history, its allow-listed
//! hosts over HTTP). Anything that would touch a caller — a prompt, a recording, a queue — ends
//! the run.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::fork::DialEnv;
use super::{
    CallControl, CallError, CollectOptions, DepartmentCard, DialOptions, DialOutcome, EmployeeCard, EmployeeKey,
    HttpRequest, HttpResponse, LineStatus, QueueOptions, QueueOutcome, RecordOptions, Recording, ScreenedOutcome,
    Screening, Target, TimedLeg,
};

/// What the run found: the first target of its first dial (a question), the callback requests
/// it filed (a notice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub target: Option<Target>,
    pub callbacks: Vec<String>,
}

/// Why the exchange runs a flow with nobody on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Whom to ring for the caller: the first dial answers.
    Question,
    /// The call `call` (its record's id, the run's call id too) to `dialled` was missed: nobody
    /// is rung.
    Notice { call: String, dialled: String },
}

pub struct LookupCall {
    id: String,
    caller: String,
    purpose: Purpose,
    env: Arc<DialEnv>,
    allowed_hosts: Vec<String>,
    found: Arc<Mutex<Found>>,
    over: bool,
}

impl LookupCall {
    /// A run about `caller` in the company of `env`; what it found lands in `found`.
    pub fn new(
        (caller, purpose): (&str, Purpose),
        env: Arc<DialEnv>,
        allowed_hosts: Vec<String>,
        found: Arc<Mutex<Found>>,
    ) -> Self {
        let id = match &purpose {
            Purpose::Notice { call, .. } => call.clone(),
            Purpose::Question => format!("icm-lookup-{}", hex::encode(rand::random::<[u8; 4]>())),
        };
        LookupCall {
            id,
            caller: caller.to_owned(),
            purpose,
            env,
            allowed_hosts,
            found,
            over: false,
        }
    }

    /// The run is over: nothing more to ask.
    fn done(&mut self) -> CallError {
        self.over = true;
        CallError::Hangup
    }
}

#[async_trait::async_trait]
impl CallControl for LookupCall {
    fn id(&self) -> &str {
        &self.id
    }

    fn caller(&self) -> &str {
        &self.caller
    }

    fn dialled(&self) -> &str {
        match &self.purpose {
            Purpose::Question => super::fork::ICM_EXTENSION,
            Purpose::Notice { dialled, .. } => dialled,
        }
    }

    fn facts(&self) -> super::CallFacts {
        super::CallFacts::default()
    }

    fn is_over(&mut self) -> bool {
        self.over
    }

    /// Answering is harmless: the caller is connected already.
    async fn answer(&mut self) -> Result<(), CallError> {
        if self.over { Err(CallError::Hangup) } else { Ok(()) }
    }

    async fn play(&mut self, _prompt: &str) -> Result<(), CallError> {
        Err(self.done())
    }

    async fn collect(&mut self, _opts: &CollectOptions) -> Result<Option<String>, CallError> {
        Err(self.done())
    }

    /// A question's answer: whom this dial rings first. A notice rings nobody.
    async fn dial(&mut self, legs: &[TimedLeg], _opts: &DialOptions) -> Result<DialOutcome, CallError> {
        if self.over {
            return Err(CallError::Hangup);
        }
        if let Purpose::Notice { .. } = self.purpose {
            return Err(CallError::Invalid(
                "nobody is on the line: a notice rings nobody".into(),
            ));
        }
        self.found.lock().target = legs.first().map(|l| l.target.clone());
        Err(self.done())
    }

    async fn dial_screened(
        &mut self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        _screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError> {
        self.dial(legs, opts).await.map(ScreenedOutcome::Accepted)
    }

    async fn record(&mut self, _opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        Err(self.done())
    }

    async fn enqueue(&mut self, _department: &str, _opts: &QueueOptions) -> Result<QueueOutcome, CallError> {
        Err(self.done())
    }

    async fn conference(&mut self, _room: &str) -> Result<(), CallError> {
        Err(self.done())
    }

    async fn set_mailbox(&mut self, _login: &str) -> Result<(), CallError> {
        Ok(())
    }

    fn local_time(&self) -> (crate::schedule::LocalTime, String) {
        crate::schedule::LocalTime::with_zone_name(jiff::Timestamp::now(), &jiff::tz::TimeZone::UTC)
    }

    async fn is_open(&mut self, schedule: &str) -> Result<bool, CallError> {
        self.env.is_open(schedule, self.local_time().0).await
    }

    /// A notice files callback requests for the caller (as a caller's call does, with the
    /// same cap); a question asks for none.
    async fn request_callback(&mut self, reason: &str) -> Result<(), CallError> {
        if self.over || self.purpose == Purpose::Question {
            return Err(self.done());
        }
        if !super::number::is_outside_number(&self.caller) {
            return Err(CallError::Invalid(format!(
                "the caller {:?} has no number to call back",
                self.caller
            )));
        }
        let mut found = self.found.lock();
        let reason = super::limits::callback_reason(reason, found.callbacks.len())?;
        found.callbacks.push(reason);
        Ok(())
    }

    fn ring_mobiles(&mut self, _on: bool) {}

    async fn employee(&mut self, by: EmployeeKey<'_>) -> Result<Option<EmployeeCard>, CallError> {
        self.env.employee(by).await
    }

    async fn presence(&mut self, login: &str) -> Result<LineStatus, CallError> {
        self.env.line_status(login).await
    }

    async fn department(&mut self, key: &str) -> Result<Option<DepartmentCard>, CallError> {
        self.env.department(key).await
    }

    async fn ring_time(&mut self, target: &Target) -> Result<Duration, CallError> {
        self.env.ring_time(target).await
    }

    async fn last_connected(&mut self, number: &str, days: u32) -> Result<Option<String>, CallError> {
        self.env.last_connected(number, days).await
    }

    async fn fetch(&mut self, request: HttpRequest) -> Result<HttpResponse, String> {
        self.env.web.fetch(&self.allowed_hosts, request).await
    }

    async fn hangup(&mut self) {
        self.over = true;
    }

    async fn reject(&mut self, _code: u16, _reason: &'static str) -> Result<(), CallError> {
        Err(self.done())
    }
}
