//! Two ChatGroups naming the same group: the newer one gets Conflict and makes no call; the
//! older keeps working.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector;
use kube::runtime::watcher;

use super::*;

fn created_at(obj: ChatGroup, name: &str, second: i64) -> ChatGroup {
    let mut obj = obj;
    obj.metadata.name = Some(name.into());
    obj.metadata.uid = Some(format!("uid-{name}"));
    obj.metadata.creation_timestamp = Some(Time(
        Timestamp::from_second(1_790_000_000 + second).unwrap(),
    ));
    obj
}

fn fill_cache(h: &Harness, objects: &[ChatGroup]) {
    let (reader, mut writer) = reflector::store::<ChatGroup>();
    for obj in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(obj.clone()));
    }
    h.ctx.caches.add(reader, None);
}

#[tokio::test]
async fn the_newer_of_two_chatgroups_for_one_group_gets_conflict_and_no_call() {
    let mut older = created_at(base().build(), "older", 0);
    // CAMS accepted a call of the older one, so it blocks from another namespace too.
    older.status = Some(ChatGroupStatus {
        last_sync_time: Some("2026-11-26T01:02:03Z".into()),
        ..Default::default()
    });
    let newer = created_at(base().namespace("team-b").build(), "newer", 10);

    let h = with_secret();
    fill_cache(&h, &[older.clone(), newer.clone()]);
    let action = h.reconcile(&newer).await;
    assert!(h.cams_calls().is_empty(), "the newer ChatGroup called CAMS");
    assert_eq!(action, Requeue::After(Duration::from_secs(30)));
    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready"), ("False".into(), "Conflict".into()));
    assert_eq!(cond(&status, "Synced"), ("False".into(), "Conflict".into()));
    assert_eq!(cond(&status, "Stalled"), ("True".into(), "Conflict".into()));
    // The message never names an object in another namespace.
    let message = &condition(&status, "Synced").message;
    assert!(
        !message.contains("team-a") && !message.contains("older"),
        "{message}"
    );
    assert!(message.contains("another namespace"), "{message}");
    assert_eq!(status.observed_generation, Some(1));
    let (kind, reason, _) = h.api.single_event();
    assert_eq!((kind.as_str(), reason.as_str()), ("Warning", "Conflict"));

    // Reconciling the conflicting object again changes nothing and publishes nothing.
    let h2 = Harness::builder().build();
    fill_cache(&h2, &[older.clone(), newer.clone()]);
    h2.reconcile(&with_status(&newer, status)).await;
    assert!(h2.api.calls().is_empty(), "{:?}", h2.api.routes());

    // The older one keeps working.
    let h = answering(vec![Ok(alibaba_example_response())]);
    fill_cache(&h, &[older.clone(), newer]);
    h.reconcile(&older).await;
    assert_eq!(h.cams_calls().len(), 1);
    assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
}

#[tokio::test]
async fn different_groups_do_not_conflict() {
    let a = created_at(base().build(), "a", 0);
    let mut b = created_at(base().build(), "b", 10);
    b.spec.group_id = Some("EA303OTHER".into());
    let h = answering(vec![Ok(alibaba_example_response())]);
    fill_cache(&h, &[a, b.clone()]);
    h.reconcile(&b).await;
    assert_eq!(h.cams_calls().len(), 1);
}

#[tokio::test]
async fn a_conflict_keeps_the_reconcile_token_pending_and_withdraws_the_applied_claim() {
    let older = created_at(base().build(), "older", 0);
    let accepted_newer = accepted(&created_at(base().build(), "newer", 10)).await;
    let newer = ChatGroupBuilder::from(&accepted_newer)
        .annotation("cams.dev/reconcile-requested-at", "token-1")
        .build();
    let h = with_secret();
    fill_cache(&h, &[older.clone(), newer.clone()]);
    h.reconcile(&newer).await;
    assert!(h.cams_calls().is_empty());
    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready"), ("False".into(), "Conflict".into()));
    // Same namespace: the message names the other object.
    assert!(condition(&status, "Synced")
        .message
        .contains("team-a/older"));
    assert_eq!(
        status.last_handled_reconcile_at, None,
        "the token was dropped"
    );
    assert_eq!(
        status.applied_hash, None,
        "a blocked object vouches for nothing"
    );

    // Once the older one is gone, the token is handled with a call.
    let h = answering(vec![Ok(alibaba_example_response())]);
    fill_cache(&h, &[with_status(&newer, status.clone())]);
    h.reconcile(&with_status(&newer, status)).await;
    assert_eq!(h.cams_calls().len(), 1);
    let status = h.api.written_status();
    assert_eq!(status.last_handled_reconcile_at.as_deref(), Some("token-1"));
    assert_eq!(cond(&status, "Ready").0, "True");
}
