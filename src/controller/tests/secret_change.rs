//! A credentials error waits for its slow retry — unless the referenced Secret changed since
//! the error was recorded, which retries at once.

use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector;
use kube::runtime::watcher;

use super::*;

/// An object whose last attempt failed with SignatureDoesNotMatch while the Secret was at
/// resourceVersion 7; the next retry is five minutes away.
async fn rejected() -> ChatGroup {
    let obj = base().build();
    let h = answering(vec![Err(api_error(
        400,
        "SignatureDoesNotMatch",
        "bad signature",
        None,
    ))]);
    h.reconcile(&obj).await;
    let status = h.api.written_status();
    assert_eq!(
        status
            .retry
            .as_ref()
            .and_then(|r| r.credentials_version.as_deref()),
        Some("7")
    );
    with_status(&obj, status)
}

fn secret_cache(h: &Harness, resource_version: &str) {
    let (reader, mut writer) = reflector::store::<PartialObjectMeta<Secret>>();
    let mut meta: PartialObjectMeta<Secret> = Default::default();
    meta.metadata.name = Some(SECRET.into());
    meta.metadata.namespace = Some(NS.into());
    meta.metadata.resource_version = Some(resource_version.into());
    writer.apply_watcher_event(&watcher::Event::Apply(meta));
    let (chatgroups, _writer) = reflector::store();
    h.ctx.caches.add(chatgroups, Some(reader));
}

#[tokio::test]
async fn an_unchanged_secret_waits_for_the_slow_retry() {
    let obj = rejected().await;
    let h = with_secret();
    secret_cache(&h, "7");
    h.reconcile(&obj).await;
    assert!(h.cams_calls().is_empty());
    assert!(h.api.calls().is_empty(), "{:?}", h.api.routes());
}

#[tokio::test]
async fn a_changed_secret_retries_at_once_and_recovers() {
    let obj = rejected().await;
    let h = answering(vec![Ok(alibaba_example_response())]);
    secret_cache(&h, "8");
    h.reconcile(&obj).await;
    assert_eq!(h.cams_calls().len(), 1);
    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready"), ("True".into(), "Available".into()));
    assert!(status.retry.is_none());
}

/// With Secrets watched, credentials read at one resourceVersion are reused while the watch
/// cache holds that version: one GET for many objects, and a new GET once it changes.
#[tokio::test]
async fn watched_secrets_are_read_once_per_version() {
    let h = answering(vec![
        Ok(alibaba_example_response()),
        Ok(alibaba_example_response()),
        Ok(alibaba_example_response()),
    ]);
    secret_cache(&h, "7");
    h.reconcile(&base().build()).await;
    h.reconcile(&base().name("second").group_id("EA303SECOND").build())
        .await;
    let gets = |h: &Harness| {
        h.api
            .routes()
            .iter()
            .filter(|r| r.contains("/secrets/"))
            .count()
    };
    assert_eq!(gets(&h), 1, "{:?}", h.api.routes());
    assert_eq!(h.cams_calls()[1].credentials.access_key_id, ACCESS_KEY_ID);

    // The Secret changes: the next reader sees the new version in the watch cache.
    h.ctx.caches.clear();
    secret_cache(&h, "8");
    h.reconcile(&base().name("third").group_id("EA303THIRD").build())
        .await;
    assert_eq!(gets(&h), 2, "{:?}", h.api.routes());
}
