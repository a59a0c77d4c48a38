//! The overload gate at the UDP socket: when the node is behind, a new request is answered 503
//! here, before the SIP stack parses it, keeps a transaction for it or queues it for a task.
//!
//! The gate must be cheaper than the work it sheds. Refused through the stack, each request
//! cost a parse, a transaction kept 32 s and a task: offered four times its capacity, the node
//! spent itself refusing and served 60–80 % of it (docs/benchmarks.md). Here a refusal is the
//! guard's parse, which every datagram has anyway, and one send, like a stateless proxy
//! (RFC 3261 §16.7, Kamailio's `sl_send_reply`), and its ACK is absorbed here too.
//!
//! Before the node's load, the sender's: the edge's allowance per source address and for all
//! strangers ([`super::edge`]) is taken here for these requests, so one stranger's flood is
//! dropped at the cost of a parse and never makes the node refuse everyone else.
//!
//! How long each datagram waited in the socket is the kernel's to say: it stamps each one on
//! arrival ([`arrival_age`]). While most new requests are dropped by the edge, though, the
//! queue is a flood the edge is already shedding, and the wait says how hard a stranger
//! floods, not how busy the node is: refusing real callers then would hand him the denial of
//! service he is after, and drain nothing. Then the runtime's lag alone decides.
//!
//! A retransmission of a request already let in always passes: the stack has its transaction,
//! and a 503 for it would contradict the answer on its way. A retransmission is the same
//! datagram from the same address (RFC 3261 §17.1.1.2), so that is what is remembered, by a
//! keyed hash: not its Via branch, which a stranger could reuse on new requests to walk past
//! his allowance.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::UdpSocket;

use super::edge::{Admission, Edge};
use super::guard::Kind;
use super::overload::Overload;
use crate::throttle::Rate;

/// Stateless 503s for overload a second at most (each answers a datagram, smaller than it, to
/// the address it came from); past them refused requests are dropped.
const REFUSALS_RATE: f64 = 4_000.0;
const REFUSALS_BURST: f64 = 4_000.0;
/// Admitted requests are remembered for one to two of these: longer than a phone retransmits
/// a request the stack is answering.
const REMEMBER: Duration = Duration::from_secs(16);
/// At most this many requests in each of the two generations (a full one remembers no more:
/// a late retransmission may then be refused, never anything worse).
const REMEMBER_AT_MOST: usize = 32_768;

/// What the socket does with a datagram that passed the guard.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Pass,
    /// Answer with these bytes (a stateless 503), and do not pass it on.
    Refuse(Vec<u8>),
    Drop,
}

pub struct Intake {
    /// Set when the server starts serving (it knows the trunks then); until then nothing is
    /// dispatched anyway.
    edge: OnceLock<Arc<Edge>>,
    overload: Overload,
    admitted: Mutex<Admitted>,
    refusals: Rate,
}

/// Requests let in lately (hashes of source address and datagram), in two generations; and
/// how many new requests the edge dropped, this second and the last.
struct Admitted {
    /// A key of this node's own, so nobody can make two requests that look the same here.
    hasher: RandomState,
    current: HashSet<u64>,
    previous: HashSet<u64>,
    since: Instant,
    floods: FloodShare,
}

/// The share of new requests the edge dropped, by the second.
struct FloodShare {
    since: Instant,
    openings: u32,
    dropped: u32,
    /// Whether the edge dropped most of the last full second's.
    flooded_before: bool,
}

impl FloodShare {
    fn new() -> Self {
        FloodShare {
            since: Instant::now(),
            openings: 0,
            dropped: 0,
            flooded_before: false,
        }
    }

    fn count(&mut self, dropped: bool) {
        if self.since.elapsed() >= Duration::from_secs(1) {
            *self = FloodShare {
                flooded_before: self.flooded_now(),
                ..FloodShare::new()
            };
        }
        self.openings += 1;
        self.dropped += u32::from(dropped);
    }

    fn flooded_now(&self) -> bool {
        self.openings >= FLOOD_COUNTS_FROM && 2 * self.dropped > self.openings
    }

    /// Whether most new requests are being dropped by the edge: the socket's queue is then a
    /// flood's.
    fn flooded(&self) -> bool {
        self.flooded_before || self.flooded_now()
    }
}

/// New requests in a second from which the share dropped says anything.
const FLOOD_COUNTS_FROM: u32 = 100;

impl Intake {
    pub fn new(overload: Overload) -> Self {
        Intake {
            edge: OnceLock::new(),
            overload,
            admitted: Mutex::new(Admitted {
                hasher: RandomState::new(),
                current: HashSet::new(),
                previous: HashSet::new(),
                since: Instant::now(),
                floods: FloodShare::new(),
            }),
            refusals: Rate::new(REFUSALS_RATE, REFUSALS_BURST),
        }
    }

    pub fn set_edge(&self, edge: Arc<Edge>) {
        let _ = self.edge.set(edge);
    }

    /// Decides on `datagram`, of this kind, from `from`, which waited `waited` in the socket
    /// (when known).
    pub fn decide(&self, datagram: &[u8], kind: &Kind, from: SocketAddr, waited: Option<Duration>) -> Decision {
        if let Some(waited) = waited {
            self.overload.note_socket_wait(waited);
        }
        let opening = match kind {
            Kind::Other => return Decision::Pass,
            Kind::AckOfRefusal => return Decision::Drop,
            Kind::Opening(opening) => opening,
        };
        let mut admitted = self.admitted.lock();
        if admitted.since.elapsed() >= REMEMBER {
            admitted.previous = std::mem::take(&mut admitted.current);
            admitted.since = Instant::now();
        }
        let seen = admitted.hasher.hash_one((from.ip(), datagram));
        if admitted.current.contains(&seen) || admitted.previous.contains(&seen) {
            return Decision::Pass; // a retransmission: the stack has it in hand
        }
        let admission = self
            .edge
            .get()
            .map_or(Admission::Take, |edge| edge.admit_datagram(from));
        admitted.floods.count(admission == Admission::Drop);
        match admission {
            Admission::Take => {}
            // The edge's own refusals are bounded by its own rate.
            Admission::Refuse => return refuse(opening),
            Admission::Drop => return Decision::Drop,
        }
        let taken = match admitted.floods.flooded() {
            true => self.overload.admit_by_lag(opening.work),
            false => self.overload.admit(opening.work),
        };
        if taken {
            if admitted.current.len() < REMEMBER_AT_MOST {
                admitted.current.insert(seen);
            }
            return Decision::Pass;
        }
        drop(admitted);
        match self.refusals.take() {
            true => refuse(opening),
            false => Decision::Drop,
        }
    }
}

fn refuse(opening: &super::guard::Opening) -> Decision {
    super::guard::refusal(opening).map_or(Decision::Drop, Decision::Refuse)
}

/// Asks the kernel to stamp the datagrams `socket` receives, for [`arrival_age`]. The kernel
/// turns stamping on a moment later (a deferred static key): a datagram read before that says
/// it waited nothing.
pub fn stamp_arrivals(socket: &UdpSocket) {
    let _ = arrival_age(socket); // the first asking turns it on
}

/// How long ago the datagram last read from `socket` arrived, from the kernel's stamp
/// (SIOCGSTAMPNS).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn arrival_age(socket: &UdpSocket) -> Option<Duration> {
    use std::os::fd::AsRawFd;
    use std::time::{SystemTime, UNIX_EPOCH};
    /// linux/sockios.h; the 64-bit time_t form (SIOCGSTAMPNS_OLD on 64-bit machines).
    const SIOCGSTAMPNS: u64 = 0x8907;
    let mut at = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: the ioctl writes one timespec into `at`, which outlives the call.
    let done = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS as _, &mut at) };
    if done != 0 || at.tv_sec <= 0 {
        return None;
    }
    let arrived = UNIX_EPOCH + Duration::new(at.tv_sec as u64, at.tv_nsec as u32);
    // The stamp is wall-clock time: a clock stepped back makes an age that is no wait at all.
    SystemTime::now()
        .duration_since(arrived)
        .ok()
        .filter(|age| *age < Duration::from_secs(10))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn arrival_age(_socket: &UdpSocket) -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::super::guard::{self, Verdict};
    use super::*;
    use std::net::IpAddr;

    fn invite(branch: &str, credentials: bool) -> Vec<u8> {
        let auth = if credentials {
            "Proxy-Authorization: Digest username=\"bob\", realm=\"x\", nonce=\"n\", uri=\"sip:101@x\", response=\"r\"\r\n"
        } else {
            ""
        };
        format!(
            "INVITE sip:101@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n\
             From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:101@127.0.0.1>\r\nCall-ID: {branch}\r\nCSeq: 1 INVITE\r\n\
             {auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// The intake's decision on a datagram that passed the guard.
    fn decide(intake: &Intake, datagram: &[u8], ip: IpAddr, waited: Option<Duration>) -> Decision {
        intake.decide(datagram, &kind(datagram), SocketAddr::new(ip, 5070), waited)
    }

    fn kind(datagram: &[u8]) -> Kind {
        let (verdict, kind) = guard::examine(datagram);
        assert_eq!(verdict, Verdict::Pass);
        kind
    }

    /// Datagrams that waited `ms` each, read 1 ms apart for 200 ms: the smoothed wait settles,
    /// and has stayed long enough to count.
    fn behind_by(intake: &Intake, ms: u64) {
        for _ in 0..200 {
            intake.decide(b"", &Kind::Other, (HOME, 5070).into(), Some(Duration::from_millis(ms)));
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn behind_it_refuses_new_requests_statelessly_and_lets_retransmissions_through() {
        let intake = Intake::new(Overload::default());
        let admitted = invite("z9hG4bKfirst", false);
        assert_eq!(decide(&intake, &admitted, HOME, Some(Duration::ZERO)), Decision::Pass);

        behind_by(&intake, 50);
        let Decision::Refuse(answer) = decide(&intake, &invite("z9hG4bKnew", false), HOME, None) else {
            panic!("a new INVITE is refused when datagrams wait 50 ms")
        };
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("SIP/2.0 503 Service Unavailable\r\n"), "{answer}");
        assert!(answer.contains("\r\nRetry-After: 2\r\n"), "{answer}");
        assert!(
            answer.contains("branch=z9hG4bKnew") && answer.contains("CSeq: 1 INVITE"),
            "{answer}"
        );
        assert!(
            matches!(
                decide(&intake, &invite("z9hG4bKauth", true), HOME, None),
                Decision::Refuse(_)
            ),
            "at ten times the target, the second half of a call is refused too"
        );
        assert_eq!(
            decide(&intake, &admitted, HOME, None),
            Decision::Pass,
            "the retransmission of one let in before"
        );
        let same_branch = String::from_utf8(admitted.clone())
            .unwrap()
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
        assert!(
            matches!(decide(&intake, same_branch.as_bytes(), HOME, None), Decision::Refuse(_)),
            "another request under an admitted one's branch is no retransmission"
        );
        assert!(
            matches!(
                decide(&intake, &admitted, "192.0.2.9".parse().unwrap(), None),
                Decision::Refuse(_)
            ),
            "nor is the same datagram from another address"
        );

        // The refused phone's ACK carries the 503's To tag: absorbed here.
        let tag = answer
            .split("To: <sip:101@127.0.0.1>;tag=")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap();
        let ack = format!(
            "ACK sip:101@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKnew;rport\r\n\
             From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:101@127.0.0.1>;tag={tag}\r\nCall-ID: z9hG4bKnew\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(decide(&intake, ack.as_bytes(), HOME, None), Decision::Drop);

        // Caught up: new requests are let in again.
        behind_by(&intake, 0);
        assert_eq!(
            decide(&intake, &invite("z9hG4bKlater", false), HOME, None),
            Decision::Pass
        );
    }

    /// An intake with the edge's allowances (no trunks, no proxies).
    fn with_edge() -> Intake {
        let intake = Intake::new(Overload::default());
        intake.set_edge(Arc::new(Edge::new(
            super::super::TrunkAcl::new(Vec::new()),
            Default::default(),
        )));
        intake
    }

    /// `n` new INVITEs, examined by the guard beforehand: a debug build's parse is slow enough
    /// that the timed part of a test would otherwise measure it.
    fn invites(n: usize, prefix: &str) -> Vec<(Vec<u8>, Kind)> {
        (0..n)
            .map(|i| {
                let datagram = invite(&format!("z9hG4bK{prefix}{i}"), false);
                let kind = kind(&datagram);
                (datagram, kind)
            })
            .collect()
    }

    #[test]
    fn a_strangers_flood_is_dropped_by_his_allowance_and_others_still_come_in() {
        let intake = with_edge();
        let (stranger, neighbour): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let flood = invites(2_000, "s");
        let started = Instant::now();
        let decisions: Vec<Decision> = flood
            .iter()
            .map(|(datagram, kind)| {
                intake.decide(datagram, kind, SocketAddr::new(stranger, 5070), Some(Duration::ZERO))
            })
            .collect();
        // His burst of 500, and what his allowance of 100 a second refilled meanwhile.
        let refilled = (100.0 * started.elapsed().as_secs_f64()).ceil() as usize;
        let passed = decisions.iter().filter(|d| **d == Decision::Pass).count();
        assert!(
            (500..=501 + refilled).contains(&passed),
            "his burst and what refilled meanwhile ({refilled}): {passed}"
        );
        assert_eq!(
            decisions.iter().filter(|d| **d == Decision::Drop).count(),
            2_000 - passed
        );
        assert_eq!(
            decide(&intake, &invite("z9hG4bKn", false), neighbour, Some(Duration::ZERO)),
            Decision::Pass,
            "another address has its own allowance"
        );
    }

    #[test]
    fn a_strangers_flood_that_fills_the_socket_does_not_get_real_callers_refused() {
        let intake = with_edge();
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        let flood = invites(2_000, "s");
        behind_by(&intake, 50);
        for (datagram, kind) in &flood {
            intake.decide(
                datagram,
                kind,
                SocketAddr::new(stranger, 5070),
                Some(Duration::from_millis(50)),
            );
        }
        assert_eq!(
            decide(
                &intake,
                &invite("z9hG4bKreal", false),
                HOME,
                Some(Duration::from_millis(50))
            ),
            Decision::Pass,
            "the queue is the stranger's, most of which the edge drops: the caller gets in"
        );

        // The same wait with no flood behind it: the node is behind, and refuses.
        let busy = with_edge();
        behind_by(&busy, 50);
        assert!(matches!(
            decide(
                &busy,
                &invite("z9hG4bKreal", false),
                HOME,
                Some(Duration::from_millis(50))
            ),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn refusals_are_bounded() {
        let intake = Intake::new(Overload::default());
        let flood = invites(2 * REFUSALS_BURST as usize, "");
        behind_by(&intake, 50);
        let decisions: Vec<Decision> = flood
            .iter()
            .map(|(datagram, kind)| intake.decide(datagram, kind, SocketAddr::new(HOME, 5070), None))
            .collect();
        let refused = decisions.iter().filter(|d| matches!(d, Decision::Refuse(_))).count();
        assert!(refused >= REFUSALS_BURST as usize - 1, "{refused}");
        assert!(
            decisions.contains(&Decision::Drop),
            "past the burst, dropped unanswered"
        );
        assert!(!decisions.contains(&Decision::Pass));
    }

    #[tokio::test]
    async fn the_kernel_says_how_long_a_datagram_waited() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 16];
        stamp_arrivals(&socket);
        std::thread::sleep(Duration::from_millis(100)); // the kernel's deferred switch
        sender.send_to(b"one", socket.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        socket.recv_from(&mut buf).await.unwrap();
        if cfg!(all(target_os = "linux", target_pointer_width = "64")) {
            let age = arrival_age(&socket).expect("a stamp");
            assert!(age >= Duration::from_millis(30), "{age:?}");
        }
    }
}
