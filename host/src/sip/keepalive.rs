//! NAT keep-alives for registered phones: an OPTIONS to each one every few seconds keeps the
//! NAT binding between the phone and us open (a phone behind NAT is reachable only through
//! the hole its REGISTER punched, and home routers close idle UDP holes within a minute or
//! two), and tells the log which phones stopped answering. What Asterisk calls `qualify`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::{Header, Method, SipMessage, StatusCodeKind, Transport, Uri};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::{Transaction, make_tag};
use rsipstack::transport::SipAddr;
use tokio_util::sync::CancellationToken;

use super::location::{Binding, Location};

/// Which registered phones this node keeps alive: with several nodes on one database, each
/// keeps its share (a phone needs one keep-alive, not one from every node).
pub trait KeepAliveShare: Send + Sync {
    fn keeps(&self, contact: &str) -> bool;
}

/// Pings every live binding (this node's share of them) each `every` until `cancel`.
pub(super) async fn run(
    endpoint: EndpointInnerRef,
    location: Arc<dyn Location>,
    share: Option<Arc<dyn KeepAliveShare>>,
    local: SocketAddr,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let bindings = match location.all_bindings(super::unix_secs() as i64).await {
            Ok(bindings) => bindings,
            Err(e) => {
                tracing::warn!(error = %e, "keep-alive: cannot read the registrations");
                continue;
            }
        };
        let ours = bindings
            .into_iter()
            .filter(|(_, b)| share.as_ref().is_none_or(|share| share.keeps(&b.contact)));
        for (login, binding) in ours {
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                if !ping(endpoint, &binding, local).await {
                    tracing::warn!(%login, contact = %binding.contact, source = %binding.source, "phone did not answer the keep-alive");
                }
            });
        }
    }
}

/// One OPTIONS to the phone, at the address it registered from; whether it answered.
async fn ping(endpoint: EndpointInnerRef, binding: &Binding, local: SocketAddr) -> bool {
    match request_to_phone(endpoint, binding, local, Method::Options, Vec::new(), Vec::new()).await {
        Ok(answered) => answered,
        Err(e) => {
            tracing::debug!(error = %e, "keep-alive not sent");
            false
        }
    }
}

/// Sends an out-of-dialog request (`headers` and `body` besides the usual ones) to the phone
/// at the address it registered from, or through the proxies it registered through; whether
/// it sent a final answer.
pub(super) async fn request_to_phone(
    endpoint: EndpointInnerRef,
    binding: &Binding,
    local: SocketAddr,
    method: Method,
    headers: Vec<Header>,
    body: Vec<u8>,
) -> anyhow::Result<bool> {
    let target = Uri::try_from(binding.contact.as_str())?;
    let from_uri = super::our_uri(local)?;
    let via = endpoint.get_via(None, None)?;
    let from = rsipstack::sip::typed::From {
        display_name: None,
        uri: from_uri,
        params: vec![],
    }
    .with_tag(make_tag());
    let to = rsipstack::sip::typed::To {
        display_name: None,
        uri: target.clone(),
        params: vec![],
    };
    let mut request = endpoint.make_request(method, target, via, from, to, 1, None);
    // Registered through a proxy: back through it (RFC 3327 §5.3), which `source` names.
    for route in rsipstack::sip::typed::Route::parse_header_list(&binding.path)? {
        request.headers.push(route.into());
    }
    for header in headers {
        request.headers.push(header);
    }
    request.body = body;
    let key = TransactionKey::from_request(&request, TransactionRole::Client)?;
    let mut tx = Transaction::new_client(key, request, endpoint.clone(), None);
    tx.destination = Some(SipAddr {
        r#type: Some(Transport::Udp),
        addr: binding.source.into(),
    });
    tx.send().await?;
    while let Some(message) = tx.receive().await {
        if let SipMessage::Response(r) = message
            && r.status_code.kind() != StatusCodeKind::Provisional
        {
            return Ok(true);
        }
    }
    Ok(false)
}
