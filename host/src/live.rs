//! Calls in progress: listed by `GET /calls/live` and counted by `switchboard_active_calls`.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

#[derive(Debug, Default)]
pub struct LiveCalls(Mutex<BTreeMap<String, LiveCall>>);

/// A call as it is now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveCall {
    /// The id its call record will have.
    pub id: String,
    /// The node that has it (listed when several nodes share the database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub caller: String,
    pub dialled: String,
    /// Unix ms.
    pub started_at: i64,
    /// Ends the call from outside (an admin hanging it up).
    #[serde(skip)]
    pub stop: tokio_util::sync::CancellationToken,
}

/// The call is live while this lives.
pub struct Live {
    calls: Arc<LiveCalls>,
    id: String,
}

impl LiveCalls {
    pub fn enter(self: &Arc<Self>, call: LiveCall) -> Live {
        metrics::gauge!("switchboard_active_calls").increment(1.0);
        let id = call.id.clone();
        self.0.lock().insert(id.clone(), call);
        Live {
            calls: self.clone(),
            id,
        }
    }

    /// Hangs up the call `id`; false when no such call is up.
    pub fn end(&self, id: &str) -> bool {
        match self.0.lock().get(id) {
            Some(call) => {
                call.stop.cancel();
                true
            }
            None => false,
        }
    }

    /// Oldest first.
    pub fn list(&self) -> Vec<LiveCall> {
        let mut calls: Vec<LiveCall> = self.0.lock().values().cloned().collect();
        calls.sort_by_key(|c| c.started_at);
        calls
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.calls.0.lock().remove(&self.id);
        metrics::gauge!("switchboard_active_calls").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_listed_while_it_lives() {
        let calls = Arc::new(LiveCalls::default());
        let call = |id: &str, at| LiveCall {
            id: id.into(),
            node: None,
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            started_at: at,
            stop: Default::default(),
        };
        let b = calls.enter(call("b", 2));
        let a = calls.enter(call("a", 1));
        assert_eq!(
            calls.list().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(calls.end("a") && !calls.end("zed"));
        assert!(calls.list()[0].stop.is_cancelled());
        drop(a);
        drop(b);
        assert!(calls.list().is_empty());
    }
}
