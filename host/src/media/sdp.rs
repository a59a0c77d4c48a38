//! SDP offer/answer (RFC 3264) for one audio stream with G.711 and RFC 4733 telephone-events.
//! Parsing goes through the `sdp` crate; the answer is small enough to write out directly.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// The audio codecs the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => super::g711::ulaw_to_linear(byte),
            Codec::Pcma => super::g711::alaw_to_linear(byte),
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => super::g711::linear_to_ulaw(sample),
            Codec::Pcma => super::g711::linear_to_alaw(sample),
        }
    }

    fn from_rtpmap(encoding: &str) -> Option<Self> {
        let name = encoding.split('/').next()?;
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// What we took from the caller's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOffer {
    /// Where the caller wants our RTP.
    pub remote: SocketAddr,
    pub codec: Codec,
    /// The codec's payload type in this session (0 or 8 unless the offer remapped it).
    pub payload_type: u8,
    /// The telephone-event payload type the offer negotiated, if any (never assumed to be 101).
    pub telephone_event: Option<u8>,
    /// Packet time in ms (20 unless the offer asks for another).
    pub ptime: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("unparseable SDP: {0}")]
    Malformed(String),
    #[error("no audio stream in the offer")]
    NoAudio,
    #[error("no codec in common (we speak PCMU and PCMA)")]
    NoCommonCodec,
}

impl MediaOffer {
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let sd = sdp::SessionDescription::unmarshal(&mut Cursor::new(body))
            .map_err(|e| SdpError::Malformed(e.to_string()))?;
        let audio = sd
            .media_descriptions
            .iter()
            .find(|m| m.media_name.media == "audio" && m.media_name.port.value > 0)
            .ok_or(SdpError::NoAudio)?;
        let connection = audio
            .connection_information
            .as_ref()
            .or(sd.connection_information.as_ref())
            .and_then(|c| c.address.as_ref())
            .ok_or_else(|| SdpError::Malformed("no c= line".into()))?;
        let ip: IpAddr = connection
            .address
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| SdpError::Malformed(format!("bad address {}", connection.address)))?;
        let port = u16::try_from(audio.media_name.port.value).map_err(|_| SdpError::Malformed("bad port".into()))?;

        let rtpmaps: Vec<(u8, &str)> = audio
            .attributes
            .iter()
            .filter(|a| a.key == "rtpmap")
            .filter_map(|a| {
                let (pt, enc) = a.value.as_deref()?.split_once(' ')?;
                Some((pt.trim().parse().ok()?, enc.trim()))
            })
            .collect();
        let encoding_of = |pt: u8| rtpmaps.iter().find(|(p, _)| *p == pt).map(|(_, e)| *e);

        let mut codec = None;
        let mut telephone_event = None;
        for format in &audio.media_name.formats {
            let Ok(pt) = format.parse::<u8>() else { continue };
            let found = match encoding_of(pt) {
                Some(enc) if enc.to_ascii_lowercase().starts_with("telephone-event/8000") => {
                    telephone_event.get_or_insert(pt);
                    None
                }
                Some(enc) => Codec::from_rtpmap(enc),
                None if pt == 0 => Some(Codec::Pcmu),
                None if pt == 8 => Some(Codec::Pcma),
                None => None,
            };
            if let (None, Some(c)) = (codec, found) {
                codec = Some((c, pt));
            }
        }
        let (codec, payload_type) = codec.ok_or(SdpError::NoCommonCodec)?;
        let ptime = audio
            .attribute("ptime")
            .flatten()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|p| (10..=60).contains(p) && p % 10 == 0)
            .unwrap_or(20);
        Ok(MediaOffer {
            remote: SocketAddr::new(ip, port),
            codec,
            payload_type,
            telephone_event,
            ptime,
        })
    }

    /// Our answer: the chosen codec and telephone-event, our RTP address.
    pub fn answer(&self, local: SocketAddr, session_id: u64) -> String {
        self.describe(local, session_id, session_id, Direction::SendRecv)
    }

    /// Our side of this negotiated session as SDP at origin `version` (which must grow with
    /// every change, RFC 3264 §8): for a re-INVITE or the answer to one.
    pub fn describe(&self, local: SocketAddr, session_id: u64, version: u64, direction: Direction) -> String {
        let formats = [(self.payload_type, self.codec.name())];
        let origin = (session_id, version);
        write_sdp(local, origin, &formats, self.telephone_event, self.ptime, direction)
    }
}

/// A T.38 fax stream offered or answered in a re-INVITE: `m=image <port> udptl t38` (RFC
/// 3362; ITU-T T.38 Annex D). The exchange relays it as it relays RTP, its datagrams untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaxMedia {
    /// Where the party wants the fax stream.
    pub remote: SocketAddr,
    /// Its `a=T38…` attributes (version, rate, error correction), passed on to the other
    /// party as they are; nothing else of a stranger's SDP is.
    pub attributes: Vec<String>,
}

/// `a=T38…` attributes passed on, at most (T.38 defines about ten).
const MAX_FAX_ATTRIBUTES: usize = 16;
/// Longest `a=T38…` attribute passed on.
const MAX_FAX_ATTRIBUTE: usize = 64;

impl FaxMedia {
    /// The fax stream of an SDP body; none when it has no T.38 stream with a port.
    pub fn parse(body: &[u8]) -> Option<FaxMedia> {
        let sd = sdp::SessionDescription::unmarshal(&mut Cursor::new(body)).ok()?;
        let image = sd.media_descriptions.iter().find(|m| {
            m.media_name.media == "image"
                && m.media_name.port.value > 0
                && m.media_name.protos.iter().any(|p| p.eq_ignore_ascii_case("udptl"))
                && m.media_name.formats.iter().any(|f| f.eq_ignore_ascii_case("t38"))
        })?;
        let connection = image
            .connection_information
            .as_ref()
            .or(sd.connection_information.as_ref())
            .and_then(|c| c.address.as_ref())?;
        let ip: IpAddr = connection.address.split('/').next()?.parse().ok()?;
        let port = u16::try_from(image.media_name.port.value).ok()?;
        let attributes = image
            .attributes
            .iter()
            .filter(|a| a.key.starts_with("T38") || a.key.starts_with("t38"))
            .map(|a| match &a.value {
                Some(value) => format!("{}:{value}", a.key),
                None => a.key.clone(),
            })
            .filter(|a| a.len() <= MAX_FAX_ATTRIBUTE && !a.contains(['\r', '\n']))
            .take(MAX_FAX_ATTRIBUTES)
            .collect();
        Some(FaxMedia {
            remote: SocketAddr::new(ip, port),
            attributes,
        })
    }

    /// Our side of a fax stream at `local` with these attributes (the other party's).
    pub fn describe(&self, local: SocketAddr, session_id: u64) -> String {
        let ip_kind = if local.is_ipv6() { "IP6" } else { "IP4" };
        let ip = local.ip();
        let attributes: String = self.attributes.iter().map(|a| format!("a={a}\r\n")).collect();
        format!(
            "v=0\r\no=switchboard {session_id} {version} IN {ip_kind} {ip}\r\ns=switchboard\r\n\
             c=IN {ip_kind} {ip}\r\nt=0 0\r\nm=image {port} udptl t38\r\n{attributes}",
            version = next_version(),
            port = local.port(),
        )
    }
}

/// Our end of a negotiated session: enough to describe it again (a re-INVITE, or the answer
/// to one) with the same address, codec and origin.
#[derive(Debug, Clone)]
pub struct LocalSdp {
    pub local: SocketAddr,
    pub media: MediaOffer,
    pub session_id: u64,
    /// Our socket towards the party (its latch follows the party's new offers).
    pub socket: std::sync::Arc<super::RtpSocket>,
}

impl LocalSdp {
    /// The party offered anew (a re-INVITE): if its media moved to another address, our socket
    /// learns that one instead (see `latch.rs`).
    pub fn follow(&self, offer: &[u8]) {
        if let Ok(moved) = MediaOffer::parse(offer) {
            self.socket
                .expect(moved.remote, self.media.payload_type, self.media.telephone_event);
        }
    }

    /// The session with media flowing `direction`, at a new origin version.
    pub fn describe(&self, direction: Direction) -> String {
        self.media
            .describe(self.local, self.session_id, next_version(), direction)
    }
}

/// An SDP origin version for a changed session description: later than any earlier one we
/// wrote (those start at a 32-bit random number; milliseconds since 1970 are far above it).
fn next_version() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(u32::MAX as u64 + 1)
}

/// Which way media flows (RFC 3264 §5.1); `sendonly`/`inactive` put the other side on hold (§8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction an SDP body asks for (the audio stream's, else the session's; sendrecv
    /// when it says nothing or cannot be parsed).
    pub fn of(body: &[u8]) -> Direction {
        let Ok(sd) = sdp::SessionDescription::unmarshal(&mut Cursor::new(body)) else {
            return Direction::SendRecv;
        };
        let find = |attrs: &[sdp::description::common::Attribute]| {
            attrs.iter().find_map(|a| match a.key.as_str() {
                "sendrecv" => Some(Direction::SendRecv),
                "sendonly" => Some(Direction::SendOnly),
                "recvonly" => Some(Direction::RecvOnly),
                "inactive" => Some(Direction::Inactive),
                _ => None,
            })
        };
        let audio = sd.media_descriptions.iter().find(|m| m.media_name.media == "audio");
        audio
            .and_then(|m| find(&m.attributes))
            .or_else(|| find(&sd.attributes))
            .unwrap_or(Direction::SendRecv)
    }

    /// The direction that answers an offer of this one (RFC 3264 §6.1).
    pub fn answered(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// The telephone-event payload type we offer (the answer may not change it, RFC 3264 §6.1).
pub const OFFERED_TELEPHONE_EVENT: u8 = 101;

/// Our offer to a callee: both G.711 laws, `preferred` first so a bridge to a caller who chose
/// it needs no transcoding, and telephone-events.
pub fn offer(local: SocketAddr, session_id: u64, preferred: Codec, ptime: u32) -> String {
    let other = match preferred {
        Codec::Pcmu => Codec::Pcma,
        Codec::Pcma => Codec::Pcmu,
    };
    let formats = [preferred, other].map(|c| (c.payload_type(), c.name()));
    let origin = (session_id, session_id);
    write_sdp(
        local,
        origin,
        &formats,
        Some(OFFERED_TELEPHONE_EVENT),
        ptime,
        Direction::SendRecv,
    )
}

fn write_sdp(
    local: SocketAddr,
    (session_id, version): (u64, u64),
    codecs: &[(u8, &str)],
    telephone_event: Option<u8>,
    ptime: u32,
    direction: Direction,
) -> String {
    let ip_kind = if local.is_ipv6() { "IP6" } else { "IP4" };
    let ip = local.ip();
    let mut formats: Vec<String> = codecs.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut attrs: String = codecs
        .iter()
        .map(|(pt, name)| format!("a=rtpmap:{pt} {name}/8000\r\n"))
        .collect();
    if let Some(te) = telephone_event {
        formats.push(te.to_string());
        attrs.push_str(&format!("a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"));
    }
    format!(
        "v=0\r\no=switchboard {session_id} {version} IN {ip_kind} {ip}\r\ns=switchboard\r\n\
         c=IN {ip_kind} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n{attrs}\
         a=ptime:{ptime}\r\na={direction}\r\n",
        port = local.port(),
        formats = formats.join(" "),
        direction = direction.attribute(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    #[test]
    fn sipp_offer_gives_pcma_with_events() {
        let o = MediaOffer::parse(SIPP_OFFER.as_bytes()).unwrap();
        assert_eq!(o.remote, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(
            (o.codec, o.payload_type, o.telephone_event, o.ptime),
            (Codec::Pcma, 8, Some(101), 20)
        );
        let answer = o.answer("127.0.0.1:10000".parse().unwrap(), 7);
        assert!(answer.contains("m=audio 10000 RTP/AVP 8 101\r\n"), "{answer}");
        assert!(MediaOffer::parse(answer.as_bytes()).is_ok());
    }

    #[test]
    fn desk_phone_offer_picks_first_supported_and_its_event_type() {
        let offer = "v=0\no=- 1 1 IN IP4 10.0.0.5\ns=-\nc=IN IP4 10.0.0.5\nt=0 0\n\
            m=audio 4000 RTP/AVP 9 0 8 18 96\na=rtpmap:9 G722/8000\na=rtpmap:96 telephone-event/8000\n\
            a=ptime:30\n";
        let o = MediaOffer::parse(offer.as_bytes()).unwrap();
        assert_eq!((o.codec, o.telephone_event, o.ptime), (Codec::Pcmu, Some(96), 30));
    }

    #[test]
    fn our_offer_puts_the_preferred_law_first_and_parses_back() {
        let sdp = offer("127.0.0.1:10002".parse().unwrap(), 9, Codec::Pcma, 30);
        assert!(sdp.contains("m=audio 10002 RTP/AVP 8 0 101\r\n"), "{sdp}");
        let o = MediaOffer::parse(sdp.as_bytes()).unwrap();
        assert_eq!(
            (o.codec, o.telephone_event, o.ptime),
            (Codec::Pcma, Some(OFFERED_TELEPHONE_EVENT), 30)
        );
    }

    #[test]
    fn hold_directions_are_read_and_answered() {
        let held = SIPP_OFFER.replace("a=fmtp:101 0-11,16\r\n", "a=fmtp:101 0-11,16\r\na=sendonly\r\n");
        assert_eq!(Direction::of(held.as_bytes()), Direction::SendOnly);
        assert_eq!(Direction::of(held.as_bytes()).answered(), Direction::RecvOnly);
        assert_eq!(Direction::of(SIPP_OFFER.as_bytes()), Direction::SendRecv);
        let o = MediaOffer::parse(SIPP_OFFER.as_bytes()).unwrap();
        let sdp = o.describe("127.0.0.1:10000".parse().unwrap(), 7, 8, Direction::Inactive);
        assert!(
            sdp.contains("o=switchboard 7 8 IN IP4") && sdp.contains("a=inactive\r\n"),
            "{sdp}"
        );
        assert_eq!(Direction::of(sdp.as_bytes()), Direction::Inactive);
    }

    #[test]
    fn refusals() {
        let no_common = SIPP_OFFER
            .replace("RTP/AVP 8 101", "RTP/AVP 18")
            .replace("a=rtpmap:8 PCMA/8000\r\n", "");
        assert_eq!(MediaOffer::parse(no_common.as_bytes()), Err(SdpError::NoCommonCodec));
        assert!(matches!(MediaOffer::parse(b"garbage"), Err(SdpError::Malformed(_))));
        let video_only = SIPP_OFFER.replace("m=audio", "m=video");
        assert_eq!(MediaOffer::parse(video_only.as_bytes()), Err(SdpError::NoAudio));
    }

    #[test]
    fn a_t38_offer_is_read_and_passed_on_without_anything_else() {
        let offer = b"v=0\r\no=ata 1 2 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
            m=image 5004 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n\
            a=T38FaxRateManagement:transferredTCF\r\na=T38FaxUdpEC:t38UDPRedundancy\r\na=sendrecv\r\n\
            a=x-evil:1\r\n";
        let fax = FaxMedia::parse(offer).expect("a T.38 stream");
        assert_eq!(fax.remote, "192.0.2.7:5004".parse().unwrap());
        assert_eq!(
            fax.attributes,
            [
                "T38FaxVersion:0",
                "T38MaxBitRate:14400",
                "T38FaxRateManagement:transferredTCF",
                "T38FaxUdpEC:t38UDPRedundancy"
            ]
        );
        let ours = fax.describe("127.0.0.1:30000".parse().unwrap(), 42);
        assert!(ours.contains("m=image 30000 udptl t38\r\n"), "{ours}");
        assert!(
            ours.contains("a=T38MaxBitRate:14400\r\n") && !ours.contains("evil"),
            "{ours}"
        );
        assert_eq!(FaxMedia::parse(ours.as_bytes()).unwrap().attributes, fax.attributes);
        let audio =
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
        assert_eq!(FaxMedia::parse(audio), None);
        let refused =
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=image 0 udptl t38\r\n";
        assert_eq!(FaxMedia::parse(refused), None, "port 0: the stream refused");
    }
}
