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
    assert_eq!(numbers["numbers"][0]["number"], "+15550100300", "{numbers}");
}
