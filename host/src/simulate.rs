//! `switchboard flow simulate`: run a flow against a scripted call on a virtual clock and print
//! every verb it performs, with its time.

use std::sync::Arc;

use crate::call::Trace;
use crate::call::script::{Script, ScriptedCall};
use crate::flow::{BUILTIN_FLOWS, FlowEngine, FlowExit, FlowLimits, FlowRun, FlowVersion};
use crate::media::PromptLibrary;

pub struct Simulation {
    /// A `.wasm` file or the name of a built-in flow.
    pub flow: String,
    pub settings: String,
    pub script: String,
    pub caller: String,
    pub dialled: String,
}

/// A runtime whose clock is paused: every wait in a flow (a prompt, a digit timeout, a ringing
/// phone) passes at once. Run it on a thread of its own (the CLI's, or a blocking task's).
pub fn paused_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
}

/// Simulations and route maps running at once on this node (each takes a core for up to a few
/// seconds); more wait for none, they are refused.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A slot to simulate in, if one is free now.
pub fn slot() -> Option<tokio::sync::SemaphorePermit<'static>> {
    SLOTS.try_acquire().ok()
}

/// One simulated call: `version` run with `settings` against the call `call` makes, on
/// `runtime`'s paused clock (the call is made inside the runtime, so that it reads that clock).
pub fn run_scripted(
    runtime: &tokio::runtime::Runtime,
    engine: &FlowEngine,
    version: &FlowVersion,
    settings: &str,
    call: impl FnOnce() -> ScriptedCall,
) -> FlowRun {
    runtime.block_on(async { engine.run(version, Box::new(call()), settings, Trace::default()).await })
}

/// Runs the simulation and returns the printed report, and whether the flow ended well.
pub fn simulate(sim: &Simulation) -> anyhow::Result<(String, bool)> {
    let wasm = match BUILTIN_FLOWS.iter().find(|(name, _)| *name == sim.flow) {
        Some((_, wasm)) => wasm.to_vec(),
        None => std::fs::read(&sim.flow).map_err(|e| {
            let names: Vec<&str> = BUILTIN_FLOWS.iter().map(|(n, _)| *n).collect();
            anyhow::anyhow!("{}: {e} (built-in flows: {})", sim.flow, names.join(", "))
        })?,
    };
    let script: Script = sim.script.parse().map_err(|e| anyhow::anyhow!("script: {e}"))?;
    let settings: serde_json::Value = serde_json::from_str(if sim.settings.trim().is_empty() {
        "{}"
    } else {
        &sim.settings
    })
    .map_err(|e| anyhow::anyhow!("settings are not JSON: {e}"))?;

    let engine = FlowEngine::new(FlowLimits {
        max_instances: 4,
        ..FlowLimits::default()
    })?;
    let version = engine.load(&wasm)?;
    let runtime = paused_runtime()?;
    let prompts = Arc::new(PromptLibrary::with_builtins());
    let call = || ScriptedCall::new(script, prompts, &sim.caller, &sim.dialled);
    let run = run_scripted(&runtime, &engine, &version, &settings.to_string(), call);

    let mut out = format!(
        "flow {} on a call from {} to {}\n",
        &version.sha256[..12],
        sim.caller,
        sim.dialled
    );
    for entry in run.trace.entries() {
        out.push_str(&format!("{:>9.3}s  {}\n", entry.at_ms as f64 / 1000.0, entry.event));
    }
    let ok = matches!(run.exit, FlowExit::Completed);
    out.push_str(&match &run.exit {
        FlowExit::Completed => "flow completed\n".to_string(),
        FlowExit::Failed(m) => format!("flow returned an error: {m}\n"),
        FlowExit::Trapped(m) => format!("flow trapped: {m}\n"),
    });
    Ok((out, ok))
}
