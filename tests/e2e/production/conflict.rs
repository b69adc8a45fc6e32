//! Two ChatGroups naming the same group (custSpaceId + businessNumber + groupId), in one
//! namespace and across two watched namespaces: the newer gets Conflict (Ready False, Synced
//! False Conflict, Stalled True) and makes no call; the older is Ready with exactly one call;
//! deleting the older lets the newer converge within the 30 s recheck, with one call.

use std::time::{Duration, Instant};

use cams_operator::resource::ChatGroup;
use kube::api::{Api, DeleteParams, PostParams};

use crate::harness::{condition, is_ready, reason, Deadline, World};

const RECHECK: Duration = Duration::from_secs(30);

/// `older`: what the message must say of the other object (its name only in the same
/// namespace).
fn check_conflict(obj: &ChatGroup, older: &str) {
    let name = obj.metadata.name.clone().unwrap_or_default();
    assert_eq!(condition(obj, "Ready").as_deref(), Some("False"), "{name}");
    assert_eq!(reason(obj, "Ready").as_deref(), Some("Conflict"), "{name}");
    assert_eq!(condition(obj, "Synced").as_deref(), Some("False"), "{name}");
    assert_eq!(condition(obj, "Stalled").as_deref(), Some("True"), "{name}");
    let status = obj.status.as_ref().unwrap();
    assert_eq!(status.observed_generation, obj.metadata.generation);
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "Synced")
        .unwrap()
        .message;
    assert!(message.contains(older), "{name}: {message}");
}

#[tokio::test]
async fn newer_of_two_chatgroups_naming_one_group_conflicts() {
    let world = World::new("conflict").await;
    let other_ns = world.extra_namespace("b").await;
    let mut operator =
        world.operator_with(&format!("e2e-{}", world.ns), &[&world.ns, &other_ns], &[]);
    let other: Api<ChatGroup> = Api::namespaced(world.client.clone(), &other_ns);

    // The older of each pair: in this namespace, Ready with one call each.
    world
        .create_group("older", "EA303DUP", |b| b.subject(Some("older")))
        .await;
    world
        .create_group("older-x", "EA303XNS", |b| b.subject(Some("older across")))
        .await;
    world.wait_ready("older").await;
    world.wait_ready("older-x").await;
    // creationTimestamp has one-second resolution: make the newer ones clearly newer.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The newer: same namespace, and the other watched namespace.
    // Not seeded again: seeding resets the simulator's group, an out-of-band edit the
    // older ones would (rightly) correct.
    world
        .create(
            &world
                .chatgroup("newer", "EA303DUP")
                .subject(Some("newer"))
                .build(),
        )
        .await;
    let newer_x = world
        .chatgroup("newer-x", "EA303XNS")
        .subject(Some("newer across"))
        .namespace(&other_ns)
        .build();
    other
        .create(&PostParams::default(), &newer_x)
        .await
        .expect("create ChatGroup in the other namespace");

    let obj = world.wait_reason("newer", "Synced", "Conflict").await;
    check_conflict(&obj, &format!("{}/older", world.ns));
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(200));
    let obj_x = loop {
        let o = other.get("newer-x").await.unwrap();
        if reason(&o, "Synced").as_deref() == Some("Conflict") {
            break o;
        }
        deadline.tick(|| format!("newer-x: {:#?}", o.status)).await;
    };
    // Across namespaces the message never names the other object.
    check_conflict(&obj_x, "A ChatGroup in another namespace");
    let message = format!("{:?}", obj_x.status);
    assert!(
        !message.contains(&world.ns) && !message.contains("older-x"),
        "{message}"
    );
    // A Warning Conflict event for each (published just after the status write).
    for (ns, name) in [(&world.ns, "newer"), (&other_ns, "newer-x")] {
        world
            .wait_event(ns, name, "Conflict", Some("Warning"))
            .await;
    }
    // The older ones stay Ready; one call per group, from the older object.
    world
        .expect_calls("UpdateChatGroup", 2, Duration::from_secs(3))
        .await;
    for (group, subject) in [("EA303DUP", "older"), ("EA303XNS", "older across")] {
        let calls = world.calls_for_group("UpdateChatGroup", group).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].param("Subject"), Some(subject));
    }
    for name in ["older", "older-x"] {
        let o = world.get(name).await;
        assert_eq!(condition(&o, "Ready").as_deref(), Some("True"), "{name}");
    }
    println!("conflict: 2 newer objects (same namespace, across namespaces) Conflict with 0 calls; 2 older Ready with 1 call each");

    // Delete the older ones: the newer converge at their next recheck, one call each.
    let deleted = Instant::now();
    for name in ["older", "older-x"] {
        world
            .chatgroups()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    let mut times = Vec::new();
    for (api, name) in [(world.chatgroups(), "newer"), (other.clone(), "newer-x")] {
        let deadline = deleted + RECHECK + Duration::from_secs(10);
        loop {
            let o = api.get(name).await.unwrap();
            if is_ready(&o) {
                assert_eq!(condition(&o, "Stalled").as_deref(), Some("False"));
                times.push(deleted.elapsed().as_secs_f64());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not converge: {:#?}",
                o.status
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (group, subject) in [("EA303DUP", "newer"), ("EA303XNS", "newer across")] {
        let calls = world.calls_for_group("UpdateChatGroup", group).await;
        assert_eq!(calls.len(), 2, "{calls:#?}");
        assert_eq!(calls[1].param("Subject"), Some(subject));
    }
    println!(
        "after deleting the older: newer Ready after {:.1}s, newer-x after {:.1}s (recheck {}s), 1 call each",
        times[0],
        times[1],
        RECHECK.as_secs()
    );
    assert!(
        times.iter().all(|t| *t <= RECHECK.as_secs_f64() + 2.0),
        "{times:?}"
    );
    operator.stop().await;
}
