//! RTP (RFC 3550) fixed header: parse without copying, build into a caller's buffer.

pub const HEADER_LEN: usize = 12;

/// A received RTP packet, borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram; `None` for anything that is not RTP version 2 with a sane layout.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        if data.len() < HEADER_LEN || data[0] >> 6 != 2 {
            return None;
        }
        let padding = data[0] & 0x20 != 0;
        let extension = data[0] & 0x10 != 0;
        let csrc_count = (data[0] & 0x0f) as usize;
        let mut start = HEADER_LEN + 4 * csrc_count;
        if extension {
            let words = u16::from_be_bytes([*data.get(start + 2)?, *data.get(start + 3)?]) as usize;
            start += 4 + 4 * words;
        }
        let mut end = data.len();
        if padding {
            let pad = *data.last()? as usize;
            end = end.checked_sub(pad)?;
        }
        if start > end {
            return None;
        }
        Some(RtpPacket {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7f,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: &data[start..end],
        })
    }
}

/// The sending side of one RTP stream: keeps SSRC, sequence and timestamp.
#[derive(Debug)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// The next packet starts a talkspurt (RFC 3551 §4.1: set the marker bit).
    talkspurt: bool,
}

impl RtpSender {
    pub fn new(ssrc: u32, first_sequence: u16, first_timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            sequence: first_sequence,
            timestamp: first_timestamp,
            talkspurt: true,
        }
    }

    /// Writes header + payload into `buf` and returns the packet length; advances the stream by
    /// `samples` timestamp units.
    pub fn write(&mut self, buf: &mut [u8], payload_type: u8, payload: &[u8], samples: u32) -> usize {
        let len = HEADER_LEN + payload.len();
        buf[0] = 0x80;
        buf[1] = payload_type & 0x7f | if self.talkspurt { 0x80 } else { 0 };
        buf[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        buf[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        buf[HEADER_LEN..len].copy_from_slice(payload);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.talkspurt = false;
        len
    }

    /// The next packet begins a new talkspurt (after silence or a pause in sending).
    pub fn mark_talkspurt(&mut self) {
        self.talkspurt = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse() {
        let mut s = RtpSender::new(0xdead_beef, 65535, 1000);
        let mut buf = [0u8; 200];
        let n = s.write(&mut buf, 0, &[0xff; 160], 160);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (0, 65535, 1000, 0xdead_beef)
        );
        assert_eq!(p.payload.len(), 160);
        let n = s.write(&mut buf, 0, &[0xff; 160], 160);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(!p.marker);
        assert_eq!((p.sequence, p.timestamp), (0, 1160));
    }

    #[test]
    fn rejects_garbage() {
        assert!(RtpPacket::parse(&[]).is_none());
        assert!(RtpPacket::parse(&[0x40; 20]).is_none()); // version 1
        let mut bad_pad = [0u8; 13];
        bad_pad[0] = 0xa0;
        bad_pad[12] = 200; // more padding than packet
        assert!(RtpPacket::parse(&bad_pad).is_none());
        let mut bad_ext = [0u8; 14];
        bad_ext[0] = 0x90; // extension bit, header truncated
        assert!(RtpPacket::parse(&bad_ext).is_none());
    }
}
