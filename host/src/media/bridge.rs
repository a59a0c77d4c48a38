//! The RTP relay between two legs of a bridged call. Media stays anchored here (so hold, NAT
//! and codec differences are ours to handle, not the phones'): packets keep their SSRC, sequence
//! and timestamp; the payload type is mapped to what the far side negotiated, and PCMU↔PCMA is
//! transcoded in place when the two sides chose different laws. One buffer per direction, no
//! allocation per packet.

use std::sync::Arc;
use std::time::Duration;

use super::dtmf::DtmfReceiver;
use super::g711;
use super::ports::RtpSocket;
use super::rtp::RtpPacket;
use super::sdp::{Codec, MediaOffer};

/// One side of a bridge: our socket towards a party, and what was negotiated with it.
#[derive(Clone)]
pub struct BridgeSide {
    pub socket: Arc<RtpSocket>,
    pub media: MediaOffer,
    /// The o= session id of our SDP towards this party (kept for re-offers).
    pub session_id: u64,
}

impl BridgeSide {
    /// The side, its socket told what the party's SDP says (whose RTP it takes).
    pub fn new(socket: Arc<RtpSocket>, media: MediaOffer, session_id: u64) -> Self {
        socket.expect(media.remote, media.payload_type, media.telephone_event);
        BridgeSide {
            socket,
            media,
            session_id,
        }
    }

    /// Our end of the session with this party, to re-offer or re-answer it.
    pub fn local_sdp(&self) -> std::io::Result<super::LocalSdp> {
        Ok(super::LocalSdp {
            local: self.socket.local_addr()?,
            media: self.media.clone(),
            session_id: self.session_id,
            socket: self.socket.clone(),
        })
    }
}

/// Why a relay stopped by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// Neither party sent anything for the whole timeout: a dead call (a phone that lost power
    /// or network never sends its BYE).
    Silent,
}

/// Which party of a bridge did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    A = 0,
    B = 1,
}

/// What a relay tells its watcher as packets pass through (they are relayed all the same).
pub trait RelayWatch {
    /// An RFC 4733 digit (feature codes typed during a call).
    fn digit(&mut self, _party: Party, _digit: char) {}
    /// Whether [`RelayWatch::audio`] is wanted (it costs a decode per packet).
    fn wants_audio(&self) -> bool {
        false
    }
    /// A packet of a party's audio as it arrived (call recording).
    fn audio(&mut self, _party: Party, _timestamp: u32, _codec: Codec, _payload: &[u8]) {}
}

/// Nobody watching.
impl RelayWatch for () {}

/// Relays both ways until neither side has sent RTP for `timeout`. Stop it earlier by dropping
/// the future.
pub async fn relay(a: &BridgeSide, b: &BridgeSide, timeout: Duration) -> BridgeEnd {
    relay_watching(a, b, timeout, ()).await
}

/// [`relay`], telling `watch` of the digits and (if it wants it) the audio either party sends.
///
/// The packets pass in a task of their own: whoever waits for the relay — a call's flow, whose
/// CPU budget counts every wake-up — is woken when it ends, not for every packet (a bridged
/// call would otherwise spend a flow's budget in minutes). Dropping the future stops the task.
pub async fn relay_watching(
    a: &BridgeSide,
    b: &BridgeSide,
    timeout: Duration,
    mut watch: impl RelayWatch + Send + 'static,
) -> BridgeEnd {
    let (a, b) = (a.clone(), b.clone());
    let packets = tokio::spawn(async move { relay_packets(&a, &b, timeout, &mut watch).await });
    match tokio_util::task::AbortOnDropHandle::new(packets).await {
        Ok(end) => end,
        Err(e) => {
            // A bug in the relay: the call ends as a dead one rather than hanging.
            tracing::error!(error = %e, "the RTP relay failed");
            BridgeEnd::Silent
        }
    }
}

/// The relay's loop (see [`relay_watching`]).
async fn relay_packets(a: &BridgeSide, b: &BridgeSide, timeout: Duration, watch: &mut impl RelayWatch) -> BridgeEnd {
    let mut digits = [DtmfReceiver::default(), DtmfReceiver::default()];
    // For /metrics: handles taken once, so counting a packet is one atomic add.
    let relayed = metrics::counter!("switchboard_rtp_relayed_packets_total");
    let lost = metrics::counter!("switchboard_rtp_lost_packets_total");
    let mut next_sequence: [Option<u16>; 2] = [None, None];
    let forward = Direction::new(&a.media, &b.media);
    let backward = Direction::new(&b.media, &a.media);
    let mut buf_ab = [0u8; 2048];
    let mut buf_ba = [0u8; 2048];
    loop {
        // Each socket hands over its party's RTP only (the latch); its replies go where that
        // party really sends from (symmetric RTP, NAT).
        let received = tokio::time::timeout(timeout, async {
            tokio::select! {
                r = a.socket.recv_media(&mut buf_ab) => r.map(|(n, _)| (true, n)),
                r = b.socket.recv_media(&mut buf_ba) => r.map(|(n, _)| (false, n)),
            }
        })
        .await;
        let Ok(received) = received else {
            return BridgeEnd::Silent;
        };
        let Ok((from_a, n)) = received else { continue };
        let (direction, buf) = if from_a {
            (&forward, &mut buf_ab)
        } else {
            (&backward, &mut buf_ba)
        };
        // Parsed once: what is watched here, and what the rewrite needs.
        let Some(packet) = RtpPacket::parse(&buf[..n]) else {
            continue; // not RTP: nothing to relay
        };
        let (party, receiver, near) = if from_a {
            (Party::A, &mut digits[0], a)
        } else {
            (Party::B, &mut digits[1], b)
        };
        // Loss as the sequence numbers show it (a jump forward; late packets are not loss).
        let expected = &mut next_sequence[party as usize];
        if let Some(gap) = expected
            .map(|e| packet.sequence.wrapping_sub(e))
            .filter(|g| (1..1000).contains(g))
        {
            lost.increment(gap.into());
        }
        if expected.is_none_or(|e| packet.sequence.wrapping_sub(e) < 0x8000) {
            *expected = Some(packet.sequence.wrapping_add(1));
        }
        if Some(packet.payload_type) == direction.event_in {
            if let Some(digit) = receiver.on_packet(packet.timestamp, packet.payload) {
                watch.digit(party, digit);
            }
        } else if packet.payload_type == direction.audio_in && watch.wants_audio() {
            watch.audio(party, packet.timestamp, near.media.codec, packet.payload);
        }
        let (payload_type, payload_len) = (packet.payload_type, packet.payload.len());
        if let Some(len) = direction.rewrite(&mut buf[..n], payload_type, payload_len) {
            let far = if from_a { b } else { a };
            // A lost datagram (or one the far party has not proven it wants yet) is a glitch in
            // the conversation, not a reason to stop relaying.
            if far.socket.send_media(&buf[..len]).await {
                relayed.increment(1);
            }
        }
    }
}

/// How packets from one side are rewritten for the other.
struct Direction {
    audio_in: u8,
    audio_out: u8,
    transcode: Option<fn(u8) -> u8>,
    event_in: Option<u8>,
    event_out: Option<u8>,
}

impl Direction {
    fn new(near: &MediaOffer, far: &MediaOffer) -> Self {
        let transcode: Option<fn(u8) -> u8> = match (near.codec, far.codec) {
            (Codec::Pcmu, Codec::Pcma) => Some(|b| g711::linear_to_alaw(g711::ulaw_to_linear(b))),
            (Codec::Pcma, Codec::Pcmu) => Some(|b| g711::linear_to_ulaw(g711::alaw_to_linear(b))),
            _ => None,
        };
        Direction {
            audio_in: near.payload_type,
            audio_out: far.payload_type,
            transcode,
            event_in: near.telephone_event,
            event_out: far.telephone_event,
        }
    }

    /// Rewrites the (parsed) packet for the far side in place; `None` drops it (a payload the
    /// far side did not negotiate, or digits it cannot receive as events).
    fn rewrite(&self, packet: &mut [u8], payload_type: u8, payload_len: usize) -> Option<usize> {
        let payload_start = packet.len() - payload_len - padding_len(packet);
        let (pt, is_audio) = if payload_type == self.audio_in {
            (self.audio_out, true)
        } else if Some(payload_type) == self.event_in {
            (self.event_out?, false)
        } else {
            return None;
        };
        packet[1] = (packet[1] & 0x80) | pt;
        if is_audio && let Some(transcode) = self.transcode {
            let end = payload_start + payload_len;
            for byte in &mut packet[payload_start..end] {
                *byte = transcode(*byte);
            }
        }
        Some(packet.len())
    }
}

fn padding_len(packet: &[u8]) -> usize {
    if packet[0] & 0x20 != 0 {
        packet.last().copied().unwrap_or(0) as usize
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::RtpSender;
    use crate::media::testing::polled;
    use std::net::SocketAddr;
    use tokio::net::UdpSocket;

    /// A bridged call's relay is waited for by its flow, whose CPU budget counts every wake-up:
    /// packets passing both ways wake the waiter a few times in all, not once per packet (a
    /// debug build's flow ran out of its budget after 30 s of talk).
    #[tokio::test]
    async fn packets_pass_without_waking_whoever_waits_for_the_relay() {
        let phones = [0, 1].map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let sides: Vec<BridgeSide> = phones
            .iter()
            .map(|phone| {
                let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.set_nonblocking(true).unwrap();
                let socket = Arc::new(RtpSocket::plain(tokio::net::UdpSocket::from_std(socket).unwrap()));
                BridgeSide::new(socket, side_at(phone.local_addr().unwrap()), 1)
            })
            .collect();
        let phones = phones.map(|p| {
            p.set_nonblocking(true).unwrap();
            Arc::new(UdpSocket::from_std(p).unwrap())
        });
        // The phones talk in a task of their own: only the relay wakes the waiter.
        let targets = sides.iter().map(|s| s.socket.local_addr().unwrap()).collect::<Vec<_>>();
        let talking = phones.clone();
        let talk = tokio::spawn(async move {
            let mut sender = RtpSender::new(7, 100, 1000);
            let mut packet = [0u8; 200];
            for _ in 0..50 {
                for (phone, far) in talking.iter().zip(&targets) {
                    let n = sender.write(&mut packet, 8, &[0xd5; 160], 160);
                    phone.send_to(&packet[..n], far).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let (end, polls) = polled(relay(&sides[0], &sides[1], Duration::from_millis(300))).await;
        talk.await.unwrap();
        assert_eq!(end, BridgeEnd::Silent, "after the talk, silence ends it");
        for phone in &phones {
            let mut buf = [0u8; 2048];
            let mut heard = 0;
            while phone.try_recv(&mut buf).is_ok() {
                heard += 1;
            }
            assert_eq!(heard, 50, "each phone hears the other's packets");
        }
        assert!(
            polls <= 4,
            "the relay's waiter was polled {polls} times for 100 packets"
        );
    }

    /// A PCMA party at `remote`, without events.
    fn side_at(remote: SocketAddr) -> MediaOffer {
        MediaOffer {
            remote,
            ..side(Codec::Pcma, 8, None)
        }
    }

    /// Parses, then rewrites, as the relay does.
    fn relayed(d: &Direction, packet: &mut [u8]) -> Option<usize> {
        let parsed = RtpPacket::parse(packet)?;
        let (payload_type, payload_len) = (parsed.payload_type, parsed.payload.len());
        d.rewrite(packet, payload_type, payload_len)
    }

    fn side(codec: Codec, pt: u8, event: Option<u8>) -> MediaOffer {
        MediaOffer {
            remote: "127.0.0.1:4000".parse().unwrap(),
            codec,
            payload_type: pt,
            telephone_event: event,
            ptime: 20,
        }
    }

    #[test]
    fn same_law_passes_through_and_events_are_renumbered() {
        let d = Direction::new(&side(Codec::Pcma, 8, Some(101)), &side(Codec::Pcma, 8, Some(96)));
        let mut sender = RtpSender::new(7, 100, 1000);
        let mut buf = [0u8; 200];
        let n = sender.write(&mut buf, 8, &[0xd5; 160], 160);
        let before = buf;
        assert_eq!(relayed(&d, &mut buf[..n]), Some(n));
        assert_eq!(buf, before, "pass-through must not touch the packet");
        let n = sender.write(&mut buf, 101, &[1, 0x80, 0, 160], 0);
        relayed(&d, &mut buf[..n]).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!((p.payload_type, p.sequence, p.ssrc), (96, 101, 7));
    }

    #[test]
    fn different_laws_are_transcoded_and_unknown_payloads_dropped() {
        let d = Direction::new(&side(Codec::Pcmu, 0, Some(101)), &side(Codec::Pcma, 8, None));
        let mut sender = RtpSender::new(7, 1, 0);
        let mut buf = [0u8; 200];
        let silence_ulaw = g711::linear_to_ulaw(0);
        let n = sender.write(&mut buf, 0, &[silence_ulaw; 160], 160);
        relayed(&d, &mut buf[..n]).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.payload_type, 8);
        assert!(p.payload.iter().all(|b| *b == g711::linear_to_alaw(0)));
        let n = sender.write(&mut buf, 101, &[1, 0x80, 0, 160], 0);
        assert_eq!(relayed(&d, &mut buf[..n]), None, "the far side has no telephone-event");
        let n = sender.write(&mut buf, 13, &[0; 1], 0);
        assert_eq!(relayed(&d, &mut buf[..n]), None, "comfort noise was not negotiated");
    }
}
