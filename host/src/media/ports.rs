//! RTP sockets: even ports from the configured range, each with its RTCP port (the odd one
//! above) held open. Nobody reads RTCP yet; holding the port means a peer's RTCP reports are
//! received and dropped quietly (in a tiny kernel buffer) instead of bouncing back as ICMP
//! "port unreachable", which some phones take for a dead call.

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::net::UdpSocket;

/// Kernel buffer for the unread RTCP socket: a few reports; later ones are dropped.
const RTCP_BUFFER: usize = 2048;

/// The UDP ports RTP sockets are taken from (even ports; RTCP uses the odd one above).
#[derive(Debug)]
pub struct PortRange {
    first: u16,
    last: u16,
    next: AtomicU16,
}

/// A leg's RTP socket, and its RTCP port kept open beside it.
#[derive(Debug)]
pub struct RtpSocket {
    rtp: UdpSocket,
    _rtcp: Option<std::net::UdpSocket>,
}

impl RtpSocket {
    /// A socket without an RTCP port (tests, benchmarks).
    pub fn plain(rtp: UdpSocket) -> Self {
        RtpSocket { rtp, _rtcp: None }
    }
}

impl Deref for RtpSocket {
    type Target = UdpSocket;

    fn deref(&self) -> &UdpSocket {
        &self.rtp
    }
}

impl PortRange {
    pub fn new(first: u16, last: u16) -> Self {
        let first = first + first % 2;
        PortRange {
            first,
            last: last.max(first),
            next: AtomicU16::new(first),
        }
    }

    /// Binds the next free even port and the odd one above it, wrapping around the range
    /// once. Not async: callers may sit in a `select!`, and a bind must not be half done when
    /// its future is dropped.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<RtpSocket> {
        let slots = ((self.last - self.first) / 2 + 1) as usize;
        for _ in 0..slots {
            let port = self
                .next
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                    Some(if p.saturating_add(2) > self.last {
                        self.first
                    } else {
                        p + 2
                    })
                })
                .unwrap_or(self.first);
            let Ok(rtp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
                continue;
            };
            // Best effort: the kernel's minimum applies if this is below it.
            let _ = socket2::SockRef::from(&rtcp).set_recv_buffer_size(RTCP_BUFFER);
            rtp.set_nonblocking(true)?;
            return Ok(RtpSocket {
                rtp: UdpSocket::from_std(rtp)?,
                _rtcp: Some(rtcp),
            });
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free RTP port pair in the range",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rtp_takes_an_even_port_and_rtcp_the_odd_one_above() {
        let range = PortRange::new(31_001, 31_099);
        let a = range.bind("127.0.0.1".parse().unwrap()).unwrap();
        let port = a.local_addr().unwrap().port();
        assert_eq!(port % 2, 0);
        // The RTCP port is taken: a report sent there is not refused.
        assert!(std::net::UdpSocket::bind(("127.0.0.1", port + 1)).is_err());
        let b = range.bind("127.0.0.1".parse().unwrap()).unwrap();
        assert_ne!(b.local_addr().unwrap().port(), port);
    }
}
