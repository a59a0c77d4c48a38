//! Calls out through the carrier cost money, and toll fraud is the costliest crime in telephony:
//! every leg that leaves through the trunk — an employee's own call, a transfer, a flow's dial,
//! a mobile ringing, a callback — passes this gate, which applies the company's
//! [`OutboundRules`] (which numbers; how many calls at once, per company and per employee).
//! Employees' mobile numbers are checked against the same rules when they are set.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Prefixes no call goes to unless an admin allows them explicitly: premium-rate and
/// shared-revenue ranges and the destinations toll fraud favours. Deny wins over national, so a
/// company's own country's premium numbers are covered too.
pub const DEFAULT_DENIED: &[&str] = &[
    // International premium rate, satellite and international networks (ITU-T E.164).
    "+979", "+881", "+882", "+883", "+870", // North America: 900/976 premium, and Caribbean NANP
    // countries dialled like US numbers but billed as international (the "one-ring" scams).
    "+1900", "+1976", "+1242", "+1246", "+1264", "+1268", "+1284", "+1345", "+1441", "+1473", "+1649", "+1664", "+1721",
    "+1758", "+1767", "+1784", "+1809", "+1829", "+1849", "+1868", "+1869", "+1876",
    // Premium and personal-number ranges of some large countries.
    "+4470", "+4487", "+449", "+49900", "+49137", "+3389", "+3908", "+34803", "+34806", "+34807", "+7809",
];

/// Where a company's calls may go out to, and how many at once (`GET/PUT /outbound-rules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundRules {
    /// The company's country calling code (e.g. `1`, `44`, `7`): numbers in it are national and
    /// allowed.
    pub country_code: String,
    /// Calls to other countries (deny still wins).
    #[serde(default)]
    pub international: bool,
    /// E.164 prefixes allowed besides (e.g. `+4930` for one foreign city); deny still wins.
    #[serde(default)]
    pub allow: Vec<String>,
    /// E.164 prefixes never called (premium rate, fraud destinations).
    #[serde(default = "default_denied")]
    pub deny: Vec<String>,
    /// Calls through the carrier at once, for the whole company.
    #[serde(default = "default_company_calls")]
    pub max_calls: u32,
    /// Calls through the carrier one employee may place at once (his own, his transfers and
    /// callbacks).
    #[serde(default = "default_employee_calls")]
    pub max_calls_per_employee: u32,
    /// Callback requests filed for one caller's number a day (beyond, they are not filed).
    #[serde(default = "default_callbacks")]
    pub callbacks_per_number_per_day: u32,
    /// Callers who came in through the carrier may transfer calls (REFER) too; off, only
    /// employees may.
    #[serde(default)]
    pub trunk_callers_may_transfer: bool,
    /// E.164 prefixes of the company's own area (e.g. `+4930`): an employee with the `local`
    /// calling right may call these.
    #[serde(default)]
    pub local_prefixes: Vec<String>,
    /// E.164 prefixes of the country's mobile networks (e.g. `+4915`, `+4916`, `+4917`): the
    /// `mobile` calling right adds these.
    #[serde(default)]
    pub mobile_prefixes: Vec<String>,
}

/// How far a number is, and how far an employee may call (each right includes those before
/// it): colleagues only, the company's area, mobiles, the whole country, anywhere the company's
/// rules allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    Internal,
    Local,
    Mobile,
    National,
    International,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Internal => "internal",
            Reach::Local => "local",
            Reach::Mobile => "mobile",
            Reach::National => "national",
            Reach::International => "international",
        }
    }
}

impl std::str::FromStr for Reach {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [
            Reach::Internal,
            Reach::Local,
            Reach::Mobile,
            Reach::National,
            Reach::International,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| format!("{s:?}: use internal, local, mobile, national or international"))
    }
}

fn default_denied() -> Vec<String> {
    DEFAULT_DENIED.iter().map(|p| p.to_string()).collect()
}
fn default_company_calls() -> u32 {
    30
}
fn default_employee_calls() -> u32 {
    3
}
fn default_callbacks() -> u32 {
    3
}

impl OutboundRules {
    /// The rules of a fresh company in the country `country_code`: national numbers only.
    pub fn national(country_code: &str) -> Self {
        OutboundRules {
            country_code: country_code.to_string(),
            international: false,
            allow: Vec::new(),
            deny: default_denied(),
            max_calls: default_company_calls(),
            max_calls_per_employee: default_employee_calls(),
            callbacks_per_number_per_day: default_callbacks(),
            trunk_callers_may_transfer: false,
            local_prefixes: Vec::new(),
            mobile_prefixes: Vec::new(),
        }
    }

    /// How far `number` (E.164) is from the company.
    pub fn reach_of(&self, number: &str) -> Reach {
        let within = |prefixes: &[String]| prefixes.iter().any(|p| number.starts_with(p.as_str()));
        if !number.starts_with(&format!("+{}", self.country_code)) {
            Reach::International
        } else if within(&self.local_prefixes) {
            Reach::Local
        } else if within(&self.mobile_prefixes) {
            Reach::Mobile
        } else {
            Reach::National
        }
    }

    /// Whether `number` (E.164) may be called; `Err` says why not.
    pub fn check(&self, number: &str) -> Result<(), String> {
        if !super::number::is_e164(number) {
            return Err(format!("{number:?} is not an E.164 number"));
        }
        if let Some(prefix) = self.deny.iter().find(|p| number.starts_with(p.as_str())) {
            return Err(format!("{number} is in the blocked range {prefix}"));
        }
        let national = number.starts_with(&format!("+{}", self.country_code));
        if national || self.international || self.allow.iter().any(|p| number.starts_with(p.as_str())) {
            Ok(())
        } else {
            Err(format!(
                "{number} is outside country code +{} and international calls are off",
                self.country_code
            ))
        }
    }

    /// What is wrong with the rules themselves: `(field, why)`.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(1..=3).contains(&self.country_code.len()) || !digits(&self.country_code) {
            return Some(("country_code", "use 1 to 3 digits, e.g. 1 or 44".into()));
        }
        let lists = [
            ("allow", &self.allow),
            ("deny", &self.deny),
            ("local_prefixes", &self.local_prefixes),
            ("mobile_prefixes", &self.mobile_prefixes),
        ];
        for (field, prefixes) in lists {
            if prefixes.len() > 500 {
                return Some((field, "at most 500 prefixes".into()));
            }
            if let Some(bad) = prefixes
                .iter()
                .find(|p| p.len() > 16 || !p.strip_prefix('+').is_some_and(digits))
            {
                return Some((field, format!("{bad:?}: write a prefix as + and 1 to 15 digits")));
            }
        }
        if !(1..=10_000).contains(&self.max_calls) {
            return Some(("max_calls", "use 1 to 10000".into()));
        }
        if !(1..=100).contains(&self.max_calls_per_employee) {
            return Some(("max_calls_per_employee", "use 1 to 100".into()));
        }
        if self.callbacks_per_number_per_day > 100 {
            return Some(("callbacks_per_number_per_day", "use 0 to 100".into()));
        }
        None
    }
}

/// Calls through the carrier now.
#[derive(Default)]
struct Active {
    company: u32,
    by_employee: HashMap<String, u32>,
}

/// The gate every call out passes.
pub struct TollGate {
    rules: ArcSwap<OutboundRules>,
    active: Mutex<Active>,
}

/// One call out allowed; it counts until dropped.
pub struct TollPermit {
    gate: Arc<TollGate>,
    employee: Option<String>,
}

impl std::fmt::Debug for TollPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TollPermit").field("employee", &self.employee).finish()
    }
}

impl Drop for TollPermit {
    fn drop(&mut self) {
        let mut active = self.gate.active.lock();
        active.company = active.company.saturating_sub(1);
        if let Some(employee) = &self.employee
            && let Some(n) = active.by_employee.get_mut(employee)
        {
            *n -= 1;
            if *n == 0 {
                active.by_employee.remove(employee);
            }
        }
    }
}

impl TollGate {
    pub fn new(rules: OutboundRules) -> Arc<Self> {
        Arc::new(TollGate {
            rules: ArcSwap::from_pointee(rules),
            active: Mutex::default(),
        })
    }

    pub fn rules(&self) -> Arc<OutboundRules> {
        self.rules.load_full()
    }

    pub fn set_rules(&self, rules: OutboundRules) {
        self.rules.store(Arc::new(rules));
    }

    /// A call to `number` placed by `employee` (none: by a flow for a caller, or a mobile
    /// ringing): allowed by the rules and within the caps, or why not.
    pub fn permit(self: &Arc<Self>, number: &str, employee: Option<&str>) -> Result<TollPermit, String> {
        let rules = self.rules();
        rules.check(number)?;
        let mut active = self.active.lock();
        if active.company >= rules.max_calls {
            return Err(format!("the company has {} calls out already", rules.max_calls));
        }
        if let Some(employee) = employee {
            let his = active.by_employee.entry(employee.to_string()).or_default();
            if *his >= rules.max_calls_per_employee {
                return Err(format!(
                    "{employee} has {} calls out already",
                    rules.max_calls_per_employee
                ));
            }
            *his += 1;
        }
        active.company += 1;
        Ok(TollPermit {
            gate: self.clone(),
            employee: employee.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_far_a_number_is_and_who_may_call_it() {
        let rules = OutboundRules {
            local_prefixes: vec!["+4930".into()],
            mobile_prefixes: vec!["+4915".into(), "+4917".into()],
            ..OutboundRules::national("49")
        };
        assert_eq!(rules.reach_of("+493012345678"), Reach::Local);
        assert_eq!(rules.reach_of("+4917612345678"), Reach::Mobile);
        assert_eq!(rules.reach_of("+498912345678"), Reach::National);
        assert_eq!(rules.reach_of("+15550100100"), Reach::International);
        assert!(Reach::Local < Reach::Mobile && Reach::Mobile < Reach::National);
        assert_eq!("national".parse(), Ok(Reach::National));
        assert!("galactic".parse::<Reach>().is_err());
        let bad = OutboundRules {
            mobile_prefixes: vec!["49".into()],
            ..OutboundRules::national("49")
        };
        assert_eq!(bad.problem().map(|(field, _)| field), Some("mobile_prefixes"));
    }

    #[test]
    fn national_by_default_premium_never_and_international_on_request() {
        let mut rules = OutboundRules::national("1");
        assert_eq!(rules.check("+15550100199"), Ok(()));
        assert!(
            rules
                .check("+4930123456")
                .unwrap_err()
                .contains("international calls are off")
        );
        assert!(rules.check("+19005550100").unwrap_err().contains("+1900"));
        assert!(
            rules.check("+18765550100").unwrap_err().contains("+1876"),
            "Jamaica is not national"
        );
        assert!(rules.check("15550100199").is_err(), "not E.164");
        assert!(rules.check("+1555@evil").is_err());
        rules.allow.push("+4930".into());
        assert_eq!(rules.check("+4930123456"), Ok(()));
        assert!(rules.check("+4940123456").is_err());
        rules.international = true;
        assert_eq!(rules.check("+4940123456"), Ok(()));
        assert!(rules.check("+88213456789").is_err(), "deny wins over international");
    }

    #[test]
    fn calls_out_are_capped_per_company_and_per_employee() {
        let mut rules = OutboundRules::national("1");
        (rules.max_calls, rules.max_calls_per_employee) = (3, 2);
        let gate = TollGate::new(rules);
        let a1 = gate.permit("+15550100001", Some("alice")).unwrap();
        let _a2 = gate.permit("+15550100002", Some("alice")).unwrap();
        assert!(
            gate.permit("+15550100003", Some("alice"))
                .unwrap_err()
                .contains("alice")
        );
        let _b = gate.permit("+15550100004", Some("bob")).unwrap();
        assert!(gate.permit("+15550100005", None).unwrap_err().contains("company"));
        drop(a1);
        assert!(gate.permit("+15550100006", Some("alice")).is_ok());
    }

    #[test]
    fn rules_say_what_is_wrong_with_them() {
        let mut rules = OutboundRules::national("1");
        assert_eq!(rules.problem(), None);
        rules.deny.push("1900".into());
        assert_eq!(rules.problem().unwrap().0, "deny");
        rules = OutboundRules::national("abc");
        assert_eq!(rules.problem().unwrap().0, "country_code");
    }
}
