//! Prompts: audio decoded once to 8 kHz 16-bit mono, shared by every call that plays it.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use parking_lot::RwLock;

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
    #[error("unsupported WAV format: {0} (use 16-bit PCM mono at 8 or 16 kHz)")]
    Unsupported(String),
}

impl Prompt {
    /// Reads a 16-bit PCM mono WAV at 8 kHz, or 16 kHz (downsampled).
    pub fn from_wav(bytes: &[u8]) -> Result<Self, PromptError> {
        let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| PromptError::NotWav(e.to_string()))?;
        let spec = reader.spec();
        if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(PromptError::Unsupported(format!(
                "{} channel(s), {} bits {:?}",
                spec.channels, spec.bits_per_sample, spec.sample_format
            )));
        }
        let samples: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|e| PromptError::NotWav(e.to_string()))?;
        let samples = match spec.sample_rate {
            SAMPLE_RATE => samples,
            // Averaging pairs is a crude low-pass before decimation; good enough for speech prompts.
            16_000 => samples
                .chunks(2)
                .map(|p| ((p[0] as i32 + *p.get(1).unwrap_or(&p[0]) as i32) / 2) as i16)
                .collect(),
            other => return Err(PromptError::Unsupported(format!("{other} Hz"))),
        };
        Ok(Prompt {
            samples: samples.into(),
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

    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / SAMPLE_RATE as u64
    }
}

/// The tone callers hear while employees ring (played in a loop).
pub const RINGBACK: &str = "ringback";

/// Prompts by name. Built-in prompts are loaded at start; uploads are added at run time.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    prompts: RwLock<HashMap<String, Prompt>>,
}

/// The built-in prompts (English, espeak-ng voice), 8 kHz 16-bit mono WAV.
const BUILTIN: &[(&str, &[u8])] = &[
    ("ivr-greeting", include_bytes!("../../prompts/ivr-greeting.wav")),
    ("ivr-invalid", include_bytes!("../../prompts/ivr-invalid.wav")),
    ("all-busy", include_bytes!("../../prompts/all-busy.wav")),
    (
        "technical-difficulties",
        include_bytes!("../../prompts/technical-difficulties.wav"),
    ),
];

impl PromptLibrary {
    /// A library holding the built-in prompts.
    pub fn with_builtins() -> Self {
        let library = PromptLibrary::default();
        for (name, wav) in BUILTIN {
            let prompt = Prompt::from_wav(wav).unwrap_or_else(|e| panic!("built-in prompt {name} is broken: {e}"));
            library.insert(*name, prompt);
        }
        // ITU-T E.180 ringing tone as most of Europe and Russia use it: 425 Hz, 1 s on, 4 s off.
        library.insert(RINGBACK, Prompt::tone(425.0, 1000, 4000));
        library
    }

    pub fn insert(&self, name: impl Into<String>, prompt: Prompt) {
        self.prompts.write().insert(name.into(), prompt);
    }

    pub fn get(&self, name: &str) -> Option<Prompt> {
        self.prompts.read().get(name).cloned()
    }
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
    fn builtins_load() {
        let lib = PromptLibrary::with_builtins();
        assert!(lib.get("ivr-greeting").unwrap().duration_ms() > 1000);
        assert!(lib.get("nope").is_none());
        assert_eq!(lib.get(RINGBACK).unwrap().duration_ms(), 5000);
    }

    #[test]
    fn reads_8k_and_downsamples_16k() {
        assert_eq!(Prompt::from_wav(&wav(8000, 1, 8000)).unwrap().duration_ms(), 1000);
        assert_eq!(Prompt::from_wav(&wav(16000, 1, 16000)).unwrap().duration_ms(), 1000);
    }

    #[test]
    fn refuses_other_formats() {
        assert!(matches!(
            Prompt::from_wav(&wav(44100, 1, 10)),
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
