//! Observation in a reconcile: off (round-1 behaviour, InSync Unknown), observe-only (never a
//! call, Ready when listed ACTIVE), drift (one correction, then DriftPersists after three).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::observe::compare::View;
use crate::observe::inventory::{AccountKey, GroupRow, Lookup};
use crate::observe::observer::{GroupLister, ListedPage, Observer};
use crate::observe::ObserveSettings;
use crate::resource::DriftStatus;

/// ListChatGroup answering these rows in one page.
struct Rows(Vec<GroupRow>);

#[async_trait]
impl GroupLister for Rows {
    async fn list_page(
        &self,
        _key: &AccountKey,
        _credentials: &Credentials,
        _index: u32,
        _size: u32,
    ) -> Result<ListedPage, CamsError> {
        Ok(ListedPage {
            rows: self.0.clone(),
            total: Some(self.0.len() as u64),
        })
    }
}

fn listed(subject: &str) -> GroupRow {
    GroupRow {
        group_id: "EA303XYZ".into(),
        group_status: Some("ACTIVE".into()),
        subject: Some(subject.into()),
        ..Default::default()
    }
}

fn settings(interval: Option<Duration>) -> ObserveSettings {
    ObserveSettings {
        interval,
        min_interval: Duration::from_millis(10),
        settle: Duration::from_secs(120),
        page_size: 100,
    }
}

/// Installs an observer over `rows` in the harness's context.
fn observe(h: &Harness, rows: Vec<GroupRow>, interval: Option<Duration>) {
    let (tx, _rx) = futures::channel::mpsc::unbounded();
    let observer = Observer::new(
        settings(interval),
        Arc::new(Rows(rows)),
        tx,
        CancellationToken::new(),
        h.ctx.metrics.clone(),
    );
    h.ctx.observer.set(Some(observer));
}

fn key() -> AccountKey {
    AccountKey {
        origin: default_endpoints().resolve(None).unwrap().origin(),
        region: None,
        access_key_id: ACCESS_KEY_ID.into(),
        cust_space_id: "cams-abc123".into(),
        business_number: crate::fixtures::BUSINESS_NUMBER.into(),
    }
}

/// The status of the last status write.
fn last_status(h: &Harness) -> crate::resource::ChatGroupStatus {
    let patch = h.api.status_patches().pop().expect("a status write");
    serde_json::from_value(patch.body.expect("JSON body")["status"].clone()).expect("a status")
}

/// Waits until the inventory has listed the group in `scans` consecutive scans.
async fn until_listed(h: &Harness, scans: u32) {
    let observer = h.ctx.observer.get().expect("observer");
    for _ in 0..500 {
        if let View::Data(Lookup::Seen(s)) = observer.view(&key(), "EA303XYZ") {
            if s.scans >= scans {
                return;
            }
            observer.request_scan(&key());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the group was not listed {scans} times");
}

#[tokio::test]
async fn observation_off_keeps_ready_on_acceptance_and_says_so_in_in_sync() {
    let obj = base().build();
    let h = answering(vec![Ok(alibaba_example_response())]);
    observe(&h, vec![], None);
    h.reconcile(&obj).await;
    let status = h.api.written_status();
    assert_eq!(cond(&status, "Ready"), ("True".into(), "Available".into()));
    assert_eq!(
        cond(&status, "InSync"),
        ("Unknown".into(), "ObservationDisabled".into())
    );
    assert_eq!(status.group_id.as_deref(), Some("EA303XYZ"));
    assert_eq!(status.at_provider, None);
}

#[tokio::test]
async fn observe_only_never_calls_cams_and_is_ready_once_listed_active() {
    let obj = base().observe_only().build();
    // A CAMS that refuses any call: an UpdateChatGroup would fail the test.
    let h = with_secret();
    observe(
        &h,
        vec![listed("Someone else's subject")],
        Some(Duration::from_secs(600)),
    );
    h.reconcile(&obj).await;
    until_listed(&h, 1).await;
    let obj = match h.api.status_patches().len() {
        0 => obj,
        _ => with_status(&obj, last_status(&h)),
    };
    h.ctx.caches.forget_write(&obj);
    h.reconcile(&obj).await;
    let status = last_status(&h);
    assert_eq!(cond(&status, "Ready"), ("True".into(), "Available".into()));
    assert_eq!(cond(&status, "Synced"), ("True".into(), "Observing".into()));
    assert_eq!(cond(&status, "InSync"), ("False".into(), "Drifted".into()));
    assert!(condition(&status, "InSync")
        .message
        .contains("not corrected"));
    assert_eq!(
        status.at_provider.and_then(|a| a.subject).as_deref(),
        Some("Someone else's subject")
    );
    assert!(h.cams_calls().is_empty());
}

/// `obj` accepted long ago (outside the settle window), with `corrections` made for its spec.
async fn accepted_long_ago(corrections: Option<i32>) -> ChatGroup {
    let obj = base().build();
    let mut accepted = accepted(&obj).await;
    let status = accepted.status.as_mut().expect("status");
    status.last_sync_time = Some("2026-01-01T00:00:00Z".into());
    status.drift = corrections.map(|n| {
        Box::new(DriftStatus {
            desired_hash: status.applied_hash.clone().unwrap_or_default(),
            corrections: n,
            fields: vec!["subject".into()],
        })
    });
    accepted
}

#[tokio::test]
async fn drift_confirmed_by_two_scans_is_corrected_with_one_call() {
    let obj = accepted_long_ago(None).await;
    let h = answering(vec![Ok(alibaba_example_response())]);
    observe(
        &h,
        vec![listed("Changed in WhatsApp")],
        Some(Duration::from_secs(600)),
    );
    h.reconcile(&obj).await;
    assert!(
        h.api.status_patches().is_empty(),
        "nothing written before a scan"
    );
    until_listed(&h, 2).await;
    h.reconcile(&obj).await;
    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1, "one correction");
    assert_eq!(calls[0].request.subject.as_deref(), Some("VIP support"));
    let status = h.api.written_status();
    let drift = status.drift.clone().expect("drift bookkeeping");
    assert_eq!(
        (drift.corrections, drift.fields),
        (1, vec!["subject".into()])
    );
    // Until a scan shows it, the correction is "updating": Ready False.
    assert_eq!(cond(&status, "Ready"), ("False".into(), "Updating".into()));
    let events = h.api.events();
    assert!(
        events.iter().any(|e| e["reason"] == "DriftCorrected"),
        "{events:#?}"
    );
}

#[tokio::test]
async fn drift_after_three_corrections_of_the_same_spec_persists_without_a_call() {
    let obj = accepted_long_ago(Some(3)).await;
    let h = with_secret();
    observe(
        &h,
        vec![listed("Changed in WhatsApp")],
        Some(Duration::from_secs(600)),
    );
    h.reconcile(&obj).await;
    assert!(
        h.api.status_patches().is_empty(),
        "nothing written before a scan"
    );
    until_listed(&h, 2).await;
    h.reconcile(&obj).await;
    assert!(h.cams_calls().is_empty());
    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Stalled"),
        ("True".into(), "DriftPersists".into())
    );
    assert_eq!(cond(&status, "Ready").0, "False");
    assert!(condition(&status, "Stalled")
        .message
        .contains("cams.dev/reconcile-requested-at"));
}
