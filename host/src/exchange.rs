//! The exchange: where an inbound INVITE meets its number's flow. Wires `sip/` to `call/` and
//! `flow/`, runs the fallback when a flow fails, and writes the call record.

use std::sync::Arc;

use tracing::Instrument;

use crate::call::record::unix_ms;
use crate::call::{CallControl, CallRecord, InboundCall, MediaEnv, Trace};
use crate::flow::{FlowExit, FlowRegistry};
use crate::sip::{InboundLeg, InviteHandler};
use crate::store::Store;

/// Played when a flow fails, before the call is ended cleanly.
pub const APOLOGY_PROMPT: &str = "technical-difficulties";

pub struct Exchange {
    pub registry: Arc<FlowRegistry>,
    pub store: Store,
    pub media: Arc<MediaEnv>,
}

impl InviteHandler for Exchange {
    fn on_invite(&self, leg: InboundLeg) {
        let registry = self.registry.clone();
        let store = self.store.clone();
        let media = self.media.clone();
        let id = hex::encode(rand::random::<[u8; 8]>());
        let span = tracing::info_span!("call", call = %id);
        tokio::spawn(async move { handle_call(&registry, &store, media, leg, id).await }.instrument(span));
    }
}

async fn handle_call(registry: &FlowRegistry, store: &Store, media: Arc<MediaEnv>, leg: InboundLeg, id: String) {
    let started_at = unix_ms();
    let (caller, dialled, sip_call_id) = (leg.caller.clone(), leg.dialled.clone(), leg.call_id.clone());
    tracing::info!(%caller, %dialled, source = %leg.source, "INVITE");
    let mut trace = Trace::default();

    let Some(route) = registry.route(&dialled) else {
        leg.reject(404, "Not Found");
        tracing::info!(%dialled, "unknown number: 404");
        trace.push("unknown number → 404 Not Found");
        let record = CallRecord {
            id,
            sip_call_id,
            caller,
            dialled,
            flow: None,
            started_at,
            answered_at: None,
            ended_at: unix_ms(),
            outcome: "not-found".into(),
            trace: trace.into_entries(),
        };
        save(store, &record).await;
        return;
    };

    // The exchange has taken the call: tell the caller while the flow decides what to do.
    leg.ringing();
    trace.push(format!("flow {} starts", &route.version.sha256[..12]));
    let call = Box::new(InboundCall::new(id.clone(), leg, media));
    let run = registry
        .engine()
        .run(&route.version, call, &route.assignment.settings, trace)
        .await;
    let (mut call, mut trace) = (run.call, run.trace);

    if let FlowExit::Failed(reason) | FlowExit::Trapped(reason) = &run.exit {
        tracing::warn!(%reason, "flow failed: running the fallback");
        trace.push(format!("flow failed: {reason}"));
        fallback(call.as_mut(), &mut trace).await;
    }
    // Ends the call unless the flow or the caller already did.
    call.hangup().await;
    let facts = call.facts();
    let record = CallRecord {
        id,
        sip_call_id: facts.sip_call_id,
        caller,
        dialled,
        flow: Some(route.version.sha256.clone()),
        started_at,
        answered_at: facts.answered_at,
        ended_at: unix_ms(),
        outcome: outcome(&run.exit, facts.caller_gone).into(),
        trace: trace.into_entries(),
    };
    tracing::info!(outcome = %record.outcome, "call ended");
    save(store, &record).await;
}

/// A failure of the flow is what the record must show first; then who ended the call.
fn outcome(exit: &FlowExit, caller_gone: bool) -> &'static str {
    match exit {
        FlowExit::Trapped(_) => "flow-trapped",
        FlowExit::Failed(_) => "flow-error",
        FlowExit::Completed if caller_gone => "caller-hangup",
        FlowExit::Completed => "completed",
    }
}

/// The caller of a failed flow is never left in silence: an apology, then a clean end.
async fn fallback(call: &mut dyn CallControl, trace: &mut Trace) {
    match call.play(APOLOGY_PROMPT).await {
        Ok(()) => trace.push(format!("fallback: played {APOLOGY_PROMPT}")),
        Err(e) => trace.push(format!("fallback: could not play the apology ({e})")),
    }
}

async fn save(store: &Store, record: &CallRecord) {
    if let Err(e) = store.insert_call_record(record).await {
        // Never lose a record silently: it goes to the log in full.
        tracing::error!(error = %e, record = ?record, "could not store the call record");
    }
}
