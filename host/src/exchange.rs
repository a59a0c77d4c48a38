//! The exchange: where an inbound INVITE meets its number's flow. Wires `sip/` to `call/` and
//! `flow/`, runs the fallback when a flow fails, and writes the call record.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::admin::codes::{self, Code};
use crate::call::record::unix_ms;
use crate::call::supervision::Mode;
use crate::call::{
    CallControl, CallError, CallFacts, CallRecord, CallRecording, CallResult, CallbackRequest, DialEnv, DialOptions,
    DialOutcome, FeatureRequests, InboundCall, MediaEnv, Target, TimedLeg, Trace, millis, number,
};
use crate::cluster::Cluster;
use crate::companies::Companies;
use crate::flow::health::{OPEN_FOR, TRIP_FAILURES, WINDOW};
use crate::flow::{FlowExit, FlowRegistry};
use crate::live::{LiveCall, LiveCalls};
use crate::mail::{self, Mail, Mailer};
use crate::media::library::BEEP;
use crate::offices::Offices;
use crate::sip::{Answer, InboundLeg, InviteHandler, Mailboxes};
use crate::store::{Blocking, RecordingInfo, Store, Tenant};
use crate::tenant::CompanyId;

/// Played when a flow fails, before the call is ended cleanly.
pub const APOLOGY_PROMPT: &str = "technical-difficulties";

pub struct Exchange {
    pub registry: Arc<FlowRegistry>,
    pub live: Arc<LiveCalls>,
    /// Other nodes sharing the database (none on SQLite).
    pub cluster: Option<Arc<Cluster>>,
    pub store: Store,
    pub media: Arc<MediaEnv>,
    /// Each company's directory, lamps, rules for calls out, and calls in progress.
    pub offices: Arc<Offices>,
    pub companies: Arc<Companies>,
    /// Voicemail goes to the mailbox owner's e-mail too.
    pub mail: Mailer,
}

/// How long a carrier is asked to wait before trying a company at its plan's limit again.
const RETRY_AFTER_SECS: u32 = 30;

impl Exchange {
    /// Whose call this is: the dialled number's company, else the calling employee's.
    fn company_of(&self, dialled: &str, employee_company: Option<CompanyId>) -> Option<CompanyId> {
        match self.registry.route(dialled) {
            Some(route) => Some(route.assignment.company),
            None => employee_company,
        }
    }

    /// The company's calls in progress on the other nodes (none on one node).
    fn calls_elsewhere(&self, company: CompanyId) -> i64 {
        self.cluster.as_ref().map_or(0, |c| c.calls_elsewhere(company))
    }
}

impl InviteHandler for Exchange {
    /// A suspended company takes no calls (403 to its own phones, 480 to carriers, with a
    /// Reason); one at its plan's limit of calls at once takes no new one (403 to its phones,
    /// 503 with Retry-After to carriers); calls in progress are untouched.
    fn refusal(&self, dialled: &str, employee_company: Option<CompanyId>) -> Option<Answer> {
        use rsipstack::sip::{Header, StatusCode};
        let company = self.company_of(dialled, employee_company)?;
        let employee = employee_company.is_some();
        if let Some(reason) = self.companies.suspended(company) {
            let status = if employee {
                StatusCode::Forbidden
            } else {
                StatusCode::TemporarilyUnavailable
            };
            return Some((status, vec![crate::sip::suspended_reason(&reason)]));
        }
        let limit = self.companies.get(company)?.plan.max_calls?;
        if self.offices.calls_now(company) + self.calls_elsewhere(company) < limit {
            return None;
        }
        metrics::counter!("switchboard_calls_over_plan_total", "company" => company.to_string()).increment(1);
        let why = crate::sip::warning(&format!("the company's plan allows {limit} calls at once"));
        Some(match employee {
            true => (StatusCode::Forbidden, vec![why]),
            false => (
                StatusCode::ServiceUnavailable,
                vec![why, Header::RetryAfter(RETRY_AFTER_SECS.to_string().into())],
            ),
        })
    }

    fn on_invite(&self, leg: InboundLeg) {
        let registry = self.registry.clone();
        let store = self.store.clone();
        let media = self.media.clone();
        let offices = self.offices.clone();
        let companies = self.companies.clone();
        let mail = self.mail.clone();
        let id = hex::encode(rand::random::<[u8; 8]>());
        let (asks, requests) = tokio::sync::mpsc::unbounded_channel();
        let company = self.company_of(&leg.dialled, leg.company).unwrap_or(CompanyId::HOME);
        let call = LiveCall {
            id: id.clone(),
            company,
            node: None,
            caller: leg.caller.clone(),
            dialled: leg.dialled.clone(),
            started_at: unix_ms(),
            stop: leg.stopper(),
            requests: Some(asks),
        };
        let mirrored = self.cluster.as_ref().map(|cluster| cluster.mirror(&call));
        let elsewhere = self.calls_elsewhere(company);
        let live = self.live.enter(call);
        let span = tracing::info_span!("call", call = %id);
        let call = async move {
            let office = match offices.of(company).await {
                Ok(office) => office,
                Err(e) => {
                    tracing::error!(error = %e, %company, "the company's call environment is unreadable");
                    leg.reject(500, "Server Internal Error");
                    return;
                }
            };
            let limit = companies.get(company).and_then(|c| c.plan.max_calls);
            let Some(_slot) = office.admit_call(limit.map(|l| l - elsewhere)) else {
                // Between the check before the dialog and here another call took the last slot.
                leg.reject_because(503, "the company's plan allows no more calls at once");
                return;
            };
            let store = store.company(company);
            let rules = companies.get(company).map(|c| CompanyRules::of(&c)).unwrap_or_default();
            let parts = (&registry, &store, &mail, &rules);
            handle_call(parts, media, office.dial.clone(), leg, id, requests).await;
            drop((live, mirrored));
        };
        tokio::spawn(call.instrument(span));
    }
}

/// What a company set that each of its calls needs.
#[derive(Default)]
struct CompanyRules {
    /// The callers it blocks.
    blocking: Blocking,
    /// Its ICM configuration (`icm.rs`).
    icm: String,
    /// Its missed-call hook.
    missed_call_hook: Option<crate::missed_hook::Hook>,
}

impl CompanyRules {
    fn of(company: &crate::store::CompanyInfo) -> Self {
        CompanyRules {
            blocking: company.blocking.clone(),
            icm: company.icm_settings.clone(),
            missed_call_hook: crate::missed_hook::Hook::parse(&company.missed_call_hook),
        }
    }
}

/// The parts of the exchange a call needs: its flows, the company's store, mail, and what the
/// company set.
type CallParts<'a> = (&'a Arc<FlowRegistry>, &'a Tenant, &'a Mailer, &'a CompanyRules);

async fn handle_call(
    (registry, store, mail, rules): CallParts<'_>,
    media: Arc<MediaEnv>,
    dial: Arc<DialEnv>,
    leg: InboundLeg,
    id: String,
    requests: FeatureRequests,
) {
    let arrival = Arrival {
        id: id.clone(),
        sip_call_id: leg.call_id.clone(),
        caller: leg.caller.clone(),
        dialled: leg.dialled.clone(),
        started_at: unix_ms(),
    };
    tracing::info!(caller = %arrival.caller, dialled = %arrival.dialled, source = %leg.source, "INVITE");
    // Cancelled when an admin hangs the call up (`DELETE /calls/live/{id}`).
    let stopped = leg.stopper();
    let mut trace = Trace::default();

    let route = registry.route(&arrival.dialled);
    if let (None, Some(employee)) = (&route, leg.employee.clone()) {
        // The caller's own lamp shows busy while they are on the phone.
        let _line = dial.presence.talking(&employee);
        let lamps = dial.mailboxes.clone();
        let mut call = InboundCall::new(id, leg, media, dial);
        call.take_requests(requests);
        return employee_call(store, call, employee, arrival, stopped, &lamps).await;
    }
    let Some(route) = route else {
        leg.reject(404, "Not Found");
        tracing::info!(dialled = %arrival.dialled, "unknown number: 404");
        trace.note("unknown number → 404 Not Found");
        store_record(
            store,
            arrival.record(None, CallFacts::default(), "not-found", trace),
            true,
        )
        .await;
        return;
    };

    let (blocking, icm) = (&rules.blocking, rules.icm.as_str());
    if blocking.blocks(&arrival.caller) {
        trace.note(format!("caller {:?} is blocked by the company", arrival.caller));
        let mut call = InboundCall::new(id, leg, media, dial);
        if blocking.prompt.is_empty() {
            call.reject_now(603, "Decline");
        } else if let Err(e) = call.play(&blocking.prompt).await {
            trace.note(format!("blocked: {} not played ({e})", blocking.prompt));
        }
        call.hangup().await;
        store_record(store, arrival.record(None, call.facts(), "blocked", trace), true).await;
        return;
    }
    // The number's calls out through the carrier show its own caller ID, when it has one.
    let dial = match route.assignment.caller_id.as_str() {
        "" => dial,
        shown => Arc::new(DialEnv {
            directory: Arc::new(crate::location::ShownAs {
                inner: dial.directory.clone(),
                caller_id: shown.to_owned(),
            }),
            ..(*dial).clone()
        }),
    };
    // The exchange has taken the call: tell the caller while the flow decides what to do.
    leg.ringing();
    trace.note(format!("flow {} starts", &route.version.sha256[..12]));
    let mut call = InboundCall::new(id.clone(), leg, media, dial.clone());
    call.take_requests(requests);
    if route.assignment.record_calls {
        call.record_whole_call();
    }
    // Checked when the number was assigned; a zone that vanished from the database is UTC.
    call.set_timezone(jiff::tz::TimeZone::get(&route.assignment.timezone).unwrap_or(jiff::tz::TimeZone::UTC));
    // The ICM runs with the company's configuration under the number's settings, and may reach
    // the CRMs that configuration names.
    let is_icm = registry
        .builtin(crate::icm::FLOW)
        .is_some_and(|v| v.sha256 == route.version.sha256);
    let mut allowed_hosts = route.assignment.allowed_hosts.clone();
    let settings = match is_icm {
        true => {
            allowed_hosts.extend(crate::icm::crm_hosts(icm));
            crate::icm::merged(icm, &route.assignment.settings)
        }
        false => route.assignment.settings.clone(),
    };
    call.allow_hosts(allowed_hosts);
    let assignment = &route.assignment;
    let shown = crate::known_caller::display(
        store,
        &arrival.caller,
        &assignment.display_prefix,
        assignment.show_caller_status,
    );
    call.show_caller_as(shown.await);
    let mut call: Box<dyn CallControl> = Box::new(call);
    let exit = if registry.health.is_open(&route.assignment, Instant::now()) {
        // The flow kept failing: its callers go straight to the fallback route for a while.
        trace.note(format!(
            "flow bypassed: it failed {TRIP_FAILURES} times within {} s",
            WINDOW.as_secs()
        ));
        fallback(call.as_mut(), &route.assignment.fallback, &mut trace).await;
        None
    } else {
        let run = registry.engine().run(&route.version, call, &settings, trace).await;
        (call, trace) = (run.call, run.trace);
        if let FlowExit::Trapped(_) = &run.exit
            && registry.health.failed(&route.assignment, Instant::now())
        {
            tracing::warn!(
                number = %route.assignment.number,
                "flow failed {TRIP_FAILURES} times within {} s: its calls go to the fallback route for {} s",
                WINDOW.as_secs(),
                OPEN_FOR.as_secs()
            );
        }
        if let FlowExit::Failed(reason) | FlowExit::Trapped(reason) = &run.exit {
            tracing::warn!(%reason, "flow failed: running the fallback");
            trace.note(format!("flow failed: {reason}"));
            fallback(call.as_mut(), &route.assignment.fallback, &mut trace).await;
        }
        Some(run.exit)
    };
    // Ends the call unless the flow or the caller already did.
    call.hangup().await;
    let mut facts = call.facts();
    let recordings = call.take_recordings();
    let flow = Some(route.version.sha256.clone());
    let outcome = match stopped.is_cancelled() {
        true => HUNG_UP_BY_ADMIN,
        false => outcome(exit.as_ref(), facts.caller_gone),
    };
    let callbacks = std::mem::take(&mut facts.callbacks);
    let mailbox = facts
        .mailbox
        .clone()
        .or_else(|| Some(route.assignment.mailbox.clone()).filter(|m| !m.is_empty()));
    let voicemail = recordings
        .iter()
        .rev()
        .find(|r| r.kind == "voicemail")
        .map(|r| r.id.clone());
    let record = arrival.record_with(flow, facts, outcome, trace, voicemail.is_some());
    tracing::info!(outcome = %record.outcome, result = record.result.as_str(), "call ended");
    // Recordings first, then what refers to them: once the call record is there, everything of
    // the call is.
    save_recordings(store, mail, &dial.mailboxes, &record, recordings, mailbox.as_deref()).await;
    if route.assignment.missed_call_mail && voicemail.is_none() && record.legs.iter().all(|l| l.answered_at.is_none()) {
        mail_missed_call(store, mail, &record, &route.assignment.mailbox).await;
    }
    // Filed for the call's mailbox owner, with the call's last voicemail.
    let request = CallbackRequest {
        phone: &record.caller,
        reason: "",
        employee: mailbox.as_deref(),
        recording: voicemail.as_deref(),
    };
    dial.callbacks.file_each(&callbacks, request).await;
    store_record(store, record.clone(), true).await;
    if record.result == CallResult::Missed
        && let Some(hook) = rules.missed_call_hook.clone()
    {
        let (registry, dial) = (registry.clone(), dial.clone());
        tokio::spawn(async move { crate::missed_hook::run(&registry, dial, hook, &record).await });
    }
}

/// The number an employee's call outside shows: his own `caller_id`, else the company's main
/// number; none: the trunk's `--outbound-caller-id`.
async fn shown_outside(store: &Tenant, employee: &str) -> Option<String> {
    let own = store
        .employee(employee, false)
        .await
        .ok()
        .flatten()
        .map(|e| e.fields.caller_id);
    let main = || async { store.company_profile().await.ok().map(|(_, main)| main) };
    match own.filter(|id| !id.is_empty()) {
        Some(own) => Some(own),
        None => main().await.filter(|id| !id.is_empty()),
    }
}

/// How long an employee's own call rings when the directory cannot say.
const EMPLOYEE_CALL_TIMEOUT_MS: u32 = 60_000;

/// An employee dialled a colleague's extension or an outside number: ring it directly, no flow.
/// (The company's numbers, dialled from a desk phone, run their flows like any call.)
/// Admin `employee` supervises the call of the employee at `extension`, from his own phone.
async fn supervise(
    store: &Tenant,
    call: &mut InboundCall,
    employee: &str,
    (mode, extension): (Mode, &str),
) -> Result<(), String> {
    let store_failed = |e: crate::store::Error| format!("the store failed: {e}");
    let supervisor = store.employee(employee, false).await.map_err(store_failed)?;
    if supervisor.is_none_or(|s| s.fields.role != "admin") {
        return Err("only an admin may supervise calls".into());
    }
    let Some(supervised) = store.employee(extension, true).await.map_err(store_failed)? else {
        return Err(format!("no employee has extension {extension}"));
    };
    call.supervise(&supervised.login, employee, mode).await
}

async fn employee_call(
    store: &Tenant,
    mut call: InboundCall,
    employee: String,
    arrival: Arrival,
    stopped: tokio_util::sync::CancellationToken,
    lamps: &Arc<Mailboxes>,
) {
    let mut trace = Trace::default();
    let dialled = arrival.dialled.clone();
    if dialled == codes::VOICEMAIL {
        let heard = crate::mailbox::hear_new_messages(store, &mut call, &employee, lamps, &mut trace).await;
        if let Err(e) = heard {
            trace.note(format!("voicemail by phone: {e}"));
        }
        call.hangup().await;
        store_record(store, arrival.record(None, call.facts(), "feature-code", trace), true).await;
        return;
    }
    if let Some((mode, extension)) = Mode::parse_code(&dialled) {
        let outcome = supervise(store, &mut call, &employee, (mode, extension)).await;
        let result = match outcome {
            Ok(()) => "feature-code",
            Err(why) => {
                trace.note(format!("{employee} dialled {dialled}: {why}"));
                call.reject_now(403, "Forbidden");
                "refused"
            }
        };
        if result == "feature-code" {
            trace.note(format!(
                "{employee} supervised extension {extension} ({})",
                mode.as_str()
            ));
        }
        call.hangup().await;
        store_record(store, arrival.record(None, call.facts(), result, trace), true).await;
        return;
    }
    if let Some(code) = Code::parse(&dialled) {
        // A feature code: done at once, confirmed with a beep (refused: 403).
        let outcome = match code.apply(store, &employee).await {
            Ok(done) => {
                trace.note(format!("{employee} dialled {dialled}: {done}"));
                if call.answer().await.is_ok() {
                    let _ = call.play(BEEP).await;
                }
                "feature-code"
            }
            Err(why) => {
                trace.note(format!("{employee} dialled {dialled}: {why}"));
                call.reject_now(403, "Forbidden");
                "refused"
            }
        };
        call.hangup().await;
        store_record(store, arrival.record(None, call.facts(), outcome, trace), true).await;
        return;
    }
    let (target, caller_id) = match store.extension_owner(&dialled).await {
        Ok(Some(_)) => {
            // Colleagues see the caller's extension, which they can call back.
            let own = store.employee(&employee, false).await.ok().flatten();
            (Target::Extension(dialled.clone()), own.map(|e| e.fields.extension))
        }
        Ok(None) if number::is_outside_number(&dialled) => (
            Target::External(number::canonical(&dialled)),
            shown_outside(store, &employee).await,
        ),
        Ok(None) => {
            trace.note(format!("{employee} dialled {dialled}: no such extension or number"));
            call.reject_now(404, "Not Found");
            store_record(
                store,
                arrival.record(None, CallFacts::default(), "not-found", trace),
                true,
            )
            .await;
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "directory lookup failed");
            call.reject_now(500, "Server Internal Error");
            return;
        }
    };
    trace.note(format!("{employee} dials {target:?}"));
    if let Some(extension) = &caller_id {
        call.vouch_for_caller_id(extension.clone());
    }
    // A colleague's extension rings for its own ring time (a department's `timeout_secs`).
    let ring_time = call.ring_time(&target).await.ok();
    let timeout_ms = ring_time.map_or(EMPLOYEE_CALL_TIMEOUT_MS, millis);
    let leg = TimedLeg {
        target,
        start_after_ms: 0,
        stop_after_ms: None,
    };
    let opts = DialOptions {
        timeout_ms,
        caller_id,
        ringback: None,
    };
    let outcome = match call.dial(&[leg], &opts).await {
        Ok(DialOutcome::Answered { .. }) => "completed",
        Ok(DialOutcome::Busy) => "busy",
        Ok(DialOutcome::NoAnswer) => "no-answer",
        Ok(DialOutcome::Failed(why)) if why.starts_with("refused") => "refused",
        Ok(DialOutcome::Unavailable | DialOutcome::Failed(_)) => "unavailable",
        Err(CallError::Hangup) if stopped.is_cancelled() => HUNG_UP_BY_ADMIN,
        Err(CallError::Hangup) => "caller-hangup",
        Err(_) => "error",
    };
    trace.note(format!("dial → {outcome}"));
    if outcome == "refused"
        && let Err(e) = call.explain_refusal(CALL_NOT_ALLOWED).await
    {
        trace.note(format!("{CALL_NOT_ALLOWED} not played ({e})"));
    }
    call.hangup().await;
    let mut facts = call.facts();
    if facts.answered_at.is_some() && facts.answered_by.is_none() {
        // A call out that connected: the employee who made it talked to the number (the ICM
        // finds him by it).
        facts.answered_by = Some(employee);
    }
    let record = arrival.record(None, facts, outcome, trace);
    tracing::info!(outcome = %record.outcome, "call ended");
    store_record(store, record, true).await;
}

/// What is known of a call when it arrives; completed into its record when it ends.
struct Arrival {
    id: String,
    sip_call_id: String,
    caller: String,
    dialled: String,
    started_at: i64,
}

impl Arrival {
    /// The call's record; `voicemail_left`: the caller left a message.
    fn record(self, flow: Option<String>, facts: CallFacts, outcome: &str, trace: Trace) -> CallRecord {
        self.record_with(flow, facts, outcome, trace, false)
    }

    fn record_with(
        self,
        flow: Option<String>,
        facts: CallFacts,
        outcome: &str,
        trace: Trace,
        voicemail_left: bool,
    ) -> CallRecord {
        let ended_at = unix_ms();
        let offered = !facts.offered.is_empty() || !facts.legs.is_empty();
        // Answered by someone the call was offered to (the flow answering the caller itself,
        // for its menu, is not it).
        let talked_at = facts.legs.iter().filter_map(|l| l.answered_at).min();
        let answered = talked_at.is_some() || facts.answered_by.is_some();
        let result = CallResult::of(answered, voicemail_left, outcome, offered, facts.abandoned_in.is_some());
        CallRecord {
            id: self.id,
            sip_call_id: self.sip_call_id,
            caller: self.caller,
            dialled: self.dialled,
            flow,
            started_at: self.started_at,
            answered_at: facts.answered_at,
            answered_by: facts.answered_by,
            legs: facts.legs,
            ended_at,
            outcome: outcome.into(),
            trace: trace.into_entries(),
            result,
            ended_in: result.ended_in(&facts.offered),
            offered_to: facts.offered,
            wait_ms: talked_at.unwrap_or(ended_at) - self.started_at,
        }
    }
}

/// The outcome of a call an admin hung up.
const HUNG_UP_BY_ADMIN: &str = "hung-up-by-admin";

/// A failure of the flow is what the record must show first; then who ended the call. No exit:
/// the flow was bypassed (health.rs).
fn outcome(exit: Option<&FlowExit>, caller_gone: bool) -> &'static str {
    match exit {
        None => "flow-bypassed",
        Some(FlowExit::Trapped(_)) => "flow-trapped",
        Some(FlowExit::Failed(_)) => "flow-error",
        Some(FlowExit::Completed) if caller_gone => "caller-hangup",
        Some(FlowExit::Completed) => "completed",
    }
}

/// The prompt that ends a fallback nobody answered: a callback request is filed.
const CALLBACK_PROMISE: &str = "callback-promise";
/// Said (as early media) to an employee whose call out is refused, before the 403.
const CALL_NOT_ALLOWED: &str = "call-not-allowed";

/// The caller of a failed (or bypassed) flow is never dropped: an apology, then the number's
/// fallback route (`fallback`, a target as JSON; empty: the sales department), ringing for the
/// target's own ring time. Who answers talks to the caller; when nobody does, a callback
/// request is filed and the caller hears that we will call back.
async fn fallback(call: &mut dyn CallControl, fallback: &str, trace: &mut Trace) {
    match call.play(APOLOGY_PROMPT).await {
        Ok(()) => trace.note(format!("fallback: played {APOLOGY_PROMPT}")),
        Err(CallError::Hangup) => return trace.note("fallback: the caller left"),
        Err(e) => trace.note(format!("fallback: could not play the apology ({e})")),
    }
    let target = match fallback {
        "" => Target::Department("sales".into()),
        route => match serde_json::from_str::<Target>(route) {
            Ok(target) => target,
            Err(e) => return trace.note(format!("fallback: unreadable route {route:?} ({e})")),
        },
    };
    let ring_time = match call.ring_time(&target).await {
        Ok(ring_time) => ring_time,
        Err(e) => return trace.note(format!("fallback: {target:?}: {e}")),
    };
    let leg = TimedLeg {
        target: target.clone(),
        start_after_ms: 0,
        stop_after_ms: None,
    };
    let opts = DialOptions {
        timeout_ms: millis(ring_time),
        caller_id: None,
        ringback: None,
    };
    match call.dial(&[leg], &opts).await {
        Ok(outcome @ DialOutcome::Answered { .. }) => trace.note(format!("fallback: dial {target:?} → {outcome:?}")),
        Ok(outcome) => {
            trace.note(format!("fallback: dial {target:?} → {outcome:?}: a callback request"));
            if let Err(e) = call.request_callback("fallback").await {
                trace.note(format!("fallback: no callback request ({e})"));
            }
            if let Err(e) = call.play(CALLBACK_PROMISE).await {
                trace.note(format!("fallback: could not play {CALLBACK_PROMISE} ({e})"));
            }
        }
        Err(e) => trace.note(format!("fallback: dial {target:?} → error: {e}")),
    }
}

/// Stores what callers said, each recording linked to its call record.
/// Stores what the call recorded; voicemail goes to `mailbox` (the number's), if it has one.
async fn save_recordings(
    store: &Tenant,
    mail: &Mailer,
    lamps: &Arc<Mailboxes>,
    record: &CallRecord,
    recordings: Vec<CallRecording>,
    mailbox: Option<&str>,
) {
    for made in recordings {
        let mailbox = match made.kind {
            "voicemail" => made.mailbox.or_else(|| mailbox.map(str::to_owned)),
            _ => None,
        };
        let info = RecordingInfo {
            id: made.id,
            call_id: record.id.clone(),
            kind: made.kind.into(),
            caller: record.caller.clone(),
            dialled: record.dialled.clone(),
            duration_ms: made.duration_ms.into(),
            ended_by: made.ended_by,
            created_at: made.made_at,
            mailbox,
            heard: false,
        };
        if let Err(e) = store.insert_recording(&info, &made.wav).await {
            // The audio cannot go to a log line; say loudly what was lost.
            tracing::error!(error = %e, recording = ?info, "could not store a recording");
        }
        if let Some(login) = &info.mailbox {
            lamps.changed(store.id(), login);
            mail_voicemail(store, mail, &info, login, made.wav).await;
        }
    }
}

/// A call nobody answered and that left no voicemail, told to the number's mailbox owner (the
/// number asks for it with `missed_call_mail`).
async fn mail_missed_call(store: &Tenant, mail: &Mailer, record: &CallRecord, login: &str) {
    let Some(email) = email_of(store, mail, login).await else {
        return;
    };
    let when = local_text(record.started_at);
    let seconds = (record.ended_at - record.started_at + 999) / 1000;
    let message = Mail {
        to: email,
        subject: format!("Missed call from {} ({when})", record.caller),
        text: format!(
            "{caller} called {dialled} on {when}; nobody answered and no message was left \
             (the call lasted {seconds} s, outcome {outcome}).\nCall record: GET /calls/{id}\n",
            caller = record.caller,
            dialled = record.dialled,
            outcome = record.outcome,
            id = record.id,
        ),
        attachment: None,
    };
    if let Err(e) = mail.send(store.id(), message).await {
        tracing::warn!(error = %e, "missed-call mail not queued");
    }
}

/// The e-mail address of employee `login`, when mail is on, he has one, and the company's
/// callers have not caused [`mail::CALLER_MAILS_PER_HOUR`] mails within the hour.
async fn email_of(store: &Tenant, mail: &Mailer, login: &str) -> Option<String> {
    if !mail.is_on() || login.is_empty() {
        return None;
    }
    let address = match store.employee(login, false).await {
        Ok(Some(employee)) if !employee.fields.email.is_empty() => employee.fields.email,
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "mail: directory lookup failed");
            return None;
        }
    };
    let hour_ago = unix_ms() - 3_600_000;
    match store.mail_queued_since(hour_ago).await {
        Ok(queued) if queued >= mail::CALLER_MAILS_PER_HOUR => {
            tracing::warn!(queued, company = %store.id(), "mail: the company's callers caused the hour's mails; this one is left out");
            None
        }
        Ok(_) => Some(address),
        Err(e) => {
            tracing::warn!(error = %e, "mail: could not count the hour's mails");
            None
        }
    }
}

/// A Unix-ms time as mail shows it.
fn local_text(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Voicemail goes to its mailbox owner's e-mail too (when he has one and mail is on), with the
/// recording attached.
async fn mail_voicemail(store: &Tenant, mail: &Mailer, info: &RecordingInfo, login: &str, wav: Vec<u8>) {
    let Some(email) = email_of(store, mail, login).await else {
        return;
    };
    let when = local_text(info.created_at);
    let seconds = (info.duration_ms + 999) / 1000;
    let message = Mail {
        to: email,
        subject: format!("Voicemail from {} ({when})", info.caller),
        text: format!(
            "{caller} left you a message of {seconds} s on {when}, calling {dialled}.\n\
             The recording is attached; it is also in your mailbox (GET /recordings/{id}).\n",
            caller = info.caller,
            dialled = info.dialled,
            id = info.id,
        ),
        attachment: Some(mail::File {
            name: format!("voicemail-{}.wav", info.id),
            content_type: mail::wav(),
            data: wav,
        }),
    };
    if let Err(e) = mail.send(store.id(), message).await {
        tracing::warn!(error = %e, "voicemail mail not queued");
    }
}

/// Counts a finished call by how it ended (flow-trapped, completed...) and queues its record,
/// and its lines on the contact cards of its numbers unless `on_cards` says the caller settles
/// the card himself — every call ends here, flow or not, the exchange's own callbacks too.
pub(crate) async fn store_record(store: &Tenant, record: CallRecord, on_cards: bool) {
    let (company, outcome) = (store.id().to_string(), record.outcome.clone());
    metrics::counter!("switchboard_calls_total", "company" => company, "outcome" => outcome).increment(1);
    store.save_call_record(record, on_cards).await;
}
