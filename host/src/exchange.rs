//! The exchange: where an inbound INVITE meets its number's flow. Wires `sip/` to `call/` and
//! `flow/`, runs the fallback when a flow fails, and writes the call record.

use std::sync::Arc;

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
        tokio::spawn(async move { handle_call(&registry, &store, media, leg).await });
    }
}

async fn handle_call(registry: &FlowRegistry, store: &Store, media: Arc<MediaEnv>, leg: InboundLeg) {
    let id = hex::encode(rand::random::<[u8; 8]>());
    let started_at = unix_ms();
    let span = tracing::info_span!("call", call = %id);
    let _enter = span.enter();
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

    trace.push(format!("flow {} starts", &route.version.sha256[..12]));
    let call = Box::new(InboundCall::new(id.clone(), leg, media));
    let run = registry.engine().run(&route.version, call, &route.assignment.settings, trace).await;
    let (mut call, mut trace) = (run.call, run.trace);

    let outcome = match &run.exit {
        _ if call.facts().caller_gone => "caller-hangup".to_string(),
        FlowExit::Completed => "completed".to_string(),
        FlowExit::Failed(reason) | FlowExit::Trapped(reason) => {
            tracing::warn!(%reason, "flow failed: running the fallback");
            trace.push(format!("flow failed: {reason}"));
            fallback(call.as_mut(), &mut trace).await;
            if matches!(run.exit, FlowExit::Trapped(_)) { "flow-trapped" } else { "flow-error" }.to_string()
        }
    };
    if !call.facts().caller_gone {
        call.hangup().await;
    }
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
        outcome,
        trace: trace.into_entries(),
    };
    tracing::info!(outcome = %record.outcome, "call ended");
    save(store, &record).await;
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
