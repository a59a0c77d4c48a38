//! The secretary with real SIP: the caller introduces himself (his voice is recorded), the
//! director's phone answers, hears the announcement and presses 1 (SIP INFO) — then the caller
//! is put through; pressing 2 declines, and the caller leaves a message with a callback request.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{PCAPS, RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

const NUMBER: &str = "+15550100801";

fn legs(record: &Value) -> Vec<Value> {
    record["legs"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_director_hears_who_calls_and_takes_the_call() {
    let server = Server::start().await;
    let boss = Desk::register(&server, "boss", "100").await;
    server.assign(NUMBER, "secretary", json!({ "employee": "boss" })).await;
    let takes_it = boss.expect(
        &server,
        Phone::AnswersThenPresses {
            after_ms: 200,
            press_after_ms: 3000,
            digit: '1',
            hangs_up_after_ms: Some(1000),
        },
    );
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        NUMBER,
        caller_rtp.port(),
    ));
    // The question (5.7 s) and the beep, then the caller says who he is, then falls silent.
    let exchange = caller_rtp.first_packet_from(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(6400)).await;
    let said = caller_rtp
        .play_pcap_for(
            &Path::new(PCAPS).join("g711a.pcap"),
            exchange,
            Duration::from_millis(2500),
        )
        .await;
    assert!(said > 60, "voice packets sent (30 ms each): {said}");
    caller_rtp.send_pcma(&vec![0i16; 8000 * 3], exchange).await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "boss", takes_it).await;

    let record = server.call_record(NUMBER).await;
    let events = trace(&record);
    let screened = events
        .iter()
        .find(|e| e.starts_with("dial-screened [Employee(\"boss\")@0ms]"))
        .unwrap_or_else(|| panic!("{events:#?}"));
    let intro = format!("{}-1", record["id"].as_str().unwrap());
    assert!(
        screened.contains(&format!(
            "(announce screening-intro + recording:{intro} + screening-accept, accept 1)"
        )) && screened.contains("→ Accepted"),
        "{screened}"
    );
    assert_eq!(record["answered_by"], "boss", "{record}");
    assert_eq!(legs(&record)[0]["result"], "answered", "{record}");
    // He heard the announcement (the intro prompt, then the caller's voice) before pressing 1.
    let press = boss.event("PRESS").unwrap().at - boss.event("ANSWER").unwrap().at;
    let heard = boss.rtp.received().len();
    assert!(heard as f64 > press * 50.0 * 0.7, "{heard} packets in {press:.1} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_call_leaves_a_message_and_a_callback_request() {
    let server = Server::start().await;
    let boss = Desk::register(&server, "boss", "100").await;
    let settings = json!({ "employee": "boss", "hold_prompt": null, "declined_prompt": "ivr-invalid",
        "max_intro_secs": 3 });
    server.assign(NUMBER, "secretary", settings).await;
    let declines = boss.expect(
        &server,
        Phone::AnswersThenPresses {
            after_ms: 200,
            press_after_ms: 1000,
            digit: '2',
            hangs_up_after_ms: None,
        },
    );
    phones_listening().await;
    server.call_until_bye(NUMBER).await;
    finished(&server, "boss", declines).await;

    let record = server.call_record(NUMBER).await;
    let events = trace(&record);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("dial-screened") && e.ends_with("→ Declined")),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e == "set-mailbox boss → ok"), "{events:#?}");
    assert!(events.iter().any(|e| e == "play ivr-invalid → ok"), "{events:#?}");
    assert!(
        legs(&record)[0]["result"]
            .as_str()
            .unwrap()
            .starts_with("declined (pressed 2)"),
        "{record}"
    );
    assert_eq!(record["answered_by"], Value::Null, "{record}");
    let callbacks = server.get_json("/callbacks?due=true").await;
    let callback = &callbacks["callbacks"][0];
    assert_eq!(
        (&callback["employee"], &callback["reason"], &callback["phone"]),
        (&json!("boss"), &json!("voicemail"), &json!("+15550100001")),
        "{callbacks:#}"
    );
}
