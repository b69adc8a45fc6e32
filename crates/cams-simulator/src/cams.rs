//! The CAMS endpoint: one call through faults, authentication, throttling and the action,
//! in the order a gateway applies them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::actions::{self, Params, ACTIONS};
use crate::app::App;
use crate::auth::{self, Claim};
use crate::calllog::{elapsed_ms, CallEntry, Fault, SignatureScheme as Scheme};
use crate::envelope::{error_body, success_body, ApiError};
use crate::faults::FaultConfig;
use crate::http::{json_response, Reply};
use crate::request::{Arrival, Incoming};
use crate::util::request_id;

/// The CAMS API version the simulator speaks.
pub const API_VERSION: &str = "2020-06-06";

/// What the pipeline learnt about a call, for the log.
struct Seen {
    access_key_id: Option<String>,
    scheme: Option<Scheme>,
    security_token: bool,
    sts_issued: bool,
    fault: Option<Fault>,
}

/// The parts of a CAMS call the pipeline reads.
struct Call<'a> {
    incoming: &'a Incoming<'a>,
    action: Option<&'a str>,
    tenant: &'a str,
    params: &'a [(String, String)],
}

/// Handles one CAMS call: faults before the gateway (latency, reset, hang), then the
/// gateway's checks and the action, then the answer (or a lost answer).
pub async fn handle(
    app: &App,
    arrival: &Arrival,
    incoming: &Incoming<'_>,
    scheme: Option<Scheme>,
    action: Option<&str>,
) -> Reply {
    let tenant = incoming
        .param("CustSpaceId")
        .unwrap_or_default()
        .to_string();
    let mut entry = log_entry(arrival, incoming, scheme, action, &tenant);
    let faults = app.lock().faults_for(&tenant).clone();
    // Faults limited to some actions leave the others alone.
    let faults = if faults.applies_to(action.unwrap_or_default()) {
        faults
    } else {
        FaultConfig::default()
    };
    let hang_fault = match before_the_gateway(app, arrival, &faults, &entry).await {
        Ok(hang_fault) => hang_fault,
        Err(reply) => return reply,
    };
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
    let params = incoming.all_params();
    let call = Call {
        incoming,
        action,
        tenant: &tenant,
        params: &params,
    };
    let outcome = process(app, &call, clock, &faults, &mut seen);
    entry.access_key_id = seen.access_key_id;
    entry.signature_scheme = seen.scheme;
    entry.security_token = seen.security_token;
    entry.sts_issued = seen.sts_issued;
    entry.fault = seen.fault;
    if lose_answer {
        // Processed like any call (an update lands), then the answer never reaches the client.
        entry.fault = Some(Fault::AnswerLost);
        let _ = finish(app, entry, arrival, clock, outcome);
        tracing::debug!(tenant, "processed, then lost the answer (connection reset)");
        return Reply::Reset;
    }
    finish(app, entry, arrival, clock, outcome)
}

/// Answers a call whose query string or form body could not be decoded.
pub fn undecodable(app: &App, arrival: &Arrival) -> Reply {
    let error = ApiError::new(
        "InvalidParameter",
        "The query string or form body is not valid percent-encoding of UTF-8.",
    );
    let entry = CallEntry::arrived(
        arrival.at_utc,
        arrival.remote,
        arrival.user_agent.clone(),
        None,
        BTreeMap::new(),
    );
    finish(app, entry, arrival, Utc::now(), Err(error))
}

/// The call-log entry of a call before it is processed: what it claims.
fn log_entry(
    arrival: &Arrival,
    incoming: &Incoming<'_>,
    scheme: Option<Scheme>,
    action: Option<&str>,
    tenant: &str,
) -> CallEntry {
    let params: BTreeMap<String, String> = incoming
        .all_params()
        .into_iter()
        .filter(|(k, _)| k != "Signature")
        .collect();
    let mut entry = CallEntry::arrived(
        arrival.at_utc,
        arrival.remote,
        arrival.user_agent.clone(),
        action.map(str::to_string),
        params,
    );
    entry.cust_space_id = (!tenant.is_empty()).then(|| tenant.to_string());
    entry.signature_scheme = scheme;
    entry.access_key_id = claimed_key_id(incoming, scheme);
    entry
}

/// The faults that strike before the gateway looks at the call: latency, then a reset
/// (the reply), then a hang. `Ok` carries the hang fault when a timed hang was served.
async fn before_the_gateway(
    app: &App,
    arrival: &Arrival,
    faults: &FaultConfig,
    entry: &CallEntry,
) -> Result<Option<Fault>, Reply> {
    let latency = faults.latency(rand::random());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if faults.reset_probability > 0.0 && rand::random::<f64>() < faults.reset_probability {
        let mut entry = entry.clone();
        entry.code = "ConnectionReset".into();
        entry.fault = Some(Fault::Reset);
        entry.duration_ms = elapsed_ms(arrival.at);
        tracing::debug!(action = ?entry.action, tenant = ?entry.cust_space_id, "injected connection reset");
        app.lock().calls.push(entry);
        return Err(Reply::Reset);
    }
    match faults.hang {
        Some(hang) if hang.probability > 0.0 && rand::random::<f64>() < hang.probability => {
            hang_up(app, arrival, entry, hang.duration_ms).await?;
            Ok(Some(Fault::Hang))
        }
        _ => Ok(None),
    }
}

/// Serves a hang: waits `duration_ms` (logging the call if the client gives up first), or,
/// without a duration, never answers.
async fn hang_up(
    app: &App,
    arrival: &Arrival,
    entry: &CallEntry,
    duration_ms: Option<u64>,
) -> Result<(), Reply> {
    let _guard = app.hang_guard();
    let Some(ms) = duration_ms else {
        let mut entry = entry.clone();
        entry.code = "Hang".into();
        entry.fault = Some(Fault::Hang);
        tracing::debug!(action = ?entry.action, tenant = ?entry.cust_space_id, "injected hang until the client gives up");
        app.lock().calls.push(entry);
        // Dropped (and the guard with it) when the client closes the connection.
        return std::future::pending().await;
    };
    // A client that gives up first makes hyper drop this future: the guard logs the call
    // then, so the log still holds every call that arrived.
    let mut abandoned = AbandonedHang {
        app,
        entry: Some(entry.clone()),
        arrived: arrival.at,
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    abandoned.entry = None;
    Ok(())
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
            entry.fault = Some(Fault::Hang);
            entry.duration_ms = elapsed_ms(self.arrived);
            self.app.lock().calls.push(entry);
        }
    }
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

/// The gateway's checks in order, then the action: authentication, signature and
/// freshness; routing; throttling and injected errors; the action itself.
fn process(
    app: &App,
    call: &Call<'_>,
    clock: DateTime<Utc>,
    faults: &FaultConfig,
    seen: &mut Seen,
) -> Result<Map<String, Value>, ApiError> {
    let claim = authenticate(app, call.incoming, clock, seen)?;
    let action = route(call.incoming, call.action, claim.scheme)?;
    let mut state = app.lock();
    let denied = state
        .keys
        .get(&claim.access_key_id)
        .is_some_and(|k| k.denied_actions.iter().any(|a| a == action));
    if denied {
        let mut error = ApiError::injected("Forbidden.RAM");
        error.access_denied_detail = Some(format!(
            "{{\"PolicyType\":\"AccountLevelIdentityBasedPolicy\",\"NoPermissionType\":\"ExplicitDeny\",\"AuthAction\":\"cams:{action}\"}}"
        ));
        return Err(error);
    }
    let now = Instant::now();
    // An action with a bucket of its own (realism `actionQps`) is limited by it alone.
    let throttled = match state.take_action_token(call.tenant, action, now) {
        Some(taken) => taken.map_err(|wait| {
            let message = format!("Request was denied due to api flow control of {action}.");
            (ApiError::new("Throttling.Api", message), wait)
        }),
        None => state.take_token(call.tenant, now).map_err(|wait| {
            let message = "Request was denied due to user flow control.";
            (ApiError::new("Throttling.User", message), wait)
        }),
    };
    if let Err((mut error, wait)) = throttled {
        seen.fault = Some(Fault::Throttle);
        error.retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return Err(error);
    }
    if let Some(code) = faults.pick_error(rand::random()) {
        seen.fault = Some(Fault::Error);
        return Err(ApiError::injected(code));
    }
    actions::dispatch(
        action,
        Params(call.params),
        &mut state,
        Utc::now().timestamp_millis(),
    )
}

/// Authentication, signature and freshness; records the nonce of a call that passes.
fn authenticate(
    app: &App,
    incoming: &Incoming<'_>,
    clock: DateTime<Utc>,
    seen: &mut Seen,
) -> Result<Claim, ApiError> {
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
    Ok(claim)
}

/// Routing: the action must be one of CAMS's and the version CAMS's.
fn route<'a>(
    incoming: &Incoming<'_>,
    action: Option<&'a str>,
    scheme: Scheme,
) -> Result<&'a str, ApiError> {
    let Some(action) = action.filter(|a| !a.is_empty()) else {
        return Err(ApiError::missing("Action"));
    };
    if !ACTIONS.contains(&action) {
        return Err(actions::unknown_action());
    }
    let version = match scheme {
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
    Ok(action)
}

/// Answers a processed call and logs it.
fn finish(
    app: &App,
    mut entry: CallEntry,
    arrival: &Arrival,
    clock: DateTime<Utc>,
    outcome: Result<Map<String, Value>, ApiError>,
) -> Reply {
    let rid = request_id();
    let (status, body, retry_after, code) = match outcome {
        Ok(fields) => {
            entry.unique_code = fields
                .get("UniqueCode")
                .and_then(Value::as_str)
                .map(str::to_string);
            (200, success_body(&rid, fields), None, "OK".to_string())
        }
        Err(error) => (
            error.status,
            error_body(&rid, &arrival.host, &error),
            error.retry_after_secs,
            error.code,
        ),
    };
    entry.status = status;
    entry.request_id = Some(rid.clone());
    entry.duration_ms = elapsed_ms(arrival.at);
    tracing::debug!(
        action = entry.action.as_deref().unwrap_or(""),
        code,
        status,
        tenant = entry.cust_space_id.as_deref().unwrap_or(""),
        "cams call"
    );
    entry.code = code;
    app.lock().calls.push(entry);
    Reply::Response(json_response(status, &body, clock, Some(&rid), retry_after))
}
