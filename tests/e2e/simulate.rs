//! `switchboard flow simulate` prints the decision trace on a virtual clock.

use std::process::Command;
use std::time::Instant;

fn simulate(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["flow", "simulate"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn ivr_timeout_takes_the_default_route_without_waiting() {
    let started = Instant::now();
    let (ok, report) = simulate(&["ivr", "--script", "30s hangup"]);
    assert!(ok, "{report}");
    // 5 s of silence after the greeting → the default route (sales), on the virtual clock.
    let line = report.lines().find(|l| l.contains("collect")).expect(&report);
    assert!(
        line.trim_start().starts_with("9.764s") && line.ends_with("no digit (timeout)"),
        "{report}"
    );
    assert!(report.contains("no digit: default route"), "{report}");
    assert!(report.contains("dial [Department(\"sales\")@0ms]"), "{report}");
    assert!(started.elapsed().as_secs() < 10, "the simulation waited in real time");
}

#[test]
fn ivr_digit_and_settings_choose_the_route() {
    let settings = r#"{"options": {"7": {"employee": "17"}}, "default": {"hangup": "all-busy"}}"#;
    let (ok, report) = simulate(&[
        "ivr",
        "--settings",
        settings,
        "--script",
        "1500ms press 7; dial answered 17 talk 20s",
    ]);
    assert!(ok, "{report}");
    assert!(
        report.contains("collect (prompt ivr-greeting, max 1, first digit 5000 ms) → 7"),
        "{report}"
    );
    assert!(
        report.contains("dial [Employee(\"17\")@0ms] timeout 30000 ms → Answered"),
        "{report}"
    );
    assert!(report.ends_with("flow completed\n"), "{report}");
}

#[test]
fn bad_input_is_explained() {
    let (ok, report) = simulate(&["ivr", "--script", "soon press 1"]);
    assert!(!ok && report.contains("bad time"), "{report}");
    let (ok, report) = simulate(&["no-such-flow.wasm"]);
    assert!(!ok && report.contains("built-in flows: ivr"), "{report}");
    let (ok, report) = simulate(&["ivr", "--settings", r#"{"retries": "many"}"#]);
    assert!(!ok && report.contains("invalid settings"), "{report}");
}

/// Business hours in the simulator: the script says whether the schedule is open and sets the
/// number's clock; closed → voicemail, open → the menu.
#[test]
fn schedule_takes_the_closed_route_after_hours() {
    let settings = r#"{"schedule": "office"}"#;
    let script = "schedule office closed; clock 2026-11-27T20:00 Europe/Berlin; 20s hangup";
    let (ok, report) = simulate(&["schedule", "--settings", settings, "--script", script]);
    assert!(ok, "{report}");
    assert!(report.contains("is-open office → closed"), "{report}");
    assert!(report.contains("Europe/Berlin 2026-11-27 20:00: closed"), "{report}");
    assert!(report.contains("play voicemail-greeting"), "{report}");
    assert!(report.contains("record (max 120 s)"), "{report}");

    let script = "schedule office open; 1s press 2; dial answered";
    let (ok, report) = simulate(&["schedule", "--settings", settings, "--script", script]);
    assert!(ok, "{report}");
    assert!(report.contains("is-open office → open"), "{report}");
    assert!(report.contains("dial [Department(\"support\")@0ms]"), "{report}");

    let (ok, report) = simulate(&["schedule", "--settings", settings, "--script", "5s hangup"]);
    assert!(ok, "{report}");
    assert!(
        report.contains("does not say whether schedule \"office\" is open"),
        "{report}"
    );
}

/// `switchboard flow new` makes a crate whose tests pass natively, which builds into a
/// component, and which the simulator runs (and so would the exchange: it is the same check).
#[test]
fn a_new_flow_crate_tests_builds_and_simulates() {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["flow", "new", "my-flow", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let crate_dir = dir.path().join("my-flow");
    // A target directory of its own: the outer build's is locked while these tests run.
    let cargo = |args: &[&str]| {
        let out = Command::new("cargo")
            .args(args)
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", crate_dir.join("target"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "cargo {args:?}:\n{text}");
        text
    };
    let tests = cargo(&["test", "--quiet"]);
    assert!(tests.contains("4 passed"), "{tests}");
    cargo(&["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
    let wasm = crate_dir.join("target/wasm32-wasip2/release/my_flow.wasm");
    let (ok, report) = simulate(&[wasm.to_str().unwrap(), "--script", "1s press 101#; dial answered alice"]);
    assert!(ok, "{report}");
    assert!(report.contains("→ 101"), "{report}");
    assert!(report.contains("dial [Extension(\"101\")@0ms]"), "{report}");
    let again = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["flow", "new", "my-flow", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success(), "an existing directory is not overwritten");
}

/// The ICM in the simulator: the script plays the call history, the directory and a CRM's
/// answer; the trace shows every lookup and where the call went.
#[test]
fn icm_follows_the_history_then_a_crm_then_the_fallback() {
    let (ok, report) = simulate(&[
        "icm",
        "--script",
        "history bob; employee bob ext 102; dial busy; dial answered alice",
    ]);
    assert!(ok, "{report}");
    assert!(
        report.contains("last-connected +15550100001 within 30 days → bob"),
        "{report}"
    );
    assert!(
        report.contains("dial [Employee(\"bob\")@0ms] timeout 20000 ms → Busy"),
        "{report}"
    );
    assert!(report.contains("dial [Department(\"sales\")@0ms]"), "{report}");

    let settings = r#"{"sources": ["amocrm"], "amocrm": {"url": "https://acme.amocrm.ru", "token": "t", "users": {"42": "carol"}}}"#;
    let script = r#"http 200 {"_embedded": {"contacts": [{"id": 7, "responsible_user_id": 42}]}}; dial answered carol"#;
    let (ok, report) = simulate(&["icm", "--settings", settings, "--script", script]);
    assert!(ok, "{report}");
    assert!(
        report.contains("http GET https://acme.amocrm.ru/…/contacts → 200"),
        "{report}"
    );
    assert!(
        report.contains("dial [Employee(\"carol\")@0ms] timeout 20000 ms → Answered"),
        "{report}"
    );
}

/// The secretary in the simulator: `screen decline` makes the director decline; the caller is
/// offered the voicemail, on the virtual clock.
#[test]
fn secretary_screens_and_a_declined_caller_leaves_a_message() {
    let settings = r#"{"employee": "boss"}"#;
    let script = "8s press #; dial answered boss; screen decline; 40s press #";
    let (ok, report) = simulate(&["secretary", "--settings", settings, "--script", script]);
    assert!(ok, "{report}");
    assert!(
        report.contains("(announce screening-intro + recording:simulated-1 + screening-accept, accept 1) → Declined"),
        "{report}"
    );
    assert!(report.contains("set-mailbox boss → ok"), "{report}");
    assert!(report.contains("request-callback \"voicemail\" → ok"), "{report}");
    assert!(report.contains("play secretary-declined → ok"), "{report}");
}

/// Every built-in flow runs in the simulator with the same script language, on the virtual
/// clock: a minute of call in well under the minute.
#[test]
fn every_built_in_flow_simulates() {
    let cases = [
        (
            "ivr",
            "{}",
            "10s press 1; dial answered alice",
            "dial [Department(\"sales\")@0ms]",
        ),
        (
            "hunt",
            r#"{"members": ["alice", "bob"], "strategy": "in_turn", "step_secs": 10}"#,
            "dial no-answer",
            "dial [Employee(\"alice\")@0ms, Employee(\"bob\")@10000ms] timeout 40000 ms → NoAnswer",
        ),
        (
            "employee",
            r#"{"employee": "alice"}"#,
            "dial busy; 20s hangup",
            "request-callback \"voicemail\" → ok",
        ),
        ("voicemail", "{}", "12s press #", "record (max 120 s) → simulated-1"),
        ("conference", "{}", "5s hangup", "conference main → error: hangup"),
        (
            "schedule",
            "{}",
            "7s press 2; dial answered bob",
            "dial [Department(\"support\")@0ms]",
        ),
        (
            "icm",
            "{}",
            "history alice; dial answered alice",
            "dial [Employee(\"alice\")@0ms] timeout 20000 ms → Answered",
        ),
        (
            "secretary",
            r#"{"employee": "boss"}"#,
            "8s press #; dial answered boss",
            "→ Accepted",
        ),
    ];
    for (flow, settings, script, expected) in cases {
        let started = Instant::now();
        let (ok, report) = simulate(&[flow, "--settings", settings, "--script", script]);
        assert!(ok, "{flow}: {report}");
        assert!(report.contains(expected), "{flow}: {report}");
        assert!(report.ends_with("flow completed\n"), "{flow}: {report}");
        assert!(started.elapsed().as_secs() < 20, "{flow} waited in real time");
    }
}
