//! Busy lamps across nodes: a phone subscribed on one node sees a colleague's calls on another.

use std::time::Duration;

use serde_json::json;

use crate::harness::{RtpPeer, Server};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

const NUMBER: &str = "+15550100610";

/// Alice's lamp for bob is subscribed on node a; the call to bob comes in on node b. Her lamp
/// goes from idle to ringing to busy and back to idle, told by node a, as node b rings bob and
/// his call ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lamp_on_one_node_follows_a_call_on_another() {
    let Some((_db, servers)) = super::nodes_on_one_database(2, &[]).await else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(servers).ok().unwrap();
    let alice = Desk::register(&a, "alice", "101").await;
    let bob = Desk::register(&a, "bob", "102").await;
    a.assign(NUMBER, "hunt", json!({ "members": ["bob"] })).await;
    let states = ["terminated", "early", "confirmed", "terminated"];
    let lamp = alice.watch_lamp(a.sip, "102", &states).await;
    let answers = bob.expect(&b, Phone::Answers { after_ms: 1000 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(b.sip, sipp::caller_hangs_up(1000), NUMBER, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nnode b's log:\n{}", run.output, b.log());
    finished(&b, "bob", answers).await;
    let seen = tokio::time::timeout(Duration::from_secs(10), lamp).await;
    let run = seen
        .unwrap_or_else(|_| panic!("alice's lamp showed {:?}\nnode a's log:\n{}", alice.lamps(), a.log()))
        .unwrap();
    assert!(run.success, "alice's lamp: {}", run.output);
    assert_eq!(alice.lamps(), states);
    assert!(
        a.log().lines().all(|l| !(l.contains("INVITE") && l.contains(NUMBER))),
        "node a had no part in the call"
    );
    drop(a.stop().await);
    drop(b.stop().await);
}
