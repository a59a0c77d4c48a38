//! What the company itself sets (its rules for calls out through the carrier), and what it uses.

use sqlx::Row;

use super::{DEFAULT_COMPANY, Store};

/// What the company uses, as counted in the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub employees: i64,
    pub numbers: i64,
    /// Uploaded flow versions (built-in ones are everyone's and not counted).
    pub flow_versions: i64,
    /// Minutes of connected calls that started since `since` (rounded up per call).
    pub connected_minutes: i64,
    /// Calls that started since `since`.
    pub calls: i64,
    /// Bytes kept for the company: recordings, uploaded prompts and flow versions.
    pub storage_bytes: i64,
}

impl Store {
    /// The company's outbound rules as stored (JSON); none when never set.
    pub async fn outbound_rules(&self) -> super::Result<Option<String>> {
        let rules: Option<String> = sqlx::query_scalar("SELECT outbound_rules FROM companies WHERE id = $1")
            .bind(DEFAULT_COMPANY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(rules.filter(|r| !r.is_empty()))
    }

    /// Keeps the company's outbound rules (JSON) and tells the other nodes.
    pub async fn set_outbound_rules(&self, json: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET outbound_rules = $1 WHERE id = $2")
            .bind(json)
            .bind(DEFAULT_COMPANY)
            .execute(&self.pool)
            .await?;
        self.announce(super::Change::OutboundRules).await;
        Ok(())
    }

    /// The company's name and main caller ID (the number shown to the people it calls; empty:
    /// the trunk's default).
    pub async fn company_profile(&self) -> super::Result<(String, String)> {
        let row = sqlx::query("SELECT name, main_caller_id FROM companies WHERE id = $1")
            .bind(DEFAULT_COMPANY)
            .fetch_one(&self.pool)
            .await?;
        Ok((row.get("name"), row.get("main_caller_id")))
    }

    pub async fn set_company_profile(&self, name: &str, main_caller_id: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET name = $1, main_caller_id = $2 WHERE id = $3")
            .bind(name)
            .bind(main_caller_id)
            .bind(DEFAULT_COMPANY)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What the company uses; calls and minutes since `since` (Unix ms, e.g. the month's start).
    pub async fn usage(&self, since: i64) -> super::Result<Usage> {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM employees WHERE company_id = $1) AS employees,
               (SELECT COUNT(*) FROM numbers WHERE company_id = $1) AS numbers,
               (SELECT COUNT(*) FROM flows WHERE company_id = $1 AND NOT builtin) AS flow_versions,
               (SELECT COUNT(*) FROM call_records WHERE company_id = $1 AND started_at >= $2) AS calls,
               (SELECT CAST(COALESCE(SUM((ended_at - answered_at + 59999) / 60000), 0) AS BIGINT) FROM call_records
                  WHERE company_id = $1 AND started_at >= $2 AND answered_at IS NOT NULL) AS minutes,
               (SELECT CAST(COALESCE(SUM(LENGTH(wav)), 0) AS BIGINT) FROM recordings WHERE company_id = $1) AS recording_bytes,
               (SELECT CAST(COALESCE(SUM(LENGTH(wav)), 0) AS BIGINT) FROM prompts WHERE company_id = $1) AS prompt_bytes,
               (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM flows WHERE company_id = $1 AND NOT builtin) AS flow_bytes",
        )
        .bind(DEFAULT_COMPANY)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let count = |name: &str| -> i64 { row.get(name) };
        Ok(Usage {
            employees: count("employees"),
            numbers: count("numbers"),
            flow_versions: count("flow_versions"),
            connected_minutes: count("minutes"),
            calls: count("calls"),
            storage_bytes: count("recording_bytes") + count("prompt_bytes") + count("flow_bytes"),
        })
    }
}
