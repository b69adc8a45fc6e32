//! `deletionPolicy`: the finalizer `cams.dev/delete-group` is on an object exactly when its
//! group must be deleted with it (Manage, Delete), added before the first write; on deletion
//! the group is deleted, or — when that cannot succeed — orphaned with a Warning event saying
//! why. A ChatGroup never stays Terminating because of the operator beyond `--delete-timeout`.

use std::time::Duration;

use chrono::Utc;
use kube::ResourceExt;
use serde_json::json;

use super::metadata::{patch_metadata, PatchResult};
use super::{credentials_for, publish, Context, ReconcileError};
use crate::cams::{DeleteChatGroup, ErrorClass};
use crate::resource::{ChatGroup, DELETE_FINALIZER};
use crate::status::{EventKind, EventSpec, Requeue};

/// What deleting did.
pub(super) enum Deleted {
    /// The finalizer is gone (the group deleted, or orphaned): the object goes away.
    Released,
    /// DeleteChatGroup failed for now: try again then.
    Retry(Requeue),
}

/// Whether `obj` should carry the finalizer now.
pub(super) fn wants_finalizer(obj: &ChatGroup) -> bool {
    obj.spec.management_policy.is_manage() && !obj.spec.deletion_policy.is_orphan()
}

/// Adds or removes the finalizer so that it matches the policies (before the first write of
/// a Delete object; removed when the policy becomes Orphan or Observe). `Ok(false)`: the
/// object changed meanwhile; decide again.
pub(super) async fn align_finalizer(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<bool, ReconcileError> {
    let want = wants_finalizer(obj);
    if want == obj.has_delete_finalizer() {
        return Ok(true);
    }
    let mut finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != DELETE_FINALIZER)
        .cloned()
        .collect();
    if want {
        finalizers.push(DELETE_FINALIZER.to_string());
    }
    let patched = patch_metadata(obj, namespace, json!({"finalizers": finalizers}), ctx).await?;
    Ok(patched == PatchResult::Patched)
}

/// Handles a ChatGroup being deleted that carries the finalizer.
pub(super) async fn finalize(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<Deleted, ReconcileError> {
    if let Some(why) = orphan_reason(obj, ctx) {
        return orphan(obj, namespace, &why, ctx).await;
    }
    let Some(group_id) = obj.group_id() else {
        return orphan(obj, namespace, "no group was created or found for it", ctx).await;
    };
    let mut version = None;
    let credentials = match credentials_for(obj, namespace, ctx, &mut version).await? {
        Ok(credentials) => credentials,
        Err(e) => {
            let why = format!("its credentials are not usable ({e}); a namespace being deleted may have removed its Secret first");
            return orphan(obj, namespace, &why, ctx).await;
        }
    };
    let request = DeleteChatGroup {
        business_number: obj.spec.business_number.clone(),
        cust_space_id: obj.spec.cust_space_id.clone(),
        group_id: group_id.to_string(),
        channel_type: Some(obj.spec.channel_type.as_str().to_string()),
    };
    let result = ctx
        .cams
        .delete_chat_group(obj.spec.region.clone(), &credentials, &request)
        .await;
    match result {
        Ok(_) => released(obj, namespace, group_id, "deleted", ctx).await,
        Err(e) if e.is_group_not_found() => {
            released(obj, namespace, group_id, "already gone", ctx).await
        }
        Err(e) if e.class() == ErrorClass::Terminal || e.class() == ErrorClass::Forbidden => {
            let why = format!("CAMS refused DeleteChatGroup: {e}");
            orphan(obj, namespace, &why, ctx).await
        }
        Err(e) => {
            let since = deleting_for(obj);
            if since > ctx.delete_timeout {
                let why = format!(
                    "DeleteChatGroup kept failing for {}s (--delete-timeout {}s), last: {e}",
                    since.as_secs(),
                    ctx.delete_timeout.as_secs()
                );
                return orphan(obj, namespace, &why, ctx).await;
            }
            tracing::warn!(error = %e, "DeleteChatGroup failed; retrying");
            ctx.metrics.lifecycle("delete", "retry");
            let left = ctx.delete_timeout.saturating_sub(since);
            let wait = e
                .retry_after()
                .unwrap_or(Duration::from_secs(5))
                .max(Duration::from_secs(1))
                .min(Duration::from_secs(60))
                .min(left + Duration::from_millis(100));
            Ok(Deleted::Retry(Requeue::After(wait)))
        }
    }
}

/// How long the object has been Terminating.
fn deleting_for(obj: &ChatGroup) -> Duration {
    let Some(at) = &obj.metadata.deletion_timestamp else {
        return Duration::ZERO;
    };
    let at = chrono::DateTime::<Utc>::from_timestamp(at.0.as_second(), 0).unwrap_or_else(Utc::now);
    (Utc::now() - at).to_std().unwrap_or_default()
}

/// Why the group must be left alone, without a call.
fn orphan_reason(obj: &ChatGroup, ctx: &Context) -> Option<String> {
    if obj.spec.deletion_policy.is_orphan() {
        return Some("deletionPolicy is Orphan".into());
    }
    if !obj.spec.management_policy.is_manage() {
        return Some("managementPolicy is Observe: the operator never writes to the group".into());
    }
    if obj.is_paused() {
        return Some("cams.dev/paused is \"true\"".into());
    }
    if let Some(other) = ctx.caches.other_claimant(obj) {
        return Some(format!(
            "{} still manages the group",
            other.describe_for(obj)
        ));
    }
    None
}

async fn released(
    obj: &ChatGroup,
    namespace: &str,
    group_id: &str,
    how: &str,
    ctx: &Context,
) -> Result<Deleted, ReconcileError> {
    if !remove_finalizer(obj, namespace, ctx).await? {
        return Ok(Deleted::Retry(Requeue::After(Duration::from_millis(200))));
    }
    ctx.metrics.lifecycle("delete", "deleted");
    let note = format!("group {group_id} {how} (DeleteChatGroup); the finalizer is removed");
    let event = EventSpec {
        kind: EventKind::Normal,
        reason: "Deleted",
        note,
    };
    publish(obj, &event, ctx).await;
    Ok(Deleted::Released)
}

async fn orphan(
    obj: &ChatGroup,
    namespace: &str,
    why: &str,
    ctx: &Context,
) -> Result<Deleted, ReconcileError> {
    if !remove_finalizer(obj, namespace, ctx).await? {
        return Ok(Deleted::Retry(Requeue::After(Duration::from_millis(200))));
    }
    ctx.metrics.lifecycle("delete", "orphaned");
    tracing::warn!(why, "the group is left as it is (orphaned)");
    let group = obj.group_id().unwrap_or("(none)");
    let event = EventSpec {
        kind: EventKind::Warning,
        reason: "Orphaned",
        note: format!("group {group} was not deleted: {why}"),
    };
    publish(obj, &event, ctx).await;
    Ok(Deleted::Released)
}

/// Removes the finalizer; `Ok(false)` when the object changed meanwhile.
async fn remove_finalizer(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<bool, ReconcileError> {
    let finalizers: Vec<&String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != DELETE_FINALIZER)
        .collect();
    match patch_metadata(obj, namespace, json!({ "finalizers": finalizers }), ctx).await? {
        PatchResult::Conflict => Ok(false),
        PatchResult::Patched | PatchResult::Gone => Ok(true),
    }
}
