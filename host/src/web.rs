//! Outbound HTTP on a flow's behalf (the `http` import), e.g. a CRM lookup: only to the hosts the
//! number allow-lists, without redirects (one could lead anywhere), with the time and sizes
//! capped so that a slow or huge answer cannot hold a call or the exchange's memory.

use std::time::Duration;

use crate::call::{HttpRequest, HttpResponse, Web};

/// No request waits longer, whatever the flow asks.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Request and response bodies are capped at this size.
pub const MAX_BODY: usize = 1 << 20;
/// Headers the client sets itself.
const RESERVED_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The exchange's own proxy settings are not the flows' business.
            .no_proxy()
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpClient { client })
    }
}

/// Whether `url` goes to one of `allowed`: `name` allows that host on any port, `name:port`
/// only on that port (names compare case-insensitively).
pub fn is_allowed(allowed: &[String], url: &reqwest::Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    allowed.iter().filter_map(|entry| entry_host(entry)).any(|entry| {
        entry.host_str().is_some_and(|name| name.eq_ignore_ascii_case(host)) && entry.port().is_none_or(|p| p == port)
    })
}

/// An allow-list entry read as the authority of a URL (so `[::1]:80` works as it does there).
fn entry_host(entry: &str) -> Option<reqwest::Url> {
    let url = reqwest::Url::parse(&format!("http://{entry}/")).ok()?;
    let plain =
        url.path() == "/" && url.username().is_empty() && url.query().is_none() && !entry.contains(['/', '?', '#']);
    (plain && url.host_str().is_some_and(|h| !h.is_empty())).then_some(url)
}

/// Checks an allow-list entry as an admin writes it: a host name or address, with an optional
/// port.
pub fn check_allowed_host(entry: &str) -> Result<(), String> {
    entry_host(entry)
        .map(|_| ())
        .ok_or_else(|| format!("{entry:?} is not a host or host:port"))
}

#[async_trait::async_trait]
impl Web for HttpClient {
    async fn fetch(&self, allowed: &[String], request: HttpRequest) -> Result<HttpResponse, String> {
        // Errors go into the call's trace: they name the request as `shown`, never its key.
        let shown = request.shown();
        let url = reqwest::Url::parse(&request.url).map_err(|e| format!("{shown}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{shown}: only http and https"));
        }
        if !is_allowed(allowed, &url) {
            return Err(format!(
                "{} is not allow-listed for this number (allowed_hosts: {allowed:?})",
                url.host_str().unwrap_or("?")
            ));
        }
        if request.body.len() > MAX_BODY {
            return Err(format!("the request body is over {MAX_BODY} bytes"));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("{:?} is not an HTTP method", request.method))?;
        let mut builder = self
            .client
            .request(method, url)
            .timeout(request.timeout.min(MAX_TIMEOUT));
        for (name, value) in &request.headers {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!("header {name:?} is set by the exchange"));
            }
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let mut response = builder.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the response body is over {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// What went wrong, without the URL (reqwest's errors name it, and it may carry a key).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> reqwest::Url {
        reqwest::Url::parse(u).unwrap()
    }

    #[test]
    fn only_allow_listed_hosts_and_ports() {
        let allowed = vec!["crm.example.com".to_string(), "127.0.0.1:8080".to_string()];
        assert!(is_allowed(&allowed, &url("https://CRM.example.com/api/v4/contacts")));
        assert!(is_allowed(&allowed, &url("http://crm.example.com:81/")));
        assert!(is_allowed(&allowed, &url("http://127.0.0.1:8080/x")));
        assert!(!is_allowed(&allowed, &url("http://127.0.0.1:8081/x")));
        assert!(!is_allowed(&allowed, &url("https://crm.example.com.evil.test/")));
        assert!(!is_allowed(&allowed, &url("https://evil.test/?crm.example.com")));
        assert!(!is_allowed(&[], &url("https://crm.example.com/")));
    }

    #[test]
    fn allow_list_entries_are_hosts() {
        assert!(check_allowed_host("crm.example.com").is_ok());
        assert!(check_allowed_host("127.0.0.1:8080").is_ok());
        assert!(check_allowed_host("https://crm.example.com").is_err());
        assert!(check_allowed_host("crm.example.com/api").is_err());
        assert!(check_allowed_host("user@crm.example.com").is_err());
        assert!(check_allowed_host("").is_err());
    }
}
