//! T.38 fax in a bridged call. A fax machine (an ATA) that hears the other fax's tones
//! re-INVITEs to a T.38 stream (`m=image … udptl t38`). The exchange, which anchors the media,
//! passes that offer on to the other party — its own address in it, the T.38 attributes as they
//! came —, answers the fax machine only with what the other party answered, and then relays the
//! UDPTL datagrams untouched between the two, as it relays RTP. When the other party will not
//! take T.38, the fax machine's re-INVITE is refused (488) and the fax goes on as G.711, which
//! the relay passes through untouched when both sides chose one law (no jitter buffer, no
//! silence suppression to break a modem). A re-INVITE back to audio after the fax returns the
//! call to the RTP bridge.

use std::future::Future;
use std::time::Duration;

use super::conversation::{BridgeExit, TransferEnv};
use super::fork::Winner;
use crate::media::{BridgeSide, Direction, FaxMedia, LocalSdp};
use crate::sip::{InboundLeg, LegEvent, OutboundEvent, Reinvite};

/// How long the other party may take to answer the passed-on offer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How a fax stretch of the call ended.
pub enum FaxEnd {
    Ended(BridgeExit),
    /// The call is back on audio (or never left it): the RTP bridge goes on.
    Audio,
}

/// The party that offered the fax stream, and the one it is passed on to.
struct Sides<'a> {
    offerer: &'a BridgeSide,
    other: &'a BridgeSide,
}

/// A party offered T.38 (`offer`, in `reinvite`): passes it on and, once both sides agreed,
/// relays the fax until the call ends or goes back to audio. `by_caller`: the caller offered.
pub async fn run(
    leg: &mut InboundLeg,
    caller: &BridgeSide,
    callee: &mut Winner,
    (reinvite, offer, by_caller): (Reinvite, FaxMedia, bool),
    env: &TransferEnv<'_>,
) -> FaxEnd {
    let sides = match by_caller {
        true => Sides {
            offerer: caller,
            other: &callee.media,
        },
        false => Sides {
            offerer: &callee.media,
            other: caller,
        },
    };
    let Ok(towards_other) = sides.other.socket.local_addr() else {
        reinvite.refuse(500, "no media socket").await;
        return FaxEnd::Audio;
    };
    let passed_on = offer.describe(towards_other, sides.other.session_id);
    tracing::info!(by_caller, "T.38 offered: passing it on");
    let answer = match by_caller {
        true => ask(callee.leg.reinvite(passed_on)).await,
        false => ask(leg.reinvite(passed_on)).await,
    };
    let Some(answer) = answer else {
        tracing::info!("the other party takes no T.38: the fax stays on G.711");
        reinvite.refuse(488, "the other party takes no T.38").await;
        return FaxEnd::Audio;
    };
    let Ok(towards_offerer) = sides.offerer.socket.local_addr() else {
        reinvite.refuse(500, "no media socket").await;
        return FaxEnd::Audio;
    };
    sides.offerer.socket.expect_udptl(offer.remote);
    sides.other.socket.expect_udptl(answer.remote);
    reinvite
        .accept(answer.describe(towards_offerer, sides.offerer.session_id))
        .await;
    tracing::info!("T.38 agreed: relaying the fax");
    relay(leg, caller, callee, (&offer, &answer, by_caller), env).await
}

/// The other party's T.38 answer to the passed-on offer; none when it refused or did not answer.
async fn ask(reinvite: impl Future<Output = Option<(u16, Vec<u8>)>>) -> Option<FaxMedia> {
    match tokio::time::timeout(ANSWER_WITHIN, reinvite).await {
        Ok(Some((200..=299, body))) => FaxMedia::parse(&body),
        _ => None,
    }
}

/// Relays the fax stream both ways until a party hangs up, the stream dies, the call reaches
/// its maximum duration, or a re-INVITE takes it back to audio.
async fn relay(
    leg: &mut InboundLeg,
    caller: &BridgeSide,
    callee: &mut Winner,
    (offer, answer, by_caller): (&FaxMedia, &FaxMedia, bool),
    env: &TransferEnv<'_>,
) -> FaxEnd {
    // Each party's fax stream as the other described it, to re-answer a repeated T.38 offer.
    let (caller_fax, callee_fax) = match by_caller {
        true => (answer, offer),
        false => (offer, answer),
    };
    let (Ok(to_caller), Ok(to_callee)) = (caller.local_sdp(), callee.media.local_sdp()) else {
        callee.leg.hangup().await;
        return FaxEnd::Ended(BridgeExit::Dead);
    };
    let mut datagrams = std::pin::pin!(pass_datagrams(caller, &callee.media, env.dial.rtp_timeout));
    loop {
        tokio::select! {
            () = &mut datagrams => {
                tracing::warn!("no fax datagrams from either party: ending a dead call");
                callee.leg.hangup().await;
                return FaxEnd::Ended(BridgeExit::Dead);
            }
            _ = tokio::time::sleep_until(env.deadline) => {
                tracing::warn!("the call reached its maximum duration: hanging up");
                callee.leg.hangup().await;
                return FaxEnd::Ended(BridgeExit::TooLong);
            }
            event = leg.next_event() => match event {
                Some(LegEvent::Confirmed | LegEvent::Digit(_)) => {}
                Some(LegEvent::Reinvite(reinvite)) => {
                    let back = reoffer(reinvite, (caller, callee_fax), &to_callee, |sdp| callee.leg.reinvite(sdp)).await;
                    if back {
                        return FaxEnd::Audio;
                    }
                }
                Some(LegEvent::Refer(refer)) => refer.refuse(403, "no transfers during a fax").await,
                other => {
                    tracing::info!(?other, "the caller hung up during the fax");
                    callee.leg.hangup().await;
                    return FaxEnd::Ended(BridgeExit::CallerLeft);
                }
            },
            event = callee.leg.next_event() => match event {
                Some(OutboundEvent::Reinvite(reinvite)) => {
                    let back = reoffer(reinvite, (&callee.media, caller_fax), &to_caller, |sdp| leg.reinvite(sdp)).await;
                    if back {
                        return FaxEnd::Audio;
                    }
                }
                Some(OutboundEvent::Refer(refer)) => refer.refuse(403, "no transfers during a fax").await,
                Some(OutboundEvent::Ringing { .. } | OutboundEvent::Answered { .. } | OutboundEvent::Digit(_)) => {}
                other => {
                    tracing::info!(?other, "the answering party hung up during the fax");
                    return FaxEnd::Ended(BridgeExit::CalleeLeft);
                }
            },
        }
    }
}

/// Passes the fax datagrams both ways, untouched, until neither party sent one for `timeout`.
/// They pass in a task of their own: the flow waiting for the call is woken when the stream
/// dies, not for every datagram (its CPU budget counts each wake-up). Dropping the future stops
/// the task.
async fn pass_datagrams(a: &BridgeSide, b: &BridgeSide, timeout: Duration) {
    let (a, b) = (a.clone(), b.clone());
    let task = tokio::spawn(async move {
        let relayed = metrics::counter!("switchboard_fax_relayed_datagrams_total");
        let (mut from_a, mut from_b) = ([0u8; 2048], [0u8; 2048]);
        loop {
            let passed = tokio::time::timeout(timeout, async {
                tokio::select! {
                    Ok((n, _)) = a.socket.recv_media(&mut from_a) => b.socket.send_media(&from_a[..n]).await,
                    Ok((n, _)) = b.socket.recv_media(&mut from_b) => a.socket.send_media(&from_b[..n]).await,
                    // Both sockets failed a receive (an ICMP error): nothing passed this time.
                    else => false,
                }
            })
            .await;
            match passed {
                Ok(true) => relayed.increment(1),
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    let _ = tokio_util::task::AbortOnDropHandle::new(task).await;
}

/// A re-INVITE during the fax from the party whose side is `near`: T.38 again is answered with
/// the stream as it is (`far_fax`, the other party's); audio takes both parties back to it (the
/// other one re-INVITEd by `send` with our audio towards it). True when back to audio.
async fn reoffer<F: Future<Output = Option<(u16, Vec<u8>)>>>(
    reinvite: Reinvite,
    (near, far_fax): (&BridgeSide, &FaxMedia),
    to_far: &LocalSdp,
    send: impl FnOnce(String) -> F,
) -> bool {
    let Ok(local) = near.socket.local_addr() else {
        reinvite.refuse(500, "no media socket").await;
        return false;
    };
    if FaxMedia::parse(&reinvite.offer).is_some() {
        reinvite.accept(far_fax.describe(local, near.session_id)).await;
        return false;
    }
    let Ok(ours) = near.local_sdp() else {
        reinvite.refuse(500, "no media socket").await;
        return false;
    };
    tracing::info!("back to audio after the fax");
    let direction = Direction::of(&reinvite.offer);
    near.socket
        .expect(near.media.remote, near.media.payload_type, near.media.telephone_event);
    ours.follow(&reinvite.offer);
    reinvite.accept(ours.describe(direction.answered())).await;
    // The far party back to audio too; its answer tells its socket what to take again.
    to_far.socket.expect(
        to_far.media.remote,
        to_far.media.payload_type,
        to_far.media.telephone_event,
    );
    if let Some((200..=299, answer)) = send(to_far.describe(direction)).await {
        to_far.follow(&answer);
    }
    true
}
