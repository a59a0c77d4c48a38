//! Password guessing across nodes: a guesser whose tries are spread over two nodes (as the
//! proxy spreads them by Call-ID) is locked out after as many wrong passwords as on one node,
//! on both; the owner at her own address is not.

use std::time::Duration;

use tokio::net::UdpSocket;

use crate::harness::Server;
use crate::registrar::{PASSWORD, add_employee};
use crate::security::{STRANGER, log_in_as_alice, register_with_password, stranger_http};
use crate::sipp;

/// How long a node may take to hear another's guesses (a NOTIFY: milliseconds).
const HEARING: Duration = Duration::from_secs(2);

/// Three wrong SIP passwords for alice on node a and two on node b: the next guess is not
/// answered on either node (five, the limit of one node); three wrong API logins on a and two
/// on b: the next login is refused 429 on both. Alice herself registers and logs in on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_on_two_nodes_count_together() {
    let Some((_db, servers)) = super::nodes_on_one_database(2, &[]).await else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(servers).ok().unwrap();
    add_employee(&a, "alice", "101").await;
    let socket = UdpSocket::bind((STRANGER, 0)).await.unwrap();
    let wait = Duration::from_secs(1);
    let mut cseq = 1;
    // One guess at `node`: its answer (None: none came).
    let mut guess = async |node: &Server, n: usize| {
        let first = cseq;
        cseq += 2;
        register_with_password(&socket, node.sip, "alice", first, &format!("guess{n}"), wait).await
    };
    for (n, node) in [&a, &a, &a, &b, &b].into_iter().enumerate() {
        let answer = guess(node, n).await;
        assert!(
            answer.as_deref().is_some_and(|a| a.starts_with("SIP/2.0 403")),
            "{answer:?}"
        );
    }
    tokio::time::sleep(HEARING).await;
    for (node, name) in [(&a, "a"), (&b, "b")] {
        let answer = guess(node, 9).await;
        assert_eq!(
            answer,
            None,
            "the sixth guess, on node {name}: five were wrong\n{}",
            node.log()
        );
    }
    for node in [&a, &b] {
        let run = sipp::run(
            node.sip,
            sipp::phone_registers(200),
            "alice",
            &["-au", "alice", "-ap", PASSWORD],
        )
        .await;
        assert!(
            run.success,
            "alice's own phone: {}\nnode's log:\n{}",
            run.output,
            node.log()
        );
    }

    let stranger = stranger_http();
    let mut statuses = Vec::new();
    for (n, node) in [&a, &a, &a, &b, &b].into_iter().enumerate() {
        let answer = log_in_as_alice(&stranger, node, &format!("guess{n}")).await;
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [401; 5]);
    tokio::time::sleep(HEARING).await;
    for node in [&a, &b] {
        let refused = log_in_as_alice(&stranger, node, "guess9").await;
        assert_eq!(refused.status(), 429, "the sixth login");
        let alice = log_in_as_alice(&reqwest::Client::new(), node, PASSWORD).await;
        assert_eq!(alice.status(), 201, "alice logs in from her own address");
    }
    drop(a.stop().await);
    drop(b.stop().await);
}
