//! Each company's part of the call environment: its directory, busy lamps, rules for calls out
//! and numbers, put together once per company and shared by its calls; and the count of its
//! calls in progress that its plan limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

use crate::call::{DialEnv, OutboundRules, TollGate};
use crate::flow::{CompanyNumbers, FlowRegistry};
use crate::location::StoreLocation;
use crate::sip::Presences;
use crate::store::Store;
use crate::tenant::CompanyId;

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
    ) -> Self {
        Offices {
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
        let dial = DialEnv {
            company: id,
            presence,
            directory: directory.clone(),
            calendar: directory.clone(),
            history: directory,
            toll: TollGate::new(rules),
            numbers: Arc::new(CompanyNumbers {
                registry: self.registry.clone(),
                company: id,
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
