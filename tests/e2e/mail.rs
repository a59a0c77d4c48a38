//! Mail through a real SMTP server on loopback (Python's `aiosmtpd`, writing what it receives to
//! a Maildir): a new employee's access details, voicemail with its recording, and mail that
//! waits for a server that is down.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::Server;

/// An SMTP server that keeps every message it receives.
pub struct SmtpSink {
    _child: tokio::process::Child,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Listens on 127.0.0.1:`port` once this returns.
    pub async fn start(port: u16) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let child = tokio::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .kill_on_drop(true)
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        SmtpSink {
            _child: child,
            maildir,
            _dir: dir,
        }
    }

    /// The messages received so far, as text.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect()
    }

    /// Waits (up to 30 s) for a message to `to`.
    pub async fn message_to(&self, to: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.messages().into_iter().find(|m| m.contains(&format!("To: {to}"))) {
                return found;
            }
            assert!(Instant::now() < deadline, "no mail to {to}: {:#?}", self.messages());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn exchange_mailing_to(port: u16) -> Server {
    let url = format!("smtp://127.0.0.1:{port}");
    let flags = [
        "--smtp-url",
        &url,
        "--mail-from",
        "Office PBX <pbx@example.com>",
        "--mail-retry-secs",
        "1",
    ];
    Server::start_flagged(&flags).await
}

/// A new employee with an e-mail address gets his phone's set-up by mail (no password in it);
/// a caller's voicemail reaches its mailbox owner's address with the recording attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_details_and_voicemail_arrive_by_mail() {
    let port = free_port();
    let sink = SmtpSink::start(port).await;
    let server = exchange_mailing_to(port).await;

    let bob = json!({ "login": "bob", "password": "battery-staple", "extension": "102",
        "name": "Bob Baker", "email": "bob@example.com" });
    let (status, body) = server.send(Method::POST, "/employees", bob).await;
    assert_eq!(status, 201, "{body}");
    let mail = sink.message_to("bob@example.com").await;
    assert!(mail.contains("From: \"Office PBX\" <pbx@example.com>"), "{mail}");
    assert!(mail.contains("Subject: Your phone account: extension 102"), "{mail}");
    assert!(mail.contains("User name: bob"), "{mail}");
    assert!(
        mail.contains(&format!("SIP server: 127.0.0.1:{}", server.sip.port())),
        "{mail}"
    );
    assert!(!mail.contains("battery-staple"), "no password in mail: {mail}");

    // Alice takes the number's voicemail; with an address, she gets it by mail too.
    let server = crate::media::voicemail_on(server, json!({ "max_secs": 30, "silence_secs": 0 })).await;
    let (status, body) = server
        .send(
            Method::PATCH,
            "/employees/alice",
            json!({ "email": "alice@example.com" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    crate::media::leave_a_message(&server, "+15550100300", 4500, Duration::from_secs(4)).await;
    let mail = sink.message_to("alice@example.com").await;
    assert!(mail.contains("Subject: Voicemail from +15550100001"), "{mail}");
    assert!(mail.contains("multipart/mixed"), "{mail}");
    assert!(mail.contains("Content-Type: audio/wav"), "{mail}");
    assert!(mail.contains("Content-Disposition: attachment"), "{mail}");
    assert!(mail.contains("voicemail-") && mail.contains(".wav\""), "{mail}");
    // The attachment is the WAV itself ("RIFF" in base64).
    assert!(mail.contains("UklGR"), "{mail}");
}

/// Mail queued while the mail server is down is sent once it is up: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_for_a_server_that_is_down() {
    let port = free_port();
    let server = exchange_mailing_to(port).await;
    let carol = json!({ "login": "carol", "password": "battery-staple", "extension": "103",
        "email": "carol@example.com" });
    assert_eq!(server.send(Method::POST, "/employees", carol).await.0, 201);
    // The first attempts fail (nothing listens), and say so.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("mail not sent; will retry") {
        assert!(Instant::now() < deadline, "no failed attempt logged:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sink = SmtpSink::start(port).await;
    let mail = sink.message_to("carol@example.com").await;
    assert!(mail.contains("Subject: Your phone account: extension 103"), "{mail}");
    assert_eq!(sink.messages().len(), 1, "sent once");
}

/// Without an SMTP server the exchange works as before and says once that mail is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_off_and_nothing_else_changes() {
    let server = Server::start().await;
    let dave = json!({ "login": "dave", "password": "battery-staple", "extension": "104",
        "email": "dave@example.com" });
    assert_eq!(server.send(Method::POST, "/employees", dave).await.0, 201);
    assert_eq!(server.log().matches("mail is off").count(), 1, "{}", server.log());
}

/// A number that asks for it (`missed_call_mail`) has its mailbox owner mailed about each call
/// nobody answered and that left no voicemail; the setting needs a mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_is_mailed_to_the_numbers_mailbox_owner() {
    let port = free_port();
    let sink = SmtpSink::start(port).await;
    let server = exchange_mailing_to(port).await;
    let erin = json!({ "login": "erin", "password": "battery-staple", "extension": "105",
        "email": "erin@example.com" });
    assert_eq!(server.send(Method::POST, "/employees", erin).await.0, 201);
    sink.message_to("erin@example.com").await; // her access details

    let without_mailbox = json!({ "flow": "ivr", "missed_call_mail": true });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100320", without_mailbox).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid missed_call_mail")),
        "{body}"
    );
    let number = json!({ "flow": "ivr", "mailbox": "erin", "missed_call_mail": true });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100320", number).await;
    assert_eq!((status, &body["missed_call_mail"]), (200, &json!(true)), "{body}");

    // The caller hears the menu and hangs up.
    let peer = crate::harness::RtpPeer::bind().await;
    let run = crate::sipp::call(
        server.sip,
        crate::sipp::caller_hangs_up(1500),
        "+15550100320",
        peer.port(),
    )
    .await;
    assert!(run.success, "sipp: {}", run.output);
    let record = server.call_record("+15550100320").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let missed = loop {
        let found = sink
            .messages()
            .into_iter()
            .find(|m| m.contains("Subject: Missed call from"));
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no missed-call mail: {:#?}", sink.messages());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(missed.contains("To: erin@example.com"), "{missed}");
    assert!(missed.contains("Subject: Missed call from +15550100001"), "{missed}");
    assert!(missed.contains(record["id"].as_str().unwrap()), "{missed}");
}
