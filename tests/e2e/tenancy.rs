//! Many companies on one exchange: the operator makes a second company with its own SIP domain;
//! both have an employee `alice` at extension 101. Real sipp phones register to each domain,
//! trunk calls to each company's number ring that company's 101, an internal call cannot cross,
//! the other company's token finds nothing on any route of the OpenAPI document, plans limit
//! what a company may add and do at once, and a suspended company is refused everywhere.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RtpPeer, Server};
use crate::hunt::{Desk, finished, phones_listening};
use crate::registrar::{PASSWORD, add_employee};
use crate::sipp::{self, Phone};

pub(crate) const BETA: &str = "beta.example";
/// Beta's employees' password (not the home company's: a login of one does not open the other).
pub(crate) const BETA_PASSWORD: &str = "beta-secret-9";
const HOME_NUMBER: &str = "+15550100200";
const BETA_NUMBER: &str = "+15550100300";

/// The operator creates Beta (alice, 101, its admin); Beta's id and its admin's token.
pub(crate) async fn beta(server: &Server, plan: Value) -> (i64, String) {
    let (status, body) = server
        .send(
            Method::POST,
            "/companies",
            json!({
                "name": "Beta Ltd",
                "sip_domain": BETA,
                "plan": plan,
                "admin": { "login": "alice", "password": BETA_PASSWORD, "extension": "101", "name": "Alice of Beta" }
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["company"]["sip_domain"], BETA);
    assert_eq!(body["admin"]["role"], "admin");
    let id = body["company"]["id"].as_i64().unwrap();
    (id, server.login(&format!("alice@{BETA}"), BETA_PASSWORD).await)
}

async fn send_as(server: &Server, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let r = server.request_as(token, method, path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A phone of `login` registering to `domain` with `password`, expecting `status` after the
/// challenge; the desk (for its calls) when it registered.
async fn register_at(server: &Server, login: &'static str, domain: &str, password: &str, status: u16) -> Desk {
    let desk = Desk::unregistered(login).await;
    let port = desk.port.to_string();
    let scenario = sipp::at_domain(&sipp::phone_registers(status), domain);
    let args = ["-au", login, "-ap", password, "-p", &port, "-auth_uri", domain];
    let run = sipp::run(server.sip, scenario, login, &args).await;
    assert!(
        run.success,
        "{login}@{domain} registers ({status}): {}\n{}",
        run.output,
        server.log()
    );
    desk
}

/// Trunk calls to each company's number ring that company's alice at 101, each phone
/// registered to its own domain; a phone with the home alice's password cannot register as
/// Beta's alice; Beta's bob dialling 101 reaches Beta's alice, never the home one; each admin
/// sees only his company's calls and phones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_company_rings_its_own_101_and_internal_calls_cannot_cross() {
    let server = Server::start().await;
    let (_, beta_token) = beta(&server, json!({})).await;
    let home_alice = Desk::register(&server, "alice", "101").await;
    let beta_alice = register_at(&server, "alice", BETA, BETA_PASSWORD, 200).await;
    // The home alice's password is not Beta's alice's; an unknown login gets the same answer.
    register_at(&server, "alice", BETA, PASSWORD, 403).await;
    register_at(&server, "nobody", BETA, PASSWORD, 403).await;

    server
        .assign(HOME_NUMBER, "hunt", json!({ "members": ["alice"] }))
        .await;
    let (status, body) = send_as(
        &server,
        &beta_token,
        Method::PUT,
        &format!("/numbers/{BETA_NUMBER}"),
        json!({ "flow": "hunt", "settings": { "members": ["alice"] } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Beta cannot take the home company's number.
    let (status, body) = send_as(
        &server,
        &beta_token,
        Method::PUT,
        &format!("/numbers/{HOME_NUMBER}"),
        json!({ "flow": "hunt", "settings": { "members": ["alice"] } }),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    let invites = |desk: &Desk| desk.events().iter().filter(|e| e.name == "INVITE").count();
    for (number, rings, silent) in [
        (BETA_NUMBER, &beta_alice, &home_alice),
        (HOME_NUMBER, &home_alice, &beta_alice),
    ] {
        let silent_before = invites(silent);
        let phone = rings.expect(
            &server,
            Phone::AnswersThenHangsUp {
                after_ms: 200,
                hold_ms: 500,
            },
        );
        phones_listening().await;
        let caller_rtp = RtpPeer::bind().await;
        let caller = sipp::call(server.sip, sipp::caller_waits_for_bye(), number, caller_rtp.port()).await;
        assert!(caller.success, "{number}: {}\n{}", caller.output, server.log());
        finished(&server, number, phone).await;
        assert_eq!(invites(silent), silent_before, "{number} rang the other company's 101");
        assert!(invites(rings) >= 1, "{number} rang its company's 101");
    }

    // Beta's bob calls 101 from his desk phone: Beta's alice rings.
    let (status, body) = send_as(
        &server,
        &beta_token,
        Method::POST,
        "/employees",
        json!({ "login": "bob", "password": BETA_PASSWORD, "extension": "102" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let phone = beta_alice.expect(
        &server,
        Phone::AnswersThenHangsUp {
            after_ms: 200,
            hold_ms: 500,
        },
    );
    phones_listening().await;
    let home_before = home_alice.events().len();
    let bob_rtp = RtpPeer::bind().await;
    let call = sipp::run(
        server.sip,
        sipp::at_domain(&sipp::employee_calls("bob", sipp::Then::WaitsForBye), BETA),
        "101",
        &[
            "-au",
            "bob",
            "-ap",
            BETA_PASSWORD,
            "-auth_uri",
            BETA,
            "-key",
            "rtp_port",
            &bob_rtp.port().to_string(),
        ],
    )
    .await;
    assert!(call.success, "bob calls 101: {}\n{}", call.output, server.log());
    finished(&server, "Beta's alice", phone).await;
    assert_eq!(home_alice.events().len(), home_before, "the home 101 did not ring");

    // Records and phones: each admin his own.
    // The record of bob's call is written just after its BYE.
    let mut beta_calls = server.get_json_as(&beta_token, "/calls").await;
    for _ in 0..50 {
        if beta_calls["calls"].as_array().is_some_and(|c| c.len() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        beta_calls = server.get_json_as(&beta_token, "/calls").await;
    }
    let dialled: Vec<&str> = beta_calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dialled"].as_str().unwrap())
        .collect();
    assert!(
        dialled.contains(&BETA_NUMBER) && dialled.contains(&"101"),
        "{beta_calls}"
    );
    assert!(!dialled.contains(&HOME_NUMBER), "{beta_calls}");
    let home_calls = server.get_json("/calls").await;
    assert!(!home_calls.to_string().contains(BETA_NUMBER), "{home_calls}");
    let beta_phones = server.get_json_as(&beta_token, "/registrations").await;
    let home_phones = server.get_json("/registrations").await;
    let contacts = |v: &Value| v["registrations"].as_array().unwrap().len();
    assert!(contacts(&beta_phones) >= 1 && contacts(&home_phones) >= 1);
    let ports = |v: &Value| v.to_string();
    assert!(
        !ports(&beta_phones).contains(&format!(":{}", home_alice.port)),
        "{beta_phones}"
    );
}

/// Beta's admin token against every route of the OpenAPI document, with the home company's
/// resources in every path parameter: never a 2xx, never home data; the home company's
/// resources are all still there afterwards. The operator's routes are the operator's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_token_finds_nothing_on_any_route() {
    let server = Server::start().await;
    let (beta_id, beta_token) = beta(&server, json!({})).await;
    // The home company's resources, each with a name Beta does not have.
    add_employee(&server, "carol", "102").await;
    server
        .assign(HOME_NUMBER, "hunt", json!({ "members": ["carol"] }))
        .await;
    let night = json!({ "name": "Night", "weekly": { "mon": [["20:00", "23:00"]] } });
    assert_eq!(server.send(Method::PUT, "/schedules/night", night).await.0, 200);
    let (status, contact) = server
        .send(
            Method::POST,
            "/contacts",
            json!({ "phone": "+15550100777", "name": "Home Client" }),
        )
        .await;
    assert_eq!(status, 201, "{contact}");
    let contact = contact["id"].as_i64().unwrap();
    let (status, callback) = server
        .send(
            Method::POST,
            "/callbacks",
            json!({ "phone": "+15550100777", "employee": "carol", "reason": "home-only" }),
        )
        .await;
    assert_eq!(status, 201, "{callback}");
    let callback = callback["id"].as_i64().unwrap();
    let department = json!({ "name": "Home Desk", "extension": "650", "members": ["carol"] });
    assert_eq!(
        server.send(Method::PUT, "/departments/homedesk", department).await.0,
        200
    );
    let (status, token) = server
        .send(Method::POST, "/tokens", json!({ "label": "home-ci" }))
        .await;
    assert_eq!(status, 201, "{token}");
    let token_id = server.get_json("/tokens").await["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A stranger's call to a number nobody has is the home company's record.
    const NOBODYS: &str = "+15550100888";
    let caller = sipp::call(
        server.sip,
        sipp::caller_refused(404),
        NOBODYS,
        RtpPeer::bind().await.port(),
    )
    .await;
    assert!(caller.success, "{}", caller.output);
    let call_id = server.call_record(NOBODYS).await["id"].as_str().unwrap().to_owned();

    // What each path parameter names in the home company.
    let home_id = |path: &str| -> String {
        let p = path.trim_start_matches('/');
        match p.split('/').next().unwrap() {
            "employees" => "carol".into(),
            "numbers" => HOME_NUMBER.into(),
            "schedules" => "night".into(),
            "departments" => "homedesk".into(),
            "contacts" => contact.to_string(),
            "callbacks" => callback.to_string(),
            "tokens" => token_id.clone(),
            "calls" => call_id.clone(),
            "recordings" => "no-such-recording".into(),
            "flows" => "hunt".into(),
            "companies" => "1".into(),
            other => panic!("no home resource for a path under /{other}"),
        }
    };
    let markers = [
        "carol",
        "homedesk",
        "Home Client",
        "home-only",
        "home-ci",
        HOME_NUMBER,
        "+15550100777",
    ];
    let document = server.get_json("/openapi.json").await;
    let mut tried = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if operation["security"] == json!([{}]) {
                continue; // public: /healthz, /metrics, /login
            }
            let concrete = path
                .split('/')
                .map(|segment| match segment.starts_with('{') {
                    true => home_id(path),
                    false => segment.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let has_param = concrete != *path;
            if !has_param && method != Method::GET {
                continue; // creating Beta's own things is Beta's right
            }
            tried += 1;
            let r = server
                .request_as(&beta_token, method.clone(), &concrete)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            if path.starts_with("/companies") {
                assert_eq!(status, 403, "{method} {concrete}: the operator's: {body}");
                continue;
            }
            // A PUT names a key in the caller's own company (Beta may make its own "night"
            // schedule); what it answers echoes that key.
            let own_key = method == Method::PUT;
            if has_param {
                // The one exception: a flow reference names a built-in, everyone's (to read and
                // to try in the simulator).
                let builtin = path.starts_with("/flows/") && (method == Method::GET || path.ends_with("/simulate"));
                let refused = (400..500).contains(&status) && status != 401;
                assert!(
                    builtin || refused || own_key && status == 200,
                    "{method} {concrete} with Beta's token: {status} {body}"
                );
                if !builtin && method == Method::GET {
                    assert_eq!(status, 404, "{method} {concrete}: another company's is a 404: {body}");
                }
            }
            // The path's own key, echoed in a PUT's answer or a 404's detail, is no one's data.
            let echoes = own_key || status == 404;
            let echoed = |m: &str| concrete.split('/').any(|segment| segment == m);
            for marker in markers.iter().filter(|m| !(echoes && echoed(m))) {
                assert!(
                    !body.contains(marker),
                    "{method} {concrete} with Beta's token shows {marker}: {body}"
                );
            }
        }
    }
    assert!(tried > 30, "the document has the routes: {tried}");
    // The home company still has everything.
    for path in [
        "/employees/carol".to_string(),
        "/schedules/night".into(),
        "/departments/homedesk".into(),
        format!("/contacts/{contact}"),
        format!("/callbacks/{callback}"),
        format!("/calls/{call_id}"),
    ] {
        let r = server.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} after Beta tried it");
    }
    assert!(server.get_json("/tokens").await.to_string().contains("home-ci"));
    let numbers = server.get_json("/numbers").await;
    assert!(
        numbers.to_string().contains("carol"),
        "the home number's settings kept: {numbers}"
    );
    // The operator sees both; Beta's own token is Beta's.
    let companies = server.get_json("/companies").await;
    assert_eq!(companies["companies"].as_array().unwrap().len(), 2, "{companies}");
    let shown = server.get_json(&format!("/companies/{beta_id}")).await;
    assert_eq!(shown["usage"]["employees"], 1, "{shown}");
}

/// A plan's limits, each a clear answer naming it; a suspended company's token, phones and
/// callers are refused with a reason, its data kept; lifting the suspension brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_limit_and_suspension_refuses_with_a_reason() {
    let server = Server::start().await;
    let plan = json!({ "max_employees": 2, "max_numbers": 1, "max_calls": 0 });
    let (beta_id, beta_token) = beta(&server, plan).await;
    let employee =
        |login: &str, extension: &str| json!({ "login": login, "password": BETA_PASSWORD, "extension": extension });
    assert_eq!(
        send_as(&server, &beta_token, Method::POST, "/employees", employee("bob", "102"))
            .await
            .0,
        201
    );
    let (status, body) = send_as(&server, &beta_token, Method::POST, "/employees", employee("eve", "103")).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_employees"), "{body}");
    let assign = |n: &str| {
        (
            format!("/numbers/{n}"),
            json!({ "flow": "hunt", "settings": { "members": ["alice"] } }),
        )
    };
    let (path, body) = assign(BETA_NUMBER);
    assert_eq!(send_as(&server, &beta_token, Method::PUT, &path, body).await.0, 200);
    let (path, body) = assign("+15550100301");
    let (status, body) = send_as(&server, &beta_token, Method::PUT, &path, body).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_numbers"), "{body}");

    // No calls at once allowed: a carrier's call gets 503 with Retry-After.
    let rtp = RtpPeer::bind().await;
    let refused = sipp::call(server.sip, sipp::caller_refused(503), BETA_NUMBER, rtp.port()).await;
    assert!(
        refused.success,
        "503 at the plan's calls: {}\n{}",
        refused.output,
        server.log()
    );
    let calls = server.metrics().await;
    assert!(calls.contains("switchboard_calls_over_plan_total"), "{calls}");

    // Suspended: the token, the phones and the callers are refused.
    let suspend = json!({ "suspended": true, "suspended_reason": "unpaid invoice" });
    let (status, body) = server
        .send(Method::PATCH, &format!("/companies/{beta_id}"), suspend)
        .await;
    assert_eq!(status, 200, "{body}");
    let r = server
        .request_as(&beta_token, Method::GET, "/employees")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("suspended"));
    let scenario = sipp::at_domain(&sipp::phone_register_refused(403), BETA);
    let run = sipp::run(server.sip, scenario, "alice", &[]).await;
    assert!(run.success, "a suspended company's phone: {}", run.output);
    let refused = sipp::call(server.sip, sipp::caller_refused(480), BETA_NUMBER, rtp.port()).await;
    assert!(
        refused.success,
        "480 while suspended: {}\n{}",
        refused.output,
        server.log()
    );
    let home = server
        .send(Method::PATCH, "/companies/1", json!({ "suspended": true }))
        .await;
    assert_eq!(home.0, 409, "the operator's own company: {}", home.1);

    // Lifted: everything is as it was.
    let lift = json!({ "suspended": false });
    assert_eq!(
        server
            .send(Method::PATCH, &format!("/companies/{beta_id}"), lift)
            .await
            .0,
        200
    );
    let employees = server.get_json_as(&beta_token, "/employees").await;
    assert_eq!(employees["employees"].as_array().unwrap().len(), 2, "{employees}");
    register_at(&server, "alice", BETA, BETA_PASSWORD, 200).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The operator's routes: a company without a domain gets `<slug>.<operator domain>`; a domain
/// is one company's; a company admin is not the operator; a login names its company's domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_makes_companies_with_test_domains() {
    let server = Server::start_flagged(&["--sip-domain", "pbx.example"]).await;
    let admin = json!({ "login": "boss", "password": BETA_PASSWORD });
    let (status, body) = server
        .send(
            Method::POST,
            "/companies",
            json!({ "name": "Gamma & Sons", "admin": admin }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["company"]["sip_domain"], "gamma-sons.pbx.example");
    assert_eq!(body["admin"]["extension"], "100");
    let again = json!({ "name": "Other", "sip_domain": "GAMMA-SONS.pbx.example", "admin": admin });
    let (status, body) = server.send(Method::POST, "/companies", again).await;
    assert_eq!(status, 409, "{body}");
    let bad = json!({ "name": "Other", "sip_domain": "10.0.0.1", "admin": admin });
    let (status, body) = server.send(Method::POST, "/companies", bad).await;
    assert_eq!((status, body["detail"].is_string()), (422, true), "{body}");
    // A refused admin leaves no company behind.
    let weak = json!({ "name": "Delta", "admin": { "login": "boss", "password": "short" } });
    assert_eq!(server.send(Method::POST, "/companies", weak).await.0, 422);
    assert_eq!(
        server.get_json("/companies").await["companies"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let token = server.login("boss@gamma-sons.pbx.example", BETA_PASSWORD).await;
    let r = server
        .request_as(&token, Method::GET, "/companies")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The same login in the home company (none) or an unknown domain: 401, same as a wrong password.
    for login in ["boss", "boss@nowhere.example"] {
        let r = server
            .request(Method::POST, "/login")
            .json(&json!({ "login": login, "password": BETA_PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{login}");
    }
    // Gamma starts as a fresh install: the menu's departments and office hours.
    let departments = server.get_json_as(&token, "/departments").await;
    assert_eq!(departments["departments"].as_array().unwrap().len(), 2, "{departments}");
    let access = server.get_json_as(&token, "/employees/boss/access").await;
    assert_eq!(access["realm"], "gamma-sons.pbx.example", "{access}");
}

/// A company's calls out through the carrier — a flow ringing an employee's mobile — show its
/// main number (not the operator's `--outbound-caller-id`), and a number's own caller ID when
/// the admin gave it one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_companys_calls_out_show_its_main_number_or_the_numbers_own() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = [
        "--outbound-trunk",
        trunk.as_str(),
        "--outbound-caller-id",
        "+15550100001",
    ];
    let server = Server::start_flagged(&flags).await;
    let (_, beta_token) = beta(&server, json!({})).await;
    let main = json!({ "main_caller_id": "+15550100399" });
    assert_eq!(
        send_as(&server, &beta_token, Method::PATCH, "/company", main).await.0,
        200
    );
    let bob = json!({ "login": "bob", "password": BETA_PASSWORD, "extension": "102",
        "mobile": "+15550100555", "mobile_after_secs": 0 });
    let (status, body) = send_as(&server, &beta_token, Method::POST, "/employees", bob).await;
    assert_eq!(status, 201, "{body}");
    let number =
        |caller_id: Value| json!({ "flow": "hunt", "settings": { "members": ["bob"] }, "caller_id": caller_id });
    let path = format!("/numbers/{BETA_NUMBER}");
    for (caller_id, shown) in [(Value::Null, "+15550100399"), (json!(BETA_NUMBER), BETA_NUMBER)] {
        let (status, body) = send_as(&server, &beta_token, Method::PUT, &path, number(caller_id)).await;
        assert_eq!(status, 200, "{body}");
        let mobile = carrier.expect(
            &server,
            Phone::AnswersThenHangsUp {
                after_ms: 200,
                hold_ms: 300,
            },
        );
        phones_listening().await;
        let rtp = RtpPeer::bind().await;
        let caller = sipp::call(server.sip, sipp::caller_waits_for_bye(), BETA_NUMBER, rtp.port()).await;
        assert!(caller.success, "{}\n{}", caller.output, server.log());
        finished(&server, "bob's mobile", mobile).await;
        let seen = carrier.events().into_iter().rfind(|e| e.name == "CALLER").unwrap();
        assert_eq!(seen.details[0], shown, "the mobile saw");
    }
    let (status, body) = send_as(&server, &beta_token, Method::PUT, &path, number(json!("0800 123"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid caller_id")),
        "{body}"
    );
}

/// Both companies' flows put their callers into a room called "team": they are two rooms. A
/// home caller speaks; the Beta caller hears nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_companies_rooms_of_one_name_are_two_rooms() {
    let server = Server::start().await;
    let (_, beta_token) = beta(&server, json!({})).await;
    let team = json!({ "flow": "conference", "settings": { "room": "team" } });
    server
        .assign(HOME_NUMBER, "conference", json!({ "room": "team" }))
        .await;
    let path = format!("/numbers/{BETA_NUMBER}");
    let (status, body) = send_as(&server, &beta_token, Method::PUT, &path, team).await;
    assert_eq!(status, 200, "{body}");
    let (home_rtp, beta_rtp) = (RtpPeer::bind().await, RtpPeer::bind().await);
    let home = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(5000),
        HOME_NUMBER,
        home_rtp.port(),
    ));
    let beta = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(5000),
        BETA_NUMBER,
        beta_rtp.port(),
    ));
    let to_home = home_rtp.first_packet_from(Duration::from_secs(10)).await;
    beta_rtp.first_packet_from(Duration::from_secs(10)).await;
    // After the beeps, the home caller speaks for 2 s.
    tokio::time::sleep(Duration::from_millis(600)).await;
    crate::media::talk(&home_rtp, to_home, 700.0).await;
    for caller in [home, beta] {
        let run = caller.await.unwrap();
        assert!(run.success, "sipp: {}\nserver log:\n{}", run.output, server.log());
    }
    // Skip the beep (1 kHz, 0.4 s).
    let heard = crate::media::pcma_heard(&beta_rtp);
    let loudest = heard
        .get(3200..)
        .unwrap_or_default()
        .iter()
        .map(|s| s.unsigned_abs())
        .max();
    assert!(
        loudest.unwrap_or(0) < 200,
        "Beta's caller heard the home company's room: {loudest:?}"
    );
}
