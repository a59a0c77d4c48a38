//! Departments: the voice menu's "1 for sales" rings the sales department's members by its
//! hunting strategy; admins manage departments over the API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

const MENU: &str = "+15550100400";

async fn put(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = server.request(Method::PUT, path).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The caller presses 1 in the default menu: sales rings in turn — alice for 2 s, then bob, who
/// answers; alice's phone stops as bob's starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_reaches_the_sales_department_in_turn() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    let sales = json!({
        "name": "Sales Department", "extension": "600", "strategy": "in_turn", "step_secs": 2,
        "members": ["alice", "bob"],
    });
    let (status, body) = put(&server, "/departments/sales", sales).await;
    assert_eq!(status, 200, "{body}");
    server.assign(MENU, "ivr", json!({})).await;
    let alice_rings = alice.expect(
        &server,
        Phone::RingsUntilCancelled {
            completed_elsewhere: false,
        },
    );
    let bob_answers = bob.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 500,
            hold_ms: 1000,
        },
    );
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let run = sipp::call(
        server.sip,
        sipp::caller_sends_info_digit(500, '1', None),
        MENU,
        caller_rtp.port(),
    )
    .await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", alice_rings).await;
    finished(&server, "bob", bob_answers).await;
    let alice_invite = alice.event("INVITE").unwrap().at;
    let bob_invite = bob.event("INVITE").unwrap().at;
    assert!(
        (1.5..3.0).contains(&(bob_invite - alice_invite)),
        "bob's turn after {:.2} s",
        bob_invite - alice_invite
    );
    let events = trace(&server.call_record(MENU).await);
    assert!(
        events
            .iter()
            .any(|e| e.contains("dial [Department(\"sales\")") && e.contains("Answered") && e.contains("bob")),
        "{events:#?}"
    );
}

/// Departments over the API: the seeded two, checks with the field named, replace, delete; and
/// one numbering plan with employees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departments_are_managed_over_the_api() {
    let server = Server::start().await;
    let listed = server.get_json("/departments").await;
    assert_eq!(listed["departments"][0]["id"], "sales", "{listed}");
    assert_eq!(listed["departments"][1]["id"], "support", "{listed}");
    crate::registrar::add_employee(&server, "alice", "101").await;

    let post = |body: Value| {
        let request = server.request(Method::POST, "/departments").json(&body);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(json!({ "id": "sales", "name": "Again", "extension": "610" })).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid id")), "{body}");
    let (status, body) = post(json!({ "id": "billing", "name": "Billing", "extension": "101" })).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("employee alice"), "{body}");
    let (status, body) =
        post(json!({ "id": "billing", "name": "Billing", "extension": "610", "members": ["zed"] })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid members")),
        "{body}"
    );
    let (status, body) =
        post(json!({ "id": "billing", "name": "Billing", "extension": "610", "strategy": "random" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid strategy")),
        "{body}"
    );
    let (status, body) =
        post(json!({ "id": "billing", "name": "Billing", "extension": "610", "members": ["alice"] })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["members"], json!(["alice"]));

    // An employee cannot take a department's extension.
    let r = server
        .request(Method::POST, "/employees")
        .json(&json!({ "login": "bob", "password": "correct-horse", "extension": "610" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    let (status, body) = put(
        &server,
        "/departments/billing",
        json!({ "name": "Billing", "extension": "611" }),
    )
    .await;
    assert_eq!((status, &body["members"]), (200, &json!([])), "{body}");
    assert_eq!(server.get_json("/departments/billing").await["extension"], "611");
    let gone = server
        .request(Method::DELETE, "/departments/billing")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let missing = server
        .request(Method::GET, "/departments/billing")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Schedules over the API: weekly hours, holidays and extra days, with mistakes named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_managed_over_the_api() {
    let server = Server::start().await;
    let office = json!({
        "name": "Office hours",
        "weekly": { "mon": [["09:00", "13:00"], ["14:00", "18:00"]], "fri": [["09:00", "16:00"]] },
        "holidays": ["2026-12-25"],
        "extra_days": [{ "date": "2026-12-26", "hours": [["10:00", "12:00"]] }],
    });
    let (status, body) = put(&server, "/schedules/office", office.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["weekly"]["mon"][1], json!(["14:00", "18:00"]), "{body}");
    let shown = server.get_json("/schedules/office").await;
    assert_eq!(
        (shown["name"].as_str(), &shown["holidays"]),
        (Some("Office hours"), &json!(["2026-12-25"]))
    );
    for (mistake, field) in [
        (json!({ "name": "x", "weekly": { "monday": [] } }), "invalid schedule"),
        (
            json!({ "name": "x", "weekly": { "mon": [["18:00", "09:00"]] } }),
            "invalid schedule",
        ),
        (json!({ "name": "x", "holidays": ["2026-02-30"] }), "invalid schedule"),
        (json!({ "name": "x", "opening": "always" }), "invalid schedule"),
        (json!({ "name": "" }), "invalid name"),
    ] {
        let (status, body) = put(&server, "/schedules/bad", mistake.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some(field)),
            "{mistake}: {body}"
        );
    }
    assert_eq!(
        server.get_json("/schedules").await["schedules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let gone = server
        .request(Method::DELETE, "/schedules/office")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let missing = server.request(Method::GET, "/schedules/office").send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
