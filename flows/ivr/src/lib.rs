//! The voice menu: greets the caller, maps one digit to a route, and sends callers who press
//! nothing within the timeout (5 s by default) to the default route. The menu itself is the
//! SDK's [`routes::Menu`], which other flows use as a route too (`{"menu": {...}}`).

use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::Menu;

pub type Settings = Menu;

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    settings.run(call)
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");
