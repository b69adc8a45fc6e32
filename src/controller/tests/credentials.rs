//! Where the credentials come from: the referenced Secret in the object's own namespace, or
//! the operator's own only for lent namespaces. Every failure is CredentialsInvalid with no
//! CAMS call.

use super::*;

/// Runs one reconcile that must end CredentialsInvalid without a CAMS call; returns the
/// Synced message.
async fn assert_credentials_invalid(h: &Harness, obj: &ChatGroup, routes: &[String]) -> String {
    let action = h.reconcile(obj).await;
    assert!(
        h.cams_calls().is_empty(),
        "no CAMS call without credentials"
    );
    assert_eq!(h.api.routes(), routes);
    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Synced"),
        ("False".into(), "CredentialsInvalid".into())
    );
    assert_eq!(cond(&status, "Ready").0, "False");
    assert_eq!(cond(&status, "Stalled").0, "True");
    assert_eq!(
        status.observed_generation, obj.metadata.generation,
        "a final outcome"
    );
    assert!(status.retry.is_some(), "slow retry is scheduled");
    assert_eq!(status.code, None, "no CAMS answer to record");
    let (type_, reason, note) = h.api.single_event();
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Warning", "CredentialsInvalid")
    );
    assert_eq!(action, Requeue::After(crate::controller::SECRET_RECHECK));
    let message = condition(&status, "Synced").message.clone();
    assert_eq!(note, message, "the event says what the condition says");
    message
}

fn with_secret_routes() -> Vec<String> {
    vec![
        secret_get_route(NS, SECRET),
        status_patch_route(),
        event_post_route(),
    ]
}

fn without_secret_routes() -> Vec<String> {
    vec![status_patch_route(), event_post_route()]
}

#[tokio::test]
async fn a_missing_secret_is_credentials_invalid() {
    let h = Harness::builder().build(); // the API server answers 404
    let message = assert_credentials_invalid(&h, &base().build(), &with_secret_routes()).await;
    assert!(
        message.contains("team-a/cams-credentials") && message.contains("not found"),
        "{message}"
    );
}

#[tokio::test]
async fn a_secret_without_access_key_secret_is_credentials_invalid() {
    let h = Harness::builder()
        .secret(secret(NS, SECRET, &[("accessKeyId", ACCESS_KEY_ID)]))
        .build();
    let message = assert_credentials_invalid(&h, &base().build(), &with_secret_routes()).await;
    assert!(message.contains("accessKeySecret"), "{message}");
}

#[tokio::test]
async fn a_secret_with_an_empty_access_key_id_is_credentials_invalid() {
    let h = Harness::builder()
        .secret(secret(
            NS,
            SECRET,
            &[("accessKeyId", ""), ("accessKeySecret", ACCESS_KEY_SECRET)],
        ))
        .build();
    let message = assert_credentials_invalid(&h, &base().build(), &with_secret_routes()).await;
    assert!(
        message.contains("accessKeyId") && message.contains("empty"),
        "{message}"
    );
    assert!(!message.contains(ACCESS_KEY_SECRET));
}

#[tokio::test]
async fn no_reference_in_a_namespace_not_lent_the_operators_credentials() {
    // The operator has credentials, and lends them to another namespace only.
    let h = Harness::builder()
        .lend(LendPolicy::Namespaces(vec!["team-b".into()]))
        .operator_credentials(OperatorCredentials::fixed(
            Credentials::new("LTAI-operator", "operator-secret"),
            "test",
        ))
        .build();
    let message = assert_credentials_invalid(
        &h,
        &base().secret_ref(None).build(),
        &without_secret_routes(),
    )
    .await;
    assert!(
        message.contains("--lend-credentials-to") && message.contains("team-a"),
        "the message names the setting and the namespace: {message}"
    );
}

#[tokio::test]
async fn no_reference_in_a_lent_namespace_when_the_operator_has_no_credentials() {
    let h = Harness::builder().lend(LendPolicy::Everyone).build();
    let message = assert_credentials_invalid(
        &h,
        &base().secret_ref(None).build(),
        &without_secret_routes(),
    )
    .await;
    assert!(message.contains("no credentials of its own"), "{message}");
}

#[tokio::test]
async fn no_reference_in_a_lent_namespace_uses_the_operators_credentials() {
    let h = Harness::builder()
        .lend(LendPolicy::Namespaces(vec!["team-a".into()]))
        .operator_credentials(OperatorCredentials::fixed(
            Credentials::new("LTAI-operator", "operator-secret").with_security_token("op-token"),
            "test",
        ))
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

    h.reconcile(&base().secret_ref(None).build()).await;

    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].credentials.access_key_id, "LTAI-operator");
    assert_eq!(
        calls[0].credentials.access_key_secret.expose(),
        "operator-secret"
    );
    assert_eq!(
        calls[0]
            .credentials
            .security_token
            .as_ref()
            .map(|t| t.expose()),
        Some("op-token")
    );
    assert_eq!(
        h.api.routes(),
        [status_patch_route(), event_post_route()],
        "no Secret is read"
    );
    assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
}

#[tokio::test]
async fn a_reference_wins_over_lent_operator_credentials() {
    let h = Harness::builder()
        .lend(LendPolicy::Everyone)
        .operator_credentials(OperatorCredentials::fixed(
            Credentials::new("LTAI-operator", "operator-secret"),
            "test",
        ))
        .secret(user_secret())
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

    h.reconcile(&base().build()).await;

    assert_eq!(h.cams_calls()[0].credentials.access_key_id, ACCESS_KEY_ID);
}

#[tokio::test]
async fn a_secret_with_a_security_token_passes_it_through() {
    let h = Harness::builder()
        .secret(secret(
            NS,
            SECRET,
            &[
                ("accessKeyId", "STS.NUh5LTAI"),
                ("accessKeySecret", "sts-secret"),
                ("securityToken", "CAIS-sts-token/abc+def="),
            ],
        ))
        .cams_answers(vec![Ok(alibaba_example_response())])
        .build();

    h.reconcile(&base().build()).await;

    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0].credentials;
    assert_eq!(c.access_key_id, "STS.NUh5LTAI");
    assert_eq!(c.access_key_secret.expose(), "sts-secret");
    assert_eq!(
        c.security_token.as_ref().map(|t| t.expose()),
        Some("CAIS-sts-token/abc+def=")
    );
}

#[tokio::test]
async fn the_secret_is_read_from_the_objects_own_namespace() {
    // A Secret of that name exists, but in another namespace.
    let h = with_secret();
    let obj = base().namespace("team-b").build();

    h.reconcile(&obj).await;

    assert!(h.cams_calls().is_empty());
    let routes = h.api.routes();
    assert_eq!(routes[0], secret_get_route("team-b", SECRET));
    assert!(
        routes[1..].iter().all(|r| !r.contains("/secrets/")),
        "{routes:?}"
    );
}

#[tokio::test]
async fn a_secret_that_stays_missing_does_not_repeat_the_event() {
    let obj = base().build();
    let h = Harness::builder().build();
    h.reconcile(&obj).await;
    let mut status = h.api.written_status();
    status.retry.as_mut().unwrap().next_retry_time = "2020-01-01T00:00:00Z".into();

    // The slow retry comes due; the Secret is still missing.
    let h = Harness::builder().build();
    h.reconcile(&with_status(&obj, status)).await;

    assert!(h.cams_calls().is_empty());
    assert_eq!(
        h.api.routes(),
        [secret_get_route(NS, SECRET), status_patch_route()],
        "the retry bookkeeping is written, but the same complaint is not published again"
    );
    assert_eq!(h.api.written_status().retry.unwrap().attempts, 2);
}

#[tokio::test]
async fn a_fixed_secret_clears_credentials_invalid() {
    let obj = base().build();
    let h = Harness::builder().build();
    h.reconcile(&obj).await;
    let mut status = h.api.written_status();
    status.retry.as_mut().unwrap().next_retry_time = "2020-01-01T00:00:00Z".into();

    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&with_status(&obj, status)).await;

    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Synced"),
        ("True".into(), "ReconcileSuccess".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "False");
    assert_eq!(status.retry, None);
}
