//! Numbers and what they are assigned: a flow version, its settings, and the number's options.

use serde::Serialize;
use sqlx::Row;

use super::{CompanyId, Store, Tenant};

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Assignment {
    /// Whose number it is (numbers are unique across the exchange).
    #[serde(skip)]
    pub company: CompanyId,
    pub number: String,
    pub timezone: String,
    pub flow_sha256: String,
    /// JSON text.
    pub settings: String,
    /// Both parties of every bridged call to the number are recorded.
    pub record_calls: bool,
    /// Where calls go when the flow fails: a route as JSON (empty: the default).
    pub fallback: String,
    /// Login of the employee whose mailbox takes voicemail left on the number (empty: nobody's).
    pub mailbox: String,
    /// Mail the mailbox owner about calls nobody answered that left no voicemail.
    pub missed_call_mail: bool,
    /// Hosts (`name` or `name:port`) the flow may send HTTP requests to.
    pub allowed_hosts: Vec<String>,
    /// E.164 its flow's calls out through the carrier show; empty: the company's main number.
    pub caller_id: String,
    /// Shown first on an employee's ringing phone for the number's callers (e.g. `Sales`).
    pub display_prefix: String,
    /// The ringing phone shows whether the caller is new or returning (or his card's name).
    pub show_caller_status: bool,
    pub updated_at: i64,
}

impl Tenant {
    /// Assigns one of the company's numbers (taking it when nobody has it); false when the
    /// number belongs to another company (`a.company` is ignored: the number becomes this one's).
    pub async fn assign(&self, a: &Assignment) -> super::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO numbers (number, company_id, timezone, flow_sha256, settings, record_calls, fallback, mailbox,
             allowed_hosts, updated_at, missed_call_mail, caller_id, display_prefix, show_caller_status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (number) DO UPDATE SET timezone = excluded.timezone, flow_sha256 = excluded.flow_sha256,
             settings = excluded.settings, record_calls = excluded.record_calls, fallback = excluded.fallback,
             mailbox = excluded.mailbox, allowed_hosts = excluded.allowed_hosts, updated_at = excluded.updated_at,
             missed_call_mail = excluded.missed_call_mail, caller_id = excluded.caller_id,
             display_prefix = excluded.display_prefix, show_caller_status = excluded.show_caller_status
             WHERE numbers.company_id = excluded.company_id",
        )
        .bind(&a.number)
        .bind(self.company())
        .bind(&a.timezone)
        .bind(&a.flow_sha256)
        .bind(&a.settings)
        .bind(a.record_calls)
        .bind(&a.fallback)
        .bind(&a.mailbox)
        .bind(serde_json::to_string(&a.allowed_hosts).expect("strings serialise"))
        .bind(a.updated_at)
        .bind(a.missed_call_mail)
        .bind(&a.caller_id)
        .bind(&a.display_prefix)
        .bind(a.show_caller_status)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The company's numbers.
    pub async fn assignments(&self) -> super::Result<Vec<Assignment>> {
        self.store.assignments_of(Some(self.company())).await
    }
}

impl Store {
    /// Every number of every company (the routing table).
    pub async fn assignments(&self) -> super::Result<Vec<Assignment>> {
        self.assignments_of(None).await
    }

    /// One company's numbers (every company's: `None`).
    async fn assignments_of(&self, company: Option<i64>) -> super::Result<Vec<Assignment>> {
        let rows = sqlx::query(
            "SELECT company_id, number, timezone, flow_sha256, settings, CAST(record_calls AS INTEGER) AS record_calls, fallback,
             mailbox, allowed_hosts, updated_at, CAST(missed_call_mail AS INTEGER) AS missed_call_mail, caller_id,
             display_prefix, CAST(show_caller_status AS INTEGER) AS show_caller_status
             FROM numbers WHERE CAST($1 AS BIGINT) IS NULL OR company_id = $2 ORDER BY number",
        )
        .bind(company)
        .bind(company)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Assignment {
                company: CompanyId(r.get("company_id")),
                number: r.get("number"),
                timezone: r.get("timezone"),
                flow_sha256: r.get("flow_sha256"),
                settings: r.get("settings"),
                record_calls: r.get::<i64, _>("record_calls") != 0,
                fallback: r.get("fallback"),
                mailbox: r.get("mailbox"),
                missed_call_mail: r.get::<i64, _>("missed_call_mail") != 0,
                allowed_hosts: serde_json::from_str(r.get("allowed_hosts")).unwrap_or_default(),
                updated_at: r.get("updated_at"),
                caller_id: r.get("caller_id"),
                display_prefix: r.get("display_prefix"),
                show_caller_status: r.get::<i64, _>("show_caller_status") != 0,
            })
            .collect())
    }
}
