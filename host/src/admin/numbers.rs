//! Assigning a flow to a number: what a valid assignment is (an E.164 number that is not
//! another company's, a flow the company may use, settings its schema accepts, a timezone, a
//! mailbox that exists, hosts the flow may reach), and the default chain a number gets without
//! a flow. The registry compiles the version and routes the next call by it.

use serde_json::{Value, json};

use crate::call::record::unix_ms;
use crate::call::{Target, number};
use crate::flow::{FlowRegistry, RegistryError};
use crate::store::{Assignment, Change, Tenant};

/// The company's assignment of `number`, however it is written (`+1 555…`, `1555…`).
pub async fn assigned(tenant: &Tenant, number: &str) -> Result<Option<Assignment>, crate::store::Error> {
    let key = number::canonical(number);
    let assignments = tenant.assignments().await?;
    Ok(assignments.into_iter().find(|a| number::canonical(&a.number) == key))
}

/// What a number has besides its flow and the flow's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberOptions {
    pub timezone: String,
    /// Record both parties of every bridged call.
    pub record_calls: bool,
    /// Where calls go when the flow fails; none: the sales department.
    pub fallback: Option<Target>,
    /// Login of the employee whose mailbox takes voicemail left on the number.
    pub mailbox: Option<String>,
    /// Mail the mailbox owner about calls nobody answered that left no voicemail.
    pub missed_call_mail: bool,
    /// Hosts the flow may send HTTP requests to (`name` or `name:port`).
    pub allowed_hosts: Vec<String>,
    /// E.164 the flow's calls out through the carrier show; none: the company's main number.
    pub caller_id: Option<String>,
    /// Shown first on an employee's ringing phone for the number's callers (`known_caller.rs`).
    pub display_prefix: String,
    /// The ringing phone shows whether the caller is new or returning.
    pub show_caller_status: bool,
}

/// Why an assignment is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] super::Invalid),
    #[error("{0} is another company's number on this exchange")]
    NumberTaken(String),
    /// The flow cannot be loaded, or the store failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<crate::store::Error> for Refusal {
    fn from(e: crate::store::Error) -> Self {
        Refusal::Registry(e.into())
    }
}

/// The flow for a number assigned without one.
pub const DEFAULT_FLOW: &str = "schedule";
/// The schedule the default chain keeps (made with every company; an admin may delete it).
const DEFAULT_SCHEDULE: &str = "office";

/// A fresh number's chain: the `schedule` flow with the settings given, or — given none — on the
/// `office` schedule while it exists (else open around the clock).
pub async fn default_chain(tenant: &Tenant, settings: Value) -> Result<(String, Value), crate::store::Error> {
    let given = settings.as_object().is_some_and(|o| !o.is_empty());
    if given {
        return Ok((DEFAULT_FLOW.into(), settings));
    }
    let office = tenant.schedules(Some(DEFAULT_SCHEDULE)).await?;
    let settings = match office.is_empty() {
        true => json!({}),
        false => json!({ "schedule": DEFAULT_SCHEDULE }),
    };
    Ok((DEFAULT_FLOW.into(), settings))
}

/// Assigns a flow (name or sha256, one of the company's or a built-in) with its settings to
/// one of the company's numbers (a number nobody has becomes the company's). Atomic for calls:
/// the next call gets the new version, calls in progress keep theirs.
pub async fn assign(
    registry: &FlowRegistry,
    tenant: &Tenant,
    number: &str,
    flow: &str,
    settings: &Value,
    options: &NumberOptions,
) -> Result<Assignment, Refusal> {
    use super::Invalid;
    if !number::is_e164(number) {
        let why = format!("{number:?} is not an E.164 number (write it as +<country><number>, e.g. +15550100100)");
        return Err(Invalid::new("number", why).into());
    }
    if !settings.is_object() {
        return Err(Invalid::new("settings", "settings must be a JSON object").into());
    }
    super::check_timezone("timezone", &options.timezone)?;
    if options.missed_call_mail && options.mailbox.is_none() {
        let why = "missed-call mail goes to the number's mailbox: set mailbox too";
        return Err(Invalid::new("missed_call_mail", why).into());
    }
    if let Some(login) = &options.mailbox
        && tenant.employee(login, false).await?.is_none()
    {
        let why = format!("no employee {login:?} to take the number's voicemail");
        return Err(Invalid::new("mailbox", why).into());
    }
    if let Some(bad) = options
        .allowed_hosts
        .iter()
        .find_map(|h| crate::web::check_allowed_host(h).err())
    {
        return Err(Invalid::new("allowed_hosts", format!("allowed_hosts: {bad}")).into());
    }
    if let Some(shown) = &options.caller_id {
        super::check_e164("caller_id", shown)?;
    }
    crate::known_caller::check_prefix(&options.display_prefix).map_err(|why| Invalid::new("display_prefix", why))?;
    let before = registry.route(number);
    if before.as_ref().is_some_and(|r| r.assignment.company != tenant.id()) {
        return Err(Refusal::NumberTaken(number.into()));
    }
    let Some(sha) = tenant.resolve_flow(flow).await? else {
        return Err(Invalid::new("flow", format!("no flow named or hashed {flow:?}")).into());
    };
    let version = registry.version(&sha).await?;
    let mut settings = settings.clone();
    if let Some(schema) = &version.settings_schema {
        // Secrets the admin sent back hidden keep their values.
        let before = before.map(|b| serde_json::from_str(&b.assignment.settings).unwrap_or_default());
        let known = super::known_names(tenant).await?;
        schema
            .take(&mut settings, before.as_ref(), &known)
            .map_err(|why| Invalid::new("settings", format!("the settings do not fit the flow: {why}")))?;
    }
    let assignment = Assignment {
        company: tenant.id(),
        number: number.to_string(),
        timezone: options.timezone.clone(),
        flow_sha256: sha,
        settings: settings.to_string(),
        record_calls: options.record_calls,
        fallback: options
            .fallback
            .as_ref()
            .map(|t| serde_json::to_string(t).expect("a target serialises"))
            .unwrap_or_default(),
        mailbox: options.mailbox.clone().unwrap_or_default(),
        missed_call_mail: options.missed_call_mail,
        allowed_hosts: options.allowed_hosts.clone(),
        caller_id: options.caller_id.clone().unwrap_or_default(),
        display_prefix: options.display_prefix.clone(),
        show_caller_status: options.show_caller_status,
        updated_at: unix_ms(),
    };
    if !tenant.assign(&assignment).await? {
        return Err(Refusal::NumberTaken(number.into()));
    }
    registry.refresh().await?;
    tenant.store().announce(Change::Numbers).await;
    Ok(assignment)
}
