//! A new flow: answer, ask for an extension, ring it, apologise when nobody answers.
//! Change `run` to do what your number should do; `cargo test` runs the tests below natively,
//! `cargo build --release` makes the component (target/wasm32-wasip2/release/*.wasm).

use serde::Deserialize;
use switchboard_sdk::prelude::*;

/// The number's settings (`PUT /numbers/{number}` → `settings`), described for the exchange by
/// `settings.schema.json`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Asks for the extension.
    pub greeting: String,
    /// How long to wait for the first digit.
    pub wait_ms: u32,
    /// Played when nobody answers.
    pub sorry: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            greeting: "tts:Please enter an extension, then hash.".into(),
            wait_ms: 5_000,
            sorry: "all-busy".into(),
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    call.answer()?;
    let ask = CollectOptions {
        prompt: Some(settings.greeting.clone()),
        max_digits: 6,
        terminators: "#".into(),
        first_digit_timeout_ms: settings.wait_ms,
        inter_digit_timeout_ms: 3_000,
    };
    let Some(extension) = call.collect(&ask)? else {
        log::info("nothing typed");
        call.play(&settings.sorry)?;
        call.hangup();
        return Ok(());
    };
    match Dial::ring_all([Target::Extension(extension)])
        .timeout_secs(20)
        .run(call)?
    {
        DialOutcome::Answered(_) => Ok(()),
        _ => {
            call.play(&settings.sorry)?;
            call.hangup();
            Ok(())
        }
    }
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn an_extension_is_rung() {
        let call = TestCall::new().presses("101").dial_answers(Some("alice"));
        run(&call, Settings::default()).unwrap();
        assert_eq!(call.decisions()[2], "dial extension 101 → answered by alice");
    }

    #[test]
    fn nobody_answering_gets_an_apology() {
        let call = TestCall::new().presses("101").dial_ends(DialOutcome::Busy);
        run(&call, Settings::default()).unwrap();
        assert_eq!(&call.decisions()[3..], ["play all-busy", "hangup"]);
    }

    #[test]
    fn settings_come_from_json() {
        let settings: Settings = settings(r#"{"wait_ms": 3000}"#);
        let call = TestCall::new().presses_nothing();
        run(&call, settings).unwrap();
        assert_eq!(
            call.decisions()[1],
            "collect tts:Please enter an extension, then hash. → nothing"
        );
    }
}
