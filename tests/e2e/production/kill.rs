//! The operator SIGKILLed three times mid-run (400 ms per CAMS call, so calls are in flight at
//! each kill) and restarted at once: everything converges, and the calls repeated for an
//! object CAMS had already accepted (its status was not written before the kill) are at most
//! `--concurrency` per kill.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cams_simulator::CallEntry;

use crate::harness::{call_group, call_time, World};

const N: usize = 60;
const CONCURRENCY: usize = 8;
const LATENCY_MS: u64 = 400;
/// Kill when CAMS has accepted this many calls.
const KILL_AT: [usize; 3] = [12, 28, 44];

#[tokio::test]
async fn sigkill_mid_run_three_times() {
    let world = World::new("kill").await;
    world.set_latency(LATENCY_MS).await;
    let objs = world
        .groups("kill", 7_400, N, |b| b.subject(Some("kill -9")))
        .await;
    world.create_all(&objs, 16).await;
    let concurrency = CONCURRENCY.to_string();
    let flags = [
        "--concurrency",
        concurrency.as_str(),
        "--qps",
        "100",
        "--burst",
        "100",
    ];

    let started = Instant::now();
    let mut operator = world.operator(&flags);
    let mut kills = Vec::new();
    for threshold in KILL_AT {
        let left = Duration::from_secs(60).saturating_sub(started.elapsed());
        world.wait_accepted(threshold, left).await;
        let pid = operator.pid();
        operator.kill9().await;
        let at = chrono::Utc::now();
        let accepted = world.accepted_calls().await;
        kills.push((at, accepted));
        println!(
            "kill: SIGKILL pid {pid:?} at {:.2}s with {accepted} calls accepted",
            started.elapsed().as_secs_f64()
        );
        operator = world.operator(&flags);
    }
    let last_restart = Instant::now();
    world.wait_all_ready(N, Duration::from_secs(90)).await;
    let converged = started.elapsed();
    let after_last = last_restart.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = world.calls_since("UpdateChatGroup", 0).await;
    operator.stop().await;

    // Duplicates: calls for a group after its first accepted one (the spec never changes),
    // each counted against the last kill before it.
    let mut per_group: BTreeMap<String, Vec<&CallEntry>> = BTreeMap::new();
    for c in &calls {
        per_group.entry(call_group(c)).or_default().push(c);
    }
    assert_eq!(per_group.len(), N, "every object called CAMS");
    let mut duplicates = [0usize; 4]; // before the first kill, then per kill
    for (group, list) in &mut per_group {
        list.sort_by_key(|c| (call_time(c), c.seq));
        let first_ok = list
            .iter()
            .position(|c| c.code == "OK")
            .unwrap_or_else(|| panic!("group {group} never accepted: {list:#?}"));
        for c in &list[first_ok + 1..] {
            let t = call_time(c);
            let slot = kills.iter().filter(|(at, _)| *at <= t).count();
            duplicates[slot] += 1;
        }
    }
    let failed = calls.iter().filter(|c| c.code != "OK").count();
    println!(
        "kill: {N} objects all Ready {:.2}s after the first start ({:.2}s after the last restart); \
         {} calls ({failed} not OK); duplicates: {} before any kill, per kill {:?} (bound --concurrency {CONCURRENCY})",
        converged.as_secs_f64(),
        after_last.as_secs_f64(),
        calls.len(),
        duplicates[0],
        &duplicates[1..],
    );
    assert_eq!(
        duplicates[0], 0,
        "calls repeated for an accepted object before any kill"
    );
    for (i, d) in duplicates[1..].iter().enumerate() {
        assert!(
            *d <= CONCURRENCY,
            "kill {}: {d} duplicate calls, more than --concurrency {CONCURRENCY}",
            i + 1
        );
    }
    assert_eq!(failed, 0, "no fault but latency was injected");
}
