//! Three-way calling: the caller, the answering party and a colleague brought in with a feature
//! code talk in a conference room of their own, until only one of them is left (who is then hung
//! up). Hold from any of them is answered (the room keeps mixing); transfers are refused.

use super::conversation::{BridgeExit, TransferEnv, answer_reinvite};
use super::fork::Winner;
use crate::media::mixer::Member;
use crate::media::{BridgeSide, LocalSdp};
use crate::sip::{InboundLeg, LegEvent, OutboundEvent, OutboundLeg};

/// An employee's leg in the room.
struct Seat {
    leg: OutboundLeg,
    ours: LocalSdp,
    member: Option<Member>,
}

impl Seat {
    fn join(winner: Winner, room: &str, env: &TransferEnv<'_>) -> Option<Self> {
        let ours = winner.media.local_sdp().ok()?;
        let member = env.rooms.join(room, winner.media, env.dial.rtp_timeout);
        Some(Seat {
            leg: winner.leg,
            ours,
            member: Some(member),
        })
    }

    /// Handles the party's event (a hangup takes it out of the room).
    async fn on_event(&mut self, event: Option<OutboundEvent>) {
        match event {
            Some(OutboundEvent::Reinvite(reinvite)) => {
                answer_reinvite(reinvite, &self.ours);
            }
            Some(OutboundEvent::Refer(refer)) => refer.refuse(403, "no transfers during a three-way call").await,
            // Digits are for no one in a room.
            Some(OutboundEvent::Ringing { .. } | OutboundEvent::Answered { .. } | OutboundEvent::Digit(_)) => {}
            other => {
                tracing::info!(?other, "a party left the three-way call");
                self.member = None;
            }
        }
    }

    /// Its phone stopped sending audio (lost power or network): it will never send a BYE.
    async fn hang_up_dead(&mut self) {
        tracing::warn!("no RTP from a party of the three-way call: hanging it up");
        self.member = None;
        self.leg.hangup().await;
    }

    fn present(&self) -> bool {
        self.member.is_some()
    }
}

async fn dead(member: &mut Option<Member>) {
    match member {
        Some(m) => m.dead().await,
        None => std::future::pending().await,
    }
}

/// Runs the three-way call; returns how it ended for the caller (`CallerLeft` when the caller
/// hung up, else the caller is still on the line and is to be hung up).
pub async fn run(
    leg: &mut InboundLeg,
    caller: &BridgeSide,
    callee: Winner,
    colleague: Winner,
    env: &TransferEnv<'_>,
) -> BridgeExit {
    let room = format!("three-way-{}", hex::encode(rand::random::<[u8; 8]>()));
    tracing::info!(%room, "three-way call");
    let Ok(to_caller) = caller.local_sdp() else {
        return BridgeExit::Dead;
    };
    let mut caller_member = Some(env.rooms.join(&room, caller.clone(), env.dial.rtp_timeout));
    let (Some(mut callee), Some(mut colleague)) = (Seat::join(callee, &room, env), Seat::join(colleague, &room, env))
    else {
        return BridgeExit::Dead;
    };
    loop {
        let present = [caller_member.is_some(), callee.present(), colleague.present()];
        if present.iter().filter(|p| **p).count() <= 1 {
            for seat in [&mut callee, &mut colleague] {
                if seat.member.take().is_some() {
                    seat.leg.hangup().await;
                }
            }
            return if caller_member.is_some() {
                BridgeExit::CalleeLeft
            } else {
                BridgeExit::CallerLeft
            };
        }
        tokio::select! {
            _ = tokio::time::sleep_until(env.deadline) => {
                tracing::warn!("the three-way call reached its maximum duration: hanging up");
                for seat in [&mut callee, &mut colleague] {
                    if seat.member.take().is_some() {
                        seat.leg.hangup().await;
                    }
                }
                return BridgeExit::TooLong;
            }
            event = leg.next_event(), if caller_member.is_some() => match event {
                Some(LegEvent::Confirmed | LegEvent::Digit(_)) => {}
                Some(LegEvent::Reinvite(reinvite)) => {
                    answer_reinvite(reinvite, &to_caller);
                }
                Some(LegEvent::Refer(refer)) => refer.refuse(403, "no transfers during a three-way call").await,
                other => {
                    tracing::info!(?other, "the caller left the three-way call");
                    caller_member = None;
                }
            },
            _ = dead(&mut caller_member) => {
                tracing::warn!("no RTP from the caller of the three-way call: hanging up");
                caller_member = None;
                leg.hangup().await;
            }
            event = callee.leg.next_event(), if callee.present() => callee.on_event(event).await,
            event = colleague.leg.next_event(), if colleague.present() => colleague.on_event(event).await,
            _ = dead(&mut callee.member) => callee.hang_up_dead().await,
            _ = dead(&mut colleague.member) => colleague.hang_up_dead().await,
        }
    }
}
