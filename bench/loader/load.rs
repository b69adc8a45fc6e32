//! `load`: N ChatGroups and their credentials Secret, created concurrently through the API
//! (operator stopped) as `kubectl apply` would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cams_operator::fixtures::ChatGroupBuilder;
use cams_operator::resource::ChatGroup;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};
use serde::Serialize;
use serde_json::{json, Value};

use crate::record::{append, Record};
use crate::{say, SECRET_NAME};

/// The annotation `kubectl apply` (client-side) records the applied manifest in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Args)]
pub struct LoadArgs {
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

/// The GroupId of the `i`-th bench group (the simulator is seeded with the same).
pub fn group_id(i: usize) -> String {
    format!("BENCH{i:06}")
}

/// The name of the `i`-th bench ChatGroup.
pub fn object_name(i: usize) -> String {
    format!("g-{i:06}")
}

/// The `i`-th bench ChatGroup, with every optional field set, its Secret, a label, and what
/// `kubectl apply` (client-side) leaves on the object: the caches must not keep it.
fn chatgroup(i: usize, namespace: &str, tenant: &str) -> anyhow::Result<ChatGroup> {
    let description = format!(
        "Group {i} of the make bench load test; its subject, description and picture are managed by cams-operator."
    );
    let obj = ChatGroupBuilder::new(&object_name(i), namespace, tenant, &group_id(i))
        .subject(Some(&format!("Bench group {i:06}")))
        .description(Some(&description))
        .profile_picture_url(Some(&format!(
            "https://cdn.example.com/groups/bench-{i:06}.jpg"
        )))
        .secret_ref(Some(SECRET_NAME))
        .label("app.kubernetes.io/part-of", "bench")
        .build();
    let applied = last_applied(&obj)?;
    Ok(ChatGroupBuilder::from(&obj)
        .annotation(LAST_APPLIED, &applied)
        .build())
}

/// The manifest `kubectl apply` records for `obj`: the object as sent, without the namespace
/// (given on the command line) and with the empty annotations of the manifest.
fn last_applied(obj: &ChatGroup) -> anyhow::Result<String> {
    let mut manifest = serde_json::to_value(obj)?;
    if let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
        meta.insert("annotations".into(), json!({}));
    }
    Ok(format!("{}\n", serde_json::to_string(&manifest)?))
}

fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        _ => true,
    }
}

/// Creates `obj`, retrying overload and server errors (up to 20 attempts, backing off to
/// 5 s); one that already exists counts as created.
async fn create_with_retry<K>(api: &Api<K>, obj: &K, pp: &PostParams) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + Serialize + std::fmt::Debug,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match api.create(pp, obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(e) if retryable(&e) && attempt < 20 => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..ObjectMeta::default()
    }
}

/// The namespace and the credentials Secret its ChatGroups name.
async fn create_namespace(client: &Client, a: &LoadArgs, pp: &PostParams) -> anyhow::Result<()> {
    let namespace = Namespace {
        metadata: named(&a.namespace),
        ..Namespace::default()
    };
    create_with_retry(&Api::all(client.clone()), &namespace, pp)
        .await
        .context("creating the namespace")?;
    let data = BTreeMap::from([
        ("accessKeyId".to_string(), a.access_key_id.clone()),
        ("accessKeySecret".to_string(), a.access_key_secret.clone()),
    ]);
    let secret = Secret {
        metadata: named(SECRET_NAME),
        string_data: Some(data),
        ..Secret::default()
    };
    create_with_retry(&Api::namespaced(client.clone(), &a.namespace), &secret, pp)
        .await
        .context("creating the credentials Secret")
}

/// Prints how many of `n` are created every two seconds, until aborted.
fn ticker(done: Arc<AtomicUsize>, n: usize, ns: String) -> tokio::task::JoinHandle<()> {
    let started = Instant::now();
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
}

/// Creates the namespace, its Secret and `count` ChatGroups, `concurrency` at a time, and
/// appends a record of how long the ChatGroups took.
pub async fn load(a: LoadArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to Kubernetes (KUBECONFIG)")?;
    let pp = PostParams {
        field_manager: Some("kubectl-client-side-apply".into()),
        ..Default::default()
    };
    create_namespace(&client, &a, &pp).await?;

    let api: Api<ChatGroup> = Api::namespaced(client, &a.namespace);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let ticker = ticker(done.clone(), a.count, a.namespace.clone());
    let result = futures::stream::iter(0..a.count)
        .map(|i| {
            let (api, pp, done) = (&api, &pp, &done);
            let (namespace, tenant) = (&a.namespace, &a.tenant);
            async move {
                create_with_retry(api, &chatgroup(i, namespace, tenant)?, pp).await?;
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
        let record = Record {
            label: format!("load-{}", a.namespace),
            mode: "load".into(),
            namespace: a.namespace.clone(),
            n: a.count,
            params: format!("{} requests in flight", a.concurrency),
            ok: true,
            load_secs: Some(secs),
            ..Default::default()
        };
        append(out, &record)?;
    }
    Ok(())
}
