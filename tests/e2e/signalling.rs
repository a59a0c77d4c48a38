//! SIP-level answers: unknown numbers, malformed and unsupported requests, CANCEL.

use std::time::Duration;

use tokio::net::UdpSocket;

use crate::harness::{RtpPeer, Server};
use crate::sipp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_number_gets_404() {
    let server = Server::start().await;
    let peer = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_refused(404), "+15550199999", peer.port()).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    let record = server.call_record("+15550199999").await;
    assert_eq!(record["outcome"], "not-found");
}

/// Sends one datagram and returns the first line of the answer, if any comes.
async fn exchange(socket: &UdpSocket, server: std::net::SocketAddr, message: &str) -> Option<String> {
    socket.send_to(message.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    )
}

fn request(first_line: &str, cseq: &str, from: &str, port: u16, branch: &str) -> String {
    format!(
        "{first_line}\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch};rport\r\nFrom: {from}\r\n\
         To: <sip:+15550100100@127.0.0.1>\r\nCall-ID: {branch}@test\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unsupported_requests_get_the_rfc_answers() {
    let server = Server::start().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let good_from = "<sip:+15550100001@127.0.0.1>;tag=a1";
    let invite = "INVITE sip:+15550100100@127.0.0.1 SIP/2.0";
    let cases = [
        (
            request(invite, "1 INVITE", "<<<not a uri", port, "bad1"),
            "SIP/2.0 400 Bad Request",
        ),
        (
            request(invite, "1 BYE", good_from, port, "bad2"),
            "SIP/2.0 400 Bad Request",
        ),
        (
            request(invite, "one INVITE", good_from, port, "bad3"),
            "SIP/2.0 400 Bad Request",
        ),
        (
            request(
                "INVITE sip:+15550100100@127.0.0.1 SIP/3.0",
                "1 INVITE",
                good_from,
                port,
                "bad4",
            ),
            "SIP/2.0 505 Version Not Supported",
        ),
        (
            request(
                "FROBNICATE sip:+15550100100@127.0.0.1 SIP/2.0",
                "1 FROBNICATE",
                good_from,
                port,
                "bad5",
            ),
            "SIP/2.0 501 Not Implemented",
        ),
        (
            request(
                "MESSAGE sip:+15550100100@127.0.0.1 SIP/2.0",
                "1 MESSAGE",
                good_from,
                port,
                "bad6",
            ),
            "SIP/2.0 405 Method Not Allowed",
        ),
        (
            // RFC 6665 §8.2.1: a SUBSCRIBE must name its event package.
            request(
                "SUBSCRIBE sip:+15550100100@127.0.0.1 SIP/2.0",
                "1 SUBSCRIBE",
                good_from,
                port,
                "bad7",
            ),
            "SIP/2.0 489 Bad Event",
        ),
    ];
    for (message, expected) in cases {
        let answer = exchange(&socket, server.sip, &message).await;
        assert_eq!(answer.as_deref(), Some(expected), "for:\n{message}");
    }
    // Garbage gets no answer, and the server keeps serving.
    assert_eq!(exchange(&socket, server.sip, "\u{1}\u{2}garbage").await, None);
    let options = request("OPTIONS sip:127.0.0.1 SIP/2.0", "1 OPTIONS", good_from, port, "ok1");
    assert_eq!(
        exchange(&socket, server.sip, &options).await.as_deref(),
        Some("SIP/2.0 200 OK")
    );
}

/// The caller gives up while the flow is still deciding (it spins, without answering):
/// 200 for the CANCEL, 487 for the INVITE, and the record says what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancel_before_answer_gets_487() {
    let server = Server::start().await;
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    assert_eq!(server.upload("misbehave", wasm).await.status(), 201);
    server
        .assign("+15550100102", "misbehave", serde_json::json!({ "mode": "spin" }))
        .await;
    let peer = RtpPeer::bind().await;
    let run = sipp::call(server.sip, sipp::caller_cancels(100), "+15550100102", peer.port()).await;
    assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    let record = server.call_record("+15550100102").await;
    assert_eq!(record["outcome"], "flow-trapped", "{record:#}");
    assert!(
        record["answered_at"].is_null(),
        "a cancelled call is never answered: {record:#}"
    );
}
