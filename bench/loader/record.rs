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
    /// Seconds from the operator's start until all were Ready (converge).
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
    /// Status writes the watch saw, and the objects without exactly the expected number.
    pub writes_watch: Option<u64>,
    pub objects_not_one_write: Option<u64>,
    /// The operator's own count of successful status writes.
    pub status_writes_metric: Option<f64>,
    /// Seconds from the operator's start until the figures were read.
    pub window_secs: Option<f64>,
    /// The operator's peak and current resident set.
    pub vm_hwm_kib: Option<u64>,
    pub vm_rss_kib: Option<u64>,
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
