//! A watch on the measured namespace: how many ChatGroups are Ready and how many status
//! writes (resourceVersion changes) each received since the operator started.

use std::collections::HashMap;
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
    /// Status writes seen since the initial list.
    pub total_writes: u64,
    /// When the last of them was seen.
    pub last_change: Option<Instant>,
}

/// What the watch task fills in, shared with the measuring loop.
pub type Shared = Arc<Mutex<Seen>>;

fn is_ready(cg: &ChatGroup) -> bool {
    cg.status.as_ref().is_some_and(|s| {
        s.observed_generation == cg.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
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
        self.ready.insert(name, is_ready(cg));
    }

    /// How many ChatGroups are Ready at their generation.
    pub fn ready_count(&self) -> usize {
        self.ready.values().filter(|r| **r).count()
    }

    /// How many ChatGroups did not receive exactly `expected` status writes.
    pub fn objects_not_written(&self, expected: u32) -> u64 {
        self.version
            .keys()
            .filter(|k| self.writes.get(*k).copied().unwrap_or(0) != expected)
            .count() as u64
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
