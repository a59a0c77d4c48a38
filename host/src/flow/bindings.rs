//! Host-side bindings generated from `wit/`.
//!
//! Imports are async on the host: the guest's call suspends on a fiber while the host waits
//! for digits or a dial, so flow code stays straight-line. They are trappable so that a host
//! limit (e.g. a resource-table overflow) ends the guest instead of the process.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "flow",
    imports: { default: async | trappable },
    exports: { default: async },
    with: { "switchboard:flow/call.call": CallHandle },
});

pub use self::switchboard::flow::types;

/// The `call` resource. A flow instance serves exactly one call, held in the store's state, so
/// the handle carries nothing.
pub struct CallHandle;
