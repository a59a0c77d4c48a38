use switchboard_sdk::testing::{TestCall, employee, settings};

use super::*;

fn bob() -> EmployeeCard {
    EmployeeCard {
        extension: "102".into(),
        email: "bob@example.com".into(),
        ..employee("bob")
    }
}

fn director() -> EmployeeCard {
    EmployeeCard {
        extension: "100".into(),
        ..employee("boss")
    }
}

#[test]
fn the_manager_who_talked_to_the_caller_last_takes_the_call() {
    let call = TestCall::new()
        .employee(bob())
        .last_connected("bob")
        .dial_answers(Some("bob"));
    run(&call, settings("{}")).unwrap();
    assert_eq!(
        call.decisions(),
        [
            "last-connected +15550100001 within 30 days → bob",
            "employee bob → found",
            "dial employee bob → answered by bob"
        ]
    );
}

#[test]
fn a_busy_manager_returns_the_call_to_the_flow_which_takes_the_fallback() {
    let call = TestCall::new()
        .employee(bob())
        .last_connected("bob")
        .dial_ends(DialOutcome::Busy)
        .dial_answers(Some("alice"));
    run(&call, settings(r#"{"fallback": {"department": "support"}}"#)).unwrap();
    let decisions = call.decisions();
    assert_eq!(decisions[2], "dial employee bob → busy");
    assert_eq!(decisions.last().unwrap(), "dial department support → answered by alice");
}

#[test]
fn nobody_found_goes_to_the_fallback_and_an_unanswered_fallback_takes_a_message() {
    let call = TestCall::new().dial_ends(DialOutcome::NoAnswer);
    run(&call, settings("{}")).unwrap();
    assert_eq!(
        call.decisions()[..5],
        [
            "last-connected +15550100001 within 30 days → nobody",
            "dial department sales → no-answer",
            "play all-busy",
            "answer",
            "request-callback voicemail",
        ]
    );
    assert_eq!(call.decisions().last().unwrap(), "hangup");
}

#[test]
fn an_exception_is_never_chosen() {
    let call = TestCall::new()
        .employee(director())
        .last_connected("boss")
        .dial_answers(None);
    run(&call, settings(r#"{"exceptions": ["100"]}"#)).unwrap();
    assert_eq!(call.decisions().last().unwrap(), "dial department sales → answered");
}

#[test]
fn local_numbers_are_looked_up_with_the_city_code() {
    let call = TestCall::new().from("2345678").dial_answers(None);
    run(
        &call,
        settings(r#"{"country_code": "7", "city_code": "495", "history_days": 7}"#),
    )
    .unwrap();
    assert_eq!(
        call.decisions()[0],
        "last-connected +74952345678 within 7 days → nobody"
    );
}

const AMO: &str = r#"{"sources": ["history", "amocrm"],
    "amocrm": {"url": "https://acme.amocrm.ru", "token": "t0k"}}"#;

#[test]
fn amocrm_names_the_responsible_user_found_by_email() {
    let call = TestCall::new()
        .employee(bob())
        .http_reply(
            200,
            r#"{"_embedded": {"contacts": [{"id": 7, "responsible_user_id": 42}]}}"#,
        )
        .http_reply(200, r#"{"id": 42, "name": "Bob", "email": "BOB@example.com"}"#)
        .dial_answers(Some("bob"));
    run(&call, settings(AMO)).unwrap();
    let requests = call.requests();
    assert_eq!(
        requests[0].url,
        "https://acme.amocrm.ru/api/v4/contacts?query=15550100001&limit=1"
    );
    assert_eq!(
        requests[0].headers,
        [("Authorization".to_string(), "Bearer t0k".to_string())]
    );
    assert_eq!(requests[1].url, "https://acme.amocrm.ru/api/v4/users/42");
    assert!(
        call.decisions()
            .contains(&"employee-by-email BOB@example.com → bob".to_string())
    );
    assert_eq!(call.decisions().last().unwrap(), "dial employee bob → answered by bob");
}

#[test]
fn amocrm_without_the_contact_answers_204_and_the_fallback_follows() {
    let call = TestCall::new().http_reply(204, "").dial_answers(None);
    run(&call, settings(AMO)).unwrap();
    assert_eq!(call.requests().len(), 1);
    assert_eq!(call.decisions().last().unwrap(), "dial department sales → answered");
}

#[test]
fn a_crm_that_fails_is_skipped_for_the_next_source() {
    let s = r#"{"sources": ["amocrm", "bitrix24"],
        "amocrm": {"url": "https://acme.amocrm.ru", "token": "t"},
        "bitrix24": {"url": "https://acme.bitrix24.ru/rest/1/key", "users": {"5": "bob"}}}"#;
    let call = TestCall::new()
        .employee(bob())
        .http_fails("timed out")
        .http_reply(200, r#"{"result": [{"ID": "9", "ASSIGNED_BY_ID": "5"}], "total": 1}"#)
        .dial_answers(Some("bob"));
    run(&call, settings(s)).unwrap();
    let requests = call.requests();
    assert_eq!(
        requests.len(),
        2,
        "the users table maps Bitrix24's user 5 without asking"
    );
    assert_eq!(
        requests[1].url,
        "https://acme.bitrix24.ru/rest/1/key/crm.contact.list.json?filter[PHONE]=%2B15550100001&select[]=ID&select[]=ASSIGNED_BY_ID"
    );
    assert!(requests[1].headers.is_empty(), "Bitrix24's key is in its URL");
    assert_eq!(call.decisions().last().unwrap(), "dial employee bob → answered by bob");
}

#[test]
fn megaplan_names_the_responsible_by_the_email_in_his_contact_info() {
    let s = r#"{"sources": ["megaplan"], "megaplan": {"url": "https://acme.megaplan.ru", "token": "m"}}"#;
    let call = TestCall::new()
        .employee(bob())
        .http_reply(200, r#"{"data": [{"id": "1000123", "responsibles": [{"contentType": "Employee", "id": "1000005"}]}]}"#)
        .http_reply(200, r#"{"data": {"id": "1000005", "contactInfo": [{"type": "phone", "value": "1"}, {"type": "email", "value": "bob@example.com"}]}}"#)
        .dial_answers(Some("bob"));
    run(&call, settings(s)).unwrap();
    let requests = call.requests();
    assert_eq!(
        requests[0].url,
        "https://acme.megaplan.ru/api/v3/contractorHuman?%7B%22limit%22%3A1%2C%22q%22%3A%2215550100001%22%7D"
    );
    assert_eq!(requests[1].url, "https://acme.megaplan.ru/api/v3/employee/1000005");
    assert_eq!(call.decisions().last().unwrap(), "dial employee bob → answered by bob");
}

#[test]
fn without_his_mobile_a_busy_manager_sends_the_caller_to_the_queue_at_once() {
    let s = r#"{"ring_mobile": false, "busy_route": {"department": "support"}}"#;
    let call = TestCall::new()
        .employee(bob())
        .last_connected("bob")
        .presence("bob", LineStatus::Busy)
        .dial_answers(None);
    run(&call, settings(s)).unwrap();
    assert_eq!(
        call.decisions()[2..],
        [
            "ring-mobiles off",
            "presence bob → busy",
            "dial department support → answered"
        ]
    );
}

#[test]
fn without_his_mobile_an_available_manager_rings_on_his_phones_only() {
    let call = TestCall::new()
        .employee(bob())
        .last_connected("bob")
        .dial_answers(Some("bob"));
    run(&call, settings(r#"{"ring_mobile": false}"#)).unwrap();
    assert_eq!(
        call.decisions()[2..],
        [
            "ring-mobiles off",
            "presence bob → available",
            "dial employee bob → answered by bob"
        ]
    );
    assert!(!call.rings_mobiles());
}
