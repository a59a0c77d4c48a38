//! The location service (RFC 3261 §10): who the users are and where their phones registered.
//! A trait, so that `sip/` knows nothing of the database behind it.

use std::net::SocketAddr;

use crate::tenant::CompanyId;

/// The company a SIP domain names, as the registrar and the proxy need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub company: CompanyId,
    /// The digest realm its phones authenticate in.
    pub realm: String,
    /// Why it takes no calls now (a suspended company), if so.
    pub suspended: Option<String>,
}

/// One registered contact of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as the phone sent it.
    pub contact: String,
    /// Where the REGISTER came from: the address to reach the phone behind NAT, or the trusted
    /// proxy it registered through.
    pub source: SocketAddr,
    /// The Path (RFC 3327) it registered through, the Route of requests to it: the values of
    /// the Path headers, in order, comma-separated (empty: none).
    pub path: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The REGISTER that made it (for ordering, RFC 3261 §10.3 step 7).
    pub call_id: String,
    pub cseq: u32,
}

/// Where users and their bindings live.
#[async_trait::async_trait]
pub trait Location: Send + Sync + 'static {
    /// The company of the first of `hosts` (Request-URI, From, To) that is a company's SIP
    /// domain; none (e.g. an IP address): the home company. From memory: strangers choose them.
    fn domain(&self, hosts: &[&str]) -> Domain;
    /// The user's id and HA1 in his company's realm, when `username` is a user of `company`.
    async fn credentials(&self, company: CompanyId, username: &str) -> anyhow::Result<Option<(i64, String)>>;
    /// The login of the user `user` names in `company`: a login, or an extension.
    async fn login_of(&self, company: CompanyId, user: &str) -> anyhow::Result<Option<String>>;
    /// Every user's live bindings at `now`, with the user's login.
    async fn all_bindings(&self, now: i64) -> anyhow::Result<Vec<(String, Binding)>>;
    /// The user's bindings that have not expired at `now`.
    async fn bindings(&self, user: i64, now: i64) -> anyhow::Result<Vec<Binding>>;
    async fn bind(&self, user: i64, binding: &Binding) -> anyhow::Result<()>;
    /// Removes one contact, or every contact of the user when `contact` is `None`.
    async fn unbind(&self, user: i64, contact: Option<&str>) -> anyhow::Result<()>;
    /// The company's digest realm, which is its SIP domain.
    fn realm(&self, company: CompanyId) -> String;
    /// The voicemail in employee `login`'s mailbox: new (not heard) and old.
    async fn messages(&self, company: CompanyId, login: &str) -> anyhow::Result<Messages>;
}

/// A mailbox's count, as its message-waiting lamp shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Messages {
    pub new: u32,
    pub old: u32,
}
