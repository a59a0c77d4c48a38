//! Feature codes an employee dials from his own phone to change how calls reach him — the same
//! changes the API makes (`PATCH /employees/{login}` `dnd`, `PUT
//! /employees/{login}/departments/*`), in the codes many desk phones and PBXs use:
//!
//! | code  | what it does                                   |
//! |-------|------------------------------------------------|
//! | `*78` | do not disturb on: departments skip him        |
//! | `*79` | do not disturb off                             |
//! | `*61` | log in to all his departments                  |
//! | `*62` | log out of all his departments (he keeps his place in their order) |
//! | `*63` | pause in all his departments (a break: no queue or hunting calls)   |
//! | `*64` | resume after a pause                                              |
//! | `*97` | hear his new voicemail (`mailbox.rs`)                             |

use crate::store::{MemberState, Tenant};

/// The code that plays an employee his new voicemail (a call, not a switch: `mailbox.rs`).
pub const VOICEMAIL: &str = "*97";

/// What a feature code asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    DoNotDisturb(bool),
    LoggedIn(bool),
    Paused(bool),
}

impl Code {
    /// The code dialled, if `dialled` is one.
    pub fn parse(dialled: &str) -> Option<Code> {
        Some(match dialled {
            "*78" => Code::DoNotDisturb(true),
            "*79" => Code::DoNotDisturb(false),
            "*61" => Code::LoggedIn(true),
            "*62" => Code::LoggedIn(false),
            "*63" => Code::Paused(true),
            "*64" => Code::Paused(false),
            _ => return None,
        })
    }

    /// Applies the code for employee `login`; what it did, as the call's trace says it, or
    /// why it did nothing.
    pub async fn apply(self, tenant: &Tenant, login: &str) -> Result<String, String> {
        let done = match self {
            Code::DoNotDisturb(on) => tenant.set_dnd(login, on).await,
            Code::LoggedIn(on) => tenant.set_membership(None, login, MemberState::LoggedIn, on).await,
            Code::Paused(on) => tenant.set_membership(None, login, MemberState::Paused, on).await,
        };
        match (done, self) {
            (Err(e), _) => Err(format!("the store failed: {e}")),
            (Ok(false), Code::LoggedIn(_) | Code::Paused(_)) => Err(format!("{login} is in no department")),
            (Ok(false), Code::DoNotDisturb(_)) => Err(format!("no employee {login}")),
            (Ok(true), Code::DoNotDisturb(on)) => Ok(format!("do not disturb {}", on_off(on))),
            (Ok(true), Code::LoggedIn(true)) => Ok("logged in to his departments".into()),
            (Ok(true), Code::LoggedIn(false)) => Ok("logged out of his departments".into()),
            (Ok(true), Code::Paused(true)) => Ok("paused in his departments".into()),
            (Ok(true), Code::Paused(false)) => Ok("back from his pause".into()),
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes() {
        assert_eq!(Code::parse("*78"), Some(Code::DoNotDisturb(true)));
        assert_eq!(Code::parse("*79"), Some(Code::DoNotDisturb(false)));
        assert_eq!(Code::parse("*61"), Some(Code::LoggedIn(true)));
        assert_eq!(Code::parse("*62"), Some(Code::LoggedIn(false)));
        assert_eq!(Code::parse("*63"), Some(Code::Paused(true)));
        assert_eq!(Code::parse("*64"), Some(Code::Paused(false)));
        assert_eq!(Code::parse("*3"), None);
        assert_eq!(Code::parse("78"), None);
    }
}
