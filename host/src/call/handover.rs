//! Attended transfer across calls: a bridged call offers its answering party under the dialog
//! its caller knows it by, and another call — the one whose REFER names that dialog in
//! `Replaces` (RFC 3891) — takes that party over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::fork::Winner;
use crate::sip::DialogKey;

/// How long a call that asks for another call's party waits for it.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(2);

/// A request for a call's answering party; the call answers with it and ends.
pub type HandoverRequest = oneshot::Sender<Winner>;

/// Bridged calls whose answering party another call may take over.
#[derive(Default)]
pub struct Handovers(Mutex<HashMap<DialogKey, mpsc::UnboundedSender<HandoverRequest>>>);

/// A call's offer, withdrawn when dropped.
pub struct Offer {
    handovers: Arc<Handovers>,
    key: DialogKey,
    pub requests: mpsc::UnboundedReceiver<HandoverRequest>,
}

impl Drop for Offer {
    fn drop(&mut self) {
        self.handovers.0.lock().remove(&self.key);
    }
}

impl Handovers {
    /// Offers the answering party of the call whose caller knows it as `key`.
    pub fn offer(self: &Arc<Self>, key: DialogKey) -> Offer {
        let (tx, requests) = mpsc::unbounded_channel();
        self.0.lock().insert(key.clone(), tx);
        Offer {
            handovers: self.clone(),
            key,
            requests,
        }
    }

    /// The answering party of the call known as `key`, if that call is bridged and gives it.
    pub async fn take(&self, key: &DialogKey) -> Option<Winner> {
        let requests = self.0.lock().get(key).cloned()?;
        let (reply, answer) = oneshot::channel();
        requests.send(reply).ok()?;
        tokio::time::timeout(HANDOVER_TIMEOUT, answer).await.ok()?.ok()
    }
}
