//! Flow versions: the uploaded (and built-in) components, by sha256.

use serde::Serialize;
use sqlx::Row;

use super::{DEFAULT_COMPANY, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowInfo {
    pub sha256: String,
    pub name: String,
    pub builtin: bool,
    pub size: i64,
    pub uploaded_at: i64,
}

impl Store {
    pub async fn put_flow(&self, name: &str, sha256: &str, wasm: &[u8], builtin: bool, now: i64) -> super::Result<()> {
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

    pub async fn list_flows(&self) -> super::Result<Vec<FlowInfo>> {
        self.flows(None).await
    }

    /// One version, without its bytes.
    pub async fn flow_info(&self, sha256: &str) -> super::Result<Option<FlowInfo>> {
        Ok(self.flows(Some(sha256)).await?.pop())
    }

    async fn flows(&self, sha256: Option<&str>) -> super::Result<Vec<FlowInfo>> {
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
    pub async fn delete_flow(&self, sha256: &str) -> super::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM flows WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM numbers WHERE flow_sha256 = $1)",
        )
        .bind(sha256)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A flow reference (`sha256` or a name, meaning its newest version) → sha256.
    pub async fn resolve_flow(&self, reference: &str) -> super::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT sha256 FROM flows WHERE sha256 = $1 OR name = $2 ORDER BY (sha256 = $3) DESC, uploaded_at DESC LIMIT 1",
        )
        .bind(reference)
        .bind(reference)
        .bind(reference)
        .fetch_optional(&self.pool)
        .await.map_err(super::Error::from)
    }

    pub async fn flow_wasm(&self, sha256: &str) -> super::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wasm FROM flows WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(super::Error::from)
    }
}
