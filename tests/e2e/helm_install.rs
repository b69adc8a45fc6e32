//! The Helm chart in the real-cluster tier: `helm install` charts/cams-operator into the local
//! control plane (no `--wait`: nothing runs Pods there), then run the operator binary the way
//! the chart's Deployment would — its environment, a token of the chart's ServiceAccount (so
//! every API call is authorised by the chart's RBAC, not by admin) and the Lease it names —
//! pass the basic scenario, and scrape `/metrics`: the CAMS request counter equals the
//! simulator's call count for the tenant.
//!
//! Two installs: the default (a ClusterRole; the operator watches every namespace, narrowed
//! to this test's objects by a label selector) and `watchNamespaces` (namespaced Roles only,
//! the release in another namespace than the ChatGroups).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use cams_operator::fixtures::ChatGroupBuilder;
use cams_simulator::CallQuery;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};

use crate::harness::{condition, reason, var, Deadline, Operator, World};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/cams-operator");

/// helm, with the admin kubeconfig of the test cluster and its own config/cache folders.
async fn helm(work: &Path, args: &[&str]) -> String {
    let home = work.join("helm-home");
    let out = tokio::process::Command::new(var("CAMS_E2E_HELM"))
        .args(args)
        .env("KUBECONFIG", var("KUBECONFIG"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .await
        .expect("run helm");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `cluster.sh ARGS…`; its stdout (the token for `token`).
async fn cluster_sh(args: &[&str]) -> String {
    let out = tokio::process::Command::new("bash")
        .arg(var("CAMS_E2E_CLUSTER_SH"))
        .args(args)
        .output()
        .await
        .expect("run cluster.sh");
    assert!(
        out.status.success(),
        "cluster.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What the installed release's Deployment tells the operator: its ServiceAccount and the
/// environment variables with literal values (the downward-API ones are filled in by us).
struct Installed {
    service_account: String,
    env: BTreeMap<String, String>,
}

async fn installed_deployment(world: &World, release_ns: &str) -> Installed {
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), release_ns);
    let list = deployments
        .list(&ListParams::default())
        .await
        .expect("list Deployments");
    assert_eq!(list.items.len(), 1, "one Deployment in {release_ns}");
    let pod = list.items[0]
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod template")
        .clone();
    let container = &pod.containers[0];
    let mut env = BTreeMap::new();
    let mut downward = Vec::new();
    for e in container.env.iter().flatten() {
        match (&e.value, &e.value_from) {
            (Some(v), None) => {
                env.insert(e.name.clone(), v.clone());
            }
            (None, Some(from)) => {
                let field = from.field_ref.as_ref().map(|f| f.field_path.as_str());
                downward.push((e.name.clone(), field.map(str::to_string)));
            }
            _ => {}
        }
    }
    assert_eq!(
        downward,
        vec![
            ("POD_NAME".to_string(), Some("metadata.name".to_string())),
            (
                "POD_NAMESPACE".to_string(),
                Some("metadata.namespace".to_string())
            ),
        ],
        "the Deployment passes the pod's name and namespace from the downward API"
    );
    let probes = (
        container
            .liveness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .map(|h| h.path.clone().unwrap_or_default()),
        container
            .readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .map(|h| h.path.clone().unwrap_or_default()),
    );
    assert_eq!(
        probes,
        (Some("/healthz".to_string()), Some("/readyz".to_string()))
    );
    Installed {
        service_account: pod.service_account_name.expect("serviceAccountName"),
        env,
    }
}

/// The operator binary as the chart's pod would run it, but on loopback: the Deployment's
/// environment, POD_NAME/POD_NAMESPACE as the downward API would set them, the chart
/// ServiceAccount's kubeconfig, and flags (which win over the environment) only for what
/// differs here: the simulator endpoint and free loopback ports for metrics and health.
fn start_chart_operator(
    world: &World,
    installed: &Installed,
    kubeconfig: &Path,
    pod: &str,
    pod_ns: &str,
) -> Operator {
    let log = world
        .env
        .work
        .join(format!("{}-helm-operator.log", world.ns));
    let mut cmd = tokio::process::Command::new(&world.env.operator_bin);
    cmd.arg("run")
        .arg("--endpoint")
        .arg(&world.env.simulator)
        .arg("--metrics-addr")
        .arg("127.0.0.1:0")
        .arg("--health-addr")
        .arg("127.0.0.1:0")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&installed.env)
        .env("POD_NAME", pod)
        .env("POD_NAMESPACE", pod_ns)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "info,cams_operator=debug");
    Operator::launch(cmd, log)
}

/// Sum of every `cams_operator_cams_requests_total` sample on /metrics.
async fn cams_requests_total(world: &World, metrics_addr: &str) -> (f64, String) {
    let text = world.scrape(metrics_addr).await;
    let sum = text
        .lines()
        .filter(|l| {
            l.starts_with("cams_operator_cams_requests_total{")
                || l.starts_with("cams_operator_cams_requests_total ")
        })
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("unparsable sample {l:?}"))
        })
        .sum();
    (sum, text)
}

/// Every call the simulator logged for this test's tenant, any action.
async fn tenant_calls(world: &World) -> usize {
    let query = CallQuery::tenant(&world.tenant).limit(10_000);
    let page = world
        .sim
        .calls_page(&query)
        .await
        .expect("simulator call log");
    page.calls.len()
}

/// `kubectl auth can-i … --as` the chart's ServiceAccount: "yes" or "no".
async fn can_i(world: &World, sa: &str, args: &[&str]) -> String {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--as", sa]);
    let out = world.kubectl(&all).await;
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Install, run, pass the basic scenario, compare metrics; `release_ns` may differ from the
/// ChatGroups' namespace; `label` narrows a cluster-wide operator to this test's objects.
async fn scenario(
    world: &World,
    release: &str,
    release_ns: &str,
    values: &[String],
    label: Option<&str>,
) {
    let namespaced = values.iter().any(|v| v.starts_with("watchNamespaces="));
    let work = &world.env.work;
    let mut args = vec![
        "install",
        release,
        CHART,
        "--namespace",
        release_ns,
        "--create-namespace",
        "--set",
        "metrics.serviceMonitor.enabled=false",
    ];
    for v in values {
        args.extend_from_slice(&["--set", v]);
    }
    let started = Instant::now();
    let out = helm(work, &args).await;
    let head: Vec<&str> = out
        .lines()
        .take_while(|l| !l.starts_with("NOTES:"))
        .collect();
    eprintln!(
        "helm install {release} ({:?}):\n{}",
        started.elapsed(),
        head.join("\n")
    );
    assert!(out.contains("STATUS: deployed"), "{out}");

    let installed = installed_deployment(world, release_ns).await;
    let sa = &installed.service_account;
    let sa_user = format!("system:serviceaccount:{release_ns}:{sa}");
    let dir = var("CAMS_E2E_CLUSTER_DIR");
    let token = cluster_sh(&["token", &dir, release_ns, sa]).await;
    let kubeconfig = work.join(format!("{release}.kubeconfig"));
    cluster_sh(&[
        "kubeconfig-for-token",
        &dir,
        &token,
        kubeconfig.to_str().unwrap(),
    ])
    .await;

    // What the chart's RBAC grants the ServiceAccount, as the API server sees it.
    let listing = world
        .kubectl(&["auth", "can-i", "--list", "-n", &world.ns, "--as", &sa_user])
        .await;
    // Resource rules only (not the discovery and self-review rules every user has).
    let rules: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with(' ') && !l.contains("selfsubject") && !l.contains("clustertrustbundles")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    eprintln!(
        "RBAC of {sa_user} in {}:\n  {}",
        world.ns,
        rules.join("\n  ")
    );
    // Least privilege: nothing beyond what the operator uses.
    let denied: [&[&str]; 8] = [
        &["get", "configmaps"],
        &["create", "secrets"],
        &["update", "secrets"],
        &["update", "chatgroups.cams.dev"],
        &["delete", "chatgroups.cams.dev"],
        &["update", "chatgroups.cams.dev", "--subresource=status"],
        &["create", "events"], // core/v1 events: the recorder writes events.k8s.io only
        &["patch", "events.events.k8s.io"], // every event is created anew
    ];
    let allowed: [&[&str]; 4] = [
        &["watch", "chatgroups.cams.dev"],
        &["patch", "chatgroups.cams.dev", "--subresource=status"],
        &["get", "secrets"],
        &["create", "events.events.k8s.io"],
    ];
    for (checks, want, wrong) in [
        (&denied[..], "no", "grants"),
        (&allowed[..], "yes", "does not grant"),
    ] {
        for check in checks {
            let mut args = check.to_vec();
            args.extend_from_slice(&["-n", &world.ns]);
            assert_eq!(
                can_i(world, &sa_user, &args).await,
                want,
                "the chart {wrong} {check:?}"
            );
        }
    }
    // Secrets: read by name only; listed and watched only per namespace with watchNamespaces.
    for verb in ["list", "watch"] {
        let in_ns = can_i(world, &sa_user, &[verb, "secrets", "-n", &world.ns]).await;
        assert_eq!(
            in_ns == "yes",
            namespaced,
            "{verb} secrets in the namespace: {in_ns}"
        );
        let everywhere = can_i(world, &sa_user, &[verb, "secrets", "--all-namespaces"]).await;
        assert_eq!(everywhere, "no", "{verb} secrets cluster-wide");
    }
    let cluster_wide = can_i(
        world,
        &sa_user,
        &["list", "chatgroups.cams.dev", "--all-namespaces"],
    )
    .await;
    assert_eq!(
        cluster_wide == "yes",
        !namespaced,
        "list chatgroups in all namespaces: {cluster_wide}"
    );
    let cluster_roles = world
        .kubectl(&["get", "clusterroles,clusterrolebindings", "-o", "name"])
        .await;
    assert_eq!(
        String::from_utf8_lossy(&cluster_roles.stdout).contains(release),
        !namespaced,
        "cluster-scoped RBAC objects of {release}"
    );

    let pod = format!("{release}-7d4b9c-x2x9k");
    let mut operator = start_chart_operator(world, &installed, &kubeconfig, &pod, release_ns);
    let metrics_addr = operator.bound_addr("metrics").await;
    let health_addr = operator.bound_addr("health").await;

    world
        .create_group("vip", "EA303VIP", |b| {
            with_label(b.subject(Some("VIP support")), label)
        })
        .await;
    let obj = world.wait_ready("vip").await;
    assert_eq!(condition(&obj, "Synced").as_deref(), Some("True"));
    world
        .expect_calls("UpdateChatGroup", 1, Duration::from_secs(2))
        .await;

    // /healthz and /readyz answer on the health port.
    for path in ["/healthz", "/readyz"] {
        let status = world
            .http
            .get(format!("http://{health_addr}{path}"))
            .send()
            .await
            .expect("probe")
            .status();
        assert!(status.is_success(), "{path}: {status}");
    }

    // The counter equals what the simulator saw for this tenant (one UpdateChatGroup, and
    // the ListChatGroup pages of the inventory's scans).
    let updates = world.calls("UpdateChatGroup").await;
    assert_eq!(updates.len(), 1, "one UpdateChatGroup in all: {updates:#?}");
    let deadline = Deadline::after(Duration::from_secs(10), Duration::from_millis(200));
    loop {
        let calls = tenant_calls(world).await;
        let (sum, text) = cams_requests_total(world, &metrics_addr).await;
        if sum == calls as f64 {
            let samples: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("cams_operator_cams_requests_total"))
                .collect();
            eprintln!("/metrics: {samples:?}");
            break;
        }
        deadline
            .tick(|| {
                format!(
                    "cams_operator_cams_requests_total sums to {sum}, the simulator logged {calls}:\n{text}"
                )
            })
            .await;
    }

    // Leader election ran on the Lease the chart names, in the release namespace.
    let lease_name = installed
        .env
        .get("CAMS_OPERATOR_LEADER_ELECTION_NAME")
        .expect("replicas 2: the chart turns leader election on");
    let lease = Api::<Lease>::namespaced(world.client.clone(), release_ns)
        .get(lease_name)
        .await
        .expect("the Lease exists");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(pod.as_str())
    );

    // The Normal Updated event was written (events.k8s.io create).
    world.wait_event(&world.ns, "vip", "Updated", None).await;

    if !namespaced {
        secret_created_late_is_noticed_without_a_watch(world, label).await;
    }

    let logs = operator.logs();
    operator.stop().await;
    for needle in ["forbidden", "Forbidden"] {
        assert!(
            !logs.contains(needle),
            "the operator hit {needle:?} with the chart's RBAC (fix the chart):\n{logs}"
        );
    }
    let out = helm(work, &["uninstall", release, "--namespace", release_ns]).await;
    eprintln!("{out}");
}

/// `b` with the label `key=value` of `label`, if any.
fn with_label(b: ChatGroupBuilder, label: Option<&str>) -> ChatGroupBuilder {
    match label.and_then(|l| l.split_once('=')) {
        Some((k, v)) => b.label(k, v),
        None => b,
    }
}

/// Cluster-wide the operator cannot list or watch Secrets: a ChatGroup whose Secret appears
/// after it re-reads that Secret's metadata and converges within the 60 s bound.
async fn secret_created_late_is_noticed_without_a_watch(world: &World, label: Option<&str>) {
    world
        .create_group("late", "EA303LATE", |b| {
            let b = b.subject(Some("Late")).secret_ref(Some("late-credentials"));
            with_label(b, label)
        })
        .await;
    world
        .wait_reason("late", "Synced", "CredentialsInvalid")
        .await;
    let started = Instant::now();
    world
        .create_secret(
            "late-credentials",
            &world.access_key_id,
            &world.access_key_secret,
            None,
        )
        .await;
    // Noticed: the call went and CAMS accepted it (Ready follows once a scan shows it).
    world
        .wait_for("late", "Synced", Duration::from_secs(80), |o| {
            reason(o, "Synced").as_deref() == Some("ReconcileSuccess")
        })
        .await;
    let waited = started.elapsed();
    eprintln!("a Secret created late was noticed without a watch after {waited:.1?} (bound 60 s)");
    assert!(waited < Duration::from_secs(65), "{waited:?}");
    world
        .wait_for("late", "Ready", Duration::from_secs(60), |o| {
            condition(o, "Ready").as_deref() == Some("True")
        })
        .await;
}

#[tokio::test]
async fn helm_install_cluster_wide() {
    let world = World::new("helm").await;
    let suffix = world.ns.rsplit('-').next().unwrap().to_string();
    let release = format!("helm-{suffix}");
    let label = format!("cams.dev/e2e={suffix}");
    scenario(
        &world,
        &release,
        &world.ns.clone(),
        &[format!("labelSelector={label}")],
        Some(&label),
    )
    .await;
}

#[tokio::test]
async fn helm_install_watch_namespaces() {
    let world = World::new("helmns").await;
    let suffix = world.ns.rsplit('-').next().unwrap().to_string();
    let release = format!("helmns-{suffix}");
    let release_ns = format!("{}-ops", world.ns);
    scenario(
        &world,
        &release,
        &release_ns,
        &[format!("watchNamespaces={{{}}}", world.ns)],
        None,
    )
    .await;
}
