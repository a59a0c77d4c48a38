//! The callback scheduler: due callback requests (`/callbacks`, e.g. left with a voicemail) and
//! contacts' follow-up dates become calls the exchange makes itself — the employee's phones ring
//! first, then the contact's number (`call/originate.rs`). Each is claimed in the store before
//! it rings, so several nodes on one database never call the same request twice. The result goes
//! on the contact card, and the call into the call records (so the ICM knows who talked last).
//!
//! Calls run side by side, but an employee gets one callback at a time: his other due requests
//! wait for a later round. Requests without an employee are left to people
//! (`GET /callbacks?due=true`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::call::originate::{self, CallbackCall, CallbackOrder, CallbackOutcome};
use crate::call::record::unix_ms;
use crate::call::{CallRecord, CallResult, DialOutcome, MediaEnv, Target, Trace};
use crate::offices::Offices;
use crate::store::{CallbackResult, DueCall, NewLogEntry, Store, Tenant};
use crate::tenant::CompanyId;

/// A request not reached is tried again this much later, up to `MAX_ATTEMPTS` times.
const RETRY_AFTER: Duration = Duration::from_secs(10 * 60);
const MAX_ATTEMPTS: i64 = 3;
/// A follow-up not reached stays due, this much later — doubled after each attempt — and is
/// given up after `MAX_FOLLOW_UP_ATTEMPTS` (a repeating one waits for its next date then).
const FOLLOW_UP_RETRY: Duration = Duration::from_secs(60 * 60);
const MAX_FOLLOW_UP_ATTEMPTS: i64 = 5;

/// How long after attempt number `attempts` (0: the first) a follow-up is tried again: 1 h,
/// 2 h, 4 h, 8 h.
fn follow_up_retry(attempts: i64) -> Duration {
    FOLLOW_UP_RETRY * 2u32.pow(attempts.clamp(0, 8) as u32)
}
/// A claim older than this whose request is still being called belonged to a node that died.
const STALE_CLAIM: Duration = Duration::from_secs(15 * 60);
/// When to look again at a call put off because the employee is on a call, in do-not-disturb,
/// or the business hours never open.
const EMPLOYEE_BUSY: Duration = Duration::from_secs(2 * 60);
const EMPLOYEE_AWAY: Duration = Duration::from_secs(15 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Due requests taken per round.
const BATCH: i64 = 20;

pub struct CallbackScheduler {
    pub store: Store,
    /// Each company's call environment (the callback is its call).
    pub offices: Arc<Offices>,
    pub media: Arc<MediaEnv>,
    /// How often to look for due requests.
    pub every: Duration,
    /// Employees this node is calling back right now (each gets one callback at a time; the
    /// others wait for a later round).
    pub calling: Mutex<HashSet<(CompanyId, String)>>,
    /// Rings when a request became due now (a queue handed a kept place to its agent).
    pub due_now: Arc<tokio::sync::Notify>,
}

/// An employee is being called back while this lives.
struct Calling {
    scheduler: Arc<CallbackScheduler>,
    employee: (CompanyId, String),
}

impl Drop for Calling {
    fn drop(&mut self) {
        self.scheduler.calling.lock().remove(&self.employee);
    }
}

impl CallbackScheduler {
    /// Looks for due requests every `every` and calls each back in a task of its own.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let scheduler = Arc::new(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(scheduler.every) => {}
                    _ = scheduler.due_now.notified() => {}
                }
                scheduler.run_due().await;
            }
        })
    }

    /// Marks the call's employee as being called back; none when he already is.
    fn start_calling(self: &Arc<Self>, call: &DueCall) -> Option<Calling> {
        let employee = (call.company, call.employee.clone());
        let fresh = self.calling.lock().insert(employee.clone());
        fresh.then(|| Calling {
            scheduler: self.clone(),
            employee,
        })
    }

    /// The store as the call's company sees it.
    fn tenant(&self, call: &DueCall) -> Tenant {
        self.store.company(call.company)
    }

    async fn run_due(self: &Arc<Self>) {
        let now = unix_ms();
        let stale = now - STALE_CLAIM.as_millis() as i64;
        match self.store.due_callbacks(now, stale, BATCH).await {
            Ok(due) => {
                for call in due {
                    if let Some((at, why)) = self.not_now(&call, now).await {
                        tracing::info!(id = call.id, employee = %call.employee, at, why, "callback put off");
                        if let Err(e) = self.tenant(&call).defer_callback(call.id, at).await {
                            tracing::warn!(error = %e, id = call.id, "cannot put a callback off");
                        }
                        continue;
                    }
                    let Some(calling) = self.start_calling(&call) else {
                        continue;
                    };
                    match self.tenant(&call).claim_callback(call.id, unix_ms(), stale).await {
                        Ok(true) => {
                            let scheduler = self.clone();
                            tokio::spawn(async move {
                                scheduler.callback(call).await;
                                drop(calling);
                            });
                        }
                        Ok(false) => {} // another node took it
                        Err(e) => tracing::warn!(error = %e, id = call.id, "cannot claim a callback"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read due callbacks"),
        }
        match self.store.due_follow_ups(now, BATCH).await {
            Ok(due) => {
                for call in due {
                    if let Some((at, why)) = self.not_now(&call, now).await {
                        tracing::info!(contact = call.contact_id, employee = %call.employee, at, why, "follow-up put off");
                        if let Err(e) = self.tenant(&call).defer_follow_up(&call, at).await {
                            tracing::warn!(error = %e, contact = call.contact_id, "cannot put a follow-up off");
                        }
                        continue;
                    }
                    let Some(calling) = self.start_calling(&call) else {
                        continue;
                    };
                    let retry_at = unix_ms() + follow_up_retry(call.attempts).as_millis() as i64;
                    match self.tenant(&call).claim_follow_up(&call, retry_at).await {
                        Ok(true) => {
                            let scheduler = self.clone();
                            tokio::spawn(async move {
                                scheduler.follow_up(call).await;
                                drop(calling);
                            });
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, contact = call.contact_id, "cannot claim a follow-up"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read due follow-ups"),
        }
    }

    /// Why `call` is not to be placed now, and when to look again: outside the company's
    /// business hours (until they open), the employee in do-not-disturb or on a call (a while).
    /// The store's trouble is no reason to hold a call back.
    async fn not_now(&self, call: &DueCall, now: i64) -> Option<(i64, &'static str)> {
        let tenant = self.tenant(call);
        if let Ok((timezone, hours)) = tenant.business_hours().await
            && !hours.is_empty()
            && let Ok(Some(stored)) = tenant.schedules(Some(&hours)).await.map(|mut s| s.pop())
            && let Ok(schedule) = serde_json::from_str::<crate::schedule::Schedule>(&stored.definition)
        {
            let zone = jiff::tz::TimeZone::get(&timezone).unwrap_or(jiff::tz::TimeZone::UTC);
            let from = jiff::Timestamp::from_millisecond(now).unwrap_or_else(|_| jiff::Timestamp::now());
            match schedule.next_open(from, &zone) {
                Some(open) if open > from => return Some((open.as_millisecond(), "outside business hours")),
                Some(_) => {}
                // Never open in the weeks ahead: look again tomorrow.
                None => return Some((now + DAY.as_millis() as i64, "business hours never open")),
            }
        }
        if let Ok(Some(employee)) = tenant.employee(&call.employee, false).await
            && employee.dnd
        {
            return Some((
                now + EMPLOYEE_AWAY.as_millis() as i64,
                "the employee is in do-not-disturb",
            ));
        }
        if let Ok(office) = self.offices.of(call.company).await
            && office.dial.presence.state(&call.employee) == crate::sip::LineState::Busy
        {
            return Some((now + EMPLOYEE_BUSY.as_millis() as i64, "the employee is on a call"));
        }
        None
    }

    /// Calls a callback request back; done when the two talked, else tried again later (or
    /// given up after `MAX_ATTEMPTS`).
    async fn callback(&self, call: DueCall) {
        let (made, call_id) = self.place(&call, &format!("callback {}", call.id)).await;
        let at = unix_ms();
        let attempts = call.attempts + 1;
        // Closed (reached, or given up), or put back for another attempt.
        let closing = match &made.outcome {
            CallbackOutcome::Talked { seconds } => Some(("done", format!("talked {seconds} s"), true)),
            missed if attempts >= MAX_ATTEMPTS => {
                let why = why(missed, &call.employee);
                Some(("cancelled", format!("gave up after {attempts} attempts: {why}"), false))
            }
            _ => None,
        };
        let settled = match closing {
            Some((status, result, reached)) => {
                let closing = CallbackResult {
                    status,
                    result: &result,
                    reached,
                    employee: Some(&call.employee),
                    next_follow_up_at: None,
                    at,
                    call_id: Some(&call_id),
                };
                self.tenant(&call).complete_callback(call.id, &closing).await.map(drop)
            }
            None => {
                let result = why(&made.outcome, &call.employee);
                let attempt = entry(at, &result, &call.employee, &call_id);
                let due_at = at + RETRY_AFTER.as_millis() as i64;
                self.tenant(&call).retry_callback(&call, due_at, &attempt).await
            }
        };
        if let Err(e) = settled {
            tracing::error!(error = %e, id = call.id, outcome = ?made.outcome, "could not settle a callback");
        }
    }

    /// Calls a contact whose follow-up date has come; reached, the date is cleared (else it
    /// stays, `FOLLOW_UP_RETRY` later, as claimed).
    async fn follow_up(&self, call: DueCall) {
        let (made, call_id) = self
            .place(&call, &format!("follow-up of contact {}", call.contact_id))
            .await;
        let at = unix_ms();
        let settled = match &made.outcome {
            CallbackOutcome::Talked { seconds } => {
                let result = format!("follow-up: talked {seconds} s");
                let talked = entry(at, &result, &call.employee, &call_id);
                self.tenant(&call)
                    .finish_follow_up(call.contact_id, &talked, true, at)
                    .await
            }
            missed if call.attempts + 1 >= MAX_FOLLOW_UP_ATTEMPTS => {
                let result = format!(
                    "follow-up: {}; given up after {MAX_FOLLOW_UP_ATTEMPTS} attempts",
                    why(missed, &call.employee)
                );
                let gave_up = entry(at, &result, &call.employee, &call_id);
                self.tenant(&call)
                    .finish_follow_up(call.contact_id, &gave_up, false, at)
                    .await
            }
            missed => {
                let result = format!("follow-up: {}", why(missed, &call.employee));
                let attempt = entry(at, &result, &call.employee, &call_id);
                self.tenant(&call).log_contact(call.contact_id, &attempt, false).await
            }
        };
        if let Err(e) = settled {
            tracing::error!(error = %e, contact = call.contact_id, "could not note a follow-up call");
        }
    }

    /// Makes the call and writes its call record; the record's id.
    async fn place(&self, call: &DueCall, what: &str) -> (CallbackCall, String) {
        let id = hex::encode(rand::random::<[u8; 8]>());
        let started_at = unix_ms();
        let mut trace = Trace::default();
        trace.note(format!("{what}: ring {}, then {}", call.employee, call.phone));
        let order = CallbackOrder {
            employee: call.employee.clone(),
            phone: call.phone.clone(),
            announce: vec![announcement(call)],
        };
        trace.note(format!("announce to {}: {}", call.employee, order.announce.join(" + ")));
        tracing::info!(call = %id, employee = %call.employee, phone = %call.phone, "{what}");
        let made = match self.offices.of(call.company).await {
            Ok(office) => originate::call_back(&office.dial, &self.media, &order).await,
            Err(e) => {
                tracing::error!(error = %e, company = %call.company, "the company's call environment is unreadable");
                CallbackCall {
                    outcome: CallbackOutcome::EmployeeUnavailable(DialOutcome::Failed(e.to_string())),
                    legs: Vec::new(),
                    answered_at: None,
                }
            }
        };
        trace.note(format!("{:?}", made.outcome));
        let talked = matches!(made.outcome, CallbackOutcome::Talked { .. });
        // The employee first, then the contact: offered to both, answered when they talked.
        let offered_to = vec![
            Target::Employee(call.employee.clone()).label(),
            Target::External(call.phone.clone()).label(),
        ];
        let result = CallResult::of(talked, false, outcome(&made.outcome), true, false);
        let record = CallRecord {
            id: id.clone(),
            sip_call_id: String::new(),
            // An outbound call: from the employee, to the contact.
            caller: call.employee.clone(),
            dialled: call.phone.clone(),
            flow: None,
            started_at,
            answered_at: made.answered_at,
            answered_by: talked.then(|| call.employee.clone()),
            ended_at: unix_ms(),
            outcome: outcome(&made.outcome).into(),
            trace: trace.into_entries(),
            legs: made.legs.clone(),
            result,
            ended_in: result.ended_in(&offered_to),
            offered_to,
            wait_ms: made.answered_at.unwrap_or_else(unix_ms) - started_at,
        };
        // The card is settled by the caller of `place`, with the request's result.
        crate::exchange::store_record(&self.tenant(call), record, false).await;
        (made, id)
    }
}

/// What the employee hears before the contact rings: whom he calls back and why.
fn announcement(call: &DueCall) -> String {
    let spelled = crate::call::number::spoken(&call.phone);
    let whom = match call.name.trim() {
        "" => spelled,
        name => format!("{name}, {spelled}"),
    };
    let mut text = match call.follow_up_at {
        Some(_) => format!("Follow-up call to {whom}."),
        None => format!("Callback to {whom}."),
    };
    if !call.reason.trim().is_empty() {
        text.push_str(&format!(" {}.", call.reason.trim().trim_end_matches('.')));
    }
    // Spoken text must stay a prompt, not an audiobook.
    let text: String = text.chars().take(300).collect();
    format!("tts:{text}")
}

fn entry<'a>(at: i64, result: &'a str, employee: &'a str, call_id: &'a str) -> NewLogEntry<'a> {
    NewLogEntry {
        at,
        action: "callback",
        result,
        employee: Some(employee),
        call_id: Some(call_id),
    }
}

/// The call record's outcome of a callback call.
fn outcome(made: &CallbackOutcome) -> &'static str {
    match made {
        CallbackOutcome::Talked { .. } => "completed",
        CallbackOutcome::EmployeeUnavailable(_) => "employee-unavailable",
        CallbackOutcome::ContactUnreached(DialOutcome::Busy) => "busy",
        CallbackOutcome::ContactUnreached(DialOutcome::NoAnswer) => "no-answer",
        CallbackOutcome::ContactUnreached(_) => "unavailable",
    }
}

/// Why a callback did not reach the contact, for the card.
fn why(missed: &CallbackOutcome, employee: &str) -> String {
    let reason = |o: &DialOutcome| match o {
        DialOutcome::Busy => "was busy".to_string(),
        DialOutcome::NoAnswer => "did not answer".to_string(),
        DialOutcome::Unavailable => "could not be reached".to_string(),
        DialOutcome::Failed(why) => format!("could not be reached ({why})"),
        DialOutcome::Answered { .. } => "answered".to_string(),
    };
    match missed {
        CallbackOutcome::EmployeeUnavailable(o) => format!("{employee} {}", reason(o)),
        CallbackOutcome::ContactUnreached(o) => format!("the contact {}", reason(o)),
        CallbackOutcome::Talked { seconds } => format!("talked {seconds} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(name: &str, reason: &str, follow_up_at: Option<i64>) -> DueCall {
        DueCall {
            company: CompanyId::HOME,
            id: 1,
            contact_id: 2,
            phone: "+15550100999".into(),
            name: name.into(),
            reason: reason.into(),
            employee: "alice".into(),
            attempts: 0,
            follow_up_at,
        }
    }

    #[test]
    fn follow_ups_back_off() {
        let hours = |n: u64| Duration::from_secs(n * 3600);
        let waits: Vec<Duration> = (0..4).map(follow_up_retry).collect();
        assert_eq!(waits, [hours(1), hours(2), hours(4), hours(8)]);
        assert_eq!(follow_up_retry(99), hours(256), "bounded");
    }

    #[test]
    fn the_employee_hears_whom_he_calls_and_why() {
        assert_eq!(
            announcement(&due("", "wants a quote.", None)),
            "tts:Callback to 1 5 5 5 0 1 0 0 9 9 9. wants a quote."
        );
        assert_eq!(
            announcement(&due("ACME", "", Some(5))),
            "tts:Follow-up call to ACME, 1 5 5 5 0 1 0 0 9 9 9."
        );
        let long = announcement(&due("", &"x".repeat(2000), None));
        assert_eq!(long.chars().count(), "tts:".len() + 300);
        assert!(crate::media::library::is_spoken(&long));
    }

    #[test]
    fn outcomes_and_reasons_read_well() {
        assert_eq!(outcome(&CallbackOutcome::Talked { seconds: 3 }), "completed");
        let busy = CallbackOutcome::EmployeeUnavailable(DialOutcome::Busy);
        assert_eq!(
            (outcome(&busy), why(&busy, "alice").as_str()),
            ("employee-unavailable", "alice was busy")
        );
        let away = CallbackOutcome::ContactUnreached(DialOutcome::NoAnswer);
        assert_eq!(
            (outcome(&away), why(&away, "alice").as_str()),
            ("no-answer", "the contact did not answer")
        );
    }
}
