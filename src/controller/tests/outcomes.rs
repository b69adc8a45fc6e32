//! The contract's outcome table, one test per row (and per example of a row): conditions,
//! Synced reason, observedGeneration, status.retry, the event and the returned Action.
//!
//! Every row starts from the same place: generation 1 was accepted, generation 2 changes the
//! subject. So "observedGeneration advanced" reads 2 and "left unchanged" reads 1, and Ready
//! cannot stay True through the spec-unchanged rule (that rule has its own tests in
//! `conditions.rs`).

use std::time::Duration;

use chrono::Utc;

use super::*;

/// What the outcome table says about one row.
struct Row {
    ready: &'static str,
    synced_reason: &'static str,
    stalled: &'static str,
    /// Accepted or Stalled True: observedGeneration moves to the judged generation.
    final_outcome: bool,
    retry: bool,
    event: (&'static str, &'static str),
    next: Next,
    /// The status.code CAMS's last answer leaves.
    code: &'static str,
    /// Text the Synced message must contain.
    says: &'static str,
}

enum Next {
    AwaitChange,
    Exactly(Duration),
    Between(Duration, Duration),
}

const NEW_SUBJECT: &str = "VIP support (24/7)";

async fn check_row(answer: Result<Response, CamsError>, row: Row) {
    let v1 = accepted(&base().build()).await;
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some(NEW_SUBJECT))
        .build();
    let h = answering(vec![answer]);

    let started = Utc::now();
    let action = h.reconcile(&v2).await;

    // One call with the new spec; the requests are exactly: Secret, status, event.
    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].request.subject.as_deref(), Some(NEW_SUBJECT));
    h.api.assert_one_call_recorded();

    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready").0, row.ready, "Ready");
    assert_eq!(
        cond(&status, "Synced"),
        (
            if row.synced_reason == "ReconcileSuccess" {
                "True"
            } else {
                "False"
            }
            .to_string(),
            row.synced_reason.to_string()
        ),
        "Synced"
    );
    assert_eq!(cond(&status, "Stalled").0, row.stalled, "Stalled");
    assert_eq!(
        condition(&status, "Synced").observed_generation,
        Some(2),
        "conditions carry the generation they judged"
    );
    let synced_message = &condition(&status, "Synced").message;
    assert!(
        synced_message.contains(row.says),
        "Synced message {synced_message:?} should mention {:?}",
        row.says
    );
    assert_eq!(
        status.observed_generation,
        Some(if row.final_outcome { 2 } else { 1 }),
        "observedGeneration"
    );
    assert_eq!(status.code.as_deref(), Some(row.code), "status.code");

    match (&status.retry, row.retry) {
        (Some(retry), true) => {
            assert_eq!(retry.attempts, 1);
            assert_eq!(retry.generation, Some(2));
            let at = parse_time(&retry.next_retry_time);
            let requeued = requeue_after(&action).expect("a retry is requeued");
            // A credentials retry is due after the slow interval; the object only looks at
            // its Secret sooner.
            let delay = if row.synced_reason == "CredentialsInvalid" {
                Duration::from_secs(300)
            } else {
                requeued
            };
            let expected = started + chrono::Duration::from_std(delay).unwrap();
            assert!(
                (at - expected).num_seconds().abs() <= 2,
                "nextRetryTime {at} should be about {expected}"
            );
        }
        (None, false) => {}
        (retry, expected) => panic!("status.retry is {retry:?}, expected present: {expected}"),
    }

    let (type_, reason, _) = h.api.single_event();
    assert_eq!((type_.as_str(), reason.as_str()), row.event, "event");

    match row.next {
        Next::AwaitChange => assert_eq!(action, Requeue::OnChange),
        Next::Exactly(d) => assert_eq!(action, Requeue::After(d)),
        Next::Between(lo, hi) => {
            let d = requeue_after(&action).expect("requeue");
            assert!(
                lo <= d && d <= hi,
                "requeue {d:?} not within [{lo:?}, {hi:?}]"
            );
        }
    }
}

/// The first retry of a retryable error under the default policy (base 1s, equal jitter).
const FIRST_BACKOFF: Next = Next::Between(Duration::from_millis(500), Duration::from_secs(1));
const SLOW: Next = Next::Exactly(Duration::from_secs(300));
/// A credentials error looks again within the Secret re-read bound (Secrets are not watched
/// cluster-wide, which is what the harness is).
const SECRET_RECHECK: Next = Next::Exactly(crate::controller::SECRET_RECHECK);

#[tokio::test]
async fn accepted_2xx_code_ok() {
    check_row(
        Ok(alibaba_example_response()),
        Row {
            ready: "True",
            synced_reason: "ReconcileSuccess",
            stalled: "False",
            final_outcome: true,
            retry: false,
            event: ("Normal", "Updated"),
            next: Next::AwaitChange,
            code: "OK",
            says: "RequestId",
        },
    )
    .await;
}

fn retryable(
    synced_reason: &'static str,
    next: Next,
    code: &'static str,
    says: &'static str,
) -> Row {
    Row {
        ready: "False",
        synced_reason,
        stalled: "False",
        final_outcome: false,
        retry: true,
        event: ("Warning", "UpdateFailed"),
        next,
        code,
        says,
    }
}

#[tokio::test]
async fn retryable_throttling_with_retry_after() {
    check_row(
        Err(api_error(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
            Some(Duration::from_secs(5)),
        )),
        retryable(
            "Throttled",
            Next::Exactly(Duration::from_secs(5)),
            "Throttling.User",
            "Throttling.User",
        ),
    )
    .await;
}

#[tokio::test]
async fn retryable_throttling_without_retry_after() {
    check_row(
        Err(api_error(400, "Throttling", "throttled", None)),
        retryable("Throttled", FIRST_BACKOFF, "Throttling", "Throttling"),
    )
    .await;
}

#[tokio::test]
async fn retryable_unknown_code_with_retry_after_is_throttled() {
    check_row(
        Err(api_error(
            503,
            "ServiceUnavailable",
            "busy",
            Some(Duration::from_secs(7)),
        )),
        retryable(
            "Throttled",
            Next::Exactly(Duration::from_secs(7)),
            "ServiceUnavailable",
            "ServiceUnavailable",
        ),
    )
    .await;
}

#[tokio::test]
async fn retryable_internal_error_500() {
    check_row(
        Err(api_error(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.",
            None,
        )),
        retryable(
            "ReconcileError",
            FIRST_BACKOFF,
            "InternalError",
            "InternalError",
        ),
    )
    .await;
}

#[tokio::test]
async fn retryable_unknown_code() {
    check_row(
        Err(api_error(400, "SomethingNew.NeverSeen", "?", None)),
        retryable(
            "ReconcileError",
            FIRST_BACKOFF,
            "SomethingNew.NeverSeen",
            "SomethingNew.NeverSeen",
        ),
    )
    .await;
}

#[tokio::test]
async fn retryable_transport_error_keeps_the_last_answer_fields() {
    // No answer, so status.code stays what CAMS last said (OK, from generation 1).
    check_row(
        Err(CamsError::Transport("connection reset by peer".into())),
        retryable("ReconcileError", FIRST_BACKOFF, "OK", "connection reset"),
    )
    .await;
}

#[tokio::test]
async fn retryable_timeout() {
    check_row(
        Err(CamsError::Timeout(Duration::from_secs(10))),
        retryable("ReconcileError", FIRST_BACKOFF, "OK", "did not answer"),
    )
    .await;
}

#[tokio::test]
async fn retryable_undecodable_answer() {
    check_row(
        Err(CamsError::Undecodable { status: 502 }),
        retryable("ReconcileError", FIRST_BACKOFF, "OK", "502"),
    )
    .await;
}

fn stalled(
    synced_reason: &'static str,
    event: &'static str,
    retry: bool,
    next: Next,
    code: &'static str,
) -> Row {
    Row {
        ready: "False",
        synced_reason,
        stalled: "True",
        final_outcome: true,
        retry,
        event: ("Warning", event),
        next,
        code,
        says: code,
    }
}

#[tokio::test]
async fn credentials_signature_does_not_match() {
    check_row(
        Err(api_error(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
            None,
        )),
        stalled(
            "CredentialsInvalid",
            "CredentialsInvalid",
            true,
            SECRET_RECHECK,
            "SignatureDoesNotMatch",
        ),
    )
    .await;
}

#[tokio::test]
async fn credentials_invalid_access_key_id() {
    check_row(
        Err(api_error(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
            None,
        )),
        stalled(
            "CredentialsInvalid",
            "CredentialsInvalid",
            true,
            SECRET_RECHECK,
            "InvalidAccessKeyId.NotFound",
        ),
    )
    .await;
}

#[tokio::test]
async fn credentials_expired_security_token() {
    check_row(
        Err(api_error(
            400,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
            None,
        )),
        stalled(
            "CredentialsInvalid",
            "CredentialsInvalid",
            true,
            SECRET_RECHECK,
            "InvalidSecurityToken.Expired",
        ),
    )
    .await;
}

#[tokio::test]
async fn forbidden_ram() {
    check_row(
        Err(api_error(
            403,
            "Forbidden.RAM",
            "User not authorized to operate on the specified resource.",
            None,
        )),
        stalled("Forbidden", "Forbidden", true, SLOW, "Forbidden.RAM"),
    )
    .await;
}

#[tokio::test]
async fn forbidden_retry_after_longer_than_the_slow_interval_wins() {
    check_row(
        Err(api_error(
            403,
            "Forbidden.RAM",
            "denied",
            Some(Duration::from_secs(900)),
        )),
        stalled(
            "Forbidden",
            "Forbidden",
            true,
            Next::Exactly(Duration::from_secs(900)),
            "Forbidden.RAM",
        ),
    )
    .await;
}

fn clock_skew(code: &'static str, says: &'static str) -> Row {
    Row {
        event: ("Warning", "ClockSkew"),
        ..retryable("ClockSkew", FIRST_BACKOFF, code, says)
    }
}

#[tokio::test]
async fn freshness_timestamp_expired() {
    check_row(
        Err(api_error(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
            None,
        )),
        clock_skew("InvalidTimeStamp.Expired", "after one retry"),
    )
    .await;
}

#[tokio::test]
async fn freshness_nonce_used() {
    check_row(
        Err(api_error(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
            None,
        )),
        clock_skew("SignatureNonceUsed", "SignatureNonceUsed"),
    )
    .await;
}

#[tokio::test]
async fn terminal_group_not_exist() {
    check_row(
        Err(api_error(
            400,
            "InvalidParameter.GroupNotExist",
            "The group does not exist.",
            None,
        )),
        stalled(
            "InvalidSpec",
            "InvalidSpec",
            false,
            Next::AwaitChange,
            "InvalidParameter.GroupNotExist",
        ),
    )
    .await;
}

#[tokio::test]
async fn terminal_missing_parameter() {
    check_row(
        Err(api_error(
            400,
            "MissingParameter",
            "The input parameter GroupId that is mandatory for processing this request is not supplied.",
            None,
        )),
        stalled(
            "InvalidSpec",
            "InvalidSpec",
            false,
            Next::AwaitChange,
            "MissingParameter",
        ),
    )
    .await;
}

#[tokio::test]
async fn terminal_region_that_is_not_a_region_id_makes_no_call() {
    // The CRD refuses such a region; if one gets through, the client never sends it anywhere.
    let obj = base().region(Some("evil.example.com/x")).build();
    let h = with_secret();

    let action = h.reconcile(&obj).await;

    assert!(h.cams_calls().is_empty());
    assert_eq!(h.api.routes(), [status_patch_route(), event_post_route()]);
    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Synced"),
        ("False".into(), "InvalidSpec".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "True");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.retry, None);
    assert_eq!(h.api.single_event().1, "InvalidSpec");
    assert_eq!(action, Requeue::OnChange);

    // Not retried for this generation.
    let h = with_secret();
    h.reconcile(&with_status(&obj, status)).await;
    assert!(h.api.calls().is_empty(), "{:?}", h.api.routes());
}
