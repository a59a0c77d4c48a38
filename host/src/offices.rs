//! Each company's part of the call environment: its directory, busy lamps, rules for calls out
//! and numbers, put together once per company and shared by its calls; and the count of its
//! calls in progress that its plan limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

use crate::call::queue::Queues;
use crate::call::record::unix_ms;
use crate::call::{CallbackDesk, CallbackRequest, DialEnv, OutboundRules, TollGate, number};
use crate::cluster::QueueBoards;
use crate::flow::{CompanyNumbers, FlowRegistry};
use crate::location::StoreLocation;
use crate::sip::Presences;
use crate::store::{NewCallback, Store, Tenant};
use crate::tenant::CompanyId;

/// A day, for the callbacks a number may have a day.
const DAY_MS: i64 = 86_400_000;

/// What every company's queues and callback desk share on this node.
#[derive(Clone)]
pub struct Queueing {
    /// Wakes the callback scheduler (a queue's kept place is due now).
    pub callbacks_due: Arc<tokio::sync::Notify>,
    /// The other nodes' queues, when several nodes share the database.
    pub boards: Option<Arc<QueueBoards>>,
}

/// One company's callback requests as its calls file them (`call::CallbackDesk`).
pub struct CompanyCallbacks {
    pub tenant: Tenant,
    /// The company's rules for calls out: how many callbacks a number may have a day.
    pub toll: Arc<crate::call::TollGate>,
    /// Wakes the scheduler for a request due now.
    pub due_now: Arc<tokio::sync::Notify>,
}

impl CompanyCallbacks {
    /// A company's callback desk over `tenant`, and its queues (which hand kept places to it).
    pub fn with_queues(
        tenant: Tenant,
        directory: Arc<dyn crate::call::Directory>,
        toll: Arc<TollGate>,
        queueing: &Queueing,
    ) -> (Arc<Queues>, Arc<Self>) {
        let board = queueing.boards.as_ref().map(|b| b.of(tenant.id()));
        let due_now = queueing.callbacks_due.clone();
        let desk = Arc::new(CompanyCallbacks { tenant, toll, due_now });
        (Queues::new(directory, desk.clone(), board), desk)
    }
}

#[async_trait::async_trait]
impl CallbackDesk for CompanyCallbacks {
    async fn file(&self, request: CallbackRequest<'_>) -> anyhow::Result<Option<i64>> {
        let employee_id = match request.employee {
            Some(login) => self.tenant.employee(login, false).await?.map(|e| e.id),
            None => None,
        };
        let now = unix_ms();
        let phone = number::canonical(request.phone);
        let per_day = self.toll.rules().callbacks_per_number_per_day;
        let filed = self.tenant.callbacks_filed_since(&phone, now - DAY_MS).await?;
        if filed >= i64::from(per_day) {
            tracing::warn!(%phone, filed, per_day, "callback request not filed: the number has had the day's callbacks");
            return Ok(None);
        }
        let new = NewCallback {
            phone: &phone,
            employee_id,
            reason: request.reason,
            recording_id: request.recording,
            due_at: now,
            now,
        };
        let id = self.tenant.add_callback(&new).await?;
        tracing::info!(id, %phone, reason = request.reason, "callback requested");
        Ok(Some(id))
    }

    async fn hand_to(&self, id: i64, login: &str) -> anyhow::Result<bool> {
        let handed = self.tenant.hand_callback(id, login, unix_ms()).await?;
        if handed {
            self.due_now.notify_one();
        }
        Ok(handed)
    }
}

pub struct Offices {
    /// The shared parts (dialer, transfers, HTTP, timeouts); its per-company parts are
    /// replaced in each company's copy.
    shared: DialEnv,
    store: Store,
    location: Arc<StoreLocation>,
    registry: Arc<FlowRegistry>,
    presences: Arc<Presences>,
    /// A company with no rules of its own may call national numbers in this country.
    country_code: String,
    queueing: Queueing,
    offices: Mutex<HashMap<CompanyId, Arc<Office>>>,
}

/// One company's part.
pub struct Office {
    pub dial: Arc<DialEnv>,
    /// Its calls in progress on this node.
    calls: Arc<AtomicI64>,
}

/// A call in progress, counted against its company's plan while it lives.
#[derive(Debug)]
pub struct CallSlot(Arc<AtomicI64>);

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Office {
    /// A slot for one more call, unless the company has `limit` calls already.
    pub fn admit_call(&self, limit: Option<i64>) -> Option<CallSlot> {
        let before = self.calls.fetch_add(1, Ordering::AcqRel);
        let slot = CallSlot(self.calls.clone());
        match limit {
            Some(limit) if before >= limit => None, // dropping the slot gives it back
            _ => Some(slot),
        }
    }

    pub fn calls_now(&self) -> i64 {
        self.calls.load(Ordering::Acquire)
    }
}

impl Offices {
    pub fn new(
        shared: DialEnv,
        store: Store,
        location: Arc<StoreLocation>,
        registry: Arc<FlowRegistry>,
        presences: Arc<Presences>,
        country_code: String,
        queueing: Queueing,
    ) -> Self {
        Offices {
            queueing,
            shared,
            store,
            location,
            registry,
            presences,
            country_code,
            offices: Mutex::default(),
        }
    }

    /// Company `id`'s calls in progress on this node (none before its first call).
    pub fn calls_now(&self, id: CompanyId) -> i64 {
        self.offices.lock().get(&id).map_or(0, |o| o.calls_now())
    }

    /// Company `id`'s office, put together on first use.
    pub async fn of(&self, id: CompanyId) -> anyhow::Result<Arc<Office>> {
        if let Some(office) = self.offices.lock().get(&id) {
            return Ok(office.clone());
        }
        let rules = self.outbound_rules(id).await?;
        let presence = self.presences.of(id);
        let directory = Arc::new(self.location.company(id, presence.clone()));
        let toll = TollGate::new(rules);
        let tenant = self.store.company(id);
        let (queues, callbacks) =
            CompanyCallbacks::with_queues(tenant, directory.clone(), toll.clone(), &self.queueing);
        let dial = DialEnv {
            company: id,
            presence,
            queues,
            callbacks,
            directory: directory.clone(),
            calendar: directory.clone(),
            history: directory,
            toll,
            numbers: Arc::new(CompanyNumbers {
                registry: self.registry.clone(),
                company: id,
            }),
            // A company's calls hand parties over and are supervised among themselves only.
            handovers: Arc::default(),
            supervision: Arc::default(),
            contacts: Arc::new(crate::icm::CompanyIcm {
                registry: self.registry.clone(),
                tenant: self.store.company(id),
            }),
            ..self.shared.clone()
        };
        let office = Arc::new(Office {
            dial: Arc::new(dial),
            calls: Arc::default(),
        });
        // Two first calls at once: the first one in stays (its toll gate counts calls).
        Ok(self.offices.lock().entry(id).or_insert(office).clone())
    }

    /// The company's outbound rules: as its admin set them, else national calls.
    async fn outbound_rules(&self, id: CompanyId) -> anyhow::Result<OutboundRules> {
        match self.store.company(id).outbound_rules().await? {
            Some(json) => Ok(serde_json::from_str(&json)?),
            None => Ok(OutboundRules::national(&self.country_code)),
        }
    }

    /// Reloads every company's rules for calls out (they changed on another node).
    pub async fn reload_rules(&self) -> anyhow::Result<()> {
        let offices: Vec<(CompanyId, Arc<Office>)> =
            self.offices.lock().iter().map(|(id, o)| (*id, o.clone())).collect();
        for (id, office) in offices {
            office.dial.toll.set_rules(self.outbound_rules(id).await?);
        }
        Ok(())
    }
}
