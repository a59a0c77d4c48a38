//! The OpenAPI document: served at `/openapi.json`, and the API keeps to it — schemathesis
//! (PyPI; `tests/run-all.sh` installs it) sends generated requests to every operation (its
//! boundary-value "coverage" phase, then fuzzing and stateful sequences until a 60-second budget
//! is spent, with a fixed seed) and fails on any 5xx, undocumented status code or content type,
//! or response that does not match its schema.

use std::process::Command;
use std::time::Duration;

use crate::harness::{Server, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_to_its_openapi_document() {
    let server = Server::start().await;
    let document = server.get_json("/openapi.json").await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{document}");
    for path in [
        "/employees",
        "/departments/{id}",
        "/numbers/{number}",
        "/callbacks/{id}/complete",
        "/calls",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is not documented");
    }
    let unauthenticated = reqwest::get(format!("{}/openapi.json", server.http)).await.unwrap();
    assert_eq!(unauthenticated.status(), 200, "the document is public");

    let url = format!("{}/openapi.json", server.http);
    let header = format!("Authorization: Bearer {TOKEN}");
    let run = tokio::task::spawn_blocking(move || {
        Command::new("st")
            .args(["run", &url, "-H", &header, "--seed", "1", "--max-time", "60"])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            // Bodies of WAV and WebAssembly bytes cannot be generated; the media and flow
            // tests upload real ones.
            .args([
                "--exclude-operation-id",
                "flows_upload",
                "--exclude-operation-id",
                "media_upload_prompt",
            ])
            .args(["--request-timeout", "10"])
            .env("NO_COLOR", "1")
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("schemathesis finishes within its time budget")
        .unwrap()
        .expect("run schemathesis (`pip install schemathesis`; tests/run-all.sh does)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis:\n{report}\nserver log:\n{}",
        server.log()
    );
    assert!(report.contains("passed"), "{report}");
}
