//! The Intelligent Contact Manager with real SIP: a returning caller rings the manager who last
//! talked to him; a busy manager hands the call back to the flow, which takes the fallback; a
//! CRM served on loopback (amoCRM's API v4) names the manager of a caller the history does not
//! know; a CRM host the number does not allow-list is never asked.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{CALLER, Phone};

const EMPLOYEE_NUMBER: &str = "+15550100701";
const ICM_NUMBER: &str = "+15550100702";
const CRM_NUMBER: &str = "+15550100703";
const UNLISTED_CRM_NUMBER: &str = "+15550100704";

fn leg_results(record: &Value) -> Vec<(String, String)> {
    let legs = record["legs"].as_array().cloned().unwrap_or_default();
    legs.iter()
        .map(|l| {
            (
                l["to"].as_str().unwrap_or("").to_string(),
                l["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

const TALKS: Phone = Phone::AnswersThenHangsUp {
    after_ms: 200,
    hold_ms: 300,
};

/// The caller talked to bob a moment ago (through bob's own number); calling the ICM number he
/// rings bob first. Bob is busy: the dial returns to the flow, which rings the sales department
/// (alice), who answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_caller_rings_his_manager_first_and_busy_falls_back() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    let sales = json!({ "name": "Sales", "extension": "600", "members": ["alice"] });
    assert_eq!(server.send(Method::PUT, "/departments/sales", sales).await.0, 200);
    server
        .assign(EMPLOYEE_NUMBER, "employee", json!({ "employee": "bob" }))
        .await;
    server.assign(ICM_NUMBER, "icm", json!({})).await;

    let talks = bob.expect(&server, TALKS);
    phones_listening().await;
    server.call_until_bye(EMPLOYEE_NUMBER).await;
    finished(&server, "bob", talks).await;
    assert_eq!(server.call_record(EMPLOYEE_NUMBER).await["answered_by"], "bob");

    let busy = bob.expect(&server, Phone::Busy);
    let answers = alice.expect(&server, TALKS);
    phones_listening().await;
    server.call_until_bye(ICM_NUMBER).await;
    finished(&server, "bob", busy).await;
    finished(&server, "alice", answers).await;

    let record = server.call_record(ICM_NUMBER).await;
    let events = trace(&record);
    assert!(
        events
            .iter()
            .any(|e| e == &format!("last-connected {CALLER} within 30 days → bob")),
        "{events:#?}"
    );
    assert_eq!(
        leg_results(&record),
        [
            ("bob".to_string(), "busy".to_string()),
            ("alice".to_string(), "answered".to_string())
        ],
        "bob first, then the fallback: {record}"
    );
    assert_eq!(record["answered_by"], "alice", "{record}");
}

/// What the fake CRM was asked: (path and query as sent, Authorization header).
type Asked = Arc<Mutex<Vec<(String, String)>>>;

/// amoCRM's API v4, Bitrix24's REST (webhook `/rest/1/key`) and Megaplan's API v3, as far as the
/// ICM uses them, on one loopback server: the caller's contact, whose responsible user has
/// carol's e-mail (amoCRM's user 42, Bitrix24's 5, Megaplan's 1000005).
async fn fake_crm() -> (std::net::SocketAddr, Asked) {
    async fn answer(State(asked): State<Asked>, headers: HeaderMap, uri: Uri) -> axum::response::Response {
        use axum::response::IntoResponse;
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let query = uri.query().unwrap_or("");
        asked.lock().unwrap().push((uri.to_string(), auth.to_string()));
        let ours = query.contains(CALLER.trim_start_matches('+'));
        let found = match uri.path() {
            "/api/v4/contacts" if ours => {
                json!({ "_embedded": { "contacts": [{ "id": 7, "responsible_user_id": 42 }] } })
            }
            "/api/v4/contacts" => return axum::http::StatusCode::NO_CONTENT.into_response(),
            "/api/v4/users/42" => json!({ "id": 42, "name": "Carol", "email": "Carol@Example.com" }),
            "/rest/1/key/crm.contact.list.json" if ours => {
                json!({ "result": [{ "ID": "7", "ASSIGNED_BY_ID": "5" }], "total": 1 })
            }
            "/rest/1/key/crm.contact.list.json" => json!({ "result": [], "total": 0 }),
            "/rest/1/key/user.get.json" => json!({ "result": [{ "ID": "5", "EMAIL": "carol@example.com" }] }),
            "/api/v3/contractorHuman" if ours => json!({ "meta": { "status": 200 }, "data": [{ "id": "1000123",
                "contentType": "ContractorHuman", "responsibles": [{ "contentType": "Employee", "id": "1000005" }] }] }),
            "/api/v3/contractorHuman" => json!({ "meta": { "status": 200 }, "data": [] }),
            "/api/v3/employee/1000005" => json!({ "meta": { "status": 200 }, "data": { "id": "1000005",
                "contactInfo": [{ "type": "phone", "value": "+15550100103" }, { "type": "email", "value": "carol@example.com" }] } }),
            _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
        };
        axum::Json(found).into_response()
    }
    let asked = Asked::default();
    let app = axum::Router::new().fallback(answer).with_state(asked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, asked)
}

/// carol, with the e-mail the fake CRMs give their responsible user.
async fn carol(server: &Server) -> Desk {
    let carol = Desk::register(server, "carol", "103").await;
    let email = json!({ "email": "carol@example.com" });
    let (status, body) = server.send(Method::PATCH, "/employees/carol", email).await;
    assert_eq!(status, 200, "{body}");
    carol
}

/// The history knows nothing of the caller; amoCRM (on loopback, allow-listed on the number)
/// names user 42, whose e-mail is carol's: carol's phone rings and she answers. A second number
/// with the same settings but no `allowed_hosts` never reaches the CRM and takes its fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_on_loopback_names_the_manager() {
    let server = Server::start().await;
    let carol = carol(&server).await;
    let (crm, asked) = fake_crm().await;
    let settings = json!({
        "sources": ["history", "amocrm"],
        "amocrm": { "url": format!("http://{crm}"), "token": "t0k" },
        "fallback": { "hangup": "all-busy" },
    });
    // The second number asks the CRM only: the history knows carol by then.
    let mut crm_only = settings.clone();
    crm_only["sources"] = json!(["amocrm"]);
    for (number, settings, allowed) in [
        (CRM_NUMBER, settings, json!([crm.to_string()])),
        (UNLISTED_CRM_NUMBER, crm_only, json!([])),
    ] {
        let assignment = json!({ "flow": "icm", "settings": settings, "allowed_hosts": allowed });
        let (status, body) = server
            .send(Method::PUT, &format!("/numbers/{number}"), assignment)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["allowed_hosts"], allowed, "{body}");
    }
    // The CRM's token and URL are secrets: the API shows them hidden, and an assignment that
    // sends them back hidden keeps them (the call below still reaches the CRM with its token).
    let numbers = server.get_json("/numbers").await;
    let shown = numbers["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["number"] == CRM_NUMBER)
        .unwrap();
    assert_eq!(
        (
            &shown["settings"]["amocrm"]["token"],
            &shown["settings"]["amocrm"]["url"]
        ),
        (&json!("***"), &json!("***")),
        "{shown}"
    );
    assert!(!numbers.to_string().contains("t0k"), "{numbers}");
    let again = json!({ "flow": "icm", "settings": shown["settings"], "allowed_hosts": [crm.to_string()] });
    let (status, body) = server.send(Method::PUT, &format!("/numbers/{CRM_NUMBER}"), again).await;
    assert_eq!(
        (status, &body["settings"]["amocrm"]["token"]),
        (200, &json!("***")),
        "{body}"
    );

    let answers = carol.expect(&server, TALKS);
    phones_listening().await;
    server.call_until_bye(CRM_NUMBER).await;
    finished(&server, "carol", answers).await;
    let record = server.call_record(CRM_NUMBER).await;
    assert_eq!(record["answered_by"], "carol", "{record}");
    assert_eq!(
        *asked.lock().unwrap(),
        [
            (
                "/api/v4/contacts?query=15550100001&limit=1".to_string(),
                "Bearer t0k".to_string()
            ),
            ("/api/v4/users/42".to_string(), "Bearer t0k".to_string()),
        ]
    );
    let events = trace(&record);
    assert!(
        events
            .iter()
            .any(|e| e == "employee-by-email Carol@Example.com → carol"),
        "{events:#?}"
    );

    server.call_until_bye(UNLISTED_CRM_NUMBER).await;
    let record = server.call_record(UNLISTED_CRM_NUMBER).await;
    let events = trace(&record);
    assert!(
        events.iter().any(|e| e.contains("is not allow-listed for this number")),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e == "play all-busy → ok"), "{events:#?}");
    assert_eq!(asked.lock().unwrap().len(), 2, "the CRM was not asked again");
    // Neither the call records nor the log carry the token.
    assert!(!server.get_json("/calls").await.to_string().contains("t0k"));
    assert!(!server.log().contains("t0k"), "{}", server.log());

    // An allow-list entry that is not a host is refused.
    let bad = json!({ "flow": "icm", "allowed_hosts": ["https://crm.example.com/api"] });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100705", bad).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("allowed_hosts"), "{body}");
}

/// Extension 6100 is the ICM: alice answers a caller bob talked to before and transfers him
/// (blind REFER) to 6100 — bob's phone rings, showing the caller, and takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_6100_reaches_the_callers_manager() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    server
        .assign(EMPLOYEE_NUMBER, "employee", json!({ "employee": "bob" }))
        .await;
    server
        .assign(ICM_NUMBER, "employee", json!({ "employee": "alice" }))
        .await;
    let talks = bob.expect(&server, TALKS);
    phones_listening().await;
    server.call_until_bye(EMPLOYEE_NUMBER).await;
    finished(&server, "bob", talks).await;

    alice_transfers_to_6100(&server, &alice, (&bob, "bob")).await;
    assert_eq!(bob.event("CALLER").unwrap().details[0], CALLER, "bob sees the caller");

    // Nobody can take the ICM's extension.
    let (status, body) = server
        .send(Method::PATCH, "/employees/alice", json!({ "extension": "6100" }))
        .await;
    assert_eq!(status, 422, "{body}");
}

/// A caller reaches alice on `ICM_NUMBER`; she transfers him to 6100 and `manager` (his desk
/// and login) takes over: the call record says so.
async fn alice_transfers_to_6100(server: &Server, alice: &Desk, (manager, login): (&Desk, &str)) {
    let transfers = alice.expect(
        server,
        Phone::AnswersThenTransfers {
            after_ms: 200,
            to: "6100",
        },
    );
    let takes_over = manager.expect(
        server,
        Phone::AnswersThenHangsUp {
            after_ms: 300,
            hold_ms: 1000,
        },
    );
    phones_listening().await;
    server.call_until_bye(ICM_NUMBER).await;
    finished(server, "alice", transfers).await;
    finished(server, login, takes_over).await;
    let record = server.call_record(ICM_NUMBER).await;
    assert_eq!(record["answered_by"], login, "{record}");
}

/// Bitrix24 (its webhook carries the key, no token) and Megaplan (a token), each the only source
/// of a number, each on loopback: both name carol, whose phone rings each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitrix24_and_megaplan_on_loopback_name_the_manager() {
    let server = Server::start().await;
    let carol = carol(&server).await;
    let (crm, asked) = fake_crm().await;
    let crms = [
        (
            "+15550100706",
            "bitrix24",
            json!({ "url": format!("http://{crm}/rest/1/key") }),
        ),
        (
            "+15550100707",
            "megaplan",
            json!({ "url": format!("http://{crm}"), "token": "m3g" }),
        ),
    ];
    for (number, source, reach) in crms {
        let mut settings = json!({ "sources": [source], "fallback": { "hangup": "all-busy" } });
        settings[source] = reach;
        let assignment = json!({ "flow": "icm", "settings": settings, "allowed_hosts": [crm.to_string()] });
        let (status, body) = server
            .send(Method::PUT, &format!("/numbers/{number}"), assignment)
            .await;
        assert_eq!(status, 200, "{body}");
        let answers = carol.expect(&server, TALKS);
        phones_listening().await;
        let number: &'static str = number;
        server.call_until_bye(number).await;
        finished(&server, "carol", answers).await;
        let record = server.call_record(number).await;
        assert_eq!(record["answered_by"], "carol", "{source}: {record}");
    }
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            (
                "/rest/1/key/crm.contact.list.json?filter[PHONE]=%2B15550100001&select[]=ID&select[]=ASSIGNED_BY_ID"
                    .to_string(),
                String::new()
            ),
            ("/rest/1/key/user.get.json?ID=5".to_string(), String::new()),
            (
                "/api/v3/contractorHuman?%7B%22limit%22%3A1%2C%22q%22%3A%2215550100001%22%7D".to_string(),
                "Bearer m3g".to_string()
            ),
            ("/api/v3/employee/1000005".to_string(), "Bearer m3g".to_string()),
        ]
    );
}

/// One ICM configuration for the company (`PUT /icm`): amoCRM on loopback names carol for a
/// caller nobody talked to. Alice answers the caller on her own number and transfers him to
/// 6100: the ICM runs with the company's configuration and carol takes over. A number whose flow
/// is the ICM, with no settings and no `allowed_hosts` of its own, rings carol the same way.
/// The token is shown hidden and kept when sent back hidden; a wrong setting is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_companys_icm_serves_extension_6100_and_every_icm_number() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let carol = carol(&server).await;
    let (crm, asked) = fake_crm().await;
    let icm = json!({ "sources": ["history", "amocrm"],
        "amocrm": { "url": format!("http://{crm}"), "token": "t0k" }, "fallback": { "hangup": "all-busy" } });
    let (status, body) = server.send(Method::PUT, "/icm", icm).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["amocrm"]["token"], "***", "{body}");
    let mut shown = server.get_json("/icm").await;
    assert_eq!(shown["amocrm"]["url"], "***", "{shown}");
    shown["ring_secs"] = json!(25);
    let (status, body) = server.send(Method::PUT, "/icm", shown).await;
    assert_eq!((status, &body["ring_secs"]), (200, &json!(25)), "{body}");
    let (status, body) = server
        .send(Method::PUT, "/icm", json!({ "sources": ["rolodex"] }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("sources"), "{body}");

    server
        .assign(ICM_NUMBER, "employee", json!({ "employee": "alice" }))
        .await;
    alice_transfers_to_6100(&server, &alice, (&carol, "carol")).await;
    assert_eq!(asked.lock().unwrap().len(), 2, "the CRM was asked with the kept token");
    assert!(asked.lock().unwrap().iter().all(|(_, auth)| auth == "Bearer t0k"));

    // A number running the ICM with nothing of its own runs the company's configuration: asked
    // the CRM only now (its token sent back hidden, kept), it finds carol there.
    let mut crm_only = server.get_json("/icm").await;
    crm_only["sources"] = json!(["amocrm"]);
    let (status, body) = server.send(Method::PUT, "/icm", crm_only).await;
    assert_eq!(status, 200, "{body}");
    let assignment = json!({ "flow": "icm", "settings": {} });
    let (status, body) = server
        .send(Method::PUT, &format!("/numbers/{CRM_NUMBER}"), assignment)
        .await;
    assert_eq!(status, 200, "{body}");
    let answers = carol.expect(&server, TALKS);
    phones_listening().await;
    server.call_until_bye(CRM_NUMBER).await;
    finished(&server, "carol", answers).await;
    let record = server.call_record(CRM_NUMBER).await;
    assert_eq!(record["answered_by"], "carol", "{record}");
    assert_eq!(
        asked.lock().unwrap().len(),
        4,
        "the number's run asked the company's CRM"
    );
    assert!(!server.log().contains("t0k"), "the token stays out of the log");
}
