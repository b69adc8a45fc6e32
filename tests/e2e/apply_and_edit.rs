//! Create -> Ready with exactly one call; a spec edit -> one more; label, annotation and
//! status edits and an operator restart -> no call and no status write.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::harness::{condition, World};

#[tokio::test]
async fn create_edit_and_no_op_changes() {
    let world = World::new("apply").await;
    let mut operator = world.operator(&[]);
    world
        .create_group("vip", "EA303VIP", |b| {
            b.subject(Some("VIP support"))
                .description(Some("Priority line"))
                .profile_picture_url(Some("https://cdn.example.com/vip.jpg"))
        })
        .await;

    // Create -> Ready, with the CAMS envelope in status and exactly one call.
    let obj = world.wait_ready("vip").await;
    let status = obj.status.clone().unwrap();
    assert_eq!(status.code.as_deref(), Some("OK"));
    assert!(status.request_id.as_deref().is_some_and(|r| !r.is_empty()));
    assert_eq!(status.result, Some(1));
    assert!(status.success.is_some());
    assert!(status
        .applied_hash
        .as_deref()
        .is_some_and(|h| h.starts_with("v1:")));
    assert!(status.last_sync_time.is_some());
    assert_eq!(condition(&obj, "Synced").as_deref(), Some("True"));
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("False"));
    let calls = world
        .expect_calls("UpdateChatGroup", 1, Duration::from_secs(2))
        .await;
    let call = &calls[0];
    assert_eq!(call.param("Subject"), Some("VIP support"));
    assert_eq!(
        call.param("ProfilePictureFile"),
        Some("https://cdn.example.com/vip.jpg")
    );
    assert_eq!(call.param("GroupId"), Some("EA303VIP"));
    assert!(
        call.user_agent
            .as_deref()
            .unwrap_or("")
            .contains(&format!("e2e-{}", world.ns)),
        "{calls:#?}"
    );

    // kubectl wait returns.
    let out = world
        .kubectl(&[
            "wait",
            "-n",
            &world.ns,
            "--for=condition=Ready",
            "chatgroup/vip",
            "--timeout=30s",
        ])
        .await;
    assert!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Spec edit -> exactly one more call and the new status.
    world
        .patch("vip", json!({"spec": {"subject": "VIP support 2"}}))
        .await;
    let obj = world.wait_ready_at("vip", 2).await;
    let calls = world
        .expect_calls("UpdateChatGroup", 2, Duration::from_secs(1))
        .await;
    assert_eq!(calls[1].param("Subject"), Some("VIP support 2"));
    assert_ne!(obj.status.as_ref().unwrap().request_id, status.request_id);

    // Label-only, unrelated-annotation and status-only edits: no call and no status write
    // (the resourceVersion stays the one our own edit produced).
    let edits = [
        (
            "label",
            Patch::Merge(json!({"metadata": {"labels": {"team": "support"}}})),
            false,
        ),
        (
            "annotation",
            Patch::Merge(json!({"metadata": {"annotations": {"example.com/owner": "alice"}}})),
            false,
        ),
        (
            "status",
            Patch::Merge(json!({"status": {"message": "edited by a test"}})),
            true,
        ),
    ];
    let api = world.chatgroups();
    for (what, patch, status_edit) in edits {
        let after = if status_edit {
            api.patch_status("vip", &PatchParams::default(), &patch)
                .await
                .unwrap()
        } else {
            api.patch("vip", &PatchParams::default(), &patch)
                .await
                .unwrap()
        };
        let rv = after.metadata.resource_version.clone();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            world.get("vip").await.metadata.resource_version,
            rv,
            "the operator wrote after a {what}-only edit"
        );
        world
            .expect_calls("UpdateChatGroup", 2, Duration::ZERO)
            .await;
    }

    // Restart with everything synced: zero calls, no write.
    let rv = world.get("vip").await.metadata.resource_version;
    operator.stop().await;
    let operator = world.operator(&[]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    world
        .expect_calls("UpdateChatGroup", 2, Duration::ZERO)
        .await;
    assert_eq!(
        world.get("vip").await.metadata.resource_version,
        rv,
        "the restarted operator wrote status"
    );
    assert!(
        operator.logs().contains("starting cams-operator"),
        "the second operator did not start"
    );
}
