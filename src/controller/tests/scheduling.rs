//! When the next call happens: never again for a terminal error of the same generation, not
//! before a scheduled retry, and with a growing attempt count once it is due.

use std::time::Duration;

use super::*;
use crate::resource::RetryStatus;

/// Generation 2 (new subject) after an accepted generation 1.
async fn changed_spec() -> ChatGroup {
    let v1 = accepted(&base().build()).await;
    ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("VIP support (24/7)"))
        .build()
}

#[tokio::test]
async fn a_terminal_error_is_not_retried_for_the_same_generation() {
    let v2 = changed_spec().await;
    let h = answering(vec![Err(api_error(
        400,
        "InvalidParameter.GroupNotExist",
        "The group does not exist.",
        None,
    ))]);
    assert_eq!(h.reconcile(&v2).await, Requeue::OnChange);
    let refused = with_status(&v2, h.api.written_status());

    // The next reconcile of the same generation (its own status write, a resync, a restart):
    // no call, no request at all.
    for _ in 0..2 {
        let h = with_secret();
        assert_eq!(h.reconcile(&refused).await, Requeue::OnChange);
        assert!(h.cams_calls().is_empty());
        assert!(h.api.calls().is_empty(), "{:?}", h.api.routes());
    }

    // A spec change is tried again.
    let v3 = ChatGroupBuilder::from(&refused)
        .generation(3)
        .subject(Some("VIP"))
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&v3).await;
    assert_eq!(h.cams_calls().len(), 1);
    let status = h.api.written_status();
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(cond(&status, "Stalled").0, "False");
    assert_eq!(cond(&status, "Ready").0, "True");
}

#[tokio::test]
async fn a_retry_scheduled_in_the_future_waits_without_any_request() {
    let v2 = changed_spec().await;
    let mut status = v2.status.clone().unwrap();
    let at = Utc::now() + chrono::Duration::seconds(60);
    status.retry = Some(Box::new(RetryStatus {
        attempts: 3,
        next_retry_time: crate::status::rfc3339(at),
        generation: Some(2),
        credentials_version: None,
    }));
    let waiting = with_status(&v2, status);
    let h = with_secret();

    let action = h.reconcile(&waiting).await;

    assert!(h.cams_calls().is_empty());
    assert!(h.api.calls().is_empty(), "{:?}", h.api.routes());
    let wait = requeue_after(&action).expect("requeued for the retry time");
    assert!(
        Duration::from_secs(58) <= wait && wait <= Duration::from_secs(61),
        "{wait:?}"
    );
}

#[tokio::test]
async fn a_due_retry_calls_again_and_backs_off_further() {
    let v2 = changed_spec().await;
    let h = answering(vec![Err(api_error(500, "InternalError", "boom", None))]);
    h.reconcile(&v2).await;
    let mut status = h.api.written_status();
    assert_eq!(status.retry.as_ref().unwrap().attempts, 1);
    status.retry.as_mut().unwrap().next_retry_time = "2020-01-01T00:00:00Z".into();
    let due = with_status(&v2, status);

    let h = answering(vec![Err(api_error(500, "InternalError", "boom", None))]);
    let action = h.reconcile(&due).await;

    assert_eq!(h.cams_calls().len(), 1);
    let status = h.api.written_status();
    let retry = status.retry.expect("still retrying");
    assert_eq!(retry.attempts, 2);
    let wait = requeue_after(&action).unwrap();
    assert!(
        Duration::from_secs(1) <= wait && wait <= Duration::from_secs(2),
        "second backoff (base 1s doubled, equal jitter): {wait:?}"
    );
    assert_eq!(status.observed_generation, Some(1));
}

#[tokio::test]
async fn a_retry_scheduled_for_an_older_generation_does_not_delay_a_new_spec() {
    let v2 = changed_spec().await;
    let mut status = v2.status.clone().unwrap();
    status.retry = Some(Box::new(RetryStatus {
        attempts: 5,
        next_retry_time: crate::status::rfc3339(Utc::now() + chrono::Duration::seconds(600)),
        generation: Some(1),
        credentials_version: None,
    }));
    let h = answering(vec![Ok(alibaba_example_response())]);

    h.reconcile(&with_status(&v2, status)).await;

    assert_eq!(h.cams_calls().len(), 1);
    let status = h.api.written_status();
    assert_eq!(status.retry, None, "success clears the retry");
    assert_eq!(status.observed_generation, Some(2));
}

#[tokio::test]
async fn a_later_success_clears_the_failure() {
    let v2 = changed_spec().await;
    let h = answering(vec![Err(api_error(403, "Forbidden.RAM", "denied", None))]);
    h.reconcile(&v2).await;
    let mut status = h.api.written_status();
    status.retry.as_mut().unwrap().next_retry_time = "2020-01-01T00:00:00Z".into();

    let h = answering(vec![Ok(alibaba_example_response())]);
    let action = h.reconcile(&with_status(&v2, status)).await;

    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready"), ("True".into(), "Available".into()));
    assert_eq!(
        cond(&status, "Synced"),
        ("True".into(), "ReconcileSuccess".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "False");
    assert_eq!(status.retry, None);
    assert_eq!(status.code.as_deref(), Some("OK"));
    assert_eq!(action, Requeue::OnChange);
}
