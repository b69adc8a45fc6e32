use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use futures::channel::mpsc::{unbounded, UnboundedReceiver};
use futures::StreamExt;

use super::*;
use crate::observe::inventory::Lookup;

/// A ListChatGroup stand-in: pages over `rows`, counts calls, can hold each call until
/// released and can fail.
#[derive(Default)]
struct FakeLister {
    rows: StdMutex<Vec<GroupRow>>,
    calls: AtomicUsize,
    report_total: bool,
    gate: Option<tokio::sync::Semaphore>,
    refuse: std::sync::atomic::AtomicBool,
    /// When set, only this AccessKeySecret is accepted.
    accept_secret: StdMutex<Option<String>>,
}

#[async_trait]
impl GroupLister for FakeLister {
    async fn list_page(
        &self,
        _key: &AccountKey,
        credentials: &Credentials,
        index: u32,
        size: u32,
    ) -> Result<ListedPage, CamsError> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let wrong_secret = self
            .accept_secret
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|s| s != credentials.access_key_secret.expose());
        if self.refuse.load(Ordering::SeqCst) || wrong_secret {
            return Err(CamsError::Api {
                status: 403,
                code: "Forbidden.RAM".into(),
                message: "not allowed".into(),
                envelope: Box::default(),
                retry_after: None,
                server_date: None,
            });
        }
        let rows = self.rows.lock().unwrap().clone();
        let start = ((index - 1) * size) as usize;
        let page: Vec<_> = rows
            .iter()
            .skip(start)
            .take(size as usize)
            .cloned()
            .collect();
        Ok(ListedPage {
            rows: page,
            total: self.report_total.then_some(rows.len() as u64),
        })
    }
}

fn rows(n: usize) -> Vec<GroupRow> {
    (0..n)
        .map(|i| GroupRow {
            group_id: format!("G{i}"),
            group_status: Some("ACTIVE".into()),
            subject: Some(format!("group {i}")),
            ..Default::default()
        })
        .collect()
}

fn key() -> AccountKey {
    AccountKey {
        origin: "https://cams.ap-southeast-1.aliyuncs.com".into(),
        region: None,
        access_key_id: "AK".into(),
        cust_space_id: "cs".into(),
        business_number: "86".into(),
    }
}

fn credentials() -> Credentials {
    with_secret("secret")
}

fn with_secret(secret: &str) -> Credentials {
    Credentials::new("AK", secret)
}

fn settings(page_size: u32) -> ObserveSettings {
    ObserveSettings {
        interval: Some(Duration::from_secs(600)),
        min_interval: Duration::from_millis(50),
        settle: Duration::from_secs(120),
        page_size,
    }
}

fn observer(
    lister: Arc<FakeLister>,
    settings: ObserveSettings,
) -> (Arc<Observer<String>>, UnboundedReceiver<String>) {
    let (tx, rx) = unbounded();
    let observer = Observer::new(
        settings,
        lister,
        tx,
        CancellationToken::new(),
        Arc::new(Metrics::default()),
    );
    (observer, rx)
}

async fn next(rx: &mut UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), rx.next())
        .await
        .expect("a trigger within 5 s")
        .expect("channel open")
}

async fn until_scanned(observer: &Observer<String>, group: &str) {
    for _ in 0..500 {
        if matches!(observer.view(&key(), group), View::Data(_)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no complete scan");
}

#[tokio::test]
async fn a_complete_scan_reads_exactly_the_pages_the_total_needs() {
    for (groups, size, total, pages) in [
        (250, 100, true, 3),
        (200, 100, true, 2),
        // Without Total, a full last page needs one more (empty) page to end.
        (200, 100, false, 3),
        (0, 100, true, 1),
    ] {
        let lister = Arc::new(FakeLister {
            rows: StdMutex::new(rows(groups)),
            report_total: total,
            ..Default::default()
        });
        let (observer, mut rx) = observer(lister.clone(), settings(size));
        observer.register("ns/a".into(), key(), "G0", credentials());
        if groups > 0 {
            assert_eq!(next(&mut rx).await, "ns/a");
        } else {
            until_scanned(&observer, "G0").await;
        }
        assert_eq!(
            lister.calls.load(Ordering::SeqCst),
            pages,
            "{groups} groups, page size {size}, total {total}"
        );
        assert_eq!(observer.sizes(), (1, groups));
    }
}

#[tokio::test]
async fn only_the_members_of_changed_rows_are_requeued() {
    let lister = Arc::new(FakeLister {
        rows: StdMutex::new(rows(3)),
        report_total: true,
        ..Default::default()
    });
    let (observer, mut rx) = observer(lister.clone(), settings(100));
    observer.register("ns/a".into(), key(), "G0", credentials());
    observer.register("ns/b".into(), key(), "G1", credentials());
    let mut got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort();
    assert_eq!(got, ["ns/a", "ns/b"]);
    // The second scan confirms both rows (a verdict input): both are re-queued once.
    observer.request_scan(&key());
    got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort();
    assert_eq!(got, ["ns/a", "ns/b"]);
    // G1 changes; G0 does not: only b is re-queued.
    lister.rows.lock().unwrap()[1].subject = Some("renamed".into());
    observer.request_scan(&key());
    assert_eq!(next(&mut rx).await, "ns/b");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err(), "nothing else is re-queued");
    match observer.view(&key(), "G1") {
        View::Data(Lookup::Seen(s)) => assert_eq!(s.row.subject.as_deref(), Some("renamed")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn requests_during_a_scan_are_coalesced_into_one_more_scan() {
    let lister = Arc::new(FakeLister {
        rows: StdMutex::new(rows(1)),
        report_total: true,
        gate: Some(tokio::sync::Semaphore::new(0)),
        ..Default::default()
    });
    let (observer, mut rx) = observer(lister.clone(), settings(100));
    observer.register("ns/a".into(), key(), "G0", credentials());
    // The first scan is under way (held by the gate); 50 writes ask for a scan meanwhile.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..50 {
        observer.await_next_scan(&key(), "ns/a".into());
    }
    lister.gate.as_ref().unwrap().add_permits(100);
    assert_eq!(
        next(&mut rx).await,
        "ns/a",
        "the first scan lists its group"
    );
    assert_eq!(
        next(&mut rx).await,
        "ns/a",
        "the awaited scan re-queues it, once"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        lister.calls.load(Ordering::SeqCst),
        2,
        "one scan, then one forced scan for all 50 requests"
    );
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_refused_scan_makes_observation_unavailable_and_forgets_the_accounts_of_members() {
    let lister = Arc::new(FakeLister {
        rows: StdMutex::new(rows(1)),
        report_total: true,
        ..Default::default()
    });
    let (observer, mut rx) = observer(lister.clone(), settings(100));
    observer.register("ns/a".into(), key(), "G0", credentials());
    assert_eq!(next(&mut rx).await, "ns/a");
    assert!(matches!(observer.view(&key(), "G0"), View::Data(_)));
    lister.refuse.store(true, Ordering::SeqCst);
    observer.request_scan(&key());
    assert_eq!(next(&mut rx).await, "ns/a", "every member learns of it");
    match observer.view(&key(), "G0") {
        View::Unavailable(why) => assert!(why.contains("refused"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Its credentials are read again at the next reconcile.
    assert_eq!(observer.account_of(&"ns/a".to_string()), None);
}

#[tokio::test]
async fn observation_off_never_scans() {
    let lister = Arc::new(FakeLister::default());
    let off = ObserveSettings {
        interval: None,
        ..settings(100)
    };
    let (observer, _rx) = observer(lister.clone(), off);
    observer.register("ns/a".into(), key(), "G0", credentials());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(lister.calls.load(Ordering::SeqCst), 0);
    assert_eq!(observer.view(&key(), "G0"), View::Disabled);
}

#[tokio::test]
async fn a_wrong_secret_for_the_same_key_never_takes_the_scans_away_and_a_rotated_one_does() {
    let lister = Arc::new(FakeLister {
        rows: StdMutex::new(rows(2)),
        report_total: true,
        accept_secret: StdMutex::new(Some("secret".into())),
        ..Default::default()
    });
    let (observer, mut rx) = observer(lister.clone(), settings(100));
    observer.register("ns/a".into(), key(), "G0", credentials());
    assert_eq!(next(&mut rx).await, "ns/a");
    // Another namespace's Secret names the same AccessKeyId with a wrong secret.
    observer.register("other/b".into(), key(), "G1", with_secret("wrong"));
    observer.request_scan(&key());
    let mut got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort();
    assert_eq!(
        got,
        ["ns/a", "other/b"],
        "the second scan confirms both rows"
    );
    assert!(matches!(observer.view(&key(), "G0"), View::Data(_)));
    // The secret is rotated: the old one is refused, the new one (registered) takes over.
    *lister.accept_secret.lock().unwrap() = Some("rotated".into());
    observer.register("ns/a".into(), key(), "G0", with_secret("rotated"));
    let before = lister.calls.load(Ordering::SeqCst);
    observer.request_scan(&key());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(lister.calls.load(Ordering::SeqCst) > before);
    assert!(
        matches!(observer.view(&key(), "G0"), View::Data(_)),
        "{:?}",
        observer.view(&key(), "G0")
    );
}

#[tokio::test]
async fn a_first_scan_that_is_refused_requeues_the_members_to_report_it() {
    let lister = Arc::new(FakeLister {
        rows: StdMutex::new(rows(1)),
        report_total: true,
        refuse: true.into(),
        ..Default::default()
    });
    let (observer, mut rx) = observer(lister.clone(), settings(100));
    observer.register("ns/a".into(), key(), "G0", credentials());
    assert_eq!(observer.view(&key(), "G0"), View::Pending);
    assert_eq!(next(&mut rx).await, "ns/a");
    assert!(matches!(observer.view(&key(), "G0"), View::Unavailable(_)));
}
