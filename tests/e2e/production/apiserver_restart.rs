//! kube-apiserver restarted mid-run (etcd keeps its data): the same operator process recovers
//! its watches and converges, including objects created and edited after the restart. Then a
//! hard outage (kube-apiserver SIGKILLed, every connection dropped at once, down for 20 s):
//! the watches must again recover promptly once it is back.
//! Disruptive (the API server is shared): hack/e2e.sh runs it alone, after the others.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::ListParams;
use serde_json::json;

use crate::harness::{call_group, var, Deadline, World};

const FIRST: usize = 30;
const SECOND: usize = 20;
const EDITED: usize = 10;
const LATE: usize = 10;
const CONCURRENCY: usize = 2;
/// How long after the API server is back everything must be Ready. The watches' backoff
/// decides it: kube's default (shared by all of a controller's trigger streams, hit again by
/// the 410 Expired each restart causes, growing to 30-60 s pauses) left the operator deaf to
/// new objects for about 100 s after a 25 s outage.
const RECOVERY: Duration = Duration::from_secs(45);

/// Runs `cluster.sh restart-apiserver` (same port, certificates and keys; etcd keeps
/// running); returns how long it took and whether kube-apiserver had to be SIGKILLed.
async fn restart_apiserver() -> (Duration, bool) {
    let started = Instant::now();
    let script = var("CAMS_E2E_CLUSTER_SH");
    let dir = var("CAMS_E2E_CLUSTER_DIR");
    let out = tokio::process::Command::new("bash")
        .args([script.as_str(), "restart-apiserver", dir.as_str()])
        .output()
        .await
        .expect("run cluster.sh restart-apiserver");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "restart-apiserver failed: {stderr}");
    (started.elapsed(), stderr.contains("SIGKILL"))
}

/// Waits until the test's own client gets answers again.
async fn wait_api(world: &World) {
    let api = world.chatgroups();
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(200));
    while api.list(&ListParams::default()).await.is_err() {
        deadline
            .tick(|| "the API server did not answer after its restart".into())
            .await;
    }
}

#[tokio::test]
async fn disruptive_apiserver_restart() {
    let world = World::new("apirestart").await;
    // 200 ms per call and 2 workers: about 10 calls a second, so the first batch is still in
    // progress when the API server goes away.
    world.set_latency(200).await;
    let concurrency = CONCURRENCY.to_string();
    let mut operator = world.operator(&["--concurrency", concurrency.as_str()]);
    let pid = operator.pid().expect("operator started");
    let first = world
        .groups("before", 7_500, FIRST, |b| {
            b.subject(Some("before the restart"))
        })
        .await;
    world.create_all(&first, 8).await;
    world.wait_accepted(8, Duration::from_secs(60)).await;
    let (ready_before, _) = world.count_ready().await;

    // 1. A restart mid-run; after it, new objects and spec edits of old ones.
    let (restarted, killed) = restart_apiserver().await;
    let back = Instant::now();
    wait_api(&world).await;
    let second = world
        .groups("after", 7_600, SECOND, |b| {
            b.subject(Some("after the restart"))
        })
        .await;
    world.create_all(&second, 8).await;
    for cg in first.iter().take(EDITED) {
        world
            .patch(
                cg.metadata.name.as_deref().unwrap(),
                json!({"spec": {"subject": "edited after the restart"}}),
            )
            .await;
    }
    world.wait_all_ready(FIRST + SECOND, RECOVERY).await;
    let converged = back.elapsed();
    for cg in first.iter().take(EDITED) {
        let obj = world.get(cg.metadata.name.as_deref().unwrap()).await;
        assert_eq!(
            obj.spec.subject.as_deref(),
            Some("edited after the restart")
        );
        assert_eq!(
            obj.status.as_ref().and_then(|s| s.observed_generation),
            Some(2)
        );
    }
    println!(
        "apiserver_restart: {ready_before}/{FIRST} Ready when kube-apiserver was stopped; restart took {:.2}s{}; \
         all {} Ready {:.2}s after it was back ({SECOND} created and {EDITED} edited after it)",
        restarted.as_secs_f64(),
        if killed {
            " (it did not exit within 20 s of SIGTERM and was killed)"
        } else {
            ""
        },
        FIRST + SECOND,
        converged.as_secs_f64(),
    );

    // 2. A hard outage: SIGKILL, so every watch and request fails at once, then 20 s down.
    let dir = var("CAMS_E2E_CLUSTER_DIR");
    let apiserver_pid = std::fs::read_to_string(format!("{dir}/apiserver.pid"))
        .expect("apiserver.pid")
        .trim()
        .to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", apiserver_pid.as_str()])
        .status()
        .expect("kill kube-apiserver");
    assert!(status.success(), "kill -KILL {apiserver_pid}");
    tokio::time::sleep(Duration::from_secs(20)).await;
    restart_apiserver().await;
    let back_again = Instant::now();
    wait_api(&world).await;
    let late = world
        .groups("late", 7_700, LATE, |b| b.subject(Some("after the outage")))
        .await;
    world.create_all(&late, 8).await;
    world.wait_all_ready(FIRST + SECOND + LATE, RECOVERY).await;
    let converged_again = back_again.elapsed();

    assert!(
        operator.running(),
        "the operator exited: {}",
        operator.logs()
    );
    assert_eq!(operator.pid(), Some(pid), "the operator process changed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = world.calls_since("UpdateChatGroup", 0).await;
    operator.stop().await;

    // Accepted calls per (group, subject): one is needed for each; more are repeats.
    let mut per_apply: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.code == "OK") {
        per_apply
            .entry((call_group(c), c.param("Subject").unwrap_or("").to_string()))
            .or_default()
            .push(c.time.clone());
    }
    // Every object's final spec was applied (an edit may overtake the first apply of an
    // object the operator had not reached yet, so some need one apply and some two).
    for cg in first.iter().chain(&second).chain(&late) {
        let obj = world.get(cg.metadata.name.as_deref().unwrap()).await;
        let key = (
            obj.spec.group_id.clone().unwrap_or_default(),
            obj.spec.subject.clone().unwrap_or_default(),
        );
        assert!(per_apply.contains_key(&key), "{key:?} was never applied");
    }
    let needed = per_apply.len();
    let accepted: usize = per_apply.values().map(Vec::len).sum();
    let repeated: Vec<_> = per_apply.iter().filter(|(_, t)| t.len() > 1).collect();
    println!(
        "apiserver_restart: after a SIGKILL and 20 s down, {LATE} new objects Ready {:.2}s after it was back; \
         same operator pid {pid} throughout; {} calls ({accepted} accepted for {needed} needed applies)",
        converged_again.as_secs_f64(),
        calls.len(),
    );
    // A call CAMS accepted while the API server went away cannot be recorded and is repeated
    // once it is back: at most one per worker in flight then (the second outage found the
    // operator idle). No call starts while it is away (each reads the credentials Secret
    // first), and none may come from a stale cache.
    assert!(
        accepted <= needed + CONCURRENCY,
        "{accepted} accepted calls for {needed} applies; repeated: {repeated:#?}"
    );
}
