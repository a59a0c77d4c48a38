//! One leg's media: an RTP socket, the prompt player and the digit receiver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::dtmf::DtmfReceiver;
use super::inband::InbandDetector;
use super::ports::RtpSocket;
use super::prompt::{Prompt, SAMPLE_RATE};
use super::recorder::Recorder;
use super::rtp::{HEADER_LEN, RtpPacket, RtpSender};
use super::sdp::MediaOffer;

/// How a prompt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayEnd {
    Finished,
    /// A digit arrived and barge-in was on; the digit is handed over, not lost.
    Interrupted(char),
}

/// How a recording ended (the caller hanging up ends it from outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    MaxLength,
    Silence,
    Digit(char),
}

/// The recording the receive loop fills while something records the party.
type AudioTap = Arc<parking_lot::Mutex<Option<Listening>>>;

pub struct MediaSession {
    socket: Arc<RtpSocket>,
    offer: MediaOffer,
    /// The o= session id of our answer.
    session_id: u64,
    /// Shared with the task that paces a prompt (see [`MediaSession::play`]).
    sender: Arc<parking_lot::Mutex<RtpSender>>,
    digits: mpsc::UnboundedReceiver<char>,
    /// Feeds `digits`: the RTP receiver's, and digits signalled otherwise (SIP INFO).
    digit_tx: mpsc::UnboundedSender<char>,
    receiver: JoinHandle<()>,
    tap: AudioTap,
}

impl MediaSession {
    pub fn start(socket: RtpSocket, offer: MediaOffer, session_id: u64) -> Self {
        Self::on_socket(Arc::new(socket), offer, session_id)
    }

    /// A session on one side of a bridge not yet made — to speak to a callee before he is put
    /// through (screening); [`MediaSession::into_bridge_side`] gives the side back.
    pub fn on_side(side: super::BridgeSide) -> Self {
        Self::on_socket(side.socket, side.media, side.session_id)
    }

    fn on_socket(socket: Arc<RtpSocket>, offer: MediaOffer, session_id: u64) -> Self {
        socket.expect(offer.remote, offer.payload_type, offer.telephone_event);
        let (digit_tx, digits) = mpsc::unbounded_channel();
        let tap = AudioTap::default();
        let receiver = tokio::spawn(receive_loop(
            socket.clone(),
            offer.clone(),
            digit_tx.clone(),
            tap.clone(),
        ));
        let sender = Arc::new(parking_lot::Mutex::new(RtpSender::new(
            rand::random(),
            rand::random(),
            rand::random(),
        )));
        MediaSession {
            socket,
            offer,
            session_id,
            sender,
            digits,
            digit_tx,
            receiver,
            tap,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn offer(&self) -> &MediaOffer {
        &self.offer
    }

    /// Whether what we send reaches the party now (it proved its address: see `RtpSocket`).
    pub fn reachable(&self) -> bool {
        self.socket.destination().is_some()
    }

    /// Our end of the session, to answer re-INVITEs with.
    pub fn local_sdp(&self) -> std::io::Result<super::LocalSdp> {
        self.bridge_side().local_sdp()
    }

    /// The socket and what was negotiated on it, as a relay sees them.
    fn bridge_side(&self) -> super::BridgeSide {
        super::BridgeSide::new(self.socket.clone(), self.offer.clone(), self.session_id)
    }

    /// Our SDP answer for this session.
    pub fn answer(&self) -> std::io::Result<String> {
        Ok(self.offer.answer(self.local_addr()?, self.session_id))
    }

    /// Sends the prompt as RTP, one packet per ptime, paced by the clock — from its start, once
    /// the peer has proven it receives (see `RtpSocket`): nothing is clipped, nothing is sent
    /// to an address a stranger named.
    ///
    /// The packets are paced by a task of their own, stopped when this future is dropped:
    /// whoever waits for the prompt — a flow, whose CPU budget counts every wake-up — is woken
    /// when it ends or a digit comes, not 50 times a second.
    pub async fn play(&mut self, prompt: &Prompt, barge_in: bool) -> PlayEnd {
        tokio::select! {
            biased;
            Some(digit) = self.digits.recv(), if barge_in => return PlayEnd::Interrupted(digit),
            _ = self.socket.sendable() => {}
        }
        let mut pacing = AbortOnDropHandle::new(tokio::spawn(pace(
            self.socket.clone(),
            self.offer.clone(),
            self.sender.clone(),
            prompt.clone(),
        )));
        tokio::select! {
            biased;
            Some(digit) = self.digits.recv(), if barge_in => PlayEnd::Interrupted(digit),
            _ = &mut pacing => PlayEnd::Finished,
        }
    }

    /// Where digits that arrive outside RTP (SIP INFO) join the ones from RFC 4733 events.
    pub fn digit_injector(&self) -> mpsc::UnboundedSender<char> {
        self.digit_tx.clone()
    }

    /// Stops listening for digits so that a relay can use the socket for a while (early media);
    /// [`MediaSession::resume`] listens again.
    pub fn suspend(&mut self) -> super::BridgeSide {
        self.receiver.abort();
        self.bridge_side()
    }

    pub fn resume(&mut self) {
        if !self.receiver.is_finished() {
            return;
        }
        self.receiver = tokio::spawn(receive_loop(
            self.socket.clone(),
            self.offer.clone(),
            self.digit_tx.clone(),
            self.tap.clone(),
        ));
    }

    /// Stops listening for digits and hands the socket to a bridge.
    pub fn into_bridge_side(mut self) -> super::BridgeSide {
        self.suspend()
    }

    /// Records the party into `recorder` until it is full, `silence` passes without speech (or
    /// without any audio), or a terminator digit comes. Digits typed before it started are
    /// not terminators. Dropping the future stops recording; what was heard stays in `recorder`.
    ///
    /// The receive loop fills the recorder as the party's audio arrives and says when it is
    /// done: this future wakes for a digit or the end, not for every frame.
    pub async fn record(&mut self, recorder: &mut Recorder, silence: Option<Duration>, terminators: &str) -> RecordEnd {
        while self.digits.try_recv().is_ok() {}
        // Without audio, the wall clock still ends it (a phone that sends nothing on mute).
        let max = tokio::time::sleep(recorder.max_length() + Duration::from_secs(1));
        let (done, mut ended) = oneshot::channel();
        let tapped = Tapped::new(&self.tap, recorder, silence, done);
        tokio::pin!(max);
        loop {
            let quiet_until = silence.map(|s| tapped.last_audio() + s);
            tokio::select! {
                biased;
                Some(digit) = self.digits.recv() => {
                    if terminators.contains(digit) {
                        return RecordEnd::Digit(digit);
                    }
                }
                // The receive loop filled the recorder, or heard `silence` pass without speech.
                end = &mut ended => return end.unwrap_or(RecordEnd::Silence),
                _ = &mut max => return RecordEnd::MaxLength,
                // No audio at all for `silence` is silence too; audio that came meanwhile
                // starts the wait again from its last frame.
                () = tokio::time::sleep_until(quiet_until.unwrap_or_else(Instant::now)), if quiet_until.is_some() => {
                    if silence.is_some_and(|s| tapped.last_audio() + s <= Instant::now()) {
                        return RecordEnd::Silence;
                    }
                }
            }
        }
    }

    /// Waits for the next digit (the caller may have typed ahead).
    pub async fn next_digit(&mut self) -> Option<char> {
        self.digits.recv().await
    }
}

/// A recording the receive loop fills.
#[derive(Debug)]
struct Listening {
    recorder: Recorder,
    silence: Option<Duration>,
    /// When the party's last audio frame arrived.
    last_audio: Instant,
    /// Told how the recording ended, once.
    done: Option<oneshot::Sender<RecordEnd>>,
}

impl Listening {
    /// One frame of the party's audio.
    fn hear(&mut self, timestamp: u32, frame: impl ExactSizeIterator<Item = i16>) {
        if self.done.is_none() {
            return; // ended: the recording waits to be taken back
        }
        self.recorder.push(timestamp, frame);
        self.last_audio = Instant::now();
        let end = if self.recorder.is_full() {
            Some(RecordEnd::MaxLength)
        } else if self.silence.is_some_and(|s| self.recorder.silence() >= s) {
            Some(RecordEnd::Silence)
        } else {
            None
        };
        if let Some(end) = end
            && let Some(done) = self.done.take()
        {
            let _ = done.send(end);
        }
    }
}

/// Lends a recorder to the receive loop while it lives, and gives it back when dropped.
struct Tapped<'a> {
    tap: &'a AudioTap,
    recorder: &'a mut Recorder,
}

impl<'a> Tapped<'a> {
    fn new(
        tap: &'a AudioTap,
        recorder: &'a mut Recorder,
        silence: Option<Duration>,
        done: oneshot::Sender<RecordEnd>,
    ) -> Self {
        *tap.lock() = Some(Listening {
            recorder: std::mem::replace(recorder, Recorder::new(Duration::ZERO)),
            silence,
            last_audio: Instant::now(),
            done: Some(done),
        });
        Tapped { tap, recorder }
    }

    fn last_audio(&self) -> Instant {
        self.tap.lock().as_ref().map_or_else(Instant::now, |l| l.last_audio)
    }
}

impl Drop for Tapped<'_> {
    fn drop(&mut self) {
        if let Some(listening) = self.tap.lock().take() {
            *self.recorder = listening.recorder;
        }
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

/// Sends `prompt` to the party, one packet per ptime.
async fn pace(socket: Arc<RtpSocket>, offer: MediaOffer, sender: Arc<parking_lot::Mutex<RtpSender>>, prompt: Prompt) {
    let samples_per_packet = (SAMPLE_RATE / 1000 * offer.ptime) as usize;
    let mut interval = tokio::time::interval(Duration::from_millis(offer.ptime as u64));
    let mut payload = vec![0u8; samples_per_packet];
    let mut packet = vec![0u8; HEADER_LEN + samples_per_packet];
    sender.lock().mark_talkspurt();
    for frame in prompt.samples().chunks(samples_per_packet) {
        interval.tick().await;
        for (out, sample) in payload.iter_mut().zip(frame.iter().chain(std::iter::repeat(&0))) {
            *out = offer.codec.encode(*sample);
        }
        let n = sender
            .lock()
            .write(&mut packet, offer.payload_type, &payload, samples_per_packet as u32);
        // A lost datagram is a media glitch, not a reason to stop the prompt.
        socket.send_media(&packet[..n]).await;
    }
}

/// Turns the caller's RTP into digits: RFC 4733 events when negotiated, else tones heard in
/// the audio (in-band DTMF); and into audio frames while a recorder listens.
async fn receive_loop(socket: Arc<RtpSocket>, offer: MediaOffer, digits: mpsc::UnboundedSender<char>, tap: AudioTap) {
    let mut buf = [0u8; 2048];
    let mut events = DtmfReceiver::default();
    let mut inband = offer.telephone_event.is_none().then(InbandDetector::default);
    loop {
        let Ok((n, _from)) = socket.recv_media(&mut buf).await else {
            continue;
        };
        let Some(packet) = RtpPacket::parse(&buf[..n]) else {
            continue;
        };
        if packet.payload_type == offer.payload_type
            && let Some(listening) = tap.lock().as_mut()
        {
            listening.hear(packet.timestamp, packet.payload.iter().map(|b| offer.codec.decode(*b)));
        }
        let digit = if Some(packet.payload_type) == offer.telephone_event {
            events.on_packet(packet.timestamp, packet.payload)
        } else if let (Some(detector), true) = (inband.as_mut(), packet.payload_type == offer.payload_type) {
            detector.push(packet.payload.iter().map(|b| offer.codec.decode(*b)))
        } else {
            None
        };
        if let Some(digit) = digit {
            tracing::debug!(%digit, "digit");
            if digits.send(digit).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sdp::Codec;
    use super::super::testing::polled;
    use super::*;
    use tokio::net::UdpSocket;

    /// A session on loopback whose party is `peer`.
    async fn session() -> (MediaSession, UdpSocket) {
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ours = RtpSocket::plain(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let offer = MediaOffer {
            remote: peer.local_addr().unwrap(),
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: None,
            ptime: 20,
        };
        (MediaSession::start(ours, offer, 1), peer)
    }

    /// The datagrams `peer` received within `wait`.
    async fn received(peer: &UdpSocket, wait: Duration) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(Ok(n)) = tokio::time::timeout(wait, peer.recv(&mut buf)).await {
            got.push(buf[..n].to_vec());
        }
        got
    }

    /// A flow waiting for a prompt is charged for every wake-up (its CPU budget): a half-second
    /// prompt is 25 packets to the party, but only a few polls of whoever waits for it.
    #[tokio::test]
    async fn a_prompt_reaches_the_party_without_waking_its_listener_per_packet() {
        let (mut session, peer) = session().await;
        let (end, polls) = polled(session.play(&Prompt::tone(440.0, 500, 0), false)).await;
        assert_eq!(end, PlayEnd::Finished);
        let packets = received(&peer, Duration::from_millis(200)).await;
        assert_eq!(packets.len(), 25, "one packet per 20 ms");
        assert!(
            packets
                .iter()
                .all(|p| RtpPacket::parse(p).is_some_and(|p| p.payload_type == 0))
        );
        assert!(polls <= 4, "the listener was polled {polls} times");
    }

    /// A digit stops the prompt at once: nothing more is sent after it.
    #[tokio::test]
    async fn a_digit_stops_the_prompt_and_its_packets() {
        let (mut session, peer) = session().await;
        let digits = session.digit_injector();
        let typed = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            digits.send('5').unwrap();
        };
        let prompt = Prompt::tone(440.0, 3000, 0);
        let (end, ()) = tokio::join!(session.play(&prompt, true), typed);
        assert_eq!(end, PlayEnd::Interrupted('5'));
        let sent = received(&peer, Duration::from_millis(100)).await.len();
        assert!((5..=15).contains(&sent), "{sent} packets before the digit");
        let after = received(&peer, Duration::from_millis(300)).await;
        assert!(after.is_empty(), "{} packets after the digit", after.len());
    }

    /// The party's RTP from `peer`: `loud` frames of a tone, then `quiet` frames of silence, one
    /// per 20 ms.
    async fn speak(peer: Arc<UdpSocket>, to: SocketAddr, loud: usize, quiet: usize) {
        let mut sender = RtpSender::new(7, 1, 0);
        let tone = Prompt::tone(440.0, 20 * loud as u32, 20 * quiet as u32);
        let mut packet = [0u8; 2048];
        let mut interval = tokio::time::interval(Duration::from_millis(20));
        for frame in tone.samples().chunks(160) {
            interval.tick().await;
            let payload: Vec<u8> = frame.iter().map(|s| Codec::Pcmu.encode(*s)).collect();
            let n = sender.write(&mut packet, 0, &payload, 160);
            peer.send_to(&packet[..n], to).await.unwrap();
        }
    }

    /// The receive loop fills the recorder: recording a second of speech and the silence after
    /// it wakes whoever waits a few times, not once per frame.
    #[tokio::test]
    async fn a_recording_ends_on_silence_without_waking_its_listener_per_frame() {
        let (mut session, peer) = session().await;
        let ours = session.local_addr().unwrap();
        let mut recorder = Recorder::new(Duration::from_secs(10));
        // The party speaks in a task of its own, so that only the recording's wake-ups count.
        tokio::spawn(speak(Arc::new(peer), ours, 50, 60));
        let (end, polls) = polled(session.record(&mut recorder, Some(Duration::from_millis(600)), "#")).await;
        assert_eq!(end, RecordEnd::Silence);
        assert!(polls <= 8, "the listener was polled {polls} times");
        assert!(recorder.heard_speech());
        let made = recorder.finish().unwrap();
        assert!(
            (1_000..=1_700).contains(&made.duration_ms),
            "{} ms kept",
            made.duration_ms
        );
    }

    /// A party that sends nothing at all is silent too, and a full recorder ends the recording.
    #[tokio::test]
    async fn no_audio_is_silence_and_a_full_recorder_ends_it() {
        let (mut session, peer) = session().await;
        let mut recorder = Recorder::new(Duration::from_secs(10));
        let end = session
            .record(&mut recorder, Some(Duration::from_millis(300)), "")
            .await;
        assert_eq!(end, RecordEnd::Silence);
        let ours = session.local_addr().unwrap();
        let mut short = Recorder::new(Duration::from_millis(400));
        let (end, ()) = tokio::join!(session.record(&mut short, None, ""), speak(Arc::new(peer), ours, 50, 0));
        assert_eq!(end, RecordEnd::MaxLength);
        assert_eq!(short.finish().unwrap().duration_ms, 400);
    }
}
