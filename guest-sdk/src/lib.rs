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
pub mod http;
pub mod log;
pub mod routes;
pub mod testing;

pub use call::{CallApi, WasmCall};
pub use dial::Dial;

pub use bindings::switchboard::flow::clock::LocalTime;
pub use bindings::switchboard::flow::directory::{DepartmentCard, EmployeeCard, LineStatus};
pub use bindings::switchboard::flow::http::{Request as HttpRequest, Response as HttpResponse};
pub use bindings::switchboard::flow::types::{
    Answered, CallError, CollectOptions, DialOptions, DialOutcome, QueueOptions, QueueOutcome, QueueStrategy,
    RecordOptions, Recording, Refusal, ScreenedOutcome, Screening, Target, TimedLeg,
};

/// What a flow function returns. `Err(CallError::Hangup)` is a normal end: the caller left.
pub type FlowResult = Result<(), CallError>;

/// Everything a flow usually needs.
pub mod prelude {
    pub use crate::{
        CallApi, CallError, CollectOptions, DepartmentCard, Dial, DialOutcome, EmployeeCard, FlowResult, HttpRequest,
        HttpResponse, LineStatus, LocalTime, QueueOptions, QueueOutcome, QueueStrategy, RecordOptions, Recording,
        Refusal, ScreenedOutcome, Screening, Target, log,
    };
}

/// Exports `run` as the component's flow entry point.
///
/// `$run` is `fn(&impl CallApi, S) -> FlowResult` where `S: serde::de::DeserializeOwned + Default`;
/// empty settings (`""` or `{}` for a struct with defaults) give `S::default()` values.
///
/// `flow!(run, settings_schema = "../settings.schema.json")` also embeds the JSON Schema of the
/// settings (a path relative to the calling file, as for `include_bytes!`) in the component: the
/// exchange shows it (`GET /flows/{sha256}`) and refuses settings that do not match it when the
/// flow is assigned to a number (422 naming the setting). The crate's `cargo test` then also
/// checks that the schema describes the settings struct (see [`check_settings_schema`]).
#[macro_export]
macro_rules! flow {
    ($run:path, settings_schema = $schema:literal) => {
        $crate::flow!($run);
        // A custom section of the core module, which the component keeps as it is.
        #[unsafe(link_section = "switchboard:settings-schema")]
        #[used]
        static __SWITCHBOARD_SETTINGS_SCHEMA: [u8; include_bytes!($schema).len()] = *include_bytes!($schema);

        #[cfg(test)]
        #[test]
        fn the_settings_schema_describes_the_settings() {
            $crate::check_settings_schema_of(
                |call: &$crate::WasmCall, settings| $run(call, settings),
                include_str!($schema),
            );
        }
    };
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

/// [`check_settings_schema`] for the settings type `run` takes.
pub fn check_settings_schema_of<S: serde::de::DeserializeOwned>(
    _run: impl Fn(&WasmCall, S) -> FlowResult,
    schema: &str,
) {
    check_settings_schema::<S>(schema)
}

/// For a flow's tests: panics unless `schema` (the settings schema the flow embeds) describes `S`
/// — an object whose every property, at its `default`, deserialises into `S` (whose serde
/// attributes should deny unknown fields, so a property the struct lacks fails).
pub fn check_settings_schema<S: serde::de::DeserializeOwned>(schema: &str) {
    let schema: serde_json::Value = serde_json::from_str(schema).expect("the settings schema is JSON");
    assert_eq!(schema["type"], "object", "settings are a JSON object");
    let properties = schema["properties"].as_object().expect("the schema lists properties");
    let mut defaults = serde_json::Map::new();
    for (name, property) in properties {
        let default = property
            .get("default")
            .unwrap_or_else(|| panic!("property {name:?} has no default"));
        defaults.insert(name.clone(), default.clone());
    }
    if let Err(e) = serde_json::from_value::<S>(serde_json::Value::Object(defaults)) {
        panic!("the schema's defaults do not fit the settings struct: {e}");
    }
}

/// Maps a flow's result to the export's: a hangup is a normal end of the call.
#[doc(hidden)]
pub fn finish(result: FlowResult) -> Result<(), String> {
    match result {
        Ok(()) | Err(CallError::Hangup) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
