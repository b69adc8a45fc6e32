//! One scenario's figures, a JSON line of the results file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// One scenario's figures (one JSON line in the results file).
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct Record {
    pub label: String,
    pub mode: String,
    pub namespace: String,
    pub n: usize,
    pub params: String,
    pub ok: bool,
    // load
    pub load_secs: Option<f64>,
    // measure
    pub floor_qps: Option<f64>,
    pub ready_secs: Option<f64>,
    pub readyz_secs: Option<f64>,
    pub op_cpu_secs: Option<f64>,
    pub op_cpu_at_ready_secs: Option<f64>,
    pub reconciles: Option<f64>,
    pub reconciles_by_outcome: BTreeMap<String, f64>,
    pub calls: Option<u64>,
    pub calls_not_ok: Option<u64>,
    pub calls_before_ready: Option<u64>,
    pub cams_requests_metric: Option<f64>,
    pub writes_watch: Option<u64>,
    pub objects_not_one_write: Option<u64>,
    pub status_writes_metric: Option<f64>,
    pub window_secs: Option<f64>,
    pub vm_hwm_kib: Option<u64>,
    pub vm_rss_kib: Option<u64>,
    // the API server and etcd during the measured window
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
