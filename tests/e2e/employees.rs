//! Employees over the API (role, e-mail, mobile; edit, delete) and "mobile after N seconds".

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RtpPeer, Server, trace};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone};

/// The desk phone rings first; two seconds later the employee's mobile rings too (through the
/// carrier); the mobile answers and the desk phone hears the call was completed elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mobile_rings_some_seconds_after_the_desk_phone() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str()];
    let server = Server::start_flagged(&flags).await;
    let alice = Desk::register(&server, "alice", "101").await;
    let change = json!({ "mobile": "+15550100777", "mobile_after_secs": 2 });
    let (status, body) = server.send(Method::PATCH, "/employees/alice", change).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["mobile"].as_str(), body["mobile_after_secs"].as_i64()),
        (Some("+15550100777"), Some(2))
    );
    server
        .assign("+15550100500", "hunt", json!({ "members": ["alice"] }))
        .await;
    let after = desk_rings_then_mobile_answers(&server, &alice, &carrier, "+15550100500").await;
    assert!((1.5..3.0).contains(&after), "mobile after {after:.2} s");
    let events = trace(&server.call_record("+15550100500").await);
    assert!(
        events.iter().any(|e| e.contains("Answered") && e.contains("alice")),
        "{events:#?}"
    );
}

/// A department hunting in turn: its member's own "mobile after 1 s" rings his mobile a second
/// into his turn, and the mobile answers (the department reached through the ICM's fallback,
/// with no sources to ask).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_mobile_rings_by_his_own_rule_inside_a_department_hunt() {
    let carrier = Desk::unregistered("carrier").await;
    let trunk = carrier.addr().to_string();
    let flags = ["--outbound-trunk", trunk.as_str()];
    let server = Server::start_flagged(&flags).await;
    let alice = Desk::register(&server, "alice", "101").await;
    Desk::register(&server, "bob", "102").await;
    let change = json!({ "mobile": "+15550100777", "mobile_after_secs": 1 });
    assert_eq!(server.send(Method::PATCH, "/employees/alice", change).await.0, 200);
    let sales = json!({ "name": "Sales", "extension": "600", "members": ["alice", "bob"],
        "strategy": "in_turn", "step_secs": 4 });
    assert_eq!(server.send(Method::PUT, "/departments/sales", sales).await.0, 200);
    server
        .assign(
            "+15550100500",
            "icm",
            json!({ "sources": [], "fallback": { "department": "sales" } }),
        )
        .await;
    let after = desk_rings_then_mobile_answers(&server, &alice, &carrier, "+15550100500").await;
    assert!((0.6..2.0).contains(&after), "mobile after {after:.2} s");
    let record = server.call_record("+15550100500").await;
    assert_eq!(record["answered_by"], "alice", "her mobile answered: {record}");
}

/// A call to `number` rings the employee's desk phone (which rings on until cancelled as
/// completed elsewhere), then her mobile through the carrier, which answers; how many seconds
/// after the desk phone the mobile rang.
async fn desk_rings_then_mobile_answers(server: &Server, desk: &Desk, carrier: &Desk, number: &'static str) -> f64 {
    let rings = desk.expect(
        server,
        Phone::RingsUntilCancelled {
            completed_elsewhere: true,
        },
    );
    let answers = carrier.expect(
        server,
        Phone::AnswersThenHangsUp {
            after_ms: 300,
            hold_ms: 500,
        },
    );
    phones_listening().await;
    server.call_until_bye(number).await;
    finished(server, "desk phone", rings).await;
    finished(server, "mobile", answers).await;
    carrier.event("INVITE").unwrap().at - desk.event("INVITE").unwrap().at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employees_are_created_edited_and_removed() {
    let server = Server::start().await;
    let (status, body) = server
        .send(
            Method::POST,
            "/employees",
            json!({ "login": "alice", "password": "correct-horse", "extension": "101", "role": "admin",
                "email": "alice@example.com", "mobile": "+15550100777" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["role"].as_str(), body["mobile_after_secs"].is_null()),
        (Some("admin"), true)
    );
    assert!(
        body.get("password").is_none() && body.get("sip_ha1").is_none(),
        "{body}"
    );
    let bad = [
        (json!({ "role": "owner" }), "invalid role"),
        (json!({ "mobile": "0170 123" }), "invalid mobile"),
        (json!({ "email": "nobody" }), "invalid email"),
        (json!({ "mobile_after_secs": 900 }), "invalid mobile_after_secs"),
        (json!({ "extension": "600" }), "invalid extension"),
        (json!({ "password": "short" }), "invalid password"),
    ];
    for (change, error) in bad {
        let (status, body) = server.send(Method::PATCH, "/employees/alice", change.clone()).await;
        assert_eq!((status, body["error"].as_str()), (422, Some(error)), "{change}: {body}");
    }
    let (status, body) = server
        .send(
            Method::PATCH,
            "/employees/alice",
            json!({ "name": "Alice", "extension": "105" }),
        )
        .await;
    assert_eq!((status, body["extension"].as_str()), (200, Some("105")), "{body}");
    assert_eq!(server.get_json("/employees/alice").await["name"], "Alice");
    let (status, _) = server
        .send(Method::PATCH, "/employees/zed", json!({ "name": "Z" }))
        .await;
    assert_eq!(status, 404);
    let gone = server.request(Method::DELETE, "/employees/alice").send().await.unwrap();
    assert_eq!(gone.status(), 204);
    let again = server.request(Method::GET, "/employees/alice").send().await.unwrap();
    assert_eq!(again.status(), 404);
}

/// Employees log in with their password and get a token of their own: a `user` sees and edits
/// only himself (not his role or extension), an `admin` everything; no token is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn employees_log_in_and_users_reach_only_themselves() {
    let mut server = Server::start().await;
    for (login, extension, role) in [("alice", "101", "user"), ("bob", "102", "admin")] {
        let body = json!({ "login": login, "password": "correct-horse", "extension": extension, "role": role });
        let (status, body) = server.send(Method::POST, "/employees", body).await;
        assert_eq!(status, 201, "{body}");
    }
    // Logging in needs no token.
    let http = server.http.clone();
    let login = |login: &str, password: &str| {
        let request = reqwest::Client::new()
            .post(format!("{http}/login"))
            .json(&json!({ "login": login, "password": password }));
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = login("alice", "wrong-horse").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("wrong login or password"))
    );
    let (status, body) = login("zed", "correct-horse").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("wrong login or password"))
    );
    let (status, alice) = login("alice", "correct-horse").await;
    assert_eq!((status, alice["role"].as_str()), (201, Some("user")), "{alice}");
    let (_, bob) = login("bob", "correct-horse").await;

    server.use_token(alice["token"].as_str().unwrap());
    assert_eq!(server.get_json("/employees/alice").await["login"], "alice");
    // Her phone's access details: where to register and as whom (never a password).
    let access = server.get_json("/employees/alice/access").await;
    let sip = server.sip.to_string();
    assert_eq!(
        (
            access["server"].as_str(),
            access["username"].as_str(),
            access["extension"].as_str()
        ),
        (Some(sip.as_str()), Some("alice"), Some("101")),
        "{access}"
    );
    assert_eq!(access["sip_uri"], format!("sip:alice@{sip}"));
    assert!(access["text"].as_str().unwrap().contains(&sip), "{access}");
    assert!(!access.to_string().contains("correct-horse"), "{access}");
    let (status, body) = server
        .send(Method::PATCH, "/employees/alice", json!({ "mobile": "+15550100777" }))
        .await;
    assert_eq!((status, body["mobile"].as_str()), (200, Some("+15550100777")), "{body}");
    for (method, path, change) in [
        (Method::PATCH, "/employees/alice", json!({ "role": "admin" })),
        (Method::PATCH, "/employees/alice", json!({ "extension": "109" })),
        (Method::GET, "/employees/bob", json!({})),
        (Method::GET, "/employees/bob/access", json!({})),
        (Method::GET, "/employees", json!({})),
        (Method::GET, "/calls", json!({})),
        (Method::DELETE, "/employees/alice", json!({})),
    ] {
        let (status, body) = server.send(method.clone(), path, change).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    // Changing her own password needs the current one (a stolen token is not enough to take
    // the account over); a new password works at once (the phone's digest hash changes with
    // it) and ends every session the old one opened.
    let change = |current: Option<&str>| json!({ "password": "battery-staple", "current_password": current });
    let (status, body) = server
        .send(
            Method::PATCH,
            "/employees/alice",
            json!({ "password": "battery-staple" }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid current_password")),
        "{body}"
    );
    let (status, body) = server
        .send(Method::PATCH, "/employees/alice", change(Some("wrong-horse")))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = server
        .send(Method::PATCH, "/employees/alice", change(Some("correct-horse")))
        .await;
    assert_eq!(status, 200);
    let (status, body) = server.send(Method::GET, "/employees/alice", json!({})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("unknown or expired token")),
        "{body}"
    );
    assert_eq!(login("alice", "battery-staple").await.0, 201);

    server.use_token(bob["token"].as_str().unwrap());
    assert_eq!(
        server.get_json("/employees").await["employees"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, _) = server
        .send(Method::PATCH, "/employees/alice", json!({ "role": "admin" }))
        .await;
    assert_eq!(status, 200, "an admin employee changes roles");

    let anonymous = reqwest::Client::new()
        .get(format!("{}/employees", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Guessing is slowed down: after five wrong passwords for bob from this address, bob may not
    // log in from here for a minute, even with the right password — but alice still may (a
    // stranger's guesses lock out only the stranger's pair, never the address for everyone).
    for _ in 0..5 {
        assert_eq!(login("bob", "guess").await.0, 401);
    }
    let (status, body) = login("bob", "correct-horse").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(login("alice", "battery-staple").await.0, 201);
}

/// An admin hangs up a live call: both the caller and the employee get a BYE, and the record
/// says who ended it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_hangs_up_a_live_call() {
    let server = Server::start().await;
    let alice = Desk::register(&server, "alice", "101").await;
    server
        .assign("+15550100501", "hunt", json!({ "members": ["alice"] }))
        .await;
    let answers = alice.expect(&server, Phone::Answers { after_ms: 200 });
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_waits_for_bye(),
        "+15550100501",
        caller_rtp.port(),
    ));
    alice.wait_for("ANSWER", std::time::Duration::from_secs(10)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let live = server.get_json("/calls/live").await;
    let id = live["calls"][0]["id"].as_str().expect("the call is live").to_string();
    let (status, _) = server
        .send(Method::DELETE, &format!("/calls/live/{id}"), json!({}))
        .await;
    assert_eq!(status, 202);
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    finished(&server, "alice", answers).await;
    let record = server.call_record("+15550100501").await;
    assert_eq!(
        (record["id"].as_str(), record["outcome"].as_str()),
        (Some(id.as_str()), Some("hung-up-by-admin"))
    );
    let (status, _) = server
        .send(Method::DELETE, &format!("/calls/live/{id}"), json!({}))
        .await;
    assert_eq!(status, 404);
}

/// An employee created without a password sets his own through a one-time link: the link
/// works once and only for a while, a wrong one is counted like a wrong password, and an
/// employee cannot make links (an admin does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_without_a_password_sets_his_own_with_a_one_time_link() {
    let server = Server::start().await;
    let (status, dave) = server
        .send(
            Method::POST,
            "/employees",
            json!({ "login": "dave", "extension": "104" }),
        )
        .await;
    assert_eq!(status, 201, "{dave}");
    let link = dave["password_link"]["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/console/set-password/sb_", server.http)),
        "{link}"
    );
    assert_eq!(dave["password_link"]["mailed"], false, "mail is off: {dave}");
    let token = link.rsplit('/').next().unwrap().to_owned();
    let set = |token: &str, password: &str| json!({ "token": token, "password": password });
    // Till he sets one, no password opens his account.
    let (status, _) = server
        .send(Method::POST, "/login", json!({ "login": "dave", "password": "" }))
        .await;
    assert_eq!(status, 401);
    // Too short: refused, and the link still works.
    let (status, body) = server.send(Method::POST, "/set-password", set(&token, "short")).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("password")), "{body}");
    let (status, _) = server
        .send(Method::POST, "/set-password", set(&token, "daves-own-secret"))
        .await;
    assert_eq!(status, 204);
    let dave_token = server.login("dave", "daves-own-secret").await;
    // Once only.
    let (status, body) = server
        .send(Method::POST, "/set-password", set(&token, "somebody-else"))
        .await;
    assert_eq!(status, 404, "{body}");
    // He cannot make himself links; an admin can, and the earlier one stops working.
    let own = server
        .request_as(&dave_token, Method::POST, "/employees/dave/password-link")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 403);
    let (status, first) = server
        .send(Method::POST, "/employees/dave/password-link", json!(null))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = server
        .send(Method::POST, "/employees/dave/password-link", json!(null))
        .await;
    assert_eq!(status, 201, "{second}");
    let first = first["link"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (status, _) = server
        .send(Method::POST, "/set-password", set(&first, "a-new-secret"))
        .await;
    assert_eq!(status, 404, "a newer link ends the older");
    let (status, _) = server
        .send(Method::POST, "/employees/nobody/password-link", json!(null))
        .await;
    assert_eq!(status, 404);
    // Guessing links is throttled like guessing passwords.
    let mut statuses = Vec::new();
    for guess in 0..8 {
        let (status, _) = server
            .send(
                Method::POST,
                "/set-password",
                set(&format!("sb_{guess:048}"), "a-new-secret"),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.starts_with(&[404, 404]), "{statuses:?}");
}
