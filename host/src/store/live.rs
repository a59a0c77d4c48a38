//! Nodes and the calls in progress on each (used when several nodes share PostgreSQL).

use sqlx::Row;

use super::{Store, Tenant};
use crate::live::LiveCall;

impl Store {
    /// This node is alive now (first call: it joins).
    pub async fn node_seen(&self, node: &str, now: i64) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO nodes (id, started_at, seen_at) VALUES ($1, $2, $2)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(node)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets nodes not seen since `before`, and their calls (they crashed or were stopped).
    pub async fn forget_nodes(&self, before: i64) -> super::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM live_calls WHERE node IN (SELECT id FROM nodes WHERE seen_at < $1)")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE seen_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(super::Error::from)
    }

    pub async fn remove_live_call(&self, id: &str) -> super::Result<()> {
        sqlx::query("DELETE FROM live_calls WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Tenant {
    pub async fn put_live_call(&self, node: &str, call: &LiveCall) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO live_calls (id, company_id, node, caller, dialled, started_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&call.id)
        .bind(self.company())
        .bind(node)
        .bind(&call.caller)
        .bind(&call.dialled)
        .bind(call.started_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Calls in progress on nodes seen since `seen_since` (all, or the one `id`), oldest first.
    pub async fn live_calls(&self, id: Option<&str>, seen_since: i64) -> super::Result<Vec<LiveCall>> {
        let rows = sqlx::query(
            "SELECT c.id, c.node, c.caller, c.dialled, c.started_at FROM live_calls c JOIN nodes n ON n.id = c.node
             WHERE c.company_id = $1 AND n.seen_at >= $2 AND (CAST($3 AS TEXT) IS NULL OR c.id = $3)
             ORDER BY c.started_at, c.id",
        )
        .bind(self.company())
        .bind(seen_since)
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| LiveCall {
                id: r.get("id"),
                company: self.id,
                node: Some(r.get("node")),
                caller: r.get("caller"),
                dialled: r.get("dialled"),
                started_at: r.get("started_at"),
                stop: Default::default(),
                requests: None,
            })
            .collect())
    }
}
