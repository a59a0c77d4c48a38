//! Busy-lamp fields: phones SUBSCRIBE to a colleague's extension with the dialog event package
//! (RFC 6665, RFC 4235) and get a NOTIFY whenever the colleague's line goes idle, starts
//! ringing or is in a call. The call layer reports line use through RAII [`LineUse`] guards,
//! so a line can never stay "busy" after the call that made it so is gone.
//!
//! With several nodes on one database a line is busy wherever its calls are: each node tells the
//! others its lines' states ([`Presences::share`], carried by `cluster.rs`), and a lamp shows the
//! busiest of what this node and the others say. What another node said is forgotten when it
//! stops saying it ([`Presences::forget_elsewhere`]), so a node that dies leaves no lamp lit.

use crate::tenant::CompanyId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::subscription::ServerSubscriptionDialog;
use rsipstack::sip::{Header, Request, StatusCode};
use rsipstack::transaction::Transaction;

use super::auth::{Authenticator, Challenge, Refusal, warning};
use super::subscription::{accept_subscription, event_package, requested_expires};

/// Live subscriptions one account may hold (a phone with expansion modules has a hundred keys).
pub const MAX_PER_SUBSCRIBER: usize = 200;

/// What a line is doing, as a busy lamp shows it (in order: a busier state wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineState {
    Idle,
    Ringing,
    Busy,
}

#[derive(Default)]
struct Line {
    /// This node's calls ringing the line, and on it.
    ringing: u32,
    talking: u32,
    /// What the other nodes said of the line (none idle).
    elsewhere: Vec<Elsewhere>,
    watchers: Vec<Watcher>,
}

/// A line's state on another node, as that node last said it.
struct Elsewhere {
    node: String,
    state: LineState,
    heard: Instant,
}

impl Line {
    /// The line as this node's calls use it.
    fn here(&self) -> LineState {
        match (self.talking, self.ringing) {
            (0, 0) => LineState::Idle,
            (0, _) => LineState::Ringing,
            _ => LineState::Busy,
        }
    }

    /// What a lamp shows: the busiest of what this node and the others say.
    fn state(&self) -> LineState {
        self.elsewhere.iter().map(|e| e.state).fold(self.here(), Ord::max)
    }
}

/// A line's state on one node, as nodes tell each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineNews {
    pub company: CompanyId,
    pub login: String,
    pub state: LineState,
}

/// Where this node's line changes go for the other nodes (unset on a node alone).
type Publish = Arc<OnceLock<tokio::sync::mpsc::UnboundedSender<LineNews>>>;

struct Watcher {
    /// The account that subscribed.
    subscriber: String,
    dialog: ServerSubscriptionDialog,
    /// The dialog-info document version (RFC 4235 §4.1: grows by one per NOTIFY).
    version: u32,
    expires_at: std::time::Instant,
}

/// Who is on the phone, and who wants to know: one company's lines.
#[derive(Default)]
pub struct Presence {
    company: CompanyId,
    publish: Publish,
    lines: Mutex<HashMap<String, Line>>,
}

/// Every company's lines: logins are unique within a company only, so each has its own.
#[derive(Default)]
pub struct Presences {
    companies: Mutex<HashMap<CompanyId, Arc<Presence>>>,
    publish: Publish,
}

impl Presences {
    /// The lines of `company`.
    pub fn of(&self, company: CompanyId) -> Arc<Presence> {
        let mut companies = self.companies.lock();
        let presence = companies.entry(company).or_insert_with(|| {
            Arc::new(Presence {
                company,
                publish: self.publish.clone(),
                lines: Mutex::default(),
            })
        });
        presence.clone()
    }

    /// From now on, every change of a line's state on this node (its own calls) comes out here,
    /// for the other nodes. Once per node: `None` when already asked.
    pub fn share(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<LineNews>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.publish.set(tx).ok().map(|()| rx)
    }

    /// Another node said how a line is on it.
    pub fn heard(&self, node: &str, news: LineNews) {
        self.of(news.company).change(&news.login, |line| {
            line.elsewhere.retain(|e| e.node != node);
            if news.state != LineState::Idle {
                line.elsewhere.push(Elsewhere {
                    node: node.to_owned(),
                    state: news.state,
                    heard: Instant::now(),
                });
            }
        });
    }

    /// Forgets what other nodes said before `heard_before` and did not say again: a node that
    /// is gone stops saying anything (live nodes repeat their busy lines).
    pub fn forget_elsewhere(&self, heard_before: Instant) {
        let companies: Vec<Arc<Presence>> = self.companies.lock().values().cloned().collect();
        for presence in companies {
            let mut lines = presence.lines.lock();
            for (login, line) in lines.iter_mut().filter(|(_, l)| !l.elsewhere.is_empty()) {
                let before = line.state();
                line.elsewhere.retain(|e| e.heard >= heard_before);
                let now = line.state();
                if before != now {
                    notify_all(login, line, now);
                }
            }
        }
    }

    /// This node's lines that are not idle, to say again to the other nodes.
    pub fn in_use_here(&self) -> Vec<LineNews> {
        let companies: Vec<Arc<Presence>> = self.companies.lock().values().cloned().collect();
        let mut in_use = Vec::new();
        for presence in companies {
            let lines = presence.lines.lock();
            in_use.extend(
                lines
                    .iter()
                    .filter(|(_, line)| line.here() != LineState::Idle)
                    .map(|(login, line)| LineNews {
                        company: presence.company,
                        login: login.clone(),
                        state: line.here(),
                    }),
            );
        }
        in_use
    }
}

/// One use of a line (a leg ringing it, or a call on it); dropping it ends the use.
pub struct LineUse {
    presence: Arc<Presence>,
    login: String,
    talking: bool,
}

impl Drop for LineUse {
    fn drop(&mut self) {
        self.presence.change(&self.login, |line| {
            let count = if self.talking {
                &mut line.talking
            } else {
                &mut line.ringing
            };
            *count = count.saturating_sub(1);
        });
    }
}

impl Presence {
    /// `login`'s phone rings until the guard is dropped.
    pub fn ringing(self: &Arc<Self>, login: &str) -> LineUse {
        self.change(login, |line| line.ringing += 1);
        LineUse {
            presence: self.clone(),
            login: login.to_string(),
            talking: false,
        }
    }

    /// `login` is in a call until the guard is dropped.
    pub fn talking(self: &Arc<Self>, login: &str) -> LineUse {
        self.change(login, |line| line.talking += 1);
        LineUse {
            presence: self.clone(),
            login: login.to_string(),
            talking: true,
        }
    }

    /// How many live subscriptions `subscriber` holds.
    fn watching(&self, subscriber: &str) -> usize {
        let now = std::time::Instant::now();
        let lines = self.lines.lock();
        lines
            .values()
            .flat_map(|line| &line.watchers)
            .filter(|w| w.subscriber == subscriber && w.expires_at > now)
            .count()
    }

    pub fn state(&self, login: &str) -> LineState {
        self.lines.lock().get(login).map_or(LineState::Idle, Line::state)
    }

    /// Applies `f` to the line, tells the other nodes when its use on this node changed, and
    /// NOTIFYs its watchers when what a lamp shows changed.
    fn change(&self, login: &str, f: impl FnOnce(&mut Line)) {
        let mut lines = self.lines.lock();
        let line = lines.entry(login.to_string()).or_default();
        let (before, here_before) = (line.state(), line.here());
        f(line);
        if line.here() != here_before
            && let Some(publish) = self.publish.get()
        {
            let _ = publish.send(LineNews {
                company: self.company,
                login: login.to_owned(),
                state: line.here(),
            });
        }
        let now = line.state();
        if before != now {
            tracing::debug!(%login, ?now, "line state");
            notify_all(login, line, now);
        }
    }
}

/// NOTIFYs every live watcher of the line; forgets the expired ones.
fn notify_all(login: &str, line: &mut Line, state: LineState) {
    let now = std::time::Instant::now();
    line.watchers.retain(|w| w.expires_at > now);
    for watcher in &mut line.watchers {
        watcher.version += 1;
        let left = watcher.expires_at.saturating_duration_since(now).as_secs() as u32;
        tokio::spawn(notify(
            watcher.dialog.clone(),
            login.to_string(),
            state,
            watcher.version,
            left,
        ));
    }
}

async fn notify(dialog: ServerSubscriptionDialog, login: String, state: LineState, version: u32, expires: u32) {
    let subscription = if expires == 0 {
        "terminated;reason=timeout".to_string()
    } else {
        format!("active;expires={expires}")
    };
    let headers = vec![
        Header::Event("dialog".into()),
        Header::SubscriptionState(subscription.into()),
        Header::ContentType("application/dialog-info+xml".into()),
    ];
    let body = dialog_info(&login, state, version).into_bytes();
    if let Err(e) = dialog.notify(Some(headers), Some(body)).await {
        tracing::debug!(error = %e, %login, "BLF NOTIFY failed");
    }
}

/// The RFC 4235 document for a line (a full state; idle is a terminated dialog, which every
/// phone we know reads as a dark lamp).
fn dialog_info(login: &str, state: LineState, version: u32) -> String {
    let (dialog_state, direction) = match state {
        LineState::Idle => ("terminated", ""),
        LineState::Ringing => ("early", " direction=\"recipient\""),
        LineState::Busy => ("confirmed", ""),
    };
    format!(
        "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" \
         state=\"full\" entity=\"sip:{login}@switchboard\">\n<dialog id=\"{login}\"{direction}><state>{dialog_state}</state></dialog>\n\
         </dialog-info>\n"
    )
}

/// Answers SUBSCRIBEs: new ones (after digest authentication) and refreshes — busy lamps here,
/// message-waiting lamps in `mwi.rs`.
pub(super) struct Subscriptions {
    pub presences: Arc<Presences>,
    pub mailboxes: Arc<super::mwi::Mailboxes>,
    pub dialogs: Arc<DialogLayer>,
    pub auth: Arc<Authenticator>,
    pub local: SocketAddr,
}

impl Subscriptions {
    pub async fn on_subscribe(&self, mut tx: Transaction, source: SocketAddr) {
        let first_notify = match self.accept(&tx, source).await {
            Ok(notify) => notify,
            Err(Refusal::Silence) => return,
            Err(Refusal::Answer((status, headers))) => {
                let _ = tx.reply_with(status, headers, None).await;
                return;
            }
        };
        // The 200 was queued on the transaction: drive it until it is sent and done.
        tokio::spawn(async move { while tx.receive().await.is_some() {} });
        // RFC 6665 §4.2.1.2: a NOTIFY with the current state right away — just after the 200,
        // which subscribers must tolerate the other way round but strict ones do not.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        first_notify.await;
    }

    /// Accepts the subscription (200 queued) and returns its first NOTIFY, to send after it.
    async fn accept(
        &self,
        tx: &Transaction,
        source: SocketAddr,
    ) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>, Refusal> {
        let req = &tx.original;
        let package = event_package(req);
        if !matches!(package.as_deref(), Some("dialog" | "message-summary")) {
            return Err(Refusal::answer(
                StatusCode::BadEvent,
                vec![Header::Other("Allow-Events".into(), "dialog, message-summary".into())],
            ));
        }
        let subscriber = self.auth.authenticate(req, source, Challenge::Www).await?;
        if subscriber.trunk {
            return Err(Refusal::answer(
                StatusCode::Forbidden,
                vec![warning("lamps are for employees")],
            ));
        }
        if package.as_deref() == Some("message-summary") {
            let login = self.login_named(req, subscriber.company, "no such mailbox").await?;
            let first = self
                .mailboxes
                .accept(tx, &subscriber, login, requested_expires(req))
                .await?;
            return Ok(Box::pin(first));
        }
        let presence = self.presences.of(subscriber.company);
        let company = subscriber.company;
        let subscriber = subscriber.username;
        if presence.watching(&subscriber) >= MAX_PER_SUBSCRIBER {
            return Err(Refusal::answer(
                StatusCode::Forbidden,
                vec![warning(&format!(
                    "at most {MAX_PER_SUBSCRIBER} busy-lamp subscriptions per account"
                ))],
            ));
        }
        let user = req.uri.auth.as_ref().map(|a| a.user.clone()).unwrap_or_default();
        let login = self.login_named(req, company, "no such extension").await?;
        let expires = requested_expires(req);
        let (dialog, states) = accept_subscription(&self.dialogs, tx, self.local, expires)?;
        tracing::info!(%login, %user, expires, "BLF subscription");
        let state = presence.state(&login);
        let first_notify = notify(dialog.clone(), login.clone(), state, 0, expires);
        if expires > 0 {
            let watcher = Watcher {
                subscriber,
                dialog: dialog.clone(),
                version: 0,
                expires_at: std::time::Instant::now() + std::time::Duration::from_secs(expires.into()),
            };
            presence
                .lines
                .lock()
                .entry(login.clone())
                .or_default()
                .watchers
                .push(watcher);
            tokio::spawn(refreshes(
                presence.clone(),
                self.dialogs.clone(),
                dialog,
                login,
                states,
                expires,
            ));
        }
        Ok(Box::pin(first_notify))
    }
}

impl Subscriptions {
    /// The login the Request-URI's user names in `company` (a login or an extension); 404 with
    /// `unknown` when nobody has it.
    async fn login_named(
        &self,
        req: &Request,
        company: crate::tenant::CompanyId,
        unknown: &str,
    ) -> Result<String, Refusal> {
        let user = req.uri.auth.as_ref().map(|a| a.user.clone()).unwrap_or_default();
        match self.auth.location().login_of(company, &user).await {
            Ok(Some(login)) => Ok(login),
            Ok(None) => Err(Refusal::answer(StatusCode::NotFound, vec![warning(unknown)])),
            Err(e) => Err(super::auth::internal(e).into()),
        }
    }
}

/// Answers the watcher's refreshing SUBSCRIBEs (and its unsubscribe, Expires: 0).
async fn refreshes(
    presence: Arc<Presence>,
    dialogs: Arc<DialogLayer>,
    dialog: ServerSubscriptionDialog,
    login: String,
    mut states: DialogStateReceiver,
    expires: u32,
) {
    let mut ends = tokio::time::Instant::now() + std::time::Duration::from_secs(expires.into());
    loop {
        // A subscriber that stops refreshing is gone when its subscription runs out.
        let state = tokio::select! {
            state = states.recv() => state,
            _ = tokio::time::sleep_until(ends) => None,
        };
        let Some(state) = state else {
            let id = dialog.id();
            presence
                .lines
                .lock()
                .entry(login.clone())
                .or_default()
                .watchers
                .retain(|w| w.dialog.id() != id);
            break;
        };
        let DialogState::Updated(_, req, handle) = state else {
            if matches!(state, DialogState::Terminated(..)) {
                break;
            }
            continue;
        };
        let expires = requested_expires(&req);
        let _ = handle
            .respond(StatusCode::OK, Some(vec![Header::Expires(expires.into())]), None)
            .await;
        let mut lines = presence.lines.lock();
        let line = lines.entry(login.clone()).or_default();
        let id = dialog.id();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(expires.into());
        ends = tokio::time::Instant::now() + std::time::Duration::from_secs(expires.into());
        line.watchers.iter_mut().filter(|w| w.dialog.id() == id).for_each(|w| {
            w.expires_at = until;
            w.version += 1;
        });
        let version = line
            .watchers
            .iter()
            .find(|w| w.dialog.id() == id)
            .map_or(0, |w| w.version);
        tokio::spawn(notify(dialog.clone(), login.clone(), line.state(), version, expires));
        if expires == 0 {
            line.watchers.retain(|w| w.dialog.id() != id);
            break;
        }
    }
    dialogs.remove_dialog(&dialog.id());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_is_busy_while_any_call_is_on_it_and_idle_after() {
        let presence = Arc::new(Presence::default());
        assert_eq!(presence.state("bob"), LineState::Idle);
        let ringing = presence.ringing("bob");
        assert_eq!(presence.state("bob"), LineState::Ringing);
        let talking = presence.talking("bob");
        drop(ringing);
        assert_eq!(presence.state("bob"), LineState::Busy);
        let second = presence.ringing("bob");
        assert_eq!(
            presence.state("bob"),
            LineState::Busy,
            "a call waiting does not dim the lamp"
        );
        drop(talking);
        assert_eq!(presence.state("bob"), LineState::Ringing);
        drop(second);
        assert_eq!(presence.state("bob"), LineState::Idle);
    }

    #[test]
    fn dialog_info_documents() {
        let doc = dialog_info("bob", LineState::Ringing, 3);
        assert!(
            doc.contains("version=\"3\"") && doc.contains("<state>early</state>"),
            "{doc}"
        );
        assert!(dialog_info("bob", LineState::Busy, 4).contains("<state>confirmed</state>"));
        assert!(dialog_info("bob", LineState::Idle, 5).contains("<state>terminated</state>"));
    }
}
