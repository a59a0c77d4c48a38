//! Calls through the built-in IVR with real SIP and RTP.

use std::path::Path;
use std::time::Duration;

use crate::harness::{PCAPS, RtpPeer, Server, trace};
use crate::sipp;

/// A parsed RTP header.
#[derive(Debug, Clone, Copy)]
struct Rtp {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload_len: usize,
}

fn rtp(data: &[u8]) -> Rtp {
    assert!(data.len() >= 12 && data[0] >> 6 == 2, "not RTP: {data:?}");
    Rtp {
        marker: data[1] & 0x80 != 0,
        pt: data[1] & 0x7f,
        seq: u16::from_be_bytes([data[2], data[3]]),
        ts: u32::from_be_bytes(data[4..8].try_into().unwrap()),
        ssrc: u32::from_be_bytes(data[8..12].try_into().unwrap()),
        payload_len: data.len() - 12,
    }
}

fn prompt_samples(name: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("prompts")
        .join(format!("{name}.wav"));
    hound::WavReader::open(path).unwrap().len() as usize
}

/// Caller answers, listens to the greeting, presses 1 (RFC 2833 from sip-tester's pcap) while
/// also sending G.711 audio; the menu's 1 plays the all-busy prompt and the exchange hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_call_plays_prompts_hears_a_digit_and_hangs_up() {
    let server = Server::start().await;
    let menu = serde_json::json!({ "options": { "1": { "hangup": "all-busy" } } });
    server.assign("+15550100100", "ivr", menu).await;
    let peer = RtpPeer::bind().await;

    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100100",
        peer.port(),
    ));
    let exchange_rtp = peer.first_packet_from(Duration::from_secs(10)).await;
    let voice = Path::new(PCAPS).join("g711a.pcap");
    let audio = async { peer.play_pcap(&voice, exchange_rtp).await };
    let digit = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        peer.play_pcap(&Path::new(PCAPS).join("dtmf_2833_1.pcap"), exchange_rtp)
            .await;
    };
    tokio::join!(audio, digit);
    let run = caller.await.unwrap();
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());

    // What the caller heard: PCMA (as offered), one SSRC, consecutive sequence numbers,
    // 160 samples per 20 ms packet, a talkspurt (marker) at the start of each prompt.
    let packets: Vec<_> = peer.received().into_iter().map(|p| (p.at, rtp(&p.data))).collect();
    assert!(
        packets.iter().all(|(_, p)| p.pt == 8 && p.payload_len == 160),
        "payload types/sizes"
    );
    assert!(packets.iter().all(|(_, p)| p.ssrc == packets[0].1.ssrc));
    for pair in packets.windows(2) {
        let (a, b) = (pair[0].1, pair[1].1);
        assert_eq!(b.seq, a.seq.wrapping_add(1), "sequence gap");
        assert_eq!(b.ts, a.ts.wrapping_add(160), "timestamp step");
    }
    let starts: Vec<usize> = packets
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| p.marker)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        starts.len(),
        2,
        "two prompts: the greeting (cut by the digit), then all-busy"
    );
    let greeting = starts[1];
    let all_busy = &packets[starts[1]..];
    // The digit came 1.5 s after the first packet: the greeting stopped there (barge-in).
    assert!(
        (60..=110).contains(&greeting),
        "greeting packets before barge-in: {greeting}"
    );
    assert_eq!(
        all_busy.len(),
        prompt_samples("all-busy").div_ceil(160),
        "the whole all-busy prompt"
    );
    // Paced every 20 ms: the prompt's packets span its length (allowing for scheduling jitter).
    let span = all_busy.last().unwrap().0 - all_busy[0].0;
    let expected = Duration::from_millis(20 * (all_busy.len() as u64 - 1));
    assert!(
        span > expected.mul_f64(0.9) && span < expected.mul_f64(1.1),
        "span {span:?}, expected {expected:?}"
    );

    let record = server.call_record("+15550100100").await;
    let events = trace(&record);
    assert_eq!(record["outcome"], "completed", "{record:#}");
    assert!(record["answered_at"].is_i64());
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("collect (prompt ivr-greeting") && e.ends_with("→ 1")),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e == "play all-busy → ok"), "{events:#?}");
}

/// The caller hangs up in the middle of the menu: the flow's pending `collect` returns `hangup`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_bye_ends_the_call_and_the_pending_verb_returns_hangup() {
    let server = Server::start().await;
    server.assign("+15550100101", "ivr", serde_json::json!({})).await;
    let peer = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_hangs_up(2000), "+15550100101", peer.port()).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());

    let record = server.call_record("+15550100101").await;
    assert_eq!(record["outcome"], "caller-hangup", "{record:#}");
    let events = trace(&record);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("collect") && e.ends_with("error: hangup")),
        "{events:#?}"
    );
    // About 2 s of greeting was sent before the BYE, and nothing after it.
    let heard = peer.received().len();
    assert!((80..=120).contains(&heard), "packets before hangup: {heard}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.received().len(), heard, "RTP continued after BYE");
}

/// Desk phones set to send DTMF as SIP INFO reach the menu too: the digit interrupts the
/// greeting and chooses the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digit_sent_as_sip_info_chooses_from_the_menu() {
    let server = menu_that_hangs_up_on_2().await;
    let peer = RtpPeer::bind().await;
    let info = sipp::caller_sends_info_digit(1000, '2', None);
    let run = sipp::call(server.sip, info, "+15550100100", peer.port()).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    menu_heard_2(&server).await;
}

/// An exchange whose +15550100100 menu plays all-busy and hangs up on 2.
async fn menu_that_hangs_up_on_2() -> Server {
    let server = Server::start().await;
    let settings = serde_json::json!({ "options": { "2": { "hangup": "all-busy" } } });
    server.assign("+15550100100", "ivr", settings).await;
    server
}

async fn menu_heard_2(server: &Server) {
    let events = trace(&server.call_record("+15550100100").await);
    assert!(
        events.iter().any(|e| e.starts_with("collect") && e.ends_with("→ 2")),
        "{events:#?}"
    );
}

/// A caller whose phone offers no telephone-event presses 2 as a tone in the audio (in-band
/// DTMF); the menu hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_band_digit_chooses_from_the_menu() {
    let server = menu_that_hangs_up_on_2().await;
    let peer = RtpPeer::bind().await;
    let scenario = sipp::without_telephone_events(sipp::caller_waits_for_bye());
    let caller = tokio::spawn(sipp::call(server.sip, scenario, "+15550100100", peer.port()));
    let exchange_rtp = peer.first_packet_from(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut audio = vec![0i16; 800];
    audio.extend(switchboard::media::inband::tone('2', 120));
    audio.extend(vec![0i16; 1600]);
    peer.send_pcma(&audio, exchange_rtp).await;
    let run = caller.await.unwrap();
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    menu_heard_2(&server).await;
}

/// A caller whose INVITE carries no SDP gets our offer in the 200 OK, answers in its ACK, and
/// hears the menu at the address its answer gave (RFC 3261 §13.2.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_an_offer_answers_ours_in_the_ack() {
    let server = Server::start().await;
    server.assign("+15550100100", "ivr", serde_json::json!({})).await;
    let peer = RtpPeer::bind().await;
    let run = sipp::call(
        server.sip,
        sipp::caller_without_offer(3000),
        "+15550100100",
        peer.port(),
    )
    .await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    let packets: Vec<Rtp> = peer.received().iter().map(|p| rtp(&p.data)).collect();
    assert!(
        packets.len() >= 100,
        "the greeting reached the caller: {} packets",
        packets.len()
    );
    assert!(
        packets.iter().all(|p| p.pt == 8 && p.payload_len == 160),
        "PCMA as answered"
    );
    let record = server.call_record("+15550100100").await;
    assert_eq!(record["outcome"], "caller-hangup", "{record:#}");
    assert!(record["answered_at"].is_i64());
}

/// A caller asking for 30 ms packets (as sip-tester's own `g711a.pcap` is made) gets the menu in
/// 240-sample packets every 30 ms, and its 30 ms voice and digits are understood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_30_ms_packets_gets_30_ms_packets() {
    let server = menu_that_hangs_up_on_2().await;
    let peer = RtpPeer::bind().await;
    let scenario = sipp::with_ptime(sipp::caller_sends_info_digit(2500, '2', None), 30);
    let caller = tokio::spawn(sipp::call(server.sip, scenario, "+15550100100", peer.port()));
    let exchange_rtp = peer.first_packet_from(Duration::from_secs(10)).await;
    peer.play_pcap_for(
        &Path::new(PCAPS).join("g711a.pcap"),
        exchange_rtp,
        Duration::from_secs(2),
    )
    .await;
    let run = caller.await.unwrap();
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    let received = peer.received();
    let greeting: Vec<(std::time::Instant, Rtp)> = received
        .iter()
        .map(|p| (p.at, rtp(&p.data)))
        .take_while(|(_, p)| !p.marker || p.seq == rtp(&received[0].data).seq)
        .collect();
    assert!(greeting.len() > 50, "{} packets", greeting.len());
    for pair in greeting.windows(2) {
        assert_eq!(pair[1].1.payload_len, 240, "30 ms of PCMA per packet");
        assert_eq!(pair[1].1.ts, pair[0].1.ts.wrapping_add(240), "timestamp step");
    }
    let span = greeting.last().unwrap().0 - greeting[0].0;
    let expected = Duration::from_millis(30 * (greeting.len() as u64 - 1));
    assert!(
        span > expected.mul_f64(0.9) && span < expected.mul_f64(1.1),
        "span {span:?}, expected {expected:?}"
    );
    menu_heard_2(&server).await;
}

/// The value of a Prometheus sample whose name and labels start with `prefix`.
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `/metrics` (no token needed, like `/healthz`) counts calls by outcome, SIP messages by
/// method and status, API requests by route, and the calls up right now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_sip_messages_and_api_requests() {
    let server = menu_that_hangs_up_on_2().await;
    let peer = RtpPeer::bind().await;
    let info = sipp::caller_sends_info_digit(500, '2', None);
    let run = sipp::call(server.sip, info, "+15550100100", peer.port()).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    menu_heard_2(&server).await;
    let response = reqwest::get(format!("{}/metrics", server.http)).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_eq!(
        metric(&text, "switchboard_calls_total{company=\"1\",outcome=\"completed\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "switchboard_active_calls"), Some(0.0), "{text}");
    assert!(
        metric(
            &text,
            "switchboard_sip_messages_total{direction=\"in\",message=\"INVITE\"}"
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            "switchboard_sip_messages_total{direction=\"in\",message=\"INFO\"}"
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            "switchboard_sip_messages_total{direction=\"out\",message=\"200\"}"
        ) >= Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "switchboard_api_requests_total{method=\"PUT\",route=\"/numbers/{number}\",status=\"200\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "switchboard_registrations"), Some(0.0), "{text}");
}
