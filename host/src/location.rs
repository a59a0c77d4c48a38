//! The registrar's location service, kept in the store.

use crate::sip::{Binding, Location};
use crate::store::{Registration, Store};

pub struct StoreLocation(pub Store);

#[async_trait::async_trait]
impl Location for StoreLocation {
    async fn credentials(&self, username: &str) -> anyhow::Result<Option<(i64, String)>> {
        Ok(self.0.sip_credentials(username).await?)
    }

    async fn bindings(&self, user: i64, now: i64) -> anyhow::Result<Vec<Binding>> {
        let registrations = self.0.registrations(Some(user), now).await?;
        Ok(registrations
            .into_iter()
            .filter_map(|r| {
                Some(Binding {
                    source: r.source.parse().ok()?,
                    contact: r.contact,
                    expires_at: r.expires_at,
                    call_id: r.call_id,
                    cseq: u32::try_from(r.cseq).ok()?,
                })
            })
            .collect())
    }

    async fn bind(&self, user: i64, b: &Binding) -> anyhow::Result<()> {
        let registration = Registration {
            employee_id: user,
            login: String::new(), // not stored with the binding
            contact: b.contact.clone(),
            source: b.source.to_string(),
            expires_at: b.expires_at,
            call_id: b.call_id.clone(),
            cseq: b.cseq.into(),
        };
        Ok(self.0.upsert_registration(&registration).await?)
    }

    async fn unbind(&self, user: i64, contact: Option<&str>) -> anyhow::Result<()> {
        Ok(self.0.remove_registrations(user, contact).await?)
    }
}
