//! Conference rooms: every member hears the sum of the others (never themselves).
//!
//! One task per room does all the work on a 20 ms clock: it drains each member's socket
//! without blocking, decodes the audio into a short per-member queue (which absorbs jitter and
//! ptime differences, e.g. a 30 ms phone in a 20 ms room), mixes, and sends each member the
//! mix minus their own voice in their own codec and ptime, on their own RTP stream.
//!
//! A member's [`Role`] says who hears them: a supervisor who listens is heard by no one, one
//! who whispers only by the employee he coaches. A room lives while it has a party to the call
//! (a talker); guests — supervisors — alone do not keep it open, and learn that it closed
//! through [`Member::dead`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use super::bridge::BridgeSide;
use super::dtmf::DtmfReceiver;
use super::rtp::{HEADER_LEN, RtpPacket, RtpSender};

/// The room's clock.
const TICK: Duration = Duration::from_millis(20);
const TICK_SAMPLES: usize = 160;
/// More queued audio than this (a burst after a network stall) is dropped from the front, so
/// a member's delay stays under 100 ms.
const MAX_QUEUED: usize = 5 * TICK_SAMPLES;

/// Who hears a member, and whether the member keeps the room open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A party to the call: heard by everyone.
    Talker,
    /// A party to the call who also hears whisperers (the employee being coached).
    Coached,
    /// A guest heard by no one (a supervisor listening in).
    Listener,
    /// A guest heard only by the coached party.
    Whisperer,
    /// A guest heard by everyone (a supervisor who barged in).
    Barger,
}

impl Role {
    fn keeps_room_open(self) -> bool {
        matches!(self, Role::Talker | Role::Coached)
    }

    fn heard_by_all(self) -> bool {
        matches!(self, Role::Talker | Role::Coached | Role::Barger)
    }
}

enum Command {
    Join {
        id: u64,
        side: BridgeSide,
        role: Role,
        /// Where the member's RFC 4733 digits go (none: dropped).
        digits: Option<mpsc::UnboundedSender<char>>,
        /// Fired when the member stops sending RTP for the dead-call timeout.
        dead: oneshot::Sender<()>,
    },
    Role(u64, Role),
    Leave(u64),
}

type RoomMap = HashMap<String, mpsc::UnboundedSender<Command>>;

/// The open rooms by name.
#[derive(Default)]
pub struct Rooms {
    rooms: Arc<Mutex<RoomMap>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// One party's place in a room; dropping it leaves the room.
pub struct Member {
    id: u64,
    room: mpsc::UnboundedSender<Command>,
    dead: oneshot::Receiver<()>,
}

impl Member {
    /// Resolves when the member's phone has sent nothing for the room's timeout (it lost power
    /// or network and will never send its BYE), or the room closed under a guest.
    pub async fn dead(&mut self) {
        let _ = (&mut self.dead).await;
    }

    /// From now on the member is heard as `role` says.
    pub fn set_role(&self, role: Role) {
        let _ = self.room.send(Command::Role(self.id, role));
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.room.send(Command::Leave(self.id));
    }
}

impl Rooms {
    /// Puts `side` into the room `name` as a talker (opening it when it is not open); members
    /// with no RTP for `timeout` are dropped from the room.
    pub fn join(&self, name: &str, side: BridgeSide, timeout: Duration) -> Member {
        let mut rooms = self.rooms.lock();
        let room = match rooms.get(name) {
            Some(room) if !room.is_closed() => room.clone(),
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(mix(name.to_string(), rx, self.rooms.clone(), timeout));
                rooms.insert(name.to_string(), tx.clone());
                tx
            }
        };
        self.seat(room, side, Role::Talker, None)
    }

    /// Puts a guest into the open room `name` as `role`, its digits sent to `digits`; none
    /// when the room is not open (a guest never opens one).
    pub fn visit(
        &self,
        name: &str,
        side: BridgeSide,
        role: Role,
        digits: mpsc::UnboundedSender<char>,
    ) -> Option<Member> {
        let rooms = self.rooms.lock();
        let room = rooms.get(name).filter(|r| !r.is_closed())?.clone();
        Some(self.seat(room, side, role, Some(digits)))
    }

    /// Sends the join. Joins and a room's closing both happen under the rooms' lock (held by
    /// the caller), so a join never lands in a room that is just closing.
    fn seat(
        &self,
        room: mpsc::UnboundedSender<Command>,
        side: BridgeSide,
        role: Role,
        digits: Option<mpsc::UnboundedSender<char>>,
    ) -> Member {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (dead_tx, dead) = oneshot::channel();
        let _ = room.send(Command::Join {
            id,
            side,
            role,
            digits,
            dead: dead_tx,
        });
        Member { id, room, dead }
    }

    /// How many rooms are open.
    pub fn open(&self) -> usize {
        self.rooms.lock().values().filter(|r| !r.is_closed()).count()
    }
}

/// A member as the mixing task sees it.
struct Seat {
    id: u64,
    side: BridgeSide,
    role: Role,
    digits: Option<(mpsc::UnboundedSender<char>, DtmfReceiver)>,
    queue: VecDeque<i16>,
    /// This tick's frame of their voice.
    voice: [i16; TICK_SAMPLES],
    /// Mixed audio waiting to fill one of their packets.
    pending: Vec<i16>,
    sender: RtpSender,
    last_heard: Instant,
    dead: Option<oneshot::Sender<()>>,
}

impl Seat {
    fn new(
        id: u64,
        side: BridgeSide,
        role: Role,
        digits: Option<mpsc::UnboundedSender<char>>,
        dead: oneshot::Sender<()>,
    ) -> Self {
        Seat {
            id,
            side,
            role,
            digits: digits.map(|d| (d, DtmfReceiver::default())),
            queue: VecDeque::with_capacity(MAX_QUEUED),
            voice: [0; TICK_SAMPLES],
            pending: Vec::with_capacity(2 * TICK_SAMPLES),
            sender: RtpSender::new(rand::random(), rand::random(), rand::random()),
            last_heard: Instant::now(),
            dead: Some(dead),
        }
    }

    /// Takes everything that arrived since the last tick.
    fn receive(&mut self, buf: &mut [u8]) {
        // The member's RTP only (the socket's latch); replies go where it comes from.
        while let Ok((n, _)) = self.side.socket.try_recv_media(buf) {
            let Some(packet) = RtpPacket::parse(&buf[..n]) else {
                continue; // RTCP or noise
            };
            if Some(packet.payload_type) == self.side.media.telephone_event
                && let Some((digits, receiver)) = &mut self.digits
                && let Some(digit) = receiver.on_packet(packet.timestamp, packet.payload)
            {
                let _ = digits.send(digit);
            }
            if packet.payload_type != self.side.media.payload_type {
                continue; // digits and comfort noise are not mixed
            }
            self.last_heard = Instant::now();
            let codec = self.side.media.codec;
            self.queue.extend(packet.payload.iter().map(|b| codec.decode(*b)));
        }
        let excess = self.queue.len().saturating_sub(MAX_QUEUED);
        self.queue.drain(..excess);
        for (slot, sample) in self.voice.iter_mut().zip(
            self.queue
                .drain(..TICK_SAMPLES.min(self.queue.len()))
                .chain(std::iter::repeat(0)),
        ) {
            *slot = sample;
        }
    }

    /// Queues what they hear — the voices heard by all without their own, and whispers when
    /// they are coached — and sends whole packets of it.
    fn send(&mut self, mix: &Mix, packet: &mut [u8]) {
        let own = self.role.heard_by_all().then_some(&self.voice);
        let whispers = (self.role == Role::Coached).then_some(&mix.whispers);
        self.pending.extend((0..TICK_SAMPLES).map(|i| {
            let heard = mix.all[i] - own.map_or(0, |v| v[i] as i32) + whispers.map_or(0, |w| w[i]);
            heard.clamp(i16::MIN as i32, i16::MAX as i32) as i16
        }));
        let media = &self.side.media;
        let per_packet = (media.ptime as usize * 8).max(TICK_SAMPLES / 2);
        while self.pending.len() >= per_packet {
            let mut payload = [0u8; 480];
            for (out, sample) in payload.iter_mut().zip(self.pending.drain(..per_packet)) {
                *out = media.codec.encode(sample);
            }
            let payload = &payload[..per_packet.min(480)];
            let n = self
                .sender
                .write(packet, media.payload_type, payload, per_packet as u32);
            // A full socket buffer loses a packet of the conference, not the member.
            self.side.socket.try_send_media(&packet[..n]);
        }
    }
}

/// One tick's sums: the voices everyone hears, and those only the coached party hears.
struct Mix {
    all: [i32; TICK_SAMPLES],
    whispers: [i32; TICK_SAMPLES],
}

async fn mix(
    name: String,
    mut commands: mpsc::UnboundedReceiver<Command>,
    rooms: Arc<Mutex<RoomMap>>,
    timeout: Duration,
) {
    tracing::info!(room = %name, "conference room opens");
    let mut seats: Vec<Seat> = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut buf = [0u8; 2048];
    let mut packet = [0u8; HEADER_LEN + 480];
    loop {
        tick.tick().await;
        while let Ok(command) = commands.try_recv() {
            apply(&mut seats, command, &name);
        }
        if !seats.iter().any(|s| s.role.keeps_room_open()) {
            let mut map = rooms.lock();
            // A join may have come in since the drain; under the lock none can come after.
            while let Ok(command) = commands.try_recv() {
                apply(&mut seats, command, &name);
            }
            if !seats.iter().any(|s| s.role.keeps_room_open()) {
                map.remove(&name);
                tracing::info!(room = %name, guests = seats.len(), "conference room closes");
                // Dropping the guests' seats tells them (`Member::dead`).
                return;
            }
        }
        let mut mixed = Mix {
            all: [0; TICK_SAMPLES],
            whispers: [0; TICK_SAMPLES],
        };
        for seat in &mut seats {
            seat.receive(&mut buf);
            let sum = match seat.role {
                Role::Listener => continue,
                Role::Whisperer => &mut mixed.whispers,
                _ => &mut mixed.all,
            };
            for (sum, sample) in sum.iter_mut().zip(seat.voice.iter()) {
                *sum += *sample as i32;
            }
        }
        for seat in &mut seats {
            seat.send(&mixed, &mut packet);
        }
        for seat in &mut seats {
            if seat.last_heard.elapsed() >= timeout
                && let Some(dead) = seat.dead.take()
            {
                tracing::info!(room = %name, member = seat.id, "no RTP from a member: dead");
                let _ = dead.send(());
            }
        }
    }
}

fn apply(seats: &mut Vec<Seat>, command: Command, room: &str) {
    match command {
        Command::Join {
            id,
            side,
            role,
            digits,
            dead,
        } => {
            tracing::info!(%room, member = id, ?role, members = seats.len() + 1, "joins");
            seats.push(Seat::new(id, side, role, digits, dead));
        }
        Command::Role(id, role) => {
            if let Some(seat) = seats.iter_mut().find(|s| s.id == id) {
                tracing::info!(%room, member = id, ?role, "is heard as");
                seat.role = role;
            }
        }
        Command::Leave(id) => {
            seats.retain(|s| s.id != id);
            tracing::info!(%room, member = id, members = seats.len(), "leaves");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sdp::{Codec, MediaOffer};
    use std::net::SocketAddr;
    use tokio::net::UdpSocket;

    /// A member's phone: its own socket, and the room's side towards it.
    async fn phone(codec: Codec, ptime: u32) -> (UdpSocket, BridgeSide) {
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ours = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let media = MediaOffer {
            remote: phone.local_addr().unwrap(),
            codec,
            payload_type: if codec == Codec::Pcma { 8 } else { 0 },
            telephone_event: None,
            ptime,
        };
        let side = BridgeSide::new(Arc::new(crate::media::RtpSocket::plain(ours)), media, 1);
        (phone, side)
    }

    async fn talk(phone: &UdpSocket, to: SocketAddr, codec: Codec, level: i16, packets: usize) {
        let mut sender = RtpSender::new(1, 0, 0);
        let mut buf = [0u8; 200];
        let pt = if codec == Codec::Pcma { 8 } else { 0 };
        for _ in 0..packets {
            let n = sender.write(&mut buf, pt, &[codec.encode(level); 160], 160);
            phone.send_to(&buf[..n], to).await.unwrap();
            tokio::time::sleep(TICK).await;
        }
    }

    /// The loudest sample a phone heard over `within`.
    async fn heard(phone: &UdpSocket, codec: Codec, within: Duration) -> i16 {
        let mut loudest = 0;
        let mut buf = [0u8; 2048];
        let until = Instant::now() + within;
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, phone.recv_from(&mut buf)).await {
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            loudest = p.payload.iter().map(|b| codec.decode(*b).abs()).fold(loudest, i16::max);
        }
        loudest
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_hear_the_others_not_themselves() {
        let rooms = Rooms::default();
        let (a, side_a) = phone(Codec::Pcma, 20).await;
        let (b, side_b) = phone(Codec::Pcmu, 30).await;
        let (to_a, to_b) = (side_a.socket.local_addr().unwrap(), side_b.socket.local_addr().unwrap());
        let member_a = rooms.join("r", side_a, Duration::from_secs(60));
        let _member_b = rooms.join("r", side_b, Duration::from_secs(60));
        assert_eq!(rooms.open(), 1);
        // a speaks: b hears it (in its own law), a hears nothing of itself.
        let (_, at_b, at_a) = tokio::join!(
            talk(&a, to_a, Codec::Pcma, 6000, 25),
            heard(&b, Codec::Pcmu, Duration::from_millis(600)),
            heard(&a, Codec::Pcma, Duration::from_millis(600)),
        );
        assert!(at_b > 5000, "b heard {at_b}");
        assert!(at_a < 100, "a heard itself: {at_a}");
        // b speaks: a hears it.
        let (_, at_a) = tokio::join!(
            talk(&b, to_b, Codec::Pcmu, 3000, 25),
            heard(&a, Codec::Pcma, Duration::from_millis(600))
        );
        assert!(at_a > 2500, "a heard {at_a}");
        drop(member_a);
        drop(_member_b);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rooms.open(), 0, "an empty room closes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_whisper_reaches_the_coached_party_only_and_a_listener_is_heard_by_no_one() {
        let rooms = Rooms::default();
        let minute = Duration::from_secs(60);
        let (employee, side_e) = phone(Codec::Pcma, 20).await;
        let (caller, side_c) = phone(Codec::Pcma, 20).await;
        let (boss, side_b) = phone(Codec::Pcma, 20).await;
        let to_boss = side_b.socket.local_addr().unwrap();
        let (digits, _) = mpsc::unbounded_channel();
        assert!(
            rooms
                .visit("r", side_b.clone(), Role::Listener, digits.clone())
                .is_none(),
            "a guest opens no room"
        );
        let coached = rooms.join("r", side_e, minute);
        coached.set_role(Role::Coached);
        let _caller = rooms.join("r", side_c, minute);
        let mut supervisor = rooms
            .visit("r", side_b, Role::Whisperer, digits)
            .expect("the room is open");
        // What the employee and the caller hear of the supervisor speaking.
        let boss_speaks = || async {
            let (_, at_employee, at_caller) = tokio::join!(
                talk(&boss, to_boss, Codec::Pcma, 6000, 25),
                heard(&employee, Codec::Pcma, Duration::from_millis(600)),
                heard(&caller, Codec::Pcma, Duration::from_millis(600)),
            );
            (at_employee, at_caller)
        };
        // Whispering: the employee hears him, the caller does not.
        let (at_employee, at_caller) = boss_speaks().await;
        assert!(
            at_employee > 5000 && at_caller < 100,
            "heard {at_employee} / {at_caller}"
        );
        // Listening: he is heard by no one.
        supervisor.set_role(Role::Listener);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (at_employee, at_caller) = boss_speaks().await;
        assert!(
            at_employee < 100 && at_caller < 100,
            "heard {at_employee} / {at_caller}"
        );
        // Barging in: everyone hears him.
        supervisor.set_role(Role::Barger);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (at_employee, at_caller) = boss_speaks().await;
        assert!(
            at_employee > 5000 && at_caller > 5000,
            "heard {at_employee} / {at_caller}"
        );
        // The parties leave: the room closes under the supervisor.
        drop((coached, _caller));
        tokio::time::timeout(Duration::from_secs(2), supervisor.dead())
            .await
            .expect("the guest learns the room closed");
        assert_eq!(rooms.open(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_member_is_reported_dead() {
        let rooms = Rooms::default();
        let (_phone, side) = phone(Codec::Pcma, 20).await;
        let mut member = rooms.join("quiet", side, Duration::from_millis(200));
        tokio::time::timeout(Duration::from_secs(2), member.dead())
            .await
            .expect("reported dead");
    }
}
