//! What the company itself sets: its rules for calls out through the carrier.

use super::{DEFAULT_COMPANY, Store};

impl Store {
    /// The company's outbound rules as stored (JSON); none when never set.
    pub async fn outbound_rules(&self) -> super::Result<Option<String>> {
        let rules: Option<String> = sqlx::query_scalar("SELECT outbound_rules FROM companies WHERE id = $1")
            .bind(DEFAULT_COMPANY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(rules.filter(|r| !r.is_empty()))
    }

    /// Keeps the company's outbound rules (JSON) and tells the other nodes.
    pub async fn set_outbound_rules(&self, json: &str) -> super::Result<()> {
        sqlx::query("UPDATE companies SET outbound_rules = $1 WHERE id = $2")
            .bind(json)
            .bind(DEFAULT_COMPANY)
            .execute(&self.pool)
            .await?;
        self.announce(super::Change::OutboundRules).await;
        Ok(())
    }
}
