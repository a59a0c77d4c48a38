//! The callback scheduler on several nodes: every node looks for due requests, one places each.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::contacts::around_the_clock;
use crate::harness::Server;
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::Phone;

const EMPLOYEES: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

/// How many times `server` placed callback `id` (its log line "callback <id>").
fn placed(server: &Server, id: i64) -> usize {
    let said = format!("callback {id}");
    server
        .log()
        .lines()
        .filter(|line| {
            line.match_indices(&said)
                .any(|(at, _)| !line[at + said.len()..].starts_with(|c: char| c.is_ascii_digit()))
        })
        .count()
}

/// Six requests fall due at the same moment, for six employees, and three nodes on one database
/// look for due requests every second: each request is claimed by one node — its employee's
/// phone rings once, his card says so once, and one node's log says it placed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_due_callback_is_placed_once_by_racing_nodes() {
    let Some((_db, nodes)) = super::nodes_on_one_database(3, &["--callback-check-secs", "1"]).await else {
        return;
    };
    let a = &nodes[0];
    around_the_clock(a).await;
    let mut desks = Vec::new();
    for (n, login) in EMPLOYEES.into_iter().enumerate() {
        desks.push(Desk::register(a, login, &format!("{}", 101 + n)).await);
    }
    // Busy: each request is put back for a later attempt, so a second claim would ring again.
    let phones: Vec<_> = desks.iter().map(|desk| desk.expect(a, Phone::Busy)).collect();
    phones_listening().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut requests = Vec::new();
    for (n, login) in EMPLOYEES.into_iter().enumerate() {
        // Due in 2 s: by then every node has it in its list, whichever looks first.
        let request = json!({ "phone": format!("+1555010090{n}"), "employee": login, "due_at": now + 2_000 });
        let (status, callback) = a.send(Method::POST, "/callbacks", request).await;
        assert_eq!(status, 201, "{callback}");
        requests.push(callback);
    }
    for (desk, phone) in EMPLOYEES.iter().zip(phones) {
        finished(a, desk, phone).await;
    }
    // Time for a second claim to show, had there been one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut by_node = vec![0; nodes.len()];
    for callback in &requests {
        let id = callback["id"].as_i64().unwrap();
        let placements: Vec<usize> = nodes.iter().map(|node| placed(node, id)).collect();
        assert_eq!(
            placements.iter().sum::<usize>(),
            1,
            "callback {id} placed by node: {placements:?}"
        );
        by_node[placements.iter().position(|p| *p == 1).unwrap()] += 1;
        let card = a.get_json(&format!("/contacts/{}", callback["contact_id"])).await;
        let log = card["log"].as_array().unwrap();
        assert_eq!(log.len(), 1, "one attempt on the card: {card}");
        let open = a.get_json(&format!("/callbacks/{id}")).await;
        assert_eq!(open["status"], "open", "put back for later: {open}");
    }
    for desk in &desks {
        let rang = desk.events().iter().filter(|e| e.name == "INVITE").count();
        assert_eq!(rang, 1, "a phone rang {rang} times");
    }
    eprintln!("callbacks placed by each node: {by_node:?}");
    for node in nodes {
        drop(node.stop().await);
    }
}
