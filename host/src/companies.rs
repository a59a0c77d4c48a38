//! The companies on this exchange, in memory: which SIP domain is whose, each company's digest
//! realm, plan and suspension. SIP requests from strangers are resolved to a company here
//! without a database query; reloaded whenever the operator changes a company (here, or on
//! another node that announced it).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::store::{CompanyInfo, Store};
use crate::tenant::CompanyId;

pub struct Companies {
    store: Store,
    /// The home company's digest realm (`--sip-realm`): its employees' stored hashes use it.
    home_realm: String,
    loaded: ArcSwap<Snapshot>,
}

#[derive(Default)]
struct Snapshot {
    by_id: HashMap<CompanyId, Arc<CompanyInfo>>,
    by_domain: HashMap<String, Arc<CompanyInfo>>,
}

impl Companies {
    pub async fn load(store: Store, home_realm: String) -> crate::store::Result<Arc<Self>> {
        let companies = Arc::new(Companies {
            store,
            home_realm,
            loaded: ArcSwap::default(),
        });
        companies.reload().await?;
        Ok(companies)
    }

    pub async fn reload(&self) -> crate::store::Result<()> {
        let all = self.store.companies().await?;
        let mut snapshot = Snapshot::default();
        for company in all {
            let company = Arc::new(company);
            snapshot.by_domain.insert(company.sip_domain.clone(), company.clone());
            snapshot.by_id.insert(company.id, company);
        }
        self.loaded.store(Arc::new(snapshot));
        Ok(())
    }

    /// Reloads every `every` as well: a change another node announced may have been lost.
    pub fn keep_fresh(self: &Arc<Self>, every: std::time::Duration) {
        let companies = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = companies.reload().await {
                    tracing::warn!(error = %e, "could not reload the companies");
                }
            }
        });
    }

    /// The company whose SIP domain is `domain` (case-insensitive, without a port).
    pub fn by_domain(&self, domain: &str) -> Option<Arc<CompanyInfo>> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.loaded.load().by_domain.get(&domain).cloned()
    }

    pub fn get(&self, id: CompanyId) -> Option<Arc<CompanyInfo>> {
        self.loaded.load().by_id.get(&id).cloned()
    }

    /// The digest realm of the company's phones: its SIP domain, except the home company's,
    /// which keeps the exchange's realm (a fresh install's passwords were hashed with it).
    pub fn realm(&self, id: CompanyId) -> String {
        match (id, self.get(id)) {
            (CompanyId::HOME, _) | (_, None) => self.home_realm.clone(),
            (_, Some(company)) => company.sip_domain.clone(),
        }
    }

    /// Why the company takes no calls now (its suspension's reason), if it is suspended.
    pub fn suspended(&self, id: CompanyId) -> Option<String> {
        self.get(id)
            .filter(|c| c.suspended)
            .map(|c| match c.suspended_reason.as_str() {
                "" => "suspended".to_string(),
                reason => reason.to_string(),
            })
    }
}
