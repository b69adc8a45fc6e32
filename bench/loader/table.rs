//! The Markdown table of figures: one row per scenario record, each with its target and
//! whether it was met.

use std::path::Path;

use serde_json::Value;

use crate::procfs::cores;
use crate::record::Record;

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
    }
    rows.extend(records.iter().filter(|r| r.mode == "restart").map(restart));
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

fn cold_converge(r: &Record, qps: f64) -> Row {
    let ready = r.ready_secs.unwrap_or(f64::NAN);
    let cpu = r.op_cpu_secs.unwrap_or_default();
    let (per, reconciles) = per_reconcile(r);
    let floor = r.n as f64 / qps;
    let ratio = ready / floor;
    Row::target(
        format!("1. Cold converge, N = {}", thousands(r.n as f64)),
        r.params.clone(),
        format!(
            "all Ready in {ready:.1} s; floor N/QPS = {floor:.1} s; **ratio {ratio:.3}**. Operator ready (/readyz) at {:.2} s; operator CPU {cpu:.1} s = {per:.3} ms per reconcile ({} reconciles). {}",
            r.readyz_secs.unwrap_or_default(),
            thousands(reconciles),
            apiserver_context(r)
        ),
        "ratio ≤ 1.10",
        r.ok && ratio <= 1.10,
    )
}

fn unthrottled_converge(r: &Record) -> Row {
    let ready = r.ready_secs.unwrap_or(f64::NAN);
    let cpu = r.op_cpu_secs.unwrap_or_default();
    let (per, reconciles) = per_reconcile(r);
    let per_object = 1000.0 * cpu / (r.n as f64).max(1.0);
    let ratio = per_object / ROUND1_MS_PER_OBJECT;
    let busy = 100.0 * r.op_cpu_at_ready_secs.unwrap_or_default() / ready;
    Row::target(
        format!("2. Unthrottled converge, N = {}", thousands(r.n as f64)),
        r.params.clone(),
        format!(
            "all Ready in {ready:.1} s = **{} objects/s**; operator CPU {cpu:.2} s = **{per_object:.3} ms per object**, **{ratio:.2} × round 1's {ROUND1_MS_PER_OBJECT} ms** ({} reconciles, {per:.3} ms each; busy {busy:.0}% of one core, {:.0}% of the machine). {}",
            thousands(r.n as f64 / ready),
            thousands(reconciles),
            busy / cores() as f64,
            apiserver_context(r)
        ),
        &format!("≤ 0.55 × {ROUND1_MS_PER_OBJECT} ms per object"),
        r.ok && ratio <= 0.55,
    )
}

fn calls_and_writes(r: &Record) -> Row {
    let calls = r.calls.unwrap_or_default();
    let writes = r.writes_watch.unwrap_or_default();
    Row::target(
        format!("3. Calls and writes, N = {} new", thousands(r.n as f64)),
        format!("as the row above ({})", r.label),
        format!(
            "UpdateChatGroup calls (simulator log) {}, not OK {}; status writes (resourceVersion changes on a watch) {}, objects with ≠ 1 write {}; operator metrics: {} calls, {} status writes",
            thousands(calls as f64),
            r.calls_not_ok.unwrap_or_default(),
            thousands(writes as f64),
            r.objects_not_one_write.unwrap_or_default(),
            thousands(r.cams_requests_metric.unwrap_or_default()),
            thousands(r.status_writes_metric.unwrap_or_default()),
        ),
        "exactly N calls, one write per object",
        calls == r.n as u64
            && r.calls_not_ok == Some(0)
            && writes == r.n as u64
            && r.objects_not_one_write == Some(0),
    )
}

fn restart(r: &Record) -> Row {
    let readyz = r.readyz_secs.unwrap_or(f64::NAN);
    let calls = r.calls.unwrap_or_default();
    let writes = r.writes_watch.unwrap_or_default();
    let by_outcome = r
        .reconciles_by_outcome
        .iter()
        .map(|(k, v)| format!("{k} {}", thousands(*v)))
        .collect::<Vec<_>>()
        .join(", ");
    Row::target(
        format!("4. Restart with {} synced", thousands(r.n as f64)),
        r.params.clone(),
        format!(
            "process start to ready (/readyz) **{readyz:.2} s**; UpdateChatGroup calls before ready {}, and in the {:.0} s until every object was reconciled and quiet: {calls} calls, {writes} status writes ({} reconciles: {by_outcome}); operator CPU {:.2} s. {}",
            r.calls_before_ready.unwrap_or_default(),
            r.window_secs.unwrap_or_default(),
            thousands(r.reconciles.unwrap_or_default()),
            r.op_cpu_secs.unwrap_or_default(),
            apiserver_context(r)
        ),
        "ready ≤ 10 s, 0 calls, 0 writes",
        r.ok && readyz <= 10.0 && calls == 0 && writes == 0,
    )
}

/// Every operator process's peak RSS; the target is on the runs at 10,000 objects.
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
    Some(Row::target(
        "5. Operator peak RSS (VmHWM)".into(),
        "each operator process of the rows above, read before it stopped".into(),
        figures.join("; "),
        "≤ 64 MiB at 10,000",
        at_10k.is_some_and(|k| k <= 64 * 1024),
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
