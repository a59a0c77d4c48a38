//! What a valid employee is: a login, a password long enough, an extension free in the company's
//! numbering plan, a role, and numbers the company may call (his mobile rings through the
//! carrier).

use super::Invalid;
use crate::call::OutboundRules;
use crate::store::{EmployeeFields, Tenant};

/// Why an employee is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// A login: the SIP user name and the API login.
/// The login under which the operator logs in (to the API and the console), with an operator's
/// API token as the password; no employee may have it.
pub const OPERATOR_LOGIN: &str = "operator";

/// Whether `text` can be an e-mail address (the mail server has the last word).
pub fn is_email(text: &str) -> bool {
    text.len() <= crate::call::limits::MAX_EMAIL
        && text
            .split_once('@')
            .is_some_and(|(local, host)| !local.is_empty() && !host.is_empty() && !text.contains(char::is_whitespace))
}

pub fn check_login(login: &str) -> Result<(), Invalid> {
    if login == OPERATOR_LOGIN {
        return Err(Invalid::new(
            "login",
            "`operator` is the operator's login: choose another",
        ));
    }
    match super::is_name(login, super::lower_name_char) {
        true => Ok(()),
        false => Err(Invalid::new(
            "login",
            "use 1-64 lower-case letters, digits, '.', '_' or '-'",
        )),
    }
}

pub fn check_password(password: &str) -> Result<(), Invalid> {
    match password.chars().count() < 8 {
        true => Err(Invalid::new("password", "use at least 8 characters")),
        false => Ok(()),
    }
}

/// Checks what an admin set about an employee; `login` is the employee being edited (whose own
/// extension is no conflict); `rules` are the company's rules for calls out.
pub async fn check(
    tenant: &Tenant,
    f: &EmployeeFields,
    login: Option<&str>,
    rules: &OutboundRules,
) -> Result<(), Refusal> {
    super::check_extension(&f.extension)?;
    if let Some(owner) = tenant.extension_owner(&f.extension).await?
        && login.is_none_or(|l| owner != format!("employee {l}"))
    {
        return Err(Invalid::new("extension", format!("{owner} has it")).into());
    }
    if !["admin", "user"].contains(&f.role.as_str()) {
        return Err(Invalid::new("role", "use admin or user").into());
    }
    if f.name.len() > 200 {
        return Err(Invalid::new("name", "use at most 200 characters").into());
    }
    if f.position.chars().count() > 100 {
        return Err(Invalid::new("position", "use at most 100 characters").into());
    }
    if !f.email.is_empty() && !is_email(&f.email) {
        return Err(Invalid::new("email", "not an e-mail address").into());
    }
    if !f.caller_id.is_empty() {
        super::check_e164("caller_id", &f.caller_id)?;
    }
    if !f.mobile.is_empty() {
        super::check_e164("mobile", &f.mobile)?;
        // The mobile rings through the carrier: it must be a number the company may call.
        if let Err(why) = rules.check(&f.mobile) {
            return Err(Invalid::new("mobile", format!("{why} (see /outbound-rules)")).into());
        }
    }
    match f.mobile_after_secs {
        Some(secs) if !(0..=300).contains(&secs) => {
            Err(Invalid::new("mobile_after_secs", "use 0 to 300 seconds").into())
        }
        Some(_) if f.mobile.is_empty() => Err(Invalid::new("mobile_after_secs", "set a mobile number first").into()),
        _ => Ok(()),
    }
}
