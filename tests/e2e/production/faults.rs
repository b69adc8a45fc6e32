//! A flaky CAMS: about 30% of calls fail (InternalError, ServiceUnavailable, Throttling.User,
//! connection resets) and some hang for 2 s (past the operator's 1 s request timeout). Every
//! object converges; the total number of calls stays within the bound the retry policy
//! implies; and no object is retried sooner than its backoff allows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cams_simulator::{CallEntry, FaultConfig, HangFault};

use crate::harness::{call_group, call_time, World};

const N: usize = 40;
const RESET: f64 = 0.07;
const HANG: f64 = 0.05;
const ERRORS: [(&str, f64); 3] = [
    ("InternalError", 0.08),
    ("ServiceUnavailable", 0.08),
    ("Throttling.User", 0.08),
];
const BASE_MS: i64 = 200;
const CAP_MS: i64 = 5_000;
/// The simulator's log has millisecond resolution (arrival time and duration are both
/// truncated to whole milliseconds).
const TOLERANCE_MS: i64 = 2;

/// The probability that a call fails, from the simulator's order of faults: a reset first,
/// then a hang (which outlasts the request timeout), then the error draw.
fn failure_probability() -> f64 {
    let errors: f64 = ERRORS.iter().map(|(_, p)| p).sum();
    RESET + (1.0 - RESET) * (HANG + (1.0 - HANG) * errors)
}

/// The smallest total T with P[total calls > T] <= `eps`, when each object's calls are
/// independent tries with failure probability `p` until the first success: the failures
/// before the n-th success are negative-binomial, P[F = f] = C(n+f-1, f) (1-p)^n p^f.
fn calls_bound(n: usize, p: f64, eps: f64) -> (usize, f64) {
    let q = 1.0 - p;
    let mut pf = q.powi(n as i32);
    let mut cdf = pf;
    let mut f = 0usize;
    while 1.0 - cdf > eps {
        pf *= (n + f) as f64 / (f + 1) as f64 * p;
        f += 1;
        cdf += pf;
    }
    (n + f, 1.0 - cdf)
}

/// The least delay before the call that follows `attempts` failures: half of
/// base·2^(attempts-1) capped ("equal jitter" draws from [d/2, d]), and never less than the
/// `x-acs-retry-after` the simulator sends with an injected Throttling (1 s).
fn min_delay_ms(attempts: u32, previous: &CallEntry) -> i64 {
    let d = (BASE_MS << (attempts - 1).min(20)).min(CAP_MS);
    let retry_after = if previous.code.starts_with("Throttling") {
        1_000
    } else {
        0
    };
    (d / 2).max(retry_after)
}

#[tokio::test]
async fn faults_converge_within_the_backoff_bound() {
    let world = World::new("faults").await;
    let error_rates: BTreeMap<String, f64> = ERRORS
        .iter()
        .map(|(code, p)| (code.to_string(), *p))
        .collect();
    world
        .set_faults(FaultConfig {
            error_rates,
            reset_probability: RESET,
            hang: Some(HangFault {
                probability: HANG,
                duration_ms: Some(2000),
            }),
            ..FaultConfig::default()
        })
        .await;
    let objs = world
        .groups("flaky", 7_200, N, |b| b.subject(Some("flaky")))
        .await;
    world.create_all(&objs, 16).await;

    let started = Instant::now();
    let mut operator = world.operator(&[
        "--request-timeout",
        "1s",
        "--retry-base",
        &format!("{BASE_MS}ms"),
        "--retry-max",
        &format!("{CAP_MS}ms"),
        "--concurrency",
        "16",
        "--qps",
        "200",
        "--burst",
        "200",
    ]);
    world.wait_all_ready(N, Duration::from_secs(90)).await;
    let converged = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = world.calls_since("UpdateChatGroup", 0).await;
    operator.stop().await;

    // The bound on the number of calls.
    let p = failure_probability();
    let (bound, tail) = calls_bound(N, p, 1e-6);
    let mean = N as f64 / (1.0 - p);
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for c in &calls {
        *by_code.entry(c.code.as_str().to_string()).or_default() += 1;
    }
    let failed = calls.len() - by_code.get("OK").copied().unwrap_or(0);
    println!(
        "faults: {N} objects all Ready in {:.2}s; {} calls ({} retries), {failed} failed ({:.0}% of calls): {by_code:?}",
        converged.as_secs_f64(),
        calls.len(),
        calls.len() - N,
        100.0 * failed as f64 / calls.len() as f64,
    );
    println!(
        "faults: per-call failure probability p = {p:.4} (resets {RESET}, 2 s hangs {HANG} past the 1 s timeout, errors {ERRORS:?}); \
         calls per object are geometric, mean 1/(1-p) = {:.2}, so {mean:.1} expected in all; \
         bound: total <= {bound} = {N} x {:.2} (negative-binomial tail P[total > {bound}] = {tail:.1e})",
        1.0 / (1.0 - p),
        bound as f64 / N as f64,
    );
    assert!(
        calls.len() <= bound,
        "{} calls, more than the bound {bound} the retry policy implies",
        calls.len()
    );

    // Per object: failures, then exactly one success, each retry no sooner than its backoff.
    let mut per_group: BTreeMap<String, Vec<&CallEntry>> = BTreeMap::new();
    for c in &calls {
        per_group.entry(call_group(c)).or_default().push(c);
    }
    assert_eq!(per_group.len(), N, "every object called CAMS");
    let mut max_attempts = 0;
    let mut checked = 0;
    // The smallest margin (observed gap minus the least allowed delay), from the arrival of
    // the failed call and from its end (arrival + the simulator's duration).
    let mut slack_from_arrival = i64::MAX;
    let mut slack_from_end = i64::MAX;
    let mut tightest = String::new();
    let mut early = Vec::new();
    for (group, list) in &mut per_group {
        list.sort_by_key(|c| (call_time(c), c.seq));
        let last = list.len() - 1;
        for (i, c) in list.iter().enumerate() {
            assert_eq!(
                c.code == "OK",
                i == last,
                "group {group}: call {i} of {} was {} (only the last may succeed): {list:#?}",
                list.len(),
                c.code
            );
        }
        max_attempts = max_attempts.max(list.len());
        for k in 1..list.len() {
            let (prev, next) = (list[k - 1], list[k]);
            let min = min_delay_ms(k as u32, prev);
            let arrival = (call_time(next) - call_time(prev)).num_milliseconds();
            let end = arrival - i64::try_from(prev.duration_ms).unwrap_or(0);
            checked += 1;
            slack_from_arrival = slack_from_arrival.min(arrival - min);
            if end - min < slack_from_end {
                slack_from_end = end - min;
                tightest = format!(
                    "{group} attempt {k} after {}: {end} ms after the failure, {arrival} ms after its arrival, least allowed {min} ms",
                    prev.code
                );
            }
            if end < min - TOLERANCE_MS {
                early.push(format!(
                    "group {group}: call {} came {end} ms after call {k} ended ({}, {} ms long), sooner than the least backoff {min} ms",
                    k + 1,
                    prev.code,
                    prev.duration_ms,
                ));
            }
        }
    }
    println!(
        "faults: {checked} retries checked against their backoff; most calls for one object: {max_attempts}; \
         least margin over the minimum delay: {slack_from_end} ms from the failure's end, {slack_from_arrival} ms from its arrival; tightest: {tightest}"
    );
    assert!(
        early.is_empty(),
        "{} of {checked} retries came sooner than their backoff allows: {early:#?}",
        early.len()
    );
}
