//! Prompts: audio decoded once to 8 kHz 16-bit mono, shared by every call that plays it; WAV in
//! and out, and resampling.

use std::io::Cursor;
use std::sync::Arc;

pub const SAMPLE_RATE: u32 = 8_000;

/// Decoded audio at 8 kHz.
#[derive(Debug, Clone)]
pub struct Prompt {
    samples: Arc<[i16]>,
}

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("not a WAV file: {0}")]
    NotWav(String),
    #[error("unsupported WAV format: {0} (use 16-bit PCM mono at 8 to 48 kHz)")]
    Unsupported(String),
    #[error("unknown prompt {0:?}")]
    Unknown(String),
    #[error("text-to-speech: {0}")]
    Speech(String),
}

impl Prompt {
    /// Reads a 16-bit PCM mono WAV at 8 to 48 kHz (resampled to 8 kHz).
    pub fn from_wav(bytes: &[u8]) -> Result<Self, PromptError> {
        let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| PromptError::NotWav(e.to_string()))?;
        let spec = reader.spec();
        if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(PromptError::Unsupported(format!(
                "{} channel(s), {} bits {:?}",
                spec.channels, spec.bits_per_sample, spec.sample_format
            )));
        }
        if !(SAMPLE_RATE..=48_000).contains(&spec.sample_rate) {
            return Err(PromptError::Unsupported(format!("{} Hz", spec.sample_rate)));
        }
        let samples: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|e| PromptError::NotWav(e.to_string()))?;
        Ok(Prompt {
            samples: resample(&samples, spec.sample_rate, SAMPLE_RATE).into(),
        })
    }

    /// A tone of `hz` for `on_ms`, then `off_ms` of silence (one cadence cycle).
    pub fn tone(hz: f32, on_ms: u32, off_ms: u32) -> Self {
        let on = (SAMPLE_RATE * on_ms / 1000) as usize;
        let off = (SAMPLE_RATE * off_ms / 1000) as usize;
        let step = std::f32::consts::TAU * hz / SAMPLE_RATE as f32;
        // -13 dBm0-ish: loud enough to hear, far from clipping after G.711.
        let samples = (0..on)
            .map(|i| ((i as f32 * step).sin() * 7000.0) as i16)
            .chain(std::iter::repeat_n(0, off))
            .collect::<Vec<_>>();
        Prompt {
            samples: samples.into(),
        }
    }

    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The prompt as a WAV (8 kHz 16-bit mono), as it is stored.
    pub fn to_wav(&self) -> Vec<u8> {
        wav_bytes(&self.samples, 1)
    }

    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / SAMPLE_RATE as u64
    }
}

/// 16-bit PCM WAV at 8 kHz; `samples` interleaved when `channels` is 2.
pub fn wav_bytes(samples: &[i16], channels: u16) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        // Writing into memory cannot fail.
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("WAV header into memory");
        let mut fast = writer.get_i16_writer(samples.len() as u32);
        for s in samples {
            fast.write_sample(*s);
        }
        fast.flush().expect("WAV samples into memory");
        writer.finalize().expect("WAV into memory");
    }
    out.into_inner()
}

/// Converts `samples` from `from` Hz to `to` Hz (`to` ≤ `from`) with a windowed-sinc filter
/// whose cut-off sits below the new Nyquist frequency, so speech keeps its clarity and nothing
/// above 4 kHz folds back as noise. Written here rather than taken from a resampling crate: it
/// runs once per prompt (upload, text-to-speech), and 30 lines need no FFT machinery.
fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return samples.to_vec();
    }
    const HALF_TAPS: isize = 16;
    let ratio = from as f64 / to as f64;
    // Cut-off at 90 % of the output's Nyquist frequency, in input samples.
    let cutoff = 0.9 / ratio;
    let out_len = (samples.len() as f64 / ratio) as usize;
    (0..out_len)
        .map(|n| {
            let centre = n as f64 * ratio;
            let first = centre.floor() as isize - HALF_TAPS * ratio.ceil() as isize;
            let last = centre.floor() as isize + HALF_TAPS * ratio.ceil() as isize;
            let (mut sum, mut weights) = (0.0, 0.0);
            for k in first.max(0)..=last.min(samples.len() as isize - 1) {
                let x = k as f64 - centre;
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / (last - first) as f64 * 2.0).cos();
                let arg = std::f64::consts::PI * x * cutoff;
                let sinc = if arg.abs() < 1e-9 { 1.0 } else { arg.sin() / arg };
                sum += samples[k as usize] as f64 * sinc * window;
                weights += sinc * window;
            }
            (sum / weights).round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: usize) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for i in 0..samples {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn reads_8k_and_resamples_higher_rates() {
        assert_eq!(Prompt::from_wav(&wav(8000, 1, 8000)).unwrap().duration_ms(), 1000);
        assert_eq!(Prompt::from_wav(&wav(16000, 1, 16000)).unwrap().duration_ms(), 1000);
        assert_eq!(Prompt::from_wav(&wav(22050, 1, 22050)).unwrap().duration_ms(), 1000);
    }

    fn sine(hz: f64, rate: u32) -> Vec<i16> {
        (0..rate)
            .map(|i| ((i as f64 * std::f64::consts::TAU * hz / rate as f64).sin() * 10_000.0) as i16)
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn resampling_keeps_speech_and_drops_what_would_fold_back() {
        for from in [16_000, 22_050, 44_100] {
            let kept = resample(&sine(1000.0, from), from, SAMPLE_RATE);
            assert_eq!(kept.len(), SAMPLE_RATE as usize);
            // 10 000 peak → RMS 7071 when the tone passes untouched.
            assert!((rms(&kept[100..7900]) - 7071.0).abs() < 300.0, "{from}: {}", rms(&kept));
            // 6 kHz would alias to 2 kHz at 8 kHz: the filter must remove it.
            let folded = resample(&sine(6000.0, from), from, SAMPLE_RATE);
            assert!(rms(&folded[100..7900]) < 400.0, "{from}: {}", rms(&folded));
        }
    }

    #[test]
    fn refuses_other_formats() {
        assert!(matches!(
            Prompt::from_wav(&wav(96000, 1, 10)),
            Err(PromptError::Unsupported(_))
        ));
        assert!(matches!(
            Prompt::from_wav(&wav(8000, 2, 10)),
            Err(PromptError::Unsupported(_))
        ));
        assert!(matches!(
            Prompt::from_wav(b"RIFF nonsense"),
            Err(PromptError::NotWav(_))
        ));
    }
}
