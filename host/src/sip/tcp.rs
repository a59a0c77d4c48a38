//! SIP over TCP, accepted here rather than by rsipstack's own listener, which takes every
//! connection for as long as the peer likes: a stranger may hold only a few connections, all
//! strangers together a bounded number, and a connection that says nothing within a few seconds
//! is closed (the stack's idle timeout, set in `SipServer::bind`, closes quiet ones later).
//! Accepted connections are handed to rsipstack's transport layer, which reads them as before.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::TrunkAcl;

/// Connections one address may hold (a carrier's trunk addresses are not limited).
pub const PER_SOURCE: usize = 16;
/// Connections from all non-trunk addresses together.
pub const TOTAL: usize = 2_048;
/// A new connection must send its first bytes within this.
pub const FIRST_MESSAGE: Duration = Duration::from_secs(5);
/// A connection that carries nothing for this long is closed (phones on TCP send CRLF
/// keep-alives, RFC 5626, every 30–120 s).
pub const IDLE: Duration = Duration::from_secs(150);

/// Live connections by source.
#[derive(Default)]
struct Counts {
    by_source: HashMap<IpAddr, usize>,
    total: usize,
}

/// One counted connection; uncounted when dropped.
struct Counted {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_source.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_source.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections on `listener` until `cancel`, within the limits above.
pub(super) async fn accept(
    listener: TcpListener,
    endpoint: EndpointInnerRef,
    trunks: TrunkAcl,
    cancel: CancellationToken,
) {
    let local = match listener.local_addr() {
        Ok(local) => SipAddr {
            r#type: Some(rsipstack::sip::Transport::Tcp),
            addr: local.into(),
        },
        Err(_) => return,
    };
    let counts = Arc::new(Mutex::new(Counts::default()));
    let refusals = crate::throttle::QuietLog::new(10, Duration::from_secs(10));
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, for one: wait instead of spinning.
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(counted) = count(&counts, peer, &trunks) else {
            if let Some(left_out) = refusals.admit() {
                tracing::warn!(%peer, left_out, "too many TCP connections: refused");
            }
            continue; // dropping the stream closes it
        };
        let (endpoint, local, cancel) = (endpoint.clone(), local.clone(), cancel.child_token());
        tokio::spawn(async move {
            if tokio::time::timeout(FIRST_MESSAGE, stream.readable()).await.is_err() {
                tracing::debug!(%peer, "a TCP connection that said nothing: closed");
                return;
            }
            let connection = match TcpConnection::from_stream(stream, local, Some(cancel.clone())) {
                Ok(connection) => connection,
                Err(e) => return tracing::debug!(%peer, error = %e, "TCP connection not taken"),
            };
            endpoint.transport_layer.add_connection(SipConnection::Tcp(connection));
            // The stack cancels the connection's token when it closes.
            cancel.cancelled().await;
            drop(counted);
        });
    }
}

/// Counts a new connection from `peer`, or `None` when it is one too many.
fn count(counts: &Arc<Mutex<Counts>>, peer: SocketAddr, trunks: &TrunkAcl) -> Option<Counted> {
    let ip = peer.ip();
    let mut c = counts.lock();
    let from_trunk = trunks.allows(ip);
    let mine = c.by_source.get(&ip).copied().unwrap_or(0);
    if !from_trunk && (mine >= PER_SOURCE || c.total >= TOTAL) {
        return None;
    }
    *c.by_source.entry(ip).or_default() += 1;
    c.total += 1;
    Some(Counted {
        counts: counts.clone(),
        ip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stranger_holds_a_few_connections_and_gives_them_back() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let trunks = TrunkAcl::new(vec!["192.0.2.5/32".parse().unwrap()]);
        let stranger: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let held: Vec<_> = (0..PER_SOURCE)
            .map(|_| count(&counts, stranger, &trunks).unwrap())
            .collect();
        assert!(count(&counts, stranger, &trunks).is_none());
        assert!(count(&counts, "192.0.2.2:1".parse().unwrap(), &trunks).is_some());
        let trunk: SocketAddr = "192.0.2.5:5060".parse().unwrap();
        let many: Vec<_> = (0..PER_SOURCE * 2)
            .map(|_| count(&counts, trunk, &trunks).unwrap())
            .collect();
        drop(held);
        assert!(count(&counts, stranger, &trunks).is_some());
        drop(many);
        assert_eq!(counts.lock().total, 0);
    }
}
