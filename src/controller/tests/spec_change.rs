//! A spec change after an accepted apply: exactly one call with the new spec; a change that
//! does not change what is sent (e.g. the credentials reference) makes no call; a new
//! reconcile token forces exactly one re-apply.

use super::*;
use crate::resource::RECONCILE_REQUESTED_AT_ANNOTATION as TOKEN;

fn answer_with_request_id(rid: &str) -> Response {
    let mut r = alibaba_example_response();
    r.envelope.request_id = Some(rid.into());
    r
}

#[tokio::test]
async fn new_subject_at_generation_2_is_applied_once_and_observed() {
    let v1 = accepted(&base().build()).await;
    let old = v1.status.clone().unwrap();
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("VIP support (24/7)"))
        .build();
    let h = answering(vec![Ok(answer_with_request_id("REQ-GEN-2"))]);

    let action = h.reconcile(&v2).await;

    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1, "exactly one UpdateChatGroup");
    assert_eq!(
        calls[0].request.subject.as_deref(),
        Some("VIP support (24/7)")
    );
    assert_eq!(calls[0].request.group_id, "EA303XYZ");
    h.api.assert_one_call_recorded();
    let status = h.api.written_status();
    assert_eq!(status.observed_generation, Some(2));
    for type_ in ["Ready", "Synced", "Stalled"] {
        assert_eq!(condition(&status, type_).observed_generation, Some(2));
    }
    assert_eq!(cond(&status, "Ready"), ("True".into(), "Available".into()));
    assert_eq!(status.request_id.as_deref(), Some("REQ-GEN-2"));
    assert_ne!(
        status.applied_hash, old.applied_hash,
        "the applied hash follows the spec"
    );
    assert!(status.applied_hash.as_deref().unwrap().starts_with("v1:"));
    assert_eq!(
        h.api.single_event(),
        (
            "Normal".into(),
            "Updated".into(),
            "CAMS accepted UpdateChatGroup (RequestId REQ-GEN-2)".into()
        )
    );
    assert_eq!(action, Requeue::OnChange);

    // The status just written matches the spec: the next reconcile does nothing.
    let settled = with_status(&v2, status);
    let h = with_secret();
    h.reconcile(&settled).await;
    assert!(h.api.routes().is_empty(), "{:?}", h.api.routes());
}

#[tokio::test]
async fn removing_an_optional_field_stops_sending_it() {
    let v1 = accepted(&base().description(Some("Priority line")).build()).await;
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .description(None)
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);

    h.reconcile(&v2).await;

    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].request.description, None,
        "an unset field is not managed: not sent, not cleared"
    );
    assert_eq!(calls[0].request.subject.as_deref(), Some("VIP support"));
    assert_eq!(h.api.written_status().observed_generation, Some(2));
}

#[tokio::test]
async fn changing_only_the_credentials_reference_makes_no_call() {
    let v1 = accepted(&base().build()).await;
    let old = v1.status.clone().unwrap();
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .secret_ref(Some("rotated-credentials"))
        .build();
    // No answers scripted: any CAMS call fails the test.
    let h = Harness::builder().build();

    let action = h.reconcile(&v2).await;

    assert!(h.cams_calls().is_empty());
    // The new generation is observed (one status write), but nothing is re-applied: no
    // Secret read, no event.
    assert_eq!(h.api.routes(), [status_patch_route()]);
    let status = h.api.written_status();
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(condition(&status, "Ready").observed_generation, Some(2));
    assert_eq!(cond(&status, "Ready").0, "True");
    assert_eq!(status.applied_hash, old.applied_hash);
    assert_eq!(
        status.last_sync_time, old.last_sync_time,
        "no call, so no new sync time"
    );
    assert_eq!(action, Requeue::OnChange);
}

#[tokio::test]
async fn a_new_reconcile_token_forces_exactly_one_reapply() {
    let v1 = accepted(&base().annotation(TOKEN, "token-1").build()).await;
    assert_eq!(
        v1.status
            .as_ref()
            .unwrap()
            .last_handled_reconcile_at
            .as_deref(),
        Some("token-1")
    );

    // The same token again: nothing.
    let h = with_secret();
    h.reconcile(&v1).await;
    assert!(h.api.routes().is_empty(), "{:?}", h.api.routes());

    // A new token, same generation and spec: one call, the token recorded.
    let poked = ChatGroupBuilder::from(&v1)
        .annotation(TOKEN, "token-2")
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&poked).await;
    assert_eq!(h.cams_calls().len(), 1);
    let status = h.api.written_status();
    assert_eq!(status.last_handled_reconcile_at.as_deref(), Some("token-2"));
    assert_eq!(h.api.single_event().1, "Updated");

    // Handled: the next reconcile does nothing.
    let h = with_secret();
    h.reconcile(&with_status(&poked, status)).await;
    assert!(h.api.routes().is_empty(), "{:?}", h.api.routes());
}
