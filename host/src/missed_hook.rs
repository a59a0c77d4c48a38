//! The company's missed-call hook: a flow (the built-in `notify`, or the company's own) that the
//! exchange runs after a call to one of its numbers was missed — offered to someone, answered by
//! nobody, no message left. It runs on a call with nobody on the line (`call/lookup.rs`): it may
//! look things up, send HTTP requests to its own allow-listed hosts and file callback requests
//! for the caller, under the same sandbox limits as any flow. It runs after the call's record is
//! saved, so a slow webhook never holds a record back; what it did goes to the log.

use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::call::lookup::{Found, LookupCall, Purpose};
use crate::call::{CallRecord, CallbackRequest, DialEnv, Trace};
use crate::flow::FlowRegistry;

/// The hook as the company set it (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The flow: a name the company may run (`notify`, or one of its uploads) or a sha256; the
    /// API stores the sha256 it resolved to.
    #[schema(min_length = 1)]
    pub flow: String,
    /// The flow's settings, checked against its settings schema.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// Hosts the hook may send HTTP requests to (`name` or `name:port`).
    #[serde(default)]
    #[schema(max_items = 32)]
    pub allowed_hosts: Vec<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

impl Hook {
    /// The stored hook; none when the company has none (or it is unreadable).
    pub fn parse(stored: &str) -> Option<Hook> {
        serde_json::from_str(stored).ok()
    }
}

/// Hook runs at once on this node. A run may wait up to 10 s for its webhook; a flood of missed
/// calls (a stranger calling and hanging up) must not pile runs up: beyond these, a missed call
/// is logged and not hooked.
const MAX_RUNNING: usize = 16;
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_RUNNING);

/// Runs the company's `hook` for the missed call `record` (in the company of `dial`), then files
/// the callback requests it asked for.
pub async fn run(registry: &FlowRegistry, dial: Arc<DialEnv>, hook: Hook, record: &CallRecord) {
    let Ok(_running) = RUNNING.try_acquire() else {
        tracing::warn!(call = %record.id, "missed-call hook skipped: {MAX_RUNNING} runs at once already");
        return;
    };
    let version = match registry.version(&hook.flow).await {
        Ok(version) => version,
        Err(e) => {
            tracing::warn!(error = %e, flow = %hook.flow, "missed-call hook: its flow is gone");
            return;
        }
    };
    let found = Arc::new(Mutex::new(Found::default()));
    let notice = Purpose::Notice {
        call: record.id.clone(),
        dialled: record.dialled.clone(),
    };
    let call = LookupCall::new(
        (&record.caller, notice),
        dial.clone(),
        hook.allowed_hosts,
        found.clone(),
    );
    let run = registry
        .engine()
        .run(&version, Box::new(call), &hook.settings.to_string(), Trace::default())
        .await;
    let said: Vec<String> = run.trace.entries().iter().map(|e| e.event.clone()).collect();
    tracing::info!(call = %record.id, exit = ?run.exit, trace = ?said, "missed-call hook ran");
    let callbacks = std::mem::take(&mut found.lock().callbacks);
    let request = CallbackRequest {
        phone: &record.caller,
        reason: "",
        employee: None,
        recording: None,
    };
    dial.callbacks.file_each(&callbacks, request).await;
}
