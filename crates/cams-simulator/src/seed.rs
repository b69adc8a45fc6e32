//! Seeding: the `--seed` file's shape, also accepted by `POST /admin/seed`, and applying it to
//! the state in one step (everything is checked before anything changes).

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::actions::ACTIONS;
use crate::api::Seeded;
use crate::faults::FaultConfig;
use crate::realism::RealismConfig;
use crate::state::{AccessKeySpec, GroupSeed, State, StsConfig};

/// The seed file's shape (also the body of `POST /admin/seed`); every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// Keys to add or replace (each needs `accessKeyId`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_keys: Vec<AccessKeySpec>,
    /// Groups to add or replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSeed>,
    /// The default fault settings (replacing the current default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultConfig>,
    /// The STS settings (`AssumeRoleWithOIDC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts: Option<StsConfig>,
    /// The default realism knobs (replacing the current default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realism: Option<RealismConfig>,
}

/// Why a seed was refused (nothing of it was applied).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeedError {
    /// A key without `accessKeyId`.
    #[error("accessKeys: every key needs an accessKeyId")]
    KeyWithoutId,
    /// A group without its tenant or business number.
    #[error("groups: every group needs custSpaceId and businessNumber")]
    GroupWithoutOwner,
    /// A group with `"groupId": ""`.
    #[error("groups: groupId must not be empty (leave it out to generate one)")]
    EmptyGroupId,
    /// Invalid fault settings.
    #[error("faults: {0}")]
    Faults(String),
    /// Invalid STS settings.
    #[error("sts: {0}")]
    Sts(String),
    /// Invalid realism knobs.
    #[error("realism: {0}")]
    Realism(String),
}

/// Checks a group to add: tenant and business number present, no empty id.
pub fn check_group_seed(g: &GroupSeed) -> Result<(), SeedError> {
    if g.cust_space_id.is_empty() || g.business_number.is_empty() {
        return Err(SeedError::GroupWithoutOwner);
    }
    if g.group_id.as_deref() == Some("") {
        return Err(SeedError::EmptyGroupId);
    }
    Ok(())
}

fn check(seed: &Seed) -> Result<(), SeedError> {
    if seed
        .access_keys
        .iter()
        .any(|k| k.access_key_id.as_deref().is_none_or(str::is_empty))
    {
        return Err(SeedError::KeyWithoutId);
    }
    seed.groups.iter().try_for_each(check_group_seed)?;
    if let Some(faults) = &seed.faults {
        faults.validate().map_err(SeedError::Faults)?;
    }
    if let Some(sts) = &seed.sts {
        sts.validate().map_err(SeedError::Sts)?;
    }
    if let Some(realism) = &seed.realism {
        realism.validate(&ACTIONS).map_err(SeedError::Realism)?;
    }
    Ok(())
}

/// Applies a seed to the state, or nothing of it when any part is invalid.
pub fn apply_seed(state: &mut State, seed: Seed) -> Result<Seeded, SeedError> {
    check(&seed)?;
    let mut out = Seeded {
        access_keys: 0,
        groups: Vec::new(),
    };
    for key in seed.access_keys {
        let id = key.access_key_id.clone().unwrap_or_default();
        state.put_key(id, key);
        out.access_keys += 1;
    }
    let now = Utc::now().timestamp_millis();
    for group in seed.groups {
        out.groups.push(state.seed_group(group, now));
    }
    if let Some(faults) = seed.faults {
        state.default_faults = faults;
        state.buckets.clear();
    }
    if let Some(sts) = seed.sts {
        state.sts = sts;
    }
    if let Some(realism) = seed.realism {
        state.default_realism = realism;
        let own = &state.tenant_realism;
        state
            .action_buckets
            .retain(|(tenant, _), _| own.contains_key(tenant));
    }
    Ok(out)
}
