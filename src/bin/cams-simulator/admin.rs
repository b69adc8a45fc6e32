//! The admin API under `/admin/`: JSON in and out, for tests to drive the simulator.
//! See README.md beside this file.

use std::collections::BTreeMap;

use chrono::Utc;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::http::request::Parts;
use hyper::{Method, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use cams_operator::cams::encode::percent_decode;

use crate::faults::FaultConfig;
use crate::server::{json_response, App};
use crate::state::{AccessKeySpec, GroupSeed, State, StsConfig};
use crate::sts;
use crate::util::decode_form;

/// Default and largest number of call-log entries one `GET /admin/calls` returns.
pub const DEFAULT_CALLS_LIMIT: usize = 10_000;

/// The seed file's shape (also accepted by `POST /admin/seed`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// Keys to add (each needs `accessKeyId`).
    #[serde(default)]
    pub access_keys: Vec<AccessKeySpec>,
    /// Groups to add.
    #[serde(default)]
    pub groups: Vec<GroupSeed>,
    /// The default fault knobs.
    #[serde(default)]
    pub faults: Option<FaultConfig>,
    /// The STS settings (`AssumeRoleWithOIDC`).
    #[serde(default)]
    pub sts: Option<StsConfig>,
}

/// What a seed added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Keys added or replaced.
    pub access_keys: usize,
    /// Groups added or replaced.
    pub groups: Vec<crate::state::Group>,
}

/// Applies a seed to the state.
pub fn apply_seed(state: &mut State, seed: Seed) -> Result<Seeded, String> {
    for key in &seed.access_keys {
        match &key.access_key_id {
            Some(id) if !id.is_empty() => {}
            _ => return Err("accessKeys: every key needs an accessKeyId".into()),
        }
    }
    for group in &seed.groups {
        check_group_seed(group)?;
    }
    if let Some(faults) = &seed.faults {
        faults.validate().map_err(|e| format!("faults: {e}"))?;
    }
    if let Some(sts) = &seed.sts {
        sts.validate().map_err(|e| format!("sts: {e}"))?;
    }
    let mut out = Seeded::default();
    for key in seed.access_keys {
        let id = key.access_key_id.clone().unwrap_or_default();
        state.put_key(id, key);
        out.access_keys += 1;
    }
    let now = Utc::now().timestamp_millis();
    for group in seed.groups {
        out.groups.push(state.seed_group(group, now));
    }
    if let Some(faults) = seed.faults {
        state.default_faults = faults;
        state.buckets.clear();
    }
    if let Some(sts) = seed.sts {
        state.sts = sts;
    }
    Ok(out)
}

fn check_group_seed(g: &GroupSeed) -> Result<(), String> {
    if g.cust_space_id.is_empty() || g.business_number.is_empty() {
        return Err("groups: every group needs custSpaceId and businessNumber".into());
    }
    if g.group_id.as_deref() == Some("") {
        return Err("groups: groupId must not be empty (leave it out to generate one)".into());
    }
    Ok(())
}

struct AdminError(u16, String);

type AdminResult = Result<(u16, Value), AdminError>;

fn bad(msg: impl Into<String>) -> AdminError {
    AdminError(400, msg.into())
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, AdminError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

/// Handles one admin request.
pub fn handle(app: &App, parts: &Parts, body: &Bytes) -> Response<Full<Bytes>> {
    let query: BTreeMap<String, String> = decode_form(parts.uri.query().unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let segments: Option<Vec<String>> = parts
        .uri
        .path()
        .trim_start_matches("/admin")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let result = match segments {
        None => Err(bad("the path is not valid percent-encoding")),
        Some(segments) => {
            let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
            dispatch(app, &parts.method, &segs, &query, body)
        }
    };
    let (status, value) = match result {
        Ok(ok) => ok,
        Err(AdminError(status, message)) => (status, json!({ "error": message })),
    };
    json_response(status, &value, Utc::now(), None, None)
}

fn dispatch(
    app: &App,
    method: &Method,
    segs: &[&str],
    query: &BTreeMap<String, String>,
    body: &Bytes,
) -> AdminResult {
    let m = method.as_str();
    match (m, segs) {
        ("GET", ["healthz"]) => Ok(healthz(app)),
        ("POST", ["seed"]) => {
            let seed: Seed = parse(body)?;
            let seeded = apply_seed(&mut app.lock(), seed).map_err(bad)?;
            Ok((
                200,
                json!({ "accessKeys": seeded.access_keys, "groups": seeded.groups }),
            ))
        }

        ("GET", ["access-keys"]) => Ok(list_keys(app)),
        ("POST", ["access-keys"]) => {
            let spec: AccessKeySpec = parse(body)?;
            let id = spec
                .access_key_id
                .clone()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| bad("accessKeyId is required"))?;
            put_key(app, id, spec)
        }
        ("PUT", ["access-keys", id]) => {
            let spec: AccessKeySpec = parse(body)?;
            if spec.access_key_id.as_deref().is_some_and(|b| b != *id) {
                return Err(bad("accessKeyId in the body differs from the path"));
            }
            put_key(app, id.to_string(), spec)
        }
        ("DELETE", ["access-keys", id]) => {
            let revoked = app.lock().keys.remove(*id).is_some();
            if revoked {
                tracing::info!(access_key_id = id, "access key revoked");
            }
            Ok((200, json!({ "accessKeyId": id, "revoked": revoked })))
        }

        ("GET", ["groups"]) => Ok(list_groups(app, query.get("custSpaceId"))),
        ("GET", ["groups", cs, bn, gid]) => {
            let state = app.lock();
            let group = state
                .tenants
                .get(*cs)
                .and_then(|g| g.get(&(bn.to_string(), gid.to_string())));
            match group {
                Some(g) => Ok((200, json!(g))),
                None => Err(AdminError(404, format!("no group {cs}/{bn}/{gid}"))),
            }
        }
        ("POST", ["groups"]) => {
            let seeds = match parse::<Value>(body)? {
                Value::Array(items) => items,
                Value::Object(mut map) if map.contains_key("groups") => {
                    match map.remove("groups") {
                        Some(Value::Array(items)) => items,
                        _ => return Err(bad("groups must be an array")),
                    }
                }
                single @ Value::Object(_) => vec![single],
                _ => {
                    return Err(bad(
                        "expected a group, an array of groups or {\"groups\":[...]}",
                    ))
                }
            };
            let groups: Vec<GroupSeed> = seeds
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<_, _>>()
                .map_err(|e| bad(format!("invalid group: {e}")))?;
            let seeded = apply_seed(
                &mut app.lock(),
                Seed {
                    groups,
                    ..Default::default()
                },
            )
            .map_err(bad)?;
            Ok((200, json!({ "groups": seeded.groups })))
        }
        ("DELETE", ["groups"]) => {
            let mut state = app.lock();
            let deleted = match query.get("custSpaceId") {
                Some(cs) => state.tenants.remove(cs).map_or(0, |g| g.len()),
                None => {
                    let n = state.tenants.values().map(|g| g.len()).sum();
                    state.tenants.clear();
                    n
                }
            };
            Ok((200, json!({ "deleted": deleted })))
        }

        ("GET", ["faults"]) => {
            let state = app.lock();
            let tenants: BTreeMap<&String, &FaultConfig> = state.tenant_faults.iter().collect();
            Ok((
                200,
                json!({ "default": state.default_faults, "tenants": tenants }),
            ))
        }
        ("PUT", ["faults", "default"]) => {
            let faults = parse_faults(body)?;
            let mut state = app.lock();
            state.default_faults = faults.clone();
            let own: Vec<String> = state.tenant_faults.keys().cloned().collect();
            state.buckets.retain(|tenant, _| own.contains(tenant));
            tracing::info!(?faults, "default fault settings changed");
            Ok((200, json!(faults)))
        }
        ("PUT", ["faults", "tenants", tenant]) => {
            let faults = parse_faults(body)?;
            let mut state = app.lock();
            state
                .tenant_faults
                .insert(tenant.to_string(), faults.clone());
            state.buckets.remove(*tenant);
            tracing::info!(tenant, ?faults, "tenant fault settings changed");
            Ok((200, json!(faults)))
        }
        ("DELETE", ["faults", "tenants", tenant]) => {
            let mut state = app.lock();
            let removed = state.tenant_faults.remove(*tenant).is_some();
            state.buckets.remove(*tenant);
            Ok((200, json!({ "removed": removed })))
        }
        ("DELETE", ["faults"]) => {
            let mut state = app.lock();
            state.default_faults = FaultConfig::default();
            state.tenant_faults.clear();
            state.buckets.clear();
            Ok((200, json!({ "reset": true })))
        }

        ("GET", ["sts"]) => Ok((200, sts::admin_view(&app.lock(), Utc::now()))),
        ("PUT", ["sts"]) => {
            let config: StsConfig = parse(body)?;
            config.validate().map_err(bad)?;
            let mut state = app.lock();
            tracing::info!(
                any_token = config.accepted_tokens.is_none(),
                duration_secs = config.duration_secs,
                error_code = config.error_code.as_deref().unwrap_or(""),
                "STS settings changed"
            );
            state.sts = config;
            Ok((200, sts::admin_view(&state, Utc::now())))
        }
        ("POST", ["sts", "expire"]) => {
            let expired = sts::expire_all(&mut app.lock(), Utc::now());
            tracing::info!(expired, "expired every issued STS credential");
            Ok((200, json!({ "expired": expired })))
        }

        ("GET", ["calls"]) => list_calls(app, query),
        ("DELETE", ["calls"]) => {
            let mut state = app.lock();
            let cleared = state.calls.clear();
            Ok((
                200,
                json!({ "cleared": cleared, "lastSeq": state.calls.last_seq() }),
            ))
        }

        (_, ["healthz" | "seed" | "access-keys" | "groups" | "faults" | "sts" | "calls", ..]) => {
            Err(AdminError(
                405,
                format!("{m} is not supported on this admin path"),
            ))
        }
        _ => Err(AdminError(
            404,
            "no such admin path; see the simulator's README".into(),
        )),
    }
}

fn healthz(app: &App) -> (u16, Value) {
    let state = app.lock();
    let groups: usize = state.tenants.values().map(|g| g.len()).sum();
    (
        200,
        json!({
            "status": "ok",
            "uptimeSecs": app.uptime().as_secs(),
            "accessKeys": state.keys.len(),
            "tenants": state.tenants.len(),
            "groups": groups,
            "lastSeq": state.calls.last_seq(),
            "callLogEntries": state.calls.len(),
            "hanging": app.hanging(),
            "nonces": state.nonces.len(),
        }),
    )
}

fn put_key(app: &App, id: String, spec: AccessKeySpec) -> AdminResult {
    if id.is_empty() || spec.access_key_secret.is_empty() {
        return Err(bad("accessKeyId and accessKeySecret must not be empty"));
    }
    let tokens = spec.security_tokens.len();
    let replaced = app.lock().put_key(id.clone(), spec);
    tracing::info!(access_key_id = id, tokens, replaced, "access key set");
    Ok((
        200,
        json!({ "accessKeyId": id, "replaced": replaced, "securityTokens": tokens }),
    ))
}

fn list_keys(app: &App) -> (u16, Value) {
    let state = app.lock();
    let now = Utc::now();
    let mut keys: Vec<Value> = state
        .keys
        .iter()
        .map(|(id, k)| {
            let mut v = json!({
                "accessKeyId": id,
                "securityTokens": k.tokens.len(),
                "expiredSecurityTokens": k.tokens.iter().filter(|t| t.is_expired(now)).count(),
                "inactive": k.inactive,
                "stsIssued": k.sts_issued,
            });
            if let Some(at) = k.tokens.iter().filter_map(|t| t.expires_at).max() {
                v["expiresAt"] = json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
            v
        })
        .collect();
    keys.sort_by(|a, b| a["accessKeyId"].as_str().cmp(&b["accessKeyId"].as_str()));
    (200, json!({ "accessKeys": keys }))
}

fn list_groups(app: &App, tenant: Option<&String>) -> (u16, Value) {
    let state = app.lock();
    let mut tenants: Vec<&String> = match tenant {
        Some(t) => state.tenants.keys().filter(|k| *k == t).collect(),
        None => state.tenants.keys().collect(),
    };
    tenants.sort();
    let groups: Vec<Value> = tenants
        .into_iter()
        .flat_map(|t| state.tenants[t].values())
        .map(|g| json!(g))
        .collect();
    (200, json!({ "count": groups.len(), "groups": groups }))
}

fn parse_faults(body: &Bytes) -> Result<FaultConfig, AdminError> {
    let faults: FaultConfig = parse(body)?;
    faults.validate().map_err(bad)?;
    Ok(faults)
}

fn list_calls(app: &App, query: &BTreeMap<String, String>) -> AdminResult {
    let number = |name: &str| -> Result<Option<u64>, AdminError> {
        query
            .get(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{name} must be a whole number")))
            })
            .transpose()
    };
    let since = number("since")?.unwrap_or(0);
    let limit = number("limit")?
        .map_or(DEFAULT_CALLS_LIMIT, |l| l as usize)
        .min(DEFAULT_CALLS_LIMIT);
    let tenant = query.get("custSpaceId");
    let action = query.get("action");
    let code = query.get("code");
    let access_key_id = query.get("accessKeyId");
    let sts_issued = match query.get("stsIssued").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(bad("stsIssued must be true or false")),
    };
    let state = app.lock();
    let calls = state.calls.since(since, limit, |e| {
        tenant.is_none_or(|t| e.cust_space_id.as_ref() == Some(t))
            && action.is_none_or(|a| e.action.as_ref() == Some(a))
            && code.is_none_or(|c| e.code == *c)
            && access_key_id.is_none_or(|k| e.access_key_id.as_ref() == Some(k))
            && sts_issued.is_none_or(|s| e.sts_issued == s)
    });
    Ok((
        200,
        json!({ "count": calls.len(), "lastSeq": state.calls.last_seq(), "calls": calls }),
    ))
}
