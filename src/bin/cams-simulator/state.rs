//! The simulator's in-memory state: access keys, groups per tenant, fault knobs, token
//! buckets, seen nonces and the call log. One `Mutex<State>` guards all of it; every
//! operation on it is O(1) or O(log n) per CAMS call.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessKeySpec {
    /// The AccessKeyId (optional in `PUT /admin/access-keys/{id}`, where the path names it).
    #[serde(default)]
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
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSeed {
    /// Tenant.
    pub cust_space_id: String,
    /// Business number.
    pub business_number: String,
    /// Generated when absent.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Profile picture URL.
    #[serde(default)]
    pub profile_picture_file: Option<String>,
    /// Default `ACTIVE`.
    #[serde(default)]
    pub group_status: Option<String>,
    /// Default `NORMAL`.
    #[serde(default)]
    pub group_type: Option<String>,
    /// Group link.
    #[serde(default)]
    pub group_link: Option<String>,
    /// Invite link.
    #[serde(default)]
    pub invite_link: Option<String>,
    /// Default `OWNER`.
    #[serde(default)]
    pub business_role: Option<String>,
    /// Participant numbers.
    #[serde(default)]
    pub participants: Vec<String>,
}

/// A stored group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Tenant.
    pub cust_space_id: String,
    /// Business number.
    pub business_number: String,
    /// Group id.
    pub group_id: String,
    /// Subject.
    pub subject: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Profile picture URL as sent.
    pub profile_picture_file: Option<String>,
    /// ACTIVE, INACTIVE, SUSPENDED, CREATING, DELETING, UPDATING.
    pub group_status: String,
    /// Group type.
    pub group_type: String,
    /// Group link.
    pub group_link: Option<String>,
    /// Current invite link.
    pub invite_link: Option<String>,
    /// The business number's role in the group.
    pub business_role: String,
    /// Participant numbers.
    pub participants: Vec<String>,
    /// The `UniqueCode` AddChatGroup returned (or one made up for seeded groups).
    pub unique_code: String,
    /// Creation time, ms since the epoch.
    pub gmt_create: i64,
    /// Last change, ms since the epoch.
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
}

/// One entry of the call log.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEntry {
    /// Sequence number, from 1, never reused (not even after a clear).
    pub seq: u64,
    /// When the call arrived (RFC 3339, milliseconds, real clock).
    pub time: String,
    /// The action, as sent.
    pub action: Option<String>,
    /// The AccessKeyId the call claimed.
    pub access_key_id: Option<String>,
    /// `v3` or `rpc` (`null` when no signature was recognised).
    pub signature_scheme: Option<&'static str>,
    /// Whether the call carried a security token.
    pub security_token: bool,
    /// Whether the AccessKeyId was issued by the simulator's `AssumeRoleWithOIDC` (false for
    /// the `AssumeRoleWithOIDC` call itself).
    pub sts_issued: bool,
    /// The client's address.
    pub remote_addr: String,
    /// The `User-Agent`.
    pub user_agent: Option<String>,
    /// The `CustSpaceId` parameter.
    pub cust_space_id: Option<String>,
    /// All decoded query (and form body) parameters except `Signature`.
    pub params: BTreeMap<String, String>,
    /// HTTP status (0 when the connection was reset or the call hangs forever).
    pub status: u16,
    /// The response `Code` (`OK`, an error code, `ConnectionReset` or `Hang`).
    pub code: String,
    /// The response `RequestId`.
    pub request_id: Option<String>,
    /// The injected fault that decided the outcome: `reset`, `hang`, `error`, `throttle`.
    pub fault: Option<&'static str>,
    /// Time from arrival to answer, in milliseconds.
    pub duration_ms: u64,
}

/// A bounded call log: the newest `capacity` entries.
#[derive(Debug)]
pub struct CallLog {
    capacity: usize,
    entries: VecDeque<CallEntry>,
    next_seq: u64,
}

impl CallLog {
    /// An empty log.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
            next_seq: 1,
        }
    }

    /// Appends an entry, assigning its sequence number. O(1).
    pub fn push(&mut self, mut entry: CallEntry) -> u64 {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        let seq = entry.seq;
        self.entries.push_back(entry);
        seq
    }

    /// The last sequence number handed out (0 before the first call).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Entries with `seq > since`, oldest first, at most `limit` of those matching `filter`.
    pub fn since(
        &self,
        since: u64,
        limit: usize,
        filter: impl Fn(&CallEntry) -> bool,
    ) -> Vec<CallEntry> {
        let first = self.entries.front().map_or(self.next_seq, |e| e.seq);
        let skip = since.saturating_add(1).saturating_sub(first) as usize;
        self.entries
            .iter()
            .skip(skip)
            .filter(|e| filter(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Drops every entry; returns how many there were. Sequence numbers keep counting.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
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

    fn entry(code: &str, tenant: &str) -> CallEntry {
        CallEntry {
            seq: 0,
            time: String::new(),
            action: Some("UpdateChatGroup".into()),
            access_key_id: None,
            signature_scheme: None,
            security_token: false,
            sts_issued: false,
            remote_addr: String::new(),
            user_agent: None,
            cust_space_id: Some(tenant.into()),
            params: BTreeMap::new(),
            status: 200,
            code: code.into(),
            request_id: None,
            fault: None,
            duration_ms: 0,
        }
    }

    #[test]
    fn call_log_is_bounded_and_reads_since_a_sequence_number() {
        let mut log = CallLog::new(3);
        assert_eq!(log.last_seq(), 0);
        for i in 0..5 {
            log.push(entry(&format!("C{i}"), if i % 2 == 0 { "a" } else { "b" }));
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.last_seq(), 5);
        let all: Vec<u64> = log.since(0, 100, |_| true).iter().map(|e| e.seq).collect();
        assert_eq!(all, [3, 4, 5]);
        let after4: Vec<u64> = log.since(4, 100, |_| true).iter().map(|e| e.seq).collect();
        assert_eq!(after4, [5]);
        assert!(log.since(5, 100, |_| true).is_empty());
        assert!(log.since(99, 100, |_| true).is_empty());
        let tenant_a: Vec<u64> = log
            .since(0, 100, |e| e.cust_space_id.as_deref() == Some("a"))
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(tenant_a, [3, 5]);
        assert_eq!(log.since(0, 1, |_| true).len(), 1);
        assert_eq!(log.clear(), 3);
        log.push(entry("X", "a"));
        assert_eq!(log.since(0, 100, |_| true)[0].seq, 6);
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
