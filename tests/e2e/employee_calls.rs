//! Calls placed by employees' phones: they authenticate (407, digest), reach colleagues by
//! extension and the outside world through the outbound trunk, presenting the company's number.
//! Nobody else gets a trunk (no toll fraud).

use std::time::Duration;

use serde_json::Value;

use crate::harness::{RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::registrar::PASSWORD;
use crate::sipp::{self, Phone, Then};

const MAIN_NUMBER: &str = "+15550100999";
const OUTSIDE: &str = "+4930123456";

/// alice's phone calls `dialled` with `password`.
async fn alice_calls(server: &Server, dialled: &str, password: &str, then: Then) -> sipp::SippRun {
    sipp::run(
        server.sip,
        sipp::employee_calls("alice", then),
        dialled,
        &["-au", "alice", "-ap", password, "-key", "rtp_port", "9"],
    )
    .await
}

async fn record_of(server: &Server, dialled: &str) -> Value {
    server.call_record(dialled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_calls_a_colleague_by_extension() {
    let server = Server::start().await;
    let _alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    let answers = bob.expect(&server, Phone::Answers { after_ms: 300 });
    phones_listening().await;
    let run = alice_calls(&server, "102", PASSWORD, Then::HangsUpAfter(500)).await;
    assert!(run.success, "alice: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "bob", answers).await;
    // Bob's phone shows alice's extension, which he can call back.
    assert_eq!(bob.event("CALLER").unwrap().details[0], "101");
    let record = record_of(&server, "102").await;
    assert_eq!(record["outcome"], "completed", "{record}");
    assert!(
        trace(&record).iter().any(|e| e == "alice dials Extension(\"102\")"),
        "{record}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_calls_go_through_the_trunk_as_the_company_number_and_only_for_employees() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str(), "--outbound-caller-id", MAIN_NUMBER];
    let server = Server::start_flagged(&flags).await;
    let _alice = Desk::register(&server, "alice", "101").await;

    // A fresh exchange calls national numbers only (country code 1 here): Berlin is refused
    // before anything reaches the carrier.
    let run = alice_calls(&server, OUTSIDE, PASSWORD, Then::Refused(403)).await;
    assert!(
        run.success,
        "international: {}\nserver log:\n{}",
        run.output,
        server.log()
    );
    let record = record_of(&server, OUTSIDE).await;
    assert_eq!(record["outcome"], "refused", "{record}");
    assert!(
        record["legs"][0]["result"]
            .as_str()
            .unwrap()
            .contains("international calls are off"),
        "{record}"
    );
    // The admin lets Berlin be called.
    allow_berlin(&server).await;
    let answers = carrier.expect(&server, Phone::Answers { after_ms: 300 });
    phones_listening().await;
    let run = alice_calls(&server, OUTSIDE, PASSWORD, Then::HangsUpAfter(500)).await;
    assert!(run.success, "alice: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "carrier", answers).await;
    assert_eq!(carrier.event("CALLER").unwrap().details[0], MAIN_NUMBER);

    // A wrong password is refused after the challenge.
    let run = alice_calls(&server, OUTSIDE, "guess", Then::Refused(403)).await;
    assert!(
        run.success,
        "wrong password: {}\nserver log:\n{}",
        run.output,
        server.log()
    );
    // Someone who is not an employee, even from a trunk's address, cannot dial out: the
    // number is not the company's, so there is nothing to call.
    let run = sipp::call(server.sip, sipp::caller_refused(404), OUTSIDE, 9).await;
    assert!(run.success, "stranger: {}\nserver log:\n{}", run.output, server.log());
    // The carrier saw exactly one call (alice's first).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let invites = carrier.events().iter().filter(|e| e.name == "INVITE").count();
    assert_eq!(invites, 1);
}

/// The company's outbound rules let employees call Berlin (national calls are allowed anyway).
async fn allow_berlin(server: &Server) {
    let rules = serde_json::json!({ "country_code": "1", "allow": ["+4930"] });
    let (status, body) = server.send(reqwest::Method::PUT, "/outbound-rules", rules).await;
    assert_eq!(status, 200, "{body}");
}

/// The exchange keeps itself registered with its carrier (here: a second exchange, where the
/// company is an employee) and answers the carrier's digest challenge on calls out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_registers_with_its_carrier_and_answers_its_challenges() {
    let carrier_exchange = Server::start().await;
    crate::registrar::add_employee(&carrier_exchange, "acme", "900").await;
    let carrier = carrier_exchange.sip.to_string();
    let flags = [
        "--outbound-trunk",
        carrier.as_str(),
        "--outbound-username",
        "acme",
        "--outbound-password",
        PASSWORD,
        "--outbound-register",
        "true",
    ];
    let _server = Server::start_flagged(&flags).await;
    let registered = |r: &Value| {
        let bindings = r["registrations"].as_array();
        bindings.is_some_and(|b| b.iter().any(|b| b["login"] == "acme"))
    };
    carrier_exchange.get_json_until("/registrations", registered).await;

    // A carrier that challenges calls (407) gets them again with our credentials.
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = [
        "--outbound-trunk",
        trunk.as_str(),
        "--outbound-username",
        "acme",
        "--outbound-password",
        PASSWORD,
    ];
    let server = Server::start_flagged(&flags).await;
    allow_berlin(&server).await;
    let _alice = Desk::register(&server, "alice", "101").await;
    let answers = carrier.expect(
        &server,
        Phone::ChallengesThenAnswers {
            user: "acme",
            after_ms: 200,
        },
    );
    phones_listening().await;
    let run = alice_calls(&server, OUTSIDE, PASSWORD, Then::HangsUpAfter(500)).await;
    assert!(run.success, "alice: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "carrier", answers).await;
}

/// An employee who placed a call transfers the other party to a colleague (blind REFER from the
/// caller's side): the two talk on without her, and she is released once the colleague answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_transfers_the_call_to_a_colleague() {
    let server = Server::start().await;
    let _alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    let carol = Desk::register(&server, "carol", "103").await;
    let bob_answers = bob.expect(&server, Phone::Answers { after_ms: 200 });
    let carol_answers = carol.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 1000,
        },
    );
    phones_listening().await;
    let run = alice_calls(&server, "102", PASSWORD, Then::TransfersTo("103")).await;
    assert!(run.success, "alice: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "carol", carol_answers).await;
    finished(&server, "bob", bob_answers).await;
    assert!(bob.event("BYE").is_some(), "carol's hang-up reached bob");
}

/// The people alice calls outside see the company's main number once the admin sets one (over
/// the trunk's default), and her own number once she has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outside_show_the_companys_main_number_or_the_employees_own() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str(), "--outbound-caller-id", MAIN_NUMBER];
    let server = Server::start_flagged(&flags).await;
    let _alice = Desk::register(&server, "alice", "101").await;
    allow_berlin(&server).await;
    let (company, own) = ("+15550100888", "+15550100777");

    let (status, body) = server
        .send(
            reqwest::Method::PATCH,
            "/company",
            serde_json::json!({ "main_caller_id": "0800 123" }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid main_caller_id")),
        "{body}"
    );
    let (status, body) = server
        .send(
            reqwest::Method::PATCH,
            "/company",
            serde_json::json!({ "main_caller_id": company }),
        )
        .await;
    assert_eq!(
        (status, body["main_caller_id"].as_str()),
        (200, Some(company)),
        "{body}"
    );
    assert_eq!(server.get_json("/company").await["main_caller_id"], company);

    for expected in [company, own] {
        if expected == own {
            let (status, body) = server
                .send(
                    reqwest::Method::PATCH,
                    "/employees/alice",
                    serde_json::json!({ "caller_id": own }),
                )
                .await;
            assert_eq!((status, body["caller_id"].as_str()), (200, Some(own)), "{body}");
        }
        let answers = carrier.expect(&server, Phone::Answers { after_ms: 300 });
        phones_listening().await;
        let run = alice_calls(&server, OUTSIDE, PASSWORD, Then::HangsUpAfter(500)).await;
        assert!(run.success, "alice: {}\nserver log:\n{}", run.output, server.log());
        finished(&server, "carrier", answers).await;
        let shown = carrier.events().into_iter().rfind(|e| e.name == "CALLER").unwrap();
        assert_eq!(shown.details[0], expected);
    }
    // alice may not choose her own caller ID (only an admin does).
    let token = server.login("alice", PASSWORD).await;
    let refused = server
        .request_as(&token, reqwest::Method::PATCH, "/employees/alice")
        .json(&serde_json::json!({ "caller_id": company }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

/// Calling rights: alice's department lets its members call locally (the company's area
/// `+1555010`); a mobile (`+1555020…` is a mobile range here) is refused with 403 before the
/// carrier hears of it, and her record says why. Her own right `mobile` overrides the
/// department's, and the mobile goes through. A user cannot raise his own right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_rights_keep_an_employee_to_his_reach() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str(), "--outbound-caller-id", MAIN_NUMBER];
    let server = Server::start_flagged(&flags).await;
    let _alice = Desk::register(&server, "alice", "101").await;
    let rules = serde_json::json!({ "country_code": "1", "local_prefixes": ["+1555010"],
        "mobile_prefixes": ["+1555020"] });
    let (status, body) = server.send(reqwest::Method::PUT, "/outbound-rules", rules).await;
    assert_eq!(status, 200, "{body}");
    let sales = serde_json::json!({ "name": "Sales", "extension": "600", "members": ["alice"],
        "calling_rights": "local" });
    let (status, body) = server.send(reqwest::Method::PUT, "/departments/sales", sales).await;
    assert_eq!(status, 200, "{body}");
    let bad = serde_json::json!({ "name": "Sales", "extension": "600", "calling_rights": "galactic" });
    let (status, body) = server.send(reqwest::Method::PUT, "/departments/sales", bad).await;
    assert_eq!(status, 422, "{body}");

    const MOBILE: &str = "+15550200123";
    // Refused with a prompt in early media, then 403.
    let rtp = RtpPeer::bind().await;
    let port = rtp.port().to_string();
    let args = ["-au", "alice", "-ap", PASSWORD, "-key", "rtp_port", port.as_str()];
    let run = sipp::run(
        server.sip,
        sipp::employee_calls("alice", Then::Refused(403)),
        MOBILE,
        &args,
    )
    .await;
    assert!(run.success, "refused: {}\nserver log:\n{}", run.output, server.log());
    let heard = rtp.received().len();
    assert!(
        heard > 150,
        "alice heard {heard} packets of the call-not-allowed prompt (4.8 s)"
    );
    let record = record_of(&server, MOBILE).await;
    assert_eq!(record["outcome"], "refused", "{record}");
    assert_eq!(
        record["answered_at"],
        Value::Null,
        "the refusal is not answered: {record}"
    );
    let why = record["legs"][0]["result"].as_str().unwrap();
    assert!(
        why.contains("alice may call local numbers") && why.contains("is mobile"),
        "{record}"
    );

    let token = server.login("alice", PASSWORD).await;
    let raise = server
        .request_as(&token, reqwest::Method::PATCH, "/employees/alice")
        .json(&serde_json::json!({ "calling_rights": "international" }))
        .send()
        .await
        .unwrap();
    assert_eq!(raise.status(), 403, "a user cannot raise his own right");
    let mine = serde_json::json!({ "calling_rights": "mobile" });
    let (status, body) = server.send(reqwest::Method::PATCH, "/employees/alice", mine).await;
    assert_eq!(
        (status, &body["calling_rights"]),
        (200, &serde_json::json!("mobile")),
        "{body}"
    );
    let answers = carrier.expect(&server, Phone::Answers { after_ms: 300 });
    phones_listening().await;
    let run = alice_calls(&server, MOBILE, PASSWORD, Then::HangsUpAfter(500)).await;
    assert!(run.success, "alice: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "carrier", answers).await;
}
