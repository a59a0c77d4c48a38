//! Where employees are, kept in the store: the registrar's location service (every company's,
//! each phone resolved to its company by its SIP domain), and — per company — the directory
//! `dial` resolves its targets with (employees' phones, departments' members by their hunting
//! strategy, and the carrier for external numbers), and the call history flows ask about.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::call::hunting::{self, Strategy};
use crate::call::{
    Agent, AgentState, Calendar, DepartmentCard, Directory, EmployeeCard, EmployeeKey, History, Reach, Reachable,
    RingStep, Staff, Target, number,
};
use crate::companies::Companies;
use crate::schedule::Schedule;
use crate::sip::{Binding, Domain, LineState, Location, Messages, Presence, TrunkLogin, Unavailable, unix_secs};
use crate::store::{Department, Employee, Registration, Store, Tenant};
use crate::tenant::CompanyId;

pub struct StoreLocation {
    pub store: Store,
    companies: Arc<Companies>,
    /// Where calls to external numbers go.
    pub outbound: Option<OutboundTrunk>,
}

impl StoreLocation {
    pub fn new(store: Store, companies: Arc<Companies>, outbound: Option<OutboundTrunk>) -> Self {
        StoreLocation {
            store,
            companies,
            outbound,
        }
    }
}

/// The carrier external numbers are called through.
#[derive(Debug, Clone)]
pub struct OutboundTrunk {
    pub target: SocketAddr,
    /// Presented on calls out (the company's main number) unless the flow says otherwise.
    pub caller_id: Option<String>,
    /// For the carrier's digest challenges.
    pub login: Option<TrunkLogin>,
}

/// One company's directory, calendar and call history, as its calls see them.
pub struct CompanyDirectory {
    tenant: Tenant,
    location: Arc<StoreLocation>,
    /// Who of the company is on the phone: departments skip members on a call.
    presence: Arc<Presence>,
}

impl StoreLocation {
    /// Company `id`'s directory, with its lines' `presence`.
    pub fn company(self: &Arc<Self>, id: CompanyId, presence: Arc<Presence>) -> CompanyDirectory {
        CompanyDirectory {
            tenant: self.store.company(id),
            location: self.clone(),
            presence,
        }
    }
}

/// How long an employee's phones ring before giving up, and how long after his mobile started
/// (by his "mobile after N s") it rings at least.
const EMPLOYEE_RING: Duration = Duration::from_secs(30);
const MOBILE_RING: Duration = Duration::from_secs(20);
/// How long an outside number rings (carriers give up after a minute or two themselves).
const EXTERNAL_RING: Duration = Duration::from_secs(60);

#[async_trait::async_trait]
impl Calendar for CompanyDirectory {
    async fn schedule(&self, id: &str) -> anyhow::Result<Option<Schedule>> {
        match self.tenant.schedules(Some(id)).await?.pop() {
            Some(stored) => Ok(Some(serde_json::from_str(&stored.definition)?)),
            None => Ok(None),
        }
    }
}

/// A store error as sip/ is handed it: marked [`Unavailable`] when the database could not be
/// reached, so the request is answered 503 with Retry-After (not 500).
fn for_sip(e: crate::store::Error) -> anyhow::Error {
    if e.is_unreachable() {
        anyhow::Error::new(e).context(Unavailable)
    } else {
        e.into()
    }
}

#[async_trait::async_trait]
impl Location for StoreLocation {
    fn domain(&self, hosts: &[&str]) -> Domain {
        let company = hosts
            .iter()
            .find_map(|host| self.companies.by_domain(host))
            .map_or(CompanyId::HOME, |c| c.id);
        Domain {
            company,
            realm: self.companies.realm(company),
            suspended: self.companies.suspended(company),
        }
    }

    async fn credentials(&self, company: CompanyId, username: &str) -> anyhow::Result<Option<(i64, String)>> {
        Ok(self
            .store
            .sip_credentials_of(company, username)
            .await
            .map_err(for_sip)?)
    }

    async fn login_of(&self, company: CompanyId, user: &str) -> anyhow::Result<Option<String>> {
        let tenant = self.store.company(company);
        let by_login = tenant.employee(user, false).await.map_err(for_sip)?;
        let employee = match by_login {
            Some(e) => Some(e),
            None => tenant.employee(user, true).await.map_err(for_sip)?,
        };
        Ok(employee.map(|e| e.login))
    }

    async fn all_bindings(&self, now: i64) -> anyhow::Result<Vec<(String, Binding)>> {
        let registrations = self.store.registrations(None, now).await.map_err(for_sip)?;
        Ok(registrations
            .into_iter()
            .filter_map(|r| Some((r.login.clone(), binding(r)?)))
            .collect())
    }

    async fn bindings(&self, user: i64, now: i64) -> anyhow::Result<Vec<Binding>> {
        let registrations = self.store.registrations(Some(user), now).await.map_err(for_sip)?;
        Ok(registrations.into_iter().filter_map(binding).collect())
    }

    async fn bind(&self, user: i64, b: &Binding) -> anyhow::Result<()> {
        let registration = Registration {
            employee_id: user,
            login: String::new(), // not stored with the binding
            contact: b.contact.clone(),
            source: b.source.to_string(),
            path: b.path.clone(),
            expires_at: b.expires_at,
            call_id: b.call_id.clone(),
            cseq: b.cseq.into(),
        };
        Ok(self
            .store
            .upsert_registration(&registration, unix_secs() as i64)
            .await
            .map_err(for_sip)?)
    }

    async fn unbind(&self, user: i64, contact: Option<&str>) -> anyhow::Result<()> {
        Ok(self.store.remove_registrations(user, contact).await.map_err(for_sip)?)
    }

    fn realm(&self, company: CompanyId) -> String {
        self.companies.realm(company)
    }

    async fn messages(&self, company: CompanyId, login: &str) -> anyhow::Result<Messages> {
        let (new, old) = self.store.company(company).messages(login).await.map_err(for_sip)?;
        Ok(Messages { new, old })
    }
}

#[async_trait::async_trait]
impl History for CompanyDirectory {
    async fn last_connected(&self, number: &str, since: i64) -> anyhow::Result<Option<String>> {
        // Records keep numbers as they came (`+4930...` from one carrier, `4930...` from another).
        let canonical = number::canonical(number);
        let bare = canonical.trim_start_matches('+').to_string();
        Ok(self.tenant.last_connected(&[canonical, bare], since).await?)
    }
}

#[async_trait::async_trait]
impl Directory for CompanyDirectory {
    async fn is_employee(&self, login: &str) -> anyhow::Result<bool> {
        Ok(self.tenant.employee(login, false).await?.is_some())
    }

    async fn card(&self, by: EmployeeKey<'_>) -> anyhow::Result<Option<EmployeeCard>> {
        let found = match by {
            EmployeeKey::Login(login) => self.tenant.employee(login, false).await?,
            EmployeeKey::Email(email) => self.tenant.employee_by_email(email).await?,
        };
        Ok(found.map(card))
    }

    async fn has_phones(&self, login: &str) -> anyhow::Result<bool> {
        match self.tenant.employee(login, false).await? {
            Some(employee) => Ok(!self
                .location
                .bindings(employee.id, unix_secs() as i64)
                .await?
                .is_empty()),
            None => Ok(false),
        }
    }

    async fn resolve(&self, target: &Target) -> anyhow::Result<Vec<RingStep>> {
        let employee = match target {
            Target::Employee(login) => self.tenant.employee(login, false).await?,
            Target::Extension(extension) => match self.tenant.employee(extension, true).await? {
                Some(employee) => Some(employee),
                None => match self.tenant.department(extension, true).await? {
                    Some(department) => return self.department_plan(department).await,
                    None => None,
                },
            },
            Target::External(number) => return Ok(RingStep::now(self.through_trunk(number))),
            Target::Department(id) => match self.tenant.department(id, false).await? {
                Some(department) => return self.department_plan(department).await,
                None => anyhow::bail!("no department {id:?}"),
            },
        };
        let Some(employee) = employee else {
            anyhow::bail!("no employee {target:?}");
        };
        if employee.dnd {
            // Do not disturb: nothing of his rings; his callers go where he is unanswered.
            return Ok(RingStep::now(Vec::new()));
        }
        self.employee_steps(&employee).await
    }

    async fn department(&self, key: &str) -> anyhow::Result<Option<DepartmentCard>> {
        let Some(department) = self.department_by_key(key).await? else {
            return Ok(None);
        };
        let members = self.free_members(&department).await?;
        let mut available = 0;
        for member in &members {
            if self.employee_steps(member).await?.iter().any(|s| !s.places.is_empty()) {
                available += 1;
            }
        }
        Ok(Some(DepartmentCard {
            ring_time: secs(department.timeout_secs),
            overflow: department.overflow.map(|o| o.to_string()).unwrap_or_default(),
            id: department.id,
            name: department.name,
            extension: department.extension,
            available,
        }))
    }

    async fn staff(&self, key: &str) -> anyhow::Result<Option<Staff>> {
        let Some(department) = self.department_by_key(key).await? else {
            return Ok(None);
        };
        let employees = self.tenant.employees_with_ids(&department.member_ids).await?;
        let mut agents = Vec::with_capacity(employees.len());
        for employee in employees {
            // Only members who staff the department cost a look at their phones.
            let reachable =
                staffs(&department, &employee) && !self.phones_of(employee.id, &employee.login).await?.is_empty();
            let state = if !reachable {
                AgentState::Away
            } else if department.paused.contains(&employee.login) {
                AgentState::Paused
            } else if self.presence.state(&employee.login) != LineState::Idle {
                AgentState::Busy
            } else {
                AgentState::Ready
            };
            agents.push(Agent {
                login: employee.login,
                state,
            });
        }
        Ok(Some(Staff {
            department: department.id,
            agents,
        }))
    }

    async fn calling_rights(&self, login: &str) -> anyhow::Result<Reach> {
        let Some(employee) = self.tenant.employee(login, false).await? else {
            return Ok(Reach::Internal);
        };
        if !employee.calling_rights.is_empty() {
            return employee.calling_rights.parse().map_err(anyhow::Error::msg);
        }
        let departments = self.tenant.departments().await?;
        let his = departments
            .iter()
            .find(|d| d.member_ids.contains(&employee.id) && !d.calling_rights.is_empty());
        match his {
            Some(department) => department.calling_rights.parse().map_err(anyhow::Error::msg),
            None => Ok(Reach::International),
        }
    }

    async fn ring_time(&self, target: &Target) -> anyhow::Result<Duration> {
        let employee = match target {
            Target::External(_) => return Ok(EXTERNAL_RING),
            Target::Department(id) => {
                let department = self.tenant.department(id, false).await?;
                return Ok(department.map_or(EMPLOYEE_RING, |d| secs(d.timeout_secs)));
            }
            // An employee first, as `plan` looks (he is in memory; a department is a query).
            Target::Extension(extension) => match self.tenant.employee(extension, true).await? {
                Some(employee) => Some(employee),
                None => match self.tenant.department(extension, true).await? {
                    Some(department) => return Ok(secs(department.timeout_secs)),
                    None => None,
                },
            },
            Target::Employee(login) => self.tenant.employee(login, false).await?,
        };
        // Long enough for his mobile, when he has one, to ring a while after his phones.
        let mobile_after = employee
            .filter(|e| !e.fields.mobile.is_empty())
            .and_then(|e| e.fields.mobile_after_secs);
        Ok(match mobile_after {
            Some(after) => EMPLOYEE_RING.max(Duration::from_secs(after.max(0) as u64) + MOBILE_RING),
            None => EMPLOYEE_RING,
        })
    }
}

/// Whether `employee` staffs `department`: logged in to it and not in do-not-disturb (a pause or
/// a call of his own does not change it).
fn staffs(department: &Department, employee: &Employee) -> bool {
    !department.logged_out.contains(&employee.login) && !employee.dnd
}

/// Seconds as the store keeps them (at least one).
fn secs(s: i64) -> Duration {
    Duration::from_secs(s.max(1) as u64)
}

fn card(e: Employee) -> EmployeeCard {
    EmployeeCard {
        login: e.login,
        name: e.fields.name,
        extension: e.fields.extension,
        email: e.fields.email,
        mobile: e.fields.mobile,
    }
}

/// A stored registration as the registrar's binding (`None` if the row is unreadable).
fn binding(r: Registration) -> Option<Binding> {
    Some(Binding {
        source: r.source.parse().ok()?,
        path: r.path,
        contact: r.contact,
        expires_at: r.expires_at,
        call_id: r.call_id,
        cseq: u32::try_from(r.cseq).ok()?,
    })
}

impl CompanyDirectory {
    /// Every registered phone of an employee (`id`, `login`).
    async fn phones_of(&self, id: i64, login: &str) -> anyhow::Result<Vec<Reachable>> {
        let bindings = self.location.bindings(id, unix_secs() as i64).await?;
        Ok(bindings
            .into_iter()
            .map(|b| Reachable {
                uri: b.contact,
                destination: b.source,
                route: b.path,
                user: login.to_string(),
                employee: Some(login.to_string()),
                caller_id: None,
                login: None,
                toll: None,
            })
            .collect())
    }

    /// An employee's phones now, and his mobile by his "mobile after N seconds" (at once when no
    /// phone is registered).
    async fn employee_steps(&self, employee: &Employee) -> anyhow::Result<Vec<RingStep>> {
        let phones = self.phones_of(employee.id, &employee.login).await?;
        let mobile = &employee.fields.mobile;
        let mut steps = RingStep::now(phones);
        if let (Some(after), false) = (employee.fields.mobile_after_secs, mobile.is_empty()) {
            let after = match steps[0].places.is_empty() {
                true => Duration::ZERO,
                false => Duration::from_secs(after.max(0) as u64),
            };
            let places = self
                .through_trunk(mobile)
                .into_iter()
                .map(|p| Reachable {
                    employee: Some(employee.login.clone()),
                    ..p
                })
                .collect();
            steps.push(RingStep {
                after,
                ring_for: None,
                places,
                mobile: true,
            });
        }
        Ok(steps)
    }

    /// The department by id, or else by extension.
    async fn department_by_key(&self, key: &str) -> anyhow::Result<Option<Department>> {
        Ok(match self.tenant.department(key, false).await? {
            Some(department) => Some(department),
            None => self.tenant.department(key, true).await?,
        })
    }

    /// The department's members who may be offered a call now, in hunting order: logged in to
    /// it, not paused, not in do-not-disturb, and — unless the department rings busy members —
    /// not on a call. Skipped at once, so "in turn" does not wait out their turns.
    async fn free_members(&self, department: &Department) -> anyhow::Result<Vec<Employee>> {
        let employees = self.tenant.employees_with_ids(&department.member_ids).await?;
        Ok(employees
            .into_iter()
            .filter(|e| staffs(department, e) && !department.paused.contains(&e.login))
            .filter(|e| department.ring_busy || self.presence.state(&e.login) != LineState::Busy)
            .collect())
    }

    /// The department's free members — each his phones and mobile — ringing by its strategy.
    async fn department_plan(&self, department: Department) -> anyhow::Result<Vec<RingStep>> {
        let employees = self.free_members(&department).await?;
        let mut members = Vec::with_capacity(employees.len());
        for employee in &employees {
            members.push(self.employee_steps(employee).await?);
        }
        let strategy: Strategy = department.strategy.parse().map_err(anyhow::Error::msg)?;
        Ok(hunting::plan(
            strategy,
            secs(department.step_secs),
            secs(department.timeout_secs),
            members,
        ))
    }
}

/// A company's directory as one number's calls see it: their calls out through the carrier show
/// the number's own caller ID (`PUT /numbers/{n}` `caller_id`).
pub struct ShownAs {
    pub inner: Arc<dyn Directory>,
    pub caller_id: String,
}

#[async_trait::async_trait]
impl Directory for ShownAs {
    async fn is_employee(&self, login: &str) -> anyhow::Result<bool> {
        self.inner.is_employee(login).await
    }

    async fn card(&self, by: EmployeeKey<'_>) -> anyhow::Result<Option<EmployeeCard>> {
        self.inner.card(by).await
    }

    async fn has_phones(&self, login: &str) -> anyhow::Result<bool> {
        self.inner.has_phones(login).await
    }

    async fn department(&self, key: &str) -> anyhow::Result<Option<DepartmentCard>> {
        self.inner.department(key).await
    }

    async fn ring_time(&self, target: &Target) -> anyhow::Result<Duration> {
        self.inner.ring_time(target).await
    }

    async fn staff(&self, key: &str) -> anyhow::Result<Option<Staff>> {
        self.inner.staff(key).await
    }

    async fn calling_rights(&self, login: &str) -> anyhow::Result<Reach> {
        self.inner.calling_rights(login).await
    }

    async fn resolve(&self, target: &Target) -> anyhow::Result<Vec<RingStep>> {
        let mut steps = self.inner.resolve(target).await?;
        for place in steps.iter_mut().flat_map(|s| s.places.iter_mut()) {
            if place.toll.is_some() {
                place.caller_id = Some(self.caller_id.clone());
            }
        }
        Ok(steps)
    }
}

impl CompanyDirectory {
    /// The carrier's place for `number`, showing the company's main number when it has one
    /// (else the trunk's `--outbound-caller-id`, else the caller's own number).
    fn through_trunk(&self, number: &str) -> Vec<Reachable> {
        let main = self
            .location
            .companies
            .get(self.tenant.id())
            .map(|c| c.main_caller_id.clone())
            .filter(|main| !main.is_empty());
        let mut places = self.location.through_trunk(number);
        for place in &mut places {
            if let Some(main) = &main {
                place.caller_id = Some(main.clone());
            }
        }
        places
    }
}

impl StoreLocation {
    /// The carrier's place for `number`. Only an E.164 number goes into a Request-URI (nothing
    /// a caller typed can add URI parameters or headers); whether it may be called is the toll
    /// gate's to say when it rings.
    fn through_trunk(&self, number: &str) -> Vec<Reachable> {
        let Some(trunk) = &self.outbound else {
            tracing::warn!(%number, "no outbound trunk is configured: external numbers reach nobody");
            return Vec::new();
        };
        if !number::is_e164(number) {
            tracing::warn!(%number, "not an E.164 number: not called");
            return Vec::new();
        }
        vec![Reachable {
            uri: format!("sip:{number}@{}", trunk.target),
            destination: trunk.target,
            route: String::new(),
            user: number.to_string(),
            employee: None,
            caller_id: trunk.caller_id.clone(),
            login: trunk.login.clone(),
            toll: Some(number.to_string()),
        }]
    }
}
