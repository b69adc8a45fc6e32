//! `spec.inviteLink`: the group has an invite link exactly when `enabled` says so, and the
//! link is published in the Secret `secretName` (key `inviteLink`, owned by the ChatGroup,
//! label `cams.dev/invite-link-of`). The link is a capability — anyone holding it joins — so
//! it lives only in that Secret and in memory, never in status, events or logs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use super::{credentials_failure, credentials_for, failure_outcome, Context, ReconcileError};
use crate::cams::redact::SecretString;
use crate::cams::{AddChatGroupInviteLink, DeleteChatGroupInviteLink};
use crate::observe::inventory::GroupRow;
use crate::outcome::Row;
use crate::resource::ChatGroup;
use crate::status::Outcome;

/// The label on a published Secret naming its ChatGroup.
pub const INVITE_LINK_OF_LABEL: &str = "cams.dev/invite-link-of";
/// The Secret key holding the link.
pub const INVITE_LINK_KEY: &str = "inviteLink";

/// What `spec.inviteLink` needs now, given the group's row (listed by the last scan), or
/// `None` when nothing is due.
pub(super) async fn reconcile_link(
    obj: &ChatGroup,
    namespace: &str,
    group_id: &str,
    row: &GroupRow,
    ctx: &Context,
) -> Result<Option<Outcome>, ReconcileError> {
    let Some(spec) = &obj.spec.invite_link else {
        return Ok(None);
    };
    if !ctx.invite_links {
        return Ok(Some(Outcome::CreateStalled {
            row: Row::InviteLinksDisabled,
            message: "spec.inviteLink is set, but the operator runs without --invite-links (chart value inviteLinks.enabled: true, which lets it write Secrets); enable it, or remove spec.inviteLink".into(),
        }));
    }
    let recorded = obj
        .status
        .as_ref()
        .and_then(|s| s.invite_link_secret.clone());
    let token = obj.rotate_invite_link_token().filter(|t| {
        obj.status
            .as_ref()
            .and_then(|s| s.last_handled_rotate_invite_link.as_deref())
            != Some(*t)
    });
    match (spec.enabled, spec.secret_name.as_deref(), &row.invite_link) {
        (true, Some(secret), listed) => {
            let fresh = listed.is_none() || token.is_some();
            let link = match (fresh, listed) {
                (false, Some(link)) => link.clone(),
                _ => match add_link(obj, namespace, group_id, ctx).await? {
                    Ok(link) => link,
                    Err(outcome) => return Ok(Some(outcome)),
                },
            };
            let published = publish_secret(obj, namespace, secret, &link, ctx).await?;
            let moved = recorded.as_deref().filter(|r| *r != secret);
            if let Some(old) = moved {
                delete_secret(namespace, old, ctx).await?;
            }
            if !fresh && !published && moved.is_none() && recorded.as_deref() == Some(secret) {
                return Ok(None);
            }
            ctx.metrics.lifecycle("rotate_invite_link", "published");
            let note = match (fresh, token.is_some()) {
                (true, true) => format!("invite link reset (cams.dev/rotate-invite-link) and published in Secret {secret}"),
                (true, false) => format!("invite link made and published in Secret {secret}"),
                (false, _) => format!("invite link republished in Secret {secret}"),
            };
            Ok(Some(Outcome::InviteLink {
                note,
                token: token.map(String::from),
                secret: Some(secret.to_string()),
                called: fresh,
            }))
        }
        (false, _, listed) => {
            let called = listed.is_some();
            if called {
                let request = DeleteChatGroupInviteLink {
                    business_number: obj.spec.business_number.clone(),
                    cust_space_id: obj.spec.cust_space_id.clone(),
                    group_id: group_id.to_string(),
                    channel_type: Some(obj.spec.channel_type.as_str().to_string()),
                };
                let credentials = match credentials(obj, namespace, ctx).await? {
                    Ok(c) => c,
                    Err(outcome) => return Ok(Some(outcome)),
                };
                if let Err(e) = ctx
                    .cams
                    .delete_chat_group_invite_link(obj.spec.region.clone(), &credentials, &request)
                    .await
                {
                    return Ok(Some(failure_outcome(&e, e.may_have_reached_cams())));
                }
            }
            if let Some(old) = &recorded {
                delete_secret(namespace, old, ctx).await?;
            }
            if !called && recorded.is_none() {
                return Ok(None);
            }
            ctx.metrics.lifecycle("rotate_invite_link", "removed");
            Ok(Some(Outcome::InviteLink {
                note: "invite link removed (inviteLink.enabled is false) and its Secret deleted"
                    .into(),
                token: None,
                secret: None,
                called,
            }))
        }
        // CEL requires secretName with enabled: nothing to do without it.
        (true, None, _) => Ok(None),
    }
}

async fn credentials(
    obj: &ChatGroup,
    namespace: &str,
    ctx: &Context,
) -> Result<Result<crate::cams::Credentials, Outcome>, ReconcileError> {
    let mut version = None;
    Ok(credentials_for(obj, namespace, ctx, &mut version)
        .await?
        .map_err(|e| credentials_failure(&e)))
}

/// AddChatGroupInviteLink (a new link; an existing one stops working).
async fn add_link(
    obj: &ChatGroup,
    namespace: &str,
    group_id: &str,
    ctx: &Context,
) -> Result<Result<SecretString, Outcome>, ReconcileError> {
    let credentials = match credentials(obj, namespace, ctx).await? {
        Ok(c) => c,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let request = AddChatGroupInviteLink {
        business_number: obj.spec.business_number.clone(),
        cust_space_id: obj.spec.cust_space_id.clone(),
        group_id: group_id.to_string(),
        channel_type: Some(obj.spec.channel_type.as_str().to_string()),
    };
    let added = ctx
        .cams
        .add_chat_group_invite_link(obj.spec.region.clone(), &credentials, &request)
        .await;
    Ok(match added {
        Ok(added) => match added.invite_link {
            Some(link) if !link.is_empty() => Ok(link),
            // CAMS answered OK without a link: the next scan shows it, and it is published
            // from there.
            _ => Err(Outcome::Creating {
                message: "AddChatGroupInviteLink answered without a link; waiting for ListChatGroup to show it".into(),
                envelope: Some(added.response.envelope),
                unique_code: None,
            }),
        },
        Err(e) => Err(failure_outcome(&e, e.may_have_reached_cams())),
    })
}

/// Writes the Secret (server-side apply, owned by the ChatGroup); returns whether it
/// changed (a lost or stale Secret is written again).
async fn publish_secret(
    obj: &ChatGroup,
    namespace: &str,
    name: &str,
    link: &SecretString,
    ctx: &Context,
) -> Result<bool, ReconcileError> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let current = timed(ctx, "reading the invite-link Secret", api.get_opt(name)).await?;
    let holds = current
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(INVITE_LINK_KEY))
        .is_some_and(|v| v.0 == link.expose().as_bytes());
    if holds {
        return Ok(false);
    }
    let owner = obj.controller_owner_ref(&());
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                INVITE_LINK_OF_LABEL.to_string(),
                obj.name_any(),
            )])),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            INVITE_LINK_KEY.to_string(),
            ByteString(link.expose().as_bytes().to_vec()),
        )])),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let params = PatchParams::apply(&ctx.field_manager).force();
    timed(
        ctx,
        "publishing the invite link",
        api.patch(name, &params, &Patch::Apply(&secret)),
    )
    .await?;
    Ok(true)
}

async fn delete_secret(namespace: &str, name: &str, ctx: &Context) -> Result<(), ReconcileError> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    match tokio::time::timeout(ctx.api_timeout, api.delete(name, &DeleteParams::default())).await {
        Err(_) => Err(ReconcileError::Timeout("deleting the invite-link Secret")),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(e))) if e.code == 404 => Ok(()),
        Ok(Err(source)) => Err(ReconcileError::Kube {
            action: "deleting the invite-link Secret",
            source,
        }),
    }
}

async fn timed<T>(
    ctx: &Context,
    action: &'static str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, ReconcileError> {
    tokio::time::timeout(ctx.api_timeout, call)
        .await
        .map_err(|_| ReconcileError::Timeout(action))?
        .map_err(|source| ReconcileError::Kube { action, source })
}
