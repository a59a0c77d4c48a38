//! The guard in front of the SIP stack: every datagram is checked here before rsipstack sees it.
//!
//! rsipstack silently drops what it cannot parse and rejects extension methods at parse time, but
//! RFC 3261 wants an answer: 400 for a malformed request (§21.4.1), 505 for another SIP version,
//! 501 for a method we do not implement. A message whose framing cannot be trusted (Content-Length
//! beyond the datagram, RFC 3261 §18.3) is dropped. Replies are built from the raw header lines,
//! so they work even when the typed parser gave up.

use rsipstack::sip::prelude::*;
use rsipstack::sip::{Method, SipMessage};

use super::overload::Work;

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed: hand it to the stack.
    Pass,
    /// Well-formed once its header whitespace is put in canonical form (RFC 3261 §7.3.1: folded
    /// lines and LWS around separators mean the same as none): hand this to the stack instead.
    Rewrite(Vec<u8>),
    /// Answer with this response (to the datagram's source) and do not pass it on.
    Reply(Vec<u8>),
    /// Discard silently.
    Drop,
}

/// What a datagram the stack may have is, to the overload gate at the socket.
pub enum Kind {
    /// A request that opens something: see [`Opening`].
    Opening(Opening),
    /// The ACK of a 503 the socket sent itself ([`refusal`]): nobody else expects it.
    AckOfRefusal,
    /// Anything else: responses, requests within dialogs, keep-alives.
    Other,
}

/// An INVITE or SUBSCRIBE out of any dialog, or a REGISTER.
pub struct Opening {
    pub work: Work,
    head: Head,
}

/// The To tags of the socket's own 503s start so, which tells their ACKs apart.
const REFUSAL_TAG: &str = "sb503";

pub fn inspect(datagram: &[u8]) -> Verdict {
    examine(datagram).0
}

/// The verdict on a datagram, and for one that passes, what it is.
pub fn examine(datagram: &[u8]) -> (Verdict, Kind) {
    if datagram.iter().all(u8::is_ascii_whitespace) {
        return (Verdict::Pass, Kind::Other); // keep-alive, the transport answers it
    }
    let head = Head::parse(datagram);
    match SipMessage::try_from(datagram) {
        Ok(SipMessage::Response(_)) => (Verdict::Pass, Kind::Other),
        Ok(SipMessage::Request(req)) => match check_request(&head, &req) {
            Verdict::Pass if !identifiable(&req) => canonical_retry(datagram, &head, &req),
            Verdict::Pass => {
                let kind = kind_of(&req, head);
                (Verdict::Pass, kind)
            }
            verdict => (verdict, Kind::Other),
        },
        Err(e) => (reject_unparsed(&head, &e.to_string()), Kind::Other),
    }
}

/// Whether a request opens something the overload gate weighs: a REGISTER, or an INVITE or
/// SUBSCRIBE out of any dialog (no To tag). Over UDP the socket decides on these
/// ([`super::intake`]), so the dispatcher must not decide on them again.
pub fn opens(method: &Method, has_to_tag: bool) -> bool {
    match method {
        Method::Register => true,
        Method::Invite | Method::Subscribe => !has_to_tag,
        _ => false,
    }
}

fn kind_of(req: &rsipstack::sip::Request, head: Head) -> Kind {
    let to_tag = req.to_header().ok().and_then(|t| t.tag().ok().flatten());
    match (&req.method, to_tag) {
        (Method::Ack, Some(tag)) if tag.to_string().starts_with(REFUSAL_TAG) => Kind::AckOfRefusal,
        (method, tag) if opens(method, tag.is_some()) => {
            let credentials = head.values(&["authorization", "proxy-authorization"]).next().is_some();
            Kind::Opening(Opening {
                work: if credentials { Work::Continued } else { Work::Fresh },
                head,
            })
        }
        _ => Kind::Other,
    }
}

/// 503 Service Unavailable with Retry-After for an opening request, sent by the socket
/// itself without a transaction (as a stateless proxy answers, RFC 3261 §16.7); none for a
/// request without a Via (none passes the guard, but this is a stranger's datagram).
pub fn refusal(opening: &Opening) -> Option<Vec<u8>> {
    let tag = format!("{REFUSAL_TAG}{}", super::new_tag());
    let retry = format!("Retry-After: {}\r\n", super::overload::RETRY_AFTER_SECS);
    match response(&opening.head, 503, "Service Unavailable", "overloaded", &tag, &retry) {
        Verdict::Reply(bytes) => Some(bytes),
        _ => None,
    }
}

/// A message's start line and header lines (continuation lines folded in), read once from the
/// raw bytes: the checks and the replies below work from it even when the typed parser gave up.
struct Head {
    start_line: String,
    /// (name as written, value), in order.
    headers: Vec<(String, String)>,
    /// Where the body starts in the datagram.
    body_at: usize,
}

impl Head {
    fn parse(raw: &[u8]) -> Self {
        let body_at = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(raw.len(), |i| i + 4);
        let text = String::from_utf8_lossy(&raw[..body_at]);
        let mut lines = unfold(text.trim_end()).into_iter();
        let start_line = lines.next().unwrap_or_default();
        let headers = lines
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_string(), value.trim().to_string()))
            })
            .collect();
        Head {
            start_line,
            headers,
            body_at,
        }
    }

    /// The values of every header named one of `names` (lower case, compact forms included).
    fn values<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(|(name, _)| names.iter().any(|n| name.eq_ignore_ascii_case(n)))
            .map(|(_, value)| value.as_str())
    }
}

fn check_request(head: &Head, req: &rsipstack::sip::Request) -> Verdict {
    if req.version != rsipstack::sip::Version::V2 {
        return if req.method == Method::Ack {
            Verdict::Drop
        } else {
            reply(head, 505, "Version Not Supported", "only SIP/2.0")
        };
    }
    let lengths: Vec<&str> = head.values(&["content-length", "l"]).collect();
    if lengths.iter().any(|l| l != &lengths[0]) {
        return answer_unless_ack(head, req, "conflicting Content-Length headers");
    }
    if let Some(declared) = lengths.first() {
        match declared.parse::<usize>() {
            Ok(n) if n > req.body.len() => return Verdict::Drop,
            Ok(_) => {}
            Err(_) => return Verdict::Drop,
        }
    }
    match header_problem(head, req) {
        Some(reason) => answer_unless_ack(head, req, reason),
        None => Verdict::Pass,
    }
}

/// Whether the transaction layer can key the request (it needs the From tag and a numeric CSeq).
fn identifiable(req: &rsipstack::sip::Request) -> bool {
    use rsipstack::transaction::key::{TransactionKey, TransactionRole};
    TransactionKey::from_request(req, TransactionRole::Server).is_ok()
}

/// The typed parser misses a From tag written `;\r\n tag = x` (legal LWS). Canonical
/// whitespace usually fixes that; if not, the request cannot be handled and gets 400.
fn canonical_retry(raw: &[u8], head: &Head, req: &rsipstack::sip::Request) -> (Verdict, Kind) {
    let canonical = canonical_whitespace(raw, head);
    if let Ok(SipMessage::Request(fixed)) = SipMessage::try_from(&canonical[..]) {
        let fixed_head = Head::parse(&canonical);
        if identifiable(&fixed) && check_request(&fixed_head, &fixed) == Verdict::Pass {
            let kind = kind_of(&fixed, fixed_head);
            return (Verdict::Rewrite(canonical), kind);
        }
    }
    let verdict = answer_unless_ack(head, req, "cannot identify the transaction (From tag, Call-ID or CSeq)");
    (verdict, Kind::Other)
}

/// The message with folded header lines joined and whitespace around `;`, `=`, `/` (Via's
/// protocol) and `,` removed from header values. The body is kept byte for byte.
fn canonical_whitespace(raw: &[u8], head: &Head) -> Vec<u8> {
    let mut out = format!("{}\r\n", head.start_line);
    for (name, value) in &head.headers {
        let mut value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        for sep in [";", "=", ",", "/"] {
            value = value.replace(&format!(" {sep}"), sep).replace(&format!("{sep} "), sep);
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&raw[head.body_at..]);
    bytes
}

/// What is wrong with the request's headers, if anything. The typed parser is lenient; the
/// raw checks catch what RFC 3261's grammar forbids and RFC 4475 tests (§3.1.2).
fn header_problem(head: &Head, req: &rsipstack::sip::Request) -> Option<&'static str> {
    let method_ok = req
        .cseq_header()
        .ok()
        .and_then(|c| c.method().ok())
        .map(|m| m == req.method);
    let vias_ok =
        req.via_header().and_then(|v| v.typed()).is_ok() && head.values(&["via", "v"]).all(|v| !v.contains(";;"));
    let name_addrs: Vec<&str> = head.values(&["from", "f", "to", "t", "contact", "m"]).collect();
    if !vias_ok {
        Some("missing or bad Via")
    } else if req.from_header().and_then(|h| h.uri()).is_err() {
        Some("missing or bad From")
    } else if req.to_header().and_then(|h| h.uri()).is_err() {
        Some("missing or bad To")
    } else if req.call_id_header().is_err() {
        Some("missing Call-ID")
    } else if method_ok.is_none() {
        Some("missing or bad CSeq")
    } else if method_ok == Some(false) {
        Some("CSeq method does not match the request method")
    } else if !name_addrs.iter().all(|v| quotes_balanced(v)) {
        Some("unbalanced quotes in a From, To or Contact")
    } else if name_addrs.iter().any(|v| v.contains("< ") || v.contains(" >")) {
        Some("whitespace inside <> in a From, To or Contact")
    } else if name_addrs.iter().any(|v| v.contains(";;")) {
        Some("empty parameter in a From, To or Contact")
    } else if name_addrs.iter().any(|v| !v.contains('<') && v.contains('?')) {
        Some("a URI with headers must be enclosed in <> (RFC 3261 §20.10)")
    } else {
        None
    }
}

/// Whether every quoted string is closed (a backslash escapes the next character inside quotes).
fn quotes_balanced(value: &str) -> bool {
    let mut quoted = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                chars.next();
            }
            _ => {}
        }
    }
    !quoted
}

/// 400 with `reason`, except for an ACK, which is never answered.
fn answer_unless_ack(head: &Head, req: &rsipstack::sip::Request, reason: &str) -> Verdict {
    if req.method == Method::Ack {
        Verdict::Drop
    } else {
        reply(head, 400, "Bad Request", reason)
    }
}

fn reject_unparsed(head: &Head, error: &str) -> Verdict {
    let first = head.start_line.as_str();
    if first.contains("  ") || first.starts_with(char::is_whitespace) {
        return Verdict::Drop; // the request line cannot be framed (RFC 3261 §7.1: single SPs)
    }
    let mut parts = first.split(' ');
    let (method, _uri, version) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    if method.is_empty() || method.starts_with("SIP/") || method == "ACK" {
        return Verdict::Drop; // an unparseable response, or an ACK: never answered
    }
    if version.starts_with("SIP/") && version != "SIP/2.0" {
        return reply(head, 505, "Version Not Supported", "only SIP/2.0");
    }
    let is_token = method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    let known = Method::all().iter().any(|m| m.to_string() == method);
    let cseq_method = head.values(&["cseq"]).next().and_then(|c| c.split_whitespace().nth(1));
    if cseq_method != Some(method) {
        return reply(
            head,
            400,
            "Bad Request",
            "CSeq method does not match the request method",
        );
    }
    if is_token && !known && version == "SIP/2.0" && parts.next().is_none() {
        return reply(
            head,
            501,
            "Not Implemented",
            &format!("method {method} is not supported"),
        );
    }
    reply(head, 400, "Bad Request", error)
}

/// A response built from the request's raw Via/From/To/Call-ID/CSeq lines.
fn reply(head: &Head, code: u16, phrase: &str, reason: &str) -> Verdict {
    response(head, code, phrase, reason, &super::new_tag(), "")
}

/// [`reply`] with the To tag to add (when the request's To has none) and more header lines.
fn response(head: &Head, code: u16, phrase: &str, reason: &str, to_tag: &str, more: &str) -> Verdict {
    let mut out = format!("SIP/2.0 {code} {phrase}\r\n");
    let mut has_via = false;
    for (name, value) in &head.headers {
        match name.to_ascii_lowercase().as_str() {
            "via" | "v" => {
                has_via = true;
                out.push_str(&format!("Via: {value}\r\n"));
            }
            "from" | "f" => out.push_str(&format!("From: {value}\r\n")),
            "to" | "t" => {
                let tag = if value.contains(";tag=") {
                    String::new()
                } else {
                    format!(";tag={to_tag}")
                };
                out.push_str(&format!("To: {value}{tag}\r\n"));
            }
            "call-id" | "i" => out.push_str(&format!("Call-ID: {value}\r\n")),
            "cseq" => out.push_str(&format!("CSeq: {value}\r\n")),
            _ => {}
        }
    }
    if !has_via {
        return Verdict::Drop; // nowhere to send a response
    }
    let reason: String = reason
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .take(120)
        .collect();
    out.push_str(more);
    out.push_str(&format!(
        "Warning: 399 switchboard \"{reason}\"\r\nContent-Length: 0\r\n\r\n"
    ));
    Verdict::Reply(out.into_bytes())
}

/// Header lines with continuation lines (leading whitespace) folded back in.
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n").flat_map(|l| l.split('\n')) {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.trim_end_matches('\r').to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
        From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n\
        Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    fn status(v: Verdict) -> String {
        match v {
            Verdict::Reply(r) => String::from_utf8(r).unwrap().lines().next().unwrap().to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn well_formed_passes() {
        assert_eq!(inspect(OPTIONS.as_bytes()), Verdict::Pass);
        assert_eq!(inspect(b"\r\n\r\n"), Verdict::Pass);
    }

    #[test]
    fn extension_method_is_not_implemented() {
        let m = OPTIONS
            .replace("OPTIONS sip", "NEWMETHOD sip")
            .replace("1 OPTIONS", "1 NEWMETHOD");
        assert_eq!(status(inspect(m.as_bytes())), "SIP/2.0 501 Not Implemented");
    }

    #[test]
    fn other_version_is_505() {
        let m = OPTIONS.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
        assert_eq!(status(inspect(m.as_bytes())), "SIP/2.0 505 Version Not Supported");
    }

    #[test]
    fn cseq_mismatch_and_missing_headers_are_400() {
        let m = OPTIONS.replace("1 OPTIONS", "1 INVITE");
        assert_eq!(status(inspect(m.as_bytes())), "SIP/2.0 400 Bad Request");
        let m = OPTIONS.replace("Call-ID: abc\r\n", "");
        assert_eq!(status(inspect(m.as_bytes())), "SIP/2.0 400 Bad Request");
        let m = OPTIONS.replace("From: <sip:a@127.0.0.1>;tag=1", "From: <<<garbage");
        assert_eq!(status(inspect(m.as_bytes())), "SIP/2.0 400 Bad Request");
    }

    #[test]
    fn lying_content_length_is_dropped() {
        let m = OPTIONS.replace("Content-Length: 0", "Content-Length: 999");
        assert_eq!(inspect(m.as_bytes()), Verdict::Drop);
    }

    #[test]
    fn no_via_no_answer() {
        let m = OPTIONS
            .replace("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n", "")
            .replace("1 OPTIONS", "1 INVITE");
        assert_eq!(inspect(m.as_bytes()), Verdict::Drop);
    }

    #[test]
    fn garbage_is_dropped_or_refused_without_panic() {
        for junk in [
            &b"\x00\x01\x02"[..],
            b"INVITE",
            b"INVITE sip:x SIP/2.0\r\n\r\n",
            b"SIP/2.0 200 OK\r\n",
        ] {
            let _ = inspect(junk);
        }
    }
}

/// RFC 4475's torture messages, at the guard: what each one must get before the stack sees it.
#[cfg(test)]
mod rfc4475 {
    use super::{Verdict, inspect};

    /// `tests/data/rfc4475` (see its README for the expected behaviour).
    fn corpus() -> std::path::PathBuf {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rfc4475");
        assert!(dir.is_dir(), "RFC 4475 messages expected in {}", dir.display());
        dir
    }

    fn verdict(name: &str) -> String {
        let bytes = std::fs::read(corpus().join(format!("{name}.dat"))).unwrap();
        match inspect(&bytes) {
            Verdict::Reply(r) => String::from_utf8_lossy(&r).split(' ').nth(1).unwrap().to_string(),
            Verdict::Rewrite(_) => "Rewrite".into(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn every_message_gets_the_rfc_answer() {
        let expected: &[(&str, &str)] = &[
            ("TC_BADVERS_V", "505"),
            ("TC_INTMETH", "501"),
            ("TC_ESC02_V", "501"),
            ("TC_CLERR_I", "Drop"),
            ("TC_NCL_I", "Drop"),
            ("TC_LWSSTART_V", "Drop"),
            ("TC_BIGCODE_V", "Drop"),
            ("TC_TEST_I", "Drop"),
            // Legal LWS the typed parser misreads: passed on in canonical form.
            ("TC_WSINV", "Rewrite"),
            // RFC 2543 style, no From tag: the transaction layer cannot key it, so it is refused.
            ("TC_INV2543_I", "400"),
        ];
        let bad_request = [
            "TC_MISMATCH01_V",
            "TC_MISMATCH02_V",
            "TC_SCALAR02_V",
            "TC_QUOTBAL_I",
            "TC_BADASPEC_I",
            "TC_REGBADCT_I",
            "TC_BADINV01_I",
            "TC_INSUF_I",
            "TC_BADDN_I",
            "TC_LWSRURI_I",
            "TC_MCL01_I",
        ];
        let mut files: Vec<String> = std::fs::read_dir(corpus())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".dat").map(str::to_owned))
            .collect();
        files.sort();
        assert_eq!(files.len(), 50);
        let mut wrong = Vec::new();
        for name in &files {
            let want = expected.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap_or(
                if bad_request.contains(&name.as_str()) {
                    "400"
                } else {
                    "Pass"
                },
            );
            let got = verdict(name);
            if got != want {
                wrong.push(format!("{name}: want {want}, got {got}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
