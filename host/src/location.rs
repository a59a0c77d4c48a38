//! The registrar's location service, kept in the store.

use crate::sip::{Binding, Location};
use crate::store::Store;

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
                })
            })
            .collect())
    }

    async fn bind(&self, user: i64, b: &Binding) -> anyhow::Result<()> {
        Ok(self
            .0
            .upsert_registration(user, &b.contact, &b.source.to_string(), b.expires_at)
            .await?)
    }

    async fn unbind(&self, user: i64, contact: Option<&str>) -> anyhow::Result<()> {
        Ok(self.0.remove_registrations(user, contact).await?)
    }
}
