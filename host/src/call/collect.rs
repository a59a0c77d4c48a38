//! Digit collection, one algorithm for every kind of call: an optional prompt with barge-in,
//! a first-digit timeout, an inter-digit timeout, terminators and a maximum length.

use std::time::Duration;

use super::{CallError, CollectOptions};

/// Where digits come from.
#[async_trait::async_trait]
pub(crate) trait DigitSource: Send {
    /// Plays a prompt; a digit interrupts it and is returned.
    async fn play_interruptible(&mut self, prompt: &str) -> Result<Option<char>, CallError>;
    /// The next digit, or `None` when `timeout` passes first.
    async fn digit_within(&mut self, timeout: Duration) -> Result<Option<char>, CallError>;
}

pub(crate) async fn collect_digits(
    source: &mut impl DigitSource,
    opts: &CollectOptions,
) -> Result<Option<String>, CallError> {
    if opts.max_digits == 0 {
        return Err(CallError::Invalid("max-digits must be at least 1".into()));
    }
    let mut digits = String::new();
    let mut pending = match &opts.prompt {
        Some(prompt) => source.play_interruptible(prompt).await?,
        None => None,
    };
    loop {
        let timeout = if digits.is_empty() {
            opts.first_digit_timeout_ms
        } else {
            opts.inter_digit_timeout_ms
        };
        let digit = match pending.take() {
            Some(d) => Some(d),
            None => source.digit_within(Duration::from_millis(timeout as u64)).await?,
        };
        match digit {
            None if digits.is_empty() => return Ok(None),
            None => return Ok(Some(digits)),
            Some(d) if opts.terminators.contains(d) => return Ok(Some(digits)),
            Some(d) => {
                digits.push(d);
                if digits.len() >= opts.max_digits as usize {
                    return Ok(Some(digits));
                }
            }
        }
    }
}
