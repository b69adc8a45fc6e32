//! Two replicas with leader election on a Lease: only the leader calls CAMS (told apart by
//! the User-Agent) and publishes events; after a SIGKILL of the leader the standby takes over
//! within lease duration + retry period + 1 s; a SIGTERM with a hung CAMS call in flight gives
//! it --shutdown-grace, releases the Lease and exits, and the standby takes over at once.
//! A replica that loses and regains the Lease 20 times keeps its tokio task count and RSS
//! flat (nothing outlives a leadership term).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cams_simulator::{CallEntry, FaultConfig, HangFault};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::harness::{call_time, replica_user_agent, Deadline, Operator, World};

const LEASE_DURATION: Duration = Duration::from_secs(6);
const RETRY_PERIOD: Duration = Duration::from_secs(1);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Every version of the Lease seen by a watch: (holderIdentity, acquireTime, when seen).
type LeaseVersion = (Option<String>, Option<DateTime<Utc>>, DateTime<Utc>);

#[derive(Clone, Default)]
struct LeaseLog(Arc<Mutex<Vec<LeaseVersion>>>);

impl LeaseLog {
    fn start(world: &World, name: &str) -> (LeaseLog, tokio::task::JoinHandle<()>) {
        let log = LeaseLog::default();
        let api: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let sink = log.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, config).boxed();
            while let Some(event) = stream.next().await {
                let lease = match event {
                    Ok(watcher::Event::Apply(l)) | Ok(watcher::Event::InitApply(l)) => l,
                    _ => continue,
                };
                let spec = lease.spec.unwrap_or_default();
                let holder = spec.holder_identity.filter(|h| !h.is_empty());
                let acquired = spec.acquire_time.map(|t| {
                    DateTime::from_timestamp_micros(t.0.as_microsecond()).expect("acquireTime")
                });
                sink.0.lock().unwrap().push((holder, acquired, Utc::now()));
            }
        });
        (log, task)
    }

    fn holders(&self) -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = Vec::new();
        for (h, _, _) in self.0.lock().unwrap().iter() {
            if out.last() != Some(h) {
                out.push(h.clone());
            }
        }
        out
    }

    /// Waits for a version held by one of `who`; returns (holder, acquireTime).
    async fn wait_holder(&self, who: &[&str], timeout: Duration) -> (String, DateTime<Utc>) {
        let deadline = Deadline::after(timeout, Duration::from_millis(20));
        loop {
            let found = self.0.lock().unwrap().iter().rev().find_map(|(h, a, _)| {
                h.as_deref()
                    .filter(|h| who.contains(h))
                    .map(|h| (h.to_string(), a.expect("acquireTime")))
            });
            if let Some(found) = found {
                return found;
            }
            deadline
                .tick(|| {
                    format!(
                        "no Lease holder among {who:?} within {timeout:?}; holders seen: {:?}",
                        self.holders()
                    )
                })
                .await;
        }
    }
}

/// ChatGroups `g{i}` of groups `EA303L{i}` with subject `leader {i}`, created.
async fn create_leader_groups(world: &World, range: std::ops::Range<usize>) {
    for i in range {
        let subject = format!("leader {i}");
        world
            .create_group(&format!("g{i}"), &format!("EA303L{i}"), |b| {
                b.subject(Some(&subject))
            })
            .await;
    }
}

/// The flags that turn on leader election on the Lease `lease` of the test's namespace, with
/// its timing: lease duration, renew deadline and retry period.
fn lease_flags<'a>(world: &'a World, lease: &'a str, timing: [&'a str; 3]) -> Vec<&'a str> {
    let [duration, renew_deadline, retry_period] = timing;
    vec![
        "--leader-elect",
        "--leader-election-name",
        lease,
        "--leader-election-namespace",
        &world.ns,
        "--lease-duration",
        duration,
        "--lease-renew-deadline",
        renew_deadline,
        "--lease-retry-period",
        retry_period,
    ]
}

fn ua_is(call: &CallEntry, replica: &str) -> bool {
    call.user_agent.as_deref() == Some(replica_user_agent(replica).as_str())
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

#[tokio::test]
async fn two_replicas_only_the_leader_calls_and_the_standby_takes_over() {
    let world = World::new("leader").await;
    let lease_name = format!("cams-operator-{}", world.ns);
    let (lease_log, lease_task) = LeaseLog::start(&world, &lease_name);
    let mut flags = lease_flags(&world, &lease_name, ["6s", "4s", "1s"]);
    flags.extend(["--shutdown-grace", "5s"]);
    let replica = |id: &str| format!("{id}-{}", world.ns);
    let (a, b, c) = (replica("A"), replica("B"), replica("C"));
    let mut ops: Vec<(String, Operator)> = vec![
        (a.clone(), world.operator_with(&a, &[], &flags)),
        (b.clone(), world.operator_with(&b, &[], &flags)),
    ];

    // Phase 1: one of the two leads; only its calls reach CAMS.
    let (leader, _) = lease_log
        .wait_holder(&[&a, &b], Duration::from_secs(30))
        .await;
    let standby = if leader == a { b.clone() } else { a.clone() };
    let standby_idx = ops.iter().position(|(id, _)| *id == standby).unwrap();
    ops[standby_idx]
        .1
        .wait_log("standing by", Duration::from_secs(30))
        .await;
    create_leader_groups(&world, 0..3).await;
    for i in 0..3 {
        world.wait_ready(&format!("g{i}")).await;
    }
    let calls = world
        .expect_calls("UpdateChatGroup", 3, Duration::from_secs(3))
        .await;
    assert!(
        calls.iter().all(|c| ua_is(c, &leader)),
        "a call not from the leader {leader}: {calls:#?}"
    );
    let lease: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
    let held = lease.get(&lease_name).await.unwrap();
    assert_eq!(
        held.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some(leader.as_str())
    );
    // Only the leader published events.
    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
    let instances: Vec<Option<String>> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.reporting_instance)
        .collect();
    assert!(
        !instances.is_empty() && instances.iter().all(|i| i.as_deref() == Some(&leader)),
        "events not all from {leader}: {instances:?}"
    );
    println!(
        "leader {leader}: {} calls, all with its User-Agent; standby {standby}: 0 calls",
        calls.len()
    );

    // Phase 2: SIGKILL the leader, change things; the standby takes over.
    let idx = ops.iter().position(|(id, _)| *id == leader).unwrap();
    let killed_at = Utc::now();
    ops[idx].1.kill9().await;
    let (_, mut killed) = ops.remove(idx);
    assert!(!killed.running());
    drop(killed);
    create_leader_groups(&world, 3..5).await;
    world
        .patch("g0", json!({"spec": {"subject": "edited after the kill"}}))
        .await;
    let (_, acquired) = lease_log
        .wait_holder(&[&standby], Duration::from_secs(20))
        .await;
    let first = world
        .wait_calls("UpdateChatGroup", 1, Duration::from_secs(20), |c| {
            ua_is(c, &standby)
        })
        .await;
    let lease_takeover = secs(acquired - killed_at);
    let call_takeover = secs(call_time(&first[0]) - killed_at);
    let bound = (LEASE_DURATION + RETRY_PERIOD + Duration::from_secs(1)).as_secs_f64();
    println!(
        "SIGKILL of {leader}: {standby} acquired the Lease after {lease_takeover:.2}s and made its first call after {call_takeover:.2}s (bound {bound:.0}s)"
    );
    assert!(
        lease_takeover <= bound,
        "Lease taken over after {lease_takeover:.2}s"
    );
    assert!(
        call_takeover <= bound,
        "first call of the new leader after {call_takeover:.2}s"
    );
    for i in 0..5 {
        world.wait_ready(&format!("g{i}")).await;
    }
    // Three changes after the kill, three calls, all from the new leader; the objects the old
    // leader had synced made no call.
    let calls = world
        .expect_calls("UpdateChatGroup", 6, Duration::from_secs(2))
        .await;
    let after: Vec<&CallEntry> = calls.iter().skip(3).collect();
    assert!(
        after.iter().all(|c| ua_is(c, &standby)),
        "calls after the kill: {after:#?}"
    );
    let mut groups: Vec<&str> = after.iter().map(|c| c.param("GroupId").unwrap()).collect();
    groups.sort();
    assert_eq!(groups, ["EA303L0", "EA303L3", "EA303L4"]);

    // Phase 3: a new standby C; SIGTERM the leader while one of its CAMS calls hangs: it gives
    // the call --shutdown-grace, releases the Lease and exits; C takes over at once.
    let new_leader = standby;
    ops.push((c.clone(), world.operator_with(&c, &[], &flags)));
    ops[1]
        .1
        .wait_log("standing by", Duration::from_secs(30))
        .await;
    world
        .set_faults(FaultConfig {
            hang: Some(HangFault {
                probability: 1.0,
                duration_ms: None,
            }),
            ..FaultConfig::default()
        })
        .await;
    world
        .create_group("g5", "EA303L5", |b| b.subject(Some("hung at SIGTERM")))
        .await;
    world
        .wait_calls("UpdateChatGroup", 1, Duration::from_secs(20), |call| {
            call.code == "Hang" && ua_is(call, &new_leader)
        })
        .await;
    let seen_before = lease_log.0.lock().unwrap().len();
    let termed = Instant::now();
    let termed_at = Utc::now();
    ops[0].1.terminate();
    // The hung call is the old leader's; C's calls go through.
    world.set_faults(FaultConfig::default()).await;
    let status = ops[0]
        .1
        .wait_exit(SHUTDOWN_GRACE + Duration::from_secs(5))
        .await;
    let exit_secs = termed.elapsed().as_secs_f64();
    let exited_at = Utc::now();
    let status =
        status.unwrap_or_else(|| panic!("{new_leader} still runs {exit_secs:.1}s after SIGTERM"));
    assert!(status.success(), "{new_leader} exited with {status}");
    let grace = SHUTDOWN_GRACE.as_secs_f64();
    assert!(
        exit_secs <= grace + 1.0,
        "exit took {exit_secs:.2}s with a {grace}s grace"
    );
    assert!(
        exit_secs >= grace - 0.5,
        "exited after {exit_secs:.2}s: the in-flight call did not get its {grace}s grace"
    );
    let logs = ops[0].1.logs();
    assert!(
        logs.contains("did not finish within the shutdown grace"),
        "no grace expiry in the log"
    );
    assert!(logs.contains("released the lease"), "no release in the log");
    let (_, acquired) = lease_log.wait_holder(&[&c], Duration::from_secs(10)).await;
    let first = world
        .wait_calls("UpdateChatGroup", 1, Duration::from_secs(20), |call| {
            ua_is(call, &c)
        })
        .await;
    // The watch saw the released Lease (no holder) between the two leaders.
    let versions: Vec<Option<String>> = lease_log.0.lock().unwrap()[seen_before..]
        .iter()
        .map(|(h, _, _)| h.clone())
        .collect();
    let released = versions.iter().position(|h| h.is_none());
    let taken = versions
        .iter()
        .position(|h| h.as_deref() == Some(c.as_str()));
    assert!(
        matches!((released, taken), (Some(r), Some(t)) if r < t),
        "Lease versions after SIGTERM: {versions:?}"
    );
    let handover = secs(acquired - exited_at);
    let handover_call = secs(call_time(&first[0]) - exited_at);
    println!(
        "SIGTERM of {new_leader} with a hung CAMS call in flight: exited (status 0) after {exit_secs:.2}s (grace {grace}s), Lease released; {c} acquired it {handover:.2}s after the exit ({:.2}s after the SIGTERM), first call {handover_call:.2}s after the exit",
        secs(acquired - termed_at)
    );
    assert!(
        handover <= RETRY_PERIOD.as_secs_f64() + 1.0,
        "handover after the release took {handover:.2}s"
    );
    world.wait_ready("g5").await;
    // 6 before, the hung call and C's re-apply of g5.
    let calls = world
        .expect_calls("UpdateChatGroup", 8, Duration::from_secs(1))
        .await;
    assert_eq!(calls[7].code, "OK");
    println!("Lease holders over the test: {:?}", lease_log.holders());

    for (_, op) in ops.iter_mut() {
        op.stop().await;
    }
    lease_task.abort();
}

/// One sample of the operator's /metrics, by full name.
async fn scrape(world: &World, addr: &str, sample: &str) -> i64 {
    let text = world.scrape(addr).await;
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in\n{text}"))
}

/// The process's resident set in KiB (/proc/PID/status VmRSS).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Waits until the operator's leader gauge reads `want`.
async fn wait_leader_gauge(world: &World, addr: &str, want: i64, timeout: Duration) {
    let deadline = Deadline::after(timeout, Duration::from_millis(50));
    while scrape(world, addr, "cams_operator_leader").await != want {
        deadline
            .tick(|| format!("leader gauge not {want} within {timeout:?}"))
            .await;
    }
}

/// Another identity writes the Lease: takes it (`Some`) or releases it (`None`).
async fn set_holder(world: &World, name: &str, holder: Option<&str>) {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
    loop {
        let mut lease = leases.get(name).await.expect("get the Lease");
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.holder_identity = holder.map(str::to_string);
        spec.lease_duration_seconds = Some(60);
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        match leases.replace(name, &PostParams::default(), &lease).await {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => panic!("write the Lease: {e}"),
        }
    }
}

#[tokio::test]
async fn leader_lost_and_regained_20_times_keeps_tasks_and_memory_flat() {
    let world = World::new("leader-terms").await;
    let lease_name = format!("cams-operator-{}", world.ns);
    let flags = lease_flags(&world, &lease_name, ["4s", "3s", "500ms"]);
    let id = format!("A-{}", world.ns);
    let mut op = world.operator_with(&id, &[], &flags);
    let addr = op.bound_addr("metrics").await;
    let pid = op.pid().expect("operator pid");
    for i in 0..2 {
        world
            .create_group(&format!("t{i}"), &format!("EA303T{i}"), |b| b)
            .await;
    }
    let mut samples: Vec<(i64, u64)> = Vec::new();
    for term in 1..=20 {
        wait_leader_gauge(&world, &addr, 1, Duration::from_secs(30)).await;
        if term == 1 {
            world.wait_ready("t0").await;
            world.wait_ready("t1").await;
        }
        // Lead for a while (watches up, resyncs, renewals), then lose the Lease.
        tokio::time::sleep(Duration::from_secs(2)).await;
        set_holder(&world, &lease_name, Some("intruder")).await;
        wait_leader_gauge(&world, &addr, 0, Duration::from_secs(10)).await;
        // Let whatever the term started wind down before counting.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tasks = scrape(&world, &addr, "cams_operator_tokio_alive_tasks").await;
        let rss = rss_kib(pid);
        println!("term {term:2}: {tasks} tokio tasks, VmRSS {rss} KiB after losing the Lease");
        samples.push((tasks, rss));
        set_holder(&world, &lease_name, None).await;
    }
    let tasks: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let rss: Vec<u64> = samples.iter().map(|s| s.1).collect();
    println!("tokio tasks after each term: {tasks:?}");
    println!("VmRSS (KiB) after each term: {rss:?}");
    // The first terms warm up (connection pools, caches, allocator arenas). Afterwards the
    // count may drop (the client's idle pooled connections close, each a task) or wobble by
    // one connection, but a task left behind by every term climbs by one per term.
    let (warm_tasks, warm_rss) = samples[2];
    assert!(
        tasks[2..].iter().all(|t| *t <= warm_tasks + 1) && tasks[19] <= warm_tasks,
        "tokio tasks climb after warm-up ({warm_tasks}): {tasks:?}"
    );
    let peak = rss[2..].iter().copied().max().unwrap_or(warm_rss);
    let bound = warm_rss + (warm_rss / 5).max(4096);
    assert!(
        peak <= bound,
        "VmRSS grew from {warm_rss} KiB to {peak} KiB (bound {bound} KiB): {rss:?}"
    );
    op.stop().await;
}
