//! Kubernetes API failures end the reconcile with an error (retried by the error policy);
//! they are not CAMS outcomes and write nothing. A failed event is only logged.

use std::time::Duration;

use super::*;
use crate::controller::error_policy;

fn assert_error_policy_backs_off(h: &Harness, obj: &ChatGroup, error: &ReconcileError) {
    let action = error_policy(Arc::new(obj.clone()), error, h.ctx.clone());
    let d = requeue_after(&action).expect("the error policy requeues");
    assert!(
        Duration::from_secs(10) <= d && d < Duration::from_secs(15),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_failing_secret_read_is_a_reconcile_error_without_a_call_or_a_write() {
    let obj = ChatGroupBuilder::new().build();
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
    let obj = ChatGroupBuilder::new().build();
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
async fn a_failing_status_write_is_a_reconcile_error_and_publishes_nothing() {
    let obj = ChatGroupBuilder::new().build();
    let h = Harness::builder()
        .secret(user_secret())
        .failing(status_patch_route())
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

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
    assert_eq!(h.cams_calls().len(), 1);
    assert_eq!(
        h.api.routes(),
        [secret_get_route(NS, SECRET), status_patch_route()],
        "no event for an outcome that was not recorded"
    );
    assert_error_policy_backs_off(&h, &obj, &error);
}

#[tokio::test]
async fn a_failing_event_does_not_fail_the_reconcile() {
    let obj = ChatGroupBuilder::new().build();
    let h = Harness::builder()
        .secret(user_secret())
        .failing(event_post_route())
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

    let action = h.try_reconcile(&obj).await.expect("events are best effort");

    assert_eq!(action, kube::runtime::controller::Action::await_change());
    assert_eq!(
        h.api.routes(),
        [
            secret_get_route(NS, SECRET),
            status_patch_route(),
            event_post_route()
        ]
    );
    assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
}
