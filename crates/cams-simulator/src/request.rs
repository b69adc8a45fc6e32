//! A received CAMS or STS request: when and from where it arrived, and its decoded
//! parameters as the verifier and the actions read them.

use std::net::SocketAddr;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hyper::HeaderMap;

/// When and from whom a call arrived (for the call log and the error body).
#[derive(Clone, Debug)]
pub struct Arrival {
    /// The client's address.
    pub remote: SocketAddr,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Host` header (`cams.simulator` when absent), echoed as `HostId` in errors.
    pub host: String,
    /// Arrival on the monotonic clock (durations).
    pub at: Instant,
    /// Arrival on the wall clock (the call log's `time`).
    pub at_utc: DateTime<Utc>,
}

/// A received request, as the verifier sees it.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// HTTP method as received.
    pub method: &'a str,
    /// Path as received (`/`).
    pub path: &'a str,
    /// Decoded query string parameters, in the order received.
    pub query: &'a [(String, String)],
    /// Decoded form-body parameters (RPC signs them along with the query).
    pub form: &'a [(String, String)],
    /// Headers as received.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

impl Incoming<'_> {
    /// The first value of a header, lossily decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    }

    /// Every query and form parameter, query first.
    pub fn all_params(&self) -> Vec<(String, String)> {
        self.query.iter().chain(self.form).cloned().collect()
    }

    /// The first value of a query (or form) parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
