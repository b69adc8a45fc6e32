//! Runs the controller: one ChatGroup watch per watched namespace (or one for the cluster),
//! the triggers that re-queue objects, readiness and the object-state gauges.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::observation::Member;
use super::{error_policy, reconcile, Context};
use crate::resource::{ChatGroup, ConditionType};
use crate::watch_backoff::WatchBackoff;

/// Which ChatGroups to watch.
#[derive(Clone, Debug, Default)]
pub struct WatchScope {
    /// Namespaces; empty means all. Secrets are watched (metadata only) only in listed
    /// namespaces: cluster-wide, a referenced Secret is re-read instead, so the operator
    /// never needs to list or watch every Secret in the cluster.
    pub namespaces: Vec<String>,
    /// Label selector, if any.
    pub label_selector: Option<String>,
}

/// Runs the controller until `shutdown` is cancelled; in-flight reconciles then get
/// `grace` to finish. Every task it starts ends with it.
pub async fn run(
    ctx: Arc<Context>,
    scope: WatchScope,
    concurrency: u16,
    shutdown: CancellationToken,
    grace: Duration,
) {
    // A new leadership term starts with fresh caches and fresh inventories.
    ctx.caches.clear();
    let namespaces: Vec<Option<String>> = if scope.namespaces.is_empty() {
        vec![None]
    } else {
        scope.namespaces.iter().cloned().map(Some).collect()
    };
    let term = shutdown.child_token();
    let _stop_term = term.clone().drop_guard();
    let (requeue, mut observed) = requeue_router(&ctx, &namespaces, term.clone());
    // How many ChatGroup watches finished their first list. Readiness waits on this, not on
    // Store::wait_until_ready: kube's store wakes only the last of several waiters, and the
    // controller itself waits on it too.
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(0usize);
    let watches = namespaces.len();
    let controllers: Vec<_> = namespaces
        .into_iter()
        .map(|ns| {
            let parts = NamespaceWatch {
                observed: observed.remove(&ns),
                requeue: requeue.clone(),
                ctx: ctx.clone(),
                namespace: ns,
                scope: &scope,
                synced: synced_tx.clone(),
            };
            parts.controller(concurrency, shutdown.clone())
        })
        .collect();
    // The term's own token: the gauge loop and the inventories stop with the controllers,
    // not only at shutdown, so nothing outlives a leadership term.
    tokio::spawn(watch_state(ctx.clone(), synced_rx, watches, term));
    let all = futures::future::join_all(controllers);
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => {}
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            warn!(grace_secs = grace.as_secs(), "in-flight reconciles did not finish within the shutdown grace period");
        }
    }
}

/// ChatGroups per page of the watch's list.
const LIST_PAGE_SIZE: u32 = 100;

/// `n` as a non-zero count (1 for 0), for the constants below.
const fn non_zero(n: u32) -> std::num::NonZeroU32 {
    match std::num::NonZeroU32::new(n) {
        Some(n) => n,
        None => std::num::NonZeroU32::MIN,
    }
}

/// How many objects per second scans and group siblings re-queue at most, and at once.
const REQUEUE_RATE: std::num::NonZeroU32 = non_zero(200);
const REQUEUE_BURST: std::num::NonZeroU32 = non_zero(50);

/// How many objects per second scans re-queue while UpdateChatGroup calls are under way: a
/// confirmation is a status write, and at 10,000 objects on 2 cores the API server's writes
/// are the scarce resource the calls need too (`make bench`, converge at 100 QPS).
const BUSY_REQUEUE_RATE: std::num::NonZeroU32 = non_zero(20);
// A burst of 100: a handful of re-queues that lead to calls (drift confirmed for 100 groups)
// pass at once; thousands of confirmations still go at the rate.
const BUSY_REQUEUE_BURST: std::num::NonZeroU32 = non_zero(100);

/// Objects re-queued from outside their own watch event, by namespace.
type Requeues = std::collections::HashMap<Option<String>, UnboundedReceiver<ObjectRef<ChatGroup>>>;

/// Installs a new observer for the term and routes every re-queue that does not come from an
/// object's own watch event — a scan's changed rows, an object sharing a group appearing or
/// leaving — to the controller of the object's namespace. Returns the sender for those
/// re-queues and, per watched namespace, the stream its controller reconciles.
fn requeue_router(
    ctx: &Arc<Context>,
    namespaces: &[Option<String>],
    term: CancellationToken,
) -> (UnboundedSender<Member>, Requeues) {
    let (trigger_tx, mut trigger_rx) = futures::channel::mpsc::unbounded();
    let observer = crate::observe::observer::Observer::new(
        ctx.observe,
        ctx.lister.clone(),
        trigger_tx.clone(),
        term.clone(),
        ctx.metrics.clone(),
    );
    ctx.observer.set(Some(observer));
    let ctx = ctx.clone();
    let mut routes = std::collections::HashMap::new();
    let mut receivers = std::collections::HashMap::new();
    for ns in namespaces {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        routes.insert(ns.clone(), tx);
        receivers.insert(ns.clone(), rx);
    }
    // Paced: a scan that confirms thousands of accepted changes at once must not hold every
    // worker with status writes while new changes wait for their calls.
    let pace = governor::RateLimiter::direct(
        governor::Quota::per_second(REQUEUE_RATE).allow_burst(REQUEUE_BURST),
    );
    let busy_pace = governor::RateLimiter::direct(
        governor::Quota::per_second(BUSY_REQUEUE_RATE).allow_burst(BUSY_REQUEUE_BURST),
    );
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = term.cancelled() => return,
                next = trigger_rx.next() => next,
            };
            pace.until_ready().await;
            if ctx.call_load.busy() {
                busy_pace.until_ready().await;
            }
            let Some(member) = next else { return };
            if let Some(ns) = member.namespace() {
                ctx.caches.outside_change(ns, member.name());
            }
            let namespace = member.namespace().map(String::from);
            let route = routes.get(&namespace).or_else(|| routes.get(&None));
            if let Some(route) = route {
                let _ = route.unbounded_send(member.object_ref());
            }
        }
    });
    (trigger_tx, receivers)
}

/// The watches and the controller of one namespace (or of the cluster).
struct NamespaceWatch<'a> {
    /// Objects re-queued from outside their watch events (scans, siblings), this namespace's.
    observed: Option<UnboundedReceiver<ObjectRef<ChatGroup>>>,
    /// Where to send re-queues of objects sharing a group (routed to their namespace).
    requeue: UnboundedSender<Member>,
    ctx: Arc<Context>,
    namespace: Option<String>,
    scope: &'a WatchScope,
    synced: tokio::sync::watch::Sender<usize>,
}

impl NamespaceWatch<'_> {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(self.ctx.client.clone(), ns),
            None => Api::all(self.ctx.client.clone()),
        }
    }

    fn controller(
        mut self,
        concurrency: u16,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        // Pages of 100 rather than 500: a page is held twice while it is read (the body, then
        // the objects with their managedFields), which set the peak memory of a start with
        // 10,000 objects (`make bench`, restart); the list costs 100 requests instead of 20.
        let mut watcher_config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
        if let Some(selector) = &self.scope.label_selector {
            watcher_config = watcher_config.labels(selector);
        }
        // What Controller::new builds, plus: cached objects lose what reconciles never read,
        // the group index follows the watch, and objects sharing a group with one that
        // appeared or went away are re-queued.
        let (store, writer) = reflector::store();
        let siblings_tx = self.requeue.clone();
        let indexer = self.ctx.clone();
        let synced = self.synced.clone();
        let mut first_list = true;
        let events = watcher(self.api::<ChatGroup>(), watcher_config)
            .modify(super::strip_for_cache)
            .reflect(writer)
            .inspect_ok(move |event| {
                for sibling in indexer.caches.index_event(event) {
                    let _ = siblings_tx.unbounded_send(Arc::new(sibling));
                }
                if let (watcher::Event::Delete(obj), Some(observer)) =
                    (event, indexer.observer.get())
                {
                    observer.forget(&super::observation::member_ref(obj));
                }
                if first_list && matches!(event, watcher::Event::InitDone) {
                    first_list = false;
                    synced.send_modify(|n| *n += 1);
                }
            })
            .applied_objects()
            // Our own status writes coming back: nothing happened that the reconcile which
            // wrote them did not decide on (half of all events at any scale).
            .try_filter({
                let ctx = self.ctx.clone();
                move |obj| futures::future::ready(!ctx.caches.take_own_echo(obj))
            });
        let mut controller = Controller::for_stream(events, store.clone())
            .with_config(ControllerConfig::default().concurrency(concurrency))
            .trigger_backoff(WatchBackoff::default());
        if let Some(observed) = self.observed.take() {
            controller = controller.reconcile_on(observed);
        }
        // Secrets (metadata only) are watched only in listed namespaces.
        let secret_store = match self.namespace {
            Some(_) => {
                let (secret_store, events) = self.secret_events();
                let dependants = store.clone();
                controller = controller
                    .watches_stream(events, move |secret| dependants_of(&dependants, &secret));
                Some(secret_store)
            }
            None => None,
        };
        self.ctx.caches.add(store, secret_store);
        let ctx = self.ctx;
        async move {
            controller
                .graceful_shutdown_on(async move { shutdown.cancelled_owned().await })
                .run(reconcile, error_policy, ctx)
                .for_each(|result| async move {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "controller event");
                    }
                })
                .await;
        }
    }

    /// The Secret metadata watch: only what identifies a version is kept (kubectl's
    /// last-applied annotation of a Secret holds its data).
    fn secret_events(
        &self,
    ) -> (
        Store<PartialObjectMeta<Secret>>,
        impl Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static,
    ) {
        let (secret_store, writer) = reflector::store();
        let events = reflector::reflector(
            writer,
            watcher(
                self.api::<PartialObjectMeta<Secret>>(),
                watcher::Config::default(),
            )
            .backoff(WatchBackoff::default())
            .modify(|secret: &mut PartialObjectMeta<Secret>| {
                secret.metadata.managed_fields = None;
                secret.metadata.annotations = None;
                secret.metadata.labels = None;
            }),
        )
        .touched_objects();
        (secret_store, events)
    }
}

/// The ChatGroups that reference `secret` (their credentials, or their invite link's Secret,
/// which is published again if it is lost).
fn dependants_of(
    store: &Store<ChatGroup>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<ChatGroup>> {
    let ns = secret.namespace();
    let name = secret.name_any();
    store
        .state()
        .into_iter()
        .filter(|cg| {
            let names_it = cg
                .spec
                .credentials_secret_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
                || cg
                    .spec
                    .invite_link
                    .as_ref()
                    .and_then(|l| l.secret_name.as_deref())
                    == Some(name.as_str());
            cg.namespace() == ns && names_it
        })
        .map(|cg| ObjectRef::from_obj(&*cg))
        .collect()
}

/// Marks the operator ready once every watch has listed, then keeps the object-state gauges
/// current (recomputed from the cache; no per-object labels) until `term` ends.
async fn watch_state(
    ctx: Arc<Context>,
    mut synced: tokio::sync::watch::Receiver<usize>,
    watches: usize,
    term: CancellationToken,
) {
    tokio::select! {
        result = synced.wait_for(|n| *n >= watches) => if result.is_err() { return },
        _ = term.cancelled() => return,
    }
    ctx.metrics.set_ready(true);
    tracing::info!("caches synced; ready");
    let stores = ctx.caches.chatgroup_stores();
    loop {
        let mut counts = std::collections::BTreeMap::<(&str, &str), i64>::new();
        let types = [
            ConditionType::Ready,
            ConditionType::Synced,
            ConditionType::InSync,
        ];
        for cond in types {
            for status in ["True", "False", "Unknown"] {
                counts.insert((cond.as_str(), status), 0);
            }
        }
        for obj in stores.iter().flat_map(|s| s.state()) {
            for cond in types {
                let status = match obj.status.as_ref().and_then(|s| s.condition(cond)) {
                    Some(c) if c.status == "True" => "True",
                    Some(c) if c.status == "Unknown" => "Unknown",
                    Some(_) => "False",
                    None => "Unknown",
                };
                *counts.entry((cond.as_str(), status)).or_default() += 1;
            }
        }
        ctx.metrics
            .set_objects(&counts.into_iter().collect::<Vec<_>>());
        if let Some(observer) = ctx.observer.get() {
            let (inventories, rows) = observer.sizes();
            ctx.metrics.set_inventories(inventories, rows);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = term.cancelled() => return,
        }
    }
}
