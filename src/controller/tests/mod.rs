//! Reconciler tests: a mocked API server (tower-test) and a mocked CAMS client.
//!
//! The harness here is shared by the behaviour files below:
//! - [`ChatGroupBuilder`]: a ChatGroup with generation, spec, status, labels and annotations;
//! - [`FakeApi`]: a Kubernetes API server that records every request (method, path, query,
//!   body) and answers from a small script (Secrets it knows, status patches, events). Any
//!   other request is answered 404 and still recorded, so a test that asserts the exact list
//!   of requests fails on an unexpected one;
//! - [`Harness`]: a [`Context`] wired to the fake API server and to a scripted
//!   [`MockChatGroupApi`] that records each call's arguments and refuses calls beyond the
//!   scripted ones.

mod cache;
mod conditions;
mod conflict;
mod credentials;
mod first_apply;
mod kube_errors;
mod no_op_changes;
mod observation;
mod outcomes;
mod paused;
mod scheduling;
mod secret_change;
mod secrets_never_leak;
mod spec_change;
mod status_truth;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{Request, Response as HttpResponse, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use k8s_openapi::ByteString;
use kube::client::Body;
use kube::runtime::events::Reporter;
use kube::Client;
use serde_json::{json, Value};

use super::{reconcile_object, Context, ReconcileError};
use crate::cams::MockChatGroupApi;
use crate::cams::{
    CamsError, ChatGroupApi, Credentials, EndpointPolicy, Envelope, Response, UpdateChatGroup,
};
use crate::credentials::{LendPolicy, OperatorCredentials};
use crate::resource::{ChatGroup, ChatGroupStatus};
pub(super) use crate::status::Requeue;
use crate::status::RetryPolicy;

pub(super) const NS: &str = "team-a";
pub(super) const NAME: &str = "vip-support";
pub(super) const SECRET: &str = "cams-credentials";
pub(super) const FIELD_MANAGER: &str = "cams-operator";
pub(super) const ACCESS_KEY_ID: &str = "LTAI-user-key-id";
pub(super) const ACCESS_KEY_SECRET: &str = "user-access-key-secret";
pub(super) const REQUEST_ID: &str = "90E63D28-E31D-1EB2-8939-A94866411B2O\n";

pub(super) fn secret_get_route(ns: &str, name: &str) -> String {
    format!("GET /api/v1/namespaces/{ns}/secrets/{name}")
}

pub(super) fn status_patch_route() -> String {
    format!("PATCH /apis/cams.dev/v1alpha1/namespaces/{NS}/chatgroups/{NAME}/status")
}

pub(super) fn chatgroup_get_route() -> String {
    format!("GET /apis/cams.dev/v1alpha1/namespaces/{NS}/chatgroups/{NAME}")
}

pub(super) fn event_post_route() -> String {
    format!("POST /apis/events.k8s.io/v1/namespaces/{NS}/events")
}

// ---------------------------------------------------------------------------------------------
// ChatGroup fixtures

pub(super) use crate::fixtures::ChatGroupBuilder;

/// The object of these tests: [`NAME`] in [`NS`], generation 1, resourceVersion 1001, subject
/// "VIP support", credentials from the Secret [`SECRET`], no status.
pub(super) fn base() -> ChatGroupBuilder {
    ChatGroupBuilder::new(NAME, NS, "cams-abc123", "EA303XYZ")
        .uid("5b9a1c7e-0000-4000-8000-000000000001")
        .resource_version("1001")
        .generation(1)
        .subject(Some("VIP support"))
        .secret_ref(Some(SECRET))
}

/// A Secret with these string keys (stored base64 in `data`, as the API server returns it).
pub(super) fn secret(ns: &str, name: &str, pairs: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            resource_version: Some("7".into()),
            ..Default::default()
        },
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The usual credentials Secret ([`ACCESS_KEY_ID`], [`ACCESS_KEY_SECRET`]).
pub(super) fn user_secret() -> Secret {
    secret(
        NS,
        SECRET,
        &[
            ("accessKeyId", ACCESS_KEY_ID),
            ("accessKeySecret", ACCESS_KEY_SECRET),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// CAMS answers

/// Alibaba's documented UpdateChatGroup example answer: Code OK with Success false, RequestId
/// with a trailing newline.
pub(super) fn alibaba_example_envelope() -> Envelope {
    Envelope {
        request_id: Some(REQUEST_ID.into()),
        code: Some("OK".into()),
        message: Some("None".into()),
        success: Some(false),
        access_denied_detail: Some("None".into()),
        result: Some(1),
    }
}

pub(super) fn alibaba_example_response() -> Response {
    Response {
        status: 200,
        envelope: alibaba_example_envelope(),
        retry_after: None,
        server_date: None,
        body: json!({
            "AccessDeniedDetail": "None",
            "Message": "None",
            "RequestId": REQUEST_ID,
            "Code": "OK",
            "Success": false,
            "Result": 1
        }),
    }
}

/// A CAMS error envelope answer.
pub(super) fn api_error(
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> CamsError {
    let envelope = Envelope {
        request_id: Some(format!("REQ-{code}")),
        code: Some(code.into()),
        message: Some(message.into()),
        success: Some(false),
        access_denied_detail: None,
        result: None,
    };
    CamsError::Api {
        status,
        code: code.into(),
        message: message.into(),
        envelope: Box::new(envelope),
        retry_after,
        server_date: None,
    }
}

/// One recorded call to the mocked CAMS.
#[derive(Clone, Debug)]
pub(super) struct CamsCall {
    pub(super) region: Option<String>,
    pub(super) credentials: Credentials,
    pub(super) request: UpdateChatGroup,
}

/// A mock that answers the scripted results in order, records each call, and fails the test
/// (mockall panics) on a call beyond the script.
pub(super) fn scripted_cams(
    answers: Vec<Result<Response, CamsError>>,
) -> (MockChatGroupApi, Arc<Mutex<Vec<CamsCall>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut mock = MockChatGroupApi::new();
    let count = answers.len();
    let queue = Mutex::new(VecDeque::from(answers));
    let seen = calls.clone();
    mock.expect_update_chat_group()
        .times(count)
        .returning(move |region, credentials, request| {
            seen.lock().unwrap().push(CamsCall {
                region,
                credentials: credentials.clone(),
                request: request.clone(),
            });
            queue
                .lock()
                .unwrap()
                .pop_front()
                .expect("more CAMS calls than scripted")
        });
    (mock, calls)
}

// ---------------------------------------------------------------------------------------------
// The fake Kubernetes API server

/// One request the fake API server received.
#[derive(Clone, Debug)]
pub(super) struct ApiCall {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: BTreeMap<String, String>,
    pub(super) content_type: Option<String>,
    pub(super) accept: Option<String>,
    pub(super) body: Option<Value>,
    /// The body as sent (for leak checks).
    pub(super) raw_body: String,
}

impl ApiCall {
    /// `METHOD /path` (without the query).
    pub(super) fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What the fake API server knows.
#[derive(Clone, Default)]
pub(super) struct ApiScript {
    /// Secrets by (namespace, name).
    pub(super) secrets: BTreeMap<(String, String), Secret>,
    /// Routes (`METHOD /path`) answered with HTTP 500.
    pub(super) failing: Vec<String>,
    /// Routes (`METHOD /path`) never answered.
    pub(super) hanging: Vec<String>,
    /// ChatGroups by (namespace, name), for a GET of one.
    pub(super) chatgroups: BTreeMap<(String, String), ChatGroup>,
    /// Routes (`METHOD /path`) answered with HTTP 500 this many times, then as usual.
    pub(super) failing_times: BTreeMap<String, usize>,
}

/// A fake API server: every request is recorded, then answered from the script.
#[derive(Clone)]
pub(super) struct FakeApi {
    calls: Arc<Mutex<Vec<ApiCall>>>,
}

impl FakeApi {
    /// Starts the server task; returns a client wired to it.
    pub(super) fn start(script: ApiScript) -> (Client, FakeApi) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, HttpResponse<Body>>();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let mut script = script;
        tokio::spawn(async move {
            let mut unanswered = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap_or_default();
                let raw_body = String::from_utf8_lossy(&bytes).to_string();
                let call = ApiCall {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts
                        .uri
                        .query()
                        .unwrap_or("")
                        .split('&')
                        .filter(|p| !p.is_empty())
                        .map(|p| match p.split_once('=') {
                            Some((k, v)) => (k.to_string(), v.to_string()),
                            None => (p.to_string(), String::new()),
                        })
                        .collect(),
                    content_type: parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                    accept: parts
                        .headers
                        .get(http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                    body: serde_json::from_slice(&bytes).ok(),
                    raw_body,
                };
                let failing_now = match script.failing_times.get_mut(&call.route()) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                };
                let (status, answer) = if failing_now {
                    internal_error()
                } else {
                    answer(&script, &call)
                };
                let hang = script.hanging.contains(&call.route());
                recorded.lock().unwrap().push(call);
                if hang {
                    unanswered.push(send);
                    continue;
                }
                send.send_response(
                    HttpResponse::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                        .unwrap(),
                );
            }
        });
        (Client::new(service, NS), FakeApi { calls })
    }

    pub(super) fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().unwrap().clone()
    }

    /// `METHOD /path` of every request, in order.
    pub(super) fn routes(&self) -> Vec<String> {
        self.calls().iter().map(ApiCall::route).collect()
    }

    pub(super) fn status_patches(&self) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "PATCH" && c.path.ends_with("/status"))
            .collect()
    }

    /// The bodies of the events created.
    pub(super) fn events(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.starts_with("/apis/events.k8s.io/"))
            .map(|c| c.body.expect("event body is JSON"))
            .collect()
    }

    /// Asserts the requests of a reconcile that called CAMS once: the Secret read, the status
    /// write and the event, nothing else.
    pub(super) fn assert_one_call_recorded(&self) {
        assert_eq!(
            self.routes(),
            [
                secret_get_route(NS, SECRET),
                status_patch_route(),
                event_post_route()
            ]
        );
    }

    /// The one status written by this reconcile (panics unless exactly one was written).
    pub(super) fn written_status(&self) -> ChatGroupStatus {
        let patches = self.status_patches();
        assert_eq!(patches.len(), 1, "expected exactly one status write");
        let body = patches[0].body.clone().expect("status patch is JSON");
        serde_json::from_value(body["status"].clone()).expect("status patch holds a status")
    }

    /// The one event published by this reconcile: (type, reason, note).
    pub(super) fn single_event(&self) -> (String, String, String) {
        let events = self.events();
        assert_eq!(events.len(), 1, "expected exactly one event: {events:#?}");
        let e = &events[0];
        (
            e["type"].as_str().unwrap_or_default().to_string(),
            e["reason"].as_str().unwrap_or_default().to_string(),
            e["note"].as_str().unwrap_or_default().to_string(),
        )
    }
}

fn not_found(kind: &str, name: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": format!("{kind} \"{name}\" not found"),
            "reason": "NotFound",
            "details": {"name": name, "kind": kind},
            "code": 404
        }),
    )
}

fn internal_error() -> (StatusCode, Value) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "etcdserver: request timed out",
            "reason": "InternalError",
            "code": 500
        }),
    )
}

fn answer(script: &ApiScript, call: &ApiCall) -> (StatusCode, Value) {
    if script.failing.contains(&call.route()) {
        return internal_error();
    }
    let parts: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    match (call.method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v1", "namespaces", ns, "secrets", name]) => {
            match script.secrets.get(&(ns.to_string(), name.to_string())) {
                Some(secret) => (StatusCode::OK, serde_json::to_value(secret).unwrap()),
                None => not_found("secrets", name),
            }
        }
        ("GET", ["apis", "cams.dev", "v1alpha1", "namespaces", ns, "chatgroups", name]) => {
            match script.chatgroups.get(&(ns.to_string(), name.to_string())) {
                Some(obj) => (StatusCode::OK, serde_json::to_value(obj).unwrap()),
                None => not_found("chatgroups", name),
            }
        }
        (
            "PATCH",
            ["apis", "cams.dev", "v1alpha1", "namespaces", ns, "chatgroups", name, "status"],
        ) => {
            // Answer like the API server: the object with the applied status.
            let mut obj = serde_json::to_value(base().build()).unwrap();
            obj["metadata"]["namespace"] = json!(ns);
            obj["metadata"]["name"] = json!(name);
            // A write makes a new version.
            obj["metadata"]["resourceVersion"] = json!("2001");
            if let Some(status) = call.body.as_ref().and_then(|b| b.get("status")) {
                obj["status"] = status.clone();
            }
            (StatusCode::OK, obj)
        }
        ("POST", ["apis", "events.k8s.io", "v1", "namespaces", _, "events"]) => (
            StatusCode::CREATED,
            call.body.clone().unwrap_or(Value::Null),
        ),
        ("PATCH", ["apis", "events.k8s.io", "v1", "namespaces", _, "events", _]) => {
            (StatusCode::OK, call.body.clone().unwrap_or(Value::Null))
        }
        _ => not_found("unknown", &call.path),
    }
}

// ---------------------------------------------------------------------------------------------
// Context

/// Builds a [`Harness`].
pub(super) struct HarnessBuilder {
    script: ApiScript,
    answers: Vec<Result<Response, CamsError>>,
    cams: Option<Arc<dyn ChatGroupApi>>,
    endpoints: EndpointPolicy,
    lend: LendPolicy,
    operator: OperatorCredentials,
    api_timeout: Duration,
}

impl HarnessBuilder {
    /// The API server answers this route (`METHOD /path`) with HTTP 500.
    pub(super) fn failing(mut self, route: String) -> Self {
        self.script.failing.push(route);
        self
    }

    /// Knows the ChatGroup (answers a GET of it).
    pub(super) fn chatgroup(mut self, obj: &ChatGroup) -> Self {
        let key = (
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone().unwrap_or_default(),
        );
        self.script.chatgroups.insert(key, obj.clone());
        self
    }

    /// The API server answers this route with HTTP 500 `times` times, then as usual.
    pub(super) fn failing_times(mut self, route: String, times: usize) -> Self {
        self.script.failing_times.insert(route, times);
        self
    }

    /// The API server never answers this route.
    pub(super) fn hanging(mut self, route: String) -> Self {
        self.script.hanging.push(route);
        self
    }

    pub(super) fn api_timeout(mut self, timeout: Duration) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// Knows the Secret.
    pub(super) fn secret(mut self, secret: Secret) -> Self {
        let key = (
            secret.metadata.namespace.clone().unwrap_or_default(),
            secret.metadata.name.clone().unwrap_or_default(),
        );
        self.script.secrets.insert(key, secret);
        self
    }

    /// The mocked CAMS answers these, in order, and refuses any further call.
    pub(super) fn cams_answers(mut self, answers: Vec<Result<Response, CamsError>>) -> Self {
        self.answers = answers;
        self
    }

    /// A real CAMS client instead of the mock.
    pub(super) fn cams_client(mut self, cams: Arc<dyn ChatGroupApi>) -> Self {
        self.cams = Some(cams);
        self
    }

    pub(super) fn endpoints(mut self, endpoints: EndpointPolicy) -> Self {
        self.endpoints = endpoints;
        self
    }

    pub(super) fn lend(mut self, lend: LendPolicy) -> Self {
        self.lend = lend;
        self
    }

    pub(super) fn operator_credentials(mut self, operator: OperatorCredentials) -> Self {
        self.operator = operator;
        self
    }

    pub(super) fn build(self) -> Harness {
        let (client, api) = FakeApi::start(self.script);
        let (cams, cams_calls): (Arc<dyn ChatGroupApi>, _) = match self.cams {
            Some(cams) => (cams, Arc::new(Mutex::new(Vec::new()))),
            None => {
                let (mock, calls) = scripted_cams(self.answers);
                (Arc::new(mock), calls)
            }
        };
        Harness::assemble(
            client,
            api,
            cams,
            cams_calls,
            (self.endpoints, self.lend, self.operator),
            self.api_timeout,
        )
    }
}

/// A reconciler context wired to a fake API server and a CAMS (mocked or real).
pub(super) struct Harness {
    pub(super) ctx: Arc<Context>,
    pub(super) api: FakeApi,
    cams_calls: Arc<Mutex<Vec<CamsCall>>>,
}

pub(super) fn default_endpoints() -> EndpointPolicy {
    EndpointPolicy::with_regions("ap-southeast-1", &["ap-southeast-1", "cn-hangzhou"], None)
        .unwrap()
}

impl Harness {
    pub(super) fn builder() -> HarnessBuilder {
        HarnessBuilder {
            script: ApiScript::default(),
            answers: Vec::new(),
            cams: None,
            endpoints: default_endpoints(),
            lend: LendPolicy::Nobody,
            operator: OperatorCredentials::none(),
            api_timeout: Duration::from_secs(5),
        }
    }

    fn assemble(
        client: Client,
        api: FakeApi,
        cams: Arc<dyn ChatGroupApi>,
        cams_calls: Arc<Mutex<Vec<CamsCall>>>,
        (endpoints, lend, operator_credentials): (EndpointPolicy, LendPolicy, OperatorCredentials),
        api_timeout: Duration,
    ) -> Self {
        let reporter = Reporter {
            controller: "cams-operator".into(),
            instance: Some("cams-operator-test-0".into()),
        };
        let ctx = Arc::new(Context {
            client,
            cams,
            endpoints,
            operator_credentials,
            lend,
            retry: RetryPolicy::default(),
            reporter,
            field_manager: FIELD_MANAGER.into(),
            api_timeout,
            caches: Default::default(),
            metrics: Default::default(),
            observe: crate::observe::ObserveSettings {
                interval: None,
                ..Default::default()
            },
            lister: Arc::new(NoLister),
            observer: Default::default(),
            create_timeout: Duration::from_secs(900),
            delete_timeout: Duration::from_secs(3600),
            invite_links: false,
            call_load: Default::default(),
            api_writes: Default::default(),
        });
        Self {
            ctx,
            api,
            cams_calls,
        }
    }

    /// Runs one reconcile; a Kubernetes error fails the test.
    pub(super) async fn reconcile(&self, obj: &ChatGroup) -> Requeue {
        self.try_reconcile(obj)
            .await
            .expect("reconcile returned an error")
    }

    pub(super) async fn try_reconcile(&self, obj: &ChatGroup) -> Result<Requeue, ReconcileError> {
        reconcile_object(Arc::new(obj.clone()), self.ctx.clone()).await
    }

    /// The calls the mocked CAMS received.
    pub(super) fn cams_calls(&self) -> Vec<CamsCall> {
        self.cams_calls.lock().unwrap().clone()
    }
}

/// A harness that knows the usual Secret and whose CAMS answers `answers`, in order.
pub(super) fn answering(answers: Vec<Result<Response, CamsError>>) -> Harness {
    Harness::builder()
        .secret(user_secret())
        .cams_answers(answers)
        .build()
}

/// A harness that knows the usual Secret and whose CAMS refuses any call.
pub(super) fn with_secret() -> Harness {
    Harness::builder().secret(user_secret()).build()
}

/// The object as the next reconcile would see it: with the status this reconcile wrote.
pub(super) fn with_status(obj: &ChatGroup, status: ChatGroupStatus) -> ChatGroup {
    ChatGroupBuilder::from(obj).status(Some(status)).build()
}

/// `obj` after a successful first apply (Alibaba's example answer), with the status that
/// apply wrote, as the API server would return it.
pub(super) async fn accepted(obj: &ChatGroup) -> ChatGroup {
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(obj).await;
    assert_eq!(h.cams_calls().len(), 1);
    with_status(obj, h.api.written_status())
}

// ---------------------------------------------------------------------------------------------
// Reading results

pub(super) fn condition<'a>(status: &'a ChatGroupStatus, type_: &str) -> &'a Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#?}"))
}

/// (status, reason) of a condition.
pub(super) fn cond(status: &ChatGroupStatus, type_: &str) -> (String, String) {
    let c = condition(status, type_);
    (c.status.clone(), c.reason.clone())
}

pub(super) fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// When the reconciler asked to be called again (`None`: only on a change).
pub(super) fn requeue_after(requeue: &Requeue) -> Option<Duration> {
    match requeue {
        Requeue::OnChange => None,
        Requeue::After(d) => Some(*d),
    }
}

/// Unit tests without observation never list groups.
struct NoLister;

#[async_trait::async_trait]
impl crate::observe::observer::GroupLister for NoLister {
    async fn list_page(
        &self,
        _key: &crate::observe::inventory::AccountKey,
        _credentials: &crate::cams::Credentials,
        _index: u32,
        _size: u32,
    ) -> Result<crate::observe::observer::ListedPage, crate::cams::CamsError> {
        panic!("a unit test without observation listed groups")
    }
}
