//! Message waiting (RFC 3842): a voicemail left in an employee's mailbox lights his phone's
//! lamp — by NOTIFY in his message-summary subscription, or unsolicited to a phone that never
//! subscribed — and hearing it (the API's audio, or `*97` from his desk) puts it out.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RtpPeer, Server};
use crate::hunt::{Desk, finished, phones_listening};
use crate::media::{leave_a_message, voicemail_on};
use crate::registrar::PASSWORD;
use crate::sipp::{self, Phone, Then};

const VOICEMAIL: &str = "+15550100300";

/// Alice's voicemail, once it is stored.
async fn alices_voicemail(server: &Server) -> Value {
    let list = server
        .get_json_until("/recordings?mailbox=alice", |l| {
            l["recordings"].as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
    list["recordings"][0].clone()
}

/// How many LAMP notes a phone's event file holds.
fn lamps(dir: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(dir.join(sipp::PHONE_EVENTS)).unwrap_or_default();
    text.lines().filter(|l| l.starts_with("LAMP ")).count()
}

async fn until_lamps(dir: &std::path::Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while lamps(dir) < n {
        assert!(std::time::Instant::now() < deadline, "{n} lamp NOTIFYs did not come");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Alice's phone subscribes to her mailbox: dark (nothing waits). A caller leaves a message: the
/// lamp lights, one new. Alice fetches the message's audio with her own login: it is heard, the
/// lamp goes out (none new, one old). Another employee's mailbox is not hers to watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_lights_the_lamp_and_hearing_it_puts_it_out() {
    let server = voicemail_on(Server::start().await, json!({ "max_secs": 30, "silence_secs": 2 })).await;
    let dir = tempfile::tempdir().unwrap();
    let (sip, path) = (server.sip, dir.path().to_path_buf());
    let lamp = tokio::spawn(async move {
        let scenario = sipp::message_lamp("alice", &["no 0/0", "yes 1/0", "no 0/1"]);
        sipp::run_in(&path, sip, scenario, "alice", &["-au", "alice", "-ap", PASSWORD]).await
    });
    until_lamps(dir.path(), 1).await;

    leave_a_message(&server, VOICEMAIL, 4_500, Duration::from_secs(2)).await;
    until_lamps(dir.path(), 2).await;
    let message = alices_voicemail(&server).await;
    assert_eq!(message["heard"], false, "{message}");

    let token = server.login("alice", PASSWORD).await;
    let id = message["id"].as_str().unwrap();
    let audio = server
        .request_as(&token, Method::GET, &format!("/recordings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    let run = lamp.await.unwrap();
    assert!(run.success, "lamp: {}\nserver log:\n{}", run.output, server.log());
    assert_eq!(alices_voicemail(&server).await["heard"], true);

    // Bob may not watch alice's mailbox.
    crate::registrar::add_employee(&server, "bob", "102").await;
    let refused = sipp::subscribe_refused("bob", "message-summary", 403);
    let run = sipp::run(server.sip, refused, "alice", &["-au", "bob", "-ap", PASSWORD]).await;
    assert!(run.success, "bob: {}", run.output);
}

/// Alice's desk phone never subscribes: it gets the lamp unsolicited when a message is left.
/// Alice dials `*97`: she hears the message (well over its two seconds of audio), it is heard
/// from then on, and her phone's lamp goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_never_subscribed_hears_of_its_voicemail_and_star_97_plays_it() {
    let server = voicemail_on(Server::start().await, json!({ "max_secs": 30, "silence_secs": 2 })).await;
    let desk = Desk::another_phone_of(&server, "alice").await;
    let lights = desk.expect(&server, Phone::HearsMessageLamp { waiting: true });
    phones_listening().await;
    leave_a_message(&server, VOICEMAIL, 4_500, Duration::from_secs(2)).await;
    finished(&server, "alice's desk, lit", lights).await;
    let goes_out = desk.expect(&server, Phone::HearsMessageLamp { waiting: false });
    phones_listening().await;

    let rtp = RtpPeer::bind().await;
    let port = rtp.port().to_string();
    let listens = sipp::employee_calls("alice", Then::WaitsForBye);
    let run = sipp::run(
        server.sip,
        listens,
        "*97",
        &["-au", "alice", "-ap", PASSWORD, "-key", "rtp_port", &port],
    )
    .await;
    assert!(run.success, "*97: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice's desk, dark", goes_out).await;
    // "You have one new message. Message 1, from …", the message, a beep, "Goodbye": far more
    // than the message's 2 s (100 packets).
    let heard = rtp.received().len();
    assert!(heard > 250, "packets alice heard: {heard}");
    assert_eq!(alices_voicemail(&server).await["heard"], true);
    let record = server.call_record("*97").await;
    assert!(
        crate::harness::trace(&record)
            .iter()
            .any(|e| e == "alice hears his voicemail: 1 new"),
        "{record}"
    );
}
