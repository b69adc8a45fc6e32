//! The simulator's in-memory state: access keys, groups per tenant, fault knobs, token
//! buckets, seen nonces and the call log. One `Mutex<State>` guards all of it; every
//! operation on it is O(1) or O(log n) per CAMS call.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calllog::CallLog;
use crate::faults::{FaultConfig, TokenBucket};
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
    /// The profile picture URL, as sent.
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
    /// Time of the last change, milliseconds since the epoch.
    pub gmt_modifier: i64,
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
        }
    }
}

/// A new random GroupId.
pub fn new_group_id() -> String {
    format!("SIM{}", util::random_upper_alnum(13))
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
        };
        self.keys.insert(id, key).is_some()
    }

    /// Adds or replaces a group; returns the stored copy.
    pub fn seed_group(&mut self, seed: GroupSeed, now_ms: i64) -> Group {
        let group = Group::from_seed(seed, now_ms);
        self.tenants
            .entry(group.cust_space_id.clone())
            .or_default()
            .insert(
                (group.business_number.clone(), group.group_id.clone()),
                group.clone(),
            );
        group
    }

    /// The fault knobs in force for a tenant.
    pub fn faults_for(&self, tenant: &str) -> &FaultConfig {
        self.tenant_faults
            .get(tenant)
            .unwrap_or(&self.default_faults)
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
}
