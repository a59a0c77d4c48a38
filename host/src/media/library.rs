//! The prompt library: prompts by name (built-in, uploaded) and spoken text (`tts:`).

use crate::tenant::CompanyId;
use std::collections::HashMap;

use parking_lot::RwLock;

use super::prompt::{Prompt, PromptError};
use super::speech::{self, Speech};

/// The tone callers hear while employees ring (played in a loop).
pub const RINGBACK: &str = "ringback";

/// The tone before a recording starts.
pub const BEEP: &str = "beep";

/// Prompts by name. Built-in prompts are loaded at start; uploads are added at run time.
#[derive(Debug)]
pub struct PromptLibrary {
    prompts: RwLock<HashMap<String, Prompt>>,
    speech: Speech,
}

impl Default for PromptLibrary {
    /// An empty library whose `tts:` prompts are spoken by espeak-ng's US English voice.
    fn default() -> Self {
        PromptLibrary {
            prompts: RwLock::default(),
            speech: Speech::new("espeak-ng", "en-us"),
        }
    }
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
    (
        "voicemail-greeting",
        include_bytes!("../../prompts/voicemail-greeting.wav"),
    ),
    ("voicemail-thanks", include_bytes!("../../prompts/voicemail-thanks.wav")),
    // The end of a route whose overflow is a callback request.
    ("callback-promise", include_bytes!("../../prompts/callback-promise.wav")),
    // An employee's call out refused by his calling right or the company's rules.
    ("call-not-allowed", include_bytes!("../../prompts/call-not-allowed.wav")),
    // The secretary: to the caller, then to the person screened.
    ("secretary-ask", include_bytes!("../../prompts/secretary-ask.wav")),
    ("secretary-hold", include_bytes!("../../prompts/secretary-hold.wav")),
    (
        "secretary-declined",
        include_bytes!("../../prompts/secretary-declined.wav"),
    ),
    ("screening-intro", include_bytes!("../../prompts/screening-intro.wav")),
    ("screening-accept", include_bytes!("../../prompts/screening-accept.wav")),
    // An arpeggio (C, Am, F, G) made with sox's plucked-string synth; loops every 8.4 s.
    ("hold-music", include_bytes!("../../prompts/hold-music.wav")),
];

/// The names of the prompts every exchange has (recorded ones and generated tones).
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name).chain([RINGBACK, BEEP])
}

/// Whether `name` is a prompt that needs no recording: well-formed spoken text (`tts:...`).
pub fn is_spoken(name: &str) -> bool {
    matches!(super::speech::parse(name), Some(Ok(_)))
}

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
        library.insert(BEEP, Prompt::tone(1000.0, 300, 100));
        library
    }

    pub fn insert(&self, name: impl Into<String>, prompt: Prompt) {
        self.prompts.write().insert(name.into(), prompt);
    }

    pub fn get(&self, name: &str) -> Option<Prompt> {
        self.prompts.read().get(name).cloned()
    }

    /// Keeps a company's uploaded prompt (it plays for that company's calls only, over a
    /// built-in of the same name).
    pub fn insert_for(&self, company: CompanyId, name: &str, prompt: Prompt) {
        self.insert(company_key(company, name), prompt);
    }

    /// The prompt a company's flow names: its own upload first, else as [`Self::resolve`] finds it.
    pub async fn resolve_for(&self, company: CompanyId, name: &str) -> Result<Prompt, PromptError> {
        match self.get(&company_key(company, name)) {
            Some(prompt) => Ok(prompt),
            None => self.resolve(name).await,
        }
    }

    /// The prompt a flow names: a built-in or uploaded one, or `tts:` text rendered now (or
    /// taken from the speech cache).
    pub async fn resolve(&self, name: &str) -> Result<Prompt, PromptError> {
        match speech::parse(name) {
            Some(spoken) => {
                let (voice, text) = spoken?;
                self.speech.render(voice, text).await
            }
            None => self.get(name).ok_or_else(|| PromptError::Unknown(name.into())),
        }
    }
}

/// Uploaded prompts are kept under `<company>/<name>` (a prompt's name has no '/').
fn company_key(company: CompanyId, name: &str) -> String {
    format!("{company}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load() {
        let lib = PromptLibrary::with_builtins();
        assert!(lib.get("ivr-greeting").unwrap().duration_ms() > 1000);
        assert!(lib.get("hold-music").unwrap().duration_ms() > 8000);
        assert!(lib.get("nope").is_none());
        assert_eq!(lib.get(RINGBACK).unwrap().duration_ms(), 5000);
    }
}
