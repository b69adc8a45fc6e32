//! The ChatGroup controller: reconcile (decide, call CAMS, judge, write status, publish an
//! event) and the error policy. Kubernetes I/O lives here; the decisions live in
//! [`crate::plan`] and [`crate::status`].

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use crate::cams::{CamsError, ChatGroupApi, Credentials, EndpointPolicy, ErrorClass};
use crate::credentials::{
    credentials_from_secret, CredentialsError, LendPolicy, OperatorCredentials,
};
use crate::plan::{applied_hash, decide, update_request, Decision};
use crate::resource::ChatGroup;
use crate::status::{judge, EventKind, JudgeInput, Outcome, Requeue, RetryPolicy};
use crate::watch_backoff::WatchBackoff;

/// Errors that end a reconcile early: Kubernetes API failures. CAMS outcomes are not errors
/// here; they are recorded in status.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error while {action}: {source}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// A Kubernetes API call did not finish in time.
    #[error("Kubernetes API call timed out while {0}")]
    Timeout(&'static str),
    /// The object has no namespace (cannot happen for a namespaced kind).
    #[error("object has no namespace")]
    NoNamespace,
}

impl ReconcileError {
    /// A metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube_error",
            Self::Timeout(_) => "kube_timeout",
            Self::NoNamespace => "no_namespace",
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// CAMS.
    pub cams: Arc<dyn ChatGroupApi>,
    /// Endpoint rules (for the applied hash).
    pub endpoints: EndpointPolicy,
    /// The operator's own credentials.
    pub operator_credentials: OperatorCredentials,
    /// Namespaces lent the operator's credentials.
    pub lend: LendPolicy,
    /// Backoff.
    pub retry: RetryPolicy,
    /// Who publishes events. Each event gets a fresh [`Recorder`]: kube's keeps every event
    /// it published for six minutes (to count repeats of the same object version, which this
    /// operator never sends) and scans them all on each publish; at 10,000 objects that was
    /// tens of MiB and a lock every reconcile waited on.
    pub reporter: Reporter,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Timeout for each Kubernetes API call.
    pub api_timeout: Duration,
    /// The watch caches (filled by [`run`]; empty in unit tests).
    pub caches: Caches,
    /// Metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The controller's watch caches, read by reconciles: ChatGroups (to find two that name the
/// same group) and Secrets' metadata (to notice a changed credentials Secret).
#[derive(Default)]
pub struct Caches {
    chatgroups: std::sync::RwLock<Vec<Store<ChatGroup>>>,
    secrets: std::sync::RwLock<Vec<Store<PartialObjectMeta<Secret>>>>,
    /// Per object (namespace, name): the resourceVersion it had when this process last wrote
    /// its status, and the one the write returned.
    writes: std::sync::Mutex<std::collections::HashMap<(String, String), (String, String)>>,
    /// ChatGroups by the group they name, so that looking for a conflict does not scan every
    /// cached object (at 10,000 objects that scan was most of a reconcile's CPU). Kept from
    /// the watch; it may hold stale entries, so what it names is read from the stores.
    by_group: std::sync::RwLock<std::collections::HashMap<u64, Vec<ObjectRef<ChatGroup>>>>,
}

/// A hash of the group a ChatGroup names (custSpaceId, businessNumber, groupId); objects
/// whose hashes collide are told apart by their specs.
fn group_key(obj: &ChatGroup) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (
        &obj.spec.cust_space_id,
        &obj.spec.business_number,
        &obj.spec.group_id,
    )
        .hash(&mut hasher);
    hasher.finish()
}

fn object_key(obj: &ChatGroup) -> ObjectRef<ChatGroup> {
    let key = ObjectRef::new(&obj.name_any());
    match obj.namespace() {
        Some(ns) => key.within(&ns),
        None => key,
    }
}

/// Drops what reconciles never read from a cached ChatGroup, most of an object's memory (the
/// cache holds every object): managedFields, labels (selectors run in the API server) and
/// every annotation but `cams.dev/…` (kubectl's last-applied copy among them).
fn strip_for_cache(obj: &mut ChatGroup) {
    obj.metadata.managed_fields = None;
    obj.metadata.labels = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with("cams.dev/"));
        if annotations.is_empty() {
            obj.metadata.annotations = None;
        }
    }
}

impl Caches {
    /// Whether `obj` is the copy this process last wrote the status of, from before that
    /// write: the watch has not delivered the write yet, so deciding from it would repeat
    /// the call just made (a second trigger, such as a Secret event, can start a reconcile
    /// right after the previous one ended).
    fn predates_own_write(&self, obj: &ChatGroup) -> bool {
        let Ok(mut writes) = self.writes.lock() else {
            return false;
        };
        let key = (obj.namespace().unwrap_or_default(), obj.name_any());
        let Some((before, after)) = writes.get(&key) else {
            return false;
        };
        let current = obj.metadata.resource_version.as_deref();
        if current == Some(before.as_str()) && before != after {
            return true;
        }
        // The cache caught up (or someone else wrote): forget the write.
        writes.remove(&key);
        false
    }

    /// Records a status write: `obj` as it was before, `written` the resourceVersion after.
    fn record_write(&self, obj: &ChatGroup, written: Option<String>) {
        let (Some(before), Some(after)) = (obj.metadata.resource_version.clone(), written) else {
            return;
        };
        if let Ok(mut writes) = self.writes.lock() {
            writes.insert(
                (obj.namespace().unwrap_or_default(), obj.name_any()),
                (before, after),
            );
        }
    }

    fn clear(&self) {
        if let Ok(mut list) = self.chatgroups.write() {
            list.clear();
        }
        if let Ok(mut list) = self.secrets.write() {
            list.clear();
        }
        if let Ok(mut index) = self.by_group.write() {
            index.clear();
        }
    }

    fn add(&self, chatgroups: Store<ChatGroup>, secrets: Store<PartialObjectMeta<Secret>>) {
        for obj in chatgroups.state() {
            self.index(&obj);
        }
        if let Ok(mut list) = self.chatgroups.write() {
            list.push(chatgroups);
        }
        if let Ok(mut list) = self.secrets.write() {
            list.push(secrets);
        }
    }

    /// The resourceVersion of a Secret, if the cache has it.
    fn secret_version(&self, namespace: &str, name: &str) -> Option<String> {
        let key = ObjectRef::<PartialObjectMeta<Secret>>::new(name).within(namespace);
        let stores = self.secrets.read().ok()?;
        stores
            .iter()
            .find_map(|s| s.get(&key))
            .and_then(|s| s.metadata.resource_version.clone())
    }

    /// Keeps the group index current from the ChatGroup watch.
    fn index_event(&self, event: &watcher::Event<ChatGroup>) {
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => self.index(obj),
            watcher::Event::Delete(obj) => {
                let key = object_key(obj);
                if let Ok(mut index) = self.by_group.write() {
                    if let Some(refs) = index.get_mut(&group_key(obj)) {
                        refs.retain(|r| *r != key);
                        if refs.is_empty() {
                            index.remove(&group_key(obj));
                        }
                    }
                }
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    fn index(&self, obj: &ChatGroup) {
        let key = object_key(obj);
        if let Ok(mut index) = self.by_group.write() {
            match index.entry(group_key(obj)) {
                std::collections::hash_map::Entry::Occupied(mut refs) => {
                    if !refs.get().contains(&key) {
                        refs.get_mut().push(key);
                    }
                }
                // Almost every group has one ChatGroup: no spare capacity.
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(vec![key]);
                }
            }
        }
    }

    /// The oldest other ChatGroup naming the same group as `obj`, if it is older than `obj`.
    fn older_conflict(&self, obj: &ChatGroup) -> Option<String> {
        let stores = self.chatgroups.read().ok()?;
        // Only the objects indexed under this group, as the stores have them now.
        let candidates: Vec<Arc<ChatGroup>> = self
            .by_group
            .read()
            .ok()?
            .get(&group_key(obj))?
            .iter()
            .filter_map(|r| stores.iter().find_map(|s| s.get(r)))
            .collect();
        let rank = |o: &ChatGroup| {
            (
                o.metadata.creation_timestamp.clone().map(|t| t.0),
                o.namespace().unwrap_or_default(),
                o.name_any(),
            )
        };
        let mine = rank(obj);
        candidates
            .into_iter()
            .filter(|o| {
                o.spec.cust_space_id == obj.spec.cust_space_id
                    && o.spec.business_number == obj.spec.business_number
                    && o.spec.group_id == obj.spec.group_id
                    && o.metadata.deletion_timestamp.is_none()
                    && rank(o) != mine
            })
            .map(|o| rank(&o))
            .filter(|r| *r < mine)
            .min()
            .map(|(_, ns, name)| format!("{ns}/{name}"))
    }
}

/// Reconciles one ChatGroup.
pub async fn reconcile(obj: Arc<ChatGroup>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let object = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let generation = obj.metadata.generation;
    let span = tracing::info_span!("reconcile", object = %object, generation);
    let started = std::time::Instant::now();
    let result = reconcile_inner(obj, ctx.clone()).instrument(span).await;
    let duration = started.elapsed();
    let duration_ms = duration.as_millis() as u64;
    match &result {
        Ok(done) => {
            ctx.metrics.reconciled(done.outcome, duration);
            // One line per reconcile that did something; no-ops only at debug level.
            if done.called || done.wrote {
                info!(object = %object, generation, outcome = done.outcome, action = if done.called { "UpdateChatGroup" } else { "none" },
                    request_id = done.request_id.as_deref().unwrap_or(""), duration_ms, "reconciled");
            } else {
                tracing::debug!(object = %object, generation, outcome = done.outcome, duration_ms, "reconciled");
            }
        }
        Err(e) => ctx.metrics.reconciled(e.metric_label(), duration),
    }
    result.map(|done| done.action)
}

/// What one reconcile did.
struct Done {
    action: Action,
    outcome: &'static str,
    called: bool,
    wrote: bool,
    request_id: Option<String>,
}

impl Done {
    fn nothing(action: Action, outcome: &'static str) -> Self {
        Self {
            action,
            outcome,
            called: false,
            wrote: false,
            request_id: None,
        }
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted { .. } => "accepted",
        Outcome::UpToDate => "up_to_date",
        Outcome::Paused => "paused",
        Outcome::Conflict { .. } => "conflict",
        Outcome::Failed { class, .. } => class.label(),
    }
}

async fn reconcile_inner(obj: Arc<ChatGroup>, ctx: Arc<Context>) -> Result<Done, ReconcileError> {
    let namespace = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    if ctx.caches.predates_own_write(&obj) {
        // The watch event of that write follows and reconciles the current version.
        return Ok(Done::nothing(
            Action::requeue(Duration::from_secs(1)),
            "stale_cache",
        ));
    }
    let now = Utc::now();
    let request = update_request(&obj.spec);
    let endpoint = ctx.endpoints.resolve(obj.spec.region.as_deref());
    let desired_hash = match &endpoint {
        Ok(endpoint) => applied_hash(&request, endpoint),
        Err(_) => String::new(),
    };

    let secret_version = obj
        .spec
        .credentials_secret_ref
        .as_ref()
        .and_then(|r| ctx.caches.secret_version(&namespace, &r.name));
    let conflict = if obj.is_paused() {
        None
    } else {
        ctx.caches.older_conflict(&obj)
    };
    let mut credentials_version = None;

    let outcome = match (
        decide(&obj, &desired_hash, secret_version.as_deref(), now),
        endpoint,
    ) {
        _ if conflict.is_some() => Outcome::Conflict {
            older: conflict.unwrap_or_default(),
        },
        (Decision::Paused, _) => Outcome::Paused,
        (Decision::UpToDate, _) => Outcome::UpToDate,
        (Decision::AwaitSpecChange, _) => {
            return Ok(Done::nothing(
                Action::await_change(),
                "awaiting_spec_change",
            ))
        }
        (Decision::WaitUntil(at), _) => {
            let wait = (at - now).to_std().unwrap_or_default();
            return Ok(Done::nothing(
                Action::requeue(wait + Duration::from_millis(50)),
                "waiting",
            ));
        }
        (Decision::Apply, Err(e)) => failed(&e, false),
        (Decision::Apply, Ok(_)) => {
            match credentials_for(&obj, &namespace, &ctx, &mut credentials_version).await? {
                Err(e) => Outcome::Failed {
                    class: match e {
                        CredentialsError::Rrsa {
                            transient: true, ..
                        } => ErrorClass::Retryable,
                        _ => ErrorClass::Credentials,
                    },
                    message: e.to_string(),
                    envelope: None,
                    retry_after: None,
                    called: false,
                },
                Ok(credentials) => {
                    let started = std::time::Instant::now();
                    let result = ctx
                        .cams
                        .update_chat_group(obj.spec.region.clone(), &credentials, &request)
                        .await;
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    match result {
                        Ok(response) => {
                            tracing::debug!(elapsed_ms, "CAMS accepted UpdateChatGroup");
                            Outcome::Accepted {
                                envelope: response.envelope,
                                hash: desired_hash.clone(),
                            }
                        }
                        Err(e) => {
                            warn!(class = e.class().label(), error = %e, elapsed_ms, "UpdateChatGroup failed");
                            failed(&e, true)
                        }
                    }
                }
            }
        }
    };

    let judgement = judge(
        &obj,
        &outcome,
        &JudgeInput {
            desired_hash: &desired_hash,
            // After the call: a backoff counts from the failure, not from before a slow call.
            now: Utc::now(),
            jitter: rand::random::<f64>(),
            policy: ctx.retry,
            credentials_version,
        },
    );
    let wrote = obj.status.as_ref() != Some(&judgement.status);
    if wrote {
        write_status(&obj, &namespace, &judgement.status, &ctx).await?;
    }
    if let Some(event) = &judgement.event {
        publish(&obj, event, &ctx).await;
    }
    let called = matches!(
        outcome,
        Outcome::Accepted { .. } | Outcome::Failed { called: true, .. }
    );
    Ok(Done {
        action: match judgement.requeue {
            Requeue::OnChange => Action::await_change(),
            Requeue::After(d) => Action::requeue(d),
        },
        outcome: outcome_label(&outcome),
        called,
        wrote,
        request_id: if called {
            judgement.status.request_id.clone()
        } else {
            None
        },
    })
}

fn failed(e: &CamsError, called: bool) -> Outcome {
    let mut message = e.to_string();
    if e.class() == ErrorClass::Freshness {
        message = match e.server_date() {
            Some(server) => format!(
                "{message} (after one retry with a fresh nonce and timestamp); the operator's clock differs from CAMS's by {}s",
                (Utc::now() - server).num_seconds()
            ),
            None => format!("{message} (after one retry with a fresh nonce and timestamp)"),
        };
    }
    Outcome::Failed {
        class: e.class(),
        message,
        envelope: e.envelope().cloned(),
        retry_after: e.retry_after(),
        called,
    }
}

/// The credentials for this object: its Secret, or the operator's own if lent. The outer
/// error is a Kubernetes failure (retried by the error policy); the inner one a credentials
/// outcome.
async fn credentials_for(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
    version: &mut Option<String>,
) -> Result<Result<Credentials, CredentialsError>, ReconcileError> {
    let Some(reference) = &obj.spec.credentials_secret_ref else {
        if !ctx.lend.allows(namespace) {
            return Ok(Err(CredentialsError::NotLent {
                namespace: namespace.to_string(),
            }));
        }
        return Ok(match ctx.operator_credentials.current().await {
            Ok(Some(credentials)) => Ok(credentials),
            Ok(None) => Err(CredentialsError::NoOperatorCredentials),
            Err(e) => Err(CredentialsError::Rrsa {
                message: e.to_string(),
                transient: e.is_transient(),
            }),
        });
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let got = tokio::time::timeout(ctx.api_timeout, secrets.get_opt(&reference.name))
        .await
        .map_err(|_| ReconcileError::Timeout("reading the credentials Secret"))?
        .map_err(|source| ReconcileError::Kube {
            action: "reading the credentials Secret",
            source,
        })?;
    *version = got
        .as_ref()
        .and_then(|s| s.metadata.resource_version.clone());
    Ok(match got {
        None => Err(CredentialsError::SecretNotFound {
            namespace: namespace.to_string(),
            name: reference.name.clone(),
        }),
        Some(secret) => credentials_from_secret(&secret),
    })
}

async fn write_status(
    obj: &ChatGroup,
    namespace: &str,
    status: &crate::resource::ChatGroupStatus,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let api: Api<ChatGroup> = Api::namespaced(ctx.client.clone(), namespace);
    // Server-side apply with the whole status: a field this manager leaves out is removed.
    let patch = json!({
        "apiVersion": ChatGroup::api_version(&()),
        "kind": ChatGroup::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(&ctx.field_manager).force();
    let result = tokio::time::timeout(
        ctx.api_timeout,
        api.patch_status(&obj.name_any(), &params, &Patch::Apply(&patch)),
    )
    .await;
    match result {
        Err(_) => {
            ctx.metrics.status_write("timeout");
            return Err(ReconcileError::Timeout("writing status"));
        }
        Ok(Err(source)) => {
            ctx.metrics.status_write("error");
            return Err(ReconcileError::Kube {
                action: "writing status",
                source,
            });
        }
        Ok(Ok(written)) => {
            ctx.metrics.status_write("ok");
            ctx.caches
                .record_write(obj, written.metadata.resource_version);
        }
    }
    Ok(())
}

async fn publish(obj: &ChatGroup, event: &crate::status::EventSpec, ctx: &Context) {
    let ev = Event {
        type_: match event.kind {
            EventKind::Normal => EventType::Normal,
            EventKind::Warning => EventType::Warning,
        },
        reason: event.reason.to_string(),
        note: Some(event.note.chars().take(1000).collect()),
        action: "UpdateChatGroup".into(),
        secondary: None,
    };
    let reference = obj.object_ref(&());
    match tokio::time::timeout(
        ctx.api_timeout,
        Recorder::new(ctx.client.clone(), ctx.reporter.clone()).publish(&ev, &reference),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "could not publish event"),
        Err(_) => warn!("publishing an event timed out"),
    }
}

/// Requeues after a Kubernetes failure. CAMS failures never get here.
pub fn error_policy(_obj: Arc<ChatGroup>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    warn!(error = %error, label = error.metric_label(), "reconcile failed; retrying");
    let jitter = Duration::from_millis(rand::random::<u64>() % 5000);
    Action::requeue(Duration::from_secs(10) + jitter)
}

/// Which ChatGroups to watch.
#[derive(Clone, Debug, Default)]
pub struct WatchScope {
    /// Namespaces; empty means all.
    pub namespaces: Vec<String>,
    /// Label selector, if any.
    pub label_selector: Option<String>,
}

/// Runs the controller until `shutdown` is cancelled; in-flight reconciles then get
/// `grace` to finish.
pub async fn run(
    ctx: Arc<Context>,
    scope: WatchScope,
    concurrency: u16,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let mut watcher_config = watcher::Config::default();
    if let Some(selector) = &scope.label_selector {
        watcher_config = watcher_config.labels(selector);
    }
    // A new leadership term starts with fresh caches.
    ctx.caches.clear();
    let namespaces: Vec<Option<String>> = if scope.namespaces.is_empty() {
        vec![None]
    } else {
        scope.namespaces.iter().cloned().map(Some).collect()
    };
    // How many ChatGroup watches finished their first list. Readiness waits on this, not on
    // Store::wait_until_ready: kube's store wakes only the last of several waiters, and the
    // controller itself waits on it too.
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(0usize);
    let controllers = namespaces.into_iter().map(|ns| {
        let ctx = ctx.clone();
        let synced = synced_tx.clone();
        let mut first_list = true;
        let watcher_config = watcher_config.clone();
        let shutdown = shutdown.clone();
        let (chatgroups, secrets): (Api<ChatGroup>, Api<PartialObjectMeta<Secret>>) = match &ns {
            Some(ns) => (
                Api::namespaced(ctx.client.clone(), ns),
                Api::namespaced(ctx.client.clone(), ns),
            ),
            None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
        };
        // What Controller::new builds, plus: cached objects lose what reconciles never read,
        // and the group index follows the watch.
        let (chatgroup_store, writer) = reflector::store();
        let indexer = ctx.clone();
        let chatgroup_events = watcher(chatgroups, watcher_config)
            .modify(strip_for_cache)
            .reflect(writer)
            .inspect_ok(move |event| {
                indexer.caches.index_event(event);
                if first_list && matches!(event, watcher::Event::InitDone) {
                    first_list = false;
                    synced.send_modify(|n| *n += 1);
                }
            })
            .applied_objects();
        let controller = Controller::for_stream(chatgroup_events, chatgroup_store.clone())
            .with_config(ControllerConfig::default().concurrency(concurrency))
            .trigger_backoff(WatchBackoff::default());
        // Secrets: metadata only (never their data) in the cache, and of that only what
        // identifies a version (kubectl's last-applied annotation of a Secret holds its data);
        // a change re-queues the ChatGroups that reference the Secret.
        let (secret_store, writer) = reflector::store();
        let secret_events = reflector::reflector(
            writer,
            watcher(secrets, watcher::Config::default())
                .backoff(WatchBackoff::default())
                .modify(|secret: &mut PartialObjectMeta<Secret>| {
                    secret.metadata.managed_fields = None;
                    secret.metadata.annotations = None;
                    secret.metadata.labels = None;
                }),
        )
        .touched_objects();
        ctx.caches.add(chatgroup_store.clone(), secret_store);
        let dependants = chatgroup_store.clone();
        async move {
            controller
                .watches_stream(secret_events, move |secret: PartialObjectMeta<Secret>| {
                    let ns = secret.namespace();
                    let name = secret.name_any();
                    dependants
                        .state()
                        .into_iter()
                        .filter(|cg| {
                            cg.namespace() == ns
                                && cg
                                    .spec
                                    .credentials_secret_ref
                                    .as_ref()
                                    .is_some_and(|r| r.name == name)
                        })
                        .map(|cg| ObjectRef::from_obj(&*cg))
                        .collect::<Vec<_>>()
                })
                .graceful_shutdown_on(async move { shutdown.cancelled_owned().await })
                .run(reconcile, error_policy, ctx)
                .for_each(|result| async move {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "controller event");
                    }
                })
                .await;
        }
    });
    // The map is lazy: build the controllers (they register their stores) before reading
    // the stores below.
    let controllers: Vec<_> = controllers.collect();
    let stores: Vec<Store<ChatGroup>> = ctx
        .caches
        .chatgroups
        .read()
        .map(|s| s.clone())
        .unwrap_or_default();
    let watch_state = {
        let metrics = ctx.metrics.clone();
        let shutdown = shutdown.clone();
        let mut synced = synced_rx;
        let watches = stores.len();
        async move {
            if synced.wait_for(|n| *n >= watches).await.is_err() {
                return;
            }
            metrics.set_ready(true);
            tracing::info!("caches synced; ready");
            // Object-state gauges, recomputed from the cache (no per-object labels).
            loop {
                let mut counts = std::collections::BTreeMap::<(&str, &str), i64>::new();
                for cond in ["Ready", "Synced"] {
                    for status in ["True", "False", "Unknown"] {
                        counts.insert((cond, status), 0);
                    }
                }
                for obj in stores.iter().flat_map(|s| s.state()) {
                    for cond in ["Ready", "Synced"] {
                        let status = obj
                            .status
                            .as_ref()
                            .and_then(|s| s.conditions.iter().find(|c| c.type_ == cond))
                            .map(|c| if c.status == "True" { "True" } else { "False" })
                            .unwrap_or("Unknown");
                        *counts.entry((cond, status)).or_default() += 1;
                    }
                }
                metrics.set_objects(&counts.into_iter().collect::<Vec<_>>());
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    };
    tokio::spawn(watch_state);
    let all = futures::future::join_all(controllers);
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => {}
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            warn!(grace_secs = grace.as_secs(), "in-flight reconciles did not finish within the shutdown grace period");
        }
    }
}

#[cfg(test)]
mod tests;
