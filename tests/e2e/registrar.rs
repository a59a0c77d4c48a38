//! Employees' phones register with digest authentication; registrations survive a restart;
//! wrong passwords are refused and, repeated, refused for a while.

use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

use crate::harness::Server;
use crate::sipp;

pub const PASSWORD: &str = "correct-horse";

async fn post_employee(server: &Server, login: &str, extension: &str) -> reqwest::Response {
    server
        .request(reqwest::Method::POST, "/employees")
        .json(&json!({ "login": login, "password": PASSWORD, "extension": extension, "name": "Alice" }))
        .send()
        .await
        .unwrap()
}

pub async fn add_employee(server: &Server, login: &str, extension: &str) {
    let r = post_employee(server, login, extension).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// A sipp phone registers as `user` with `password` and gets `status` after the challenge.
async fn phone_registers(server: &Server, user: &str, password: &str, status: u16) {
    let run = sipp::run(
        server.sip,
        sipp::phone_registers(status),
        user,
        &["-au", user, "-ap", password],
    )
    .await;
    assert!(
        run.success,
        "{user}/{password}: sipp: {}\nserver log:\n{}",
        run.output,
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_register_with_digest_and_stay_registered_across_a_restart() {
    let server = Server::start().await;
    add_employee(&server, "alice", "101").await;
    // The same extension twice is refused.
    assert_eq!(post_employee(&server, "bob", "101").await.status(), 422);

    phone_registers(&server, "alice", PASSWORD, 200).await;
    phone_registers(&server, "alice", "guess", 403).await;
    phone_registers(&server, "mallory", PASSWORD, 403).await;

    let registered = |v: &Value| -> Vec<String> {
        v["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["login"], r["contact"]))
            .collect()
    };
    let before = server.get_json("/registrations").await;
    assert_eq!(registered(&before).len(), 1, "{before}");
    assert!(
        registered(&before)[0].starts_with("\"alice\" \"sip:alice@127.0.0.1:"),
        "{before}"
    );

    let (again, _) = Server::start_in(server.stop().await, Some(crate::harness::TOKEN)).await;
    let after = again.get_json("/registrations").await;
    assert_eq!(registered(&after), registered(&before), "lost over the restart");
}

/// The first line and the WWW-Authenticate nonce of the answer to a REGISTER for alice.
async fn register(socket: &UdpSocket, server: std::net::SocketAddr, n: u32, authorization: &str) -> (String, String) {
    register_within(socket, server, n, authorization, Duration::from_secs(2))
        .await
        .expect("an answer")
}

/// [`register`]; `None` when no answer comes within `wait`.
async fn register_within(
    socket: &UdpSocket,
    server: std::net::SocketAddr,
    n: u32,
    authorization: &str,
    wait: Duration,
) -> Option<(String, String)> {
    let port = socket.local_addr().unwrap().port();
    // The first attempt carries a To tag, as some phones send after a challenge.
    let to_tag = if n == 1 { ";tag=from-a-401" } else { "" };
    let message = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrl{n};rport\r\n\
         From: <sip:alice@127.0.0.1>;tag=rl\r\nTo: <sip:alice@127.0.0.1>{to_tag}\r\nCall-ID: ratelimit@test\r\n\
         CSeq: {n} REGISTER\r\nContact: <sip:alice@127.0.0.1:{port}>\r\n{authorization}Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket.send_to(message.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(wait, socket.recv(&mut buf)).await.ok()?.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    let nonce = text
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    Some((text.lines().next().unwrap().to_string(), nonce))
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// An `Authorization` header answering `nonce` for alice with `password`.
fn digest(nonce: &str, password: &str) -> String {
    authorization("alice", nonce, password)
}

/// An `Authorization` header line answering a REGISTER's `nonce` as `user` with `password`.
pub fn authorization(user: &str, nonce: &str, password: &str) -> String {
    let ha1 = md5_hex(&format!("{user}:switchboard:{password}"));
    let uri = "sip:127.0.0.1";
    let response = md5_hex(&format!(
        "{ha1}:{nonce}:00000001:c0ffee:auth:{}",
        md5_hex(&format!("REGISTER:{uri}"))
    ));
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"switchboard\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_refused_for_a_while() {
    let server = Server::start().await;
    add_employee(&server, "alice", "101").await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A To tag does not make a REGISTER part of a dialog: it is challenged, not refused with 481.
    let (status, _) = register(&socket, server.sip, 1, "").await;
    assert_eq!(status, "SIP/2.0 401 Unauthorized");
    for attempt in 1..=5 {
        let (status, nonce) = register(&socket, server.sip, attempt * 2, "").await;
        assert_eq!(status, "SIP/2.0 401 Unauthorized");
        let (status, _) = register(
            &socket,
            server.sip,
            attempt * 2 + 1,
            &digest(&nonce, "not-the-password"),
        )
        .await;
        assert_eq!(status, "SIP/2.0 403 Forbidden", "attempt {attempt}");
    }
    // Now even the right password gets no answer from this address (the guesser's tool just
    // times out), and the log says why.
    let (status, nonce) = register(&socket, server.sip, 100, "").await;
    assert_eq!(status, "SIP/2.0 401 Unauthorized");
    let right = register_within(
        &socket,
        server.sip,
        101,
        &digest(&nonce, PASSWORD),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(right, None);
    assert!(server.log().contains("too many wrong passwords"), "{}", server.log());
}

/// A REGISTER from the same Call-ID with a lower CSeq arrives late: it must not undo the newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_order_register_changes_nothing() {
    let server = Server::start().await;
    add_employee(&server, "alice", "101").await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (_, nonce) = register(&socket, server.sip, 10, "").await;
    let (status, _) = register(&socket, server.sip, 11, &digest(&nonce, PASSWORD)).await;
    assert_eq!(status, "SIP/2.0 200 OK");
    let (_, nonce) = register(&socket, server.sip, 5, "").await;
    let (status, _) = register(&socket, server.sip, 6, &digest(&nonce, PASSWORD)).await;
    assert_eq!(status, "SIP/2.0 500 Server Internal Error");
    let registrations = server.get_json("/registrations").await;
    assert_eq!(registrations["registrations"][0]["cseq"], 11, "{registrations}");
}
