//! What the callback scheduler works through: due callback requests and contacts' follow-up
//! dates, each claimed by one node at a time (an atomic update, so two nodes on one PostgreSQL
//! never ring the same employee for the same request), then settled or put back for later.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CompanyId, NewLogEntry, Store, Tenant};

/// A due request to call someone back, as the scheduler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCall {
    /// Whose callback or contact it is.
    pub company: CompanyId,
    /// The callback's id, or (for a follow-up) the contact's.
    pub id: i64,
    pub contact_id: i64,
    pub phone: String,
    /// The contact's name (may be empty).
    pub name: String,
    /// Why to call (a callback request's reason; empty for a follow-up).
    pub reason: String,
    /// Login of the employee who calls back.
    pub employee: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// A follow-up: the contact's follow-up date it was due at.
    pub follow_up_at: Option<i64>,
}

/// A row of either query: a callback request (no follow-up date) or a follow-up (its id is the
/// contact's, no attempts counted).
fn due_call(r: &AnyRow) -> DueCall {
    DueCall {
        company: CompanyId(r.get("company_id")),
        id: r.get("id"),
        contact_id: r.get("contact_id"),
        phone: r.get("phone"),
        name: r.get("name"),
        reason: r.get("reason"),
        employee: r.get("login"),
        attempts: r.get("attempts"),
        follow_up_at: r.get("follow_up_at"),
    }
}

impl Store {
    /// Open callbacks due by `now` that name an employee, soonest first — and those claimed
    /// before `stale` that were never settled (their node died).
    pub async fn due_callbacks(&self, now: i64, stale: i64, limit: i64) -> super::Result<Vec<DueCall>> {
        let rows = sqlx::query(
            "SELECT b.company_id, b.id, b.contact_id, c.phone, c.name, b.reason, e.login, b.attempts,
                    CAST(NULL AS BIGINT) AS follow_up_at
             FROM callbacks b JOIN contacts c ON c.id = b.contact_id JOIN employees e ON e.id = b.employee_id
             JOIN companies co ON co.id = b.company_id
             WHERE NOT co.suspended AND b.due_at <= $1
               AND (b.status = 'open' OR (b.status = 'calling' AND b.claimed_at < $2))
             ORDER BY b.due_at, b.id LIMIT $3",
        )
        .bind(now)
        .bind(stale)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(due_call).collect())
    }

    /// Contacts whose follow-up date has come and who have a responsible employee.
    pub async fn due_follow_ups(&self, now: i64, limit: i64) -> super::Result<Vec<DueCall>> {
        let rows = sqlx::query(
            "SELECT c.company_id, c.id, c.id AS contact_id, c.phone, c.name, '' AS reason, e.login,
                    c.follow_up_attempts AS attempts,
                    c.next_follow_up_at AS follow_up_at
             FROM contacts c JOIN employees e ON e.id = c.employee_id JOIN companies co ON co.id = c.company_id
             WHERE NOT co.suspended AND c.next_follow_up_at <= $1
             ORDER BY c.next_follow_up_at, c.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(due_call).collect())
    }
}

impl Tenant {
    /// Takes callback `id` for this node (counting the attempt); false when another node took
    /// it first, or it was settled or put back for later meanwhile (another node may have
    /// placed it and been answered busy between this node's list and its claim), or another of
    /// the employee's requests is being called back.
    pub async fn claim_callback(&self, id: i64, now: i64, stale: i64) -> super::Result<bool> {
        let claimed = sqlx::query(
            "UPDATE callbacks SET status = 'calling', claimed_at = $1, attempts = attempts + 1
             WHERE company_id = $2 AND id = $3 AND due_at <= $1
               AND (status = 'open' OR (status = 'calling' AND claimed_at < $4))",
        )
        .bind(now)
        .bind(self.company())
        .bind(id)
        .bind(stale)
        .execute(self.pool())
        .await;
        match claimed {
            Ok(done) => Ok(done.rows_affected() == 1),
            // Another of the employee's requests is being called back (by any node): one at a
            // time (the index `callbacks_one_calling_per_employee`).
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts a claimed callback back, due again at `due_at`, and notes the attempt on the card.
    pub async fn retry_callback(&self, call: &DueCall, due_at: i64, attempt: &NewLogEntry<'_>) -> super::Result<()> {
        sqlx::query("UPDATE callbacks SET status = 'open', due_at = $1 WHERE company_id = $2 AND id = $3 AND status = 'calling'")
            .bind(due_at)
            .bind(self.company())
            .bind(call.id)
            .execute(self.pool())
            .await?;
        self.log_contact(call.contact_id, attempt, false).await
    }

    /// Takes a due follow-up for this node by moving its date to `retry_at` (where it stays
    /// should the call fail) and counting the attempt; false when another node took it first.
    pub async fn claim_follow_up(&self, call: &DueCall, retry_at: i64) -> super::Result<bool> {
        self.move_follow_up(call, retry_at, 1).await
    }

    /// Puts a due follow-up off until `at` without an attempt (outside business hours, the
    /// employee busy); false when it moved meanwhile.
    pub async fn defer_follow_up(&self, call: &DueCall, at: i64) -> super::Result<bool> {
        self.move_follow_up(call, at, 0).await
    }

    async fn move_follow_up(&self, call: &DueCall, to: i64, attempts: i64) -> super::Result<bool> {
        let done = sqlx::query(
            "UPDATE contacts SET next_follow_up_at = $1, follow_up_attempts = follow_up_attempts + $5
             WHERE company_id = $2 AND id = $3 AND next_follow_up_at = $4",
        )
        .bind(to)
        .bind(self.company())
        .bind(call.contact_id)
        .bind(call.follow_up_at)
        .bind(attempts)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands open callback `id` to employee `login`, due at `now`; false when it is not open any
    /// more (or there is no such employee).
    pub async fn hand_callback(&self, id: i64, login: &str, now: i64) -> super::Result<bool> {
        let done = sqlx::query(
            "UPDATE callbacks SET employee_id = (SELECT id FROM employees WHERE company_id = $1 AND login = $2),
                 due_at = $3
             WHERE company_id = $1 AND id = $4 AND status = 'open'
               AND EXISTS (SELECT 1 FROM employees WHERE company_id = $1 AND login = $2)",
        )
        .bind(self.company())
        .bind(login)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts open callback `id` off until `at` (outside business hours, the employee busy); false
    /// when it is not open any more.
    pub async fn defer_callback(&self, id: i64, at: i64) -> super::Result<bool> {
        let done =
            sqlx::query("UPDATE callbacks SET due_at = $1 WHERE company_id = $2 AND id = $3 AND status = 'open'")
                .bind(at)
                .bind(self.company())
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A follow-up that is over — it reached the contact (`reached`: his last contact moves),
    /// or gave up after its attempts: logged, and the next one due `follow_up_every_days` from
    /// `now` when it repeats, else none (the employee sets the next one).
    pub async fn finish_follow_up(
        &self,
        contact_id: i64,
        entry: &NewLogEntry<'_>,
        reached: bool,
        now: i64,
    ) -> super::Result<()> {
        self.log_contact(contact_id, entry, reached).await?;
        sqlx::query(
            "UPDATE contacts SET follow_up_attempts = 0,
               next_follow_up_at = CASE WHEN follow_up_every_days IS NULL THEN NULL
                                        ELSE $3 + follow_up_every_days * 86400000 END
             WHERE company_id = $1 AND id = $2",
        )
        .bind(self.company())
        .bind(contact_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
