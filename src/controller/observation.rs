//! A reconcile's view of the group: the object's account (its credentials' AccessKeyId, read
//! once and kept by the observer), what the account's inventory says, and the verdict.

use std::sync::{Arc, RwLock};

use chrono::Utc;
use kube::runtime::reflector::ObjectRef;

use super::{credentials_for, Context, ReconcileError};
use crate::cams::{Endpoint, EndpointPolicy};
use crate::observe::compare::{picture_accepted, verdict, CompareInput, InSync, Verdict, View};
use crate::observe::inventory::AccountKey;
use crate::observe::observer::Observer;
use crate::resource::ChatGroup;

/// The observer of the current leadership term (set by [`super::run`]); none in unit tests
/// that do not observe.
pub type ChatGroupObserver = Observer<Member>;

/// How the observer names an object: shared, so that its indexes (by object, by group, the
/// objects waiting for a scan) hold one copy.
pub type Member = Arc<MemberRef>;

/// An object's namespace and name: all the controller matches on (an `ObjectRef` also has
/// room for a uid and a resourceVersion, three times the memory at 10,000 objects).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberRef {
    namespace: Option<Box<str>>,
    name: Box<str>,
}

impl MemberRef {
    /// The reference of `obj`.
    pub fn of(obj: &ChatGroup) -> Self {
        Self {
            namespace: obj.metadata.namespace.as_deref().map(Box::from),
            name: kube::ResourceExt::name_any(obj).into(),
        }
    }

    /// The namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The reference the controller is re-queued with.
    pub fn object_ref(&self) -> ObjectRef<ChatGroup> {
        let obj_ref = ObjectRef::new(&self.name);
        match &self.namespace {
            Some(ns) => obj_ref.within(ns),
            None => obj_ref,
        }
    }
}

impl From<&ObjectRef<ChatGroup>> for MemberRef {
    fn from(obj_ref: &ObjectRef<ChatGroup>) -> Self {
        Self {
            namespace: obj_ref.namespace.as_deref().map(Box::from),
            name: obj_ref.name.as_str().into(),
        }
    }
}

/// Where reconciles find the current term's observer.
#[derive(Default)]
pub struct ObserverSlot(RwLock<Option<Arc<ChatGroupObserver>>>);

impl ObserverSlot {
    /// Installs the observer of a new term (or removes it).
    pub fn set(&self, observer: Option<Arc<ChatGroupObserver>>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = observer;
        }
    }

    /// The current observer, if any.
    pub fn get(&self) -> Option<Arc<ChatGroupObserver>> {
        self.0.read().ok().and_then(|slot| slot.clone())
    }
}

/// What observation says about one object now.
pub struct Observation {
    /// The account the object maps to, when known.
    pub key: Option<AccountKey>,
    /// What the inventory showed.
    pub view: View,
    /// The verdict on it.
    pub verdict: Verdict,
    /// The settle window.
    settle: std::time::Duration,
}

impl Observation {
    /// The verdict once CAMS has accepted a write of the spec now: what the inventory shows
    /// predates it, so a difference is "updating".
    pub fn after_write(&mut self, obj: &ChatGroup) {
        let now = Utc::now();
        let mut status = obj.status.clone().unwrap_or_default();
        status.picture = picture_accepted(&obj.spec, &status, now);
        status.last_sync_time = Some(crate::status::rfc3339_not_before(now));
        self.verdict = verdict(
            &self.view,
            &CompareInput {
                spec: &obj.spec,
                status: &status,
                now,
                settle: self.settle,
            },
        );
        if self.verdict.in_sync == InSync::Pending {
            // The first scan after a start is under way: it may predate this write, so the
            // change is "updating" until a later scan shows it (no Ready True in between).
            self.verdict.in_sync = InSync::Updating(
                "CAMS accepted the change; waiting for a ListChatGroup scan to show it".into(),
            );
        }
    }

    /// Whether the object waits for a scan to show a change (its own accepted write, or a
    /// difference a second scan must confirm).
    pub fn awaits_scan(&self) -> bool {
        matches!(
            self.verdict.in_sync,
            InSync::Updating(_)
                | InSync::Drifted {
                    confirmed: false,
                    ..
                }
        )
    }
}

/// How the observer names `obj`.
pub fn member_ref(obj: &ChatGroup) -> Member {
    Arc::new(MemberRef::of(obj))
}

/// The account key of `obj` given the AccessKeyId that signs for it.
fn account_key(obj: &ChatGroup, endpoint: &Endpoint, access_key_id: &str) -> AccountKey {
    AccountKey {
        origin: endpoint.origin(),
        region: obj.spec.region.clone(),
        access_key_id: access_key_id.to_string(),
        cust_space_id: obj.spec.cust_space_id.clone(),
        business_number: obj.spec.business_number.clone(),
    }
}

/// Whether a key registered earlier still fits the object's spec (its AccessKeyId is
/// re-read only when the observer forgets it, e.g. after scans are refused).
fn still_fits(key: &AccountKey, obj: &ChatGroup, endpoints: &EndpointPolicy) -> bool {
    let origin = endpoints
        .resolve(obj.spec.region.as_deref())
        .map(|e| e.origin())
        .ok();
    origin.as_deref() == Some(key.origin.as_str())
        && key.region == obj.spec.region
        && key.cust_space_id == obj.spec.cust_space_id
        && key.business_number == obj.spec.business_number
}

/// Registers `obj` with its account (reading its credentials if not registered yet) and
/// judges what the inventory shows.
pub async fn observe(
    obj: &ChatGroup,
    namespace: &str,
    endpoint: Option<&Endpoint>,
    ctx: &Context,
) -> Result<Option<Observation>, ReconcileError> {
    let Some(observer) = ctx.observer.get() else {
        return Ok(None);
    };
    let status = obj.status.clone().unwrap_or_default();
    let input = CompareInput {
        spec: &obj.spec,
        status: &status,
        now: Utc::now(),
        settle: observer.settings().settle,
    };
    let settle = observer.settings().settle;
    if !observer.enabled() {
        return Ok(Some(Observation {
            key: None,
            verdict: verdict(&View::Disabled, &input),
            view: View::Disabled,
            settle,
        }));
    }
    let member = member_ref(obj);
    // An object creating its group has no row yet: it is registered (the account's scans
    // are what finds its group) but there is nothing to compare.
    let group_id = obj.group_id().unwrap_or_default();
    let registered = observer
        .account_of(&member)
        .filter(|k| still_fits(k, obj, &ctx.endpoints));
    let (key, view) = match (registered, endpoint) {
        (Some(key), _) => {
            let view = observer.view(&key, group_id);
            (Some(key), view)
        }
        (None, None) => (
            None,
            View::Unavailable("the object's region or endpoint is not usable".into()),
        ),
        (None, Some(endpoint)) => {
            let mut version = None;
            match credentials_for(obj, namespace, ctx, &mut version).await? {
                Ok(credentials) => {
                    let key = account_key(obj, endpoint, &credentials.access_key_id);
                    observer.register(member, key.clone(), group_id, credentials);
                    let view = observer.view(&key, group_id);
                    (Some(key), view)
                }
                Err(e) => (
                    None,
                    View::Unavailable(format!("no usable credentials to list groups: {e}")),
                ),
            }
        }
    };
    let view = if group_id.is_empty() {
        View::Pending
    } else {
        view
    };
    Ok(Some(Observation {
        key,
        verdict: verdict(&view, &input),
        view,
        settle,
    }))
}
