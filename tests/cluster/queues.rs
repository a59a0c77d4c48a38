//! Queues across nodes: callers to one department waiting on two nodes are served in the order
//! they came, whichever node the free agent's last call was on.

use std::time::Duration;

use serde_json::json;

use crate::harness::Server;
use crate::hunt::{Desk, finished, phones_listening};
use crate::queue::{NUMBER, TALKS, answered_at, caller_until_bye, queue_for_sales};

/// Alice, sales' only agent, talks with a caller on node a; a second caller waits on node a,
/// then a third on node b. When her call ends, node b — which would have her free at once —
/// leaves her to node a's caller, who came first; node a offers him after her wrap-up (which
/// node b knows of too), and node b its caller after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_on_two_nodes_are_served_in_the_order_they_came() {
    let Some((_db, servers)) = super::nodes_on_one_database(2, &[]).await else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(servers).ok().unwrap();
    let alice = Desk::register(&a, "alice", "101").await;
    queue_for_sales(&a, &["alice"], json!({ "wrap_up_secs": 1 })).await;
    let first = alice.expect(&a, TALKS);
    phones_listening().await;
    let mut callers = vec![caller_until_bye(&a)];
    tokio::time::sleep(Duration::from_millis(700)).await;
    callers.push(caller_until_bye(&a));
    tokio::time::sleep(Duration::from_millis(700)).await;
    callers.push(caller_until_bye(&b));
    // Both wait while alice talks, one on each node; each node's wallboard shows the other's.
    for node in [&a, &b] {
        let line = |q: &serde_json::Value| q["queues"][0].clone();
        let board = node
            .get_json_until("/queues", |q| {
                line(q)["waiting"] == 1 && line(q)["waiting_elsewhere"] == 1
            })
            .await;
        assert_eq!(line(&board)["agents"][0]["state"], "busy", "{board}");
    }
    finished(&a, "alice's call with the first caller", first).await;
    // The second caller is node a's: alice's phone sends its BYE there.
    let second = alice.expect(&a, TALKS);
    phones_listening().await;
    finished(&a, "alice's call with the second caller (node a)", second).await;
    let third = alice.expect(&b, TALKS);
    phones_listening().await;
    finished(&b, "alice's call with the third caller (node b)", third).await;
    for caller in callers {
        caller.await.unwrap();
    }
    let mut records = Vec::new();
    for n in 1..=3 {
        records.push(b.nth_call(NUMBER, n).await);
    }
    for record in &records {
        assert_eq!(record["answered_by"], "alice", "{record}");
    }
    let answered: Vec<i64> = records.iter().map(answered_at).collect();
    assert!(
        answered[0] < answered[1] && answered[1] < answered[2],
        "answered in the order they came, on either node: {answered:?}"
    );
    drop(a.stop().await);
    drop(b.stop().await);
}
