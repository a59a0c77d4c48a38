//! The SIP UDP socket: rsipstack reads through it, and only receives what the guard passed
//! and the overload gate ([`super::intake`]) let in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::platform::net::UdpSocket as PlatformUdpSocket;
use tokio::net::UdpSocket;

use super::guard::{self, Kind, Verdict};
use super::intake::{self, Decision, Intake};
use super::source;
use crate::throttle::QuietLog;

pub struct GuardedSocket {
    socket: UdpSocket,
    intake: Arc<Intake>,
    /// Malformed datagrams are a stranger's to send at will: logged at a bounded rate.
    malformed: QuietLog,
}

impl GuardedSocket {
    pub async fn bind(addr: SocketAddr, intake: Arc<Intake>) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        intake::stamp_arrivals(&socket);
        Ok(GuardedSocket {
            socket,
            intake,
            malformed: QuietLog::new(20, Duration::from_secs(10)),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

#[async_trait::async_trait]
impl PlatformUdpSocket for GuardedSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            let waited = intake::arrival_age(&self.socket);
            // A parser bug must cost one datagram, never the SIP receive loop.
            let (verdict, kind) = std::panic::catch_unwind(|| guard::examine(&buf[..n])).unwrap_or_else(|_| {
                if let Some(left_out) = self.malformed.admit() {
                    tracing::error!(%from, datagram = %String::from_utf8_lossy(&buf[..n]), left_out, "the SIP parser panicked");
                }
                (Verdict::Drop, Kind::Other)
            });
            if matches!(verdict, Verdict::Pass | Verdict::Rewrite(_)) {
                match self.intake.decide(&buf[..n], &kind, from, waited) {
                    Decision::Pass => {}
                    Decision::Refuse(answer) => {
                        // To where it came from, like every answer from here.
                        let _ = self.socket.send_to(&answer, from).await;
                        continue;
                    }
                    Decision::Drop => continue,
                }
            }
            let passed = match verdict {
                Verdict::Pass => Some(None),
                Verdict::Rewrite(canonical) => Some(Some(canonical)),
                Verdict::Reply(response) => {
                    if let Some(left_out) = self.malformed.admit() {
                        tracing::info!(%from, status = %String::from_utf8_lossy(&response[..12.min(response.len())]), left_out, "refused a malformed request");
                    }
                    // Answer where it came from (RFC 3261 §18.2.2 with rport): never elsewhere.
                    let _ = self.socket.send_to(&response, from).await;
                    None
                }
                Verdict::Drop => {
                    tracing::debug!(%from, len = n, "dropped an unframeable datagram");
                    None
                }
            };
            let Some(rewritten) = passed else { continue };
            let message = rewritten.as_deref().unwrap_or(&buf[..n]);
            let is_request = !(message.starts_with(b"SIP/") || message.iter().all(u8::is_ascii_whitespace));
            // Requests get the real source stamped on (source.rs); responses carry our own Via.
            let out = if is_request {
                let Some(stamped) = source::stamp_datagram(message, from) else {
                    tracing::debug!(%from, "a request without a Via to stamp: dropped");
                    continue;
                };
                Some(stamped)
            } else {
                rewritten
            };
            match out {
                None => return Ok((n, from)),
                Some(bytes) if bytes.len() <= buf.len() => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), from));
                }
                Some(_) => tracing::debug!(%from, "the request does not fit the buffer once stamped"),
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}
