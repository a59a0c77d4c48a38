//! The location service (RFC 3261 §10): who the users are and where their phones registered.
//! A trait, so that `sip/` knows nothing of the database behind it.

use std::net::SocketAddr;

/// One registered contact of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as the phone sent it.
    pub contact: String,
    /// Where the REGISTER came from: the address to reach the phone behind NAT.
    pub source: SocketAddr,
    /// Unix seconds.
    pub expires_at: i64,
    /// The REGISTER that made it (for ordering, RFC 3261 §10.3 step 7).
    pub call_id: String,
    pub cseq: u32,
}

/// Where users and their bindings live.
#[async_trait::async_trait]
pub trait Location: Send + Sync + 'static {
    /// The user's id and HA1 in the registrar's realm, when `username` is a user.
    async fn credentials(&self, username: &str) -> anyhow::Result<Option<(i64, String)>>;
    /// The login of the user `user` names: a login, or an extension.
    async fn login_of(&self, user: &str) -> anyhow::Result<Option<String>>;
    /// Every user's live bindings at `now`, with the user's login.
    async fn all_bindings(&self, now: i64) -> anyhow::Result<Vec<(String, Binding)>>;
    /// The user's bindings that have not expired at `now`.
    async fn bindings(&self, user: i64, now: i64) -> anyhow::Result<Vec<Binding>>;
    async fn bind(&self, user: i64, binding: &Binding) -> anyhow::Result<()>;
    /// Removes one contact, or every contact of the user when `contact` is `None`.
    async fn unbind(&self, user: i64, contact: Option<&str>) -> anyhow::Result<()>;
}
