//! Polling until a ChatGroup, the simulator's call log or the whole namespace reaches a
//! state, and panicking with what was last seen when it does not in time.

use std::time::{Duration, Instant};

use cams_operator::resource::ChatGroup;
use cams_simulator::CallEntry;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};

use super::{condition, is_ready, reason, World};

/// A polling deadline: between attempts [`Deadline::tick`] sleeps one interval, and panics
/// once the time is up.
pub struct Deadline {
    end: Instant,
    every: Duration,
}

impl Deadline {
    /// `timeout` from now, polling every `every`.
    pub fn after(timeout: Duration, every: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + timeout,
            every,
        }
    }

    /// Whether the time is up.
    pub fn passed(&self) -> bool {
        Instant::now() > self.end
    }

    /// Panics with `why()` when the time is up; otherwise sleeps one interval.
    pub async fn tick(&self, why: impl FnOnce() -> String) {
        if self.passed() {
            panic!("{}", why());
        }
        tokio::time::sleep(self.every).await;
    }
}

impl World {
    /// Polls until `check` holds for the object, or panics with the last state.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&ChatGroup) -> bool,
    ) -> ChatGroup {
        let deadline = Deadline::after(timeout, Duration::from_millis(200));
        loop {
            let obj = self.get(name).await;
            if check(&obj) {
                return obj;
            }
            deadline
                .tick(|| {
                    format!(
                        "timed out waiting for {name} to be {what}; last status: {:#?}",
                        obj.status
                    )
                })
                .await;
        }
    }

    /// Waits up to 30 s for the `type_` condition's reason to be `reason`.
    pub async fn wait_reason(&self, name: &str, type_: &str, reason_: &str) -> ChatGroup {
        let what = format!("{type_} {reason_}");
        self.wait_for(name, &what, Duration::from_secs(30), |o| {
            reason(o, type_).as_deref() == Some(reason_)
        })
        .await
    }

    /// Ready at the object's current generation (within 60 s).
    pub async fn wait_ready(&self, name: &str) -> ChatGroup {
        self.wait_for(name, "Ready", Duration::from_secs(60), is_ready)
            .await
    }

    /// Ready, with `generation` observed (within 30 s).
    pub async fn wait_ready_at(&self, name: &str, generation: i64) -> ChatGroup {
        let what = format!("Ready at generation {generation}");
        self.wait_for(name, &what, Duration::from_secs(30), |o| {
            o.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
                && condition(o, "Ready").as_deref() == Some("True")
        })
        .await
    }

    /// How many of this namespace's ChatGroups are Ready at their current generation, and
    /// the total (one list call).
    pub async fn count_ready(&self) -> (usize, usize) {
        let list = self.list().await;
        let ready = list.iter().filter(|o| is_ready(o)).count();
        (ready, list.len())
    }

    async fn list(&self) -> Vec<ChatGroup> {
        self.chatgroups()
            .list(&ListParams::default())
            .await
            .expect("list ChatGroups")
            .items
    }

    /// Polls until all `n` ChatGroups of the namespace are Ready at their generation; panics
    /// after `timeout` naming some that are not, with their Synced reason.
    pub async fn wait_all_ready(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (ready, total) = self.count_ready().await;
            if ready == n && total == n {
                return;
            }
            if Instant::now() > deadline {
                let stuck: Vec<String> =
                    self.list()
                        .await
                        .iter()
                        .filter(|o| condition(o, "Ready").as_deref() != Some("True"))
                        .take(5)
                        .map(|o| {
                            format!(
                                "{}: Synced {:?}, Ready {:?}, InSync {:?}, retry {:?}",
                                o.metadata.name.as_deref().unwrap_or(""),
                                reason(o, "Synced"),
                                reason(o, "Ready"),
                                o.status.as_ref().and_then(|s| s
                                    .message_of(cams_operator::resource::ConditionType::InSync)),
                                o.status.as_ref().map(|s| &s.retry)
                            )
                        })
                        .collect();
                panic!("{ready}/{n} Ready (of {total}) after {timeout:?}; e.g. {stuck:#?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the simulator has logged exactly `n` calls of `action` (failing early if
    /// there are more), then checks the count stays at `n` for `settle`.
    pub async fn expect_calls(&self, action: &str, n: usize, settle: Duration) -> Vec<CallEntry> {
        let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(100));
        loop {
            let calls = self.calls(action).await;
            assert!(
                calls.len() <= n,
                "expected {n} {action} calls, saw {}: {calls:#?}",
                calls.len()
            );
            if calls.len() == n {
                break;
            }
            deadline
                .tick(|| format!("expected {n} {action} calls, saw {}", calls.len()))
                .await;
        }
        tokio::time::sleep(settle).await;
        let calls = self.calls(action).await;
        assert_eq!(
            calls.len(),
            n,
            "{action} calls changed after settling: {calls:#?}"
        );
        calls
    }

    /// Waits until the simulator has logged at least `n` calls of `action` matching `pick`;
    /// returns them.
    pub async fn wait_calls(
        &self,
        action: &str,
        n: usize,
        timeout: Duration,
        pick: impl Fn(&CallEntry) -> bool,
    ) -> Vec<CallEntry> {
        let deadline = Deadline::after(timeout, Duration::from_millis(50));
        loop {
            let calls: Vec<CallEntry> = self
                .calls(action)
                .await
                .into_iter()
                .filter(|c| pick(c))
                .collect();
            if calls.len() >= n {
                return calls;
            }
            deadline
                .tick(|| {
                    format!(
                        "expected {n} matching {action} calls within {timeout:?}, saw {}: {calls:#?}",
                        calls.len()
                    )
                })
                .await;
        }
    }

    /// Waits until CAMS has accepted at least `n` of this tenant's UpdateChatGroup calls;
    /// returns how many it has.
    pub async fn wait_accepted(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Deadline::after(timeout, Duration::from_millis(50));
        loop {
            let ok = self.accepted_calls().await;
            if ok >= n {
                return ok;
            }
            deadline
                .tick(|| format!("only {ok} calls accepted after {timeout:?}"))
                .await;
        }
    }

    /// Waits up to 10 s for an event of `reason` (and, when given, of `type_`) about the
    /// object `name` of `namespace`.
    pub async fn wait_event(&self, namespace: &str, name: &str, reason: &str, type_: Option<&str>) {
        let events: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let deadline = Deadline::after(Duration::from_secs(10), Duration::from_millis(200));
        loop {
            let list = events
                .list(&ListParams::default())
                .await
                .expect("list events");
            if list.items.iter().any(|e| {
                e.reason.as_deref() == Some(reason)
                    && type_.is_none_or(|t| e.type_.as_deref() == Some(t))
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            }) {
                return;
            }
            deadline
                .tick(|| {
                    format!(
                        "no {reason} event for {namespace}/{name}: {:#?}",
                        list.items
                    )
                })
                .await;
        }
    }
}
