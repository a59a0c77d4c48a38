//! Supervisors: an admin listens to an employee's call, whispers to the employee only, or barges
//! in — from his desk phone (`*55`/`*56`/`*57` + extension) or over the API — and the call
//! record lists him.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{RtpPeer, Server};
use crate::hunt::{Desk, finished, phones_listening};
use crate::media::{pcma_heard, power_at, talk};
use crate::registrar::{PASSWORD, add_employee};
use crate::sipp::{self, Phone, SippRun, Then};

const NUMBER: &str = "+15550100311";
const TONES: [f64; 3] = [500.0, 700.0, 1300.0];

/// Whether `samples` carry `hz` well above the quietest of the tones (what a party does not
/// hear of the room is silence, not a quieter copy).
fn hears(samples: &[i16], hz: f64) -> bool {
    let quietest = TONES.iter().map(|t| power_at(samples, *t)).fold(f64::MAX, f64::min);
    power_at(samples, hz) > 100.0 * quietest.max(1.0)
}

/// A caller reaches alice through a hunt group; her phone answers and hangs up after `hold_ms`.
/// Returns the caller's sipp, its RTP peer and where to send alice's audio.
async fn caller_talks_to_alice(
    server: &Server,
    alice: &Desk,
    hold_ms: u64,
) -> (
    tokio::task::JoinHandle<SippRun>,
    tokio::task::JoinHandle<SippRun>,
    RtpPeer,
    SocketAddr,
) {
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let alice_phone = alice.expect(server, Phone::AnswersThenHangsUp { after_ms: 200, hold_ms });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        NUMBER,
        caller_rtp.port(),
    ));
    let invite = alice.wait_for("INVITE", Duration::from_secs(10)).await;
    let to_alice = SocketAddr::from(([127, 0, 0, 1], invite.port().expect("SDP port")));
    alice.wait_for("ANSWER", Duration::from_secs(10)).await;
    (caller, alice_phone, caller_rtp, to_alice)
}

/// The supervised call's record, once written: its supervisor legs.
async fn supervisor_legs(server: &Server) -> Vec<serde_json::Value> {
    let record = server.call_record(NUMBER).await;
    record["legs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| ["listened", "whispered", "barged"].contains(&l["result"].as_str().unwrap_or("")))
        .cloned()
        .collect()
}

/// Boss, an admin, dials `*55101` from his desk phone while alice (101) talks to a caller: he
/// hears both, neither hears him; when the call ends his line is hung up too. Carol, a user,
/// may not (403). The call record lists boss as having listened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_listens_to_a_call_from_his_phone_and_nobody_hears_him() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    add_employee(&server, "boss", "200").await;
    add_employee(&server, "carol", "300").await;
    let (status, body) = server
        .send(Method::PATCH, "/employees/boss", json!({ "role": "admin" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (caller, alice_phone, caller_rtp, to_alice) = caller_talks_to_alice(&server, &alice, 8000).await;

    // Carol is no admin: refused.
    let run = sipp::run(
        server.sip,
        sipp::employee_calls("carol", Then::Refused(403)),
        "*55101",
        &["-au", "carol", "-ap", PASSWORD, "-key", "rtp_port", "9"],
    )
    .await;
    assert!(run.success, "carol: {}\nserver log:\n{}", run.output, server.log());

    let boss_rtp = RtpPeer::bind().await;
    let rtp_port = boss_rtp.port().to_string();
    let sip = server.sip;
    let boss = tokio::spawn(async move {
        let args = ["-au", "boss", "-ap", PASSWORD, "-key", "rtp_port", &rtp_port];
        sipp::run(sip, sipp::employee_calls("boss", Then::WaitsForBye), "*55101", &args).await
    });
    let to_boss = boss_rtp.first_packet_from(Duration::from_secs(10)).await;
    let to_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;
    tokio::join!(
        talk(&caller_rtp, to_caller, TONES[0]),
        talk(&alice.rtp, to_alice, TONES[1]),
        talk(&boss_rtp, to_boss, TONES[2]),
    );
    finished(&server, "alice", alice_phone).await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    // The call over, the room closes under boss: the exchange hangs him up.
    let run = boss.await.unwrap();
    assert!(run.success, "boss: {}\nserver log:\n{}", run.output, server.log());

    let (at_caller, at_alice, at_boss) = (pcma_heard(&caller_rtp), pcma_heard(&alice.rtp), pcma_heard(&boss_rtp));
    assert!(
        hears(&at_boss, TONES[0]) && hears(&at_boss, TONES[1]),
        "boss hears both"
    );
    assert!(
        hears(&at_caller, TONES[1]) && hears(&at_alice, TONES[0]),
        "the two still talk"
    );
    assert!(!hears(&at_caller, TONES[2]), "the caller heard the supervisor");
    assert!(!hears(&at_alice, TONES[2]), "alice heard a listening supervisor");
    let legs = supervisor_legs(&server).await;
    assert_eq!(legs.len(), 1, "{legs:?}");
    assert_eq!(
        (legs[0]["employee"].as_str(), legs[0]["result"].as_str()),
        (Some("boss"), Some("listened"))
    );
    assert!(legs[0]["ended_at"].is_i64(), "{legs:?}");
}

/// Over the API the call rings boss's phone and lets him in whispering: alice hears him, the
/// caller does not; he presses 6 and barges in: now the caller hears him too. Another company's
/// admin finds no such call (404); an unknown mode is refused naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_whispers_to_the_employee_then_barges_in_over_the_api() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let boss = Desk::register(&server, "boss", "200").await;
    let boss_phone = boss.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 6500,
        },
    );
    let (caller, alice_phone, caller_rtp, to_alice) = caller_talks_to_alice(&server, &alice, 9000).await;

    let live = server.get_json("/calls/live").await;
    let id = live["calls"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/calls/live/{id}/supervise");
    let (_, beta_token) = crate::tenancy::beta(&server, json!({})).await;
    let r = server
        .request_as(&beta_token, Method::POST, &path)
        .json(&json!({ "mode": "listen", "extension": "200" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another company's call");
    let (status, body) = server
        .send(Method::POST, &path, json!({ "mode": "peek", "extension": "200" }))
        .await;
    assert!(
        (400..500).contains(&status) && body.to_string().contains("mode"),
        "{status} {body}"
    );
    let (status, body) = server
        .send(Method::POST, &path, json!({ "mode": "whisper", "extension": "200" }))
        .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("ringing 200")), "{body}");
    let invite = boss.wait_for("INVITE", Duration::from_secs(10)).await;
    let to_boss = SocketAddr::from(([127, 0, 0, 1], invite.port().expect("SDP port")));
    boss.wait_for("ANSWER", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;

    // Whispering.
    tokio::join!(
        talk(&caller_rtp, to_caller, TONES[0]),
        talk(&alice.rtp, to_alice, TONES[1]),
        talk(&boss.rtp, to_boss, TONES[2]),
    );
    let (whispered_caller, whispered_alice) = (pcma_heard(&caller_rtp).len(), pcma_heard(&alice.rtp).len());
    // 6: barge in.
    boss.rtp.send_digits("6", to_boss).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    talk(&boss.rtp, to_boss, TONES[2]).await;

    finished(&server, "boss", boss_phone).await;
    finished(&server, "alice", alice_phone).await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    let (at_caller, at_alice) = (pcma_heard(&caller_rtp), pcma_heard(&alice.rtp));
    let at_boss = pcma_heard(&boss.rtp);
    assert!(hears(&at_alice[..whispered_alice], TONES[2]), "alice hears the whisper");
    assert!(
        !hears(&at_caller[..whispered_caller], TONES[2]),
        "the caller heard the whisper"
    );
    assert!(
        hears(&at_boss, TONES[0]) && hears(&at_boss, TONES[1]),
        "boss hears both"
    );
    assert!(
        hears(&at_caller[whispered_caller..], TONES[2]),
        "the caller hears boss once he barged in"
    );
    let legs = supervisor_legs(&server).await;
    assert_eq!(legs.len(), 1, "{legs:?}");
    assert_eq!(
        (legs[0]["employee"].as_str(), legs[0]["result"].as_str()),
        (Some("boss"), Some("whispered"))
    );
}
