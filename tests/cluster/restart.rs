//! The nodes' PostgreSQL restarted under their calls: a server of the test's own
//! (`PrivatePostgres`), stopped for longer than a node takes to call another gone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::store::test_support::PrivatePostgres;

use crate::harness::{Received, RtpPeer, Server};
use crate::hunt::{Desk, finished, phones_listening};
use crate::registrar::PASSWORD;
use crate::security::register_with_password;
use crate::sipp::{self, Phone};

/// How long the database is away: more than the 15 s after which a silent node counts as gone,
/// so every node's last heartbeat is older than that when it is back.
const OUTAGE: Duration = Duration::from_secs(17);

/// A relayed call on node a goes on through the outage with its audio both ways; three calls on
/// node b end during it, and a new one on a is taken and ends. Afterwards:
/// - no node took the other for gone (the call on a is still listed, nothing recorded as cut);
/// - every call has its own record, once; no call stays listed;
/// - both nodes listen to each other again: a number assigned on a after the restart is
///   answered on b.
///
/// A REGISTER during the outage is answered 503 with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_on_and_their_records_are_kept_through_a_database_restart() {
    let Some(postgres) = PrivatePostgres::start() else {
        return;
    };
    let postgres = Arc::new(postgres);
    let flags = ["--database", postgres.url.as_str()];
    let (a, b) = (Server::start_flagged(&flags).await, Server::start_flagged(&flags).await);
    let alice = Desk::register(&a, "alice", "101").await;
    a.assign("+15550100611", "hunt", json!({ "members": ["alice"] })).await;
    let ivr = json!({ "timeout_ms": 60000, "retries": 0 });
    a.assign("+15550100612", "ivr", ivr.clone()).await;

    // The long call: answered by alice's phone through node a; both talk for its whole length.
    let answers = alice.expect(&a, Phone::Answers { after_ms: 100 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        a.sip,
        sipp::caller_hangs_up(30_000),
        "+15550100611",
        caller_rtp.port(),
    ));
    let offered = alice.wait_for("INVITE", Duration::from_secs(10)).await;
    let exchange_to_alice = SocketAddr::from(([127, 0, 0, 1], offered.port().expect("SDP port in the INVITE")));
    alice.wait_for("ANSWER", Duration::from_secs(10)).await;
    let tone = tone(27);
    // Alice talks first; the caller answers from where the relay reached him.
    let talk = async {
        let caller_talks = async {
            let exchange_to_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;
            caller_rtp.send_pcma(&tone, exchange_to_caller).await;
            exchange_to_caller
        };
        tokio::join!(alice.rtp.send_pcma(&tone, exchange_to_alice), caller_talks).1
    };
    let restart = async {
        let long_call = crate::cluster::first_live_call(&b, crate::harness::TOKEN).await;
        // Three short calls on b, answered by its IVR, hang up 3 s in: during the outage.
        let mut short_calls = Vec::new();
        for _ in 0..3 {
            let rtp = RtpPeer::bind().await;
            let port = rtp.port();
            short_calls.push((
                rtp,
                tokio::spawn(sipp::call(b.sip, sipp::caller_hangs_up(3000), "+15550100612", port)),
            ));
        }
        b.get_json_until("/calls/live", |live| {
            live["calls"].as_array().is_some_and(|c| c.len() == 4)
        })
        .await;

        let stopping = postgres.clone();
        tokio::task::spawn_blocking(move || stopping.stop()).await.unwrap();
        let stopped = Instant::now();
        // A phone registering now is told to try again later (503, Retry-After), not 500.
        let node_a = a.sip;
        let registering = tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let wait = Duration::from_secs(12);
            let answer = register_with_password(&socket, node_a, "alice", 1, PASSWORD, wait).await;
            answer.expect("an answer to a REGISTER during the outage")
        });
        for (_, call) in short_calls {
            let run = call.await.unwrap();
            assert!(
                run.success,
                "a short call on b, during the outage: {}\n{}",
                run.output,
                b.log()
            );
        }
        // A new call during the outage: the node knows the number, and its flow, from memory.
        let rtp = RtpPeer::bind().await;
        let run = sipp::call(a.sip, sipp::caller_hangs_up(1000), "+15550100612", rtp.port()).await;
        assert!(
            run.success,
            "a new call on a, during the outage: {}\n{}",
            run.output,
            a.log()
        );
        let answer = registering.await.unwrap();
        assert!(
            answer.starts_with("SIP/2.0 503") && answer.contains("Retry-After: 10"),
            "{answer}"
        );
        assert!(stopped.elapsed() < OUTAGE, "the calls took longer than the outage");
        tokio::time::sleep_until((stopped + OUTAGE).into()).await;
        let starting = postgres.clone();
        tokio::task::spawn_blocking(move || starting.start_again())
            .await
            .unwrap();
        let restarted = Instant::now();
        eprintln!("the database was away {:?}", restarted - stopped);

        // Each node says it is alive again within its heartbeat (5 s): the long call is listed
        // again, and stays so — neither node takes the other for gone.
        let listed = b
            .get_json_until("/calls/live", |live| live["calls"][0]["id"] == long_call.as_str())
            .await;
        assert_eq!(listed["calls"].as_array().unwrap().len(), 1, "{listed}");
        (long_call, stopped, restarted)
    };
    let (exchange_to_caller, (long_call, stopped, restarted)) = tokio::join!(talk, restart);
    let run = caller.await.unwrap();
    assert!(run.success, "the long call: {}\na's log:\n{}", run.output, a.log());
    finished(&a, "alice", answers).await;

    // Audio went both ways all along, also while the database was away.
    for (who, peer, from) in [
        ("the caller", &caller_rtp, exchange_to_caller),
        ("alice", &alice.rtp, exchange_to_alice),
    ] {
        let heard = peer.received();
        let during = packets_between(&heard, from, stopped, restarted);
        let expected = (restarted - stopped).as_millis() as usize / 20;
        assert!(
            during * 10 >= expected * 9,
            "{who} heard {during} packets while the database was away, of about {expected}"
        );
        let all = packets_between(&heard, from, stopped - OUTAGE, restarted + OUTAGE);
        assert!(all * 10 >= tone.len() / 160 * 9, "{who} heard {all} packets in all");
    }

    // Every call's own record, once; nothing listed any more, nothing cut.
    let records = b
        .get_json_until("/calls?limit=10", |r| {
            r["calls"].as_array().is_some_and(|c| c.len() >= 5)
        })
        .await;
    let records = records["calls"].as_array().unwrap();
    assert_eq!(records.len(), 5, "{records:#?}");
    let long = records
        .iter()
        .find(|r| r["id"] == long_call.as_str())
        .expect("the long call's record");
    assert_eq!(
        (long["outcome"].as_str(), long["answered_by"].as_str()),
        (Some("caller-hangup"), Some("alice")),
        "{long}"
    );
    let short: Vec<_> = records.iter().filter(|r| r["dialled"] == "+15550100612").collect();
    assert_eq!(short.len(), 4, "{records:#?}");
    assert!(short.iter().all(|r| r["outcome"] != "node-lost"), "{records:#?}");
    for server in [&a, &b] {
        server
            .get_json_until("/calls/live", |live| live["calls"] == json!([]))
            .await;
        let log = server.log();
        assert!(!log.contains("recorded as cut"), "{log}");
        assert!(log.contains("listening for other nodes' changes again"), "{log}");
    }

    // The nodes hear each other again: a number assigned on a is answered on b.
    a.assign("+15550100613", "ivr", ivr).await;
    let rtp = RtpPeer::bind().await;
    let run = sipp::call(b.sip, sipp::caller_hangs_up(300), "+15550100613", rtp.port()).await;
    assert!(run.success, "a new number, on b: {}\n{}", run.output, b.log());
    drop(a.stop().await);
    drop(b.stop().await);
}

/// `secs` seconds of a 440 Hz tone at 8 kHz.
fn tone(secs: usize) -> Vec<i16> {
    (0..secs * 8000)
        .map(|i| ((i as f64 / 8000.0 * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
        .collect()
}

/// PCMA packets from `from` received between `start` and `end`.
fn packets_between(heard: &[Received], from: SocketAddr, start: Instant, end: Instant) -> usize {
    heard
        .iter()
        .filter(|p| p.from == from && p.data.len() > 12 && p.data[1] & 0x7f == 8)
        .filter(|p| p.at >= start && p.at <= end)
        .count()
}
