//! Which flow version answers which number: compiled versions cached by sha256, and the
//! routing table swapped atomically on every change, so a new assignment applies to the next
//! call while calls in progress keep the version they started with.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::{FlowEngine, FlowError, FlowVersion, KnownNames, admission};
use crate::call::record::unix_ms;
use crate::call::{Target, number};
use crate::store::{Assignment, Change, Store, Tenant};
use crate::tenant::CompanyId;

/// What a number has besides its flow and the flow's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberOptions {
    pub timezone: String,
    /// Record both parties of every bridged call.
    pub record_calls: bool,
    /// Where calls go when the flow fails; none: the sales department.
    pub fallback: Option<Target>,
    /// Login of the employee whose mailbox takes voicemail left on the number.
    pub mailbox: Option<String>,
    /// Mail the mailbox owner about calls nobody answered that left no voicemail.
    pub missed_call_mail: bool,
    /// Hosts the flow may send HTTP requests to (`name` or `name:port`).
    pub allowed_hosts: Vec<String>,
}

/// What answers one number.
pub struct Route {
    pub assignment: Assignment,
    pub version: Arc<FlowVersion>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error("no flow named or hashed {0:?}")]
    UnknownFlow(String),
    #[error("{0:?} is not an E.164 number (write it as +<country><number>, e.g. +15550100100)")]
    BadNumber(String),
    #[error("settings must be a JSON object")]
    BadSettings,
    #[error("no employee {0:?} to take the number's voicemail")]
    NoSuchMailbox(String),
    #[error("missed-call mail goes to the number's mailbox: set mailbox too")]
    MissedCallMailWithoutMailbox,
    #[error("{0:?} is not an IANA timezone (e.g. Europe/Berlin, America/New_York, UTC)")]
    BadTimezone(String),
    #[error("allowed_hosts: {0}")]
    BadAllowedHost(String),
    #[error("the settings do not fit the flow: {0}")]
    SettingsRejected(String),
    #[error("{0} is another company's number on this exchange")]
    NumberTaken(String),
    #[error(
        "this very component (by its sha256) is held by another company on this exchange: rebuild it and upload again"
    )]
    HeldElsewhere,
    #[error("database: {0}")]
    Store(#[from] anyhow::Error),
}

impl From<crate::store::Error> for RegistryError {
    fn from(e: crate::store::Error) -> Self {
        RegistryError::Store(e.into())
    }
}

pub struct FlowRegistry {
    store: Store,
    engine: FlowEngine,
    /// The executable whose `compile-check` compiles an upload on trial first (admission.rs);
    /// none: uploads are compiled in this process only (tests, the simulator's tools).
    trial_compiler: Option<std::path::PathBuf>,
    /// Which numbers' flows keep failing (health.rs).
    pub health: super::health::FlowHealth,
    /// Uploads being admitted at once: each trial and compile takes a core for a while.
    admitting: tokio::sync::Semaphore,
    versions: Mutex<HashMap<String, Arc<FlowVersion>>>,
    routes: ArcSwap<HashMap<String, Arc<Route>>>,
}

impl FlowRegistry {
    pub fn new(store: Store, engine: FlowEngine) -> Self {
        FlowRegistry {
            store,
            engine,
            trial_compiler: None,
            health: Default::default(),
            admitting: tokio::sync::Semaphore::new(2),
            versions: Mutex::default(),
            routes: ArcSwap::default(),
        }
    }

    /// Compiles every upload on trial in a child process (`exe compile-check`) first.
    pub fn with_trial_compiler(mut self, exe: std::path::PathBuf) -> Self {
        self.trial_compiler = Some(exe);
        self
    }

    pub fn engine(&self) -> &FlowEngine {
        &self.engine
    }

    /// Compiles and stores a built-in flow (everyone's).
    pub async fn add_builtin(&self, name: &str, wasm: &[u8]) -> Result<Arc<FlowVersion>, RegistryError> {
        let sha = FlowEngine::sha256(wasm);
        if let Some(v) = self.versions.lock().get(&sha) {
            return Ok(v.clone());
        }
        let version = self.compile(wasm).await?;
        self.store.put_builtin_flow(name, &sha, wasm, unix_ms()).await?;
        self.versions.lock().insert(sha, version.clone());
        Ok(version)
    }

    /// Validates, compiles and stores a company's upload; returns its version.
    pub async fn upload(&self, owner: &Tenant, name: &str, wasm: &[u8]) -> Result<Arc<FlowVersion>, RegistryError> {
        let sha = FlowEngine::sha256(wasm);
        let cached = self.versions.lock().get(&sha).cloned();
        let version = match cached {
            Some(version) => version,
            None => {
                // An upload holds its turn through both compiles (the trial and ours).
                let _turn = self.admit(wasm).await?;
                self.compile(wasm).await?
            }
        };
        if !owner.put_flow(name, &sha, wasm, unix_ms()).await? {
            return Err(RegistryError::HeldElsewhere);
        }
        self.versions.lock().insert(sha, version.clone());
        Ok(version)
    }

    /// A stranger's component passes the upload limits before the exchange compiles it; the
    /// permit returned is the upload's turn among the `admitting` ones.
    async fn admit(&self, wasm: &[u8]) -> Result<tokio::sync::SemaphorePermit<'_>, RegistryError> {
        let refused = |refusal| match refusal {
            admission::Refusal::OverLimit(why) => RegistryError::Flow(FlowError::OverLimit(why)),
            admission::Refusal::Invalid(why) => RegistryError::Flow(FlowError::NotAComponent(why)),
        };
        admission::check_declared(wasm, self.engine.limits().memory_bytes).map_err(refused)?;
        let turn = self.admitting.acquire().await.expect("never closed");
        if let Some(exe) = &self.trial_compiler {
            admission::trial_compile(exe, wasm, admission::COMPILE_WALL)
                .await
                .map_err(refused)?;
        }
        Ok(turn)
    }

    /// Compiling takes tens of milliseconds of CPU: keep it off the async workers.
    async fn compile(&self, wasm: &[u8]) -> Result<Arc<FlowVersion>, RegistryError> {
        let engine = self.engine.clone();
        let wasm = wasm.to_vec();
        tokio::task::spawn_blocking(move || engine.load(&wasm))
            .await
            .map_err(|e| RegistryError::Store(anyhow::anyhow!("compiler task: {e}")))?
            .map_err(Into::into)
    }

    /// A stored version, compiled on first use.
    pub async fn version(&self, sha: &str) -> Result<Arc<FlowVersion>, RegistryError> {
        if let Some(v) = self.versions.lock().get(sha) {
            return Ok(v.clone());
        }
        let wasm = self
            .store
            .flow_wasm(sha)
            .await?
            .ok_or_else(|| RegistryError::UnknownFlow(sha.into()))?;
        let version = self.compile(&wasm).await?;
        self.versions.lock().insert(sha.to_string(), version.clone());
        Ok(version)
    }

    /// The departments, employees and schedules settings may name (the company's own).
    async fn known_names(&self, tenant: &Tenant) -> Result<KnownNames, RegistryError> {
        let departments = tenant.departments().await?;
        let employees = tenant.employees().await?;
        let schedules = tenant.schedules(None).await?;
        let uploaded = tenant.prompt_list().await?;
        let builtin = crate::media::library::builtin_names().map(str::to_owned);
        Ok(KnownNames {
            departments: departments.into_iter().map(|d| d.id).collect(),
            employees: employees.into_iter().map(|e| e.login).collect(),
            schedules: schedules.into_iter().map(|s| s.id).collect(),
            prompts: uploaded.into_iter().map(|p| p.name).chain(builtin).collect(),
        })
    }

    /// Drops a deleted version from the cache.
    pub fn forget(&self, sha256: &str) {
        self.versions.lock().remove(sha256);
    }

    /// Assigns a flow (name or sha256, one of the company's or a built-in) with its settings to
    /// one of the company's numbers (a number nobody has becomes the company's).
    pub async fn assign(
        &self,
        tenant: &Tenant,
        number: &str,
        flow: &str,
        settings: &serde_json::Value,
        options: &NumberOptions,
    ) -> Result<Assignment, RegistryError> {
        if !number::is_e164(number) {
            return Err(RegistryError::BadNumber(number.into()));
        }
        if !settings.is_object() {
            return Err(RegistryError::BadSettings);
        }
        if jiff::tz::TimeZone::get(&options.timezone).is_err() {
            return Err(RegistryError::BadTimezone(options.timezone.clone()));
        }
        if options.missed_call_mail && options.mailbox.is_none() {
            return Err(RegistryError::MissedCallMailWithoutMailbox);
        }
        if let Some(login) = &options.mailbox
            && tenant.employee(login, false).await?.is_none()
        {
            return Err(RegistryError::NoSuchMailbox(login.clone()));
        }
        if let Some(bad) = options
            .allowed_hosts
            .iter()
            .find_map(|h| crate::web::check_allowed_host(h).err())
        {
            return Err(RegistryError::BadAllowedHost(bad));
        }
        if self.route(number).is_some_and(|r| r.assignment.company != tenant.id()) {
            return Err(RegistryError::NumberTaken(number.into()));
        }
        let sha = tenant
            .resolve_flow(flow)
            .await?
            .ok_or_else(|| RegistryError::UnknownFlow(flow.into()))?;
        let version = self.version(&sha).await?;
        let mut settings = settings.clone();
        if let Some(schema) = &version.settings_schema {
            // Secrets the admin sent back hidden keep their values.
            if let Some(before) = self.route(number) {
                let before = serde_json::from_str(&before.assignment.settings).unwrap_or_default();
                schema.keep_secrets(&mut settings, &before);
            }
            let known = self.known_names(tenant).await?;
            schema
                .check(&settings, &known)
                .map_err(RegistryError::SettingsRejected)?;
        }
        let assignment = Assignment {
            company: tenant.id(),
            number: number.to_string(),
            timezone: options.timezone.clone(),
            flow_sha256: sha,
            settings: settings.to_string(),
            record_calls: options.record_calls,
            fallback: options
                .fallback
                .as_ref()
                .map(|t| serde_json::to_string(t).expect("a target serialises"))
                .unwrap_or_default(),
            mailbox: options.mailbox.clone().unwrap_or_default(),
            missed_call_mail: options.missed_call_mail,
            allowed_hosts: options.allowed_hosts.clone(),
            updated_at: unix_ms(),
        };
        if !tenant.assign(&assignment).await? {
            return Err(RegistryError::NumberTaken(number.into()));
        }
        self.refresh().await?;
        self.store.announce(Change::Numbers).await;
        Ok(assignment)
    }

    /// Rebuilds the routing table from the store.
    pub async fn refresh(&self) -> Result<(), RegistryError> {
        let mut table = HashMap::new();
        for assignment in self.store.assignments().await? {
            match self.version(&assignment.flow_sha256).await {
                Ok(version) => {
                    table.insert(
                        number::canonical(&assignment.number),
                        Arc::new(Route { assignment, version }),
                    );
                }
                Err(e) => tracing::error!(number = %assignment.number, error = %e, "cannot load the assigned flow"),
            }
        }
        self.routes.store(Arc::new(table));
        Ok(())
    }

    /// An assignment's settings as the API shows them: its flow's secrets hidden.
    pub async fn shown_settings(&self, assignment: &Assignment) -> serde_json::Value {
        let mut settings = serde_json::from_str(&assignment.settings).unwrap_or_else(|_| serde_json::json!({}));
        match self.version(&assignment.flow_sha256).await {
            Ok(version) => {
                if let Some(schema) = &version.settings_schema {
                    schema.hide_secrets(&mut settings);
                }
                settings
            }
            // A flow that cannot be loaded cannot say what is secret: show nothing.
            Err(_) => serde_json::json!({}),
        }
    }

    /// The route for a dialled number, however it is spelled (whichever company's it is).
    pub fn route(&self, dialled: &str) -> Option<Arc<Route>> {
        self.routes.load().get(&number::canonical(dialled)).cloned()
    }
}

/// A company's numbers: the ones assigned to its flows.
pub struct CompanyNumbers {
    pub registry: Arc<FlowRegistry>,
    pub company: CompanyId,
}

impl crate::call::OwnNumbers for CompanyNumbers {
    fn owns(&self, number: &str) -> bool {
        self.registry
            .route(number)
            .is_some_and(|r| r.assignment.company == self.company)
    }
}
