//! Sees every SIP message the stack sends or receives: stamps each request with the address it
//! really came from (source.rs), adds RFC 3326 `Reason` headers to our CANCELs (rsipstack cannot
//! put headers on a CANCEL) and counts messages for `/metrics`.

use std::sync::Arc;

use rsipstack::sip::SipMessage;
use rsipstack::sip::prelude::*;
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

use super::outbound::CancelReasons;

pub(super) struct Inspector {
    pub reasons: Arc<CancelReasons>,
}

impl MessageInspector for Inspector {
    fn before_send(&self, msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        count("out", &msg);
        match msg {
            SipMessage::Request(mut req) => {
                self.reasons.add_to(&mut req);
                SipMessage::Request(req)
            }
            response => response,
        }
    }

    fn after_received(&self, msg: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        count("in", &msg);
        match (msg, from.and_then(|f| f.get_socketaddr().ok())) {
            (SipMessage::Request(mut req), Some(from)) => {
                // The UDP socket stamped it already; TCP's connection peer is only known here.
                if let Ok(via) = req.via_header_mut() {
                    let stamped = via.update_first_value(|value| {
                        super::source::stamp_via_value(value.value(), from)
                            .map(Into::into)
                            .ok_or_else(|| rsipstack::sip::Error::ParseError("empty Via".into()))
                    });
                    if stamped.is_err() {
                        // Unstamped, it has no source: the dispatcher refuses it (400).
                        tracing::debug!(%from, "a request whose Via cannot be stamped");
                    }
                }
                SipMessage::Request(req)
            }
            (msg, _) => msg,
        }
    }
}

/// `switchboard_sip_messages_total{direction, message}`: requests by method, responses by status.
fn count(direction: &'static str, msg: &SipMessage) {
    let message = match msg {
        SipMessage::Request(req) => req.method.to_string(),
        SipMessage::Response(resp) => resp.status_code.code().to_string(),
    };
    metrics::counter!("switchboard_sip_messages_total", "direction" => direction, "message" => message).increment(1);
}
