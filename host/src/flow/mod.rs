//! The flow runtime: wasmtime components that implement `switchboard:flow`. This module only
//! translates WIT calls into `call/` calls (DESIGN §2); it is the only one that imports wasmtime.

mod bindings;
mod engine;
mod host;
mod registry;
mod schema;

pub use engine::{FlowEngine, FlowError, FlowExit, FlowLimits, FlowRun, FlowVersion};
pub use registry::{FlowRegistry, NumberOptions, RegistryError, Route};
pub use schema::{KnownNames, SettingsSchema};

include!(concat!(env!("OUT_DIR"), "/builtin_flows.rs"));
