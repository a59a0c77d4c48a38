//! The guard in front of the SIP stack: every datagram is checked here before rsipstack sees it.
//!
//! rsipstack silently drops what it cannot parse and rejects extension methods at parse time, but
//! RFC 3261 wants an answer: 400 for a malformed request (§21.4.1), 505 for another SIP version,
//! 501 for a method we do not implement. A message whose framing cannot be trusted (Content-Length
//! beyond the datagram, RFC 3261 §18.3) is dropped. Replies are built from the raw header lines,
//! so they work even when the typed parser gave up.

use rsipstack::sip::prelude::*;
use rsipstack::sip::{Method, SipMessage};

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed: hand it to the stack.
    Pass,
    /// Answer with this response (to the datagram's source) and do not pass it on.
    Reply(Vec<u8>),
    /// Discard silently.
    Drop,
}

pub fn inspect(datagram: &[u8]) -> Verdict {
    if datagram.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Pass; // keep-alive, the transport answers it
    }
    match SipMessage::try_from(datagram) {
        Ok(SipMessage::Response(_)) => Verdict::Pass,
        Ok(SipMessage::Request(req)) => check_request(datagram, &req),
        Err(e) => reject_unparsed(datagram, &e.to_string()),
    }
}

fn check_request(raw: &[u8], req: &rsipstack::sip::Request) -> Verdict {
    if req.version != rsipstack::sip::Version::V2 {
        return if req.method == Method::Ack {
            Verdict::Drop
        } else {
            reply(raw, 505, "Version Not Supported", "only SIP/2.0")
        };
    }
    if let Some(declared) = raw_header(raw, &["content-length", "l"]) {
        match declared.trim().parse::<usize>() {
            Ok(n) if n > req.body.len() => return Verdict::Drop,
            Ok(_) => {}
            Err(_) => return Verdict::Drop,
        }
    }
    let method_ok = req
        .cseq_header()
        .ok()
        .and_then(|c| c.method().ok())
        .map(|m| m == req.method);
    let problem = if req.via_header().is_err() {
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
    } else {
        None
    };
    match problem {
        Some(reason) if req.method != Method::Ack => reply(raw, 400, "Bad Request", reason),
        Some(_) => Verdict::Drop, // an ACK is never answered
        None => Verdict::Pass,
    }
}

fn reject_unparsed(raw: &[u8], error: &str) -> Verdict {
    let text = String::from_utf8_lossy(raw);
    let first = text.lines().next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, _uri, version) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    if method.is_empty() || method.starts_with("SIP/") || method == "ACK" {
        return Verdict::Drop; // an unparseable response, or an ACK: never answered
    }
    if version.starts_with("SIP/") && version != "SIP/2.0" {
        return reply(raw, 505, "Version Not Supported", "only SIP/2.0");
    }
    let is_token = method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    let known = Method::all().iter().any(|m| m.to_string() == method);
    if is_token && !known && version == "SIP/2.0" && parts.next().is_none() {
        return reply(
            raw,
            501,
            "Not Implemented",
            &format!("method {method} is not supported"),
        );
    }
    reply(raw, 400, "Bad Request", error)
}

/// A response built from the request's raw Via/From/To/Call-ID/CSeq lines.
fn reply(raw: &[u8], code: u16, phrase: &str, reason: &str) -> Verdict {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut out = format!("SIP/2.0 {code} {phrase}\r\n");
    let mut has_via = false;
    for line in unfold(head).iter().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        match name.as_str() {
            "via" | "v" => {
                has_via = true;
                out.push_str(&format!("Via: {value}\r\n"));
            }
            "from" | "f" => out.push_str(&format!("From: {value}\r\n")),
            "to" | "t" => {
                let tag = if value.contains(";tag=") {
                    String::new()
                } else {
                    format!(";tag={}", super::new_tag())
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

fn raw_header(raw: &[u8], names: &[&str]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next()?;
    unfold(head).into_iter().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        names
            .contains(&name.trim().to_ascii_lowercase().as_str())
            .then(|| value.trim().to_string())
    })
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
