//! Companies: the operator's list of them (name, SIP domain, plan, suspension), what each
//! company sets itself (its rules for calls out through the carrier, its main caller ID), and
//! what it uses.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CompanyId, Store, Tenant};

/// What a company's plan allows; `None`: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub max_employees: Option<i64>,
    pub max_numbers: Option<i64>,
    /// Calls in progress at once (inbound and outbound together).
    pub max_calls: Option<i64>,
    /// Uploaded flow versions kept.
    pub max_flow_versions: Option<i64>,
    /// Bytes of recordings, uploaded prompts and flow versions kept.
    pub max_storage_bytes: Option<i64>,
}

/// A company as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CompanyInfo {
    pub id: CompanyId,
    pub name: String,
    /// Its phones register to this domain; it is their digest realm too.
    pub sip_domain: String,
    pub main_caller_id: String,
    pub suspended: bool,
    /// Why it was suspended (said to its callers' phones in the SIP Reason).
    pub suspended_reason: String,
    pub plan: Plan,
    pub created_at: i64,
    /// Callers the company will not take (its admin's setting, `PATCH /company`).
    #[serde(skip)]
    pub blocking: Blocking,
    /// The company's ICM configuration: the `icm` flow's settings as JSON (`PUT /icm`).
    #[serde(skip)]
    pub icm_settings: String,
    /// The company's missed-call hook as JSON (`PUT /missed-call-hook`); empty: none.
    #[serde(skip)]
    pub missed_call_hook: String,
}

/// Callers a company will not take: numbers starting with one of `prefixes` (E.164 prefixes,
/// a whole number being its own prefix) and, with `anonymous`, callers who show no number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocking {
    pub prefixes: Vec<String>,
    pub anonymous: bool,
    /// Played to a blocked caller before hanging up; empty: the call is refused with 603.
    pub prompt: String,
}

impl Blocking {
    /// Whether `caller` (the number as it came) is blocked.
    pub fn blocks(&self, caller: &str) -> bool {
        let digits: String = caller.chars().filter(char::is_ascii_digit).collect();
        let anonymous = digits.is_empty() || caller.to_ascii_lowercase().contains("anonymous");
        if anonymous {
            return self.anonymous;
        }
        self.prefixes
            .iter()
            .any(|prefix| digits.starts_with(prefix.trim_start_matches('+')))
    }
}

const COMPANY_COLUMNS: &str = "id, name, sip_domain, main_caller_id, CAST(suspended AS INTEGER) AS suspended,
    suspended_reason, max_employees, max_numbers, max_calls, max_flow_versions, max_storage_bytes, created_at,
    blocked_callers, CAST(block_anonymous AS INTEGER) AS block_anonymous, blocked_prompt, icm_settings, missed_call_hook";

fn company_row(r: &AnyRow) -> CompanyInfo {
    CompanyInfo {
        id: CompanyId(r.get("id")),
        name: r.get("name"),
        sip_domain: r.get("sip_domain"),
        main_caller_id: r.get("main_caller_id"),
        suspended: r.get::<i64, _>("suspended") != 0,
        suspended_reason: r.get("suspended_reason"),
        plan: Plan {
            max_employees: r.get("max_employees"),
            max_numbers: r.get("max_numbers"),
            max_calls: r.get("max_calls"),
            max_flow_versions: r.get("max_flow_versions"),
            max_storage_bytes: r.get("max_storage_bytes"),
        },
        created_at: r.get("created_at"),
        blocking: Blocking {
            // Written by `set_blocking` from a checked list; unreadable reads as none.
            prefixes: serde_json::from_str(r.get::<&str, _>("blocked_callers")).unwrap_or_default(),
            anonymous: r.get::<i64, _>("block_anonymous") != 0,
            prompt: r.get("blocked_prompt"),
        },
        icm_settings: r.get("icm_settings"),
        missed_call_hook: r.get("missed_call_hook"),
    }
}

/// A fresh company's departments (those the built-in voice menu routes to) and business hours,
/// as a fresh install's first company gets them from the migrations.
const DEFAULT_DEPARTMENTS: [(&str, &str, &str); 2] =
    [("sales", "Sales Department", "600"), ("support", "Support", "601")];
const OFFICE_HOURS: &str = r#"{"weekly":{"mon":[["09:00","18:00"]],"tue":[["09:00","18:00"]],"wed":[["09:00","18:00"]],"thu":[["09:00","18:00"]],"fri":[["09:00","18:00"]]},"holidays":[],"extra_days":[]}"#;

impl Store {
    /// Creates a company with its default departments and office hours; `None` when the SIP
    /// domain is taken.
    pub async fn create_company(
        &self,
        name: &str,
        sip_domain: &str,
        plan: &Plan,
        now: i64,
    ) -> super::Result<Option<CompanyId>> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO companies (name, sip_domain, created_at, max_employees, max_numbers, max_calls,
             max_flow_versions, max_storage_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (sip_domain) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(sip_domain.to_ascii_lowercase())
        .bind(now)
        .bind(plan.max_employees)
        .bind(plan.max_numbers)
        .bind(plan.max_calls)
        .bind(plan.max_flow_versions)
        .bind(plan.max_storage_bytes)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        for (slug, name, extension) in DEFAULT_DEPARTMENTS {
            sqlx::query(
                "INSERT INTO departments (company_id, slug, name, extension, strategy, step_secs, timeout_secs, created_at)
                 VALUES ($1, $2, $3, $4, 'ring_all', 15, 60, $5)",
            )
            .bind(id)
            .bind(slug)
            .bind(name)
            .bind(extension)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO schedules (company_id, slug, name, definition, updated_at) VALUES ($1, 'office', 'Office hours', $2, $3)",
        )
        .bind(id)
        .bind(OFFICE_HOURS)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(CompanyId(id)))
    }

    /// Removes a company just made (its first admin was refused), with what creating it made.
    pub async fn delete_company(&self, id: CompanyId) -> super::Result<()> {
        let mut tx = self.pool.begin().await?;
        for table in ["schedules", "departments", "companies"] {
            let column = if table == "companies" { "id" } else { "company_id" };
            sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every company, oldest first.
    pub async fn companies(&self) -> super::Result<Vec<CompanyInfo>> {
        let rows = sqlx::query(&format!("SELECT {COMPANY_COLUMNS} FROM companies ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(company_row).collect())
    }

    pub async fn company_info(&self, id: CompanyId) -> super::Result<Option<CompanyInfo>> {
        let row = sqlx::query(&format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(company_row))
    }

    /// Renames a company, moves it to another SIP domain and sets its plan; `None` when there
    /// is no such company, `Some(false)` when the domain is another company's.
    pub async fn update_company(&self, c: &CompanyInfo) -> super::Result<Option<bool>> {
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM companies WHERE sip_domain = $1 AND id <> $2")
            .bind(c.sip_domain.to_ascii_lowercase())
            .bind(c.id.0)
            .fetch_optional(&self.pool)
            .await?;
        if taken.is_some() {
            return Ok(Some(false));
        }
        let done = sqlx::query(
            "UPDATE companies SET name = $1, sip_domain = $2, max_employees = $3, max_numbers = $4, max_calls = $5,
             max_flow_versions = $6, max_storage_bytes = $7, suspended = $8, suspended_reason = $9 WHERE id = $10",
        )
        .bind(&c.name)
        .bind(c.sip_domain.to_ascii_lowercase())
        .bind(c.plan.max_employees)
        .bind(c.plan.max_numbers)
        .bind(c.plan.max_calls)
        .bind(c.plan.max_flow_versions)
        .bind(c.plan.max_storage_bytes)
        .bind(c.suspended)
        .bind(&c.suspended_reason)
        .bind(c.id.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.announce(super::Change::Companies).await;
        Ok(Some(true))
    }

    /// Gives the home company the operator's own SIP domain (at start, from `--sip-domain`),
    /// unless another company has it.
    pub async fn set_home_domain(&self, domain: &str) -> super::Result<()> {
        sqlx::query(
            "UPDATE companies SET sip_domain = $1 WHERE id = $2
             AND NOT EXISTS (SELECT 1 FROM companies WHERE sip_domain = $1 AND id <> $2)",
        )
        .bind(domain.to_ascii_lowercase())
        .bind(CompanyId::HOME.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

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

impl Tenant {
    /// The company's outbound rules as stored (JSON); none when never set.
    pub async fn outbound_rules(&self) -> super::Result<Option<String>> {
        let rules: Option<String> = sqlx::query_scalar("SELECT outbound_rules FROM companies WHERE id = $1")
            .bind(self.company())
            .fetch_optional(self.pool())
            .await?;
        Ok(rules.filter(|r| !r.is_empty()))
    }

    /// Keeps the company's outbound rules (JSON) and tells the other nodes.
    pub async fn set_outbound_rules(&self, json: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET outbound_rules = $1 WHERE id = $2")
            .bind(json)
            .bind(self.company())
            .execute(self.pool())
            .await?;
        self.store.announce(super::Change::OutboundRules).await;
        Ok(())
    }

    /// The company's name and main caller ID (the number shown to the people it calls; empty:
    /// the trunk's default).
    pub async fn company_profile(&self) -> super::Result<(String, String)> {
        let row = sqlx::query("SELECT name, main_caller_id FROM companies WHERE id = $1")
            .bind(self.company())
            .fetch_one(self.pool())
            .await?;
        Ok((row.get("name"), row.get("main_caller_id")))
    }

    pub async fn set_company_profile(&self, name: &str, main_caller_id: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET name = $1, main_caller_id = $2 WHERE id = $3")
            .bind(name)
            .bind(main_caller_id)
            .bind(self.company())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The company's ICM configuration (the `icm` flow's settings, JSON).
    pub async fn icm_settings(&self) -> super::Result<String> {
        Ok(self.info().await?.icm_settings)
    }

    pub async fn set_icm_settings(&self, settings: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET icm_settings = $1 WHERE id = $2")
            .bind(settings)
            .bind(self.company())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The company's missed-call hook (JSON; empty: none).
    pub async fn missed_call_hook(&self) -> super::Result<String> {
        Ok(self.info().await?.missed_call_hook)
    }

    pub async fn set_missed_call_hook(&self, hook: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET missed_call_hook = $1 WHERE id = $2")
            .bind(hook)
            .bind(self.company())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Callers the company will not take.
    pub async fn blocking(&self) -> super::Result<Blocking> {
        Ok(self.info().await?.blocking)
    }

    pub async fn set_blocking(&self, b: &Blocking) -> super::Result<()> {
        sqlx::query(
            "UPDATE companies SET blocked_callers = $1, block_anonymous = $2, blocked_prompt = $3 WHERE id = $4",
        )
        .bind(serde_json::to_string(&b.prefixes).expect("strings serialise"))
        .bind(b.anonymous)
        .bind(&b.prompt)
        .bind(self.company())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// When the company calls people back: its timezone (IANA) and the schedule of its business
    /// hours (a schedule's id; empty: around the clock).
    pub async fn business_hours(&self) -> super::Result<(String, String)> {
        let row = sqlx::query("SELECT timezone, business_hours FROM companies WHERE id = $1")
            .bind(self.company())
            .fetch_one(self.pool())
            .await?;
        Ok((row.get("timezone"), row.get("business_hours")))
    }

    pub async fn set_business_hours(&self, timezone: &str, schedule: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET timezone = $1, business_hours = $2 WHERE id = $3")
            .bind(timezone)
            .bind(schedule)
            .bind(self.company())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The company as the operator sees it (its plan, whether it is suspended).
    pub async fn info(&self) -> super::Result<CompanyInfo> {
        Ok(self
            .store
            .company_info(self.id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?)
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
        .bind(self.company())
        .bind(since)
        .fetch_one(self.pool())
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

#[cfg(test)]
mod tests {
    use super::Blocking;

    #[test]
    fn a_blocked_prefix_or_an_anonymous_caller() {
        let blocking = Blocking {
            prefixes: vec!["+1900".into(), "+15550100666".into()],
            anonymous: true,
            prompt: String::new(),
        };
        assert!(blocking.blocks("+19005550100"));
        assert!(blocking.blocks("19005550100"), "written without the +");
        assert!(blocking.blocks("+15550100666"));
        assert!(!blocking.blocks("+15550100667"));
        for anonymous in ["anonymous", "Anonymous", "", "restricted"] {
            assert!(blocking.blocks(anonymous), "{anonymous:?}");
        }
        let open = Blocking::default();
        assert!(!open.blocks("anonymous") && !open.blocks("+19005550100"));
    }
}
