//! Sees every SIP message the stack sends or receives: adds RFC 3326 `Reason` headers to our
//! CANCELs (rsipstack cannot put headers on a CANCEL) and counts messages for `/metrics`.

use std::sync::Arc;

use rsipstack::sip::SipMessage;
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

    fn after_received(&self, msg: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        count("in", &msg);
        msg
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
