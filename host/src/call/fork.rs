//! The forking half of `dial`: rings a schedule of timed legs, each resolved to every place its
//! target can be reached, and reports progress until one answers, all fail, or time runs out.
//! The caller's side (ringback, answering, bridging) is the call's business, not the fork's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::record::{LegRecord, unix_ms};
use super::{DialOutcome, Target, TimedLeg};
use crate::media::{BridgeSide, Codec, MediaOffer, PortRange, sdp};
use crate::sip::{ANSWERED_ELSEWHERE, Dialer, LegRequest, LineUse, OutboundEvent, OutboundLeg, Presence, TrunkLogin};

/// One place a target can be rung: a registered phone, or a carrier for an external number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachable {
    /// The Request-URI (the phone's registered Contact).
    pub uri: String,
    /// Where the INVITE goes (the address the phone registered from, so NAT is no obstacle, or
    /// the proxy it registered through).
    pub destination: SocketAddr,
    /// The INVITE's Route: the Path the phone registered through (empty: none).
    pub route: String,
    /// The user part of To.
    pub user: String,
    /// The employee behind it, if any (reported to the flow when they answer).
    pub employee: Option<String>,
    /// The caller ID this place must be shown (a carrier's: the company's number), unless
    /// the flow chose one.
    pub caller_id: Option<String>,
    /// Credentials for the far end's challenge (a carrier's).
    pub login: Option<TrunkLogin>,
    /// The number called, when this place is through the carrier (the toll gate checks it).
    pub toll: Option<String>,
}

/// One step of ringing a target: the places that ring `after` the target starts, for
/// `ring_for` (none: until the dial ends). An employee is one step; a department hunting in
/// turn is a step per member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStep {
    pub after: Duration,
    pub ring_for: Option<Duration>,
    pub places: Vec<Reachable>,
    /// An employee's mobile, rung by his "mobile after N s" rule (a flow may turn these off).
    pub mobile: bool,
}

impl RingStep {
    /// Every place at once, for as long as the dial lasts.
    pub fn now(places: Vec<Reachable>) -> Vec<RingStep> {
        vec![RingStep {
            after: Duration::ZERO,
            ring_for: None,
            places,
            mobile: false,
        }]
    }
}

/// The ICM's extension: dialled (a transfer, a flow's route), it rings whom the company's ICM
/// (`PUT /icm`) rings for the caller — his manager by the history and the CRMs, else its
/// fallback.
pub const ICM_EXTENSION: &str = "6100";

/// The company's business-hours schedules (`PUT /schedules/{id}`).
#[async_trait::async_trait]
pub trait Calendar: Send + Sync {
    /// The schedule `id`; none when there is no such schedule.
    async fn schedule(&self, id: &str) -> anyhow::Result<Option<crate::schedule::Schedule>>;
}

/// Who can be reached for a target, right now, and in what order.
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    /// How `target` rings; no places when it exists but nobody is reachable.
    async fn resolve(&self, target: &Target) -> anyhow::Result<Vec<RingStep>>;
    /// Whether `login` is an employee.
    async fn is_employee(&self, login: &str) -> anyhow::Result<bool>;
    /// The employee `by` names, as flows may see them.
    async fn card(&self, by: super::EmployeeKey<'_>) -> anyhow::Result<Option<super::EmployeeCard>>;
    /// Whether employee `login` has a phone registered.
    async fn has_phones(&self, login: &str) -> anyhow::Result<bool>;
    /// The department with id (or extension) `key`, as flows may see it.
    async fn department(&self, key: &str) -> anyhow::Result<Option<super::DepartmentCard>>;
    /// How long `target` rings by its own settings before it gives up.
    async fn ring_time(&self, target: &Target) -> anyhow::Result<Duration>;
    /// The members of the department with id (or extension) `key` as its queue sees them now;
    /// none when there is no such department.
    async fn staff(&self, key: &str) -> anyhow::Result<Option<super::Staff>>;
    /// How far employee `login` may call out: his own right, else his first department's that
    /// sets one, else anywhere the company's rules allow.
    async fn calling_rights(&self, login: &str) -> anyhow::Result<super::Reach>;
}

/// What ringing and bridging need besides the call itself (one company's: its directory, lamps,
/// rules for calls out and numbers).
#[derive(Clone)]
pub struct DialEnv {
    /// Whose calls these are.
    pub company: crate::tenant::CompanyId,
    pub dialer: Arc<Dialer>,
    /// Busy lamps: employees' phones show ringing while a leg rings them, busy while they talk.
    pub presence: Arc<Presence>,
    /// Message-waiting lamps: told when a mailbox changed.
    pub mailboxes: Arc<crate::sip::Mailboxes>,
    /// Bridged calls, for attended transfers between them.
    pub handovers: Arc<super::Handovers>,
    /// Calls in conversation, for supervisors.
    pub supervision: Arc<super::supervision::Supervision>,
    /// The company's ICM, which extension 6100 asks for a caller's manager.
    pub contacts: Arc<dyn super::ContactManager>,
    pub directory: Arc<dyn Directory>,
    /// Business hours, for flows that ask whether a schedule is open.
    pub calendar: Arc<dyn Calendar>,
    /// Past calls, for flows that ask who last talked to a number.
    pub history: Arc<dyn super::History>,
    /// Outbound HTTP for flows (allow-listed per number).
    pub web: Arc<dyn super::Web>,
    /// A bridged call where neither party sent RTP for this long is dead and gets cleaned up.
    pub rtp_timeout: Duration,
    /// The longest a bridged call may last (then both parties are hung up).
    pub max_call: Duration,
    /// What every call out through the carrier must pass.
    pub toll: Arc<super::toll::TollGate>,
    /// The company's numbers (the caller IDs a flow may present).
    pub numbers: Arc<dyn super::OwnNumbers>,
    /// The company's queues (its departments' waiting callers).
    pub queues: Arc<super::queue::Queues>,
    /// Where callback requests are filed.
    pub callbacks: Arc<dyn super::CallbackDesk>,
}

/// What a flow may look up about the company, as its verbs answer it (for a caller's flow and
/// for extension 6100's ICM alike).
impl DialEnv {
    pub async fn employee(&self, by: super::EmployeeKey<'_>) -> Result<Option<super::EmployeeCard>, super::CallError> {
        let found = self.directory.card(by).await;
        found.map_err(|e| super::CallError::Failed(format!("directory: {e}")))
    }

    /// Whether employee `login` can take a call now (offline: no phone registered).
    pub async fn line_status(&self, login: &str) -> Result<super::LineStatus, super::CallError> {
        let phones = self.directory.has_phones(login).await;
        let phones = phones.map_err(|e| super::CallError::Failed(format!("directory: {e}")))?;
        Ok(super::LineStatus::of(phones, self.presence.state(login)))
    }

    pub async fn department(&self, key: &str) -> Result<Option<super::DepartmentCard>, super::CallError> {
        let found = self.directory.department(key).await;
        found.map_err(|e| super::CallError::Failed(format!("directory: {e}")))
    }

    pub async fn ring_time(&self, target: &Target) -> Result<Duration, super::CallError> {
        let found = self.directory.ring_time(target).await;
        found.map_err(|e| super::CallError::Failed(format!("directory: {e}")))
    }

    /// Whether business-hours schedule `schedule` is open at `now`.
    pub async fn is_open(&self, schedule: &str, now: crate::schedule::LocalTime) -> Result<bool, super::CallError> {
        let found = self.calendar.schedule(schedule).await;
        match found.map_err(|e| super::CallError::Failed(format!("schedule {schedule:?}: {e}")))? {
            Some(hours) => Ok(hours.is_open(now)),
            None => Err(super::CallError::Invalid(format!("there is no schedule {schedule:?}"))),
        }
    }

    /// The employee who last had a connected call with `number` within `days` days.
    pub async fn last_connected(&self, number: &str, days: u32) -> Result<Option<String>, super::CallError> {
        let since = unix_ms() - i64::from(days) * 86_400_000;
        let found = self.history.last_connected(number, since).await;
        found.map_err(|e| super::CallError::Failed(format!("history: {e}")))
    }
}

/// The leg that answered, ready to bridge.
pub struct Winner {
    pub leg: OutboundLeg,
    pub media: BridgeSide,
    pub employee: Option<String>,
    /// The employee's line is busy while this lives.
    pub line: Option<LineUse>,
    /// Reached through the carrier: the call counts against the company's calls out while this
    /// lives.
    pub toll: Option<super::toll::TollPermit>,
}

pub enum ForkEvent {
    /// A leg is ringing (first 180/183 of any leg).
    Ringing,
    /// A leg sent early media (the first 18x with SDP of any leg, e.g. a carrier's ringback
    /// or announcement): our socket towards it and what it negotiated.
    EarlyMedia(BridgeSide),
    Answered(Winner),
    /// Nobody answered: the outcome to give the flow.
    Finished(DialOutcome),
}

/// How `target` rings for this dial's caller: the directory's answer, but the ICM's extension
/// rings whom the company's ICM rings for the caller.
async fn resolve(params: &ForkParams<'_>, target: &Target) -> anyhow::Result<Vec<RingStep>> {
    let is_icm = |t: &Target| matches!(t, Target::Extension(e) if e == ICM_EXTENSION);
    if !is_icm(target) {
        return params.env.directory.resolve(target).await;
    }
    let found = params.env.contacts.manager_of(&params.caller, params.env).await?;
    let Some(manager) = found.filter(|t| !is_icm(t)) else {
        anyhow::bail!("extension {ICM_EXTENSION} (ICM): nobody to ring for {}", params.caller);
    };
    tracing::info!(caller = %params.caller, ?manager, "ICM: the caller's manager");
    params.env.directory.resolve(&manager).await
}

/// A leg that has been started and not finished.
struct Branch {
    leg: OutboundLeg,
    socket: Arc<crate::media::RtpSocket>,
    session_id: u64,
    /// The employee's line shows ringing while this lives.
    _ringing: Option<LineUse>,
    /// A call out through the carrier, counted while it lives.
    toll: Option<super::toll::TollPermit>,
    stop_at: Option<Instant>,
    employee: Option<String>,
    /// Its entry in `Fork::legs`.
    record: usize,
}

/// Placing legs needs these from the call.
pub struct ForkParams<'a> {
    pub env: &'a DialEnv,
    pub ports: &'a PortRange,
    /// Our address for RTP towards the employees; none: the one each place sees us at.
    pub media_ip: Option<IpAddr>,
    /// The caller ID the flow chose.
    pub caller_id: Option<String>,
    /// The caller's own number (presented to employees' phones).
    pub caller: String,
    /// Offer this G.711 law first, so the bridge can pass packets through.
    pub codec: Codec,
    pub ptime: u32,
    /// Employees' mobiles ring by their rule; off: only their registered phones.
    pub ring_mobiles: bool,
    /// The employee who places these calls (his own call, his transfer, his callback): calls
    /// out through the carrier count against him. None: a flow dials for a caller.
    pub on_behalf_of: Option<String>,
    /// What employees' phones show of the caller besides his number (`known_caller.rs`).
    pub display: Option<String>,
}

pub struct Fork<'a> {
    params: ForkParams<'a>,
    /// Legs not started yet, earliest first: (start, stop-after, places).
    pending: Vec<(Instant, Option<Duration>, Vec<Reachable>)>,
    branches: Vec<Branch>,
    deadline: Instant,
    /// Final responses of failed branches.
    failures: Vec<u16>,
    rang: bool,
    early_media: bool,
    started_any: bool,
    /// Calls out the toll gate refused (why), and whether any leg was placed at all.
    refused: Vec<String>,
    placed_any: bool,
    /// What became of every leg started so far (for the call record).
    legs: Vec<LegRecord>,
}

impl<'a> Fork<'a> {
    /// Resolves every target up front; unknown targets are an error the flow should hear about.
    pub async fn new(params: ForkParams<'a>, legs: &[TimedLeg], timeout: Duration) -> anyhow::Result<Fork<'a>> {
        let now = Instant::now();
        let mut pending = Vec::new();
        for leg in legs {
            let steps = resolve(&params, &leg.target).await?;
            let places: usize = steps.iter().map(|s| s.places.len()).sum();
            tracing::info!(target = ?leg.target, steps = steps.len(), places, "dial target resolved");
            let start = now + Duration::from_millis(leg.start_after_ms.into());
            let leg_stop = leg.stop_after_ms.map(|ms| Duration::from_millis(ms.into()));
            for step in steps.into_iter().filter(|s| params.ring_mobiles || !s.mobile) {
                // The leg's own stop bounds every step of it.
                let ring_for = match (step.ring_for, leg_stop) {
                    (_, Some(stop)) if stop <= step.after => continue,
                    (Some(own), Some(stop)) => Some(own.min(stop - step.after)),
                    (None, Some(stop)) => Some(stop - step.after),
                    (own, None) => own,
                };
                pending.push((start + step.after, ring_for, step.places));
            }
        }
        pending.sort_by_key(|(start, ..)| *start);
        Ok(Fork {
            params,
            pending,
            branches: Vec::new(),
            deadline: now + timeout,
            failures: Vec::new(),
            rang: false,
            early_media: false,
            started_any: false,
            refused: Vec::new(),
            placed_any: false,
            legs: Vec::new(),
        })
    }

    /// Drives the legs until something the call must act on happens.
    pub async fn next(&mut self) -> ForkEvent {
        loop {
            if self.pending.is_empty() && self.branches.is_empty() {
                return ForkEvent::Finished(self.outcome());
            }
            let next_start = self.pending.first().map(|(start, ..)| *start);
            // Legs due now start without a trip through the timer wheel (whose 1 ms ticks
            // would add up to a millisecond of post-dial delay to every call).
            if next_start.is_some_and(|t| t <= Instant::now()) {
                self.start_due().await;
                continue;
            }
            let next_stop = self.branches.iter().filter_map(|b| b.stop_at).min();
            tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => {
                    self.cancel_legs(None, "no-answer").await;
                    self.pending.clear();
                    return ForkEvent::Finished(self.outcome());
                }
                _ = sleep_until(next_start) => self.start_due().await,
                _ = sleep_until(next_stop) => self.stop_due().await,
                (event, index) = next_branch_event(&mut self.branches) => {
                    if let Some(done) = self.on_branch_event(index, event).await {
                        return done;
                    }
                }
            }
        }
    }

    async fn on_branch_event(&mut self, index: usize, event: Option<OutboundEvent>) -> Option<ForkEvent> {
        match event {
            Some(OutboundEvent::Ringing { sdp, .. }) => {
                let first = !self.rang;
                self.rang = true;
                let early = sdp.as_deref().and_then(|sdp| MediaOffer::parse(sdp).ok());
                match early {
                    Some(media) if !self.early_media => {
                        self.early_media = true;
                        let branch = &self.branches[index];
                        Some(ForkEvent::EarlyMedia(BridgeSide::new(
                            branch.socket.clone(),
                            media,
                            branch.session_id,
                        )))
                    }
                    _ => first.then_some(ForkEvent::Ringing),
                }
            }
            Some(OutboundEvent::Answered { sdp }) => {
                let branch = self.branches.swap_remove(index);
                let Ok(media) = MediaOffer::parse(&sdp) else {
                    tracing::warn!("answered with unusable SDP: hanging up that leg");
                    self.ended(branch.record, "failed 488".into());
                    let mut leg = branch.leg;
                    leg.hangup().await;
                    self.failures.push(488);
                    return None;
                };
                let record = &mut self.legs[branch.record];
                record.answered_at = Some(unix_ms());
                record.result = "answered".into();
                // First 2xx wins; every other leg learns the call was completed elsewhere.
                self.cancel_all(Some(ANSWERED_ELSEWHERE)).await;
                self.pending.clear();
                Some(ForkEvent::Answered(Winner {
                    leg: branch.leg,
                    media: BridgeSide::new(branch.socket, media, branch.session_id),
                    line: branch.employee.as_deref().map(|e| self.params.env.presence.talking(e)),
                    employee: branch.employee,
                    toll: branch.toll,
                }))
            }
            Some(OutboundEvent::Failed { code }) => {
                tracing::info!(code, "leg failed");
                self.failures.push(code);
                let branch = self.branches.swap_remove(index);
                let result = match code {
                    486 | 600 => "busy".into(),
                    603 => "declined".into(),
                    code => format!("failed {code}"),
                };
                self.ended(branch.record, result);
                None
            }
            // Only a confirmed dialog can be re-INVITEd; refused (501) should one come early.
            Some(OutboundEvent::Reinvite(_) | OutboundEvent::Refer(_) | OutboundEvent::Digit(_)) => None,
            Some(OutboundEvent::HungUp) | None => {
                let branch = self.branches.swap_remove(index);
                self.ended(branch.record, "failed".into());
                None
            }
        }
    }

    /// Starts every leg whose time has come.
    async fn start_due(&mut self) {
        let now = Instant::now();
        while self.pending.first().is_some_and(|(start, ..)| *start <= now) {
            let (_, stop_after, places) = self.pending.remove(0);
            for place in places {
                tracing::debug!(uri = %place.uri, "placing a leg");
                let record = self.legs.len();
                self.legs.push(LegRecord {
                    to: place.user.clone(),
                    employee: place.employee.clone(),
                    started_at: unix_ms(),
                    answered_at: None,
                    ended_at: None,
                    result: "ringing".into(),
                });
                self.started_any = true;
                let toll = match &place.toll {
                    Some(number) => match self
                        .within_rights(number)
                        .await
                        .and_then(|()| self.params.env.toll.permit(number, self.params.on_behalf_of.as_deref()))
                    {
                        Ok(permit) => Some(permit),
                        Err(why) => {
                            tracing::warn!(%why, "a call out was refused");
                            self.ended(record, format!("refused: {why}"));
                            self.refused.push(why);
                            continue;
                        }
                    },
                    None => None,
                };
                self.placed_any = true;
                match self.place(&place).await {
                    Ok((leg, socket, session_id)) => self.branches.push(Branch {
                        leg,
                        socket,
                        session_id,
                        toll,
                        _ringing: place.employee.as_deref().map(|e| self.params.env.presence.ringing(e)),
                        stop_at: stop_after.map(|d| now + d),
                        employee: place.employee.clone(),
                        record,
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, uri = %place.uri, "could not place a leg");
                        self.failures.push(503);
                        self.ended(record, "unreachable".into());
                    }
                }
            }
        }
    }

    /// Whether the employee these calls are placed for may call `number` by his calling right.
    async fn within_rights(&self, number: &str) -> Result<(), String> {
        let Some(employee) = &self.params.on_behalf_of else {
            return Ok(());
        };
        let env = self.params.env;
        let rights = env.directory.calling_rights(employee).await;
        // The store's trouble is no reason to let a call out through: refused.
        let rights = rights.map_err(|e| format!("{employee}'s calling rights are unreadable: {e}"))?;
        let reach = env.toll.rules().reach_of(number);
        match reach <= rights {
            true => Ok(()),
            false => Err(format!(
                "{employee} may call {} numbers, and {number} is {}",
                rights.as_str(),
                reach.as_str()
            )),
        }
    }

    async fn place(&self, place: &Reachable) -> anyhow::Result<(OutboundLeg, Arc<crate::media::RtpSocket>, u64)> {
        let p = &self.params;
        let media_ip = p
            .media_ip
            .unwrap_or_else(|| p.env.dialer.local_ip_towards(place.destination));
        let socket = Arc::new(p.ports.bind(media_ip)?);
        let session_id = rand::random::<u32>().into();
        let offer = sdp::offer(socket.local_addr()?, session_id, p.codec, p.ptime);
        let leg = p.env.dialer.invite(LegRequest {
            uri: place.uri.clone(),
            destination: place.destination,
            route: place.route.clone(),
            from_user: p
                .caller_id
                .clone()
                .or_else(|| place.caller_id.clone())
                .unwrap_or_else(|| p.caller.clone()),
            to_user: place.user.clone(),
            // For phones; a carrier gets the bare number.
            from_display: p.display.clone().filter(|_| place.toll.is_none()),
            offer: offer.into_bytes(),
            login: place.login.clone(),
        })?;
        Ok((leg, socket, session_id))
    }

    /// Stops the legs whose ringing time is over (in turn: the previous one when the next starts).
    async fn stop_due(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.branches.len() {
            if self.branches[i].stop_at.is_some_and(|t| t <= now) {
                let mut branch = self.branches.swap_remove(i);
                self.ended(branch.record, "stopped".into());
                branch.leg.cancel(None).await;
            } else {
                i += 1;
            }
        }
    }

    /// Cancels every ringing leg (the caller left, time ran out, or another leg answered).
    pub async fn cancel_all(&mut self, reason: Option<&str>) {
        let result = match reason {
            Some(ANSWERED_ELSEWHERE) => "answered-elsewhere",
            _ => "cancelled",
        };
        self.cancel_legs(reason, result).await;
    }

    /// Cancels every ringing leg, recording `result` for each.
    async fn cancel_legs(&mut self, reason: Option<&str>, result: &str) {
        for mut branch in std::mem::take(&mut self.branches) {
            self.ended(branch.record, result.into());
            branch.leg.cancel(reason).await;
        }
    }

    /// A leg is over, unanswered.
    fn ended(&mut self, record: usize, result: String) {
        let leg = &mut self.legs[record];
        leg.ended_at = Some(unix_ms());
        leg.result = result;
    }

    /// The legs rung so far, and what became of them; the fork keeps none.
    pub fn take_legs(&mut self) -> Vec<LegRecord> {
        std::mem::take(&mut self.legs)
    }

    /// Whether every leg was a call out the company's rules refused (nothing was placed).
    pub fn refused(&self) -> bool {
        !self.placed_any && !self.refused.is_empty()
    }

    /// The best outcome when nobody answered (RFC 3261 §16.7: a busy beats a ring-out).
    fn outcome(&self) -> DialOutcome {
        if self.refused() {
            DialOutcome::Failed(format!("refused: {}", self.refused[0]))
        } else if !self.started_any {
            DialOutcome::Unavailable
        } else if self.failures.iter().any(|c| matches!(c, 486 | 600 | 603)) {
            DialOutcome::Busy
        } else if self.rang {
            DialOutcome::NoAnswer
        } else {
            DialOutcome::Unavailable
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next event of any branch, and which branch it came from.
async fn next_branch_event(branches: &mut [Branch]) -> (Option<OutboundEvent>, usize) {
    if branches.is_empty() {
        return std::future::pending().await;
    }
    let waits = branches.iter_mut().map(|b| Box::pin(b.leg.next_event()));
    let (event, index, _) = futures::future::select_all(waits).await;
    (event, index)
}
