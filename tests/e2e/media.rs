//! Prompts callers hear (uploaded WAVs, text-to-speech) and recordings of what they say
//! (voicemail), with sipp callers and the harness's RTP endpoint.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use std::net::SocketAddr;

use crate::harness::{PCAPS, RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp;
use crate::sipp::Phone;

/// A 16-bit mono WAV of a `hz` tone.
pub fn tone_wav(hz: f64, rate: u32, ms: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..rate * ms / 1000 {
        let t = i as f64 / rate as f64;
        w.write_sample(((t * hz * std::f64::consts::TAU).sin() * 8000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

pub async fn upload_prompt(server: &Server, name: &str, wav: Vec<u8>) -> (u16, Value) {
    let r = server
        .request(Method::POST, &format!("/prompts?name={name}"))
        .body(wav)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

/// The recordings the API lists, waiting for the call's to be stored.
async fn recordings(server: &Server, want: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let list = server.get_json("/recordings").await["recordings"]
            .as_array()
            .unwrap()
            .clone();
        if list.len() >= want || tokio::time::Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A voicemail number whose greeting is a 1 s uploaded tone; the beep follows, so the caller
/// starts speaking 1.6 s after the first packet it hears.
async fn voicemail(settings: Value) -> Server {
    voicemail_on(Server::start().await, settings).await
}

/// `server` with +15550100300 taking voicemail (`settings` on top of a one-second greeting) for
/// alice (extension 101).
pub async fn voicemail_on(server: Server, settings: Value) -> Server {
    let (status, body) = upload_prompt(&server, "short-greeting", tone_wav(440.0, 16_000, 1000)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["duration_ms"], 1000);
    let mut all = json!({ "greeting": "short-greeting", "thanks": null });
    all.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    // Alice has the number's mailbox.
    let (status, body) = server
        .send(
            Method::POST,
            "/employees",
            json!({ "login": "alice", "password": "correct-horse", "extension": "101" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let number = json!({ "flow": "voicemail", "settings": all, "mailbox": "alice" });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100300", number).await;
    assert_eq!((status, body["mailbox"].as_str()), (200, Some("alice")), "{body}");
    server
}

/// A caller of `number` waits 1.5 s after the first packet he hears (a greeting and the beep),
/// speaks for `speaks` (sip-tester's G.711 voice) and hangs up `hangs_up_ms` after the answer.
pub async fn leave_a_message(server: &Server, number: &'static str, hangs_up_ms: u64, speaks: Duration) {
    let run = leave_a_message_at(server.sip, number, hangs_up_ms, speaks).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
}

/// [`leave_a_message`] to the exchange at `sip`; how sipp fared.
pub async fn leave_a_message_at(
    sip: std::net::SocketAddr,
    number: &'static str,
    hangs_up_ms: u64,
    speaks: Duration,
) -> sipp::SippRun {
    let peer = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(sip, sipp::caller_hangs_up(hangs_up_ms), number, peer.port()));
    let exchange_rtp = peer.first_packet_from(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    peer.play_pcap_for(&Path::new(PCAPS).join("g711a.pcap"), exchange_rtp, speaks)
        .await;
    caller.await.unwrap()
}

/// The caller speaks for 3 s (sip-tester's G.711 voice) and then falls silent; 2 s of silence
/// end the message, the exchange hangs up, and the API serves the message as a WAV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_records_the_message_until_silence() {
    let server = voicemail(json!({ "max_secs": 30, "silence_secs": 2 })).await;
    let peer = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100300",
        peer.port(),
    ));
    let exchange_rtp = peer.first_packet_from(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let spoke = peer
        .play_pcap_for(
            &Path::new(PCAPS).join("g711a.pcap"),
            exchange_rtp,
            Duration::from_secs(3),
        )
        .await;
    assert!(spoke > 90, "voice packets sent: {spoke}");
    peer.send_pcma(&vec![0i16; 8000 * 4], exchange_rtp).await;
    let run = caller.await.unwrap();
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());

    let list = recordings(&server, 1).await;
    assert_eq!(list.len(), 1, "{list:#?}\n{}", server.log());
    let rec = &list[0];
    let call = server.call_record("+15550100300").await;
    assert_eq!(rec["call_id"], call["id"]);
    assert_eq!(rec["ended_by"], "silence", "{rec}");
    let ms = rec["duration_ms"].as_i64().unwrap();
    // 3 s of voice and at most half a second of the silence after it.
    assert!((2700..=3700).contains(&ms), "duration {ms} ms");
    assert!(
        trace(&call).iter().any(|e| e.starts_with("record (max 30 s) → ")),
        "{call:#}"
    );
    assert_eq!(call["result"], "voicemail", "{call:#}");

    let id = rec["id"].as_str().unwrap();
    // The call, looked up by id and by filter, shows the message it left.
    let one = server
        .get_json(&format!("/calls/{}", call["id"].as_str().unwrap()))
        .await;
    assert_eq!(one["recordings"][0]["id"], id, "{one:#}");
    let filtered = server
        .get_json("/calls?caller=%2B15550100001&outcome=completed&limit=5")
        .await;
    assert_eq!(filtered["calls"][0]["id"], call["id"], "{filtered:#}");
    let none = server.get_json("/calls?outcome=busy").await;
    assert_eq!(none["calls"], json!([]), "{none:#}");
    let bad = server.request(Method::GET, "/calls?limit=lots").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let audio = server
        .request(Method::GET, &format!("/recordings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(audio.headers()["content-type"], "audio/wav");
    let wav = audio.bytes().await.unwrap();
    let reader = hound::WavReader::new(Cursor::new(wav.to_vec())).unwrap();
    assert_eq!((reader.spec().sample_rate, reader.spec().channels), (8000, 1));
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples.len() as i64, ms * 8);
    assert!(
        rms(&samples[..16_000]) > 300.0,
        "the voice is in the file: {}",
        rms(&samples[..16_000])
    );

    // The message is in Alice's mailbox: she lists and hears it with her own token; another
    // employee sees nothing of it.
    assert_eq!(rec["mailbox"], "alice", "{rec}");
    // ... and the caller is to be called back: by her, with the message attached.
    let callbacks = server.get_json("/callbacks?due=true").await;
    let callback = &callbacks["callbacks"][0];
    assert_eq!(
        (
            &callback["phone"],
            &callback["employee"],
            &callback["recording_id"],
            &callback["reason"]
        ),
        (&json!("+15550100001"), &json!("alice"), &json!(id), &json!("voicemail")),
        "{callbacks:#}"
    );
    let alice = server.login("alice", "correct-horse").await;
    let hers: Value = server.get_json_as(&alice, "/recordings").await;
    assert_eq!(hers["recordings"][0]["id"], id, "{hers}");
    let heard = server
        .request_as(&alice, Method::GET, &format!("/recordings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(heard.status(), 200);
    let bob = server.user_token("bob", "102").await;
    let his: Value = server.get_json_as(&bob, "/recordings").await;
    assert_eq!(his["recordings"], json!([]), "{his}");
    for method in [Method::GET, Method::DELETE] {
        let r = server
            .request_as(&bob, method.clone(), &format!("/recordings/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method}: not his");
    }

    let gone = server
        .request_as(&alice, Method::DELETE, &format!("/recordings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204, "she deletes her message");
    let again = server
        .request(Method::GET, &format!("/recordings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

/// Most messages end with the caller hanging up: what they said is kept all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_still_leaves_the_message() {
    let server = voicemail(json!({ "max_secs": 30, "silence_secs": 0 })).await;
    let peer = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(4500),
        "+15550100300",
        peer.port(),
    ));
    let exchange_rtp = peer.first_packet_from(Duration::from_secs(10)).await;
    // While it lasts, the call is listed as live (with the id its record will have).
    let live = server.get_json("/calls/live").await;
    assert_eq!(live["calls"][0]["dialled"], "+15550100300", "{live}");
    let live_id = live["calls"][0]["id"].clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    peer.play_pcap_for(
        &Path::new(PCAPS).join("g711a.pcap"),
        exchange_rtp,
        Duration::from_secs(4),
    )
    .await;
    let run = caller.await.unwrap();
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    let list = recordings(&server, 1).await;
    assert_eq!(list.len(), 1, "{list:#?}\n{}", server.log());
    assert_eq!(list[0]["ended_by"], "hangup");
    let ms = list[0]["duration_ms"].as_i64().unwrap();
    assert!((1500..=4000).contains(&ms), "duration {ms} ms");
    let call = server.call_record("+15550100300").await;
    assert_eq!(call["outcome"], "caller-hangup", "{call:#}");
    assert_eq!(call["id"], live_id);
    assert_eq!(server.get_json("/calls/live").await["calls"], json!([]));
}

/// Uploads are checked (a clear 400 for what is not a usable WAV), a 16 kHz WAV is resampled
/// and played whole, and `tts:` text is spoken by espeak-ng.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_and_spoken_prompts_reach_the_caller() {
    let server = Server::start().await;
    let (status, body) = upload_prompt(&server, "bad", b"ID3 this is an mp3".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("not a WAV"), "{body}");
    let stereo = {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        (0..100).for_each(|_| w.write_sample(0i16).unwrap());
        w.finalize().unwrap();
        out.into_inner()
    };
    let (status, body) = upload_prompt(&server, "stereo", stereo).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("2 channel"), "{body}");
    let (status, _) = upload_prompt(&server, "Bad Name", tone_wav(440.0, 8000, 100)).await;
    assert_eq!(status, 422);
    let (status, body) = upload_prompt(&server, "goodbye-tone", tone_wav(440.0, 16_000, 1000)).await;
    assert_eq!(status, 201, "{body}");
    let listed = server.get_json("/prompts").await;
    assert_eq!(listed["prompts"][0]["name"], "goodbye-tone", "{listed}");

    // The menu speaks its greeting, hears nothing, and its default route plays the upload.
    let settings = json!({
        "greeting": "tts:Thank you for calling the test company.",
        "timeout_ms": 1000,
        "retries": 0,
        "default": { "hangup": "goodbye-tone" },
    });
    server.assign("+15550100301", "ivr", settings).await;
    let peer = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100301",
        peer.port(),
    ));
    let run = caller.await.unwrap();
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());

    let packets = peer.received();
    let starts: Vec<usize> = (0..packets.len()).filter(|i| packets[*i].data[1] & 0x80 != 0).collect();
    assert_eq!(starts.len(), 2, "two prompts, each starting a talkspurt");
    let decode = |range: &[crate::harness::Received]| -> Vec<i16> {
        range
            .iter()
            .flat_map(|p| {
                p.data[12..]
                    .iter()
                    .map(|b| switchboard::media::g711::alaw_to_linear(*b))
            })
            .collect()
    };
    let speech = decode(&packets[..starts[1]]);
    assert!(
        speech.len() >= 8000,
        "at least a second of speech: {} samples",
        speech.len()
    );
    assert!(rms(&speech) > 300.0, "speech is audible: RMS {}", rms(&speech));
    let goodbye = &packets[starts[1]..];
    assert_eq!(goodbye.len(), 50, "1 s of the 16 kHz upload at 8 kHz, 20 ms per packet");
    assert!(rms(&decode(goodbye)) > 4000.0, "the tone survives resampling");

    let call = server.call_record("+15550100301").await;
    let events = trace(&call);
    assert!(
        events.iter().any(|e| e.starts_with("collect (prompt tts:Thank you")),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e == "play goodbye-tone → ok"), "{events:#?}");
}

/// Power of `hz` in `samples` (Goertzel), per sample.
pub(crate) fn power_at(samples: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in samples {
        let s0 = *x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / samples.len().max(1) as f64
}

/// Three callers in one room, each playing its own tone: everyone hears the two others and not
/// themselves; the room closes when they have all hung up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_callers_in_a_conference_hear_each_other() {
    let server = Server::start().await;
    server
        .assign("+15550100302", "conference", json!({ "room": "team" }))
        .await;
    let tones = [500.0, 700.0, 1300.0];
    let mut peers = Vec::new();
    let mut callers = Vec::new();
    for _ in tones {
        let peer = RtpPeer::bind().await;
        callers.push(tokio::spawn(sipp::call(
            server.sip,
            sipp::caller_hangs_up(6000),
            "+15550100302",
            peer.port(),
        )));
        peers.push(peer);
    }
    let mut rtp = Vec::new();
    for peer in &peers {
        rtp.push(peer.first_packet_from(Duration::from_secs(10)).await);
    }
    // After everyone's beep, each speaks (its tone) for 2 s at the same time.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let speaking = peers
        .iter()
        .zip(&rtp)
        .zip(tones)
        .map(|((peer, to), hz)| talk(peer, *to, hz));
    futures::future::join_all(speaking).await;
    for caller in callers {
        let run = caller.await.unwrap();
        assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    }
    // Skip the beep (1 kHz, 0.3 s + 0.1 s pause) at the start of what each one heard.
    let heard: Vec<Vec<i16>> = peers.iter().map(|p| pcma_heard(p)[3200..].to_vec()).collect();
    assert_each_hears_the_others(&heard, &tones);
    // The last BYE is answered before the room notices it is empty.
    let closed = async {
        while !server.log().contains("conference room closes") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(5), closed).await.is_ok(),
        "the empty room stays open:\n{}",
        server.log()
    );
}

/// Hears `hz` at least 100 times louder than its own tone: checks every pair of a conference.
fn assert_each_hears_the_others(heard: &[Vec<i16>], tones: &[f64]) {
    for (i, samples) in heard.iter().enumerate() {
        let own = power_at(samples, tones[i]);
        for (j, hz) in tones.iter().enumerate().filter(|(j, _)| *j != i) {
            let other = power_at(samples, *hz);
            assert!(
                other > 100.0 * own.max(1.0),
                "party {i} hears party {j} ({hz} Hz) at {other:.0}, itself at {own:.0}"
            );
        }
    }
}

/// `peer` plays a 2 s tone of `hz` to `to`.
pub(crate) async fn talk(peer: &RtpPeer, to: SocketAddr, hz: f64) {
    peer.send_pcma(switchboard::media::Prompt::tone(hz as f32, 2000, 0).samples(), to)
        .await
}

pub(crate) fn pcma_heard(peer: &RtpPeer) -> Vec<i16> {
    peer.received()
        .iter()
        .filter(|p| p.data.len() > 12 && p.data[1] & 0x7f == 8)
        .flat_map(|p| {
            p.data[12..]
                .iter()
                .map(|b| switchboard::media::g711::alaw_to_linear(*b))
        })
        .collect()
}

/// Alice, talking to a caller her hunt group gave her, types `*3102#` (RFC 4733 events): bob
/// (extension 102) is rung and, once he answers, the three talk together, each hearing the other
/// two. Bob leaves, then alice; the caller, left alone, is hung up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_brings_a_colleague_into_the_call_with_star_3() {
    three_way_call(ThreeWayBy::FeatureCode).await;
}

/// The same, asked for over the API (`POST /calls/live/{id}/three-way`): a second request while
/// bob rings is refused (409), an unknown call is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_brings_a_colleague_into_the_call_over_the_api() {
    three_way_call(ThreeWayBy::Api).await;
}

/// How a three-way call is asked for.
#[derive(Clone, Copy)]
enum ThreeWayBy {
    FeatureCode,
    Api,
}

async fn three_way_call(by: ThreeWayBy) {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    server
        .assign("+15550100303", "hunt", json!({ "members": ["alice"] }))
        .await;
    let alice_phone = alice.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 7000,
        },
    );
    let bob_phone = bob.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 300,
            hold_ms: 4000,
        },
    );
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100303",
        caller_rtp.port(),
    ));
    let port_of = |e: crate::hunt::Event| SocketAddr::from(([127, 0, 0, 1], e.port().expect("SDP port")));
    let to_alice = port_of(alice.wait_for("INVITE", Duration::from_secs(10)).await);
    alice.wait_for("ANSWER", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    match by {
        ThreeWayBy::FeatureCode => alice.rtp.send_digits("*3102#", to_alice).await,
        ThreeWayBy::Api => {
            let live = server.get_json("/calls/live").await;
            let id = live["calls"][0]["id"].as_str().unwrap().to_string();
            let path = format!("/calls/live/{id}/three-way");
            let (status, body) = server.send(Method::POST, &path, json!({ "extension": "102" })).await;
            assert_eq!((status, body["status"].as_str()), (202, Some("ringing 102")), "{body}");
            let (status, body) = server.send(Method::POST, &path, json!({ "extension": "102" })).await;
            assert_eq!(status, 409, "bob is ringing already: {body}");
            let unknown = json!({ "extension": "102" });
            let (status, _) = server.send(Method::POST, "/calls/live/nope/three-way", unknown).await;
            assert_eq!(status, 404);
        }
    }
    let to_bob = port_of(bob.wait_for("INVITE", Duration::from_secs(10)).await);
    bob.wait_for("ANSWER", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;

    let tones = [500.0, 700.0, 1300.0];
    tokio::join!(
        talk(&caller_rtp, to_caller, tones[0]),
        talk(&alice.rtp, to_alice, tones[1]),
        talk(&bob.rtp, to_bob, tones[2]),
    );
    finished(&server, "bob", bob_phone).await;
    finished(&server, "alice", alice_phone).await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    let heard = [pcma_heard(&caller_rtp), pcma_heard(&alice.rtp), pcma_heard(&bob.rtp)];
    assert_each_hears_the_others(&heard, &tones);
    assert!(server.log().contains("three-way call"), "{}", server.log());
}

/// A number that records its calls: the bridged conversation is stored as a stereo WAV, the
/// caller on the left and the employee on the right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_number_keeps_both_sides_of_the_conversation() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let assigned = server
        .request(Method::PUT, "/numbers/+15550100304")
        .json(&json!({ "flow": "hunt", "settings": { "members": ["alice"] }, "record_calls": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(assigned.status(), 200);
    assert_eq!(assigned.json::<Value>().await.unwrap()["record_calls"], true);
    let alice_phone = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(3000),
        "+15550100304",
        caller_rtp.port(),
    ));
    let to_alice = alice
        .wait_for("INVITE", Duration::from_secs(10))
        .await
        .port()
        .expect("SDP port");
    let to_alice = SocketAddr::from(([127, 0, 0, 1], to_alice));
    alice.wait_for("ANSWER", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The caller's exchange address: where the exchange relays alice's first packet from.
    let alice_first = talk(&alice.rtp, to_alice, 1300.0);
    let caller_talks = async {
        let to_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;
        talk(&caller_rtp, to_caller, 500.0).await;
    };
    tokio::join!(alice_first, caller_talks);
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", alice_phone).await;

    let list = recordings(&server, 1).await;
    assert_eq!(list.len(), 1, "{list:#?}\n{}", server.log());
    assert_eq!(
        (list[0]["kind"].as_str(), list[0]["ended_by"].as_str()),
        (Some("call"), Some("call-end"))
    );
    let id = list[0]["id"].as_str().unwrap();
    let wav = server
        .request(Method::GET, &format!("/recordings/{id}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = hound::WavReader::new(Cursor::new(wav.to_vec())).unwrap();
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    let (left, right): (Vec<i16>, Vec<i16>) = samples.chunks(2).map(|f| (f[0], f[1])).unzip();
    assert!(left.len() >= 8000, "{} frames", left.len());
    assert!(
        power_at(&left, 500.0) > 100.0 * power_at(&left, 1300.0).max(1.0),
        "left is the caller"
    );
    assert!(
        power_at(&right, 1300.0) > 100.0 * power_at(&right, 500.0).max(1.0),
        "right is alice"
    );
    // Both tones went through the relay: 2 × 100 packets, none lost.
    let metrics = server.metrics().await;
    let relayed = crate::calls::metric(&metrics, "switchboard_rtp_relayed_packets_total").unwrap_or(0.0);
    assert!(relayed >= 190.0, "relayed {relayed}\n{metrics}");
    assert_eq!(
        crate::calls::metric(&metrics, "switchboard_rtp_lost_packets_total"),
        Some(0.0),
        "{metrics}"
    );
}

/// A hunt group with hold music: the caller, not answered yet, gets 183 with SDP and hears the
/// music from the start (once its carrier's RTP proved its address) until alice answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_hear_hold_music_while_the_group_rings() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let settings = json!({ "members": ["alice"], "music": "hold-music" });
    server.assign("+15550100305", "hunt", settings).await;
    let alice_phone = alice.expect(&server, Phone::Answers { after_ms: 2000 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::carrier_call_with_early_rtp(server.sip, 500, "+15550100305", &caller_rtp).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", alice_phone).await;
    let answered = alice.event("ANSWER").expect("alice answered").at;
    let invited = alice.event("INVITE").expect("alice rang").at;
    let ringing_for = Duration::from_secs_f64(answered - invited);
    // Music from the start: about one 20 ms packet per 20 ms of ringing, and not silence.
    let music = pcma_heard(&caller_rtp);
    let expected = ringing_for.as_millis() as usize * 8;
    assert!(
        music.len() * 10 >= expected * 8,
        "{} samples of music for {ringing_for:?} of ringing",
        music.len()
    );
    assert!(
        rms(&music[..8000]) > 1000.0,
        "music, not silence: RMS {}",
        rms(&music[..8000])
    );
}

/// A caller who signals digits with SIP INFO reaches, through the bridge, an employee's phone
/// that way too (RTP events are relayed as RTP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digit_sent_as_sip_info_is_passed_through_the_bridge() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server
        .assign("+15550100306", "hunt", json!({ "members": ["alice"] }))
        .await;
    let alice_phone = alice.expect(&server, Phone::AnswersAndHearsInfoDigit { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(
        server.sip,
        sipp::caller_sends_info_digit(1000, '5', Some(500)),
        "+15550100306",
        caller_rtp.port(),
    )
    .await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", alice_phone).await;
    assert_eq!(alice.event("DIGIT").expect("alice got the digit").details[0], "5");
}

/// The `employee` flow: alice's phone is busy, so the caller leaves a message — in alice's
/// mailbox, which she lists and hears with her own token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_employee_gets_the_message_in_her_mailbox() {
    let server = Server::start().await;
    let short = tone_wav(440.0, 16_000, 1000);
    assert_eq!(upload_prompt(&server, "voicemail-greeting", short).await.0, 201);
    let alice = Desk::register(&server, "alice", "101").await;
    server
        .assign("+15550100310", "employee", json!({ "employee": "alice" }))
        .await;
    let busy = alice.expect(&server, Phone::Busy);
    phones_listening().await;

    leave_a_message(&server, "+15550100310", 5000, Duration::from_secs(3)).await;
    finished(&server, "alice", busy).await;

    let list = recordings(&server, 1).await;
    assert_eq!(list.len(), 1, "{list:#?}\n{}", server.log());
    assert_eq!(list[0]["mailbox"], "alice", "{list:#?}");
    let events = trace(&server.call_record("+15550100310").await);
    assert!(events.iter().any(|e| e.ends_with("→ Busy")), "{events:#?}");
    assert!(events.iter().any(|e| e == "set-mailbox alice → ok"), "{events:#?}");
    let token = server.login("alice", crate::registrar::PASSWORD).await;
    let hers: Value = server.get_json_as(&token, "/recordings").await;
    assert_eq!(hers["recordings"][0]["id"], list[0]["id"], "{hers}");
}
