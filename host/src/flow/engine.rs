//! Compiling, validating and running flow components.
//!
//! - One `Engine` with the pooling allocator: a call's instance comes from a pre-reserved slot
//!   and is reset copy-on-write, so instantiation is microseconds.
//! - One `InstancePre` per flow version: imports are resolved and type-checked once, at upload,
//!   which is also where a component that does not fit our world is refused.
//! - CPU: the flow's future is metered (`sandbox.rs`: the time spent in every poll, guest
//!   code and host calls' synchronous work alike; waiting in a host call — a minute for a digit —
//!   costs nothing). Epoch interruption ticks every 10 ms from a dedicated OS thread (a spinning
//!   guest cannot starve it), and at each tick the guest yields and is stopped once the meter
//!   says the budget is spent; every host call checks it too.
//! - The call's end: once the call is over, the flow has a short grace, then it is dropped.
//! - Memory: `StoreLimits` per call plus the pool's per-memory cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::{CallHandle, Flow, FlowPre};
use super::host::FlowState;
use super::sandbox::{self, Exceeded, Metered, Quotas, StoppedBy};
use super::schema::SettingsSchema;
use crate::call::{CallControl, Trace};

const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Sandbox limits for every flow instance.
#[derive(Debug, Clone)]
pub struct FlowLimits {
    /// Guest CPU time per call.
    pub cpu_budget: Duration,
    /// Whole-call wall time (a stuck flow is stopped after this).
    pub max_call: Duration,
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Concurrent flow instances (pool size).
    pub max_instances: u32,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            cpu_budget: Duration::from_millis(500),
            max_call: Duration::from_secs(4 * 3600),
            memory_bytes: 16 << 20,
            max_instances: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component does not fit the switchboard:flow world: {0}")]
    WrongWorld(String),
    #[error("{0}")]
    BadSettingsSchema(String),
    /// Over one of the upload limits (admission.rs), named.
    #[error("{0}")]
    OverLimit(String),
}

/// A compiled, import-checked flow version.
pub struct FlowVersion {
    pub sha256: String,
    /// The interfaces the component imports (`switchboard:flow/call@0.1.1`, `wasi:…`).
    pub imports: Vec<String>,
    /// The JSON Schema its settings must match, when the author embedded one.
    pub settings_schema: Option<SettingsSchema>,
    pre: FlowPre<FlowState>,
}

/// How a flow run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowExit {
    /// `run` returned `ok`.
    Completed,
    /// `run` returned `err(message)`.
    Failed(String),
    /// The guest trapped or overran a limit; the host must take care of the caller.
    Trapped(String),
}

/// A finished run: how it ended, plus the call and its trace, handed back to the caller.
pub struct FlowRun {
    pub exit: FlowExit,
    pub call: Box<dyn CallControl>,
    pub trace: Trace,
}

#[derive(Clone)]
pub struct FlowEngine {
    engine: Engine,
    linker: Arc<Linker<FlowState>>,
    limits: FlowLimits,
    /// Held, not read: when the last engine clone drops, the ticker thread stops.
    _ticker: Arc<TickerStop>,
}

struct TickerStop(AtomicBool);

impl Drop for TickerStop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl FlowEngine {
    pub fn new(limits: FlowLimits) -> anyhow::Result<Self> {
        let n = limits.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(4 * n)
            .total_memories(n)
            .total_tables(2 * n)
            .total_stacks(n)
            .max_memory_size(limits.memory_bytes)
            .max_memories_per_component(1)
            .table_elements(super::admission::MAX_TABLE_ELEMENTS)
            // Reset a finished call's memory and tables by memset instead of madvise: releasing
            // pages costs page faults on the next call and TLB shootdowns across cores, which
            // made up most of a flow start (19 µs → 7 µs p50, docs/benchmarks.md). Only pages a
            // flow touched stay resident, at most this much per pool slot.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        let mut config = Self::config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        super::wasi::add_to_linker(&mut linker)?;
        Flow::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;

        let ticker_stop = Arc::new(TickerStop(AtomicBool::new(false)));
        let weak = engine.weak();
        let stop = Arc::downgrade(&ticker_stop);
        std::thread::Builder::new().name("flow-epoch".into()).spawn(move || {
            while let (Some(engine), Some(stop)) = (weak.upgrade(), stop.upgrade()) {
                if stop.0.load(Ordering::Relaxed) {
                    break;
                }
                engine.increment_epoch();
                drop((engine, stop));
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        Ok(FlowEngine {
            engine,
            linker: Arc::new(linker),
            limits,
            _ticker: ticker_stop,
        })
    }

    /// Everything of the engine's configuration but its instance pool: compiled code depends on
    /// this, so a compile-only engine (the upload's trial compile) uses it too.
    fn config() -> Config {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_reservation(64 << 20)
            .memory_guard_size(2 << 20)
            .memory_init_cow(true)
            .async_stack_size(512 << 10)
            .max_wasm_stack(256 << 10);
        config
    }

    /// Compiles `wasm` and throws the result away: the child side of an upload's trial compile
    /// (admission.rs), which needs no instance pool.
    pub fn compile_only(wasm: &[u8]) -> Result<(), String> {
        let engine = Engine::new(&Self::config()).map_err(|e| format!("{e:#}"))?;
        Component::new(&engine, wasm).map(drop).map_err(|e| format!("{e:#}"))
    }

    pub fn limits(&self) -> &FlowLimits {
        &self.limits
    }

    pub fn sha256(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// Compiles and type-checks a component against our world.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<FlowVersion>, FlowError> {
        if !is_component_binary(wasm) {
            return Err(FlowError::NotAComponent(
                "expected a component (build with --target wasm32-wasip2), got something else".into(),
            ));
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| FlowError::NotAComponent(format!("{e:#}")))?;
        let settings_schema = SettingsSchema::of_component(wasm).map_err(FlowError::BadSettingsSchema)?;
        let imports = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| FlowError::WrongWorld(format!("{e:#}")))?;
        let pre = FlowPre::new(pre).map_err(|e| FlowError::WrongWorld(format!("{e:#}")))?;
        Ok(Arc::new(FlowVersion {
            sha256: Self::sha256(wasm),
            imports,
            settings_schema,
            pre,
        }))
    }

    /// Runs the flow on `call` until it returns, traps, overruns a limit, or the wall-clock cap.
    pub async fn run(
        &self,
        version: &FlowVersion,
        call: Box<dyn CallControl>,
        settings: &str,
        trace: Trace,
    ) -> FlowRun {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(8)
            .tables(8)
            .memories(2)
            .table_elements(super::admission::MAX_TABLE_ELEMENTS)
            .trap_on_grow_failure(true)
            .build();
        // No arguments, no environment, output discarded (wasi.rs links no filesystem or sockets).
        let wasi = WasiCtxBuilder::new().build();
        let budget = self.limits.cpu_budget;
        let mut state = FlowState::new(wasi, limits, call, trace, Quotas::new(budget));
        let meter = state.quotas.meter.clone();
        let grace_ends = state.quotas.grace_ends();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let quotas = &mut cx.data_mut().quotas;
            if quotas.cpu_spent() {
                quotas.stopped_by = Some(Exceeded::Cpu);
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        });

        let exit = {
            let run = async {
                let flow = version.pre.instantiate_async(&mut store).await?;
                let handle = store.data_mut().table.push(CallHandle)?;
                flow.call_run(&mut store, handle, settings).await
            };
            let run = tokio::time::timeout(self.limits.max_call, Metered { inner: run, meter });
            // Once the call is over, the flow has its grace; then it is dropped, wherever it is.
            let grace_over = async { tokio::time::sleep_until(grace_ends.await).await };
            tokio::select! {
                done = run => match done {
                    Ok(Ok(Ok(()))) => Ok(FlowExit::Completed),
                    Ok(Ok(Err(message))) => Ok(FlowExit::Failed(message)),
                    Ok(Err(trap)) => Err(trap),
                    Err(_) => Ok(FlowExit::Trapped(format!("wall-clock limit of {:?} reached", self.limits.max_call))),
                },
                () = grace_over => Err(sandbox::trap(Exceeded::CallOver)),
            }
        };
        let exit = exit.unwrap_or_else(|trap| FlowExit::Trapped(describe_trap(&trap, &store.data().quotas)));
        let FlowState { call, trace, .. } = store.into_data();
        FlowRun { exit, call, trace }
    }
}

impl Drop for FlowVersion {
    fn drop(&mut self) {
        tracing::debug!(sha256 = %self.sha256, "flow version unloaded");
    }
}

/// Why the flow was stopped, for its call record.
fn describe_trap(error: &wasmtime::Error, quotas: &Quotas) -> String {
    let limit = error.downcast_ref::<StoppedBy>().map(|s| s.0).or(quotas.stopped_by);
    match (limit, error.downcast_ref::<wasmtime::Trap>()) {
        (Some(limit), _) => limit.reason(quotas.budget),
        (None, Some(trap)) => format!("trap: {trap}"),
        // The chain without wasmtime's "error while executing at wasm backtrace" wrapper.
        (None, None) => error
            .chain()
            .map(|e| e.to_string().lines().next().unwrap_or_default().to_string())
            .filter(|line| !line.starts_with("error while executing"))
            .collect::<Vec<_>>()
            .join(": "),
    }
    .chars()
    .take(1000)
    .collect()
}

/// A component's preamble: magic, then layer 1 (a core module is layer 0).
fn is_component_binary(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[0..4] == *b"\0asm" && wasm[6..8] == [1, 0]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::call::script::{Script, ScriptedCall};
    use crate::media::PromptLibrary;

    fn engine(cpu_budget_ms: u64) -> FlowEngine {
        FlowEngine::new(FlowLimits {
            cpu_budget: Duration::from_millis(cpu_budget_ms),
            max_instances: 4,
            ..FlowLimits::default()
        })
        .unwrap()
    }

    fn scripted(script: &str) -> Box<ScriptedCall> {
        let script: Script = script.parse().unwrap();
        Box::new(ScriptedCall::new(
            script,
            Arc::new(PromptLibrary::with_builtins()),
            "+15550100001",
            "+15550100100",
        ))
    }

    /// Seconds of real waiting in host calls are not guest CPU time: a 300 ms budget survives
    /// them. (The run itself uses 25–60 ms in a debug build on the 2-core test machine, which
    /// is why the budget is not smaller.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_in_host_calls_is_not_charged_to_the_cpu_budget() {
        let engine = engine(300);
        let version = engine.load(crate::flow::BUILTIN_FLOWS[0].1).unwrap();
        let settings = r#"{"greeting": "ivr-invalid", "options": {"1": {"hangup": "ivr-invalid"}}}"#;
        let started = std::time::Instant::now();
        let run = engine
            .run(&version, scripted("1s press 1"), settings, Trace::default())
            .await;
        assert_eq!(run.exit, FlowExit::Completed, "{:?}", run.trace.entries());
        assert!(started.elapsed() > Duration::from_secs(3), "the flow really waited");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spinning_flow_is_stopped_at_its_budget() {
        let engine = engine(50);
        let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
        let version = engine.load(&wasm).unwrap();
        let started = std::time::Instant::now();
        let run = engine
            .run(&version, scripted(""), r#"{"mode": "spin"}"#, Trace::default())
            .await;
        match run.exit {
            FlowExit::Trapped(reason) => assert!(reason.starts_with("CPU budget exceeded"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stopped promptly: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn memory_hoarding_traps_at_the_cap() {
        let engine = engine(5_000);
        let wasm = std::fs::read(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).unwrap();
        let version = engine.load(&wasm).unwrap();
        let run = engine
            .run(&version, scripted(""), r#"{"mode": "grow"}"#, Trace::default())
            .await;
        assert!(matches!(run.exit, FlowExit::Trapped(_)), "{:?}", run.exit);
    }

    #[test]
    fn every_built_in_flow_links_and_sockets_or_files_do_not() {
        let engine = engine(50);
        for (name, wasm) in crate::flow::BUILTIN_FLOWS {
            assert!(engine.load(wasm).is_ok(), "{name}");
        }
        for import in ["wasi:sockets/tcp@0.2.6", "wasi:filesystem/preopens@0.2.6"] {
            let wants = wat::parse_str(format!(
                r#"(component (import "{import}" (instance (export "f" (func)))))"#
            ))
            .unwrap();
            match engine.load(&wants) {
                Err(FlowError::WrongWorld(why)) => assert!(why.contains(import), "{why}"),
                other => panic!("{import}: {:?}", other.map(|v| v.imports.clone())),
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_flow() {
        let engine = engine(50);
        assert!(matches!(engine.load(b"not wasm"), Err(FlowError::NotAComponent(_))));
        let core_module = wat::parse_str("(module)").unwrap();
        assert!(matches!(engine.load(&core_module), Err(FlowError::NotAComponent(_))));
        let foreign = wat::parse_str(r#"(component (import "acme:crm/lookup" (func)))"#).unwrap();
        assert!(matches!(engine.load(&foreign), Err(FlowError::WrongWorld(_))));
    }
}
