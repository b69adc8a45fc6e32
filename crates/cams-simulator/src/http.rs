//! HTTP plumbing every endpoint shares: the response type, JSON answers with Alibaba's
//! headers, and how a request ends (an answer or a TCP reset). A leaf: it knows nothing of
//! CAMS, STS or the admin API.

use axum::body::Body;
use chrono::{DateTime, Utc};
use hyper::header::{HeaderValue, CONTENT_TYPE, DATE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::util::http_date;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The response type of every endpoint.
pub type HttpResponse = Response<Body>;

/// How a request ends.
pub enum Reply {
    /// An HTTP answer.
    Response(HttpResponse),
    /// No answer: the connection is reset (TCP RST).
    Reset,
}

/// A JSON response with a `Date` header from `clock`, and the Alibaba request-id and
/// retry-after headers when given.
pub fn json_response<T: Serialize + ?Sized>(
    status: u16,
    body: &T,
    clock: DateTime<Utc>,
    request_id: Option<&str>,
    retry_after_secs: Option<u64>,
) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&http_date(clock)) {
        headers.insert(DATE, v);
    }
    if let Some(Ok(v)) = request_id.map(HeaderValue::from_str) {
        headers.insert("x-acs-request-id", v);
    }
    if let Some(secs) = retry_after_secs {
        headers.insert("x-acs-retry-after", HeaderValue::from(secs));
    }
    response
}
