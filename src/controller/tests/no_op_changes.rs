//! Changes that are not the spec — the operator's own status write, labels, unrelated
//! annotations — cause no CAMS call, no Secret read, no status write and no event: the fake
//! API server sees zero requests and the CAMS mock refuses any call.

use super::*;

/// Reconciles `obj` with a CAMS mock that allows no call; asserts nothing at all happened.
async fn assert_nothing_happens(obj: &ChatGroup) {
    let h = with_secret();
    let action = h.reconcile(obj).await;
    assert!(
        h.api.calls().is_empty(),
        "expected no API requests, got {:?}",
        h.api.routes()
    );
    assert!(h.cams_calls().is_empty());
    assert_eq!(action, Requeue::OnChange);
}

#[tokio::test]
async fn the_operators_own_status_write_changes_nothing() {
    // The watch event for the status just written: same generation, new status.
    let obj = accepted(&base().build()).await;
    assert_nothing_happens(&obj).await;
}

#[tokio::test]
async fn a_status_built_by_judging_the_spec_also_counts_as_applied() {
    // Build the matching status without a reconcile: judge an acceptance of this spec.
    use crate::plan::{applied_hash, update_request};
    use crate::status::{judge, JudgeInput, Outcome};
    let obj = base().build();
    let hash = applied_hash(
        &update_request(&obj.spec, "EA303XYZ"),
        &default_endpoints().resolve(None).unwrap(),
    );
    let judged = judge(
        &obj,
        &Outcome::Accepted {
            envelope: alibaba_example_envelope(),
            hash: hash.clone(),
        },
        &JudgeInput {
            desired_hash: &hash,
            now: Utc::now(),
            jitter: 0.5,
            policy: RetryPolicy::default(),
            credentials_version: None,
            observation: None,
        },
    );
    assert_nothing_happens(&with_status(&obj, judged.status)).await;
}

#[tokio::test]
async fn a_label_change_changes_nothing() {
    let obj = accepted(&base().build()).await;
    let relabelled = ChatGroupBuilder::from(&obj)
        .label("team", "support")
        .label("app.kubernetes.io/managed-by", "argocd")
        .build();
    assert_nothing_happens(&relabelled).await;
}

#[tokio::test]
async fn an_unrelated_annotation_changes_nothing() {
    let obj = accepted(&base().build()).await;
    let annotated = ChatGroupBuilder::from(&obj)
        .annotation(
            "kubectl.kubernetes.io/last-applied-configuration",
            "{\"spec\":{}}",
        )
        .annotation("cams.dev/paused", "false")
        .annotation("cams.dev/reconcile-requested-at", "")
        .build();
    assert_nothing_happens(&annotated).await;
}

#[tokio::test]
async fn a_restart_with_an_applied_status_changes_nothing() {
    // A fresh Context (new recorder, new client) is what a restarted operator has: the
    // decision comes from status alone.
    let obj = accepted(&base().build()).await;
    for _ in 0..3 {
        assert_nothing_happens(&obj).await;
    }
}
