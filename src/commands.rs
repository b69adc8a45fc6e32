//! The subcommands: `run`, `crd`, `call` and `export`.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use kube::runtime::events::Reporter;
use kube::CustomResourceExt;
use tokio_util::sync::CancellationToken;

use crate::cams::env::{home_dir, process_env};
use crate::cams::request::Freshness;
use crate::cams::{CallObserver, ClientOptions, ListChatGroup, ProxySettings};
use crate::cams::{
    CamsClient, CamsError, ClientConfig, Credentials, EndpointPolicy, Envelope, RateLimit,
};
use crate::cli::{CallArgs, CamsArgs, ExportArgs, LogFormat, RunArgs};
use crate::controller::{self, Context, WatchScope};
use crate::credentials::rrsa::RrsaOptions;
use crate::credentials::{discover_operator_credentials, LendPolicy, OperatorCredentials};
use crate::leader::LeaderElector;
use crate::metrics::{CamsObserver, Metrics};
use crate::resource::ChatGroup;

/// The CRD as YAML, exactly as checked in under `crds/`.
pub fn crd_yaml() -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(&ChatGroup::crd())?)
}

/// An error as the one line `main` prints: the whole cause chain, newlines folded.
pub fn error_line(error: &anyhow::Error) -> String {
    format!("cams-operator: {error:#}").replace(['\r', '\n'], " ")
}

/// The `User-Agent` of this binary for a replica.
pub fn user_agent(replica: &str) -> String {
    format!(
        "cams-operator/{} (replica {replica})",
        env!("CARGO_PKG_VERSION")
    )
}

fn client_config(args: &CamsArgs, replica: &str) -> anyhow::Result<ClientConfig> {
    Ok(ClientConfig {
        endpoints: EndpointPolicy::with_regions(
            &args.region,
            &args.allowed_regions(),
            args.endpoint.clone(),
        )?,
        signature: args.signature,
        timeout: args.request_timeout,
        connect_timeout: args.request_timeout.min(std::time::Duration::from_secs(5)),
        user_agent: user_agent(replica),
    })
}

/// The client's options: `list_rate_limit` paces ListChatGroup, `--qps`/`--burst` every
/// other action.
fn client_options(
    args: &CamsArgs,
    list_rate_limit: Option<RateLimit>,
    proxy: &ProxySettings,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<ClientOptions> {
    let extra_ca_pem = match &args.ca_bundle {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading --ca-bundle {}", path.display()))?,
        ),
        None => None,
    };
    Ok(ClientOptions {
        proxy: proxy.clone(),
        observer: metrics.map(|m| Arc::new(CamsObserver(m)) as Arc<dyn CallObserver>),
        rate_limit: args.rate_limit(),
        list_rate_limit,
        extra_ca_pem,
    })
}

/// The operator's own credentials, as the official chain finds them (STS reached through the
/// same proxies as CAMS).
fn operator_credentials(
    args: &CamsArgs,
    proxy: &ProxySettings,
) -> anyhow::Result<OperatorCredentials> {
    let rrsa = RrsaOptions {
        sts_endpoint: args.sts_endpoint.clone(),
        proxy: proxy.clone(),
        ..RrsaOptions::default()
    };
    Ok(discover_operator_credentials(
        process_env,
        home_dir().as_deref(),
        rrsa,
    )?)
}

/// Sets up logging.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// `cams-operator run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    args.validate()?;
    init_tracing(args.log_format);
    let replica = replica_name(&args);
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(context(&args, &replica, metrics.clone()).await?);
    let scope = WatchScope::from(&args.watch);
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    crate::server::serve(
        args.serve.metrics_addr,
        args.serve.health_addr,
        metrics.clone(),
        shutdown.clone(),
    )
    .await
    .context("binding the metrics and health addresses")?;
    let concurrency = args.concurrency.max(1);
    let grace = args.serve.shutdown_grace;
    if !args.leader.leader_elect {
        metrics.leader.set(1);
        controller::run(ctx, scope, concurrency, shutdown, grace).await;
    } else {
        let lease =
            args.leader
                .lease_config(replica, args.api_timeout, process_env("POD_NAMESPACE"));
        let elector = LeaderElector::new(ctx.client.clone(), lease);
        lead(&elector, ctx, scope, concurrency, shutdown, grace).await;
    }
    tracing::info!("cams-operator stopped");
    Ok(())
}

/// This replica's name: `--replica-id`, the pod's name, or the host name.
fn replica_name(args: &RunArgs) -> String {
    args.replica_id
        .clone()
        .or_else(|| process_env("POD_NAME"))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Everything a reconcile needs, from the settings.
async fn context(args: &RunArgs, replica: &str, metrics: Arc<Metrics>) -> anyhow::Result<Context> {
    let config = client_config(&args.cams, replica)?;
    let endpoints = config.endpoints.clone();
    // Read once: the CAMS and STS connections use the same proxies for the process's life.
    let proxy = ProxySettings::from_lookup(process_env);
    let options = client_options(
        &args.cams,
        args.observe.list_rate_limit(),
        &proxy,
        Some(metrics.clone()),
    )?;
    let cams: Arc<dyn crate::cams::ChatGroupApi> =
        Arc::new(CamsClient::with_options(config, options)?);
    let operator_credentials = operator_credentials(&args.cams, &proxy)?;
    let lend = LendPolicy::from_list(&args.lend_credentials_to);
    tracing::info!(
        replica = %replica,
        credentials = operator_credentials.source().as_deref().unwrap_or("none"),
        lend = ?lend,
        "starting cams-operator"
    );
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    Ok(Context {
        client,
        lister: Arc::new(crate::observe::lister::CamsLister::new(cams.clone())),
        observe: args.observe_settings(),
        create_timeout: args.lifecycle.create_timeout,
        delete_timeout: args.lifecycle.delete_timeout,
        invite_links: args.lifecycle.invite_links,
        call_load: Default::default(),
        api_writes: Default::default(),
        observer: Default::default(),
        cams,
        endpoints,
        operator_credentials,
        lend,
        retry: (&args.retry).into(),
        reporter: Reporter {
            controller: "cams-operator".into(),
            instance: Some(replica.to_string()),
        },
        field_manager: "cams-operator".into(),
        api_timeout: args.api_timeout,
        caches: Default::default(),
        metrics,
    })
}

/// Stands by until this replica holds the Lease, reconciles while it holds it, and stands by
/// again when it loses it, until shutdown.
async fn lead(
    elector: &LeaderElector,
    ctx: Arc<Context>,
    scope: WatchScope,
    concurrency: u16,
    shutdown: CancellationToken,
    grace: std::time::Duration,
) {
    let metrics = ctx.metrics.clone();
    while !shutdown.is_cancelled() {
        // A standby replica is healthy and ready; it just does not reconcile.
        metrics.leader.set(0);
        metrics.set_ready(true);
        let term = tokio::select! {
            term = elector.acquire() => term,
            _ = shutdown.cancelled() => break,
        };
        metrics.leader.set(1);
        metrics.set_ready(false);
        // Leading: run until shutdown, or stop at once (dropping every in-flight reconcile)
        // when the lease is lost, then stand by again.
        tokio::select! {
            _ = controller::run(ctx.clone(), scope.clone(), concurrency, shutdown.clone(), grace) => {
                elector.release().await;
            }
            _ = elector.hold(term) => {
                tracing::warn!("stopped reconciling: not the leader any more");
            }
        }
    }
}

async fn cancel_on_signal(token: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown signal received");
    token.cancel();
}

/// The client and credentials of a command-line call (`call`, `export`): the controller's
/// credentials chain and signer; ListChatGroup paced by `--qps`/`--burst` like the rest.
async fn cli_client(args: &CamsArgs) -> anyhow::Result<(CamsClient, Credentials)> {
    let proxy = ProxySettings::from_lookup(process_env);
    let client = CamsClient::with_options(
        client_config(args, "cli")?,
        client_options(args, args.rate_limit(), &proxy, None)?,
    )?;
    let credentials = operator_credentials(args, &proxy)?
        .current()
        .await?
        .context("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or a credentials file")?;
    Ok((client, credentials))
}

/// `cams-operator call`.
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    args.cams.validate()?;
    let (client, credentials) = cli_client(&args.cams).await?;
    if args.dry_run {
        return print_signed(&client, &args, &credentials);
    }
    if args.nonce.is_some() || args.timestamp.is_some() {
        bail!("--nonce and --timestamp only go with --dry-run (a sent request always gets fresh ones)");
    }
    let region = Some(args.cams.region.as_str());
    match client
        .call(&args.action, &args.params, region, &credentials)
        .await
    {
        Ok(response) => {
            println!("{}", serde_json::to_string_pretty(&response.body)?);
            Ok(())
        }
        Err(e) => {
            if let CamsError::Api { envelope, .. } = &e {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&envelope_json(envelope))?
                );
            }
            bail!("{e}")
        }
    }
}

/// `call --dry-run`: prints the signed request as JSON (method, url, headers, body), with the
/// given nonce and timestamp instead of fresh ones.
fn print_signed(
    client: &CamsClient,
    args: &CallArgs,
    credentials: &Credentials,
) -> anyhow::Result<()> {
    let mut fresh = Freshness::now();
    if let Some(nonce) = &args.nonce {
        fresh.nonce = nonce.clone();
    }
    if let Some(timestamp) = args.timestamp {
        fresh.timestamp = timestamp;
    }
    let region = Some(args.cams.region.as_str());
    let signed = client.prepare(&args.action, &args.params, region, credentials, &fresh)?;
    let out = serde_json::json!({
        "method": signed.method,
        "url": signed.url,
        "headers": signed.headers_json(),
        "body": signed.body,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `cams-operator export`: every group of the business number as a ChatGroup manifest on
/// stdout (printed only once every page was listed), progress and warnings on stderr.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    args.validate()?;
    let (client, credentials) = cli_client(&args.cams).await?;
    let first = ListChatGroup::first_page(
        args.business_number.as_str(),
        args.cust_space_id.as_str(),
        args.page_size,
    );
    let region = Some(args.cams.region.clone());
    let listing = crate::export::list_all(&client, region, &credentials, first, |line| {
        eprintln!("{line}")
    })
    .await?;
    let options = crate::export::ExportOptions::from(&args);
    let export = crate::export::manifests(&listing.groups, &options)?;
    for warning in listing.warnings().into_iter().chain(export.warnings) {
        eprintln!("cams-operator: warning: {warning}");
    }
    print!("{}", crate::export::render(&export.objects)?);
    Ok(())
}

/// The parts of a CAMS error answer `call` prints.
fn envelope_json(e: &Envelope) -> serde_json::Value {
    serde_json::json!({
        "RequestId": e.request_id,
        "Code": e.code,
        "Message": e.message,
        "Success": e.success,
        "AccessDeniedDetail": e.access_denied_detail,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_is_one_line_with_its_causes() {
        let error = anyhow::Error::from(crate::cli::SettingsError::Invalid {
            flag: "--qps",
            reason: "-1 must be a number from 0 (no limit) up".into(),
        })
        .context("first line\nsecond line");
        assert_eq!(
            super::error_line(&error),
            "cams-operator: first line second line: invalid setting --qps: -1 must be a number from 0 (no limit) up"
        );
    }

    #[test]
    fn checked_in_crd_matches_the_generated_one() {
        let checked_in = include_str!("../crds/chatgroups.cams.dev.yaml");
        let generated = super::crd_yaml().unwrap();
        assert!(
            checked_in == generated,
            "crds/chatgroups.cams.dev.yaml is stale: run `cargo run -- crd > crds/chatgroups.cams.dev.yaml`"
        );
    }
}
