//! A flow that traps, spins or hoards memory never leaves the caller without an answer, and
//! does not disturb other calls.

use crate::harness::{RtpPeer, Server, trace};
use crate::sipp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_flows_still_answer_the_caller_and_spare_other_calls() {
    let mut server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    let cases = [
        ("+15550100201", serde_json::json!({ "mode": "trap" }), "trap"),
        (
            "+15550100202",
            serde_json::json!({ "mode": "spin", "answer_first": true }),
            "CPU budget exceeded",
        ),
        ("+15550100203", serde_json::json!({ "mode": "grow" }), "trap"),
    ];
    for (number, settings, _) in &cases {
        server.assign(number, "misbehave", settings.clone()).await;
    }
    server.assign("+15550100200", "ivr", serde_json::json!({})).await;

    // All at once: the bad flows, and one good call that must not notice them.
    let peers = [
        RtpPeer::bind().await,
        RtpPeer::bind().await,
        RtpPeer::bind().await,
        RtpPeer::bind().await,
    ];
    let (good, bad0, bad1, bad2) = tokio::join!(
        sipp::call(server.sip, sipp::caller_hangs_up(3000), "+15550100200", peers[0].port()),
        sipp::call(server.sip, sipp::caller_waits_for_bye(), cases[0].0, peers[1].port()),
        sipp::call(server.sip, sipp::caller_waits_for_bye(), cases[1].0, peers[2].port()),
        sipp::call(server.sip, sipp::caller_waits_for_bye(), cases[2].0, peers[3].port()),
    );
    for run in [&good, &bad0, &bad1, &bad2] {
        assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    }
    assert!(server.alive(), "the server died");

    for ((number, _, reason), peer) in cases.iter().zip(&peers[1..]) {
        let record = server.call_record(number).await;
        let events = trace(&record);
        assert_eq!(record["outcome"], "flow-trapped", "{record:#}");
        assert!(
            events
                .iter()
                .any(|e| e.starts_with("flow failed") && e.contains(reason)),
            "{number}: {events:#?}"
        );
        assert!(
            events.iter().any(|e| e == "fallback: played technical-difficulties"),
            "{events:#?}"
        );
        // The apology was really sent.
        assert!(
            peer.received().len() > 200,
            "{number}: {} packets",
            peer.received().len()
        );
    }
    let good = server.call_record("+15550100200").await;
    assert_eq!(good["outcome"], "caller-hangup", "{good:#}");
    assert!(trace(&good).iter().any(|e| e == "answer → ok"));
    assert!(
        peers[0].received().len() > 120,
        "the good call's greeting was cut short"
    );
}

/// A flow that traps hands its caller to the number's fallback route: after the apology, alice
/// (the fallback) is rung and talks to the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_flow_hands_the_caller_to_the_fallback_route() {
    let server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    let alice = crate::hunt::Desk::register(&server, "alice", "101").await;
    let body =
        serde_json::json!({ "flow": "misbehave", "settings": { "mode": "trap" }, "fallback": { "employee": "alice" } });
    let assigned = server
        .request(reqwest::Method::PUT, "/numbers/+15550100204")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(assigned.status(), 200);
    assert_eq!(
        assigned.json::<serde_json::Value>().await.unwrap()["fallback"]["employee"],
        "alice"
    );
    let bad = serde_json::json!({ "flow": "ivr", "fallback": { "room": "x" } });
    let refused = server
        .request(reqwest::Method::PUT, "/numbers/+15550100205")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);

    let answers = alice.expect(
        &server,
        crate::sipp::Phone::AnswersThenHangsUp {
            after_ms: 300,
            hold_ms: 500,
        },
    );
    crate::hunt::phones_listening().await;
    server.call_until_bye("+15550100204").await;
    crate::hunt::finished(&server, "alice", answers).await;
    let record = server.call_record("+15550100204").await;
    assert_eq!(record["outcome"], "flow-trapped", "{record:#}");
    let events = trace(&record);
    assert!(
        events.iter().any(|e| e == "fallback: played technical-difficulties"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("fallback: dial Employee(\"alice\") → Answered")),
        "{events:#?}"
    );
}

/// A flow that keeps asking the host — 10,000 directory lookups, 100 HTTP requests — costs no
/// CPU while it waits, so the host caps it per call: 256 lookups, 32 requests; the rest are
/// refused at once (noted once in the trace), and the call goes on to its prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_keeps_asking_the_host_is_capped_and_the_call_goes_on() {
    let server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    // Port 9 (discard) on loopback: nothing listens, a request fails at once.
    let body = serde_json::json!({ "flow": "misbehave", "settings": { "mode": "ask" },
        "allowed_hosts": ["127.0.0.1:9"] });
    let (status, body) = server.send(reqwest::Method::PUT, "/numbers/+15550100207", body).await;
    assert_eq!(status, 200, "{body}");
    server.call_until_bye("+15550100207").await;
    let record = server.call_record("+15550100207").await;
    assert_eq!(record["outcome"], "completed", "{record:#}");
    let events = trace(&record);
    let asked = events.iter().filter(|e| e.starts_with("employee nobody")).count();
    assert_eq!(asked, 256, "{events:#?}");
    let sent = events.iter().filter(|e| e.starts_with("http GET")).count();
    assert_eq!(sent, 32, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e == "lookups: over 256 in one call, refused from now on"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e == "log flow: 10000 lookups; last HTTP error: Some(\"over 32 HTTP requests in one call\")"),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e == "play all-busy → ok"), "{events:#?}");
}
