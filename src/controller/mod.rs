//! The ChatGroup controller: reconcile (decide, call CAMS, judge, write status, publish an
//! event) and the error policy. Kubernetes I/O lives here; the decisions live in
//! [`crate::plan`] and [`crate::status`], the table they apply in [`crate::outcome`].

mod caches;
mod create;
mod delete;
mod invite;
pub mod load;
mod metadata;
mod observation;
mod runner;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::time::Instant;
use tracing::{info, warn};

pub use caches::{Blocker, Caches, Freshness, Unwritten};
pub use observation::{ChatGroupObserver, Observation, ObserverSlot};
pub use runner::{run, WatchScope};

use crate::cams::{CamsError, ChatGroupApi, Credentials, EndpointPolicy, ErrorClass};
use crate::credentials::{
    credentials_from_secret, CredentialsError, LendPolicy, OperatorCredentials,
};
use crate::metrics::{ReconcileLabel, WriteResult};
use crate::observe::compare::{InSync, Verdict};
use crate::outcome::Row;
use crate::plan::{applied_hash, decide, update_request, Decision};
use crate::resource::{ChatGroup, ChatGroupStatus};
use crate::status::{
    judge, EventKind, Failure, JudgeInput, Judgement, Outcome, Requeue, RetryPolicy,
    MAX_DRIFT_CORRECTIONS,
};

/// How often a credentials-stalled object re-reads its Secret when Secrets are not watched
/// (cluster-wide mode): a rotation is noticed within this bound.
pub const SECRET_RECHECK: Duration = Duration::from_secs(60);

/// The longest wait between two tries of a status write that failed after a CAMS call.
const STATUS_WRITE_RETRY_CAP: Duration = Duration::from_secs(5);

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
    /// The metric label of this error.
    pub fn metric_label(&self) -> ReconcileLabel {
        match self {
            Self::Kube { .. } => ReconcileLabel::KubeError,
            Self::Timeout(_) => ReconcileLabel::KubeTimeout,
            Self::NoNamespace => ReconcileLabel::NoNamespace,
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// The CAMS client.
    pub cams: Arc<dyn ChatGroupApi>,
    /// Endpoint rules (for the applied hash).
    pub endpoints: EndpointPolicy,
    /// The operator's own credentials.
    pub operator_credentials: OperatorCredentials,
    /// Namespaces lent the operator's credentials.
    pub lend: LendPolicy,
    /// Per-object backoff settings.
    pub retry: RetryPolicy,
    /// Who publishes events (their reportingController and reportingInstance). Events are
    /// created directly: kube's recorder keeps every event it published for six minutes and
    /// scans them all on each publish, and reads each created Event back.
    pub reporter: Reporter,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Timeout for each Kubernetes API call.
    pub api_timeout: Duration,
    /// The watch caches and per-object memory (filled by [`run`]; empty in unit tests).
    pub caches: Caches,
    /// The operator's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How groups are observed.
    pub observe: crate::observe::ObserveSettings,
    /// Lists groups for the inventories.
    pub lister: Arc<dyn crate::observe::observer::GroupLister>,
    /// The current term's observer (set by [`run`]).
    pub observer: ObserverSlot,
    /// How long a created group may take to be listed before CreateUnconfirmed.
    pub create_timeout: Duration,
    /// How long DeleteChatGroup may keep failing before the group is orphaned.
    pub delete_timeout: Duration,
    /// Whether invite links may be managed (Secrets written).
    pub invite_links: bool,
    /// The UpdateChatGroup calls under way (scan re-queues slow down while there are any).
    pub call_load: load::CallLoad,
    /// Bounds the status writes and events sent at once.
    pub api_writes: load::ApiWrites,
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

/// Reconciles one ChatGroup (the controller's entry point).
pub async fn reconcile(obj: Arc<ChatGroup>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    reconcile_object(obj, ctx)
        .await
        .map(|requeue| match requeue {
            Requeue::OnChange => Action::await_change(),
            Requeue::After(d) => Action::requeue(d),
        })
}

/// Reconciles one ChatGroup and says when to look again; counts and logs the result.
pub async fn reconcile_object(
    obj: Arc<ChatGroup>,
    ctx: Arc<Context>,
) -> Result<Requeue, ReconcileError> {
    let object = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let generation = obj.metadata.generation;
    let started = std::time::Instant::now();
    // No span of our own: kube-runtime's "reconciling object" span already names the object,
    // and entering a second one on every poll cost measurable CPU at 10,000 objects.
    let result = reconcile_inner(obj, &ctx).await;
    let duration = started.elapsed();
    let duration_ms = duration.as_millis() as u64;
    match &result {
        Ok(done) => {
            ctx.metrics.reconciled(done.label, duration);
            // One line per reconcile that did something; no-ops only at debug level.
            if done.called || done.wrote {
                info!(object = %object, generation, outcome = done.label.as_str(), action = if done.called { "UpdateChatGroup" } else { "none" },
                    request_id = done.request_id.as_deref().unwrap_or(""), duration_ms, "reconciled");
            } else {
                tracing::debug!(object = %object, generation, outcome = done.label.as_str(), duration_ms, "reconciled");
            }
        }
        Err(e) => ctx.metrics.reconciled(e.metric_label(), duration),
    }
    result.map(|done| done.requeue)
}

/// What one reconcile did: for the metric, the log line and the requeue.
struct Summary {
    requeue: Requeue,
    label: ReconcileLabel,
    called: bool,
    wrote: bool,
    request_id: Option<String>,
}

impl Summary {
    /// A reconcile that neither called CAMS nor wrote status.
    fn idle(requeue: Requeue, label: ReconcileLabel) -> Self {
        Self {
            requeue,
            label,
            called: false,
            wrote: false,
            request_id: None,
        }
    }
}

async fn reconcile_inner(obj: Arc<ChatGroup>, ctx: &Context) -> Result<Summary, ReconcileError> {
    let namespace = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    let obj = match ctx.caches.freshness(&obj) {
        Freshness::Current => obj,
        // Our own write came back through the watch: nothing changed since the reconcile that
        // wrote it decided, so its decision stands (half the work of every change otherwise).
        Freshness::OwnWrite(requeue) => {
            return Ok(Summary::idle(requeue, ReconcileLabel::OwnWrite));
        }
        Freshness::Stale => match read_fresh(&obj, &namespace, ctx).await? {
            Some(fresh) => {
                ctx.caches.forget_write(&fresh);
                Arc::new(fresh)
            }
            None => return Ok(Summary::idle(Requeue::OnChange, ReconcileLabel::Gone)),
        },
    };
    if obj.metadata.deletion_timestamp.is_some() {
        return being_deleted(&obj, &namespace, ctx).await;
    }
    if let Some(unwritten) = ctx.caches.unwritten(&obj) {
        return record_unwritten(&obj, &namespace, unwritten, ctx).await;
    }
    let (outcome, desired_hash, credentials_version, mut observation) =
        match attempt(&obj, &namespace, ctx).await? {
            Attempt::Summary(done) => return Ok(done),
            Attempt::Outcome {
                outcome,
                desired_hash,
                credentials_version,
                observation,
            } => (outcome, desired_hash, credentials_version, observation),
        };
    let wrote_to_cams = matches!(
        outcome,
        Outcome::Accepted { .. } | Outcome::Corrected { .. }
    );
    if let Some(observation) = observation.as_mut().filter(|_| wrote_to_cams) {
        observation.after_write(&obj);
    }
    let mut judgement = judge(
        &obj,
        &outcome,
        &JudgeInput {
            desired_hash: &desired_hash,
            // After the call: a backoff counts from the failure, not from before a slow call.
            now: Utc::now(),
            jitter: rand::random::<f64>(),
            policy: ctx.retry,
            credentials_version,
            observation: observation.as_ref().map(|o| &o.verdict),
        },
    );
    if outcome.row() == Some(Row::Credentials) && !ctx.caches.watches_secrets() {
        judgement.requeue = cap(judgement.requeue, SECRET_RECHECK);
    }
    let label = outcome
        .row()
        .map_or(ReconcileLabel::UpToDate, ReconcileLabel::Row);
    let called = outcome.called();
    let request_id = called
        .then(|| judgement.status.request_id.clone())
        .flatten();
    let mut done = finish(&obj, &namespace, judgement, outcome.called(), ctx).await?;
    // After the status write is recorded, so that the scan's re-queue finds it.
    if let Some(observation) = &observation {
        let creating = matches!(
            outcome,
            Outcome::Creating { .. } | Outcome::InviteLink { called: true, .. }
        );
        await_scan(&obj, observation, wrote_to_cams || creating, ctx);
    }
    if done.label != ReconcileLabel::StatusNotRecorded {
        done.label = label;
    }
    done.called = called;
    done.request_id = request_id;
    Ok(done)
}

/// Writes the judged status (if it changed) and publishes the event. A write that fails
/// after a CAMS call keeps the judgement in memory, to be written again with backoff; the
/// call itself is not repeated.
async fn finish(
    obj: &ChatGroup,
    namespace: &str,
    judgement: Judgement,
    called: bool,
    ctx: &Context,
) -> Result<Summary, ReconcileError> {
    let wrote = obj.status.as_ref() != Some(&judgement.status);
    if wrote {
        if let Err(e) = write_status(obj, namespace, &judgement, ctx).await {
            if !called {
                return Err(e);
            }
            warn!(error = %e, "could not record the outcome of a CAMS call; writing it again with backoff");
            let unwritten = Unwritten {
                generation: obj.metadata.generation,
                token: obj.reconcile_token().map(String::from),
                judgement,
                attempts: 0,
                not_before: Instant::now(),
            };
            return Ok(status_write_failed(obj, unwritten, ctx));
        }
    }
    if let Some(event) = &judgement.event {
        publish(obj, event, ctx).await;
    }
    let mut done = Summary::idle(judgement.requeue, ReconcileLabel::UpToDate);
    done.wrote = wrote;
    Ok(done)
}

/// Schedules the next try of an unwritten status with the object's backoff.
fn status_write_failed(obj: &ChatGroup, mut unwritten: Unwritten, ctx: &Context) -> Summary {
    unwritten.attempts = unwritten.attempts.saturating_add(1);
    // Never sooner than the retry the judgement itself scheduled (x-acs-retry-after included).
    let retry_after = unwritten
        .judgement
        .status
        .retry
        .as_ref()
        .and_then(|r| crate::plan::parse_time(&r.next_retry_time))
        .and_then(|at| (at - Utc::now()).to_std().ok());
    // A failed write is a Kubernetes failure: back off as the error policy does at most
    // (an API server that comes back is written to within seconds), but never retry the
    // judged status before the retry it scheduled itself.
    let backoff = ctx
        .retry
        .delay(unwritten.attempts, rand::random::<f64>(), None)
        .min(STATUS_WRITE_RETRY_CAP);
    let delay = backoff.max(retry_after.unwrap_or_default());
    unwritten.not_before = Instant::now() + delay;
    ctx.caches.keep_unwritten(obj, unwritten);
    Summary::idle(Requeue::After(delay), ReconcileLabel::StatusNotRecorded)
}

/// Writes a status judged earlier whose write failed, instead of calling CAMS again.
async fn record_unwritten(
    obj: &ChatGroup,
    namespace: &str,
    unwritten: Unwritten,
    ctx: &Context,
) -> Result<Summary, ReconcileError> {
    let wait = unwritten
        .not_before
        .saturating_duration_since(Instant::now());
    if !wait.is_zero() {
        return Ok(Summary::idle(
            Requeue::After(wait),
            ReconcileLabel::StatusNotRecorded,
        ));
    }
    ctx.metrics.status_write_retried();
    if let Err(e) = write_status(obj, namespace, &unwritten.judgement, ctx).await {
        warn!(error = %e, attempts = unwritten.attempts, "still cannot record the outcome of a CAMS call");
        return Ok(status_write_failed(obj, unwritten, ctx));
    }
    ctx.caches.drop_unwritten(obj);
    // Scans that came meanwhile re-queued the object into this path; the next reconcile
    // must look at them, not take this write's echo as the last word.
    ctx.caches
        .outside_change(namespace, &kube::ResourceExt::name_any(obj));
    if let Some(event) = &unwritten.judgement.event {
        publish(obj, event, ctx).await;
    }
    // Look again soon: what observation waited for (a scan after the write) may have come and
    // gone while the status could not be written.
    let requeue = cap(unwritten.judgement.requeue, Duration::from_secs(1));
    let mut done = Summary::idle(requeue, ReconcileLabel::StatusRecorded);
    done.wrote = true;
    Ok(done)
}

/// A ChatGroup being deleted: its group is deleted or orphaned if it carries the finalizer.
async fn being_deleted(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<Summary, ReconcileError> {
    if !obj.has_delete_finalizer() {
        return Ok(Summary::idle(Requeue::OnChange, ReconcileLabel::Gone));
    }
    Ok(match delete::finalize(obj, namespace, ctx).await? {
        delete::Deleted::Released => Summary::idle(Requeue::OnChange, ReconcileLabel::Gone),
        delete::Deleted::Retry(requeue) => Summary::idle(requeue, ReconcileLabel::Waiting),
    })
}

/// After our own write, or while a change or drift waits to be seen, the object is
/// re-queued after the account's next complete scan (which the write forces, coalesced).
fn await_scan(obj: &ChatGroup, observation: &Observation, wrote: bool, ctx: &Context) {
    let (Some(observer), Some(key)) = (ctx.observer.get(), &observation.key) else {
        return;
    };
    if wrote || observation.awaits_scan() {
        observer.await_next_scan(key, observation::member_ref(obj));
    }
}

fn cap(requeue: Requeue, bound: Duration) -> Requeue {
    match requeue {
        Requeue::After(d) => Requeue::After(d.min(bound)),
        Requeue::OnChange => Requeue::After(bound),
    }
}

/// What deciding (and maybe calling) produced.
enum Attempt {
    /// Nothing to judge (waiting, awaiting a spec change).
    Summary(Summary),
    /// An outcome to judge.
    Outcome {
        outcome: Outcome,
        desired_hash: String,
        credentials_version: Option<String>,
        observation: Option<Box<Observation>>,
    },
}

/// Decides from the object's status and calls CAMS when a call is due.
async fn attempt(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<Attempt, ReconcileError> {
    if delete::wants_finalizer(obj) != obj.has_delete_finalizer() {
        // Before any write (added), or as soon as the policies say so (removed).
        delete::align_finalizer(obj, namespace, ctx).await?;
        return Ok(Attempt::Summary(Summary::idle(
            Requeue::After(Duration::from_secs(2)),
            ReconcileLabel::Waiting,
        )));
    }
    let endpoint = ctx.endpoints.resolve(obj.spec.region.as_deref());
    let observation = observation::observe(obj, namespace, endpoint.as_ref().ok(), ctx)
        .await?
        .map(Box::new);
    if let Some(outcome) = identity_mismatch(obj) {
        return Ok(Attempt::Outcome {
            outcome,
            desired_hash: String::new(),
            credentials_version: None,
            observation,
        });
    }
    let Some(group_id) = obj.group_id() else {
        return creating(obj, namespace, endpoint.err(), observation, ctx).await;
    };
    let request = update_request(&obj.spec, group_id);
    let desired_hash = match &endpoint {
        Ok(endpoint) => applied_hash(&request, endpoint),
        Err(_) => String::new(),
    };
    let manage = obj.spec.management_policy.is_manage();
    // Observe-only objects never block another nor are blocked: they never write.
    let blocker = (manage && !obj.is_paused())
        .then(|| ctx.caches.blocker(obj))
        .flatten();
    let verdict = observation.as_ref().map(|o| &o.verdict);
    let secret_version = secret_version(obj, namespace, ctx).await?;
    let now = Utc::now();
    let decision = decide(obj, &desired_hash, secret_version.as_deref(), now);
    let seen = seen_outcome(obj, verdict);
    let drift = (decision == Decision::UpToDate)
        .then(|| drift_outcome(obj, verdict, &desired_hash))
        .flatten();
    let outcome = match (decision, endpoint) {
        _ if blocker.is_some() => Outcome::Conflict {
            older: blocker.map(|b| b.describe_for(obj)).unwrap_or_default(),
        },
        (Decision::Paused, _) => Outcome::Paused,
        _ if seen.is_some() => seen.unwrap_or(Outcome::Observed),
        (Decision::UpToDate, Ok(_)) if drift.is_some() => match drift {
            Some(Drift::Correct(fields)) => {
                let (outcome, version) = call(obj, namespace, &request, &desired_hash, ctx).await?;
                let outcome = match outcome {
                    Outcome::Accepted { envelope, hash } => Outcome::Corrected {
                        envelope,
                        hash,
                        fields,
                    },
                    other => other,
                };
                return Ok(Attempt::Outcome {
                    outcome,
                    desired_hash,
                    credentials_version: version,
                    observation,
                });
            }
            Some(Drift::Persists(fields)) => Outcome::DriftPersists { fields },
            None => Outcome::UpToDate,
        },
        (Decision::UpToDate, _) => {
            match invite_link(obj, namespace, group_id, observation.as_deref(), ctx).await? {
                Some(outcome) => outcome,
                None => Outcome::UpToDate,
            }
        }
        (Decision::AwaitSpecChange, _) => {
            return Ok(Attempt::Summary(Summary::idle(
                Requeue::OnChange,
                ReconcileLabel::AwaitingSpecChange,
            )))
        }
        (Decision::WaitUntil(at), _) => {
            let mut wait =
                Requeue::After((at - now).to_std().unwrap_or_default() + Duration::from_millis(50));
            if !ctx.caches.watches_secrets() && is_credentials_stalled(obj) {
                wait = cap(wait, SECRET_RECHECK);
            }
            return Ok(Attempt::Summary(Summary::idle(
                wait,
                ReconcileLabel::Waiting,
            )));
        }
        (Decision::Apply, Err(e)) => failure_outcome(&e, false),
        (Decision::Apply, Ok(_)) => {
            let (outcome, version) = call(obj, namespace, &request, &desired_hash, ctx).await?;
            return Ok(Attempt::Outcome {
                outcome,
                desired_hash,
                credentials_version: version,
                observation,
            });
        }
    };
    Ok(Attempt::Outcome {
        outcome,
        desired_hash,
        credentials_version: None,
        observation,
    })
}

/// What `spec.inviteLink` needs, once the spec itself is applied and the group is listed.
async fn invite_link(
    obj: &ChatGroup,
    namespace: &str,
    group_id: &str,
    observation: Option<&Observation>,
    ctx: &Context,
) -> Result<Option<Outcome>, ReconcileError> {
    if obj.spec.invite_link.is_none() {
        return Ok(None);
    }
    let last_write = obj
        .status
        .as_ref()
        .and_then(|s| s.last_sync_time.as_deref())
        .and_then(crate::plan::parse_time);
    let row = observation.and_then(|o| match &o.view {
        crate::observe::compare::View::Data(crate::observe::inventory::Lookup::Seen(s))
            if o.verdict.active =>
        {
            // A row listed before our last write may not show the link that write made.
            let current = last_write.is_none_or(|at| s.last_seen >= at);
            Some((s.row.clone(), current))
        }
        _ => None,
    });
    match row {
        Some((row, true)) => invite::reconcile_link(obj, namespace, group_id, &row, ctx).await,
        // Without --invite-links nothing can be done whatever the group shows: say so.
        _ if !ctx.invite_links => {
            let row = crate::observe::inventory::GroupRow::default();
            invite::reconcile_link(obj, namespace, group_id, &row, ctx).await
        }
        _ => Ok(None),
    }
}

/// `spec.groupId` set after the operator created (and recorded) another group.
fn identity_mismatch(obj: &ChatGroup) -> Option<Outcome> {
    let spec = obj.spec.group_id.as_deref()?;
    let created = obj.annotation(crate::resource::GROUP_ID_ANNOTATION)?;
    (spec != created).then(|| Outcome::CreateStalled {
        row: Row::IdentityMismatch,
        message: format!(
            "spec.groupId {spec} differs from the group this ChatGroup created, {created} (annotation cams.dev/group-id). Set spec.groupId to {created}, or remove the annotation to manage {spec} instead (the group {created} is then left alone)"
        ),
    })
}

/// A Manage object without a GroupId: create its group, or keep finding it.
async fn creating(
    obj: &ChatGroup,
    namespace: &str,
    endpoint_error: Option<CamsError>,
    observation: Option<Box<Observation>>,
    ctx: &Context,
) -> Result<Attempt, ReconcileError> {
    let outcome = if obj.is_paused() {
        Outcome::Paused
    } else if let Some(e) = endpoint_error {
        failure_outcome(&e, false)
    } else {
        match create::create(obj, namespace, observation.as_deref(), ctx).await? {
            create::Step::Outcome(outcome) => outcome,
            create::Step::MetadataChanged => {
                return Ok(Attempt::Summary(Summary::idle(
                    Requeue::OnChange,
                    ReconcileLabel::Row(Row::Creating),
                )))
            }
            create::Step::Wait => {
                return Ok(Attempt::Summary(Summary::idle(
                    Requeue::After(Duration::from_secs(2)),
                    ReconcileLabel::Waiting,
                )))
            }
        }
    };
    Ok(Attempt::Outcome {
        outcome,
        desired_hash: String::new(),
        credentials_version: None,
        observation,
    })
}

/// The outcome observation alone decides, without a call: observe-only, a missing group, a
/// suspended one.
fn seen_outcome(obj: &ChatGroup, verdict: Option<&Verdict>) -> Option<Outcome> {
    if !obj.spec.management_policy.is_manage() {
        return Some(Outcome::Observed);
    }
    match &verdict?.in_sync {
        InSync::Missing => Some(Outcome::GroupMissing),
        InSync::Suspended(status) => Some(Outcome::GroupSuspended(status.clone())),
        _ => None,
    }
}

/// What to do about drift.
enum Drift {
    /// Send one UpdateChatGroup with the spec; these fields differ.
    Correct(Vec<String>),
    /// Enough corrections of this desired state did not hold.
    Persists(Vec<String>),
}

/// Drift seen in two consecutive scans outside the settle window, for a spec CAMS already
/// accepted: corrected, until corrections of this desired state stop being worth sending.
fn drift_outcome(obj: &ChatGroup, verdict: Option<&Verdict>, desired_hash: &str) -> Option<Drift> {
    let InSync::Drifted {
        fields,
        confirmed: true,
    } = &verdict?.in_sync
    else {
        return None;
    };
    let corrections = obj
        .status
        .as_ref()
        .and_then(|s| s.drift.as_ref())
        .filter(|d| d.desired_hash == desired_hash)
        .map_or(0, |d| d.corrections);
    Some(if corrections >= MAX_DRIFT_CORRECTIONS {
        Drift::Persists(fields.clone())
    } else {
        Drift::Correct(fields.clone())
    })
}

fn is_credentials_stalled(obj: &ChatGroup) -> bool {
    obj.status.as_ref().is_some_and(|s| {
        s.reason(crate::resource::ConditionType::Synced)
            == Some(Row::Credentials.spec().reason.as_str())
    })
}

/// The referenced Secret's resourceVersion: from the watch cache when Secrets are watched;
/// otherwise read (metadata only) for an object waiting on a credentials fix, and not at all
/// for the others.
async fn secret_version(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<Option<String>, ReconcileError> {
    let Some(reference) = &obj.spec.credentials_secret_ref else {
        return Ok(None);
    };
    if ctx.caches.watches_secrets() {
        return Ok(ctx.caches.secret_version(namespace, &reference.name));
    }
    // Only while a retry waits: a due retry reads the Secret itself.
    let waiting = obj.status.as_ref().is_some_and(|s| {
        s.retry
            .as_ref()
            .and_then(|r| crate::plan::parse_time(&r.next_retry_time))
            .is_some_and(|at| at > Utc::now())
    });
    if !(waiting && is_credentials_stalled(obj)) {
        return Ok(None);
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let meta = tokio::time::timeout(ctx.api_timeout, secrets.get_metadata_opt(&reference.name))
        .await
        .map_err(|_| ReconcileError::Timeout("re-reading the credentials Secret"))?
        .map_err(|source| ReconcileError::Kube {
            action: "re-reading the credentials Secret",
            source,
        })?;
    // A Secret that does not exist has no version; one that appears differs from that.
    Ok(Some(
        meta.and_then(|m| m.metadata.resource_version)
            .unwrap_or_default(),
    ))
}

/// Reads the credentials and calls UpdateChatGroup. Returns the outcome and the Secret's
/// resourceVersion read for it.
async fn call(
    obj: &ChatGroup,
    namespace: &str,
    request: &crate::cams::UpdateChatGroup,
    desired_hash: &str,
    ctx: &Context,
) -> Result<(Outcome, Option<String>), ReconcileError> {
    let mut version = None;
    let credentials = match credentials_for(obj, namespace, ctx, &mut version).await? {
        Ok(credentials) => credentials,
        Err(e) => {
            // No Secret at all is recorded as the empty version, so its creation is a change.
            let version = version.or_else(|| Some(String::new()));
            return Ok((credentials_failure(&e), version));
        }
    };
    let started = std::time::Instant::now();
    let counted = ctx.call_load.enter();
    let result = ctx
        .cams
        .update_chat_group(obj.spec.region.clone(), &credentials, request)
        .await;
    drop(counted);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let outcome = match result {
        Ok(response) => {
            tracing::debug!(elapsed_ms, "CAMS accepted UpdateChatGroup");
            Outcome::Accepted {
                envelope: response.envelope,
                hash: desired_hash.to_string(),
            }
        }
        Err(e) => {
            warn!(class = e.class().label(), error = %e, elapsed_ms, "UpdateChatGroup failed");
            failure_outcome(&e, e.may_have_reached_cams())
        }
    };
    Ok((outcome, version))
}

/// The outcome of credentials that could not be had (no call was made): a transient STS
/// failure is retried with backoff, anything else waits for the credentials to be fixed.
fn credentials_failure(e: &CredentialsError) -> Outcome {
    let class = match e {
        CredentialsError::Rrsa {
            transient: true, ..
        } => ErrorClass::Retryable,
        _ => ErrorClass::Credentials,
    };
    Outcome::Failed(Failure {
        class,
        message: e.to_string(),
        envelope: None,
        retry_after: None,
        called: false,
    })
}

/// The outcome of a client error; `called` says whether the request may have reached CAMS.
fn failure_outcome(e: &CamsError, called: bool) -> Outcome {
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
    Outcome::Failed(Failure {
        class: e.class(),
        message,
        envelope: e.envelope().cloned(),
        retry_after: e.retry_after(),
        called,
    })
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
    if let Some(watched) = ctx.caches.secret_version(namespace, &reference.name) {
        if let Some(credentials) = ctx.caches.credentials(namespace, &reference.name, &watched) {
            *version = Some(watched);
            return Ok(Ok(credentials));
        }
    }
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
        Some(secret) => {
            let read = credentials_from_secret(&secret);
            if let (Ok(credentials), Some(at)) = (&read, version.as_deref()) {
                ctx.caches
                    .keep_credentials(namespace, &reference.name, at, credentials);
            }
            read
        }
    })
}

/// Reads the object from the API server (the cache lags behind our own write).
async fn read_fresh(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<Option<ChatGroup>, ReconcileError> {
    let api: Api<ChatGroup> = Api::namespaced(ctx.client.clone(), namespace);
    let mut fresh = tokio::time::timeout(ctx.api_timeout, api.get_opt(&obj.name_any()))
        .await
        .map_err(|_| ReconcileError::Timeout("re-reading the ChatGroup"))?
        .map_err(|source| ReconcileError::Kube {
            action: "re-reading the ChatGroup",
            source,
        })?;
    if let Some(fresh) = fresh.as_mut() {
        strip_for_cache(fresh);
    }
    Ok(fresh)
}

async fn write_status(
    obj: &ChatGroup,
    namespace: &str,
    judgement: &Judgement,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let status: &ChatGroupStatus = &judgement.status;
    // Server-side apply with the whole status: a field this manager leaves out is removed.
    let patch = StatusApply {
        api_version: &ChatGroup::api_version(&()),
        kind: &ChatGroup::kind(&()),
        status,
    };
    let params = PatchParams::apply(&ctx.field_manager).force();
    let result = tokio::time::timeout(
        ctx.api_timeout,
        patch_status_metadata(ctx, namespace, &obj.name_any(), &params, &patch),
    )
    .await;
    match result {
        Err(_) => {
            ctx.metrics.status_write(WriteResult::Timeout);
            Err(ReconcileError::Timeout("writing status"))
        }
        Ok(Err(source)) => {
            ctx.metrics.status_write(WriteResult::Error);
            Err(ReconcileError::Kube {
                action: "writing status",
                source,
            })
        }
        Ok(Ok(written)) => {
            ctx.metrics.status_write(WriteResult::Ok);
            ctx.caches.record_write(
                obj,
                written.metadata.resource_version,
                status,
                judgement.requeue,
            );
            Ok(())
        }
    }
}

/// The server-side apply body of a status write, serialized straight from the status.
#[derive(serde::Serialize)]
struct StatusApply<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    status: &'a ChatGroupStatus,
}

/// Patches the status and reads back only the written object's metadata (kube's
/// `patch_status` reads the whole object): at 10,000 objects, parsing the answer was a third
/// of a status write's CPU.
async fn patch_status_metadata(
    ctx: &Context,
    namespace: &str,
    name: &str,
    params: &PatchParams,
    patch: &StatusApply<'_>,
) -> Result<PartialObjectMeta<ChatGroup>, kube::Error> {
    let url = ChatGroup::url_path(&(), Some(namespace));
    let request = kube::core::Request::new(url)
        .patch_subresource("status", name, params, &Patch::Apply(patch))
        .map_err(kube::Error::BuildRequest)?;
    metadata_only(ctx, request).await
}

/// Sends `request` asking the API server to answer with the object's metadata only, at most
/// [`load::API_WRITES`] at once.
async fn metadata_only<K>(
    ctx: &Context,
    mut request: http::Request<Vec<u8>>,
) -> Result<PartialObjectMeta<K>, kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let _turn = ctx.api_writes.turn().await;
    request.headers_mut().insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        ),
    );
    ctx.client.request::<PartialObjectMeta<K>>(request).await
}

/// Publishes an `events.k8s.io/v1` Event about `obj`, as kube's recorder would, without
/// reading the created Event back (only its metadata): every accepted call publishes one.
async fn publish(obj: &ChatGroup, event: &crate::status::EventSpec, ctx: &Context) {
    let namespace = obj.namespace().unwrap_or_default();
    let now = chrono::Utc::now();
    let body = KubeEvent {
        metadata: kube::api::ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                obj.name_any(),
                now.timestamp_nanos_opt().unwrap_or_default()
            )),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        action: Some("UpdateChatGroup".into()),
        reason: Some(event.reason.to_string()),
        note: Some(event.note.chars().take(1000).collect()),
        type_: Some(
            match event.kind {
                EventKind::Normal => "Normal",
                EventKind::Warning => "Warning",
            }
            .into(),
        ),
        event_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            k8s_openapi::jiff::Timestamp::from_nanosecond(
                now.timestamp_nanos_opt().unwrap_or_default().into(),
            )
            .unwrap_or_default(),
        )),
        regarding: Some(obj.object_ref(&())),
        reporting_controller: Some(ctx.reporter.controller.clone()),
        reporting_instance: Some(
            ctx.reporter
                .instance
                .clone()
                .unwrap_or_else(|| ctx.reporter.controller.clone()),
        ),
        ..Default::default()
    };
    let sent = async {
        let request = kube::core::Request::new(KubeEvent::url_path(&(), Some(&namespace)))
            .create(
                &kube::api::PostParams::default(),
                serde_json::to_vec(&body).map_err(kube::Error::SerdeError)?,
            )
            .map_err(kube::Error::BuildRequest)?;
        metadata_only::<KubeEvent>(ctx, request).await
    };
    match tokio::time::timeout(ctx.api_timeout, sent).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!(error = %e, "could not publish event"),
        Err(_) => warn!("publishing an event timed out"),
    }
}

/// Requeues after a Kubernetes failure. CAMS failures never get here.
pub fn error_policy(_obj: Arc<ChatGroup>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    warn!(error = %error, label = error.metric_label().as_str(), "reconcile failed; retrying");
    Action::requeue(error_retry_delay())
}

/// 10 to 15 s after a Kubernetes failure (jittered, so a brief API-server outage does not
/// bring every object back at once).
fn error_retry_delay() -> Duration {
    Duration::from_secs(10) + Duration::from_millis(rand::random::<u64>() % 5000)
}

#[cfg(test)]
mod tests;
