//! RFC 4733 telephone-event receiver: one digit per event, however many End packets arrive.

/// The digit an RFC 4733 event code stands for (0-9, *, #, A-D).
pub fn event_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// Turns a stream of telephone-event payloads into digits.
///
/// A digit is reported when its first End packet arrives. The sender repeats the End packet
/// (typically three times) with the same RTP timestamp; those repeats are recognised by the
/// timestamp and dropped.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last_ended: Option<u32>,
}

impl DtmfReceiver {
    pub fn on_packet(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<char> {
        if payload.len() < 4 {
            return None;
        }
        let end = payload[1] & 0x80 != 0;
        if !end || self.last_ended == Some(rtp_timestamp) {
            return None;
        }
        self.last_ended = Some(rtp_timestamp);
        event_digit(payload[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [code, if end { 0x8a } else { 0x0a }, d[0], d[1]]
    }

    #[test]
    fn three_end_packets_count_once() {
        let mut r = DtmfReceiver::default();
        assert_eq!(r.on_packet(1000, &ev(5, false, 160)), None);
        assert_eq!(r.on_packet(1000, &ev(5, false, 320)), None);
        assert_eq!(r.on_packet(1000, &ev(5, true, 480)), Some('5'));
        assert_eq!(r.on_packet(1000, &ev(5, true, 480)), None);
        assert_eq!(r.on_packet(1000, &ev(5, true, 480)), None);
        // The same digit again is a new event with a new timestamp.
        assert_eq!(r.on_packet(3000, &ev(5, true, 480)), Some('5'));
        assert_eq!(r.on_packet(5000, &ev(11, true, 480)), Some('#'));
    }

    #[test]
    fn short_or_unknown_events_are_ignored() {
        let mut r = DtmfReceiver::default();
        assert_eq!(r.on_packet(1, &[1, 0x80]), None);
        assert_eq!(r.on_packet(2, &ev(200, true, 1)), None);
    }
}
