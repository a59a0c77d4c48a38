//! An employee hears his new voicemail by phone: he dials `*97` (`admin::codes::VOICEMAIL`)
//! from his desk, hears how many new messages there are, then each — oldest first, who left it
//! — and each is heard from then on: his message-waiting lamp goes out.

use std::sync::Arc;

use crate::call::{CallControl, CallError, InboundCall, Trace, number};
use crate::media::Prompt;
use crate::sip::Mailboxes;
use crate::store::{RecordingFilter, Tenant};

/// The most messages one call plays (the rest wait for the next call, or the API).
const MAX_PLAYED: i64 = 50;

/// Plays `login`'s new voicemail to him; what it did, for the call's trace.
pub async fn hear_new_messages(
    store: &Tenant,
    call: &mut InboundCall,
    login: &str,
    lamps: &Arc<Mailboxes>,
    trace: &mut Trace,
) -> Result<(), CallError> {
    let filter = RecordingFilter {
        mailbox: Some(login.to_owned()),
        limit: 1000,
        ..RecordingFilter::default()
    };
    let all = store
        .recordings(&filter)
        .await
        .map_err(|e| CallError::Failed(format!("the mailbox: {e}")))?;
    // Newest first from the store: the oldest new message plays first.
    let new: Vec<_> = all
        .into_iter()
        .rev()
        .filter(|r| r.kind == "voicemail" && !r.heard)
        .take(MAX_PLAYED as usize)
        .collect();
    trace.note(format!("{login} hears his voicemail: {} new", new.len()));
    let count = match new.len() {
        0 => "no new messages".to_string(),
        1 => "one new message".to_string(),
        n => format!("{n} new messages"),
    };
    let mut heard = 0;
    let played = async {
        say(call, &format!("You have {count}.")).await?;
        for (i, message) in new.iter().enumerate() {
            say(
                call,
                &format!("Message {}, from {}.", i + 1, number::spoken(&message.caller)),
            )
            .await?;
            let wav = store.recording_wav(&message.id).await;
            match wav.ok().flatten().map(|wav| Prompt::from_wav(&wav)) {
                Some(Ok(audio)) => call.play_audio(&audio).await?,
                _ => trace.note(format!("voicemail {} cannot be played", message.id)),
            }
            if let Err(e) = store.set_heard(&message.id, true).await {
                tracing::warn!(error = %e, id = %message.id, "cannot mark a voicemail heard");
            }
            heard += 1;
            call.play(crate::media::library::BEEP).await?;
        }
        if !new.is_empty() {
            say(call, "No more new messages. Goodbye.").await?;
        }
        Ok(())
    }
    .await;
    // One lamp update for every message heard, whether or not he listened to the end.
    if heard > 0 {
        lamps.changed(store.id(), login);
    }
    played
}

/// Spoken text; without a speech engine the call goes on silently (the messages matter).
async fn say(call: &mut InboundCall, text: &str) -> Result<(), CallError> {
    match call.play(&format!("tts:{text}")).await {
        Err(CallError::Hangup) => Err(CallError::Hangup),
        Err(e) => {
            tracing::info!(error = %e, "cannot speak to the caller");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}
