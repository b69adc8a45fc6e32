//! What reconciles read besides the object: the watch stores, a group index (to find two
//! ChatGroups that name one group), this process's own status writes (to recognise them when
//! they come back through the watch) and statuses that could not be written yet.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio::time::Instant;

use crate::cams::Credentials;
use crate::resource::ChatGroup;
use crate::status::{Judgement, Requeue};

use super::observation::MemberRef;

type Key = (String, String);

/// The controller's watch caches and per-object memory, read by reconciles.
#[derive(Default)]
pub struct Caches {
    chatgroups: RwLock<Vec<Store<ChatGroup>>>,
    secrets: RwLock<Vec<Store<PartialObjectMeta<Secret>>>>,
    /// Per object: the last status this process wrote, until the watch brings it back.
    writes: Mutex<HashMap<Key, OwnWrite>>,
    /// Objects re-queued from outside (a scan, another object) while no write of theirs was
    /// recorded: a write recorded next must not be taken as the last word.
    outside: Mutex<std::collections::HashSet<Key>>,
    /// Per object: a judged status whose write failed after a CAMS call; it is written again
    /// (with backoff) instead of calling CAMS again.
    unwritten: Mutex<HashMap<Key, Unwritten>>,
    /// Credentials read from a Secret, by (namespace, name), with the Secret's resourceVersion
    /// they were read at. Used only while Secrets are watched, so a hit is exact: the watch
    /// cache holds the same version. At 10,000 objects sharing a Secret this saves a GET per
    /// reconcile.
    credentials: Mutex<HashMap<Key, (String, Credentials)>>,
    /// ChatGroups by the group they name, so that looking for a conflict does not scan every
    /// cached object (at 10,000 objects that scan was most of a reconcile's CPU). Kept from
    /// the watch; it may hold stale entries, so what it names is read from the stores.
    pub(super) by_group: RwLock<HashMap<u64, Vec<MemberRef>>>,
}

/// A status write of this process, remembered until the watch delivers it.
#[derive(Clone, Debug)]
struct OwnWrite {
    /// The resourceVersion the write returned.
    resource_version: String,
    /// A digest of what was written (the status itself is up to 2 KB, and at hundreds of
    /// writes per second thousands of them wait for their echo).
    status: Option<u64>,
    /// When the reconcile that wrote it asked to look again.
    wake_at: Option<Instant>,
    /// What that reconcile decided on: the generation and the `cams.dev/` annotations. The
    /// write (a server-side apply without a precondition) may land on a newer version — an
    /// edit between our read and our write — and that version's echo is then new work.
    decided_on: Decided,
    /// Something outside the object changed since (its group's row in an inventory): the
    /// write's echo still counts as ours, but the object must be decided afresh.
    stale_decision: bool,
}

impl OwnWrite {
    /// Whether `obj` is the version this write returned.
    fn returned(&self, obj: &ChatGroup) -> bool {
        obj.metadata.resource_version.as_deref() == Some(self.resource_version.as_str())
    }

    /// Whether `obj` is this write coming back on the very version it was decided on.
    fn is_echo(&self, obj: &ChatGroup) -> bool {
        self.returned(obj) && Decided::of(obj) == self.decided_on
    }
}

/// The parts of an object a decision depends on besides its status.
#[derive(Clone, Debug, PartialEq)]
struct Decided {
    generation: Option<i64>,
    annotations: Vec<(String, String)>,
}

impl Decided {
    fn of(obj: &ChatGroup) -> Self {
        let annotations = obj
            .metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("cams.dev/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self {
            generation: obj.metadata.generation,
            annotations,
        }
    }
}

/// A judged status that could not be written.
#[derive(Clone, Debug)]
pub struct Unwritten {
    /// The generation it was judged for.
    pub generation: Option<i64>,
    /// The reconcile token it was judged with.
    pub token: Option<String>,
    /// The judgement to write and publish.
    pub judgement: Judgement,
    /// Failed writes so far.
    pub attempts: i32,
    /// Not before this instant.
    pub not_before: Instant,
}

/// How a cached object relates to this process's last status write.
#[derive(Clone, Debug, PartialEq)]
pub enum Freshness {
    /// No write pending, or the object already includes it: work from it.
    Current,
    /// Exactly the version our own write produced: nothing happened since, so the previous
    /// reconcile's decision stands.
    OwnWrite(Requeue),
    /// A version without our last write (the watch lags): read the object afresh.
    Stale,
}

/// A hash of the group a ChatGroup names (custSpaceId, businessNumber, groupId); objects
/// whose hashes collide are told apart by their specs.
pub(super) fn group_key(obj: &ChatGroup) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (
        &obj.spec.cust_space_id,
        &obj.spec.business_number,
        obj.group_id(),
    )
        .hash(&mut hasher);
    hasher.finish()
}

fn object_key(obj: &ChatGroup) -> MemberRef {
    MemberRef::of(obj)
}

fn key_of(obj: &ChatGroup) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The older ChatGroup that blocks another one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl Blocker {
    /// How a message about `obj` may name it: by name only in `obj`'s own namespace.
    pub fn describe_for(&self, obj: &ChatGroup) -> String {
        if obj.namespace().as_deref() == Some(self.namespace.as_str()) {
            format!("ChatGroup {}/{}", self.namespace, self.name)
        } else {
            "A ChatGroup in another namespace".to_string()
        }
    }
}

/// A digest of a status, to recognise it again (as written, field for field); `None` (never
/// matched) if it does not serialize.
fn status_digest(status: &crate::resource::ChatGroupStatus) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let json = serde_json::to_vec(status).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut hasher);
    Some(hasher.finish())
}

impl Caches {
    /// How `obj` relates to this process's last status write for it.
    pub fn freshness(&self, obj: &ChatGroup) -> Freshness {
        let key = key_of(obj);
        // This reconcile reads everything afresh: an earlier outside re-queue is served.
        if let Ok(mut outside) = self.outside.lock() {
            outside.remove(&key);
        }
        let Ok(mut writes) = self.writes.lock() else {
            return Freshness::Current;
        };
        let Some(own) = writes.get(&key) else {
            return Freshness::Current;
        };
        if own.returned(obj) {
            if !own.is_echo(obj) || own.stale_decision {
                // Our write landed on a version edited after we read it: decide afresh.
                writes.remove(&key);
                return Freshness::Current;
            }
            let requeue = match own.wake_at {
                Some(at) => Requeue::After(at.saturating_duration_since(Instant::now())),
                None => Requeue::OnChange,
            };
            writes.remove(&key);
            return Freshness::OwnWrite(requeue);
        }
        let carried = obj.status.as_ref().and_then(status_digest);
        if carried.is_some() && carried == own.status {
            // A later version (a metadata edit after our write) that carries our status.
            writes.remove(&key);
            return Freshness::Current;
        }
        Freshness::Stale
    }

    /// Whether the watch event `obj` is exactly this process's last status write coming back
    /// (the version it returned, on the version it decided on); the record is then consumed.
    /// Such an event is dropped before it reaches the controller's queue: the reconcile that
    /// wrote it already asked for its requeue.
    pub fn take_own_echo(&self, obj: &ChatGroup) -> bool {
        let Ok(mut writes) = self.writes.lock() else {
            return false;
        };
        let key = key_of(obj);
        let echo = writes.get(&key).is_some_and(|own| own.is_echo(obj));
        if echo {
            writes.remove(&key);
        }
        echo
    }

    /// Marks that what `namespace/name`'s last decision rested on outside the object changed
    /// (a scan or another object re-queued it): its next reconcile decides afresh even if the
    /// cached object is this process's own write — also a write still being made now.
    pub fn outside_change(&self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if let Ok(mut writes) = self.writes.lock() {
            match writes.get_mut(&key) {
                Some(own) => own.stale_decision = true,
                None => {
                    if let Ok(mut pending) = self.outside.lock() {
                        pending.insert(key);
                    }
                }
            }
        }
    }

    /// Forgets the write record of `obj` (after reading it afresh).
    pub fn forget_write(&self, obj: &ChatGroup) {
        if let Ok(mut writes) = self.writes.lock() {
            writes.remove(&key_of(obj));
        }
    }

    /// Records a status write of `obj`: the resourceVersion it returned, what was written and
    /// when the reconcile asked to look again.
    pub fn record_write(
        &self,
        obj: &ChatGroup,
        written: Option<String>,
        status: &crate::resource::ChatGroupStatus,
        requeue: Requeue,
    ) {
        let Some(resource_version) = written else {
            return;
        };
        let wake_at = match requeue {
            Requeue::After(d) => Some(Instant::now() + d),
            Requeue::OnChange => None,
        };
        let key = key_of(obj);
        let stale_decision = self
            .outside
            .lock()
            .map(|mut o| o.remove(&key))
            .unwrap_or(false);
        if let Ok(mut writes) = self.writes.lock() {
            writes.insert(
                key,
                OwnWrite {
                    resource_version,
                    status: status_digest(status),
                    wake_at,
                    decided_on: Decided::of(obj),
                    stale_decision,
                },
            );
        }
    }

    /// The unwritten judgement of `obj`, if it still applies to this generation and token;
    /// an outdated one is dropped.
    pub fn unwritten(&self, obj: &ChatGroup) -> Option<Unwritten> {
        let mut map = self.unwritten.lock().ok()?;
        let key = key_of(obj);
        let entry = map.get(&key)?;
        if entry.generation == obj.metadata.generation
            && entry.token.as_deref() == obj.reconcile_token()
        {
            return Some(entry.clone());
        }
        map.remove(&key);
        None
    }

    /// Keeps (or replaces) the unwritten judgement of `obj`.
    pub fn keep_unwritten(&self, obj: &ChatGroup, entry: Unwritten) {
        if let Ok(mut map) = self.unwritten.lock() {
            map.insert(key_of(obj), entry);
        }
    }

    /// Drops the unwritten judgement of `obj` (it was written).
    pub fn drop_unwritten(&self, obj: &ChatGroup) {
        if let Ok(mut map) = self.unwritten.lock() {
            map.remove(&key_of(obj));
        }
    }

    /// Empties everything (a new leadership term starts afresh).
    pub fn clear(&self) {
        if let Ok(mut list) = self.chatgroups.write() {
            list.clear();
        }
        if let Ok(mut outside) = self.outside.lock() {
            outside.clear();
        }
        if let Ok(mut list) = self.secrets.write() {
            list.clear();
        }
        if let Ok(mut index) = self.by_group.write() {
            index.clear();
        }
        if let Ok(mut writes) = self.writes.lock() {
            writes.clear();
        }
        if let Ok(mut map) = self.unwritten.lock() {
            map.clear();
        }
        if let Ok(mut map) = self.credentials.lock() {
            map.clear();
        }
    }

    /// Adds a namespace's (or the cluster's) ChatGroup store and, when Secrets are watched,
    /// its Secret store.
    pub fn add(
        &self,
        chatgroups: Store<ChatGroup>,
        secrets: Option<Store<PartialObjectMeta<Secret>>>,
    ) {
        for obj in chatgroups.state() {
            self.index(&obj);
        }
        if let Ok(mut list) = self.chatgroups.write() {
            list.push(chatgroups);
        }
        if let (Some(secrets), Ok(mut list)) = (secrets, self.secrets.write()) {
            list.push(secrets);
        }
    }

    /// The ChatGroup stores.
    pub fn chatgroup_stores(&self) -> Vec<Store<ChatGroup>> {
        self.chatgroups
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Whether Secrets are watched (else they are re-read on a timer).
    pub fn watches_secrets(&self) -> bool {
        self.secrets.read().is_ok_and(|s| !s.is_empty())
    }

    /// Credentials read earlier from the Secret `namespace/name` at `version`.
    pub fn credentials(&self, namespace: &str, name: &str, version: &str) -> Option<Credentials> {
        let map = self.credentials.lock().ok()?;
        let (at, credentials) = map.get(&(namespace.to_string(), name.to_string()))?;
        (at == version).then(|| credentials.clone())
    }

    /// Keeps credentials read from the Secret `namespace/name` at `version` (only while
    /// Secrets are watched: otherwise nothing would tell a later reader that it changed).
    pub fn keep_credentials(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        credentials: &Credentials,
    ) {
        if !self.watches_secrets() {
            return;
        }
        if let Ok(mut map) = self.credentials.lock() {
            map.insert(
                (namespace.to_string(), name.to_string()),
                (version.to_string(), credentials.clone()),
            );
        }
    }

    /// The resourceVersion of a Secret, if a watch cache has it.
    pub fn secret_version(&self, namespace: &str, name: &str) -> Option<String> {
        let key = ObjectRef::<PartialObjectMeta<Secret>>::new(name).within(namespace);
        let stores = self.secrets.read().ok()?;
        stores
            .iter()
            .find_map(|s| s.get(&key))
            .and_then(|s| s.metadata.resource_version.clone())
    }

    /// Keeps the group index current from the ChatGroup watch. Returns the other ChatGroups
    /// naming the same group when an object joins or leaves it: they must look again (one of
    /// them may have to stand down, or may take over).
    pub fn index_event(&self, event: &watcher::Event<ChatGroup>) -> Vec<MemberRef> {
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                if obj.metadata.deletion_timestamp.is_some() {
                    return self.unindex(obj);
                }
                self.index(obj)
            }
            watcher::Event::Delete(obj) => {
                if let Ok(mut writes) = self.writes.lock() {
                    writes.remove(&key_of(obj));
                }
                self.drop_unwritten(obj);
                self.unindex(obj)
            }
            watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
        }
    }

    fn unindex(&self, obj: &ChatGroup) -> Vec<MemberRef> {
        let key = object_key(obj);
        let Ok(mut index) = self.by_group.write() else {
            return Vec::new();
        };
        let Some(refs) = index.get_mut(&group_key(obj)) else {
            return Vec::new();
        };
        let before = refs.len();
        refs.retain(|r| *r != key);
        let others = if refs.len() < before {
            refs.clone()
        } else {
            Vec::new()
        };
        if refs.is_empty() {
            index.remove(&group_key(obj));
        }
        others
    }

    fn index(&self, obj: &ChatGroup) -> Vec<MemberRef> {
        let key = object_key(obj);
        let Ok(mut index) = self.by_group.write() else {
            return Vec::new();
        };
        match index.entry(group_key(obj)) {
            Entry::Occupied(mut refs) => {
                if refs.get().contains(&key) {
                    return Vec::new();
                }
                let others = refs.get().clone();
                refs.get_mut().push(key);
                others
            }
            // Almost every group has one ChatGroup: no spare capacity.
            Entry::Vacant(slot) => {
                slot.insert(vec![key]);
                Vec::new()
            }
        }
    }

    /// The ChatGroup that blocks `obj` from managing its group, if any: the first, by
    /// creationTimestamp and then uid, of the others naming the same group that may block it
    /// — those in its own namespace, and those CAMS has accepted a call of (so that an object
    /// in another namespace cannot squat a group it never managed).
    pub fn blocker(&self, obj: &ChatGroup) -> Option<Blocker> {
        let stores = self.chatgroups.read().ok()?;
        // Only the objects indexed under this group, as the stores have them now.
        let candidates: Vec<Arc<ChatGroup>> = self
            .by_group
            .read()
            .ok()?
            .get(&group_key(obj))?
            .iter()
            .filter_map(|r| {
                let r = r.object_ref();
                stores.iter().find_map(|s| s.get(&r))
            })
            .collect();
        let rank = |o: &ChatGroup| {
            (
                o.metadata.creation_timestamp.clone().map(|t| t.0),
                o.metadata.uid.clone().unwrap_or_default(),
            )
        };
        let mine = rank(obj);
        let me = object_key(obj);
        candidates
            .into_iter()
            .filter(|o| {
                object_key(o) != me
                    && o.spec.cust_space_id == obj.spec.cust_space_id
                    && o.spec.business_number == obj.spec.business_number
                    && o.group_id().is_some()
                    && o.group_id() == obj.group_id()
                    && o.metadata.deletion_timestamp.is_none()
                    && o.spec.management_policy.is_manage()
                    && (o.namespace() == obj.namespace() || was_accepted(o))
                    && rank(o) < mine
            })
            .min_by_key(|o| rank(o))
            .map(|o| Blocker {
                namespace: o.namespace().unwrap_or_default(),
                name: o.name_any(),
            })
    }
}

impl Caches {
    /// The GroupIds claimed by a ChatGroup (its `spec.groupId` or `cams.dev/group-id`) in the
    /// account of custSpaceId `cust_space_id` and business number `business_number`.
    pub fn claimed_groups(
        &self,
        cust_space_id: &str,
        business_number: &str,
    ) -> std::collections::HashSet<String> {
        let Ok(stores) = self.chatgroups.read() else {
            return Default::default();
        };
        stores
            .iter()
            .flat_map(|s| s.state())
            .filter(|o| {
                o.spec.cust_space_id == cust_space_id && o.spec.business_number == business_number
            })
            .filter_map(|o| o.group_id().map(String::from))
            .collect()
    }

    /// Another ChatGroup, not being deleted, that names the same group as `obj`.
    pub fn other_claimant(&self, obj: &ChatGroup) -> Option<Blocker> {
        let stores = self.chatgroups.read().ok()?;
        let me = object_key(obj);
        let group = obj.group_id()?;
        stores
            .iter()
            .flat_map(|s| s.state())
            .find(|o| {
                object_key(o) != me
                    && o.metadata.deletion_timestamp.is_none()
                    && o.spec.cust_space_id == obj.spec.cust_space_id
                    && o.spec.business_number == obj.spec.business_number
                    && o.group_id() == Some(group)
            })
            .map(|o| Blocker {
                namespace: o.namespace().unwrap_or_default(),
                name: o.name_any(),
            })
    }

    /// Another ChatGroup of the same account creating a group with the same subject (a
    /// pending create, or one ranked before `obj` that will create): the subject is
    /// reserved for it until its group is found.
    pub fn subject_reserved_by(&self, obj: &ChatGroup, subject: &str) -> Option<Blocker> {
        let stores = self.chatgroups.read().ok()?;
        let rank = |o: &ChatGroup| {
            (
                o.metadata.creation_timestamp.clone().map(|t| t.0),
                o.metadata.uid.clone().unwrap_or_default(),
            )
        };
        let me = object_key(obj);
        let mine = rank(obj);
        stores
            .iter()
            .flat_map(|s| s.state())
            .filter(|o| {
                object_key(o) != me
                    && o.group_id().is_none()
                    && o.metadata.deletion_timestamp.is_none()
                    && o.spec.cust_space_id == obj.spec.cust_space_id
                    && o.spec.business_number == obj.spec.business_number
                    && o.spec.subject.as_deref().map(str::trim) == Some(subject)
                    && (o.create_pending().is_some() || rank(o) < mine)
            })
            .min_by_key(|o| (o.create_pending().is_none(), rank(o)))
            .map(|o| Blocker {
                namespace: o.namespace().unwrap_or_default(),
                name: o.name_any(),
            })
    }
}

/// Whether CAMS has ever accepted a call of this object.
fn was_accepted(obj: &ChatGroup) -> bool {
    obj.status
        .as_ref()
        .is_some_and(|s| s.last_sync_time.is_some())
}
