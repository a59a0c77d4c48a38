//! Employees: who they are, how they are reached (extension, mobile), and their SIP secret.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CompanyId, Store, Tenant};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Employee {
    pub id: i64,
    pub login: String,
    #[serde(flatten)]
    pub fields: EmployeeFields,
    /// Do not disturb: departments and queues skip him, and his own calls go where he is
    /// unanswered (his phone or `PATCH /employees/{login}` sets it).
    pub dnd: bool,
    /// How far he may call out (`internal`, `local`, `mobile`, `national`, `international`);
    /// empty: his departments' right, else the company's rules alone.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub calling_rights: String,
}

/// What an admin sets about an employee (besides the login and the password).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EmployeeFields {
    pub name: String,
    pub extension: String,
    /// `admin` or `user`.
    pub role: String,
    pub email: String,
    /// E.164, or empty.
    pub mobile: String,
    /// Ring the mobile this long after the desk phones (none: never).
    pub mobile_after_secs: Option<i64>,
    /// E.164 shown to the people he calls outside; empty: the company's main number.
    pub caller_id: String,
    /// His job title, as the company directory shows it.
    pub position: String,
}

/// An employee's two password hashes: the SIP digest HA1 and the API's Argon2 PHC string.
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    pub ha1: &'a str,
    pub api_password: &'a str,
}

pub(super) const COLUMNS: &str = "id, login, name, extension, role, email, mobile, mobile_after_secs, caller_id, position, CAST(dnd AS INTEGER) AS dnd, calling_rights";

pub(super) fn employee_row(r: &AnyRow) -> Employee {
    Employee {
        id: r.get("id"),
        login: r.get("login"),
        fields: EmployeeFields {
            name: r.get("name"),
            extension: r.get("extension"),
            role: r.get("role"),
            email: r.get("email"),
            mobile: r.get("mobile"),
            mobile_after_secs: r.get("mobile_after_secs"),
            caller_id: r.get("caller_id"),
            position: r.get("position"),
        },
        dnd: r.get::<i64, _>("dnd") != 0,
        calling_rights: r.get("calling_rights"),
    }
}

impl Store {
    /// Employees changed on another node, which announced it: the copy in memory is stale.
    pub fn employees_changed(&self) {
        self.roster.changed();
    }

    /// Marks employees changed here and tells the other nodes.
    async fn employees_written(&self) {
        self.employees_changed();
        self.announce(super::Change::Employees).await;
    }

    /// Every employee's company, login, id and SIP HA1, of every company.
    pub async fn all_sip_credentials(&self) -> super::Result<Vec<(CompanyId, String, i64, String)>> {
        Ok(self
            .roster()
            .await?
            .all()
            .map(|e| (e.company, e.employee.login.clone(), e.employee.id, e.ha1.clone()))
            .collect())
    }

    /// Employee `login`'s id and SIP HA1, in company `company` (from memory: the registrar
    /// asks for every user name a stranger sends).
    pub async fn sip_credentials_of(&self, company: CompanyId, login: &str) -> super::Result<Option<(i64, String)>> {
        Ok(self
            .roster()
            .await?
            .by_login(company, login)
            .map(|e| (e.employee.id, e.ha1.clone())))
    }
}

impl Tenant {
    /// Creates an employee; `Ok(None)` when the login or extension is taken.
    pub async fn add_employee(
        &self,
        login: &str,
        f: &EmployeeFields,
        secrets: Secrets<'_>,
        now: i64,
    ) -> super::Result<Option<Employee>> {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO employees (company_id, login, name, extension, role, email, mobile, mobile_after_secs, sip_ha1,
             api_password, created_at, caller_id, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(self.company())
        .bind(login)
        .bind(&f.name)
        .bind(&f.extension)
        .bind(&f.role)
        .bind(&f.email)
        .bind(&f.mobile)
        .bind(f.mobile_after_secs)
        .bind(secrets.ha1)
        .bind(secrets.api_password)
        .bind(now)
        .bind(&f.caller_id)
        .bind(&f.position)
        .fetch_optional(self.pool())
        .await?;
        self.store.employees_written().await;
        Ok(inserted.map(|id| Employee {
            id,
            login: login.into(),
            fields: f.clone(),
            dnd: false,
            calling_rights: String::new(),
        }))
    }

    /// Rewrites what an admin sets about `login` (and its password hashes, when given); false
    /// when there is no such employee.
    pub async fn update_employee(
        &self,
        login: &str,
        f: &EmployeeFields,
        secrets: Option<Secrets<'_>>,
    ) -> super::Result<bool> {
        let done = sqlx::query(
            "UPDATE employees SET name = $1, extension = $2, role = $3, email = $4, mobile = $5,
             mobile_after_secs = $6, sip_ha1 = COALESCE($7, sip_ha1), api_password = COALESCE($8, api_password),
             caller_id = $11, position = $12 WHERE company_id = $9 AND login = $10",
        )
        .bind(&f.name)
        .bind(&f.extension)
        .bind(&f.role)
        .bind(&f.email)
        .bind(&f.mobile)
        .bind(f.mobile_after_secs)
        .bind(secrets.map(|s| s.ha1))
        .bind(secrets.map(|s| s.api_password))
        .bind(self.company())
        .bind(login)
        .bind(&f.caller_id)
        .bind(&f.position)
        .execute(self.pool())
        .await?;
        self.store.employees_written().await;
        Ok(done.rows_affected() > 0)
    }

    /// Turns `login`'s do-not-disturb on or off; false when there is no such employee.
    pub async fn set_dnd(&self, login: &str, on: bool) -> super::Result<bool> {
        let done = sqlx::query("UPDATE employees SET dnd = $1 WHERE company_id = $2 AND login = $3")
            .bind(on)
            .bind(self.company())
            .bind(login)
            .execute(self.pool())
            .await?;
        self.store.employees_written().await;
        Ok(done.rows_affected() > 0)
    }

    /// Sets how far `login` may call out (empty: as his departments); false when there is no
    /// such employee.
    pub async fn set_calling_rights(&self, login: &str, rights: &str) -> super::Result<bool> {
        let done = sqlx::query("UPDATE employees SET calling_rights = $1 WHERE company_id = $2 AND login = $3")
            .bind(rights)
            .bind(self.company())
            .bind(login)
            .execute(self.pool())
            .await?;
        self.store.employees_written().await;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an employee with their registrations and department memberships.
    pub async fn delete_employee(&self, login: &str) -> super::Result<bool> {
        let deleted: Option<i64> =
            sqlx::query_scalar("DELETE FROM employees WHERE company_id = $1 AND login = $2 RETURNING id")
                .bind(self.company())
                .bind(login)
                .fetch_optional(self.pool())
                .await?;
        self.store.employees_written().await;
        // His registrations went with him (ON DELETE CASCADE); so must their copy in memory.
        if let Some(id) = deleted {
            self.store.registrations_written(id).await;
        }
        Ok(deleted.is_some())
    }

    pub async fn employees(&self) -> super::Result<Vec<Employee>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM employees WHERE company_id = $1 ORDER BY extension"
        ))
        .bind(self.company())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(employee_row).collect())
    }

    /// The employee with this login, or (with `by_extension`) at this extension: from memory,
    /// and on a shared database from the database when memory has nobody (another node may have
    /// added him a moment ago, its notice still on the way).
    pub async fn employee(&self, key: &str, by_extension: bool) -> super::Result<Option<Employee>> {
        let roster = self.store.roster().await?;
        let found = match by_extension {
            true => roster.by_extension(self.id, key),
            false => roster.by_login(self.id, key),
        };
        match found {
            Some(entry) => Ok(Some(entry.employee.clone())),
            None if self.store.is_shared() => self.employee_in_database(key, by_extension).await,
            None => Ok(None),
        }
    }

    async fn employee_in_database(&self, key: &str, by_extension: bool) -> super::Result<Option<Employee>> {
        let column = if by_extension { "extension" } else { "login" };
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM employees WHERE company_id = $1 AND {column} = $2"
        ))
        .bind(self.company())
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(employee_row))
    }

    /// The employees with these ids, in the order given (ids of nobody, or of another
    /// company's employees, are left out).
    pub async fn employees_with_ids(&self, ids: &[i64]) -> super::Result<Vec<Employee>> {
        let roster = self.store.roster().await?;
        Ok(ids
            .iter()
            .filter_map(|id| roster.by_id(self.id, *id).map(|e| e.employee.clone()))
            .collect())
    }

    /// The employee with e-mail address `email` (case-insensitive); the first made when several
    /// share it.
    pub async fn employee_by_email(&self, email: &str) -> super::Result<Option<Employee>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM employees WHERE company_id = $1 AND LOWER(email) = LOWER($2) AND email <> ''
             ORDER BY id LIMIT 1"
        ))
        .bind(self.company())
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(employee_row))
    }

    /// The employee's id and API password hash (empty when none was ever set).
    pub async fn api_password(&self, login: &str) -> super::Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT id, api_password FROM employees WHERE company_id = $1 AND login = $2")
            .bind(self.company())
            .bind(login)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| (r.get("id"), r.get("api_password"))))
    }
}
