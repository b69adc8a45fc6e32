//! The simulator's in-memory state: access keys, groups per tenant, fault and realism knobs,
//! token buckets, seen nonces and the call log. One `Mutex<State>` guards all of it; every
//! operation on it is O(1) or O(log n) per CAMS call.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calllog::CallLog;
use crate::faults::{FaultConfig, TokenBucket};
use crate::realism::RealismConfig;
use crate::util;

/// One STS security token accepted for an access key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityToken {
    /// The token value.
    pub token: String,
    /// An expired token is refused with `InvalidSecurityToken.Expired`.
    #[serde(default)]
    pub expired: bool,
    /// From this time on (by the simulator's clock) the token is expired too. Set for the
    /// credentials `AssumeRoleWithOIDC` issues; optional in seeds (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl SecurityToken {
    /// A token without expiry.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            expired: false,
            expires_at: None,
        }
    }

    /// Whether the token is expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expired || self.expires_at.is_some_and(|at| now >= at)
    }
}

/// A token in JSON: a plain string, or `{"token": "...", "expired": true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenSpec {
    /// Just the value (not expired).
    Plain(String),
    /// Value and flags.
    Full(SecurityToken),
}

impl From<TokenSpec> for SecurityToken {
    fn from(spec: TokenSpec) -> Self {
        match spec {
            TokenSpec::Plain(token) => SecurityToken::new(token),
            TokenSpec::Full(t) => t,
        }
    }
}

/// An access key as configured (seed file, `--access-key`, admin API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessKeySpec {
    /// The AccessKeyId (optional in `PUT /admin/access-keys/{id}`, where the path names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The AccessKeySecret.
    pub access_key_secret: String,
    /// STS tokens; when any are configured, every call must carry one of them.
    #[serde(default)]
    pub security_tokens: Vec<TokenSpec>,
    /// An inactive key is refused with `InvalidAccessKeyId.Inactive`.
    #[serde(default)]
    pub inactive: bool,
    /// Actions a RAM policy denies this key: refused with `Forbidden.RAM` (and an
    /// `AccessDeniedDetail`) after the signature checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_actions: Vec<String>,
}

impl AccessKeySpec {
    /// An active key with `secret` and no security tokens (the id comes from elsewhere,
    /// e.g. the path of `PUT /admin/access-keys/{id}`).
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            access_key_id: None,
            access_key_secret: secret.into(),
            security_tokens: Vec::new(),
            inactive: false,
            denied_actions: Vec::new(),
        }
    }

    /// The same key requiring one of `tokens` on every call.
    pub fn with_tokens<T: Into<String>>(mut self, tokens: impl IntoIterator<Item = T>) -> Self {
        self.security_tokens = tokens
            .into_iter()
            .map(|t| TokenSpec::Plain(t.into()))
            .collect();
        self
    }
}

/// A stored access key.
#[derive(Clone, Debug)]
pub struct AccessKey {
    /// The secret.
    pub secret: String,
    /// Accepted STS tokens (empty: the key is a plain AccessKey pair).
    pub tokens: Vec<SecurityToken>,
    /// Refused with `InvalidAccessKeyId.Inactive`.
    pub inactive: bool,
    /// Issued by the simulator's `AssumeRoleWithOIDC` (see `sts.rs`).
    pub sts_issued: bool,
    /// Actions refused with `Forbidden.RAM`.
    pub denied_actions: Vec<String>,
}

/// The STS side (`AssumeRoleWithOIDC`), set with `PUT /admin/sts` or the seed's `sts`.
/// A PUT replaces the whole setting; fields left out take their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StsConfig {
    /// The OIDC tokens accepted; `None` accepts any non-empty token.
    #[serde(default)]
    pub accepted_tokens: Option<Vec<String>>,
    /// The longest lifetime of issued credentials in seconds: `Expiration` is now plus the
    /// smaller of this and `DurationSeconds`.
    #[serde(default = "default_sts_duration_secs")]
    pub duration_secs: u64,
    /// When set, every valid `AssumeRoleWithOIDC` call answers this error code.
    #[serde(default)]
    pub error_code: Option<String>,
}

fn default_sts_duration_secs() -> u64 {
    3600
}

impl Default for StsConfig {
    fn default() -> Self {
        Self {
            accepted_tokens: None,
            duration_secs: default_sts_duration_secs(),
            error_code: None,
        }
    }
}

impl StsConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.duration_secs == 0 {
            return Err("durationSecs must be at least 1".into());
        }
        if let Some(tokens) = &self.accepted_tokens {
            if tokens.iter().any(|t| t.is_empty()) {
                return Err("acceptedTokens must not contain empty tokens".into());
            }
        }
        if self
            .error_code
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err("errorCode must not be empty (use null for none)".into());
        }
        Ok(())
    }
}

/// A group as seeded through the seed file or `POST /admin/groups`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSeed {
    /// The tenant (CAMS `CustSpaceId`) the group belongs to.
    pub cust_space_id: String,
    /// The WhatsApp business number that owns the group.
    pub business_number: String,
    /// The group's id; a `SIM…` id is generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The group's subject (its WhatsApp name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The group's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The profile picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture_file: Option<String>,
    /// The group's status; `ACTIVE` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_status: Option<String>,
    /// The group's type; `NORMAL` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
    /// The group link CAMS reports (`ListChatGroup` filters on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_link: Option<String>,
    /// The current invite link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<String>,
    /// The business number's role in the group; `OWNER` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_role: Option<String>,
    /// The participants' phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<String>,
}

impl GroupSeed {
    /// A group of tenant `cust_space_id` and `business_number` with id `group_id`, every
    /// other field left to its default.
    pub fn new(
        cust_space_id: impl Into<String>,
        business_number: impl Into<String>,
        group_id: impl Into<String>,
    ) -> Self {
        Self {
            cust_space_id: cust_space_id.into(),
            business_number: business_number.into(),
            group_id: Some(group_id.into()),
            ..Self::default()
        }
    }

    /// The same group with `subject` set.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// A stored group, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The tenant (CAMS `CustSpaceId`).
    pub cust_space_id: String,
    /// The WhatsApp business number that owns the group.
    pub business_number: String,
    /// The group's id.
    pub group_id: String,
    /// The group's subject (its WhatsApp name).
    pub subject: Option<String>,
    /// The group's description.
    pub description: Option<String>,
    /// The profile picture URL as listed: the URL sent, or its CAMS copy when the tenant's
    /// realism setting has `pictureCopy`.
    pub profile_picture_file: Option<String>,
    /// ACTIVE, INACTIVE, SUSPENDED, CREATING, DELETING or UPDATING.
    pub group_status: String,
    /// The group's type (`NORMAL` unless seeded otherwise).
    pub group_type: String,
    /// The group link CAMS reports.
    pub group_link: Option<String>,
    /// The current invite link.
    pub invite_link: Option<String>,
    /// The business number's role in the group.
    pub business_role: String,
    /// The participants' phone numbers.
    pub participants: Vec<String>,
    /// The `UniqueCode` AddChatGroup returned (or one made up for seeded groups).
    pub unique_code: String,
    /// Creation time, milliseconds since the epoch.
    pub gmt_create: i64,
    /// Time of the last change, milliseconds since the epoch; every change moves it forward
    /// (by at least 1 ms).
    pub gmt_modifier: i64,
    /// The group's place in creation order over the whole simulator (ListChatGroup's
    /// `created` order); set by the state when the group is created or seeded.
    #[serde(default)]
    pub created_seq: u64,
    /// An accepted UpdateChatGroup not applied yet (realism `updateDelayMs`): the group is
    /// `UPDATING` until `applyAtMs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_update: Option<PendingUpdate>,
    /// A creation not finished yet (realism `createDelayMs`): the group is `CREATING` until
    /// `doneAtMs`, then becomes what `outcome` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,
    /// When an accepted DeleteChatGroup takes effect (realism `deleteDelayMs`), milliseconds
    /// since the epoch: the group is `DELETING` until then, and gone from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_at_ms: Option<i64>,
}

/// A group being created (realism `createDelayMs`, `createFailure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// When the creation ends, milliseconds since the epoch.
    pub done_at_ms: i64,
    /// What the group becomes then.
    pub outcome: CreateOutcome,
}

/// What a group being created becomes when its creation ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CreateOutcome {
    /// `ACTIVE`: the creation worked.
    Active,
    /// `INACTIVE`: it failed and the group stays (`createFailure` mode `inactive`).
    Inactive,
    /// Gone: it failed and the group disappears (`createFailure` mode `vanish`).
    Vanish,
}

/// An accepted update of a group's fields: applied at once, or at `apply_at_ms` while the
/// group shows `UPDATING` (realism `updateDelayMs`). Fields withheld by `neverApply` are not
/// in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingUpdate {
    /// The new subject, when sent (and not withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The new description, when sent (and not withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The new picture as it will be listed (the URL sent or its CAMS copy), when sent (and
    /// not withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture_file: Option<String>,
    /// When it applies, milliseconds since the epoch.
    pub apply_at_ms: i64,
    /// The status the group has again once it applies (its status before the update).
    pub status_after: String,
}

impl PendingUpdate {
    /// Whether it changes no field.
    pub fn is_empty(&self) -> bool {
        self.subject.is_none() && self.description.is_none() && self.profile_picture_file.is_none()
    }
}

/// An out-of-band edit (`PATCH /admin/groups/{custSpaceId}/{businessNumber}/{groupId}`): the
/// group changed in WhatsApp itself, or Meta changed its status. Only the fields given
/// change; at least one is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupEdit {
    /// The new subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The new picture URL, stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture_file: Option<String>,
    /// The new status: ACTIVE, INACTIVE, SUSPENDED, CREATING, DELETING or UPDATING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_status: Option<String>,
}

impl GroupEdit {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.description.is_none()
            && self.profile_picture_file.is_none()
            && self.group_status.is_none()
    }

    /// The same edit setting the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The same edit setting the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The same edit setting the picture URL.
    pub fn with_profile_picture_file(mut self, url: impl Into<String>) -> Self {
        self.profile_picture_file = Some(url.into());
        self
    }

    /// The same edit setting the status (e.g. `SUSPENDED`).
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.group_status = Some(status.into());
        self
    }
}

impl Group {
    /// A group from a seed, at time `now_ms`.
    pub fn from_seed(seed: GroupSeed, now_ms: i64) -> Self {
        Self {
            cust_space_id: seed.cust_space_id,
            business_number: seed.business_number,
            group_id: seed.group_id.unwrap_or_else(new_group_id),
            subject: seed.subject,
            description: seed.description,
            profile_picture_file: seed.profile_picture_file,
            group_status: seed.group_status.unwrap_or_else(|| "ACTIVE".into()),
            group_type: seed.group_type.unwrap_or_else(|| "NORMAL".into()),
            group_link: seed.group_link,
            invite_link: seed.invite_link,
            business_role: seed.business_role.unwrap_or_else(|| "OWNER".into()),
            participants: seed.participants,
            unique_code: new_unique_code(),
            gmt_create: now_ms,
            gmt_modifier: now_ms,
            created_seq: 0,
            pending_update: None,
            pending_create: None,
            delete_at_ms: None,
        }
    }

    /// Whether the group is being created or deleted (`CREATING`/`DELETING` through the
    /// realism delays): an update then applies at once, without an `UPDATING` phase.
    pub fn in_transition(&self) -> bool {
        self.pending_create.is_some() || self.delete_at_ms.is_some()
    }

    /// Whether the group no longer exists at `now_ms`: its deletion, or a create that
    /// vanishes, is due. Whoever holds the map removes it (see [`settle_groups`]).
    pub fn is_gone(&self, now_ms: i64) -> bool {
        self.delete_at_ms.is_some_and(|at| at <= now_ms)
            || self
                .pending_create
                .is_some_and(|c| c.outcome == CreateOutcome::Vanish && c.done_at_ms <= now_ms)
    }

    /// Records a change at `at_ms`: GmtModifier moves to `at_ms`, and at least 1 ms forward.
    pub fn touch(&mut self, at_ms: i64) {
        self.gmt_modifier = at_ms.max(self.gmt_modifier.saturating_add(1));
    }

    /// Applies `update` now: its fields, its status, and GmtModifier at its `apply_at_ms`.
    pub fn apply(&mut self, update: PendingUpdate) {
        if let Some(s) = update.subject {
            self.subject = Some(s);
        }
        if let Some(d) = update.description {
            self.description = Some(d);
        }
        if let Some(p) = update.profile_picture_file {
            self.profile_picture_file = Some(p);
        }
        self.group_status = update.status_after;
        self.touch(update.apply_at_ms);
    }

    /// Brings the group up to `now_ms` (the lazy half of the realism delays): a creation
    /// that is due ends (`ACTIVE` or `INACTIVE`, GmtModifier at its due time), a pending
    /// update that is due applies; whether anything changed. A group that is gone
    /// ([`Group::is_gone`]) is left as it is.
    pub fn settle(&mut self, now_ms: i64) -> bool {
        let mut changed = false;
        if let Some(create) = self.pending_create {
            if create.done_at_ms <= now_ms && create.outcome != CreateOutcome::Vanish {
                self.pending_create = None;
                self.group_status = match create.outcome {
                    CreateOutcome::Inactive => "INACTIVE",
                    _ => "ACTIVE",
                }
                .into();
                self.touch(create.done_at_ms);
                changed = true;
            }
        }
        match &self.pending_update {
            Some(p) if p.apply_at_ms <= now_ms => self.flush(now_ms) || changed,
            _ => changed,
        }
    }

    /// Starts the deletion at `now_ms`, done at `delete_at_ms`: a pending update applies
    /// first, a creation in progress is abandoned, and the group lists `DELETING`.
    pub fn start_delete(&mut self, now_ms: i64, delete_at_ms: i64) {
        self.flush(now_ms);
        self.pending_create = None;
        self.group_status = "DELETING".into();
        self.delete_at_ms = Some(delete_at_ms);
        self.touch(now_ms);
    }

    /// Applies the pending update at once, due or not (before another update or an
    /// out-of-band edit is layered on); whether there was one. GmtModifier moves to its due
    /// time, or to `now_ms` if that is earlier.
    pub fn flush(&mut self, now_ms: i64) -> bool {
        let Some(mut update) = self.pending_update.take() else {
            return false;
        };
        update.apply_at_ms = update.apply_at_ms.min(now_ms);
        self.apply(update);
        true
    }

    /// Applies an out-of-band edit at `now_ms` (a pending update is applied first). An edit
    /// that sets the status also ends a creation or deletion in progress: it is the last
    /// word.
    pub fn edit(&mut self, edit: GroupEdit, now_ms: i64) {
        self.flush(now_ms);
        if edit.group_status.is_some() {
            self.pending_create = None;
            self.delete_at_ms = None;
        }
        if let Some(s) = edit.subject {
            self.subject = Some(s);
        }
        if let Some(d) = edit.description {
            self.description = Some(d);
        }
        if let Some(p) = edit.profile_picture_file {
            self.profile_picture_file = Some(p);
        }
        if let Some(status) = edit.group_status {
            self.group_status = status;
        }
        self.touch(now_ms);
    }
}

/// A new random GroupId.
pub fn new_group_id() -> String {
    format!("SIM{}", util::random_upper_alnum(13))
}

/// A new random invite link.
pub fn new_invite_link() -> String {
    format!("https://chat.whatsapp.com/{}", util::random_alnum(22))
}

/// Settles every group of `groups` at `now_ms` ([`Group::settle`]) and removes those that
/// are gone ([`Group::is_gone`]); how many were removed.
pub fn settle_groups(groups: &mut Groups, now_ms: i64) -> usize {
    let mut gone = Vec::new();
    for (key, g) in groups.iter_mut() {
        g.settle(now_ms);
        if g.is_gone(now_ms) {
            gone.push(key.clone());
        }
    }
    for key in &gone {
        groups.remove(key);
    }
    gone.len()
}

/// A new random UniqueCode.
pub fn new_unique_code() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Groups of one tenant, keyed by (BusinessNumber, GroupId).
pub type Groups = BTreeMap<(String, String), Group>;

/// Nonces seen within the window, remembered as 128-bit keyed hashes of (AccessKeyId, nonce)
/// so that a long benchmark does not keep every nonce string.
#[derive(Debug)]
pub struct NonceCache {
    window: Duration,
    seen: HashSet<u128>,
    order: VecDeque<(Instant, u128)>,
    h1: RandomState,
    h2: RandomState,
}

impl NonceCache {
    /// An empty cache remembering nonces for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: HashSet::new(),
            order: VecDeque::new(),
            h1: RandomState::new(),
            h2: RandomState::new(),
        }
    }

    /// Records the nonce; `false` when it was already seen within the window.
    pub fn insert(&mut self, access_key_id: &str, nonce: &str, now: Instant) -> bool {
        while let Some((at, key)) = self.order.front().copied() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.seen.remove(&key);
            self.order.pop_front();
        }
        let hi = self.h1.hash_one((access_key_id, nonce)) as u128;
        let lo = self.h2.hash_one((access_key_id, nonce)) as u128;
        let key = (hi << 64) | lo;
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back((now, key));
        true
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Everything the simulator knows.
#[derive(Debug)]
pub struct State {
    /// Access keys by id.
    pub keys: HashMap<String, AccessKey>,
    /// Groups by tenant (CustSpaceId).
    pub tenants: HashMap<String, Groups>,
    /// Fault knobs for tenants without their own.
    pub default_faults: FaultConfig,
    /// Per-tenant fault knobs (replace the default entirely).
    pub tenant_faults: HashMap<String, FaultConfig>,
    /// Token buckets by tenant.
    pub buckets: HashMap<String, TokenBucket>,
    /// Realism knobs for tenants without their own.
    pub default_realism: RealismConfig,
    /// Per-tenant realism knobs (replace the default entirely).
    pub tenant_realism: HashMap<String, RealismConfig>,
    /// Per-action token buckets (realism `actionQps`) by (tenant, action).
    pub action_buckets: HashMap<(String, String), TokenBucket>,
    /// Groups created or seeded so far (the last `created_seq` handed out).
    pub groups_created: u64,
    /// Seen nonces.
    pub nonces: NonceCache,
    /// The call log.
    pub calls: CallLog,
    /// The STS settings.
    pub sts: StsConfig,
    /// How many credentials `AssumeRoleWithOIDC` has issued.
    pub sts_issued_total: u64,
}

impl State {
    /// An empty state.
    pub fn new(nonce_window: Duration, call_log_capacity: usize) -> Self {
        Self {
            keys: HashMap::new(),
            tenants: HashMap::new(),
            default_faults: FaultConfig::default(),
            tenant_faults: HashMap::new(),
            buckets: HashMap::new(),
            default_realism: RealismConfig::default(),
            tenant_realism: HashMap::new(),
            action_buckets: HashMap::new(),
            groups_created: 0,
            nonces: NonceCache::new(nonce_window),
            calls: CallLog::new(call_log_capacity),
            sts: StsConfig::default(),
            sts_issued_total: 0,
        }
    }

    /// Adds or replaces an access key; `true` when it replaced one.
    pub fn put_key(&mut self, id: String, spec: AccessKeySpec) -> bool {
        let key = AccessKey {
            secret: spec.access_key_secret,
            tokens: spec.security_tokens.into_iter().map(Into::into).collect(),
            inactive: spec.inactive,
            sts_issued: false,
            denied_actions: spec.denied_actions,
        };
        self.keys.insert(id, key).is_some()
    }

    /// The next `created_seq`, for a group being created or seeded.
    pub fn next_created_seq(&mut self) -> u64 {
        self.groups_created += 1;
        self.groups_created
    }

    /// Adds or replaces a group; returns the stored copy.
    pub fn seed_group(&mut self, seed: GroupSeed, now_ms: i64) -> Group {
        let mut group = Group::from_seed(seed, now_ms);
        group.created_seq = self.next_created_seq();
        self.tenants
            .entry(group.cust_space_id.clone())
            .or_default()
            .insert(
                (group.business_number.clone(), group.group_id.clone()),
                group.clone(),
            );
        group
    }

    /// Settles the groups of `tenant` (of every tenant when `None`) at `now_ms`: due
    /// creations end, due updates apply, and groups that are gone are removed.
    pub fn settle_tenants(&mut self, tenant: Option<&str>, now_ms: i64) {
        for (name, groups) in &mut self.tenants {
            if tenant.is_none_or(|t| t == name) {
                settle_groups(groups, now_ms);
            }
        }
    }

    /// The fault knobs in force for a tenant.
    pub fn faults_for(&self, tenant: &str) -> &FaultConfig {
        self.tenant_faults
            .get(tenant)
            .unwrap_or(&self.default_faults)
    }

    /// The realism knobs in force for a tenant.
    pub fn realism_for(&self, tenant: &str) -> &RealismConfig {
        self.tenant_realism
            .get(tenant)
            .unwrap_or(&self.default_realism)
    }

    /// The realism knobs in force for a tenant, to change (a `neverApply` count): the
    /// tenant's own, else the default.
    pub fn realism_for_mut(&mut self, tenant: &str) -> &mut RealismConfig {
        match self.tenant_realism.get_mut(tenant) {
            Some(own) => own,
            None => &mut self.default_realism,
        }
    }

    /// Takes a token from the tenant's bucket for `action` when the tenant's realism knobs
    /// have one (`actionQps`); `None` when they do not (the tenant-wide `qps` applies then).
    pub fn take_action_token(
        &mut self,
        tenant: &str,
        action: &str,
        now: Instant,
    ) -> Option<Result<(), Duration>> {
        let limit = self.realism_for(tenant).action_qps.get(action)?.limit();
        let key = (tenant.to_string(), action.to_string());
        if let Some(bucket) = self.action_buckets.get_mut(&key) {
            if *bucket.limit() == limit {
                return Some(bucket.try_take(now));
            }
        }
        let mut bucket = TokenBucket::new(limit, now);
        let result = bucket.try_take(now);
        self.action_buckets.insert(key, bucket);
        Some(result)
    }

    /// Takes a token from the tenant's bucket (when a QPS limit is in force).
    pub fn take_token(&mut self, tenant: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.faults_for(tenant).qps else {
            return Ok(());
        };
        if let Some(bucket) = self.buckets.get_mut(tenant) {
            if *bucket.limit() == limit {
                return bucket.try_take(now);
            }
        }
        let mut bucket = TokenBucket::new(limit, now);
        let result = bucket.try_take(now);
        self.buckets.insert(tenant.to_string(), bucket);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_refused_within_the_window_only() {
        let mut cache = NonceCache::new(Duration::from_secs(900));
        let t0 = Instant::now();
        assert!(cache.insert("ak", "n1", t0));
        assert!(!cache.insert("ak", "n1", t0 + Duration::from_secs(60)));
        // Another key may use the same nonce.
        assert!(cache.insert("other", "n1", t0));
        assert!(cache.insert("ak", "n2", t0 + Duration::from_secs(1)));
        assert_eq!(cache.len(), 3);
        // After the window the nonce is forgotten, and so are its contemporaries.
        assert!(cache.insert("ak", "n1", t0 + Duration::from_secs(901)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn tenant_faults_replace_the_default_and_buckets_are_per_tenant() {
        let mut s = State::new(Duration::from_secs(900), 10);
        s.default_faults.qps = Some(crate::faults::QpsLimit {
            rate: 1.0,
            burst: Some(1.0),
        });
        let now = Instant::now();
        assert!(s.take_token("a", now).is_ok());
        assert!(s.take_token("a", now).is_err());
        // Tenant b has its own bucket under the same default.
        assert!(s.take_token("b", now).is_ok());
        // Tenant c has its own knobs without a QPS limit.
        s.tenant_faults.insert("c".into(), FaultConfig::default());
        for _ in 0..10 {
            assert!(s.take_token("c", now).is_ok());
        }
        // Changing the limit starts a fresh bucket.
        s.default_faults.qps = Some(crate::faults::QpsLimit {
            rate: 1.0,
            burst: Some(2.0),
        });
        assert!(s.take_token("a", now).is_ok());
        assert!(s.take_token("a", now).is_ok());
        assert!(s.take_token("a", now).is_err());
    }

    #[test]
    fn action_buckets_are_per_tenant_and_action_and_replace_the_tenant_qps() {
        use crate::realism::{ActionQps, RealismConfig};
        let mut s = State::new(Duration::from_secs(900), 10);
        s.default_realism.action_qps.insert(
            "ListChatGroup".into(),
            ActionQps {
                qps: 1.0,
                burst: Some(2.0),
            },
        );
        s.default_faults.qps = Some(crate::faults::QpsLimit {
            rate: 1.0,
            burst: Some(1.0),
        });
        let now = Instant::now();
        for _ in 0..2 {
            assert_eq!(s.take_action_token("a", "ListChatGroup", now), Some(Ok(())));
        }
        let wait = s.take_action_token("a", "ListChatGroup", now);
        assert!(
            matches!(wait, Some(Err(w)) if w == Duration::from_secs(1)),
            "{wait:?}"
        );
        // Tenant b has its own bucket for the same action.
        assert_eq!(s.take_action_token("b", "ListChatGroup", now), Some(Ok(())));
        // Another action has no entry: the tenant-wide qps applies (the caller's job).
        assert_eq!(s.take_action_token("a", "UpdateChatGroup", now), None);
        assert!(s.take_token("a", now).is_ok());
        assert!(s.take_token("a", now).is_err());
        // A tenant with knobs of its own and no entry: no action bucket.
        s.tenant_realism
            .insert("c".into(), RealismConfig::default());
        assert_eq!(s.take_action_token("c", "ListChatGroup", now), None);
        // A second later one token is back.
        let later = now + Duration::from_secs(1);
        assert_eq!(
            s.take_action_token("a", "ListChatGroup", later),
            Some(Ok(()))
        );
        assert!(s
            .take_action_token("a", "ListChatGroup", later)
            .unwrap()
            .is_err());
    }

    fn pending(subject: &str, apply_at_ms: i64) -> PendingUpdate {
        PendingUpdate {
            subject: Some(subject.into()),
            description: None,
            profile_picture_file: None,
            apply_at_ms,
            status_after: "ACTIVE".into(),
        }
    }

    #[test]
    fn an_edit_applies_a_pending_update_first_and_moves_gmt_modifier() {
        let mut g = Group::from_seed(GroupSeed::new("cs", "86", "G").with_subject("Old"), 100);
        g.group_status = "UPDATING".into();
        g.pending_update = Some(pending("Pending", 5000));
        // Not due yet.
        assert!(!g.settle(4999));
        assert_eq!(g.subject.as_deref(), Some("Old"));
        // An edit at 200 applies the pending update at once, then the edit on top.
        g.edit(
            GroupEdit::default()
                .with_description("From WhatsApp")
                .with_status("SUSPENDED"),
            200,
        );
        assert!(g.pending_update.is_none());
        assert_eq!(g.subject.as_deref(), Some("Pending"));
        assert_eq!(g.description.as_deref(), Some("From WhatsApp"));
        assert_eq!(g.group_status, "SUSPENDED");
        assert_eq!(g.gmt_modifier, 201, "applied at 200, edited 1 ms later");
        // Changes in the same millisecond still move GmtModifier forward.
        g.edit(GroupEdit::default().with_subject("Again"), 200);
        assert_eq!(g.gmt_modifier, 202);
        g.edit(GroupEdit::default().with_status("ACTIVE"), 9000);
        assert_eq!((g.group_status.as_str(), g.gmt_modifier), ("ACTIVE", 9000));
    }

    #[test]
    fn a_due_update_applies_at_its_due_time() {
        let mut g = Group::from_seed(GroupSeed::new("cs", "86", "G"), 100);
        g.pending_update = Some(pending("Due", 300));
        assert!(g.settle(10_000));
        assert_eq!(
            (
                g.subject.as_deref(),
                g.gmt_modifier,
                g.group_status.as_str()
            ),
            (Some("Due"), 300, "ACTIVE")
        );
        assert!(!g.settle(20_000));
        assert!(!g.flush(20_000));
    }

    #[test]
    fn groups_are_numbered_in_creation_order() {
        let mut s = State::new(Duration::from_secs(900), 10);
        let a = s.seed_group(GroupSeed::new("cs", "86", "B"), 1);
        let b = s.seed_group(GroupSeed::new("cs", "86", "A"), 1);
        assert!(a.created_seq < b.created_seq);
        // Replacing a group makes it the newest.
        let again = s.seed_group(GroupSeed::new("cs", "86", "B"), 1);
        assert!(again.created_seq > b.created_seq);
        let edit: GroupEdit = serde_json::from_str(r#"{"groupStatus":"SUSPENDED"}"#).unwrap();
        assert_eq!(edit, GroupEdit::default().with_status("SUSPENDED"));
        assert!(serde_json::from_str::<GroupEdit>(r#"{"status":"SUSPENDED"}"#).is_err());
        assert!(GroupEdit::default().is_empty());
    }
}
