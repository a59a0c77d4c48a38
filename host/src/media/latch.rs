//! Which address a leg's RTP really comes from, and so where ours goes: symmetric RTP that a
//! stranger cannot hijack.
//!
//! A phone behind NAT sends from another address than its SDP names, so the exchange *learns*
//! the address from the first packets, as every PBX does. Learning is where RTP is hijacked
//! (a stranger's packets taken as the caller's, "RTP bleed"), so it is narrow:
//! - only valid RTP counts: version 2, a payload type the SDP negotiated, and from an address
//!   other than the SDP's, [`PROBATION`] packets in a row with one SSRC and consecutive sequence
//!   numbers;
//! - the SDP's own address latches at its first valid packet, and wins over any other address
//!   until the learning window ([`LEARN_PACKETS`]) is over;
//! - another address latches only within that window;
//! - once latched, packets from anywhere else are dropped: they never reach digit detection,
//!   recordings, the mixer or the other party.

use std::net::SocketAddr;

/// Packets in a row from one source (one SSRC, consecutive sequence) before a source other than
/// the SDP's is believed (Asterisk's `probation` is 4; 3 is 60 ms of audio).
pub const PROBATION: u32 = 3;
/// Valid packets seen while learning after which no source but the SDP's is learnt any more
/// (about a second of audio).
pub const LEARN_PACKETS: u32 = 50;
/// Comfort noise (RFC 3389) is RTP a peer may send whatever was negotiated.
const COMFORT_NOISE: u8 = 13;

/// One leg's latch.
#[derive(Debug, Clone, Default)]
pub struct Latch {
    /// The address the SDP names; none until it is known (a callee's answer).
    expected: Option<SocketAddr>,
    /// Payload types the SDP negotiated (audio, telephone-event).
    payload_types: [Option<u8>; 2],
    latched: Option<SocketAddr>,
    /// The latched address is the SDP's (nothing else can take it over).
    latched_to_sdp: bool,
    candidate: Option<Candidate>,
    /// Valid packets seen while learning.
    learned: u32,
    /// The stream is T.38 fax (UDPTL, not RTP): any datagram counts, but only from the SDP's
    /// address or the address the call's RTP came from.
    udptl: bool,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    next_sequence: u16,
    count: u32,
}

impl Latch {
    /// What the SDP says: the peer's address and the payload types it may send. A new address
    /// (a re-INVITE moving the media) starts learning afresh.
    pub fn expect(&mut self, remote: SocketAddr, audio: u8, event: Option<u8>) {
        self.payload_types = [Some(audio), event];
        if self.expected != Some(remote) || self.udptl {
            *self = Latch {
                expected: Some(remote),
                payload_types: self.payload_types,
                ..Latch::default()
            };
        }
    }

    /// The peer's media is now a T.38 fax stream at `remote` (its SDP's `m=image`): nothing
    /// is learnt any more — datagrams count from there, or, when the fax stream keeps the RTP
    /// stream's port (as ATAs do), from where its RTP came from (the device behind its NAT);
    /// ours go to the latter when there is one.
    pub fn expect_udptl(&mut self, remote: SocketAddr) {
        let latched = self.latched.filter(|l| l.port() == remote.port());
        *self = Latch {
            expected: Some(remote),
            latched,
            latched_to_sdp: true,
            udptl: true,
            ..Latch::default()
        };
    }

    /// Where the peer's RTP comes from, once learnt.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The SDP's address (where to send before anything was learnt).
    pub fn expected(&self) -> Option<SocketAddr> {
        self.expected.filter(|a| !a.ip().is_unspecified() && a.port() != 0)
    }

    /// Whether the datagram `data` from `from` is the peer's RTP (it is to be used) or not (it
    /// is to be dropped). Returns true for the packet that latches.
    pub fn accept(&mut self, from: SocketAddr, data: &[u8]) -> bool {
        if self.udptl {
            return !data.is_empty() && (self.latched == Some(from) || self.expected == Some(from));
        }
        if self.latched == Some(from) {
            return self.valid(data).is_some();
        }
        if self.latched_to_sdp {
            return false;
        }
        let Some((ssrc, sequence)) = self.valid(data) else {
            return false;
        };
        if self.latched.is_some() && self.learned >= LEARN_PACKETS {
            return false; // the window is over: the learnt address stays
        }
        self.learned = self.learned.saturating_add(1);
        if Some(from) == self.expected {
            self.latch(from, true);
            return true;
        }
        if self.latched.is_some() || self.learned > LEARN_PACKETS {
            return false;
        }
        let candidate = match self.candidate {
            Some(c) if c.from == from && c.ssrc == ssrc && c.next_sequence == sequence => Candidate {
                next_sequence: sequence.wrapping_add(1),
                count: c.count + 1,
                ..c
            },
            _ => Candidate {
                from,
                ssrc,
                next_sequence: sequence.wrapping_add(1),
                count: 1,
            },
        };
        self.candidate = Some(candidate);
        if candidate.count >= PROBATION {
            self.latch(from, false);
            return true;
        }
        false
    }

    fn latch(&mut self, from: SocketAddr, sdp: bool) {
        tracing::debug!(%from, sdp, "RTP latched");
        self.latched = Some(from);
        self.latched_to_sdp = sdp;
        self.candidate = None;
    }

    /// SSRC and sequence number of a datagram that is RTP in a negotiated payload type.
    fn valid(&self, data: &[u8]) -> Option<(u32, u16)> {
        if data.len() < super::rtp::HEADER_LEN || data[0] >> 6 != 2 {
            return None;
        }
        let payload_type = data[1] & 0x7f;
        let negotiated = payload_type == COMFORT_NOISE || self.payload_types.contains(&Some(payload_type));
        negotiated.then(|| {
            (
                u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
                u16::from_be_bytes([data[2], data[3]]),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8, seq: u16, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xd5; 160]);
        p
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn latch() -> Latch {
        let mut l = Latch::default();
        l.expect(addr("192.0.2.1:4000"), 8, Some(101));
        l
    }

    #[test]
    fn the_sdp_address_latches_at_once_and_a_stranger_is_ignored_after() {
        let mut l = latch();
        let (caller, stranger) = (addr("192.0.2.1:4000"), addr("192.0.2.66:4000"));
        assert!(l.accept(caller, &rtp(8, 1, 7)));
        assert_eq!(l.latched(), Some(caller));
        for seq in 0..100 {
            assert!(
                !l.accept(stranger, &rtp(101, seq, 9)),
                "a stranger's digit is never taken"
            );
        }
        assert!(l.accept(caller, &rtp(101, 2, 7)));
    }

    #[test]
    fn a_natted_caller_is_learnt_after_probation_and_the_sdp_address_still_wins_early() {
        let mut l = latch();
        let natted = addr("198.51.100.7:31000");
        assert!(!l.accept(natted, &rtp(8, 10, 5)));
        assert!(!l.accept(natted, &rtp(8, 11, 5)));
        assert!(l.accept(natted, &rtp(8, 12, 5)), "three in a row");
        assert_eq!(l.latched(), Some(natted));
        // Within the window the SDP's own address takes over; after it, nothing does.
        let sdp = addr("192.0.2.1:4000");
        assert!(l.accept(sdp, &rtp(8, 1, 6)));
        assert_eq!(l.latched(), Some(sdp));
        assert!(!l.accept(natted, &rtp(8, 13, 5)));
    }

    #[test]
    fn only_valid_negotiated_rtp_in_sequence_counts() {
        let mut l = latch();
        let other = addr("198.51.100.7:31000");
        assert!(!l.accept(addr("192.0.2.1:4000"), b"not rtp at all, just some bytes"));
        assert!(
            !l.accept(addr("192.0.2.1:4000"), &rtp(0, 1, 1)),
            "PCMU was not negotiated"
        );
        for seq in [1, 5, 9, 13] {
            assert!(!l.accept(other, &rtp(8, seq, 3)), "no consecutive sequence, no latch");
        }
        for (seq, ssrc) in [(20, 1), (21, 2), (22, 3)] {
            assert!(!l.accept(other, &rtp(8, seq, ssrc)), "the SSRC must hold");
        }
        assert_eq!(l.latched(), None);
    }

    #[test]
    fn after_the_window_a_stranger_cannot_be_learnt_but_a_new_sdp_address_is() {
        let mut l = latch();
        let (stranger, other) = (addr("203.0.113.9:5000"), addr("203.0.113.10:5000"));
        for seq in 0..LEARN_PACKETS as u16 + 1 {
            l.accept(other, &rtp(8, seq * 2, 1)); // never in sequence
        }
        for seq in 0..10 {
            assert!(!l.accept(stranger, &rtp(8, seq, 2)));
        }
        assert_eq!(l.latched(), None);
        assert!(
            l.accept(addr("192.0.2.1:4000"), &rtp(8, 1, 1)),
            "the SDP's address still may"
        );
        l.expect(stranger, 8, None);
        assert_eq!(l.latched(), None, "a re-INVITE moving the media learns afresh");
        assert!(l.accept(stranger, &rtp(8, 1, 2)));
    }

    #[test]
    fn a_fax_stream_takes_any_datagram_from_the_parties_address_only() {
        let sdp: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let nat: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        let mut latch = Latch::default();
        latch.expect(sdp, 8, None);
        for seq in 0..PROBATION as u16 {
            latch.accept(nat, &rtp(8, seq, 7));
        }
        assert_eq!(latch.latched(), Some(nat), "RTP from behind a NAT");
        latch.expect_udptl(sdp);
        let udptl = [0x00, 0x01, 0x02, 0x03];
        assert!(latch.accept(nat, &udptl), "the same device, same port: its fax stream");
        assert!(latch.accept(sdp, &udptl));
        assert!(!latch.accept(stranger, &udptl), "nobody else");
        assert!(!latch.accept(nat, &[]));
        // Back to audio: RTP only again.
        latch.expect(sdp, 8, None);
        assert!(!latch.accept(sdp, &udptl));
        assert!(latch.accept(sdp, &rtp(8, 1, 9)));
    }
}
