//! No caller is lost: a department reached from the voice menu rings its members for its own
//! ring time by its strategy (three members, steps of a second), skips members who are on a
//! call, in do-not-disturb or logged out, and when nobody answers the caller goes on to the
//! department's overflow — another department, or by default voicemail with a callback request.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::registrar::PASSWORD;
use crate::sipp::{self, Phone, Then};

/// The default menu: 1 for sales, 2 for support.
const MENU: &str = "+15550100400";

async fn put_department(server: &Server, id: &str, body: Value) {
    let (status, body) = server.send(Method::PUT, &format!("/departments/{id}"), body).await;
    assert_eq!(status, 200, "{body}");
}

/// Sales with `members`, hunting by `strategy` with 1 s steps, ringing 5 s in all.
async fn sales(server: &Server, strategy: &str, members: &[&str], overflow: Option<Value>) {
    let mut body = json!({ "name": "Sales", "extension": "600", "strategy": strategy, "step_secs": 1,
        "timeout_secs": 5, "members": members });
    if let Some(overflow) = overflow {
        body["overflow"] = overflow;
    }
    put_department(server, "sales", body).await;
}

/// A caller who presses 1 half a second into the menu and stays until the exchange hangs up,
/// or hangs up himself `hangs_up_after` ms after the digit.
async fn caller_presses_1(server: &Server, hangs_up_after: Option<u64>) {
    let caller_rtp = RtpPeer::bind().await;
    let scenario = sipp::caller_sends_info_digit(500, '1', hangs_up_after);
    let run = sipp::call(server.sip, scenario, MENU, caller_rtp.port()).await;
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
}

fn rings(completed_elsewhere: bool) -> Phone {
    Phone::RingsUntilCancelled { completed_elsewhere }
}

const ANSWERS: Phone = Phone::AnswersThenHangsUp {
    after_ms: 300,
    hold_ms: 500,
};

/// Three members from the menu: alice and bob ring, carol (third) answers. When each phone
/// started ringing, in seconds after alice's.
async fn three_members_from_the_menu(strategy: &str) -> [f64; 3] {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let bob = Desk::register(&server, "bob", "102").await;
    let carol = Desk::register(&server, "carol", "103").await;
    sales(&server, strategy, &["alice", "bob", "carol"], None).await;
    server.assign(MENU, "ivr", json!({})).await;
    // In turn, a member's phone stops when his turn ends; otherwise when carol answers.
    let elsewhere = strategy != "in_turn";
    let phones = [
        alice.expect(&server, rings(elsewhere)),
        bob.expect(&server, rings(elsewhere)),
        carol.expect(&server, ANSWERS),
    ];
    phones_listening().await;
    caller_presses_1(&server, None).await;
    for (who, phone) in ["alice", "bob", "carol"].into_iter().zip(phones) {
        finished(&server, who, phone).await;
    }
    let record = server.call_record(MENU).await;
    assert_eq!(record["answered_by"], "carol", "{record}");
    assert_eq!(record["result"], "answered", "{record}");
    let start = alice.event("INVITE").unwrap().at;
    [&alice, &bob, &carol].map(|desk| desk.event("INVITE").unwrap().at - start)
}

fn near(at: f64, expected: f64) -> bool {
    (at - expected).abs() < 0.6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_turn_from_the_menu_rings_the_third_member_two_steps_in() {
    let [_, bob, carol] = three_members_from_the_menu("in_turn").await;
    assert!(
        near(bob, 1.0) && near(carol, 2.0),
        "bob at {bob:.2} s, carol at {carol:.2} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increasingly_from_the_menu_adds_a_member_each_step() {
    let [_, bob, carol] = three_members_from_the_menu("increasingly").await;
    assert!(
        near(bob, 1.0) && near(carol, 2.0),
        "bob at {bob:.2} s, carol at {carol:.2} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_all_from_the_menu_rings_the_three_at_once() {
    let [_, bob, carol] = three_members_from_the_menu("ring_all").await;
    assert!(
        near(bob, 0.0) && near(carol, 0.0),
        "bob at {bob:.2} s, carol at {carol:.2} s"
    );
}

/// Nobody of three answers within the department's 5 s: the caller is not hung up on but
/// leaves a message, and a callback request is filed for him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_answering_the_department_ends_in_voicemail_and_a_callback_request() {
    let server = Server::start().await;
    let desks = [
        Desk::register(&server, "alice", "101").await,
        Desk::register(&server, "bob", "102").await,
        Desk::register(&server, "carol", "103").await,
    ];
    sales(&server, "in_turn", &["alice", "bob", "carol"], None).await;
    server.assign(MENU, "ivr", json!({})).await;
    let phones = desks.each_ref().map(|desk| desk.expect(&server, rings(false)));
    phones_listening().await;
    // Rings 3 s (a turn each), then "all busy", the voicemail greeting and the beep: the caller
    // speaks until 20 s after pressing 1, and hangs up.
    caller_presses_1(&server, Some(20_000)).await;
    for phone in phones {
        finished(&server, "a member", phone).await;
    }
    let record = server.call_record(MENU).await;
    let events = trace(&record);
    assert!(
        events.iter().any(|e| e.starts_with("record ")),
        "the caller reached voicemail: {events:#?}"
    );
    // The caller said nothing after the beep: a missed call that ended in sales, after a wait
    // of the menu, the ringing and the prompts — with a callback request.
    assert_eq!(record["result"], "missed", "{record}");
    assert_eq!(record["offered_to"], json!(["department:sales"]), "{record}");
    assert_eq!(record["ended_in"], "department:sales", "{record}");
    assert!(record["wait_ms"].as_i64().unwrap() > 3_000, "{record}");
    let listed = server.get_json("/calls?result=missed").await;
    assert_eq!(listed["calls"][0]["id"], record["id"], "{listed}");
    let none = server.get_json("/calls?result=answered").await;
    assert_eq!(none["calls"], json!([]), "{none}");
    let (status, _) = server.send(Method::GET, "/calls?result=lost", Value::Null).await;
    assert_eq!(status, 400);
    let callbacks = server
        .get_json_until("/callbacks", |b| {
            b["callbacks"].as_array().is_some_and(|c| !c.is_empty())
        })
        .await;
    assert_eq!(callbacks["callbacks"][0]["reason"], "voicemail", "{callbacks}");
}

/// A caller who gives up while sales rings is a missed call that ended in sales. The company's
/// missed-call hook (the built-in `notify` flow) then POSTs the call to a webhook on loopback and
/// files a callback request for the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_it_rings_is_a_missed_call() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    sales(&server, "ring_all", &["alice"], None).await;
    server.assign(MENU, "ivr", json!({})).await;
    let (webhook, posted) = webhook().await;
    let hook = json!({ "flow": "notify", "allowed_hosts": [webhook.to_string()],
        "settings": { "url": format!("http://{webhook}/missed?key=s3cret"), "request_callback": true } });
    let (status, body) = server.send(Method::PUT, "/missed-call-hook", hook).await;
    assert_eq!((status, &body["settings"]["url"]), (200, &json!("***")), "{body}");
    for (bad, field) in [
        (json!({ "flow": "no-such-flow" }), "flow"),
        (json!({ "flow": "notify", "settings": { "url": 5 } }), "settings"),
        (
            json!({ "flow": "notify", "allowed_hosts": ["https://x/y"] }),
            "allowed_hosts",
        ),
    ] {
        let (status, body) = server.send(Method::PUT, "/missed-call-hook", bad).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }

    let rings = alice.expect(&server, rings(false));
    phones_listening().await;
    caller_presses_1(&server, Some(1_500)).await;
    finished(&server, "alice", rings).await;
    let record = server.call_record(MENU).await;
    assert_eq!(record["result"], "missed", "{record}");
    assert_eq!(record["ended_in"], "department:sales", "{record}");
    let listed = server.get_json("/calls?result=missed").await;
    assert_eq!(listed["calls"][0]["id"], record["id"], "{listed}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while posted.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hook never called the webhook:\n{}",
            server.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (query, body) = posted.lock().unwrap()[0].clone();
    assert_eq!(query, "key=s3cret");
    assert_eq!(
        (&body["event"], &body["call"], &body["caller"], &body["dialled"]),
        (&json!("missed-call"), &record["id"], &record["caller"], &json!(MENU)),
        "{body}"
    );
    // Filed once the hook's run is over (just after its request).
    let filed = |callbacks: &Value| {
        let filed = callbacks["callbacks"].as_array().cloned().unwrap_or_default();
        filed
            .iter()
            .any(|c| c["phone"] == record["caller"] && c["reason"] == "missed-call")
    };
    let mut callbacks = server.get_json("/callbacks").await;
    while !filed(&callbacks) {
        assert!(std::time::Instant::now() < deadline, "{callbacks}\n{}", server.log());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        callbacks = server.get_json("/callbacks").await;
    }
    assert!(
        !server.log().contains("s3cret"),
        "the webhook's key stays out of the log"
    );
}

/// A webhook on loopback: what was POSTed to it (query, JSON body).
async fn webhook() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    type Posted = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    async fn take(
        axum::extract::State(posted): axum::extract::State<Posted>,
        uri: axum::http::Uri,
        axum::Json(body): axum::Json<Value>,
    ) -> &'static str {
        posted
            .lock()
            .unwrap()
            .push((uri.query().unwrap_or("").to_owned(), body));
        "ok"
    }
    let posted = Posted::default();
    let app = axum::Router::new()
        .route("/missed", axum::routing::post(take))
        .with_state(posted.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, posted)
}

/// Sales overflows to support: nobody in sales answers within its ring time, support's member
/// does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_department_overflows_where_its_admin_said() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let dave = Desk::register(&server, "dave", "104").await;
    let support = json!({ "name": "Support", "extension": "601", "members": ["dave"], "timeout_secs": 10 });
    put_department(&server, "support", support).await;
    sales(
        &server,
        "ring_all",
        &["alice"],
        Some(json!({ "department": "support" })),
    )
    .await;
    let shown = server.get_json("/departments/sales").await;
    assert_eq!(shown["overflow"], json!({ "department": "support" }), "{shown}");
    server.assign(MENU, "ivr", json!({})).await;
    let phones = [alice.expect(&server, rings(false)), dave.expect(&server, ANSWERS)];
    phones_listening().await;
    caller_presses_1(&server, None).await;
    for phone in phones {
        finished(&server, "a member", phone).await;
    }
    let after = dave.event("INVITE").unwrap().at - alice.event("INVITE").unwrap().at;
    assert!((4.5..6.5).contains(&after), "support rang {after:.2} s after sales");
    let record = server.call_record(MENU).await;
    assert_eq!(record["answered_by"], "dave", "{record}");
    assert_eq!(
        record["offered_to"],
        json!(["department:sales", "department:support"]),
        "{record}"
    );

    // The week's report: sales was offered the call and lost it to its overflow, support took it.
    let report = server.get_json("/reports/calls?by=department").await;
    let row = |key: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
    };
    let sales = row("sales").unwrap();
    assert_eq!(
        (sales["offered"].as_i64(), sales["answered_elsewhere"].as_i64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let support = row("support").unwrap();
    assert_eq!(
        (support["offered"].as_i64(), support["answered"].as_i64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let csv = server
        .request(Method::GET, "/reports/calls?by=employee&format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("key,offered,answered,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("alice,1,0,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("dave,1,1,")), "{csv}");
    let (status, body) = server.send(Method::GET, "/reports/calls?by=team", Value::Null).await;
    assert_eq!(status, 400, "{body}");

    // An overflow must be a route naming what exists.
    let bad = json!({ "name": "Sales", "extension": "600", "overflow": { "department": "nowhere" } });
    let (status, body) = server.send(Method::PUT, "/departments/sales", bad).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid overflow")),
        "{body}"
    );
    let bad = json!({ "name": "Sales", "extension": "600", "overflow": { "teleport": "x" } });
    assert_eq!(server.send(Method::PUT, "/departments/sales", bad).await.0, 422);
}

/// alice is on a call, bob has set do-not-disturb from his phone (*78), carol logged herself out
/// of sales: in turn with 2 s steps, dave — fourth — rings at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_dnd_and_logged_out_members_are_skipped_at_once() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    let _bob = Desk::register(&server, "bob", "102").await;
    let carol = Desk::register(&server, "carol", "103").await;
    let dave = Desk::register(&server, "dave", "104").await;
    let members = json!({ "name": "Sales", "extension": "600", "strategy": "in_turn", "step_secs": 2,
        "timeout_secs": 20, "members": ["alice", "bob", "carol", "dave"] });
    put_department(&server, "sales", members).await;

    // bob dials *78 from his desk phone: a beep, and he is in do-not-disturb.
    let run = sipp::run(
        server.sip,
        sipp::employee_calls("bob", Then::HangsUpAfter(100)),
        "*78",
        &["-au", "bob", "-ap", PASSWORD, "-key", "rtp_port", "9"],
    )
    .await;
    assert!(run.success, "bob: {}\nserver log:\n{}", run.output, server.log());
    assert_eq!(server.get_json("/employees/bob").await["dnd"], true);
    // carol logs herself out of sales with her own token.
    let (status, body) = server
        .send(
            Method::PATCH,
            "/employees/carol",
            json!({ "password": "carol-horse-1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = server.login("carol", "carol-horse-1").await;
    let r = server
        .request_as(&token, Method::PUT, "/employees/carol/departments/sales")
        .json(&json!({ "logged_in": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = server
        .request_as(&token, Method::PUT, "/employees/dave/departments/sales")
        .json(&json!({ "logged_in": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only herself");
    assert_eq!(
        server.get_json("/departments/sales").await["logged_out"],
        json!(["carol"])
    );

    // alice is on a call: her colleague's number rings her and she answers.
    server
        .assign("+15550100101", "employee", json!({ "employee": "alice" }))
        .await;
    let alice_talks = alice.expect(&server, Phone::Answers { after_ms: 100 });
    phones_listening().await;
    let first_rtp = RtpPeer::bind().await;
    let first = tokio::spawn({
        let sip = server.sip;
        let port = first_rtp.port();
        async move { sipp::call(sip, sipp::caller_hangs_up(6_000), "+15550100101", port).await }
    });
    alice.wait_for("INVITE", std::time::Duration::from_secs(10)).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;

    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    server.assign(MENU, "ivr", json!({})).await;
    let dave_answers = dave.expect(&server, ANSWERS);
    phones_listening().await;
    caller_presses_1(&server, None).await;
    finished(&server, "dave", dave_answers).await;
    assert!(first.await.unwrap().success, "alice's caller");
    finished(&server, "alice", alice_talks).await;
    // The menu's greeting starts, the digit comes at 0.5 s: dave rings within about a second,
    // not after three 2-s turns.
    let after = dave.event("INVITE").unwrap().at - started;
    assert!(after < 2.5, "dave rang {after:.2} s after the call started");
    assert!(carol.event("INVITE").is_none(), "carol is logged out");
    let record = server.call_record(MENU).await;
    assert_eq!(record["answered_by"], "dave", "{record}");

    // *79 and *61 undo it.
    for code in ["*79", "*61"] {
        let login = if code == "*79" { "bob" } else { "carol" };
        let run = sipp::run(
            server.sip,
            sipp::employee_calls(login, Then::HangsUpAfter(100)),
            code,
            &[
                "-au",
                login,
                "-ap",
                if login == "bob" { PASSWORD } else { "carol-horse-1" },
                "-key",
                "rtp_port",
                "9",
            ],
        )
        .await;
        assert!(run.success, "{login} dials {code}: {}", run.output);
    }
    assert_eq!(server.get_json("/employees/bob").await["dnd"], false);
    assert_eq!(server.get_json("/departments/sales").await["logged_out"], json!([]));
}
