//! RFC 4475's 50 torture messages on the wire, each followed by an OPTIONS probe that must
//! still be answered. The messages name foreign hosts (192.0.2.x, example.com), so the test
//! re-runs itself inside a network namespace that has only loopback: whatever the exchange
//! does, nothing can leave the machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::harness::{Server, options_probe, sip_header};

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rfc4475");
    assert!(dir.is_dir(), "RFC 4475 messages expected in {}", dir.display());
    dir
}

#[test]
fn rfc4475_messages_on_the_wire() {
    crate::harness::in_loopback_namespace("rfc4475::rfc4475_messages_on_the_wire", replay);
}

/// The status line of the final answer to `message` (or of its last provisional one), sent from
/// the port its top Via names (responses without `rport` go there, RFC 3261 §18.2.2); `None`
/// when nothing comes back. Answers to earlier messages (retransmitted final responses) are
/// told apart by their Call-ID.
async fn send(server: SocketAddr, message: &[u8]) -> Option<String> {
    let socket = UdpSocket::bind(("127.0.0.1", via_port(message))).await.unwrap();
    socket.send_to(message, server).await.unwrap();
    let call_id = sip_header(message, &["call-id", "i"]);
    let mut status = None;
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
        if sip_header(&buf[..n], &["call-id", "i"]) != call_id {
            continue;
        }
        let line = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let provisional = line.starts_with("SIP/2.0 1");
        status = Some(line);
        if !provisional {
            break;
        }
    }
    status
}

fn via_port(message: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(message);
    let via = text.lines().find(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("via:") || l.starts_with("v:")
    });
    via.and_then(|v| v.split_whitespace().nth(2))
        .and_then(|sent_by| sent_by.split(';').next())
        .and_then(|host_port| host_port.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(5060)
}

async fn replay() {
    let server = Server::start().await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 50);

    let refused = |status: &str| {
        ["400", "505"]
            .iter()
            .any(|s| status.starts_with(&format!("SIP/2.0 {s} ")))
    };
    let mut wrong = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let name = file
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace("TC_", "")
            .to_lowercase();
        let name = name.trim_end_matches("_v").trim_end_matches("_i").to_string();
        let answer = send(server.sip, &std::fs::read(file).unwrap()).await;
        let status = answer.clone().unwrap_or_else(|| "(no answer)".into());
        let ok = match name.as_str() {
            "badvers" => status.starts_with("SIP/2.0 505 "),
            "mismatch01" | "mismatch02" | "scalar02" | "quotbal" | "badaspec" | "regbadct" | "badinv01" => {
                status.starts_with("SIP/2.0 400 ")
            }
            "clerr" | "ncl" | "lwsstart" | "scalarlg" => answer.is_none(),
            "wsinv" | "intmeth" | "esc02" | "longreq" | "unkscm" | "novelsc" => answer.is_some() && !refused(&status),
            _ => true, // parsed without harm and answered per RFC 3261, or not at all
        };
        if !ok {
            wrong.push(format!("{name}: {status}"));
        }
        let probed = options_probe(server.sip, &i.to_string()).await;
        assert_eq!(
            probed.as_deref(),
            Some("SIP/2.0 200 OK"),
            "OPTIONS after {name}\n{}",
            server.log()
        );
        println!("{name:12} {status}");
    }
    assert!(wrong.is_empty(), "{wrong:#?}\nserver log:\n{}", server.log());
}
