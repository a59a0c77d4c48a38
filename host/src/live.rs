//! Calls in progress: listed by `GET /calls/live` and counted by `switchboard_active_calls`.

use crate::tenant::CompanyId;
use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::call::{Feature, FeatureRequest};

#[derive(Debug)]
pub struct LiveCalls {
    calls: Mutex<BTreeMap<String, LiveCall>>,
    /// Counts calls entering and leaving (the console's live view waits on it).
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for LiveCalls {
    fn default() -> Self {
        LiveCalls {
            calls: Mutex::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// A call as it is now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveCall {
    /// The id its call record will have.
    pub id: String,
    /// Whose call it is.
    #[serde(skip)]
    pub company: CompanyId,
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
    /// Asks the call for a feature (a three-way call); none for another node's call.
    #[serde(skip)]
    pub requests: Option<tokio::sync::mpsc::UnboundedSender<FeatureRequest>>,
}

/// Why a feature asked of a live call is not under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    NoSuchCall,
    /// The call cannot do it now (not in a two-party conversation, a colleague already ringing).
    Refused(String),
}

/// How long a call in a conversation takes to take up a feature (it answers at once); one that
/// does not is not in a conversation.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The call is live while this lives.
pub struct Live {
    calls: Arc<LiveCalls>,
    id: String,
}

impl LiveCalls {
    pub fn enter(self: &Arc<Self>, call: LiveCall) -> Live {
        metrics::gauge!("switchboard_active_calls").increment(1.0);
        let id = call.id.clone();
        self.calls.lock().insert(id.clone(), call);
        self.changes.send_modify(|n| *n += 1);
        Live {
            calls: self.clone(),
            id,
        }
    }

    /// Hangs up the call `id`; false when no such call is up.
    pub fn end(&self, id: &str) -> bool {
        match self.calls.lock().get(id) {
            Some(call) => {
                call.stop.cancel();
                true
            }
            None => false,
        }
    }

    /// Asks call `id` for `feature`; what it answered.
    pub async fn ask(&self, id: &str, feature: Feature) -> Result<String, AskError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = {
            let calls = self.calls.lock();
            let requests = calls.get(id).and_then(|c| c.requests.clone());
            requests.is_some_and(|r| r.send(FeatureRequest { feature, reply }).is_ok())
        };
        if !sent {
            return Err(AskError::NoSuchCall);
        }
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(Ok(answer)) => answer.map_err(AskError::Refused),
            // Dropped unanswered: the call ended meanwhile.
            Ok(Err(_)) => Err(AskError::NoSuchCall),
            Err(_) => Err(AskError::Refused("the call is not in a two-party conversation".into())),
        }
    }

    /// Wakes whoever waits on it each time a call here starts or ends.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Whose call `id` is, when it is up here.
    pub fn company_of(&self, id: &str) -> Option<CompanyId> {
        self.calls.lock().get(id).map(|c| c.company)
    }

    /// The company's calls here, oldest first.
    pub fn list(&self, company: CompanyId) -> Vec<LiveCall> {
        let mut calls: Vec<LiveCall> = self
            .calls
            .lock()
            .values()
            .filter(|c| c.company == company)
            .cloned()
            .collect();
        calls.sort_by_key(|c| c.started_at);
        calls
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.calls.calls.lock().remove(&self.id);
        self.calls.changes.send_modify(|n| *n += 1);
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
            company: CompanyId::HOME,
            node: None,
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            started_at: at,
            stop: Default::default(),
            requests: None,
        };
        let b = calls.enter(call("b", 2));
        let a = calls.enter(call("a", 1));
        let other = calls.enter(LiveCall {
            company: CompanyId(2),
            ..call("x", 0)
        });
        assert_eq!(calls.company_of("x"), Some(CompanyId(2)), "another company's call");
        assert_eq!(
            calls
                .list(CompanyId::HOME)
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(calls.end("a") && !calls.end("zed"));
        assert!(calls.list(CompanyId::HOME)[0].stop.is_cancelled());
        drop((a, b, other));
        assert!(calls.list(CompanyId::HOME).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_not_in_a_conversation_does_not_take_up_a_feature() {
        let calls = Arc::new(LiveCalls::default());
        let (asks, mut requests) = tokio::sync::mpsc::unbounded_channel();
        let _live = calls.enter(LiveCall {
            id: "c".into(),
            company: CompanyId::HOME,
            node: None,
            caller: "+15550100001".into(),
            dialled: "+15550100100".into(),
            started_at: 1,
            stop: Default::default(),
            requests: Some(asks),
        });
        let three_way = || Feature::ThreeWay {
            extension: "102".into(),
        };
        assert_eq!(calls.ask("zed", three_way()).await, Err(AskError::NoSuchCall));
        // Nobody reads the requests (the call is in its menu): refused after a while.
        let refused = calls.ask("c", three_way()).await;
        assert!(matches!(refused, Err(AskError::Refused(_))), "{refused:?}");
        // In a conversation the call answers.
        let answering = tokio::spawn(async move {
            let request = requests.recv().await.unwrap(); // the stale one
            assert!(request.reply.is_closed());
            let request = requests.recv().await.unwrap();
            request.reply.send(Ok("ringing 102".into())).unwrap();
        });
        assert_eq!(calls.ask("c", three_way()).await, Ok("ringing 102".into()));
        answering.await.unwrap();
    }
}
