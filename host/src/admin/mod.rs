//! The rules of administration: what a valid number assignment, employee or extension is, and
//! making them. The HTTP API calls them, and so will the web console; each rule lives here once.
//! Below: the store (company data through a `Tenant`) and the flow registry (compiled versions,
//! the routing table).

pub mod codes;
pub mod employees;
pub mod numbers;

/// A field that breaks a rule: which, and why (an API says it as a 422 naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct Invalid {
    pub field: &'static str,
    pub why: String,
}

impl Invalid {
    pub fn new(field: &'static str, why: impl Into<String>) -> Self {
        Invalid { field, why: why.into() }
    }
}

/// A phone number field must be E.164.
pub fn check_e164(field: &'static str, number: &str) -> Result<(), Invalid> {
    match crate::call::number::is_e164(number) {
        true => Ok(()),
        false => Err(Invalid::new(field, "use E.164, e.g. +15550100123")),
    }
}

/// A timezone field must be an IANA name.
pub fn check_timezone(field: &'static str, zone: &str) -> Result<(), Invalid> {
    match jiff::tz::TimeZone::get(zone) {
        Ok(_) => Ok(()),
        Err(_) => Err(Invalid::new(
            field,
            format!("{zone:?} is not an IANA timezone (e.g. Europe/Berlin, America/New_York, UTC)"),
        )),
    }
}

/// Extensions are 2 to 6 digits (one numbering plan for employees and departments); the ICM's
/// is taken.
pub fn check_extension(extension: &str) -> Result<(), Invalid> {
    if extension == crate::call::fork::ICM_EXTENSION {
        return Err(Invalid::new("extension", "6100 reaches the ICM (the caller's manager)"));
    }
    match (2..=6).contains(&extension.len()) && extension.chars().all(|c| c.is_ascii_digit()) {
        true => Ok(()),
        false => Err(Invalid::new("extension", "use 2 to 6 digits")),
    }
}

/// The route language flows' settings use (`guest-sdk/routes.schema.json`), as a schema for one
/// route: what a department's overflow may be.
fn route_schema() -> &'static crate::flow::SettingsSchema {
    static SCHEMA: std::sync::OnceLock<crate::flow::SettingsSchema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut json: serde_json::Value = serde_json::from_str(include_str!("../../../guest-sdk/routes.schema.json"))
            .expect("routes.schema.json is JSON");
        json["$ref"] = "#/$defs/route".into();
        crate::flow::SettingsSchema { json }
    })
}

/// `route` (named `field`) is a route that names only the company's departments, employees and
/// prompts; the outer error is the store's.
pub async fn check_route(
    tenant: &crate::store::Tenant,
    field: &'static str,
    route: &serde_json::Value,
) -> Result<Result<(), Invalid>, crate::store::Error> {
    let known = known_names(tenant).await?;
    Ok(route_schema()
        .check(route, &known)
        .map_err(|why| Invalid::new(field, format!("not a route: {why}"))))
}

/// The departments, employees, schedules and prompts settings may name (the company's own, and
/// the built-in prompts).
pub(crate) async fn known_names(tenant: &crate::store::Tenant) -> Result<crate::flow::KnownNames, crate::store::Error> {
    let departments = tenant.departments().await?;
    let employees = tenant.employees().await?;
    let schedules = tenant.schedules(None).await?;
    let uploaded = tenant.prompt_list().await?;
    let builtin = crate::media::library::builtin_names().map(str::to_owned);
    Ok(crate::flow::KnownNames {
        departments: departments.into_iter().map(|d| d.id).collect(),
        employees: employees.into_iter().map(|e| e.login).collect(),
        schedules: schedules.into_iter().map(|s| s.id).collect(),
        prompts: uploaded.into_iter().map(|p| p.name).chain(builtin).collect(),
    })
}

/// 1 to 64 characters, each one `allowed`: the rule for flow, prompt and login names.
pub fn is_name(name: &str, allowed: impl Fn(char) -> bool) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(allowed)
}

/// Lower-case letters, digits, '.', '_', '-' (logins and prompt names: safe in SIP URIs and paths).
pub fn lower_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbering_plan_and_names() {
        assert!(check_extension("101").is_ok());
        assert_eq!(check_extension("6100").unwrap_err().field, "extension", "the ICM's");
        assert!(check_extension("1").is_err() && check_extension("1234567").is_err());
        assert!(check_extension("10a").is_err());
        assert!(check_e164("mobile", "+4915112345678").is_ok());
        assert_eq!(check_e164("mobile", "015112345678").unwrap_err().field, "mobile");
        assert!(is_name("alice.b-2", lower_name_char));
        assert!(!is_name("Alice", lower_name_char) && !is_name("a@b", lower_name_char));
        assert!(!is_name(&"a".repeat(65), lower_name_char) && !is_name("", lower_name_char));
        assert!(employees::check_password("seven77").is_err());
        assert!(employees::check_password("eight888").is_ok());
        assert!(employees::check_login("bob").is_ok() && employees::check_login("bob smith").is_err());
    }
}
