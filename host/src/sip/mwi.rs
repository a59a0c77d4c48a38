//! Message-waiting lamps (RFC 3842): an employee's phone SUBSCRIBEs to the message-summary
//! event package for its own mailbox and gets a NOTIFY with the count of new and old voicemail
//! whenever it changes (a message left, heard, deleted). Phones that never subscribe — many
//! desk phones expect it so — get the same NOTIFY unsolicited, out of any dialog, at every
//! address they registered from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::subscription::ServerSubscriptionDialog;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::Transaction;
use rsipstack::transaction::endpoint::EndpointInnerRef;

use super::auth::{Refusal, User, warning};
use super::location::{Location, Messages};
use crate::tenant::CompanyId;

/// Live message-summary subscriptions one account may hold (one per phone it has).
pub const MAX_PER_MAILBOX: usize = 8;

struct Watcher {
    dialog: ServerSubscriptionDialog,
    expires_at: Instant,
}

/// Every mailbox's watchers. One per server.
pub struct Mailboxes {
    endpoint: EndpointInnerRef,
    dialogs: Arc<DialogLayer>,
    local: SocketAddr,
    /// Where the counts and the phones' addresses come from (set when the server starts
    /// answering).
    location: OnceLock<Arc<dyn Location>>,
    watchers: Mutex<HashMap<(CompanyId, String), Vec<Watcher>>>,
}

impl Mailboxes {
    pub(super) fn new(endpoint: EndpointInnerRef, dialogs: Arc<DialogLayer>, local: SocketAddr) -> Self {
        Mailboxes {
            endpoint,
            dialogs,
            local,
            location: OnceLock::new(),
            watchers: Mutex::default(),
        }
    }

    pub(super) fn set_location(&self, location: Arc<dyn Location>) {
        let _ = self.location.set(location);
    }

    /// Employee `login`'s mailbox changed: his phones' lamps learn its count.
    pub fn changed(self: &Arc<Self>, company: CompanyId, login: &str) {
        let (mailboxes, login) = (self.clone(), login.to_owned());
        tokio::spawn(async move { mailboxes.tell(company, &login).await });
    }

    async fn tell(&self, company: CompanyId, login: &str) {
        let Some(location) = self.location.get() else {
            return;
        };
        let messages = match location.messages(company, login).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, %login, "cannot count the mailbox's messages");
                return;
            }
        };
        let account = account(location.as_ref(), company, login);
        let dialogs: Vec<(ServerSubscriptionDialog, u32)> = {
            let mut watchers = self.watchers.lock();
            let now = Instant::now();
            let live = watchers.entry((company, login.to_owned())).or_default();
            live.retain(|w| w.expires_at > now);
            live.iter()
                .map(|w| (w.dialog.clone(), w.expires_at.duration_since(now).as_secs() as u32))
                .collect()
        };
        tracing::info!(%login, new = messages.new, old = messages.old, subscribed = dialogs.len(), "message-waiting lamp");
        if !dialogs.is_empty() {
            for (dialog, expires) in dialogs {
                notify(dialog, &account, messages, expires).await;
            }
            return;
        }
        // Nobody subscribed: unsolicited, to every phone of his.
        let Ok(Some((user, _))) = location.credentials(company, login).await else {
            return;
        };
        let bindings = location
            .bindings(user, super::unix_secs() as i64)
            .await
            .unwrap_or_default();
        for binding in bindings {
            let headers = vec![
                Header::Event("message-summary".into()),
                Header::SubscriptionState("active".into()),
                Header::ContentType("application/simple-message-summary".into()),
            ];
            let body = summary(&account, messages).into_bytes();
            let sent = super::keepalive::request_to_phone(
                self.endpoint.clone(),
                &binding,
                self.local,
                Method::Notify,
                headers,
                body,
            )
            .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, %login, "unsolicited message-summary NOTIFY not sent");
            }
        }
    }

    /// Accepts `user`'s SUBSCRIBE to mailbox `login` (his own only): 200 queued on `tx`; the
    /// first NOTIFY, to send after it.
    pub(super) async fn accept(
        self: &Arc<Self>,
        tx: &Transaction,
        user: &User,
        login: String,
        expires: u32,
    ) -> Result<impl std::future::Future<Output = ()> + use<>, Refusal> {
        if user.username != login {
            return Err(Refusal::answer(
                StatusCode::Forbidden,
                vec![warning("a phone watches only its own mailbox")],
            ));
        }
        let key = (user.company, login.clone());
        let now = Instant::now();
        let watching = self
            .watchers
            .lock()
            .get(&key)
            .map_or(0, |w| w.iter().filter(|w| w.expires_at > now).count());
        if watching >= MAX_PER_MAILBOX {
            return Err(Refusal::answer(
                StatusCode::Forbidden,
                vec![warning(&format!(
                    "at most {MAX_PER_MAILBOX} message-summary subscriptions per account"
                ))],
            ));
        }
        let location = self
            .location
            .get()
            .cloned()
            .ok_or((StatusCode::ServiceUnavailable, vec![]))?;
        let messages = location
            .messages(user.company, &login)
            .await
            .map_err(|e| Refusal::from(super::auth::internal(e)))?;
        let (dialog, states) = super::subscription::accept_subscription(&self.dialogs, tx, self.local, expires)?;
        tracing::info!(%login, expires, "message-summary subscription");
        let account = account(location.as_ref(), user.company, &login);
        if expires > 0 {
            let watcher = Watcher {
                dialog: dialog.clone(),
                expires_at: now + Duration::from_secs(expires.into()),
            };
            self.watchers.lock().entry(key.clone()).or_default().push(watcher);
            tokio::spawn(self.clone().refreshes(key, dialog.clone(), states, expires));
        }
        Ok(async move { notify(dialog, &account, messages, expires).await })
    }

    /// Answers the phone's refreshing SUBSCRIBEs (and its unsubscribe, Expires: 0).
    async fn refreshes(
        self: Arc<Self>,
        key: (CompanyId, String),
        dialog: ServerSubscriptionDialog,
        mut states: DialogStateReceiver,
        expires: u32,
    ) {
        let mut ends = tokio::time::Instant::now() + Duration::from_secs(expires.into());
        loop {
            let state = tokio::select! {
                state = states.recv() => state,
                _ = tokio::time::sleep_until(ends) => None,
            };
            let Some(state) = state else { break };
            let DialogState::Updated(_, req, handle) = state else {
                if matches!(state, DialogState::Terminated(..)) {
                    break;
                }
                continue;
            };
            let expires = super::subscription::requested_expires(&req);
            let _ = handle
                .respond(StatusCode::OK, Some(vec![Header::Expires(expires.into())]), None)
                .await;
            ends = tokio::time::Instant::now() + Duration::from_secs(expires.into());
            let id = dialog.id();
            if let Some(watchers) = self.watchers.lock().get_mut(&key) {
                for watcher in watchers.iter_mut().filter(|w| w.dialog.id() == id) {
                    watcher.expires_at = Instant::now() + Duration::from_secs(expires.into());
                }
            }
            if let Some(location) = self.location.get()
                && let Ok(messages) = location.messages(key.0, &key.1).await
            {
                let account = account(location.as_ref(), key.0, &key.1);
                notify(dialog.clone(), &account, messages, expires).await;
            }
            if expires == 0 {
                break;
            }
        }
        let id = dialog.id();
        if let Some(watchers) = self.watchers.lock().get_mut(&key) {
            watchers.retain(|w| w.dialog.id() != id);
        }
        self.dialogs.remove_dialog(&id);
    }
}

/// The mailbox's account URI: the login at the company's domain.
fn account(location: &dyn Location, company: CompanyId, login: &str) -> String {
    format!("sip:{login}@{}", location.realm(company))
}

async fn notify(dialog: ServerSubscriptionDialog, account: &str, messages: Messages, expires: u32) {
    let subscription = if expires == 0 {
        "terminated;reason=timeout".to_string()
    } else {
        format!("active;expires={expires}")
    };
    let headers = vec![
        Header::Event("message-summary".into()),
        Header::SubscriptionState(subscription.into()),
        Header::ContentType("application/simple-message-summary".into()),
    ];
    let body = summary(account, messages).into_bytes();
    if let Err(e) = dialog.notify(Some(headers), Some(body)).await {
        tracing::debug!(error = %e, %account, "message-summary NOTIFY failed");
    }
}

/// The RFC 3842 body.
fn summary(account: &str, messages: Messages) -> String {
    let waiting = if messages.new > 0 { "yes" } else { "no" };
    format!(
        "Messages-Waiting: {waiting}\r\nMessage-Account: {account}\r\nVoice-Message: {}/{} (0/0)\r\n",
        messages.new, messages.old
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_summary_says_whether_messages_wait_and_how_many() {
        let summary = super::summary("sip:alice@example.com", super::Messages { new: 2, old: 5 });
        assert_eq!(
            summary,
            "Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\nVoice-Message: 2/5 (0/0)\r\n"
        );
        let none = super::summary("sip:bob@example.com", super::Messages { new: 0, old: 1 });
        assert!(none.starts_with("Messages-Waiting: no\r\n"), "{none}");
    }
}
