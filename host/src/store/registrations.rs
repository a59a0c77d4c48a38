//! Phones' registrations (the location service) and the SIP credentials they register with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Row;

use super::{Store, Tenant};

/// Each employee's registrations in memory, read through on a miss: every call to an employee
/// reads them, and the registrar on every REGISTER. Writes here drop the employee's entry;
/// writes on another node announce it ([`super::Change::Registrations`]). Entries are kept at
/// most [`BINDINGS_MAX_AGE`] when nodes share the database (a notice may be lost) — longer while
/// the database cannot be reached —, and expired bindings are filtered out on every read.
#[derive(Default)]
pub(super) struct Bindings {
    state: parking_lot::Mutex<BindingsState>,
}

#[derive(Default)]
struct BindingsState {
    /// Grows on every write: a read that began before one must not keep what it read.
    generation: u64,
    by_employee: HashMap<i64, (Instant, Arc<Vec<Registration>>)>,
}

const BINDINGS_MAX_AGE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Registration {
    pub employee_id: i64,
    pub login: String,
    pub contact: String,
    /// Where requests to the phone go: the address it registered from, or the proxy it
    /// registered through.
    pub source: String,
    /// The Path (RFC 3327) it registered through: the Route of requests to it (empty: none).
    pub path: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The REGISTER that made it.
    pub call_id: String,
    pub cseq: i64,
}

impl Tenant {
    /// The company's employees' live registrations.
    pub async fn registrations(&self, now: i64) -> super::Result<Vec<Registration>> {
        self.store.registrations_of(Some(self.company()), None, now).await
    }

    pub async fn sip_credentials(&self, login: &str) -> super::Result<Option<(i64, String)>> {
        self.store.sip_credentials_of(self.id, login).await
    }
}

impl Store {
    /// Adds or refreshes a binding, sweeping the expired ones of every employee on the way.
    pub async fn upsert_registration(&self, r: &Registration, now: i64) -> super::Result<()> {
        sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO registrations (employee_id, contact, source, path, expires_at, call_id, cseq) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (employee_id, contact) DO UPDATE SET source = excluded.source, path = excluded.path,
             expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq",
        )
        .bind(r.employee_id)
        .bind(&r.contact)
        .bind(&r.source)
        .bind(&r.path)
        .bind(r.expires_at)
        .bind(&r.call_id)
        .bind(r.cseq)
        .execute(&self.pool)
        .await?;
        self.registrations_written(r.employee_id).await;
        Ok(())
    }

    /// Removes one contact of an employee, or all of them.
    pub async fn remove_registrations(&self, employee_id: i64, contact: Option<&str>) -> super::Result<()> {
        sqlx::query("DELETE FROM registrations WHERE employee_id = $1 AND (CAST($2 AS TEXT) IS NULL OR contact = $3)")
            .bind(employee_id)
            .bind(contact)
            .bind(contact)
            .execute(&self.pool)
            .await?;
        self.registrations_written(employee_id).await;
        Ok(())
    }

    /// Live registrations (of one employee, or everyone's). Read on every call to an employee,
    /// so it only reads (one employee's from memory); expired rows are swept when registrations
    /// are written.
    pub async fn registrations(&self, employee_id: Option<i64>, now: i64) -> super::Result<Vec<Registration>> {
        let Some(id) = employee_id else {
            return self.registrations_of(None, None, now).await;
        };
        let live = |all: &[Registration]| all.iter().filter(|r| r.expires_at > now).cloned().collect();
        let (generation, kept) = {
            let state = self.bindings.state.lock();
            let max_age = if self.is_shared() {
                BINDINGS_MAX_AGE
            } else {
                Duration::MAX
            };
            let kept = state.by_employee.get(&id);
            if let Some((_, kept)) = kept.filter(|(at, _)| at.elapsed() < max_age) {
                return Ok(live(kept));
            }
            (state.generation, kept.map(|(_, kept)| kept.clone()))
        };
        let read = match self.registrations_of(None, Some(id), now).await {
            Ok(read) => Arc::new(read),
            // While the database is away, calls still reach the phones last read.
            Err(e)
                if e.is_unreachable()
                    && let Some(kept) = kept =>
            {
                return Ok(live(&kept));
            }
            Err(e) => return Err(e),
        };
        let mut state = self.bindings.state.lock();
        if state.generation == generation {
            state.by_employee.insert(id, (Instant::now(), read.clone()));
        }
        Ok(live(&read))
    }

    /// Employee `id`'s registrations changed (here, or on another node that announced it);
    /// everyone's may have (`None`).
    pub fn registrations_changed(&self, id: Option<i64>) {
        let mut state = self.bindings.state.lock();
        state.generation += 1;
        match id {
            Some(id) => drop(state.by_employee.remove(&id)),
            None => state.by_employee.clear(),
        }
    }

    /// Marks `id`'s registrations changed here and tells the other nodes.
    pub(super) async fn registrations_written(&self, id: i64) {
        self.registrations_changed(Some(id));
        self.announce(super::Change::Registrations(id)).await;
    }

    /// Live registrations of one company's employees (all companies': `None`).
    async fn registrations_of(
        &self,
        company: Option<i64>,
        employee_id: Option<i64>,
        now: i64,
    ) -> super::Result<Vec<Registration>> {
        let rows = sqlx::query(
            "SELECT r.employee_id, e.login, r.contact, r.source, r.path, r.expires_at, r.call_id, r.cseq FROM registrations r
             JOIN employees e ON e.id = r.employee_id WHERE (CAST($1 AS BIGINT) IS NULL OR r.employee_id = $2) AND r.expires_at > $3
               AND (CAST($4 AS BIGINT) IS NULL OR e.company_id = $5)
             ORDER BY e.login, r.contact",
        )
        .bind(employee_id)
        .bind(employee_id)
        .bind(now)
        .bind(company)
        .bind(company)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Registration {
                employee_id: r.get("employee_id"),
                login: r.get("login"),
                contact: r.get("contact"),
                source: r.get("source"),
                path: r.get("path"),
                expires_at: r.get("expires_at"),
                call_id: r.get("call_id"),
                cseq: r.get("cseq"),
            })
            .collect())
    }
}
