//! Which company (tenant) something belongs to. Resolved once — an API request from its token,
//! a SIP request from its domain, a trunk call from the dialled number — and carried from there:
//! the store's company data is reached only through [`crate::store::Store::company`], which takes
//! it, so no query can forget whose rows it reads.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct CompanyId(pub i64);

impl CompanyId {
    /// The operator's own company: the one a fresh install serves (a single-company user never
    /// meets another), and where SIP requests go whose domain no company claims (e.g. a bare IP
    /// address).
    pub const HOME: CompanyId = CompanyId(1);
}

/// Where a company is needed and none was named yet (e.g. a default), the home company.
impl Default for CompanyId {
    fn default() -> Self {
        CompanyId::HOME
    }
}

impl std::fmt::Display for CompanyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
