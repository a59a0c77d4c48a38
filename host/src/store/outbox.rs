//! The mail outbox: messages queued to be sent, each claimed by one sender at a time (an atomic
//! update of its next attempt, so two nodes on one PostgreSQL never send the same mail twice
//! unless one died mid-send), then marked sent or put back for a later attempt.

use sqlx::Row;

use super::{Store, Tenant};

/// A mail to queue: the envelope and the message as it goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail<'a> {
    pub sender: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    /// The whole RFC 5322 message.
    pub message: &'a [u8],
}

/// A queued mail that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub message: Vec<u8>,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When this attempt was due (the claim checks it has not moved).
    pub due_at: i64,
}

impl Tenant {
    /// Queues a mail, due at `now`.
    pub async fn queue_mail(&self, mail: &NewMail<'_>, now: i64) -> super::Result<i64> {
        let row = sqlx::query(
            "INSERT INTO mail_outbox (company_id, sender, recipient, subject, message, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(self.company())
        .bind(mail.sender)
        .bind(mail.recipient)
        .bind(mail.subject)
        .bind(mail.message)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.get("id"))
    }

    /// Mails the company queued since `since` (Unix ms), sent or not.
    pub async fn mail_queued_since(&self, since: i64) -> super::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE company_id = $1 AND created_at >= $2")
            .bind(self.company())
            .bind(since)
            .fetch_one(self.pool())
            .await
            .map_err(super::Error::from)
    }
}

impl Store {
    /// Mails due by `now`, oldest first.
    pub async fn due_mail(&self, now: i64, limit: i64) -> super::Result<Vec<QueuedMail>> {
        let rows = sqlx::query(
            "SELECT id, sender, recipient, subject, message, attempts, next_attempt_at FROM mail_outbox
             WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| QueuedMail {
                id: r.get("id"),
                sender: r.get("sender"),
                recipient: r.get("recipient"),
                subject: r.get("subject"),
                message: r.get("message"),
                attempts: r.get("attempts"),
                due_at: r.get("next_attempt_at"),
            })
            .collect())
    }

    /// Takes a due mail for this sender by moving its next attempt to `lease` (when it is tried
    /// again should this sender die mid-send); false when another sender took it first.
    pub async fn claim_mail(&self, mail: &QueuedMail, lease: i64) -> super::Result<bool> {
        let done = sqlx::query(
            "UPDATE mail_outbox SET next_attempt_at = $1, attempts = attempts + 1 WHERE id = $2 AND next_attempt_at = $3",
        )
        .bind(lease)
        .bind(mail.id)
        .bind(mail.due_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The mail went out: its message is dropped, the rest kept as a record.
    pub async fn mail_sent(&self, id: i64, now: i64) -> super::Result<()> {
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $1, next_attempt_at = NULL, message = $2, last_error = '' WHERE id = $3",
        )
        .bind(now)
        .bind(Vec::<u8>::new())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The attempt failed: tried again at `retry_at`, or (none) given up.
    pub async fn mail_failed(&self, id: i64, retry_at: Option<i64>, error: &str) -> super::Result<()> {
        sqlx::query("UPDATE mail_outbox SET next_attempt_at = $1, last_error = $2 WHERE id = $3")
            .bind(retry_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
