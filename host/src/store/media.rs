//! Uploaded prompts and recordings (voicemail, whole calls), kept as WAV in the database.

use serde::Serialize;
use sqlx::Row;

use super::{CompanyId, Store, Tenant};

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
    /// The mailbox's owner has heard it (his phone's message-waiting lamp counts the others).
    #[serde(default)]
    pub heard: bool,
}

/// Which recordings to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct RecordingFilter {
    pub id: Option<String>,
    pub call_id: Option<String>,
    pub mailbox: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Every company's uploaded prompts with their audio (loaded once at start).
    pub async fn prompts(&self) -> super::Result<Vec<(CompanyId, String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT company_id, name, wav FROM prompts ORDER BY company_id, name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (CompanyId(r.get("company_id")), r.get("name"), r.get("wav")))
            .collect())
    }
}

impl Tenant {
    /// Stores an uploaded prompt (replacing one of the same name).
    pub async fn put_prompt(&self, name: &str, wav: &[u8], duration_ms: u64, now: i64) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO prompts (company_id, name, wav, duration_ms, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (company_id, name) DO UPDATE SET wav = excluded.wav, duration_ms = excluded.duration_ms,
             created_at = excluded.created_at",
        )
        .bind(self.company())
        .bind(name)
        .bind(wav)
        .bind(duration_ms as i64)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn prompt_list(&self) -> super::Result<Vec<PromptInfo>> {
        let rows = sqlx::query("SELECT name, duration_ms, created_at FROM prompts WHERE company_id = $1 ORDER BY name")
            .bind(self.company())
            .fetch_all(self.pool())
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

    pub async fn insert_recording(&self, r: &RecordingInfo, wav: &[u8]) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO recordings (id, company_id, call_id, kind, caller, dialled, duration_ms, ended_by, wav, created_at,
             mailbox) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&r.id)
        .bind(self.company())
        .bind(&r.call_id)
        .bind(&r.kind)
        .bind(&r.caller)
        .bind(&r.dialled)
        .bind(r.duration_ms)
        .bind(&r.ended_by)
        .bind(wav)
        .bind(r.created_at)
        .bind(&r.mailbox)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest recordings first, as `filter` selects them.
    pub async fn recordings(&self, filter: &RecordingFilter) -> super::Result<Vec<RecordingInfo>> {
        let rows = sqlx::query(
            "SELECT id, call_id, kind, caller, dialled, duration_ms, ended_by, created_at, mailbox,
                    CAST(heard AS INTEGER) AS heard FROM recordings
             WHERE company_id = $5 AND (CAST($1 AS TEXT) IS NULL OR call_id = $1) AND (CAST($2 AS TEXT) IS NULL OR mailbox = $2)
               AND (CAST($3 AS TEXT) IS NULL OR id = $3)
             ORDER BY created_at DESC LIMIT $4",
        )
        .bind(filter.call_id.as_deref())
        .bind(filter.mailbox.as_deref())
        .bind(filter.id.as_deref())
        .bind(filter.limit)
        .bind(self.company())
        .fetch_all(self.pool())
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
                heard: r.get::<i64, _>("heard") != 0,
            })
            .collect())
    }

    pub async fn recording_wav(&self, id: &str) -> super::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wav FROM recordings WHERE company_id = $1 AND id = $2")
            .bind(self.company())
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(super::Error::from)
    }

    /// Marks a recording heard (or new again); false when there is none.
    pub async fn set_heard(&self, id: &str, heard: bool) -> super::Result<bool> {
        let done = sqlx::query("UPDATE recordings SET heard = $1 WHERE company_id = $2 AND id = $3")
            .bind(heard)
            .bind(self.company())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The voicemail in employee `login`'s mailbox: how many new (not heard) and old.
    pub async fn messages(&self, login: &str) -> super::Result<(u32, u32)> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN heard THEN 0 ELSE 1 END), 0) AS new_ones,
                    COALESCE(SUM(CASE WHEN heard THEN 1 ELSE 0 END), 0) AS old_ones
             FROM recordings WHERE company_id = $1 AND mailbox = $2 AND kind = 'voicemail'",
        )
        .bind(self.company())
        .bind(login)
        .fetch_one(self.pool())
        .await?;
        let count = |column: &str| u32::try_from(row.get::<i64, _>(column)).unwrap_or(u32::MAX);
        Ok((count("new_ones"), count("old_ones")))
    }

    /// Deletes a recording; false when there was none.
    pub async fn delete_recording(&self, id: &str) -> super::Result<bool> {
        let done = sqlx::query("DELETE FROM recordings WHERE company_id = $1 AND id = $2")
            .bind(self.company())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
