//! Contacts (one card per phone number: responsible employee, last contact, next follow-up, a log
//! of actions and results) and callback requests ("call me back", due at a time, completed with a
//! result).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Tenant;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    /// E.164.
    pub phone: String,
    pub name: String,
    /// Login of the employee responsible for the contact.
    pub employee: Option<String>,
    /// The last connected call or completed callback (Unix ms).
    pub last_contact_at: Option<i64>,
    /// When to call again (Unix ms); due when it has passed.
    pub next_follow_up_at: Option<i64>,
    /// Once the follow-up reached the contact, the next is due this many days later; none: the
    /// follow-up is done once.
    pub follow_up_every_days: Option<i64>,
    /// Attempts made at the follow-up now due (its date moves on after each, then it gives up).
    pub follow_up_attempts: i64,
    pub created_at: i64,
}

/// What an admin sets on a contact card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFields {
    pub name: String,
    pub employee_id: Option<i64>,
    pub next_follow_up_at: Option<i64>,
    pub follow_up_every_days: Option<i64>,
}

/// One line of a contact's history.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ContactLogEntry {
    pub at: i64,
    /// `call-in`, `call-out`, `callback` or `note`.
    pub action: String,
    pub result: String,
    pub employee: Option<String>,
    pub call_id: Option<String>,
}

/// A log line to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogEntry<'a> {
    pub at: i64,
    pub action: &'a str,
    pub result: &'a str,
    /// Login of the employee who acted.
    pub employee: Option<&'a str>,
    pub call_id: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Callback {
    pub id: i64,
    pub contact_id: i64,
    pub phone: String,
    /// Who should call back (none: whoever takes it).
    pub employee: Option<String>,
    pub reason: String,
    /// A voicemail the caller left with the request.
    pub recording_id: Option<String>,
    pub due_at: i64,
    /// `open`, `calling` (the exchange is calling it back now), `done` or `cancelled`.
    pub status: String,
    pub result: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallback<'a> {
    pub phone: &'a str,
    pub employee_id: Option<i64>,
    pub reason: &'a str,
    pub recording_id: Option<&'a str>,
    pub due_at: i64,
    pub now: i64,
}

/// Which callbacks to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct CallbackFilter {
    pub id: Option<i64>,
    pub contact_id: Option<i64>,
    pub status: Option<String>,
    /// Due at or before (Unix ms).
    pub due_by: Option<i64>,
    pub employee_id: Option<i64>,
    pub limit: i64,
}

/// How a callback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackResult<'a> {
    /// `done` or `cancelled`.
    pub status: &'a str,
    pub result: &'a str,
    /// The two talked (the contact's last contact moves to `at`).
    pub reached: bool,
    /// Login of the employee who completed it.
    pub employee: Option<&'a str>,
    /// Call again then (Unix ms).
    pub next_follow_up_at: Option<i64>,
    pub at: i64,
    /// The call in which it was done, if the exchange made it.
    pub call_id: Option<&'a str>,
}

const CONTACT_COLUMNS: &str =
    "c.id, c.phone, c.name, e.login AS employee, c.last_contact_at, c.next_follow_up_at, c.follow_up_every_days,
     c.follow_up_attempts, c.created_at FROM contacts c LEFT JOIN employees e ON e.id = c.employee_id";

fn contact_row(r: &AnyRow) -> Contact {
    Contact {
        id: r.get("id"),
        phone: r.get("phone"),
        name: r.get("name"),
        employee: r.get("employee"),
        last_contact_at: r.get("last_contact_at"),
        next_follow_up_at: r.get("next_follow_up_at"),
        follow_up_every_days: r.get("follow_up_every_days"),
        follow_up_attempts: r.get("follow_up_attempts"),
        created_at: r.get("created_at"),
    }
}

fn callback_row(r: &AnyRow) -> Callback {
    Callback {
        id: r.get("id"),
        contact_id: r.get("contact_id"),
        phone: r.get("phone"),
        employee: r.get("employee"),
        reason: r.get("reason"),
        recording_id: r.get("recording_id"),
        due_at: r.get("due_at"),
        status: r.get("status"),
        result: r.get("result"),
        created_at: r.get("created_at"),
        completed_at: r.get("completed_at"),
    }
}

impl Tenant {
    /// Creates the card for `phone`, or updates it when it exists; returns its id.
    pub async fn put_contact(&self, phone: &str, f: &ContactFields, now: i64) -> super::Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO contacts (company_id, phone, name, employee_id, next_follow_up_at, created_at,
             follow_up_every_days) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (company_id, phone) DO UPDATE SET name = excluded.name, employee_id = excluded.employee_id,
             next_follow_up_at = excluded.next_follow_up_at, follow_up_every_days = excluded.follow_up_every_days,
             follow_up_attempts = 0
             RETURNING id",
        )
        .bind(self.company())
        .bind(phone)
        .bind(&f.name)
        .bind(f.employee_id)
        .bind(f.next_follow_up_at)
        .bind(now)
        .bind(f.follow_up_every_days)
        .fetch_one(self.pool())
        .await
        .map_err(super::Error::from)
    }

    /// The card for `phone`, made (empty) when there is none; returns its id.
    async fn contact_for(&self, phone: &str, now: i64) -> super::Result<i64> {
        // The no-op update makes RETURNING give the existing card's id too.
        sqlx::query_scalar(
            "INSERT INTO contacts (company_id, phone, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (company_id, phone) DO UPDATE SET phone = excluded.phone RETURNING id",
        )
        .bind(self.company())
        .bind(phone)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(super::Error::from)
    }

    /// Contacts by phone order: all, one (`id`), one phone, or those whose follow-up is due by
    /// `due_by` (soonest first).
    pub async fn contacts(
        &self,
        id: Option<i64>,
        phone: Option<&str>,
        due_by: Option<i64>,
        limit: i64,
    ) -> super::Result<Vec<Contact>> {
        let order = if due_by.is_some() {
            "c.next_follow_up_at, c.id"
        } else {
            "c.phone"
        };
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS}
             WHERE c.company_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR c.id = $2)
               AND (CAST($3 AS TEXT) IS NULL OR c.phone = $3)
               AND (CAST($4 AS BIGINT) IS NULL OR c.next_follow_up_at <= $4)
             ORDER BY {order} LIMIT $5"
        ))
        .bind(self.company())
        .bind(id)
        .bind(phone)
        .bind(due_by)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(contact_row).collect())
    }

    pub async fn update_contact(&self, id: i64, f: &ContactFields) -> super::Result<bool> {
        let done = sqlx::query(
            "UPDATE contacts SET name = $1, employee_id = $2, next_follow_up_at = $3, follow_up_every_days = $6,
             follow_up_attempts = CASE WHEN next_follow_up_at = $3 THEN follow_up_attempts ELSE 0 END
             WHERE company_id = $4 AND id = $5",
        )
        .bind(&f.name)
        .bind(f.employee_id)
        .bind(f.next_follow_up_at)
        .bind(self.company())
        .bind(id)
        .bind(f.follow_up_every_days)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_contact(&self, id: i64) -> super::Result<bool> {
        let done = sqlx::query("DELETE FROM contacts WHERE company_id = $1 AND id = $2")
            .bind(self.company())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds a line to a contact's history; a connected call or callback (`reached`) also makes
    /// it the last contact. A call's line (with its call id) already on the card is not added
    /// again: the record writer writes its lines again when the database went away mid-way.
    pub async fn log_contact(&self, contact_id: i64, entry: &NewLogEntry<'_>, reached: bool) -> super::Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO contact_log (contact_id, at, action, result, employee_id, call_id)
             SELECT $1, $2, $3, $4, (SELECT id FROM employees WHERE company_id = $5 AND login = $6), $7
             WHERE EXISTS (SELECT 1 FROM contacts WHERE id = $1 AND company_id = $5)
               AND NOT EXISTS (SELECT 1 FROM contact_log WHERE contact_id = $1 AND at = $2 AND action = $3 AND call_id = $7)",
        )
        .bind(contact_id)
        .bind(entry.at)
        .bind(entry.action)
        .bind(entry.result)
        .bind(self.company())
        .bind(entry.employee)
        .bind(entry.call_id)
        .execute(&mut *tx)
        .await?;
        if reached {
            sqlx::query(
                "UPDATE contacts SET last_contact_at = $1
                 WHERE id = $2 AND company_id = $3 AND (last_contact_at IS NULL OR last_contact_at < $1)",
            )
            .bind(entry.at)
            .bind(contact_id)
            .bind(self.company())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await.map_err(super::Error::from)
    }

    /// A contact's history, newest first.
    pub async fn contact_log(&self, contact_id: i64, limit: i64) -> super::Result<Vec<ContactLogEntry>> {
        let rows = sqlx::query(
            "SELECT l.at, l.action, l.result, e.login AS employee, l.call_id
             FROM contact_log l LEFT JOIN employees e ON e.id = l.employee_id
             WHERE l.contact_id = $1 AND l.contact_id IN (SELECT id FROM contacts WHERE company_id = $3)
             ORDER BY l.at DESC, l.id DESC LIMIT $2",
        )
        .bind(contact_id)
        .bind(limit)
        .bind(self.company())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ContactLogEntry {
                at: r.get("at"),
                action: r.get("action"),
                result: r.get("result"),
                employee: r.get("employee"),
                call_id: r.get("call_id"),
            })
            .collect())
    }

    /// A finished call goes into the history of the cards of the numbers in it — each phone
    /// with its own line (`call-in` for the caller, `call-out` for the dialled number); numbers
    /// without a card leave no trace here (the call records have them). With each line, whether
    /// someone talked to the contact (it becomes the card's last contact). One lookup for all.
    pub async fn log_call_on_cards(&self, lines: &[(&str, NewLogEntry<'_>, bool)]) -> super::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (2..lines.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, phone FROM contacts WHERE company_id = $1 AND phone IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(self.company());
        for (phone, _, _) in lines {
            query = query.bind(*phone);
        }
        let cards = query.fetch_all(self.pool()).await?;
        for card in &cards {
            let phone: String = card.get("phone");
            for (_, entry, reached) in lines.iter().filter(|(p, _, _)| *p == phone) {
                self.log_contact(card.get("id"), entry, *reached).await?;
            }
        }
        Ok(())
    }

    /// Files a callback request (and the caller's contact card when there is none yet).
    pub async fn add_callback(&self, c: &NewCallback<'_>) -> super::Result<i64> {
        let contact_id = self.contact_for(c.phone, c.now).await?;
        sqlx::query_scalar(
            "INSERT INTO callbacks (company_id, contact_id, employee_id, reason, recording_id, due_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(self.company())
        .bind(contact_id)
        .bind(c.employee_id)
        .bind(c.reason)
        .bind(c.recording_id)
        .bind(c.due_at)
        .bind(c.now)
        .fetch_one(self.pool())
        .await
        .map_err(super::Error::from)
    }

    /// How many callback requests were filed for `phone` at or after `since` (Unix ms).
    pub async fn callbacks_filed_since(&self, phone: &str, since: i64) -> super::Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM callbacks b JOIN contacts c ON c.id = b.contact_id
             WHERE b.company_id = $1 AND c.phone = $2 AND b.created_at >= $3",
        )
        .bind(self.company())
        .bind(phone)
        .bind(since)
        .fetch_one(self.pool())
        .await
        .map_err(super::Error::from)
    }

    /// Callbacks as `filter` selects them, the soonest due first.
    pub async fn callbacks(&self, filter: &CallbackFilter) -> super::Result<Vec<Callback>> {
        let rows = sqlx::query(
            "SELECT b.id, b.contact_id, c.phone, e.login AS employee, b.reason, b.recording_id, b.due_at, b.status,
                    b.result, b.created_at, b.completed_at
             FROM callbacks b JOIN contacts c ON c.id = b.contact_id LEFT JOIN employees e ON e.id = b.employee_id
             WHERE b.company_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR b.id = $2)
               AND (CAST($3 AS TEXT) IS NULL OR b.status = $3)
               AND (CAST($4 AS BIGINT) IS NULL OR b.due_at <= $4)
               AND (CAST($5 AS BIGINT) IS NULL OR b.employee_id = $5)
               AND (CAST($6 AS BIGINT) IS NULL OR b.contact_id = $6)
             ORDER BY b.due_at, b.id LIMIT $7",
        )
        .bind(self.company())
        .bind(filter.id)
        .bind(filter.status.as_deref())
        .bind(filter.due_by)
        .bind(filter.employee_id)
        .bind(filter.contact_id)
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(callback_row).collect())
    }

    /// Closes an open callback with its result, logs it on the contact's card (moving the last
    /// contact when they talked) and sets the card's next follow-up. False when there is no
    /// such open callback (unknown, or already completed).
    pub async fn complete_callback(&self, id: i64, r: &CallbackResult<'_>) -> super::Result<bool> {
        let mut tx = self.pool().begin().await?;
        let contact_id: Option<i64> = sqlx::query_scalar(
            "UPDATE callbacks SET status = $1, result = $2, completed_at = $3
             WHERE company_id = $4 AND id = $5 AND status IN ('open', 'calling') RETURNING contact_id",
        )
        .bind(r.status)
        .bind(r.result)
        .bind(r.at)
        .bind(self.company())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(contact_id) = contact_id else {
            return Ok(false);
        };
        sqlx::query(
            "INSERT INTO contact_log (contact_id, at, action, result, employee_id, call_id)
             VALUES ($1, $2, 'callback', $3, (SELECT id FROM employees WHERE company_id = $4 AND login = $5), $6)",
        )
        .bind(contact_id)
        .bind(r.at)
        .bind(r.result)
        .bind(self.company())
        .bind(r.employee)
        .bind(r.call_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE contacts SET
               last_contact_at = CASE WHEN $1 = 1 THEN $2 ELSE last_contact_at END,
               next_follow_up_at = COALESCE($3, next_follow_up_at)
             WHERE id = $4",
        )
        .bind(i64::from(r.reached))
        .bind(r.at)
        .bind(r.next_follow_up_at)
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
