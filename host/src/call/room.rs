//! Conversations in a conference room of their own: a three-way call (the caller, the answering
//! party and a colleague or outside number brought in with a feature code) and a supervised
//! call (the two parties, and supervisors as guests: `supervision.rs`). It lasts until only one
//! party is left (who is then hung up); the room then closes under its guests. Hold from any
//! party is answered (the room keeps mixing); transfers are refused.

use tokio::sync::mpsc;

use super::conversation::{BridgeExit, TransferEnv, answer_reinvite};
use super::feature::{Feature, FeatureRequests};
use super::fork::Winner;
use super::record::{LegRecord, unix_ms};
use super::supervision::{MAX_SUPERVISORS, Mode, Visit, Watchable};
use crate::media::mixer::{Member, Role};
use crate::media::{BridgeSide, LocalSdp};
use crate::sip::{InboundLeg, LegEvent, OutboundEvent, OutboundLeg};

/// A party's leg in the room (the answering party, a colleague).
struct Seat {
    leg: OutboundLeg,
    employee: Option<String>,
    ours: LocalSdp,
    member: Option<Member>,
}

impl Seat {
    fn join(winner: Winner, room: &str, env: &TransferEnv<'_>) -> Option<Self> {
        let ours = winner.media.local_sdp().ok()?;
        let member = env.rooms.join(room, winner.media, env.dial.rtp_timeout);
        Some(Seat {
            leg: winner.leg,
            employee: winner.employee,
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
            Some(OutboundEvent::Refer(refer)) => refer.refuse(403, "no transfers during a conference call").await,
            // Digits are for no one in a room.
            Some(OutboundEvent::Ringing { .. } | OutboundEvent::Answered { .. } | OutboundEvent::Digit(_)) => {}
            other => {
                tracing::info!(?other, "a party left the room");
                self.member = None;
            }
        }
    }

    /// Its phone stopped sending audio (lost power or network): it will never send a BYE.
    async fn hang_up_dead(&mut self) {
        tracing::warn!("no RTP from a party in the room: hanging it up");
        self.member = None;
        self.leg.hangup().await;
    }

    fn present(&self) -> bool {
        self.member.is_some()
    }

    /// The party's next event, or `None` when its phone went silent.
    async fn news(&mut self) -> Option<Option<OutboundEvent>> {
        tokio::select! {
            event = self.leg.next_event() => Some(event),
            _ = dead(&mut self.member) => None,
        }
    }

    async fn on_news(&mut self, news: Option<Option<OutboundEvent>>) {
        match news {
            Some(event) => self.on_event(event).await,
            None => self.hang_up_dead().await,
        }
    }

    async fn leave(&mut self) {
        if self.member.take().is_some() {
            self.leg.hangup().await;
        }
    }
}

async fn dead(member: &mut Option<Member>) {
    match member {
        Some(m) => m.dead().await,
        None => std::future::pending().await,
    }
}

/// Who comes to the room besides the caller and the answering party.
pub struct Company {
    /// A colleague brought in for a three-way call.
    pub colleague: Option<Winner>,
    /// Supervisors asking from their own phones (the call's entry in `Supervision`).
    pub watchable: Watchable,
    /// A supervisor whose visit brought the call into the room.
    pub visit: Option<Visit>,
    /// A supervisor the call rang (asked over the API), answered: his leg, mode and extension.
    pub rung: Option<(Winner, Mode, String)>,
}

/// The room's record of its supervisors: their legs in the call record.
struct Supervisors<'a> {
    env: &'a TransferEnv<'a>,
    /// Their places in the call's legs, to close when the room does.
    legs: Vec<usize>,
}

impl Supervisors<'_> {
    fn room_left(&self) -> bool {
        self.legs.len() < MAX_SUPERVISORS
    }

    /// Notes supervisor `by` (a login, or the extension rung) coming in as `mode`.
    fn note(&mut self, by: &str, employee: Option<String>, mode: Mode) {
        tracing::info!(%by, mode = mode.as_str(), "a supervisor comes in");
        let now = unix_ms();
        let mut legs = self.env.legs.lock();
        self.legs.push(legs.len());
        legs.push(LegRecord {
            to: by.to_owned(),
            employee,
            started_at: now,
            answered_at: Some(now),
            ended_at: None,
            result: mode.leg_result().to_owned(),
        });
    }

    fn close(&self) {
        let now = unix_ms();
        let mut legs = self.env.legs.lock();
        for &i in &self.legs {
            if let Some(leg) = legs.get_mut(i) {
                leg.ended_at.get_or_insert(now);
            }
        }
    }
}

/// Runs the conversation in a room; returns how it ended for the caller (`CallerLeft` when the
/// caller hung up, else the caller is still on the line and is to be hung up).
pub async fn run(
    leg: &mut InboundLeg,
    caller: &BridgeSide,
    callee: Winner,
    company: Company,
    requests: &mut Option<FeatureRequests>,
    env: &TransferEnv<'_>,
) -> BridgeExit {
    let Company {
        colleague,
        mut watchable,
        visit,
        rung,
    } = company;
    let room = format!("call-{}", hex::encode(rand::random::<[u8; 8]>()));
    tracing::info!(%room, "the call moves into a room");
    let Ok(to_caller) = caller.local_sdp() else {
        return BridgeExit::Dead;
    };
    let mut caller_member = Some(env.rooms.join(&room, caller.clone(), env.dial.rtp_timeout));
    let Some(mut callee) = Seat::join(callee, &room, env) else {
        return BridgeExit::Dead;
    };
    let mut colleague = match colleague.map(|c| Seat::join(c, &room, env)) {
        Some(None) => return BridgeExit::Dead,
        Some(seat) => seat,
        None => None,
    };
    let mut supervisors = Supervisors { env, legs: Vec::new() };
    // The supervisor being rung (asked over the API).
    let mut ringing: Option<(super::conversation::Transfer<'_>, Mode, String)> = None;
    if let Some(visit) = visit {
        coach(&visit.employee, env, &caller_member, &callee);
        let _ = visit.reply.send(Ok(room.clone()));
        supervisors.note(&visit.by, Some(visit.by.clone()), visit.mode);
    }
    if let Some((supervisor, mode, extension)) = rung {
        let parties = (&caller_member, &callee);
        welcome(supervisor, (mode, &extension), &room, env, &mut supervisors, parties);
    }
    let exit = loop {
        let present = [
            caller_member.is_some(),
            callee.present(),
            colleague.as_ref().is_some_and(Seat::present),
        ];
        if present.iter().filter(|p| **p).count() <= 1 {
            callee.leave().await;
            if let Some(colleague) = &mut colleague {
                colleague.leave().await;
            }
            break if caller_member.is_some() {
                BridgeExit::CalleeLeft
            } else {
                BridgeExit::CallerLeft
            };
        }
        tokio::select! {
            _ = tokio::time::sleep_until(env.deadline) => {
                tracing::warn!("the call in a room reached its maximum duration: hanging up");
                callee.leave().await;
                if let Some(colleague) = &mut colleague {
                    colleague.leave().await;
                }
                break BridgeExit::TooLong;
            }
            event = leg.next_event(), if caller_member.is_some() => match event {
                Some(LegEvent::Confirmed | LegEvent::Digit(_)) => {}
                Some(LegEvent::Reinvite(reinvite)) => {
                    answer_reinvite(reinvite, &to_caller);
                }
                Some(LegEvent::Refer(refer)) => refer.refuse(403, "no transfers during a conference call").await,
                other => {
                    tracing::info!(?other, "the caller left the room");
                    caller_member = None;
                }
            },
            _ = dead(&mut caller_member) => {
                tracing::warn!("no RTP from the caller in the room: hanging up");
                caller_member = None;
                leg.hangup().await;
            }
            news = callee.news(), if callee.present() => callee.on_news(news).await,
            news = async { colleague.as_mut().expect("guarded").news().await },
                if colleague.as_ref().is_some_and(Seat::present) => {
                colleague.as_mut().expect("guarded").on_news(news).await;
            }
            Some(visit) = watchable.requests.recv() => {
                if !supervisors.room_left() {
                    let _ = visit.reply.send(Err("the call has its supervisors already".into()));
                    continue;
                }
                coach(&visit.employee, env, &caller_member, &callee);
                let _ = visit.reply.send(Ok(room.clone()));
                supervisors.note(&visit.by, Some(visit.by.clone()), visit.mode);
            }
            Some(request) = super::conversation::next_request(requests) => {
                if request.reply.is_closed() {
                    continue;
                }
                let reply = match request.feature {
                    Feature::Supervise { .. } if ringing.is_some() => Err("a supervisor is already being rung".to_string()),
                    Feature::Supervise { .. } if !supervisors.room_left() => Err("the call has its supervisors already".to_string()),
                    Feature::Supervise { mode, extension } => {
                        let answer = Ok(format!("ringing {extension}"));
                        ringing = Some((super::conversation::ring_supervisor(env, &extension), mode, extension));
                        answer
                    }
                    Feature::ThreeWay { .. } => Err("the call is in a conference already".to_string()),
                };
                let _ = request.reply.send(reply);
            }
            outcome = async { ringing.as_mut().expect("guarded").0.as_mut().await }, if ringing.is_some() => {
                let (_, mode, extension) = ringing.take().expect("guarded");
                match outcome {
                    Ok(supervisor) => {
                        let parties = (&caller_member, &callee);
                        welcome(supervisor, (mode, &extension), &room, env, &mut supervisors, parties);
                    }
                    Err(failed) => tracing::info!(?failed, %extension, "the supervisor did not answer"),
                }
            }
        }
    };
    supervisors.close();
    exit
}

/// Makes the party who is `employee` the one whispers reach; the caller otherwise (an
/// employee who placed the call) when that is him.
fn coach(employee: &str, env: &TransferEnv<'_>, caller: &Option<Member>, callee: &Seat) {
    let member = match env.caller_employee.as_deref() == Some(employee) {
        true => caller.as_ref(),
        false => callee.member.as_ref(),
    };
    if let Some(member) = member {
        member.set_role(Role::Coached);
    }
}

/// Seats a supervisor the call rang: his own task keeps him in the room until he hangs up or
/// the room closes.
fn welcome(
    supervisor: Winner,
    (mode, extension): (Mode, &str),
    room: &str,
    env: &TransferEnv<'_>,
    supervisors: &mut Supervisors<'_>,
    (caller, callee): (&Option<Member>, &Seat),
) {
    let Ok(ours) = supervisor.media.local_sdp() else {
        return;
    };
    // Whispers reach the employee in the call: the answering party, else the caller.
    let coached = callee.employee.clone().or_else(|| env.caller_employee.clone());
    if let Some(employee) = &coached {
        coach(employee, env, caller, callee);
    }
    let (digits, typed) = mpsc::unbounded_channel();
    let Some(member) = env.rooms.visit(room, supervisor.media, mode.role(), digits) else {
        return;
    };
    let by = supervisor.employee.clone().unwrap_or_else(|| extension.to_owned());
    supervisors.note(&by, supervisor.employee.clone(), mode);
    tokio::spawn(stay(supervisor.leg, ours, member, typed));
}

/// A supervisor's leg in the room: 4, 5 and 6 switch his mode; he leaves when he hangs up or
/// the room closes (then he is hung up).
async fn stay(mut leg: OutboundLeg, ours: LocalSdp, mut member: Member, mut typed: mpsc::UnboundedReceiver<char>) {
    loop {
        tokio::select! {
            _ = member.dead() => {
                leg.hangup().await;
                return;
            }
            Some(digit) = typed.recv() => switch(&member, digit),
            event = leg.next_event() => match event {
                Some(OutboundEvent::Reinvite(reinvite)) => {
                    answer_reinvite(reinvite, &ours);
                }
                Some(OutboundEvent::Digit(digit)) => switch(&member, digit),
                Some(OutboundEvent::Refer(refer)) => refer.refuse(403, "no transfers for a supervisor").await,
                Some(OutboundEvent::Ringing { .. } | OutboundEvent::Answered { .. }) => {}
                _ => return,
            },
        }
    }
}

/// A supervisor's digit: 4 listen, 5 whisper, 6 barge; others are ignored.
pub fn switch(member: &Member, digit: char) {
    if let Some(mode) = Mode::of_digit(digit) {
        tracing::info!(mode = mode.as_str(), "the supervisor switches");
        member.set_role(mode.role());
    }
}
