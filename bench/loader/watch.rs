//! A watch on the measured namespace: how many ChatGroups are accepted (CAMS accepted the
//! spec), how many are Ready (and seen in sync), and how many status writes (resourceVersion
//! changes) each received since the operator started.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use cams_operator::resource::ChatGroup;
use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;

/// What the watch saw since the operator started.
#[derive(Default)]
pub struct Seen {
    /// Initial list done.
    pub synced: bool,
    /// Every ChatGroup's last resourceVersion, by name.
    pub version: HashMap<String, String>,
    writes: HashMap<String, u32>,
    ready: HashMap<String, bool>,
    accepted: HashMap<String, bool>,
    /// Status writes seen since the initial list.
    pub total_writes: u64,
    /// When the last of them was seen.
    pub last_change: Option<Instant>,
}

/// What the watch task fills in, shared with the measuring loop.
pub type Shared = Arc<Mutex<Seen>>;

/// Whether `cg`'s status at its generation has condition `type_` True (with `reason`, when
/// given).
fn condition_at_generation(cg: &ChatGroup, type_: &str, reason: Option<&str>) -> bool {
    cg.status.as_ref().is_some_and(|s| {
        s.observed_generation == cg.metadata.generation
            && s.conditions.iter().any(|c| {
                c.type_ == type_ && c.status == "True" && reason.is_none_or(|r| c.reason == r)
            })
    })
}

/// Ready at its generation and seen in sync (`InSync` True): a scan shows what CAMS accepted.
/// (Ready alone is also True on acceptance while the first scan after a start is under way.)
fn is_ready(cg: &ChatGroup) -> bool {
    condition_at_generation(cg, "Ready", None) && condition_at_generation(cg, "InSync", None)
}

/// CAMS accepted the spec at its generation: `Synced` True, reason `ReconcileSuccess`.
fn is_accepted(cg: &ChatGroup) -> bool {
    condition_at_generation(cg, "Synced", Some("ReconcileSuccess"))
}

impl Seen {
    fn apply(&mut self, cg: &ChatGroup) {
        let name = cg.metadata.name.clone().unwrap_or_default();
        let rv = cg.metadata.resource_version.clone().unwrap_or_default();
        match self.version.insert(name.clone(), rv.clone()) {
            Some(old) if old != rv && self.synced => {
                *self.writes.entry(name.clone()).or_default() += 1;
                self.total_writes += 1;
                self.last_change = Some(Instant::now());
            }
            _ => {}
        }
        self.accepted.insert(name.clone(), is_accepted(cg));
        self.ready.insert(name, is_ready(cg));
    }

    /// How many ChatGroups are Ready at their generation and in sync.
    pub fn ready_count(&self) -> usize {
        self.ready.values().filter(|r| **r).count()
    }

    /// How many ChatGroups CAMS accepted at their generation.
    pub fn accepted_count(&self) -> usize {
        self.accepted.values().filter(|r| **r).count()
    }

    /// How many ChatGroups received each number of status writes (0 included).
    pub fn writes_histogram(&self) -> BTreeMap<u32, u64> {
        let mut by = BTreeMap::new();
        for name in self.version.keys() {
            *by.entry(self.writes.get(name).copied().unwrap_or(0))
                .or_insert(0) += 1;
        }
        by
    }
}

/// Locks what the watch saw (a panic elsewhere leaves the figures readable).
pub fn lock(seen: &Shared) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts watching `api`; the task runs until aborted.
pub fn start(api: Api<ChatGroup>) -> (Shared, tokio::task::JoinHandle<()>) {
    let seen = Shared::default();
    let sink = seen.clone();
    let task = tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            let mut s = lock(&sink);
            match event {
                Ok(watcher::Event::Apply(cg) | watcher::Event::InitApply(cg)) => s.apply(&cg),
                Ok(watcher::Event::InitDone) => s.synced = true,
                Ok(_) => {}
                Err(e) => eprintln!("    watch error (retrying): {e}"),
            }
        }
    });
    (seen, task)
}

/// Waits until the watch's initial list is done.
pub async fn wait_synced(seen: &Shared, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while !lock(seen).synced {
        if started.elapsed() > timeout {
            bail!("the watch did not sync in {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
