//! NAT keep-alives with several nodes: each registered phone gets them from one node, not from
//! every node.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::UdpSocket;

use crate::registrar::{PASSWORD, add_employee};
use crate::security::register_with_password;

/// Twelve phones register, half on each node, both nodes sending keep-alives every second:
/// once the nodes counted each other (at a heartbeat, every 5 s), each phone is pinged, and
/// always by the same one node; both nodes take their share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_phone_is_kept_alive_by_one_node() {
    let Some((_db, nodes)) = super::nodes_on_one_database(2, &["--nat-keepalive-secs", "1"]).await else {
        return;
    };
    let mut phones = Vec::new();
    for n in 0..12 {
        let login = format!("phone{n}");
        add_employee(&nodes[0], &login, &format!("{}", 110 + n)).await;
        let node = nodes[n % 2].sip;
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let wait = Duration::from_secs(5);
        let answer = register_with_password(&socket, node, &login, 1, PASSWORD, wait)
            .await
            .unwrap();
        assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
        phones.push(KeptAlive::answer(socket));
    }
    // Each node counts the other at a heartbeat (every 5 s) and says so in its log.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !nodes.iter().all(|node| {
        node.log()
            .lines()
            .any(|l| l.contains("the live nodes") && l.contains(','))
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the nodes did not count each other"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Keep-alives sent before then are answered by now (no more retransmissions).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for phone in &phones {
        phone.senders.lock().clear();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let nodes_sip: HashSet<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
    let mut keepers = HashSet::new();
    for (n, phone) in phones.iter().enumerate() {
        let senders = phone.senders.lock().clone();
        assert_eq!(
            senders.len(),
            1,
            "phone{n} was kept alive by {senders:?} (nodes {nodes_sip:?})"
        );
        assert!(senders.is_subset(&nodes_sip), "{senders:?}");
        keepers.extend(senders);
    }
    assert_eq!(keepers, nodes_sip, "both nodes keep their share of the phones");
    for node in nodes {
        drop(node.stop().await);
    }
}

/// A phone that answers every keep-alive OPTIONS 200 and notes who sent it.
struct KeptAlive {
    senders: Arc<Mutex<HashSet<SocketAddr>>>,
    _answering: tokio::task::JoinHandle<()>,
}

impl KeptAlive {
    fn answer(socket: UdpSocket) -> Self {
        let senders = Arc::new(Mutex::new(HashSet::new()));
        let noted = senders.clone();
        let answering = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                let request = String::from_utf8_lossy(&buf[..len]).to_string();
                if !request.starts_with("OPTIONS ") {
                    continue;
                }
                noted.lock().insert(from);
                let echoed: String = request
                    .lines()
                    .filter(|l| {
                        ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                            .iter()
                            .any(|h| l.starts_with(h))
                    })
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                let ok = format!("SIP/2.0 200 OK\r\n{echoed}Content-Length: 0\r\n\r\n");
                let _ = socket.send_to(ok.as_bytes(), from).await;
            }
        });
        KeptAlive {
            senders,
            _answering: answering,
        }
    }
}
