//! The Markdown table of figures: one row per scenario record, each with its target and
//! whether it was met.

use std::path::Path;

use serde_json::Value;

use crate::measure::{RSS_BOUND_MIB, SCAN_GAP_TOLERANCE_SECS};
use crate::procfs::cores;
use crate::record::{ObserveFigures, Record};

/// Operator CPU per object in the unthrottled 10,000-object converge as round 1 measured it
/// (bench/results/2026-11-29.md), the baseline of issue 9's target (at most 0.55 × this).
const ROUND1_MS_PER_OBJECT: f64 = 0.794;

/// One row: scenario, parameters, figures, target; and whether the target was met (`None`:
/// a row of context, without a target).
struct Row {
    cells: [String; 4],
    met: Option<bool>,
}

impl Row {
    /// A row of context ("—" as its target).
    fn context(scenario: String, params: String, figures: String) -> Row {
        Row {
            cells: [scenario, params, figures, "—".into()],
            met: None,
        }
    }

    /// A row with a target (`target: met` or `target: **missed**`).
    fn target(scenario: String, params: String, figures: String, target: &str, met: bool) -> Row {
        let mark = if met { "met" } else { "**missed**" };
        Row {
            cells: [scenario, params, figures, format!("{target}: {mark}")],
            met: Some(met),
        }
    }

    /// A row of invariants the bench fails on (`rule: held` or `rule: **FAILED**`).
    fn invariant(scenario: String, params: String, figures: String, rule: &str, held: bool) -> Row {
        let mark = if held {
            "held"
        } else {
            "**FAILED** (the bench fails)"
        };
        Row {
            cells: [scenario, params, figures, format!("{rule}: {mark}")],
            met: Some(held),
        }
    }
}

/// The table of `records` and the criterion figures in `criterion`, and whether every
/// target was met.
pub fn table(records: &[Record], criterion: &Path) -> (String, bool) {
    let mut rows: Vec<Row> = Vec::new();
    rows.extend(records.iter().filter(|r| r.mode == "load").map(load));
    for r in records.iter().filter(|r| r.mode == "converge") {
        rows.push(match r.floor_qps {
            Some(qps) => cold_converge(r, qps),
            None => unthrottled_converge(r),
        });
        rows.push(calls_and_writes(r));
        rows.extend(scans(r));
    }
    for r in records.iter().filter(|r| r.mode == "restart") {
        rows.push(restart(r));
        rows.extend(scans(r));
    }
    for r in records.iter().filter(|r| r.mode == "drift") {
        rows.push(drift(r));
        rows.extend(scans(r));
    }
    rows.extend(memory(records));
    rows.extend(signing(criterion));
    let all_met = rows.iter().all(|row| row.met != Some(false));
    let mut out = String::from("| Scenario | Parameters | Figures | Target |\n|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!("| {} |\n", row.cells.join(" | ")));
    }
    (out, all_met)
}

fn load(r: &Record) -> Row {
    let secs = r.load_secs.unwrap_or_default();
    Row::context(
        format!(
            "Load {} ChatGroups into `{}` through the API, operator stopped",
            thousands(r.n as f64),
            r.namespace
        ),
        r.params.clone(),
        format!(
            "{secs:.1} s, {} objects/s (context: the API server's create rate)",
            thousands(r.n as f64 / secs)
        ),
    )
}

/// Operator CPU per reconcile in milliseconds, and the reconcile count.
fn per_reconcile(r: &Record) -> (f64, f64) {
    let reconciles = r.reconciles.unwrap_or_default();
    let cpu = r.op_cpu_secs.unwrap_or_default();
    (1000.0 * cpu / reconciles.max(1.0), reconciles)
}

/// "all accepted in … s; all Ready (in sync) in … s" and the seconds until accepted (or,
/// for a record without it, until Ready).
fn accepted_and_ready(r: &Record) -> (f64, f64) {
    let ready = r.ready_secs.unwrap_or(f64::NAN);
    (r.accepted_secs.unwrap_or(ready), ready)
}

fn cold_converge(r: &Record, qps: f64) -> Row {
    let (accepted, ready) = accepted_and_ready(r);
    let cpu = r.op_cpu_secs.unwrap_or_default();
    let (per, reconciles) = per_reconcile(r);
    let floor = r.n as f64 / qps;
    let ratio = accepted / floor;
    Row::target(
        format!("1. Cold converge, N = {}", thousands(r.n as f64)),
        r.params.clone(),
        format!(
            "CAMS accepted all (Synced `ReconcileSuccess`) in {accepted:.1} s; floor N/QPS = {floor:.1} s; **ratio {ratio:.3}**. All Ready and in sync (a scan shows them, `InSync` True) in **{ready:.1} s, ratio {:.3}**. Operator ready (/readyz) at {:.2} s; operator CPU {cpu:.1} s = {per:.3} ms per reconcile ({} reconciles). {}",
            ready / floor,
            r.readyz_secs.unwrap_or_default(),
            thousands(reconciles),
            apiserver_context(r)
        ),
        "accepted ratio ≤ 1.10",
        r.ok && ratio <= 1.10,
    )
}

fn unthrottled_converge(r: &Record) -> Row {
    let (accepted, ready) = accepted_and_ready(r);
    let cpu = r.op_cpu_secs.unwrap_or_default();
    let (per, reconciles) = per_reconcile(r);
    let per_object = 1000.0 * cpu / (r.n as f64).max(1.0);
    let ratio = per_object / ROUND1_MS_PER_OBJECT;
    let busy = 100.0 * r.op_cpu_at_ready_secs.unwrap_or_default() / ready;
    Row::target(
        format!("2. Unthrottled converge, N = {}", thousands(r.n as f64)),
        r.params.clone(),
        format!(
            "CAMS accepted all in {accepted:.1} s = **{} objects/s**; all Ready and in sync in {ready:.1} s; operator CPU {cpu:.2} s (scans included) = **{per_object:.3} ms per object**, **{ratio:.2} × round 1's {ROUND1_MS_PER_OBJECT} ms** ({} reconciles, {per:.3} ms each; busy {busy:.0}% of one core until Ready, {:.0}% of the machine). {}",
            thousands(r.n as f64 / accepted),
            thousands(reconciles),
            busy / cores() as f64,
            apiserver_context(r)
        ),
        &format!("≤ 0.55 × {ROUND1_MS_PER_OBJECT} ms per object"),
        r.ok && ratio <= 0.55,
    )
}

/// "1 write: 3, 2 writes: 1,990, …".
fn writes_histogram(r: &Record) -> String {
    r.writes_per_object
        .iter()
        .map(|(writes, objects)| {
            format!(
                "{} with {writes} write{}",
                thousands(*objects as f64),
                if *writes == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tenant's calls other than UpdateChatGroup and ListChatGroup, by action.
fn other_writes(r: &Record) -> (u64, String) {
    let other: Vec<(&String, &u64)> = r
        .calls_by_action
        .iter()
        .filter(|(a, _)| *a != "UpdateChatGroup" && *a != crate::scans::LIST)
        .collect();
    let total = other.iter().map(|(_, n)| **n).sum();
    let text = if other.is_empty() {
        "none".to_string()
    } else {
        other
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (total, text)
}

fn calls_and_writes(r: &Record) -> Row {
    let calls = r.calls.unwrap_or_default();
    let writes = r.writes_watch.unwrap_or_default();
    let (other, other_text) = other_writes(r);
    let most = r.writes_per_object.keys().max().copied().unwrap_or(0);
    Row::target(
        format!("3. Calls and writes, N = {} new", thousands(r.n as f64)),
        format!("as the row above ({})", r.label),
        format!(
            "UpdateChatGroup calls (simulator log) {}, not OK {}; other write calls {other_text}; throttled {}; status writes (resourceVersion changes on a watch) {}: {} (one when CAMS accepts, one when a scan shows the change; a third for objects accepted while the first scan after the start was under way, Ready on acceptance until it lands); operator metrics: {} calls, {} status writes",
            thousands(calls as f64),
            r.calls_not_ok.unwrap_or_default(),
            r.throttled_calls.unwrap_or_default(),
            thousands(writes as f64),
            writes_histogram(r),
            thousands(r.cams_requests_metric.unwrap_or_default()),
            thousands(r.status_writes_metric.unwrap_or_default()),
        ),
        "exactly N calls, no other write call, ≤ 3 status writes per object",
        calls == r.n as u64 && r.calls_not_ok == Some(0) && other == 0 && most <= 3,
    )
}

/// The scans of one scenario: pages per complete scan against ceil(N / page size), scan
/// starts and the smallest gap between them against the minimum interval.
fn scans(r: &Record) -> Option<Row> {
    let o = r.observe.as_ref()?;
    let per = o.pages_per_scan();
    let pages_ok = per == Some(o.expected_pages as f64);
    let gap_ok = o
        .min_scan_gap_secs
        .is_none_or(|g| g >= o.min_interval_secs - SCAN_GAP_TOLERANCE_SECS);
    let outcome = |k: &str| o.scans_by_outcome.get(k).copied().unwrap_or(0.0);
    let forced = match r.mode.as_str() {
        "converge" => format!(
            " (1 at the start, {} forced by the operator's writes)",
            o.scan_starts.saturating_sub(1)
        ),
        _ => String::new(),
    };
    Some(Row::invariant(
        format!("7. Inventory scans, {}", r.label),
        observe_params(o),
        format!(
            "**{} ListChatGroup calls per complete scan** ({} calls in the simulator's log, {} not OK / {} complete scans, {} failed, {} refused; operator's count {}), expected ceil({} / {}) = **{}**; scans started {}{forced}, smallest gap between two starts of one account **{}**; longest scan {}; first complete scan {}; {} account(s) scanned (gauges, refreshed every 10 s: {} inventories, {} rows)",
            per.map_or("n/a".into(), |x| format!("{x:.2}")),
            thousands(o.list_calls as f64),
            o.list_calls_not_ok,
            o.complete_scans(),
            outcome("failed"),
            outcome("refused"),
            thousands(o.list_calls_metric),
            thousands(o.groups as f64),
            o.page_size,
            o.expected_pages,
            o.scan_starts,
            o.min_scan_gap_secs.map_or("n/a (one scan)".into(), |g| format!("{g:.2} s")),
            o.max_scan_secs.map_or("n/a".into(), |d| format!("{d:.2} s")),
            o.first_scan_secs.map_or("n/a".into(), |t| format!("at {t:.1} s")),
            o.accounts,
            o.inventories,
            thousands(o.inventory_rows),
        ),
        &format!(
            "calls per scan = ceil(N / page size); starts ≥ {:.0} s apart (−{SCAN_GAP_TOLERANCE_SECS} s for request jitter)",
            o.min_interval_secs
        ),
        pages_ok && gap_ok,
    ))
}

/// "--observe-interval 10m, --observe-min-interval 15s, …".
fn observe_params(o: &ObserveFigures) -> String {
    format!(
        "the scenario's operator: --observe-interval {}, --observe-min-interval {}, --settle {}, --observe-page-size {}",
        secs_text(o.interval_secs),
        secs_text(o.min_interval_secs),
        secs_text(o.settle_secs),
        o.page_size
    )
}

/// 600 → "10m", 15 → "15s".
fn secs_text(secs: f64) -> String {
    if secs >= 60.0 && secs % 60.0 == 0.0 {
        format!("{}m", secs / 60.0)
    } else {
        format!("{secs}s")
    }
}

fn restart(r: &Record) -> Row {
    let readyz = r.readyz_secs.unwrap_or(f64::NAN);
    let write_calls = r.write_calls.unwrap_or_default();
    let writes = r.writes_watch.unwrap_or_default();
    let by_outcome = r
        .reconciles_by_outcome
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v)))
        .collect::<Vec<_>>()
        .join(", ");
    let (scans, keys, lists) = r.observe.as_ref().map_or((0.0, 0, 0), |o| {
        (o.complete_scans(), o.accounts, o.list_calls)
    });
    let one_scan_per_key = r.observe.as_ref().is_none_or(|o| {
        o.accounts >= 1
            && o.complete_scans() == o.accounts as f64
            && o.scan_starts == o.accounts as u64
    });
    Row::target(
        format!("4. Restart with {} synced", thousands(r.n as f64)),
        r.params.clone(),
        format!(
            "process start to ready (/readyz) **{readyz:.2} s**; UpdateChatGroup calls before ready {}; in the {:.0} s until every object was reconciled, the first scan complete and all quiet: **{write_calls} write calls** (every action but ListChatGroup), **{writes} status writes**, **{scans} complete scan(s) for {keys} account(s)** ({lists} ListChatGroup calls) ({} reconciles: {by_outcome}); operator CPU {:.2} s. {}",
            r.calls_before_ready.unwrap_or_default(),
            r.window_secs.unwrap_or_default(),
            thousands(r.reconciles.unwrap_or_default()),
            r.op_cpu_secs.unwrap_or_default(),
            apiserver_context(r)
        ),
        "ready ≤ 10 s, 0 write calls, 0 status writes, one complete scan per account",
        r.ok && readyz <= 10.0 && write_calls == 0 && writes == 0 && one_scan_per_key,
    )
}

fn drift(r: &Record) -> Row {
    let d = r.drift.clone().unwrap_or_default();
    let restored = d.restored_secs.unwrap_or(f64::NAN);
    let longest = r
        .observe
        .as_ref()
        .and_then(|o| o.max_scan_secs)
        .unwrap_or_default();
    let (interval, min_interval) = r
        .observe
        .as_ref()
        .map_or((0.0, 0.0), |o| (o.interval_secs, o.min_interval_secs));
    let calls_ok = d.update_calls == d.edited as u64 && d.groups_corrected == d.edited;
    Row::target(
        format!(
            "8. Drift: {} of {} groups edited out of band",
            d.edited,
            thousands(r.n as f64)
        ),
        r.params.clone(),
        format!(
            "subjects changed through the simulator's admin API after the operator's first complete scan ({:.1} s after its start); all {} back to their spec subject in the simulator **{restored:.1} s** after the first edit; bound {interval:.0} s × 1.1 + {min_interval:.0} s + 2 × longest scan {longest:.2} s (seen by one scan, confirmed by a second) = **{:.1} s**; **{} UpdateChatGroup calls** for {} edited groups; `DriftCorrected` events {}; status writes {} ({}); operator CPU {:.2} s",
            d.first_scan_secs,
            d.restored,
            d.bound_secs,
            d.update_calls,
            d.groups_corrected,
            d.drift_corrected_events.map_or("n/a".into(), |n| thousands(n as f64)),
            thousands(r.writes_watch.unwrap_or_default() as f64),
            writes_histogram(r),
            r.op_cpu_secs.unwrap_or_default(),
        ),
        "back within the bound; exactly one UpdateChatGroup per edited group (else the bench fails)",
        r.ok && restored <= d.bound_secs && calls_ok,
    )
}

/// Every operator process's peak RSS; the target is on the runs at 10,000 objects (a run
/// without them, e.g. a reduced one, shows the figures as context).
fn memory(records: &[Record]) -> Option<Row> {
    let measured: Vec<&Record> = records.iter().filter(|r| r.mode != "load").collect();
    if measured.is_empty() {
        return None;
    }
    let figures: Vec<String> = measured
        .iter()
        .map(|r| {
            format!(
                "{} ({} objects): **{}**",
                r.label,
                thousands(r.n as f64),
                mib(r.vm_hwm_kib)
            )
        })
        .collect();
    let at_10k = measured
        .iter()
        .filter(|r| r.n >= 10_000)
        .map(|r| r.vm_hwm_kib)
        .max()
        .flatten();
    let scenario = "5. Operator peak RSS (VmHWM), inventories included".to_string();
    let params = "each operator process of the rows above, read before it stopped".to_string();
    let Some(peak) = at_10k else {
        return Some(Row::context(
            scenario,
            params,
            format!(
                "{}; bound {RSS_BOUND_MIB} MiB at 10,000 objects (not measured: no run at 10,000)",
                figures.join("; ")
            ),
        ));
    };
    Some(Row::target(
        scenario,
        params,
        format!(
            "{}; largest at 10,000: **{}**, bound {RSS_BOUND_MIB} MiB",
            figures.join("; "),
            mib(Some(peak))
        ),
        &format!("≤ {RSS_BOUND_MIB} MiB at 10,000"),
        peak <= RSS_BOUND_MIB * 1024,
    ))
}

/// Criterion's figures for signing, when it ran.
fn signing(criterion: &Path) -> Option<Row> {
    let v3 = criterion_mean(criterion, "sign_update_chat_group", "v3_acs3_hmac_sha256");
    let v1 = criterion_mean(criterion, "sign_update_chat_group", "v1_rpc_hmac_sha1");
    if v3.is_none() && v1.is_none() {
        return None;
    }
    let fmt = |ns: Option<f64>| {
        ns.map(|n| format!("{:.2} µs", n / 1000.0))
            .unwrap_or_else(|| "n/a".into())
    };
    Some(Row::context(
        "6. Signing one UpdateChatGroup request".into(),
        "criterion, `cargo bench --bench signer` (7 parameters, STS token, CJK subject)".into(),
        format!(
            "V3 (ACS3-HMAC-SHA256) **{}**; RPC HMAC-SHA1 **{}** (mean)",
            fmt(v3),
            fmt(v1)
        ),
    ))
}

/// Criterion's mean estimate of a benchmark, in nanoseconds.
fn criterion_mean(dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let text =
        std::fs::read_to_string(dir.join(group).join(bench).join("new/estimates.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// "API server: CPU … s in … s (… % of one core), RSS …; etcd CPU … s".
fn apiserver_context(r: &Record) -> String {
    match (r.apiserver_cpu_secs, r.apiserver_window_secs) {
        (Some(cpu), Some(wall)) if wall > 0.0 => format!(
            "API server {cpu:.1} s CPU in {wall:.1} s ({:.0}% of one core, {:.0}% of the machine), RSS {}; etcd {:.1} s CPU",
            100.0 * cpu / wall,
            100.0 * cpu / wall / cores() as f64,
            mib(r.apiserver_rss_kib),
            r.etcd_cpu_secs.unwrap_or_default()
        ),
        _ => "API server: n/a".into(),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

/// `n` rounded, with thousands separated by commas.
fn thousands(n: impl Into<f64>) -> String {
    let n = n.into().round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}
