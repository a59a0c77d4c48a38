//! Logging from a flow: lines land in the host's log and the call's decision trace.

use crate::bindings::wasi::logging::logging::{Level, log};

pub fn info(message: &str) {
    log(Level::Info, "flow", message);
}

pub fn warn(message: &str) {
    log(Level::Warn, "flow", message);
}

pub fn debug(message: &str) {
    log(Level::Debug, "flow", message);
}
