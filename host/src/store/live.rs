//! Nodes and the calls in progress on each (used when several nodes share PostgreSQL).

use sqlx::Row;

use super::{CompanyId, Store, Tenant};
use crate::live::LiveCall;
use crate::records::{CallRecord, CallResult, TraceEntry};

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

    /// Forgets nodes not seen since `before` (they crashed or were cut off), and their calls:
    /// each call a gone node still listed gets its call record, cut when the node was last
    /// seen. Once, whichever node notices first: the DELETE takes the rows, and a node racing
    /// it finds none. The records written.
    pub async fn forget_nodes(&self, before: i64) -> super::Result<Vec<CallRecord>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "DELETE FROM live_calls c USING nodes n WHERE c.node = n.id AND n.seen_at < $1
             RETURNING c.id, c.company_id, c.node, c.caller, c.dialled, c.started_at, n.seen_at",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        let cut: Vec<(CompanyId, CallRecord)> = rows
            .iter()
            .map(|r| {
                let record = cut_short(
                    r.get("id"),
                    r.get("caller"),
                    r.get("dialled"),
                    r.get("started_at"),
                    r.get("seen_at"),
                    r.get("node"),
                );
                (CompanyId(r.get("company_id")), record)
            })
            .collect();
        let group: Vec<(CompanyId, &CallRecord)> = cut.iter().map(|(c, r)| (*c, r)).collect();
        super::calls::write_call_records(&mut tx, &group).await?;
        // Their callers waiting in queues are gone with them.
        sqlx::query("DELETE FROM queue_places p USING nodes n WHERE p.node = n.id AND n.seen_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE seen_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(cut.into_iter().map(|(_, r)| r).collect())
    }

    /// The nodes seen since `seen_since`, by id.
    pub async fn live_nodes(&self, seen_since: i64) -> super::Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM nodes WHERE seen_at >= $1 ORDER BY id")
                .bind(seen_since)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Calls in progress per company on the nodes other than `node` seen since `seen_since`.
    pub async fn calls_by_company(&self, node: &str, seen_since: i64) -> super::Result<Vec<(CompanyId, i64)>> {
        let rows = sqlx::query(
            "SELECT c.company_id, COUNT(*) AS calls FROM live_calls c JOIN nodes n ON n.id = c.node
             WHERE c.node <> $1 AND n.seen_at >= $2 GROUP BY c.company_id",
        )
        .bind(node)
        .bind(seen_since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (CompanyId(r.get("company_id")), r.get("calls")))
            .collect())
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

/// The outcome of a call whose node went silent while carrying it.
pub(super) const NODE_LOST: &str = "node-lost";

/// The record of a call whose node went silent at `last_seen` (Unix ms) while carrying it.
/// Nothing of the call is known beyond what the node listed when it began.
fn cut_short(id: String, caller: String, dialled: String, started_at: i64, last_seen: i64, node: String) -> CallRecord {
    let ended_at = last_seen.max(started_at);
    CallRecord {
        id,
        sip_call_id: String::new(),
        caller,
        dialled,
        flow: None,
        started_at,
        answered_at: None,
        answered_by: None,
        ended_at,
        outcome: NODE_LOST.into(),
        trace: vec![TraceEntry {
            at_ms: (ended_at - started_at) as u64,
            event: format!("node {node} stopped answering: the call was cut"),
        }],
        legs: Vec::new(),
        result: CallResult::Failed,
        offered_to: Vec::new(),
        ended_in: None,
        wait_ms: ended_at - started_at,
    }
}
