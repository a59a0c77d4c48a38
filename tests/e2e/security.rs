//! The exchange tried as an attacker on the same network would (docs/security.md): every test
//! plays a stranger at another loopback address (127.0.0.x) against an exchange whose trunk is
//! one particular address, and checks that nothing the stranger wrote is believed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

use crate::harness::Server;

/// The carrier's signalling address in these tests.
const TRUNK: &str = "127.0.0.5";
/// Where the stranger sends from.
const STRANGER: &str = "127.0.0.2";
const NUMBER: &str = "+15550100700";

/// An exchange that takes carrier calls from [`TRUNK`] only, with `NUMBER` on the voicemail flow.
async fn exchange_with_one_trunk(extra: &[&str]) -> Server {
    let mut flags = vec!["--trunks", "127.0.0.5/32"];
    flags.extend_from_slice(extra);
    let (server, _) = Server::start_with(tempfile::tempdir().unwrap(), Some(crate::harness::TOKEN), &flags).await;
    server.assign(NUMBER, "voicemail", serde_json::json!({})).await;
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
