//! The responsible user of a caller in a CRM, by each CRM's documented REST API, mapped to one
//! of our employees (the `users` table, or the CRM user's e-mail).
//!
//! - amoCRM (API v4): `GET {url}/api/v4/contacts?query={phone}` with `Authorization: Bearer`
//!   → `_embedded.contacts[0].responsible_user_id` → `GET {url}/api/v4/users/{id}` → `email`.
//!   204 No Content: no such contact.
//! - Bitrix24 (REST over an inbound webhook `https://{portal}/rest/{user}/{key}`):
//!   `crm.contact.list.json?filter[PHONE]={phone}&select[]=ASSIGNED_BY_ID` → `result[0].ASSIGNED_BY_ID`
//!   → `user.get.json?ID={id}` → `result[0].EMAIL`.
//! - Megaplan (API v3): `GET {url}/api/v3/contractorHuman?{"q":"{phone}","limit":1}` with
//!   `Authorization: Bearer` → `data[0].responsibles[0].id` → `GET {url}/api/v3/employee/{id}`
//!   → `data.email` (or the `email` entry of `data.contactInfo`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use switchboard_sdk::http::encode_query;
use switchboard_sdk::prelude::*;

use crate::Settings;

/// Where the ICM looks for a caller's manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The exchange's own call history ("ICM base").
    History,
    Amocrm,
    Bitrix24,
    Megaplan,
}

/// How to reach one CRM.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmSettings {
    /// amoCRM: `https://{subdomain}.amocrm.ru`; Bitrix24: the inbound webhook
    /// `https://{portal}/rest/{user}/{key}`; Megaplan: `https://{account}.megaplan.ru`. Its host
    /// must be in the number's `allowed_hosts`.
    pub url: String,
    /// API token (amoCRM's long-lived token, Megaplan's); Bitrix24 carries its key in the URL.
    pub token: String,
    /// CRM user id → employee login; users not in it are matched by their e-mail.
    pub users: BTreeMap<String, String>,
    /// How long each request may take.
    pub timeout_ms: u32,
}

impl Default for CrmSettings {
    fn default() -> Self {
        CrmSettings {
            url: String::new(),
            token: String::new(),
            users: BTreeMap::new(),
            timeout_ms: 2_000,
        }
    }
}

/// The employee `source` names as responsible for `phone`; none when it knows no such contact.
pub fn lookup(
    call: &impl CallApi,
    source: Source,
    settings: &Settings,
    phone: &str,
) -> Result<Option<EmployeeCard>, String> {
    let crm = match source {
        Source::History => return Err("the call history is not a CRM".into()),
        Source::Amocrm => settings.amocrm.as_ref(),
        Source::Bitrix24 => settings.bitrix24.as_ref(),
        Source::Megaplan => settings.megaplan.as_ref(),
    }
    .ok_or("is a source but has no settings")?;
    let client = Client { call, crm };
    let user = match source {
        Source::Amocrm => client.amocrm(phone)?,
        Source::Bitrix24 => client.bitrix24(phone)?,
        _ => client.megaplan(phone)?,
    };
    let Some(user) = user else { return Ok(None) };
    if let Some(login) = crm.users.get(&user.id) {
        return Ok(call.employee(login));
    }
    let email = match user.email {
        Some(email) => email,
        None => client.user_email(source, &user.id)?,
    };
    Ok(call.employee_by_email(&email))
}

/// A CRM's responsible user.
struct CrmUser {
    id: String,
    email: Option<String>,
}

struct Client<'a, C> {
    call: &'a C,
    crm: &'a CrmSettings,
}

impl<C: CallApi> Client<'_, C> {
    /// GET `path` under the CRM's URL; `None` for "no content".
    fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let url = format!("{}{path}", self.crm.url.trim_end_matches('/'));
        let mut request = HttpRequest::get(&url).timeout_ms(self.crm.timeout_ms);
        if !self.crm.token.is_empty() {
            request = request.header("Authorization", &format!("Bearer {}", self.crm.token));
        }
        let response = self.call.fetch(&request)?;
        match response.status {
            204 | 404 => Ok(None),
            _ if response.is_success() => response.json().map(Some),
            status => Err(format!("HTTP {status}")),
        }
    }

    fn amocrm(&self, phone: &str) -> Result<Option<CrmUser>, String> {
        let digits = phone.trim_start_matches('+');
        let Some(found) = self.get(&format!("/api/v4/contacts?query={}&limit=1", encode_query(digits)))? else {
            return Ok(None);
        };
        Ok(text(&found["_embedded"]["contacts"][0]["responsible_user_id"]).map(|id| CrmUser { id, email: None }))
    }

    fn bitrix24(&self, phone: &str) -> Result<Option<CrmUser>, String> {
        let path = format!(
            "/crm.contact.list.json?filter[PHONE]={}&select[]=ID&select[]=ASSIGNED_BY_ID",
            encode_query(phone)
        );
        let Some(found) = self.get(&path)? else { return Ok(None) };
        Ok(text(&found["result"][0]["ASSIGNED_BY_ID"]).map(|id| CrmUser { id, email: None }))
    }

    fn megaplan(&self, phone: &str) -> Result<Option<CrmUser>, String> {
        let query = serde_json::json!({ "q": phone.trim_start_matches('+'), "limit": 1 }).to_string();
        let Some(found) = self.get(&format!("/api/v3/contractorHuman?{}", encode_query(&query)))? else {
            return Ok(None);
        };
        Ok(text(&found["data"][0]["responsibles"][0]["id"]).map(|id| CrmUser { id, email: None }))
    }

    /// The e-mail of CRM user `id`.
    fn user_email(&self, source: Source, id: &str) -> Result<String, String> {
        let id = encode_query(id);
        let email = match source {
            Source::Amocrm => self
                .get(&format!("/api/v4/users/{id}"))?
                .and_then(|u| text(&u["email"])),
            Source::Bitrix24 => self
                .get(&format!("/user.get.json?ID={id}"))?
                .and_then(|u| text(&u["result"][0]["EMAIL"])),
            _ => self.get(&format!("/api/v3/employee/{id}"))?.and_then(|u| {
                let data = &u["data"];
                text(&data["email"]).or_else(|| {
                    let info = data["contactInfo"].as_array()?;
                    info.iter()
                        .find(|c| c["type"] == "email")
                        .and_then(|c| text(&c["value"]))
                })
            }),
        };
        email.ok_or_else(|| format!("user {id} has no e-mail; map him in `users`"))
    }
}

/// A JSON string or number as text (CRMs write ids both ways); none for anything else.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
