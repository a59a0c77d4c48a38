//! A bridged call: the caller talks to whoever answered, through our RTP relay, until one of
//! them hangs up or the media dies. Hold and resume pass through; the answering party may hand
//! the caller on to a colleague (blind transfer, REFER), or to a colleague it already called
//! (attended transfer, REFER with Replaces naming that other call).

use std::future::Future;
use std::time::Duration;

use super::conversation::{BridgeExit, Transfer, TransferEnv, answer_reinvite, next_request, ring, ring_supervisor};
use super::fax::FaxEnd;
use super::feature::{Feature, FeatureCodes, FeatureRequests, three_way_target};
use super::fork::Winner;
use super::handover::{HandoverRequest, Offer};
use super::room::Company;
use super::supervision::Mode;
use super::{DialOutcome, Target, TimedLeg};
use crate::media::bridge::{Party, RelayWatch};
use crate::media::{BridgeEnd, BridgeSide, CallRecorder, Codec, FaxMedia, LocalSdp, bridge};
use crate::sip::{InboundLeg, LegEvent, OutboundEvent, OutboundLeg, Refer, Reinvite};

/// Connects the caller to `winner` and whoever it transfers to. Returns how it ended and the
/// last employee the caller talked to.
pub async fn connect(
    leg: &mut InboundLeg,
    caller: &BridgeSide,
    mut current: Winner,
    env: &TransferEnv<'_>,
    handovers: &mut Offer,
    recording: Option<&SharedRecorder>,
    requests: &mut Option<FeatureRequests>,
) -> (BridgeExit, Option<String>) {
    let Ok(to_caller) = caller.local_sdp() else {
        current.leg.hangup().await;
        return (BridgeExit::Dead, current.employee);
    };
    loop {
        match talk(
            leg,
            caller,
            &to_caller,
            &mut current,
            env,
            handovers,
            recording,
            requests,
        )
        .await
        {
            Talk::Ended(exit) => return (exit, current.employee),
            Talk::Fax(reinvite, offer, by_caller) => {
                let start = (reinvite, offer, by_caller);
                match super::fax::run(leg, caller, &mut current, start, env).await {
                    FaxEnd::Ended(exit) => return (exit, current.employee),
                    FaxEnd::Audio => {}
                }
            }
            Talk::Room(company) => {
                let employee = current.employee.clone();
                return (
                    super::room::run(leg, caller, current, *company, requests, env).await,
                    employee,
                );
            }
            Talk::CallerTransferred { next, transferor_left } => {
                tracing::info!(to = ?next.employee, "the caller transferred the call");
                let employee = current.employee.clone();
                tokio::spawn(pair(current, next, env.dial.rtp_timeout, env.dial.max_call));
                if transferor_left {
                    return (BridgeExit::CallerLeft, employee);
                }
                leg.notify_transfer(200, "OK", true).await;
                return (BridgeExit::CallerTransferred, employee);
            }
            Talk::HandedOver(request) => {
                let employee = current.employee.clone();
                tracing::info!(?employee, "the answering party is handed over to another call");
                let _ = request.send(current);
                return (BridgeExit::HandedOver, employee);
            }
            Talk::Transferred { next, transferor_left } => {
                tracing::info!(to = ?next.employee, "transferred");
                let transferor = std::mem::replace(&mut current, next).leg;
                if !transferor_left {
                    // Off the conversation's path: a transferor slow to answer its NOTIFY must
                    // not hold up the caller and the colleague now talking.
                    tokio::spawn(release(transferor));
                }
            }
        }
    }
}

enum Talk {
    Ended(BridgeExit),
    /// The caller transferred the answering party to `next`; the two talk on without it.
    CallerTransferred {
        next: Winner,
        transferor_left: bool,
    },
    /// Another call asked for the answering party.
    HandedOver(HandoverRequest),
    Transferred {
        next: Winner,
        transferor_left: bool,
    },
    /// The call moves into a room: a colleague answered for a three-way call, or a supervisor
    /// comes in.
    Room(Box<super::room::Company>),
    /// A party offered a T.38 fax stream (`true`: the caller).
    Fax(Reinvite, FaxMedia, bool),
}

/// Starts ringing the colleague at `extension` (or the outside number) for a three-way call
/// `by` an employee (none: an admin asked over the API; calls out are then the company's).
fn three_way<'a>(env: &'a TransferEnv<'a>, extension: String, by: Option<String>) -> Transfer<'a> {
    tracing::info!(%extension, "three-way call: ringing the colleague");
    let leg = TimedLeg {
        target: three_way_target(&extension),
        start_after_ms: 0,
        stop_after_ms: None,
    };
    Box::pin(ring(env, leg, by))
}

/// Whether a party may transfer the call: an employee (his own phone, or his mobile the exchange
/// rang), or anyone who came in through the carrier when the company's rules allow it.
fn may_transfer(env: &TransferEnv<'_>, employee: Option<&String>) -> bool {
    employee.is_some() || env.dial.toll.rules().trunk_callers_may_transfer
}

/// Tells the transferor its transfer succeeded (RFC 3515 final NOTIFY) and ends its leg.
async fn release(mut transferor: OutboundLeg) {
    transferor.notify_transfer(200, "OK", true).await;
    transferor.hangup().await;
}

/// One stretch of conversation with one answering party.
#[allow(clippy::too_many_arguments)]
async fn talk(
    leg: &mut InboundLeg,
    caller: &BridgeSide,
    to_caller: &LocalSdp,
    current: &mut Winner,
    env: &TransferEnv<'_>,
    handovers: &mut Offer,
    recording: Option<&SharedRecorder>,
    requests: &mut Option<FeatureRequests>,
) -> Talk {
    let Winner {
        leg: callee,
        media: callee_media,
        employee: callee_employee,
        ..
    } = current;
    let Ok(to_callee) = callee_media.local_sdp() else {
        callee.hangup().await;
        return Talk::Ended(BridgeExit::Dead);
    };
    // Feature codes: RTP events seen by the relay, and the caller's SIP INFO digits.
    let (typed_tx, mut typed) = tokio::sync::mpsc::unbounded_channel();
    let info_digits = typed_tx.clone();
    let watch = Watch {
        typed: typed_tx,
        recording: recording.cloned(),
    };
    let mut relay = std::pin::pin!(bridge::relay_watching(
        caller,
        callee_media,
        env.dial.rtp_timeout,
        watch
    ));
    let mut codes = [FeatureCodes::default(), FeatureCodes::default()];
    let mut transfer: Option<Transfer<'_>> = None;
    // The colleague being rung for a three-way call, or the supervisor (his mode and extension).
    let mut joining: Option<(Transfer<'_>, Option<(Mode, String)>)> = None;
    // Supervisors may come in while the employees on it talk.
    let employees = [env.caller_employee.clone(), callee_employee.clone()];
    let mut watchable = env.dial.supervision.open(employees.into_iter().flatten().collect());
    let room = |watchable, colleague, visit, rung| {
        Talk::Room(Box::new(Company {
            colleague,
            watchable,
            visit,
            rung,
        }))
    };
    // Who asked for the transfer under way (the caller, or the answering party), and whether
    // that party already left (blind transfer: it hangs up once the REFER is accepted).
    let (mut by_caller, mut callee_gone, mut caller_gone) = (false, false, false);
    loop {
        tokio::select! {
            BridgeEnd::Silent = &mut relay => {
                tracing::warn!("no RTP from either party: ending a dead call");
                callee.hangup().await;
                return Talk::Ended(BridgeExit::Dead);
            }
            _ = tokio::time::sleep_until(env.deadline) => {
                tracing::warn!("the call reached its maximum duration: hanging up");
                callee.hangup().await;
                return Talk::Ended(BridgeExit::TooLong);
            }
            event = callee.next_event(), if !callee_gone => match event {
                // Hold and resume pass through: each side is answered by us (media stays
                // anchored here) and the other side is told the new direction.
                Some(OutboundEvent::Reinvite(reinvite)) => {
                    if let Some(fax) = FaxMedia::parse(&reinvite.offer) {
                        return Talk::Fax(reinvite, fax, false);
                    }
                    if let Some(offered) = answer_reinvite(reinvite, &to_callee) {
                        tokio::spawn(leg.reinvite(to_caller.describe(offered)));
                    }
                }
                Some(OutboundEvent::Refer(refer)) if !may_transfer(env, callee_employee.as_ref()) => {
                    tracing::warn!("a REFER from a party that is no employee: refused");
                    refer.refuse(403, "transfers are for employees").await;
                }
                Some(OutboundEvent::Refer(refer)) if refer.replaces.is_some() && transfer.is_none() => {
                    // Attended: the transferor talked to the target in another call; that
                    // call's party replaces the transferor in this one.
                    let key = refer.replaces.clone().expect("guarded");
                    match env.dial.handovers.take(&key).await {
                        Some(next) => {
                            refer.accept().await;
                            return Talk::Transferred { next, transferor_left: false };
                        }
                        None => refer.refuse(481, "no bridged call matches Replaces").await,
                    }
                }
                Some(OutboundEvent::Refer(refer)) => {
                    let trying = callee.notify_transfer(100, "Trying", false);
                    let by = callee_employee.clone();
                    if let Some(started) = start_transfer(*refer, trying, transfer.is_some(), env, by).await {
                        transfer = Some(started);
                        by_caller = false;
                    }
                }
                // Stale news of the call's set-up (a 180 that lost the race with the 2xx).
                Some(OutboundEvent::Ringing { .. } | OutboundEvent::Answered { .. }) => {}
                Some(OutboundEvent::Digit(digit)) => {
                    tokio::spawn(leg.send_digit(digit));
                    let _ = info_digits.send((Party::B, digit));
                }
                event if transfer.is_some() && !by_caller => {
                    // The usual blind transfer: the transferor hangs up once it is accepted.
                    tracing::info!(?event, "the transferring party left");
                    callee_gone = true;
                }
                event => {
                    tracing::info!(?event, "the answering party hung up");
                    return Talk::Ended(BridgeExit::CalleeLeft);
                }
            },
            outcome = async { transfer.as_mut().expect("guarded").await }, if transfer.is_some() => {
                transfer = None;
                match outcome {
                    Ok(next) if by_caller => return Talk::CallerTransferred { next, transferor_left: caller_gone },
                    Ok(next) => return Talk::Transferred { next, transferor_left: callee_gone },
                    Err(failed) => {
                        tracing::info!(?failed, "transfer failed");
                        let (code, reason) = sipfrag_of(&failed);
                        match (by_caller, caller_gone, callee_gone) {
                            (true, true, _) => {
                                callee.hangup().await;
                                return Talk::Ended(BridgeExit::CallerLeft);
                            }
                            (true, false, _) => {
                                tokio::spawn(leg.notify_transfer(code, reason, true));
                            }
                            (false, _, true) => return Talk::Ended(BridgeExit::CalleeLeft),
                            (false, _, false) => {
                                tokio::spawn(callee.notify_transfer(code, reason, true));
                            }
                        }
                    }
                }
            }
            Some(request) = handovers.requests.recv(), if transfer.is_none() => return Talk::HandedOver(request),
            Some((party, digit)) = typed.recv() => {
                // Feature codes are an employee's: a stranger's digits only pass through.
                let (by, codes) = match party {
                    Party::A => (env.caller_employee.clone(), &mut codes[0]),
                    Party::B => (callee_employee.clone(), &mut codes[1]),
                };
                if by.is_some() && let Some(Feature::ThreeWay { extension }) = codes.push(digit) {
                    match joining.is_some() || transfer.is_some() {
                        true => tracing::info!("three-way code ignored: a colleague is already being rung"),
                        false => joining = Some((three_way(env, extension, by), None)),
                    }
                }
            }
            Some(request) = next_request(requests) => {
                // Asked over the API; a request nobody waits for any more is stale.
                if request.reply.is_closed() {
                    continue;
                }
                let reply = match (joining.is_some() || transfer.is_some(), request.feature) {
                    (true, _) => Err("a colleague is already being rung".to_string()),
                    (false, Feature::ThreeWay { extension }) => {
                        let answer = Ok(format!("ringing {extension}"));
                        joining = Some((three_way(env, extension, None), None));
                        answer
                    }
                    (false, Feature::Supervise { mode, extension }) => {
                        let answer = Ok(format!("ringing {extension}"));
                        joining = Some((ring_supervisor(env, &extension), Some((mode, extension))));
                        answer
                    }
                };
                let _ = request.reply.send(reply);
            }
            outcome = async { joining.as_mut().expect("guarded").0.as_mut().await }, if joining.is_some() => {
                let (_, supervisor) = joining.take().expect("guarded");
                match (outcome, supervisor) {
                    (Ok(colleague), None) => {
                        tracing::info!(with = ?colleague.employee, "a colleague joins: three-way call");
                        return room(watchable, Some(colleague), None, None);
                    }
                    (Ok(supervisor), Some((mode, extension))) => {
                        return room(watchable, None, None, Some((supervisor, mode, extension)));
                    }
                    (Err(failed), _) => tracing::info!(?failed, "the colleague or supervisor did not join"),
                }
            }
            Some(visit) = watchable.requests.recv() => {
                tracing::info!(by = %visit.by, "a supervisor asks to come in");
                return room(watchable, None, Some(visit), None);
            }
            event = leg.next_event(), if !caller_gone => match event {
                Some(LegEvent::Confirmed) => {}
                Some(LegEvent::Reinvite(reinvite)) => {
                    if let Some(fax) = FaxMedia::parse(&reinvite.offer) {
                        return Talk::Fax(reinvite, fax, true);
                    }
                    if let Some(offered) = answer_reinvite(reinvite, to_caller) {
                        tokio::spawn(callee.reinvite(to_callee.describe(offered)));
                    }
                }
                // A digit signalled with SIP INFO goes on as INFO (RTP events are relayed by
                // the relay); an employee's may be a feature code.
                Some(LegEvent::Digit(digit)) => {
                    tokio::spawn(callee.send_digit(digit));
                    let _ = info_digits.send((Party::A, digit));
                }
                // The caller (an employee who placed the call) hands the other party on.
                Some(LegEvent::Refer(refer)) if !may_transfer(env, env.caller_employee.as_ref()) => {
                    tracing::warn!("a REFER from a caller who is no employee: refused");
                    refer.refuse(403, "transfers are for employees").await;
                }
                Some(LegEvent::Refer(refer)) if refer.replaces.is_some() => {
                    refer.refuse(501, "attended transfer is taken from the answering party only").await;
                }
                Some(LegEvent::Refer(refer)) => {
                    let trying = leg.notify_transfer(100, "Trying", false);
                    let by = env.caller_employee.clone();
                    if let Some(started) = start_transfer(refer, trying, transfer.is_some(), env, by).await {
                        transfer = Some(started);
                        by_caller = true;
                    }
                }
                other if transfer.is_some() && by_caller => {
                    tracing::info!(?other, "the transferring caller left");
                    caller_gone = true;
                }
                other => {
                    tracing::info!(?other, "the caller hung up");
                    callee.hangup().await;
                    // A transfer under way is dropped with its legs (they are cancelled).
                    return Talk::Ended(BridgeExit::CallerLeft);
                }
            },
        }
    }
}

/// What a bridged call watches in its relay: digits (feature codes) and, when the number records
/// its calls, both parties' audio.
struct Watch {
    typed: tokio::sync::mpsc::UnboundedSender<(Party, char)>,
    recording: Option<SharedRecorder>,
}

/// A whole call's recording, filled by the relay's task and finished by the call.
pub type SharedRecorder = std::sync::Arc<parking_lot::Mutex<CallRecorder>>;

impl RelayWatch for Watch {
    fn digit(&mut self, party: Party, digit: char) {
        let _ = self.typed.send((party, digit));
    }

    fn wants_audio(&self) -> bool {
        self.recording.is_some()
    }

    fn audio(&mut self, party: Party, timestamp: u32, codec: Codec, payload: &[u8]) {
        if let Some(recording) = &self.recording {
            let frame = payload.iter().map(|b| codec.decode(*b));
            recording.lock().push(party, timestamp, frame);
        }
    }
}

/// Two answered parties talk through the relay until either hangs up, the media dies or `max`
/// has passed; both legs end then. (After the caller transferred the answering party away: that
/// party and the transfer target; a callback: the employee and the contact.)
pub(super) async fn pair(a: Winner, b: Winner, timeout: Duration, max: Duration) {
    let (
        Winner {
            leg: mut leg_a,
            media: media_a,
            ..
        },
        Winner {
            leg: mut leg_b,
            media: media_b,
            ..
        },
    ) = (a, b);
    let (Ok(to_a), Ok(to_b)) = (media_a.local_sdp(), media_b.local_sdp()) else {
        leg_a.hangup().await;
        leg_b.hangup().await;
        return;
    };
    let mut relay = std::pin::pin!(bridge::relay(&media_a, &media_b, timeout));
    let too_long = tokio::time::sleep(max);
    tokio::pin!(too_long);
    loop {
        tokio::select! {
            BridgeEnd::Silent = &mut relay => {
                leg_a.hangup().await;
                leg_b.hangup().await;
                return;
            }
            _ = &mut too_long => {
                tracing::warn!("the call reached its maximum duration: hanging up");
                leg_a.hangup().await;
                leg_b.hangup().await;
                return;
            }
            event = leg_a.next_event() => if !pass_on(event, &to_a, &mut leg_b, &to_b).await {
                return;
            },
            event = leg_b.next_event() => if !pass_on(event, &to_b, &mut leg_a, &to_a).await {
                return;
            },
        }
    }
}

/// One party's event in a pair: hold passed on to the other party, a second transfer refused;
/// `false` when the party is gone (and the other has been hung up).
async fn pass_on(event: Option<OutboundEvent>, ours: &LocalSdp, other: &mut OutboundLeg, theirs: &LocalSdp) -> bool {
    match event {
        Some(OutboundEvent::Reinvite(reinvite)) => {
            if let Some(offered) = answer_reinvite(reinvite, ours) {
                tokio::spawn(other.reinvite(theirs.describe(offered)));
            }
            true
        }
        Some(OutboundEvent::Refer(refer)) => {
            refer.refuse(403, "this call was transferred already").await;
            true
        }
        Some(OutboundEvent::Ringing { .. } | OutboundEvent::Answered { .. }) => true,
        Some(OutboundEvent::Digit(digit)) => {
            tokio::spawn(other.send_digit(digit));
            true
        }
        _ => {
            other.hangup().await;
            false
        }
    }
}

/// Accepts a blind transfer (202, NOTIFY 100) and starts ringing its target; refuses what we
/// cannot do (a second transfer at once, no target).
async fn start_transfer<'a>(
    refer: Refer,
    trying: impl Future<Output = ()> + Send + 'static,
    busy: bool,
    env: &'a TransferEnv<'a>,
    by: Option<String>,
) -> Option<Transfer<'a>> {
    let refusal = match (&refer.target, busy) {
        (_, true) => Some((491, "a transfer is already under way")),
        (None, _) => Some((400, "Refer-To names nobody")),
        (Some(_), _) => None,
    };
    if let Some((code, why)) = refusal {
        refer.refuse(code, why).await;
        return None;
    }
    let target = refer.target.clone().unwrap_or_default();
    tracing::info!(%target, "blind transfer requested");
    refer.accept().await;
    // The first NOTIFY (RFC 3515 §2.4.4) follows the 202, which the handle above only queued:
    // give the transaction a moment so that strict peers see them in order.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trying.await;
    });
    let leg = TimedLeg {
        target: target_of(&target),
        start_after_ms: 0,
        stop_after_ms: None,
    };
    Some(Box::pin(ring(env, leg, by)))
}

/// An outside number goes through the trunk; other digits are an extension; anything else a
/// login.
fn target_of(user: &str) -> Target {
    let digits = user.strip_prefix('+').unwrap_or(user);
    if super::number::is_outside_number(user) {
        Target::External(super::number::canonical(user))
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Target::Extension(user.to_string())
    } else {
        Target::Employee(user.to_string())
    }
}

/// The sipfrag status line for a failed transfer.
fn sipfrag_of(outcome: &DialOutcome) -> (u16, &'static str) {
    match outcome {
        DialOutcome::Busy => (486, "Busy Here"),
        DialOutcome::NoAnswer => (408, "Request Timeout"),
        _ => (480, "Temporarily Unavailable"),
    }
}
