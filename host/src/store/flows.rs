//! Flow versions: the uploaded (and built-in) components, by sha256.

use serde::Serialize;
use sqlx::Row;

use super::{Store, Tenant};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowInfo {
    pub sha256: String,
    pub name: String,
    pub builtin: bool,
    pub size: i64,
    pub uploaded_at: i64,
}

impl Store {
    /// Keeps a built-in flow (everyone's).
    pub async fn put_builtin_flow(&self, name: &str, sha256: &str, wasm: &[u8], now: i64) -> super::Result<()> {
        insert_flow(&self.pool, None, name, sha256, wasm, now).await
    }

    pub async fn flow_wasm(&self, sha256: &str) -> super::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wasm FROM flows WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(super::Error::from)
    }
}

async fn insert_flow(
    pool: &sqlx::AnyPool,
    company: Option<i64>,
    name: &str,
    sha256: &str,
    wasm: &[u8],
    now: i64,
) -> super::Result<()> {
    sqlx::query(
        "INSERT INTO flows (sha256, company_id, name, builtin, size, wasm, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(company)
    .bind(name)
    .bind(company.is_none())
    .bind(wasm.len() as i64)
    .bind(wasm)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

impl Tenant {
    /// Keeps an uploaded flow version; false when these very bytes are already held by another
    /// company (a version is stored once, by its hash).
    pub async fn put_flow(&self, name: &str, sha256: &str, wasm: &[u8], now: i64) -> super::Result<bool> {
        insert_flow(self.pool(), Some(self.company()), name, sha256, wasm, now).await?;
        Ok(self.flow_info(sha256).await?.is_some())
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
             WHERE (company_id IS NULL OR company_id = $2) AND (CAST($1 AS TEXT) IS NULL OR sha256 = $1)
             ORDER BY name, uploaded_at",
        )
        .bind(sha256)
        .bind(self.company())
        .fetch_all(self.pool())
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
            "DELETE FROM flows WHERE sha256 = $1 AND company_id = $2
             AND NOT EXISTS (SELECT 1 FROM numbers WHERE flow_sha256 = $1)",
        )
        .bind(sha256)
        .bind(self.company())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A flow reference (`sha256` or a name, meaning its newest version) → sha256.
    pub async fn resolve_flow(&self, reference: &str) -> super::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT sha256 FROM flows WHERE (company_id IS NULL OR company_id = $4) AND (sha256 = $1 OR name = $2)
             ORDER BY (sha256 = $3) DESC, uploaded_at DESC LIMIT 1",
        )
        .bind(reference)
        .bind(reference)
        .bind(reference)
        .bind(self.company())
        .fetch_optional(self.pool())
        .await
        .map_err(super::Error::from)
    }
}
