//! Queues across nodes: the callers waiting on each node for a department, and each agent's
//! last queue call and rest. Each node writes its own (`cluster/queues.rs`); every node's
//! distributor reads the others' before it offers a caller (`call/queue.rs`). Rows of a node
//! that is gone are not read, and are deleted with it (`forget_nodes`).

use sqlx::Row;

use super::Tenant;

/// A caller waiting on another node, not offered to anyone yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingElsewhere {
    pub internal: bool,
    /// Unix ms.
    pub joined_at: i64,
}

/// An agent's last queue call (on any node) and his rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRest {
    pub login: String,
    /// When his last queue call ended (unix ms); `None`: none yet.
    pub idle_since: Option<i64>,
    /// Offered nobody before then (unix ms).
    pub rest_until: i64,
}

impl Tenant {
    /// Caller `place` of node `node` waits in `department`'s line since `joined_at`.
    pub async fn queue_place_joined(
        &self,
        node: &str,
        department: &str,
        place: i64,
        internal: bool,
        joined_at: i64,
    ) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO queue_places (node, company_id, department, place, internal, joined_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(node)
        .bind(self.company())
        .bind(department)
        .bind(place)
        .bind(internal)
        .bind(joined_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Agents are offered the caller now (`offered`), or no longer.
    pub async fn queue_place_offered(
        &self,
        node: &str,
        department: &str,
        place: i64,
        offered: bool,
    ) -> super::Result<()> {
        sqlx::query(
            "UPDATE queue_places SET offered = $5
             WHERE node = $1 AND company_id = $2 AND department = $3 AND place = $4",
        )
        .bind(node)
        .bind(self.company())
        .bind(department)
        .bind(place)
        .bind(offered)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The caller left the line (answered, hung up, overflowed, called back).
    pub async fn queue_place_left(&self, node: &str, department: &str, place: i64) -> super::Result<()> {
        sqlx::query("DELETE FROM queue_places WHERE node = $1 AND company_id = $2 AND department = $3 AND place = $4")
            .bind(node)
            .bind(self.company())
            .bind(department)
            .bind(place)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Agent `rest.login` of `department` rests until `rest.rest_until`, and his last queue
    /// call ended at `rest.idle_since` (none: as before).
    pub async fn queue_agent_rests(&self, department: &str, rest: &AgentRest) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO queue_agents (company_id, department, login, idle_since, rest_until)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (company_id, department, login) DO UPDATE
             SET idle_since = COALESCE(excluded.idle_since, queue_agents.idle_since),
                 rest_until = excluded.rest_until",
        )
        .bind(self.company())
        .bind(department)
        .bind(&rest.login)
        .bind(rest.idle_since)
        .bind(rest.rest_until)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `department`'s callers waiting on the nodes other than `node` seen since `seen_since`,
    /// not offered yet, oldest first; and its agents' last calls and rests.
    pub async fn queue_elsewhere(
        &self,
        node: &str,
        department: &str,
        seen_since: i64,
    ) -> super::Result<(Vec<WaitingElsewhere>, Vec<AgentRest>)> {
        let waiting = sqlx::query(
            "SELECT CAST(p.internal AS INTEGER) AS internal, p.joined_at FROM queue_places p JOIN nodes n ON n.id = p.node
             WHERE p.company_id = $1 AND p.department = $2 AND p.node <> $3 AND NOT p.offered
               AND n.seen_at >= $4
             ORDER BY p.joined_at",
        )
        .bind(self.company())
        .bind(department)
        .bind(node)
        .bind(seen_since)
        .fetch_all(self.pool())
        .await?;
        let agents = sqlx::query(
            "SELECT login, idle_since, rest_until FROM queue_agents WHERE company_id = $1 AND department = $2",
        )
        .bind(self.company())
        .bind(department)
        .fetch_all(self.pool())
        .await?;
        Ok((
            waiting
                .iter()
                .map(|r| WaitingElsewhere {
                    internal: r.get::<i64, _>("internal") != 0,
                    joined_at: r.get("joined_at"),
                })
                .collect(),
            agents
                .iter()
                .map(|r| AgentRest {
                    login: r.get("login"),
                    idle_since: r.get("idle_since"),
                    rest_until: r.get("rest_until"),
                })
                .collect(),
        ))
    }
}
