//! `make bench`'s load generator and measuring harness (built as the cargo example
//! `bench-loader`; `bench/run.sh` drives it). Subcommands:
//!
//! - `load`: creates N ChatGroups (and their credentials Secret) concurrently through the API,
//!   with the operator stopped, as `kubectl apply` would (with its last-applied annotation).
//! - `seed`: adds the groups to the CAMS simulator and sets the tenant's latency and bucket.
//! - `measure`: watches the namespace, starts the operator binary (the clock starts at
//!   spawn), follows it until the scenario is done and appends one JSON record of figures.
//! - `report`: turns the records and the criterion figures into one Markdown table.
//!
//! Every step prints progress to stderr at least every two seconds.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cams_operator::resource::ChatGroup;
use cams_simulator::{CallQuery, FaultConfig, GroupSeed, QpsLimit, SimulatorClient};
use clap::{Args, Parser, Subcommand};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::PostParams;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The business number every bench group belongs to.
const BUSINESS_NUMBER: &str = "8613800001234";
/// The credentials Secret every bench ChatGroup references.
const SECRET_NAME: &str = "cams-credentials";

#[derive(Parser)]
#[command(
    name = "bench-loader",
    about = "make bench: load generator and harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create N ChatGroups concurrently (operator stopped).
    Load(LoadArgs),
    /// Add the groups to the simulator and set the tenant's faults.
    Seed(SeedArgs),
    /// Run the operator and measure one scenario.
    Measure(MeasureArgs),
    /// Print the table (and write the results file and the README section).
    Report(ReportArgs),
}

#[derive(Args)]
struct LoadArgs {
    #[arg(long)]
    namespace: String,
    #[arg(long)]
    count: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The CAMS tenant (CustSpaceId) of the groups.
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    access_key_id: String,
    #[arg(long)]
    access_key_secret: String,
    /// Append a JSON record here.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct SeedArgs {
    #[arg(long)]
    sim: String,
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    count: usize,
    /// Latency added to every call of the tenant.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The tenant's token bucket rate (none: unlimited).
    #[arg(long)]
    bucket_rate: Option<f64>,
    /// The tenant's token bucket size.
    #[arg(long)]
    bucket_burst: Option<u32>,
}

#[derive(Args)]
struct MeasureArgs {
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

#[derive(Args)]
struct ReportArgs {
    /// The JSON records of this run.
    #[arg(long)]
    results: PathBuf,
    /// Criterion's output folder.
    #[arg(long)]
    criterion: PathBuf,
    /// Write the Markdown results file here.
    #[arg(long)]
    markdown: PathBuf,
    /// Replace the table between the bench markers in this README.
    #[arg(long)]
    readme: Option<PathBuf>,
    /// Seconds `make bench` took so far.
    #[arg(long)]
    wall_secs: Option<u64>,
    /// The command that reproduces it.
    #[arg(long, default_value = "make bench")]
    command: String,
}

/// One scenario's figures (one JSON line in the results file).
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
struct Record {
    label: String,
    mode: String,
    namespace: String,
    n: usize,
    params: String,
    ok: bool,
    // load
    load_secs: Option<f64>,
    // measure
    floor_qps: Option<f64>,
    ready_secs: Option<f64>,
    readyz_secs: Option<f64>,
    op_cpu_secs: Option<f64>,
    op_cpu_at_ready_secs: Option<f64>,
    reconciles: Option<f64>,
    reconciles_by_outcome: BTreeMap<String, f64>,
    calls: Option<u64>,
    calls_not_ok: Option<u64>,
    calls_before_ready: Option<u64>,
    cams_requests_metric: Option<f64>,
    writes_watch: Option<u64>,
    objects_not_one_write: Option<u64>,
    status_writes_metric: Option<f64>,
    window_secs: Option<f64>,
    vm_hwm_kib: Option<u64>,
    vm_rss_kib: Option<u64>,
    // the API server and etcd during the measured window
    apiserver_cpu_secs: Option<f64>,
    apiserver_window_secs: Option<f64>,
    apiserver_rss_kib: Option<u64>,
    apiserver_hwm_kib: Option<u64>,
    etcd_cpu_secs: Option<f64>,
    etcd_rss_kib: Option<u64>,
}

/// Operator CPU per object in the unthrottled 10,000-object converge as round 1 measured it
/// (bench/results/2026-11-29.md), the baseline of issue 9's target (at most 0.55 × this).
const ROUND1_MS_PER_OBJECT: f64 = 0.794;

fn say(msg: impl AsRef<str>) {
    eprintln!("    {}", msg.as_ref());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(a) => load(a).await,
        Command::Seed(a) => seed(a).await,
        Command::Measure(a) => measure(a).await,
        Command::Report(a) => report(a),
    }
}

fn append(out: &Path, record: &Record) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("opening {}", out.display()))?;
    writeln!(f, "{}", serde_json::to_string(record)?)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// load

fn chatgroup(i: usize, tenant: &str) -> anyhow::Result<ChatGroup> {
    let spec = json!({
        "businessNumber": BUSINESS_NUMBER,
        "custSpaceId": tenant,
        "groupId": format!("BENCH{i:06}"),
        "subject": format!("Bench group {i:06}"),
        "description": format!("Group {i} of the make bench load test; its subject, description and picture are managed by cams-operator."),
        "profilePictureUrl": format!("https://cdn.example.com/groups/bench-{i:06}.jpg"),
        "credentialsSecretRef": {"name": SECRET_NAME},
    });
    let name = format!("g-{i:06}");
    // What `kubectl apply` (client-side) leaves on the object: the caches must not keep it.
    let applied = json!({
        "apiVersion": "cams.dev/v1alpha1",
        "kind": "ChatGroup",
        "metadata": {"annotations": {}, "labels": {"app.kubernetes.io/part-of": "bench"}, "name": name},
        "spec": spec,
    });
    Ok(serde_json::from_value(json!({
        "apiVersion": "cams.dev/v1alpha1",
        "kind": "ChatGroup",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "bench"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{}\n", serde_json::to_string(&applied)?)},
        },
        "spec": spec,
    }))?)
}

fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        _ => true,
    }
}

async fn create_with_retry<K>(api: &Api<K>, obj: &K, pp: &PostParams) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + Serialize + std::fmt::Debug,
{
    let mut delay = Duration::from_millis(100);
    for attempt in 1.. {
        match api.create(pp, obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(e) if retryable(&e) && attempt < 20 => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!()
}

async fn load(a: LoadArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to Kubernetes (KUBECONFIG)")?;
    let pp = PostParams {
        field_manager: Some("kubectl-client-side-apply".into()),
        ..Default::default()
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    create_with_retry(
        &namespaces,
        &serde_json::from_value(json!({"metadata": {"name": a.namespace}}))?,
        &pp,
    )
    .await
    .context("creating the namespace")?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &a.namespace);
    create_with_retry(
        &secrets,
        &serde_json::from_value(json!({
            "metadata": {"name": SECRET_NAME},
            "stringData": {"accessKeyId": a.access_key_id, "accessKeySecret": a.access_key_secret},
        }))?,
        &pp,
    )
    .await
    .context("creating the credentials Secret")?;

    let api: Api<ChatGroup> = Api::namespaced(client, &a.namespace);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let ticker = {
        let done = done.clone();
        let (n, ns) = (a.count, a.namespace.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let d = done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                say(format!(
                    "load {ns}: {d}/{n} created, {secs:.0}s, {:.0}/s",
                    d as f64 / secs
                ));
            }
        })
    };
    let result = futures::stream::iter(0..a.count)
        .map(|i| {
            let (api, pp, done, tenant) = (&api, &pp, &done, &a.tenant);
            async move {
                create_with_retry(api, &chatgroup(i, tenant)?, pp).await?;
                done.fetch_add(1, Ordering::Relaxed);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(a.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await;
    ticker.abort();
    result.context("creating ChatGroups")?;
    let secs = started.elapsed().as_secs_f64();
    say(format!(
        "load {}: {} ChatGroups created in {secs:.1}s ({:.0}/s, {} at once)",
        a.namespace,
        a.count,
        a.count as f64 / secs,
        a.concurrency
    ));
    if let Some(out) = a.out.as_ref().filter(|_| a.count > 0) {
        append(
            out,
            &Record {
                label: format!("load-{}", a.namespace),
                mode: "load".into(),
                namespace: a.namespace.clone(),
                n: a.count,
                params: format!("{} requests in flight", a.concurrency),
                ok: true,
                load_secs: Some(secs),
                ..Default::default()
            },
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// seed

async fn seed(a: SeedArgs) -> anyhow::Result<()> {
    let sim = SimulatorClient::new(&a.sim)?;
    let faults = FaultConfig {
        latency_ms: a.latency_ms,
        qps: a.bucket_rate.map(|rate| QpsLimit {
            rate,
            burst: Some(f64::from(a.bucket_burst.unwrap_or(rate.ceil() as u32))),
        }),
        ..FaultConfig::default()
    };
    sim.set_tenant_faults(&a.tenant, &faults)
        .await
        .context("setting faults")?;
    let ids: Vec<usize> = (0..a.count).collect();
    for chunk in ids.chunks(1000) {
        let groups: Vec<GroupSeed> = chunk
            .iter()
            .map(|i| {
                GroupSeed::new(&a.tenant, BUSINESS_NUMBER, format!("BENCH{i:06}"))
                    .with_subject("before the bench")
            })
            .collect();
        sim.add_groups(&groups).await.context("adding groups")?;
    }
    say(format!(
        "simulator tenant {}: {} groups, faults {}",
        a.tenant,
        a.count,
        serde_json::to_string(&faults)?
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// measure: /proc, the operator's endpoints, the simulator's call log, the watch

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// A `Vm*` line of /proc/PID/status, in KiB.
fn vm_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pid_file(dir: &Path, name: &str) -> Option<u32> {
    std::fs::read_to_string(dir.join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Sums the samples of a metric family, and returns them by one label's value.
fn metric(text: &str, name: &str, label: &str) -> (f64, BTreeMap<String, f64>) {
    let mut total = 0.0;
    let mut by = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric_name, labels) = series.split_once('{').unwrap_or((series, ""));
        if metric_name != name {
            continue;
        }
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        total += v;
        let key = format!("{label}=\"");
        if let Some(start) = labels.find(&key) {
            let rest = &labels[start + key.len()..];
            let value = rest.split('"').next().unwrap_or_default();
            *by.entry(value.to_string()).or_insert(0.0) += v;
        }
    }
    (total, by)
}

/// `UpdateChatGroup` calls of a tenant with a sequence number above `since`: (all, not OK,
/// at most `upto`).
async fn sim_calls(
    sim: &SimulatorClient,
    tenant: &str,
    since: u64,
    upto: u64,
) -> anyhow::Result<(u64, u64, u64)> {
    let query = CallQuery::tenant(tenant)
        .action("UpdateChatGroup")
        .since(since)
        .limit(10_000);
    let calls = sim.calls(&query).await?;
    let all = calls.len() as u64;
    let not_ok = calls.iter().filter(|c| c.code != "OK").count() as u64;
    let early = calls.iter().filter(|c| c.seq <= upto).count() as u64;
    Ok((all, not_ok, early))
}

/// What the watch saw since the operator started.
#[derive(Default)]
struct Seen {
    /// Initial list done.
    synced: bool,
    version: HashMap<String, String>,
    writes: HashMap<String, u32>,
    ready: HashMap<String, bool>,
    total_writes: u64,
    last_change: Option<Instant>,
}

fn is_ready(cg: &ChatGroup) -> bool {
    cg.status.as_ref().is_some_and(|s| {
        s.observed_generation == cg.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

impl Seen {
    fn apply(&mut self, cg: &ChatGroup) {
        let name = cg.metadata.name.clone().unwrap_or_default();
        let rv = cg.metadata.resource_version.clone().unwrap_or_default();
        match self.version.insert(name.clone(), rv.clone()) {
            Some(old) if old != rv && self.synced => {
                *self.writes.entry(name.clone()).or_default() += 1;
                self.total_writes += 1;
                self.last_change = Some(Instant::now());
            }
            _ => {}
        }
        self.ready.insert(name, is_ready(cg));
    }

    fn ready_count(&self) -> usize {
        self.ready.values().filter(|r| **r).count()
    }
}

/// Finds an address the operator logged ("serving metrics on ADDR").
fn logged_addr(log: &Path, what: &str) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        let msg = v["message"].as_str()?;
        msg.strip_prefix(&format!("serving {what} on "))
            .map(str::to_string)
    })
}

fn stop(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

async fn measure(a: MeasureArgs) -> anyhow::Result<()> {
    let ticks = clock_ticks();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let sim = SimulatorClient::new(&a.sim)?;
    let client = Client::try_default().await?;
    let api: Api<ChatGroup> = Api::namespaced(client, &a.namespace);

    // The watch first: its initial list is the state before the operator starts.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = stream.next().await {
                let mut s = seen.lock().unwrap();
                match event {
                    Ok(watcher::Event::Apply(cg) | watcher::Event::InitApply(cg)) => s.apply(&cg),
                    Ok(watcher::Event::InitDone) => s.synced = true,
                    Ok(_) => {}
                    Err(e) => eprintln!("    watch error (retrying): {e}"),
                }
            }
        })
    };
    let sync_started = Instant::now();
    while !seen.lock().unwrap().synced {
        if sync_started.elapsed() > Duration::from_secs(120) {
            bail!("the watch did not sync in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let s = seen.lock().unwrap();
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
    }
    let mark = sim.last_seq().await?;
    let apiserver = pid_file(&a.cluster_dir, "apiserver");
    let etcd = pid_file(&a.cluster_dir, "etcd");
    let api_cpu0 = apiserver.and_then(|p| cpu_secs(p, ticks));
    let etcd_cpu0 = etcd.and_then(|p| cpu_secs(p, ticks));

    // The clock starts here.
    let log = std::fs::File::create(&a.log)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&a.operator[0])
        .args(&a.operator[1..])
        .env("RUST_LOG", "info")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", a.operator[0]))?;
    let pid = child.id().context("operator pid")?;
    // Interrupted (Ctrl-C, or run.sh stopping): take the operator down too.
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
        stop(pid);
        std::process::exit(130);
    });

    let mut record = Record {
        label: a.label.clone(),
        mode: a.mode.clone(),
        namespace: a.namespace.clone(),
        n: a.count,
        params: a.params.clone(),
        floor_qps: a.floor_qps,
        ..Default::default()
    };
    let (mut metrics_addr, mut health_addr) = (None::<String>, None::<String>);
    let mut ready_mark = u64::MAX;
    let mut api_cpu_at_ready = None;
    let mut etcd_cpu_at_ready = None;
    let mut api_window = None;
    let mut last_progress = Instant::now();
    let mut last_poll = Instant::now();
    let mut settle_from: Option<Instant> = None;
    let mut last_reconciles = -1.0;
    let mut reconciles_changed = Instant::now();
    let deadline = started + Duration::from_secs(a.timeout);
    let failure: Option<String> = loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = Instant::now();
        if let Ok(Some(status)) = child.try_wait() {
            break Some(format!("the operator exited early ({status})"));
        }
        if now > deadline {
            break Some(format!("not done after {} s", a.timeout));
        }
        if record.readyz_secs.is_none()
            && now.duration_since(last_progress) >= Duration::from_secs(2)
        {
            last_progress = now;
            say(format!(
                "{}: {:.0}s  waiting for the operator's /readyz (caches syncing)  CPU {:.1}s RSS {} MiB",
                a.label,
                started.elapsed().as_secs_f64(),
                cpu_secs(pid, ticks).unwrap_or_default(),
                vm_kib(pid, "VmRSS").unwrap_or_default() / 1024,
            ));
        }
        if metrics_addr.is_none() {
            metrics_addr = logged_addr(&a.log, "metrics");
            health_addr = logged_addr(&a.log, "health");
            continue;
        }
        if record.readyz_secs.is_none() {
            let url = format!(
                "http://{}/readyz",
                health_addr.as_deref().unwrap_or_default()
            );
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    let secs = started.elapsed().as_secs_f64();
                    record.readyz_secs = Some(secs);
                    ready_mark = sim.last_seq().await?;
                    say(format!("{}: /readyz 200 after {secs:.2}s", a.label));
                }
            }
            continue;
        }
        let (ready, writes) = {
            let s = seen.lock().unwrap();
            (s.ready_count(), s.total_writes)
        };
        // Reconcile counter, polled twice a second.
        let reconciles = if now.duration_since(last_poll) >= Duration::from_millis(500) {
            last_poll = now;
            let url = format!(
                "http://{}/metrics",
                metrics_addr.as_deref().unwrap_or_default()
            );
            match http.get(&url).send().await {
                Ok(r) => {
                    let text = r.text().await.unwrap_or_default();
                    Some(metric(&text, "cams_operator_reconciles_total", "outcome").0)
                }
                Err(_) => None,
            }
        } else {
            None
        };
        if let Some(r) = reconciles {
            if r != last_reconciles {
                last_reconciles = r;
                reconciles_changed = now;
            }
        }
        if now.duration_since(last_progress) >= Duration::from_secs(2) {
            last_progress = now;
            say(format!(
                "{}: {:.0}s  Ready {ready}/{}  status writes {writes}  reconciles {last_reconciles}  operator CPU {:.1}s RSS {} MiB",
                a.label,
                started.elapsed().as_secs_f64(),
                a.count,
                cpu_secs(pid, ticks).unwrap_or_default(),
                vm_kib(pid, "VmRSS").unwrap_or_default() / 1024,
            ));
        }
        if settle_from.is_none() {
            let done = match a.mode.as_str() {
                "converge" => ready == a.count,
                "restart" => last_reconciles >= a.count as f64,
                _ => true,
            };
            if done {
                if a.mode == "converge" {
                    record.ready_secs = Some(started.elapsed().as_secs_f64());
                    say(format!(
                        "{}: all {} Ready after {:.2}s; letting it settle",
                        a.label,
                        a.count,
                        record.ready_secs.unwrap_or_default()
                    ));
                }
                record.op_cpu_at_ready_secs = cpu_secs(pid, ticks);
                api_cpu_at_ready = apiserver.and_then(|p| cpu_secs(p, ticks));
                etcd_cpu_at_ready = etcd.and_then(|p| cpu_secs(p, ticks));
                api_window = Some(started.elapsed().as_secs_f64());
                settle_from = Some(now);
            }
            continue;
        }
        // Settled: no status write and no reconcile for 3 s (at least 3 s after done).
        let quiet_since = {
            let s = seen.lock().unwrap();
            s.last_change
                .unwrap_or(started)
                .max(reconciles_changed)
                .max(settle_from.unwrap_or(started))
        };
        if now.duration_since(quiet_since) >= Duration::from_secs(3) {
            break None;
        }
    };

    // Figures, read before the operator stops.
    record.window_secs = Some(started.elapsed().as_secs_f64());
    record.op_cpu_secs = cpu_secs(pid, ticks);
    record.vm_hwm_kib = vm_kib(pid, "VmHWM");
    record.vm_rss_kib = vm_kib(pid, "VmRSS");
    if let Some(addr) = &metrics_addr {
        if let Ok(r) = http.get(format!("http://{addr}/metrics")).send().await {
            let text = r.text().await.unwrap_or_default();
            let (total, by) = metric(&text, "cams_operator_reconciles_total", "outcome");
            record.reconciles = Some(total);
            record.reconciles_by_outcome = by;
            let (_, by_action) = metric(&text, "cams_operator_cams_requests_total", "action");
            record.cams_requests_metric =
                Some(by_action.get("UpdateChatGroup").copied().unwrap_or(0.0));
            let (_, by_result) = metric(&text, "cams_operator_status_writes_total", "result");
            record.status_writes_metric = Some(by_result.get("ok").copied().unwrap_or(0.0));
        }
    }
    let (calls, not_ok, early) = sim_calls(&sim, &a.tenant, mark, ready_mark).await?;
    record.calls = Some(calls);
    record.calls_not_ok = Some(not_ok);
    record.calls_before_ready = Some(early);
    {
        let s = seen.lock().unwrap();
        record.writes_watch = Some(s.total_writes);
        let expected = if a.mode == "converge" { 1 } else { 0 };
        record.objects_not_one_write = Some(
            s.version
                .keys()
                .filter(|k| s.writes.get(*k).copied().unwrap_or(0) != expected)
                .count() as u64,
        );
    }
    if let (Some(p), Some(c0), Some(c1)) = (apiserver, api_cpu0, api_cpu_at_ready) {
        record.apiserver_cpu_secs = Some(c1 - c0);
        record.apiserver_window_secs = api_window;
        record.apiserver_rss_kib = vm_kib(p, "VmRSS");
        record.apiserver_hwm_kib = vm_kib(p, "VmHWM");
    }
    if let (Some(p), Some(c0), Some(c1)) = (etcd, etcd_cpu0, etcd_cpu_at_ready) {
        record.etcd_cpu_secs = Some(c1 - c0);
        record.etcd_rss_kib = vm_kib(p, "VmRSS");
    }
    stop(pid);
    if tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    watch.abort();
    record.ok = failure.is_none();
    append(&a.out, &record)?;
    say(format!(
        "{}: done in {:.1}s: CPU {:.2}s over {} reconciles, calls {calls}, status writes {} (watch), peak RSS {} MiB",
        a.label,
        record.window_secs.unwrap_or_default(),
        record.op_cpu_secs.unwrap_or_default(),
        record.reconciles.unwrap_or_default(),
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

// ---------------------------------------------------------------------------------------
// report

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

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

fn mark(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
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

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} cores ({model}), {:.1} GiB memory, Linux {}",
        cores(),
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// Criterion's mean estimate of a benchmark, in nanoseconds.
fn criterion_mean(dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let text =
        std::fs::read_to_string(dir.join(group).join(bench).join("new/estimates.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn table(records: &[Record], criterion: &Path) -> (String, bool) {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut all_met = true;
    let loads: Vec<&Record> = records.iter().filter(|r| r.mode == "load").collect();
    for r in &loads {
        let secs = r.load_secs.unwrap_or_default();
        rows.push([
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
            "—".into(),
        ]);
    }
    for r in records.iter().filter(|r| r.mode == "converge") {
        let ready = r.ready_secs.unwrap_or(f64::NAN);
        let cpu = r.op_cpu_secs.unwrap_or_default();
        let reconciles = r.reconciles.unwrap_or_default();
        let per = 1000.0 * cpu / reconciles.max(1.0);
        if let Some(qps) = r.floor_qps {
            let floor = r.n as f64 / qps;
            let ratio = ready / floor;
            let met = r.ok && ratio <= 1.10;
            all_met &= met;
            rows.push([
                format!("1. Cold converge, N = {}", thousands(r.n as f64)),
                r.params.clone(),
                format!(
                    "all Ready in {ready:.1} s; floor N/QPS = {floor:.1} s; **ratio {ratio:.3}**. Operator ready (/readyz) at {:.2} s; operator CPU {cpu:.1} s = {per:.3} ms per reconcile ({} reconciles). {}",
                    r.readyz_secs.unwrap_or_default(),
                    thousands(reconciles),
                    apiserver_context(r)
                ),
                format!("ratio ≤ 1.10: {}", mark(met)),
            ]);
        } else {
            let per_object = 1000.0 * cpu / (r.n as f64).max(1.0);
            let ratio = per_object / ROUND1_MS_PER_OBJECT;
            let met = r.ok && ratio <= 0.55;
            all_met &= met;
            rows.push([
                format!("2. Unthrottled converge, N = {}", thousands(r.n as f64)),
                r.params.clone(),
                format!(
                    "all Ready in {ready:.1} s = **{} objects/s**; operator CPU {cpu:.2} s = **{per_object:.3} ms per object**, **{ratio:.2} × round 1's {ROUND1_MS_PER_OBJECT} ms** ({} reconciles, {per:.3} ms each; busy {:.0}% of one core, {:.0}% of the machine). {}",
                    thousands(r.n as f64 / ready),
                    thousands(reconciles),
                    100.0 * r.op_cpu_at_ready_secs.unwrap_or_default() / ready,
                    100.0 * r.op_cpu_at_ready_secs.unwrap_or_default() / ready / cores() as f64,
                    apiserver_context(r)
                ),
                format!("≤ 0.55 × {ROUND1_MS_PER_OBJECT} ms per object: {}", mark(met)),
            ]);
        }
        let calls = r.calls.unwrap_or_default();
        let writes = r.writes_watch.unwrap_or_default();
        let met = calls == r.n as u64
            && r.calls_not_ok == Some(0)
            && writes == r.n as u64
            && r.objects_not_one_write == Some(0);
        all_met &= met;
        rows.push([
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
            format!("exactly N calls, one write per object: {}", mark(met)),
        ]);
    }
    for r in records.iter().filter(|r| r.mode == "restart") {
        let readyz = r.readyz_secs.unwrap_or(f64::NAN);
        let calls = r.calls.unwrap_or_default();
        let writes = r.writes_watch.unwrap_or_default();
        let met = r.ok && readyz <= 10.0 && calls == 0 && writes == 0;
        all_met &= met;
        rows.push([
            format!("4. Restart with {} synced", thousands(r.n as f64)),
            r.params.clone(),
            format!(
                "process start to ready (/readyz) **{readyz:.2} s**; UpdateChatGroup calls before ready {}, and in the {:.0} s until every object was reconciled and quiet: {calls} calls, {writes} status writes ({} reconciles: {}); operator CPU {:.2} s. {}",
                r.calls_before_ready.unwrap_or_default(),
                r.window_secs.unwrap_or_default(),
                thousands(r.reconciles.unwrap_or_default()),
                r.reconciles_by_outcome
                    .iter()
                    .map(|(k, v)| format!("{k} {}", thousands(*v)))
                    .collect::<Vec<_>>()
                    .join(", "),
                r.op_cpu_secs.unwrap_or_default(),
                apiserver_context(r)
            ),
            format!("ready ≤ 10 s, 0 calls, 0 writes: {}", mark(met)),
        ]);
    }
    let mut memory = Vec::new();
    let mut at_10k: Option<u64> = None;
    for r in records.iter().filter(|r| r.mode != "load") {
        memory.push(format!(
            "{} ({} objects): **{}**",
            r.label,
            thousands(r.n as f64),
            mib(r.vm_hwm_kib)
        ));
        if r.n >= 10_000 {
            at_10k = at_10k.max(r.vm_hwm_kib);
        }
    }
    if !memory.is_empty() {
        let met = at_10k.is_some_and(|k| k <= 64 * 1024);
        all_met &= met;
        rows.push([
            "5. Operator peak RSS (VmHWM)".into(),
            "each operator process of the rows above, read before it stopped".into(),
            memory.join("; "),
            format!("≤ 64 MiB at 10,000: {}", mark(met)),
        ]);
    }
    let v3 = criterion_mean(criterion, "sign_update_chat_group", "v3_acs3_hmac_sha256");
    let v1 = criterion_mean(criterion, "sign_update_chat_group", "v1_rpc_hmac_sha1");
    if v3.is_some() || v1.is_some() {
        let fmt = |ns: Option<f64>| {
            ns.map(|n| format!("{:.2} µs", n / 1000.0))
                .unwrap_or_else(|| "n/a".into())
        };
        rows.push([
            "6. Signing one UpdateChatGroup request".into(),
            "criterion, `cargo bench --bench signer` (7 parameters, STS token, CJK subject)".into(),
            format!(
                "V3 (ACS3-HMAC-SHA256) **{}**; RPC HMAC-SHA1 **{}** (mean)",
                fmt(v3),
                fmt(v1)
            ),
            "—".into(),
        ]);
    }
    let mut out = String::from("| Scenario | Parameters | Figures | Target |\n|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    (out, all_met)
}

fn report(a: ReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.results)
        .with_context(|| format!("reading {}", a.results.display()))?;
    let records: Vec<Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let (table, all_met) = table(&records, &a.criterion);
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let revision = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let facts = format!(
        "Measured {date} on {}; revision {revision}{}.",
        machine(),
        a.wall_secs
            .map(|s| format!("; `make bench` took {}m{:02}s", s / 60, s % 60))
            .unwrap_or_default()
    );
    println!("\n{table}\n{facts}\n");
    println!(
        "{}",
        if all_met {
            "Every target met."
        } else {
            "Some targets missed (see the Target column)."
        }
    );
    let markdown = format!(
        "# make bench — {date}\n\n{facts}\n\nReproduce: `{}`\n\n{table}\n",
        a.command
    );
    std::fs::write(&a.markdown, markdown)?;
    eprintln!("    wrote {}", a.markdown.display());
    if let Some(readme) = &a.readme {
        let text = std::fs::read_to_string(readme)?;
        let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
        match (text.find(begin), text.find(end)) {
            (Some(b), Some(e)) if b < e => {
                let updated = format!("{}{begin}\n{facts}\n\n{table}{}", &text[..b], &text[e..]);
                std::fs::write(readme, updated)?;
                eprintln!(
                    "    updated the Performance section of {}",
                    readme.display()
                );
            }
            _ => eprintln!(
                "    {} has no {begin} … {end} markers; not updated",
                readme.display()
            ),
        }
    }
    Ok(())
}
