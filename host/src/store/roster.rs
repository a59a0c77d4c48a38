//! Every company's employees in memory. One office call reads them several times over (who
//! calls, whom he dials, how long that rings, how far he may call) and the registrar reads a
//! SIP secret for every user name a stranger sends: as queries, that was most of the
//! database's work per call (docs/benchmarks.md). The store stays the source of truth: the
//! copy is reloaded whole and lazily, by the first reader after employees were written (here,
//! or on another node that announced it), and at least every [`MAX_AGE`] (another node's
//! notice may be lost).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Row;

use super::employees::{COLUMNS, Employee, employee_row};
use super::{CompanyId, Store};

const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct Roster {
    /// Grows whenever employees are written; a copy made at an older version is stale.
    version: AtomicU64,
    loaded: arc_swap::ArcSwapOption<Copy>,
    /// One reload at a time; those who waited for it find it done.
    reloading: tokio::sync::Mutex<()>,
}

/// The employees as they were at `version`.
pub(super) struct Copy {
    version: u64,
    at: Instant,
    by_login: HashMap<(CompanyId, String), Arc<Entry>>,
    by_extension: HashMap<(CompanyId, String), Arc<Entry>>,
    by_id: HashMap<i64, Arc<Entry>>,
}

pub(super) struct Entry {
    pub company: CompanyId,
    pub employee: Employee,
    /// The SIP digest HA1.
    pub ha1: String,
}

impl Roster {
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Copy {
    pub fn by_login(&self, company: CompanyId, login: &str) -> Option<&Entry> {
        self.by_login.get(&(company, login.to_owned())).map(Arc::as_ref)
    }

    pub fn by_extension(&self, company: CompanyId, extension: &str) -> Option<&Entry> {
        self.by_extension.get(&(company, extension.to_owned())).map(Arc::as_ref)
    }

    /// Employee `id`, if he is company `company`'s.
    pub fn by_id(&self, company: CompanyId, id: i64) -> Option<&Entry> {
        self.by_id.get(&id).map(Arc::as_ref).filter(|e| e.company == company)
    }

    pub fn all(&self) -> impl Iterator<Item = &Entry> {
        self.by_id.values().map(Arc::as_ref)
    }
}

impl Store {
    /// The employees in memory, reloaded first when stale.
    pub(super) async fn roster(&self) -> super::Result<Arc<Copy>> {
        let roster = &self.roster;
        let fresh = |c: &Copy, version| c.version == version && c.at.elapsed() < MAX_AGE;
        // The version is read before the rows: a write that lands during the reload moves it,
        // and the next reader reloads again.
        let version = roster.version();
        if let Some(copy) = roster.loaded.load_full().filter(|c| fresh(c, version)) {
            return Ok(copy);
        }
        let _reloading = roster.reloading.lock().await;
        let version = roster.version();
        if let Some(copy) = roster.loaded.load_full().filter(|c| fresh(c, version)) {
            return Ok(copy);
        }
        let rows = sqlx::query(&format!("SELECT company_id, sip_ha1, {COLUMNS} FROM employees"))
            .fetch_all(&self.pool)
            .await?;
        let mut copy = Copy {
            version,
            at: Instant::now(),
            by_login: HashMap::with_capacity(rows.len()),
            by_extension: HashMap::with_capacity(rows.len()),
            by_id: HashMap::with_capacity(rows.len()),
        };
        for row in &rows {
            let entry = Arc::new(Entry {
                company: CompanyId(row.get("company_id")),
                employee: employee_row(row),
                ha1: row.get("sip_ha1"),
            });
            let company = entry.company;
            copy.by_login
                .insert((company, entry.employee.login.clone()), entry.clone());
            if !entry.employee.fields.extension.is_empty() {
                copy.by_extension
                    .insert((company, entry.employee.fields.extension.clone()), entry.clone());
            }
            copy.by_id.insert(entry.employee.id, entry);
        }
        let copy = Arc::new(copy);
        roster.loaded.store(Some(copy.clone()));
        Ok(copy)
    }
}
