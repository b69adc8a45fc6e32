//! The paused row: `cams.dev/paused: "true"` makes no call; Synced False ReconcilePaused,
//! Ready unchanged, observedGeneration unchanged, one Normal Paused event; the status write
//! keeps every field this manager owns (server-side apply would drop the ones left out).

use super::*;
use crate::resource::PAUSED_ANNOTATION as PAUSED;

#[tokio::test]
async fn pausing_an_accepted_object_keeps_its_status_and_makes_no_call() {
    let v1 = accepted(&base().build()).await;
    let before = v1.status.clone().unwrap();
    let paused = ChatGroupBuilder::from(&v1)
        .annotation(PAUSED, "true")
        .build();
    let h = with_secret();

    let action = h.reconcile(&paused).await;

    assert!(h.cams_calls().is_empty());
    assert_eq!(
        h.api.routes(),
        [status_patch_route(), event_post_route()],
        "no Secret read"
    );
    let status = h.api.written_status();
    // Every field written before is written again, unchanged.
    assert_eq!(status.request_id, before.request_id);
    assert_eq!(status.code, before.code);
    assert_eq!(status.success, before.success);
    assert_eq!(status.message, before.message);
    assert_eq!(status.access_denied_detail, before.access_denied_detail);
    assert_eq!(status.result, before.result);
    assert_eq!(status.applied_hash, before.applied_hash);
    assert_eq!(status.last_sync_time, before.last_sync_time);
    assert_eq!(status.observed_generation, before.observed_generation);
    assert_eq!(condition(&status, "Ready"), condition(&before, "Ready"));
    assert_eq!(
        cond(&status, "Synced"),
        ("False".into(), "ReconcilePaused".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "False");
    let (type_, reason, _) = h.api.single_event();
    assert_eq!((type_.as_str(), reason.as_str()), ("Normal", "Paused"));
    assert_eq!(action, Requeue::OnChange);

    // Still paused: nothing at all.
    let still = with_status(&paused, status);
    let h = with_secret();
    assert_eq!(h.reconcile(&still).await, Requeue::OnChange);
    assert!(h.api.calls().is_empty(), "{:?}", h.api.routes());
}

#[tokio::test]
async fn a_spec_change_while_paused_is_only_noted() {
    let v1 = accepted(&base().build()).await;
    let paused = ChatGroupBuilder::from(&v1)
        .annotation(PAUSED, "true")
        .build();
    let h = Harness::builder().build();
    h.reconcile(&paused).await;
    let changed = ChatGroupBuilder::from(&with_status(&paused, h.api.written_status()))
        .generation(2)
        .subject(Some("changed while paused"))
        .build();

    let h = with_secret();
    h.reconcile(&changed).await;

    // No call and no Secret read; the paused conditions now speak for generation 2, while
    // observedGeneration stays at the last judged generation.
    assert!(h.cams_calls().is_empty());
    assert!(
        !h.api.routes().iter().any(|r| r.contains("/secrets/")),
        "{:?}",
        h.api.routes()
    );
    let status = h.api.written_status();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(condition(&status, "Synced").observed_generation, Some(2));
    assert_eq!(cond(&status, "Synced").1, "ReconcilePaused");

    // And that write settles it.
    let h = with_secret();
    h.reconcile(&with_status(&changed, status)).await;
    assert!(h.api.calls().is_empty(), "{:?}", h.api.routes());
}

#[tokio::test]
async fn unpausing_an_unchanged_spec_makes_no_call() {
    let v1 = accepted(&base().build()).await;
    let paused = ChatGroupBuilder::from(&v1)
        .annotation(PAUSED, "true")
        .build();
    let h = Harness::builder().build();
    h.reconcile(&paused).await;
    let paused_status = h.api.written_status();

    // Unpaused: CAMS already has this spec.
    let resumed = with_status(&v1, paused_status);
    let h = with_secret();
    h.reconcile(&resumed).await;

    assert!(h.cams_calls().is_empty());
    assert_eq!(h.api.routes(), [status_patch_route()]);
    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Synced"),
        ("True".into(), "ReconcileSuccess".into())
    );
    assert_eq!(cond(&status, "Ready").0, "True");
}

#[tokio::test]
async fn unpausing_a_changed_spec_applies_it() {
    let v1 = accepted(&base().build()).await;
    let paused = ChatGroupBuilder::from(&v1)
        .annotation(PAUSED, "true")
        .generation(2)
        .subject(Some("changed while paused"))
        .build();
    let h = Harness::builder().build();
    h.reconcile(&paused).await;
    let paused_status = h.api.written_status();
    assert_eq!(paused_status.observed_generation, Some(1));

    let resumed = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("changed while paused"))
        .status(Some(paused_status))
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&resumed).await;

    assert_eq!(h.cams_calls().len(), 1);
    assert_eq!(
        h.cams_calls()[0].request.subject.as_deref(),
        Some("changed while paused")
    );
    assert_eq!(h.api.written_status().observed_generation, Some(2));
}

#[tokio::test]
async fn pausing_a_new_object_reports_it_without_a_call() {
    let obj = base().annotation(PAUSED, "true").build();
    let h = with_secret();

    h.reconcile(&obj).await;

    assert!(h.cams_calls().is_empty());
    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready").0, "False");
    assert_eq!(
        cond(&status, "Synced"),
        ("False".into(), "ReconcilePaused".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "False");
    assert_eq!(status.observed_generation, None);
    assert_eq!(h.api.single_event().1, "Paused");
}
