//! `switchboard flow simulate`: run a flow against a scripted call on a virtual clock and print
//! every verb it performs, with its time.

use std::sync::Arc;

use crate::call::Trace;
use crate::call::script::{Script, ScriptedCall};
use crate::flow::{BUILTIN_FLOWS, FlowEngine, FlowExit, FlowLimits};
use crate::media::PromptLibrary;

pub struct Simulation {
    /// A `.wasm` file or the name of a built-in flow.
    pub flow: String,
    pub settings: String,
    pub script: String,
    pub caller: String,
    pub dialled: String,
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
    // A paused clock: every wait in the flow (a prompt, a digit timeout) passes instantly.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    let run = runtime.block_on(async {
        let prompts = Arc::new(PromptLibrary::with_builtins());
        let call = Box::new(ScriptedCall::new(script, prompts, &sim.caller, &sim.dialled));
        engine
            .run(&version, call, &settings.to_string(), Trace::default())
            .await
    });

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
