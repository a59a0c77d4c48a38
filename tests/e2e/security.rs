//! The exchange tried as an attacker on the same network would (docs/security.md): every test
//! plays a stranger at another loopback address (127.0.0.x) against an exchange whose trunk is
//! one particular address, and checks that nothing the stranger wrote is believed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

use serde_json::json;

use crate::harness::{RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::registrar::authorization;
use crate::sipp::{self, Phone};

/// The carrier's signalling address in these tests.
const TRUNK: &str = "127.0.0.5";
/// Where the stranger sends from.
pub const STRANGER: &str = "127.0.0.2";
const NUMBER: &str = "+15550100700";
/// A national number (country code 1): the outbound rules would let an employee call it.
const OUTSIDE: &str = "+15550100199";

/// An exchange that takes carrier calls from [`TRUNK`] only, with `NUMBER` on the voicemail flow.
async fn exchange_with_one_trunk(extra: &[&str]) -> Server {
    let mut flags = vec!["--trunks", "127.0.0.5/32"];
    flags.extend_from_slice(extra);
    let server = Server::start_flagged(&flags).await;
    server.assign(NUMBER, "voicemail", json!({})).await;
    server
}

/// An INVITE for `NUMBER` whose top Via names `via` (with the client's own parameters).
fn invite(transport: &str, via: &str, call_id: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:{NUMBER}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550100999@{STRANGER}>;tag=s1\r\nTo: <sip:{NUMBER}@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:+15550100999@{STRANGER}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The status lines that arrive on `socket` within `wait`.
async fn statuses(socket: &UdpSocket, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
        out.push(first_line(&buf[..n]));
    }
    out
}

fn first_line(message: &[u8]) -> String {
    String::from_utf8_lossy(message)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A stranger's UDP INVITE that claims, with `received=`, to come from the trunk is not a carrier
/// call: it is challenged like any unknown phone, at its real address, and nothing goes to the
/// address it named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_via_over_udp_does_not_make_a_stranger_a_trunk() {
    let server = exchange_with_one_trunk(&[]).await;
    let stranger = UdpSocket::bind((STRANGER, 0)).await.unwrap();
    let port = stranger.local_addr().unwrap().port();
    // Whatever is sent to the claimed address arrives here.
    let claimed = UdpSocket::bind((TRUNK, port)).await.unwrap();
    let via = format!("{STRANGER}:{port};branch=z9hG4bKspoof1;received={TRUNK}");
    stranger
        .send_to(invite("UDP", &via, "spoof-udp@test").as_bytes(), server.sip)
        .await
        .unwrap();
    let answers = statuses(&stranger, Duration::from_secs(2)).await;
    assert_eq!(
        answers,
        ["SIP/2.0 407 Proxy Authentication Required"],
        "{}",
        server.log()
    );
    assert!(
        statuses(&claimed, Duration::from_millis(300)).await.is_empty(),
        "the exchange answered the address the stranger wrote"
    );
    // `rport=` written by the client is no more believed than `received=`.
    let via = format!("{STRANGER}:{port};branch=z9hG4bKspoof2;received={TRUNK};rport=5060");
    stranger
        .send_to(invite("UDP", &via, "spoof-udp2@test").as_bytes(), server.sip)
        .await
        .unwrap();
    assert_eq!(
        statuses(&stranger, Duration::from_secs(2)).await,
        ["SIP/2.0 407 Proxy Authentication Required"]
    );
    let calls = server.get_json("/calls").await;
    assert_eq!(
        calls["calls"].as_array().unwrap().len(),
        0,
        "no call was taken: {calls}"
    );
    assert!(!server.log().contains("source=127.0.0.5"), "{}", server.log());
}

/// The same over TCP: the connection's peer is the source, whatever the Via says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_via_over_tcp_does_not_make_a_stranger_a_trunk() {
    let server = exchange_with_one_trunk(&[]).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{STRANGER}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(server.sip).await.unwrap();
    let via = format!("{STRANGER}:5999;branch=z9hG4bKspoof3;received={TRUNK}");
    stream
        .write_all(invite("TCP", &via, "spoof-tcp@test").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let statuses: Vec<&str> = text.lines().filter(|l| l.starts_with("SIP/2.0 ")).collect();
    assert_eq!(statuses, ["SIP/2.0 407 Proxy Authentication Required"], "{text}");
    let calls = server.get_json("/calls").await;
    assert_eq!(
        calls["calls"].as_array().unwrap().len(),
        0,
        "no call was taken: {calls}"
    );
}

/// The carrier itself, from its real address, is taken (the tests above refuse for the right
/// reason, not because nothing is ever taken).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_trunk_address_is_taken() {
    let server = exchange_with_one_trunk(&[]).await;
    let carrier = UdpSocket::bind((TRUNK, 0)).await.unwrap();
    let port = carrier.local_addr().unwrap().port();
    let via = format!("{TRUNK}:{port};branch=z9hG4bKtrunk1;rport");
    let message = invite("UDP", &via, "trunk@test").replace(STRANGER, TRUNK);
    carrier.send_to(message.as_bytes(), server.sip).await.unwrap();
    let answers = statuses(&carrier, Duration::from_secs(2)).await;
    assert!(
        answers
            .iter()
            .any(|s| s == "SIP/2.0 180 Ringing" || s.starts_with("SIP/2.0 200")),
        "{answers:?}\n{}",
        server.log()
    );
    assert!(
        server.log().contains(&format!("source={TRUNK}:{port}")),
        "{}",
        server.log()
    );
}

/// A caller from outside, talking to an employee, asks the exchange to transfer the call to an
/// outside number (REFER): refused with 403, and nothing reaches the carrier. Only when the
/// admin lets trunk callers transfer does the same REFER ring the carrier (so the refusal is the
/// rule's doing, not a broken transfer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_callers_refer_to_an_outside_number_is_refused() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str()];
    let server = Server::start_flagged(&flags).await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let answers = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let refused = sipp::caller_refers(800, OUTSIDE, 403);
    let run = sipp::call(server.sip, refused, NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", answers).await;
    assert!(
        server
            .log()
            .contains("a REFER from a caller who is no employee: refused")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        carrier.events().iter().all(|e| e.name != "INVITE"),
        "the carrier was rung"
    );

    let rules = json!({ "country_code": "1", "trunk_callers_may_transfer": true });
    let (status, body) = server.send(reqwest::Method::PUT, "/outbound-rules", rules).await;
    assert_eq!(status, 200, "{body}");
    let answers = alice.expect(&server, Phone::Answers { after_ms: 200 });
    let carrier_answers = carrier.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 300,
        },
    );
    phones_listening().await;
    let run = sipp::call(
        server.sip,
        sipp::caller_refers(800, OUTSIDE, 202),
        NUMBER,
        caller_rtp.port(),
    )
    .await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "carrier", carrier_answers).await;
    finished(&server, "alice", answers).await;
}

/// During a voice menu, RTP from another address — RFC 4733 digits, audio — is not the
/// caller's: no digit is taken from it (the menu times out to its default route instead of
/// routing by the stranger's 2) and the stranger receives none of the call's audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_from_a_second_source_neither_hears_the_call_nor_presses_a_key() {
    let server = Server::start().await;
    // The default route ends the call at once (no voicemail to sit through).
    let menu = json!({ "timeout_ms": 4000, "default": { "hangup": "all-busy" } });
    server.assign(NUMBER, "ivr", menu).await;
    let caller_rtp = std::sync::Arc::new(RtpPeer::bind().await);
    let stranger = RtpPeer::bind_on("127.0.0.4").await;
    let call = tokio::spawn({
        let (sip, port) = (server.sip, caller_rtp.port());
        async move { sipp::call(sip, sipp::caller_waits_for_bye(), NUMBER, port).await }
    });
    // The greeting reveals the exchange's RTP port; the caller streams from its SDP address.
    let exchange = caller_rtp.first_packet_from(Duration::from_secs(10)).await;
    let streaming = tokio::spawn({
        let caller_rtp = caller_rtp.clone();
        async move { caller_rtp.send_pcma(&[0; 8000 * 8], exchange).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        stranger.send_digits("2", exchange).await;
        stranger.send_pcma(&[3000; 1600], exchange).await;
    }
    let run = call.await.unwrap();
    streaming.abort();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    let record = server.call_record(NUMBER).await;
    let events = trace(&record);
    assert!(
        !events
            .iter()
            .any(|e| e.contains("digit 2") || e.contains("Department(\"support\")")),
        "the stranger's 2 was taken: {events:#?}"
    );
    assert!(
        events.iter().any(|e| e == "log flow: no digit: default route"),
        "the menu timed out to its default route: {events:#?}"
    );
    assert!(stranger.received().is_empty(), "the stranger heard the call");
    assert!(caller_rtp.received().len() > 50, "the caller did hear the menu");
}

/// A carrier's INVITE (from the trunk's address, so it is taken) whose SDP names someone else's
/// address: the flow answers and plays its greeting, but nothing is sent there until the INVITE's
/// sender ACKs the answer (proving it receives at its address) — no media stream can be aimed
/// at a third party with a forged INVITE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_media_goes_to_an_sdp_address_before_the_ack() {
    let server = exchange_with_one_trunk(&[]).await;
    let carrier = UdpSocket::bind((TRUNK, 0)).await.unwrap();
    let port = carrier.local_addr().unwrap().port();
    let victim = UdpSocket::bind(("127.0.0.9", 0)).await.unwrap();
    let victim_port = victim.local_addr().unwrap().port();
    let via = format!("{TRUNK}:{port};branch=z9hG4bKnoack;rport");
    let message = invite("UDP", &via, "no-ack@test")
        .replace(STRANGER, TRUNK)
        .replace("c=IN IP4 127.0.0.5", "c=IN IP4 127.0.0.9")
        .replace("m=audio 40000", &format!("m=audio {victim_port}"));
    let message = with_length(&message);
    carrier.send_to(message.as_bytes(), server.sip).await.unwrap();
    let ok = wait_for_status(&carrier, "SIP/2.0 200", Duration::from_secs(5)).await;
    let mut buf = [0u8; 2048];
    let early = tokio::time::timeout(Duration::from_secs(3), victim.recv(&mut buf)).await;
    assert!(early.is_err(), "media reached the SDP address before any ACK");
    // The ACK proves the INVITE's sender: the greeting flows from now on.
    let to = crate::harness::sip_header(ok.as_bytes(), &["to", "t"]).unwrap();
    let ack = format!(
        "ACK sip:{NUMBER}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK}:{port};branch=z9hG4bKack1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550100999@{TRUNK}>;tag=s1\r\nTo: {to}\r\nCall-ID: no-ack@test\r\n\
         CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    carrier.send_to(ack.as_bytes(), server.sip).await.unwrap();
    let after = tokio::time::timeout(Duration::from_secs(3), victim.recv(&mut buf)).await;
    assert!(
        after.is_ok(),
        "after the ACK the answered call's audio flows\n{}",
        server.log()
    );
}

/// `message` with its Content-Length made right for its body.
fn with_length(message: &str) -> String {
    let (head, body) = message.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> = head.lines().filter(|l| !l.starts_with("Content-Length")).collect();
    format!("{}\r\nContent-Length: {}\r\n\r\n{body}", head.join("\r\n"), body.len())
}

/// The first message on `socket` whose status line starts with `status`.
async fn wait_for_status(socket: &UdpSocket, status: &str, within: Duration) -> String {
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {status} in time"))
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with(status) {
            return text;
        }
    }
}

/// A REGISTER for `user` from `socket`, with `authorization` (a header line or nothing); the
/// answer, if one comes within `wait`.
pub async fn register_as(
    socket: &UdpSocket,
    server: std::net::SocketAddr,
    user: &str,
    n: u32,
    authorization: &str,
    wait: Duration,
) -> Option<String> {
    let local = socket.local_addr().unwrap();
    let message = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKg{user}{n};rport\r\n\
         From: <sip:{user}@127.0.0.1>;tag=g{n}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: guess-{user}@{local}\r\n\
         CSeq: {n} REGISTER\r\nContact: <sip:{user}@{local}>\r\n{authorization}Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket.send_to(message.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).to_string();
        // A registered phone may get a request meanwhile (a keep-alive): not the answer.
        if answer.starts_with("SIP/2.0 ") {
            return Some(answer);
        }
    }
}

/// A REGISTER for `user` from `socket`, challenged (CSeq `n`; the challenge must come), then
/// again with the digest of `password` (CSeq `n + 1`): the answer to that, if one comes within
/// `wait`.
pub async fn register_with_password(
    socket: &UdpSocket,
    server: std::net::SocketAddr,
    user: &str,
    n: u32,
    password: &str,
    wait: Duration,
) -> Option<String> {
    let challenge = register_as(socket, server, user, n, "", wait)
        .await
        .expect("a fresh REGISTER gets its challenge");
    let credentials = authorization(user, &nonce_of(&challenge), password);
    register_as(socket, server, user, n + 1, &credentials, wait).await
}

/// An HTTP client whose requests come from the stranger's address.
pub fn stranger_http() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(STRANGER.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// `client` logs in to `server` as alice with `password`.
pub async fn log_in_as_alice(client: &reqwest::Client, server: &Server, password: &str) -> reqwest::Response {
    client
        .post(format!("{}/login", server.http))
        .json(&json!({ "login": "alice", "password": password }))
        .send()
        .await
        .unwrap()
}

pub fn nonce_of(answer: &str) -> String {
    answer
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string()
}

/// The answer with what differs from request to request (nonce, tags, branch, Call-ID, CSeq,
/// the address it went to) taken out.
fn normalised(answer: &str, user: &str) -> String {
    answer
        .lines()
        .filter(|l| !l.starts_with("Via") && !l.starts_with("Call-ID") && !l.starts_with("CSeq"))
        .map(|l| {
            let l = l.replace(user, "USER");
            match l.find("nonce=\"") {
                Some(at) => format!("{}nonce=…", &l[..at]),
                None => l.split(";tag=").next().unwrap().to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a login exists cannot be told from the exchange's answers: a REGISTER for alice (an
/// employee) and for mallory (nobody) get the same challenge, and wrong credentials for either
/// the same refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_for_a_known_and_an_unknown_login_gets_identical_answers() {
    let server = Server::start().await;
    crate::registrar::add_employee(&server, "alice", "101").await;
    let socket = UdpSocket::bind((STRANGER, 0)).await.unwrap();
    let wait = Duration::from_secs(2);
    let mut answers = Vec::new();
    for (n, user) in ["alice", "mallory"].into_iter().enumerate() {
        let n = n as u32 * 2 + 1;
        let challenge = register_as(&socket, server.sip, user, n, "", wait).await.unwrap();
        let refusal = register_as(
            &socket,
            server.sip,
            user,
            n + 1,
            &authorization(user, &nonce_of(&challenge), "guess"),
            wait,
        )
        .await
        .unwrap();
        answers.push((normalised(&challenge, user), normalised(&refusal, user)));
    }
    assert!(answers[0].0.starts_with("SIP/2.0 401"), "{}", answers[0].0);
    assert!(answers[0].1.starts_with("SIP/2.0 403"), "{}", answers[0].1);
    assert_eq!(answers[0], answers[1], "alice's and mallory's answers differ");
}

/// A stranger guessing alice's password — over SIP and over the API — locks out only himself:
/// alice's phone still registers and alice still logs in, from her own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_guesses_never_lock_out_the_real_owner() {
    let server = Server::start().await;
    crate::registrar::add_employee(&server, "alice", "101").await;
    let socket = UdpSocket::bind((STRANGER, 0)).await.unwrap();
    let wait = Duration::from_secs(1);
    let mut silenced = false;
    for n in 0..8u32 {
        match register_with_password(&socket, server.sip, "alice", 2 * n + 1, &format!("guess{n}"), wait).await {
            Some(answer) => assert!(answer.starts_with("SIP/2.0 403"), "{answer}"),
            None => silenced = true,
        }
    }
    assert!(silenced, "five wrong guesses silence the guesser");
    let run = sipp::run(
        server.sip,
        sipp::phone_registers(200),
        "alice",
        &["-au", "alice", "-ap", crate::registrar::PASSWORD],
    )
    .await;
    assert!(
        run.success,
        "alice's own phone: {}\nserver log:\n{}",
        run.output,
        server.log()
    );

    let stranger = stranger_http();
    let mut statuses = Vec::new();
    for n in 0..6 {
        let answer = log_in_as_alice(&stranger, &server, &format!("guess{n}")).await;
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let alice = log_in_as_alice(&reqwest::Client::new(), &server, crate::registrar::PASSWORD).await;
    assert_eq!(alice.status(), 201, "alice logs in from her own address");
}

/// A stranger floods the exchange with INVITEs from one address (30,000 in about 6 s): it gets
/// answers only for its allowance (a burst, then 100 a second), the exchange's memory stays
/// bounded, and a carrier's call placed meanwhile goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_invites_stays_bounded_and_a_real_call_goes_through() {
    let server = Server::start_flagged(&["--trunks", "127.0.0.1/32"]).await;
    let menu = json!({ "timeout_ms": 1000, "default": { "hangup": "all-busy" } });
    server.assign(NUMBER, "ivr", menu).await;
    let flooder = std::sync::Arc::new(UdpSocket::bind((STRANGER, 0)).await.unwrap());
    let local = flooder.local_addr().unwrap();
    let (rss_before, cpu_before) = (server.rss_kib(), server.cpu_time());
    let answered = tokio::spawn({
        let flooder = flooder.clone();
        async move {
            let (mut answers, mut bytes) = (0usize, 0usize);
            let mut buf = vec![0u8; 4096];
            while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), flooder.recv(&mut buf)).await {
                answers += 1;
                bytes = bytes.max(n);
            }
            (answers, bytes)
        }
    });
    let flood = tokio::spawn({
        let (flooder, sip) = (flooder.clone(), server.sip);
        async move {
            let mut largest_request = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for batch in 0..600 {
                tick.tick().await;
                for i in 0..50 {
                    let message = format!(
                        "INVITE sip:{NUMBER}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKf{batch}x{i}\r\n\
                         Max-Forwards: 70\r\nFrom: <sip:x@{STRANGER}>;tag=f{batch}x{i}\r\nTo: <sip:{NUMBER}@127.0.0.1>\r\n\
                         Call-ID: flood{batch}x{i}@{STRANGER}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
                    );
                    largest_request = largest_request.max(message.len());
                    let _ = flooder.send_to(message.as_bytes(), sip).await;
                }
            }
            largest_request
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let caller = server.call_until_bye(NUMBER).await;
    assert!(caller.received().len() > 50, "the real caller heard the menu");
    let largest_request = flood.await.unwrap();
    let (answers, largest_answer) = answered.await.unwrap();
    let (rss_after, cpu_after) = (server.rss_kib(), server.cpu_time());
    println!(
        "flood of 30000 INVITEs: {answers} answered (largest answer {largest_answer} bytes to a {largest_request}-byte request), \
         RSS {rss_before} → {rss_after} KiB, CPU {:?}",
        cpu_after - cpu_before
    );
    // 500 at once, then 100 a second for the ~6 s of the flood (and some slack).
    assert!(
        answers <= 500 + 100 * 8,
        "{answers} answers: the allowance was not enforced"
    );
    assert!(
        answers >= 500,
        "{answers} answers: the stranger got less than his allowance"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    // No amplification: a refusal (the challenge, with its nonce) is not much larger than the
    // smallest request that provokes it, and only the allowance of them is sent.
    assert!(
        largest_answer <= largest_request + 256 && largest_answer < 2 * largest_request,
        "a {largest_answer}-byte answer to {largest_request} bytes"
    );
}

/// Trunks that prove more than an address: a carrier whose From must name its host, and a peer
/// PBX that authenticates with a digest account (its calls reach the company's numbers, never
/// the outside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunks_prove_themselves_by_from_host_or_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "trunks = [\"192.0.2.1/32\"]\n\
             [[trunk]]\nname = \"carrier\"\naddresses = [\"{TRUNK}/32\"]\nfrom_host = \"sip.carrier.example\"\n\
             [[trunk]]\nname = \"branch\"\nusername = \"branch\"\npassword = \"branch-secret\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let (server, _) = Server::start_with(dir, Some(crate::harness::TOKEN), &["--config", &config]).await;
    server.assign(NUMBER, "voicemail", json!({})).await;
    let carrier = UdpSocket::bind((TRUNK, 0)).await.unwrap();
    let port = carrier.local_addr().unwrap().port();
    // From the trunk's address, but From names another host: not the carrier.
    let via = format!("{TRUNK}:{port};branch=z9hG4bKhost1;rport");
    let wrong_host = invite("UDP", &via, "host1@test").replace(STRANGER, TRUNK);
    carrier.send_to(wrong_host.as_bytes(), server.sip).await.unwrap();
    assert_eq!(
        statuses(&carrier, Duration::from_secs(2)).await,
        ["SIP/2.0 407 Proxy Authentication Required"]
    );
    // The carrier's own From host: taken.
    let via = format!("{TRUNK}:{port};branch=z9hG4bKhost2;rport");
    let right_host = invite("UDP", &via, "host2@test").replace(STRANGER, TRUNK).replace(
        &format!("sip:+15550100999@{TRUNK}"),
        "sip:+15550100999@sip.carrier.example",
    );
    carrier.send_to(right_host.as_bytes(), server.sip).await.unwrap();
    let answers = statuses(&carrier, Duration::from_secs(2)).await;
    assert!(
        answers.iter().any(|s| s == "SIP/2.0 180 Ringing"),
        "{answers:?}\n{}",
        server.log()
    );

    // The branch PBX authenticates (from any address) and reaches the company's number…
    let branch = ["-au", "branch", "-ap", "branch-secret"];
    let rtp = RtpPeer::bind().await;
    let port = rtp.port().to_string();
    let mut args = branch.to_vec();
    args.extend(["-key", "rtp_port", port.as_str()]);
    let run = sipp::run(
        server.sip,
        sipp::employee_calls("branch", sipp::Then::HangsUpAfter(500)),
        NUMBER,
        &args,
    )
    .await;
    assert!(run.success, "branch: {}\nserver log:\n{}", run.output, server.log());
    // …but its calls are carrier calls: an outside number is nobody's here.
    let run = sipp::run(
        server.sip,
        sipp::employee_calls("branch", sipp::Then::Refused(404)),
        OUTSIDE,
        &args,
    )
    .await;
    assert!(run.success, "branch out: {}\nserver log:\n{}", run.output, server.log());
    // A wrong password for the account is refused like any other.
    let wrong = ["-au", "branch", "-ap", "guess-guess", "-key", "rtp_port", port.as_str()];
    let run = sipp::run(
        server.sip,
        sipp::employee_calls("branch", sipp::Then::Refused(403)),
        NUMBER,
        &wrong,
    )
    .await;
    assert!(run.success, "wrong: {}\nserver log:\n{}", run.output, server.log());
}

/// A connected call has a maximum duration (`--max-call-secs`): then both parties are hung up,
/// whoever they are — a bridge nobody ends cannot run up a bill for days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_call_ends_at_its_maximum_duration() {
    let server = Server::start_flagged(&["--max-call-secs", "2"]).await;
    let alice = Desk::register(&server, "alice", "101").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let answers = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    // Both wait for the exchange's BYE (neither ever hangs up by itself).
    server.call_until_bye(NUMBER).await;
    finished(&server, "alice", answers).await;
    assert!(
        server.log().contains("the call reached its maximum duration"),
        "{}",
        server.log()
    );
    let record = server.call_record(NUMBER).await;
    assert_eq!(record["answered_by"], "alice", "{record}");
}

/// The company blocks callers by prefix: a blocked caller's call is refused with 603 before any
/// flow runs, or — with a prompt — he hears it and is hung up on; the record says `blocked`. A
/// prefix that is no E.164 prefix is a 422 naming the field; lifted, the caller gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_callers_are_refused_or_told_before_any_flow_runs() {
    let server = Server::start().await;
    server.assign(NUMBER, "voicemail", json!({})).await;
    let block = |body: serde_json::Value| {
        let server = &server;
        async move {
            let (status, body) = server.send(reqwest::Method::PATCH, "/company", body).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let (status, body) = server
        .send(
            reqwest::Method::PATCH,
            "/company",
            json!({ "blocked_callers": ["1555"] }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("blocked_callers"), "{body}");

    let profile = block(json!({ "blocked_callers": ["+1555010"], "block_anonymous": true })).await;
    assert_eq!(profile["blocked_callers"], json!(["+1555010"]), "{profile}");
    let rtp = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_refused(603), NUMBER, rtp.port()).await;
    assert!(run.success, "refused: {}\n{}", run.output, server.log());
    let refused = server.nth_call(NUMBER, 1).await;
    assert_eq!(refused["outcome"], "blocked", "{refused}");
    assert!(refused["flow"].is_null(), "no flow ran: {refused}");

    block(json!({ "blocked_prompt": "all-busy" })).await;
    let heard = server.call_until_bye(NUMBER).await;
    assert!(heard.received().len() > 50, "the blocked caller heard the prompt");
    assert_eq!(server.nth_call(NUMBER, 2).await["outcome"], "blocked");

    block(json!({ "blocked_callers": [] })).await;
    let run = sipp::call(server.sip, sipp::caller_hangs_up(1_000), NUMBER, rtp.port()).await;
    assert!(run.success, "through: {}", run.output);
    let through = server.nth_call(NUMBER, 3).await;
    assert_ne!(through["outcome"], "blocked", "{through}");
}
