//! Kubernetes API failures end the reconcile with an error (retried by the error policy);
//! they are not CAMS outcomes and write nothing. A failed event is only logged.

use std::time::Duration;

use super::*;
use crate::controller::error_retry_delay;

fn assert_error_policy_backs_off(_h: &Harness, _obj: &ChatGroup, _error: &ReconcileError) {
    let d = error_retry_delay();
    assert!(
        Duration::from_secs(10) <= d && d < Duration::from_secs(15),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_failing_secret_read_is_a_reconcile_error_without_a_call_or_a_write() {
    let obj = base().build();
    let h = Harness::builder()
        .secret(user_secret())
        .failing(secret_get_route(NS, SECRET))
        .build();

    let error = h.try_reconcile(&obj).await.expect_err("a Kubernetes error");

    assert!(
        matches!(
            error,
            ReconcileError::Kube {
                action: "reading the credentials Secret",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(h.cams_calls().is_empty());
    assert_eq!(
        h.api.routes(),
        [secret_get_route(NS, SECRET)],
        "no status write, no event"
    );
    assert_error_policy_backs_off(&h, &obj, &error);
}

#[tokio::test]
async fn a_secret_read_that_never_answers_times_out() {
    let obj = base().build();
    let h = Harness::builder()
        .secret(user_secret())
        .hanging(secret_get_route(NS, SECRET))
        .api_timeout(Duration::from_millis(100))
        .build();

    let error = h.try_reconcile(&obj).await.expect_err("a timeout");

    assert!(
        matches!(
            error,
            ReconcileError::Timeout("reading the credentials Secret")
        ),
        "{error:?}"
    );
    assert!(h.cams_calls().is_empty());
    assert_eq!(h.api.routes(), [secret_get_route(NS, SECRET)]);
}

#[tokio::test]
async fn a_failing_status_write_after_an_accepted_call_is_retried_with_backoff_never_the_call() {
    let obj = base().build();
    let h = Harness::builder()
        .secret(user_secret())
        .failing_times(status_patch_route(), 2)
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

    // The call is accepted; recording it fails.
    let first = h.try_reconcile(&obj).await.expect("not a reconcile error");
    assert_eq!(h.cams_calls().len(), 1);
    assert_eq!(
        h.api.routes(),
        [secret_get_route(NS, SECRET), status_patch_route()],
        "no event for an outcome that was not recorded"
    );
    let d1 = requeue_after(&first).expect("the object's backoff");
    assert!(
        Duration::from_millis(500) <= d1 && d1 <= Duration::from_secs(1),
        "first backoff {d1:?}"
    );

    // Before the backoff ends, a second trigger does nothing at all.
    let early = h.reconcile(&obj).await;
    assert!(requeue_after(&early).is_some_and(|d| d <= d1));
    assert_eq!(h.api.routes().len(), 2, "{:?}", h.api.routes());

    // Due: the status is written again (fails once more, backing off further) — no call.
    tokio::time::sleep(d1).await;
    let second = h.reconcile(&obj).await;
    let d2 = requeue_after(&second).expect("backoff");
    assert!(d2 >= Duration::from_secs(1), "the backoff grows: {d2:?}");
    tokio::time::sleep(d2).await;
    h.reconcile(&obj).await;

    assert_eq!(h.cams_calls().len(), 1, "the CAMS call was repeated");
    let patches = h.api.status_patches();
    assert_eq!(patches.len(), 3, "{:?}", h.api.routes());
    let body = patches[2].body.clone().expect("JSON");
    let written: ChatGroupStatus = serde_json::from_value(body["status"].clone()).unwrap();
    assert_eq!(
        patches[0].body, patches[2].body,
        "the same judged status, written again"
    );
    assert_eq!(cond(&written, "Ready").0, "True");
    assert_eq!(written.request_id.as_deref(), Some(REQUEST_ID));
    assert_eq!(
        h.api.single_event().1,
        "Updated",
        "the event once it is recorded"
    );
    let metrics = h.ctx.metrics.encode();
    assert!(
        metrics.contains("cams_operator_status_write_retries_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failing_status_write_without_a_call_is_a_reconcile_error() {
    let obj = base().build();
    let h = Harness::builder().failing(status_patch_route()).build();
    let error = h.try_reconcile(&obj).await.expect_err("a Kubernetes error");
    assert!(
        matches!(
            error,
            ReconcileError::Kube {
                action: "writing status",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(h.cams_calls().is_empty());
    assert_error_policy_backs_off(&h, &obj, &error);
}

#[tokio::test]
async fn a_failing_event_does_not_fail_the_reconcile() {
    let obj = base().build();
    let h = Harness::builder()
        .secret(user_secret())
        .failing(event_post_route())
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

    let action = h.try_reconcile(&obj).await.expect("events are best effort");

    assert_eq!(action, Requeue::OnChange);
    h.api.assert_one_call_recorded();
    assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
}
