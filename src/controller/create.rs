//! Creating a group for a ChatGroup without a GroupId, without ever making two: the subject
//! is checked against the account's inventory, `cams.dev/create-pending` is written (with a
//! resourceVersion precondition) before AddChatGroup is sent, AddChatGroup is never sent again
//! on its own once it may have reached CAMS, and the new group is found in the inventory and
//! recorded in `cams.dev/group-id`.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use serde_json::json;

use super::metadata::{patch_metadata, PatchResult};
use super::observation::Observation;
use super::{
    credentials_failure, credentials_for, failure_outcome, publish, Context, ReconcileError,
};
use crate::cams::{AddChatGroup, CamsError, ErrorClass};
use crate::observe::compare::View;
use crate::outcome::Row;
use crate::resource::{
    ChatGroup, CREATE_PENDING_ANNOTATION, DELETE_FINALIZER, GROUP_ID_ANNOTATION,
};
use crate::status::{EventKind, EventSpec, Outcome};

/// What creating did in this reconcile.
pub(super) enum Step {
    /// An outcome to judge and record.
    Outcome(Outcome),
    /// The object's metadata was changed (the group found, or a failed create withdrawn):
    /// its watch event brings the next reconcile.
    MetadataChanged,
    /// Nothing to record yet (waiting for the first scan, or a write lost a race).
    Wait,
}

/// Creates, or keeps finding, the group of `obj` (Manage, no GroupId).
pub(super) async fn create(
    obj: &ChatGroup,
    namespace: &str,
    observation: Option<&Observation>,
    ctx: &Context,
) -> Result<Step, ReconcileError> {
    let subject = obj.spec.subject.as_deref().map(str::trim).unwrap_or("");
    let (Some(observer), Some(key)) = (ctx.observer.get(), observation.and_then(|o| o.key.clone()))
    else {
        return Ok(no_inventory(observation));
    };
    let listed = match observer.with_subject(&key, subject).map_err(|v| *v) {
        Ok(listed) => listed,
        Err(View::Pending) => return Ok(Step::Wait),
        Err(View::Disabled) => return Ok(no_inventory(observation)),
        Err(view) => {
            return Ok(Step::Outcome(Outcome::Creating {
                message: format!(
                    "waiting for a complete ListChatGroup scan before creating: {view:?}"
                ),
                envelope: None,
                unique_code: None,
            }))
        }
    };
    let claimed = ctx
        .caches
        .claimed_groups(&obj.spec.cust_space_id, &obj.spec.business_number);
    let unclaimed: Vec<(String, DateTime<Utc>)> = listed
        .into_iter()
        .filter(|(row, _)| !claimed.contains(&row.group_id))
        .map(|(row, first)| (row.group_id, first))
        .collect();
    if let Some(pending) = obj.create_pending() {
        return find(obj, namespace, pending, &unclaimed, &key, ctx).await;
    }
    // First the reservation: a group another ChatGroup is creating with this subject is
    // listed (unclaimed) before that object records it, and is not ours to adopt.
    if let Some(other) = ctx.caches.subject_reserved_by(obj, subject) {
        return Ok(Step::Outcome(Outcome::Creating {
            message: format!(
                "waiting: {} is creating a group with this subject first",
                other.describe_for(obj)
            ),
            envelope: None,
            unique_code: None,
        }));
    }
    if !unclaimed.is_empty() && !obj.allows_duplicate_subject() {
        return Ok(Step::Outcome(adoption_required(subject, &unclaimed)));
    }
    start(obj, namespace, ctx).await
}

/// Without a usable inventory a create could never be confirmed: none is started.
fn no_inventory(observation: Option<&Observation>) -> Step {
    let why = match observation.map(|o| &o.view) {
        Some(View::Unavailable(why)) => why.clone(),
        _ => "observation is off (--observe-interval 0)".to_string(),
    };
    Step::Outcome(Outcome::Failed(crate::status::Failure {
        class: ErrorClass::Configuration,
        message: format!(
            "creating a group (no spec.groupId) needs the account's ListChatGroup inventory to find the new group: {why}; set spec.groupId to manage an existing group"
        ),
        envelope: None,
        retry_after: None,
        called: false,
    }))
}

fn adoption_required(subject: &str, unclaimed: &[(String, DateTime<Utc>)]) -> Outcome {
    let ids: Vec<&str> = unclaimed.iter().map(|(id, _)| id.as_str()).collect();
    Outcome::CreateStalled {
        row: Row::AdoptionRequired,
        message: format!(
            "a group with subject {subject:?} already exists and no ChatGroup claims it: {}. To manage it, set spec.groupId to {}; to create another group with the same subject anyway, set the annotation cams.dev/allow-duplicate-subject: \"true\"",
            ids.join(", "),
            ids[0]
        ),
    }
}

/// Writes `cams.dev/create-pending` (and the finalizer of `deletionPolicy: Delete`) with a
/// resourceVersion precondition, then sends AddChatGroup once.
async fn start(obj: &ChatGroup, namespace: &str, ctx: &Context) -> Result<Step, ReconcileError> {
    let mut version = None;
    let credentials = match credentials_for(obj, namespace, ctx, &mut version).await? {
        Ok(credentials) => credentials,
        Err(e) => return Ok(Step::Outcome(credentials_failure(&e))),
    };
    let now = crate::status::rfc3339(Utc::now());
    let mut metadata = json!({"annotations": {CREATE_PENDING_ANNOTATION: now}});
    if !obj.spec.deletion_policy.is_orphan() && !obj.has_delete_finalizer() {
        let mut finalizers = obj.finalizers().to_vec();
        finalizers.push(DELETE_FINALIZER.to_string());
        metadata["finalizers"] = json!(finalizers);
    }
    // The precondition: a create starts only from the version this decision read.
    if patch_metadata(obj, namespace, metadata, ctx).await? != PatchResult::Patched {
        return Ok(Step::Wait);
    }
    ctx.metrics.lifecycle("create", "sent");
    let request = AddChatGroup {
        business_number: obj.spec.business_number.clone(),
        cust_space_id: obj.spec.cust_space_id.clone(),
        channel_type: Some(obj.spec.channel_type.as_str().to_string()),
        subject: obj.spec.subject.clone(),
        description: obj.spec.description.clone(),
    };
    let result = ctx
        .cams
        .add_chat_group(obj.spec.region.clone(), &credentials, &request)
        .await;
    match result {
        Ok(added) => {
            tracing::info!(
                unique_code = added.unique_code.as_deref().unwrap_or(""),
                "CAMS accepted AddChatGroup"
            );
            ctx.metrics.lifecycle("create", "accepted");
            let rid = added
                .response
                .envelope
                .request_id
                .clone()
                .unwrap_or_default();
            Ok(Step::Outcome(Outcome::Creating {
                message: format!(
                    "CAMS accepted AddChatGroup (RequestId {}); waiting for ListChatGroup to list the new group",
                    rid.trim()
                ),
                envelope: Some(added.response.envelope),
                unique_code: added.unique_code,
            }))
        }
        Err(e) => add_failed(obj, namespace, e, ctx).await,
    }
}

/// An AddChatGroup that may have reached CAMS is never sent again on its own: the pending
/// annotation stays and the group is looked for. One that certainly did not is withdrawn.
async fn add_failed(
    obj: &ChatGroup,
    namespace: &str,
    e: CamsError,
    ctx: &Context,
) -> Result<Step, ReconcileError> {
    let uncertain = e.may_have_reached_cams()
        && matches!(e.class(), ErrorClass::Retryable | ErrorClass::Freshness);
    if uncertain {
        tracing::warn!(error = %e, "AddChatGroup's outcome is unknown; looking for the group, never sending it again");
        ctx.metrics.lifecycle("create", "uncertain");
        return Ok(Step::Outcome(Outcome::Creating {
            message: format!(
                "AddChatGroup may have reached CAMS ({e}); it is never sent again on its own: the operator looks for the new group until --create-timeout"
            ),
            envelope: None,
            unique_code: None,
        }));
    }
    tracing::warn!(error = %e, "AddChatGroup refused");
    ctx.metrics.lifecycle("create", "refused");
    // CAMS refused: no group was made. Withdraw the pending create (then judge the refusal).
    let withdrawn = json!({"annotations": {CREATE_PENDING_ANNOTATION: null}});
    let fresh = with_pending(obj);
    if patch_metadata(&fresh, namespace, withdrawn, ctx).await? != PatchResult::Patched {
        return Ok(Step::Wait);
    }
    Ok(Step::Outcome(failure_outcome(&e, true)))
}

/// `obj` as it is after our pending write (for the next write's precondition we do not
/// know its resourceVersion, so that write goes without one).
fn with_pending(obj: &ChatGroup) -> ChatGroup {
    let mut fresh = obj.clone();
    fresh.metadata.resource_version = None;
    fresh
}

/// Looks for the group a pending create made: unclaimed, with the subject, first listed after
/// the create started.
async fn find(
    obj: &ChatGroup,
    namespace: &str,
    pending: &str,
    unclaimed: &[(String, DateTime<Utc>)],
    key: &crate::observe::inventory::AccountKey,
    ctx: &Context,
) -> Result<Step, ReconcileError> {
    let since = crate::plan::parse_time(pending).unwrap_or_else(Utc::now);
    let new: Vec<&str> = unclaimed
        .iter()
        .filter(|(_, first)| *first >= since)
        .map(|(id, _)| id.as_str())
        .collect();
    match new.as_slice() {
        [group_id] => {
            let found = json!({"annotations": {
                GROUP_ID_ANNOTATION: group_id,
                CREATE_PENDING_ANNOTATION: null,
            }});
            if patch_metadata(obj, namespace, found, ctx).await? != PatchResult::Patched {
                return Ok(Step::Wait);
            }
            ctx.metrics.lifecycle("create", "found");
            tracing::info!(group_id, "found the created group");
            let note = format!("created group {group_id} (recorded in cams.dev/group-id)");
            publish(
                obj,
                &EventSpec {
                    kind: EventKind::Normal,
                    reason: "Created",
                    note,
                },
                ctx,
            )
            .await;
            Ok(Step::MetadataChanged)
        }
        [] => {
            let waited = Utc::now() - since;
            let timeout = chrono::Duration::from_std(ctx.create_timeout).unwrap_or_default();
            if waited > timeout {
                return Ok(Step::Outcome(Outcome::CreateStalled {
                    row: Row::CreateUnconfirmed,
                    message: format!(
                        "the group created at {pending} was not listed by ListChatGroup within {}s. If no group with this subject exists, remove the annotation cams.dev/create-pending to create it again; if it exists, set spec.groupId to its GroupId",
                        ctx.create_timeout.as_secs()
                    ),
                }));
            }
            if let Some(observer) = ctx.observer.get() {
                observer.await_next_scan(key, super::observation::member_ref(obj));
            }
            Ok(Step::Outcome(Outcome::Creating {
                message: match &obj.status.as_ref().and_then(|s| s.unique_code.clone()) {
                    Some(code) => format!("CAMS accepted AddChatGroup (UniqueCode {code}); waiting for ListChatGroup to list the new group"),
                    None => "waiting for ListChatGroup to list the new group".into(),
                },
                envelope: None,
                unique_code: None,
            }))
        }
        several => Ok(Step::Outcome(Outcome::CreateStalled {
            row: Row::Ambiguous,
            message: format!(
                "several new unclaimed groups with this subject could be the one created: {}. Set spec.groupId to the right one (the others are left alone)",
                several.join(", ")
            ),
        })),
    }
}
