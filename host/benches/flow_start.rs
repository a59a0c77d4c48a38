//! Flow start: instantiate the built-in IVR from its `InstancePre` (pooling allocator) and run
//! it to its first host call (`answer`), which reports the caller gone so the flow unwinds.
//!
//! `cargo bench -p switchboard --bench flow_start` prints criterion's estimate, then p50/p99
//! over individually timed starts; then what a host call costs: a flow calling cheap verbs in a
//! loop until the sandbox's host-call cap stops it, and the sandbox's accounting on its own.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::call::{
    CallControl, CallError, CallFacts, CollectOptions, DepartmentCard, DialOptions, DialOutcome, EmployeeCard,
    EmployeeKey, HttpRequest, HttpResponse, LineStatus, RecordOptions, Recording, ScreenedOutcome, Screening, Target,
    TimedLeg, Trace,
};
use switchboard::flow::{BUILTIN_FLOWS, FlowEngine, FlowLimits};

/// A call whose caller is gone by the time the flow first asks for anything.
struct GoneCall;

#[async_trait::async_trait]
impl CallControl for GoneCall {
    fn id(&self) -> &str {
        "bench"
    }
    fn caller(&self) -> &str {
        "+15550100001"
    }
    fn dialled(&self) -> &str {
        "+15550100100"
    }
    fn facts(&self) -> CallFacts {
        CallFacts::default()
    }
    /// Still up when the flow starts (as every call is): the sandbox's usual path.
    fn is_over(&mut self) -> bool {
        false
    }
    async fn answer(&mut self) -> Result<(), CallError> {
        Err(CallError::Hangup)
    }
    async fn play(&mut self, _: &str) -> Result<(), CallError> {
        Err(CallError::Hangup)
    }
    async fn collect(&mut self, _: &CollectOptions) -> Result<Option<String>, CallError> {
        Err(CallError::Hangup)
    }
    async fn dial(&mut self, _: &[TimedLeg], _: &DialOptions) -> Result<DialOutcome, CallError> {
        Err(CallError::Hangup)
    }
    async fn dial_screened(
        &mut self,
        _: &[TimedLeg],
        _: &DialOptions,
        _: &Screening,
    ) -> Result<ScreenedOutcome, CallError> {
        Err(CallError::Hangup)
    }
    async fn record(&mut self, _: &RecordOptions) -> Result<Option<Recording>, CallError> {
        Err(CallError::Hangup)
    }
    async fn conference(&mut self, _: &str) -> Result<(), CallError> {
        Err(CallError::Hangup)
    }
    async fn enqueue(
        &mut self,
        _: &str,
        _: &switchboard::call::QueueOptions,
    ) -> Result<switchboard::call::QueueOutcome, CallError> {
        Err(CallError::Hangup)
    }
    async fn hangup(&mut self) {}
    async fn reject(&mut self, _code: u16, _reason: &'static str) -> Result<(), CallError> {
        Err(CallError::Hangup)
    }
    fn local_time(&self) -> (switchboard::schedule::LocalTime, String) {
        let noon = switchboard::schedule::LocalTime {
            date: (2026, 1, 5),
            weekday: 0,
            minute: 12 * 60,
        };
        (noon, "UTC".into())
    }
    async fn is_open(&mut self, _: &str) -> Result<bool, CallError> {
        Err(CallError::Hangup)
    }
    async fn set_mailbox(&mut self, _: &str) -> Result<(), CallError> {
        Err(CallError::Hangup)
    }
    async fn request_callback(&mut self, _: &str) -> Result<(), CallError> {
        Err(CallError::Hangup)
    }
    fn ring_mobiles(&mut self, _: bool) {}
    async fn employee(&mut self, _: EmployeeKey<'_>) -> Result<Option<EmployeeCard>, CallError> {
        Err(CallError::Hangup)
    }
    async fn presence(&mut self, _: &str) -> Result<LineStatus, CallError> {
        Err(CallError::Hangup)
    }
    async fn department(&mut self, _: &str) -> Result<Option<DepartmentCard>, CallError> {
        Err(CallError::Hangup)
    }
    async fn ring_time(&mut self, _: &Target) -> Result<std::time::Duration, CallError> {
        Err(CallError::Hangup)
    }
    async fn last_connected(&mut self, _: &str, _: u32) -> Result<Option<String>, CallError> {
        Err(CallError::Hangup)
    }
    async fn fetch(&mut self, _: HttpRequest) -> Result<HttpResponse, String> {
        Err("the caller is gone".into())
    }
}

fn flow_start(c: &mut Criterion) {
    let engine = FlowEngine::new(FlowLimits {
        max_instances: 64,
        ..FlowLimits::default()
    })
    .unwrap();
    let (_, wasm) = BUILTIN_FLOWS.iter().find(|(name, _)| *name == "ivr").unwrap();
    let version = engine.load(wasm).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start_once = || async {
        let run = engine.run(&version, Box::new(GoneCall), "{}", Trace::default()).await;
        assert_eq!(run.trace.entries().len(), 1, "the flow reached its first host call");
    };

    c.bench_function("flow start (ivr: instantiate + first host call)", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    start_once().await;
                }
                t.elapsed()
            })
        })
    });

    // Percentiles from individually timed starts.
    let mut samples: Vec<Duration> = runtime.block_on(async {
        let mut v = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            start_once().await;
            v.push(t.elapsed());
        }
        v
    });
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "flow start over {} runs: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        samples.len(),
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6
    );
}

/// A host call's cost, whole (guest → host → guest, the verb failing at once) and the
/// sandbox's accounting alone (counting the call and reading the thread's CPU clock; metering a
/// poll of the flow's future).
fn host_calls(c: &mut Criterion) {
    use switchboard::flow::sandbox::{MAX_HOST_CALLS, Meter, Quotas};
    let engine = FlowEngine::new(FlowLimits {
        max_instances: 4,
        cpu_budget: Duration::from_secs(60),
        ..FlowLimits::default()
    })
    .unwrap();
    let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
    let version = engine.load(&wasm).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settings = r#"{"mode": "ignore-errors"}"#;
    let mut per_call = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let run = runtime.block_on(engine.run(&version, Box::new(GoneCall), settings, Trace::default()));
        let took = t.elapsed();
        assert!(
            matches!(&run.exit, switchboard::flow::FlowExit::Trapped(why) if why.starts_with("host-call limit")),
            "{:?}",
            run.exit
        );
        per_call.push(took / MAX_HOST_CALLS);
    }
    per_call.sort();
    println!(
        "host call (play/now/set_mailbox failing at once, {MAX_HOST_CALLS} per run, 20 runs): median {:.0} ns, min {:.0} ns",
        per_call[per_call.len() / 2].as_nanos(),
        per_call[0].as_nanos()
    );

    c.bench_function("sandbox accounting per host call (count + CPU check)", |b| {
        // Inside a poll, as a host call always is: the CPU check reads the clock.
        let fresh = || {
            let quotas = Quotas::new(Duration::from_secs(3600));
            quotas.meter.enter();
            quotas
        };
        let mut quotas = fresh();
        b.iter(|| {
            if quotas.host_calls() >= MAX_HOST_CALLS {
                quotas = fresh();
            }
            std::hint::black_box(quotas.host_call()).unwrap();
        })
    });
    c.bench_function("sandbox meter per poll (enter + leave)", |b| {
        let meter = Meter::default();
        b.iter(|| {
            meter.enter();
            meter.leave();
        })
    });
}

criterion_group!(benches, flow_start, host_calls);
criterion_main!(benches);
