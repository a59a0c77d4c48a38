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

/// The calls the exchange remembers.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// Login of the employee who last had a connected call with `number` (any spelling of it)
    /// since `since` (Unix ms).
    async fn last_connected(&self, number: &str, since: i64) -> anyhow::Result<Option<String>>;
}

/// A request a flow sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Empty: no body.
    pub body: String,
    pub timeout: Duration,
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
