//! A call that came in over SIP: the caller's leg plus its media session.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::collect::{DigitSource, collect_digits};
use super::record::unix_ms;
use super::{CallControl, CallError, CollectOptions, DialOptions, DialOutcome, TimedLeg, validate_dial};
use crate::media::session::PlayEnd;
use crate::media::{MediaOffer, MediaSession, PortRange, PromptLibrary};
use crate::sip::{InboundLeg, LegEvent};

/// What every call's media needs: RTP ports, the prompts, the address to advertise.
pub struct MediaEnv {
    pub ports: PortRange,
    pub prompts: Arc<PromptLibrary>,
    /// Advertised (and bound) RTP address; `None`: the address the caller reached SIP on.
    pub media_ip: Option<IpAddr>,
}

pub struct InboundCall {
    id: String,
    leg: InboundLeg,
    env: Arc<MediaEnv>,
    media: Option<MediaSession>,
    /// The caller hung up or cancelled.
    gone: bool,
    /// We ended the call (BYE or final response sent).
    ended: bool,
    answered_at: Option<i64>,
    /// The final response if the call ends unanswered: 480, or 488 once the offer proved unusable.
    reject_code: u16,
}

impl InboundCall {
    pub fn new(id: String, leg: InboundLeg, env: Arc<MediaEnv>) -> Self {
        InboundCall {
            id,
            leg,
            env,
            media: None,
            gone: false,
            ended: false,
            answered_at: None,
            reject_code: 480,
        }
    }

    /// Ends the call from our side: BYE when answered, else a final response `code`.
    async fn finish(&mut self, code: u16, reason: &str) {
        if self.over() {
            return;
        }
        if self.answered_at.is_some() {
            self.leg.hangup().await;
        } else {
            self.leg.reject(code, reason);
        }
        self.ended = true;
    }

    /// Whether the call is over, noticing a CANCEL or BYE that arrived while no verb waited.
    fn over(&mut self) -> bool {
        while let Some(event) = self.leg.poll_event() {
            // After our own BYE or final response, the dialog's end is ours, not the caller's.
            if event != LegEvent::Confirmed && !self.ended {
                tracing::info!(?event, "caller left");
                self.gone = true;
            }
        }
        self.gone || self.ended
    }

    fn prompt(&self, name: &str) -> Result<crate::media::Prompt, CallError> {
        self.env
            .prompts
            .get(name)
            .ok_or_else(|| CallError::Invalid(format!("unknown prompt {name:?}")))
    }

    /// Runs `work` until it completes or the caller leaves.
    async fn until_hangup<T>(
        leg: &mut InboundLeg,
        gone: &mut bool,
        work: impl Future<Output = T>,
    ) -> Result<T, CallError> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                event = leg.next_event() => match event {
                    Some(LegEvent::Confirmed) => continue,
                    other => {
                        tracing::info!(?other, "caller left");
                        *gone = true;
                        return Err(CallError::Hangup);
                    }
                },
            }
        }
    }
}

#[async_trait::async_trait]
impl CallControl for InboundCall {
    fn id(&self) -> &str {
        &self.id
    }

    fn caller(&self) -> &str {
        &self.leg.caller
    }

    fn dialled(&self) -> &str {
        &self.leg.dialled
    }

    fn facts(&self) -> super::CallFacts {
        super::CallFacts {
            answered_at: self.answered_at,
            caller_gone: self.gone,
        }
    }

    async fn answer(&mut self) -> Result<(), CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        if self.media.is_some() {
            return Ok(());
        }
        if self.leg.offer.is_empty() {
            self.reject_code = 488;
            return Err(CallError::Failed("offerless INVITE: not supported yet".into()));
        }
        let offer = MediaOffer::parse(&self.leg.offer).map_err(|e| {
            self.reject_code = 488;
            CallError::Failed(format!("SDP offer: {e}"))
        })?;
        let ip = self.env.media_ip.unwrap_or(self.leg.local.ip());
        let socket = self
            .env
            .ports
            .bind(ip)
            .await
            .map_err(|e| CallError::Failed(format!("RTP socket: {e}")))?;
        let session = MediaSession::start(socket, offer);
        let local = session.local_addr().map_err(|e| CallError::Failed(e.to_string()))?;
        let sdp = session.offer().answer(local, rand::random::<u32>() as u64);
        self.leg
            .answer(sdp)
            .map_err(|e| CallError::Failed(format!("200 OK: {e}")))?;
        self.media = Some(session);
        self.answered_at = Some(unix_ms());
        Ok(())
    }

    async fn play(&mut self, prompt: &str) -> Result<(), CallError> {
        let prompt = self.prompt(prompt)?;
        self.answer().await?;
        let Self { leg, gone, media, .. } = self;
        let media = session(media)?;
        Self::until_hangup(leg, gone, media.play(&prompt, false)).await?;
        Ok(())
    }

    async fn collect(&mut self, opts: &CollectOptions) -> Result<Option<String>, CallError> {
        if let Some(p) = &opts.prompt {
            self.prompt(p)?;
        }
        self.answer().await?;
        collect_digits(self, opts).await
    }

    async fn dial(&mut self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        validate_dial(legs, opts)?;
        Ok(DialOutcome::Unavailable)
    }

    async fn hangup(&mut self) {
        let reason = if self.reject_code == 488 {
            "Not Acceptable Here"
        } else {
            "Temporarily Unavailable"
        };
        self.finish(self.reject_code, reason).await;
    }
}

#[async_trait::async_trait]
impl DigitSource for InboundCall {
    async fn play_interruptible(&mut self, prompt: &str) -> Result<Option<char>, CallError> {
        let prompt = self.prompt(prompt)?;
        if self.over() {
            return Err(CallError::Hangup);
        }
        let Self { leg, gone, media, .. } = self;
        let media = session(media)?;
        match Self::until_hangup(leg, gone, media.play(&prompt, true)).await? {
            PlayEnd::Finished => Ok(None),
            PlayEnd::Interrupted(d) => Ok(Some(d)),
        }
    }

    async fn digit_within(&mut self, timeout: Duration) -> Result<Option<char>, CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        let Self { leg, gone, media, .. } = self;
        let media = session(media)?;
        let wait = tokio::time::timeout(timeout, media.next_digit());
        Ok(Self::until_hangup(leg, gone, wait).await?.ok().flatten())
    }
}

/// The media session of an answered call.
fn session(media: &mut Option<MediaSession>) -> Result<&mut MediaSession, CallError> {
    media
        .as_mut()
        .ok_or_else(|| CallError::Failed("the call is not answered".into()))
}
