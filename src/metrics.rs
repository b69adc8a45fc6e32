//! Prometheus metrics (no per-object labels, so cardinality stays fixed at any scale).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::cams::CallObserver;
use crate::outcome::{Row, TABLE};

/// How a reconcile ended: a row of the outcome table, or one of the ways that end before or
/// beside it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum ReconcileLabel {
    /// A row of the outcome table (its `label`).
    Row(Row),
    /// Nothing to call: the spec was already applied.
    UpToDate,
    /// A retry is scheduled later.
    Waiting,
    /// A terminal error waits for a spec change.
    AwaitingSpecChange,
    /// The watch brought back this process's own status write: nothing to do.
    OwnWrite,
    /// The object was deleted while being re-read.
    Gone,
    /// A CAMS call's outcome could not be written to status yet (retried with backoff,
    /// without a second call).
    StatusNotRecorded,
    /// An outcome written on a later try.
    StatusRecorded,
    /// A Kubernetes API error.
    KubeError,
    /// A Kubernetes API timeout.
    KubeTimeout,
    /// The object had no namespace.
    NoNamespace,
}

impl ReconcileLabel {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Row(row) => row.spec().label,
            Self::UpToDate => "up_to_date",
            Self::Waiting => "waiting",
            Self::AwaitingSpecChange => "awaiting_spec_change",
            Self::OwnWrite => "own_write",
            Self::Gone => "gone",
            Self::StatusNotRecorded => "status_not_recorded",
            Self::StatusRecorded => "status_recorded",
            Self::KubeError => "kube_error",
            Self::KubeTimeout => "kube_timeout",
            Self::NoNamespace => "no_namespace",
        }
    }

    /// Every value, for documentation and tests.
    pub fn all() -> Vec<ReconcileLabel> {
        let mut all: Vec<_> = TABLE.iter().map(|r| Self::Row(r.row)).collect();
        all.extend([
            Self::UpToDate,
            Self::Waiting,
            Self::AwaitingSpecChange,
            Self::OwnWrite,
            Self::Gone,
            Self::StatusNotRecorded,
            Self::StatusRecorded,
            Self::KubeError,
            Self::KubeTimeout,
            Self::NoNamespace,
        ]);
        all
    }
}

impl EncodeLabelValue for ReconcileLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// The result of a status write.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum WriteResult {
    /// The status was written.
    Ok,
    /// The API server refused or failed.
    Error,
    /// No answer in time.
    Timeout,
}

impl EncodeLabelValue for WriteResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let value = match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
        };
        std::fmt::Write::write_str(encoder, value)
    }
}

/// How a ListChatGroup scan of one account ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum ScanResult {
    /// Every page was read.
    Complete,
    /// A page failed (throttled, 5xx, transport): the last data is kept.
    Failed,
    /// ListChatGroup was refused (credentials, permission, settings).
    Refused,
}

impl EncodeLabelValue for ScanResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let value = match self {
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Refused => "refused",
        };
        std::fmt::Write::write_str(encoder, value)
    }
}

/// Labels of the lifecycle counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LifecycleLabels {
    /// create, delete or rotate_invite_link.
    pub action: &'static str,
    /// What happened (create: sent, accepted, uncertain, refused, found; delete: deleted,
    /// orphaned, retry; rotate_invite_link: published, removed).
    pub result: &'static str,
}

/// Labels of the scan counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanLabels {
    /// complete, failed or refused.
    pub outcome: ScanResult,
}

/// Labels of the reconcile counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// How the reconcile ended.
    pub outcome: ReconcileLabel,
}

/// Labels of the CAMS request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The action.
    pub action: String,
    /// The CAMS Code (OK on success), or transport / timeout / undecodable.
    pub code: String,
}

/// Labels of the CAMS duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action.
    pub action: String,
}

/// Labels of the object-state gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Ready or Synced.
    pub condition: String,
    /// True, False or Unknown (no condition yet).
    pub status: String,
}

/// Labels of the status write counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// ok, error or timeout.
    pub result: WriteResult,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Reconciles by outcome.
    pub reconciles: Family<OutcomeLabels, Counter>,
    /// Reconcile duration.
    pub reconcile_duration: Histogram,
    /// CAMS requests by action and code.
    pub cams_requests: Family<RequestLabels, Counter>,
    /// CAMS request duration by action.
    pub cams_request_duration: Family<ActionLabels, Histogram>,
    /// Time spent waiting for the client-side rate limiter.
    pub rate_limiter_wait: Histogram,
    /// Status writes by result.
    pub status_writes: Family<ResultLabels, Counter>,
    /// Status writes repeated after a failed one, instead of a second CAMS call.
    pub status_write_retries: Counter,
    /// ChatGroups by condition and status.
    pub objects: Family<StateLabels, Gauge>,
    /// 1 while this replica holds the Lease (or runs without leader election).
    pub leader: Gauge,
    /// ListChatGroup scans by outcome.
    pub inventory_scans: Family<ScanLabels, Counter>,
    /// ListChatGroup pages read by scans.
    pub inventory_list_calls: Counter,
    /// Accounts with an inventory.
    pub inventories: Gauge,
    /// Groups listed across every inventory.
    pub inventory_rows: Gauge,
    /// Creates, deletes, orphans and invite-link changes.
    pub lifecycle: Family<LifecycleLabels, Counter>,
    ready: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.005, 2.0, 13)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cams_operator");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by outcome", reconciles.clone());
        let reconcile_duration = Histogram::new(latency_buckets());
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            reconcile_duration.clone(),
        );
        let cams_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "cams_requests",
            "CAMS requests sent, by action and CAMS code",
            cams_requests.clone(),
        );
        let cams_request_duration = Family::<ActionLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register(
            "cams_request_duration_seconds",
            "Duration of one CAMS request",
            cams_request_duration.clone(),
        );
        let rate_limiter_wait = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "rate_limiter_wait_seconds",
            "Time a CAMS request waited for the client-side rate limiter",
            rate_limiter_wait.clone(),
        );
        let status_writes = Family::<ResultLabels, Counter>::default();
        registry.register(
            "status_writes",
            "Status writes to the API server, by result",
            status_writes.clone(),
        );
        let status_write_retries = Counter::default();
        registry.register(
            "status_write_retries",
            "Status writes repeated (with the object's backoff) after a write that failed following a CAMS call; the call is not repeated",
            status_write_retries.clone(),
        );
        let objects = Family::<StateLabels, Gauge>::default();
        registry.register(
            "chatgroups",
            "ChatGroups in the cache by Ready/Synced condition status",
            objects.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica is the leader",
            leader.clone(),
        );
        let inventory_scans = Family::<ScanLabels, Counter>::default();
        registry.register(
            "inventory_scans",
            "Complete ListChatGroup scans of one account, by outcome",
            inventory_scans.clone(),
        );
        let inventory_list_calls = Counter::default();
        registry.register(
            "inventory_list_calls",
            "ListChatGroup pages read by inventory scans",
            inventory_list_calls.clone(),
        );
        let inventories = Gauge::default();
        registry.register(
            "inventories",
            "Accounts (endpoint, AccessKeyId, custSpaceId, businessNumber) with an inventory",
            inventories.clone(),
        );
        let inventory_rows = Gauge::default();
        registry.register(
            "inventory_rows",
            "Groups listed by the last complete scans, summed over every inventory",
            inventory_rows.clone(),
        );
        let lifecycle = Family::<LifecycleLabels, Counter>::default();
        registry.register(
            "lifecycle",
            "Group creates, deletes, orphans and invite-link changes, by action and result",
            lifecycle.clone(),
        );
        registry.register_collector(Box::new(crate::task_metrics::TokioTasks));
        Self {
            lifecycle,
            inventory_scans,
            inventory_list_calls,
            inventories,
            inventory_rows,
            registry,
            reconciles,
            reconcile_duration,
            cams_requests,
            cams_request_duration,
            rate_limiter_wait,
            status_writes,
            status_write_retries,
            objects,
            leader,
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts one reconcile.
    pub fn reconciled(&self, outcome: ReconcileLabel, duration: Duration) {
        self.reconciles
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.reconcile_duration.observe(duration.as_secs_f64());
    }

    /// Counts one status write.
    pub fn status_write(&self, result: WriteResult) {
        self.status_writes
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts one repeated status write.
    pub fn status_write_retried(&self) {
        self.status_write_retries.inc();
    }

    /// Sets the object-state gauges from counts.
    pub fn set_objects(&self, counts: &[((&str, &str), i64)]) {
        for ((condition, status), n) in counts {
            self.objects
                .get_or_create(&StateLabels {
                    condition: condition.to_string(),
                    status: status.to_string(),
                })
                .set(*n);
        }
    }

    /// Counts one lifecycle step.
    pub fn lifecycle(&self, action: &'static str, result: &'static str) {
        self.lifecycle
            .get_or_create(&LifecycleLabels { action, result })
            .inc();
    }

    /// Counts one scan.
    pub fn scanned(&self, outcome: ScanResult) {
        self.inventory_scans
            .get_or_create(&ScanLabels { outcome })
            .inc();
    }

    /// Counts one ListChatGroup page read by a scan.
    pub fn list_page_read(&self) {
        self.inventory_list_calls.inc();
    }

    /// Sets the inventory gauges.
    pub fn set_inventories(&self, inventories: usize, rows: usize) {
        self.inventories
            .set(i64::try_from(inventories).unwrap_or(i64::MAX));
        self.inventory_rows
            .set(i64::try_from(rows).unwrap_or(i64::MAX));
    }

    /// Marks readiness (`/readyz`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// Feeds the CAMS client's observations into the metrics.
#[derive(Debug, Clone)]
pub struct CamsObserver(pub Arc<Metrics>);

impl CallObserver for CamsObserver {
    fn on_request(&self, action: &str, code: &str, duration: Duration) {
        self.0
            .cams_requests
            .get_or_create(&RequestLabels {
                action: action.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.0
            .cams_request_duration
            .get_or_create(&ActionLabels {
                action: action.to_string(),
            })
            .observe(duration.as_secs_f64());
    }

    fn on_rate_limited(&self, waited: Duration) {
        self.0.rate_limiter_wait.observe(waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_and_no_per_object_labels() {
        let m = Arc::new(Metrics::default());
        m.reconciled(ReconcileLabel::Row(Row::Accepted), Duration::from_millis(3));
        m.status_write(WriteResult::Ok);
        let observer = CamsObserver(m.clone());
        observer.on_request("UpdateChatGroup", "OK", Duration::from_millis(20));
        observer.on_request("UpdateChatGroup", "OK", Duration::from_millis(20));
        observer.on_rate_limited(Duration::from_millis(1));
        m.set_objects(&[(("Ready", "True"), 5)]);
        m.leader.set(1);
        let text = m.encode();
        for needle in [
            "cams_operator_reconciles_total{outcome=\"accepted\"} 1",
            "cams_operator_cams_requests_total{action=\"UpdateChatGroup\",code=\"OK\"} 2",
            "cams_operator_status_writes_total{result=\"ok\"} 1",
            "cams_operator_chatgroups{condition=\"Ready\",status=\"True\"} 5",
            "cams_operator_leader 1",
            "cams_operator_rate_limiter_wait_seconds_count 1",
            "cams_operator_reconcile_duration_seconds_count 1",
            "cams_operator_cams_request_duration_seconds_count{action=\"UpdateChatGroup\"} 2",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(!text.contains("name=") && !text.contains("namespace="));
    }
}

#[cfg(test)]
mod readme_tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_reconcile_outcome_label() {
        let readme = include_str!("../README.md");
        let line = readme
            .lines()
            .find(|l| l.starts_with("| `cams_operator_reconciles_total`"))
            .expect("README documents cams_operator_reconciles_total");
        let listed: Vec<&str> = line
            .split("`outcome`: ")
            .nth(1)
            .unwrap_or("")
            .trim_end_matches(" |")
            .split(", ")
            .collect();
        let mut code: Vec<&str> = ReconcileLabel::all().iter().map(|l| l.as_str()).collect();
        let mut documented = listed.clone();
        code.sort_unstable();
        documented.sort_unstable();
        assert_eq!(documented, code, "README: {line}");
    }
}
