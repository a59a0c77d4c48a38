//! The flow runtime: wasmtime components that implement `switchboard:flow`. This module only
//! translates WIT calls into `call/` calls (DESIGN §2); it is the only one that imports wasmtime.

pub mod admission;
mod bindings;
mod engine;
pub mod health;
mod host;
mod registry;
pub mod sandbox;
mod schema;
mod wasi;

pub use engine::{FlowEngine, FlowError, FlowExit, FlowLimits, FlowRun, FlowVersion};
pub use registry::{CompanyNumbers, FlowRegistry, RegistryError, Route};
pub use schema::{KnownNames, SettingsSchema, resolve as resolve_schema_ref};

include!(concat!(env!("OUT_DIR"), "/builtin_flows.rs"));
