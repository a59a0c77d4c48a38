//! Schedules (business hours), kept as their JSON definition.

use serde::Serialize;
use sqlx::Row;

use super::Tenant;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoredSchedule {
    pub id: String,
    pub name: String,
    /// The schedule as JSON (`schedule::Schedule`).
    pub definition: String,
    pub updated_at: i64,
}

impl Tenant {
    pub async fn put_schedule(&self, s: &StoredSchedule) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO schedules (company_id, slug, name, definition, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (company_id, slug) DO UPDATE SET name = excluded.name, definition = excluded.definition,
             updated_at = excluded.updated_at",
        )
        .bind(self.company())
        .bind(&s.id)
        .bind(&s.name)
        .bind(&s.definition)
        .bind(s.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// All schedules, or the one named `id`.
    pub async fn schedules(&self, id: Option<&str>) -> super::Result<Vec<StoredSchedule>> {
        let rows = sqlx::query(
            "SELECT slug, name, definition, updated_at FROM schedules
             WHERE company_id = $1 AND (CAST($2 AS TEXT) IS NULL OR slug = $2) ORDER BY slug",
        )
        .bind(self.company())
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| StoredSchedule {
                id: r.get("slug"),
                name: r.get("name"),
                definition: r.get("definition"),
                updated_at: r.get("updated_at"),
            })
            .collect())
    }

    pub async fn delete_schedule(&self, id: &str) -> super::Result<bool> {
        let done = sqlx::query("DELETE FROM schedules WHERE company_id = $1 AND slug = $2")
            .bind(self.company())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
