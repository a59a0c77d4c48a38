//! The `schedule` flow with real SIP: the number's business hours decide where a call goes.

use reqwest::Method;
use serde_json::json;

use crate::harness::{RtpPeer, Server, TOKEN, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

/// Open around the clock every day of the week; never open (no hours at all).
fn always(open: bool) -> serde_json::Value {
    let day = json!([["00:00", "24:00"]]);
    let weekly = if open {
        json!({ "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day })
    } else {
        json!({})
    };
    json!({ "name": if open { "always" } else { "never" }, "weekly": weekly })
}

/// During business hours the department's phone rings and answers; outside them the caller
/// hears the closed message and the call ends — decided by the schedule in the number's zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_hours_decide_the_route() {
    let (server, _) = Server::start_with(tempfile::tempdir().unwrap(), Some(TOKEN), &[]).await;
    for (id, open) in [("always", true), ("never", false)] {
        let (status, body) = server
            .send(Method::PUT, &format!("/schedules/{id}"), always(open))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let alice = Desk::register(&server, "alice", "101").await;
    let sales = json!({ "name": "Sales", "extension": "600", "members": ["alice"] });
    assert_eq!(server.send(Method::PUT, "/departments/sales", sales).await.0, 200);
    for (number, schedule) in [("+15550100601", "always"), ("+15550100602", "never")] {
        let assignment = json!({ "flow": "schedule", "timezone": "Asia/Tokyo", "settings": {
            "schedule": schedule,
            "open": { "department": "sales" },
            "closed": { "hangup": "all-busy" },
        }});
        let (status, body) = server
            .send(Method::PUT, &format!("/numbers/{number}"), assignment)
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Open: alice's phone rings and answers.
    let answers = alice.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 300,
        },
    );
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100601",
        caller_rtp.port(),
    )
    .await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", answers).await;
    let open = server.call_record("+15550100601").await;
    let events = trace(&open);
    assert!(events.iter().any(|e| e == "is-open always → open"), "{events:#?}");
    assert!(events.iter().any(|e| e.contains("Asia/Tokyo")), "{events:#?}");
    assert_eq!(open["answered_by"], "alice", "{open}");

    // Closed: the message plays and the call ends; nobody rings.
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100602",
        caller_rtp.port(),
    )
    .await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    let closed = server.call_record("+15550100602").await;
    let events = trace(&closed);
    assert!(events.iter().any(|e| e == "is-open never → closed"), "{events:#?}");
    assert!(events.iter().any(|e| e == "play all-busy → ok"), "{events:#?}");
    assert_eq!(closed["legs"], json!([]), "nobody rang: {closed}");

    // Naming a schedule that does not exist is refused when assigning.
    let missing = json!({ "flow": "schedule", "settings": { "schedule": "gone" } });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100603", missing).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("/schedule"), "{body}");
}
