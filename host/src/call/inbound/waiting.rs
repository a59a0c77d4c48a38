//! `enqueue` for a call that came in over SIP: the caller waits in a department's line hearing
//! music and, now and then, his place and the estimated wait; an offered agent rings while the
//! music plays on; a digit asks for a callback that keeps his place (`call/queue.rs`).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{InboundCall, session};
use crate::call::queue::{Joined, Offer, Place, QueueOptions, QueueOutcome};
use crate::call::{
    CallControl, CallError, CallbackRequest, DialOptions, DialOutcome, ScreenedOutcome, Target, TimedLeg, limits,
    millis,
};
use crate::media::Prompt;
use crate::media::session::PlayEnd;

/// What ended a stretch of waiting.
enum Waited {
    Offer(Offer),
    Digit(char),
    Announce,
    TimedOut,
}

impl InboundCall {
    /// Waits in the queue of department `key` until an agent answered and the talk is over,
    /// or the wait ends otherwise.
    pub(super) async fn wait_in_queue(&mut self, key: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        limits::check_queue(key, opts, self.queues_joined)?;
        self.queues_joined += 1;
        let music = self.prompt(&opts.music).await?;
        self.answer().await?;
        let queues = self.dial_env.queues.clone();
        let internal = self.leg.employee.is_some();
        let place = match queues.join(key, internal, opts).await? {
            Joined::Waiting(place) => place,
            Joined::Full => return Ok(QueueOutcome::Full),
            Joined::Empty => return Ok(QueueOutcome::Empty),
        };
        let label = Target::Department(place.department().to_owned()).label();
        self.offer_to(label.clone());
        let waited = self.wait_for_agent(place, &music, opts).await;
        if waited == Err(CallError::Hangup) {
            self.abandoned_in = Some(label);
        }
        waited
    }

    async fn wait_for_agent(
        &mut self,
        mut place: Place,
        music: &Prompt,
        opts: &QueueOptions,
    ) -> Result<QueueOutcome, CallError> {
        let deadline = Instant::now() + opts.max_wait;
        let mut next_announcement = (!opts.announce_every.is_zero()).then(Instant::now);
        loop {
            let waited = self
                .wait_a_while(music, &mut place.offers, deadline, next_announcement)
                .await?;
            let digit = match waited {
                Waited::TimedOut => return Ok(QueueOutcome::Timeout),
                Waited::Digit(digit) => Some(digit),
                Waited::Announce => {
                    next_announcement = Some(Instant::now() + opts.announce_every);
                    self.announce_place(&place, opts).await?
                }
                Waited::Offer(offer) => {
                    if let Some(answered) = self.ring_agents(&place, &offer, opts).await? {
                        return Ok(answered);
                    }
                    None
                }
            };
            if digit.is_some() && digit == opts.callback_digit {
                let reason = format!("queue:{}", place.department());
                let request = CallbackRequest {
                    phone: &self.leg.caller,
                    reason: &reason,
                    employee: None,
                    recording: None,
                };
                match self.dial_env.callbacks.file(request).await {
                    Ok(Some(id)) => {
                        place.keep(id);
                        return Ok(QueueOutcome::Callback);
                    }
                    // The number had its day's callbacks: he waits on.
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot file a queue callback: the caller waits on"),
                }
            }
        }
    }

    /// Music until an agent is offered, a digit is pressed, an announcement is due or the wait
    /// is over.
    async fn wait_a_while(
        &mut self,
        music: &Prompt,
        offers: &mut mpsc::UnboundedReceiver<Offer>,
        deadline: Instant,
        announcement: Option<Instant>,
    ) -> Result<Waited, CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        let Self { leg, gone, media, .. } = self;
        let (media, ours) = session(media)?;
        let waited = async {
            let digit = async {
                loop {
                    if let PlayEnd::Interrupted(digit) = media.play(music, true).await {
                        return digit;
                    }
                }
            };
            let announce = async {
                match announcement {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(offer) = offers.recv() => Waited::Offer(offer),
                digit = digit => Waited::Digit(digit),
                _ = announce => Waited::Announce,
                _ = tokio::time::sleep_until(deadline) => Waited::TimedOut,
            }
        };
        Self::until_hangup(leg, gone, &ours, waited).await
    }

    /// Plays the caller's place and the estimated wait; a digit pressed meanwhile.
    async fn announce_place(&mut self, place: &Place, opts: &QueueOptions) -> Result<Option<char>, CallError> {
        let (position, wait) = place.position();
        let mut prompts = vec![opts.position_prompt.replace("{position}", &position.to_string())];
        if let Some(wait) = wait {
            prompts.push(opts.wait_prompt.replace("{minutes}", &minutes(wait).to_string()));
        }
        for prompt in prompts.iter().filter(|p| !p.is_empty()) {
            use crate::call::collect::DigitSource;
            match self.play_interruptible(prompt).await {
                Ok(Some(digit)) => return Ok(Some(digit)),
                Ok(None) => {}
                Err(CallError::Hangup) => return Err(CallError::Hangup),
                // A prompt that cannot be played (no speech engine) does not end the wait.
                Err(e) => tracing::info!(error = %e, %prompt, "queue announcement not played"),
            }
        }
        Ok(None)
    }

    /// Rings the agents offered, the music playing on; the outcome once one answered and the
    /// talk is over, none when nobody answered (the caller waits on in his place).
    async fn ring_agents(
        &mut self,
        place: &Place,
        offer: &Offer,
        opts: &QueueOptions,
    ) -> Result<Option<QueueOutcome>, CallError> {
        let legs: Vec<TimedLeg> = offer
            .agents
            .iter()
            .map(|login| TimedLeg {
                target: Target::Employee(login.clone()),
                start_after_ms: 0,
                stop_after_ms: None,
            })
            .collect();
        let dial = DialOptions {
            timeout_ms: millis(opts.agent_ring),
            caller_id: None,
            ringback: Some(opts.music.clone()),
        };
        // Agents take queue calls at their desks: their mobiles do not ring.
        let mobiles = std::mem::replace(&mut self.ring_mobiles, false);
        let answered = || place.answered();
        let how = super::Dialing {
            on_answer: Some(&answered),
            for_queue: true,
            ..Default::default()
        };
        let outcome = self.dial_with(&legs, &dial, how).await;
        self.ring_mobiles = mobiles;
        match outcome {
            Ok(ScreenedOutcome::Accepted(DialOutcome::Answered { employee, talk_seconds })) => {
                let talk = Duration::from_secs(talk_seconds.into());
                place.talked(employee.as_deref(), talk, opts.wrap_up);
                Ok(Some(QueueOutcome::Answered { employee, talk_seconds }))
            }
            Ok(_) => {
                place.not_answered();
                Ok(None)
            }
            // An agent's phone that cannot be rung is his trouble, not the caller's.
            Err(CallError::Failed(e)) => {
                tracing::warn!(error = %e, agents = ?offer.agents, "cannot ring the queue's agents");
                place.not_answered();
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// A wait in whole minutes, rounded up (at least one).
fn minutes(wait: Duration) -> u64 {
    wait.as_secs().div_ceil(60).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_are_announced_in_whole_minutes_rounded_up() {
        use std::time::Duration;
        assert_eq!(super::minutes(Duration::from_secs(10)), 1);
        assert_eq!(super::minutes(Duration::from_secs(60)), 1);
        assert_eq!(super::minutes(Duration::from_secs(61)), 2);
    }
}
