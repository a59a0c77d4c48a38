//! Building requests and reading responses for [`CallApi::fetch`](crate::CallApi::fetch).
//!
//! ```ignore
//! let response = call.fetch(&HttpRequest::get(&url).header("Authorization", &bearer).timeout_ms(2_000))?;
//! let found: Contacts = response.json()?;
//! ```

use crate::{HttpRequest, HttpResponse};

impl HttpRequest {
    /// A `GET` with no headers and a 3-second timeout.
    pub fn get(url: &str) -> Self {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: String::new(),
            timeout_ms: 3_000,
        }
    }

    /// A `POST` of a JSON body.
    pub fn post_json(url: &str, body: &serde_json::Value) -> Self {
        HttpRequest {
            method: "POST".into(),
            body: body.to_string(),
            ..Self::get(url)
        }
        .header("Content-Type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Give up after this long (the exchange caps it at 10 s).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = ms;
        self
    }
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`; the error says what did not fit.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(&self.body).map_err(|e| format!("HTTP {}: unreadable JSON: {e}", self.status))
    }
}

/// Percent-encodes `text` for a URL's query (everything but unreserved characters).
pub fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_keeps_unreserved_characters() {
        assert_eq!(encode_query("+7 (495) 123"), "%2B7%20%28495%29%20123");
        assert_eq!(encode_query("a-b_c.d~"), "a-b_c.d~");
    }
}
