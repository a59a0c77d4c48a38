//! Recording what a party says (voicemail): decoded audio gathered at 8 kHz 16-bit mono, gaps in
//! the RTP timestamps filled with silence so the recording keeps real time, silence measured per
//! frame so that a pause can end it, and trailing silence trimmed when it is finished.

use std::time::Duration;

use tokio::time::Instant;

use super::bridge::Party;
use super::prompt::{SAMPLE_RATE, wav_bytes};

/// A frame whose RMS is below this is silence (≈ -38 dBFS: quiet room noise and G.711's idle
/// codes stay under it; speech is well above).
const SILENCE_RMS: f64 = 400.0;
/// A timestamp jump larger than this is a new stream (the phone restarted its clock), not lost
/// packets: nothing is inserted.
const MAX_GAP_SAMPLES: u32 = 2 * SAMPLE_RATE;
/// How much of the trailing silence a finished recording keeps.
const KEPT_TAIL: usize = (SAMPLE_RATE / 2) as usize;

#[derive(Debug)]
pub struct Recorder {
    samples: Vec<i16>,
    max_samples: usize,
    /// How many samples at the end are silence.
    silent_tail: usize,
    heard_speech: bool,
    /// The RTP timestamp the next frame should carry.
    next_timestamp: Option<u32>,
}

/// A whole call: each party of a bridge on its own track, placed in time by when its audio
/// first arrived; finished as a stereo WAV (party A, the caller, on the left).
#[derive(Debug)]
pub struct CallRecorder {
    start: Instant,
    tracks: [Track; 2],
}

#[derive(Debug)]
struct Track {
    recorder: Recorder,
    /// Samples between the start of the recording and this party's first audio.
    offset: Option<usize>,
}

impl CallRecorder {
    pub fn new(max: Duration) -> Self {
        let track = || Track {
            recorder: Recorder::new(max),
            offset: None,
        };
        CallRecorder {
            start: Instant::now(),
            tracks: [track(), track()],
        }
    }

    pub fn push(&mut self, party: Party, timestamp: u32, frame: impl ExactSizeIterator<Item = i16>) {
        let track = &mut self.tracks[party as usize];
        let since_start = self.start.elapsed().as_millis() as usize * SAMPLE_RATE as usize / 1000;
        track.offset.get_or_insert(since_start);
        track.recorder.push(timestamp, frame);
    }

    /// The stereo WAV of what was recorded, which is taken out; `None` when neither party said
    /// anything.
    pub fn finish(&mut self) -> Option<Recorded> {
        if !self.tracks.iter().any(|t| t.recorder.heard_speech()) {
            return None;
        }
        let [a, b] = [0, 1].map(|party| {
            let track = &mut self.tracks[party];
            (track.offset.unwrap_or(0), std::mem::take(&mut track.recorder.samples))
        });
        let frames = (a.0 + a.1.len()).max(b.0 + b.1.len());
        let at = |(offset, samples): &(usize, Vec<i16>), i: usize| {
            i.checked_sub(*offset)
                .and_then(|i| samples.get(i))
                .copied()
                .unwrap_or(0)
        };
        let interleaved: Vec<i16> = (0..frames).flat_map(|i| [at(&a, i), at(&b, i)]).collect();
        Some(Recorded {
            wav: wav_bytes(&interleaved, 2),
            duration_ms: (frames as u64 * 1000 / SAMPLE_RATE as u64) as u32,
        })
    }
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// A 16-bit PCM mono WAV at 8 kHz.
    pub wav: Vec<u8>,
    pub duration_ms: u32,
}

impl Recorder {
    pub fn new(max: Duration) -> Self {
        let max_samples = (max.as_millis() as usize).saturating_mul(SAMPLE_RATE as usize) / 1000;
        Recorder {
            samples: Vec::with_capacity(max_samples.min(60 * SAMPLE_RATE as usize)),
            max_samples,
            silent_tail: 0,
            heard_speech: false,
            next_timestamp: None,
        }
    }

    /// Adds a frame that arrived with RTP timestamp `timestamp`.
    pub fn push(&mut self, timestamp: u32, frame: impl ExactSizeIterator<Item = i16>) {
        let len = frame.len() as u32;
        if let Some(expected) = self.next_timestamp {
            let gap = timestamp.wrapping_sub(expected);
            let behind = expected.wrapping_sub(timestamp);
            if gap > 0 && gap <= MAX_GAP_SAMPLES {
                // Lost packets: the time they covered passes in silence.
                self.append(std::iter::repeat_n(0, gap as usize));
            } else if behind > 0 && behind <= MAX_GAP_SAMPLES {
                return; // late (reordered or duplicated): its place in time has passed
            }
            // Anything further off is a new stream (another SSRC, a restarted clock): it just
            // goes on from here.
        }
        self.next_timestamp = Some(timestamp.wrapping_add(len));
        self.append(frame);
    }

    fn append(&mut self, frame: impl Iterator<Item = i16>) {
        let start = self.samples.len();
        let room = self.max_samples - start;
        self.samples.extend(frame.take(room));
        let added = &self.samples[start..];
        if added.is_empty() {
            return;
        }
        let energy: f64 = added.iter().map(|s| (*s as f64).powi(2)).sum();
        if (energy / added.len() as f64).sqrt() < SILENCE_RMS {
            self.silent_tail += added.len();
        } else {
            self.silent_tail = 0;
            self.heard_speech = true;
        }
    }

    /// The silence since the caller last spoke (or since the start).
    pub fn silence(&self) -> Duration {
        Duration::from_millis(self.silent_tail as u64 * 1000 / SAMPLE_RATE as u64)
    }

    pub fn heard_speech(&self) -> bool {
        self.heard_speech
    }

    pub fn max_length(&self) -> Duration {
        Duration::from_millis(self.max_samples as u64 * 1000 / SAMPLE_RATE as u64)
    }

    /// The maximum length is reached.
    pub fn is_full(&self) -> bool {
        self.samples.len() >= self.max_samples
    }

    /// The recording as a WAV, trailing silence cut to half a second; `None` when nothing but
    /// silence was heard.
    pub fn finish(mut self) -> Option<Recorded> {
        if !self.heard_speech {
            return None;
        }
        let cut = self.silent_tail.saturating_sub(KEPT_TAIL);
        self.samples.truncate(self.samples.len() - cut);
        Some(Recorded {
            wav: wav_bytes(&self.samples, 1),
            duration_ms: (self.samples.len() as u64 * 1000 / SAMPLE_RATE as u64) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Prompt;

    fn speech(n: usize) -> impl ExactSizeIterator<Item = i16> {
        (0..n).map(|i| if i % 2 == 0 { 3000 } else { -3000 })
    }

    #[test]
    fn keeps_real_time_across_lost_packets_and_ignores_late_ones() {
        let mut r = Recorder::new(Duration::from_secs(10));
        r.push(1000, speech(160));
        r.push(1320, speech(160)); // one packet lost
        r.push(1160, speech(160)); // it arrives late: dropped
        r.push(4_000_000_000, speech(160)); // a new stream, far away in timestamps: appended
        r.push(4_000_000_160, speech(160));
        let rec = r.finish().unwrap();
        assert_eq!(rec.duration_ms, 100);
        let back = Prompt::from_wav(&rec.wav).unwrap();
        assert_eq!(back.samples().len(), 800);
        assert!(back.samples()[160..320].iter().all(|s| *s == 0));
    }

    #[test]
    fn measures_silence_and_trims_it_at_the_end() {
        let mut r = Recorder::new(Duration::from_secs(10));
        r.push(0, std::iter::repeat_n(0i16, 800));
        assert!(!r.heard_speech());
        r.push(800, speech(8000));
        assert_eq!(r.silence(), Duration::ZERO);
        r.push(8800, std::iter::repeat_n(5i16, 16000));
        assert_eq!(r.silence(), Duration::from_secs(2));
        // 0.1 s silence + 1 s speech + 0.5 s of the 2 s silence kept.
        assert_eq!(r.finish().unwrap().duration_ms, 1600);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_recording_places_each_party_in_time_on_its_own_channel() {
        let mut call = CallRecorder::new(Duration::from_secs(60));
        call.push(Party::A, 0, speech(160));
        tokio::time::advance(Duration::from_millis(100)).await;
        call.push(Party::B, 5000, speech(160));
        let rec = call.finish().unwrap();
        assert_eq!(rec.duration_ms, 120);
        let reader = hound::WavReader::new(std::io::Cursor::new(rec.wav)).unwrap();
        assert_eq!(reader.spec().channels, 2);
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        let (left, right): (Vec<i16>, Vec<i16>) = samples.chunks(2).map(|f| (f[0], f[1])).unzip();
        assert!(left[..160].iter().all(|s| s.abs() == 3000) && left[160..].iter().all(|s| *s == 0));
        assert!(right[..800].iter().all(|s| *s == 0) && right[800..].iter().all(|s| s.abs() == 3000));
    }

    #[test]
    fn stops_at_the_maximum_and_silence_alone_is_no_recording() {
        let mut r = Recorder::new(Duration::from_millis(100));
        r.push(0, speech(1000));
        assert!(r.is_full());
        assert_eq!(r.finish().unwrap().duration_ms, 100);
        let mut quiet = Recorder::new(Duration::from_secs(1));
        quiet.push(0, std::iter::repeat_n(0i16, 4000));
        assert_eq!(quiet.finish(), None);
    }
}
