//! The HTTP API: auth, upload validation, assignment validation.

use serde_json::{Value, json};

use crate::harness::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refuses_bad_tokens_uploads_and_assignments_with_clear_errors() {
    let server = Server::start().await;
    let client = reqwest::Client::new();

    let health = client.get(format!("{}/healthz", server.http)).send().await.unwrap();
    assert_eq!(health.status(), 200);

    for token in [None, Some("wrong-token")] {
        let mut request = client.get(format!("{}/numbers", server.http));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }

    // Not WebAssembly; a core module; a component that is not a flow.
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let foreign_component = wat_component("(component (import \"acme:crm/lookup\" (func)))");
    for (what, bytes) in [
        ("garbage", b"hello, I am not wasm".to_vec()),
        ("core module", core_module),
        ("foreign component", foreign_component),
    ] {
        let r = server.upload("bad", bytes).await;
        assert_eq!(r.status(), 400, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid flow component", "{what}: {body}");
        assert!(body["detail"].as_str().unwrap().len() > 10, "{what}: {body}");
    }

    let put = |number: &str, body: Value| {
        server
            .request(reqwest::Method::PUT, &format!("/numbers/{number}"))
            .json(&body)
    };
    let cases = [
        ("5550100", json!({ "flow": "ivr" }), 422, "invalid number"),
        ("+15550100100", json!({ "flow": "no-such-flow" }), 422, "invalid flow"),
        (
            "+15550100100",
            json!({ "flow": "ivr", "timezone": "Mars/Olympus" }),
            422,
            "invalid timezone",
        ),
        (
            "+15550100100",
            json!({ "flow": "ivr", "settings": [1, 2] }),
            422,
            "invalid settings",
        ),
        (
            "+15550100100",
            json!({ "flow": "ivr", "colour": "blue" }),
            422,
            "invalid JSON body",
        ),
    ];
    for (number, body, status, error) in cases {
        let r = put(number, body.clone()).send().await.unwrap();
        assert_eq!(r.status(), status, "{number} {body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"], error, "{answer}");
    }
    let r = server
        .request(reqwest::Method::PUT, "/numbers/+15550100100")
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid JSON body");

    // A good assignment is listed.
    assert_eq!(
        put(
            "+15550100100",
            json!({ "flow": "ivr", "settings": { "timeout_ms": 4000 } })
        )
        .send()
        .await
        .unwrap()
        .status(),
        200
    );
    let numbers = server.get_json("/numbers").await;
    assert_eq!(numbers["numbers"][0]["number"], "+15550100100");
    assert_eq!(numbers["numbers"][0]["settings"]["timeout_ms"], 4000);
}

fn wat_component(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid WAT")
}

/// A fresh install prints a token once; it works, survives a restart with the data, and is not
/// printed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_token_is_printed_once_and_survives_a_restart() {
    let (mut server, printed) = Server::start_in(tempfile::tempdir().unwrap(), None).await;
    let token = printed
        .iter()
        .find_map(|l| l.strip_prefix("API token (shown once, keep it): "))
        .unwrap_or_else(|| panic!("no token in {printed:?}"))
        .to_string();
    server.use_token(&token);
    server.assign("+15550100300", "ivr", json!({})).await;

    let (mut again, printed) = Server::start_in(server.stop().await, None).await;
    assert!(!printed.iter().any(|l| l.contains("API token")), "{printed:?}");
    again.use_token(&token);
    let numbers = again.get_json("/numbers").await;
    assert_eq!(
        numbers["numbers"][0]["number"],
        "+15550100300",
        "{numbers}\nthe restarted exchange's log:\n{}",
        again.log()
    );
}

/// Stopped by SIGTERM (systemd, Docker) right after a call, the exchange exits cleanly and the
/// call's record, still queued for the database, is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_exchange_cleanly_and_keeps_the_last_calls_record() {
    let server = Server::start().await;
    let menu = json!({ "timeout_ms": 500, "default": { "hangup": "all-busy" } });
    server.assign("+15550100300", "ivr", menu).await;
    server.call_until_bye("+15550100300").await;
    let (status, dir) = server.terminate().await;
    assert!(status.success(), "exit status {status}");
    let (again, _) = Server::start_in(dir, Some(crate::harness::TOKEN)).await;
    let calls = again.get_json("/calls").await;
    assert_eq!(calls["calls"].as_array().map(Vec::len), Some(1), "{calls:#}");
    assert_eq!(calls["calls"][0]["dialled"], "+15550100300", "{calls:#}");
}

/// A flow version shows what it imports and its settings schema; settings that do not fit the
/// schema are refused naming the setting; a version goes when no number uses it, built-ins stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_show_imports_and_schema_refuse_unfit_settings_and_go_when_unused() {
    let server = Server::start().await;
    let voicemail = server.get_json("/flows/voicemail").await;
    assert_eq!(voicemail["name"], "voicemail");
    assert_eq!(voicemail["builtin"], true);
    let imports: Vec<&str> = voicemail["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.iter().any(|i| i.starts_with("switchboard:flow/call@")),
        "{imports:?}"
    );
    assert_eq!(voicemail["settings_schema"]["properties"]["max_secs"]["maximum"], 600);

    let put = |body: Value| {
        server
            .request(reqwest::Method::PUT, "/numbers/+15550100400")
            .json(&body)
    };
    for (settings, names) in [
        (json!({ "max_secs": 9000 }), "/max_secs"),
        (json!({ "greting": "hello" }), "greting"),
        (json!({ "thanks": 7 }), "/thanks"),
    ] {
        let r = put(json!({ "flow": "voicemail", "settings": settings }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{settings}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid settings", "{body}");
        assert!(body["detail"].as_str().unwrap().contains(names), "{settings}: {body}");
    }
    let fits = put(json!({ "flow": "voicemail", "settings": { "max_secs": 60, "thanks": null } }));
    assert_eq!(fits.send().await.unwrap().status(), 200);
    let ivr_default = json!({ "flow": "ivr", "settings": { "default": { "department": "sales", "employee": "x" } } });
    assert_eq!(
        put(ivr_default).send().await.unwrap().status(),
        422,
        "a route is one target"
    );
    // Settings naming a department or employee that does not exist are refused too.
    for (settings, names) in [
        (
            json!({ "options": { "1": { "department": "sails" } } }),
            "/options/1/department",
        ),
        (json!({ "default": { "employee": "nobody" } }), "/default/employee"),
        // ... and prompts that are neither built in, uploaded, nor spoken text.
        (json!({ "greeting": "ivr-greetnig" }), "/greeting"),
        (json!({ "default": { "hangup": "tts@-w:x" } }), "/default/hangup"),
    ] {
        let r = put(json!({ "flow": "ivr", "settings": settings }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{settings}");
        let body: Value = r.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(names), "{settings}: {body}");
    }
    let hunt = json!({ "flow": "hunt", "settings": { "members": ["ghost"] } });
    assert_eq!(put(hunt).send().await.unwrap().status(), 422, "members must exist");
    let spoken = json!({ "flow": "ivr", "settings": { "greeting": "tts:Welcome to Acme.", "invalid_prompt": "beep" } });
    assert_eq!(
        put(spoken).send().await.unwrap().status(),
        200,
        "spoken text and built-in prompts"
    );
    let support = json!({ "flow": "ivr", "settings": { "default": { "department": "support" } } });
    assert_eq!(
        put(support).send().await.unwrap().status(),
        200,
        "a fresh install has support"
    );

    // An uploaded flow without a schema takes any object; it cannot go while a number uses it.
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    let uploaded: Value = server.upload("misbehave", wasm).await.json().await.unwrap();
    let sha = uploaded["sha256"].as_str().unwrap().to_string();
    let detail = server.get_json(&format!("/flows/{sha}")).await;
    assert!(detail["settings_schema"].is_null(), "{detail}");
    assert_eq!(detail["numbers"], json!([]));
    server.assign("+15550100401", &sha, json!({ "anything": true })).await;
    assert_eq!(
        server.get_json(&format!("/flows/{sha}")).await["numbers"],
        json!(["+15550100401"])
    );
    let delete = || server.request(reqwest::Method::DELETE, &format!("/flows/{sha}"));
    let refused = delete().send().await.unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("+15550100401"), "{body}");
    server.assign("+15550100401", "ivr", json!({})).await;
    assert_eq!(delete().send().await.unwrap().status(), 204);
    assert_eq!(delete().send().await.unwrap().status(), 404);
    let gone = server
        .request(reqwest::Method::GET, &format!("/flows/{sha}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    let builtin_sha = voicemail["sha256"].as_str().unwrap();
    let builtin = server.request(reqwest::Method::DELETE, &format!("/flows/{builtin_sha}"));
    assert_eq!(builtin.send().await.unwrap().status(), 409, "built-ins stay");
}

/// An admin makes a token for a script (shown once), it works, it is listed without its secret,
/// and once revoked it gets 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tokens_are_made_listed_and_revoked() {
    let server = Server::start().await;
    let (status, made) = server
        .send(reqwest::Method::POST, "/tokens", json!({ "label": "CRM sync" }))
        .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    let with_it = || server.request_as(&token, reqwest::Method::GET, "/numbers");
    assert_eq!(with_it().send().await.unwrap().status(), 200);

    let listed = server.get_json("/tokens").await;
    let mine = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned();
    let mine = mine.unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(
        (mine["label"].as_str(), mine["employee"].as_str()),
        (Some("CRM sync"), None)
    );
    assert!(!listed.to_string().contains(&token), "the secret is never listed");

    let revoke = || server.request(reqwest::Method::DELETE, &format!("/tokens/{id}"));
    assert_eq!(revoke().send().await.unwrap().status(), 204);
    assert_eq!(with_it().send().await.unwrap().status(), 401);
    assert_eq!(revoke().send().await.unwrap().status(), 404);
    let (status, body) = server
        .send(reqwest::Method::POST, "/tokens", json!({ "label": "" }))
        .await;
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid label")));
}

/// The admin sees what the company uses (the figures the coming plans will limit); an employee
/// with the user role does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_sees_the_companys_usage() {
    let server = Server::start().await;
    let fresh = server.get_json("/usage").await;
    assert_eq!(fresh["employees"], 0, "{fresh}");
    assert_eq!(fresh["calls_now"], 0, "{fresh}");
    let user = server.user_token("alice", "101").await;
    server.assign("+15550100100", "ivr", json!({})).await;
    let usage = server.get_json("/usage").await;
    assert_eq!(
        (usage["employees"].as_i64(), usage["numbers"].as_i64()),
        (Some(1), Some(1)),
        "{usage}"
    );
    assert_eq!(
        usage["flow_versions"], 0,
        "built-in flows are not the company's: {usage}"
    );
    assert!(
        usage["month_started_at"].as_i64().unwrap() > 1_700_000_000_000,
        "{usage}"
    );
    let refused = server
        .request_as(&user, reqwest::Method::GET, "/usage")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}
