//! The admin API under `/admin/`: JSON in and out, for tests to drive the simulator, routed
//! by axum. See README.md beside this crate for the routes and their answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{Method, Request, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::actions::{ACTIONS, GROUP_STATUSES};
use crate::api::{
    AccessKeyInfo, AccessKeyList, AccessKeyRevoked, AccessKeySet, AdminErrorBody, CallPage,
    CallsCleared, FaultSettings, FaultsRemoved, FaultsReset, GroupList, GroupsAdded, GroupsDeleted,
    Health, RealismRemoved, RealismReset, RealismSettings, Seeded, StsExpired, StsView,
    DEFAULT_CALLS_LIMIT,
};
use crate::app::App;
use crate::faults::FaultConfig;
use crate::http::{json_response, HttpResponse};
use crate::realism::RealismConfig;
use crate::seed::{apply_seed, Seed};
use crate::sign::percent_decode;
use crate::state::{AccessKeySpec, Group, GroupEdit, GroupSeed, StsConfig};
use crate::sts;
use crate::util::decode_form;

/// The first path segments of the admin API: a request under one of them with no route is a
/// wrong method (405), anything else is an unknown path (404).
const SECTIONS: [&str; 8] = [
    "healthz",
    "seed",
    "access-keys",
    "groups",
    "faults",
    "realism",
    "sts",
    "calls",
];

type Shared = State<Arc<App>>;

/// The admin router over `app`; built once and shared by every connection.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/admin/healthz", get(healthz))
        .route("/admin/seed", post(seed))
        .route("/admin/access-keys", get(list_keys).post(add_key))
        .route("/admin/access-keys/{id}", put(put_key).delete(revoke_key))
        .route(
            "/admin/groups",
            get(list_groups).post(add_groups).delete(delete_groups),
        )
        .route(
            "/admin/groups/{cs}/{bn}/{gid}",
            get(get_group).patch(edit_group),
        )
        .route("/admin/faults", get(get_faults).delete(reset_faults))
        .route("/admin/faults/default", put(put_default_faults))
        .route(
            "/admin/faults/tenants/{tenant}",
            put(put_tenant_faults).delete(remove_tenant_faults),
        )
        .route("/admin/realism", get(get_realism).delete(reset_realism))
        .route(
            "/admin/realism/default",
            get(get_default_realism).put(put_default_realism),
        )
        .route(
            "/admin/realism/tenants/{tenant}",
            get(get_tenant_realism)
                .put(put_tenant_realism)
                .delete(remove_tenant_realism),
        )
        .route("/admin/sts", get(get_sts).put(put_sts))
        .route("/admin/sts/expire", post(expire_sts))
        .route("/admin/calls", get(list_calls).delete(clear_calls))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(app)
}

/// Handles one admin request through `router`. Empty path segments are ignored
/// (`/admin//calls/` is `/admin/calls`), and a segment that is not valid percent-encoding is
/// refused with 400.
pub async fn handle(router: &Router, mut parts: Parts, body: Bytes) -> HttpResponse {
    let uri = match normalized_uri(&parts.uri) {
        Ok(uri) => uri,
        Err(error) => return error.into_response(),
    };
    parts.uri = uri;
    let request = Request::from_parts(parts, Body::from(body));
    match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn normalized_uri(uri: &Uri) -> Result<Uri, AdminError> {
    let segments: Vec<&str> = uri
        .path()
        .trim_start_matches("/admin")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if segments.iter().any(|s| percent_decode(s).is_none()) {
        return Err(bad("the path is not valid percent-encoding"));
    }
    let mut text = format!("/admin/{}", segments.join("/"));
    if let Some(query) = uri.query() {
        text.push('?');
        text.push_str(query);
    }
    text.parse()
        .map_err(|_| bad("the path is not valid percent-encoding"))
}

/// An admin error: `{"error": message}` with `status`.
#[derive(Debug)]
struct AdminError {
    status: u16,
    message: String,
}

fn bad(message: impl Into<String>) -> AdminError {
    AdminError {
        status: 400,
        message: message.into(),
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = AdminErrorBody {
            error: self.message,
        };
        json_response(self.status, &body, Utc::now(), None, None)
    }
}

/// A 200 answer with the admin API's JSON headers.
struct Answer<T>(T);

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        json_response(200, &self.0, Utc::now(), None, None)
    }
}

type AdminResult<T> = Result<Answer<T>, AdminError>;

/// Path parameters, refused with a JSON 400 when they cannot be read.
struct AdminPath<T>(T);

impl<T, S> FromRequestParts<S> for AdminPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|e| bad(format!("invalid path: {e}")))
    }
}

/// The query string as a map (the last of repeated names wins; undecodable means empty).
fn query_map(RawQuery(query): RawQuery) -> BTreeMap<String, String> {
    decode_form(query.as_deref().unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A JSON body; an empty or blank body reads as `{}`.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, AdminError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

async fn no_route(method: Method, uri: Uri) -> AdminError {
    let first = uri.path().trim_start_matches("/admin/").split('/').next();
    if first.is_some_and(|s| SECTIONS.contains(&s)) {
        wrong_method(method).await
    } else {
        AdminError {
            status: 404,
            message: "no such admin path; see the simulator's README".into(),
        }
    }
}

async fn wrong_method(method: Method) -> AdminError {
    AdminError {
        status: 405,
        message: format!("{method} is not supported on this admin path"),
    }
}

async fn healthz(State(app): Shared) -> Answer<Health> {
    let mut state = app.lock();
    state.settle_tenants(None, now_ms());
    Answer(Health {
        status: "ok".into(),
        uptime_secs: app.uptime().as_secs(),
        access_keys: state.keys.len(),
        tenants: state.tenants.len(),
        groups: state.tenants.values().map(|g| g.len()).sum(),
        last_seq: state.calls.last_seq(),
        call_log_entries: state.calls.len(),
        hanging: app.hanging(),
        nonces: state.nonces.len(),
    })
}

async fn seed(State(app): Shared, body: Bytes) -> AdminResult<Seeded> {
    let seed: Seed = parse(&body)?;
    let seeded = apply_seed(&mut app.lock(), seed).map_err(|e| bad(e.to_string()))?;
    Ok(Answer(seeded))
}

// ---- access keys ----------------------------------------------------------------------------

async fn list_keys(State(app): Shared) -> Answer<AccessKeyList> {
    let state = app.lock();
    let now = Utc::now();
    let mut keys: Vec<AccessKeyInfo> = state
        .keys
        .iter()
        .map(|(id, k)| AccessKeyInfo {
            access_key_id: id.clone(),
            security_tokens: k.tokens.len(),
            expired_security_tokens: k.tokens.iter().filter(|t| t.is_expired(now)).count(),
            inactive: k.inactive,
            sts_issued: k.sts_issued,
            expires_at: k
                .tokens
                .iter()
                .filter_map(|t| t.expires_at)
                .max()
                .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        })
        .collect();
    keys.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
    Answer(AccessKeyList { access_keys: keys })
}

async fn add_key(State(app): Shared, body: Bytes) -> AdminResult<AccessKeySet> {
    let spec: AccessKeySpec = parse(&body)?;
    let id = spec
        .access_key_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("accessKeyId is required"))?;
    store_key(&app, id, spec)
}

async fn put_key(
    State(app): Shared,
    AdminPath(id): AdminPath<String>,
    body: Bytes,
) -> AdminResult<AccessKeySet> {
    let spec: AccessKeySpec = parse(&body)?;
    if spec.access_key_id.as_deref().is_some_and(|b| b != id) {
        return Err(bad("accessKeyId in the body differs from the path"));
    }
    store_key(&app, id, spec)
}

fn store_key(app: &App, id: String, spec: AccessKeySpec) -> AdminResult<AccessKeySet> {
    if id.is_empty() || spec.access_key_secret.is_empty() {
        return Err(bad("accessKeyId and accessKeySecret must not be empty"));
    }
    let tokens = spec.security_tokens.len();
    let replaced = app.lock().put_key(id.clone(), spec);
    tracing::info!(access_key_id = id, tokens, replaced, "access key set");
    Ok(Answer(AccessKeySet {
        access_key_id: id,
        replaced,
        security_tokens: tokens,
    }))
}

async fn revoke_key(
    State(app): Shared,
    AdminPath(id): AdminPath<String>,
) -> Answer<AccessKeyRevoked> {
    let revoked = app.lock().keys.remove(&id).is_some();
    if revoked {
        tracing::info!(access_key_id = id, "access key revoked");
    }
    Answer(AccessKeyRevoked {
        access_key_id: id,
        revoked,
    })
}

// ---- groups ---------------------------------------------------------------------------------

/// Milliseconds since the epoch, the clock pending updates are due against.
fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

async fn list_groups(State(app): Shared, query: RawQuery) -> Answer<GroupList> {
    let query = query_map(query);
    let mut state = app.lock();
    let tenant = query.get("custSpaceId").map(String::as_str);
    state.settle_tenants(tenant, now_ms());
    let mut tenants: Vec<(&String, &crate::state::Groups)> = state
        .tenants
        .iter()
        .filter(|(k, _)| tenant.is_none_or(|t| *k == t))
        .collect();
    tenants.sort_by(|a, b| a.0.cmp(b.0));
    let groups: Vec<Group> = tenants
        .into_iter()
        .flat_map(|(_, of_tenant)| of_tenant.values().cloned())
        .collect();
    Answer(GroupList {
        count: groups.len(),
        groups,
    })
}

/// The group at the path, settled (a due creation ended, a due update applied), or a 404
/// (also when it is gone by now: it is removed then).
fn stored_group<'s>(
    state: &'s mut crate::state::State,
    (cs, bn, gid): &(String, String, String),
) -> Result<&'s mut Group, AdminError> {
    let not_found = || AdminError {
        status: 404,
        message: format!("no group {cs}/{bn}/{gid}"),
    };
    let key = (bn.clone(), gid.clone());
    let groups = state.tenants.get_mut(cs).ok_or_else(not_found)?;
    let now = now_ms();
    let gone = match groups.get_mut(&key) {
        Some(group) => {
            group.settle(now);
            group.is_gone(now)
        }
        None => return Err(not_found()),
    };
    if gone {
        groups.remove(&key);
        return Err(not_found());
    }
    groups.get_mut(&key).ok_or_else(not_found)
}

async fn get_group(
    State(app): Shared,
    AdminPath(path): AdminPath<(String, String, String)>,
) -> AdminResult<Group> {
    let mut state = app.lock();
    Ok(Answer(stored_group(&mut state, &path)?.clone()))
}

/// An out-of-band edit: the group changes at once, as if changed in WhatsApp or by Meta.
async fn edit_group(
    State(app): Shared,
    AdminPath(path): AdminPath<(String, String, String)>,
    body: Bytes,
) -> AdminResult<Group> {
    let edit: GroupEdit = parse(&body)?;
    if edit.is_empty() {
        return Err(bad(
            "the edit changes nothing: give at least one of subject, description, profilePictureFile, groupStatus",
        ));
    }
    if let Some(status) = edit.group_status.as_deref() {
        if !GROUP_STATUSES.contains(&status) {
            return Err(bad(format!(
                "groupStatus {status:?} is not one of {}",
                GROUP_STATUSES.join(", ")
            )));
        }
    }
    let mut state = app.lock();
    let group = stored_group(&mut state, &path)?;
    group.edit(edit, now_ms());
    let (cs, bn, gid) = &path;
    tracing::info!(
        cust_space_id = cs,
        business_number = bn,
        group_id = gid,
        status = group.group_status,
        "group edited out of band"
    );
    Ok(Answer(group.clone()))
}

/// The groups of a `POST /admin/groups` body: one group, an array, or `{"groups":[…]}`.
fn group_seeds(body: &Bytes) -> Result<Vec<GroupSeed>, AdminError> {
    let items = match parse::<Value>(body)? {
        Value::Array(items) => items,
        Value::Object(mut map) if map.contains_key("groups") => match map.remove("groups") {
            Some(Value::Array(items)) => items,
            _ => return Err(bad("groups must be an array")),
        },
        single @ Value::Object(_) => vec![single],
        _ => {
            return Err(bad(
                "expected a group, an array of groups or {\"groups\":[...]}",
            ))
        }
    };
    items
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("invalid group: {e}")))
}

async fn add_groups(State(app): Shared, body: Bytes) -> AdminResult<GroupsAdded> {
    let groups = group_seeds(&body)?;
    let seed = Seed {
        groups,
        ..Seed::default()
    };
    let seeded = apply_seed(&mut app.lock(), seed).map_err(|e| bad(e.to_string()))?;
    Ok(Answer(GroupsAdded {
        groups: seeded.groups,
    }))
}

async fn delete_groups(State(app): Shared, query: RawQuery) -> Answer<GroupsDeleted> {
    let query = query_map(query);
    let mut state = app.lock();
    let deleted = match query.get("custSpaceId") {
        Some(cs) => state.tenants.remove(cs).map_or(0, |g| g.len()),
        None => {
            let n = state.tenants.values().map(|g| g.len()).sum();
            state.tenants.clear();
            n
        }
    };
    Answer(GroupsDeleted { deleted })
}

// ---- faults ---------------------------------------------------------------------------------

fn parse_faults(body: &Bytes) -> Result<FaultConfig, AdminError> {
    let faults: FaultConfig = parse(body)?;
    faults.validate().map_err(bad)?;
    Ok(faults)
}

async fn get_faults(State(app): Shared) -> Answer<FaultSettings> {
    let state = app.lock();
    Answer(FaultSettings {
        default: state.default_faults.clone(),
        tenants: state
            .tenant_faults
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

async fn put_default_faults(State(app): Shared, body: Bytes) -> AdminResult<FaultConfig> {
    let faults = parse_faults(&body)?;
    let mut state = app.lock();
    state.default_faults = faults.clone();
    let own: Vec<String> = state.tenant_faults.keys().cloned().collect();
    state.buckets.retain(|tenant, _| own.contains(tenant));
    tracing::info!(?faults, "default fault settings changed");
    Ok(Answer(faults))
}

async fn put_tenant_faults(
    State(app): Shared,
    AdminPath(tenant): AdminPath<String>,
    body: Bytes,
) -> AdminResult<FaultConfig> {
    let faults = parse_faults(&body)?;
    let mut state = app.lock();
    state.tenant_faults.insert(tenant.clone(), faults.clone());
    state.buckets.remove(&tenant);
    tracing::info!(tenant, ?faults, "tenant fault settings changed");
    Ok(Answer(faults))
}

async fn remove_tenant_faults(
    State(app): Shared,
    AdminPath(tenant): AdminPath<String>,
) -> Answer<FaultsRemoved> {
    let mut state = app.lock();
    let removed = state.tenant_faults.remove(&tenant).is_some();
    state.buckets.remove(&tenant);
    Answer(FaultsRemoved { removed })
}

async fn reset_faults(State(app): Shared) -> Answer<FaultsReset> {
    let mut state = app.lock();
    state.default_faults = FaultConfig::default();
    state.tenant_faults.clear();
    state.buckets.clear();
    Answer(FaultsReset { reset: true })
}

// ---- realism --------------------------------------------------------------------------------

fn parse_realism(body: &Bytes) -> Result<RealismConfig, AdminError> {
    let realism: RealismConfig = parse(body)?;
    realism.validate(&ACTIONS).map_err(bad)?;
    Ok(realism)
}

async fn get_realism(State(app): Shared) -> Answer<RealismSettings> {
    let state = app.lock();
    Answer(RealismSettings {
        default: state.default_realism.clone(),
        tenants: state
            .tenant_realism
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

async fn get_default_realism(State(app): Shared) -> Answer<RealismConfig> {
    Answer(app.lock().default_realism.clone())
}

async fn put_default_realism(State(app): Shared, body: Bytes) -> AdminResult<RealismConfig> {
    let realism = parse_realism(&body)?;
    let mut state = app.lock();
    state.default_realism = realism.clone();
    let own: Vec<String> = state.tenant_realism.keys().cloned().collect();
    state
        .action_buckets
        .retain(|(tenant, _), _| own.contains(tenant));
    tracing::info!(?realism, "default realism settings changed");
    Ok(Answer(realism))
}

async fn get_tenant_realism(
    State(app): Shared,
    AdminPath(tenant): AdminPath<String>,
) -> AdminResult<RealismConfig> {
    match app.lock().tenant_realism.get(&tenant) {
        Some(realism) => Ok(Answer(realism.clone())),
        None => Err(AdminError {
            status: 404,
            message: format!("tenant {tenant} has no realism settings of its own"),
        }),
    }
}

async fn put_tenant_realism(
    State(app): Shared,
    AdminPath(tenant): AdminPath<String>,
    body: Bytes,
) -> AdminResult<RealismConfig> {
    let realism = parse_realism(&body)?;
    let mut state = app.lock();
    state.tenant_realism.insert(tenant.clone(), realism.clone());
    state.action_buckets.retain(|(t, _), _| *t != tenant);
    tracing::info!(tenant, ?realism, "tenant realism settings changed");
    Ok(Answer(realism))
}

async fn remove_tenant_realism(
    State(app): Shared,
    AdminPath(tenant): AdminPath<String>,
) -> Answer<RealismRemoved> {
    let mut state = app.lock();
    let removed = state.tenant_realism.remove(&tenant).is_some();
    state.action_buckets.retain(|(t, _), _| *t != tenant);
    Answer(RealismRemoved { removed })
}

async fn reset_realism(State(app): Shared) -> Answer<RealismReset> {
    let mut state = app.lock();
    state.default_realism = RealismConfig::default();
    state.tenant_realism.clear();
    state.action_buckets.clear();
    Answer(RealismReset { reset: true })
}

// ---- STS ------------------------------------------------------------------------------------

async fn get_sts(State(app): Shared) -> Answer<StsView> {
    Answer(sts::admin_view(&app.lock(), Utc::now()))
}

async fn put_sts(State(app): Shared, body: Bytes) -> AdminResult<StsView> {
    let config: StsConfig = parse(&body)?;
    config.validate().map_err(bad)?;
    let mut state = app.lock();
    tracing::info!(
        any_token = config.accepted_tokens.is_none(),
        duration_secs = config.duration_secs,
        error_code = config.error_code.as_deref().unwrap_or(""),
        "STS settings changed"
    );
    state.sts = config;
    Ok(Answer(sts::admin_view(&state, Utc::now())))
}

async fn expire_sts(State(app): Shared) -> Answer<StsExpired> {
    let expired = sts::expire_all(&mut app.lock(), Utc::now());
    tracing::info!(expired, "expired every issued STS credential");
    Answer(StsExpired { expired })
}

// ---- call log -------------------------------------------------------------------------------

/// The filters of `GET /admin/calls`.
struct CallFilter {
    since: u64,
    limit: usize,
    tenant: Option<String>,
    action: Option<String>,
    code: Option<String>,
    access_key_id: Option<String>,
    sts_issued: Option<bool>,
}

impl CallFilter {
    fn from_query(mut query: BTreeMap<String, String>) -> Result<Self, AdminError> {
        let number = |query: &BTreeMap<String, String>, name: &str| {
            query
                .get(name)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| bad(format!("{name} must be a whole number")))
                })
                .transpose()
        };
        let since = number(&query, "since")?.unwrap_or(0);
        let limit = number(&query, "limit")?
            .map_or(DEFAULT_CALLS_LIMIT, |l| {
                usize::try_from(l).unwrap_or(usize::MAX)
            })
            .min(DEFAULT_CALLS_LIMIT);
        let sts_issued = match query.get("stsIssued").map(String::as_str) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(bad("stsIssued must be true or false")),
        };
        Ok(Self {
            since,
            limit,
            tenant: query.remove("custSpaceId"),
            action: query.remove("action"),
            code: query.remove("code"),
            access_key_id: query.remove("accessKeyId"),
            sts_issued,
        })
    }

    fn matches(&self, e: &crate::calllog::CallEntry) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|t| e.cust_space_id.as_ref() == Some(t))
            && self
                .action
                .as_ref()
                .is_none_or(|a| e.action.as_ref() == Some(a))
            && self.code.as_ref().is_none_or(|c| e.code == *c)
            && self
                .access_key_id
                .as_ref()
                .is_none_or(|k| e.access_key_id.as_ref() == Some(k))
            && self.sts_issued.is_none_or(|s| e.sts_issued == s)
    }
}

async fn list_calls(State(app): Shared, query: RawQuery) -> AdminResult<CallPage> {
    let filter = CallFilter::from_query(query_map(query))?;
    let state = app.lock();
    let calls = state
        .calls
        .since(filter.since, filter.limit, |e| filter.matches(e));
    Ok(Answer(CallPage {
        count: calls.len(),
        last_seq: state.calls.last_seq(),
        calls,
    }))
}

async fn clear_calls(State(app): Shared) -> Answer<CallsCleared> {
    let mut state = app.lock();
    let cleared = state.calls.clear();
    Answer(CallsCleared {
        cleared,
        last_seq: state.calls.last_seq(),
    })
}
