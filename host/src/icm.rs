//! The company's one Intelligent Contact Manager configuration (`PUT /icm`: the built-in `icm`
//! flow's settings — sources, CRM accounts, city code, exceptions, mobile toggle, the queue or
//! group for busy managers, the fallback). Every number whose flow is the ICM runs with it,
//! the number's own settings on top key by key; extension 6100 runs the same flow with it to
//! find the caller's manager (`call::ContactManager`, `flow/lookup.rs`). The CRMs it names may
//! be asked by those runs without listing their hosts on each number.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::call::lookup::{Found, LookupCall, Purpose};
use crate::call::{ContactManager, DialEnv, Target, Trace};
use crate::flow::FlowRegistry;
use crate::store::Tenant;

/// The name the ICM flow is built in under.
pub const FLOW: &str = "icm";

/// The CRM accounts a configuration may hold (each `{"url", "token", ...}`).
const CRMS: [&str; 3] = ["amocrm", "bitrix24", "megaplan"];

/// The settings an ICM run gets: the company's configuration with the number's own settings
/// on top (a key the number sets replaces the company's). Either may be empty or `{}`.
pub fn merged(company: &str, number: &str) -> String {
    let object = |json: &str| match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut settings = object(company);
    settings.extend(object(number));
    Value::Object(settings).to_string()
}

/// The hosts (`name` or `name:port`, as `allowed_hosts` lists them) of the CRMs the company's
/// configuration names: its ICM runs may reach them.
pub fn crm_hosts(company: &str) -> Vec<String> {
    let Ok(settings) = serde_json::from_str::<Value>(company) else {
        return Vec::new();
    };
    CRMS.iter()
        .filter_map(|crm| settings[crm]["url"].as_str())
        .filter_map(|url| reqwest::Url::parse(url).ok())
        .filter_map(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .filter(|host| crate::web::check_allowed_host(host).is_ok())
        .collect()
}

/// One company's ICM, as extension 6100 asks it.
pub struct CompanyIcm {
    pub registry: Arc<FlowRegistry>,
    pub tenant: Tenant,
}

#[async_trait::async_trait]
impl ContactManager for CompanyIcm {
    async fn manager_of(&self, caller: &str, env: &DialEnv) -> anyhow::Result<Option<Target>> {
        let Some(version) = self.registry.builtin(FLOW) else {
            anyhow::bail!("the built-in icm flow is not loaded");
        };
        let settings = self.tenant.icm_settings().await?;
        let found = Arc::new(Mutex::new(Found::default()));
        let asked = (caller, Purpose::Question);
        let call = LookupCall::new(asked, Arc::new(env.clone()), crm_hosts(&settings), found.clone());
        let settings = merged(&settings, "");
        let run = self
            .registry
            .engine()
            .run(&version, Box::new(call), &settings, Trace::default())
            .await;
        let target = found.lock().target.clone();
        tracing::info!(%caller, ?target, exit = ?run.exit, "ICM asked for extension 6100");
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbers_settings_go_over_the_companys() {
        let company = r#"{"sources": ["history", "amocrm"], "city_code": "495", "ring_secs": 20}"#;
        let number = r#"{"ring_secs": 30, "fallback": {"department": "support"}}"#;
        let merged: Value = serde_json::from_str(&merged(company, number)).unwrap();
        assert_eq!(
            merged,
            serde_json::json!({ "sources": ["history", "amocrm"], "city_code": "495", "ring_secs": 30,
                "fallback": { "department": "support" } })
        );
        assert_eq!(merged_value("", "{}"), serde_json::json!({}));
        assert_eq!(merged_value("not json", r#"{"a": 1}"#), serde_json::json!({ "a": 1 }));
    }

    fn merged_value(company: &str, number: &str) -> Value {
        serde_json::from_str(&merged(company, number)).unwrap()
    }

    #[test]
    fn the_crms_it_names_are_its_hosts() {
        let company = r#"{"amocrm": {"url": "https://acme.amocrm.ru", "token": "t"},
            "megaplan": {"url": "http://127.0.0.1:8088/", "token": "t"}, "bitrix24": null}"#;
        assert_eq!(crm_hosts(company), ["acme.amocrm.ru", "127.0.0.1:8088"]);
        assert!(crm_hosts("{}").is_empty());
        assert!(crm_hosts(r#"{"amocrm": {"url": "not a url"}}"#).is_empty());
    }
}
