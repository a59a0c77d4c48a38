//! The `schedule` flow with real SIP: the number's business hours decide where a call goes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::Phone;

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
    let server = Server::start().await;
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
    server.call_until_bye("+15550100601").await;
    finished(&server, "alice", answers).await;
    let open = server.call_record("+15550100601").await;
    let events = trace(&open);
    assert!(events.iter().any(|e| e == "is-open always → open"), "{events:#?}");
    assert!(events.iter().any(|e| e.contains("Asia/Tokyo")), "{events:#?}");
    assert_eq!(open["answered_by"], "alice", "{open}");

    // Closed: the message plays and the call ends; nobody rings.
    server.call_until_bye("+15550100602").await;
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

/// A number assigned without a flow gets the default chain: `schedule` on the fresh install's
/// `office` hours (here made open around the clock) → the voice menu; the caller presses
/// nothing, and 5 s after the greeting started the sales department's phone rings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_number_greets_and_rings_sales_after_five_silent_seconds() {
    let server = Server::start().await;
    let office = server.get_json("/schedules/office").await;
    assert_eq!(office["weekly"]["mon"], json!([["09:00", "18:00"]]), "{office}");
    assert_eq!(office["weekly"]["sat"], Value::Null, "{office}");
    let (status, body) = server.send(Method::PUT, "/schedules/office", always(true)).await;
    assert_eq!(status, 200, "{body}");
    let alice = Desk::register(&server, "alice", "101").await;
    let sales = json!({ "name": "Sales", "extension": "600", "members": ["alice"] });
    assert_eq!(server.send(Method::PUT, "/departments/sales", sales).await.0, 200);

    let (status, number) = server.send(Method::PUT, "/numbers/+15550100610", json!({})).await;
    assert_eq!(status, 200, "{number}");
    let schedule_flow = server.get_json("/flows/schedule").await;
    assert_eq!(number["flow"], schedule_flow["sha256"], "{number}\n{schedule_flow}");
    assert_eq!(number["settings"], json!({ "schedule": "office" }), "{number}");

    let answers = alice.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 300,
        },
    );
    phones_listening().await;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    server.call_until_bye("+15550100610").await;
    finished(&server, "alice", answers).await;
    let rang_after = alice.event("INVITE").unwrap().at - started;
    assert!(
        (5.0..12.0).contains(&rang_after),
        "sales rang {rang_after:.2} s into the call"
    );
    let record = server.call_record("+15550100610").await;
    let events = trace(&record);
    assert!(events.iter().any(|e| e == "is-open office → open"), "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("collect (prompt ivr-greeting, max 1, first digit 5000 ms) → no digit")),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("dial [Department(\"sales\")@0ms]")),
        "{events:#?}"
    );
    assert_eq!(record["answered_by"], "alice", "{record}");
}

/// After hours — decided by the host from the real clock, in a timezone where it is now about
/// noon, for hours that ended at 11:00 — the caller gets the closed route, voicemail, at once;
/// nothing rings, and the message comes with a callback request for the number's mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_hours_the_caller_leaves_a_voicemail() {
    let server = Server::start().await;
    let day = json!([["08:00", "11:00"]]);
    let morning = json!({ "name": "Mornings", "weekly": {
        "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day } });
    assert_eq!(server.send(Method::PUT, "/schedules/mornings", morning).await.0, 200);
    Desk::register(&server, "alice", "101").await;
    // A zone where it is 12:xx now: UTC+h is "Etc/GMT-h".
    let utc_hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24) as i64;
    let zone = match 12 - utc_hour {
        0 => "Etc/GMT".to_string(),
        h if h > 0 => format!("Etc/GMT-{h}"),
        h => format!("Etc/GMT+{}", -h),
    };
    let assignment = json!({ "flow": "schedule", "timezone": zone, "mailbox": "alice", "settings": {
        "schedule": "mornings",
        "open": { "department": "sales" },
        "closed": { "voicemail": { "silence_secs": 2, "thanks": null } },
    }});
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100611", assignment).await;
    assert_eq!(status, 200, "{body}");

    server.call_until_bye("+15550100611").await;
    let record = server.call_record("+15550100611").await;
    let events = trace(&record);
    assert!(events.iter().any(|e| e == "is-open mornings → closed"), "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e.contains(&format!("{zone} ")) && e.contains(" 12:") && e.ends_with("closed")),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e == "play voicemail-greeting → ok"),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("record (max 120 s)")),
        "{events:#?}"
    );
    assert_eq!(record["legs"], json!([]), "nobody rang: {record}");
    let callbacks = server.get_json("/callbacks?due=true").await;
    assert_eq!(callbacks["callbacks"][0]["employee"], "alice", "{callbacks}");
}
