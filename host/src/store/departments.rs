//! Departments and their members, in hunting order.

use serde::Serialize;
use sqlx::Row;

use super::Tenant;

/// A department as admins and flows see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Department {
    /// What flows name (`{"department": "sales"}`).
    pub id: String,
    pub name: String,
    pub extension: String,
    /// `ring_all`, `in_turn` or `increasingly`.
    pub strategy: String,
    pub step_secs: i64,
    pub timeout_secs: i64,
    /// Employees' logins, in hunting order.
    pub members: Vec<String>,
    /// The same employees' ids, in the same order (what the store keeps and the directory
    /// looks registrations up by).
    #[serde(skip)]
    pub member_ids: Vec<i64>,
    /// Members logged out of the department (they keep their place and are skipped).
    pub logged_out: Vec<String>,
    /// Members on a break: offered no calls (queue or hunting), yet staffing the department.
    pub paused: Vec<String>,
    /// Ring members who are on a call (their phones' call waiting); else they are skipped.
    pub ring_busy: bool,
    /// Where callers go when nobody answered: a route (`{"voicemail": {}}`,
    /// `{"department": "support"}`, ...); none: the route the caller came by decides (the
    /// built-in flows: voicemail with a callback request).
    #[schema(value_type = Option<Object>)]
    pub overflow: Option<serde_json::Value>,
    /// How far its members may call out when they have no right of their own (empty: not set).
    pub calling_rights: String,
}

/// What an employee's membership of a department says about taking its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Logged in: offered its calls (logged out, he keeps his place in its order).
    LoggedIn,
    /// On a break: offered none of its calls, yet staffing it.
    Paused,
}

impl Tenant {
    pub async fn departments(&self) -> super::Result<Vec<Department>> {
        self.departments_where("", None).await
    }

    /// The department named `slug`, or (with `by_extension`) the one at that extension.
    pub async fn department(&self, key: &str, by_extension: bool) -> super::Result<Option<Department>> {
        let column = if by_extension { "d.extension" } else { "d.slug" };
        let condition = format!("AND {column} = $2");
        Ok(self.departments_where(&condition, Some(key)).await?.pop())
    }

    async fn departments_where(&self, condition: &str, key: Option<&str>) -> super::Result<Vec<Department>> {
        let query = format!(
            "SELECT d.id, d.slug, d.name, d.extension, d.strategy, d.step_secs, d.timeout_secs, d.overflow,
             CAST(d.ring_busy AS INTEGER) AS ring_busy, d.calling_rights FROM departments d WHERE d.company_id = $1 {condition} ORDER BY d.extension"
        );
        let mut select = sqlx::query(&query).bind(self.company());
        if let Some(key) = key {
            select = select.bind(key);
        }
        let rows = select.fetch_all(self.pool()).await?;
        let mut departments = Vec::with_capacity(rows.len());
        for r in rows {
            let members = sqlx::query(
                "SELECT e.id, e.login, CAST(m.logged_in AS INTEGER) AS logged_in, CAST(m.paused AS INTEGER) AS paused
                 FROM department_members m JOIN employees e ON e.id = m.employee_id
                 WHERE m.department_id = $1 ORDER BY m.position",
            )
            .bind(r.get::<i64, _>("id"))
            .fetch_all(self.pool())
            .await?;
            departments.push(Department {
                id: r.get("slug"),
                name: r.get("name"),
                extension: r.get("extension"),
                strategy: r.get("strategy"),
                step_secs: r.get("step_secs"),
                timeout_secs: r.get("timeout_secs"),
                members: members.iter().map(|m| m.get("login")).collect(),
                member_ids: members.iter().map(|m| m.get("id")).collect(),
                logged_out: members
                    .iter()
                    .filter(|m| m.get::<i64, _>("logged_in") == 0)
                    .map(|m| m.get("login"))
                    .collect(),
                paused: members
                    .iter()
                    .filter(|m| m.get::<i64, _>("paused") != 0)
                    .map(|m| m.get("login"))
                    .collect(),
                ring_busy: r.get::<i64, _>("ring_busy") != 0,
                // Written by `put_department` from a checked route; unreadable reads as none.
                overflow: serde_json::from_str(r.get::<&str, _>("overflow")).ok(),
                calling_rights: r.get("calling_rights"),
            });
        }
        Ok(departments)
    }

    /// Creates or replaces the department `d.id` with its members (`d.member_ids`, in order).
    pub async fn put_department(&self, d: &Department, now: i64) -> super::Result<()> {
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO departments (company_id, slug, name, extension, strategy, step_secs, timeout_secs, created_at,
             overflow, ring_busy, calling_rights) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (company_id, slug) DO UPDATE SET name = excluded.name, extension = excluded.extension,
             strategy = excluded.strategy, step_secs = excluded.step_secs, timeout_secs = excluded.timeout_secs,
             overflow = excluded.overflow, ring_busy = excluded.ring_busy, calling_rights = excluded.calling_rights
             RETURNING id",
        )
        .bind(self.company())
        .bind(&d.id)
        .bind(&d.name)
        .bind(&d.extension)
        .bind(&d.strategy)
        .bind(d.step_secs)
        .bind(d.timeout_secs)
        .bind(now)
        .bind(d.overflow.as_ref().map(|o| o.to_string()).unwrap_or_default())
        .bind(d.ring_busy)
        .bind(&d.calling_rights)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM department_members WHERE department_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (position, employee) in d.member_ids.iter().enumerate() {
            let login = d.members.get(position);
            let logged_in = login.is_none_or(|login| !d.logged_out.contains(login));
            let paused = login.is_some_and(|login| d.paused.contains(login));
            // Only the company's own employees can be members.
            sqlx::query(
                "INSERT INTO department_members (department_id, employee_id, position, logged_in, paused)
                 SELECT $1, $2, $3, $5, $6 WHERE EXISTS (SELECT 1 FROM employees WHERE id = $2 AND company_id = $4)",
            )
            .bind(id)
            .bind(employee)
            .bind(position as i64)
            .bind(self.company())
            .bind(logged_in)
            .bind(paused)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await.map_err(super::Error::from)
    }

    /// Sets one of employee `login`'s membership states in department `slug`, or — with no
    /// slug — in every department he is a member of; false when he is a member of none of them.
    pub async fn set_membership(
        &self,
        slug: Option<&str>,
        login: &str,
        state: MemberState,
        on: bool,
    ) -> super::Result<bool> {
        // The column comes from the enum, never from input.
        let column = match state {
            MemberState::LoggedIn => "logged_in",
            MemberState::Paused => "paused",
        };
        let done = sqlx::query(&format!(
            "UPDATE department_members SET {column} = $1
             WHERE employee_id = (SELECT id FROM employees WHERE company_id = $2 AND login = $3)
             AND department_id IN (SELECT id FROM departments WHERE company_id = $2 AND ($4 IS NULL OR slug = $4))"
        ))
        .bind(on)
        .bind(self.company())
        .bind(login)
        .bind(slug)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a department; false when there was none.
    pub async fn delete_department(&self, slug: &str) -> super::Result<bool> {
        let done = sqlx::query("DELETE FROM departments WHERE company_id = $1 AND slug = $2")
            .bind(self.company())
            .bind(slug)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Who has `extension` (an employee's login or a department's id), if anyone: extensions are
    /// one numbering plan for both.
    pub async fn extension_owner(&self, extension: &str) -> super::Result<Option<String>> {
        if let Some(e) = self.employee(extension, true).await? {
            return Ok(Some(format!("employee {}", e.login)));
        }
        Ok(self
            .department(extension, true)
            .await?
            .map(|d| format!("department {}", d.id)))
    }
}
