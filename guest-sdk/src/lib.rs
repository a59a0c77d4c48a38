//! `switchboard-sdk`: what a flow author depends on.
//!
//! A flow is one function that receives the call and its settings:
//!
//! ```ignore
//! use switchboard_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize, Default)]
//! struct Settings { greeting: String }
//!
//! fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
//!     call.answer()?;
//!     call.play(&settings.greeting)?;
//!     Ok(())
//! }
//!
//! switchboard_sdk::flow!(run);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and upload the `.wasm`.

/// Bindings generated from `wit/` (the `switchboard:flow` world).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "flow",
        pub_export_macro: true,
        export_macro_name: "__export_flow_world",
        default_bindings_module: "switchboard_sdk::bindings",
        generate_all,
    });
}

mod call;
mod dial;
pub mod log;

pub use call::{CallApi, WasmCall};
pub use dial::Dial;

pub use bindings::switchboard::flow::types::{
    Answered, CallError, CollectOptions, DialOptions, DialOutcome, RecordOptions, Recording, Target, TimedLeg,
};

/// What a flow function returns. `Err(CallError::Hangup)` is a normal end: the caller left.
pub type FlowResult = Result<(), CallError>;

/// Everything a flow usually needs.
pub mod prelude {
    pub use crate::{
        CallApi, CallError, CollectOptions, Dial, DialOutcome, FlowResult, RecordOptions, Recording, Target, log,
    };
}

/// Exports `run` as the component's flow entry point.
///
/// `$run` is `fn(&impl CallApi, S) -> FlowResult` where `S: serde::de::DeserializeOwned + Default`;
/// empty settings (`""` or `{}` for a struct with defaults) give `S::default()` values.
#[macro_export]
macro_rules! flow {
    ($run:path) => {
        struct __SwitchboardFlow;
        impl $crate::bindings::Guest for __SwitchboardFlow {
            fn run(
                call: $crate::bindings::switchboard::flow::call::Call,
                settings: ::std::string::String,
            ) -> ::std::result::Result<(), ::std::string::String> {
                let settings = $crate::parse_settings(&settings)?;
                let call = $crate::WasmCall::new(call);
                $crate::finish($run(&call, settings))
            }
        }
        $crate::bindings::__export_flow_world!(__SwitchboardFlow);
    };
}

/// Deserialises the assignment's JSON settings; blank settings mean "all defaults".
#[doc(hidden)]
pub fn parse_settings<S: serde::de::DeserializeOwned + Default>(raw: &str) -> Result<S, String> {
    if raw.trim().is_empty() {
        return Ok(S::default());
    }
    serde_json::from_str(raw).map_err(|e| format!("invalid settings: {e}"))
}

/// Maps a flow's result to the export's: a hangup is a normal end of the call.
#[doc(hidden)]
pub fn finish(result: FlowResult) -> Result<(), String> {
    match result {
        Ok(()) | Err(CallError::Hangup) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
