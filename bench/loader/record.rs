//! One scenario's figures, a JSON line of the results file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// One scenario's figures (one JSON line in the results file).
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct Record {
    /// The scenario's name, e.g. converge-10k.
    pub label: String,
    /// load, converge, restart or idle.
    pub mode: String,
    pub namespace: String,
    /// How many ChatGroups.
    pub n: usize,
    /// Human-readable parameters.
    pub params: String,
    /// Finished (not timed out, the operator did not exit early).
    pub ok: bool,
    /// load: seconds to create the ChatGroups.
    pub load_secs: Option<f64>,
    /// The CAMS rate of the floor N / QPS.
    pub floor_qps: Option<f64>,
    /// Seconds from the operator's start until CAMS had accepted every object (converge:
    /// `Synced` True `ReconcileSuccess` at its generation).
    #[serde(default)]
    pub accepted_secs: Option<f64>,
    /// Seconds from the operator's start until all were Ready and in sync (converge: a scan
    /// showed what CAMS accepted).
    pub ready_secs: Option<f64>,
    /// Seconds from the operator's start until /readyz answered.
    pub readyz_secs: Option<f64>,
    /// Operator CPU seconds over the whole window, and until done.
    pub op_cpu_secs: Option<f64>,
    pub op_cpu_at_ready_secs: Option<f64>,
    /// The operator's reconcile counter, in all and by outcome.
    pub reconciles: Option<f64>,
    pub reconciles_by_outcome: BTreeMap<String, f64>,
    /// UpdateChatGroup calls in the simulator's log: all, not OK, before /readyz.
    pub calls: Option<u64>,
    pub calls_not_ok: Option<u64>,
    pub calls_before_ready: Option<u64>,
    /// The operator's own count of UpdateChatGroup requests.
    pub cams_requests_metric: Option<f64>,
    /// Status writes the watch saw.
    pub writes_watch: Option<u64>,
    /// The operator's own count of successful status writes.
    pub status_writes_metric: Option<f64>,
    /// Seconds from the operator's start until the figures were read.
    pub window_secs: Option<f64>,
    /// The operator's peak and current resident set.
    pub vm_hwm_kib: Option<u64>,
    pub vm_rss_kib: Option<u64>,
    /// Status writes per object: how many objects received each number of writes.
    #[serde(default)]
    pub writes_per_object: BTreeMap<u32, u64>,
    /// Every call of the tenant in the simulator's log since the operator started, by action.
    #[serde(default)]
    pub calls_by_action: BTreeMap<String, u64>,
    /// Calls of the tenant other than ListChatGroup (writes), and calls throttled by the
    /// simulator (any action).
    #[serde(default)]
    pub write_calls: Option<u64>,
    #[serde(default)]
    pub throttled_calls: Option<u64>,
    /// Observation as the operator's flags set it (`None`: off).
    #[serde(default)]
    pub observe: Option<ObserveFigures>,
    /// The drift scenario's figures.
    #[serde(default)]
    pub drift: Option<DriftFigures>,
    /// Invariants the run broke (the bench fails when any is set).
    #[serde(default)]
    pub violations: Vec<String>,
    /// The API server and etcd during the window until done.
    pub apiserver_cpu_secs: Option<f64>,
    pub apiserver_window_secs: Option<f64>,
    pub apiserver_rss_kib: Option<u64>,
    pub apiserver_hwm_kib: Option<u64>,
    pub etcd_cpu_secs: Option<f64>,
    pub etcd_rss_kib: Option<u64>,
}

/// Appends `record` as one JSON line to the results file `out`.
pub fn append(out: &Path, record: &Record) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("opening {}", out.display()))?;
    writeln!(f, "{}", serde_json::to_string(record)?)?;
    Ok(())
}

/// Reads every record of the results file `path`.
pub fn read_all(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

/// Observation during one scenario: the operator's settings, the simulator's log of its
/// ListChatGroup calls and the operator's inventory metrics.
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct ObserveFigures {
    /// `--observe-interval`, `--observe-min-interval`, `--settle` in seconds, and
    /// `--observe-page-size`.
    pub interval_secs: f64,
    pub min_interval_secs: f64,
    pub settle_secs: f64,
    pub page_size: u32,
    /// The groups the simulator holds for the tenant, and the pages one complete scan of them
    /// takes: ceil(groups / page size).
    pub groups: usize,
    pub expected_pages: u64,
    /// ListChatGroup calls in the simulator's log (and those not answered OK).
    pub list_calls: u64,
    pub list_calls_not_ok: u64,
    /// Accounts (AccessKeyId, CustSpaceId, BusinessNumber) the ListChatGroup calls scanned.
    pub accounts: usize,
    /// Scans started (calls with `Page.Index` 1), the smallest gap between two consecutive
    /// starts of one account and the longest scan (first page to last page), on the
    /// simulator's clock.
    pub scan_starts: u64,
    pub min_scan_gap_secs: Option<f64>,
    pub max_scan_secs: Option<f64>,
    /// Seconds from the operator's start until its metrics showed a complete scan (polled
    /// twice a second).
    pub first_scan_secs: Option<f64>,
    /// `cams_operator_inventory_scans_total` by outcome, `…_inventory_list_calls_total`,
    /// `cams_operator_inventories` and `…_inventory_rows` (the gauges are refreshed every
    /// 10 s: a shorter run may show them before its first scan).
    pub scans_by_outcome: BTreeMap<String, f64>,
    pub list_calls_metric: f64,
    pub inventories: f64,
    pub inventory_rows: f64,
}

impl ObserveFigures {
    /// Complete scans (the operator's metric).
    pub fn complete_scans(&self) -> f64 {
        self.scans_by_outcome
            .get("complete")
            .copied()
            .unwrap_or(0.0)
    }

    /// ListChatGroup calls per complete scan (`None` without a complete scan).
    pub fn pages_per_scan(&self) -> Option<f64> {
        let scans = self.complete_scans();
        (scans > 0.0).then(|| self.list_calls as f64 / scans)
    }
}

/// The drift scenario: groups edited out of band and corrected by the operator.
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct DriftFigures {
    /// Groups edited (subject changed through the simulator's admin API).
    pub edited: usize,
    /// Seconds from the operator's start until its first complete scan (the edits follow).
    pub first_scan_secs: f64,
    /// Seconds from the first edit until every edited group was back to its spec subject in
    /// the simulator (`None`: not all were).
    pub restored_secs: Option<f64>,
    pub restored: usize,
    /// The bound: interval × 1.1 + min interval + twice the longest scan (the edit is seen by
    /// the next periodic scan and confirmed by a forced second one before it is corrected).
    pub bound_secs: f64,
    /// UpdateChatGroup calls of the tenant since the operator started, and the edited groups
    /// they named (distinct).
    pub update_calls: u64,
    pub groups_corrected: usize,
    /// `DriftCorrected` events the operator published for the edited objects.
    pub drift_corrected_events: Option<u64>,
}
