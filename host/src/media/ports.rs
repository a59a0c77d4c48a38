//! RTP sockets: even ports taken at random from the configured range (a stranger cannot guess
//! the next call's port from the last one's), each with its RTCP port (the odd one above) held
//! open. Nobody reads RTCP yet; holding the port means a peer's RTCP reports are received and
//! dropped quietly (in a tiny kernel buffer) instead of bouncing back as ICMP "port
//! unreachable", which some phones take for a dead call.
//!
//! Every packet in and out goes through the socket's [`Latch`] (only the peer's RTP is read) and
//! its proof: nothing is sent to an address before the peer has proven it receives there — by
//! the signalling (an ACK of our answer, digest authentication, a connection) or by sending us
//! valid RTP from it — so a stranger's INVITE cannot point a media stream at someone else.

use std::net::{IpAddr, SocketAddr};

use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, watch};

use super::latch::Latch;

/// Kernel buffer for the unread RTCP socket: a few reports; later ones are dropped.
const RTCP_BUFFER: usize = 2048;

/// The UDP ports RTP sockets are taken from (even ports; RTCP uses the odd one above).
#[derive(Debug)]
pub struct PortRange {
    first: u16,
    last: u16,
}

/// A leg's RTP socket, and its RTCP port kept open beside it.
#[derive(Debug)]
pub struct RtpSocket {
    rtp: UdpSocket,
    _rtcp: Option<std::net::UdpSocket>,
    latch: Mutex<Latch>,
    /// The signalling's proof that the peer receives at its address (`true` once it holds);
    /// none: nothing to prove (we called the peer, or it authenticated).
    proof: Mutex<Option<watch::Receiver<bool>>>,
    /// Woken when the latch learns the peer's address.
    latched: Notify,
}

impl RtpSocket {
    fn new(rtp: UdpSocket, rtcp: Option<std::net::UdpSocket>) -> Self {
        RtpSocket {
            rtp,
            _rtcp: rtcp,
            latch: Mutex::default(),
            proof: Mutex::new(None),
            latched: Notify::new(),
        }
    }

    /// A socket without an RTCP port (tests, benchmarks).
    pub fn plain(rtp: UdpSocket) -> Self {
        Self::new(rtp, None)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.rtp.local_addr()
    }

    /// What the peer's SDP says: its address and the payload types it sends (a new address
    /// learns afresh).
    pub fn expect(&self, remote: SocketAddr, audio: u8, event: Option<u8>) {
        self.latch.lock().expect(remote, audio, event);
    }

    /// The peer's media became a T.38 fax stream at `remote` (see [`Latch::expect_udptl`]).
    pub fn expect_udptl(&self, remote: SocketAddr) {
        self.latch.lock().expect_udptl(remote);
    }

    /// Media is sent only once `proof` says `true` (or the peer's RTP taught us its address).
    pub fn send_after(&self, proof: watch::Receiver<bool>) {
        *self.proof.lock() = Some(proof);
    }

    /// Where our RTP goes now: the address the peer's RTP comes from, else the SDP's once the
    /// signalling proved the peer; `None`: nowhere yet.
    pub fn destination(&self) -> Option<SocketAddr> {
        let latch = self.latch.lock();
        if let Some(latched) = latch.latched() {
            return Some(latched);
        }
        let proven = self.proof.lock().as_ref().is_none_or(|proof| *proof.borrow());
        latch.expected().filter(|_| proven)
    }

    /// Waits until [`RtpSocket::destination`] has somewhere to send.
    pub async fn sendable(&self) {
        loop {
            let latched = self.latched.notified();
            tokio::pin!(latched);
            latched.as_mut().enable();
            if self.destination().is_some() {
                return;
            }
            let proof = self.proof.lock().clone();
            let proven = async {
                match proof {
                    Some(mut proof) => {
                        // A proof that can never come (the leg is gone) leaves only the latch.
                        if proof.wait_for(|p| *p).await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = latched => {}
                _ = proven => {}
            }
        }
    }

    /// The next datagram of the peer's RTP (anything else is dropped).
    pub async fn recv_media(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.rtp.recv_from(buf).await?;
            if self.admit(from, &buf[..n]) {
                return Ok((n, from));
            }
        }
    }

    /// [`RtpSocket::recv_media`] without waiting (`WouldBlock` when nothing is there).
    pub fn try_recv_media(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.rtp.try_recv_from(buf)?;
            if self.admit(from, &buf[..n]) {
                return Ok((n, from));
            }
        }
    }

    fn admit(&self, from: SocketAddr, data: &[u8]) -> bool {
        let mut latch = self.latch.lock();
        let before = latch.latched();
        let taken = latch.accept(from, data);
        if latch.latched() != before {
            self.latched.notify_waiters();
        }
        taken
    }

    /// Sends a packet to the peer; false when it may not be sent yet (dropped).
    pub async fn send_media(&self, packet: &[u8]) -> bool {
        match self.destination() {
            Some(to) => self.rtp.send_to(packet, to).await.is_ok(),
            None => false,
        }
    }

    /// [`RtpSocket::send_media`] without waiting (a full socket buffer drops the packet).
    pub fn try_send_media(&self, packet: &[u8]) -> bool {
        match self.destination() {
            Some(to) => self.rtp.try_send_to(packet, to).is_ok(),
            None => false,
        }
    }
}

impl PortRange {
    pub fn new(first: u16, last: u16) -> Self {
        let first = first + first % 2;
        PortRange {
            first,
            last: last.max(first),
        }
    }

    /// Binds a free even port at random and the odd one above it (after a few random tries,
    /// the first free pair from a random start). Not async: callers may sit in a `select!`, and
    /// a bind must not be half done when its future is dropped.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<RtpSocket> {
        let slots = (self.last - self.first) / 2 + 1;
        let start = rand::random_range(0..slots);
        let random_tries = (0..8).map(|_| rand::random_range(0..slots));
        let scan = (0..slots).map(|i| (start + i) % slots);
        for slot in random_tries.chain(scan) {
            let port = self.first + 2 * slot;
            let Ok(rtp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
                continue;
            };
            // Best effort: the kernel's minimum applies if this is below it.
            let _ = socket2::SockRef::from(&rtcp).set_recv_buffer_size(RTCP_BUFFER);
            rtp.set_nonblocking(true)?;
            return Ok(RtpSocket::new(UdpSocket::from_std(rtp)?, Some(rtcp)));
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

    #[tokio::test]
    async fn ports_are_not_taken_in_order() {
        let range = PortRange::new(32_000, 33_998);
        let ports: Vec<u16> = (0..20)
            .map(|_| range.bind("127.0.0.1".parse().unwrap()).unwrap())
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        let ascending = ports.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(ascending < 5, "the next port is not the last one plus two: {ports:?}");
    }

    #[tokio::test]
    async fn nothing_is_sent_before_the_peer_proves_itself() {
        let range = PortRange::new(34_000, 34_998);
        let socket = range.bind("127.0.0.1".parse().unwrap()).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (proved, proof) = watch::channel(false);
        socket.send_after(proof);
        socket.expect(peer.local_addr().unwrap(), 8, None);
        assert_eq!(socket.destination(), None, "an unproven SDP address gets nothing");
        assert!(!socket.send_media(b"x").await);
        proved.send(true).unwrap();
        socket.sendable().await;
        assert_eq!(socket.destination(), Some(peer.local_addr().unwrap()));
    }
}
