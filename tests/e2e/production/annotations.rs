//! The contract's annotations, counted in the simulator's log: `cams.dev/paused` stops calls
//! and resumes with exactly one call applying the latest spec; each new
//! `cams.dev/reconcile-requested-at` token forces exactly one re-apply, and neither the same
//! token again nor a restart calls; a Secret update makes no call for synced objects.

use std::time::Duration;

use cams_operator::resource::{PAUSED_ANNOTATION, RECONCILE_REQUESTED_AT_ANNOTATION};
use serde_json::json;

use crate::harness::{condition, reason, World, SECRET};

#[tokio::test]
async fn paused_and_reconcile_requested_at() {
    let world = World::new("annot").await;
    let mut operator = world.operator(&[]);
    world
        .create_group("vip", "EA303ANN", |b| b.subject(Some("v1")))
        .await;
    world.wait_ready("vip").await;
    world
        .expect_calls("UpdateChatGroup", 1, Duration::from_millis(500))
        .await;

    // Paused: a status change, no call; Ready stays True.
    world.annotate("vip", PAUSED_ANNOTATION, Some("true")).await;
    let obj = world.wait_reason("vip", "Synced", "ReconcilePaused").await;
    assert_eq!(condition(&obj, "Synced").as_deref(), Some("False"));
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("True"));
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("False"));
    // Two spec edits while paused: no call, observedGeneration stays, and Ready turns False
    // (the current generation's spec is not applied).
    for subject in ["v2", "v3"] {
        world
            .patch("vip", json!({"spec": {"subject": subject}}))
            .await;
    }
    world
        .expect_calls("UpdateChatGroup", 1, Duration::from_secs(3))
        .await;
    let obj = world.get("vip").await;
    assert_eq!(obj.metadata.generation, Some(3));
    assert_eq!(reason(&obj, "Synced").as_deref(), Some("ReconcilePaused"));
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    assert_eq!(reason(&obj, "Ready").as_deref(), Some("ReconcilePaused"));
    assert_eq!(obj.status.as_ref().unwrap().observed_generation, Some(1));
    println!(
        "paused: 2 spec edits, 0 calls, Synced False ReconcilePaused, Ready False (not applied)"
    );

    // Unpaused: exactly one call, with the latest spec.
    world.annotate("vip", PAUSED_ANNOTATION, None).await;
    world.wait_ready("vip").await;
    let calls = world
        .expect_calls("UpdateChatGroup", 2, Duration::from_secs(2))
        .await;
    assert_eq!(calls[1].param("Subject"), Some("v3"));
    println!("unpaused: 1 call applying the latest spec (Subject v3)");

    // A new token: exactly one re-apply of the same spec, recorded in status.
    world
        .annotate("vip", RECONCILE_REQUESTED_AT_ANNOTATION, Some("t1"))
        .await;
    let obj = world
        .wait_for("vip", "t1 handled", Duration::from_secs(30), |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some("t1")
        })
        .await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("True"));
    let calls = world
        .expect_calls("UpdateChatGroup", 3, Duration::from_secs(2))
        .await;
    assert_eq!(calls[2].param("Subject"), Some("v3"));
    assert_ne!(calls[2].request_id, calls[1].request_id);

    // The same token written again (with another metadata change, so a watch event fires):
    // no call.
    world
        .patch(
            "vip",
            json!({"metadata": {"annotations": {RECONCILE_REQUESTED_AT_ANNOTATION: "t1"}, "labels": {"touched": "yes"}}}),
        )
        .await;
    world
        .expect_calls("UpdateChatGroup", 3, Duration::from_secs(3))
        .await;

    // A restart: no call. A new object reaching Ready proves the new process has listed and
    // reconciled everything.
    operator.stop().await;
    let mut operator = world.operator(&[]);
    world
        .create_group("probe", "EA303PROBE", |b| b.subject(Some("probe")))
        .await;
    world.wait_ready("probe").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let vip_calls = world.calls_for_group("UpdateChatGroup", "EA303ANN").await;
    assert_eq!(vip_calls.len(), 3, "{vip_calls:#?}");
    println!("token t1: 1 call; same token again: 0 calls; restart: 0 calls");

    // A new token t2: exactly one more.
    world
        .annotate("vip", RECONCILE_REQUESTED_AT_ANNOTATION, Some("t2"))
        .await;
    world
        .wait_for("vip", "t2 handled", Duration::from_secs(30), |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_deref())
                == Some("t2")
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let vip_calls = world.calls_for_group("UpdateChatGroup", "EA303ANN").await;
    assert_eq!(vip_calls.len(), 4, "{vip_calls:#?}");
    println!("token t2: 1 call (4 in all for the object)");

    // A Secret update (same valid key, data changed): no call and no status write for the
    // synced objects.
    let before: Vec<Option<String>> = vec![
        world.get("vip").await.metadata.resource_version,
        world.get("probe").await.metadata.resource_version,
    ];
    let mark = world.last_seq().await;
    world
        .patch_secret_data(
            SECRET,
            json!({
                "accessKeyId": world.access_key_id,
                "accessKeySecret": world.access_key_secret,
                "rotatedAt": chrono::Utc::now().to_rfc3339(),
            }),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = world.calls_since("UpdateChatGroup", mark).await;
    assert!(after.is_empty(), "{after:#?}");
    let after_versions: Vec<Option<String>> = vec![
        world.get("vip").await.metadata.resource_version,
        world.get("probe").await.metadata.resource_version,
    ];
    assert_eq!(before, after_versions, "a synced object was written");
    println!("Secret update: 0 calls, 0 status writes for 2 synced objects");

    // Born paused: no call at all, Ready False ReconcilePaused; unpausing makes one call.
    world
        .create_group("born-paused", "EA303BORN", |b| {
            b.subject(Some("born")).paused()
        })
        .await;
    let obj = world
        .wait_reason("born-paused", "Synced", "ReconcilePaused")
        .await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(world
        .calls_for_group("UpdateChatGroup", "EA303BORN")
        .await
        .is_empty());
    world.annotate("born-paused", PAUSED_ANNOTATION, None).await;
    world.wait_ready("born-paused").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        world
            .calls_for_group("UpdateChatGroup", "EA303BORN")
            .await
            .len(),
        1
    );
    println!("created paused: 0 calls, Ready False; unpaused: 1 call");
    operator.stop().await;
}
