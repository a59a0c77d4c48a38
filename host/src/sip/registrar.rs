//! The registrar (RFC 3261 §10.3): employees' phones REGISTER with digest authentication and
//! their contacts are kept by a [`Location`] service (the database, behind a trait so that
//! `sip/` knows nothing about it).

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::sip::prelude::*;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::Transaction;

use super::Sender;
use super::auth::{Authenticator, Challenge, Refusal, internal, warning};
use super::location::Binding;

/// Registrations shorter than this are refused with 423 (RFC 3261 §10.3 step 7).
pub const MIN_EXPIRES: u32 = 60;
/// Longer requests are shortened to this.
pub const MAX_EXPIRES: u32 = 7200;
const DEFAULT_EXPIRES: u32 = 3600;
/// Phones one account may have registered at once (a desk phone, a softphone, a mobile app and
/// some spare): each binding is a row and a keep-alive every 30 s.
pub const MAX_BINDINGS: usize = 10;
/// Contacts one REGISTER may name, and the longest Contact URI kept.
const MAX_CONTACTS_PER_REQUEST: usize = MAX_BINDINGS;
const MAX_CONTACT_LEN: usize = 512;
/// The longest Path (RFC 3327) kept with a binding, all its values together.
const MAX_PATH_LEN: usize = 1024;

pub struct Registrar {
    auth: Arc<Authenticator>,
}

/// What a REGISTER asked for, once authenticated.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    /// (contact, expires) for each Contact; 0 removes it.
    Set(Vec<(String, u32)>),
    /// No Contact: a query for the current bindings.
    Query,
}

impl Registrar {
    pub fn new(auth: Arc<Authenticator>) -> Self {
        Registrar { auth }
    }

    pub async fn handle(&self, mut tx: Transaction, sender: Sender) {
        let (status, headers) = match self.respond(&tx.original, sender).await {
            Ok(answer) | Err(Refusal::Answer(answer)) => answer,
            Err(Refusal::Silence) => return,
        };
        if let Err(e) = tx.reply_with(status, headers, None).await {
            tracing::debug!(error = %e, "REGISTER reply failed");
        }
    }

    async fn respond(
        &self,
        req: &rsipstack::sip::Request,
        sender: Sender,
    ) -> Result<(StatusCode, Vec<Header>), Refusal> {
        let user = self.auth.authenticate(req, sender.client, Challenge::Www).await?;
        if user.trunk {
            return Ok((
                StatusCode::Forbidden,
                vec![warning("a trunk account does not register")],
            ));
        }
        Ok(self.registered(req, sender, user).await)
    }

    /// The answer to an authenticated REGISTER.
    async fn registered(
        &self,
        req: &rsipstack::sip::Request,
        sender: Sender,
        user: super::auth::User,
    ) -> (StatusCode, Vec<Header>) {
        let aor_user = req
            .to_header()
            .and_then(|t| t.uri())
            .ok()
            .and_then(|u| u.auth)
            .map(|a| a.user);
        if aor_user.as_deref() != Some(user.username.as_str()) {
            return (
                StatusCode::Forbidden,
                vec![warning("To must name the authenticated user")],
            );
        }
        let change = match requested_change(req) {
            Ok(change) => change,
            Err(response) => return response,
        };
        let path = match path_of(req, sender) {
            Ok(path) => path,
            Err(response) => return response,
        };
        // RFC 3327 §5.3: the Path stored goes back to a phone that supports it.
        let echoed_path = (supports_path(req) && !path.is_empty()).then(|| Header::Path(path.clone().into()));
        let origin = Origin {
            // Behind a proxy, the phone is reached through it.
            source: sender.proxy.unwrap_or(sender.client),
            path,
            call_id: req.call_id_header().map(|c| c.value().to_string()).unwrap_or_default(),
            cseq: req.cseq_header().and_then(|c| c.seq()).unwrap_or_default(),
        };
        let now = super::unix_secs() as i64;
        match self.apply(user.id, change, origin, now).await {
            Ok(Applied::OutOfOrder) => (
                StatusCode::ServerInternalError,
                vec![warning("out-of-order REGISTER: the CSeq must grow within a Call-ID")],
            ),
            Ok(Applied::TooMany) => (
                StatusCode::Forbidden,
                vec![warning(&format!(
                    "at most {MAX_BINDINGS} phones may be registered for one account"
                ))],
            ),
            Ok(Applied::Done(bindings)) => {
                let mut headers: Vec<Header> = bindings.iter().map(|b| contact_header(b, now)).collect();
                headers.extend(echoed_path);
                (StatusCode::OK, headers)
            }
            Err(e) => internal(e),
        }
    }

    /// Applies the change, unless it is out of order or would bind too many phones (then
    /// nothing is changed).
    async fn apply(&self, user: i64, change: Change, origin: Origin, now: i64) -> anyhow::Result<Applied> {
        match change {
            Change::RemoveAll => self.auth.location().unbind(user, None).await?,
            Change::Set(contacts) => {
                let existing = self.auth.location().bindings(user, now).await?;
                if contacts
                    .iter()
                    .any(|(contact, _)| out_of_order(&existing, contact, &origin))
                {
                    return Ok(Applied::OutOfOrder);
                }
                let bound = |contact: &String| existing.iter().any(|b| &b.contact == contact);
                let added = contacts.iter().filter(|(c, expires)| *expires > 0 && !bound(c)).count();
                let removed = contacts.iter().filter(|(c, expires)| *expires == 0 && bound(c)).count();
                if added > 0 && existing.len() + added - removed > MAX_BINDINGS {
                    return Ok(Applied::TooMany);
                }
                for (contact, expires) in contacts {
                    if expires == 0 {
                        self.auth.location().unbind(user, Some(&contact)).await?;
                        continue;
                    }
                    let binding = Binding {
                        contact,
                        source: origin.source,
                        path: origin.path.clone(),
                        expires_at: now + expires.min(MAX_EXPIRES) as i64,
                        call_id: origin.call_id.clone(),
                        cseq: origin.cseq,
                    };
                    self.auth.location().bind(user, &binding).await?;
                }
            }
            Change::Query => {}
        }
        Ok(Applied::Done(self.auth.location().bindings(user, now).await?))
    }
}

/// What became of a REGISTER's change.
enum Applied {
    /// The bindings now.
    Done(Vec<Binding>),
    OutOfOrder,
    /// It would have made more than [`MAX_BINDINGS`].
    TooMany,
}

/// Where a REGISTER came from, for the bindings it makes.
struct Origin {
    /// Where requests to the phone go: its address, or the trusted proxy it registered through.
    source: SocketAddr,
    /// The proxies' Path (RFC 3327) to it, as the Route of requests to it; empty for none.
    path: String,
    call_id: String,
    cseq: u32,
}

/// A REGISTER from the Call-ID that made a binding must come with a higher CSeq (RFC 3261
/// §10.3 step 7): an older one arriving late must not undo a newer one.
fn out_of_order(existing: &[Binding], contact: &str, origin: &Origin) -> bool {
    existing
        .iter()
        .any(|b| b.contact == contact && b.call_id == origin.call_id && origin.cseq <= b.cseq)
}

/// The REGISTER's Path (RFC 3327), all its values in order: kept from a trusted proxy only
/// (anyone else's would have us send calls wherever he wrote), and ignored from anyone else.
fn path_of(req: &rsipstack::sip::Request, sender: Sender) -> Result<String, (StatusCode, Vec<Header>)> {
    if sender.proxy.is_none() {
        return Ok(String::new());
    }
    let values: Vec<&str> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Path(p) => Some(p.value().trim()),
            _ => None,
        })
        .filter(|v| !v.is_empty())
        .collect();
    let path = values.join(", ");
    if path.len() > MAX_PATH_LEN {
        return Err((
            StatusCode::BadRequest,
            vec![warning(&format!("a Path longer than {MAX_PATH_LEN} bytes"))],
        ));
    }
    if !path.is_empty() && rsipstack::sip::typed::Route::parse_header_list(&path).is_err() {
        return Err((StatusCode::BadRequest, vec![warning("unreadable Path")]));
    }
    Ok(path)
}

/// Whether the phone said it supports Path (`Supported: path`).
fn supports_path(req: &rsipstack::sip::Request) -> bool {
    req.headers.iter().any(|h| match h {
        Header::Supported(s) => s.value().split(',').any(|o| o.trim().eq_ignore_ascii_case("path")),
        _ => false,
    })
}

/// Reads the Contact and Expires headers of a REGISTER.
fn requested_change(req: &rsipstack::sip::Request) -> Result<Change, (StatusCode, Vec<Header>)> {
    let expires_header = req.headers.iter().find_map(|h| match h {
        Header::Expires(e) => Some(e.value().trim().parse::<u32>().ok()),
        _ => None,
    });
    let expires_header = match expires_header {
        Some(None) => return Err((StatusCode::BadRequest, vec![warning("bad Expires")])),
        Some(Some(e)) => Some(e),
        None => None,
    };
    let contacts: Vec<String> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Contact(c) => Some(split_list(c.value())),
            _ => None,
        })
        .flatten()
        .collect();
    if contacts.is_empty() {
        return Ok(Change::Query);
    }
    if contacts.len() > MAX_CONTACTS_PER_REQUEST {
        return Err((
            StatusCode::BadRequest,
            vec![warning(&format!(
                "at most {MAX_CONTACTS_PER_REQUEST} contacts in one REGISTER"
            ))],
        ));
    }
    if contacts.iter().any(|c| c == "*") {
        return if contacts.len() == 1 && expires_header == Some(0) {
            Ok(Change::RemoveAll)
        } else {
            Err((
                StatusCode::BadRequest,
                vec![warning("Contact: * needs Expires: 0 and no other contact")],
            ))
        };
    }
    let mut set = Vec::new();
    for contact in contacts {
        let (uri, params) = match contact.find('<') {
            Some(start) => {
                let end = contact
                    .find('>')
                    .ok_or((StatusCode::BadRequest, vec![warning("unclosed <")]))?;
                (contact[start + 1..end].to_string(), &contact[end + 1..])
            }
            None => {
                let (uri, params) = contact.split_once(';').unwrap_or((&contact, ""));
                (uri.trim().to_string(), params)
            }
        };
        if uri.len() > MAX_CONTACT_LEN {
            return Err((
                StatusCode::BadRequest,
                vec![warning(&format!(
                    "a Contact URI of at most {MAX_CONTACT_LEN} characters"
                ))],
            ));
        }
        let param = params.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("expires")
                .then(|| v.trim().parse::<u32>().ok())
        });
        let expires = match param {
            Some(None) => return Err((StatusCode::BadRequest, vec![warning("bad expires parameter")])),
            Some(Some(e)) => e,
            None => expires_header.unwrap_or(DEFAULT_EXPIRES),
        };
        if expires != 0 && expires < MIN_EXPIRES {
            return Err((
                StatusCode::IntervalTooBrief,
                vec![Header::MinExpires(MIN_EXPIRES.to_string().into())],
            ));
        }
        set.push((uri, expires));
    }
    Ok(Change::Set(set))
}

/// Splits a header list on commas outside quotes and `<>`.
fn split_list(value: &str) -> Vec<String> {
    let (mut out, mut current, mut quoted, mut angle) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_string());
    out.into_iter().filter(|c| !c.is_empty()).collect()
}

fn contact_header(binding: &Binding, now: i64) -> Header {
    let remaining = (binding.expires_at - now).max(0);
    Header::Contact(format!("<{}>;expires={remaining}", binding.contact).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(extra: &str) -> rsipstack::sip::Request {
        let text = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: r1\r\n\
             CSeq: 1 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match rsipstack::sip::SipMessage::try_from(text.as_str()).unwrap() {
            rsipstack::sip::SipMessage::Request(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn reads_contacts_and_expiry() {
        let r = register(
            "Contact: <sip:alice@10.0.0.2:5062;transport=udp>;expires=120, <sip:alice@10.0.0.3>\r\nExpires: 600\r\n",
        );
        assert_eq!(
            requested_change(&r).unwrap(),
            Change::Set(vec![
                ("sip:alice@10.0.0.2:5062;transport=udp".into(), 120),
                ("sip:alice@10.0.0.3".into(), 600)
            ])
        );
        assert_eq!(requested_change(&register("")).unwrap(), Change::Query);
        assert_eq!(
            requested_change(&register("Contact: *\r\nExpires: 0\r\n")).unwrap(),
            Change::RemoveAll
        );
    }

    #[test]
    fn an_older_cseq_from_the_same_call_id_is_out_of_order() {
        let source: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let existing = [Binding {
            contact: "sip:a@h".into(),
            source,
            path: String::new(),
            expires_at: 0,
            call_id: "c1".into(),
            cseq: 7,
        }];
        let origin = |call_id: &str, cseq| Origin {
            source,
            path: String::new(),
            call_id: call_id.into(),
            cseq,
        };
        assert!(out_of_order(&existing, "sip:a@h", &origin("c1", 7)));
        assert!(out_of_order(&existing, "sip:a@h", &origin("c1", 3)));
        assert!(!out_of_order(&existing, "sip:a@h", &origin("c1", 8)));
        assert!(
            !out_of_order(&existing, "sip:a@h", &origin("c2", 1)),
            "another Call-ID (the phone restarted)"
        );
        assert!(!out_of_order(&existing, "sip:b@h", &origin("c1", 1)), "another contact");
    }

    #[test]
    fn a_path_is_kept_from_a_trusted_proxy_only() {
        let path = "Path: <sip:127.0.0.9:5060;lr;received=127.0.0.1~40001~1>\r\nPath: <sip:edge.example;lr>\r\n";
        let req = register(path);
        let proxy: SocketAddr = "127.0.0.9:5060".parse().unwrap();
        let relayed = Sender {
            client: "127.0.0.1:40001".parse().unwrap(),
            proxy: Some(proxy),
        };
        assert_eq!(
            path_of(&req, relayed).unwrap(),
            "<sip:127.0.0.9:5060;lr;received=127.0.0.1~40001~1>, <sip:edge.example;lr>"
        );
        let direct = Sender {
            client: proxy,
            proxy: None,
        };
        assert_eq!(path_of(&req, direct).unwrap(), "", "a phone's own Path names nobody");
        let long = format!("Path: <sip:{}.example;lr>\r\n", "a".repeat(MAX_PATH_LEN));
        assert_eq!(
            path_of(&register(&long), relayed).unwrap_err().0,
            StatusCode::BadRequest
        );
        assert_eq!(
            path_of(&register("Path: <sip:127.0.0.9;lr\r\n"), relayed)
                .unwrap_err()
                .0,
            StatusCode::BadRequest
        );
        assert!(
            rsipstack::sip::typed::Route::parse_header_list("").unwrap().is_empty(),
            "no Path: no Route on requests to the phone"
        );
        assert!(!supports_path(&req));
        assert!(supports_path(&register("Supported: replaces, path\r\n")));
    }

    #[test]
    fn refuses_brief_and_malformed_requests() {
        let brief = requested_change(&register("Contact: <sip:alice@10.0.0.2>;expires=10\r\n")).unwrap_err();
        assert_eq!(brief.0, StatusCode::IntervalTooBrief);
        assert!(matches!(&brief.1[0], Header::MinExpires(m) if m.value() == "60"));
        assert_eq!(
            requested_change(&register("Contact: *\r\n")).unwrap_err().0,
            StatusCode::BadRequest
        );
        assert_eq!(
            requested_change(&register("Contact: <sip:a@b>\r\nExpires: soon\r\n"))
                .unwrap_err()
                .0,
            StatusCode::BadRequest
        );
    }
}
