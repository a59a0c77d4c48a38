//! Where a request came from: the transport's peer address, and nothing a client wrote.
//!
//! RFC 3261 §18.2.1 has a server add `received` to the top Via when the sent-by differs from the
//! packet's source, and RFC 3581 `rport`; responses then go there. rsipstack does that, but it
//! keeps a `received`/`rport` the *client* wrote when the sent-by matches the source (UDP, and
//! TCP when only the port differs) — so a client could name any address as its own and have the
//! exchange answer (and trust) that address. Here every request is stamped on arrival with the
//! real peer address, overwriting whatever the client put there:
//! - UDP datagrams in the socket, before rsipstack parses them (its retransmission answers and
//!   CANCEL replies read the Via before anything else sees the request);
//! - every request again, whatever its transport, in the message inspector
//!   ([`super::inspector`]), which sees TCP's connection peer.
//!
//! [`source_of`] then reads the stamp; [`Proxies::sender`] reads, for a request a trusted proxy
//! relayed, the client's address that proxy stamped. They are the one place that says who sent
//! a request (trunk ACL, registrations, rate limits, logs).

use std::net::SocketAddr;

use rsipstack::sip::prelude::*;

/// The top Via's first value with `received`/`rport` (and any client `transport` parameter)
/// replaced by `from`; `None` when there is no via-parm to stamp.
pub fn stamp_via_value(value: &str, from: SocketAddr) -> Option<String> {
    let value = value.trim();
    let (first, rest) = split_outside_quotes(value, ',');
    let mut parts = split_all_outside_quotes(first, ';').into_iter();
    let sent = parts.next()?.trim();
    if sent.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(first.len() + 48);
    out.push_str(sent);
    for param in parts {
        let name = param.split('=').next().unwrap_or_default().trim();
        if ["received", "rport"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.push(';');
        out.push_str(param.trim());
    }
    // RFC 3261's `received` is a bare address, IPv6 without brackets.
    out.push_str(&format!(";received={};rport={}", from.ip(), from.port()));
    if let Some(rest) = rest {
        out.push_str(rest);
    }
    Some(out)
}

/// The datagram with its top Via stamped with `from` ([`stamp_via_value`]); `None` when it has
/// no Via header (the guard refuses such requests before this is asked).
pub fn stamp_datagram(raw: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 2);
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    // Header lines start after a line break; the first one is the request line.
    let mut at = head.find('\n')? + 1;
    while at < head.len() {
        let line_end = line_end(head, at);
        let line = &head[at..line_end];
        let name = line.split(':').next().unwrap_or_default().trim();
        if line.contains(':') && (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v")) {
            let value_start = at + line.find(':')? + 1;
            // Continuation lines (RFC 3261 §7.3.1) belong to the value.
            let mut value_end = line_end;
            while value_end + 1 < head.len() && head[value_end + 1..].starts_with([' ', '\t']) {
                value_end = self::line_end(head, value_end + 1);
            }
            let unfolded: String = head[value_start..value_end]
                .split('\n')
                .map(|l| l.trim_end_matches('\r').trim())
                .collect::<Vec<_>>()
                .join(" ");
            let stamped = stamp_via_value(&unfolded, from)?;
            let mut out = Vec::with_capacity(raw.len() + 48);
            out.extend_from_slice(&raw[..value_start]);
            out.push(b' ');
            out.extend_from_slice(stamped.as_bytes());
            // Keep the line break that ended the header (CRLF or a bare LF).
            let break_at = if head[..value_end].ends_with('\r') {
                value_end - 1
            } else {
                value_end
            };
            out.extend_from_slice(&raw[break_at..]);
            return Some(out);
        }
        at = line_end + 1;
    }
    None
}

/// The index of the `\n` ending the line that starts at `from` (or the end of `text`).
fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |i| from + i)
}

/// The request's source as stamped on arrival: the top Via's `received` and `rport`. `None`
/// when the stamp is missing (never for a request that came through our transports).
pub fn source_of(req: &rsipstack::sip::Request) -> Option<SocketAddr> {
    stamp_of(&req.via_header().ok()?.first_value().ok()?.typed().ok()?)
}

/// A Via's `received` and `rport`.
fn stamp_of(via: &rsipstack::sip::typed::Via) -> Option<SocketAddr> {
    let ip = via.received().and_then(Result::ok).or_else(|| {
        // rsipstack writes `[v6]`, RFC 3261 a bare address: read both.
        via.params.iter().find_map(|p| match p {
            rsipstack::sip::Param::Received(r) => r.value().trim_matches(['[', ']']).parse().ok(),
            _ => None,
        })
    })?;
    Some(SocketAddr::new(ip, rport_of(via)?))
}

/// A Via's `rport` value, when it has one.
fn rport_of(via: &rsipstack::sip::typed::Via) -> Option<u16> {
    via.params.iter().find_map(|p| match p {
        rsipstack::sip::Param::Rport(port) => *port,
        _ => None,
    })
}

/// Who sent a request, as far as it is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The phone's or the carrier's address: the transport's peer, or — for a request a
    /// trusted proxy relayed — the address that proxy received it from. Who someone is (a
    /// trunk), what he may do (rate limits, password guesses) and the logs go by this.
    pub client: SocketAddr,
    /// The trusted proxy that relayed the request, if one did: requests back to the client go
    /// through it.
    pub proxy: Option<SocketAddr>,
}

/// The SIP proxies this node trusts to say where a request came from (Kamailio in front of
/// several nodes, `--sip-proxy`). Such a proxy stamps the Via of each request it relays with
/// the address it came from (`received` and `rport`, its `force_rport()`), and that stamp —
/// the Via below the proxy's own — names the client. Anyone else's Vias below the top are
/// the client's word and name nobody.
#[derive(Debug, Clone, Default)]
pub struct Proxies(std::sync::Arc<[SocketAddr]>);

impl Proxies {
    pub fn new(addresses: Vec<SocketAddr>) -> Self {
        Proxies(addresses.into())
    }

    /// Whether `peer` is one of the trusted proxies (its address and port).
    pub fn trusts(&self, peer: SocketAddr) -> bool {
        self.0.contains(&peer)
    }

    /// Who sent `req` ([`Sender`]); `None` when the request carries no stamp of ours, or a
    /// trusted proxy relayed it without stamping where it came from.
    pub fn sender(&self, req: &rsipstack::sip::Request) -> Option<Sender> {
        let peer = source_of(req)?;
        if !self.trusts(peer) {
            return Some(Sender {
                client: peer,
                proxy: None,
            });
        }
        let client = match below_top_via(req) {
            // The proxy's own request (its OPTIONS probes, a CANCEL it generates).
            None => peer,
            Some(via) => proxy_stamp_of(&rsipstack::sip::headers::Via::new(via).typed().ok()?)?,
        };
        Some(Sender {
            client,
            proxy: Some(peer),
        })
    }
}

/// The client's address as a proxy like Kamailio stamps it in the client's Via: `rport`
/// always (its `force_rport()`), and `received` — replacing the client's own — unless the
/// sent-by host was already the source's address.
fn proxy_stamp_of(via: &rsipstack::sip::typed::Via) -> Option<SocketAddr> {
    if let Some(stamped) = stamp_of(via) {
        return Some(stamped);
    }
    let port = rport_of(via)?;
    match via.sent_by().host {
        rsipstack::sip::Host::IpAddr(ip) => Some(SocketAddr::new(ip, port)),
        rsipstack::sip::Host::Domain(_) => None,
    }
}

/// The second via-parm of the request (in the first Via header or the next one).
fn below_top_via(req: &rsipstack::sip::Request) -> Option<String> {
    req.headers
        .iter()
        .filter_map(|h| match h {
            rsipstack::sip::Header::Via(via) => Some(via.value()),
            _ => None,
        })
        .flat_map(|value| split_all_outside_quotes(value, ','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .nth(1)
        .map(str::to_owned)
}

/// `text` split at the first `sep` outside double quotes: (before, Some(from the separator on)).
fn split_outside_quotes(text: &str, sep: char) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => return (&text[..i], Some(&text[i..])),
            _ => {}
        }
    }
    (text, None)
}

fn split_all_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        match split_outside_quotes(rest, sep) {
            (part, Some(tail)) => {
                out.push(part);
                rest = &tail[sep.len_utf8()..];
            }
            (part, None) => {
                out.push(part);
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> SocketAddr {
        "127.0.0.2:5999".parse().unwrap()
    }

    #[test]
    fn a_client_received_and_rport_are_replaced_by_the_real_source() {
        let stamped = stamp_via_value(
            "SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKa;received=127.0.0.5;rport=7",
            from(),
        );
        assert_eq!(
            stamped.as_deref(),
            Some("SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKa;received=127.0.0.2;rport=5999")
        );
        let stamped = stamp_via_value(
            "SIP/2.0/TCP host.example ; RPORT ; branch=z9hG4bKb, SIP/2.0/UDP proxy;branch=1",
            from(),
        );
        assert_eq!(
            stamped.as_deref(),
            Some("SIP/2.0/TCP host.example;branch=z9hG4bKb;received=127.0.0.2;rport=5999, SIP/2.0/UDP proxy;branch=1"),
            "only the top via-parm is ours to stamp"
        );
        let v6 = stamp_via_value("SIP/2.0/UDP [::1]:5060;branch=z9hG4bKc", "[::1]:6000".parse().unwrap());
        assert_eq!(
            v6.as_deref(),
            Some("SIP/2.0/UDP [::1]:5060;branch=z9hG4bKc;received=::1;rport=6000")
        );
        assert_eq!(stamp_via_value("", from()), None);
    }

    const INVITE: &str = "INVITE sip:+15550100100@127.0.0.1 SIP/2.0\r\n\
        Max-Forwards: 70\r\n\
        v: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bK1;\r\n received=127.0.0.5\r\n\
        Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
        From: <sip:x@127.0.0.2>;tag=1\r\nTo: <sip:+15550100100@127.0.0.1>\r\nCall-ID: c1\r\n\
        CSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn a_datagram_is_stamped_in_its_first_via_and_parses() {
        let stamped = stamp_datagram(INVITE.as_bytes(), from()).unwrap();
        let text = String::from_utf8(stamped).unwrap();
        assert!(
            text.contains("v: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bK1;received=127.0.0.2;rport=5999\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nbody"));
        let req = rsipstack::sip::Request::try_from(text.as_str()).unwrap();
        assert_eq!(source_of(&req), Some(from()));
        assert_eq!(req.body, b"body");
    }

    /// A request as our socket stamps it when `peer` sent it, with `vias` below the top one.
    fn relayed(peer: &str, vias: &str) -> rsipstack::sip::Request {
        let text = format!(
            "OPTIONS sip:101@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {peer};branch=z9hG4bKp;received={};rport={}\r\n{vias}\
             From: <sip:x@127.0.0.2>;tag=1\r\nTo: <sip:101@127.0.0.1>\r\nCall-ID: c2\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            peer.split(':').next().unwrap(),
            peer.split(':').nth(1).unwrap(),
        );
        rsipstack::sip::Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_where_the_proxy_says_it_came_from() {
        let proxy: SocketAddr = "127.0.0.9:5060".parse().unwrap();
        let proxies = Proxies::new(vec![proxy]);
        let phone = "Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKc;rport=40001;received=198.51.100.7\r\n";
        let req = relayed("127.0.0.9:5060", phone);
        let client = "198.51.100.7:40001".parse().unwrap();
        assert_eq!(
            proxies.sender(&req),
            Some(Sender {
                client,
                proxy: Some(proxy)
            })
        );
        // The same Vias from anyone else: the lower ones are the sender's own word.
        assert_eq!(
            Proxies::default().sender(&req),
            Some(Sender {
                client: proxy,
                proxy: None
            })
        );
        let same_ip_other_port = Proxies::new(vec!["127.0.0.9:5061".parse().unwrap()]);
        assert_eq!(same_ip_other_port.sender(&req).map(|s| s.proxy), Some(None));
        // Both Vias in one header line.
        let folded = relayed("127.0.0.9:5060", "");
        let mut folded = folded;
        if let Some(rsipstack::sip::Header::Via(via)) = folded
            .headers
            .iter_mut()
            .find(|h| matches!(h, rsipstack::sip::Header::Via(_)))
        {
            let both = format!(
                "{}, SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKc;rport=40001;received=198.51.100.7",
                via.value()
            );
            via.replace(both);
        }
        assert_eq!(proxies.sender(&folded).map(|s| s.client), Some(client));
        // The proxy's own request (its probe): the proxy is the client.
        assert_eq!(
            proxies.sender(&relayed("127.0.0.9:5060", "")).map(|s| s.client),
            Some(proxy)
        );
        // The proxy adds no `received` when the sent-by was the source's address.
        let same_host = relayed(
            "127.0.0.9:5060",
            "Via: SIP/2.0/UDP 198.51.100.8:5062;branch=z9hG4bKc;rport=5062\r\n",
        );
        assert_eq!(
            proxies.sender(&same_host).map(|s| s.client),
            Some("198.51.100.8:5062".parse().unwrap())
        );
        // A relayed request without the proxy's stamp below its Via names nobody.
        let unstamped = relayed("127.0.0.9:5060", "Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKc\r\n");
        assert_eq!(proxies.sender(&unstamped), None);
        let named = relayed(
            "127.0.0.9:5060",
            "Via: SIP/2.0/UDP phone.example;branch=z9hG4bKc;rport=5062\r\n",
        );
        assert_eq!(proxies.sender(&named), None);
    }

    #[test]
    fn without_a_stamp_there_is_no_source() {
        let req = rsipstack::sip::Request::try_from(INVITE).unwrap();
        assert_eq!(
            source_of(&req),
            None,
            "unstamped: the client's own received is no source"
        );
        assert_eq!(
            stamp_datagram(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n", from()),
            None
        );
    }
}
