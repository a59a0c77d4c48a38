//! What one call may hold and what a flow may pass in, in one place with the reasons. The real
//! call and the scripted one (the simulator) both keep these, so a flow meets the same limits in
//! a test as on the line. The flow runtime's own quotas (CPU, host calls, logs, lookups, HTTP)
//! are in `flow/sandbox.rs`; docs/writing-flows.md lists all of them ("What a flow may use").

use std::time::Duration;

use super::{CallError, DialOptions, QueueOptions, Screening, TimedLeg};

/// Legs (targets) in one `dial`: a department is one leg, however many members it has.
pub const MAX_DIAL_LEGS: usize = 32;
/// Places rung in one call, over all its dials (each is an INVITE, an RTP port and a row in the
/// record): a flow cannot ring half the company a hundred times.
pub const MAX_LEGS_PER_CALL: usize = 200;
/// Voicemail recordings one call may make, and the longest one (a whole-call recording is one
/// per call and keeps its first hour).
pub const MAX_RECORDINGS_PER_CALL: usize = 10;
pub const MAX_RECORD_SECONDS: u32 = 600;
/// Callback requests one call may file, and the longest reason kept.
pub const MAX_CALLBACKS_PER_CALL: usize = 3;
pub const MAX_CALLBACK_REASON: usize = 500;
/// Prompts a screening announces, and the longest a screened party may take to accept.
pub const MAX_ANNOUNCE: usize = 16;
pub const MAX_SCREENING_MS: u32 = 60_000;
/// A prompt's name, or the text of a `tts:` prompt.
pub const MAX_PROMPT: usize = 1_000;
/// Logins, extensions, department and schedule ids, room names.
pub const MAX_NAME: usize = 64;
/// An e-mail address (RFC 5321's longest path).
pub const MAX_EMAIL: usize = 254;
/// Phone numbers (E.164 is at most 16 characters; room for how carriers write them).
pub const MAX_NUMBER: usize = 32;
/// Terminator digits of `collect` and `record`.
pub const MAX_TERMINATORS: usize = 16;
/// An outbound HTTP request's URL, headers (count, and one header's size) and body.
pub const MAX_URL: usize = 2_048;
pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER: usize = 8 * 1024;
pub const MAX_HTTP_BODY: usize = 1 << 20;
/// Queues one call may join, one after another (a flow cannot hop between lines for ever).
pub const MAX_QUEUES_PER_CALL: usize = 8;
/// The longest a caller may wait in a queue, how often at most the announcements come, how
/// long an agent may ring and wrap up.
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(2 * 3600);
pub const MIN_ANNOUNCE_EVERY: Duration = Duration::from_secs(10);
pub const MAX_AGENT_RING: Duration = Duration::from_secs(300);
pub const MAX_WRAP_UP: Duration = Duration::from_secs(600);

/// `Err(Invalid)` naming `what` when `value` is longer than `max` bytes.
pub fn check_len(what: &str, value: &str, max: usize) -> Result<(), CallError> {
    if value.len() > max {
        return Err(CallError::Invalid(format!(
            "{what}: {} bytes, at most {max}",
            value.len()
        )));
    }
    Ok(())
}

/// A target's name within its bounds.
pub fn check_target(target: &super::Target) -> Result<(), CallError> {
    let (what, name, max) = match target {
        super::Target::Employee(n) => ("employee", n, MAX_NAME),
        super::Target::Department(n) => ("department", n, MAX_NAME),
        super::Target::Extension(n) => ("extension", n, MAX_NAME),
        super::Target::External(n) => ("external number", n, MAX_NUMBER),
    };
    check_len(what, name, max)
}

/// Checks a dial schedule before anything rings.
pub fn check_dial(legs: &[TimedLeg], opts: &DialOptions) -> Result<(), CallError> {
    if legs.is_empty() {
        return Err(CallError::Invalid("dial needs at least one leg".into()));
    }
    if legs.len() > MAX_DIAL_LEGS {
        return Err(CallError::Invalid(format!(
            "dial: {} legs, at most {MAX_DIAL_LEGS}",
            legs.len()
        )));
    }
    for leg in legs {
        check_target(&leg.target)?;
    }
    if let Some(leg) = legs.iter().find(|l| l.start_after_ms >= opts.timeout_ms) {
        return Err(CallError::Invalid(format!(
            "leg {:?} starts at {} ms, after the dial's {} ms timeout",
            leg.target, leg.start_after_ms, opts.timeout_ms
        )));
    }
    if let Some(caller_id) = &opts.caller_id {
        check_len("caller-id", caller_id, MAX_NUMBER)?;
    }
    if let Some(ringback) = &opts.ringback {
        check_len("ringback", ringback, MAX_PROMPT)?;
    }
    Ok(())
}

/// Checks a screening before anything rings.
pub fn check_screening(s: &Screening) -> Result<(), CallError> {
    if !s.accept_digit.is_ascii_digit() && !"*#".contains(s.accept_digit) {
        return Err(CallError::Invalid(format!(
            "accept-digit {:?} is not a DTMF digit",
            s.accept_digit
        )));
    }
    if s.announce.is_empty() || s.announce.len() > MAX_ANNOUNCE {
        return Err(CallError::Invalid(format!("announce 1 to {MAX_ANNOUNCE} prompts")));
    }
    for prompt in &s.announce {
        check_len("announce", prompt, MAX_PROMPT)?;
    }
    if s.timeout_ms == 0 || s.timeout_ms > MAX_SCREENING_MS {
        return Err(CallError::Invalid(format!("timeout-ms: 1 to {MAX_SCREENING_MS}")));
    }
    Ok(())
}

/// A callback request's reason as kept: a flow may file a few, each of a sensible length.
pub fn callback_reason(reason: &str, filed: usize) -> Result<String, CallError> {
    if filed >= MAX_CALLBACKS_PER_CALL {
        return Err(CallError::Invalid(format!(
            "a call files at most {MAX_CALLBACKS_PER_CALL} callback requests"
        )));
    }
    Ok(cut_callback_reason(reason))
}

/// A callback request's reason cut to the length kept.
pub fn cut_callback_reason(reason: &str) -> String {
    reason.chars().take(MAX_CALLBACK_REASON).collect()
}

/// Checks how a caller is to wait in a queue, having joined `joined` queues already.
pub fn check_queue(department: &str, opts: &QueueOptions, joined: usize) -> Result<(), CallError> {
    if joined >= MAX_QUEUES_PER_CALL {
        return Err(CallError::Denied(format!(
            "a call joins at most {MAX_QUEUES_PER_CALL} queues"
        )));
    }
    check_len("department", department, MAX_NAME)?;
    for (what, prompt) in [
        ("music", &opts.music),
        ("position-prompt", &opts.position_prompt),
        ("wait-prompt", &opts.wait_prompt),
    ] {
        check_len(what, prompt, MAX_PROMPT)?;
    }
    let within = |what: &str, value: Duration, min: Duration, max: Duration| {
        if value < min || value > max {
            return Err(CallError::Invalid(format!(
                "{what}: {} ms, use {} to {} ms",
                value.as_millis(),
                min.as_millis(),
                max.as_millis()
            )));
        }
        Ok(())
    };
    within("max-wait-ms", opts.max_wait, Duration::from_secs(1), MAX_QUEUE_WAIT)?;
    within("agent-ring-ms", opts.agent_ring, Duration::from_secs(1), MAX_AGENT_RING)?;
    within("wrap-up-ms", opts.wrap_up, Duration::ZERO, MAX_WRAP_UP)?;
    if !opts.announce_every.is_zero() {
        within(
            "announce-every-ms",
            opts.announce_every,
            MIN_ANNOUNCE_EVERY,
            MAX_QUEUE_WAIT,
        )?;
    }
    if opts.max_length == 0 || opts.max_length > super::queue::MAX_LENGTH {
        return Err(CallError::Invalid(format!(
            "max-length: {}, use 1 to {}",
            opts.max_length,
            super::queue::MAX_LENGTH
        )));
    }
    Ok(())
}

/// Room names are the flow's to choose, within reason.
pub fn check_room(room: &str) -> Result<(), CallError> {
    let ok =
        (1..=MAX_NAME).contains(&room.len()) && room.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CallError::Invalid(format!(
            "room {room:?}: use 1-{MAX_NAME} letters, digits, '-', '_' or '.'"
        )))
    }
}

/// The call may ring `more` places, having rung `rung` already.
pub fn check_more_legs(rung: usize) -> Result<(), CallError> {
    if rung >= MAX_LEGS_PER_CALL {
        return Err(CallError::Invalid(format!(
            "the call rang {MAX_LEGS_PER_CALL} places already"
        )));
    }
    Ok(())
}

/// The call may make one more voicemail recording, having made `made`.
pub fn check_more_recordings(made: usize) -> Result<(), CallError> {
    if made >= MAX_RECORDINGS_PER_CALL {
        return Err(CallError::Invalid(format!(
            "a call makes at most {MAX_RECORDINGS_PER_CALL} recordings"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Target;

    fn leg(target: Target) -> TimedLeg {
        TimedLeg {
            target,
            start_after_ms: 0,
            stop_after_ms: None,
        }
    }

    #[test]
    fn dials_with_too_many_legs_or_huge_names_are_refused() {
        let opts = DialOptions {
            timeout_ms: 1000,
            caller_id: None,
            ringback: None,
        };
        let many: Vec<TimedLeg> = (0..=MAX_DIAL_LEGS)
            .map(|i| leg(Target::Extension(i.to_string())))
            .collect();
        assert!(check_dial(&many, &opts).is_err());
        assert!(check_dial(&many[..MAX_DIAL_LEGS], &opts).is_ok());
        assert!(check_dial(&[leg(Target::Employee("x".repeat(65)))], &opts).is_err());
        let caller_id = DialOptions {
            caller_id: Some("9".repeat(40)),
            ..opts.clone()
        };
        assert!(check_dial(&[leg(Target::Extension("101".into()))], &caller_id).is_err());
    }

    #[test]
    fn per_call_counts_stop_at_their_caps() {
        assert!(check_more_legs(MAX_LEGS_PER_CALL - 1).is_ok());
        assert!(check_more_legs(MAX_LEGS_PER_CALL).is_err());
        assert!(check_more_recordings(MAX_RECORDINGS_PER_CALL).is_err());
        assert!(callback_reason("r", MAX_CALLBACKS_PER_CALL).is_err());
        assert_eq!(callback_reason(&"x".repeat(900), 0).unwrap().len(), MAX_CALLBACK_REASON);
    }
}
