//! Outbound call legs: the UAC side of an INVITE the B2BUA places towards a phone or a carrier.
//!
//! rsipstack drives the transaction (retransmissions, ACK of failures, CANCEL once a provisional
//! arrived, ACK + BYE for a 2xx that races our CANCEL). What it cannot do is put a `Reason` on a
//! CANCEL, which RFC 3326 phones use to tell "answered elsewhere" from "missed call"; the
//! [`CancelReasons`] inspector adds it to the outgoing CANCEL of a leg that asked for one.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, Method, StatusCodeKind, Transport};
use rsipstack::transport::SipAddr;
use tokio::sync::mpsc;

use super::leg::{Refer, Reinvite};

/// RFC 3326 reason for the legs that lose a fork (RFC 3261 §16.7 step 10 wording).
pub const ANSWERED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// How long a CANCEL may still go out after it was asked for: rsipstack defers a CANCEL until
/// the first provisional response, which comes within 64*T1 or never.
const REASON_LIFETIME: Duration = Duration::from_secs(40);

/// `Reason` headers waiting for the CANCEL of the leg (keyed by its Call-ID).
#[derive(Default)]
pub struct CancelReasons(Mutex<HashMap<String, (String, Instant)>>);

impl CancelReasons {
    fn mark(&self, call_id: &str, reason: &str) {
        let mut map = self.0.lock();
        map.retain(|_, (_, at)| at.elapsed() < REASON_LIFETIME);
        map.insert(call_id.to_string(), (reason.to_string(), Instant::now()));
    }

    fn reason_for(&self, call_id: &str) -> Option<String> {
        self.0.lock().get(call_id).map(|(r, _)| r.clone())
    }

    /// Adds the marked `Reason` to an outgoing CANCEL.
    pub(super) fn add_to(&self, req: &mut rsipstack::sip::Request) {
        if req.method == Method::Cancel
            && let Ok(call_id) = req.call_id_header().map(|h| h.value().to_string())
            && let Some(reason) = self.reason_for(&call_id)
        {
            req.headers.push(Header::Reason(reason.into()));
        }
    }
}

/// Credentials a carrier gave us, for its digest challenges (401/407) and registration. Its
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for TrunkLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkLogin")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

impl TrunkLogin {
    pub(super) fn credential(&self) -> Credential {
        Credential {
            username: self.username.clone(),
            password: self.password.clone(),
            realm: None,
            auth_username: None,
        }
    }
}

/// Where and as whom to place a call.
#[derive(Debug, Clone)]
pub struct LegRequest {
    /// Request-URI: the registered Contact, or the carrier's URI for the number.
    pub uri: String,
    /// Where to send it: the address the phone registered from (NAT-safe), the proxy it
    /// registered through, or the carrier.
    pub destination: SocketAddr,
    /// The Route of the INVITE: the Path the phone registered through (RFC 3327 §5.3), its
    /// values comma-separated; empty for none.
    pub route: String,
    /// The user part of From (the caller ID presented).
    pub from_user: String,
    /// The From display name (what an employee's phone shows besides the number); it must be
    /// safe inside a quoted string.
    pub from_display: Option<String>,
    /// The user part of To (who is called).
    pub to_user: String,
    pub offer: Vec<u8>,
    /// Answers the far end's digest challenge (a carrier's), if it sends one.
    pub login: Option<TrunkLogin>,
}

/// What happened on an outbound leg.
#[derive(Debug)]
pub enum OutboundEvent {
    /// The answered party sent a re-INVITE or UPDATE with SDP (hold, resume).
    Reinvite(Reinvite),
    /// The answered party asks us to transfer the call (REFER, RFC 3515). Boxed: the largest
    /// and rarest event, and a channel's first block holds 32 of the enum's size.
    Refer(Box<Refer>),
    /// 180/183; `sdp` when the provisional carried early media.
    Ringing { code: u16, sdp: Option<Vec<u8>> },
    /// 2xx with the callee's SDP answer.
    Answered { sdp: Vec<u8> },
    /// A final failure (486, 480, 603...), a timeout (408) or a transport error (503).
    Failed { code: u16 },
    /// The callee ended the answered call (BYE), or the dialog died.
    HungUp,
    /// The answered party sent a digit as SIP INFO.
    Digit(char),
}

/// Places outbound legs through the server's endpoint.
pub struct Dialer {
    pub(super) dialogs: Arc<DialogLayer>,
    pub(super) local: SocketAddr,
    pub(super) reasons: Arc<CancelReasons>,
}

impl Dialer {
    /// Sends the INVITE; the leg reports progress through [`OutboundLeg::next_event`].
    /// Our address as `destination` sees it (for SDP towards it).
    pub fn local_ip_towards(&self, destination: SocketAddr) -> std::net::IpAddr {
        super::reachable_ip(self.local, destination)
    }

    pub fn invite(&self, req: LegRequest) -> anyhow::Result<OutboundLeg> {
        let local_ip = super::reachable_ip(self.local, req.destination);
        let host = SocketAddr::new(local_ip, self.local.port());
        let caller = rsipstack::sip::Uri::try_from(format!("sip:{}@{host}", req.from_user).as_str())?;
        let callee = rsipstack::sip::Uri::try_from(req.uri.as_str())?;
        let contact = super::our_uri(host)?;
        let call_id = format!("{}@switchboard", hex::encode(rand::random::<[u8; 12]>()));
        // Empty (no Path): no Route.
        let route_set = rsipstack::sip::typed::Route::parse_header_list(&req.route)?;
        let option = InviteOption {
            caller_display_name: req.from_display.clone(),
            caller,
            callee,
            destination: Some(SipAddr {
                r#type: Some(Transport::Udp),
                addr: req.destination.into(),
            }),
            content_type: Some("application/sdp".into()),
            offer: Some(req.offer),
            contact,
            call_id: Some(call_id.clone()),
            credential: req.login.as_ref().map(TrunkLogin::credential),
            route_set,
            ..Default::default()
        };
        let (state_tx, states) = self.dialogs.new_dialog_state_channel();
        let (dialog, result) = self.dialogs.do_invite_async(option, state_tx)?;
        let (events_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(report(states, result, events_tx));
        Ok(OutboundLeg {
            dialog,
            dialogs: self.dialogs.clone(),
            reasons: self.reasons.clone(),
            call_id,
            events,
            answered: false,
            ended: false,
        })
    }
}

/// Turns rsipstack's dialog states and the INVITE's result into [`OutboundEvent`]s.
async fn report(
    mut states: DialogStateReceiver,
    result: tokio::task::JoinHandle<InviteAsyncResult>,
    events: mpsc::UnboundedSender<OutboundEvent>,
) {
    tokio::pin!(result);
    let (mut finished, mut answered, mut states_open) = (false, false, true);
    loop {
        tokio::select! {
            // States first: a 180 queued before the 2xx must be reported before it.
            biased;
            state = states.recv(), if states_open => match state {
                // A provisional can reach us after the 2xx's outcome (two channels): once
                // answered it is stale.
                Some(DialogState::Early(_, resp)) if !answered => {
                    let sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
                    let _ = events.send(OutboundEvent::Ringing { code: resp.status_code.code(), sdp });
                }
                Some(DialogState::Refer(_, req, handle)) => {
                    let _ = events.send(OutboundEvent::Refer(Box::new(Refer::new(&req, handle))));
                }
                Some(DialogState::Info(_, req, handle)) => {
                    if let Some(digit) = super::leg::take_info_answered(&req, handle).await {
                        let _ = events.send(OutboundEvent::Digit(digit));
                    }
                }
                Some(DialogState::Updated(_, req, handle) | DialogState::Options(_, req, handle)) => {
                    if let Some(reinvite) = super::leg::in_dialog_request(&req, handle) {
                        let _ = events.send(OutboundEvent::Reinvite(reinvite));
                    }
                }
                Some(DialogState::Terminated(..)) if answered => {
                    let _ = events.send(OutboundEvent::HungUp);
                    return;
                }
                Some(_) => {}
                None if finished => {
                    let _ = events.send(OutboundEvent::HungUp);
                    return;
                }
                // The INVITE's result is still to come.
                None => states_open = false,
            },
            outcome = &mut result, if !finished => {
                finished = true;
                let event = match outcome {
                    Ok(Ok((_, Some(resp)))) if resp.status_code.kind() == StatusCodeKind::Successful => {
                        answered = true;
                        OutboundEvent::Answered { sdp: resp.body.clone() }
                    }
                    Ok(Ok((_, Some(resp)))) => OutboundEvent::Failed { code: resp.status_code.code() },
                    Ok(Ok((_, None))) => OutboundEvent::Failed { code: 408 },
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "outbound INVITE failed");
                        OutboundEvent::Failed { code: failure_code(&e) }
                    }
                    Err(_) => OutboundEvent::Failed { code: 500 },
                };
                if events.send(event).is_err() || !answered {
                    return;
                }
            }
        }
    }
}

/// The status a failed INVITE amounts to: the peer's, else 408 for a timeout, 503 otherwise.
fn failure_code(e: &rsipstack::Error) -> u16 {
    match e {
        rsipstack::Error::DialogError(_, _, status) => status.code(),
        rsipstack::Error::TransactionError(m, _) if m.contains("timeout") || m.contains("Timeout") => 408,
        _ => 503,
    }
}

pub struct OutboundLeg {
    dialog: InviteDialog,
    dialogs: Arc<DialogLayer>,
    reasons: Arc<CancelReasons>,
    call_id: String,
    events: mpsc::UnboundedReceiver<OutboundEvent>,
    answered: bool,
    ended: bool,
}

impl OutboundLeg {
    /// The next thing that happened; `None` once the leg is over.
    pub async fn next_event(&mut self) -> Option<OutboundEvent> {
        let event = self.events.recv().await;
        match &event {
            Some(OutboundEvent::Answered { .. }) => self.answered = true,
            Some(OutboundEvent::Failed { .. } | OutboundEvent::HungUp) | None => self.ended = true,
            Some(
                OutboundEvent::Ringing { .. }
                | OutboundEvent::Reinvite(_)
                | OutboundEvent::Refer(_)
                | OutboundEvent::Digit(_),
            ) => {}
        }
        event
    }

    /// Stops a ringing leg: CANCEL, with `reason` (RFC 3326) when given. A 2xx that crosses it
    /// is ACKed and ended with a BYE by the stack.
    pub async fn cancel(&mut self, reason: Option<&str>) {
        if self.answered || self.ended {
            return;
        }
        if let Some(reason) = reason {
            self.reasons.mark(&self.call_id, reason);
        }
        self.ended = true;
        if let Err(e) = self.dialog.cancel().await {
            tracing::debug!(error = %e, "CANCEL failed");
        }
    }

    /// Sends a re-INVITE with our SDP (e.g. passing on the caller's hold).
    pub fn reinvite(&self, sdp: String) -> impl Future<Output = Option<(u16, Vec<u8>)>> + Send + 'static {
        super::leg::send_reinvite(self.dialog.clone(), sdp)
    }

    /// Tells the party that asked for a transfer how it goes (RFC 3515 §2.4.5): a NOTIFY with
    /// the status line of the new call as `message/sipfrag`; `done` ends the subscription.
    pub fn notify_transfer(&self, status: u16, reason: &str, done: bool) -> impl Future<Output = ()> + Send + 'static {
        super::leg::notify_transfer(self.dialog.clone(), status, reason, done)
    }

    /// A digit to the answered party as SIP INFO.
    pub fn send_digit(&self, digit: char) -> impl Future<Output = ()> + Send + 'static {
        super::leg::send_info_digit(self.dialog.clone(), digit)
    }

    /// Ends an answered leg with a BYE (or cancels one still ringing).
    pub async fn hangup(&mut self) {
        if !self.answered {
            return self.cancel(None).await;
        }
        if self.ended {
            return;
        }
        self.ended = true;
        super::leg::bye(self.dialog.clone()).await;
    }
}

impl Drop for OutboundLeg {
    fn drop(&mut self) {
        if !self.ended {
            // Never leave a phone ringing or a call up because its owner went away.
            let dialog = self.dialog.clone();
            tokio::spawn(async move {
                let _ = dialog.hangup().await;
            });
        }
        self.dialogs.remove_dialog(&self.dialog.id());
    }
}
