//! What the ChatGroup cache keeps (only what reconciles read) and the group index that finds
//! conflicts without scanning every cached object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{reflector, watcher};

use super::super::{strip_for_cache, Caches};
use super::*;
use crate::resource::ChatGroupStatus;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const PAUSED: &str = "cams.dev/paused";
const TOKEN: &str = "cams.dev/reconcile-requested-at";

#[test]
fn the_cache_keeps_only_what_reconciles_read() {
    let mut obj = base()
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
    let mut plain = base().annotation(LAST_APPLIED, "{}").build();
    strip_for_cache(&mut plain);
    assert_eq!(plain.metadata.annotations, None);
}

fn named(name: &str, ns: &str, second: i64) -> ChatGroup {
    let mut obj = base().namespace(ns).build();
    obj.metadata.name = Some(name.into());
    obj.metadata.uid = Some(format!("uid-{name}"));
    obj.metadata.creation_timestamp = Some(Time(
        Timestamp::from_second(1_790_000_000 + second).unwrap(),
    ));
    obj
}

/// `obj` as it is once CAMS has accepted one of its calls.
fn accepted_once(obj: &ChatGroup) -> ChatGroup {
    let mut obj = obj.clone();
    obj.status = Some(ChatGroupStatus {
        last_sync_time: Some("2026-11-26T01:02:03Z".into()),
        ..Default::default()
    });
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
        let caches = Caches::default();
        caches.add(reader, None);
        Self { caches, writer }
    }

    fn event(&mut self, event: watcher::Event<ChatGroup>) -> Vec<String> {
        self.writer.apply_watcher_event(&event);
        self.caches
            .index_event(&event)
            .into_iter()
            .map(|r| r.name().to_string())
            .collect()
    }

    fn blocker(&self, obj: &ChatGroup) -> Option<String> {
        self.caches
            .blocker(obj)
            .map(|b| format!("{}/{}", b.namespace, b.name))
    }
}

#[test]
fn the_group_index_follows_the_watch() {
    let older = accepted_once(&named("older", "team-a", 0));
    let newer = named("newer", "team-b", 10);
    let mut fed = Fed::new();
    fed.event(watcher::Event::Init);
    fed.event(watcher::Event::InitApply(older.clone()));
    fed.event(watcher::Event::InitApply(newer.clone()));
    fed.event(watcher::Event::InitDone);
    assert_eq!(fed.blocker(&newer).as_deref(), Some("team-a/older"));
    assert_eq!(fed.blocker(&older), None);

    // The older one moves to another tenant: its old index entry no longer matches.
    let mut moved = older.clone();
    moved.spec.cust_space_id = "cams-other".into();
    fed.event(watcher::Event::Apply(moved.clone()));
    assert_eq!(fed.blocker(&newer), None);

    // Back again, then deleted.
    fed.event(watcher::Event::Apply(older.clone()));
    assert_eq!(fed.blocker(&newer).as_deref(), Some("team-a/older"));
    fed.event(watcher::Event::Delete(older));
    assert_eq!(fed.blocker(&newer), None);

    // Objects listed again after a relist are not duplicated.
    fed.event(watcher::Event::Init);
    fed.event(watcher::Event::InitApply(newer.clone()));
    fed.event(watcher::Event::InitApply(newer.clone()));
    fed.event(watcher::Event::InitDone);
    let index = fed.caches.by_group.read().unwrap();
    let key = crate::controller::caches::group_key(&newer);
    assert_eq!(index[&key].len(), 1, "{:?}", index[&key]);
}

#[test]
fn an_object_in_another_namespace_blocks_only_once_cams_accepted_one_of_its_calls() {
    // A squatter: older, in another namespace, never accepted by CAMS.
    let squatter = named("squatter", "team-x", 0);
    let owner = named("owner", "team-a", 10);
    let mut fed = Fed::new();
    fed.event(watcher::Event::Apply(squatter.clone()));
    fed.event(watcher::Event::Apply(owner.clone()));
    assert_eq!(
        fed.blocker(&owner),
        None,
        "an unaccepted object elsewhere squats"
    );
    // In the same namespace an older object blocks even before its first call.
    let sibling = named("sibling", "team-a", 5);
    fed.event(watcher::Event::Apply(sibling.clone()));
    assert_eq!(fed.blocker(&owner).as_deref(), Some("team-a/sibling"));
    // Once CAMS accepted a call of the other-namespace object, it blocks too.
    fed.event(watcher::Event::Apply(accepted_once(&squatter)));
    assert_eq!(fed.blocker(&owner).as_deref(), Some("team-x/squatter"));
}

#[test]
fn ties_on_creation_time_break_by_uid_and_exactly_one_is_blocked() {
    let a = named("a", "team-a", 0);
    let mut b = named("b", "team-a", 0);
    b.metadata.uid = Some("uid-0-first".into());
    let mut fed = Fed::new();
    fed.event(watcher::Event::Apply(a.clone()));
    fed.event(watcher::Event::Apply(b.clone()));
    assert_eq!(fed.blocker(&b), None, "the smaller uid wins");
    assert_eq!(fed.blocker(&a).as_deref(), Some("team-a/b"));
}

#[test]
fn joining_or_leaving_a_group_requeues_the_others_in_it() {
    let a = named("a", "team-a", 0);
    let b = named("b", "team-a", 10);
    let mut other = named("c", "team-a", 20);
    other.spec.group_id = Some("EA303OTHER".into());
    let mut fed = Fed::new();
    assert!(fed.event(watcher::Event::Apply(a.clone())).is_empty());
    assert!(fed.event(watcher::Event::Apply(other)).is_empty());
    assert_eq!(fed.event(watcher::Event::Apply(b.clone())), vec!["a"]);
    // A status write of an object already indexed re-queues nobody.
    assert!(fed.event(watcher::Event::Apply(b.clone())).is_empty());
    assert_eq!(fed.event(watcher::Event::Delete(a)), vec!["b"]);
}

#[test]
fn only_the_exact_echo_of_an_own_write_is_taken_and_only_once() {
    use crate::status::Requeue;
    let caches = Caches::default();
    let obj = base().build();
    let status = ChatGroupStatus::default();
    caches.record_write(&obj, Some("2001".into()), &status, Requeue::OnChange);
    let echo = base().resource_version("2001").build();
    let edited = base().resource_version("2001").generation(2).build();
    assert!(
        !caches.take_own_echo(&edited),
        "an edit between read and write is new work"
    );
    caches.record_write(&obj, Some("2001".into()), &status, Requeue::OnChange);
    assert!(!caches.take_own_echo(&base().resource_version("1999").build()));
    assert!(caches.take_own_echo(&echo));
    assert!(!caches.take_own_echo(&echo), "taken once");
}
