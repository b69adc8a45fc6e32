//! The status never claims more than the operator knows, against the real API server and the
//! simulator: a group deleted behind the operator's back, an answer lost after the update
//! landed, a metadata edit during a call, and two ChatGroups for one group created together.

use std::time::{Duration, Instant};

use cams_operator::resource::{ChatGroup, RECONCILE_REQUESTED_AT_ANNOTATION};
use cams_simulator::FaultConfig;
use serde_json::json;

use crate::harness::{condition, reason, Deadline, World};

const FAST_RETRY: [&str; 4] = ["--retry-base", "200ms", "--retry-max", "1s"];

/// Polls for `window`, asserting Ready is never True.
async fn ready_stays_false(world: &World, name: &str, window: Duration) {
    let started = Instant::now();
    while started.elapsed() < window {
        let obj = world.get(name).await;
        assert_ne!(
            condition(&obj, "Ready").as_deref(),
            Some("True"),
            "{name} claims Ready {:.1}s later: {:#?}",
            started.elapsed().as_secs_f64(),
            obj.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_group_deleted_behind_the_operators_back_never_shows_ready_after_a_forced_reapply() {
    let world = World::new("gone").await;
    let mut operator = world.operator(&FAST_RETRY);
    world
        .create_group("gone", "EA303GONE", |b| b.subject(Some("Gone soon")))
        .await;
    world.wait_ready("gone").await;

    // The group disappears; the user forces a re-apply.
    world
        .sim
        .delete_groups(Some(&world.tenant))
        .await
        .expect("delete the simulator's groups");
    world
        .annotate(
            "gone",
            RECONCILE_REQUESTED_AT_ANNOTATION,
            Some("after-delete"),
        )
        .await;
    let obj = world.wait_reason("gone", "Synced", "InvalidSpec").await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.code.as_deref()),
        Some("InvalidParameter.GroupNotExist")
    );
    // A label edit (a watch event) and the passes that follow must not flip it back.
    world
        .patch("gone", json!({"metadata": {"labels": {"touched": "yes"}}}))
        .await;
    ready_stays_false(&world, "gone", Duration::from_secs(5)).await;
    let calls = world.calls("UpdateChatGroup").await;
    assert_eq!(
        calls.len(),
        2,
        "one apply, one refused re-apply: {calls:#?}"
    );
    operator.stop().await;
    println!(
        "group deleted behind the back: Ready stayed False for 5 s after GroupNotExist, 2 calls"
    );
}

#[tokio::test]
async fn a_revert_after_a_lost_answer_is_applied_not_judged_up_to_date() {
    let world = World::new("lost").await;
    let mut operator = world.operator(&FAST_RETRY);
    world
        .create_group("lost", "EA303LOST", |b| b.subject(Some("Original")))
        .await;
    world.wait_ready("lost").await;

    // The edit's update lands, its answer is lost.
    world
        .set_faults(FaultConfig {
            lose_answer_probability: 1.0,
            ..FaultConfig::default()
        })
        .await;
    world
        .patch("lost", json!({"spec": {"subject": "Interim"}}))
        .await;
    world.wait_reason("lost", "Synced", "ReconcileError").await;
    let group = world.sim_group("EA303LOST").await;
    assert_eq!(
        group.subject.as_deref(),
        Some("Interim"),
        "the fault lets the update land"
    );

    // The user reverts to the accepted spec; then the network heals.
    world
        .patch("lost", json!({"spec": {"subject": "Original"}}))
        .await;
    world.set_faults(FaultConfig::default()).await;
    let obj = world.wait_ready("lost").await;
    assert_eq!(obj.metadata.generation, Some(3));
    let group = world.sim_group("EA303LOST").await;
    assert_eq!(
        group.subject.as_deref(),
        Some("Original"),
        "Ready while CAMS holds the interim value"
    );
    let calls = world.calls("UpdateChatGroup").await;
    let last = calls.last().expect("calls");
    assert_eq!(last.param("Subject"), Some("Original"));
    assert_eq!(last.code, "OK");
    operator.stop().await;
    println!(
        "lost answer then revert: the revert was applied ({} calls), CAMS holds the reverted subject",
        calls.len()
    );
}

#[tokio::test]
async fn a_metadata_edit_during_a_call_causes_no_second_call_and_keeps_its_status() {
    let world = World::new("edit").await;
    world.set_latency(1500).await;
    let mut operator = world.operator(&[]);
    world
        .create_group("slow", "EA303SLOW", |b| b.subject(Some("Slow call")))
        .await;
    // The call is in flight: edit labels and annotations meanwhile.
    tokio::time::sleep(Duration::from_millis(600)).await;
    world
        .patch(
            "slow",
            json!({"metadata": {"labels": {"team": "support"}, "annotations": {"note": "edited mid-call"}}}),
        )
        .await;
    let obj = world.wait_ready("slow").await;
    let status = obj.status.clone().expect("status");
    assert!(status.request_id.is_some(), "{status:#?}");
    // Give a duplicate every chance to show up.
    let calls = world
        .expect_calls("UpdateChatGroup", 1, Duration::from_secs(4))
        .await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let obj = world.get("slow").await;
    assert_eq!(obj.status, Some(status), "a later write changed the status");
    operator.stop().await;
    println!("metadata edit during a 1.5 s call: 1 call, status kept");
}

#[tokio::test]
async fn two_chatgroups_created_together_for_one_group_leave_exactly_one_ready() {
    let world = World::new("twins").await;
    let mut operator = world.operator(&FAST_RETRY);
    let a = world
        .group("twin-a", "EA303TWIN", |b| b.subject(Some("Twin")))
        .await;
    let b = world
        .chatgroup("twin-b", "EA303TWIN")
        .subject(Some("Twin"))
        .build();
    let (a, b) = tokio::join!(world.create(&a), world.create(&b));
    let same_second = a.metadata.creation_timestamp == b.metadata.creation_timestamp;
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(200));
    let (ready, conflict) = loop {
        let (x, y) = (world.get("twin-a").await, world.get("twin-b").await);
        let ready: Vec<_> = [&x, &y]
            .into_iter()
            .filter(|o| condition(o, "Ready").as_deref() == Some("True"))
            .map(|o| o.metadata.name.clone().unwrap_or_default())
            .collect();
        let conflict: Vec<_> = [&x, &y]
            .into_iter()
            .filter(|o| reason(o, "Stalled").as_deref() == Some("Conflict"))
            .map(|o| o.metadata.name.clone().unwrap_or_default())
            .collect();
        if ready.len() == 1 && conflict.len() == 1 {
            break (ready, conflict);
        }
        deadline
            .tick(|| {
                format!(
                    "ready {ready:?}, conflict {conflict:?}: {:#?} {:#?}",
                    x.status, y.status
                )
            })
            .await;
    };
    // The winner is the older one, ties broken by the smaller uid.
    let key = |o: &ChatGroup| {
        (
            o.metadata.creation_timestamp.clone().map(|t| t.0),
            o.metadata.uid.clone(),
        )
    };
    let winner = if key(&a) < key(&b) {
        "twin-a"
    } else {
        "twin-b"
    };
    assert_eq!(ready, vec![winner.to_string()], "conflict {conflict:?}");
    // It stays that way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loser = world.get(&conflict[0]).await;
    assert_eq!(condition(&loser, "Ready").as_deref(), Some("False"));
    operator.stop().await;
    println!(
        "two ChatGroups for one group (same second: {same_second}): exactly one Ready ({winner})"
    );
}

#[tokio::test]
async fn a_region_outside_the_allowlist_is_stalled_and_nothing_is_sent() {
    let world = World::new("region").await;
    let mut operator = world.operator(&[]);
    // Passes the CRD's region pattern; `cams.oss-cn-hangzhou.aliyuncs.com` is an OSS host.
    world
        .create_group("oss", "EA303OSS", |b| {
            b.subject(Some("OSS")).region(Some("oss-cn-hangzhou"))
        })
        .await;
    let obj = world
        .wait_reason("oss", "Stalled", "RegionNotAllowed")
        .await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("True"));
    // Nothing reached the simulator (the endpoint override is set, so a request would have).
    let calls = world
        .expect_calls("UpdateChatGroup", 0, Duration::from_secs(2))
        .await;
    assert!(calls.is_empty(), "{calls:#?}");
    operator.stop().await;
    println!("region oss-cn-hangzhou: Stalled RegionNotAllowed, 0 requests");
}

/// The API server refuses status writes (a ValidatingAdmissionPolicy scoped to this test's
/// namespace) after CAMS accepted the call: the operator writes the status again with backoff
/// and never repeats the call; once writes are allowed, the accepted call is recorded.
#[tokio::test]
async fn a_refused_status_write_after_an_accepted_call_is_written_again_not_called_again() {
    let world = World::new("nowrite").await;
    let name = format!("block-status-{}", world.ns);
    let manifest = world.env.work.join(format!("{name}.yaml"));
    std::fs::write(&manifest, block_status_policy(&name, &world.ns)).expect("write manifest");
    let manifest = manifest.to_string_lossy().to_string();
    let out = world.kubectl(&["apply", "-f", &manifest]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The policy takes a moment to be enforced: wait until a status write is refused.
    world
        .create_group("probe", "EA303PROBE", |b| b.subject(Some("probe")))
        .await;
    let mut blocked = false;
    for _ in 0..50 {
        let refused = match world
            .chatgroups()
            .patch_status(
                "probe",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"status": {"code": "probe"}})),
            )
            .await
        {
            Ok(_) => false,
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("blocked by an e2e test"),
                    "probe refused: {text}"
                );
                true
            }
        };
        if refused {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(blocked, "the admission policy never refused a status write");
    world
        .chatgroups()
        .delete("probe", &Default::default())
        .await
        .expect("delete probe");

    let mut operator = world.operator(&FAST_RETRY);
    world
        .create_group("blocked", "EA303BLOCK", |b| b.subject(Some("Blocked")))
        .await;
    operator
        .wait_log("writing it again with backoff", Duration::from_secs(30))
        .await;
    // Several write attempts later: still exactly one call.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let calls = world.calls_for_group("UpdateChatGroup", "EA303BLOCK").await;
    assert_eq!(calls.len(), 1, "the call was repeated: {calls:#?}");
    assert!(world.get("blocked").await.status.is_none());

    let out = world
        .kubectl(&["delete", "validatingadmissionpolicybinding", &name])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj = world.wait_ready("blocked").await;
    let calls = world.calls_for_group("UpdateChatGroup", "EA303BLOCK").await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.request_id.as_deref()),
        calls[0].request_id.as_deref(),
        "the status records the one accepted call"
    );
    let retries = operator.logs().matches("still cannot record").count();
    operator.stop().await;
    let _ = world
        .kubectl(&["delete", "validatingadmissionpolicy", &name])
        .await;
    println!(
        "status writes refused after an accepted call: 1 call, {} more write attempts, then recorded",
        retries + 1
    );
}

fn block_status_policy(name: &str, namespace: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["cams.dev"]
      apiVersions: ["*"]
      operations: ["UPDATE"]
      resources: ["chatgroups/status"]
  validations:
  - expression: "false"
    message: status writes are blocked by an e2e test
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}
spec:
  policyName: {name}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: {namespace}
"#
    )
}
