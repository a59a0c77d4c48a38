//! Where employees are, kept in the store: the registrar's location service, and the directory
//! `dial` resolves its targets with.

use crate::call::{Directory, Reachable, Target};
use crate::sip::{Binding, Location, unix_secs};
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

#[async_trait::async_trait]
impl Directory for StoreLocation {
    async fn resolve(&self, target: &Target) -> anyhow::Result<Vec<Reachable>> {
        let employee = match target {
            Target::Employee(login) => self.0.employee(login, false).await?,
            Target::Extension(extension) => self.0.employee(extension, true).await?,
            Target::Department(_) | Target::External(_) => {
                // Departments arrive with the company model, outbound trunks with their
                // configuration; until then they reach nobody (the flow hears `unavailable`).
                tracing::warn!(?target, "no department or outbound trunk is configured for this target");
                return Ok(Vec::new());
            }
        };
        let Some(employee) = employee else {
            anyhow::bail!("no employee {target:?}");
        };
        let bindings = self.bindings(employee.id, unix_secs() as i64).await?;
        Ok(bindings
            .into_iter()
            .map(|b| Reachable {
                uri: b.contact,
                destination: b.source,
                user: employee.login.clone(),
                employee: Some(employee.login.clone()),
            })
            .collect())
    }
}
