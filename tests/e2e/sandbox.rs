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

/// A flow that hops from queue to queue is refused after 8 (each a line to join, a place to
/// keep); options out of bounds are refused before anything is joined; the call goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_keeps_joining_queues_is_capped_and_the_call_goes_on() {
    let server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    let body = serde_json::json!({ "flow": "misbehave", "settings": { "mode": "queue-hop" } });
    let (status, body) = server.send(reqwest::Method::PUT, "/numbers/+15550100208", body).await;
    assert_eq!(status, 200, "{body}");
    server.call_until_bye("+15550100208").await;
    let record = server.call_record("+15550100208").await;
    assert_eq!(record["outcome"], "completed", "{record:#}");
    let events = trace(&record);
    let enqueues: Vec<&String> = events.iter().filter(|e| e.starts_with("enqueue sales")).collect();
    let invalid = enqueues.iter().filter(|e| e.contains("error: invalid")).count();
    // A fresh company's sales department has no members: nobody staffs its queue.
    let joined = enqueues.iter().filter(|e| e.ends_with("→ Empty")).count();
    let denied = enqueues
        .iter()
        .filter(|e| e.ends_with("error: denied: a call joins at most 8 queues"))
        .count();
    assert_eq!((invalid, joined, denied), (3, 8, 1), "{events:#?}");
    assert!(events.iter().any(|e| e == "play all-busy → ok"), "{events:#?}");
}

/// A flow refuses its caller (603, the `reject` verb, a blocked caller by its own judgement),
/// then keeps calling `reject` without end: the call is over, so the host stops it within its
/// grace (50 host calls), and nothing of the flow outlives the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_refuses_its_caller_then_keeps_refusing_dies_with_the_call() {
    let server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    server
        .assign("+15550100209", "misbehave", serde_json::json!({ "mode": "reject" }))
        .await;
    let rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_refused(603), "+15550100209", rtp.port()).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    let record = server.call_record("+15550100209").await;
    let events = trace(&record);
    assert!(events.iter().any(|e| e == "reject 603 Decline → ok"), "{events:#?}");
    assert!(
        events.iter().any(|e| e.starts_with("flow failed: the call is over")),
        "{events:#?}"
    );
    assert!(events.len() < 80, "{} trace entries", events.len());
    assert_eq!(record["answered_at"], serde_json::Value::Null, "{record:#}");
}

/// A flow that keeps asking the host — 1,000 directory lookups (employees, departments, ring
/// times), 100 HTTP requests — costs no
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
    let lookup = [
        "employee nobody",
        "department nowhere",
        "ring-time Department(\"nowhere\")",
    ];
    let asked = events
        .iter()
        .filter(|e| lookup.iter().any(|l| e.starts_with(l)))
        .count();
    assert_eq!(asked, 256, "{events:#?}");
    assert!(
        events.iter().any(|e| e.starts_with("department nowhere → none")),
        "{events:#?}"
    );
    let sent = events.iter().filter(|e| e.starts_with("http GET")).count();
    assert_eq!(sent, 32, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e == "lookups: over 256 in this call, refused from now on"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e == "log flow: 1000 lookups; last HTTP error: Some(\"over 32 HTTP requests in one call\")"),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e == "play all-busy → ok"), "{events:#?}");
}

/// What a hostile flow tries, where it is assigned, how its caller behaves, and what the call
/// record must say stopped it (or, for a flow the host only refused things, what it heard back).
struct Hostile {
    mode: &'static str,
    number: &'static str,
    caller_hangs_up_ms: Option<u64>,
    /// One of these in the trace (which limit hit first may depend on the machine's speed).
    expect_any: &'static [&'static str],
    /// And each of these.
    expect_also: &'static [&'static str],
    outcome: &'static str,
}

const HOSTILE: &[Hostile] = &[
    Hostile {
        mode: "spin",
        number: "+15550100211",
        caller_hangs_up_ms: None,
        expect_any: &["flow failed: CPU budget exceeded (500 ms)"],
        expect_also: &[],
        outcome: "flow-trapped",
    },
    Hostile {
        mode: "ignore-errors",
        number: "+15550100212",
        caller_hangs_up_ms: None,
        expect_any: &[
            "flow failed: host-call limit exceeded (10000 per call)",
            "flow failed: CPU budget exceeded (500 ms)",
        ],
        expect_also: &[],
        outcome: "flow-trapped",
    },
    Hostile {
        mode: "after-hangup",
        number: "+15550100213",
        caller_hangs_up_ms: Some(1500),
        expect_any: &["flow failed: the call is over: the flow did not finish within its grace (2 s, 50 host calls)"],
        expect_also: &[],
        outcome: "flow-trapped",
    },
    Hostile {
        mode: "log-flood",
        number: "+15550100214",
        caller_hangs_up_ms: None,
        expect_any: &["log: over 100 lines or 8 KiB in this call, dropped from now on"],
        expect_also: &[],
        outcome: "flow-trapped",
    },
    Hostile {
        mode: "callback-flood",
        number: "+15550100215",
        caller_hangs_up_ms: None,
        expect_any: &["trace full ("],
        expect_also: &[],
        outcome: "completed",
    },
    Hostile {
        mode: "huge-args",
        number: "+15550100216",
        caller_hangs_up_ms: None,
        expect_any: &["log flow: 7 of 7 refused"],
        expect_also: &[],
        outcome: "completed",
    },
    Hostile {
        mode: "many-legs",
        number: "+15550100217",
        caller_hangs_up_ms: None,
        expect_any: &["log flow: 10000 legs: Err(CallError::Invalid(\"dial: 10000 legs, at most 32\"))"],
        expect_also: &[
            "log flow: foreign caller ID: Err(CallError::Denied(\"caller-id +18005550199: not one of the company's numbers\"))",
        ],
        outcome: "completed",
    },
    Hostile {
        mode: "recurse",
        number: "+15550100218",
        caller_hangs_up_ms: None,
        // The wasm stack, or the shadow stack a Rust guest keeps in its linear memory.
        expect_any: &[
            "flow failed: trap: call stack exhausted",
            "flow failed: trap: wasm trap: out of bounds memory access",
        ],
        expect_also: &[],
        outcome: "flow-trapped",
    },
    Hostile {
        mode: "grow",
        number: "+15550100219",
        caller_hangs_up_ms: None,
        expect_any: &["flow failed: "],
        expect_also: &[],
        outcome: "flow-trapped",
    },
];

/// Each way a hostile flow tries to make the exchange spend without bound, judged from outside
/// as an operator would: the call ends within seconds, the process's CPU is idle again two
/// seconds later, the log grows by a few KiB at most (at the production log level), memory
/// stays flat, a caller of a normal menu placed alongside hears its prompt and is understood,
/// and the record says which limit stopped the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_flows_are_stopped_at_their_limits_and_spare_the_exchange() {
    let mut server = crate::harness::Server::start_quiet().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    // Every failing flow's caller (one number here) gets a callback request from its fallback:
    // room for those besides the flood's own.
    let rules = serde_json::json!({ "country_code": "1", "callbacks_per_number_per_day": 100 });
    let (status, body) = server.send(reqwest::Method::PUT, "/outbound-rules", rules).await;
    assert_eq!(status, 200, "{body}");
    for hostile in HOSTILE {
        server
            .assign(hostile.number, "misbehave", serde_json::json!({ "mode": hostile.mode }))
            .await;
    }
    let menu = serde_json::json!({ "options": { "2": { "hangup": "all-busy" } } });
    let mut rss_after_first = None;
    for (i, hostile) in HOSTILE.iter().enumerate() {
        // A normal menu of its own per round, so that its record is this round's.
        let good_number: &'static str = Box::leak(format!("+1555010030{i}").into_boxed_str());
        server.assign(good_number, "ivr", menu.clone()).await;
        let log_before = server.log_bytes();
        let (hostile_peer, good_peer) = (RtpPeer::bind().await, RtpPeer::bind().await);
        let scenario = match hostile.caller_hangs_up_ms {
            Some(ms) => sipp::caller_hangs_up(ms),
            None => sipp::caller_waits_for_bye(),
        };
        let started = std::time::Instant::now();
        let (bad, good) = tokio::join!(
            sipp::call(server.sip, scenario, hostile.number, hostile_peer.port()),
            sipp::call(
                server.sip,
                sipp::caller_sends_info_digit(1000, '2', None),
                good_number,
                good_peer.port()
            ),
        );
        let took = started.elapsed();
        assert!(
            bad.success,
            "{}: sipp: {}\nlog:\n{}",
            hostile.mode,
            bad.output,
            server.log()
        );
        assert!(good.success, "{}: the menu's caller: {}", hostile.mode, good.output);
        assert!(server.alive(), "{}: the exchange died", hostile.mode);
        // The apology and (the fallback's sales department being empty) the callback promise
        // take about 13 s; the limits themselves well under a second.
        assert!(took < std::time::Duration::from_secs(20), "{}: {took:?}", hostile.mode);

        let record = server.call_record(hostile.number).await;
        let events = trace(&record);
        assert_eq!(record["outcome"], hostile.outcome, "{}: {events:#?}", hostile.mode);
        assert!(
            events
                .iter()
                .any(|e| hostile.expect_any.iter().any(|x| e.starts_with(x))),
            "{}: expected one of {:?} in {events:#?}",
            hostile.mode,
            hostile.expect_any
        );
        for expected in hostile.expect_also {
            assert!(
                events.iter().any(|e| e.starts_with(expected)),
                "{}: {expected} in {events:#?}",
                hostile.mode
            );
        }
        assert!(events.len() <= 532, "{}: {} trace entries", hostile.mode, events.len());

        let good = trace(&server.call_record(good_number).await);
        assert!(
            good.iter().any(|e| e.starts_with("collect") && e.ends_with("→ 2")),
            "{}: the menu's caller was not understood: {good:#?}",
            hostile.mode
        );
        assert!(good_peer.received().len() > 40, "{}: the menu's prompt", hostile.mode);

        // Idle two seconds after the call: nothing of the flow still runs.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let cpu = server.cpu_time();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let busy = server.cpu_time() - cpu;
        assert!(
            busy <= std::time::Duration::from_millis(100),
            "{}: {busy:?} of CPU in the second after",
            hostile.mode
        );

        let logged = server.log_bytes() - log_before;
        assert!(
            logged <= 16 * 1024,
            "{}: {logged} bytes of log:\n{}",
            hostile.mode,
            server.log()
        );
        let rss = server.rss_kib();
        let first = *rss_after_first.get_or_insert(rss);
        assert!(
            rss <= first + 24 * 1024,
            "{}: RSS {first} KiB → {rss} KiB",
            hostile.mode
        );
    }

    // The callback flood filed its three, and no more.
    let callbacks = server.get_json("/callbacks").await;
    let filed = callbacks["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reason"].as_str().is_some_and(|r| r.starts_with("flood ")))
        .count();
    assert_eq!(filed, 3, "{callbacks:#}");
}

/// A flow that keeps trapping is bypassed: after five failures within a minute, calls to its
/// number go straight to the fallback route (no flow runs), `GET /numbers` says so, a metric
/// counts it, and assigning the number again gives the flow its calls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_keeps_failing_is_bypassed_until_it_is_assigned_again() {
    let server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    const NUMBER: &str = "+15550100220";
    server
        .assign(NUMBER, "misbehave", serde_json::json!({ "mode": "trap" }))
        .await;
    let peers: Vec<RtpPeer> = futures::future::join_all((0..5).map(|_| RtpPeer::bind())).await;
    let runs = futures::future::join_all(
        peers
            .iter()
            .map(|peer| sipp::call(server.sip, sipp::caller_waits_for_bye(), NUMBER, peer.port())),
    )
    .await;
    for run in &runs {
        assert!(run.success, "sipp: {}\nlog:\n{}", run.output, server.log());
    }
    let health_of = |numbers: &serde_json::Value| {
        numbers["numbers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["number"] == NUMBER)
            .unwrap()["health"]
            .clone()
    };
    let numbers = server
        .get_json_until("/numbers", |n| health_of(n)["bypassed"] == true)
        .await;
    let health = health_of(&numbers);
    assert!(health["bypassed_for_secs"].as_u64().unwrap() > 200, "{health:#}");

    server.call_until_bye(NUMBER).await;
    let latest = server.nth_call(NUMBER, 6).await;
    assert_eq!(latest["outcome"], "flow-bypassed", "{latest:#}");
    let events = trace(&latest);
    assert!(
        events
            .iter()
            .any(|e| e == "flow bypassed: it failed 5 times within 60 s"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("fallback: dial Department(\"sales\")")),
        "{events:#?}"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        crate::calls::metric(
            &metrics,
            &format!("switchboard_flow_circuit_trips_total{{number=\"{NUMBER}\"}}")
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(server.log().matches("its calls go to the fallback route").count() == 1);

    // Assigned again (the same flow, once fixed): the flow has its calls back.
    server
        .assign(NUMBER, "misbehave", serde_json::json!({ "mode": "trap" }))
        .await;
    let numbers = server.get_json("/numbers").await;
    assert_eq!(health_of(&numbers)["bypassed"], false, "{numbers:#}");
    server.call_until_bye(NUMBER).await;
    let latest = server.nth_call(NUMBER, 7).await;
    assert_eq!(latest["outcome"], "flow-trapped", "{latest:#}");
}

/// Uploads are bounded before the exchange compiles anything: too big a component, or one that
/// declares too much, is a 413 that names the limit; a good one passes the trial compile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_a_limit_are_refused_naming_it() {
    let server = Server::start().await;
    let huge = vec![0u8; 9 << 20];
    let refused = server.upload("huge", huge).await;
    assert_eq!(refused.status(), 413);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("at most 8388608 (8 MiB)"),
        "{body:#}"
    );

    let body_of = |fields: &str| wat::parse_str(format!("(component (core module {fields}))")).unwrap();
    let one_huge_function = body_of(&format!("(func {})", "(drop (i32.const 1)) ".repeat(200_000)));
    let refused = server.upload("slow", one_huge_function).await;
    assert_eq!(refused.status(), 413);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().starts_with("a function body is"),
        "{body:#}"
    );
    let refused = server.upload("hungry", body_of("(memory 1000)")).await;
    assert_eq!(refused.status(), 413);

    // Within the limits but not a flow: the trial compile passes, the world check refuses it.
    let refused = server.upload("empty", body_of("(func)")).await;
    assert_eq!(refused.status(), 400);
    let flows = server.get_json("/flows").await;
    assert!(
        !flows.to_string().contains("\"huge\"") && !flows.to_string().contains("\"slow\""),
        "{flows:#}"
    );
}
