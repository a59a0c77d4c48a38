//! One leg's media: an RTP socket, the prompt player and the digit receiver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

/// A decoded audio frame and its RTP timestamp.
type Frame = (u32, Vec<i16>);

/// Where the receive loop sends the party's audio while something records it.
type AudioTap = Arc<parking_lot::Mutex<Option<mpsc::Sender<Frame>>>>;

pub struct MediaSession {
    socket: Arc<RtpSocket>,
    offer: MediaOffer,
    /// The o= session id of our answer.
    session_id: u64,
    sender: RtpSender,
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
        let sender = RtpSender::new(rand::random(), rand::random(), rand::random());
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
    pub async fn play(&mut self, prompt: &Prompt, barge_in: bool) -> PlayEnd {
        tokio::select! {
            biased;
            Some(digit) = self.digits.recv(), if barge_in => return PlayEnd::Interrupted(digit),
            _ = self.socket.sendable() => {}
        }
        let samples_per_packet = (SAMPLE_RATE / 1000 * self.offer.ptime) as usize;
        let mut interval = tokio::time::interval(Duration::from_millis(self.offer.ptime as u64));
        let mut payload = vec![0u8; samples_per_packet];
        let mut packet = vec![0u8; HEADER_LEN + samples_per_packet];
        self.sender.mark_talkspurt();
        for frame in prompt.samples().chunks(samples_per_packet) {
            if barge_in {
                tokio::select! {
                    biased;
                    Some(digit) = self.digits.recv() => return PlayEnd::Interrupted(digit),
                    _ = interval.tick() => {}
                }
            } else {
                interval.tick().await;
            }
            let codec = self.offer.codec;
            for (out, sample) in payload.iter_mut().zip(frame.iter().chain(std::iter::repeat(&0))) {
                *out = codec.encode(*sample);
            }
            let n = self.sender.write(
                &mut packet,
                self.offer.payload_type,
                &payload,
                samples_per_packet as u32,
            );
            // A lost datagram is a media glitch, not a reason to stop the prompt.
            self.socket.send_media(&packet[..n]).await;
        }
        PlayEnd::Finished
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
    pub async fn record(&mut self, recorder: &mut Recorder, silence: Option<Duration>, terminators: &str) -> RecordEnd {
        while self.digits.try_recv().is_ok() {}
        let (tx, mut frames) = mpsc::channel(64);
        let _tapped = Tapped::new(&self.tap, tx);
        // Without audio, the wall clock still ends it (a phone that sends nothing on mute).
        let max = tokio::time::sleep(recorder.max_length() + Duration::from_secs(1));
        tokio::pin!(max);
        let no_audio = silence.unwrap_or(Duration::MAX);
        loop {
            tokio::select! {
                biased;
                Some(digit) = self.digits.recv() => {
                    if terminators.contains(digit) {
                        return RecordEnd::Digit(digit);
                    }
                }
                frame = tokio::time::timeout(no_audio, frames.recv()) => match frame {
                    Ok(Some((timestamp, samples))) => {
                        recorder.push(timestamp, samples.into_iter());
                        if recorder.is_full() {
                            return RecordEnd::MaxLength;
                        }
                        if silence.is_some_and(|s| recorder.silence() >= s) {
                            return RecordEnd::Silence;
                        }
                    }
                    Ok(None) => return RecordEnd::Silence, // the receiver stopped: nothing more to hear
                    Err(_) => return RecordEnd::Silence,
                },
                _ = &mut max => return RecordEnd::MaxLength,
            }
        }
    }

    /// Waits for the next digit (the caller may have typed ahead).
    pub async fn next_digit(&mut self) -> Option<char> {
        self.digits.recv().await
    }
}

/// Routes the party's audio to a recorder while it lives.
struct Tapped<'a>(&'a AudioTap);

impl<'a> Tapped<'a> {
    fn new(tap: &'a AudioTap, to: mpsc::Sender<Frame>) -> Self {
        *tap.lock() = Some(to);
        Tapped(tap)
    }
}

impl Drop for Tapped<'_> {
    fn drop(&mut self) {
        self.0.lock().take();
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        self.receiver.abort();
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
            && let Some(tap) = tap.lock().as_ref()
        {
            let frame = packet.payload.iter().map(|b| offer.codec.decode(*b)).collect();
            // A recorder that falls behind loses a frame, not the call.
            let _ = tap.try_send((packet.timestamp, frame));
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
