//! What a flow may ask of the world besides its call: who the employees are and whether they
//! can take a call, who last talked to a number, and outbound HTTP (a CRM). The traits are
//! implemented outside `call/` (over the store, over an HTTP client), so the call model stays
//! free of both.

use std::time::Duration;

/// An employee as a flow may see them (no secrets, no internal ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeCard {
    pub login: String,
    pub name: String,
    pub extension: String,
    pub email: String,
    /// E.164; empty when none.
    pub mobile: String,
}

/// A department as a flow may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentCard {
    pub id: String,
    pub name: String,
    pub extension: String,
    /// How long it rings before giving up.
    pub ring_time: std::time::Duration,
    /// Where its callers go when nobody answers: a route as JSON; empty: the flow decides.
    pub overflow: String,
    /// Members who can take a call now.
    pub available: u32,
}

/// A department's members as its queue sees them now, in the department's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// The department's id (what the queue is known by, however the flow named it).
    pub department: String,
    pub agents: Vec<Agent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub login: String,
    pub state: AgentState,
}

/// Whether a member can be offered a queue's caller now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Logged out of the department, in do-not-disturb, or no phone registered.
    Away,
    /// On a break: staffs the queue but takes none of its calls.
    Paused,
    /// On a call, or his phone rings.
    Busy,
    Ready,
}

impl Staff {
    /// Members who staff the queue: all but those away.
    pub fn staffed(&self) -> usize {
        self.agents.iter().filter(|a| a.state != AgentState::Away).count()
    }
}

/// A callback request as the exchange files it for a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackRequest<'a> {
    /// The caller's number, as it came.
    pub phone: &'a str,
    pub reason: &'a str,
    /// Login of the employee to call back; none: whoever takes it (`GET /callbacks`).
    pub employee: Option<&'a str>,
    /// A voicemail of the call to attach.
    pub recording: Option<&'a str>,
}

/// The company's callback requests (`/callbacks`), which the callback scheduler calls back.
#[async_trait::async_trait]
pub trait CallbackDesk: Send + Sync {
    /// Files `request`, due at once; none when the caller's number already had the day's
    /// callbacks (a stranger calling again and again must not make the exchange call him, or a
    /// number he pretends to be, without end).
    async fn file(&self, request: CallbackRequest<'_>) -> anyhow::Result<Option<i64>>;
    /// Hands open request `id` to employee `login`, due now, and wakes the scheduler; false when
    /// it is not open any more.
    async fn hand_to(&self, id: i64, login: &str) -> anyhow::Result<bool>;

    /// Files a request for each of `reasons` (`request` gives the rest); one the store cannot
    /// take is logged with all it needs to be filed by hand, never lost silently.
    async fn file_each(&self, reasons: &[String], request: CallbackRequest<'_>) {
        for reason in reasons {
            let request = CallbackRequest { reason, ..request };
            if let Err(e) = self.file(request).await {
                tracing::error!(error = %e, phone = %request.phone, %reason, "could not file a callback request");
            }
        }
    }
}

/// How a flow names the employee it asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmployeeKey<'a> {
    Login(&'a str),
    /// Compared case-insensitively.
    Email(&'a str),
}

/// Whether an employee can take a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    /// No phone registered.
    Offline,
    Available,
    Ringing,
    Busy,
}

impl LineStatus {
    /// An employee's status from whether a phone of his is registered and his line's state.
    pub fn of(has_phones: bool, line: crate::sip::LineState) -> Self {
        match (has_phones, line) {
            (false, _) => LineStatus::Offline,
            (true, crate::sip::LineState::Idle) => LineStatus::Available,
            (true, crate::sip::LineState::Ringing) => LineStatus::Ringing,
            (true, crate::sip::LineState::Busy) => LineStatus::Busy,
        }
    }

    /// As the API says it.
    pub fn name(self) -> &'static str {
        match self {
            LineStatus::Offline => "offline",
            LineStatus::Available => "available",
            LineStatus::Ringing => "ringing",
            LineStatus::Busy => "busy",
        }
    }
}

/// The calls the exchange remembers.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// Login of the employee who last had a connected call with `number` (any spelling of it)
    /// since `since` (Unix ms).
    async fn last_connected(&self, number: &str, since: i64) -> anyhow::Result<Option<String>>;
}

/// Whom the company's ICM would ring for a caller: extension 6100 asks it (`icm.rs` runs the
/// ICM flow with the company's configuration on a [`super::lookup::LookupCall`]).
#[async_trait::async_trait]
pub trait ContactManager: Send + Sync {
    /// The first target the ICM rings for `caller` in the company of `env`; none when it would
    /// ring nobody.
    async fn manager_of(&self, caller: &str, env: &super::DialEnv) -> anyhow::Result<Option<super::Target>>;
}

/// The company's own numbers: the only caller IDs a flow may present besides the caller's.
pub trait OwnNumbers: Send + Sync {
    fn owns(&self, number: &str) -> bool;
}

/// A request a flow sends. Its URL, headers and body may carry a CRM's key or token: what may be
/// logged or traced of it is [`HttpRequest::shown`], and its `Debug` shows no more.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Empty: no body.
    pub body: String,
    pub timeout: Duration,
}

impl HttpRequest {
    /// The request as logs and traces show it: method, scheme, host and port, and the last
    /// segment of the path — never a query, credentials, or the rest of a path (Bitrix24's
    /// webhook key is a path segment).
    pub fn shown(&self) -> String {
        format!("{} {}", self.method, shown_url(&self.url))
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("request", &self.shown())
            .field(
                "headers",
                &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// `url` fit for a log line: see [`HttpRequest::shown`].
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let path = rest[authority.len()..].split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').find(|s| !s.is_empty());
    match last {
        Some(last) if path.trim_matches('/').contains('/') => format!("{scheme}://{host}/…/{last}"),
        Some(last) => format!("{scheme}://{host}/{last}"),
        None => format!("{scheme}://{host}/"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Outbound HTTP on a flow's behalf.
#[async_trait::async_trait]
pub trait Web: Send + Sync {
    /// Sends `request` if its host is one of `allowed` (the number's allow-list); the error says
    /// why not, or what failed.
    async fn fetch(&self, allowed: &[String], request: HttpRequest) -> Result<HttpResponse, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_keeps_no_key_token_or_credentials() {
        assert_eq!(
            shown_url("https://acme.bitrix24.ru/rest/1/s3cr3tkey/crm.contact.list.json?filter[PHONE]=+1555"),
            "https://acme.bitrix24.ru/…/crm.contact.list.json"
        );
        assert_eq!(
            shown_url("https://user:pw@crm.example/api?access_token=x"),
            "https://crm.example/api"
        );
        assert_eq!(shown_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(shown_url("garbage"), "(not a URL)");
        let request = HttpRequest {
            method: "GET".into(),
            url: "https://crm.example/api/v4/contacts?query=1".into(),
            headers: vec![("Authorization".into(), "Bearer t0k".into())],
            body: String::new(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{request:?}").contains("t0k"));
    }
}
