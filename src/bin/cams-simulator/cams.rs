//! The CAMS endpoint: one call through faults, authentication, throttling and the action,
//! in the order a gateway applies them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hyper::body::Bytes;
use hyper::http::request::Parts;
use serde_json::{Map, Value};

use cams_operator::cams::request::API_VERSION;

use crate::actions::{self, Params, ACTIONS};
use crate::auth::{self, Incoming, Scheme};
use crate::envelope::{error_body, success_body, ApiError};
use crate::server::{json_response, App, Reply};
use crate::state::CallEntry;
use crate::sts;
use crate::util::{decode_form, request_id, rfc3339_millis};

/// What the pipeline learnt about a call, for the log.
struct Seen {
    access_key_id: Option<String>,
    scheme: Option<Scheme>,
    security_token: bool,
    sts_issued: bool,
    fault: Option<&'static str>,
}

/// Handles one CAMS call.
pub async fn handle(app: &App, remote: SocketAddr, parts: &Parts, body: &Bytes) -> Reply {
    let arrived = Instant::now();
    let arrived_at = Utc::now();
    let raw_query = parts.uri.query().unwrap_or("");
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let user_agent = header("user-agent");
    let host = header("host").unwrap_or_else(|| "cams.simulator".into());

    let query = decode_form(raw_query);
    let is_form = header("content-type").is_some_and(|ct| {
        ct.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let form = if is_form {
        std::str::from_utf8(body).ok().and_then(decode_form)
    } else {
        Some(Vec::new())
    };
    let (Some(query), Some(form)) = (query, form) else {
        let error = ApiError::new(
            "InvalidParameter",
            "The query string or form body is not valid percent-encoding of UTF-8.",
        );
        let entry = new_entry(arrived_at, remote, user_agent, None, BTreeMap::new());
        return finish(app, entry, arrived, Utc::now(), &host, Err(error), None);
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
    let action = match scheme {
        Some(Scheme::V3) => incoming.header("x-acs-action"),
        Some(Scheme::Rpc) => incoming.param("Action").map(str::to_string),
        None => incoming
            .param("Action")
            .map(str::to_string)
            .or_else(|| incoming.header("x-acs-action")),
    };
    if action.as_deref() == Some(sts::ACTION) {
        // STS shares the listener; it is unsigned and has no tenant, so none of the CAMS
        // gateway's checks or faults apply.
        let all: Vec<(String, String)> = query.iter().chain(form.iter()).cloned().collect();
        return sts::handle(app, remote, user_agent, &host, &all, arrived, arrived_at);
    }
    let tenant = incoming
        .param("CustSpaceId")
        .unwrap_or_default()
        .to_string();
    let params: BTreeMap<String, String> = query
        .iter()
        .chain(form.iter())
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut entry = new_entry(arrived_at, remote, user_agent, action.clone(), params);
    entry.cust_space_id = (!tenant.is_empty()).then(|| tenant.clone());
    entry.signature_scheme = scheme.map(Scheme::label);
    entry.access_key_id = claimed_key_id(&incoming, scheme);

    let faults = app.lock().faults_for(&tenant).clone();
    let latency = faults.latency(rand::random());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if faults.reset_probability > 0.0 && rand::random::<f64>() < faults.reset_probability {
        entry.code = "ConnectionReset".into();
        entry.fault = Some("reset");
        entry.duration_ms = elapsed_ms(arrived);
        tracing::debug!(?action, tenant, "injected connection reset");
        app.lock().calls.push(entry);
        return Reply::Reset;
    }
    let mut hang_fault = None;
    if let Some(hang) = faults.hang {
        if hang.probability > 0.0 && rand::random::<f64>() < hang.probability {
            let _guard = app.hang_guard();
            match hang.duration_ms {
                Some(ms) => {
                    // A client that gives up first makes hyper drop this future: the guard
                    // logs the call then, so the log still holds every call that arrived.
                    let mut abandoned = AbandonedHang {
                        app,
                        entry: Some(entry.clone()),
                        arrived,
                    };
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    abandoned.entry = None;
                    hang_fault = Some("hang");
                }
                None => {
                    entry.code = "Hang".into();
                    entry.fault = Some("hang");
                    tracing::debug!(?action, tenant, "injected hang until the client gives up");
                    app.lock().calls.push(entry);
                    // Dropped (and the guard with it) when the client closes the connection.
                    return std::future::pending::<Reply>().await;
                }
            }
        }
    }

    let lose_answer = faults.lose_answer_probability > 0.0
        && rand::random::<f64>() < faults.lose_answer_probability;
    let clock = Utc::now() + chrono::Duration::seconds(faults.clock_offset_secs);
    let mut seen = Seen {
        access_key_id: entry.access_key_id.clone(),
        scheme,
        security_token: false,
        sts_issued: false,
        fault: hang_fault,
    };
    let all: Vec<(String, String)> = query.iter().chain(form.iter()).cloned().collect();
    let outcome = process(
        app,
        &incoming,
        action.as_deref(),
        &tenant,
        &all,
        clock,
        &faults,
        &mut seen,
    );
    entry.access_key_id = seen.access_key_id;
    entry.signature_scheme = seen.scheme.map(Scheme::label);
    entry.security_token = seen.security_token;
    entry.sts_issued = seen.sts_issued;
    entry.fault = seen.fault;
    if lose_answer {
        // Processed like any call (an update lands), then the answer never reaches the client.
        entry.fault = Some("answer_lost");
        let _ = finish(app, entry, arrived, clock, &host, outcome, action);
        tracing::debug!(tenant, "processed, then lost the answer (connection reset)");
        return Reply::Reset;
    }
    finish(app, entry, arrived, clock, &host, outcome, action)
}

/// Logs a call whose client gave up during a timed hang (code `Hang`, status 0), when hyper
/// drops the handler; disarmed by taking `entry` once the hang is over.
struct AbandonedHang<'a> {
    app: &'a App,
    entry: Option<CallEntry>,
    arrived: Instant,
}

impl Drop for AbandonedHang<'_> {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.code = "Hang".into();
            entry.fault = Some("hang");
            entry.duration_ms = elapsed_ms(self.arrived);
            self.app.lock().calls.push(entry);
        }
    }
}

/// A call-log entry for a call that arrived at `at`.
pub(crate) fn new_entry(
    at: DateTime<Utc>,
    remote: SocketAddr,
    user_agent: Option<String>,
    action: Option<String>,
    params: BTreeMap<String, String>,
) -> CallEntry {
    CallEntry {
        seq: 0,
        time: rfc3339_millis(at),
        action,
        access_key_id: None,
        signature_scheme: None,
        security_token: false,
        sts_issued: false,
        remote_addr: remote.to_string(),
        user_agent,
        cust_space_id: None,
        params,
        status: 0,
        code: String::new(),
        request_id: None,
        fault: None,
        duration_ms: 0,
    }
}

/// Milliseconds since `since`.
pub(crate) fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The AccessKeyId a request claims, read leniently (for the log).
fn claimed_key_id(req: &Incoming<'_>, scheme: Option<Scheme>) -> Option<String> {
    match scheme {
        Some(Scheme::V3) => req.header("authorization").and_then(|auth| {
            auth.split([' ', ','])
                .find_map(|p| p.strip_prefix("Credential="))
                .map(str::to_string)
        }),
        Some(Scheme::Rpc) => req.param("AccessKeyId").map(str::to_string),
        None => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn process(
    app: &App,
    incoming: &Incoming<'_>,
    action: Option<&str>,
    tenant: &str,
    params: &[(String, String)],
    clock: DateTime<Utc>,
    faults: &crate::faults::FaultConfig,
    seen: &mut Seen,
) -> Result<Map<String, Value>, ApiError> {
    // 1. Authentication, signature and freshness.
    let claim = auth::read_claim(incoming)?;
    seen.access_key_id = Some(claim.access_key_id.clone());
    seen.scheme = Some(claim.scheme);
    seen.security_token = claim.security_token.is_some();
    let key = app.lock().keys.get(&claim.access_key_id).cloned();
    seen.sts_issued = key.as_ref().is_some_and(|k| k.sts_issued);
    let secret = auth::check_key(&claim, key.as_ref(), clock)?;
    auth::check_signature(&claim, secret)?;
    auth::check_timestamp(&claim, clock)?;
    if !app
        .lock()
        .nonces
        .insert(&claim.access_key_id, &claim.nonce, Instant::now())
    {
        return Err(auth::nonce_used());
    }

    // 2. Routing: action and version.
    let Some(action) = action.filter(|a| !a.is_empty()) else {
        return Err(ApiError::missing("Action"));
    };
    if !ACTIONS.contains(&action) {
        return Err(actions::unknown_action());
    }
    let version = match claim.scheme {
        Scheme::V3 => incoming.header("x-acs-version"),
        Scheme::Rpc => incoming.param("Version").map(str::to_string),
    };
    match version.as_deref() {
        None | Some("") => return Err(ApiError::missing("Version")),
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(ApiError::new(
                "InvalidVersion",
                format!(
                "Specified parameter Version {other:?} is not valid: CAMS speaks {API_VERSION}."
            ),
            ))
        }
    }

    // 3. Throttling, injected errors, then the action itself, under one lock.
    let mut state = app.lock();
    if let Err(wait) = state.take_token(tenant, Instant::now()) {
        seen.fault = Some("throttle");
        let mut error = ApiError::new(
            "Throttling.User",
            "Request was denied due to user flow control.",
        );
        error.retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return Err(error);
    }
    if let Some(code) = faults.pick_error(rand::random()) {
        seen.fault = Some("error");
        return Err(ApiError::injected(code));
    }
    actions::dispatch(
        action,
        Params(params),
        &mut state,
        Utc::now().timestamp_millis(),
    )
}

fn finish(
    app: &App,
    mut entry: CallEntry,
    arrived: Instant,
    clock: DateTime<Utc>,
    host: &str,
    outcome: Result<Map<String, Value>, ApiError>,
    action: Option<String>,
) -> Reply {
    let rid = request_id();
    let (status, body, retry_after, code) = match outcome {
        Ok(fields) => (200, success_body(&rid, fields), None, "OK".to_string()),
        Err(error) => (
            error.status,
            error_body(&rid, host, &error),
            error.retry_after_secs,
            error.code,
        ),
    };
    entry.status = status;
    entry.request_id = Some(rid.clone());
    entry.duration_ms = elapsed_ms(arrived);
    tracing::debug!(
        action = action.as_deref().unwrap_or(""),
        code,
        status,
        tenant = entry.cust_space_id.as_deref().unwrap_or(""),
        "cams call"
    );
    entry.code = code;
    app.lock().calls.push(entry);
    Reply::Response(json_response(status, &body, clock, Some(&rid), retry_after))
}
