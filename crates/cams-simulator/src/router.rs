//! The one entry of CAMS and STS calls: decodes what arrived (query string and form body),
//! finds the action, and hands the call to STS (`AssumeRoleWithOIDC`) or the CAMS gateway.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use chrono::Utc;
use hyper::http::request::Parts;

use crate::app::App;
use crate::auth;
use crate::calllog::SignatureScheme;
use crate::cams;
use crate::http::Reply;
use crate::request::{Arrival, Incoming};
use crate::sts;
use crate::util::decode_form;

/// Decoded name-value pairs, in the order received.
type Pairs = Vec<(String, String)>;

/// Handles one CAMS or STS call whose body has been read.
pub async fn dispatch(app: &App, remote: SocketAddr, parts: &Parts, body: &Bytes) -> Reply {
    let arrival = Arrival {
        remote,
        user_agent: header(parts, "user-agent"),
        host: header(parts, "host").unwrap_or_else(|| "cams.simulator".into()),
        at: Instant::now(),
        at_utc: Utc::now(),
    };
    let Some((query, form)) = decode_params(parts, body) else {
        return cams::undecodable(app, &arrival);
    };
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        form: &form,
        headers: &parts.headers,
        body,
    };
    let scheme = auth::detect(&incoming);
    let action = requested_action(&incoming, scheme);
    if action.as_deref() == Some(sts::ACTION) {
        // STS shares the listener; it is unsigned and has no tenant, so none of the CAMS
        // gateway's checks or faults apply.
        return sts::handle(app, &arrival, &incoming.all_params());
    }
    cams::handle(app, &arrival, &incoming, scheme, action.as_deref()).await
}

/// A header's first value, lossily decoded.
fn header(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The decoded query string and form body (the body counts only with a form content type);
/// `None` when either is not valid percent-encoding of UTF-8.
fn decode_params(parts: &Parts, body: &Bytes) -> Option<(Pairs, Pairs)> {
    let query = decode_form(parts.uri.query().unwrap_or(""))?;
    let is_form = header(parts, "content-type").is_some_and(|ct| {
        ct.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let form = if is_form {
        std::str::from_utf8(body).ok().and_then(decode_form)?
    } else {
        Vec::new()
    };
    Some((query, form))
}

/// The action a call names: the `x-acs-action` header for V3, the `Action` parameter for
/// RPC, either for an unsigned call.
fn requested_action(incoming: &Incoming<'_>, scheme: Option<SignatureScheme>) -> Option<String> {
    match scheme {
        Some(SignatureScheme::V3) => incoming.header("x-acs-action"),
        Some(SignatureScheme::Rpc) => incoming.param("Action").map(str::to_string),
        None => incoming
            .param("Action")
            .map(str::to_string)
            .or_else(|| incoming.header("x-acs-action")),
    }
}
