//! The simulator's admin API for one test's tenant: access keys, groups, faults, and its log
//! of the calls it received.

use cams_operator::fixtures::BUSINESS_NUMBER;
use cams_simulator::{AccessKeySpec, CallEntry, CallQuery, FaultConfig, GroupSeed};

use super::World;

impl World {
    /// Adds (or replaces) an access key in the simulator, valid with the STS `tokens`.
    pub async fn sim_put_key(&self, id: &str, secret: &str, tokens: &[&str]) {
        let spec = AccessKeySpec::new(secret).with_tokens(tokens.iter().copied());
        self.sim
            .put_access_key(id, &spec)
            .await
            .expect("simulator admin call");
    }

    /// Revokes an access key in the simulator (its calls then answer
    /// `InvalidAccessKeyId.NotFound`).
    pub async fn sim_revoke_key(&self, id: &str) {
        self.sim
            .revoke_access_key(id)
            .await
            .expect("simulator admin call");
    }

    /// Adds groups of this test's tenant (business number [`BUSINESS_NUMBER`]) to the
    /// simulator, with one admin call.
    pub(super) async fn seed_groups(&self, group_ids: &[&str]) {
        let seeds: Vec<GroupSeed> = group_ids
            .iter()
            .map(|id| GroupSeed::new(&self.tenant, BUSINESS_NUMBER, *id))
            .collect();
        self.sim
            .add_groups(&seeds)
            .await
            .expect("seed simulator groups");
    }

    /// The simulator's copy of a group of this world's tenant; panics if there is none.
    pub async fn sim_group(&self, group_id: &str) -> cams_simulator::Group {
        self.sim
            .group(&self.tenant, BUSINESS_NUMBER, group_id)
            .await
            .expect("simulator admin call")
            .unwrap_or_else(|| panic!("the simulator has no group {group_id}"))
    }

    /// Replaces this world's tenant's realism settings in the simulator.
    pub async fn set_realism(&self, realism: cams_simulator::RealismConfig) {
        self.sim
            .set_tenant_realism(&self.tenant, &realism)
            .await
            .expect("simulator realism settings");
    }

    /// Replaces this world's tenant's fault settings in the simulator (a PUT replaces the
    /// whole setting; `FaultConfig::default()` means no fault).
    pub async fn set_faults(&self, faults: FaultConfig) -> FaultConfig {
        self.sim
            .set_tenant_faults(&self.tenant, &faults)
            .await
            .expect("simulator fault settings")
    }

    /// Every call of this tenant takes `ms` milliseconds more, and no other fault.
    pub async fn set_latency(&self, ms: u64) -> FaultConfig {
        self.set_faults(FaultConfig {
            latency_ms: ms,
            ..FaultConfig::default()
        })
        .await
    }

    /// The simulator's log of this tenant's calls of `action`.
    pub async fn calls(&self, action: &str) -> Vec<CallEntry> {
        self.sim
            .calls(&CallQuery::tenant(&self.tenant).action(action))
            .await
            .expect("simulator call log")
    }

    /// This tenant's `action` calls of one group.
    pub async fn calls_for_group(&self, action: &str, group_id: &str) -> Vec<CallEntry> {
        self.calls(action)
            .await
            .into_iter()
            .filter(|c| c.param("GroupId") == Some(group_id))
            .collect()
    }

    /// This tenant's logged calls of `action` with a sequence number above `since`, oldest
    /// first, every page.
    pub async fn calls_since(&self, action: &str, since: u64) -> Vec<CallEntry> {
        let query = CallQuery::tenant(&self.tenant)
            .action(action)
            .since(since)
            .limit(10_000);
        self.sim.calls(&query).await.expect("simulator call log")
    }

    /// How many of this tenant's UpdateChatGroup calls CAMS accepted (code OK).
    pub async fn accepted_calls(&self) -> usize {
        self.calls_since("UpdateChatGroup", 0)
            .await
            .iter()
            .filter(|c| c.code == "OK")
            .count()
    }

    /// All simulator calls of `action` (any tenant) with a sequence number above `since`.
    pub async fn all_calls_since(&self, action: &str, since: u64) -> Vec<CallEntry> {
        let query = CallQuery::default().action(action).since(since);
        self.sim.calls(&query).await.expect("simulator call log")
    }

    /// The simulator's last call sequence number (any tenant), to mark a point before a step.
    pub async fn last_seq(&self) -> u64 {
        self.sim.last_seq().await.expect("simulator call log")
    }
}

/// When the simulator saw a logged call arrive (millisecond resolution).
pub fn call_time(call: &CallEntry) -> chrono::DateTime<chrono::Utc> {
    call.arrived_at().expect("call time is RFC 3339")
}

/// The GroupId a logged call named.
pub fn call_group(call: &CallEntry) -> String {
    call.param("GroupId").unwrap_or_default().to_string()
}

/// The largest number of calls inside any closed window `[t, t + window]`, and where it
/// starts: a two-pointer sweep over the sorted arrival times.
pub fn max_in_window(
    times: &[chrono::DateTime<chrono::Utc>],
    window: chrono::Duration,
) -> (usize, Option<chrono::DateTime<chrono::Utc>>) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let (mut best, mut at, mut end) = (0, None, 0);
    for start in 0..sorted.len() {
        while end < sorted.len() && sorted[end] - sorted[start] <= window {
            end += 1;
        }
        if end - start > best {
            best = end - start;
            at = Some(sorted[start]);
        }
    }
    (best, at)
}
