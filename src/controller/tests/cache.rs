//! What the ChatGroup cache keeps (only what reconciles read) and the group index that finds
//! conflicts without scanning every cached object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{reflector, watcher};

use super::super::{strip_for_cache, Caches};
use super::*;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const PAUSED: &str = "cams.dev/paused";
const TOKEN: &str = "cams.dev/reconcile-requested-at";

#[test]
fn the_cache_keeps_only_what_reconciles_read() {
    let mut obj = ChatGroupBuilder::new()
        .annotation(LAST_APPLIED, "{\"apiVersion\":\"cams.dev/v1alpha1\"}")
        .annotation("argocd.argoproj.io/tracking-id", "app:cams.dev/ChatGroup")
        .annotation(PAUSED, "true")
        .annotation(TOKEN, "token-1")
        .label("team", "sales")
        .build();
    obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
        manager: Some("kubectl-client-side-apply".into()),
        fields_v1: Some(FieldsV1(json!({"f:spec": {"f:subject": {}}}))),
        ..Default::default()
    }]);
    let before = obj.clone();
    strip_for_cache(&mut obj);

    assert_eq!(obj.metadata.managed_fields, None);
    assert_eq!(obj.metadata.labels, None);
    let kept: Vec<&str> = obj
        .metadata
        .annotations
        .as_ref()
        .map(|a| a.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(kept, [PAUSED, TOKEN]);
    assert!(obj.is_paused());
    assert_eq!(obj.reconcile_token(), Some("token-1"));
    // Everything else a reconcile reads is untouched.
    assert_eq!(obj.spec, before.spec);
    assert_eq!(obj.status, before.status);
    assert_eq!(obj.metadata.name, before.metadata.name);
    assert_eq!(obj.metadata.namespace, before.metadata.namespace);
    assert_eq!(obj.metadata.uid, before.metadata.uid);
    assert_eq!(obj.metadata.generation, before.metadata.generation);
    assert_eq!(
        obj.metadata.resource_version,
        before.metadata.resource_version
    );

    // Without cams.dev annotations none are kept, not even an empty map.
    let mut plain = ChatGroupBuilder::new()
        .annotation(LAST_APPLIED, "{}")
        .build();
    strip_for_cache(&mut plain);
    assert_eq!(plain.metadata.annotations, None);
}

fn named(name: &str, ns: &str, second: i64) -> ChatGroup {
    let mut obj = ChatGroupBuilder::new().namespace(ns).build();
    obj.metadata.name = Some(name.into());
    obj.metadata.creation_timestamp = Some(Time(
        Timestamp::from_second(1_790_000_000 + second).unwrap(),
    ));
    obj
}

/// A cache fed the way the controller feeds it: the store by the reflector, the index by the
/// same watch events.
struct Fed {
    caches: Caches,
    writer: reflector::store::Writer<ChatGroup>,
}

impl Fed {
    fn new() -> Self {
        let (reader, writer) = reflector::store::<ChatGroup>();
        let (secrets, _secrets_writer) = reflector::store();
        let caches = Caches::default();
        caches.add(reader, secrets);
        Self { caches, writer }
    }

    fn event(&mut self, event: watcher::Event<ChatGroup>) {
        self.writer.apply_watcher_event(&event);
        self.caches.index_event(&event);
    }
}

#[test]
fn the_group_index_follows_the_watch() {
    let older = named("older", "team-a", 0);
    let newer = named("newer", "team-b", 10);
    let mut fed = Fed::new();
    fed.event(watcher::Event::Init);
    fed.event(watcher::Event::InitApply(older.clone()));
    fed.event(watcher::Event::InitApply(newer.clone()));
    fed.event(watcher::Event::InitDone);
    assert_eq!(
        fed.caches.older_conflict(&newer).as_deref(),
        Some("team-a/older")
    );
    assert_eq!(fed.caches.older_conflict(&older), None);

    // The older one moves to another tenant: its old index entry no longer matches.
    let mut moved = older.clone();
    moved.spec.cust_space_id = "cams-other".into();
    fed.event(watcher::Event::Apply(moved.clone()));
    assert_eq!(fed.caches.older_conflict(&newer), None);

    // Back again, then deleted.
    fed.event(watcher::Event::Apply(older.clone()));
    assert_eq!(
        fed.caches.older_conflict(&newer).as_deref(),
        Some("team-a/older")
    );
    fed.event(watcher::Event::Delete(older));
    assert_eq!(fed.caches.older_conflict(&newer), None);

    // Objects listed again after a relist are not duplicated.
    fed.event(watcher::Event::Init);
    fed.event(watcher::Event::InitApply(newer.clone()));
    fed.event(watcher::Event::InitApply(newer.clone()));
    fed.event(watcher::Event::InitDone);
    let index = fed.caches.by_group.read().unwrap();
    let key = super::super::group_key(&newer);
    assert_eq!(index[&key].len(), 1, "{:?}", index[&key]);
}
