//! The exchange on PostgreSQL: the same calls, API and restarts as on SQLite, in a database of
//! its own next to `SWITCHBOARD_TEST_POSTGRES` (tests/run-all.sh sets it to the machine's
//! `postgres://postgres@127.0.0.1:5432/test`).

use std::time::Duration;

use serde_json::json;
use switchboard::store::test_support::TestDatabase;

use crate::harness::{RtpPeer, Server, TOKEN, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

/// An employee's phone registers, a hunt call reaches it and is recorded, and after a restart
/// the registration, the number and the records are all still there — on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_keeps_everything_in_postgresql() {
    let Some(db) = TestDatabase::create("switchboard_e2e").await else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES is not set: the PostgreSQL path is not tested here");
        return;
    };
    let flags = ["--database", db.url.as_str()];
    let (server, printed) = Server::start_with(tempfile::tempdir().unwrap(), Some(TOKEN), &flags).await;
    assert!(
        printed[0].contains(&format!("database=postgres://postgres@127.0.0.1:5432/{}", db.name)),
        "{printed:?}"
    );
    let alice = Desk::register(&server, "alice", "101").await;
    let settings = json!({ "members": ["alice"] });
    let assigned = server
        .request(reqwest::Method::PUT, "/numbers/+15550100307")
        .json(&json!({ "flow": "hunt", "settings": settings, "record_calls": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(assigned.status(), 200);
    let answers = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(2000),
        "+15550100307",
        caller_rtp.port(),
    ));
    // Alice talks, so that the recording has something in it.
    let offered = alice
        .wait_for("INVITE", Duration::from_secs(10))
        .await
        .port()
        .expect("SDP port");
    alice.wait_for("ANSWER", Duration::from_secs(10)).await;
    let voice = std::path::Path::new("/usr/share/sip-tester/g711a.pcap");
    let to_exchange = std::net::SocketAddr::from(([127, 0, 0, 1], offered));
    alice
        .rtp
        .play_pcap_for(voice, to_exchange, Duration::from_secs(1))
        .await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", answers).await;
    let record = server.call_record("+15550100307").await;
    assert!(
        trace(&record)
            .iter()
            .any(|e| e.contains("Answered") && e.contains("alice")),
        "{record:#}"
    );

    // A restart on the same database: nothing is lost.
    let dir = server.stop().await;
    let (server, _) = Server::start_with(dir, Some(TOKEN), &flags).await;
    let registrations = server.get_json("/registrations").await;
    assert_eq!(registrations["registrations"][0]["login"], "alice", "{registrations}");
    let numbers = server.get_json("/numbers").await;
    assert_eq!(numbers["numbers"][0]["record_calls"], true, "{numbers}");
    assert_eq!(server.get_json("/calls").await["calls"].as_array().unwrap().len(), 1);
    let recordings = server.get_json("/recordings").await;
    assert_eq!(recordings["recordings"][0]["kind"], "call", "{recordings}");
    drop(server.stop().await);
}

/// Two nodes on one PostgreSQL database: a prompt uploaded and a number assigned on one are
/// live on the other at once (LISTEN/NOTIFY), without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_the_other_at_once() {
    let Some((_db, a, b)) = two_nodes().await else {
        return;
    };

    let wav = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/ivr-invalid.wav")).unwrap();
    let uploaded = a
        .request(reqwest::Method::POST, "/prompts?name=promo")
        .body(wav)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let settings = json!({ "greeting": "promo", "timeout_ms": 500, "retries": 0, "default": { "hangup": "promo" } });
    a.assign("+15550100308", "ivr", settings).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(b.sip, sipp::caller_waits_for_bye(), "+15550100308", caller_rtp.port()).await;
    assert!(run.success, "caller via b: {}\nb's log:\n{}", run.output, b.log());
    let events = trace(&b.call_record("+15550100308").await);
    assert!(events.iter().any(|e| e == "play promo → ok"), "{events:#?}");
    drop(a.stop().await);
    drop(b.stop().await);
}

/// Two nodes on one database: a call in progress on node a is listed by node b — by its API and
/// live in its console —, and hanging it up through b ends it on a (b tells a through NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_lists_and_hangs_up_every_nodes_calls() {
    let Some((_db, a, b)) = two_nodes().await else {
        return;
    };
    let alice = Desk::register(&a, "alice", "101").await;
    a.assign("+15550100502", "hunt", json!({ "members": ["alice"] })).await;
    let answers = alice.expect(&a, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    // Node b's console shows node a's call live, without a reload: its event stream is open
    // before the call starts.
    let (console, _) = crate::console::CookieJar::log_in(&b, "operator", TOKEN).await;
    let watching = tokio::spawn(async move { console.events_until("/console/live", "+15550100502", 20).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        a.sip,
        sipp::caller_waits_for_bye(),
        "+15550100502",
        caller_rtp.port(),
    ));
    alice.wait_for("ANSWER", Duration::from_secs(10)).await;

    // Node b lists node a's call (the mirror write is off the call's path: give it a moment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let listed = loop {
        let live = b.get_json("/calls/live").await;
        if let Some(call) = live["calls"].as_array().and_then(|c| c.first()) {
            break call.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b never listed a's call: {live}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed["dialled"], "+15550100502", "{listed}");
    let events = watching.await.unwrap();
    assert!(events.contains("event: live"), "{events}");
    assert!(listed["node"].is_string(), "{listed}");
    let id = listed["id"].as_str().unwrap().to_string();

    let hang_up = b.request(reqwest::Method::DELETE, &format!("/calls/live/{id}"));
    assert_eq!(hang_up.send().await.unwrap().status(), 202);
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\na's log:\n{}", run.output, a.log());
    finished(&a, "alice", answers).await;
    let record = b.call_record("+15550100502").await;
    assert_eq!(
        (record["id"].as_str(), record["outcome"].as_str()),
        (Some(id.as_str()), Some("hung-up-by-admin"))
    );
    let unknown = b.request(reqwest::Method::DELETE, "/calls/live/no-such-call");
    assert_eq!(unknown.send().await.unwrap().status(), 404);
    drop(a.stop().await);
    drop(b.stop().await);
}

/// Two exchanges on one fresh PostgreSQL database (dropped with the first value); none when
/// `SWITCHBOARD_TEST_POSTGRES` is not set.
async fn two_nodes() -> Option<(TestDatabase, Server, Server)> {
    let Some(db) = TestDatabase::create("switchboard_e2e").await else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES is not set: the PostgreSQL path is not tested here");
        return None;
    };
    let flags = ["--database", db.url.as_str()];
    let a = Server::start_flagged(&flags).await;
    let b = Server::start_flagged(&flags).await;
    Some((db, a, b))
}
