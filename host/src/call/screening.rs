//! Screening: before a caller is put through, whoever answered hears an announcement (the
//! caller's recorded name, "press 1 to accept") and accepts with a digit — in RTP (RFC 4733 or
//! in-band) or as SIP INFO. Anything else, silence, or hanging up declines.

use std::time::Duration;

use crate::media::session::PlayEnd;
use crate::media::{MediaSession, Prompt};
use crate::sip::{OutboundEvent, OutboundLeg};

/// What the answering party decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Why: the digit pressed, silence, or a hangup.
    Declined(String),
}

fn judge(digit: char, accept: char) -> Verdict {
    if digit == accept {
        Verdict::Accepted
    } else {
        Verdict::Declined(format!("pressed {digit}"))
    }
}

/// Plays `announce` to the party on `callee` (a digit interrupts it) and waits up to `wait` for
/// the digit that accepts.
pub async fn ask(
    callee: &mut MediaSession,
    leg: &mut OutboundLeg,
    announce: &[Prompt],
    accept: char,
    wait: Duration,
) -> Verdict {
    let listen = async {
        for prompt in announce {
            if let PlayEnd::Interrupted(digit) = callee.play(prompt, true).await {
                return judge(digit, accept);
            }
        }
        match tokio::time::timeout(wait, callee.next_digit()).await {
            Ok(Some(digit)) => judge(digit, accept),
            _ => Verdict::Declined("no digit".into()),
        }
    };
    let signalled = async {
        loop {
            match leg.next_event().await {
                Some(OutboundEvent::Digit(digit)) => return judge(digit, accept),
                // Held or re-offered while listening: the announcement goes on regardless.
                Some(OutboundEvent::Reinvite(_) | OutboundEvent::Ringing { .. }) => continue,
                _ => return Verdict::Declined("hung up".into()),
            }
        }
    };
    tokio::select! {
        verdict = listen => verdict,
        verdict = signalled => verdict,
    }
}
