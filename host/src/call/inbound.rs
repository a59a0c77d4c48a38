//! A call that came in over SIP: the caller's leg plus its media session.

mod waiting;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::bridged;
use super::collect::{DigitSource, collect_digits};
use super::conversation::{BridgeExit, TransferEnv, answer_reinvite};
use super::fork::{DialEnv, Fork, ForkEvent, ForkParams, Winner};
use super::number;
use super::record::{LegRecord, unix_ms};
use super::screening::{self, Verdict};
use super::supervision::Mode;
use super::{
    CallControl, CallError, CallRecording, CollectOptions, DepartmentCard, DialOptions, DialOutcome, EmployeeCard,
    EmployeeKey, FeatureRequests, HttpRequest, HttpResponse, LineStatus, QueueOptions, QueueOutcome, RECORDING_PROMPT,
    RecordOptions, Recording, ScreenedOutcome, Screening, Target, TimedLeg,
};
use crate::media::mixer::Rooms;
use crate::media::sdp;
use crate::media::session::PlayEnd;
use crate::media::{
    BEEP, CallRecorder, Codec, LocalSdp, MediaOffer, MediaSession, PortRange, PromptLibrary, RINGBACK, RecordEnd,
    Recorded, Recorder, bridge,
};
use crate::schedule::LocalTime;
use crate::sip::{InboundLeg, LegEvent};

/// What every call's media needs: RTP ports, the prompts, the address to advertise.
pub struct MediaEnv {
    pub ports: PortRange,
    pub prompts: Arc<PromptLibrary>,
    /// Advertised (and bound) RTP address; `None`: the address the caller reached SIP on.
    pub media_ip: Option<IpAddr>,
    /// Conference rooms.
    pub rooms: Rooms,
}

/// How many targets a call record lists as offered the call (a flow may dial many).
const MAX_OFFERED: usize = 32;

pub struct InboundCall {
    id: String,
    leg: InboundLeg,
    env: Arc<MediaEnv>,
    dial_env: Arc<DialEnv>,
    media: Option<MediaSession>,
    /// The caller hung up or cancelled.
    gone: bool,
    /// We ended the call (BYE or final response sent).
    ended: bool,
    answered_at: Option<i64>,
    /// The employee the caller talked to last.
    answered_by: Option<String>,
    /// Every leg the dials rang.
    legs: Vec<LegRecord>,
    /// Whom the dials offered the call to, each once, the first [`MAX_OFFERED`].
    offered: Vec<String>,
    /// The final response if the call ends unanswered: 480, 486 after a dial found everyone
    /// busy, 488 once the offer proved unusable.
    reject: (u16, &'static str),
    recordings: Vec<CallRecording>,
    /// The number records its calls: both parties of every bridge are recorded.
    records_calls: bool,
    /// The number's timezone (its business hours are local to it).
    timezone: jiff::tz::TimeZone,
    /// The mailbox the flow chose for voicemail.
    mailbox: Option<String>,
    /// Dials ring employees' mobiles by their rule (the flow may turn it off).
    ring_mobiles: bool,
    /// Hosts the number lets its flow reach over HTTP.
    allowed_hosts: Vec<String>,
    /// Callback requests to file when the call ends.
    callbacks: Vec<String>,
    /// Features asked of the call from outside (the API's three-way calling).
    requests: Option<FeatureRequests>,
    /// A caller ID the exchange vouches for (an employee's own extension on his calls).
    vouched_caller_id: Option<String>,
    /// Queues the call joined.
    queues_joined: usize,
    /// The queue the caller hung up in while waiting ([`Target::label`]).
    abandoned_in: Option<String>,
    /// What employees' phones show of the caller besides his number.
    display: Option<String>,
}

const UNAVAILABLE: (u16, &str) = (480, "Temporarily Unavailable");
const BUSY: (u16, &str) = (486, "Busy Here");
const NOT_ACCEPTABLE: (u16, &str) = (488, "Not Acceptable Here");
/// Every leg was a call out the company's rules refuse.
const FORBIDDEN: (u16, &str) = (403, "Forbidden");

impl InboundCall {
    pub fn new(id: String, leg: InboundLeg, env: Arc<MediaEnv>, dial_env: Arc<DialEnv>) -> Self {
        InboundCall {
            id,
            leg,
            env,
            dial_env,
            media: None,
            gone: false,
            ended: false,
            answered_at: None,
            answered_by: None,
            legs: Vec::new(),
            offered: Vec::new(),
            reject: UNAVAILABLE,
            recordings: Vec::new(),
            records_calls: false,
            timezone: jiff::tz::TimeZone::UTC,
            mailbox: None,
            ring_mobiles: true,
            allowed_hosts: Vec::new(),
            callbacks: Vec::new(),
            requests: None,
            vouched_caller_id: None,
            queues_joined: 0,
            abandoned_in: None,
            display: None,
        }
    }

    /// Dials of this call may present `caller_id`: the exchange knows it is the caller's (an
    /// employee's extension on his own calls); a flow cannot call this.
    pub fn vouch_for_caller_id(&mut self, caller_id: String) {
        self.vouched_caller_id = Some(caller_id);
    }

    /// Employees' phones rung for this call show `display` besides the caller's number (the
    /// From display name; `known_caller.rs` made it safe).
    pub fn show_caller_as(&mut self, display: Option<String>) {
        self.display = display;
    }

    /// Supervisor `by` (this call's employee) comes into the conversation `employee` is in, as
    /// `mode`, until he hangs up or that conversation ends; on the line 4, 5 and 6 switch the
    /// mode. Why not, when that call does not let him in.
    pub async fn supervise(&mut self, employee: &str, by: &str, mode: Mode) -> Result<(), String> {
        let room = self.dial_env.supervision.ask(employee, by, mode).await?;
        self.answer().await.map_err(|e| e.to_string())?;
        let Some(side) = self.media.take().map(|s| s.into_bridge_side()) else {
            return Err("the supervisor's call has no media".into());
        };
        let ours = side.local_sdp().map_err(|e| e.to_string())?;
        let (digits, mut typed) = tokio::sync::mpsc::unbounded_channel();
        let Some(mut member) = self.env.rooms.visit(&room, side, mode.role(), digits.clone()) else {
            return Err(format!("{employee}'s call ended"));
        };
        // RTP digits come from the room, SIP INFO ones from the leg: both switch the mode.
        let handles = (ours, digits);
        let stay = async {
            loop {
                tokio::select! {
                    _ = member.dead() => return,
                    Some(digit) = typed.recv() => super::room::switch(&member, digit),
                }
            }
        };
        if Self::until_hangup(&mut self.leg, &mut self.gone, &handles, stay)
            .await
            .is_ok()
        {
            tracing::info!(%employee, "the supervised call ended");
        }
        self.finish(UNAVAILABLE).await;
        Ok(())
    }

    /// Where the call receives features asked of it from outside while bridged.
    pub fn take_requests(&mut self, requests: FeatureRequests) {
        self.requests = Some(requests);
    }

    /// The hosts the number's flow may reach over HTTP.
    pub fn allow_hosts(&mut self, hosts: Vec<String>) {
        self.allowed_hosts = hosts;
    }

    /// Plays audio that is no prompt of the library (a voicemail from the store), answering
    /// first.
    pub async fn play_audio(&mut self, audio: &crate::media::Prompt) -> Result<(), CallError> {
        self.answer().await?;
        let Self { leg, gone, media, .. } = self;
        let (media, ours) = session(media)?;
        Self::until_hangup(leg, gone, &ours, media.play(audio, false)).await?;
        Ok(())
    }

    /// Records both parties whenever this call is bridged (the number records its calls).
    pub fn record_whole_call(&mut self) {
        self.records_calls = true;
    }

    /// The number's timezone, for `local_time` and `is_open`.
    pub fn set_timezone(&mut self, zone: jiff::tz::TimeZone) {
        self.timezone = zone;
    }

    /// Keeps a recording for the call record; what the flow is told about it.
    fn keep(&mut self, recorded: Recorded, kind: &'static str, ended_by: String) -> Recording {
        let id = format!("{}-{}", self.id, self.recordings.len() + 1);
        tracing::info!(%id, kind, ms = recorded.duration_ms, %ended_by, "recorded");
        self.recordings.push(CallRecording {
            id: id.clone(),
            kind,
            wav: recorded.wav,
            duration_ms: recorded.duration_ms,
            ended_by: ended_by.clone(),
            made_at: unix_ms(),
            mailbox: self.mailbox.clone().filter(|_| kind == "voicemail"),
        });
        Recording {
            id,
            duration_ms: recorded.duration_ms,
            ended_by,
        }
    }

    /// Ends the call from our side: BYE when answered, else the final response `reject`.
    async fn finish(&mut self, (code, reason): (u16, &str)) {
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
            let caller_spoke = matches!(
                event,
                LegEvent::Confirmed | LegEvent::Reinvite(_) | LegEvent::Refer(_) | LegEvent::Digit(_)
            );
            if !caller_spoke && !self.ended {
                tracing::info!(?event, "caller left");
                self.gone = true;
            }
        }
        self.gone || self.ended
    }

    /// Tells the caller why his call is refused — `prompt` as early media (183), the call
    /// never answered — before it ends with its final response (e.g. 403).
    pub async fn explain_refusal(&mut self, prompt: &str) -> Result<(), CallError> {
        let prompt = self.prompt(prompt).await?;
        if self.over() {
            return Err(CallError::Hangup);
        }
        self.early_media().await?;
        let Self { leg, gone, media, .. } = self;
        let (media, ours) = session(media)?;
        Self::until_hangup(leg, gone, &ours, media.play(&prompt, false)).await?;
        Ok(())
    }

    /// Refuses the call before anything else happened (e.g. 404 for a number that is nobody's).
    pub fn reject_now(&mut self, code: u16, reason: &str) {
        self.leg.reject(code, reason);
        self.ended = true;
    }

    /// The caller's media session, made (RTP socket bound, our SDP answer ready) on first use.
    /// A caller who sent no offer has a session only once answered (the answer is in the ACK).
    async fn session(&mut self) -> Result<&mut MediaSession, CallError> {
        if self.media.is_none() {
            let offer = self.caller_offer()?;
            let socket = self.bind_rtp()?;
            self.media = Some(MediaSession::start(socket, offer, rand::random::<u32>().into()));
        }
        Ok(self.media.as_mut().expect("just made"))
    }

    /// Our SDP answer for the caller's session (made on first use).
    async fn session_answer(&mut self) -> Result<String, CallError> {
        self.session()
            .await?
            .answer()
            .map_err(|e| CallError::Failed(e.to_string()))
    }

    /// 183 Session Progress with our SDP: from now on the caller hears what we send.
    async fn early_media(&mut self) -> Result<(), CallError> {
        let sdp = self.session_answer().await?;
        self.leg.early_media(sdp);
        Ok(())
    }

    /// The caller's RTP socket: it sends nothing before the caller proved it receives at its
    /// address (the ACK of our answer, its RTP, or its authenticated INVITE).
    fn bind_rtp(&self) -> Result<crate::media::RtpSocket, CallError> {
        let socket = self
            .env
            .ports
            .bind(self.media_ip())
            .map_err(|e| CallError::Failed(format!("RTP socket: {e}")))?;
        socket.send_after(self.leg.proof());
        Ok(socket)
    }

    /// The caller's SDP offer; an unusable one makes the final response 488.
    fn caller_offer(&mut self) -> Result<MediaOffer, CallError> {
        if let Some(media) = &self.media {
            return Ok(media.offer().clone());
        }
        if self.offerless() {
            return Err(CallError::Failed("the caller made no SDP offer: answer first".into()));
        }
        MediaOffer::parse(&self.leg.offer).map_err(|e| {
            self.reject = NOT_ACCEPTABLE;
            CallError::Failed(format!("SDP offer: {e}"))
        })
    }

    /// The INVITE carried no SDP: we offer in the 200 OK and the caller answers in its ACK
    /// (RFC 3261 §13.2.1).
    fn offerless(&self) -> bool {
        self.media.is_none() && self.leg.offer.is_empty()
    }

    /// The codec and packet time legs are offered: the caller's, or for a caller who has not
    /// made an offer yet, PCMA at 20 ms (transcoded in the bridge if the caller picks PCMU).
    fn caller_media(&mut self) -> Result<(Codec, u32), CallError> {
        if self.offerless() {
            return Ok((Codec::Pcma, 20));
        }
        let offer = self.caller_offer()?;
        Ok((offer.codec, offer.ptime))
    }

    /// Answers a caller who made no offer: our offer goes in the 200 OK, the media session
    /// starts with the answer in the ACK.
    async fn answer_with_offer(&mut self) -> Result<(), CallError> {
        let socket = self.bind_rtp()?;
        let local = socket.local_addr().map_err(|e| CallError::Failed(e.to_string()))?;
        let session_id: u64 = rand::random::<u32>().into();
        self.leg
            .answer(sdp::offer(local, session_id, Codec::Pcma, 20))
            .map_err(|e| CallError::Failed(format!("200 OK: {e}")))?;
        self.answered_at = Some(unix_ms());
        let acked = tokio::time::timeout(ACK_WAIT, self.leg.next_event()).await;
        let answer = match acked {
            Ok(Some(LegEvent::Confirmed)) => self.leg.ack_body().unwrap_or_default(),
            Ok(other) => {
                tracing::info!(?other, "caller left before its ACK");
                self.gone = true;
                return Err(CallError::Hangup);
            }
            Err(_) => {
                self.finish(UNAVAILABLE).await;
                return Err(CallError::Failed("no ACK to our 200 OK".into()));
            }
        };
        match MediaOffer::parse(&answer) {
            Ok(media) => {
                self.media = Some(MediaSession::start(socket, media, session_id));
                Ok(())
            }
            Err(e) => {
                // Too late for 488: the call is up. It ends with a BYE that says why.
                tracing::info!(error = %e, "the ACK carried no usable SDP answer");
                self.finish(UNAVAILABLE).await;
                Err(CallError::Failed(format!("SDP answer in the ACK: {e}")))
            }
        }
    }

    fn media_ip(&self) -> IpAddr {
        self.env.media_ip.unwrap_or(self.leg.local.ip())
    }

    /// A flow presents a caller ID only of the company's own numbers, or the caller's own (as
    /// it came, or as the exchange vouched for it): never someone else's.
    fn check_caller_id(&self, opts: &DialOptions) -> Result<(), CallError> {
        let callers_own = |id: &str| {
            number::canonical(id) == number::canonical(&self.leg.caller)
                || self.vouched_caller_id.as_deref() == Some(id)
        };
        match &opts.caller_id {
            Some(id) if !callers_own(id) && !self.dial_env.numbers.owns(id) => Err(CallError::Denied(format!(
                "caller-id {id}: not one of the company's numbers"
            ))),
            _ => Ok(()),
        }
    }

    /// Rings until a leg answers (`Ok(Ok(winner))`) or the fork is done (`Ok(Err(outcome))`).
    async fn ring_until_done(
        &mut self,
        fork: &mut Fork<'_>,
        ringing: &mut Ringing,
    ) -> Result<Result<Winner, DialOutcome>, CallError> {
        loop {
            match self.ring(fork, ringing).await? {
                // (A caller who made no offer cannot get early media without reliable
                // provisional responses; it hears its own ringback until the answer.)
                Some(ForkEvent::EarlyMedia(side))
                    if self.answered_at.is_none()
                        && ringing.early.is_none()
                        && !ringing.early_music
                        && !self.offerless() =>
                {
                    // 183 with our SDP, then the callee's early media relayed to the caller.
                    tracing::info!(from = %side.media.remote, "early media");
                    self.early_media().await?;
                    ringing.early = Some(side);
                }
                Some(ForkEvent::Answered(winner)) => return Ok(Ok(winner)),
                Some(ForkEvent::Finished(outcome)) => {
                    // Should the flow give up now, the caller learns why (RFC 3261 §16.7).
                    self.reject = if fork.refused() {
                        FORBIDDEN
                    } else if outcome == DialOutcome::Busy {
                        BUSY
                    } else {
                        UNAVAILABLE
                    };
                    return Ok(Err(outcome));
                }
                _ => {}
            }
        }
    }

    /// Drives the fork until it has something the call must act on, while the caller hears
    /// 180, the callee's early media, or (answered already) the ringback prompt. `None`: a
    /// first ring was relayed, go on.
    async fn ring(&mut self, fork: &mut Fork<'_>, ringing: &mut Ringing) -> Result<Option<ForkEvent>, CallError> {
        let answered = self.answered_at.is_some();
        // The caller hears our media (after the answer, or hold music as early media): a 180
        // now would make its phone play its own ringback instead.
        let hears_us = answered || ringing.early_music;
        let caller_reachable = self.media.as_ref().is_some_and(MediaSession::reachable);
        let Self { leg, gone, media, .. } = self;
        let ours = media.as_ref().and_then(|m| m.local_sdp().ok());
        // Early media: the caller's socket is lent to a relay while legs ring.
        let caller_side = match (&ringing.early, media.as_mut()) {
            (Some(_), Some(session)) => Some(session.suspend()),
            _ => None,
        };
        let event = {
            let tone = async {
                match (media.as_mut(), &ringing.ringback, &caller_side) {
                    (Some(media), Some(prompt), None) => loop {
                        media.play(prompt, false).await;
                    },
                    _ => std::future::pending().await,
                }
            };
            let relay = async {
                match (&caller_side, &ringing.early) {
                    (Some(caller), Some(early)) => bridge::relay(caller, early, EARLY_MEDIA_SILENCE).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::pin!(tone, relay);
            loop {
                tokio::select! {
                    event = fork.next() => match event {
                        // 180 relayed to a caller not answered yet; an answered one hears
                        // ringback from now on (not before: nobody may ring at all).
                        ForkEvent::Ringing if !hears_us => {
                            leg.ringing();
                            break Ok(None);
                        }
                        ForkEvent::Ringing => {
                            ringing.rang = true;
                            // Early media cannot reach a caller who has not proven its address
                            // yet (no RTP from it): a 180 lets its side ring by itself meanwhile
                            // (RFC 3960's gateway model).
                            if !answered && !caller_reachable {
                                leg.ringing();
                            }
                        }
                        event => break Ok(Some(event)),
                    },
                    _ = &mut tone, if ringing.rang => {}
                    _ = &mut relay => {}
                    event = leg.next_event() => match event {
                        Some(LegEvent::Confirmed) => {}
                        Some(LegEvent::Reinvite(reinvite)) => match &ours {
                            Some(ours) if answered => {
                                answer_reinvite(reinvite, ours);
                            }
                            _ => drop(reinvite), // not answered yet: refused
                        },
                        other => {
                            tracing::info!(?other, "caller left while legs rang");
                            *gone = true;
                            fork.cancel_all(None).await;
                            break Err(CallError::Hangup);
                        }
                    },
                }
            }
        };
        if caller_side.is_some()
            && let Some(session) = media.as_mut()
        {
            session.resume();
        }
        event
    }

    /// Notes that the call was offered to `label` ([`Target::label`]), once.
    fn offer_to(&mut self, label: String) {
        if self.offered.len() < MAX_OFFERED && !self.offered.contains(&label) {
            self.offered.push(label);
        }
    }

    /// `dial`, with the answering party screened first or a queue told, as `how` says.
    async fn dial_with(
        &mut self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        how: Dialing<'_>,
    ) -> Result<ScreenedOutcome, CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        super::limits::check_dial(legs, opts)?;
        super::limits::check_more_legs(self.legs.len())?;
        self.check_caller_id(opts)?;
        if !how.for_queue {
            for leg in legs {
                self.offer_to(leg.target.label());
            }
        }
        let (codec, ptime) = self.caller_media()?;
        // An answered caller hears the ringback tone once a leg rings, or the flow's prompt
        // (hold music) at once; a caller not answered yet hears its phone's own ringback after
        // our 180, or the flow's prompt as early media (183).
        let music = match &opts.ringback {
            Some(name) if self.answered_at.is_some() || !self.offerless() => Some(self.prompt(name).await?),
            _ => None,
        };
        // Music plays from the start; the ringback tone only once a leg rings.
        let plays_at_once = music.is_some();
        let early_music = plays_at_once && self.answered_at.is_none();
        if early_music {
            self.early_media().await?;
        }
        let ringback = match (self.answered_at, music) {
            (_, Some(music)) => Some(music),
            (Some(_), None) => Some(self.prompt(RINGBACK).await?),
            (None, None) => None,
        };
        let (dial_env, media_env) = (self.dial_env.clone(), self.env.clone());
        let params = ForkParams {
            env: &dial_env,
            ports: &media_env.ports,
            media_ip: Some(self.media_ip()),
            caller_id: opts.caller_id.clone(),
            caller: self.leg.caller.clone(),
            codec,
            ptime,
            ring_mobiles: self.ring_mobiles,
            on_behalf_of: self.leg.employee.clone(),
            display: self.display.clone(),
        };
        let timeout = Duration::from_millis(opts.timeout_ms.into());
        let mut fork = Fork::new(params, legs, timeout)
            .await
            .map_err(|e| CallError::Failed(format!("dial: {e}")))?;
        let mut ringing = Ringing {
            rang: plays_at_once,
            early_music,
            early: None,
            ringback,
        };
        let outcome = self.ring_until_done(&mut fork, &mut ringing).await;
        self.legs.extend(fork.take_legs());
        let winner = match (outcome?, how.screening) {
            (Err(outcome), _) => return Ok(ScreenedOutcome::NotAnswered(outcome)),
            (Ok(winner), None) => winner,
            (Ok(winner), Some(screening)) => match self.screen(winner, screening, &ringing).await? {
                Some(accepted) => accepted,
                None => return Ok(ScreenedOutcome::Declined),
            },
        };
        if let Some(answered) = how.on_answer {
            answered();
        }
        let answered = self.bridge(winner).await;
        // The answered legs' conversations are over now (with a transfer: the transferor's
        // too — it ended when the transfer did, which the record does not know more exactly).
        let now = unix_ms();
        for leg in self.legs.iter_mut().filter(|l| l.answered_at.is_some()) {
            leg.ended_at.get_or_insert(now);
        }
        answered.map(ScreenedOutcome::Accepted)
    }

    /// The party that answered hears the screening's announcement while the caller hears
    /// ringback; `Some(winner)` when he accepts, `None` (his leg hung up) when he declines.
    async fn screen(
        &mut self,
        mut winner: Winner,
        screening: &Screening,
        ringing: &Ringing,
    ) -> Result<Option<Winner>, CallError> {
        let mut announce = Vec::with_capacity(screening.announce.len());
        for name in &screening.announce {
            match self.announcement(name).await {
                Ok(prompt) => announce.push(prompt),
                Err(e) => {
                    winner.leg.hangup().await;
                    return Err(e);
                }
            }
        }
        let mut callee = MediaSession::on_side(winner.media.clone());
        let wait = Duration::from_millis(screening.timeout_ms.into());
        let asked = screening::ask(&mut callee, &mut winner.leg, &announce, screening.accept_digit, wait);
        let verdict = match self.while_waiting(asked, ringing).await {
            Ok(verdict) => verdict,
            Err(gone) => {
                winner.leg.hangup().await;
                return Err(gone);
            }
        };
        tracing::info!(?verdict, employee = ?winner.employee, "screened");
        match verdict {
            Verdict::Accepted => {
                winner.media = callee.into_bridge_side();
                Ok(Some(winner))
            }
            Verdict::Declined(why) => {
                winner.leg.hangup().await;
                if let Some(leg) = self.legs.iter_mut().rev().find(|l| l.answered_at.is_some()) {
                    leg.result = format!("declined ({why})");
                    leg.ended_at = Some(unix_ms());
                }
                Ok(None)
            }
        }
    }

    /// A prompt for an announcement: a prompt's name, or `recording:<id>` for a recording
    /// made earlier in this call.
    async fn announcement(&self, name: &str) -> Result<crate::media::Prompt, CallError> {
        let Some(id) = name.strip_prefix(RECORDING_PROMPT) else {
            return self.prompt(name).await;
        };
        let made = self.recordings.iter().find(|r| r.id == id);
        let made = made.ok_or_else(|| CallError::Invalid(format!("this call made no recording {id:?}")))?;
        crate::media::Prompt::from_wav(&made.wav).map_err(|e| CallError::Failed(format!("recording {id}: {e}")))
    }

    /// Runs `work` while the caller waits — hearing the ringback prompt if answered (his own
    /// phone's ringback otherwise) — and watches him: `Err(Hangup)` when he leaves first.
    async fn while_waiting<T>(&mut self, work: impl Future<Output = T>, ringing: &Ringing) -> Result<T, CallError> {
        let answered = self.answered_at.is_some();
        let Self { leg, gone, media, .. } = self;
        let ours = media.as_ref().and_then(|m| m.local_sdp().ok());
        let tone = async {
            match (media.as_mut(), &ringing.ringback) {
                (Some(media), Some(prompt)) => loop {
                    media.play(prompt, false).await;
                },
                _ => std::future::pending().await,
            }
        };
        tokio::pin!(work, tone);
        loop {
            tokio::select! {
                done = &mut work => return Ok(done),
                _ = &mut tone => {}
                event = leg.next_event() => match event {
                    Some(LegEvent::Confirmed) => {}
                    Some(LegEvent::Reinvite(reinvite)) => match &ours {
                        Some(ours) if answered => {
                            answer_reinvite(reinvite, ours);
                        }
                        _ => drop(reinvite),
                    },
                    other => {
                        tracing::info!(?other, "caller left while the callee was screened");
                        *gone = true;
                        return Err(CallError::Hangup);
                    }
                },
            }
        }
    }

    /// Connects the caller to the leg that answered (and whoever it transfers to) until either
    /// hangs up or the media dies; the call is over afterwards.
    async fn bridge(&mut self, mut winner: Winner) -> Result<DialOutcome, CallError> {
        if let Err(e) = self.answer().await {
            winner.leg.hangup().await;
            return Err(e);
        }
        let caller = match self.media.take() {
            Some(session) => session.into_bridge_side(),
            None => return Err(CallError::Failed("the call is not answered".into())),
        };
        let started = std::time::Instant::now();
        let transfer_legs = parking_lot::Mutex::default();
        let env = TransferEnv {
            dial: &self.dial_env,
            ports: &self.env.ports,
            media_ip: self.media_ip(),
            caller: self.leg.caller.clone(),
            codec: caller.media.codec,
            ptime: caller.media.ptime,
            rooms: &self.env.rooms,
            caller_employee: self.leg.employee.clone(),
            deadline: tokio::time::Instant::now() + self.dial_env.max_call,
            legs: &transfer_legs,
        };
        // The caller's phone may transfer this call's party into another call (attended).
        let mut offer = self.dial_env.handovers.offer(self.leg.dialog_key());
        let recording = self
            .records_calls
            .then(|| bridged::SharedRecorder::new(CallRecorder::new(MAX_CALL_RECORDING).into()));
        let requests = &mut self.requests;
        let (exit, employee) = bridged::connect(
            &mut self.leg,
            &caller,
            winner,
            &env,
            &mut offer,
            recording.as_ref(),
            requests,
        )
        .await;
        drop((offer, env));
        self.legs.extend(transfer_legs.into_inner());
        if employee.is_some() {
            self.answered_by.clone_from(&employee);
        }
        if let Some(recorded) = recording.and_then(|r| r.lock().finish()) {
            self.keep(recorded, "call", "call-end".into());
        }
        match exit {
            BridgeExit::CallerLeft => self.gone = true,
            BridgeExit::CalleeLeft
            | BridgeExit::Dead
            | BridgeExit::HandedOver
            | BridgeExit::CallerTransferred
            | BridgeExit::TooLong => self.finish(UNAVAILABLE).await,
        }
        Ok(DialOutcome::Answered {
            employee,
            talk_seconds: started.elapsed().as_secs() as u32,
        })
    }

    async fn prompt(&self, name: &str) -> Result<crate::media::Prompt, CallError> {
        let company = self.dial_env.company;
        self.env
            .prompts
            .resolve_for(company, name)
            .await
            .map_err(super::prompt_error)
    }

    /// Runs `work` until it completes or the caller leaves. A re-INVITE meanwhile (the caller
    /// puts the menu on hold, or resumes) is answered with `ours`, media unchanged.
    async fn until_hangup<T>(
        leg: &mut InboundLeg,
        gone: &mut bool,
        (ours, digits): &SessionHandles,
        work: impl Future<Output = T>,
    ) -> Result<T, CallError> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                event = leg.next_event() => match event {
                    Some(LegEvent::Confirmed) => continue,
                    Some(LegEvent::Reinvite(reinvite)) => {
                        answer_reinvite(reinvite, ours);
                    }
                    Some(LegEvent::Refer(refer)) => no_transfer_yet(refer),
                    // A SIP INFO digit joins the RTP ones the verb is waiting for.
                    Some(LegEvent::Digit(digit)) => {
                        let _ = digits.send(digit);
                    }
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

    fn is_over(&mut self) -> bool {
        self.over()
    }

    fn facts(&self) -> super::CallFacts {
        super::CallFacts {
            answered_at: self.answered_at,
            answered_by: self.answered_by.clone(),
            legs: self.legs.clone(),
            offered: self.offered.clone(),
            caller_gone: self.gone,
            callbacks: self.callbacks.clone(),
            mailbox: self.mailbox.clone(),
            abandoned_in: self.abandoned_in.clone(),
        }
    }

    async fn answer(&mut self) -> Result<(), CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        if self.answered_at.is_some() {
            return Ok(());
        }
        if self.offerless() {
            return self.answer_with_offer().await;
        }
        // After early media the session exists already; the 200 repeats its SDP.
        let sdp = self.session_answer().await?;
        self.leg
            .answer(sdp)
            .map_err(|e| CallError::Failed(format!("200 OK: {e}")))?;
        self.answered_at = Some(unix_ms());
        Ok(())
    }

    async fn play(&mut self, prompt: &str) -> Result<(), CallError> {
        let prompt = self.prompt(prompt).await?;
        self.play_audio(&prompt).await
    }

    async fn collect(&mut self, opts: &CollectOptions) -> Result<Option<String>, CallError> {
        if let Some(p) = &opts.prompt {
            self.prompt(p).await?;
        }
        self.answer().await?;
        collect_digits(self, opts).await
    }

    async fn dial(&mut self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError> {
        match self.dial_with(legs, opts, Dialing::default()).await? {
            ScreenedOutcome::Accepted(outcome) | ScreenedOutcome::NotAnswered(outcome) => Ok(outcome),
            ScreenedOutcome::Declined => unreachable!("nobody screens an unscreened dial"),
        }
    }

    async fn dial_screened(
        &mut self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError> {
        super::limits::check_screening(screening)?;
        let how = Dialing {
            screening: Some(screening),
            ..Dialing::default()
        };
        self.dial_with(legs, opts, how).await
    }

    async fn enqueue(&mut self, department: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError> {
        self.wait_in_queue(department, opts).await
    }

    async fn record(&mut self, opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        if opts.max_seconds == 0 {
            return Err(CallError::Invalid("record needs max-seconds of at least 1".into()));
        }
        super::limits::check_len("terminators", &opts.terminators, super::limits::MAX_TERMINATORS)?;
        let voicemails = self.recordings.iter().filter(|r| r.kind == "voicemail").count();
        super::limits::check_more_recordings(voicemails)?;
        if opts.beep {
            self.play(BEEP).await?;
        } else {
            self.answer().await?;
        }
        let max = Duration::from_secs(opts.max_seconds.min(super::limits::MAX_RECORD_SECONDS).into());
        let silence = (opts.silence_seconds > 0).then(|| Duration::from_secs(opts.silence_seconds.into()));
        let mut recorder = Recorder::new(max);
        let Self { leg, gone, media, .. } = self;
        let (media, ours) = session(media)?;
        let end = Self::until_hangup(
            leg,
            gone,
            &ours,
            media.record(&mut recorder, silence, &opts.terminators),
        )
        .await;
        let ended_by = match end {
            Ok(RecordEnd::MaxLength) => "max-length".to_string(),
            Ok(RecordEnd::Silence) => "silence".to_string(),
            Ok(RecordEnd::Digit(d)) => d.to_string(),
            Err(_) => "hangup".to_string(),
        };
        // What was said is kept whatever ended it: most voicemails end with the caller hanging up.
        let made = recorder
            .finish()
            .map(|recorded| self.keep(recorded, "voicemail", ended_by));
        end?;
        Ok(made)
    }

    async fn set_mailbox(&mut self, login: &str) -> Result<(), CallError> {
        let known = self.dial_env.directory.is_employee(login).await;
        match known.map_err(|e| CallError::Failed(format!("mailbox {login:?}: {e}")))? {
            true => {
                self.mailbox = Some(login.to_owned());
                Ok(())
            }
            false => Err(CallError::Invalid(format!("there is no employee {login:?}"))),
        }
    }

    fn local_time(&self) -> (LocalTime, String) {
        LocalTime::with_zone_name(jiff::Timestamp::now(), &self.timezone)
    }

    async fn is_open(&mut self, schedule: &str) -> Result<bool, CallError> {
        self.dial_env.is_open(schedule, self.local_time().0).await
    }

    async fn request_callback(&mut self, reason: &str) -> Result<(), CallError> {
        if !number::is_outside_number(&self.leg.caller) {
            return Err(CallError::Invalid(format!(
                "the caller {:?} has no number to call back",
                self.leg.caller
            )));
        }
        let reason = super::limits::callback_reason(reason, self.callbacks.len())?;
        self.callbacks.push(reason);
        Ok(())
    }

    fn ring_mobiles(&mut self, on: bool) {
        self.ring_mobiles = on;
    }

    async fn employee(&mut self, by: EmployeeKey<'_>) -> Result<Option<EmployeeCard>, CallError> {
        self.dial_env.employee(by).await
    }

    async fn presence(&mut self, login: &str) -> Result<LineStatus, CallError> {
        self.dial_env.line_status(login).await
    }

    async fn department(&mut self, key: &str) -> Result<Option<DepartmentCard>, CallError> {
        self.dial_env.department(key).await
    }

    async fn ring_time(&mut self, target: &Target) -> Result<Duration, CallError> {
        self.dial_env.ring_time(target).await
    }

    async fn last_connected(&mut self, number: &str, days: u32) -> Result<Option<String>, CallError> {
        self.dial_env.last_connected(number, days).await
    }

    async fn fetch(&mut self, request: HttpRequest) -> Result<HttpResponse, String> {
        self.dial_env.web.fetch(&self.allowed_hosts, request).await
    }

    async fn conference(&mut self, room: &str) -> Result<(), CallError> {
        super::limits::check_room(room)?;
        self.play(BEEP).await?;
        let side = match self.media.take() {
            Some(session) => session.into_bridge_side(),
            None => return Err(CallError::Failed("the call is not answered".into())),
        };
        let ours = side.local_sdp().map_err(|e| CallError::Failed(e.to_string()))?;
        // Rooms are the node's; a flow's names are its company's ('/' is no name's letter).
        let scoped = format!("{}/{room}", self.dial_env.company);
        let mut member = self.env.rooms.join(&scoped, side, self.dial_env.rtp_timeout);
        // Digits are not for anyone in a room; they are dropped.
        let handles = (ours, tokio::sync::mpsc::unbounded_channel().0);
        let max_call = self.dial_env.max_call;
        let ended = async {
            tokio::select! {
                _ = member.dead() => tracing::info!(%room, "no RTP from the caller in the conference: ending the call"),
                _ = tokio::time::sleep(max_call) => tracing::warn!(%room, "the call reached its maximum duration: hanging up"),
            }
        };
        Self::until_hangup(&mut self.leg, &mut self.gone, &handles, ended).await?;
        self.finish(UNAVAILABLE).await;
        Err(CallError::Hangup)
    }

    async fn hangup(&mut self) {
        self.finish(self.reject).await;
    }

    async fn reject(&mut self, code: u16, reason: &'static str) -> Result<(), CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        if self.answered_at.is_some() {
            return Err(CallError::Invalid("the call is answered: hang up instead".into()));
        }
        self.finish((code, reason)).await;
        Ok(())
    }

    fn take_recordings(&mut self) -> Vec<CallRecording> {
        std::mem::take(&mut self.recordings)
    }
}

#[async_trait::async_trait]
impl DigitSource for InboundCall {
    async fn play_interruptible(&mut self, prompt: &str) -> Result<Option<char>, CallError> {
        let prompt = self.prompt(prompt).await?;
        if self.over() {
            return Err(CallError::Hangup);
        }
        let Self { leg, gone, media, .. } = self;
        let (media, ours) = session(media)?;
        match Self::until_hangup(leg, gone, &ours, media.play(&prompt, true)).await? {
            PlayEnd::Finished => Ok(None),
            PlayEnd::Interrupted(d) => Ok(Some(d)),
        }
    }

    async fn digit_within(&mut self, timeout: Duration) -> Result<Option<char>, CallError> {
        if self.over() {
            return Err(CallError::Hangup);
        }
        let Self { leg, gone, media, .. } = self;
        let (media, ours) = session(media)?;
        let wait = tokio::time::timeout(timeout, media.next_digit());
        Ok(Self::until_hangup(leg, gone, &ours, wait).await?.ok().flatten())
    }
}

/// A whole-call recording keeps the first hour (both tracks are held in memory until the end).
const MAX_CALL_RECORDING: Duration = Duration::from_secs(3600);

/// How long a caller has to ACK our 200 OK (64 × T1, RFC 3261 §13.3.1.4).
const ACK_WAIT: Duration = Duration::from_secs(32);

/// Early media may pause (an announcement, then silence) without ending anything.
const EARLY_MEDIA_SILENCE: Duration = Duration::from_secs(3600);

/// A REFER before anyone is bridged has nobody to transfer.
fn no_transfer_yet(refer: crate::sip::Refer) {
    tokio::spawn(refer.refuse(403, "nobody is connected to transfer yet"));
}

/// How a dial goes besides its legs and options.
#[derive(Default)]
struct Dialing<'a> {
    /// Whoever answers hears an announcement and accepts with a digit first.
    screening: Option<&'a Screening>,
    /// Called once someone answered (and accepted), before the bridge: a queue takes the
    /// caller out of its line.
    on_answer: Option<&'a (dyn Fn() + Sync)>,
    /// A queue's agents ring: the call was offered to the queue, not to each of them.
    for_queue: bool,
}

/// What the caller hears while a dial rings.
struct Ringing {
    /// A leg rang (an answered caller hears the ringback prompt from then on), or the flow
    /// asked for a prompt (hold music), which plays from the start.
    rang: bool,
    /// The flow's prompt plays to a caller not answered yet, as early media.
    early_music: bool,
    /// The leg whose early media the caller hears.
    early: Option<crate::media::BridgeSide>,
    /// For an answered caller: the ringback or hold prompt.
    ringback: Option<crate::media::Prompt>,
}

/// What `until_hangup` needs of the media session while a verb holds it: our SDP (to answer
/// re-INVITEs) and the digit channel (for SIP INFO digits).
type SessionHandles = (LocalSdp, tokio::sync::mpsc::UnboundedSender<char>);

/// The media session of an answered call, and the handles `until_hangup` needs.
fn session(media: &mut Option<MediaSession>) -> Result<(&mut MediaSession, SessionHandles), CallError> {
    let media = media
        .as_mut()
        .ok_or_else(|| CallError::Failed("the call is not answered".into()))?;
    let ours = media.local_sdp().map_err(|e| CallError::Failed(e.to_string()))?;
    let digits = media.digit_injector();
    Ok((media, (ours, digits)))
}
