//! Persistence: sqlx over a SQLite file (created on first start) or PostgreSQL, with migrations
//! for each. One set of queries serves both through sqlx's `Any` driver: `$N` placeholders
//! (both understand them), `ON CONFLICT`, `RETURNING`, and booleans read back as integers
//! (`Any` cannot decode SQLite's BOOLEAN columns).

use serde::Serialize;
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

use crate::call::CallRecord;

mod callback_queue;
mod company;
mod contacts;
mod departments;
mod employees;
mod live;
mod outbox;
mod schedules;
pub use callback_queue::DueCall;
pub use contacts::{
    Callback, CallbackFilter, CallbackResult, Contact, ContactFields, ContactLogEntry, NewCallback, NewLogEntry,
};
pub use departments::Department;
pub use employees::{Employee, EmployeeFields, Secrets};
pub use outbox::{NewMail, QueuedMail};
pub use schedules::StoredSchedule;

/// The one company of a fresh install.
pub const DEFAULT_COMPANY: i64 = 1;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// The PostgreSQL URL (for listening to other nodes' changes); `None` on SQLite.
    postgres: Option<String>,
    /// Grows whenever employees change (here or, announced, on another node): what is kept in
    /// memory about them (SIP credentials) is stale once it moved.
    employees_version: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What changed in the database, for other nodes that keep it in memory, or what another node
/// is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Number assignments (the routing table).
    Numbers,
    /// Uploaded prompts.
    Prompts,
    /// Employees (their SIP credentials are kept in memory).
    Employees,
    /// The company's outbound rules (kept in memory by the toll gate).
    OutboundRules,
    /// Hang up this call (whichever node has it).
    HangUp(String),
    /// Bring the colleague at `extension` into this call (whichever node has it).
    ThreeWay { call: String, extension: String },
}

impl Change {
    fn payload(&self) -> String {
        match self {
            Change::Numbers => "numbers".into(),
            Change::Prompts => "prompts".into(),
            Change::Employees => "employees".into(),
            Change::OutboundRules => "outbound-rules".into(),
            Change::HangUp(call) => format!("hangup:{call}"),
            Change::ThreeWay { call, extension } => format!("threeway:{call}:{extension}"),
        }
    }

    fn from_payload(payload: &str) -> Option<Change> {
        match payload {
            "numbers" => Some(Change::Numbers),
            "prompts" => Some(Change::Prompts),
            "employees" => Some(Change::Employees),
            "outbound-rules" => Some(Change::OutboundRules),
            other => match (other.strip_prefix("hangup:"), other.strip_prefix("threeway:")) {
                (Some(call), _) => Some(Change::HangUp(call.to_owned())),
                (_, Some(rest)) => rest.split_once(':').map(|(call, extension)| Change::ThreeWay {
                    call: call.to_owned(),
                    extension: extension.to_owned(),
                }),
                _ => None,
            },
        }
    }
}

/// The PostgreSQL channel nodes tell each other about changes on.
const CHANGES_CHANNEL: &str = "switchboard_changes";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowInfo {
    pub sha256: String,
    pub name: String,
    pub builtin: bool,
    pub size: i64,
    pub uploaded_at: i64,
}

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

/// Which call records to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub id: Option<String>,
    pub caller: Option<String>,
    pub dialled: Option<String>,
    pub outcome: Option<String>,
    /// Started at or after (Unix ms).
    pub since: Option<i64>,
    /// Started before (Unix ms): the next page starts before the last record's `started_at`.
    pub until: Option<i64>,
    pub limit: i64,
}

/// Characters of a token's sha256 (hex) that name it in the API.
pub const TOKEN_ID_LEN: usize = 16;

/// A token as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The start of the token's sha256: names it for revoking (the token itself is never kept).
    pub id: String,
    pub label: String,
    /// The employee it belongs to (a login token); none: a company admin token.
    pub employee: Option<String>,
    pub created_at: i64,
}

/// Who an API token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// An admin token of the company (bootstrap, or made by an admin).
    Company,
    /// An employee who logged in.
    Employee { login: String, role: String },
}

/// An uploaded prompt, without its audio.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PromptInfo {
    pub name: String,
    pub duration_ms: i64,
    pub created_at: i64,
}

/// A recording, without its audio.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RecordingInfo {
    pub id: String,
    /// The call record it belongs to.
    pub call_id: String,
    /// `voicemail` or `call` (a whole-call recording, stereo: caller left, the other party right).
    pub kind: String,
    pub caller: String,
    pub dialled: String,
    pub duration_ms: i64,
    /// `max-length`, `silence`, `hangup` or the terminator digit.
    pub ended_by: String,
    pub created_at: i64,
    /// Login of the employee whose voicemail it is (the number's mailbox), if any.
    pub mailbox: Option<String>,
}

/// Which recordings to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct RecordingFilter {
    pub id: Option<String>,
    pub call_id: Option<String>,
    pub mailbox: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Assignment {
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
    pub updated_at: i64,
}

impl Store {
    /// Opens the database at `url`: `postgres://…` (the database must exist), or a SQLite file
    /// (`sqlite://path` or a plain path, created if missing); then runs the migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let pool = if postgres {
            AnyPoolOptions::new().max_connections(8).connect(url).await?
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let url = format!("sqlite://{path}?mode=rwc");
            // sqlx's SQLite defaults hold: foreign keys on, a 5 s busy timeout. WAL lets the
            // API read while calls write.
            AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA journal_mode = WAL").execute(conn).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?
        };
        if postgres {
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        } else {
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        }
        Ok(Store {
            pool,
            postgres: postgres.then(|| url.to_string()),
            employees_version: Default::default(),
        })
    }

    /// Tells the other nodes on this database that `what` changed (PostgreSQL NOTIFY; one node
    /// on SQLite has nobody to tell). Best effort: a lost notice is logged.
    /// Whether other nodes may share the database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.postgres.is_some()
    }

    pub async fn announce(&self, what: Change) {
        if self.postgres.is_none() {
            return;
        }
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(what.payload())
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, ?what, "could not tell the other nodes of a change");
        }
    }

    /// Other nodes' (and this node's) changes as they are announced; `None` on SQLite. The
    /// listener reconnects by itself after a lost connection.
    pub async fn changes(&self) -> anyhow::Result<Option<tokio::sync::mpsc::UnboundedReceiver<Change>>> {
        let Some(url) = &self.postgres else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notice) => {
                        let Some(change) = Change::from_payload(notice.payload()) else {
                            continue;
                        };
                        if tx.send(change).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other nodes' changes");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    pub async fn put_flow(&self, name: &str, sha256: &str, wasm: &[u8], builtin: bool, now: i64) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO flows (sha256, company_id, name, builtin, size, wasm, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(if builtin { None } else { Some(DEFAULT_COMPANY) })
        .bind(name)
        .bind(builtin)
        .bind(wasm.len() as i64)
        .bind(wasm)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_flows(&self) -> sqlx::Result<Vec<FlowInfo>> {
        self.flows(None).await
    }

    /// One version, without its bytes.
    pub async fn flow_info(&self, sha256: &str) -> sqlx::Result<Option<FlowInfo>> {
        Ok(self.flows(Some(sha256)).await?.pop())
    }

    async fn flows(&self, sha256: Option<&str>) -> sqlx::Result<Vec<FlowInfo>> {
        let rows = sqlx::query(
            "SELECT sha256, name, CAST(builtin AS INTEGER) AS builtin, size, uploaded_at FROM flows
             WHERE CAST($1 AS TEXT) IS NULL OR sha256 = $1 ORDER BY name, uploaded_at",
        )
        .bind(sha256)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FlowInfo {
                sha256: r.get("sha256"),
                name: r.get("name"),
                builtin: r.get::<i64, _>("builtin") != 0,
                size: r.get("size"),
                uploaded_at: r.get("uploaded_at"),
            })
            .collect())
    }

    /// Deletes a version; the caller has made sure no number uses it.
    pub async fn delete_flow(&self, sha256: &str) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM flows WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM numbers WHERE flow_sha256 = $1)",
        )
        .bind(sha256)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A flow reference (`sha256` or a name, meaning its newest version) → sha256.
    pub async fn resolve_flow(&self, reference: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT sha256 FROM flows WHERE sha256 = $1 OR name = $2 ORDER BY (sha256 = $3) DESC, uploaded_at DESC LIMIT 1",
        )
        .bind(reference)
        .bind(reference)
        .bind(reference)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn flow_wasm(&self, sha256: &str) -> sqlx::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wasm FROM flows WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn assign(&self, a: &Assignment) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO numbers (number, company_id, timezone, flow_sha256, settings, record_calls, fallback, mailbox,
             allowed_hosts, updated_at, missed_call_mail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (number) DO UPDATE SET timezone = excluded.timezone, flow_sha256 = excluded.flow_sha256,
             settings = excluded.settings, record_calls = excluded.record_calls, fallback = excluded.fallback,
             mailbox = excluded.mailbox, allowed_hosts = excluded.allowed_hosts, updated_at = excluded.updated_at,
             missed_call_mail = excluded.missed_call_mail",
        )
        .bind(&a.number)
        .bind(DEFAULT_COMPANY)
        .bind(&a.timezone)
        .bind(&a.flow_sha256)
        .bind(&a.settings)
        .bind(a.record_calls)
        .bind(&a.fallback)
        .bind(&a.mailbox)
        .bind(serde_json::to_string(&a.allowed_hosts).expect("strings serialise"))
        .bind(a.updated_at)
        .bind(a.missed_call_mail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn assignments(&self) -> sqlx::Result<Vec<Assignment>> {
        let rows = sqlx::query(
            "SELECT number, timezone, flow_sha256, settings, CAST(record_calls AS INTEGER) AS record_calls, fallback,
             mailbox, allowed_hosts, updated_at, CAST(missed_call_mail AS INTEGER) AS missed_call_mail
             FROM numbers ORDER BY number",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Assignment {
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
            })
            .collect())
    }

    pub async fn insert_call_record(&self, rec: &CallRecord) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO call_records (id, company_id, sip_call_id, caller, dialled, flow_sha256, started_at, answered_at,
             answered_by, ended_at, outcome, trace, legs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&rec.id)
        .bind(DEFAULT_COMPANY)
        .bind(&rec.sip_call_id)
        .bind(&rec.caller)
        .bind(&rec.dialled)
        .bind(&rec.flow)
        .bind(rec.started_at)
        .bind(rec.answered_at)
        .bind(&rec.answered_by)
        .bind(rec.ended_at)
        .bind(&rec.outcome)
        .bind(serde_json::to_string(&rec.trace)?)
        .bind(serde_json::to_string(&rec.legs)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Login of the employee who last talked to `spellings` (one number, written as it may
    /// have been recorded) since `since`: the employee who answered its call, or who called it.
    pub async fn last_connected(&self, spellings: &[String; 2], since: i64) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT answered_by FROM call_records
             WHERE company_id = $1 AND answered_by IS NOT NULL AND started_at >= $2
               AND (caller IN ($3, $4) OR dialled IN ($3, $4))
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(DEFAULT_COMPANY)
        .bind(since)
        .bind(&spellings[0])
        .bind(&spellings[1])
        .fetch_optional(&self.pool)
        .await
    }

    /// The newest call records first, as `filter` selects them.
    pub async fn call_records(&self, filter: &CallFilter) -> anyhow::Result<Vec<CallRecord>> {
        let rows = sqlx::query(
            "SELECT id, sip_call_id, caller, dialled, flow_sha256, started_at, answered_at, answered_by, ended_at, outcome, trace, legs
             FROM call_records
             WHERE (CAST($1 AS TEXT) IS NULL OR caller = $1) AND (CAST($2 AS TEXT) IS NULL OR dialled = $2)
               AND (CAST($3 AS TEXT) IS NULL OR outcome = $3) AND (CAST($4 AS TEXT) IS NULL OR id = $4)
               AND started_at >= $5 AND started_at < $6
             ORDER BY started_at DESC, id DESC LIMIT $7",
        )
        .bind(filter.caller.as_deref())
        .bind(filter.dialled.as_deref())
        .bind(filter.outcome.as_deref())
        .bind(filter.id.as_deref())
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.until.unwrap_or(i64::MAX))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallRecord {
                    id: r.get("id"),
                    sip_call_id: r.get("sip_call_id"),
                    caller: r.get("caller"),
                    dialled: r.get("dialled"),
                    flow: r.get("flow_sha256"),
                    started_at: r.get("started_at"),
                    answered_at: r.get("answered_at"),
                    answered_by: r.get("answered_by"),
                    ended_at: r.get("ended_at"),
                    outcome: r.get("outcome"),
                    trace: serde_json::from_str(r.get::<&str, _>("trace"))?,
                    legs: serde_json::from_str(r.get::<&str, _>("legs"))?,
                })
            })
            .collect()
    }

    /// Stores an uploaded prompt (replacing one of the same name).
    pub async fn put_prompt(&self, name: &str, wav: &[u8], duration_ms: u64, now: i64) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO prompts (company_id, name, wav, duration_ms, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (company_id, name) DO UPDATE SET wav = excluded.wav, duration_ms = excluded.duration_ms,
             created_at = excluded.created_at",
        )
        .bind(DEFAULT_COMPANY)
        .bind(name)
        .bind(wav)
        .bind(duration_ms as i64)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every uploaded prompt with its audio (loaded once at start).
    pub async fn prompts(&self) -> sqlx::Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT name, wav FROM prompts ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get("name"), r.get("wav"))).collect())
    }

    pub async fn prompt_list(&self) -> sqlx::Result<Vec<PromptInfo>> {
        let rows = sqlx::query("SELECT name, duration_ms, created_at FROM prompts ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| PromptInfo {
                name: r.get("name"),
                duration_ms: r.get("duration_ms"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    pub async fn insert_recording(&self, r: &RecordingInfo, wav: &[u8]) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO recordings (id, company_id, call_id, kind, caller, dialled, duration_ms, ended_by, wav, created_at,
             mailbox) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&r.id)
        .bind(DEFAULT_COMPANY)
        .bind(&r.call_id)
        .bind(&r.kind)
        .bind(&r.caller)
        .bind(&r.dialled)
        .bind(r.duration_ms)
        .bind(&r.ended_by)
        .bind(wav)
        .bind(r.created_at)
        .bind(&r.mailbox)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest recordings first, as `filter` selects them.
    pub async fn recordings(&self, filter: &RecordingFilter) -> sqlx::Result<Vec<RecordingInfo>> {
        let rows = sqlx::query(
            "SELECT id, call_id, kind, caller, dialled, duration_ms, ended_by, created_at, mailbox FROM recordings
             WHERE (CAST($1 AS TEXT) IS NULL OR call_id = $1) AND (CAST($2 AS TEXT) IS NULL OR mailbox = $2)
               AND (CAST($3 AS TEXT) IS NULL OR id = $3)
             ORDER BY created_at DESC LIMIT $4",
        )
        .bind(filter.call_id.as_deref())
        .bind(filter.mailbox.as_deref())
        .bind(filter.id.as_deref())
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| RecordingInfo {
                id: r.get("id"),
                call_id: r.get("call_id"),
                kind: r.get("kind"),
                caller: r.get("caller"),
                dialled: r.get("dialled"),
                duration_ms: r.get("duration_ms"),
                ended_by: r.get("ended_by"),
                created_at: r.get("created_at"),
                mailbox: r.get("mailbox"),
            })
            .collect())
    }

    pub async fn recording_wav(&self, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wav FROM recordings WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes a recording; false when there was none.
    pub async fn delete_recording(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM recordings WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Keeps a token's hash: the company's (admin) when `employee` is none, else that employee's.
    pub async fn add_token(
        &self,
        token_sha256: &str,
        label: &str,
        employee: Option<i64>,
        now: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, company_id, label, employee_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(token_sha256)
        .bind(DEFAULT_COMPANY)
        .bind(label)
        .bind(employee)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps an employee's login token, good until `expires_at` (Unix ms).
    pub async fn add_login_token(
        &self,
        token_sha256: &str,
        employee: i64,
        now: i64,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, company_id, label, employee_id, created_at, expires_at)
             VALUES ($1, $2, 'login', $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(DEFAULT_COMPANY)
        .bind(employee)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes every login token of employee `login` (his password changed); how many.
    pub async fn revoke_login_tokens(&self, login: &str) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM api_tokens WHERE company_id = $1 AND label = 'login'
             AND employee_id IN (SELECT id FROM employees WHERE company_id = $1 AND login = $2)",
        )
        .bind(DEFAULT_COMPANY)
        .bind(login)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every token, newest first (never the secret: an id that is the start of its hash).
    pub async fn tokens(&self) -> sqlx::Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.token_sha256, t.label, e.login, t.created_at FROM api_tokens t
             LEFT JOIN employees e ON e.id = t.employee_id
             WHERE t.company_id = $1 ORDER BY t.created_at DESC, t.token_sha256",
        )
        .bind(DEFAULT_COMPANY)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.get::<String, _>("token_sha256").chars().take(TOKEN_ID_LEN).collect(),
                label: r.get("label"),
                employee: r.get("login"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// Revokes the token whose id (the start of its hash) is `id`; false when there is none.
    pub async fn revoke_token(&self, id: &str) -> sqlx::Result<bool> {
        if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        // `id` is hex, so it holds no LIKE wildcards.
        let done = sqlx::query("DELETE FROM api_tokens WHERE company_id = $1 AND token_sha256 LIKE $2")
            .bind(DEFAULT_COMPANY)
            .bind(format!("{}%", id.to_ascii_lowercase()))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whose token this is at `now` (Unix ms); `None` for an unknown or expired token.
    pub async fn token_owner(&self, token_sha256: &str, now: i64) -> sqlx::Result<Option<TokenOwner>> {
        let row = sqlx::query(
            "SELECT t.employee_id, e.login, e.role FROM api_tokens t LEFT JOIN employees e ON e.id = t.employee_id
             WHERE t.token_sha256 = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| match r.get::<Option<i64>, _>("employee_id") {
            None => TokenOwner::Company,
            Some(_) => TokenOwner::Employee {
                login: r.get("login"),
                role: r.get("role"),
            },
        }))
    }

    pub async fn token_count(&self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&self.pool)
            .await
    }

    pub async fn sip_credentials(&self, login: &str) -> sqlx::Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT id, sip_ha1 FROM employees WHERE company_id = $1 AND login = $2")
            .bind(DEFAULT_COMPANY)
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("id"), r.get("sip_ha1"))))
    }

    /// Adds or refreshes a binding, sweeping the expired ones of every employee on the way.
    pub async fn upsert_registration(&self, r: &Registration, now: i64) -> sqlx::Result<()> {
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
    pub async fn remove_registrations(&self, employee_id: i64, contact: Option<&str>) -> sqlx::Result<()> {
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
    pub async fn registrations(&self, employee_id: Option<i64>, now: i64) -> sqlx::Result<Vec<Registration>> {
        let rows = sqlx::query(
            "SELECT r.employee_id, e.login, r.contact, r.source, r.expires_at, r.call_id, r.cseq FROM registrations r
             JOIN employees e ON e.id = r.employee_id WHERE (CAST($1 AS BIGINT) IS NULL OR r.employee_id = $2) AND r.expires_at > $3
             ORDER BY e.login, r.contact",
        )
        .bind(employee_id)
        .bind(employee_id)
        .bind(now)
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

    /// A secret shared by all nodes, created (random) on first use.
    pub async fn secret(&self, name: &str) -> sqlx::Result<Vec<u8>> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(&fresh[..])
            .execute(&self.pool)
            .await?;
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
    }
}

#[doc(hidden)]
pub mod test_support;
#[cfg(test)]
mod tests;
