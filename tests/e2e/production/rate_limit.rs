//! The client-side rate limit: 200 ChatGroups at once under `--qps 20 --burst 10`. In every
//! window of w seconds the simulator sees at most burst + 20·w calls, its own bucket (22 QPS)
//! never answers Throttling, and every object reaches Ready with one call.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cams_simulator::{FaultConfig, QpsLimit};

use crate::harness::{call_group, call_time, max_in_window, World};

const N: usize = 200;
const QPS: u32 = 20;
const BURST: u32 = 10;
/// The simulator's bucket: 10% above the client's rate. Its burst is the client's plus 4:
/// the client takes a token before it signs and sends, so a call can reach the simulator a
/// little after its token was granted while the next one arrives on time; 4 extra tokens
/// absorb up to 200 ms (4 / 20 QPS) of such scheduling delay without a Throttling answer.
const SIM_RATE: u32 = 22;
const SIM_BURST: u32 = BURST + 4;

#[tokio::test]
async fn rate_limit_holds_for_200_at_once() {
    let world = World::new("rate").await;
    world
        .set_faults(FaultConfig {
            qps: Some(QpsLimit {
                rate: f64::from(SIM_RATE),
                burst: Some(f64::from(SIM_BURST)),
            }),
            ..FaultConfig::default()
        })
        .await;
    let objs = world
        .groups("rl", 7_100, N, |b| b.subject(Some("rate limited")))
        .await;
    // Loaded with the operator stopped, concurrently through the API; then the clock starts.
    let load = Instant::now();
    world.create_all(&objs, 16).await;
    let load = load.elapsed();

    let started = Instant::now();
    let mut operator = world.operator(&[
        "--qps",
        &QPS.to_string(),
        "--burst",
        &BURST.to_string(),
        "--concurrency",
        "32",
    ]);
    world.wait_all_ready(N, Duration::from_secs(90)).await;
    let converged = started.elapsed();
    // Settle, so a late or wasted call would be counted too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = world.calls_since("UpdateChatGroup", 0).await;
    operator.stop().await;

    let throttled: Vec<_> = calls
        .iter()
        .filter(|c| c.code.as_str().starts_with("Throttling"))
        .collect();
    assert!(
        throttled.is_empty(),
        "the simulator answered Throttling {} times: {:#?}",
        throttled.len(),
        throttled.first()
    );
    let not_ok: Vec<_> = calls.iter().filter(|c| c.code != "OK").collect();
    assert!(not_ok.is_empty(), "calls that failed: {not_ok:#?}");
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for c in &calls {
        *per_group.entry(call_group(c)).or_default() += 1;
    }
    assert_eq!(per_group.len(), N, "every object called CAMS");
    assert!(
        per_group.values().all(|n| *n == 1),
        "an object was called more than once: {:?}",
        per_group
            .iter()
            .filter(|(_, n)| **n > 1)
            .collect::<Vec<_>>()
    );

    let times: Vec<_> = calls.iter().map(call_time).collect();
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    let span = (last - first).num_milliseconds() as f64 / 1000.0;
    println!(
        "rate_limit: {N} objects created in {:.2}s; all Ready {:.2}s after the operator started; \
         {} calls over {span:.2}s ({:.1}/s); client --qps {QPS} --burst {BURST}, simulator bucket {SIM_RATE}/s burst {SIM_BURST}; Throttling answers: 0",
        load.as_secs_f64(),
        converged.as_secs_f64(),
        calls.len(),
        (calls.len() - 1) as f64 / span,
    );
    for w in [1i64, 2, 5] {
        let (max, at) = max_in_window(&times, chrono::Duration::seconds(w));
        let bound = BURST as usize + QPS as usize * w as usize;
        println!(
            "rate_limit: window {w}s: max {max} calls (bound {BURST} + {QPS}*{w} = {bound}), window starting {:.3}s after the first call",
            at.map(|t| (t - first).num_milliseconds() as f64 / 1000.0)
                .unwrap_or_default()
        );
        assert!(
            max <= bound,
            "{max} calls within a {w}s window, more than {bound}"
        );
    }
}
