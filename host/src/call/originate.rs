//! Calls the exchange makes by itself: a callback rings the employee first and, once he
//! answers (hearing ringback meanwhile), the contact; then the two talk. Nothing here knows
//! where the request came from — the scheduler that decides when to call is above `call/`.

use std::time::{Duration, Instant};

use super::bridged::pair;
use super::fork::{DialEnv, Fork, ForkEvent, ForkParams, Winner};
use super::inbound::MediaEnv;
use super::record::{LegRecord, unix_ms};
use super::{DialOutcome, Target, TimedLeg};
use crate::media::{Codec, MediaSession, RINGBACK};
use crate::sip::OutboundEvent;

/// How long the employee's phones ring, then the contact's.
const EMPLOYEE_RINGS: Duration = Duration::from_secs(30);
const CONTACT_RINGS: Duration = Duration::from_secs(45);

/// One callback to make.
#[derive(Debug, Clone)]
pub struct CallbackOrder {
    /// Login of the employee who calls back.
    pub employee: String,
    /// The contact's number (E.164), rung through the outbound trunk.
    pub phone: String,
    /// Played to the employee once he answers, before the contact rings (what the call is
    /// about); a prompt that cannot be had is skipped.
    pub announce: Vec<String>,
}

/// How a callback went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The employee and the contact talked.
    Talked { seconds: u32 },
    /// The employee did not take the call.
    EmployeeUnavailable(DialOutcome),
    /// The employee answered; the contact did not (or the employee hung up first).
    ContactUnreached(DialOutcome),
}

/// A callback as it happened, for its call record.
#[derive(Debug, Clone)]
pub struct CallbackCall {
    pub outcome: CallbackOutcome,
    pub legs: Vec<LegRecord>,
    /// When the contact answered (Unix ms).
    pub answered_at: Option<i64>,
}

/// Rings `order.employee`, then the contact, and connects them.
pub async fn call_back(dial: &DialEnv, media: &MediaEnv, order: &CallbackOrder) -> CallbackCall {
    let mut legs = Vec::new();
    let employee = Target::Employee(order.employee.clone());
    // The employee sees the contact's number, as for a call from him.
    let shown = order.phone.clone();
    let never = std::future::pending();
    let by = &order.employee;
    let employee = match ring(dial, media, employee, shown, by, EMPLOYEE_RINGS, &mut legs, never).await {
        Ok(winner) => winner,
        Err(outcome) => return unanswered(CallbackOutcome::EmployeeUnavailable(outcome), legs),
    };
    // The contact sees the company's number (the trunk's caller ID), else the employee's login.
    // Meanwhile the employee hears ringback; should he hang up, the contact stops ringing.
    let mut employee = employee;
    let mut session = MediaSession::on_side(employee.media.clone());
    for name in &order.announce {
        match media.prompts.resolve_for(dial.company, name).await {
            Ok(prompt) => {
                session.play(&prompt, false).await;
            }
            Err(e) => tracing::warn!(error = %e, %name, "callback announcement skipped"),
        }
    }
    let tone = media.prompts.resolve(RINGBACK).await.ok();
    let contact = {
        let ringback = async {
            match &tone {
                Some(tone) => loop {
                    session.play(tone, false).await;
                },
                None => std::future::pending().await,
            }
        };
        let left = hung_up(&mut employee.leg);
        let stop = async {
            tokio::select! {
                () = ringback => {}
                () = left => {}
            }
        };
        let contact = Target::External(order.phone.clone());
        ring(
            dial,
            media,
            contact,
            order.employee.clone(),
            by,
            CONTACT_RINGS,
            &mut legs,
            stop,
        )
        .await
    };
    employee.media = session.into_bridge_side();
    let contact = match contact {
        Ok(contact) => contact,
        Err(outcome) => {
            employee.leg.hangup().await;
            return unanswered(CallbackOutcome::ContactUnreached(outcome), legs);
        }
    };
    let answered_at = unix_ms();
    let talk = Instant::now();
    pair(employee, contact, dial.rtp_timeout, dial.max_call).await;
    let ended = unix_ms();
    for leg in legs.iter_mut().filter(|l| l.answered_at.is_some()) {
        leg.ended_at.get_or_insert(ended);
    }
    CallbackCall {
        outcome: CallbackOutcome::Talked {
            seconds: talk.elapsed().as_secs() as u32,
        },
        legs,
        answered_at: Some(answered_at),
    }
}

fn unanswered(outcome: CallbackOutcome, legs: Vec<LegRecord>) -> CallbackCall {
    CallbackCall {
        outcome,
        legs,
        answered_at: None,
    }
}

/// Rings `target` for `employee`'s callback until someone answers; the legs rung go to `legs`.
#[allow(clippy::too_many_arguments)]
async fn ring(
    dial: &DialEnv,
    media: &MediaEnv,
    target: Target,
    shown: String,
    employee: &str,
    timeout: Duration,
    legs: &mut Vec<LegRecord>,
    stop: impl Future<Output = ()>,
) -> Result<Winner, DialOutcome> {
    let params = ForkParams {
        env: dial,
        ports: &media.ports,
        // Unless configured, the address each phone or carrier sees us at.
        media_ip: media.media_ip,
        caller_id: None,
        caller: shown,
        codec: Codec::Pcma,
        ptime: 20,
        ring_mobiles: true,
        on_behalf_of: Some(employee.to_string()),
        display: None,
    };
    let leg = TimedLeg {
        target,
        start_after_ms: 0,
        stop_after_ms: None,
    };
    let mut fork = Fork::new(params, &[leg], timeout)
        .await
        .map_err(|e| DialOutcome::Failed(e.to_string()))?;
    tokio::pin!(stop);
    let outcome = loop {
        tokio::select! {
            event = fork.next() => match event {
                ForkEvent::Answered(winner) => break Ok(winner),
                ForkEvent::Finished(outcome) => break Err(outcome),
                ForkEvent::Ringing | ForkEvent::EarlyMedia(_) => {}
            },
            () = &mut stop => {
                fork.cancel_all(None).await;
                break Err(DialOutcome::Failed("the employee hung up".into()));
            }
        }
    };
    legs.extend(fork.take_legs());
    outcome
}

/// Returns when the answered party on `leg` hangs up (hold and digits pass unnoticed).
async fn hung_up(leg: &mut crate::sip::OutboundLeg) {
    loop {
        match leg.next_event().await {
            Some(OutboundEvent::Reinvite(_) | OutboundEvent::Digit(_) | OutboundEvent::Ringing { .. }) => continue,
            _ => return,
        }
    }
}
