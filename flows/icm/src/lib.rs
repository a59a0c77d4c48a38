//! Intelligent Contact Manager: connects a caller to the manager responsible for him — the
//! employee who last talked to his number (the exchange's call history), or his responsible
//! user in the company's CRM (amoCRM, Bitrix24, Megaplan) — and when that fails (nobody found,
//! an exception, busy, offline, no answer) carries the call on to the fallback route. The caller
//! is never left in silence.

mod crm;
mod number;

use serde::Deserialize;
use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::{Menu, Route};

pub use crm::{CrmSettings, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where to look for the manager, in order; the first that names an employee wins.
    pub sources: Vec<Source>,
    /// The call history counts calls this many days back.
    pub history_days: u32,
    /// Country code (digits) of the company's own numbers.
    pub country_code: String,
    /// City code put in front of local numbers that come without one (e.g. 495, 812, 343).
    pub city_code: String,
    /// Extensions (or logins) never chosen, e.g. the director's.
    pub exceptions: Vec<String>,
    /// Ring the manager's mobile too (by his own "mobile after N s" rule). Off: his phones only,
    /// and when he is offline or busy the call goes to `busy_route` at once.
    pub ring_mobile: bool,
    /// How long the manager rings.
    pub ring_secs: u32,
    /// The queue or group for a manager who is offline or busy (with `ring_mobile` off); none:
    /// the `fallback` route.
    pub busy_route: Option<Route>,
    /// Where the call goes when no manager is found, or he does not take it.
    pub fallback: Route,
    /// Played when the fallback reaches nobody either.
    pub unavailable_prompt: String,
    pub amocrm: Option<CrmSettings>,
    pub bitrix24: Option<CrmSettings>,
    pub megaplan: Option<CrmSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sources: vec![Source::History],
            history_days: 30,
            country_code: String::new(),
            city_code: String::new(),
            exceptions: Vec::new(),
            ring_mobile: true,
            ring_secs: 20,
            busy_route: None,
            fallback: Route::Department("sales".into()),
            unavailable_prompt: Menu::default().unavailable_prompt,
            amocrm: None,
            bitrix24: None,
            megaplan: None,
        }
    }
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    let caller = number::full(&call.caller(), &settings.country_code, &settings.city_code);
    let Some(manager) = find_manager(call, &settings, &caller) else {
        log::info(&format!("no responsible manager for {caller}: fallback"));
        return settings.fallback.run(call, &settings.unavailable_prompt);
    };
    if !settings.ring_mobile {
        call.ring_mobiles(false);
        let presence = call.presence(&manager.login);
        if matches!(presence, LineStatus::Offline | LineStatus::Busy) {
            log::info(&format!("{} is {presence:?}: the busy route", manager.login));
            let route = settings.busy_route.as_ref().unwrap_or(&settings.fallback);
            return route.run(call, &settings.unavailable_prompt);
        }
    }
    let ring = Dial::ring_all([Target::Employee(manager.login.clone())]).timeout_secs(settings.ring_secs);
    match ring.run(call)? {
        DialOutcome::Answered(_) => Ok(()),
        other => {
            // The transfer failed: back in the flow, which carries the caller on.
            log::info(&format!(
                "{} did not take the call ({other:?}): fallback",
                manager.login
            ));
            call.ring_mobiles(true);
            settings.fallback.run(call, &settings.unavailable_prompt)
        }
    }
}

/// The first employee a source names who is not an exception.
fn find_manager(call: &impl CallApi, settings: &Settings, caller: &str) -> Option<EmployeeCard> {
    for source in &settings.sources {
        let found = match source {
            Source::History => call
                .last_connected(caller, settings.history_days)
                .and_then(|login| call.employee(&login)),
            crm => match crm::lookup(call, *crm, settings, caller) {
                Ok(found) => found,
                Err(why) => {
                    log::warn(&format!("{crm:?}: {why}"));
                    None
                }
            },
        };
        match found {
            Some(card) if is_exception(&card, &settings.exceptions) => {
                log::info(&format!("{source:?} names {}, an exception", card.login));
            }
            Some(card) => {
                log::info(&format!("{source:?} names {}", card.login));
                return Some(card);
            }
            None => {}
        }
    }
    None
}

fn is_exception(card: &EmployeeCard, exceptions: &[String]) -> bool {
    exceptions
        .iter()
        .any(|e| *e == card.login || (!card.extension.is_empty() && *e == card.extension))
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests;
