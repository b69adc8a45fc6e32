//! `measure`: watches the namespace, starts the operator binary (the clock starts at spawn),
//! follows it until the scenario is done and appends one record of figures: the operator's
//! CPU and memory from /proc, its metrics, the simulator's call log (writes, and the
//! inventory scans its ListChatGroup calls make up), the status writes the watch saw, and
//! the API server's and etcd's CPU over the same window. Invariants of observation (pages
//! per scan, scans at most one per `--observe-min-interval`, one correction per drifted
//! group) are checked here; a broken one is said loudly and recorded, and fails `report`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cams_operator::cli::{Cli, Command};
use cams_operator::fixtures::BUSINESS_NUMBER;
use cams_operator::observe::ObserveSettings;
use cams_operator::resource::ChatGroup;
use cams_simulator::{CallEntry, CallQuery, SimulatorClient};
use clap::{Args, Parser};
use k8s_openapi::api::core::v1::Event;
use kube::{Api, Client};

use crate::drift::DriftRun;
use crate::endpoints::{logged_addr, metric, ready, scrape};
use crate::procfs::{clock_ticks, cpu_secs, pid_file, vm_kib};
use crate::record::{append, DriftFigures, ObserveFigures, Record};
use crate::say;
use crate::scans::{self, LIST};
use crate::watch::{self, lock, Shared};

/// How much earlier than `--observe-min-interval` two scan starts may arrive at the
/// simulator: the first page of each is timed on the simulator's clock (millisecond
/// resolution), after the operator's rate limiter and an HTTP request.
pub const SCAN_GAP_TOLERANCE_SECS: f64 = 0.1;

/// The operator's peak RSS bound at 10,000 objects.
pub const RSS_BOUND_MIB: u64 = 64;

#[derive(Args)]
pub struct MeasureArgs {
    /// converge (until all N are Ready and in sync), restart (until ready, every object
    /// looked at and the first scan complete), drift (edit groups out of band after the
    /// first scan, until they are back and every object is Ready), or idle (until ready).
    #[arg(long)]
    mode: String,
    /// A name for the record, e.g. converge-10k.
    #[arg(long)]
    label: String,
    /// Human-readable parameters, printed beside the figures.
    #[arg(long)]
    params: String,
    #[arg(long)]
    namespace: String,
    #[arg(long)]
    count: usize,
    /// The CAMS rate the floor N / QPS is computed from.
    #[arg(long)]
    floor_qps: Option<f64>,
    #[arg(long)]
    sim: String,
    #[arg(long)]
    tenant: String,
    /// The local control plane's folder (its apiserver.pid and etcd.pid are sampled).
    #[arg(long)]
    cluster_dir: PathBuf,
    /// The operator's log.
    #[arg(long)]
    log: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// drift: how many groups to edit out of band.
    #[arg(long, default_value_t = 100)]
    edits: usize,
    /// The operator binary and its arguments.
    #[arg(last = true, required = true)]
    operator: Vec<String>,
}

/// Measures one scenario and appends its record; fails (after appending it) when the
/// operator exited early or the scenario did not finish in time.
pub async fn measure(a: MeasureArgs) -> anyhow::Result<()> {
    let settings = observe_settings(&a.operator)?;
    let client = Client::try_default().await?;
    let api: Api<ChatGroup> = Api::namespaced(client.clone(), &a.namespace);
    // The watch first: its initial list is the state before the operator starts.
    let (seen, watch) = watch::start(api.clone());
    watch::wait_synced(&seen, Duration::from_secs(120)).await?;
    check_loaded(&a, &seen)?;
    let events: Api<Event> = Api::namespaced(client, &a.namespace);
    let mut m = Measurement::new(a, seen, api, events, settings)?;
    m.mark = m.sim.last_seq().await?;
    m.control_plane = ControlPlane::at_start(&m.a.cluster_dir, m.ticks);

    // The clock starts here.
    let mut op = OperatorProcess::spawn(&m.a)?;
    let mut progress = Progress::new(op.started);
    let failure = m.follow(&mut op, &mut progress).await?;
    m.read_figures(&op, &progress).await?;
    op.stop().await;
    watch.abort();
    m.finish(failure)
}

/// The operator's observation settings, parsed from its command line by its own parser
/// (its defaults, and its `CAMS_OPERATOR_*` variables, apply as they do for it). A wrapper
/// in front of the binary (`CAMS_BENCH_WRAP`, a profiler) is skipped.
fn observe_settings(operator: &[String]) -> anyhow::Result<ObserveSettings> {
    let binary = operator
        .iter()
        .position(|arg| arg.ends_with("cams-operator"))
        .unwrap_or(0);
    let cli =
        Cli::try_parse_from(&operator[binary..]).context("parsing the operator's command line")?;
    match cli.command {
        Command::Run(run) => Ok(run.observe_settings()),
        _ => bail!("the operator command line is not `cams-operator run`"),
    }
}

/// Says what the watch found before the start; fails unless it is the expected count.
fn check_loaded(a: &MeasureArgs, seen: &Shared) -> anyhow::Result<()> {
    let s = lock(seen);
    say(format!(
        "{}: {} ChatGroups in {} ({} Ready); starting the operator",
        a.label,
        s.version.len(),
        a.namespace,
        s.ready_count()
    ));
    if s.version.len() != a.count {
        bail!("expected {} ChatGroups, found {}", a.count, s.version.len());
    }
    Ok(())
}

/// The operator binary as a child process, and when it was started.
struct OperatorProcess {
    child: tokio::process::Child,
    pid: u32,
    started: Instant,
}

/// SIGTERM to `pid`, without waiting.
fn sigterm(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

impl OperatorProcess {
    /// Starts the operator command line of `a`, its stderr into `a.log`, without the
    /// operator's own credentials in its environment.
    fn spawn(a: &MeasureArgs) -> anyhow::Result<OperatorProcess> {
        let Some((bin, args)) = a.operator.split_first() else {
            bail!("no operator command line");
        };
        let log = std::fs::File::create(&a.log)?;
        let started = Instant::now();
        let child = tokio::process::Command::new(bin)
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let pid = child.id().context("operator pid")?;
        Self::stop_on_signal(pid);
        Ok(OperatorProcess {
            child,
            pid,
            started,
        })
    }

    /// Interrupted (Ctrl-C, or run.sh stopping): take the operator down too.
    fn stop_on_signal(pid: u32) {
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            sigterm(pid);
            std::process::exit(130);
        });
    }

    /// SIGTERM, then SIGKILL if it has not exited within 30 s.
    async fn stop(&mut self) {
        sigterm(self.pid);
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The API server's and etcd's processes: CPU at the start and when the scenario is done.
#[derive(Default)]
struct ControlPlane {
    apiserver: Option<u32>,
    etcd: Option<u32>,
    api_cpu0: Option<f64>,
    etcd_cpu0: Option<f64>,
    api_cpu_at_done: Option<f64>,
    etcd_cpu_at_done: Option<f64>,
    /// Seconds from the operator's start to done.
    window: Option<f64>,
}

impl ControlPlane {
    fn at_start(cluster_dir: &std::path::Path, ticks: f64) -> ControlPlane {
        let apiserver = pid_file(cluster_dir, "apiserver");
        let etcd = pid_file(cluster_dir, "etcd");
        ControlPlane {
            apiserver,
            etcd,
            api_cpu0: apiserver.and_then(|p| cpu_secs(p, ticks)),
            etcd_cpu0: etcd.and_then(|p| cpu_secs(p, ticks)),
            ..ControlPlane::default()
        }
    }

    fn at_done(&mut self, ticks: f64, window: f64) {
        self.api_cpu_at_done = self.apiserver.and_then(|p| cpu_secs(p, ticks));
        self.etcd_cpu_at_done = self.etcd.and_then(|p| cpu_secs(p, ticks));
        self.window = Some(window);
    }

    /// The API server's and etcd's figures of the window, and their memory now.
    fn fill(&self, record: &mut Record) {
        if let (Some(p), Some(c0), Some(c1)) = (self.apiserver, self.api_cpu0, self.api_cpu_at_done)
        {
            record.apiserver_cpu_secs = Some(c1 - c0);
            record.apiserver_window_secs = self.window;
            record.apiserver_rss_kib = vm_kib(p, "VmRSS");
            record.apiserver_hwm_kib = vm_kib(p, "VmHWM");
        }
        if let (Some(p), Some(c0), Some(c1)) = (self.etcd, self.etcd_cpu0, self.etcd_cpu_at_done) {
            record.etcd_cpu_secs = Some(c1 - c0);
            record.etcd_rss_kib = vm_kib(p, "VmRSS");
        }
    }
}

/// Where the loop that follows the operator is.
struct Progress {
    metrics_addr: Option<String>,
    health_addr: Option<String>,
    /// The simulator's last call sequence number when /readyz first answered.
    ready_mark: u64,
    last_progress: Instant,
    last_poll: Instant,
    /// When the scenario was done (the settling starts).
    settle_from: Option<Instant>,
    last_reconciles: f64,
    reconciles_changed: Instant,
    /// Complete scans and ListChatGroup pages (the operator's metrics), and when the latter
    /// last changed (a scan under way reads a page at least every second).
    complete_scans: f64,
    list_calls: f64,
    list_changed: Instant,
    /// Seconds from the start until the metrics first showed a complete scan.
    first_scan_secs: Option<f64>,
}

impl Progress {
    fn new(started: Instant) -> Progress {
        Progress {
            metrics_addr: None,
            health_addr: None,
            ready_mark: u64::MAX,
            last_progress: started,
            last_poll: started,
            settle_from: None,
            last_reconciles: -1.0,
            reconciles_changed: started,
            complete_scans: 0.0,
            list_calls: 0.0,
            list_changed: started,
            first_scan_secs: None,
        }
    }

    /// Whether two seconds passed since the last progress line (then a new one is due).
    fn progress_due(&mut self, now: Instant) -> bool {
        let due = now.duration_since(self.last_progress) >= Duration::from_secs(2);
        if due {
            self.last_progress = now;
        }
        due
    }
}

/// One scenario being measured.
struct Measurement {
    a: MeasureArgs,
    ticks: f64,
    http: reqwest::Client,
    sim: SimulatorClient,
    api: Api<ChatGroup>,
    events: Api<Event>,
    settings: ObserveSettings,
    /// The drift scenario's steps (mode drift).
    drift: Option<DriftRun>,
    seen: Shared,
    /// The simulator's last call sequence number before the operator started.
    mark: u64,
    control_plane: ControlPlane,
    record: Record,
}

impl Measurement {
    fn new(
        a: MeasureArgs,
        seen: Shared,
        api: Api<ChatGroup>,
        events: Api<Event>,
        settings: ObserveSettings,
    ) -> anyhow::Result<Measurement> {
        let record = Record {
            label: a.label.clone(),
            mode: a.mode.clone(),
            namespace: a.namespace.clone(),
            n: a.count,
            params: a.params.clone(),
            floor_qps: a.floor_qps,
            ..Default::default()
        };
        Ok(Measurement {
            ticks: clock_ticks(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            sim: SimulatorClient::new(&a.sim)?,
            api,
            events,
            drift: (a.mode == "drift")
                .then(|| DriftRun::new(&a.label, a.edits, a.count, settings.settle)),
            settings,
            seen,
            mark: 0,
            control_plane: ControlPlane::default(),
            record,
            a,
        })
    }

    /// Follows the operator until the scenario is done and settled; why it failed, if it did.
    async fn follow(
        &mut self,
        op: &mut OperatorProcess,
        p: &mut Progress,
    ) -> anyhow::Result<Option<String>> {
        let deadline = op.started + Duration::from_secs(self.a.timeout);
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = Instant::now();
            if let Ok(Some(status)) = op.child.try_wait() {
                return Ok(Some(format!("the operator exited early ({status})")));
            }
            if now > deadline {
                return Ok(Some(format!("not done after {} s", self.a.timeout)));
            }
            if self.record.readyz_secs.is_none() {
                self.until_readyz(op, p, now).await?;
            } else if self.after_readyz(op, p, now).await? {
                return Ok(None);
            }
        }
    }

    /// Before /readyz answers: finds the logged addresses, then probes /readyz.
    async fn until_readyz(
        &mut self,
        op: &OperatorProcess,
        p: &mut Progress,
        now: Instant,
    ) -> anyhow::Result<()> {
        if p.progress_due(now) {
            say(format!(
                "{}: {:.0}s  waiting for the operator's /readyz (caches syncing)  CPU {:.1}s RSS {} MiB",
                self.a.label,
                op.started.elapsed().as_secs_f64(),
                cpu_secs(op.pid, self.ticks).unwrap_or_default(),
                vm_kib(op.pid, "VmRSS").unwrap_or_default() / 1024,
            ));
        }
        if p.metrics_addr.is_none() {
            p.metrics_addr = logged_addr(&self.a.log, "metrics");
            p.health_addr = logged_addr(&self.a.log, "health");
            return Ok(());
        }
        if ready(&self.http, p.health_addr.as_deref().unwrap_or_default()).await {
            let secs = op.started.elapsed().as_secs_f64();
            self.record.readyz_secs = Some(secs);
            p.ready_mark = self.sim.last_seq().await?;
            say(format!("{}: /readyz 200 after {secs:.2}s", self.a.label));
        }
        Ok(())
    }

    /// After /readyz answered: polls the operator's counters, takes the drift scenario's
    /// steps, says how far it is, notes when the scenario is done; whether it is done and
    /// has settled.
    async fn after_readyz(
        &mut self,
        op: &OperatorProcess,
        p: &mut Progress,
        now: Instant,
    ) -> anyhow::Result<bool> {
        self.poll_metrics(op, p, now).await;
        if let Some(drift) = self.drift.as_mut() {
            drift
                .step(&self.api, &self.sim, op.started, p.complete_scans)
                .await?;
        }
        let (ready, accepted, writes) = {
            let s = lock(&self.seen);
            (s.ready_count(), s.accepted_count(), s.total_writes)
        };
        if self.a.mode == "converge"
            && self.record.accepted_secs.is_none()
            && accepted == self.a.count
        {
            let secs = op.started.elapsed().as_secs_f64();
            self.record.accepted_secs = Some(secs);
            say(format!(
                "{}: CAMS accepted all {} after {secs:.2}s (Synced ReconcileSuccess); waiting for the scans to show them (Ready, InSync)",
                self.a.label, self.a.count,
            ));
        }
        if p.progress_due(now) {
            self.say_progress(op, p, ready, accepted, writes);
        }
        let Some(settle_from) = p.settle_from else {
            if self.done(ready, p) {
                self.mark_done(op, p, now);
            }
            return Ok(false);
        };
        // Settled: no status write, no reconcile and no scan page for 3 s (at least 3 s
        // after done).
        let quiet_since = lock(&self.seen)
            .last_change
            .unwrap_or(op.started)
            .max(p.reconciles_changed)
            .max(p.list_changed)
            .max(settle_from);
        Ok(now.duration_since(quiet_since) >= Duration::from_secs(3))
    }

    /// One progress line.
    fn say_progress(
        &self,
        op: &OperatorProcess,
        p: &Progress,
        ready: usize,
        accepted: usize,
        writes: u64,
    ) {
        let n = self.a.count;
        let accepted = if self.a.mode == "converge" {
            format!("accepted {accepted}/{n}  ")
        } else {
            String::new()
        };
        let scans = if self.settings.interval.is_some() {
            format!("  scans {} (list calls {})", p.complete_scans, p.list_calls)
        } else {
            String::new()
        };
        let drift = self
            .drift
            .as_ref()
            .map(|d| format!("  [{}]", d.describe()))
            .unwrap_or_default();
        say(format!(
            "{}: {:.0}s  {accepted}Ready {ready}/{n}  status writes {writes}  reconciles {}{scans}  operator CPU {:.1}s RSS {} MiB{drift}",
            self.a.label,
            op.started.elapsed().as_secs_f64(),
            p.last_reconciles,
            cpu_secs(op.pid, self.ticks).unwrap_or_default(),
            vm_kib(op.pid, "VmRSS").unwrap_or_default() / 1024,
        ));
    }

    /// The operator's counters, polled twice a second: reconciles, complete scans and
    /// scan pages; notes when they last changed.
    async fn poll_metrics(&self, op: &OperatorProcess, p: &mut Progress, now: Instant) {
        if now.duration_since(p.last_poll) < Duration::from_millis(500) {
            return;
        }
        p.last_poll = now;
        let addr = p.metrics_addr.as_deref().unwrap_or_default();
        let Some(text) = scrape(&self.http, addr).await else {
            return;
        };
        let reconciles = metric(&text, "cams_operator_reconciles_total", "outcome").0;
        if reconciles != p.last_reconciles {
            p.last_reconciles = reconciles;
            p.reconciles_changed = now;
        }
        let (_, scans) = metric(&text, "cams_operator_inventory_scans_total", "outcome");
        p.complete_scans = scans.get("complete").copied().unwrap_or(0.0);
        if p.complete_scans >= 1.0 && p.first_scan_secs.is_none() {
            p.first_scan_secs = Some(op.started.elapsed().as_secs_f64());
        }
        let list_calls = metric(&text, "cams_operator_inventory_list_calls_total", "").0;
        if list_calls != p.list_calls {
            p.list_calls = list_calls;
            p.list_changed = now;
        }
    }

    /// Whether the scenario's goal is reached: all Ready and in sync (converge); every
    /// object reconciled and the first scan complete (restart); the edited groups back and
    /// all Ready (drift); or at once (idle).
    fn done(&self, ready: usize, p: &Progress) -> bool {
        let scanned = self.settings.interval.is_none() || p.complete_scans >= 1.0;
        match self.a.mode.as_str() {
            "converge" => ready == self.a.count,
            "restart" => p.last_reconciles >= self.a.count as f64 && scanned,
            "drift" => {
                self.drift.as_ref().is_some_and(DriftRun::is_restored) && ready == self.a.count
            }
            _ => true,
        }
    }

    /// Records the time and CPU at done; the settling starts.
    fn mark_done(&mut self, op: &OperatorProcess, p: &mut Progress, now: Instant) {
        if self.a.mode == "converge" {
            let secs = op.started.elapsed().as_secs_f64();
            self.record.ready_secs = Some(secs);
            say(format!(
                "{}: all {} Ready (in sync) after {secs:.2}s; letting it settle",
                self.a.label, self.a.count,
            ));
        }
        self.record.op_cpu_at_ready_secs = cpu_secs(op.pid, self.ticks);
        self.control_plane
            .at_done(self.ticks, op.started.elapsed().as_secs_f64());
        p.settle_from = Some(now);
    }

    /// The figures, read before the operator stops.
    async fn read_figures(&mut self, op: &OperatorProcess, p: &Progress) -> anyhow::Result<()> {
        let r = &mut self.record;
        r.window_secs = Some(op.started.elapsed().as_secs_f64());
        r.op_cpu_secs = cpu_secs(op.pid, self.ticks);
        r.vm_hwm_kib = vm_kib(op.pid, "VmHWM");
        r.vm_rss_kib = vm_kib(op.pid, "VmRSS");
        let text = match &p.metrics_addr {
            Some(addr) => scrape(&self.http, addr).await,
            None => None,
        };
        if let Some(text) = &text {
            read_metrics(r, text);
            // Kept beside the operator's log for a closer look at a scenario.
            let _ = std::fs::write(self.a.log.with_extension("metrics"), text);
        }
        let calls = self
            .sim
            .calls(
                &CallQuery::tenant(&self.a.tenant)
                    .since(self.mark)
                    .limit(10_000),
            )
            .await?;
        self.read_calls(&calls, p.ready_mark);
        if self.settings.interval.is_some() && self.a.count > 0 {
            let observe = self.observe_figures(&calls, text.as_deref(), p).await?;
            self.record.observe = Some(observe);
        }
        if let Some(drift) = &self.drift {
            self.record.drift = Some(
                drift_figures(drift, &calls, &self.settings, &self.record, &self.events).await,
            );
        }
        let s = lock(&self.seen);
        self.record.writes_watch = Some(s.total_writes);
        self.record.writes_per_object = s.writes_histogram();
        drop(s);
        self.control_plane.fill(&mut self.record);
        self.record.violations = violations(&self.record);
        Ok(())
    }

    /// The tenant's calls since the operator started: `UpdateChatGroup` (all, not OK, before
    /// /readyz answered, i.e. sequence number at most `ready_mark`), every action, writes
    /// (every action but ListChatGroup) and throttled calls.
    fn read_calls(&mut self, calls: &[CallEntry], ready_mark: u64) {
        let r = &mut self.record;
        let updates: Vec<&CallEntry> = calls
            .iter()
            .filter(|c| c.action.as_deref() == Some("UpdateChatGroup"))
            .collect();
        r.calls = Some(updates.len() as u64);
        r.calls_not_ok = Some(updates.iter().filter(|c| c.code != "OK").count() as u64);
        r.calls_before_ready = Some(updates.iter().filter(|c| c.seq <= ready_mark).count() as u64);
        r.calls_by_action = scans::by_action(calls);
        r.write_calls = Some(
            calls
                .iter()
                .filter(|c| c.action.as_deref() != Some(LIST))
                .count() as u64,
        );
        r.throttled_calls = Some(
            calls
                .iter()
                .filter(|c| c.code.starts_with("Throttling"))
                .count() as u64,
        );
    }

    /// The scans in the simulator's log and the operator's inventory metrics.
    async fn observe_figures(
        &self,
        calls: &[CallEntry],
        metrics: Option<&str>,
        p: &Progress,
    ) -> anyhow::Result<ObserveFigures> {
        let s = &self.settings;
        let groups = self
            .sim
            .groups(Some(&self.a.tenant))
            .await?
            .iter()
            .filter(|g| g.business_number == BUSINESS_NUMBER)
            .count();
        let page_size = s.page_size.max(1);
        let lists: Vec<&CallEntry> = calls
            .iter()
            .filter(|c| c.action.as_deref() == Some(LIST))
            .collect();
        let scans = scans::scans(calls);
        let text = metrics.unwrap_or_default();
        Ok(ObserveFigures {
            interval_secs: s.interval.unwrap_or_default().as_secs_f64(),
            min_interval_secs: s.min_interval.as_secs_f64(),
            settle_secs: s.settle.as_secs_f64(),
            page_size,
            groups,
            expected_pages: (groups as u64).div_ceil(u64::from(page_size)).max(1),
            list_calls: lists.len() as u64,
            list_calls_not_ok: lists.iter().filter(|c| c.code != "OK").count() as u64,
            accounts: scans.len(),
            scan_starts: scans::starts(&scans),
            min_scan_gap_secs: scans::min_gap(&scans),
            max_scan_secs: scans::max_duration(&scans),
            first_scan_secs: p.first_scan_secs,
            scans_by_outcome: metric(text, "cams_operator_inventory_scans_total", "outcome").1,
            list_calls_metric: metric(text, "cams_operator_inventory_list_calls_total", "").0,
            inventories: metric(text, "cams_operator_inventories", "").0,
            inventory_rows: metric(text, "cams_operator_inventory_rows", "").0,
        })
    }

    /// Appends the record, says the summary; on failure shows the log's tail and fails.
    fn finish(mut self, failure: Option<String>) -> anyhow::Result<()> {
        let (a, record) = (&self.a, &mut self.record);
        record.ok = failure.is_none();
        append(&a.out, record)?;
        say(format!(
            "{}: done in {:.1}s: CPU {:.2}s over {} reconciles, UpdateChatGroup calls {}, other writes {}, status writes {} (watch), peak RSS {:.1} MiB (bound {RSS_BOUND_MIB} MiB at 10,000 objects)",
            a.label,
            record.window_secs.unwrap_or_default(),
            record.op_cpu_secs.unwrap_or_default(),
            record.reconciles.unwrap_or_default(),
            record.calls.unwrap_or_default(),
            record.write_calls.unwrap_or_default() - record.calls.unwrap_or_default(),
            record.writes_watch.unwrap_or_default(),
            record.vm_hwm_kib.unwrap_or_default() as f64 / 1024.0
        ));
        if let Some(o) = &record.observe {
            say(format!(
                "{}: scans: {} started, {} complete ({} failed, {} refused), {} ListChatGroup calls = {} per complete scan (expected ceil({} / {}) = {}); smallest gap between two scan starts of one account {} (min interval {:.0}s); longest scan {}",
                a.label,
                o.scan_starts,
                o.complete_scans(),
                o.scans_by_outcome.get("failed").copied().unwrap_or(0.0),
                o.scans_by_outcome.get("refused").copied().unwrap_or(0.0),
                o.list_calls,
                o.pages_per_scan().map_or("n/a".into(), |x| format!("{x:.2}")),
                o.groups,
                o.page_size,
                o.expected_pages,
                o.min_scan_gap_secs.map_or("n/a (one scan)".into(), |g| format!("{g:.2}s")),
                o.min_interval_secs,
                o.max_scan_secs.map_or("n/a".into(), |d| format!("{d:.2}s")),
            ));
        }
        if let Some(d) = &record.drift {
            say(format!(
                "{}: {} groups edited, back after {} (bound {:.1}s = interval x 1.1 + min interval + 2 x longest scan: seen by the next periodic scan, confirmed by a forced second one); UpdateChatGroup calls {} for {} edited groups; DriftCorrected events {}",
                a.label,
                d.edited,
                d.restored_secs.map_or("n/a".into(), |s| format!("{s:.1}s")),
                d.bound_secs,
                d.update_calls,
                d.groups_corrected,
                d.drift_corrected_events.map_or("n/a".into(), |n| n.to_string()),
            ));
        }
        for v in &record.violations {
            eprintln!("    !!!!!! {}: INVARIANT BROKEN: {v}", a.label);
        }
        if let Some(why) = failure {
            let text = std::fs::read_to_string(&a.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            for line in tail.into_iter().rev() {
                eprintln!("    | {line}");
            }
            bail!("{}: {why} (operator log: {})", a.label, a.log.display());
        }
        Ok(())
    }
}

/// The operator's counters: reconciles (by outcome), CAMS requests, status writes.
fn read_metrics(r: &mut Record, text: &str) {
    let (total, by) = metric(text, "cams_operator_reconciles_total", "outcome");
    r.reconciles = Some(total);
    r.reconciles_by_outcome = by;
    let (_, by_action) = metric(text, "cams_operator_cams_requests_total", "action");
    r.cams_requests_metric = Some(by_action.get("UpdateChatGroup").copied().unwrap_or(0.0));
    let (_, by_result) = metric(text, "cams_operator_status_writes_total", "result");
    r.status_writes_metric = Some(by_result.get("ok").copied().unwrap_or(0.0));
}

/// The drift scenario's figures: the restore time and its bound, the corrections in the
/// simulator's log, the events.
async fn drift_figures(
    drift: &DriftRun,
    calls: &[CallEntry],
    settings: &ObserveSettings,
    record: &Record,
    events: &Api<Event>,
) -> DriftFigures {
    let edited: std::collections::HashSet<&str> = drift.group_ids().collect();
    let updates: Vec<&CallEntry> = calls
        .iter()
        .filter(|c| c.action.as_deref() == Some("UpdateChatGroup"))
        .collect();
    let corrected: std::collections::HashSet<&str> = updates
        .iter()
        .filter_map(|c| c.params.get("GroupId").map(String::as_str))
        .filter(|id| edited.contains(id))
        .collect();
    let longest = record
        .observe
        .as_ref()
        .and_then(|o| o.max_scan_secs)
        .unwrap_or_default();
    let interval = settings.interval.unwrap_or_default().as_secs_f64();
    DriftFigures {
        edited: drift.edits(),
        first_scan_secs: drift.first_scan_secs.unwrap_or_default(),
        restored_secs: drift.restored_secs,
        restored: drift.restored(),
        bound_secs: interval * 1.1 + settings.min_interval.as_secs_f64() + 2.0 * longest,
        update_calls: updates.len() as u64,
        groups_corrected: corrected.len(),
        drift_corrected_events: drift.corrected_events(events).await,
    }
}

/// The invariants `record` breaks: ListChatGroup calls per complete scan other than
/// ceil(groups / page size); two scan starts closer than the minimum interval; a drift
/// scenario without exactly one UpdateChatGroup per edited group.
pub fn violations(record: &Record) -> Vec<String> {
    let mut broken = Vec::new();
    if let Some(o) = &record.observe {
        let failed = |outcome: &str| o.scans_by_outcome.get(outcome).copied().unwrap_or(0.0);
        match o.pages_per_scan() {
            None => broken.push("no complete ListChatGroup scan during the run".to_string()),
            Some(per) if per != o.expected_pages as f64 => broken.push(format!(
                "ListChatGroup calls per complete scan = {per:.3} ({} calls in the simulator's log / {} complete scans; {} failed, {} refused; {} calls throttled), expected ceil({} / {}) = {}",
                o.list_calls,
                o.complete_scans(),
                failed("failed"),
                failed("refused"),
                record.throttled_calls.unwrap_or_default(),
                o.groups,
                o.page_size,
                o.expected_pages
            )),
            Some(_) => {}
        }
        if let Some(gap) = o.min_scan_gap_secs {
            if gap < o.min_interval_secs - SCAN_GAP_TOLERANCE_SECS {
                broken.push(format!(
                    "two scans of one account started {gap:.2}s apart, closer than --observe-min-interval {:.0}s",
                    o.min_interval_secs
                ));
            }
        }
    }
    if let Some(d) = &record.drift {
        if d.update_calls != d.edited as u64 || d.groups_corrected != d.edited {
            broken.push(format!(
                "{} UpdateChatGroup calls for {} of the {} edited groups; expected exactly one per edited group",
                d.update_calls, d.groups_corrected, d.edited
            ));
        }
    }
    broken
}
