//! What every conversation of a call shares, bridged or in a room: how it ends, what it needs to
//! ring someone new (and ringing them), the features asked of it from outside, and how it
//! answers a party's re-INVITE.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::feature::{FeatureRequest, FeatureRequests};
use super::fork::{DialEnv, Fork, ForkEvent, ForkParams, Winner};
use super::record::{LegRecord, unix_ms};
use super::{DialOutcome, Target, TimedLeg};
use crate::media::mixer::Rooms;
use crate::media::{Codec, Direction, LocalSdp, PortRange};
use crate::sip::Reinvite;

/// How a bridge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeExit {
    CallerLeft,
    /// The answering party hung up (and no transfer is under way).
    CalleeLeft,
    /// Neither party sent RTP for the timeout.
    Dead,
    /// Another call took the answering party over (attended transfer): this one is done.
    HandedOver,
    /// The caller transferred the answering party to someone else and is to be hung up.
    CallerTransferred,
    /// The call reached its maximum duration: every party is hung up.
    TooLong,
}

/// What a transfer needs to place the new leg.
pub struct TransferEnv<'a> {
    pub dial: &'a DialEnv,
    pub ports: &'a PortRange,
    pub media_ip: std::net::IpAddr,
    /// The caller's number, shown to the transfer target.
    pub caller: String,
    /// The caller's codec and packet time, offered first to the target.
    pub codec: Codec,
    pub ptime: u32,
    /// Where three-way calls meet.
    pub rooms: &'a Rooms,
    /// The employee who placed the call, when an employee's phone did (who may then transfer
    /// and use feature codes, and whose calls out they are).
    pub caller_employee: Option<String>,
    /// When the conversation must end at the latest (the call's maximum duration).
    pub deadline: tokio::time::Instant,
    /// Where the legs rung for transfers and three-way calls are recorded (for the call record).
    pub legs: &'a parking_lot::Mutex<Vec<LegRecord>>,
}

/// Answers a re-INVITE with our side of the session mirroring the direction offered, and
/// returns that direction (to pass on to the other party). A T.38 fax offer is refused (488):
/// only a two-party bridge relays fax (`fax.rs`); none then.
pub fn answer_reinvite(reinvite: Reinvite, ours: &LocalSdp) -> Option<Direction> {
    if crate::media::FaxMedia::parse(&reinvite.offer).is_some() {
        tracing::info!("T.38 offered where no fax is relayed: 488");
        tokio::spawn(reinvite.refuse(488, "no fax relay in this call's state"));
        return None;
    }
    let offered = Direction::of(&reinvite.offer);
    ours.follow(&reinvite.offer);
    tracing::info!(?offered, "re-INVITE");
    tokio::spawn(reinvite.accept(ours.describe(offered.answered())));
    Some(offered)
}

/// How long a transfer target rings before the transfer counts as failed.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts ringing the supervisor at `extension` (asked over the API).
pub fn ring_supervisor<'a>(env: &'a TransferEnv<'a>, extension: &str) -> Transfer<'a> {
    tracing::info!(%extension, "ringing a supervisor");
    let leg = TimedLeg {
        target: Target::Extension(extension.to_owned()),
        start_after_ms: 0,
        stop_after_ms: None,
    };
    Box::pin(ring(env, leg, None))
}

/// The next feature asked of the call from outside; never, when nobody can ask.
pub async fn next_request(requests: &mut Option<FeatureRequests>) -> Option<FeatureRequest> {
    if let Some(incoming) = requests {
        if let Some(request) = incoming.recv().await {
            return Some(request);
        }
        *requests = None;
    }
    std::future::pending().await
}

pub type Transfer<'a> = Pin<Box<dyn Future<Output = Result<Winner, DialOutcome>> + Send + 'a>>;

/// Rings a transfer's or three-way call's target for the employee `by` who asked for it (his
/// calls out; none: a trunk caller the rules let transfer, or an admin); its legs go to
/// `env.legs`, also when the ringing is abandoned (the caller left).
pub async fn ring(env: &TransferEnv<'_>, leg: TimedLeg, by: Option<String>) -> Result<Winner, DialOutcome> {
    let caller_side = ForkParams {
        env: env.dial,
        ports: env.ports,
        media_ip: Some(env.media_ip),
        caller_id: None,
        caller: env.caller.clone(),
        codec: env.codec,
        ptime: env.ptime,
        ring_mobiles: true,
        on_behalf_of: by,
        display: None,
    };
    let fork = Fork::new(caller_side, &[leg], TRANSFER_TIMEOUT)
        .await
        .map_err(|e| DialOutcome::Failed(e.to_string()))?;
    let mut fork = RecordedFork { fork, sink: env.legs };
    loop {
        match fork.fork.next().await {
            ForkEvent::Ringing | ForkEvent::EarlyMedia(_) => {}
            ForkEvent::Answered(winner) => return Ok(winner),
            ForkEvent::Finished(outcome) => return Err(outcome),
        }
    }
}

/// A fork whose legs go to the call's record when it is done with — finished or dropped.
struct RecordedFork<'a, 'f> {
    fork: Fork<'f>,
    sink: &'a parking_lot::Mutex<Vec<LegRecord>>,
}

impl Drop for RecordedFork<'_, '_> {
    fn drop(&mut self) {
        let now = unix_ms();
        let mut legs = self.fork.take_legs();
        // Still ringing when dropped: the caller (or the transfer) gave up on them.
        for leg in legs
            .iter_mut()
            .filter(|l| l.ended_at.is_none() && l.answered_at.is_none())
        {
            leg.ended_at = Some(now);
            leg.result = "cancelled".into();
        }
        self.sink.lock().extend(legs);
    }
}
