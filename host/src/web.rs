//! Outbound HTTP on a flow's behalf (the `http` import), e.g. a CRM lookup: only to the hosts the
//! number allow-lists, without redirects (one could lead anywhere), with the time and sizes
//! capped so that a slow or huge answer cannot hold a call or the exchange's memory.
//!
//! A host name on the allow-list is resolved by [`PublicOnly`], which gives the connection only
//! public addresses: a name that resolves (or is made to re-resolve, "DNS rebinding") to
//! loopback, a private network or link-local (a cloud's metadata service) is refused. The
//! address checked is the address connected to. Such addresses are reached only when the admin
//! lists them literally (`127.0.0.1:8080`).

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
            .dns_resolver(std::sync::Arc::new(PublicOnly))
            .redirect(reqwest::redirect::Policy::none())
            // The exchange's own proxy settings are not the flows' business.
            .no_proxy()
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpClient { client })
    }
}

/// Resolves allow-listed names to their public addresses only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> = found.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let why = format!("{host} resolves to no public address (allow-list the address itself to reach it)");
                return Err(why.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is on the public Internet: not loopback, private, link-local, shared (CGNAT),
/// unspecified, broadcast, multicast, documentation or unique-local.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
                || a >= 240)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || first == 0x2001 && v6.segments()[1] == 0x0db8)
            }
        },
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
    fn only_public_addresses_count_as_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_not_reached() {
        use reqwest::dns::Resolve;
        let refused = PublicOnly.resolve("localhost".parse().unwrap()).await;
        assert!(refused.err().unwrap().to_string().contains("no public address"));
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
