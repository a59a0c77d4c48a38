//! The host side of the WIT imports: each verb goes to the call, and into the decision trace.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::CallHandle;
use super::bindings::switchboard::flow::call::{Host as CallHost, HostCall};
use super::bindings::switchboard::flow::{clock, directory, history, http};
use super::bindings::types::{self as wit, Host as TypesHost};
use super::bindings::wasi::logging::logging::{self, Level};
use super::sandbox::{self, MAX_HTTP_REQUESTS, MAX_LOG_BYTES, MAX_LOG_LINE, MAX_LOG_LINES, MAX_LOOKUPS, Quotas};
use crate::call::limits::{self, MAX_HEADER, MAX_HEADERS, MAX_HTTP_BODY, MAX_NAME, MAX_NUMBER, MAX_PROMPT, MAX_URL};
use crate::call::{self, CallControl, Trace};

pub struct FlowState {
    pub(super) table: ResourceTable,
    pub(super) wasi: WasiCtx,
    pub(super) limits: wasmtime::StoreLimits,
    pub(super) call: Box<dyn CallControl>,
    pub(super) trace: Trace,
    /// What the flow has used of its limits (sandbox.rs).
    pub(super) quotas: Quotas,
    /// Limits already noted in the trace (each once).
    noted: Vec<Capped>,
}

impl WasiView for FlowState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl FlowState {
    pub(super) fn new(
        wasi: WasiCtx,
        limits: wasmtime::StoreLimits,
        call: Box<dyn CallControl>,
        trace: Trace,
        quotas: Quotas,
    ) -> Self {
        FlowState {
            table: ResourceTable::new(),
            wasi,
            limits,
            call,
            trace,
            quotas,
            noted: Vec::new(),
        }
    }

    /// Every host call starts here: it is counted, the CPU budget checked, and once the call is
    /// over the flow's grace starts; `Err` stops the flow (a trap).
    fn enter(&mut self) -> wasmtime::Result<()> {
        if self.call.is_over() {
            self.quotas.call_over();
        }
        self.quotas.host_call().map_err(sandbox::trap)
    }

    /// Notes in the trace that a limit was reached — once per call, whatever the flow does next.
    fn note_once(&mut self, limit: Capped) {
        if !self.noted.contains(&limit) {
            self.noted.push(limit);
            self.trace.push(limit.note());
        }
    }

    /// Counts a lookup; false (noted in the trace once) when the call has used its share.
    fn may_look_up(&mut self) -> bool {
        self.quotas.lookups += 1;
        if self.quotas.lookups > MAX_LOOKUPS {
            self.note_once(Capped::Lookups);
        }
        self.quotas.lookups <= MAX_LOOKUPS
    }

    fn trace_verb<T>(&mut self, verb: &str, result: &Result<T, call::CallError>, describe: impl Fn(&T) -> String) {
        let event = match result {
            Ok(v) => format!("{verb} → {}", describe(v)),
            Err(e) => format!("{verb} → error: {e}"),
        };
        // The trace keeps the call's story; the process log only at debug level (a flow
        // calling verbs in a loop must not fill the disk).
        tracing::debug!(call = %self.call.id(), "{event}");
        self.trace.push(event);
    }
}

/// A per-call cap that, once reached, refuses (or drops) what the flow asks for from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capped {
    Lookups,
    Http,
    Log,
}

impl Capped {
    /// What the trace says, once.
    fn note(self) -> String {
        match self {
            Capped::Lookups => format!("lookups: over {MAX_LOOKUPS} in this call, refused from now on"),
            Capped::Http => format!("http: over {MAX_HTTP_REQUESTS} requests in this call, refused from now on"),
            Capped::Log => format!(
                "log: over {MAX_LOG_LINES} lines or {} KiB in this call, dropped from now on",
                MAX_LOG_BYTES / 1024
            ),
        }
    }
}

/// A dial's legs as the trace shows them: `[Employee("bob")@0ms, ...]`.
fn describe_legs(legs: &[call::TimedLeg]) -> String {
    let targets: Vec<String> = legs
        .iter()
        .map(|l| format!("{:?}@{}ms", l.target, l.start_after_ms))
        .collect();
    format!("[{}]", targets.join(", "))
}

fn ok(_: &()) -> String {
    "ok".into()
}

impl TypesHost for FlowState {}
impl CallHost for FlowState {}

impl HostCall for FlowState {
    async fn id(&mut self, _: Resource<CallHandle>) -> wasmtime::Result<String> {
        self.enter()?;
        Ok(self.call.id().to_string())
    }

    async fn caller(&mut self, _: Resource<CallHandle>) -> wasmtime::Result<String> {
        self.enter()?;
        Ok(self.call.caller().to_string())
    }

    async fn dialled(&mut self, _: Resource<CallHandle>) -> wasmtime::Result<String> {
        self.enter()?;
        Ok(self.call.dialled().to_string())
    }

    async fn answer(&mut self, _: Resource<CallHandle>) -> wasmtime::Result<Result<(), wit::CallError>> {
        self.enter()?;
        let r = self.call.answer().await;
        self.trace_verb("answer", &r, ok);
        Ok(r.map_err(Into::into))
    }

    async fn play(&mut self, _: Resource<CallHandle>, prompt: String) -> wasmtime::Result<Result<(), wit::CallError>> {
        self.enter()?;
        if let Err(e) = limits::check_len("prompt", &prompt, MAX_PROMPT) {
            return Ok(Err(e.into()));
        }
        let r = self.call.play(&prompt).await;
        self.trace_verb(&format!("play {prompt}"), &r, ok);
        Ok(r.map_err(Into::into))
    }

    async fn collect(
        &mut self,
        _: Resource<CallHandle>,
        opts: wit::CollectOptions,
    ) -> wasmtime::Result<Result<Option<String>, wit::CallError>> {
        self.enter()?;
        let opts = call::CollectOptions::from(opts);
        let sizes = [
            ("prompt", opts.prompt.as_deref().unwrap_or_default(), MAX_PROMPT),
            ("terminators", opts.terminators.as_str(), limits::MAX_TERMINATORS),
        ];
        if let Some(e) = sizes
            .iter()
            .find_map(|(what, v, max)| limits::check_len(what, v, *max).err())
        {
            return Ok(Err(e.into()));
        }
        let r = self.call.collect(&opts).await;
        let verb = format!(
            "collect (prompt {}, max {}, first digit {} ms)",
            opts.prompt.as_deref().unwrap_or("-"),
            opts.max_digits,
            opts.first_digit_timeout_ms
        );
        self.trace_verb(&verb, &r, |d| d.clone().unwrap_or_else(|| "no digit (timeout)".into()));
        Ok(r.map_err(Into::into))
    }

    async fn dial(
        &mut self,
        _: Resource<CallHandle>,
        legs: Vec<wit::TimedLeg>,
        opts: wit::DialOptions,
    ) -> wasmtime::Result<Result<wit::DialOutcome, wit::CallError>> {
        self.enter()?;
        let legs: Vec<call::TimedLeg> = legs.into_iter().map(Into::into).collect();
        let opts = call::DialOptions::from(opts);
        let r = self.call.dial(&legs, &opts).await;
        self.trace_verb(
            &format!("dial {} timeout {} ms", describe_legs(&legs), opts.timeout_ms),
            &r,
            |o| format!("{o:?}"),
        );
        Ok(r.map(Into::into).map_err(Into::into))
    }

    async fn dial_screened(
        &mut self,
        _: Resource<CallHandle>,
        legs: Vec<wit::TimedLeg>,
        opts: wit::DialOptions,
        screening: wit::Screening,
    ) -> wasmtime::Result<Result<wit::ScreenedOutcome, wit::CallError>> {
        self.enter()?;
        let legs: Vec<call::TimedLeg> = legs.into_iter().map(Into::into).collect();
        let opts = call::DialOptions::from(opts);
        let mut digits = screening.accept_digit.chars();
        let screening = match (digits.next(), digits.next()) {
            (Some(digit), None) => call::Screening {
                announce: screening.announce,
                accept_digit: digit,
                timeout_ms: screening.timeout_ms,
            },
            _ => {
                let e = call::CallError::Invalid(format!("accept-digit {:?}: one digit", screening.accept_digit));
                return Ok(Err(e.into()));
            }
        };
        let r = self.call.dial_screened(&legs, &opts, &screening).await;
        let verb = format!(
            "dial-screened {} (announce {}, accept {})",
            describe_legs(&legs),
            screening.announce.join(" + "),
            screening.accept_digit
        );
        self.trace_verb(&verb, &r, |o| format!("{o:?}"));
        Ok(r.map(|outcome| match outcome {
            call::ScreenedOutcome::Accepted(call::DialOutcome::Answered { employee, talk_seconds }) => {
                wit::ScreenedOutcome::Accepted(wit::Answered { employee, talk_seconds })
            }
            call::ScreenedOutcome::Accepted(other) | call::ScreenedOutcome::NotAnswered(other) => {
                wit::ScreenedOutcome::NotAnswered(other.into())
            }
            call::ScreenedOutcome::Declined => wit::ScreenedOutcome::Declined,
        })
        .map_err(Into::into))
    }

    async fn record(
        &mut self,
        _: Resource<CallHandle>,
        opts: wit::RecordOptions,
    ) -> wasmtime::Result<Result<Option<wit::Recording>, wit::CallError>> {
        self.enter()?;
        let opts = call::RecordOptions {
            max_seconds: opts.max_seconds,
            silence_seconds: opts.silence_seconds,
            terminators: opts.terminators,
            beep: opts.beep,
        };
        let r = self.call.record(&opts).await;
        self.trace_verb(&format!("record (max {} s)", opts.max_seconds), &r, |made| match made {
            Some(m) => format!("{} ({} ms, ended by {})", m.id, m.duration_ms, m.ended_by),
            None => "nothing heard".into(),
        });
        Ok(r.map(|made| {
            made.map(|m| wit::Recording {
                id: m.id,
                duration_ms: m.duration_ms,
                ended_by: m.ended_by,
            })
        })
        .map_err(Into::into))
    }

    async fn enqueue(
        &mut self,
        _: Resource<CallHandle>,
        department: String,
        opts: wit::QueueOptions,
    ) -> wasmtime::Result<Result<wit::QueueOutcome, wit::CallError>> {
        self.enter()?;
        let mut digits = opts.callback_digit.chars();
        let callback_digit = match (digits.next(), digits.next()) {
            (None, _) => None,
            (Some(d), None) if d.is_ascii_digit() || "*#".contains(d) => Some(d),
            _ => {
                let e = call::CallError::Invalid(format!(
                    "callback-digit {:?}: one DTMF digit, or none",
                    opts.callback_digit
                ));
                self.trace_verb(&format!("enqueue {department}"), &Err::<(), _>(e.clone()), ok);
                return Ok(Err(e.into()));
            }
        };
        let ms = |ms: u32| std::time::Duration::from_millis(ms.into());
        let opts = call::QueueOptions {
            music: opts.music,
            position_prompt: opts.position_prompt,
            wait_prompt: opts.wait_prompt,
            announce_every: ms(opts.announce_every_ms),
            max_wait: ms(opts.max_wait_ms),
            max_length: opts.max_length,
            strategy: match opts.strategy {
                wit::QueueStrategy::LongestIdle => call::QueueStrategy::LongestIdle,
                wit::QueueStrategy::InOrder => call::QueueStrategy::InOrder,
                wit::QueueStrategy::RingAll => call::QueueStrategy::RingAll,
            },
            agent_ring: ms(opts.agent_ring_ms),
            wrap_up: ms(opts.wrap_up_ms),
            callback_digit,
        };
        let r = self.call.enqueue(&department, &opts).await;
        let verb = format!(
            "enqueue {department} ({:?}, max wait {} s, max length {})",
            opts.strategy,
            opts.max_wait.as_secs(),
            opts.max_length
        );
        self.trace_verb(&verb, &r, |o| format!("{o:?}"));
        Ok(r.map(|outcome| match outcome {
            call::QueueOutcome::Answered { employee, talk_seconds } => {
                wit::QueueOutcome::Answered(wit::Answered { employee, talk_seconds })
            }
            call::QueueOutcome::Timeout => wit::QueueOutcome::Timeout,
            call::QueueOutcome::Full => wit::QueueOutcome::Full,
            call::QueueOutcome::Empty => wit::QueueOutcome::Empty,
            call::QueueOutcome::Callback => wit::QueueOutcome::Callback,
        })
        .map_err(Into::into))
    }

    async fn conference(
        &mut self,
        _: Resource<CallHandle>,
        room: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        self.enter()?;
        let r = self.call.conference(&room).await;
        self.trace_verb(&format!("conference {room}"), &r, ok);
        Ok(r.map_err(Into::into))
    }

    async fn set_mailbox(
        &mut self,
        _: Resource<CallHandle>,
        login: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        self.enter()?;
        if let Err(e) = limits::check_len("login", &login, MAX_NAME) {
            return Ok(Err(e.into()));
        }
        let r = self.call.set_mailbox(&login).await;
        self.trace_verb(&format!("set-mailbox {login}"), &r, ok);
        Ok(r.map_err(Into::into))
    }

    async fn request_callback(
        &mut self,
        _: Resource<CallHandle>,
        reason: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        self.enter()?;
        let reason = limits::cut_callback_reason(&reason);
        let r = self.call.request_callback(&reason).await;
        self.trace_verb(&format!("request-callback {reason:?}"), &r, ok);
        Ok(r.map_err(Into::into))
    }

    async fn ring_mobiles(&mut self, _: Resource<CallHandle>, on: bool) -> wasmtime::Result<()> {
        self.enter()?;
        self.call.ring_mobiles(on);
        self.trace_verb(&format!("ring-mobiles {}", if on { "on" } else { "off" }), &Ok(()), ok);
        Ok(())
    }

    async fn reject(
        &mut self,
        _: Resource<CallHandle>,
        refusal: wit::Refusal,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        self.enter()?;
        let (code, reason) = match refusal {
            wit::Refusal::Decline => (603, "Decline"),
            wit::Refusal::Busy => (486, "Busy Here"),
            wit::Refusal::Unavailable => (480, "Temporarily Unavailable"),
            wit::Refusal::Forbidden => (403, "Forbidden"),
        };
        let r = self.call.reject(code, reason).await;
        self.trace_verb(&format!("reject {code} {reason}"), &r, ok);
        Ok(r.map_err(Into::into))
    }

    async fn hangup(&mut self, _: Resource<CallHandle>) -> wasmtime::Result<()> {
        self.enter()?;
        self.call.hangup().await;
        self.trace_verb("hangup", &Ok(()), ok);
        Ok(())
    }

    async fn drop(&mut self, handle: Resource<CallHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl clock::Host for FlowState {
    async fn now(&mut self) -> wasmtime::Result<clock::LocalTime> {
        self.enter()?;
        let (local, timezone) = self.call.local_time();
        Ok(clock::LocalTime {
            date: local.date_text(),
            weekday: local.weekday as u8,
            minute: local.minute as u16,
            timezone,
        })
    }

    async fn is_open(&mut self, schedule: String) -> wasmtime::Result<Result<bool, String>> {
        self.enter()?;
        if !self.may_look_up() {
            return Ok(Err(format!("over {MAX_LOOKUPS} lookups in one call")));
        }
        if let Err(e) = limits::check_len("schedule", &schedule, MAX_NAME) {
            return Ok(Err(e.to_string()));
        }
        let r = self.call.is_open(&schedule).await;
        self.trace_verb(&format!("is-open {schedule}"), &r, |open| {
            if *open { "open" } else { "closed" }.into()
        });
        Ok(r.map_err(|e| e.to_string()))
    }
}

impl directory::Host for FlowState {
    async fn employee(&mut self, login: String) -> wasmtime::Result<Option<directory::EmployeeCard>> {
        self.lookup(&format!("employee {login}"), call::EmployeeKey::Login(&login))
            .await
    }

    async fn employee_by_email(&mut self, email: String) -> wasmtime::Result<Option<directory::EmployeeCard>> {
        self.lookup(&format!("employee-by-email {email}"), call::EmployeeKey::Email(&email))
            .await
    }

    async fn presence(&mut self, login: String) -> wasmtime::Result<directory::LineStatus> {
        self.enter()?;
        if !self.may_look_up() || login.len() > MAX_NAME {
            return Ok(directory::LineStatus::Offline);
        }
        let r = self.call.presence(&login).await;
        self.trace_verb(&format!("presence {login}"), &r, |p| format!("{p:?}").to_lowercase());
        // A directory the host cannot read is no reason to end the flow: nobody is reachable.
        Ok(match r.unwrap_or(call::LineStatus::Offline) {
            call::LineStatus::Offline => directory::LineStatus::Offline,
            call::LineStatus::Available => directory::LineStatus::Available,
            call::LineStatus::Ringing => directory::LineStatus::Ringing,
            call::LineStatus::Busy => directory::LineStatus::Busy,
        })
    }

    async fn department(&mut self, key: String) -> wasmtime::Result<Option<directory::DepartmentCard>> {
        self.enter()?;
        if !self.may_look_up() || key.len() > MAX_NAME {
            return Ok(None);
        }
        let r = self.call.department(&key).await;
        self.trace_verb(&format!("department {key}"), &r, |found| match found {
            Some(d) => format!(
                "{}, rings {} s, {} free, overflow {}",
                d.id,
                d.ring_time.as_secs(),
                d.available,
                if d.overflow.is_empty() { "none" } else { &d.overflow }
            ),
            None => "none".into(),
        });
        Ok(r.ok().flatten().map(|d| directory::DepartmentCard {
            id: d.id,
            name: d.name,
            extension: d.extension,
            ring_time_ms: call::millis(d.ring_time),
            overflow: d.overflow,
            available: d.available,
        }))
    }

    async fn ring_time_ms(&mut self, target: wit::Target) -> wasmtime::Result<u32> {
        self.enter()?;
        let target: call::Target = target.into();
        // A name no directory has rings for nobody; the dial that follows says why.
        if !self.may_look_up() || limits::check_target(&target).is_err() {
            return Ok(0);
        }
        let r = self.call.ring_time(&target).await;
        self.trace_verb(&format!("ring-time {target:?}"), &r, |d| format!("{} s", d.as_secs()));
        Ok(r.map_or(0, call::millis))
    }
}

impl FlowState {
    /// One directory lookup, traced; the host's trouble reads as "no such employee".
    async fn lookup(
        &mut self,
        verb: &str,
        by: call::EmployeeKey<'_>,
    ) -> wasmtime::Result<Option<directory::EmployeeCard>> {
        self.enter()?;
        let key = match by {
            call::EmployeeKey::Login(k) | call::EmployeeKey::Email(k) => k,
        };
        // Nobody has a login or an address that long.
        if !self.may_look_up() || key.len() > limits::MAX_EMAIL {
            return Ok(None);
        }
        let r = self.call.employee(by).await;
        self.trace_verb(verb, &r, |found| match found {
            Some(card) => card.login.clone(),
            None => "none".into(),
        });
        Ok(r.ok().flatten().map(|c| directory::EmployeeCard {
            login: c.login,
            name: c.name,
            extension: c.extension,
            email: c.email,
            mobile: c.mobile,
        }))
    }
}

impl history::Host for FlowState {
    async fn last_connected(&mut self, number: String, days: u32) -> wasmtime::Result<Option<String>> {
        self.enter()?;
        if !self.may_look_up() || number.len() > MAX_NUMBER {
            return Ok(None);
        }
        let r = self.call.last_connected(&number, days).await;
        self.trace_verb(&format!("last-connected {number} within {days} days"), &r, |found| {
            found.clone().unwrap_or_else(|| "nobody".into())
        });
        Ok(r.ok().flatten())
    }
}

impl http::Host for FlowState {
    async fn fetch(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, String>> {
        self.enter()?;
        let request = call::HttpRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout: std::time::Duration::from_millis(req.timeout_ms.into()),
        };
        // The trace is the admin's to read: no CRM key or token goes into it.
        let verb = format!("http {}", request.shown());
        self.quotas.http_requests += 1;
        if self.quotas.http_requests > MAX_HTTP_REQUESTS {
            self.note_once(Capped::Http);
            return Ok(Err(format!("over {MAX_HTTP_REQUESTS} HTTP requests in one call")));
        }
        if let Err(why) = request_sizes(&request) {
            self.trace_verb(&verb, &Err::<(), _>(why.clone()), ok);
            return Ok(Err(why.to_string()));
        }
        let r = self.call.fetch(request).await.map_err(call::CallError::Failed);
        self.trace_verb(&verb, &r, |response| {
            format!("{} ({} bytes)", response.status, response.body.len())
        });
        Ok(r.map(|response| http::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
        .map_err(|e| match e {
            call::CallError::Failed(why) => why,
            other => other.to_string(),
        }))
    }
}

/// What an HTTP request a flow sends may weigh.
fn request_sizes(request: &call::HttpRequest) -> Result<(), call::CallError> {
    limits::check_len("url", &request.url, MAX_URL)?;
    limits::check_len("method", &request.method, 16)?;
    limits::check_len("body", &request.body, MAX_HTTP_BODY)?;
    if request.headers.len() > MAX_HEADERS {
        return Err(call::CallError::Invalid(format!(
            "{} headers, at most {MAX_HEADERS}",
            request.headers.len()
        )));
    }
    for (name, value) in &request.headers {
        limits::check_len("header", &format!("{name}{value}"), MAX_HEADER)?;
    }
    Ok(())
}

impl logging::Host for FlowState {
    async fn log(&mut self, level: Level, context: String, message: String) -> wasmtime::Result<()> {
        self.enter()?;
        let line = &message[..message.floor_char_boundary(MAX_LOG_LINE)];
        let context = &context[..context.floor_char_boundary(64)];
        self.quotas.log_lines += 1;
        self.quotas.log_bytes += line.len() + context.len();
        if self.quotas.log_lines > MAX_LOG_LINES || self.quotas.log_bytes > MAX_LOG_BYTES {
            self.note_once(Capped::Log);
            return Ok(()); // over budget: dropped, the call goes on
        }
        let call = self.call.id().to_string();
        match level {
            Level::Trace | Level::Debug => tracing::debug!(%call, %context, "{line}"),
            Level::Info => tracing::info!(%call, %context, "{line}"),
            Level::Warn => tracing::warn!(%call, %context, "{line}"),
            Level::Error | Level::Critical => tracing::error!(%call, %context, "{line}"),
        }
        self.trace.push(format!("log {context}: {line}"));
        Ok(())
    }
}

impl From<call::CallError> for wit::CallError {
    fn from(e: call::CallError) -> Self {
        match e {
            call::CallError::Hangup => wit::CallError::Hangup,
            call::CallError::Invalid(m) => wit::CallError::Invalid(m),
            call::CallError::Denied(m) => wit::CallError::Denied(m),
            call::CallError::Failed(m) => wit::CallError::Failed(m),
        }
    }
}

impl From<wit::CollectOptions> for call::CollectOptions {
    fn from(o: wit::CollectOptions) -> Self {
        call::CollectOptions {
            prompt: o.prompt,
            max_digits: o.max_digits,
            terminators: o.terminators,
            first_digit_timeout_ms: o.first_digit_timeout_ms,
            inter_digit_timeout_ms: o.inter_digit_timeout_ms,
        }
    }
}

impl From<wit::Target> for call::Target {
    fn from(t: wit::Target) -> Self {
        match t {
            wit::Target::Employee(s) => call::Target::Employee(s),
            wit::Target::Department(s) => call::Target::Department(s),
            wit::Target::Extension(s) => call::Target::Extension(s),
            wit::Target::External(s) => call::Target::External(s),
        }
    }
}

impl From<wit::TimedLeg> for call::TimedLeg {
    fn from(l: wit::TimedLeg) -> Self {
        call::TimedLeg {
            target: l.target.into(),
            start_after_ms: l.start_after_ms,
            stop_after_ms: l.stop_after_ms,
        }
    }
}

impl From<wit::DialOptions> for call::DialOptions {
    fn from(o: wit::DialOptions) -> Self {
        call::DialOptions {
            timeout_ms: o.timeout_ms,
            caller_id: o.caller_id,
            ringback: o.ringback,
        }
    }
}

impl From<call::DialOutcome> for wit::DialOutcome {
    fn from(o: call::DialOutcome) -> Self {
        match o {
            call::DialOutcome::Answered { employee, talk_seconds } => {
                wit::DialOutcome::Answered(wit::Answered { employee, talk_seconds })
            }
            call::DialOutcome::NoAnswer => wit::DialOutcome::NoAnswer,
            call::DialOutcome::Busy => wit::DialOutcome::Busy,
            call::DialOutcome::Unavailable => wit::DialOutcome::Unavailable,
            call::DialOutcome::Failed(m) => wit::DialOutcome::Failed(m),
        }
    }
}
