//! An inbound call leg: the UAS side of an INVITE dialog.

use crate::tenant::CompanyId;
use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::Transaction;

/// What happened to the leg, as the call layer needs to know it.
#[derive(Debug)]
pub enum LegEvent {
    /// The caller sent a re-INVITE or UPDATE with SDP (hold, resume, a media change).
    Reinvite(Reinvite),
    /// The caller asks us to transfer the other party (REFER, RFC 3515).
    Refer(Refer),
    /// A digit signalled with SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Digit(char),
    /// The caller ACKed our 200 OK.
    Confirmed,
    /// The caller gave up before we answered (CANCEL).
    Cancelled,
    /// The caller hung up (BYE).
    HungUp,
    /// The dialog ended for another reason (no ACK, transport error...).
    Ended(String),
}

pub struct InboundLeg {
    dialog: InviteDialog,
    dialogs: Arc<DialogLayer>,
    events: DialogStateReceiver,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller's user part (From), as received.
    pub caller: String,
    /// The dialled user part (Request-URI).
    pub dialled: String,
    /// Where the INVITE came from.
    pub source: SocketAddr,
    /// Our SIP address as the caller can reach it.
    pub local: SocketAddr,
    /// The SDP offer, empty for an offerless INVITE.
    pub offer: Vec<u8>,
    /// The employee who placed the call, when it came from an authenticated phone (else it
    /// came from a trunk).
    pub employee: Option<String>,
    /// The employee's company (the domain he authenticated in); none for a trunk's call, whose
    /// company the dialled number says.
    pub company: Option<CompanyId>,
    /// Cancelled when someone else (an admin) ends the call.
    stop: tokio_util::sync::CancellationToken,
    stopped: bool,
    /// Whether the caller has proven it receives at its address: it authenticated (a nonce
    /// bound to its address), its request came over a connection, or it ACKed our answer.
    proven: tokio::sync::watch::Sender<bool>,
}

impl InboundLeg {
    pub(super) fn accept_transaction(
        mut tx: Transaction,
        dialogs: Arc<DialogLayer>,
        source: SocketAddr,
        local: SocketAddr,
        employee: Option<(CompanyId, String)>,
    ) -> Option<Self> {
        let (company, employee) = employee.map(|(c, e)| (Some(c), Some(e))).unwrap_or_default();
        let (state_tx, events) = dialogs.new_dialog_state_channel();
        let contact = super::our_uri(local);
        let created = match contact {
            Ok(c) => dialogs.get_or_create_server_invite(&tx, state_tx, None, Some(c)),
            Err(e) => Err(e.into()),
        };
        let dialog = match created {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot create a dialog for the INVITE");
                super::reply(tx, StatusCode::BadRequest, vec![]);
                return None;
            }
        };
        let req = &tx.original;
        let caller = req
            .from_header()
            .and_then(|h| h.uri())
            .ok()
            .and_then(|u| u.auth)
            .map(|a| a.user)
            .unwrap_or_default();
        let dialled = req.uri.auth.as_ref().map(|a| a.user.clone()).unwrap_or_default();
        let call_id = req.call_id_header().map(|h| h.value().to_string()).unwrap_or_default();
        let offer = req.body.clone();
        let reliable = tx.connection.as_ref().is_some_and(|c| c.is_reliable());
        let proven = tokio::sync::watch::Sender::new(employee.is_some() || reliable);
        let mut driver = dialog.clone();
        // The dialog drives the INVITE server transaction: 100 Trying, our responses and their
        // retransmissions, the ACK, and the caller's CANCEL.
        tokio::spawn(async move {
            if let Err(e) = driver.handle(&mut tx).await {
                tracing::debug!(error = %e, "INVITE transaction ended with an error");
            }
        });
        Some(InboundLeg {
            stop: tokio_util::sync::CancellationToken::new(),
            stopped: false,
            dialog,
            dialogs,
            events,
            call_id,
            caller,
            dialled,
            source,
            local,
            offer,
            employee,
            company,
            proven,
        })
    }

    /// Becomes `true` once the caller has proven it receives at its address (for media: nothing
    /// is sent to its SDP address before).
    pub fn proof(&self) -> tokio::sync::watch::Receiver<bool> {
        self.proven.subscribe()
    }

    /// Notes what an event proves.
    fn seen(&self, event: &LegEvent) {
        if matches!(event, LegEvent::Confirmed) {
            self.proven.send_replace(true);
        }
    }

    /// 180 Ringing.
    pub fn ringing(&self) {
        let _ = self.dialog.ringing(None, None);
    }

    /// This dialog as the caller's phone knows it (for a transfer that replaces it).
    pub fn dialog_key(&self) -> DialogKey {
        let id = self.dialog.id();
        DialogKey {
            call_id: id.call_id,
            local_tag: id.local_tag,
            remote_tag: id.remote_tag,
        }
    }

    /// 183 Session Progress with our SDP: the caller hears early media before the answer.
    pub fn early_media(&self, sdp: String) {
        let headers = vec![Header::ContentType("application/sdp".into())];
        let _ = self.dialog.ringing(Some(headers), Some(sdp.into_bytes()));
    }

    /// 200 OK with our SDP answer.
    pub fn answer(&self, sdp: String) -> anyhow::Result<()> {
        let headers = vec![Header::ContentType("application/sdp".into())];
        self.dialog.accept(Some(headers), Some(sdp.into_bytes()))?;
        Ok(())
    }

    /// The body of the caller's ACK: its SDP answer when the INVITE made no offer.
    pub fn ack_body(&self) -> Option<Vec<u8>> {
        self.dialog.last_remote_ack().map(|ack| ack.body)
    }

    /// A final error response to the INVITE (before answer), saying why in an RFC 3326 Reason
    /// (`SIP;cause=480;text="…"`).
    pub fn reject_because(&self, code: u16, why: &str) {
        let text = super::auth::reason_text(why);
        let reason = format!(r#"SIP;cause={code};text="{text}""#);
        let _ = self.dialog.reject(Some(StatusCode::from(code)), Some(reason));
    }

    /// A final error response to the INVITE (before answer).
    pub fn reject(&self, code: u16, reason: &str) {
        let _ = self
            .dialog
            .reject(Some(StatusCode::from(code)), Some(reason.to_string()));
    }

    /// Sends a re-INVITE with our SDP (e.g. passing on the other party's hold); the peer's
    /// status code, or `None` when it did not answer.
    pub fn reinvite(&self, sdp: String) -> impl std::future::Future<Output = Option<(u16, Vec<u8>)>> + Send + 'static {
        send_reinvite(self.dialog.clone(), sdp)
    }

    /// Tells the caller how the transfer it asked for goes (RFC 3515 NOTIFY with sipfrag).
    pub fn notify_transfer(
        &self,
        status: u16,
        reason: &str,
        done: bool,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        notify_transfer(self.dialog.clone(), status, reason, done)
    }

    /// A digit to the caller as SIP INFO.
    pub fn send_digit(&self, digit: char) -> impl std::future::Future<Output = ()> + Send + 'static {
        send_info_digit(self.dialog.clone(), digit)
    }

    /// BYE to the caller (after answer).
    pub async fn hangup(&self) {
        bye(self.dialog.clone()).await;
    }

    /// The next thing that happened to the leg; `None` once nothing more can happen.
    pub async fn next_event(&mut self) -> Option<LegEvent> {
        loop {
            tokio::select! {
                _ = self.stop.cancelled(), if !self.stopped => return Some(self.end_from_outside().await),
                state = self.events.recv() => match state.map(leg_event) {
                    Some(Some(event)) => {
                        self.seen(&event);
                        return Some(event);
                    }
                    Some(None) => continue,
                    None => return None,
                },
            }
        }
    }

    /// A handle that ends the call from outside (an admin hanging it up): the caller gets a
    /// BYE (or 480 before the answer) and the leg reports `Ended`, as if the caller had left.
    pub fn stopper(&self) -> tokio_util::sync::CancellationToken {
        self.stop.clone()
    }

    async fn end_from_outside(&mut self) -> LegEvent {
        self.stopped = true;
        if self.dialog.bye().await.is_err() {
            self.reject(480, "Temporarily Unavailable");
        }
        tracing::info!("the call was ended from outside");
        LegEvent::Ended(ENDED_FROM_OUTSIDE.into())
    }

    /// An event that already happened, without waiting (an outside end is noticed by the next
    /// wait).
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        while let Ok(state) = self.events.try_recv() {
            if let Some(event) = leg_event(state) {
                self.seen(&event);
                return Some(event);
            }
        }
        None
    }
}

/// Why a leg ended that was hung up from outside.
pub const ENDED_FROM_OUTSIDE: &str = "ended from outside";

/// A re-INVITE (or UPDATE) the peer sent within the dialog, waiting for our answer. Dropping
/// it unanswered refuses it (501).
#[derive(Debug)]
pub struct Reinvite {
    /// The peer's SDP offer; empty when it wants ours (RFC 3261 §14.2).
    pub offer: Vec<u8>,
    handle: TransactionHandle,
}

impl Reinvite {
    /// Refuses the new session (e.g. 488 for a fax stream the other party will not take); the
    /// session before it stays.
    pub async fn refuse(self, code: u16, reason: &str) {
        let status = StatusCode::from(code);
        let headers = vec![Header::Reason(format!(r#"SIP;cause={code};text="{reason}""#).into())];
        if let Err(e) = self.handle.respond(status, Some(headers), None).await {
            tracing::debug!(error = %e, "re-INVITE refusal not sent");
        }
    }

    /// 200 OK with our SDP.
    pub async fn accept(self, sdp: String) {
        let headers = vec![Header::ContentType("application/sdp".into())];
        if let Err(e) = self
            .handle
            .respond(StatusCode::OK, Some(headers), Some(sdp.into_bytes()))
            .await
        {
            tracing::debug!(error = %e, "re-INVITE answer not sent");
        }
    }
}

/// Which dialog a party means, by Call-ID and tags: ours (local) and theirs (remote).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

/// A REFER (RFC 3515) waiting for our answer: a request to transfer the call.
#[derive(Debug)]
pub struct Refer {
    /// The user part of Refer-To (an extension, a login or a number).
    pub target: Option<String>,
    /// Attended transfer (RFC 3891): the transferor's other call, to be replaced by this one.
    /// As the transferor sees that dialog, its `to-tag` is our tag and `from-tag` its own.
    pub replaces: Option<DialogKey>,
    handle: TransactionHandle,
}

impl Refer {
    pub(super) fn new(req: &rsipstack::sip::Request, handle: TransactionHandle) -> Self {
        let refer_to = req.headers.iter().find_map(|h| match h {
            Header::ReferTo(r) => Some(r.value().to_string()),
            _ => None,
        });
        let uri = refer_to.as_deref().map(|v| v.trim().trim_start_matches('<'));
        let target = uri
            .and_then(|u| u.split_once(':'))
            .and_then(|(_, rest)| rest.split(['@', ';', '>', '?']).next())
            .filter(|user| !user.is_empty())
            .map(str::to_string);
        let replaces = refer_to.as_deref().and_then(replaces_of);
        Refer {
            target,
            replaces,
            handle,
        }
    }

    /// 202 Accepted: we will try, and NOTIFY how it goes.
    pub async fn accept(self) {
        let _ = self.handle.reply(StatusCode::Accepted).await;
    }

    /// Refuses the transfer with `code` and a Warning saying why.
    pub async fn refuse(self, code: u16, why: &str) {
        let headers = vec![super::auth::warning(why)];
        let _ = self.handle.respond(StatusCode::from(code), Some(headers), None).await;
    }
}

/// The dialog named by the `Replaces` header embedded in a Refer-To URI (RFC 3891 §6.1, the
/// header escaped as a URI parameter: `?Replaces=callid%3Bto-tag%3DX%3Bfrom-tag%3DY`).
fn replaces_of(refer_to: &str) -> Option<DialogKey> {
    let query = refer_to.split_once('?')?.1.trim_end_matches('>');
    let value = query
        .split('&')
        .find_map(|h| {
            h.split_once('=')
                .filter(|(name, _)| name.eq_ignore_ascii_case("replaces"))
        })?
        .1;
    let value = percent_decode(value);
    let mut parts = value.split(';');
    let call_id = parts.next()?.trim().to_string();
    let (mut local_tag, mut remote_tag) = (None, None);
    for part in parts {
        match part.trim().split_once('=') {
            Some((name, tag)) if name.eq_ignore_ascii_case("to-tag") => local_tag = Some(tag.to_string()),
            Some((name, tag)) if name.eq_ignore_ascii_case("from-tag") => remote_tag = Some(tag.to_string()),
            _ => {}
        }
    }
    Some(DialogKey {
        call_id,
        local_tag: local_tag?,
        remote_tag: remote_tag?,
    })
}

/// `%XX` escapes decoded (anything malformed is kept as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Turns an in-dialog request into an event, answering on the spot the ones nobody above
/// needs to see: a session refresh (UPDATE without SDP) and in-dialog OPTIONS get 200.
pub(super) fn in_dialog_request(req: &rsipstack::sip::Request, handle: TransactionHandle) -> Option<Reinvite> {
    let reinvite = || Reinvite {
        offer: req.body.clone(),
        handle: handle.clone(),
    };
    match req.method {
        Method::Invite => Some(reinvite()),
        Method::Update if !req.body.is_empty() => Some(reinvite()),
        Method::Update | Method::Options => {
            tokio::spawn(async move {
                let _ = handle.reply(StatusCode::OK).await;
            });
            None
        }
        _ => None,
    }
}

fn leg_event(state: DialogState) -> Option<LegEvent> {
    Some(match state {
        DialogState::Updated(_, req, handle) | DialogState::Options(_, req, handle) => {
            LegEvent::Reinvite(in_dialog_request(&req, handle)?)
        }
        DialogState::Refer(_, req, handle) => LegEvent::Refer(Refer::new(&req, handle)),
        DialogState::Info(_, req, handle) => LegEvent::Digit(take_info(&req, handle)?),
        DialogState::Confirmed(..) => LegEvent::Confirmed,
        DialogState::Terminated(_, TerminatedReason::UacCancel) => LegEvent::Cancelled,
        DialogState::Terminated(_, TerminatedReason::UacBye) => LegEvent::HungUp,
        DialogState::Terminated(_, reason) => LegEvent::Ended(format!("{reason:?}")),
        _ => return None,
    })
}

impl Drop for InboundLeg {
    fn drop(&mut self) {
        self.dialogs.remove_dialog(&self.dialog.id());
    }
}

/// How long ending a call waits for the answer to its BYE. A party that has not answered by then
/// (a phone gone from the network) is left to the BYE's transaction, which retransmits for 32 s
/// in a task of its own: the call ends now — its record written, its place in the company's
/// calls at once given back — rather than 32 s later.
const BYE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends a BYE in `dialog` (either role) and waits for its answer, [`BYE_PATIENCE`] at most.
pub(super) async fn bye(dialog: InviteDialog) {
    let mut sent = Box::pin(async move {
        if let Err(e) = dialog.bye().await {
            tracing::debug!(error = %e, "BYE failed");
        }
    });
    if tokio::time::timeout(BYE_PATIENCE, &mut sent).await.is_err() {
        tracing::info!("no answer to our BYE yet: the call ends without it");
        tokio::spawn(sent);
    }
}

/// A re-INVITE on `dialog` (either role).
/// Sends a re-INVITE with `sdp`; the final response's status and body (the party's SDP answer),
/// none when there was none.
pub(super) async fn send_reinvite(dialog: InviteDialog, sdp: String) -> Option<(u16, Vec<u8>)> {
    let headers = vec![Header::ContentType("application/sdp".into())];
    match dialog.reinvite(Some(headers), Some(sdp.into_bytes())).await {
        Ok(response) => response.map(|r| (r.status_code.code(), r.body)),
        Err(e) => {
            tracing::debug!(error = %e, "re-INVITE failed");
            None
        }
    }
}

/// The digit a SIP INFO carries: `application/dtmf-relay` (`Signal=5`, as Cisco and most desk
/// phones send it) or `application/dtmf` (just `5`).
fn info_digit(req: &rsipstack::sip::Request) -> Option<char> {
    let content_type = req.headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.value().trim().to_ascii_lowercase()),
        _ => None,
    })?;
    let body = std::str::from_utf8(&req.body).ok()?;
    let signal = match content_type.split(';').next()?.trim() {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim().eq_ignore_ascii_case("signal").then(|| value.trim())
        })?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    let mut chars = signal.chars();
    match (chars.next()?.to_ascii_uppercase(), chars.next()) {
        (d @ ('0'..='9' | '*' | '#' | 'A'..='D'), None) => Some(d),
        _ => None,
    }
}

/// A NOTIFY in the implicit subscription of a REFER (RFC 3515 §2.4.5): the status line of the
/// new call as `message/sipfrag`; `done` ends the subscription.
/// Answers an in-dialog INFO and returns the digit it carried: 200 for a DTMF body, 415 for a
/// body we do not understand (RFC 6086 §4.2.2).
pub(super) fn take_info(req: &rsipstack::sip::Request, handle: TransactionHandle) -> Option<char> {
    let (digit, status) = info_answer(req);
    tokio::spawn(async move {
        let _ = handle.reply(status).await;
    });
    digit
}

/// [`take_info`], the answer sent before the digit is reported: what the digit makes us do (a
/// BYE, when it declines a screened call) must not overtake the 200 to the INFO.
pub(super) async fn take_info_answered(req: &rsipstack::sip::Request, handle: TransactionHandle) -> Option<char> {
    let (digit, status) = info_answer(req);
    let _ = handle.reply(status).await;
    digit
}

/// The digit an INFO carries, and its answer: 200, or 415 for a body we cannot read.
fn info_answer(req: &rsipstack::sip::Request) -> (Option<char>, StatusCode) {
    let digit = info_digit(req);
    let status = match digit {
        Some(_) => StatusCode::OK,
        None => StatusCode::UnsupportedMediaType,
    };
    (digit, status)
}

/// Sends `digit` to the peer as SIP INFO (`application/dtmf-relay`), as phones that signal
/// digits with INFO expect them back.
pub(super) async fn send_info_digit(dialog: InviteDialog, digit: char) {
    let headers = vec![Header::ContentType("application/dtmf-relay".into())];
    let body = format!("Signal={digit}\r\nDuration=160\r\n").into_bytes();
    if let Err(e) = dialog.info(Some(headers), Some(body)).await {
        tracing::debug!(error = %e, "INFO digit not delivered");
    }
}

pub(super) fn notify_transfer(
    dialog: InviteDialog,
    status: u16,
    reason: &str,
    done: bool,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let state = if done {
        "terminated;reason=noresource"
    } else {
        "active;expires=60"
    };
    let headers = vec![
        Header::Event("refer".into()),
        Header::SubscriptionState(state.into()),
        Header::ContentType("message/sipfrag".into()),
    ];
    let body = format!("SIP/2.0 {status} {reason}").into_bytes();
    async move {
        if let Err(e) = dialog.notify(Some(headers), Some(body)).await {
            tracing::debug!(error = %e, "transfer NOTIFY failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(content_type: &str, body: &str) -> rsipstack::sip::Request {
        let text = format!(
            "INFO sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>;tag=2\r\nCall-ID: c\r\n\
             CSeq: 2 INFO\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        rsipstack::sip::Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn digits_in_sip_info() {
        assert_eq!(
            info_digit(&info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")),
            Some('5')
        );
        assert_eq!(info_digit(&info("application/dtmf-relay", "Signal= #\r\n")), Some('#'));
        assert_eq!(info_digit(&info("application/dtmf", "7")), Some('7'));
        assert_eq!(info_digit(&info("application/dtmf-relay", "Signal=17\r\n")), None);
        assert_eq!(info_digit(&info("text/plain", "5")), None);
    }

    #[test]
    fn replaces_in_a_refer_to_names_the_dialog() {
        let refer_to = "<sip:102@192.0.2.10?Replaces=a2%40host%3Bto-tag%3Dour7%3Bfrom-tag%3Dtheirs9>";
        assert_eq!(
            replaces_of(refer_to),
            Some(DialogKey {
                call_id: "a2@host".into(),
                local_tag: "our7".into(),
                remote_tag: "theirs9".into(),
            })
        );
        assert_eq!(replaces_of("<sip:102@192.0.2.10>"), None);
        assert_eq!(replaces_of("<sip:102@h?Replaces=only-a-call-id>"), None);
    }
}
