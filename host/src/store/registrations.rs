//! Phones' registrations (the location service) and the SIP credentials they register with.

use serde::Serialize;
use sqlx::Row;

use super::{Store, Tenant};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Registration {
    pub employee_id: i64,
    pub login: String,
    pub contact: String,
    pub source: String,
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
        let row = sqlx::query("SELECT id, sip_ha1 FROM employees WHERE company_id = $1 AND login = $2")
            .bind(self.company())
            .bind(login)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| (r.get("id"), r.get("sip_ha1"))))
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
            "INSERT INTO registrations (employee_id, contact, source, expires_at, call_id, cseq) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (employee_id, contact) DO UPDATE SET source = excluded.source,
             expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq",
        )
        .bind(r.employee_id)
        .bind(&r.contact)
        .bind(&r.source)
        .bind(r.expires_at)
        .bind(&r.call_id)
        .bind(r.cseq)
        .execute(&self.pool)
        .await?;
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
        Ok(())
    }

    /// Live registrations (of one employee, or everyone's). Read on every call to an employee,
    /// so it only reads; expired rows are swept when registrations are written.
    pub async fn registrations(&self, employee_id: Option<i64>, now: i64) -> super::Result<Vec<Registration>> {
        self.registrations_of(None, employee_id, now).await
    }

    /// Live registrations of one company's employees (all companies': `None`).
    async fn registrations_of(
        &self,
        company: Option<i64>,
        employee_id: Option<i64>,
        now: i64,
    ) -> super::Result<Vec<Registration>> {
        let rows = sqlx::query(
            "SELECT r.employee_id, e.login, r.contact, r.source, r.expires_at, r.call_id, r.cseq FROM registrations r
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
                expires_at: r.get("expires_at"),
                call_id: r.get("call_id"),
                cseq: r.get("cseq"),
            })
            .collect())
    }
}
