//! Every query, on SQLite and — when `SWITCHBOARD_TEST_POSTGRES` names a PostgreSQL database
//! the tests may create databases beside (e.g. `postgres://postgres@127.0.0.1:5432/test`) — on
//! PostgreSQL too, each test in a database of its own.

use super::test_support::TestDatabase;
use super::*;
use crate::live::LiveCall;
use crate::records::{CallRecord, CallResult, LegRecord, TraceEntry};
use futures::future::join_all;

fn secrets(ha1: &str) -> Secrets<'_> {
    Secrets {
        ha1,
        api_password: "$argon2id$test",
    }
}

fn fields(name: &str, extension: &str) -> EmployeeFields {
    EmployeeFields {
        caller_id: String::new(),
        position: String::new(),
        name: name.into(),
        extension: extension.into(),
        role: "user".into(),
        // Alice is alice@example.com; nameless employees have no address.
        email: match name {
            "" => String::new(),
            name => format!("{}@example.com", name.to_lowercase()),
        },
        ..EmployeeFields::default()
    }
}

/// A fresh store of each kind this machine offers, with its name, and what removes it.
async fn stores() -> Vec<(&'static str, Store, Cleanup)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
    let mut all = vec![("sqlite", sqlite, Cleanup::Dir(dir))];
    if let Some(db) = TestDatabase::create("switchboard_test").await {
        let store = Store::open(&db.url)
            .await
            .unwrap_or_else(|e| panic!("migrate {}: {e}", db.url));
        all.push(("postgres", store, Cleanup::Postgres(db)));
    }
    all
}

/// What goes when a test is done with a store (also when it fails).
enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TestDatabase),
}

impl Cleanup {
    /// Closes the store, then lets its database go.
    async fn run(self, store: Store) {
        store.pool.close().await;
    }
}

#[tokio::test]
async fn flows_and_numbers() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        store
            .store()
            .put_builtin_flow("ivr", "aaa", b"wasm-1", 10)
            .await
            .unwrap();
        store.put_flow("mine", "bbb", b"wasm-2", 20).await.unwrap();
        store.put_flow("mine", "ccc", b"wasm-3", 30).await.unwrap();
        store.put_flow("mine", "ccc", b"again", 40).await.unwrap(); // same version: kept
        let flows = store.list_flows().await.unwrap();
        assert_eq!(flows.len(), 3, "{db}");
        assert!(flows[0].builtin && !flows[1].builtin, "{db}: {flows:?}");
        assert_eq!(
            store.resolve_flow("mine").await.unwrap().as_deref(),
            Some("ccc"),
            "{db}: newest"
        );
        assert_eq!(
            store.resolve_flow("bbb").await.unwrap().as_deref(),
            Some("bbb"),
            "{db}: by hash"
        );
        assert_eq!(store.resolve_flow("nope").await.unwrap(), None, "{db}");
        assert_eq!(
            store.store().flow_wasm("ccc").await.unwrap().as_deref(),
            Some(&b"wasm-3"[..]),
            "{db}"
        );

        let mut a = Assignment {
            company: CompanyId::HOME,
            number: "+15550100100".into(),
            timezone: "Europe/Berlin".into(),
            flow_sha256: "bbb".into(),
            settings: "{\"x\":1}".into(),
            record_calls: true,
            fallback: "{\"employee\":\"alice\"}".into(),
            mailbox: "alice".into(),
            missed_call_mail: true,
            allowed_hosts: vec!["crm.example.com".into(), "127.0.0.1:8080".into()],
            caller_id: "+15550100100".into(),
            display_prefix: "Sales".into(),
            show_caller_status: true,
            updated_at: 50,
        };
        store.assign(&a).await.unwrap();
        a.flow_sha256 = "ccc".into();
        a.record_calls = false;
        store.assign(&a).await.unwrap();
        assert_eq!(store.assignments().await.unwrap(), vec![a.clone()], "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn call_records_prompts_and_recordings() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let record = CallRecord {
            id: "c1".into(),
            sip_call_id: "x@y".into(),
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            flow: None,
            started_at: 1,
            answered_at: Some(2),
            answered_by: Some("anna".into()),
            ended_at: 3,
            outcome: "completed".into(),
            trace: vec![TraceEntry {
                at_ms: 5,
                event: "answer → ok".into(),
            }],
            legs: vec![LegRecord {
                to: "anna".into(),
                employee: Some("anna".into()),
                started_at: 1,
                answered_at: Some(2),
                ended_at: Some(3),
                result: "answered".into(),
            }],
            result: CallResult::Answered,
            offered_to: vec!["department:sales".into()],
            ended_in: None,
            wait_ms: 1,
        };
        store.insert_call_record(&record).await.unwrap();
        let later = CallRecord {
            id: "c2".into(),
            caller: "+15550100002".into(),
            started_at: 10,
            outcome: "caller-hangup".into(),
            result: CallResult::Missed,
            ended_in: Some("department:sales".into()),
            wait_ms: 9_000,
            ..record.clone()
        };
        store.insert_call_record(&later).await.unwrap();
        let page = |f: CallFilter| {
            let store = store.clone();
            async move { store.call_records(&CallFilter { limit: 10, ..f }).await.unwrap() }
        };
        assert_eq!(
            page(CallFilter::default()).await,
            vec![later.clone(), record.clone()],
            "{db}: newest first"
        );
        let by_caller = CallFilter {
            caller: Some("+15550100001".into()),
            ..Default::default()
        };
        assert_eq!(page(by_caller).await, vec![record.clone()], "{db}");
        let by_outcome = CallFilter {
            outcome: Some("caller-hangup".into()),
            ..Default::default()
        };
        assert_eq!(page(by_outcome).await, vec![later.clone()], "{db}");
        let missed = CallFilter {
            result: Some(CallResult::Missed),
            ..Default::default()
        };
        assert_eq!(page(missed).await, vec![later.clone()], "{db}");
        let bare = CallFilter {
            without_trace: true,
            id: Some("c1".into()),
            ..Default::default()
        };
        let bare = page(bare).await;
        assert_eq!(
            (bare[0].trace.len(), bare[0].legs.len()),
            (0, 1),
            "{db}: legs, no trace"
        );
        let before = CallFilter {
            until: Some(10),
            ..Default::default()
        };
        assert_eq!(page(before).await, vec![record.clone()], "{db}: the next page");
        let since = CallFilter {
            since: Some(5),
            id: Some("c2".into()),
            ..Default::default()
        };
        assert_eq!(page(since).await, vec![later], "{db}");

        // Who last talked to a number: anna answered +15550100001 (at 1) and +15550100002 (at 10,
        // unanswered, so not her); bob called 15550100001 out (recorded without '+') at 20.
        let out = CallRecord {
            id: "c3".into(),
            caller: "102".into(),
            dialled: "15550100001".into(),
            started_at: 20,
            answered_by: Some("bob".into()),
            legs: Vec::new(),
            ..record.clone()
        };
        store.insert_call_record(&out).await.unwrap();
        let spellings = |n: &str| [format!("+{n}"), n.to_string()];
        let last = |n, since| {
            let store = store.clone();
            async move { store.last_connected(&spellings(n), since).await.unwrap() }
        };
        assert_eq!(
            last("15550100001", 0).await.as_deref(),
            Some("bob"),
            "{db}: the newest, outbound"
        );
        assert_eq!(
            last("15550100002", 0).await.as_deref(),
            Some("anna"),
            "{db}: c2 copied anna in"
        );
        assert_eq!(last("15550100001", 21).await, None, "{db}: too long ago");
        assert_eq!(last("15550100009", 0).await, None, "{db}: nobody");

        // An employee's own calls: made (by login or extension), offered to him, answered.
        let offered = CallRecord {
            id: "c4".into(),
            caller: "+15550100004".into(),
            started_at: 30,
            answered_by: None,
            offered_to: vec!["department:sales".into(), "employee:carol".into()],
            legs: Vec::new(),
            ..record.clone()
        };
        store.insert_call_record(&offered).await.unwrap();
        let of = |login: &str, extension: &str| {
            let party = Some(crate::store::Party {
                login: login.into(),
                extension: extension.into(),
            });
            let store = store.clone();
            async move {
                let filter = CallFilter {
                    limit: 10,
                    party,
                    ..CallFilter::default()
                };
                let calls = store.call_records(&filter).await.unwrap();
                calls.into_iter().map(|c| c.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(of("anna", "101").await, ["c2", "c1"], "{db}: answered");
        assert_eq!(of("bob", "102").await, ["c3"], "{db}: made by extension");
        assert_eq!(of("carol", "103").await, ["c4"], "{db}: offered");
        assert!(of("caro", "10").await.is_empty(), "{db}: a prefix is not him");
        assert!(
            of("c_rol", "1%").await.is_empty(),
            "{db}: LIKE's wildcards are his letters"
        );

        store.put_prompt("hello", b"RIFF1", 1000, 1).await.unwrap();
        store.put_prompt("hello", b"RIFF2", 2000, 2).await.unwrap();
        assert_eq!(
            store.store().prompts().await.unwrap(),
            vec![(CompanyId::HOME, "hello".to_string(), b"RIFF2".to_vec())],
            "{db}"
        );
        assert_eq!(store.prompt_list().await.unwrap()[0].duration_ms, 2000, "{db}");

        let info = RecordingInfo {
            id: "c1-1".into(),
            call_id: "c1".into(),
            kind: "voicemail".into(),
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            duration_ms: 3000,
            ended_by: "#".into(),
            created_at: 9,
            mailbox: Some("alice".into()),
            heard: false,
        };
        store.insert_recording(&info, b"RIFFwav").await.unwrap();
        let filter = |call_id: Option<&str>, mailbox: Option<&str>, id: Option<&str>| RecordingFilter {
            call_id: call_id.map(Into::into),
            mailbox: mailbox.map(Into::into),
            id: id.map(Into::into),
            limit: 5,
        };
        let all = filter(None, None, None);
        assert_eq!(store.recordings(&all).await.unwrap(), vec![info.clone()], "{db}");
        let by_call = filter(Some("c1"), None, None);
        assert_eq!(store.recordings(&by_call).await.unwrap(), vec![info.clone()], "{db}");
        let by_mailbox = filter(None, Some("alice"), None);
        assert_eq!(store.recordings(&by_mailbox).await.unwrap(), vec![info.clone()], "{db}");
        let by_id = filter(None, None, Some("c1-1"));
        assert_eq!(store.recordings(&by_id).await.unwrap(), vec![info], "{db}");
        for none in [filter(Some("c2"), None, None), filter(None, Some("bob"), None)] {
            assert!(store.recordings(&none).await.unwrap().is_empty(), "{db}");
        }
        assert_eq!(
            store.recording_wav("c1-1").await.unwrap(),
            Some(b"RIFFwav".to_vec()),
            "{db}"
        );
        // Alice's lamp: one new message until she heard it.
        assert_eq!(store.messages("alice").await.unwrap(), (1, 0), "{db}");
        assert_eq!(store.messages("bob").await.unwrap(), (0, 0), "{db}");
        assert!(store.set_heard("c1-1", true).await.unwrap(), "{db}");
        assert!(!store.set_heard("c9-9", true).await.unwrap(), "{db}");
        assert_eq!(store.messages("alice").await.unwrap(), (0, 1), "{db}");
        assert!(store.recordings(&by_mailbox).await.unwrap()[0].heard, "{db}");
        assert!(store.delete_recording("c1-1").await.unwrap(), "{db}");
        assert!(!store.delete_recording("c1-1").await.unwrap(), "{db}");
        assert_eq!(store.recording_wav("c1-1").await.unwrap(), None, "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

/// Calls queue their records; the writer writes them in groups with their contact-card lines,
/// and a group the database refuses (here: one record whose id is taken) is written again one
/// by one, so that only the bad record is missing.
/// Call `n` from `caller` to 101, answered by anna.
fn answered_call(n: usize, caller: &str) -> CallRecord {
    CallRecord {
        id: format!("q{n}"),
        sip_call_id: format!("{n}@y"),
        caller: caller.into(),
        dialled: "101".into(),
        flow: None,
        started_at: 100 + n as i64,
        answered_at: Some(101 + n as i64),
        answered_by: Some("anna".into()),
        ended_at: 200 + n as i64,
        outcome: "completed".into(),
        trace: Vec::new(),
        legs: Vec::new(),
        result: CallResult::Answered,
        offered_to: vec!["employee:anna".into()],
        ended_in: None,
        wait_ms: 1,
    }
}

#[tokio::test]
async fn queued_call_records_are_written_in_groups_and_none_is_lost() {
    for (db, store, cleanup) in stores().await {
        let tenant = store.company(CompanyId::HOME);
        let card = tenant
            .put_contact("+15550100001", &ContactFields::default(), 1)
            .await
            .unwrap();
        for n in 0..150 {
            let caller = if n % 10 == 0 { "+15550100001" } else { "bob" };
            tenant.save_call_record(answered_call(n, caller), true).await;
        }
        // The same record again in one group, as after a write whose answer was lost: stored
        // once (PostgreSQL refuses such a group — a row affected twice —, which is then
        // written one record at a time).
        tenant.save_call_record(answered_call(7, "bob"), true).await;
        store.flush_call_records().await;

        let all = CallFilter {
            limit: 1000,
            without_trace: true,
            ..CallFilter::default()
        };
        let written = tenant.call_records(&all).await.unwrap();
        assert_eq!(written.len(), 150, "{db}: every record, once");
        let anna = CallFilter {
            party: Some(Party {
                login: "anna".into(),
                extension: "100".into(),
            }),
            ..all.clone()
        };
        assert_eq!(
            tenant.call_records(&anna).await.unwrap().len(),
            150,
            "{db}: with their parties"
        );
        let log = tenant.contact_log(card, 100).await.unwrap();
        assert_eq!(log.len(), 15, "{db}: each call from the card's number on the card");
        assert!(log.iter().all(|l| l.action == "call-in"), "{db}");
        let card = &tenant.contacts(Some(card), None, None, 1).await.unwrap()[0];
        assert_eq!(
            card.last_contact_at,
            Some(240),
            "{db}: the newest call that reached him"
        );
        cleanup.run(store.clone()).await;
    }
}

/// Writing a record and its card lines again — the record writer does after a commit whose
/// answer was lost, or a group cut off mid-way — stores them once; a call's own record takes
/// the place of the stand-in ("node-lost") the other nodes wrote while they could not hear from
/// its node, and not the other way round.
#[tokio::test]
async fn a_record_written_again_is_stored_once_and_replaces_a_stand_in() {
    for (db, store, cleanup) in stores().await {
        let tenant = store.company(CompanyId::HOME);
        let card = tenant
            .put_contact("+15550100001", &ContactFields::default(), 1)
            .await
            .unwrap();
        let record = answered_call(1, "+15550100001");
        let line = NewLogEntry {
            at: record.started_at,
            action: "call-in",
            result: &record.outcome,
            employee: None,
            call_id: Some(&record.id),
        };
        for _ in 0..2 {
            tenant.insert_call_record(&record).await.unwrap();
            tenant
                .log_call_on_cards(&[("+15550100001", line.clone(), true)])
                .await
                .unwrap();
        }
        let all = CallFilter {
            limit: 10,
            ..CallFilter::default()
        };
        assert_eq!(tenant.call_records(&all).await.unwrap().len(), 1, "{db}");
        assert_eq!(tenant.contact_log(card, 10).await.unwrap().len(), 1, "{db}");

        // Nodes share PostgreSQL only.
        if !store.is_shared() {
            cleanup.run(store.clone()).await;
            continue;
        }
        // Node n1 went silent with call q2 listed: a stand-in record, then the call's own.
        let live = |id: &str| LiveCall {
            id: id.into(),
            company: CompanyId::HOME,
            node: None,
            caller: "bob".into(),
            dialled: "101".into(),
            started_at: 102,
            stop: Default::default(),
            requests: None,
        };
        store.node_seen("n1", 150).await.unwrap();
        tenant.put_live_call("n1", &live("q2")).await.unwrap();
        let cut = store.forget_nodes(1_000).await.unwrap();
        assert_eq!(cut.len(), 1, "{db}");
        let only = |id: &str| CallFilter {
            id: Some(id.into()),
            ..all.clone()
        };
        assert_eq!(
            tenant.call_records(&only("q2")).await.unwrap()[0].outcome,
            "node-lost",
            "{db}"
        );
        tenant.insert_call_record(&answered_call(2, "bob")).await.unwrap();
        let own = &tenant.call_records(&only("q2")).await.unwrap()[0];
        assert_eq!((own.outcome.as_str(), own.ended_at), ("completed", 202), "{db}");
        // The other way round (the node's record came first): the stand-in is not written.
        store.node_seen("n2", 150).await.unwrap();
        tenant.put_live_call("n2", &live("q2")).await.unwrap();
        store.forget_nodes(1_000).await.unwrap();
        assert_eq!(
            tenant.call_records(&only("q2")).await.unwrap()[0].outcome,
            "completed",
            "{db}"
        );
        // Another company's record of the same id replaces nothing, nor sees it.
        let stranger = store.company(CompanyId(2));
        store.node_seen("n3", 150).await.unwrap();
        tenant.put_live_call("n3", &live("q3")).await.unwrap();
        store.forget_nodes(1_000).await.unwrap();
        stranger.insert_call_record(&answered_call(3, "eve")).await.unwrap();
        assert_eq!(
            tenant.call_records(&only("q3")).await.unwrap()[0].outcome,
            "node-lost",
            "{db}"
        );
        assert!(stranger.call_records(&only("q3")).await.unwrap().is_empty(), "{db}");
        cleanup.run(store.clone()).await;
    }
}

/// PostgreSQL restarts while calls end: their records wait in the queue and are written once it
/// is back (none lost, none twice, the contact card's lines too). A stopping node whose
/// database stays away waits a while, then logs what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_calls_that_end_while_the_database_restarts_are_written_after() {
    let Some(postgres) = super::test_support::PrivatePostgres::start() else {
        return;
    };
    let store = Store::open(&postgres.url).await.unwrap();
    let tenant = store.company(CompanyId::HOME);
    let card = tenant
        .put_contact("+15550100001", &ContactFields::default(), 1)
        .await
        .unwrap();
    tenant.save_call_record(answered_call(0, "bob"), true).await;
    store.flush_call_records().await;
    let mut changes = store.changes().await.unwrap().unwrap();
    postgres.stop();
    for n in 1..=100 {
        let caller = if n % 10 == 0 { "+15550100001" } else { "bob" };
        tenant.save_call_record(answered_call(n, caller), true).await;
    }
    // Longer than a query waits for a connection (5 s): the writer's first try fails, and it
    // tries again while the records wait.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    postgres.start_again();
    let flushed = tokio::time::timeout(std::time::Duration::from_secs(60), store.flush_call_records()).await;
    assert!(
        flushed.is_ok(),
        "the records were written within a minute of the restart"
    );
    let all = CallFilter {
        limit: 1000,
        without_trace: true,
        ..CallFilter::default()
    };
    let written = tenant.call_records(&all).await.unwrap();
    assert_eq!(written.len(), 101, "every record, once");
    assert_eq!(
        tenant.contact_log(card, 100).await.unwrap().len(),
        10,
        "the card's lines"
    );
    // The node's listener is back, and says that it missed what was announced meanwhile.
    let within = std::time::Duration::from_secs(10);
    let next = tokio::time::timeout(within, changes.recv()).await;
    assert!(matches!(next, Ok(Some(Change::Missed))), "{next:?}");
    store.announce(Change::Numbers).await;
    let next = tokio::time::timeout(within, changes.recv()).await;
    assert!(matches!(next, Ok(Some(Change::Numbers))), "{next:?}");

    postgres.stop();
    tenant.save_call_record(answered_call(101, "bob"), true).await;
    let patience = std::time::Duration::from_millis(500);
    assert!(
        !store.flush_call_records_within(patience).await,
        "a stopping node gives up on a database that stays away"
    );
    store.pool.close().await;
}

#[tokio::test]
async fn employees_registrations_tokens_and_secrets() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let alice = store
            .add_employee("alice", &fields("Alice", "101"), secrets("ha1a"), 1)
            .await
            .unwrap()
            .unwrap();
        let bob = store
            .add_employee("bob", &fields("", "102"), secrets("ha1b"), 1)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(alice.id, bob.id, "{db}");
        assert_eq!(
            store
                .add_employee("alice", &fields("", "103"), secrets("x"), 1)
                .await
                .unwrap(),
            None,
            "{db}: login taken"
        );
        assert_eq!(
            store
                .add_employee("carol", &fields("", "101"), secrets("x"), 1)
                .await
                .unwrap(),
            None,
            "{db}: extension taken"
        );
        assert_eq!(
            store.employees().await.unwrap(),
            vec![alice.clone(), bob.clone()],
            "{db}"
        );
        assert_eq!(store.employee("102", true).await.unwrap(), Some(bob.clone()), "{db}");
        assert_eq!(
            store.employees_with_ids(&[bob.id, 9999, alice.id]).await.unwrap(),
            vec![bob.clone(), alice.clone()],
            "{db}: in the order asked, nobody's ids left out"
        );
        assert_eq!(
            store.employee_by_email("ALICE@example.com").await.unwrap(),
            Some(alice.clone()),
            "{db}: e-mail compared case-insensitively"
        );
        assert_eq!(
            store.employee_by_email("").await.unwrap(),
            None,
            "{db}: empty matches nobody"
        );
        assert_eq!(
            store.employee("alice", false).await.unwrap(),
            Some(alice.clone()),
            "{db}"
        );
        assert_eq!(
            store.sip_credentials("alice").await.unwrap(),
            Some((alice.id, "ha1a".into())),
            "{db}"
        );
        assert_eq!(store.sip_credentials("zed").await.unwrap(), None, "{db}");
        let mut changed = alice.fields.clone();
        changed.mobile = "+15550100777".into();
        changed.mobile_after_secs = Some(10);
        changed.role = "admin".into();
        assert!(
            store
                .update_employee("alice", &changed, Some(secrets("ha1new")))
                .await
                .unwrap(),
            "{db}"
        );
        assert!(!store.update_employee("zed", &changed, None).await.unwrap(), "{db}");
        let again = store.employee("alice", false).await.unwrap().unwrap();
        assert_eq!(again.fields, changed, "{db}");
        assert_eq!(
            store.sip_credentials("alice").await.unwrap().unwrap().1,
            "ha1new",
            "{db}"
        );
        store.update_employee("alice", &changed, None).await.unwrap();
        assert_eq!(
            store.sip_credentials("alice").await.unwrap().unwrap().1,
            "ha1new",
            "{db}: kept"
        );
        let alice = again;

        let binding = |employee_id, login: &str, contact: &str, expires_at| Registration {
            employee_id,
            login: login.into(),
            contact: contact.into(),
            source: "127.0.0.1:5062".into(),
            path: String::new(),
            expires_at,
            call_id: "reg".into(),
            cseq: 1,
        };
        store
            .store()
            .upsert_registration(&binding(alice.id, "alice", "sip:a1", 100), 10)
            .await
            .unwrap();
        store
            .store()
            .upsert_registration(
                &Registration {
                    path: "<sip:127.0.0.9:5060;lr;received=127.0.0.1~5062~1>".into(),
                    ..binding(alice.id, "alice", "sip:a2", 100)
                },
                10,
            )
            .await
            .unwrap();
        store
            .store()
            .upsert_registration(&binding(bob.id, "bob", "sip:b1", 20), 10)
            .await
            .unwrap();
        assert_eq!(store.store().registrations(None, 10).await.unwrap().len(), 3, "{db}");
        let alices = store.store().registrations(Some(alice.id), 10).await.unwrap();
        assert_eq!(alices.len(), 2, "{db}");
        assert_eq!(
            (alices[1].contact.as_str(), alices[1].path.as_str()),
            ("sip:a2", "<sip:127.0.0.9:5060;lr;received=127.0.0.1~5062~1>"),
            "{db}: the Path a phone registered through is kept"
        );
        assert_eq!(
            store.store().registrations(None, 50).await.unwrap().len(),
            2,
            "{db}: bob's expired"
        );
        store
            .store()
            .remove_registrations(alice.id, Some("sip:a1"))
            .await
            .unwrap();
        assert_eq!(
            store.store().registrations(Some(alice.id), 10).await.unwrap()[0].contact,
            "sip:a2",
            "{db}"
        );
        store.store().remove_registrations(alice.id, None).await.unwrap();
        assert!(
            store
                .store()
                .registrations(Some(alice.id), 10)
                .await
                .unwrap()
                .is_empty(),
            "{db}"
        );

        assert_eq!(store.store().token_count().await.unwrap(), 0, "{db}");
        store.add_token("hash", "ops", None, 1).await.unwrap();
        store.add_token("hash", "ops", None, 2).await.unwrap();
        assert_eq!(store.store().token_count().await.unwrap(), 1, "{db}");
        assert!(
            store.store().token_owner("hash", 10).await.unwrap().map(|o| o.who) == Some(TokenRole::Company)
                && store.store().token_owner("other", 10).await.unwrap().is_none(),
            "{db}"
        );

        store.add_token("mine", "login", Some(alice.id), 3).await.unwrap();
        let owner = store.store().token_owner("mine", 10).await.unwrap();
        let expected = TokenOwner {
            operator: false,
            company: CompanyId::HOME,
            suspended: false,
            who: TokenRole::Employee {
                login: "alice".into(),
                role: "admin".into(),
            },
        };
        assert_eq!(owner, Some(expected), "{db}");
        assert_eq!(
            store.api_password("alice").await.unwrap().unwrap().1,
            "$argon2id$test",
            "{db}"
        );
        let ci = "c1".repeat(32);
        store.add_token(&ci, "CI", None, 4).await.unwrap();
        let listed = store.tokens().await.unwrap();
        assert_eq!(
            listed[0].id,
            "c1".repeat(8),
            "{db}: newest first, named by its hash's start"
        );
        assert_eq!(
            (listed[0].label.as_str(), listed[0].employee.as_deref()),
            ("CI", None),
            "{db}"
        );
        assert_eq!(listed[1].employee.as_deref(), Some("alice"), "{db}");
        assert!(
            !store.revoke_token("c1c1").await.unwrap(),
            "{db}: too short to name one"
        );
        assert!(!store.revoke_token("%%%%%%%%%%%%%%%%").await.unwrap(), "{db}: not hex");
        assert!(store.revoke_token(&"C1".repeat(8)).await.unwrap(), "{db}");
        assert!(
            store.store().token_owner(&ci, 10).await.unwrap().is_none(),
            "{db}: revoked"
        );
        // A login token lives until it expires, or until the employee's password changes.
        store.add_login_token("session", alice.id, 5, 100).await.unwrap();
        assert!(
            store.store().token_owner("session", 99).await.unwrap().is_some(),
            "{db}"
        );
        assert!(
            store.store().token_owner("session", 100).await.unwrap().is_none(),
            "{db}: expired"
        );
        store.add_login_token("session2", alice.id, 5, 1_000).await.unwrap();
        assert_eq!(
            store.revoke_login_tokens("alice").await.unwrap(),
            3,
            "{db}: both sessions and the older one"
        );
        assert!(
            store.store().token_owner("session2", 99).await.unwrap().is_none(),
            "{db}"
        );
        assert!(
            store.store().token_owner("hash", 99).await.unwrap().is_some(),
            "{db}: admin tokens stay"
        );
        // Deleting an employee takes his bindings with him, the copy in memory too.
        store
            .store()
            .upsert_registration(&binding(bob.id, "bob", "sip:b2", 100), 10)
            .await
            .unwrap();
        assert_eq!(
            store.store().registrations(Some(bob.id), 10).await.unwrap().len(),
            2,
            "{db}: both his bindings read, and now held in memory"
        );
        assert!(store.delete_employee("bob").await.unwrap(), "{db}");
        assert!(
            store.store().registrations(Some(bob.id), 10).await.unwrap().is_empty(),
            "{db}: a deleted employee's bindings are forgotten"
        );
        assert!(!store.delete_employee("bob").await.unwrap(), "{db}: already gone");
        let key = store.store().secret("nonce").await.unwrap();
        assert_eq!(key.len(), 32, "{db}");
        assert_eq!(
            store.store().secret("nonce").await.unwrap(),
            key,
            "{db}: kept, not regenerated"
        );
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn departments_and_their_members() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let seeded = store.departments().await.unwrap();
        let ids: Vec<&str> = seeded.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["sales", "support"], "{db}: a fresh install has them");
        assert_eq!(seeded[0].name, "Sales Department");
        let alice = store
            .add_employee("alice", &fields("", "101"), secrets("h"), 1)
            .await
            .unwrap()
            .unwrap();
        let bob = store
            .add_employee("bob", &fields("", "102"), secrets("h"), 1)
            .await
            .unwrap()
            .unwrap();
        let mut sales = seeded[0].clone();
        sales.strategy = "in_turn".into();
        sales.step_secs = 10;
        sales.members = vec!["bob".into(), "alice".into()];
        sales.member_ids = vec![bob.id, alice.id];
        sales.ring_busy = true;
        sales.overflow = Some(serde_json::json!({ "department": "support" }));
        store.put_department(&sales, 5).await.unwrap();
        assert_eq!(
            store.department("sales", false).await.unwrap(),
            Some(sales.clone()),
            "{db}"
        );
        assert_eq!(
            store.department("600", true).await.unwrap(),
            Some(sales.clone()),
            "{db}"
        );
        assert_eq!(
            store.extension_owner("600").await.unwrap().as_deref(),
            Some("department sales")
        );
        assert_eq!(
            store.extension_owner("101").await.unwrap().as_deref(),
            Some("employee alice")
        );
        assert_eq!(store.extension_owner("999").await.unwrap(), None, "{db}");
        // Members log out of one department or all of theirs, and back in; employees set DND.
        assert!(
            store
                .set_membership(Some("sales"), "bob", MemberState::LoggedIn, false)
                .await
                .unwrap(),
            "{db}"
        );
        let logged_out = |d: Option<Department>| d.unwrap().logged_out;
        assert_eq!(
            logged_out(store.department("sales", false).await.unwrap()),
            ["bob"],
            "{db}"
        );
        assert!(
            !store
                .set_membership(Some("support"), "bob", MemberState::LoggedIn, false)
                .await
                .unwrap(),
            "{db}: not a member"
        );
        assert!(
            store
                .set_membership(None, "alice", MemberState::LoggedIn, false)
                .await
                .unwrap(),
            "{db}"
        );
        assert_eq!(
            logged_out(store.department("sales", false).await.unwrap()),
            ["bob", "alice"],
            "{db}: in hunting order"
        );
        assert!(
            store
                .set_membership(None, "alice", MemberState::LoggedIn, true)
                .await
                .unwrap(),
            "{db}"
        );
        assert!(
            !store
                .set_membership(None, "nobody", MemberState::LoggedIn, true)
                .await
                .unwrap(),
            "{db}"
        );
        // A break is its own state: paused, bob is still logged out, alice still logged in.
        assert!(
            store
                .set_membership(None, "alice", MemberState::Paused, true)
                .await
                .unwrap(),
            "{db}"
        );
        let sales_now = store.department("sales", false).await.unwrap().unwrap();
        assert_eq!(
            (sales_now.paused, sales_now.logged_out),
            (vec!["alice".to_string()], vec!["bob".to_string()]),
            "{db}"
        );
        assert!(store.set_dnd("alice", true).await.unwrap(), "{db}");
        assert!(store.employee("alice", false).await.unwrap().unwrap().dnd, "{db}");
        assert!(!store.employee("bob", false).await.unwrap().unwrap().dnd, "{db}");
        assert!(!store.set_dnd("nobody", true).await.unwrap(), "{db}");
        // Replacing keeps one row and the new order.
        sales.members = vec!["alice".into()];
        sales.member_ids = vec![alice.id];
        sales.logged_out = vec!["alice".into()];
        sales.paused = vec!["alice".into()];
        store.put_department(&sales, 6).await.unwrap();
        let replaced = store.department("sales", false).await.unwrap().unwrap();
        assert_eq!(replaced.members, ["alice"], "{db}");
        assert_eq!(replaced.logged_out, ["alice"], "{db}");
        assert_eq!(replaced.paused, ["alice"], "{db}");
        assert_eq!(
            replaced.overflow,
            Some(serde_json::json!({ "department": "support" })),
            "{db}"
        );
        assert!(replaced.ring_busy, "{db}");
        assert_eq!(store.departments().await.unwrap().len(), 2, "{db}");
        assert!(store.delete_department("support").await.unwrap(), "{db}");
        assert!(!store.delete_department("support").await.unwrap(), "{db}");
        assert_eq!(store.department("601", true).await.unwrap(), None, "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn schedules() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let office = StoredSchedule {
            id: "office".into(),
            name: "Office hours".into(),
            definition: "{\"weekly\":{}}".into(),
            updated_at: 1,
        };
        store.put_schedule(&office).await.unwrap();
        let renamed = StoredSchedule {
            name: "Hours".into(),
            updated_at: 2,
            ..office.clone()
        };
        store.put_schedule(&renamed).await.unwrap();
        assert_eq!(store.schedules(None).await.unwrap(), vec![renamed.clone()], "{db}");
        assert_eq!(store.schedules(Some("office")).await.unwrap(), vec![renamed], "{db}");
        assert!(store.schedules(Some("other")).await.unwrap().is_empty(), "{db}");
        assert!(store.delete_schedule("office").await.unwrap(), "{db}");
        assert!(!store.delete_schedule("office").await.unwrap(), "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn contacts_and_callbacks() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let anna = store
            .add_employee("anna", &fields("Anna", "201"), secrets("h"), 1)
            .await
            .unwrap()
            .unwrap()
            .id;
        // A callback request makes the caller's card.
        let first = NewCallback {
            phone: "+15550001",
            employee_id: Some(anna),
            reason: "price list",
            recording_id: Some("rec-1"),
            due_at: 1_000,
            now: 10,
        };
        let id = store.add_callback(&first).await.unwrap();
        let later = store
            .add_callback(&NewCallback {
                due_at: 5_000,
                employee_id: None,
                recording_id: None,
                ..first.clone()
            })
            .await
            .unwrap();
        // Put off (outside business hours): due later, still open; a settled one is not moved.
        assert!(store.defer_callback(later, 9_000).await.unwrap(), "{db}");
        let by_id = CallbackFilter {
            id: Some(later),
            limit: 1,
            ..CallbackFilter::default()
        };
        assert_eq!(store.callbacks(&by_id).await.unwrap()[0].due_at, 9_000, "{db}");
        assert!(!store.defer_callback(999_999, 9_000).await.unwrap(), "{db}");
        store.defer_callback(later, 5_000).await.unwrap();
        // The company's business hours: its office schedule in UTC until set.
        assert_eq!(
            store.business_hours().await.unwrap(),
            ("UTC".to_string(), "office".to_string()),
            "{db}"
        );
        store.set_business_hours("Europe/Berlin", "").await.unwrap();
        assert_eq!(store.business_hours().await.unwrap().0, "Europe/Berlin", "{db}");
        let cards = store.contacts(None, Some("+15550001"), None, 10).await.unwrap();
        assert_eq!(cards.len(), 1, "{db}: one card for both requests");
        let card = &cards[0];
        assert_eq!((card.last_contact_at, card.employee.as_deref()), (None, None), "{db}");

        let open = |due_by| CallbackFilter {
            status: Some("open".into()),
            due_by,
            limit: 10,
            ..CallbackFilter::default()
        };
        let due = store.callbacks(&open(Some(2_000))).await.unwrap();
        assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), vec![id], "{db}");
        assert_eq!(due[0].employee.as_deref(), Some("anna"), "{db}");
        assert_eq!(due[0].recording_id.as_deref(), Some("rec-1"), "{db}");
        assert_eq!(store.callbacks(&open(None)).await.unwrap().len(), 2, "{db}");

        let done = CallbackResult {
            status: "done",
            result: "sent the price list",
            reached: true,
            employee: Some("anna"),
            next_follow_up_at: Some(9_000),
            at: 2_000,
            call_id: None,
        };
        assert!(store.complete_callback(id, &done).await.unwrap(), "{db}");
        assert!(!store.complete_callback(id, &done).await.unwrap(), "{db}: only once");
        let mine = CallbackFilter {
            id: Some(id),
            limit: 1,
            ..CallbackFilter::default()
        };
        let closed = &store.callbacks(&mine).await.unwrap()[0];
        assert_eq!(
            (closed.status.as_str(), closed.result.as_deref(), closed.completed_at),
            ("done", Some("sent the price list"), Some(2_000)),
            "{db}"
        );
        assert_eq!(store.callbacks(&open(None)).await.unwrap()[0].id, later, "{db}");

        let card = &store.contacts(Some(card.id), None, None, 1).await.unwrap()[0];
        assert_eq!(
            (card.last_contact_at, card.next_follow_up_at),
            (Some(2_000), Some(9_000)),
            "{db}"
        );
        // Due follow-ups.
        assert!(
            store.contacts(None, None, Some(8_999), 10).await.unwrap().is_empty(),
            "{db}"
        );
        assert_eq!(
            store.contacts(None, None, Some(9_000), 10).await.unwrap().len(),
            1,
            "{db}"
        );

        // A call from the number is logged; an unanswered one does not move the last contact.
        let call = |at, result| NewLogEntry {
            at,
            action: "call-in",
            result,
            employee: None,
            call_id: Some("call-1"),
        };
        let lines = [("+15550001", call(3_000, "no-answer"), false)];
        store.log_call_on_cards(&lines).await.unwrap();
        let no_card = [("+15559999", call(3_000, "completed"), true)];
        store.log_call_on_cards(&no_card).await.unwrap();
        let log = store.contact_log(card.id, 10).await.unwrap();
        assert_eq!(
            log.iter()
                .map(|l| (l.action.as_str(), l.result.as_str()))
                .collect::<Vec<_>>(),
            vec![("call-in", "no-answer"), ("callback", "sent the price list")],
            "{db}"
        );
        assert_eq!(log[1].employee.as_deref(), Some("anna"), "{db}");
        assert_eq!(
            store.contacts(None, Some("+15559999"), None, 1).await.unwrap(),
            vec![],
            "{db}"
        );

        // Editing the card; deleting it takes its callbacks and log along.
        let edited = ContactFields {
            name: "ACME Ltd".into(),
            employee_id: Some(anna),
            next_follow_up_at: None,
            follow_up_every_days: None,
        };
        assert!(store.update_contact(card.id, &edited).await.unwrap(), "{db}");
        let card = &store.contacts(Some(card.id), None, None, 1).await.unwrap()[0];
        assert_eq!(
            (card.name.as_str(), card.employee.as_deref()),
            ("ACME Ltd", Some("anna")),
            "{db}"
        );
        assert!(store.delete_contact(card.id).await.unwrap(), "{db}");
        assert!(store.callbacks(&open(None)).await.unwrap().is_empty(), "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn the_callback_queue_hands_each_call_to_one_node() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let anna = store
            .add_employee("anna", &fields("Anna", "201"), secrets("h"), 1)
            .await
            .unwrap()
            .unwrap();
        let request = NewCallback {
            phone: "+15550001",
            employee_id: Some(anna.id),
            reason: "voicemail",
            recording_id: None,
            due_at: 1_000,
            now: 10,
        };
        let id = store.add_callback(&request).await.unwrap();
        // Nobody's request is for humans to take; the scheduler does not see it.
        store
            .add_callback(&NewCallback {
                employee_id: None,
                ..request.clone()
            })
            .await
            .unwrap();
        assert!(
            store.store().due_callbacks(999, 0, 10).await.unwrap().is_empty(),
            "{db}: not yet"
        );
        let due = store.store().due_callbacks(2_000, 0, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{db}");
        assert_eq!(
            (due[0].id, due[0].employee.as_str(), due[0].attempts),
            (id, "anna", 0),
            "{db}"
        );
        assert!(store.claim_callback(id, 2_000, 0).await.unwrap(), "{db}");
        assert!(!store.claim_callback(id, 2_000, 0).await.unwrap(), "{db}: claimed once");
        assert!(
            store.store().due_callbacks(2_000, 0, 10).await.unwrap().is_empty(),
            "{db}: taken"
        );

        let attempt = NewLogEntry {
            at: 2_500,
            action: "callback",
            result: "anna did not answer",
            employee: Some("anna"),
            call_id: Some("c1"),
        };
        store.retry_callback(&due[0], 5_000, &attempt).await.unwrap();
        assert!(
            store.store().due_callbacks(4_999, 0, 10).await.unwrap().is_empty(),
            "{db}"
        );
        let again = store.store().due_callbacks(5_000, 0, 10).await.unwrap();
        assert_eq!(again[0].attempts, 1, "{db}");
        // A node that claimed it and died: after the stale time another node takes it over.
        assert!(store.claim_callback(id, 6_000, 0).await.unwrap(), "{db}");
        assert!(
            store.store().due_callbacks(7_000, 6_000, 10).await.unwrap().is_empty(),
            "{db}"
        );
        assert_eq!(
            store.store().due_callbacks(7_000, 6_001, 10).await.unwrap()[0].attempts,
            2,
            "{db}"
        );
        assert!(store.claim_callback(id, 7_000, 6_001).await.unwrap(), "{db}");
        let done = CallbackResult {
            status: "done",
            result: "talked 12 s",
            reached: true,
            employee: Some("anna"),
            next_follow_up_at: None,
            at: 7_500,
            call_id: Some("c2"),
        };
        assert!(
            store.complete_callback(id, &done).await.unwrap(),
            "{db}: a claimed callback completes"
        );
        let log = store.contact_log(due[0].contact_id, 10).await.unwrap();
        assert_eq!(
            log.iter()
                .map(|l| (l.result.as_str(), l.call_id.as_deref()))
                .collect::<Vec<_>>(),
            vec![("talked 12 s", Some("c2")), ("anna did not answer", Some("c1"))],
            "{db}"
        );

        // Follow-ups: due ones with a responsible employee, claimed by moving the date.
        let card = ContactFields {
            name: "ACME".into(),
            employee_id: Some(anna.id),
            next_follow_up_at: Some(9_000),
            follow_up_every_days: None,
        };
        let contact = store.put_contact("+15550002", &card, 10).await.unwrap();
        assert!(
            store.store().due_follow_ups(8_999, 10).await.unwrap().is_empty(),
            "{db}"
        );
        let follow = store.store().due_follow_ups(9_000, 10).await.unwrap();
        assert_eq!(
            (follow[0].contact_id, follow[0].follow_up_at),
            (contact, Some(9_000)),
            "{db}"
        );
        assert!(store.claim_follow_up(&follow[0], 12_000).await.unwrap(), "{db}");
        assert!(
            !store.claim_follow_up(&follow[0], 12_000).await.unwrap(),
            "{db}: claimed once"
        );
        let attempts = |store: Tenant| async move {
            store.contacts(Some(contact), None, None, 1).await.unwrap()[0].follow_up_attempts
        };
        assert_eq!(attempts(store.clone()).await, 1, "{db}: an attempt");
        let again = store.store().due_follow_ups(12_000, 10).await.unwrap();
        assert_eq!(again[0].attempts, 1, "{db}");
        assert!(store.defer_follow_up(&again[0], 12_000).await.unwrap(), "{db}");
        assert_eq!(attempts(store.clone()).await, 1, "{db}: put off is no attempt");
        assert!(
            store.store().due_follow_ups(11_999, 10).await.unwrap().is_empty(),
            "{db}: put off"
        );
        let talked = NewLogEntry {
            at: 12_500,
            action: "callback",
            result: "talked 30 s",
            employee: Some("anna"),
            call_id: None,
        };
        store.finish_follow_up(contact, &talked, true, 12_500).await.unwrap();
        let card = &store.contacts(Some(contact), None, None, 1).await.unwrap()[0];
        assert_eq!(
            (card.last_contact_at, card.next_follow_up_at, card.follow_up_attempts),
            (Some(12_500), None, 0),
            "{db}"
        );
        // Every 182 days: once reached (or given up), the next is due 182 days on.
        let repeating = ContactFields {
            name: "ACME".into(),
            employee_id: Some(anna.id),
            next_follow_up_at: Some(20_000),
            follow_up_every_days: Some(182),
        };
        store.update_contact(contact, &repeating).await.unwrap();
        store.finish_follow_up(contact, &talked, false, 30_000).await.unwrap();
        let card = &store.contacts(Some(contact), None, None, 1).await.unwrap()[0];
        assert_eq!(card.next_follow_up_at, Some(30_000 + 182 * 86_400_000), "{db}");
        assert_eq!(card.follow_up_every_days, Some(182), "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

/// Three nodes on one database list the same 30 due requests and 30 due follow-ups, then claim
/// every one of them at once: each goes to exactly one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_nodes_claim_each_due_call_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![("sqlite", dir.path().join("t.db").to_str().unwrap().to_string())];
    let postgres = TestDatabase::create("switchboard_test").await;
    if let Some(db) = &postgres {
        databases.push(("postgres", db.url.clone()));
    }
    for (db, url) in databases {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(Store::open(&url).await.unwrap());
        }
        let home = nodes[0].company(CompanyId::HOME);
        // One employee per request: each is called back once at a time (see below).
        let mut employees = Vec::new();
        for n in 0..30 {
            let login = format!("anna{n}");
            let details = fields("Anna", &format!("2{n:02}"));
            let added = home.add_employee(&login, &details, secrets("h"), 1).await;
            employees.push(added.unwrap().unwrap());
        }
        let anna = &employees[0];
        let mut callbacks = Vec::new();
        for (n, employee) in employees.iter().enumerate() {
            let phone = format!("+155500010{n:02}");
            let request = NewCallback {
                phone: &phone,
                employee_id: Some(employee.id),
                reason: "",
                recording_id: None,
                due_at: 1_000,
                now: 10,
            };
            callbacks.push(home.add_callback(&request).await.unwrap());
            let card = ContactFields {
                name: "ACME".into(),
                employee_id: Some(anna.id),
                next_follow_up_at: Some(1_000),
                follow_up_every_days: None,
            };
            home.put_contact(&format!("+155500020{n:02}"), &card, 10).await.unwrap();
        }
        // Every node has the whole list before any claims: the widest race there is.
        let lists = join_all(nodes.iter().map(|node| node.due_callbacks(2_000, 0, 50))).await;
        let claims = nodes.iter().zip(lists).map(|(node, due)| async move {
            let tenant = node.company(CompanyId::HOME);
            let due = due.unwrap();
            assert_eq!(due.len(), 30, "{db}: every node sees every due request");
            let won = join_all(due.iter().map(|call| tenant.claim_callback(call.id, 2_000, 0))).await;
            due.iter()
                .zip(won)
                .filter_map(|(call, won)| won.unwrap().then_some(call.id))
                .collect::<Vec<_>>()
        });
        let won = join_all(claims).await;
        let mut claimed = won.concat();
        claimed.sort();
        assert_eq!(claimed, callbacks, "{db}: each request claimed once, by node: {won:?}");
        // A node slower to claim than another was to place the call and put it back for later
        // (the phone was busy) finds it not due yet: it does not place it a second time.
        let home = nodes[0].company(CompanyId::HOME);
        let claimed_now = nodes[0].due_callbacks(2_000, i64::MAX, 50).await.unwrap();
        let placed = &claimed_now[0];
        let busy = NewLogEntry {
            at: 2_000,
            action: "callback",
            result: "busy",
            employee: None,
            call_id: None,
        };
        home.retry_callback(placed, 602_000, &busy).await.unwrap();
        let late = nodes[1]
            .company(CompanyId::HOME)
            .claim_callback(placed.id, 2_100, 0)
            .await;
        assert!(
            !late.unwrap(),
            "{db}: a request put back for later is not claimed before it is due"
        );
        assert!(
            home.claim_callback(placed.id, 602_000, 0).await.unwrap(),
            "{db}: it is once due"
        );
        // An employee is called back once at a time, whichever node claims: another request of
        // his waits until the one being placed is settled.
        let employee_id = employees.iter().find(|e| e.login == placed.employee).map(|e| e.id);
        let another = NewCallback {
            phone: "+15550003000",
            employee_id,
            reason: "",
            recording_id: None,
            due_at: 1_000,
            now: 10,
        };
        let another = home.add_callback(&another).await.unwrap();
        let claim = nodes[2]
            .company(CompanyId::HOME)
            .claim_callback(another, 602_000, 0)
            .await;
        assert!(!claim.unwrap(), "{db}: his other request is being placed");
        home.retry_callback(placed, 900_000, &busy).await.unwrap();
        let claim = nodes[2]
            .company(CompanyId::HOME)
            .claim_callback(another, 602_000, 0)
            .await;
        assert!(claim.unwrap(), "{db}: settled, the next may be placed");

        let lists = join_all(nodes.iter().map(|node| node.due_follow_ups(2_000, 50))).await;
        let claims = nodes.iter().zip(lists).map(|(node, due)| async move {
            let tenant = node.company(CompanyId::HOME);
            let due = due.unwrap();
            assert_eq!(due.len(), 30, "{db}: every node sees every due follow-up");
            let won = join_all(due.iter().map(|call| tenant.claim_follow_up(call, 9_000))).await;
            due.iter()
                .zip(won)
                .filter_map(|(call, won)| won.unwrap().then_some(call.contact_id))
                .collect::<Vec<_>>()
        });
        let won = join_all(claims).await;
        let claimed = won.concat();
        let distinct: std::collections::HashSet<_> = claimed.iter().collect();
        assert_eq!(
            (claimed.len(), distinct.len()),
            (30, 30),
            "{db}: each follow-up claimed once, by node: {won:?}"
        );
        for node in nodes {
            node.pool.close().await;
        }
    }
}

#[tokio::test]
async fn the_mail_outbox_hands_each_mail_to_one_sender_and_keeps_failures() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        let mail = NewMail {
            sender: "pbx@example.com",
            recipient: "alice@example.com",
            subject: "Voicemail",
            message: b"Subject: Voicemail\r\n\r\nhello",
        };
        let id = store.queue_mail(&mail, 1_000).await.unwrap();
        assert!(
            store.store().due_mail(999, 10).await.unwrap().is_empty(),
            "{db}: not yet"
        );
        let due = store.store().due_mail(1_000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{db}");
        assert_eq!((due[0].id, due[0].attempts), (id, 0), "{db}");
        assert_eq!(due[0].message, mail.message, "{db}");
        // Two senders see it; one gets it.
        assert!(store.store().claim_mail(&due[0], 301_000).await.unwrap(), "{db}");
        assert!(
            !store.store().claim_mail(&due[0], 301_000).await.unwrap(),
            "{db}: taken once"
        );
        // A failure puts it back for later, the error kept.
        store
            .store()
            .mail_failed(id, Some(5_000), "connection refused")
            .await
            .unwrap();
        let again = store.store().due_mail(5_000, 10).await.unwrap();
        assert_eq!((again[0].attempts, again[0].due_at), (1, 5_000), "{db}");
        assert!(store.store().claim_mail(&again[0], 305_000).await.unwrap(), "{db}");
        store.store().mail_sent(id, 6_000).await.unwrap();
        assert!(
            store.store().due_mail(i64::MAX, 10).await.unwrap().is_empty(),
            "{db}: sent"
        );
        // Given up: never due again.
        let other = store.queue_mail(&mail, 7_000).await.unwrap();
        store
            .store()
            .mail_failed(other, None, "mailbox unavailable")
            .await
            .unwrap();
        assert!(
            store.store().due_mail(i64::MAX, 10).await.unwrap().is_empty(),
            "{db}: given up"
        );
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn usage_counts_people_numbers_calls_minutes_and_storage() {
    for (db, store, cleanup) in stores().await {
        let store = store.company(CompanyId::HOME);
        assert_eq!(store.usage(0).await.unwrap(), Usage::default(), "{db}: a fresh company");
        store
            .add_employee("anna", &fields("Anna", "201"), secrets("h"), 1)
            .await
            .unwrap();
        store.put_flow("mine", "f1", &[0u8; 300], 1).await.unwrap();
        store
            .store()
            .put_builtin_flow("ivr", "b1", &[0u8; 999], 1)
            .await
            .unwrap();
        let number = Assignment {
            company: CompanyId::HOME,
            number: "+15550100100".into(),
            flow_sha256: "f1".into(),
            ..Assignment::default()
        };
        store.assign(&number).await.unwrap();
        let call = |id: &str, started_at: i64, talked_ms: Option<i64>| CallRecord {
            id: id.into(),
            sip_call_id: id.into(),
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            flow: None,
            started_at,
            answered_at: talked_ms.map(|_| started_at + 1_000),
            answered_by: None,
            ended_at: started_at + 1_000 + talked_ms.unwrap_or(0),
            outcome: "completed".into(),
            trace: Vec::new(),
            legs: Vec::new(),
            result: CallResult::SelfService,
            offered_to: Vec::new(),
            ended_in: None,
            wait_ms: 1_000,
        };
        // 90 s talked (2 minutes, rounded up), a call nobody answered, and one before `since`.
        store
            .insert_call_record(&call("a", 10_000, Some(90_000)))
            .await
            .unwrap();
        store.insert_call_record(&call("b", 20_000, None)).await.unwrap();
        store
            .insert_call_record(&call("c", 1_000, Some(600_000)))
            .await
            .unwrap();
        store.put_prompt("hello", &[0u8; 50], 10, 1).await.unwrap();
        let usage = store.usage(5_000).await.unwrap();
        let expected = Usage {
            employees: 1,
            numbers: 1,
            flow_versions: 1,
            connected_minutes: 2,
            calls: 2,
            storage_bytes: 300 + 50,
        };
        assert_eq!(usage, expected, "{db}");
        cleanup.run(store.store().clone()).await;
    }
}

#[tokio::test]
async fn a_company_sees_only_its_own() {
    for (db, store, cleanup) in stores().await {
        let plan = Plan {
            max_employees: Some(3),
            ..Plan::default()
        };
        let b_id = store
            .create_company("B Ltd", "B.Example", &plan, 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store
                .create_company("Again", "b.example", &Plan::default(), 6)
                .await
                .unwrap(),
            None,
            "{db}: a domain is one company's"
        );
        let (a, b) = (store.company(CompanyId::HOME), store.company(b_id));
        let info = b.info().await.unwrap();
        assert_eq!(
            (info.sip_domain.as_str(), info.plan.max_employees),
            ("b.example", Some(3)),
            "{db}"
        );
        // A new company starts as a fresh install does: the menu's departments, office hours.
        assert_eq!(b.departments().await.unwrap().len(), 2, "{db}");
        assert_eq!(b.schedules(Some("office")).await.unwrap().len(), 1, "{db}");

        // The same login and extension in both, each company its own.
        let alice_a = a
            .add_employee("alice", &fields("Alice", "101"), secrets("ha1-a"), 1)
            .await
            .unwrap()
            .unwrap();
        let alice_b = b
            .add_employee("alice", &fields("Alice B", "101"), secrets("ha1-b"), 1)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(alice_a.id, alice_b.id, "{db}");
        assert_eq!(
            b.employee("101", true).await.unwrap().unwrap().fields.name,
            "Alice B",
            "{db}"
        );
        assert_eq!(a.employees().await.unwrap().len(), 1, "{db}");
        let credentials = store.all_sip_credentials().await.unwrap();
        assert!(
            credentials.contains(&(b_id, "alice".into(), alice_b.id, "ha1-b".into())),
            "{db}"
        );
        // A department cannot take another company's employee as a member.
        let mut sales = b.department("sales", false).await.unwrap().unwrap();
        sales.member_ids = vec![alice_a.id, alice_b.id];
        b.put_department(&sales, 2).await.unwrap();
        assert_eq!(
            b.department("sales", false).await.unwrap().unwrap().members,
            ["alice"],
            "{db}"
        );
        assert_eq!(
            b.department("sales", false).await.unwrap().unwrap().member_ids,
            [alice_b.id],
            "{db}"
        );

        // A number is one company's; the other cannot take it over.
        let number = Assignment {
            number: "+15550100100".into(),
            flow_sha256: "aaa".into(),
            settings: "{}".into(),
            timezone: "UTC".into(),
            ..Assignment::default()
        };
        store.put_builtin_flow("ivr", "aaa", b"w", 1).await.unwrap();
        assert!(a.assign(&number).await.unwrap(), "{db}");
        assert!(!b.assign(&number).await.unwrap(), "{db}: A's number");
        assert_eq!(b.assignments().await.unwrap().len(), 0, "{db}");
        assert_eq!(store.assignments().await.unwrap()[0].company, CompanyId::HOME, "{db}");

        // Uploaded flows: each its own, built-ins everyone's; the same bytes are one company's.
        assert!(a.put_flow("mine", "fa", b"a", 2).await.unwrap(), "{db}");
        assert!(!b.put_flow("copy", "fa", b"a", 3).await.unwrap(), "{db}: held by A");
        assert!(b.flow_info("fa").await.unwrap().is_none(), "{db}");
        assert_eq!(b.resolve_flow("mine").await.unwrap(), None, "{db}");
        assert_eq!(b.resolve_flow("ivr").await.unwrap().as_deref(), Some("aaa"), "{db}");
        assert!(!b.delete_flow("fa").await.unwrap(), "{db}");

        // Recordings, call records, contacts, tokens: by id, still only one's own.
        let info = RecordingInfo {
            id: "r1".into(),
            call_id: "c1".into(),
            kind: "voicemail".into(),
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            duration_ms: 1000,
            ended_by: "#".into(),
            created_at: 9,
            mailbox: Some("alice".into()),
            heard: false,
        };
        a.insert_recording(&info, b"RIFF").await.unwrap();
        assert_eq!(b.recording_wav("r1").await.unwrap(), None, "{db}");
        assert!(!b.set_heard("r1", true).await.unwrap(), "{db}");
        assert_eq!(
            b.messages("alice").await.unwrap(),
            (0, 0),
            "{db}: another company's alice"
        );
        assert!(!b.delete_recording("r1").await.unwrap(), "{db}");
        let everything = RecordingFilter {
            limit: 10,
            ..RecordingFilter::default()
        };
        assert!(b.recordings(&everything).await.unwrap().is_empty(), "{db}");
        assert_eq!(a.recordings(&everything).await.unwrap().len(), 1, "{db}");
        let contact = a
            .put_contact("+15550100007", &ContactFields::default(), 1)
            .await
            .unwrap();
        assert!(
            b.contacts(Some(contact), None, None, 10).await.unwrap().is_empty(),
            "{db}"
        );
        assert!(
            !b.update_contact(contact, &ContactFields::default()).await.unwrap(),
            "{db}"
        );
        let entry = NewLogEntry {
            at: 5,
            action: "note",
            result: "B writes on A's card",
            employee: None,
            call_id: None,
        };
        b.log_contact(contact, &entry, true).await.unwrap();
        assert!(
            a.contact_log(contact, 10).await.unwrap().is_empty(),
            "{db}: nothing written"
        );
        assert!(b.contact_log(contact, 10).await.unwrap().is_empty(), "{db}");
        b.add_token("b-token", "ops", None, 1).await.unwrap();
        let owner = store.token_owner("b-token", 2).await.unwrap().unwrap();
        assert_eq!((owner.company, owner.operator), (b_id, false), "{db}");
        assert!(
            !a.revoke_token(&"b-token".repeat(3)[..TOKEN_ID_LEN]).await.unwrap(),
            "{db}"
        );
        assert!(a.tokens().await.unwrap().is_empty(), "{db}");

        // Mail each company queued (what caps the mails its callers cause).
        let mail = NewMail {
            sender: "pbx@example.com",
            recipient: "alice@example.com",
            subject: "Voicemail",
            message: b"...",
        };
        a.queue_mail(&mail, 100).await.unwrap();
        assert_eq!(a.mail_queued_since(50).await.unwrap(), 1, "{db}");
        assert_eq!(a.mail_queued_since(150).await.unwrap(), 0, "{db}");
        assert_eq!(b.mail_queued_since(0).await.unwrap(), 0, "{db}");

        // Suspended: kept, its token says so, its due callbacks wait.
        let mut suspended = b.info().await.unwrap();
        suspended.suspended = true;
        suspended.suspended_reason = "unpaid".into();
        assert_eq!(store.update_company(&suspended).await.unwrap(), Some(true), "{db}");
        assert!(
            store.token_owner("b-token", 2).await.unwrap().unwrap().suspended,
            "{db}"
        );
        let request = NewCallback {
            phone: "+15550100008",
            employee_id: Some(alice_b.id),
            reason: "call me",
            recording_id: None,
            due_at: 1,
            now: 1,
        };
        b.add_callback(&request).await.unwrap();
        assert!(store.due_callbacks(10, 0, 10).await.unwrap().is_empty(), "{db}");
        // Another company's domain cannot be taken by a rename.
        let mut home = a.info().await.unwrap();
        home.sip_domain = "b.example".into();
        assert_eq!(store.update_company(&home).await.unwrap(), Some(false), "{db}");
        cleanup.run(store).await;
    }
}

/// The queues' board: a node's waiting callers are seen by the other nodes (not by itself),
/// oldest first, until offered or gone; an agent's rest replaces the last, his last call stays
/// when a rest does not say; another company sees none of it; a gone node's callers go with it.
#[tokio::test]
async fn queue_callers_and_agents_are_seen_by_the_other_nodes() {
    for (db, store, cleanup) in stores().await {
        let tenant = store.company(CompanyId::HOME);
        let stranger = store.company(CompanyId(2));
        store.node_seen("n1", 1_000).await.unwrap();
        store.node_seen("n2", 1_000).await.unwrap();
        tenant.queue_place_joined("n1", "sales", 2, true, 600).await.unwrap();
        tenant.queue_place_joined("n1", "sales", 1, false, 500).await.unwrap();
        tenant.queue_place_joined("n1", "sales", 1, false, 500).await.unwrap();
        tenant.queue_place_joined("n1", "support", 3, false, 400).await.unwrap();
        let waiting = |internal, joined_at| WaitingElsewhere { internal, joined_at };
        let (seen, _) = tenant.queue_elsewhere("n2", "sales", 900).await.unwrap();
        assert_eq!(seen, [waiting(false, 500), waiting(true, 600)], "{db}");
        assert!(
            tenant.queue_elsewhere("n1", "sales", 900).await.unwrap().0.is_empty(),
            "{db}: its own"
        );
        assert!(
            stranger.queue_elsewhere("n2", "sales", 900).await.unwrap().0.is_empty(),
            "{db}"
        );
        assert!(
            tenant.queue_elsewhere("n2", "sales", 1_001).await.unwrap().0.is_empty(),
            "{db}: n1 is gone"
        );
        tenant.queue_place_offered("n1", "sales", 1, true).await.unwrap();
        let (seen, _) = tenant.queue_elsewhere("n2", "sales", 900).await.unwrap();
        assert_eq!(seen, [waiting(true, 600)], "{db}");
        tenant.queue_place_offered("n1", "sales", 1, false).await.unwrap();
        tenant.queue_place_left("n1", "sales", 2).await.unwrap();
        let (seen, _) = tenant.queue_elsewhere("n2", "sales", 900).await.unwrap();
        assert_eq!(seen, [waiting(false, 500)], "{db}");

        let rest = |idle_since, rest_until| AgentRest {
            login: "alice".into(),
            idle_since,
            rest_until,
        };
        tenant.queue_agent_rests("sales", &rest(Some(700), 705)).await.unwrap();
        tenant.queue_agent_rests("sales", &rest(None, 800)).await.unwrap();
        let (_, agents) = tenant.queue_elsewhere("n1", "sales", 900).await.unwrap();
        assert_eq!(agents, [rest(Some(700), 800)], "{db}");
        assert!(
            stranger.queue_elsewhere("n1", "sales", 900).await.unwrap().1.is_empty(),
            "{db}"
        );

        if store.is_shared() {
            store.node_seen("n2", 2_000).await.unwrap();
            store.forget_nodes(1_500).await.unwrap();
            store.node_seen("n1", 3_000).await.unwrap();
            let (seen, _) = tenant.queue_elsewhere("n2", "sales", 900).await.unwrap();
            assert!(seen.is_empty(), "{db}: n1's callers went with it");
        }
        cleanup.run(store.clone()).await;
    }
}
