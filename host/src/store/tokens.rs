//! API tokens: admins' and employees' login tokens, kept as hashes.

use serde::Serialize;
use sqlx::Row;

use super::{CompanyId, Store, Tenant};

/// Characters of a token's sha256 (hex) that name it in the API.
pub const TOKEN_ID_LEN: usize = 16;

/// A token as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The start of the token's sha256: names it for revoking (the token itself is never kept).
    pub id: String,
    pub label: String,
    /// The employee it belongs to (a login token); none: a company admin token.
    pub employee: Option<String>,
    pub created_at: i64,
}

/// Who an API token speaks for: its company (whether that company is suspended), and whom in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The operator's token (it acts for the home company, and on the operator's routes).
    pub operator: bool,
    pub company: CompanyId,
    pub suspended: bool,
    pub who: TokenRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRole {
    /// An admin token of the company (bootstrap, or made by an admin).
    Company,
    /// An employee who logged in.
    Employee { login: String, role: String },
}

impl Tenant {
    /// Keeps a token's hash: the company's (admin) when `employee` is none, else that employee's.
    pub async fn add_token(
        &self,
        token_sha256: &str,
        label: &str,
        employee: Option<i64>,
        now: i64,
    ) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, company_id, label, employee_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(token_sha256)
        .bind(self.company())
        .bind(label)
        .bind(employee)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Keeps an employee's login token, good until `expires_at` (Unix ms).
    pub async fn add_login_token(
        &self,
        token_sha256: &str,
        employee: i64,
        now: i64,
        expires_at: i64,
    ) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, company_id, label, employee_id, created_at, expires_at)
             VALUES ($1, $2, 'login', $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(self.company())
        .bind(employee)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Revokes every login token of employee `login` (his password changed); how many.
    pub async fn revoke_login_tokens(&self, login: &str) -> super::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM api_tokens WHERE company_id = $1 AND label = 'login'
             AND employee_id IN (SELECT id FROM employees WHERE company_id = $1 AND login = $2)",
        )
        .bind(self.company())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Every token, newest first (never the secret: an id that is the start of its hash).
    pub async fn tokens(&self) -> super::Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.token_sha256, t.label, e.login, t.created_at FROM api_tokens t
             LEFT JOIN employees e ON e.id = t.employee_id
             WHERE t.company_id = $1 ORDER BY t.created_at DESC, t.token_sha256",
        )
        .bind(self.company())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.get::<String, _>("token_sha256").chars().take(TOKEN_ID_LEN).collect(),
                label: r.get("label"),
                employee: r.get("login"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// Revokes the token whose id (the start of its hash) is `id`; false when there is none.
    pub async fn revoke_token(&self, id: &str) -> super::Result<bool> {
        if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        // `id` is hex, so it holds no LIKE wildcards.
        let done = sqlx::query("DELETE FROM api_tokens WHERE company_id = $1 AND token_sha256 LIKE $2")
            .bind(self.company())
            .bind(format!("{}%", id.to_ascii_lowercase()))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Keeps an operator's token: the one made at first start (no expiry), or a session the
    /// operator opened by logging in with it (`expires_at`, Unix ms).
    pub async fn add_operator_token(
        &self,
        token_sha256: &str,
        label: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> super::Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, company_id, label, created_at, operator, expires_at)
             VALUES ($1, $2, $3, $4, TRUE, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(token_sha256)
        .bind(CompanyId::HOME.0)
        .bind(label)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whose token this is at `now` (Unix ms); `None` for an unknown or expired token.
    pub async fn token_owner(&self, token_sha256: &str, now: i64) -> super::Result<Option<TokenOwner>> {
        let row = sqlx::query(
            "SELECT t.company_id, t.employee_id, e.login, e.role, CAST(c.suspended AS INTEGER) AS suspended,
                    CAST(t.operator AS INTEGER) AS operator
             FROM api_tokens t JOIN companies c ON c.id = t.company_id
             LEFT JOIN employees e ON e.id = t.employee_id
             WHERE t.token_sha256 = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let company = CompanyId(r.get("company_id"));
            let suspended = r.get::<i64, _>("suspended") != 0;
            let who = match r.get::<Option<i64>, _>("employee_id") {
                None => TokenRole::Company,
                Some(_) => TokenRole::Employee {
                    login: r.get("login"),
                    role: r.get("role"),
                },
            };
            TokenOwner {
                operator: r.get::<i64, _>("operator") != 0,
                company,
                suspended,
                who,
            }
        }))
    }

    /// Forgets the token with this hash (its holder logged out).
    pub async fn forget_token(&self, token_sha256: &str) -> super::Result<()> {
        sqlx::query("DELETE FROM api_tokens WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn token_count(&self) -> super::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&self.pool)
            .await
            .map_err(super::Error::from)
    }
}

/// An employee's one-time link to set his password, found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLink {
    pub company: CompanyId,
    pub login: String,
}

impl Tenant {
    /// Keeps a new set-password link for `login` (the earlier ones end); false: no such employee.
    pub async fn add_password_link(
        &self,
        token_sha256: &str,
        login: &str,
        now: i64,
        expires_at: i64,
    ) -> super::Result<bool> {
        let Some(employee) = self.employee(login, false).await?.map(|e| e.id) else {
            return Ok(false);
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM password_links WHERE company_id = $1 AND employee_id = $2")
            .bind(self.company())
            .bind(employee)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO password_links (token_sha256, company_id, employee_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(self.company())
        .bind(employee)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Whose link this is, if it has not expired or been used.
    pub async fn password_link(&self, token_sha256: &str, now: i64) -> super::Result<Option<PasswordLink>> {
        let row = sqlx::query(
            "SELECT l.company_id, e.login FROM password_links l JOIN employees e ON e.id = l.employee_id
             WHERE l.token_sha256 = $1 AND l.expires_at > $2",
        )
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| PasswordLink {
            company: CompanyId(r.get("company_id")),
            login: r.get("login"),
        }))
    }

    /// Uses up the link (true: it was there to use; a link works once).
    pub async fn use_password_link(&self, token_sha256: &str) -> super::Result<bool> {
        let done = sqlx::query("DELETE FROM password_links WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
