//! SIP signalling over UDP, through rsipstack (the only module that imports it).
//!
//! The server answers OPTIONS, refuses what it does not handle yet, and hands every new INVITE
//! from a trunk to an [`InviteHandler`] as an [`InboundLeg`]: a UAS dialog the call layer can
//! ring, answer, reject and hang up, and that reports the caller's CANCEL or BYE.

pub mod auth;
pub mod blf;
pub mod digest;
mod edge;
pub mod guard;
mod inspector;
mod intake;
mod keepalive;
mod leg;
mod location;
pub mod mwi;
mod outbound;
pub mod overload;
pub mod registrar;
mod socket;
mod source;
mod subscription;
mod tcp;
mod trunks;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use edge::Admission;
use ipnet::IpNet;
use rsipstack::dialog::dialog::Dialog;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::{Transaction, TransactionReceiver};
use rsipstack::transport::TransportLayer;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::{
    EndpointBuilder,
    transaction::endpoint::{Endpoint, EndpointInnerRef},
};
use tokio_util::sync::CancellationToken;

pub use auth::{Answer, Authenticator, Unavailable, suspended_reason, warning};
pub use blf::{LineNews, LineState, LineUse, Presence, Presences};
pub use keepalive::KeepAliveShare;
pub use leg::{DialogKey, InboundLeg, LegEvent, Refer, Reinvite};
pub use location::{Binding, Domain, Location, Messages};
pub use mwi::Mailboxes;
pub use outbound::{ANSWERED_ELSEWHERE, Dialer, LegRequest, OutboundEvent, OutboundLeg, TrunkLogin};
pub use registrar::Registrar;
pub use trunks::{Trunk, TrunkAccount, Trunks};

use auth::Challenge;
pub use source::{Proxies, Sender};

/// The methods this server handles (advertised in Allow).
const ALLOWED: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Register,
    Method::Update,
    Method::Refer,
    Method::Subscribe,
    Method::Notify,
];

/// How long we ask a carrier to keep our registration.
const TRUNK_REGISTRATION_SECS: u32 = 600;

/// Receives new inbound calls. Implemented by the exchange's composition root.
pub trait InviteHandler: Send + Sync + 'static {
    /// The final answer to an INVITE for `dialled` (from an employee of `company`, or from a
    /// trunk) before any dialog exists — e.g. its company is suspended or at its plan's limit
    /// of calls —, or none to take it.
    fn refusal(&self, dialled: &str, company: Option<crate::tenant::CompanyId>) -> Option<auth::Answer>;
    fn on_invite(&self, leg: InboundLeg);
}

/// Which source addresses may deliver calls (carriers' signalling IPs).
#[derive(Debug, Clone)]
pub struct TrunkAcl(Vec<IpNet>);

impl TrunkAcl {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrunkAcl(nets)
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }
}

pub struct SipServer {
    endpoint: Endpoint,
    /// Bound at once (a taken port fails `bind`), accepting from `serve` on.
    tcp: parking_lot::Mutex<Option<tokio::net::TcpListener>>,
    presences: Arc<blf::Presences>,
    mailboxes: Arc<mwi::Mailboxes>,
    dialogs: Arc<DialogLayer>,
    dialer: Arc<Dialer>,
    local: SocketAddr,
    /// Shared by the UDP socket's gate and the dispatcher's (for requests over TCP).
    overload: overload::Overload,
    /// The UDP socket's gate; it learns the trunks (for the edge) when serving starts.
    intake: Arc<intake::Intake>,
    cancel: CancellationToken,
}

impl SipServer {
    /// Binds the UDP port and starts the transport; requests wait until [`SipServer::serve`].
    pub async fn bind(listen: SocketAddr) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let overload = overload::Overload::start(cancel.child_token());
        let intake = Arc::new(intake::Intake::new(overload.clone()));
        let (socket, tcp) = bind_udp_and_tcp(listen, &intake).await?;
        let local = socket.local_addr()?;
        let connection = UdpConnection::from_socket(Arc::new(socket), None, Some(cancel.child_token())).await?;
        let transport = TransportLayer::new(cancel.clone());
        transport.add_transport(connection.into());
        transport.set_stream_idle_timeout(tcp::IDLE);
        let reasons = Arc::new(outbound::CancelReasons::default());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .with_allows(ALLOWED.to_vec())
            .with_inspector(Box::new(inspector::Inspector {
                reasons: reasons.clone(),
            }))
            .build();
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let dialer = Arc::new(Dialer {
            dialogs: dialogs.clone(),
            local,
            reasons,
        });
        let mailboxes = Arc::new(mwi::Mailboxes::new(endpoint.inner.clone(), dialogs.clone(), local));
        Ok(SipServer {
            endpoint,
            tcp: parking_lot::Mutex::new(Some(tcp)),
            presences: Arc::default(),
            mailboxes,
            dialogs,
            dialer,
            local,
            overload,
            intake,
            cancel,
        })
    }

    /// Line states for busy lamps, each company's own; the call layer reports who rings and who
    /// talks.
    pub fn presences(&self) -> Arc<blf::Presences> {
        self.presences.clone()
    }

    /// Message-waiting lamps: tell it when a mailbox changed.
    pub fn mailboxes(&self) -> Arc<mwi::Mailboxes> {
        self.mailboxes.clone()
    }

    /// Keeps this exchange registered with a carrier (RFC 3261 §10), refreshing before the
    /// granted expiry and backing off while it fails, until shutdown.
    pub fn register_with(&self, carrier: SocketAddr, login: TrunkLogin) {
        let mut registration =
            rsipstack::dialog::registration::Registration::new(self.endpoint.inner.clone(), Some(login.credential()));
        let cancel = self.cancel.child_token();
        tokio::spawn(async move {
            let Ok(server) = rsipstack::sip::Uri::try_from(format!("sip:{carrier}").as_str()) else {
                return;
            };
            registration
                .keep_alive(server, TRUNK_REGISTRATION_SECS, cancel, |outcome| {
                    use rsipstack::dialog::registration::RefreshOutcome;
                    match outcome {
                        RefreshOutcome::Registered(_) => tracing::info!(%carrier, "registered with the carrier"),
                        RefreshOutcome::Rejected(r) => {
                            tracing::warn!(%carrier, status = %r.status_code, "the carrier refused our registration")
                        }
                        RefreshOutcome::Failed(e) => {
                            tracing::warn!(%carrier, error = %e, "registration with the carrier failed")
                        }
                    }
                })
                .await;
        });
    }

    /// Sends a keep-alive OPTIONS to every registered phone each `every` (NAT bindings).
    pub fn keep_phones_reachable(
        &self,
        location: Arc<dyn Location>,
        share: Option<Arc<dyn KeepAliveShare>>,
        every: std::time::Duration,
    ) {
        let endpoint = self.endpoint.inner.clone();
        let cancel = self.cancel.child_token();
        tokio::spawn(keepalive::run(endpoint, location, share, self.local, every, cancel));
    }

    /// Places outbound legs from this server's address.
    pub fn dialer(&self) -> Arc<Dialer> {
        self.dialer.clone()
    }

    /// Starts answering: INVITEs from trunks and from authenticated employees go to `handler`,
    /// REGISTERs to the registrar.
    pub fn serve(
        &self,
        trunks: Trunks,
        proxies: Proxies,
        handler: Arc<dyn InviteHandler>,
        auth: Arc<Authenticator>,
    ) -> anyhow::Result<()> {
        let acl = trunks.acl();
        let incoming = self.endpoint.incoming_transactions()?;
        let inner = self.endpoint.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.serve().await {
                tracing::error!(error = %e, "SIP endpoint stopped");
            }
        });
        if let Some(listener) = self.tcp.lock().take() {
            tokio::spawn(tcp::accept(
                listener,
                self.endpoint.inner.clone(),
                acl.clone(),
                self.cancel.child_token(),
            ));
        }
        let edge = Arc::new(edge::Edge::new(acl.clone(), proxies));
        self.intake.set_edge(edge.clone());
        let invites = Arc::new(Invites {
            dialogs: self.dialogs.clone(),
            trunks,
            handler,
            auth: auth.clone(),
            local: self.local,
        });
        self.mailboxes.set_location(auth.location_arc());
        let subscriptions = Arc::new(blf::Subscriptions {
            presences: self.presences.clone(),
            mailboxes: self.mailboxes.clone(),
            dialogs: self.dialogs.clone(),
            auth: auth.clone(),
            local: self.local,
        });
        let registrar = Arc::new(Registrar::new(auth));
        tokio::spawn(count_what_is_held(
            self.endpoint.inner.clone(),
            self.dialogs.clone(),
            self.cancel.child_token(),
        ));
        tokio::spawn(dispatch(
            incoming,
            self.dialogs.clone(),
            edge,
            self.overload.clone(),
            invites,
            registrar,
            subscriptions,
        ));
        tracing::info!(local = %self.local, "SIP listening (UDP and TCP)");
        Ok(())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn shutdown(&self) {
        self.cancel.cancel();
        self.endpoint.shutdown();
    }
}

/// UDP and TCP on one port — TCP for phones configured for it, and for requests too large for
/// a UDP datagram (RFC 3261 §18.1.1), accepted by tcp.rs once serving. With port 0 the kernel
/// picks a free UDP port whose TCP twin another process may hold: then another pick.
async fn bind_udp_and_tcp(
    listen: SocketAddr,
    intake: &Arc<intake::Intake>,
) -> anyhow::Result<(socket::GuardedSocket, tokio::net::TcpListener)> {
    let mut tries = 0;
    loop {
        let socket = socket::GuardedSocket::bind(listen, intake.clone()).await?;
        let local = socket.local_addr()?;
        match tokio::net::TcpListener::bind(local).await {
            Ok(tcp) => return Ok((socket, tcp)),
            Err(e) if listen.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn dispatch(
    mut incoming: TransactionReceiver,
    dialogs: Arc<DialogLayer>,
    edge: Arc<edge::Edge>,
    overload: overload::Overload,
    invites: Arc<Invites>,
    registrar: Arc<Registrar>,
    subscriptions: Arc<blf::Subscriptions>,
) {
    while let Some(mut tx) = incoming.recv().await {
        let Some(sender) = edge.proxies().sender(&tx.original) else {
            reply(tx, StatusCode::BadRequest, vec![]);
            continue;
        };
        let source = sender.client;
        // A REGISTER is never part of a dialog, whatever its To says (some phones copy the tag
        // of the 401 into their next attempt).
        let has_to_tag = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        let in_dialog = tx.original.method != Method::Register && has_to_tag;
        if in_dialog {
            match dialogs.match_dialog(&tx) {
                Some(Dialog::Invite(mut dialog)) => {
                    tokio::spawn(async move {
                        if let Err(e) = dialog.handle(&mut tx).await {
                            tracing::debug!(error = %e, "in-dialog request");
                        }
                    });
                }
                Some(Dialog::ServerSubscription(mut dialog)) => {
                    tokio::spawn(async move {
                        if let Err(e) = dialog.handle(&mut tx).await {
                            tracing::debug!(error = %e, "in-subscription request");
                        }
                    });
                }
                _ => match edge.admit(source.ip()) {
                    Admission::Take => reply(tx, StatusCode::CallTransactionDoesNotExist, vec![]),
                    Admission::Refuse => refuse_for_now(tx),
                    Admission::Drop => {}
                },
            }
            continue;
        }
        // Over UDP, the socket's gate took the edge's and the overload's decision on requests
        // that open something (intake.rs); over TCP, for a trusted proxy's (the gate let them
        // through: the client behind is known only now), and for the rest, they are taken here.
        let over_stream = tx.connection.as_ref().is_some_and(|c| c.is_reliable());
        let opens = guard::opens(&tx.original.method, has_to_tag);
        if over_stream || !opens || sender.proxy.is_some() {
            match edge.admit(source.ip()) {
                Admission::Take => {}
                Admission::Refuse => {
                    refuse_for_now(tx);
                    continue;
                }
                Admission::Drop => continue, // unanswered
            }
        }
        if over_stream && opens && !overload.admit(work_of(&tx.original)) {
            refuse_for_now(tx);
            continue;
        }
        match tx.original.method {
            Method::Invite => {
                let invites = invites.clone();
                tokio::spawn(async move { invites.on_invite(tx, source).await });
            }
            Method::Options => reply(tx, StatusCode::OK, vec![allow_header()]),
            Method::Register => {
                let registrar = registrar.clone();
                tokio::spawn(async move { registrar.handle(tx, sender).await });
            }
            Method::Subscribe => {
                let subscriptions = subscriptions.clone();
                tokio::spawn(async move { subscriptions.on_subscribe(tx, source).await });
            }
            Method::Bye => reply(tx, StatusCode::CallTransactionDoesNotExist, vec![]),
            _ => reply(tx, StatusCode::MethodNotAllowed, vec![allow_header()]),
        }
    }
}

/// What the node holds, as gauges every few seconds: SIP dialogs, transactions (running, and
/// finished ones kept to absorb retransmissions), 2xx answers waiting for their ACK, and the
/// runtime's live tasks (a soak shows they come back down once the calls are over).
async fn count_what_is_held(endpoint: EndpointInnerRef, dialogs: Arc<DialogLayer>, cancel: CancellationToken) {
    let runtime = tokio::runtime::Handle::current().metrics();
    loop {
        let held = endpoint.get_stats();
        metrics::gauge!("switchboard_sip_dialogs").set(dialogs.len() as f64);
        metrics::gauge!("switchboard_sip_transactions", "state" => "running").set(held.running_transactions as f64);
        metrics::gauge!("switchboard_sip_transactions", "state" => "finished").set(held.finished_transactions as f64);
        metrics::gauge!("switchboard_sip_waiting_ack").set(held.waiting_ack as f64);
        metrics::gauge!("switchboard_runtime_tasks").set(runtime.num_alive_tasks() as f64);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}

/// 503 Service Unavailable with Retry-After: the node is too busy now; try again shortly.
fn refuse_for_now(tx: Transaction) {
    let retry = overload::RETRY_AFTER_SECS.to_string();
    reply(
        tx,
        StatusCode::ServiceUnavailable,
        vec![Header::RetryAfter(retry.into())],
    );
}

/// Whether a new request opens something or continues what was challenged (it carries
/// credentials; whether they are good is for the digest check to say).
fn work_of(request: &rsipstack::sip::Request) -> overload::Work {
    let credentials = request
        .headers
        .iter()
        .any(|h| matches!(h, Header::Authorization(_) | Header::ProxyAuthorization(_)));
    match credentials {
        true => overload::Work::Continued,
        false => overload::Work::Fresh,
    }
}

/// Where new INVITEs go: employees' phones authenticate (407), carriers are known by address.
struct Invites {
    dialogs: Arc<DialogLayer>,
    trunks: Trunks,
    handler: Arc<dyn InviteHandler>,
    auth: Arc<Authenticator>,
    local: SocketAddr,
}

impl Invites {
    async fn on_invite(&self, tx: Transaction, source: SocketAddr) {
        // A carrier's call comes from a trunk's address (and From host, when the trunk requires
        // one) and claims no employee. Anything else must authenticate — a stranger gets the
        // same challenge whatever his From says, so the answer tells him nothing about who
        // exists — as an employee, or as a trunk account (a peer PBX), whose calls are carrier
        // calls. An unauthenticated INVITE never reaches a trunk (no toll fraud).
        let from_host = tx
            .original
            .from_header()
            .and_then(|h| h.uri())
            .ok()
            .map(|u| u.host_with_port.host.to_string());
        let by_address = self.trunks.by_address(source.ip(), from_host.as_deref());
        let employee = match by_address {
            Some(trunk) if !self.claims_employee(&tx.original).await => {
                tracing::debug!(trunk = %trunk.name, %source, "a carrier's INVITE");
                None
            }
            _ => match self.auth.authenticate(&tx.original, source, Challenge::Proxy).await {
                Ok(user) if user.trunk => {
                    tracing::info!(account = %user.username, %source, "a trunk account's INVITE");
                    None
                }
                Ok(user) => Some((user.company, user.username)),
                Err(refusal) => return refuse(tx, refusal),
            },
        };
        let dialled = tx
            .original
            .uri
            .auth
            .as_ref()
            .map(|a| a.user.clone())
            .unwrap_or_default();
        if let Some((status, headers)) = self.handler.refusal(&dialled, employee.as_ref().map(|(c, _)| *c)) {
            return reply(tx, status, headers);
        }
        let local_ip = reachable_ip(self.local, source);
        let local = SocketAddr::new(local_ip, self.local.port());
        if let Some(leg) = leg::InboundLeg::accept_transaction(tx, self.dialogs.clone(), source, local, employee) {
            self.handler.on_invite(leg);
        }
    }

    /// Whether a request from a trunk address is an employee's: it carries credentials, or its
    /// From names an employee (a phone on the carrier's network; asked of the location
    /// service's memory, not the database).
    async fn claims_employee(&self, req: &rsipstack::sip::Request) -> bool {
        if req.headers.iter().any(|h| matches!(h, Header::ProxyAuthorization(_))) {
            return true;
        }
        let user = req
            .from_header()
            .and_then(|h| h.uri())
            .ok()
            .and_then(|u| u.auth)
            .map(|a| a.user);
        match user {
            Some(user) => {
                let company = self.auth.domain_of(req).company;
                matches!(self.auth.location().credentials(company, &user).await, Ok(Some(_)))
            }
            None => false,
        }
    }
}

/// Answers as the refusal says (or not at all).
fn refuse(tx: Transaction, refusal: auth::Refusal) {
    match refusal {
        auth::Refusal::Answer((status, headers)) => reply(tx, status, headers),
        auth::Refusal::Silence => tracing::debug!("no answer to a locked-out source"),
    }
}

fn reply(mut tx: Transaction, status: StatusCode, headers: Vec<Header>) {
    tokio::spawn(async move {
        if let Err(e) = tx.reply_with(status, headers, None).await {
            tracing::debug!(error = %e, "reply failed");
        }
    });
}

/// The local address a peer can reach us at: the listen IP, or when listening on the wildcard,
/// the source address the kernel would use towards the peer (found without sending anything).
pub fn reachable_ip(local: SocketAddr, peer: SocketAddr) -> IpAddr {
    if !local.ip().is_unspecified() {
        return local.ip();
    }
    let probe = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))
        .and_then(|s| s.connect(peer).map(|_| s))
        .and_then(|s| s.local_addr());
    probe.map(|a| a.ip()).unwrap_or(local.ip())
}

fn allow_header() -> Header {
    let methods: Vec<String> = ALLOWED.iter().map(ToString::to_string).collect();
    Header::Allow(methods.join(", ").into())
}

/// Unix time in seconds.
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The exchange's own SIP URI at `host` (our Contact, and From on requests we originate).
pub(crate) fn our_uri(host: SocketAddr) -> Result<rsipstack::sip::Uri, rsipstack::sip::Error> {
    rsipstack::sip::Uri::try_from(format!("sip:switchboard@{host}").as_str())
}

/// A fresh random tag for To/From.
pub fn new_tag() -> String {
    rsipstack::transaction::make_tag().to_string()
}
