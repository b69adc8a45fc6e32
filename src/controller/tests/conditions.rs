//! Condition bookkeeping: a failed forced re-apply withdraws Ready until a call is accepted;
//! lastTransitionTime moves only when a condition's status flips.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::resource::RECONCILE_REQUESTED_AT_ANNOTATION as TOKEN;

/// A long-past transition time, so "unchanged" cannot be a same-second coincidence.
fn long_ago() -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(1_600_000_000).unwrap())
}

/// `obj` with every condition's lastTransitionTime set to [`long_ago`].
fn aged(obj: &ChatGroup) -> ChatGroup {
    let mut status = obj.status.clone().expect("status");
    for c in &mut status.conditions {
        c.last_transition_time = long_ago();
    }
    with_status(obj, status)
}

#[tokio::test]
async fn a_failed_forced_reapply_leaves_ready_false_until_a_call_is_accepted() {
    let answers: Vec<(&str, CamsError)> = vec![
        (
            "ReconcileError",
            api_error(500, "InternalError", "boom", None),
        ),
        (
            "Throttled",
            api_error(
                400,
                "Throttling.User",
                "slow down",
                Some(Duration::from_secs(2)),
            ),
        ),
        (
            "ReconcileError",
            CamsError::Transport("connection refused".into()),
        ),
        (
            "ClockSkew",
            api_error(400, "InvalidTimeStamp.Expired", "expired", None),
        ),
    ];
    for (reason, error) in answers {
        let v1 = aged(&accepted(&base().build()).await);
        let poked = ChatGroupBuilder::from(&v1)
            .annotation(TOKEN, "token-9")
            .build();
        let h = answering(vec![Err(error)]);

        h.reconcile(&poked).await;

        assert_eq!(h.cams_calls().len(), 1, "{reason}: the token forces a call");
        let status = h.api.written_status();
        assert_eq!(
            cond(&status, "Ready"),
            ("False".into(), reason.into()),
            "{reason}: the group may not hold the spec any more (the call may have landed)"
        );
        assert_eq!(cond(&status, "Synced"), ("False".into(), reason.into()));
        assert_eq!(cond(&status, "Stalled").0, "False");
        assert_eq!(
            status.applied_hash, None,
            "{reason}: the applied claim is withdrawn"
        );
        assert!(status.retry.is_some());
        assert_eq!(h.api.single_event().0, "Warning");

        // While the retry waits, nothing is called and Ready stays False.
        let waiting = with_status(&poked, status.clone());
        let h = with_secret();
        assert!(h.reconcile(&waiting).await != Requeue::OnChange);
        assert!(
            h.cams_calls().is_empty(),
            "{reason}: called before the backoff ended"
        );
        assert!(h.api.status_patches().is_empty());

        // When it is due, the spec is applied again: never judged "up to date".
        let mut due = status;
        due.retry.as_mut().unwrap().next_retry_time = "2020-01-01T00:00:00Z".into();
        let h = answering(vec![Ok(alibaba_example_response())]);
        h.reconcile(&with_status(&poked, due)).await;
        assert_eq!(h.cams_calls().len(), 1, "{reason}: the retry calls again");
        assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
    }
}

#[tokio::test]
async fn a_final_error_on_a_token_reapply_turns_ready_false_and_handles_the_token() {
    let v1 = aged(&accepted(&base().build()).await);
    let poked = ChatGroupBuilder::from(&v1)
        .annotation(TOKEN, "token-9")
        .build();
    let h = answering(vec![Err(api_error(
        400,
        "InvalidAccessKeyId.Inactive",
        "disabled",
        None,
    ))]);

    h.reconcile(&poked).await;

    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Ready"),
        ("False".into(), "CredentialsInvalid".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "True");
    assert_eq!(status.last_handled_reconcile_at.as_deref(), Some("token-9"));
}

#[tokio::test]
async fn last_transition_time_is_kept_when_no_condition_flips() {
    let v1 = aged(&accepted(&base().build()).await);
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("renamed"))
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);

    h.reconcile(&v2).await;

    let status = h.api.written_status();
    for type_ in ["Ready", "Synced", "Stalled"] {
        let c = condition(&status, type_);
        assert_eq!(
            c.last_transition_time,
            long_ago(),
            "{type_} did not flip, so its lastTransitionTime stays"
        );
        assert_eq!(c.observed_generation, Some(2), "{type_} was re-judged");
    }
}

#[tokio::test]
async fn last_transition_time_is_kept_across_repeated_failures() {
    let v1 = accepted(&base().build()).await;
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("renamed"))
        .build();
    let h = answering(vec![Err(api_error(500, "InternalError", "boom", None))]);
    h.reconcile(&v2).await;
    let mut failed = h.api.written_status();
    for c in &mut failed.conditions {
        c.last_transition_time = long_ago();
    }
    // Make the retry due now.
    failed.retry.as_mut().unwrap().next_retry_time = "2020-01-01T00:00:00Z".into();
    let again = with_status(&v2, failed);

    let h = answering(vec![Err(api_error(500, "InternalError", "boom", None))]);
    h.reconcile(&again).await;

    let status = h.api.written_status();
    assert_eq!(status.retry.as_ref().unwrap().attempts, 2);
    for type_ in ["Ready", "Synced", "Stalled"] {
        assert_eq!(
            condition(&status, type_).last_transition_time,
            long_ago(),
            "{type_} stayed the same status, so its lastTransitionTime stays"
        );
    }
}

#[tokio::test]
async fn last_transition_time_moves_when_a_condition_flips() {
    let v1 = aged(&accepted(&base().build()).await);
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("renamed"))
        .build();
    let h = answering(vec![Err(api_error(
        400,
        "SignatureDoesNotMatch",
        "mismatch",
        None,
    ))]);

    h.reconcile(&v2).await;

    let status = h.api.written_status();
    let now = Utc::now().timestamp();
    for type_ in ["Ready", "Synced", "Stalled"] {
        let c = condition(&status, type_);
        let moved = c.last_transition_time.0.as_second();
        assert!(
            (now - moved).abs() <= 2,
            "{type_} flipped ({}), so lastTransitionTime is now, not {moved}",
            c.status
        );
    }
}
