//! Which flow version answers which number: compiled versions cached by sha256, and the
//! routing table swapped atomically on every change, so a new assignment applies to the next
//! call while calls in progress keep the version they started with.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::{FlowEngine, FlowError, FlowVersion, admission};
use crate::call::number;
use crate::call::record::unix_ms;
use crate::store::{Assignment, Store, Tenant};
use crate::tenant::CompanyId;

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
    /// The built-in flows by name (the ICM's runs for extension 6100 too).
    builtins: Mutex<HashMap<String, Arc<FlowVersion>>>,
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
            builtins: Mutex::default(),
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
        let known = self.versions.lock().get(&sha).cloned();
        let version = match known {
            Some(version) => version,
            None => {
                let version = self.compile(wasm).await?;
                self.store.put_builtin_flow(name, &sha, wasm, unix_ms()).await?;
                self.versions.lock().insert(sha, version.clone());
                version
            }
        };
        self.builtins.lock().insert(name.to_owned(), version.clone());
        Ok(version)
    }

    /// The built-in flow `name` (`icm`), once added.
    pub fn builtin(&self, name: &str) -> Option<Arc<FlowVersion>> {
        self.builtins.lock().get(name).cloned()
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

    /// Drops a deleted version from the cache.
    pub fn forget(&self, sha256: &str) {
        self.versions.lock().remove(sha256);
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
