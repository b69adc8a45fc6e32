//! The admin API's answers, as the server writes them and the typed client (the `client`
//! feature) reads them. Request bodies are the state's own types (`Seed`, `AccessKeySpec`,
//! `GroupSeed`, `GroupEdit`, `FaultConfig`, `RealismConfig`, `StsConfig`). README.md lists the
//! routes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calllog::CallEntry;
use crate::faults::FaultConfig;
use crate::realism::RealismConfig;
use crate::state::Group;

/// Default and largest number of call-log entries one `GET /admin/calls` returns.
pub const DEFAULT_CALLS_LIMIT: usize = 10_000;

/// `GET /admin/healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Whole seconds since the simulator started.
    pub uptime_secs: u64,
    /// Access keys known (seeded, added and STS-issued).
    pub access_keys: usize,
    /// Tenants with at least one group (or an emptied group map).
    pub tenants: usize,
    /// Groups over all tenants.
    pub groups: usize,
    /// The last call sequence number handed out.
    pub last_seq: u64,
    /// Entries the call log holds.
    pub call_log_entries: usize,
    /// Calls held by a hang fault right now.
    pub hanging: usize,
    /// Signature nonces remembered.
    pub nonces: usize,
}

/// `POST /admin/seed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seeded {
    /// How many keys were added or replaced.
    pub access_keys: usize,
    /// The groups added or replaced, as stored.
    pub groups: Vec<Group>,
}

/// One key of `GET /admin/access-keys` (secrets and tokens are never listed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyInfo {
    /// The AccessKeyId.
    pub access_key_id: String,
    /// How many security tokens the key accepts (expired ones included).
    pub security_tokens: usize,
    /// How many of them are expired now.
    pub expired_security_tokens: usize,
    /// Whether the key is refused as inactive.
    pub inactive: bool,
    /// Whether `AssumeRoleWithOIDC` issued the key.
    pub sts_issued: bool,
    /// The latest expiry of its tokens (`yyyy-MM-ddTHH:mm:ssZ`), when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `GET /admin/access-keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyList {
    /// Every key, by id.
    pub access_keys: Vec<AccessKeyInfo>,
}

/// `POST /admin/access-keys` and `PUT /admin/access-keys/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeySet {
    /// The AccessKeyId set.
    pub access_key_id: String,
    /// Whether it replaced a key of that id.
    pub replaced: bool,
    /// How many security tokens it accepts.
    pub security_tokens: usize,
}

/// `DELETE /admin/access-keys/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyRevoked {
    /// The AccessKeyId named.
    pub access_key_id: String,
    /// Whether such a key existed (it is gone now).
    pub revoked: bool,
}

/// `GET /admin/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    /// How many groups follow.
    pub count: usize,
    /// The groups, by tenant then business number and group id.
    pub groups: Vec<Group>,
}

/// `POST /admin/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsAdded {
    /// The groups added or replaced, as stored.
    pub groups: Vec<Group>,
}

/// `DELETE /admin/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsDeleted {
    /// How many groups were removed.
    pub deleted: usize,
}

/// `GET /admin/faults`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSettings {
    /// The setting of tenants without their own.
    pub default: FaultConfig,
    /// Tenants' own settings (each replaces the default entirely).
    pub tenants: BTreeMap<String, FaultConfig>,
}

/// `DELETE /admin/faults/tenants/{custSpaceId}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultsRemoved {
    /// Whether the tenant had a setting of its own.
    pub removed: bool,
}

/// `DELETE /admin/faults`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultsReset {
    /// Always true: no fault is set anywhere now.
    pub reset: bool,
}

/// `GET /admin/realism`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealismSettings {
    /// The knobs of tenants without their own.
    pub default: RealismConfig,
    /// Tenants' own knobs (each replaces the default entirely).
    pub tenants: BTreeMap<String, RealismConfig>,
}

/// `DELETE /admin/realism/tenants/{custSpaceId}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealismRemoved {
    /// Whether the tenant had knobs of its own.
    pub removed: bool,
}

/// `DELETE /admin/realism`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealismReset {
    /// Always true: every tenant has the default knobs, and the default is the plain one.
    pub reset: bool,
}

/// `GET` and `PUT /admin/sts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StsView {
    /// How many OIDC tokens are accepted; `None` when any token is.
    pub accepted_tokens: Option<usize>,
    /// The longest lifetime of issued credentials, in seconds.
    pub duration_secs: u64,
    /// The error every valid call answers, if set.
    pub error_code: Option<String>,
    /// Credentials issued since start.
    pub issued: u64,
    /// Issued credentials not yet expired.
    pub active: usize,
}

/// `POST /admin/sts/expire`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StsExpired {
    /// How many issued credentials were still valid and expired now.
    pub expired: usize,
}

/// `GET /admin/calls`: one page of the call log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallPage {
    /// How many calls follow.
    pub count: usize,
    /// The last sequence number handed out (any call, filtered or not).
    pub last_seq: u64,
    /// The calls, oldest first.
    pub calls: Vec<CallEntry>,
}

/// `DELETE /admin/calls`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallsCleared {
    /// How many entries were dropped.
    pub cleared: usize,
    /// The last sequence number handed out (numbering goes on from it).
    pub last_seq: u64,
}

/// Every admin error: `{"error": "…"}` with status 400, 404 or 405.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminErrorBody {
    /// What was wrong.
    pub error: String,
}
