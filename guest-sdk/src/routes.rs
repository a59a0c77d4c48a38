//! Where a call can go, as settings describe it — the building blocks of the built-in flows,
//! for your own flows too: ring someone, play a message and hang up, take a voicemail, or a
//! voice menu whose choices are routes again. `Route::run` carries the call there.
//!
//! As JSON: `{"department": "sales"}`, `{"employee": "alice"}`, `{"extension": "101"}`,
//! `{"external": "+15550100199"}`, `{"hangup": "prompt"}`, `{"voicemail": {...}}`,
//! `{"menu": {...}}`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{CallApi, CallError, CollectOptions, Dial, DialOutcome, FlowResult, RecordOptions, Target, log};

/// Where a call goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Route {
    Department(String),
    Employee(String),
    Extension(String),
    External(String),
    /// Play the prompt and hang up.
    Hangup(String),
    /// Take a message.
    Voicemail(Voicemail),
    /// A voice menu.
    Menu(Box<Menu>),
}

impl Route {
    /// Carries the call there. When ringing reaches nobody the caller hears `unavailable` and the
    /// call ends.
    pub fn run(&self, call: &impl CallApi, unavailable: &str) -> FlowResult {
        let target = match self {
            Route::Department(id) => Target::Department(id.clone()),
            Route::Employee(login) => Target::Employee(login.clone()),
            Route::Extension(extension) => Target::Extension(extension.clone()),
            Route::External(number) => Target::External(number.clone()),
            Route::Hangup(prompt) => {
                call.play(prompt)?;
                call.hangup();
                return Ok(());
            }
            Route::Voicemail(voicemail) => return voicemail.run(call),
            Route::Menu(menu) => return menu.run(call),
        };
        match Dial::ring_all([target]).timeout_secs(30).run(call)? {
            DialOutcome::Answered(_) => Ok(()),
            other => {
                log::info(&format!("route not connected: {other:?}"));
                call.play(unavailable)?;
                call.hangup();
                Ok(())
            }
        }
    }
}

/// A voice menu: the greeting plays, one digit chooses a route; no digit within `timeout_ms` (or
/// too many digits that are not on the menu) takes the default route.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Menu {
    /// Prompt played (and interrupted by the first digit) while waiting for a choice.
    pub greeting: String,
    /// Prompt played after a digit that maps to nothing.
    pub invalid_prompt: String,
    /// Prompt played when the chosen route could not reach anyone.
    pub unavailable_prompt: String,
    /// How long to wait for a digit after the greeting started.
    pub timeout_ms: u32,
    /// How many times an invalid digit replays the menu before the default route.
    pub retries: u32,
    /// Digit -> route.
    pub options: BTreeMap<String, Route>,
    /// Where callers go when they press nothing, or keep pressing invalid digits.
    pub default: Route,
}

impl Default for Menu {
    fn default() -> Self {
        Menu {
            greeting: "ivr-greeting".into(),
            invalid_prompt: "ivr-invalid".into(),
            unavailable_prompt: "all-busy".into(),
            timeout_ms: 5_000,
            retries: 2,
            options: BTreeMap::from([
                ("1".into(), Route::Department("sales".into())),
                ("2".into(), Route::Department("support".into())),
            ]),
            default: Route::Department("sales".into()),
        }
    }
}

impl Menu {
    pub fn run(&self, call: &impl CallApi) -> FlowResult {
        call.answer()?;
        let ask = CollectOptions::one_digit(Some(&self.greeting), self.timeout_ms);
        for _ in 0..=self.retries {
            let Some(digit) = call.collect(&ask)? else {
                log::info("no digit: default route");
                return self.default.run(call, &self.unavailable_prompt);
            };
            if let Some(choice) = self.options.get(&digit) {
                log::info(&format!("digit {digit}: {choice:?}"));
                return choice.run(call, &self.unavailable_prompt);
            }
            log::info(&format!("digit {digit}: not on the menu"));
            call.play(&self.invalid_prompt)?;
        }
        self.default.run(call, &self.unavailable_prompt)
    }
}

/// Voicemail: a greeting, a beep, then the caller's message is recorded (up to `max_secs`, ended
/// early by `#`, by `silence_secs` of silence, or by the caller hanging up) and stored with the
/// call; the API lists it under `/recordings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Voicemail {
    /// Played before the beep.
    pub greeting: String,
    /// Longest message, in seconds (the host caps it at 600).
    pub max_secs: u32,
    /// Silence that ends the message; 0: only `#`, the maximum or a hangup end it.
    pub silence_secs: u32,
    /// Played after the message, before hanging up; none: hang up at once.
    pub thanks: Option<String>,
    /// File a callback request for the caller (`/callbacks`, with the message attached), even
    /// when he hangs up without leaving one.
    pub callback: bool,
}

impl Default for Voicemail {
    fn default() -> Self {
        Voicemail {
            greeting: "voicemail-greeting".into(),
            max_secs: 120,
            silence_secs: 5,
            thanks: Some("voicemail-thanks".into()),
            callback: true,
        }
    }
}

impl Voicemail {
    pub fn run(&self, call: &impl CallApi) -> FlowResult {
        call.answer()?;
        if self.callback {
            // Filed now, it stands even if the caller hangs up during the message.
            match call.request_callback("voicemail") {
                Err(CallError::Hangup) => return Err(CallError::Hangup),
                Err(e) => log::warn(&format!("no callback request: {e}")),
                Ok(()) => {}
            }
        }
        call.play(&self.greeting)?;
        let opts = RecordOptions {
            max_seconds: self.max_secs,
            silence_seconds: self.silence_secs,
            terminators: "#".into(),
            beep: true,
        };
        match call.record(&opts)? {
            Some(message) => log::info(&format!(
                "message {} ({} ms, ended by {})",
                message.id, message.duration_ms, message.ended_by
            )),
            None => log::info("the caller left no message"),
        }
        if let Some(thanks) = &self.thanks {
            call.play(thanks)?;
        }
        call.hangup();
        Ok(())
    }
}
