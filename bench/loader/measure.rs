//! `measure`: watches the namespace, starts the operator binary (the clock starts at spawn),
//! follows it until the scenario is done and appends one record of figures: the operator's
//! CPU and memory from /proc, its metrics, the simulator's call log, the status writes the
//! watch saw, and the API server's and etcd's CPU over the same window.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cams_operator::resource::ChatGroup;
use cams_simulator::{CallQuery, SimulatorClient};
use clap::Args;
use kube::{Api, Client};

use crate::endpoints::{logged_addr, metric, ready, scrape};
use crate::procfs::{clock_ticks, cpu_secs, pid_file, vm_kib};
use crate::record::{append, Record};
use crate::say;
use crate::watch::{self, lock, Shared};

#[derive(Args)]
pub struct MeasureArgs {
    /// converge (until all N are Ready), restart (until ready and every object looked at),
    /// or idle (until ready).
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
    /// The operator binary and its arguments.
    #[arg(last = true, required = true)]
    operator: Vec<String>,
}

/// Measures one scenario and appends its record; fails (after appending it) when the
/// operator exited early or the scenario did not finish in time.
pub async fn measure(a: MeasureArgs) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let api: Api<ChatGroup> = Api::namespaced(client, &a.namespace);
    // The watch first: its initial list is the state before the operator starts.
    let (seen, watch) = watch::start(api);
    watch::wait_synced(&seen, Duration::from_secs(120)).await?;
    check_loaded(&a, &seen)?;
    let mut m = Measurement::new(a, seen)?;
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
    seen: Shared,
    /// The simulator's last call sequence number before the operator started.
    mark: u64,
    control_plane: ControlPlane,
    record: Record,
}

impl Measurement {
    fn new(a: MeasureArgs, seen: Shared) -> anyhow::Result<Measurement> {
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
            } else if self.after_readyz(op, p, now).await {
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

    /// After /readyz answered: polls the reconcile counter, says how far it is, notes when
    /// the scenario is done; whether it is done and has settled.
    async fn after_readyz(&mut self, op: &OperatorProcess, p: &mut Progress, now: Instant) -> bool {
        let (ready, writes) = {
            let s = lock(&self.seen);
            (s.ready_count(), s.total_writes)
        };
        self.poll_reconciles(p, now).await;
        if p.progress_due(now) {
            say(format!(
                "{}: {:.0}s  Ready {ready}/{}  status writes {writes}  reconciles {}  operator CPU {:.1}s RSS {} MiB",
                self.a.label,
                op.started.elapsed().as_secs_f64(),
                self.a.count,
                p.last_reconciles,
                cpu_secs(op.pid, self.ticks).unwrap_or_default(),
                vm_kib(op.pid, "VmRSS").unwrap_or_default() / 1024,
            ));
        }
        let Some(settle_from) = p.settle_from else {
            if self.done(ready, p.last_reconciles) {
                self.mark_done(op, p, now);
            }
            return false;
        };
        // Settled: no status write and no reconcile for 3 s (at least 3 s after done).
        let quiet_since = lock(&self.seen)
            .last_change
            .unwrap_or(op.started)
            .max(p.reconciles_changed)
            .max(settle_from);
        now.duration_since(quiet_since) >= Duration::from_secs(3)
    }

    /// The reconcile counter, polled twice a second; notes when it last changed.
    async fn poll_reconciles(&self, p: &mut Progress, now: Instant) {
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
    }

    /// Whether the scenario's goal is reached: all Ready (converge), every object
    /// reconciled (restart), or at once (idle).
    fn done(&self, ready: usize, reconciles: f64) -> bool {
        match self.a.mode.as_str() {
            "converge" => ready == self.a.count,
            "restart" => reconciles >= self.a.count as f64,
            _ => true,
        }
    }

    /// Records the time and CPU at done; the settling starts.
    fn mark_done(&mut self, op: &OperatorProcess, p: &mut Progress, now: Instant) {
        if self.a.mode == "converge" {
            let secs = op.started.elapsed().as_secs_f64();
            self.record.ready_secs = Some(secs);
            say(format!(
                "{}: all {} Ready after {secs:.2}s; letting it settle",
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
        if let Some(addr) = &p.metrics_addr {
            if let Some(text) = scrape(&self.http, addr).await {
                read_metrics(r, &text);
            }
        }
        self.read_calls(p.ready_mark).await?;
        let s = lock(&self.seen);
        self.record.writes_watch = Some(s.total_writes);
        let expected = if self.a.mode == "converge" { 1 } else { 0 };
        self.record.objects_not_one_write = Some(s.objects_not_written(expected));
        drop(s);
        self.control_plane.fill(&mut self.record);
        Ok(())
    }

    /// `UpdateChatGroup` calls of the tenant since the operator started: all, not OK, and
    /// before /readyz answered (sequence number at most `ready_mark`).
    async fn read_calls(&mut self, ready_mark: u64) -> anyhow::Result<()> {
        let query = CallQuery::tenant(&self.a.tenant)
            .action("UpdateChatGroup")
            .since(self.mark)
            .limit(10_000);
        let calls = self.sim.calls(&query).await?;
        self.record.calls = Some(calls.len() as u64);
        self.record.calls_not_ok = Some(calls.iter().filter(|c| c.code != "OK").count() as u64);
        self.record.calls_before_ready =
            Some(calls.iter().filter(|c| c.seq <= ready_mark).count() as u64);
        Ok(())
    }

    /// Appends the record, says the summary; on failure shows the log's tail and fails.
    fn finish(mut self, failure: Option<String>) -> anyhow::Result<()> {
        let (a, record) = (&self.a, &mut self.record);
        record.ok = failure.is_none();
        append(&a.out, record)?;
        say(format!(
            "{}: done in {:.1}s: CPU {:.2}s over {} reconciles, calls {}, status writes {} (watch), peak RSS {} MiB",
            a.label,
            record.window_secs.unwrap_or_default(),
            record.op_cpu_secs.unwrap_or_default(),
            record.reconciles.unwrap_or_default(),
            record.calls.unwrap_or_default(),
            record.writes_watch.unwrap_or_default(),
            record.vm_hwm_kib.unwrap_or_default() / 1024
        ));
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
