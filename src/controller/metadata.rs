//! Writes to a ChatGroup's own metadata (annotations, finalizers), each with the object's
//! resourceVersion as a precondition when it is known: a decision taken on an old version
//! never lands.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};

use super::{Context, ReconcileError};
use crate::resource::ChatGroup;

/// How a metadata write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PatchResult {
    /// Written.
    Patched,
    /// The object changed since it was read (409): nothing was written.
    Conflict,
    /// The object is gone.
    Gone,
}

/// Merges `metadata` into the object's metadata, on the condition that its resourceVersion is
/// still `obj`'s (when `obj` has one).
pub(super) async fn patch_metadata(
    obj: &ChatGroup,
    namespace: &str,
    mut metadata: Value,
    ctx: &Context,
) -> Result<PatchResult, ReconcileError> {
    if let Some(version) = &obj.metadata.resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    let api: Api<ChatGroup> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = Patch::Merge(json!({ "metadata": metadata }));
    let (name, params) = (obj.name_any(), PatchParams::default());
    let sent = api.patch_metadata(&name, &params, &patch);
    match tokio::time::timeout(ctx.api_timeout, sent).await {
        Err(_) => Err(ReconcileError::Timeout("writing the ChatGroup's metadata")),
        Ok(Ok(_)) => Ok(PatchResult::Patched),
        Ok(Err(kube::Error::Api(e))) if e.code == 409 => Ok(PatchResult::Conflict),
        Ok(Err(kube::Error::Api(e))) if e.code == 404 => Ok(PatchResult::Gone),
        Ok(Err(source)) => Err(ReconcileError::Kube {
            action: "writing the ChatGroup's metadata",
            source,
        }),
    }
}
