//! Contacts and callbacks over the API, and calls landing on the caller's contact card.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::Server;
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{CALLER, Phone};

/// A callback request is filed, shows as due, is completed with a result (once), and the
/// contact card keeps the date, the result and the next follow-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_is_filed_found_due_and_completed() {
    let server = Server::start().await;
    let alice = json!({ "login": "alice", "password": "secret-pass", "extension": "101" });
    assert_eq!(server.send(Method::POST, "/employees", alice).await.0, 201);

    let request = json!({ "phone": "+15550100999", "employee": "alice", "reason": "wants a quote", "due_at": 0 });
    let (status, callback) = server.send(Method::POST, "/callbacks", request).await;
    assert_eq!(status, 201, "{callback}");
    assert_eq!(
        (callback["status"].as_str(), callback["employee"].as_str()),
        (Some("open"), Some("alice"))
    );
    let later = json!({ "phone": "+15550100999", "due_at": i64::MAX / 2 });
    assert_eq!(server.send(Method::POST, "/callbacks", later).await.0, 201);

    let due = server.get_json("/callbacks?due=true").await;
    let due: Vec<_> = due["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(due, vec![callback["id"].clone()], "only the first is due");
    assert_eq!(
        server.get_json("/callbacks").await["callbacks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let id = callback["id"].as_i64().unwrap();
    let result =
        json!({ "result": "sent the quote", "reached": true, "employee": "alice", "next_follow_up_at": 1_000 });
    let path = format!("/callbacks/{id}/complete");
    let (status, done) = server.send(Method::POST, &path, result.clone()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["result"].as_str()),
        (Some("done"), Some("sent the quote"))
    );
    assert_eq!(
        server.send(Method::POST, &path, result).await.0,
        409,
        "completed once only"
    );

    let card = server.get_json(&format!("/contacts/{}", callback["contact_id"])).await;
    assert_eq!(card["phone"], "+15550100999");
    assert!(card["last_contact_at"].as_i64().unwrap() > 0, "{card}");
    assert_eq!(card["next_follow_up_at"], 1_000);
    assert_eq!(card["log"][0]["action"], "callback");
    assert_eq!(card["log"][0]["result"], "sent the quote");
    assert_eq!(card["log"][0]["employee"], "alice");
    assert_eq!(
        card["callbacks"].as_array().unwrap().len(),
        1,
        "the later one is still open"
    );
    let follow_ups = server.get_json("/contacts?due=true").await;
    assert_eq!(
        follow_ups["contacts"][0]["phone"], "+15550100999",
        "follow-up date passed"
    );

    // Bad input: clear 4xx, never a 500.
    let bad_phone = json!({ "phone": "0555" });
    let (status, body) = server.send(Method::POST, "/callbacks", bad_phone).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid phone")));
    let nobody = json!({ "phone": "+15550100998", "employee": "nobody" });
    assert_eq!(server.send(Method::POST, "/callbacks", nobody).await.0, 422);
    assert_eq!(server.send(Method::GET, "/callbacks/999999", Value::Null).await.0, 404);
    assert_eq!(
        server
            .send(Method::POST, "/callbacks/999999/complete", json!({"result": "x"}))
            .await
            .0,
        404
    );
    let (status, body) = server.send(Method::GET, "/contacts/abc", Value::Null).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid id")));
    let twice = json!({ "phone": "+15550100999" });
    assert_eq!(
        server.send(Method::POST, "/contacts", twice).await.0,
        422,
        "one card per number"
    );
}

/// A caller with a contact card talks to Alice: the call record says Alice answered, and the
/// card's log and last contact show the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_lands_on_the_callers_contact_card() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let card = json!({ "phone": CALLER, "name": "ACME Ltd", "employee": "alice" });
    let (status, card) = server.send(Method::POST, "/contacts", card).await;
    assert_eq!(status, 201, "{card}");
    assert!(card["last_contact_at"].is_null());
    server
        .assign("+15550100500", "hunt", json!({ "members": ["alice"] }))
        .await;

    let phone = alice.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 500,
        },
    );
    phones_listening().await;
    server.call_until_bye("+15550100500").await;
    finished(&server, "alice", phone).await;

    let record = server.call_record("+15550100500").await;
    assert_eq!(record["answered_by"], "alice", "{record}");
    let card = server.get_json(&format!("/contacts/{}", card["id"])).await;
    assert_eq!(card["log"][0]["action"], "call-in", "{card}");
    assert_eq!(card["log"][0]["employee"], "alice");
    assert_eq!(card["log"][0]["call_id"], record["id"]);
    assert_eq!(card["last_contact_at"], record["started_at"]);
}

/// The employee knows who calls: his ringing phone shows the number's prefix and whether the
/// caller is new, returning, or — with a card — the card's name and manager (in the From
/// display name; the From user stays the caller's number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ringing_phone_shows_the_numbers_prefix_and_who_calls() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let number = json!({ "flow": "hunt", "settings": { "members": ["alice"] }, "display_prefix": "Sales" });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100500", number).await;
    assert_eq!((status, &body["display_prefix"]), (200, &json!("Sales")), "{body}");
    let refused = json!({ "flow": "hunt", "settings": { "members": ["alice"] }, "display_prefix": "x\"<sip:evil>" });
    let (status, body) = server.send(Method::PUT, "/numbers/+15550100501", refused).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("display_prefix"), "{body}");

    let call = || async {
        let phone = alice.expect(
            &server,
            Phone::AnswersThenHangsUp {
                after_ms: 200,
                hold_ms: 300,
            },
        );
        phones_listening().await;
        server.call_until_bye("+15550100500").await;
        finished(&server, "alice", phone).await;
    };
    call().await;
    call().await;
    let card = json!({ "phone": CALLER, "name": "ACME Ltd", "employee": "alice" });
    let (status, card) = server.send(Method::POST, "/contacts", card).await;
    assert_eq!(status, 201, "{card}");
    call().await;
    let shown: Vec<String> = alice
        .events()
        .into_iter()
        .filter(|e| e.name == "SHOWN")
        .map(|e| e.details.join(" "))
        .collect();
    assert_eq!(
        shown,
        // (The phone's pattern takes the display name from between its quotes.)
        ["Sales - new", "Sales - returning", "Sales - ACME Ltd / alice"],
        "{:?}",
        alice.events()
    );
    let callers: Vec<String> = alice
        .events()
        .into_iter()
        .filter(|e| e.name == "CALLER")
        .map(|e| e.details[0].clone())
        .collect();
    assert_eq!(callers, [CALLER, CALLER, CALLER], "the number stays the From user");
}

/// A due callback request: the exchange rings the employee (who sees the contact's number),
/// then — while she hears ringback — the contact through the carrier; they talk; the request is
/// done, the card logs it with the call, and the call record says alice talked to the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_calls_a_due_callback_back_employee_first() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str(), "--callback-check-secs", "1"];
    let server = Server::start_flagged(&flags).await;
    around_the_clock(&server).await;
    let alice = Desk::register(&server, "alice", "101").await;
    let answers = alice.expect(&server, Phone::Answers { after_ms: 300 });
    let contact = carrier.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 1000,
            hold_ms: 1500,
        },
    );
    phones_listening().await;
    let request = json!({ "phone": "+15550100999", "employee": "alice", "reason": "wants a quote" });
    let (status, callback) = server.send(Method::POST, "/callbacks", request).await;
    assert_eq!(status, 201, "{callback}");
    finished(&server, "alice", answers).await;
    finished(&server, "contact", contact).await;

    let alice_rang = alice.event("INVITE").unwrap().at;
    let contact_rang = carrier.event("INVITE").unwrap().at;
    assert!(contact_rang > alice_rang + 0.2, "the contact rang after alice answered");
    assert_eq!(
        alice.event("CALLER").unwrap().details[0],
        "+15550100999",
        "alice sees the contact's number"
    );
    // Alice heard whom she calls back and why (spoken), then ringback while the contact's phone
    // rang: well over a second of audio before the contact answered.
    let heard = alice.rtp.received().len();
    assert!(heard > 75, "packets to alice: {heard}");

    let id = callback["id"].as_i64().unwrap();
    let done = server
        .get_json_until(&format!("/callbacks/{id}"), |c| c["status"] == "done")
        .await;
    assert!(done["result"].as_str().unwrap().starts_with("talked "), "{done}");
    let card = server.get_json(&format!("/contacts/{}", done["contact_id"])).await;
    assert_eq!(
        (&card["log"][0]["action"], &card["log"][0]["employee"]),
        (&json!("callback"), &json!("alice")),
        "{card}"
    );
    assert!(card["last_contact_at"].is_i64(), "{card}");
    let record = server.call_record("+15550100999").await;
    assert_eq!(card["log"][0]["call_id"], record["id"], "{card}\n{record}");
    let events = crate::harness::trace(&record);
    assert!(
        events
            .iter()
            .any(|e| e == "announce to alice: tts:Callback to 1 5 5 5 0 1 0 0 9 9 9. wants a quote."),
        "{events:#?}"
    );
    assert_eq!(
        (&record["caller"], &record["answered_by"], &record["outcome"]),
        (&json!("alice"), &json!("alice"), &json!("completed")),
        "{record}"
    );
    let results: Vec<&str> = record["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["answered", "answered"], "{record}");
}

/// The employee is busy: the request stays open for a later attempt, and the card says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_employee_gets_the_callback_again_later() {
    let flags = ["--callback-check-secs", "1"];
    let server = Server::start_flagged(&flags).await;
    around_the_clock(&server).await;
    let alice = Desk::register(&server, "alice", "101").await;
    let busy = alice.expect(&server, Phone::Busy);
    phones_listening().await;
    let request = json!({ "phone": "+15550100999", "employee": "alice" });
    let (status, callback) = server.send(Method::POST, "/callbacks", request).await;
    assert_eq!(status, 201, "{callback}");
    finished(&server, "alice", busy).await;
    let id = callback["id"].as_i64().unwrap();
    let card = server
        .get_json_until(&format!("/contacts/{}", callback["contact_id"]), |c| {
            c["log"].as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    assert_eq!(card["log"][0]["result"], "alice was busy", "{card}");
    let open = server.get_json(&format!("/callbacks/{id}")).await;
    assert_eq!(open["status"], "open", "{open}");
    let later = open["due_at"].as_i64().unwrap() - callback["due_at"].as_i64().unwrap();
    assert!(
        (9 * 60_000..11 * 60_000).contains(&later),
        "tried again {later} ms later"
    );
}

/// A contact's follow-up date has come: his responsible employee's phone rings; busy, the date
/// moves an hour on and the card says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_follow_up_rings_the_responsible_employee() {
    let flags = ["--callback-check-secs", "1"];
    let server = Server::start_flagged(&flags).await;
    around_the_clock(&server).await;
    let alice = Desk::register(&server, "alice", "101").await;
    let busy = alice.expect(&server, Phone::Busy);
    phones_listening().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let card = json!({ "phone": "+15550100998", "name": "ACME", "employee": "alice", "next_follow_up_at": now });
    let (status, card) = server.send(Method::POST, "/contacts", card).await;
    assert_eq!(status, 201, "{card}");
    finished(&server, "alice", busy).await;
    let card = server
        .get_json_until(&format!("/contacts/{}", card["id"]), |c| {
            c["log"].as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    assert_eq!(card["log"][0]["result"], "follow-up: alice was busy", "{card}");
    let later = card["next_follow_up_at"].as_i64().unwrap() - now;
    assert!(
        (59 * 60_000..61 * 60_000).contains(&later),
        "due again {later} ms later: {card}"
    );
    assert_eq!(alice.event("CALLER").unwrap().details[0], "+15550100998");
}

/// The company calls back around the clock (the tests run at any hour; a fresh company calls
/// back only in its `office` hours).
pub async fn around_the_clock(server: &Server) {
    let (status, body) = server
        .send(Method::PATCH, "/company", json!({ "business_hours": null }))
        .await;
    assert_eq!((status, body["business_hours"].clone()), (200, Value::Null), "{body}");
}

/// Outside the company's business hours a due callback is not placed: it waits for their
/// opening, on the company's clock. Inside them, an employee in do-not-disturb is not rung: the
/// request waits a quarter of an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_wait_for_business_hours_and_for_an_employee_in_do_not_disturb() {
    let flags = ["--callback-check-secs", "1"];
    let server = Server::start_flagged(&flags).await;
    crate::registrar::add_employee(&server, "alice", "101").await;
    // Open only tomorrow, 09:00-10:00 in Berlin.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let tomorrow = berlin.to_datetime(jiff::Timestamp::now()).date().tomorrow().unwrap();
    let hours = json!({ "name": "Hotline", "weekly": {}, "extra_days": [{ "date": tomorrow.to_string(), "hours": [["09:00", "10:00"]] }] });
    let (status, body) = server.send(Method::PUT, "/schedules/hotline", hours).await;
    assert_eq!(status, 200, "{body}");
    let company = json!({ "business_hours": "hotline", "timezone": "Europe/Berlin" });
    let (status, body) = server.send(Method::PATCH, "/company", company).await;
    assert_eq!(
        (status, body["business_hours"].as_str()),
        (200, Some("hotline")),
        "{body}"
    );
    let (status, _) = server
        .send(Method::PATCH, "/company", json!({ "business_hours": "nowhere" }))
        .await;
    assert_eq!(status, 422);
    let (status, _) = server
        .send(Method::PATCH, "/company", json!({ "timezone": "Mars/Olympus" }))
        .await;
    assert_eq!(status, 422);

    let request = json!({ "phone": "+15550100997", "employee": "alice" });
    let (status, callback) = server.send(Method::POST, "/callbacks", request).await;
    assert_eq!(status, 201, "{callback}");
    let path = format!("/callbacks/{}", callback["id"]);
    let filed_due = callback["due_at"].as_i64().unwrap();
    let put_off = server
        .get_json_until(&path, |c| c["due_at"].as_i64() != Some(filed_due))
        .await;
    let opening = berlin
        .to_ambiguous_timestamp(tomorrow.at(9, 0, 0, 0))
        .compatible()
        .unwrap()
        .as_millisecond();
    assert_eq!(put_off["due_at"].as_i64(), Some(opening), "{put_off}");
    assert_eq!(put_off["status"], "open", "{put_off}");

    // Around the clock now, but alice is in do-not-disturb: a quarter of an hour later.
    around_the_clock(&server).await;
    assert_eq!(
        server
            .send(Method::PATCH, "/employees/alice", json!({ "dnd": true }))
            .await
            .0,
        200
    );
    let request = json!({ "phone": "+15550100996", "employee": "alice" });
    let (_, callback) = server.send(Method::POST, "/callbacks", request).await;
    let path = format!("/callbacks/{}", callback["id"]);
    let filed_due = callback["due_at"].as_i64().unwrap();
    let put_off = server
        .get_json_until(&path, |c| c["due_at"].as_i64() != Some(filed_due))
        .await;
    let later = put_off["due_at"].as_i64().unwrap() - filed_due;
    assert!(
        (14 * 60_000..16 * 60_000).contains(&later),
        "{later} ms later: {put_off}"
    );
    assert_eq!(put_off["result"], Value::Null, "not tried: {put_off}");
}
