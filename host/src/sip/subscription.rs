//! What busy lamps (`blf.rs`) and message-waiting lamps (`mwi.rs`) do alike with a SUBSCRIBE:
//! read its event package and the expiry it asks for, and accept it as a dialog.

use std::net::SocketAddr;

use rsipstack::dialog::dialog::DialogStateReceiver;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::subscription::ServerSubscriptionDialog;
use rsipstack::sip::{Header, Request, StatusCode};
use rsipstack::transaction::Transaction;

use super::auth::Answer;

/// Subscriptions asking for longer are shortened to this (RFC 6665 §4.2.1.1 lets us).
const MAX_EXPIRES: u32 = 3600;
const DEFAULT_EXPIRES: u32 = 3600;

/// The event package named (lower-case, without parameters).
pub(super) fn event_package(req: &Request) -> Option<String> {
    req.headers.iter().find_map(|h| match h {
        Header::Event(e) => Some(
            e.value()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
        ),
        _ => None,
    })
}

/// The expiry asked for, within [`MAX_EXPIRES`].
pub(super) fn requested_expires(req: &Request) -> u32 {
    let asked = req.headers.iter().find_map(|h| match h {
        Header::Expires(e) => e.value().trim().parse::<u32>().ok(),
        _ => None,
    });
    asked.unwrap_or(DEFAULT_EXPIRES).min(MAX_EXPIRES)
}

/// Makes the SUBSCRIBE's dialog and queues its 200 with the `expires` granted; the dialog and
/// where its refreshes arrive.
pub(super) fn accept_subscription(
    dialogs: &DialogLayer,
    tx: &Transaction,
    local: SocketAddr,
    expires: u32,
) -> Result<(ServerSubscriptionDialog, DialogStateReceiver), Answer> {
    let (state_tx, states) = dialogs.new_dialog_state_channel();
    let contact = super::our_uri(local).ok();
    let dialog = dialogs
        .get_or_create_server_subscription(tx, state_tx, None, contact)
        .map_err(|e| {
            tracing::debug!(error = %e, "cannot create a subscription dialog");
            (StatusCode::BadRequest, vec![])
        })?;
    dialog
        .accept(Some(vec![Header::Expires(expires.into())]), None)
        .map_err(|_| (StatusCode::ServerInternalError, vec![]))?;
    Ok((dialog, states))
}
