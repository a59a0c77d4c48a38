//! The forking B2BUA behind `dial`, seen from real phones: sipp instances register as employees
//! (digest auth), then answer, ring until cancelled, or are busy, exactly as the hunt flow's
//! strategy asks; the caller is bridged to whoever answers, with RTP relayed both ways.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::harness::{RtpPeer, Server, trace};
use crate::registrar::{PASSWORD, add_employee};
use crate::sipp::{self, PHONE_EVENTS, Phone, SippRun};

const NUMBER: &str = "+15550100200";
const VOICE: &str = "/usr/share/sip-tester/g711a.pcap";

/// An employee's desk phone: registered from `port`, then sipp in server mode on that port.
pub struct Desk {
    login: &'static str,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub rtp: RtpPeer,
}

/// One line of a phone's event file.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub at: f64,
    /// What the event noted (INVITE: the RTP port offered to the phone; CALLER: its caller ID).
    pub details: Vec<String>,
}

impl Event {
    pub fn port(&self) -> Option<u16> {
        self.details.first()?.parse().ok()
    }
}

impl Desk {
    /// A SIP peer on a free port that has not registered (e.g. a carrier).
    pub async fn unregistered(login: &'static str) -> Desk {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Desk {
            login,
            port,
            dir: tempfile::tempdir().unwrap(),
            rtp: RtpPeer::bind().await,
        }
    }

    /// A new employee whose phone registers with digest authentication.
    pub async fn register(server: &Server, login: &'static str, extension: &str) -> Desk {
        add_employee(server, login, extension).await;
        Desk::another_phone_of(server, login).await
    }

    /// One more registered phone of an existing employee.
    pub async fn another_phone_of(server: &Server, login: &'static str) -> Desk {
        Desk::registered_at(server.sip, login).await
    }

    /// A phone of an existing employee registered with the SIP server at `sip` (an exchange,
    /// or the proxy in front of several).
    pub async fn registered_at(sip: SocketAddr, login: &'static str) -> Desk {
        for _ in 0..5 {
            let desk = Desk::unregistered(login).await;
            let port_arg = desk.port.to_string();
            let run = sipp::run(
                sip,
                sipp::phone_registers(200),
                login,
                &["-au", login, "-ap", PASSWORD, "-p", &port_arg],
            )
            .await;
            // The free port we picked may have been taken meanwhile (by another test's peer):
            // pick another.
            if !run.success && run.output.contains("Address already in use") {
                continue;
            }
            assert!(run.success, "{login} registers: {}", run.output);
            return desk;
        }
        panic!("{login}: no free port for its phone after 5 tries");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the phone's behaviour for the next call.
    pub fn expect(&self, server: &Server, behaviour: Phone) -> tokio::task::JoinHandle<SippRun> {
        self.expect_scenario(server.sip, sipp::phone(behaviour))
    }

    /// Starts the phone's sipp with `scenario` (a [`sipp::phone`] one) for the next call, its
    /// own requests to `sip`.
    pub fn expect_scenario(&self, sip: SocketAddr, scenario: String) -> tokio::task::JoinHandle<SippRun> {
        let (dir, login) = (self.dir.path().to_path_buf(), self.login);
        let args = [
            "-p".to_string(),
            self.port.to_string(),
            "-key".into(),
            "rtp_port".into(),
            self.rtp.port().to_string(),
        ];
        STARTING.with_borrow_mut(|ports| ports.push(self.port));
        tokio::spawn(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sipp::run_in(&dir, sip, scenario, login, &args).await
        })
    }

    /// The phone's busy-lamp key for extension `watched`, subscribed at `sip` (see
    /// [`sipp::busy_lamp`]) and shown its first state: the key's sipp, which ends once it was
    /// shown every one of `states`.
    pub async fn watch_lamp(
        &self,
        sip: SocketAddr,
        watched: &'static str,
        states: &[&'static str],
    ) -> tokio::task::JoinHandle<SippRun> {
        let (dir, login, states) = (self.dir.path().to_path_buf(), self.login, states.to_vec());
        let lamp = tokio::spawn(async move {
            let args = ["-au", login, "-ap", PASSWORD];
            sipp::run_in(&dir, sip, sipp::busy_lamp(login, &states), watched, &args).await
        });
        self.wait_for("LAMP", Duration::from_secs(10)).await;
        lamp
    }

    /// The states the phone's busy-lamp key was shown, in order.
    pub fn lamps(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.name == "LAMP")
            .map(|e| e.details[0].clone())
            .collect()
    }

    pub fn events(&self) -> Vec<Event> {
        let text = std::fs::read_to_string(self.dir.path().join(PHONE_EVENTS)).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                Some(Event {
                    name: words.next()?.to_string(),
                    at: words.next()?.parse().ok()?,
                    details: words.map(str::to_string).collect(),
                })
            })
            .collect()
    }

    pub fn event(&self, name: &str) -> Option<Event> {
        self.events().into_iter().find(|e| e.name == name)
    }

    pub async fn wait_for(&self, name: &str, within: Duration) -> Event {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(e) = self.event(name) {
                return e;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: no {name}; events: {:?}",
                self.login,
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn finished(server: &Server, who: &str, phone: tokio::task::JoinHandle<SippRun>) {
    let run = phone.await.unwrap();
    assert!(run.success, "{who}: {}\nserver log:\n{}", run.output, server.log());
}

thread_local! {
    /// Ports of phones this test told to `expect` a call, whose sipp may not have bound yet (a
    /// test's body runs on its own thread, so tests running side by side keep theirs apart).
    static STARTING: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Waits until every phone told to `expect` a call has its sipp bound to its port: on a loaded
/// machine sipp takes from milliseconds to seconds to start, and a call placed before that loses
/// its INVITE to a closed port.
pub async fn phones_listening() {
    let ports = STARTING.with_borrow_mut(std::mem::take);
    // A phone whose sipp already ran to its end is not bound either: give up waiting then, and
    // let the test's own checks say what went wrong.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ports.iter().all(|&port| udp_bound(port)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether some socket on this machine is bound to UDP `port`, read from the kernel's table
/// rather than by binding it ourselves (which could take the port from under sipp).
fn udp_bound(port: u16) -> bool {
    let wanted = format!(":{port:04X} ");
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|local| format!("{local} ").ends_with(&wanted))
            })
    })
}

fn pcma_packets_from(peer: &RtpPeer, from: SocketAddr) -> usize {
    peer.received()
        .iter()
        .filter(|p| p.from == from && p.data.len() > 12 && p.data[1] & 0x7f == 8)
        .count()
}

/// Ring-all to three: the second answers; the other two get CANCEL with
/// `Reason: SIP;cause=200` ("completed elsewhere"). Voice flows both ways through the relay; the
/// employee hangs up and the caller gets the BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_all_second_answers_the_others_are_cancelled_as_completed_elsewhere() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    let carol = Desk::register(&server, "carol", "103").await;
    server
        .assign(
            NUMBER,
            "hunt",
            json!({ "members": ["alice", "bob", "carol"], "strategy": "ring_all" }),
        )
        .await;
    let ringing = Phone::RingsUntilCancelled {
        completed_elsewhere: true,
    };
    let phones = [
        alice.expect(&server, ringing),
        bob.expect(
            &server,
            Phone::AnswersThenHangsUp {
                after_ms: 1000,
                hold_ms: 3000,
            },
        ),
        carol.expect(&server, ringing),
    ];
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        NUMBER,
        caller_rtp.port(),
    ));

    // Bob talks first (to the port the exchange offered him); the caller answers from where
    // the exchange's relay reached it.
    let offered = bob.wait_for("INVITE", Duration::from_secs(10)).await;
    let exchange_to_bob = SocketAddr::from(([127, 0, 0, 1], offered.port().expect("SDP port in the INVITE")));
    bob.wait_for("ANSWER", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let talk = Duration::from_millis(1500);
    let bob_talks = bob.rtp.play_pcap_for(Path::new(VOICE), exchange_to_bob, talk);
    let caller_talks = async {
        let exchange_to_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;
        (
            exchange_to_caller,
            caller_rtp
                .play_pcap_for(Path::new(VOICE), exchange_to_caller, talk)
                .await,
        )
    };
    let (bob_sent, (exchange_to_caller, caller_sent)) = tokio::join!(bob_talks, caller_talks);

    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    let [a, b, c] = phones;
    finished(&server, "alice", a).await;
    finished(&server, "bob", b).await;
    finished(&server, "carol", c).await;

    // Everyone rang at once; the losers were cancelled after bob answered.
    let invites: Vec<f64> = [&alice, &bob, &carol]
        .iter()
        .map(|d| d.event("INVITE").unwrap().at)
        .collect();
    let spread = invites.iter().cloned().fold(f64::MIN, f64::max) - invites.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 0.5, "ring-all started legs {spread:.3} s apart");
    // (Their CANCELs carried "completed elsewhere", which the exchange only says after a 2xx;
    // the times are when each phone's shell noted the event, so allow for scheduling.)
    let first_invite = invites.iter().cloned().fold(f64::MAX, f64::min);
    for loser in [&alice, &carol] {
        let rang = loser.event("CANCEL").unwrap().at - first_invite;
        assert!(
            rang >= 0.7,
            "{} rang only {rang:.3} s; bob answered after 1 s",
            loser.login
        );
    }

    // The relay carried each side's voice to the other (a few packets may still be in flight
    // at the edges, none may be lost in between on loopback).
    let to_caller = pcma_packets_from(&caller_rtp, exchange_to_caller);
    let to_bob = pcma_packets_from(&bob.rtp, exchange_to_bob);
    assert!(
        to_caller * 10 >= bob_sent * 9,
        "caller heard {to_caller} of bob's {bob_sent} packets"
    );
    assert!(
        to_bob * 10 >= caller_sent * 9,
        "bob heard {to_bob} of the caller's {caller_sent} packets"
    );

    let record = server.call_record(NUMBER).await;
    let events = trace(&record);
    assert!(
        events.iter().any(|e| e.contains("Answered") && e.contains("bob")),
        "{events:#?}"
    );
    assert_eq!(record["outcome"], "completed", "{record}");
}

/// A phone that vanishes from the network during a call never answers our BYE: the call still
/// ends when the caller hangs up — its record written at once, not after the BYE's 32 s of
/// retransmissions (the harness waits 15 s for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_never_answers_our_bye_does_not_hold_the_call() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let phone = alice.expect(&server, Phone::AnswersThenIgnoresBye { after_ms: 100 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_hangs_up(500), NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    let record = server.call_record(NUMBER).await;
    assert_eq!(
        (record["outcome"].as_str(), record["answered_by"].as_str()),
        (Some("caller-hangup"), Some("alice")),
        "{record}"
    );
    assert!(alice.event("BYE").is_some(), "alice's phone got our BYE");
    assert!(server.log().contains("no answer to our BYE yet"), "{}", server.log());
    phone.abort();
}

/// Alice and bob in a hunt group with `settings`; each phone does what it is told, the caller
/// runs `caller`. Returns once everyone's scenario passed.
async fn hunt_of_two(
    settings: serde_json::Value,
    alice_does: Phone,
    bob_does: Phone,
    caller: String,
) -> (Server, Desk, Desk) {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    server.assign(NUMBER, "hunt", settings).await;
    let a = alice.expect(&server, alice_does);
    let b = bob.expect(&server, bob_does);
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, caller, NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", a).await;
    finished(&server, "bob", b).await;
    (server, alice, bob)
}

/// In turn: alice rings alone; when bob's turn comes her INVITE is cancelled (no "completed
/// elsewhere": she simply missed it) as his starts. The caller hangs up; bob gets the BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_turn_cancels_the_previous_phone_when_the_next_starts() {
    let (server, alice, bob) = hunt_of_two(
        json!({ "members": ["alice", "bob"], "strategy": "in_turn", "step_secs": 2 }),
        Phone::RingsUntilCancelled {
            completed_elsewhere: false,
        },
        Phone::Answers { after_ms: 500 },
        sipp::caller_hangs_up(1000),
    )
    .await;
    let alice_invite = alice.event("INVITE").unwrap().at;
    let alice_cancel = alice.event("CANCEL").unwrap().at;
    let bob_invite = bob.event("INVITE").unwrap().at;
    assert!(
        (1.5..3.0).contains(&(bob_invite - alice_invite)),
        "bob's turn came {:.3} s after alice's",
        bob_invite - alice_invite
    );
    assert!(
        (alice_cancel - bob_invite).abs() < 0.8,
        "alice's CANCEL ({alice_cancel:.3}) and bob's INVITE ({bob_invite:.3}) should coincide"
    );
    assert!(bob.event("BYE").is_some(), "the caller's BYE reached bob");
    let record = server.call_record(NUMBER).await;
    assert_eq!(record["outcome"], "caller-hangup", "{record}");
    // The record's legs: alice's turn ran out, bob answered and talked until the caller left.
    let legs = record["legs"].as_array().unwrap();
    let summary: Vec<_> = legs
        .iter()
        .map(|l| (l["employee"].as_str(), l["result"].as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![(Some("alice"), Some("stopped")), (Some("bob"), Some("answered"))],
        "{record}"
    );
    let (alice_leg, bob_leg) = (&legs[0], &legs[1]);
    assert!(alice_leg["answered_at"].is_null());
    let ms = |leg: &serde_json::Value, key: &str| leg[key].as_i64().unwrap();
    let turn = ms(bob_leg, "started_at") - ms(alice_leg, "started_at");
    assert!(
        (1500..3000).contains(&turn),
        "bob's leg started {turn} ms after alice's"
    );
    assert!(ms(bob_leg, "ended_at") >= ms(bob_leg, "answered_at"), "{record}");
    assert_eq!(record["answered_by"], "bob");
}

/// Increasingly: bob joins after the step while alice keeps ringing; bob answers a second
/// later, and only then is alice cancelled (as completed elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increasingly_keeps_earlier_phones_ringing() {
    let (_server, alice, bob) = hunt_of_two(
        json!({ "members": ["alice", "bob"], "strategy": "increasingly", "step_secs": 1 }),
        Phone::RingsUntilCancelled {
            completed_elsewhere: true,
        },
        Phone::Answers { after_ms: 1000 },
        sipp::caller_hangs_up(500),
    )
    .await;
    let bob_invite = bob.event("INVITE").unwrap().at;
    let alice_cancel = alice.event("CANCEL").unwrap().at;
    assert!(
        alice_cancel - bob_invite >= 0.6,
        "alice stopped ringing {:.3} s after bob started; she should ring on until he answered",
        alice_cancel - bob_invite
    );
}

/// Everyone busy: the flow sees `busy`; with no failure prompt the caller gets 486.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_busy_reaches_the_flow_as_busy_and_the_caller_as_486() {
    let (server, ..) = hunt_of_two(
        json!({ "members": ["alice", "bob"], "strategy": "ring_all", "failure_prompt": null }),
        Phone::Busy,
        Phone::Busy,
        sipp::caller_refused(486),
    )
    .await;
    let record = server.call_record(NUMBER).await;
    let events = trace(&record);
    assert!(
        events.iter().any(|e| e.starts_with("dial") && e.ends_with("→ Busy")),
        "{events:#?}"
    );
    let results: Vec<_> = record["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["result"].as_str())
        .collect();
    assert_eq!(results, vec![Some("busy"), Some("busy")], "{record}");
}

/// The caller gives up while the group rings: every ringing phone gets a plain CANCEL (a
/// missed call, not "completed elsewhere"), and the caller's CANCEL gets 200 + 487.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_cancel_stops_every_ringing_phone() {
    let ringing = Phone::RingsUntilCancelled {
        completed_elsewhere: false,
    };
    let (server, alice, bob) = hunt_of_two(
        json!({ "members": ["alice", "bob"], "strategy": "ring_all" }),
        ringing,
        ringing,
        sipp::caller_cancels(1000),
    )
    .await;
    assert!(alice.event("CANCEL").is_some() && bob.event("CANCEL").is_some());
    let record = server.call_record(NUMBER).await;
    assert_eq!(record["outcome"], "caller-hangup", "{record}");
}

/// Hold and resume during a bridged call: the caller's re-INVITEs are answered by the exchange
/// (media stays anchored) and passed on to the employee's phone as re-INVITEs of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_pass_through_the_bridge() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let a = alice.expect(&server, Phone::AnswersAndIsHeld { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_holds_and_resumes(), NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", a).await;
}

/// Blind transfer: alice answers, then REFERs the caller to extension 102; she hears how it
/// goes (NOTIFY 100, then 200 when bob answers) and is released; the caller talks to bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_transfer_hands_the_caller_to_a_colleague() {
    let (server, alice, bob) = hunt_of_two(
        json!({ "members": ["alice"] }),
        Phone::AnswersThenTransfers {
            after_ms: 200,
            to: "102",
        },
        Phone::AnswersThenHangsUp {
            after_ms: 300,
            hold_ms: 1000,
        },
        sipp::caller_waits_for_bye(),
    )
    .await;
    assert_eq!(
        bob.event("CALLER").unwrap().details[0],
        "+15550100001",
        "bob sees the caller"
    );
    assert!(alice.event("BYE").is_some(), "alice was released");
    let record = server.call_record(NUMBER).await;
    let events = trace(&record);
    assert!(
        events.iter().any(|e| e.contains("Answered") && e.contains("bob")),
        "{events:#?}"
    );
    // The transfer's leg is in the record too, after alice's.
    let legs: Vec<(&str, &str)> = record["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["to"].as_str().unwrap(), l["result"].as_str().unwrap()))
        .collect();
    assert_eq!(legs, [("alice", "answered"), ("bob", "answered")], "{record}");
    assert!(record["legs"][1]["ended_at"].is_i64(), "{record}");
    assert_eq!(record["answered_by"], "bob", "{record}");
}

/// Busy lamps: alice's phone watches extension 102 (RFC 4235 dialog package). Bob's line goes
/// from idle to ringing to busy and back to idle as a call reaches him and ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_lamps_follow_a_colleagues_line() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["bob"] })).await;
    let states = ["terminated", "early", "confirmed", "terminated"];
    let lamp = alice.watch_lamp(server.sip, "102", &states).await;
    let answers = bob.expect(&server, Phone::Answers { after_ms: 500 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_hangs_up(500), NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "bob", answers).await;
    finished(&server, "alice's lamp", lamp).await;
    assert_eq!(alice.lamps(), states);
}

/// Registered phones get a keep-alive OPTIONS at the address they registered from, which keeps
/// a NAT's UDP binding open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_phones_get_keep_alives() {
    let flags = ["--nat-keepalive-secs", "1"];
    let server = Server::start_flagged(&flags).await;
    let alice = Desk::register(&server, "alice", "101").await;
    let pinged = alice.expect(&server, Phone::AnswersKeepAlive);
    finished(&server, "alice", pinged).await;
    assert!(alice.event("KEEPALIVE").is_some());
}

/// Early media: the employee's phone (as a carrier would) sends 183 with SDP and audio before
/// answering; the caller gets a 183 of ours and hears that audio through the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_reaches_the_caller_before_the_answer() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let a = alice.expect(&server, Phone::EarlyMediaThenAnswers { after_ms: 2500 });
    phones_listening().await;
    let caller_rtp = std::sync::Arc::new(RtpPeer::bind().await);
    let caller = tokio::spawn({
        let (sip, caller_rtp) = (server.sip, caller_rtp.clone());
        async move { sipp::carrier_call_with_early_rtp(sip, 300, NUMBER, &caller_rtp).await }
    });
    let offered = alice.wait_for("INVITE", Duration::from_secs(10)).await;
    let exchange_to_alice = SocketAddr::from(([127, 0, 0, 1], offered.port().expect("SDP port")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = alice
        .rtp
        .play_pcap_for(Path::new(VOICE), exchange_to_alice, Duration::from_millis(1000))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let heard = caller_rtp
        .received()
        .iter()
        .filter(|p| p.data.len() > 12 && p.data[1] & 0x7f == 8)
        .count();
    assert!(
        alice.event("ANSWER").is_none(),
        "the test ran too slowly: alice answered already: {:?}",
        alice.events()
    );
    let run = caller.await.unwrap();
    assert!(
        heard * 10 >= sent * 9,
        "the caller heard {heard} of {sent} early-media packets\n{}\n{}",
        run.output,
        server.log()
    );
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", a).await;
}

/// Attended transfer: the caller talks to alice (phone 1); alice's second phone calls bob;
/// then alice transfers, REFER with `Replaces` naming her call to bob: the caller is bridged to
/// bob, both of alice's calls end, and she hears the transfer succeeded (NOTIFY 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attended_transfer_replaces_the_transferor_with_the_colleague() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let alice_1 = alice.expect(&server, Phone::AnswersThenIsReplaced { after_ms: 200 });
    let bob_answers = bob.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(4000),
        NUMBER,
        caller_rtp.port(),
    ));
    let first = alice.wait_for("DIALOG", Duration::from_secs(10)).await.details;

    // Alice's other phone (registered now, so the caller's call did not ring it) calls bob.
    let other = Desk::another_phone_of(&server, "alice").await;
    let (dir, sip, port) = (other.dir.path().to_path_buf(), server.sip, other.port.to_string());
    let alice_2 = tokio::spawn(async move {
        let args = [
            "-au",
            "alice",
            "-ap",
            PASSWORD,
            "-p",
            port.as_str(),
            "-key",
            "rtp_port",
            "9",
        ];
        sipp::run_in(
            &dir,
            sip,
            sipp::employee_calls("alice", sipp::Then::WaitsForBye),
            "102",
            &args,
        )
        .await
    });
    let second = other.wait_for("DIALOG2", Duration::from_secs(10)).await.details;
    bob.wait_for("ANSWER", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Alice's transfer key: REFER on the first call, Replaces naming the second.
    let (call_1, exchange_tag_1, alice_tag_1) = (&first[0], &first[1], &first[2]);
    let (call_2, alice_tag_2, exchange_tag_2) = (&second[0], &second[1], &second[2]);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let escaped = call_2.replace('@', "%40");
    let refer = format!(
        "REFER sip:switchboard@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-attended;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:{alice_port}>;tag={alice_tag_1}\r\n\
         To: <sip:+15550100001@{server}>;tag={exchange_tag_1}\r\nCall-ID: {call_1}\r\nCSeq: 100 REFER\r\n\
         Contact: <sip:alice@127.0.0.1:{alice_port}>\r\n\
         Refer-To: <sip:102@{server}?Replaces={escaped}%3Bto-tag%3D{exchange_tag_2}%3Bfrom-tag%3D{alice_tag_2}>\r\n\
         Referred-By: <sip:alice@127.0.0.1>\r\nContent-Length: 0\r\n\r\n",
        server = server.sip,
        alice_port = alice.port,
    );
    socket.send_to(refer.as_bytes(), server.sip).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("an answer to the REFER")
        .unwrap();
    let status = String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(status, "SIP/2.0 202 Accepted", "{}", server.log());

    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice's first phone", alice_1).await;
    finished(&server, "alice's second phone", alice_2).await;
    finished(&server, "bob", bob_answers).await;
    assert!(bob.event("BYE").is_some(), "the caller's BYE reached bob");
    let events = trace(&server.call_record(NUMBER).await);
    assert!(
        events.iter().any(|e| e.contains("Answered") && e.contains("bob")),
        "{events:#?}"
    );
}

/// A phone that rings and answers in the same instant (as baresip on auto-answer does): its
/// 180 may reach the fork after the 2xx, and must not be taken for the end of the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_answering_at_once_stays_bridged() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    for _ in 0..3 {
        let a = alice.expect(&server, Phone::Answers { after_ms: 0 });
        phones_listening().await;
        let caller_rtp = RtpPeer::bind().await;
        let run = sipp::call(server.sip, sipp::caller_hangs_up(300), NUMBER, caller_rtp.port()).await;
        assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
        finished(&server, "alice", a).await;
    }
}

/// Phones registered before a restart still receive calls after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_phones_still_ring_after_a_restart() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let (server, _) = Server::start_in(server.stop().await, Some(crate::harness::TOKEN)).await;
    let a = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_hangs_up(500), NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", a).await;
}

/// A caller on TCP reaches a phone on UDP: the exchange listens on both on one port, and
/// answers each peer on the transport it used (the caller's BYE and our 200 travel over TCP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_on_tcp_reaches_a_phone_on_udp() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let a = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let port = caller_rtp.port().to_string();
    let args = ["-t", "t1", "-key", "rtp_port", port.as_str()];
    let run = sipp::run(server.sip, sipp::caller_hangs_up(500), NUMBER, &args).await;
    assert!(
        run.success,
        "caller on TCP: {}\nserver log:\n{}",
        run.output,
        server.log()
    );
    finished(&server, "alice", a).await;
    let record = server.call_record(NUMBER).await;
    assert_eq!(record["outcome"], "caller-hangup", "{record}");
}
