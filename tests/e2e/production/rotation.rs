//! Credentials rotation: objects failing on a revoked or wrong key recover as soon as their
//! Secret is given a new valid key (no restart, long before the 5 min slow retry); objects
//! already synced make no call and no status write on the Secret change; the next spec edit
//! is signed with the new AccessKeyId.

use std::time::{Duration, Instant};

use cams_simulator::CallEntry;
use chrono::Utc;
use serde_json::json;

use crate::harness::{call_group, call_time, condition, World, SECRET};

fn key_of(call: &CallEntry) -> &str {
    call.access_key_id.as_deref().unwrap_or_default()
}

/// The resourceVersions of the synced objects (a status write changes them).
async fn synced_versions(world: &World) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for i in 0..3 {
        out.push(
            world
                .get(&format!("synced-{i}"))
                .await
                .metadata
                .resource_version,
        );
    }
    out
}

#[tokio::test]
async fn rotated_secret_recovers_failing_objects_without_touching_synced_ones() {
    let world = World::new("rotate").await;
    let k1 = world.access_key_id.clone();
    // A Secret with a wrong secret for K1, there before the operator starts.
    world
        .create_secret("stale", &k1, "not-the-secret", None)
        .await;
    // Default --slow-retry (5m): a recovery within seconds can only come from the Secret
    // change.
    let mut operator = world.operator(&[]);

    // Synced with K1 through the shared Secret `cams-credentials`.
    for i in 0..3 {
        let subject = format!("synced {i}");
        world
            .create_group(&format!("synced-{i}"), &format!("EA303S{i}"), |b| {
                b.subject(Some(&subject))
            })
            .await;
    }
    for i in 0..3 {
        world.wait_ready(&format!("synced-{i}")).await;
    }
    let calls = world
        .expect_calls("UpdateChatGroup", 3, Duration::from_secs(1))
        .await;
    assert!(calls.iter().all(|c| key_of(c) == k1 && c.code == "OK"));

    // Failing: one object whose own Secret `stale` has a wrong secret for K1
    // (SignatureDoesNotMatch)…
    world
        .create_group("failing-wrong", "EA303FW", |b| {
            b.subject(Some("wrong secret")).secret_ref(Some("stale"))
        })
        .await;
    world
        .wait_reason("failing-wrong", "Synced", "CredentialsInvalid")
        .await;
    // …and, once K1 is revoked, two new objects on the shared Secret (InvalidAccessKeyId).
    world.sim_revoke_key(&k1).await;
    for i in 0..2 {
        let subject = format!("failing {i}");
        world
            .create_group(&format!("failing-{i}"), &format!("EA303F{i}"), |b| {
                b.subject(Some(&subject))
            })
            .await;
    }
    let failing = ["failing-wrong", "failing-0", "failing-1"];
    for name in failing {
        let obj = world
            .wait_reason(name, "Synced", "CredentialsInvalid")
            .await;
        assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
        assert_eq!(condition(&obj, "Stalled").as_deref(), Some("True"));
        let retry = obj.status.as_ref().unwrap().retry.clone().expect("retry");
        let next = cams_operator::plan::parse_time(&retry.next_retry_time).unwrap();
        let wait = (next - Utc::now()).num_seconds();
        assert!(wait > 240, "{name}: slow retry in {wait}s");
        println!(
            "{name}: CredentialsInvalid ({}), next retry in {wait}s",
            obj.status.as_ref().unwrap().code.as_deref().unwrap_or("")
        );
    }
    let calls = world
        .expect_calls("UpdateChatGroup", 6, Duration::from_secs(2))
        .await;
    let codes: Vec<&str> = calls[3..].iter().map(|c| c.code.as_str()).collect();
    assert!(codes.contains(&"SignatureDoesNotMatch"), "{codes:?}");
    assert!(codes.contains(&"InvalidAccessKeyId.NotFound"), "{codes:?}");

    // Rotate: the simulator learns K2, and both Secrets get it.
    let versions_before = synced_versions(&world).await;
    let k2 = format!("AK2-{}", world.ns);
    let s2 = format!("SK2-SECRET-{}", world.ns);
    world.sim_put_key(&k2, &s2, &[]).await;
    let mark = world.last_seq().await;
    let rotated = Instant::now();
    let rotated_at = Utc::now();
    for secret in [SECRET, "stale"] {
        world
            .patch_secret_data(secret, json!({"accessKeyId": k2, "accessKeySecret": s2}))
            .await;
    }
    for name in failing {
        world
            .wait_for(name, "Ready", Duration::from_secs(60), |o| {
                condition(o, "Ready").as_deref() == Some("True")
            })
            .await;
    }
    let all_ready = rotated.elapsed().as_secs_f64();
    let after = world.calls_since("UpdateChatGroup", mark).await;
    let mut recovered: Vec<String> = after.iter().map(call_group).collect();
    recovered.sort();
    assert_eq!(recovered, ["EA303F0", "EA303F1", "EA303FW"], "{after:#?}");
    assert!(
        after.iter().all(|c| key_of(c) == k2 && c.code == "OK"),
        "{after:#?}"
    );
    let slowest = after
        .iter()
        .map(|c| (call_time(c) - rotated_at).num_milliseconds() as f64 / 1000.0)
        .fold(0.0, f64::max);
    println!(
        "rotation: 3 failing objects recovered with K2, last call {slowest:.2}s after the Secret change, all Ready after {all_ready:.2}s (slow retry 300s)"
    );
    assert!(slowest < 30.0, "recovery took {slowest:.2}s");
    assert!(operator.running(), "the operator restarted or died");

    // The synced objects made no call and their status was not rewritten.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = world.calls_since("UpdateChatGroup", mark).await;
    assert_eq!(after.len(), 3, "{after:#?}");
    let versions_after = synced_versions(&world).await;
    assert_eq!(
        versions_before, versions_after,
        "a synced object was written"
    );
    println!("synced objects on the Secret change: 0 calls, 0 status writes");

    // The next spec edit of a synced object is signed with K2.
    let mark = world.last_seq().await;
    world
        .patch("synced-0", json!({"spec": {"subject": "after rotation"}}))
        .await;
    world.wait_ready("synced-0").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let edit = world.calls_since("UpdateChatGroup", mark).await;
    assert_eq!(edit.len(), 1, "{edit:#?}");
    assert_eq!(key_of(&edit[0]), k2);
    assert_eq!(edit[0].param("Subject"), Some("after rotation"));
    println!(
        "spec edit after rotation: 1 call, AccessKeyId {}",
        key_of(&edit[0])
    );
    assert!(operator.running());
    operator.stop().await;
}
