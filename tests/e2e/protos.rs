//! The PROTOS c07-sip robustness suite (4,527 malformed INVITEs, each followed by its teardown):
//! no crash, no hang, and OPTIONS still answered after every hundred cases and at the end.
//! Run inside a loopback-only network namespace, like every replay of foreign messages. The
//! cases are GPL test data kept outside the source tree: the replay runs when
//! `SWITCHBOARD_PROTOS_CASES` names their archive (as `.ci/run` does), and says it was skipped
//! otherwise.

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::harness::{Server, options_probe};

/// Where `.ci/run` points the replay at the cases archive (GPL test data, kept out of the
/// source tree: `../shared/protos-c07-sip/cases.tar.xz` beside the repository).
const CASES_VAR: &str = "SWITCHBOARD_PROTOS_CASES";

/// The unpacked cases (`cases/0000000` ...) from the archive `SWITCHBOARD_PROTOS_CASES` names;
/// `None` when it names none (the replay is then skipped, and says so).
fn cases() -> Option<(tempfile::TempDir, Vec<PathBuf>)> {
    let archive = PathBuf::from(std::env::var_os(CASES_VAR)?);
    assert!(archive.is_file(), "{CASES_VAR}={} is not a file", archive.display());
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xJf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "unpack {}", archive.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    Some((dir, files))
}

/// The two length-prefixed messages of a case file.
fn messages(case: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = case;
    while let Some(space) = rest.iter().position(|b| *b == b' ') {
        let Some(len) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|n| n.trim().parse::<usize>().ok())
        else {
            break;
        };
        let start = space + 1;
        let end = (start + len).min(rest.len());
        out.push(rest[start..end].to_vec());
        rest = &rest[end..];
        while rest.first().is_some_and(u8::is_ascii_whitespace) {
            rest = &rest[1..];
        }
    }
    out
}

/// Fills the placeholders; `<Content-Length>` becomes the length of the body as sent.
fn fill(message: &[u8], case: usize, port: u16, teardown: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(message)
        .replace("<To>", "+15550199999@127.0.0.1")
        .replace("<From>", "protos@127.0.0.1")
        .replace("<From-Address>", "127.0.0.1")
        .replace("<From-IP>", "127.0.0.1")
        .replace("<Local-Port>", &port.to_string())
        .replace("<Branch-ID>", &case.to_string())
        .replace("<Call-ID>", &format!("protos{case}"))
        .replace("<CSeq>", "1")
        .replace("<Teardown-Method>", teardown);
    let body_len = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .map_or(0, |(_, b)| b.len());
    text.replace("<Content-Length>", &body_len.to_string()).into_bytes()
}

#[test]
fn protos_c07_sip_cases_leave_the_exchange_answering() {
    if std::env::var_os(CASES_VAR).is_none() {
        // Said plainly, so that a green run is not read as "PROTOS passed".
        println!("SKIPPED: the PROTOS c07-sip replay needs {CASES_VAR}=<path of cases.tar.xz> (.ci/run sets it)");
        return;
    }
    crate::harness::in_loopback_namespace("protos::protos_c07_sip_cases_leave_the_exchange_answering", replay);
}

async fn replay() {
    let (_dir, files) = cases().expect("checked before the namespace");
    let mut server = Server::start().await;
    assert_eq!(files.len(), 4527);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let mut over_tcp = 0;
    for (i, file) in files.iter().enumerate() {
        let parts = messages(&std::fs::read(file).unwrap());
        assert_eq!(parts.len(), 2, "{}", file.display());
        // The INVITE goes to an unknown number (404), so the teardown is a CANCEL.
        for message in &parts {
            let datagram = fill(message, i, port, "CANCEL");
            // Some cases are larger than any UDP datagram: they go over TCP, on the same port.
            if datagram.len() > 65_507 {
                over_tcp += 1;
                send_over_tcp(server.sip, &datagram).await;
                continue;
            }
            socket.send_to(&datagram, server.sip).await.unwrap();
        }
        // Pace the replay so that the probe measures the exchange, not a full socket buffer.
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if i % 100 == 99 || i + 1 == files.len() {
            let probed = options_probe(server.sip, &format!("protos{i}")).await;
            assert_eq!(
                probed.as_deref(),
                Some("SIP/2.0 200 OK"),
                "after case {i}\n{}",
                tail(&server.log())
            );
            assert!(server.alive(), "the exchange died at case {i}");
        }
    }
    assert!(
        !server.log().contains("panicked"),
        "a panic was caught:\n{}",
        tail(&server.log())
    );
    println!(
        "PROTOS: {} cases replayed; {over_tcp} messages larger than a UDP datagram sent over TCP",
        files.len()
    );
}

/// Writes `message` on a fresh TCP connection and closes it; whatever the exchange makes of
/// it, the probes that follow show whether it is still answering.
async fn send_over_tcp(server: std::net::SocketAddr, message: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let write = async {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        stream.write_all(message).await?;
        stream.shutdown().await
    };
    let sent = tokio::time::timeout(Duration::from_secs(5), write).await;
    assert!(matches!(sent, Ok(Ok(()))), "TCP send failed: {sent:?}");
}

fn tail(log: &str) -> String {
    log.lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}
