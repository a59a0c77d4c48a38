//! Several exchanges behind Kamailio (deploy/kamailio/kamailio.cfg, as deploy/cluster.sh runs
//! it) on one PostgreSQL database: phones and callers talk to the proxy only.
//!
//! Part of the end-to-end test binary (tests/e2e/main.rs), whose harness it uses; each test
//! runs when `SWITCHBOARD_TEST_POSTGRES` names a server (tests/run-all.sh sets it) and needs
//! `kamailio` (tests/run-all.sh installs it).

mod callbacks;
mod guesses;
mod keepalives;
mod lamps;
mod proxy;
mod queues;
mod restart;

use std::time::Duration;

use serde_json::json;
use switchboard::store::test_support::TestDatabase;

use crate::harness::{RtpPeer, Server, TOKEN};
use crate::hunt::{Desk, finished, phones_listening};
use crate::registrar::add_employee;
use crate::sipp::{self, Phone};
use proxy::Proxy;

/// A fresh database, and `count` nodes on it that trust the proxy about to start at the
/// address returned; none when `SWITCHBOARD_TEST_POSTGRES` is not set.
async fn nodes(count: usize) -> Option<(TestDatabase, std::net::SocketAddr, Vec<Server>)> {
    let proxy = Proxy::free_address();
    let (db, servers) = nodes_on_one_database(count, &["--sip-proxy", &proxy.to_string()]).await?;
    Some((db, proxy, servers))
}

/// A fresh database, and `count` nodes on it started with `flags` besides; none when
/// `SWITCHBOARD_TEST_POSTGRES` is not set.
async fn nodes_on_one_database(count: usize, flags: &[&str]) -> Option<(TestDatabase, Vec<Server>)> {
    let Some(db) = TestDatabase::create("switchboard_cluster").await else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES is not set: the cluster is not tested here");
        return None;
    };
    let mut all_flags = vec!["--database", db.url.as_str()];
    all_flags.extend_from_slice(flags);
    let mut servers = Vec::new();
    for _ in 0..count {
        servers.push(Server::start_flagged(&all_flags).await);
    }
    Some((db, servers))
}

/// Stops every node (SIGKILL, as the tests' servers are stopped).
async fn stop_all(servers: Vec<Server>) {
    for server in servers {
        drop(server.stop().await);
    }
}

/// The id of the first call in progress `server` lists to `token`'s company, once it lists one
/// (within 10 s).
async fn first_live_call(server: &Server, token: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let live = server.get_json_as(token, "/calls/live").await;
        if let Some(id) = live["calls"][0]["id"].as_str() {
            return id.to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "no call listed: {live}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A phone that answers a call through the proxy: it copies the proxy's Record-Route into its
/// answers, as phones do, so the node's ACK and BYE go back through the proxy.
fn answers_behind_the_proxy() -> String {
    sipp::phone(Phone::Answers { after_ms: 100 })
        .replace("[last_CSeq:]\nContact:", "[last_CSeq:]\n[last_Record-Route:]\nContact:")
}

/// How many calls to `dialled` node `server` took.
fn calls_taken(server: &Server, dialled: &str) -> usize {
    let needle = format!("dialled={dialled}");
    server
        .log()
        .lines()
        .filter(|l| l.contains("INVITE") && l.contains(&needle))
        .count()
}

/// A phone registers through the proxy, which hands the REGISTER to one node with a Path; calls
/// to the employee that land on either node reach the phone back through the proxy, and each
/// node knows the caller by the address the proxy saw (not the proxy's own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_through_the_proxy_is_called_from_every_node() {
    let Some((_db, at, servers)) = nodes(2).await else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let proxy = Proxy::start(at, &[a.sip, b.sip]).await;

    add_employee(a, "alice", "101").await;
    let alice = Desk::registered_at(proxy.sip, "alice").await;
    let registrations = b.get_json("/registrations").await;
    let binding = &registrations["registrations"][0];
    assert_eq!(binding["login"], "alice", "{registrations}");
    assert_eq!(
        binding["source"],
        proxy.sip.to_string(),
        "reached through the proxy: {registrations}"
    );
    let path = binding["path"].as_str().unwrap_or_default();
    assert!(
        path.starts_with(&format!("<sip:{};", proxy.sip))
            && path.contains(";lr")
            && path.contains(&format!("received=127.0.0.1~{}~", alice.port)),
        "the proxy's Path, naming where the phone registered from: {registrations}"
    );
    a.assign("+15550100601", "hunt", json!({ "members": ["alice"] })).await;

    // Kamailio picks the node by a hash of the Call-ID: call until both nodes took one.
    let mut calls = 0;
    while calls_taken(a, "+15550100601") == 0 || calls_taken(b, "+15550100601") == 0 {
        assert!(
            calls < 16,
            "16 calls all landed on one node: a took {}, b {}",
            calls_taken(a, "+15550100601"),
            calls_taken(b, "+15550100601")
        );
        calls += 1;
        let answers = alice.expect_scenario(proxy.sip, answers_behind_the_proxy());
        phones_listening().await;
        let caller_rtp = RtpPeer::bind().await;
        let run = sipp::call(proxy.sip, sipp::caller_hangs_up(300), "+15550100601", caller_rtp.port()).await;
        assert!(
            run.success,
            "call {calls} through the proxy: {}\nproxy log:\n{}\na's log:\n{}\nb's log:\n{}",
            run.output,
            proxy.log(),
            a.log(),
            b.log()
        );
        finished(a, "alice", answers).await;
    }
    // Each node saw the caller's own address, as the proxy stamped it.
    for server in [a, b] {
        let log = server.log();
        let line = log
            .lines()
            .find(|l| l.contains("INVITE") && l.contains("dialled=+15550100601"))
            .unwrap();
        assert!(
            line.contains("source=127.0.0.1:") && !line.contains(&format!("source={}", proxy.sip)),
            "{line}"
        );
    }
    // Every node's records are in the one database: b lists all of them.
    let last = b.nth_call("+15550100601", calls).await;
    assert_eq!(last["answered_by"], "alice", "{last}");
    drop(proxy);
    stop_all(servers).await;
}

/// An employee's phone calls a colleague's, both registered through the proxy: each call is
/// challenged (407) and authenticated on the node the proxy picked, and reaches the colleague
/// back through the proxy, on either node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_calls_a_colleague_through_the_proxy_on_either_node() {
    let Some((_db, at, servers)) = nodes(2).await else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let proxy = Proxy::start(at, &[a.sip, b.sip]).await;
    add_employee(a, "alice", "101").await;
    add_employee(a, "bob", "102").await;
    let _alice = Desk::registered_at(proxy.sip, "alice").await;
    let bob = Desk::registered_at(proxy.sip, "bob").await;
    let mut calls = 0;
    while calls_taken(a, "102") == 0 || calls_taken(b, "102") == 0 {
        assert!(calls < 16, "16 calls all landed on one node");
        calls += 1;
        let answers = bob.expect_scenario(proxy.sip, answers_behind_the_proxy());
        phones_listening().await;
        let scenario = sipp::employee_calls("alice", sipp::Then::HangsUpAfter(300));
        let args = [
            "-au",
            "alice",
            "-ap",
            crate::registrar::PASSWORD,
            "-key",
            "rtp_port",
            "9",
        ];
        let run = sipp::run(proxy.sip, scenario, "102", &args).await;
        assert!(
            run.success,
            "alice's call {calls}: {}\nproxy log:\n{}\na's log:\n{}\nb's log:\n{}",
            run.output,
            proxy.log(),
            a.log(),
            b.log()
        );
        finished(a, "bob", answers).await;
    }
    let last = b.nth_call("102", calls).await;
    assert_eq!(
        (&last["outcome"], &last["answered_by"]),
        (&json!("completed"), &json!("bob")),
        "{last}"
    );
    drop(proxy);
    stop_all(servers).await;
}

/// A node gone without a word (kill -9): no caller notices. A call the proxy hands to it is
/// handed to the node left once the dead one has not answered for the proxy's transaction
/// timeout (3 s), and the proxy's probes (every second) mark it down, so the calls after go to
/// the node left at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_to_the_node_left_when_one_is_killed() {
    let Some((_db, at, mut servers)) = nodes(2).await else {
        return;
    };
    let proxy = Proxy::start(at, &[servers[0].sip, servers[1].sip]).await;
    drop(servers.remove(0).stop().await); // SIGKILL
    let left = &servers[0];
    // A number nobody has: each node that takes the call answers 404 at once.
    let unassigned = "+15550199601";
    for call in 1..=10 {
        let started = tokio::time::Instant::now();
        let run = sipp::call(proxy.sip, sipp::caller_refused(404), unassigned, 9).await;
        assert!(
            run.success,
            "call {call} after the kill: {}\nproxy log:\n{}\nthe node left's log:\n{}",
            run.output,
            proxy.log(),
            left.log()
        );
        eprintln!("call {call} after the kill answered in {:?}", started.elapsed());
    }
    assert_eq!(calls_taken(left, unassigned), 10, "{}", left.log());
    drop(proxy);
    stop_all(servers).await;
}

/// A node killed (kill -9) with a call in progress: the node left notices it is gone (no
/// heartbeat for 15 s) and records the call as cut — the record is neither lost nor left in
/// progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_a_killed_node_is_recorded_as_cut() {
    let Some((_db, _, mut servers)) = nodes(2).await else {
        return;
    };
    let settings = json!({ "timeout_ms": 60000, "retries": 0 });
    servers[0].assign("+15550100603", "ivr", settings).await;
    let caller_rtp = RtpPeer::bind().await;
    let sip = servers[0].sip;
    // The caller's sipp ends with the test (kill_on_drop) or by its own timeout.
    let caller = tokio::spawn(sipp::call(
        sip,
        sipp::caller_waits_for_bye(),
        "+15550100603",
        caller_rtp.port(),
    ));
    let left = servers.remove(1);
    let id = first_live_call(&left, TOKEN).await;
    let killed_at = tokio::time::Instant::now();
    drop(servers.remove(0).stop().await); // SIGKILL
    caller.abort();
    let record = loop {
        let records = left.get_json("/calls").await;
        if let Some(record) = records["calls"].as_array().and_then(|c| c.first()) {
            break record.clone();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(40),
            "no record 40 s after the kill: {records}\n{}",
            left.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("the cut call was recorded {:?} after the kill", killed_at.elapsed());
    assert_eq!(
        (
            record["id"].as_str(),
            record["outcome"].as_str(),
            record["dialled"].as_str()
        ),
        (Some(id.as_str()), Some("node-lost"), Some("+15550100603")),
        "{record}"
    );
    assert_eq!(left.get_json("/calls/live").await["calls"], json!([]));
    drop(left.stop().await);
}

/// A company's plan allows one call at once: with its call in progress on node a, a call to
/// it that lands on node b is refused (503 with Retry-After, as on one node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_companys_limit_of_calls_at_once_holds_across_nodes() {
    let Some((_db, _, servers)) = nodes(2).await else {
        return;
    };
    let (a, b) = (&servers[0], &servers[1]);
    let (_, token) = crate::tenancy::beta(a, json!({ "max_calls": 1 })).await;
    let number = "+15550100604";
    let assigned = a
        .request_as(&token, reqwest::Method::PUT, &format!("/numbers/{number}"))
        .json(&json!({ "flow": "ivr", "settings": { "timeout_ms": 60000, "retries": 0 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(assigned.status(), 200);
    let caller_rtp = RtpPeer::bind().await;
    let first = tokio::spawn(sipp::call(
        a.sip,
        sipp::caller_waits_for_bye(),
        number,
        caller_rtp.port(),
    ));
    first_live_call(b, &token).await;
    // b counts the other nodes' calls every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = sipp::call(b.sip, sipp::caller_refused(503), number, 9).await;
    assert!(second.success, "the second call, on b: {}\n{}", second.output, b.log());
    assert!(b.metrics().await.contains("switchboard_calls_over_plan_total"));
    first.abort();
    stop_all(servers).await;
}
