//! Persistence: sqlx over a SQLite file (created on first start) or PostgreSQL, with migrations
//! for each. One set of queries serves both through sqlx's `Any` driver: `$N` placeholders
//! (both understand them), `ON CONFLICT`, `RETURNING`, and booleans read back as integers
//! (`Any` cannot decode SQLite's BOOLEAN columns).

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

mod callback_queue;
mod calls;
mod company;
mod contacts;
mod departments;
mod employees;
mod flows;
mod journal;
mod live;
mod media;
mod numbers;
mod outbox;
mod queue_board;
mod registrations;
mod roster;
mod schedules;
mod tokens;
pub use callback_queue::DueCall;
pub use calls::{CallFilter, Party};
pub use company::{Blocking, CompanyInfo, Plan, Usage};
pub use contacts::{
    Callback, CallbackFilter, CallbackResult, Contact, ContactFields, ContactLogEntry, NewCallback, NewLogEntry,
};
pub use departments::{Department, MemberState};
pub use employees::{Employee, EmployeeFields, Secrets};
pub use flows::FlowInfo;
pub use media::{PromptInfo, RecordingFilter, RecordingInfo};
pub use numbers::Assignment;
pub use outbox::{NewMail, QueuedMail};
pub use queue_board::{AgentRest, WaitingElsewhere};
pub use registrations::Registration;
pub use schedules::StoredSchedule;
pub use tokens::{PasswordLink, TOKEN_ID_LEN, TokenInfo, TokenOwner, TokenRole};

/// What can go wrong in the store. sqlx stays inside `store/`: its errors are wrapped here, so
/// callers name one type (and map it once, e.g. to an API's 500).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// JSON kept in a column (a call's trace and legs) that does not read back or write.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The database could not be reached (down, restarting, the network gone): worth trying
    /// again, unlike a statement it refused.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // SQLSTATE class 08 (connection exception), 57P01–57P03 (shut down, restarting).
            Error::Database(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }
}

/// While the database is unreachable: the first wait before trying again, doubled each time up
/// to the last.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `attempt` until it is done or fails for another reason than an unreachable database
/// (that error is returned), waiting longer between tries up to [`RETRY_MAX`]. `give_up` is
/// asked before each wait: when it says so, the last error is returned. With `what`, says in
/// the log when the database went and when it came back (without, someone else says it).
pub async fn until_reachable<T, F: Future<Output = Result<T>>>(
    what: Option<&str>,
    give_up: impl Fn() -> bool,
    attempt: impl Fn() -> F,
) -> Result<T> {
    let mut wait = RETRY_FIRST;
    let mut outage = None;
    loop {
        match attempt().await {
            Err(e) if e.is_unreachable() && !give_up() => {
                if let (None, Some(what)) = (outage, what) {
                    tracing::warn!(error = %e, "the database is unreachable: {what} wait");
                }
                outage.get_or_insert_with(tokio::time::Instant::now);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            result => {
                if let (Some(since), Some(what)) = (outage, what) {
                    tracing::info!(after = ?since.elapsed(), "the database is back: {what} written");
                }
                return result;
            }
        }
    }
}

pub use crate::tenant::CompanyId;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// The PostgreSQL URL (for listening to other nodes' changes); `None` on SQLite.
    postgres: Option<String>,
    /// Every company's employees in memory (the database stays the source of truth).
    roster: std::sync::Arc<roster::Roster>,
    /// Each employee's registrations in memory, as calls read them.
    bindings: std::sync::Arc<registrations::Bindings>,
    /// Where finished calls queue their records (started on first use).
    journal: std::sync::Arc<std::sync::OnceLock<journal::Journal>>,
}

/// The store as one company sees it: every function on it reads and writes that company's rows
/// only (its `company_id` is bound into each query here, never by a caller). The exchange-wide
/// functions — the routing table, the scheduler's and the outbox's work, other nodes, the
/// operator's companies — stay on [`Store`].
#[derive(Clone)]
pub struct Tenant {
    store: Store,
    id: CompanyId,
}

impl Tenant {
    /// Whose rows these are.
    pub fn id(&self) -> CompanyId {
        self.id
    }

    /// The exchange's store, for what is not one company's.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn pool(&self) -> &AnyPool {
        &self.store.pool
    }

    fn company(&self) -> i64 {
        self.id.0
    }
}

/// What changed in the database, for other nodes that keep it in memory, or what another node
/// is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Number assignments (the routing table).
    Numbers,
    /// Uploaded prompts.
    Prompts,
    /// Employees (kept in memory).
    Employees,
    /// One employee's registrations (kept in memory).
    Registrations(i64),
    /// The company's outbound rules (kept in memory by the toll gate).
    OutboundRules,
    /// Companies (their domains, plans and suspension, kept in memory by the SIP side).
    Companies,
    /// Hang up this call (whichever node has it).
    HangUp(String),
    /// Ask this call for a feature (whichever node has it), as `call::Feature::encode` wrote
    /// it: a three-way call, a supervisor.
    Feature { call: String, feature: String },
    /// Lines' states on a node, as `cluster.rs` writes them (busy lamps across nodes).
    Lines(String),
    /// Wrong passwords counted on a node, as `cluster/guesses.rs` writes them.
    Guesses(String),
    /// Not announced: this node's listener lost its connection, and whatever was announced
    /// until it listened again did not reach it.
    Missed,
}

impl Change {
    fn payload(&self) -> String {
        match self {
            Change::Numbers => "numbers".into(),
            Change::Prompts => "prompts".into(),
            Change::Employees => "employees".into(),
            Change::Registrations(id) => format!("registrations:{id}"),
            Change::OutboundRules => "outbound-rules".into(),
            Change::Companies => "companies".into(),
            Change::HangUp(call) => format!("hangup:{call}"),
            Change::Feature { call, feature } => format!("feature:{call}:{feature}"),
            Change::Lines(lines) => format!("lines:{lines}"),
            Change::Guesses(guesses) => format!("guesses:{guesses}"),
            Change::Missed => "missed".into(),
        }
    }

    fn from_payload(payload: &str) -> Option<Change> {
        match payload {
            "numbers" => Some(Change::Numbers),
            "prompts" => Some(Change::Prompts),
            "employees" => Some(Change::Employees),
            "outbound-rules" => Some(Change::OutboundRules),
            "companies" => Some(Change::Companies),
            other if let Some(id) = other.strip_prefix("registrations:") => id.parse().ok().map(Change::Registrations),
            other if let Some(lines) = other.strip_prefix("lines:") => Some(Change::Lines(lines.to_owned())),
            other if let Some(guesses) = other.strip_prefix("guesses:") => Some(Change::Guesses(guesses.to_owned())),
            other => match (other.strip_prefix("hangup:"), other.strip_prefix("feature:")) {
                (Some(call), _) => Some(Change::HangUp(call.to_owned())),
                (_, Some(rest)) => rest.split_once(':').map(|(call, feature)| Change::Feature {
                    call: call.to_owned(),
                    feature: feature.to_owned(),
                }),
                _ => None,
            },
        }
    }
}

/// The PostgreSQL channel nodes tell each other about changes on.
const CHANGES_CHANNEL: &str = "switchboard_changes";

/// A connection of `pool` listening on [`CHANGES_CHANNEL`]; a lost connection is the caller's to
/// replace (it knows that notices were missed).
async fn listen(pool: &sqlx::PgPool) -> Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANGES_CHANNEL).await?;
    Ok(listener)
}

impl Store {
    /// The store as company `id` sees it.
    pub fn company(&self, id: CompanyId) -> Tenant {
        Tenant {
            store: self.clone(),
            id,
        }
    }

    /// Opens the database at `url`: `postgres://…` (the database must exist), or a SQLite file
    /// (`sqlite://path` or a plain path, created if missing); then runs the migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let pool = if postgres {
            // A database that is down fails a query within 5 s rather than sqlx's 30: requests
            // get their error sooner, and the record writer tries again sooner.
            AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect(url)
                .await?
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let url = format!("sqlite://{path}?mode=rwc");
            // sqlx's SQLite defaults hold: foreign keys on, a 5 s busy timeout. WAL lets the
            // API read while calls write. In WAL mode, `synchronous = NORMAL` syncs at
            // checkpoints rather than at every commit: the database stays consistent through
            // a power cut, which may take the last commits with it (SQLite's advice for WAL;
            // a commit's fsync was most of the database's CPU per call).
            AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(conn).await?;
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
            roster: Default::default(),
            bindings: Default::default(),
            journal: Default::default(),
        })
    }

    /// The call record writer's queue, started on first use.
    fn journal(&self) -> &journal::Journal {
        self.journal.get_or_init(|| {
            // The writer's own handle has no journal: it must not keep its queue open.
            let writer = Store {
                journal: Default::default(),
                ..self.clone()
            };
            journal::start(writer)
        })
    }

    /// Whether other nodes may share the database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.postgres.is_some()
    }

    /// Tells the other nodes on this database that `what` changed (PostgreSQL NOTIFY; one node
    /// on SQLite has nobody to tell). Best effort: a lost notice is logged.
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

    /// Other nodes' (and this node's) changes as they are announced; `None` on SQLite. After a
    /// lost connection the listener connects again (every second until it can) and hands on
    /// [`Change::Missed`]: what was announced meanwhile did not reach it.
    pub async fn changes(&self) -> anyhow::Result<Option<tokio::sync::mpsc::UnboundedReceiver<Change>>> {
        let Some(url) = &self.postgres else {
            return Ok(None);
        };
        // The listener's own connection; trying to connect gives up within 2 s (sqlx's pool
        // would keep trying for 30 s, waiting up to 6 s between tries, while the database is
        // back), and the loop below tries again a second later.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(2))
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy(url)?;
        let mut listener = Some(listen(&pool).await?);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Some(connected) = listener.as_mut() else {
                    match listen(&pool).await {
                        Ok(again) => {
                            tracing::info!("listening for other nodes' changes again");
                            listener = Some(again);
                            if tx.send(Change::Missed).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "listening for other nodes' changes");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                    continue;
                };
                match connected.try_recv().await {
                    Ok(Some(notice)) => {
                        let Some(change) = Change::from_payload(notice.payload()) else {
                            continue;
                        };
                        if tx.send(change).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        tracing::warn!("lost the connection that hears other nodes' changes");
                        listener = None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the connection that hears other nodes' changes");
                        listener = None;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    /// A secret shared by all nodes, created (random) on first use.
    pub async fn secret(&self, name: &str) -> Result<Vec<u8>> {
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
            .map_err(Error::from)
    }
}

#[doc(hidden)]
pub mod test_support;
#[cfg(test)]
mod tests;
