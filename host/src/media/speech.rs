//! Text-to-speech prompts: `tts:<text>` (default voice) or `tts@<voice>:<text>`, rendered by
//! espeak-ng and kept in memory by voice and text, so a menu's greeting is rendered once, not
//! once per call.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use super::prompt::{Prompt, PromptError};

/// The prefix that makes a prompt name spoken text.
pub const TTS_PREFIX: &str = "tts";
/// Longer text is refused (a prompt, not an audiobook).
const MAX_TEXT: usize = 1000;
/// Rendered prompts kept; the cache starts over when full (flows use a handful of texts).
const MAX_CACHED: usize = 500;
/// espeak-ng renders a sentence in tens of milliseconds; a stuck process must not hold a call.
const RENDER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Speech {
    /// The espeak-ng executable.
    program: String,
    default_voice: String,
    cache: Mutex<HashMap<(String, String), Prompt>>,
}

/// Voice and text of a `tts:` prompt name; `None` when the name is not one.
pub fn parse(name: &str) -> Option<Result<(Option<&str>, &str), PromptError>> {
    let rest = name.strip_prefix(TTS_PREFIX)?;
    let (voice, text) = if let Some(text) = rest.strip_prefix(':') {
        (None, text)
    } else if let Some(voiced) = rest.strip_prefix('@') {
        match voiced.split_once(':') {
            Some((voice, text)) => (Some(voice), text),
            None => return Some(Err(PromptError::Speech("write tts@<voice>:<text>".into()))),
        }
    } else {
        return None;
    };
    let voice_ok = voice.is_none_or(|v| {
        // Never an option to espeak-ng: no leading '-'.
        v.len() <= 32
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_+/".contains(c))
    });
    Some(if !voice_ok {
        Err(PromptError::Speech(format!("bad voice name {voice:?}")))
    } else if text.trim().is_empty() || text.len() > MAX_TEXT {
        Err(PromptError::Speech(format!("the text must have 1 to {MAX_TEXT} bytes")))
    } else {
        Ok((voice, text))
    })
}

impl Speech {
    pub fn new(program: impl Into<String>, default_voice: impl Into<String>) -> Self {
        Speech {
            program: program.into(),
            default_voice: default_voice.into(),
            cache: Mutex::default(),
        }
    }

    /// `text` spoken by `voice` (the default voice when `None`), rendered on first use.
    pub async fn render(&self, voice: Option<&str>, text: &str) -> Result<Prompt, PromptError> {
        let key = (voice.unwrap_or(&self.default_voice).to_string(), text.to_string());
        if let Some(prompt) = self.cache.lock().get(&key) {
            return Ok(prompt.clone());
        }
        let prompt = self.run_espeak(&key.0, text).await?;
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, prompt.clone());
        Ok(prompt)
    }

    async fn run_espeak(&self, voice: &str, text: &str) -> Result<Prompt, PromptError> {
        // A file rather than --stdout: a streamed WAV's header carries no real length.
        let path = std::env::temp_dir().join(format!(
            "switchboard-tts-{}.wav",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let (program, voice_arg, text_arg, out) =
            (self.program.clone(), voice.to_owned(), text.to_owned(), path.clone());
        let output = tokio::task::spawn_blocking(move || espeak(&program, &voice_arg, &text_arg, &out))
            .await
            .map_err(|e| PromptError::Speech(format!("espeak-ng task: {e}")));
        let wav = tokio::fs::read(&path).await;
        let _ = tokio::fs::remove_file(&path).await;
        let output = output??;
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr);
            return Err(PromptError::Speech(format!("espeak-ng: {}", why.trim())));
        }
        let wav = wav.map_err(|e| PromptError::Speech(format!("espeak-ng wrote nothing: {e}")))?;
        Prompt::from_wav(&wav)
    }
}

/// Runs espeak-ng to write `path`, killing it after `RENDER_TIMEOUT` of real time — not tokio's
/// time, which the simulator pauses and fast-forwards while a real process takes real time.
fn espeak(program: &str, voice: &str, text: &str, path: &std::path::Path) -> Result<std::process::Output, PromptError> {
    let mut child = std::process::Command::new(program)
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(path)
        // After `--`, text that starts with '-' is still text.
        .arg("--")
        .arg(text)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| PromptError::Speech(format!("cannot run {program}: {e}")))?;
    let deadline = std::time::Instant::now() + RENDER_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => {
                return child
                    .wait_with_output()
                    .map_err(|e| PromptError::Speech(format!("espeak-ng: {e}")));
            }
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PromptError::Speech("espeak-ng took too long".into()));
            }
            Err(e) => return Err(PromptError::Speech(format!("espeak-ng: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tts_names() {
        assert!(parse("ivr-greeting").is_none());
        assert!(parse("ttsx").is_none());
        assert_eq!(
            parse("tts:Hello: we are open").unwrap().unwrap(),
            (None, "Hello: we are open")
        );
        assert_eq!(parse("tts@de:Guten Tag").unwrap().unwrap(), (Some("de"), "Guten Tag"));
        assert!(parse("tts:").unwrap().is_err());
        assert!(parse("tts@de").unwrap().is_err());
        assert!(parse("tts@-w:hi").unwrap().is_err(), "a voice is never an option");
        assert!(parse("tts@en-gb:hi").unwrap().is_ok());
        assert!(parse("tts@a b:hi").unwrap().is_err());
    }
}
