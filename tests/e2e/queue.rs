//! Queues (ACD), with real phones: callers to a number whose flow is the built-in `queue` wait
//! in line with hold music while the department's members are busy; the longest-waiting caller
//! goes to whoever frees up first; a paused member is offered nobody; a caller who waited the
//! longest he may goes to the overflow, one who hangs up is recorded as abandoned with his
//! wait; and a caller who presses 1 keeps his place as a callback request, which the member who
//! frees up is rung for at once.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

pub const NUMBER: &str = "+15550100700";

/// Sales with `members`; the number queues for it with `settings` (over short defaults: no
/// announcements, 5 s of ringing an agent).
pub async fn queue_for_sales(server: &Server, members: &[&str], settings: Value) {
    let department = json!({ "name": "Sales", "extension": "600", "strategy": "ring_all", "step_secs": 1,
        "timeout_secs": 5, "members": members });
    let (status, body) = server.send(Method::PUT, "/departments/sales", department).await;
    assert_eq!(status, 200, "{body}");
    let mut all = json!({ "department": "sales", "announce_every_secs": 0, "agent_ring_secs": 5 });
    for (key, value) in settings.as_object().unwrap() {
        all[key] = value.clone();
    }
    server.assign(NUMBER, "queue", all).await;
}

async fn pause(server: &Server, login: &str, paused: bool) {
    let path = format!("/employees/{login}/departments/sales");
    let (status, body) = server.send(Method::PUT, &path, json!({ "paused": paused })).await;
    assert_eq!(status, 204, "{body}");
}

/// A caller who stays until the exchange hangs up.
pub fn caller_until_bye(server: &Server) -> tokio::task::JoinHandle<()> {
    caller(server, sipp::caller_waits_for_bye())
}

fn caller(server: &Server, scenario: String) -> tokio::task::JoinHandle<()> {
    let sip = server.sip;
    let log = server.log_path();
    tokio::spawn(async move {
        let rtp = RtpPeer::bind().await;
        let run = sipp::call(sip, scenario, NUMBER, rtp.port()).await;
        assert!(
            run.success,
            "caller: {}\nserver log:\n{}",
            run.output,
            std::fs::read_to_string(log).unwrap_or_default()
        );
    })
}

/// When the record's answered leg was answered.
pub fn answered_at(record: &Value) -> i64 {
    let legs = record["legs"].as_array().unwrap();
    legs.iter()
        .find_map(|l| l["answered_at"].as_i64())
        .unwrap_or_else(|| panic!("no leg answered: {record}"))
}

pub const TALKS: Phone = Phone::AnswersThenHangsUp {
    after_ms: 200,
    hold_ms: 2_000,
};

/// One agent, three callers a moment apart: each waits while the one before talks, and the
/// agent gets them in the order they came — the second after her wrap-up, the third after the
/// second. Every caller is answered; each record says who answered and how long he waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_wait_in_line_and_the_longest_waiting_goes_first() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    queue_for_sales(&server, &["alice"], json!({ "wrap_up_secs": 2 })).await;
    let mut callers = Vec::new();
    let mut first_call = Some(alice.expect(&server, TALKS));
    phones_listening().await;
    for _ in 0..3 {
        callers.push(caller_until_bye(&server));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // The wallboard: two callers on the line while alice talks to the first.
    let board = server
        .get_json_until("/queues", |b| b["queues"][0]["waiting"] == 2)
        .await;
    let sales = &board["queues"][0];
    assert_eq!(sales["department"], "sales", "{board}");
    assert_eq!(
        sales["agents"],
        json!([{ "login": "alice", "state": "busy" }]),
        "{board}"
    );
    assert!(sales["longest_wait_ms"].as_u64().unwrap() > 0, "{board}");
    // Alice's phone takes one call per run: ready again within her 2 s of wrap-up.
    for n in 0..3 {
        let phone = match first_call.take() {
            Some(phone) => phone,
            None => {
                let phone = alice.expect(&server, TALKS);
                phones_listening().await;
                phone
            }
        };
        finished(&server, &format!("alice's call {n}"), phone).await;
    }
    for caller in callers {
        caller.await.unwrap();
    }
    let mut records = Vec::new();
    for n in 1..=3 {
        records.push(server.nth_call(NUMBER, n).await);
    }
    for record in &records {
        assert_eq!(
            (&record["result"], &record["answered_by"]),
            (&json!("answered"), &json!("alice")),
            "{record}"
        );
        assert_eq!(record["offered_to"], json!(["department:sales"]), "{record}");
    }
    let answered: Vec<i64> = records.iter().map(answered_at).collect();
    assert!(
        answered[0] < answered[1] && answered[1] < answered[2],
        "answered in the order they came: {answered:?}"
    );
    // The third waited for two talks of 2 s and two wrap-ups of 2 s.
    let waited = records[2]["wait_ms"].as_i64().unwrap();
    assert!(waited > 6_000, "the third caller waited {waited} ms");
    // The waiting callers heard music, as early media is not needed: answered at once.
    let events = trace(&records[2]);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("enqueue sales") && e.contains("Answered")),
        "{events:#?}"
    );
}

/// A paused member is offered no caller: the caller waits the longest he may (2 s) and goes
/// to the overflow — missed, ended in sales. A caller who hangs up while waiting is abandoned
/// with his wait. With the member logged out nobody staffs the queue: the caller goes to the
/// overflow at once. Back from his pause, the member gets the next caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_member_gets_nobody_and_callers_overflow_or_abandon() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let overflow = json!({ "max_wait_secs": 2, "overflow": { "hangup": "all-busy" } });
    queue_for_sales(&server, &["alice"], overflow).await;
    pause(&server, "alice", true).await;

    caller_until_bye(&server).await.unwrap();
    let timed_out = server.nth_call(NUMBER, 1).await;
    assert_eq!(
        (&timed_out["result"], &timed_out["ended_in"]),
        (&json!("missed"), &json!("department:sales")),
        "{timed_out}"
    );
    assert!(timed_out["wait_ms"].as_i64().unwrap() >= 2_000, "{timed_out}");
    let events = trace(&timed_out);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("enqueue sales") && e.ends_with("→ Timeout")),
        "{events:#?}"
    );

    queue_for_sales(&server, &["alice"], json!({ "max_wait_secs": 30 })).await;
    caller(&server, sipp::caller_hangs_up(1_500)).await.unwrap();
    let abandoned = server.nth_call(NUMBER, 2).await;
    assert_eq!(
        (&abandoned["result"], &abandoned["ended_in"]),
        (&json!("abandoned"), &json!("department:sales")),
        "{abandoned}"
    );
    let waited = abandoned["wait_ms"].as_i64().unwrap();
    assert!((1_000..5_000).contains(&waited), "waited {waited} ms: {abandoned}");
    let (status, abandoned_calls) = server.send(Method::GET, "/calls?result=abandoned", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(
        abandoned_calls["calls"].as_array().unwrap().len(),
        1,
        "{abandoned_calls}"
    );

    let path = "/employees/alice/departments/sales";
    let (status, body) = server.send(Method::PUT, path, json!({ "logged_in": false })).await;
    assert_eq!(status, 204, "{body}");
    queue_for_sales(&server, &["alice"], json!({ "overflow": { "hangup": "all-busy" } })).await;
    caller_until_bye(&server).await.unwrap();
    let empty = server.nth_call(NUMBER, 3).await;
    assert!(
        trace(&empty)
            .iter()
            .any(|e| e.starts_with("enqueue sales") && e.ends_with("→ Empty")),
        "{empty}"
    );

    let (status, body) = server.send(Method::PUT, path, json!({ "logged_in": true })).await;
    assert_eq!(status, 204, "{body}");
    pause(&server, "alice", false).await;
    let phone = alice.expect(&server, TALKS);
    phones_listening().await;
    caller_until_bye(&server).await.unwrap();
    finished(&server, "alice", phone).await;
    let answered = server.nth_call(NUMBER, 4).await;
    assert_eq!(answered["answered_by"], "alice", "{answered}");
}

/// The caller presses 1 while every member is busy: he hears the callback promise and is let
/// go, and his place is kept as a callback request for the queue. When the member comes back
/// from his pause the request is his: the exchange rings him at once (not at its next look
/// for due callbacks, a minute away), then the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_asks_for_a_callback_keeps_his_place() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str(), "--callback-check-secs", "60"];
    let server = Server::start_flagged(&flags).await;
    let (status, body) = server
        .send(Method::PATCH, "/company", json!({ "business_hours": null }))
        .await;
    assert_eq!(status, 200, "{body}");
    let alice = Desk::register(&server, "alice", "101").await;
    queue_for_sales(&server, &["alice"], json!({ "max_wait_secs": 60 })).await;
    pause(&server, "alice", true).await;

    caller(&server, sipp::caller_sends_info_digit(1_000, '1', None))
        .await
        .unwrap();
    let record = server.nth_call(NUMBER, 1).await;
    let events = trace(&record);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("enqueue sales") && e.ends_with("→ Callback")),
        "{events:#?}"
    );
    let callbacks = server.get_json("/callbacks").await;
    let request = &callbacks["callbacks"][0];
    assert_eq!(
        (&request["reason"], &request["employee"], &request["status"]),
        (&json!("queue:sales"), &Value::Null, &json!("open")),
        "{callbacks}"
    );

    let answers = alice.expect(&server, Phone::Answers { after_ms: 300 });
    let contact = carrier.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 500,
            hold_ms: 1_000,
        },
    );
    phones_listening().await;
    let back = std::time::Instant::now();
    pause(&server, "alice", false).await;
    let rang = alice.wait_for("INVITE", Duration::from_secs(20)).await;
    assert!(
        back.elapsed() < Duration::from_secs(15),
        "alice rang {:.1} s after her pause ended: {rang:?}",
        back.elapsed().as_secs_f64()
    );
    finished(&server, "alice", answers).await;
    finished(&server, "the caller, called back", contact).await;
    let id = request["id"].as_i64().unwrap();
    let done = server
        .get_json_until(&format!("/callbacks/{id}"), |c| c["status"] == "done")
        .await;
    assert_eq!(done["employee"], "alice", "{done}");
}
