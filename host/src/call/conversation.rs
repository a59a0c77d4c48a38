//! What every conversation of a call shares, bridged or three-way: how it ends, what it needs to
//! ring someone new, and how it answers a party's re-INVITE.

use super::fork::DialEnv;
use super::record::LegRecord;
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
/// returns that direction (to pass on to the other party).
pub fn answer_reinvite(reinvite: Reinvite, ours: &LocalSdp) -> Direction {
    let offered = Direction::of(&reinvite.offer);
    ours.follow(&reinvite.offer);
    tracing::info!(?offered, "re-INVITE");
    tokio::spawn(reinvite.accept(ours.describe(offered.answered())));
    offered
}
