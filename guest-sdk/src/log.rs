//! Logging from a flow: lines land in the host's log and the call's decision trace. In a native
//! `cargo test` (the `testing` harness) they go to standard error instead.

use crate::bindings::wasi::logging::logging::Level;

pub fn info(message: &str) {
    emit(Level::Info, message);
}

pub fn warn(message: &str) {
    emit(Level::Warn, message);
}

pub fn debug(message: &str) {
    emit(Level::Debug, message);
}

#[cfg(target_arch = "wasm32")]
fn emit(level: Level, message: &str) {
    crate::bindings::wasi::logging::logging::log(level, "flow", message);
}

/// Not in the exchange: there is no host to log to.
#[cfg(not(target_arch = "wasm32"))]
fn emit(level: Level, message: &str) {
    eprintln!("[{level:?}] {message}");
}
