//! Command-line interface of `cams-operator`. Every `run` setting has a `CAMS_OPERATOR_*`
//! environment variable fallback.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::cams::is_region_id;
use crate::cams::request::SignatureVersion;
use crate::cams::timestamp::parse_timestamp;
use crate::cams::{CamsError, Endpoint, RateLimit};
use crate::controller::WatchScope;
use crate::export::{is_dns1123_label, is_dns1123_subdomain};
use crate::leader::LeaseConfig;
use crate::observe::ObserveSettings;
use crate::resource::ManagementPolicy;
use crate::status::RetryPolicy;

/// Manage WhatsApp groups on Alibaba Cloud CAMS as ChatGroup resources.
#[derive(Parser, Debug)]
#[command(name = "cams-operator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What `cams-operator` can do: run the controller, print the CRD, or make one CAMS call.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller (in-cluster config or KUBECONFIG).
    Run(Box<RunArgs>),
    /// Print the ChatGroup CRD as YAML.
    Crd,
    /// Make one CAMS call with the controller's credentials chain and signer, and print the
    /// JSON response (or, with --dry-run, the signed request).
    Call(Box<CallArgs>),
    /// List every group of a business number with ListChatGroup and print one ChatGroup
    /// manifest per group (a YAML stream, sorted by GroupId): how an existing estate moves
    /// into Git.
    Export(Box<ExportArgs>),
}

impl Cli {
    /// Parses `argv` like [`Parser::try_parse_from`], and also records which settings were
    /// given (on the command line or by their environment variable) rather than defaulted.
    pub fn try_parse_args<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command().try_get_matches_from(argv)?;
        let mut cli =
            Self::from_arg_matches(&matches).map_err(|e| e.format(&mut Self::command()))?;
        if let (Command::Export(args), Some(("export", sub))) =
            (&mut cli.command, matches.subcommand())
        {
            args.region_given = matches!(
                sub.value_source("region"),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
        }
        Ok(cli)
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Settings shared by `run` and `call`.
#[derive(Args, Debug, Clone)]
pub struct CamsArgs {
    /// Default region id when a ChatGroup sets none; must be one of --regions.
    #[arg(long, env = "CAMS_OPERATOR_REGION", default_value = "ap-southeast-1")]
    pub region: String,
    /// Regions a ChatGroup may choose, comma-separated region ids (a ChatGroup with another
    /// region is Stalled with RegionNotAllowed and nothing is sent).
    #[arg(
        long,
        env = "CAMS_OPERATOR_REGIONS",
        value_delimiter = ',',
        default_value = "ap-southeast-1"
    )]
    pub regions: Vec<String>,
    /// Send every call to this endpoint instead, `[http(s)://]host[:port]` (https by default).
    // `std::option::Option` keeps clap from treating the flag as optional by type: a blank
    // value (the default, or an empty variable) must reach the parser, which reads it as unset.
    #[arg(
        long,
        env = "CAMS_OPERATOR_ENDPOINT",
        value_parser = parse_endpoint,
        default_value = "",
        hide_default_value = true
    )]
    pub endpoint: std::option::Option<Endpoint>,
    /// Signature scheme: v3 (ACS3-HMAC-SHA256) or v1 (RPC HMAC-SHA1; also accepted as v2).
    #[arg(long, env = "CAMS_OPERATOR_SIGNATURE", default_value = "v3", value_parser = parse_signature)]
    pub signature: SignatureVersion,
    /// Timeout of one CAMS request.
    #[arg(long, env = "CAMS_OPERATOR_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Client-side CAMS rate limit in calls per second, kept per AccessKeyId, region and
    /// action (0 = no limit).
    #[arg(long, env = "CAMS_OPERATOR_QPS", default_value_t = 20.0)]
    pub qps: f64,
    /// Calls allowed at once above the rate after an idle period.
    #[arg(long, env = "CAMS_OPERATOR_BURST", default_value_t = 20)]
    pub burst: u32,
    /// A PEM file of extra CA certificates to trust for the CAMS connection (HTTPS_PROXY and
    /// NO_PROXY are honoured as well).
    #[arg(long, env = "CAMS_OPERATOR_CA_BUNDLE")]
    pub ca_bundle: Option<std::path::PathBuf>,
    /// STS endpoint for RRSA (AssumeRoleWithOIDC), `[http(s)://]host[:port]`; default:
    /// ALIBABA_CLOUD_STS_ENDPOINT, else from ALIBABA_CLOUD_STS_REGION, else sts.aliyuncs.com.
    #[arg(
        long,
        env = "CAMS_OPERATOR_STS_ENDPOINT",
        value_parser = parse_endpoint,
        default_value = "",
        hide_default_value = true
    )]
    pub sts_endpoint: std::option::Option<Endpoint>,
}

/// Which ChatGroups `run` watches.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Namespaces to watch, comma-separated; empty watches all.
    #[arg(
        long,
        env = "CAMS_OPERATOR_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub namespaces: Vec<String>,
    /// Only ChatGroups matching this label selector.
    #[arg(long, env = "CAMS_OPERATOR_LABEL_SELECTOR")]
    pub label_selector: Option<String>,
}

/// How `run` spaces out attempts after a failed CAMS call.
#[derive(Args, Debug, Clone)]
pub struct RetryArgs {
    /// First retry delay after a retryable CAMS error (doubles up to --retry-max).
    #[arg(long, env = "CAMS_OPERATOR_RETRY_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub retry_base: Duration,
    /// Largest retry delay after a retryable CAMS error.
    #[arg(long, env = "CAMS_OPERATOR_RETRY_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub retry_max: Duration,
    /// Retry interval after a credentials or permission error.
    #[arg(long, env = "CAMS_OPERATOR_SLOW_RETRY", default_value = "5m", value_parser = humantime::parse_duration)]
    pub slow_retry: Duration,
}

/// Leader election among `run` replicas.
#[derive(Args, Debug, Clone)]
pub struct LeaderElectionArgs {
    /// Run only while holding a coordination.k8s.io Lease (for more than one replica).
    #[arg(long, env = "CAMS_OPERATOR_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: POD_NAMESPACE, else "default").
    #[arg(long, env = "CAMS_OPERATOR_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        env = "CAMS_OPERATOR_LEADER_ELECTION_NAME",
        default_value = "cams-operator"
    )]
    pub leader_election_name: String,
    /// How long a Lease stays valid without renewal.
    #[arg(long, env = "CAMS_OPERATOR_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// Give up leadership when renewals fail for this long.
    #[arg(long, env = "CAMS_OPERATOR_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub lease_renew_deadline: Duration,
    /// Time between Lease acquire/renew attempts.
    #[arg(long, env = "CAMS_OPERATOR_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    pub lease_retry_period: Duration,
}

/// Where `run` serves metrics and health, and how it shuts down.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address serving /metrics.
    #[arg(
        long,
        env = "CAMS_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: SocketAddr,
    /// Address serving /healthz and /readyz (may equal --metrics-addr).
    #[arg(
        long,
        env = "CAMS_OPERATOR_HEALTH_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    pub health_addr: SocketAddr,
    /// On SIGTERM, how long in-flight reconciles may take before the process exits.
    #[arg(long, env = "CAMS_OPERATOR_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// How `run` observes groups with ListChatGroup, and the rate limit of those scans.
#[derive(Args, Debug, Clone)]
pub struct ObserveArgs {
    /// Time between complete ListChatGroup scans of each account (±10% jitter); 0 turns
    /// observation off.
    #[arg(long, env = "CAMS_OPERATOR_OBSERVE_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub observe_interval: Duration,
    /// The shortest time between two scans of one account (scans forced by the operator's
    /// own writes are coalesced to one per this interval).
    #[arg(long, env = "CAMS_OPERATOR_OBSERVE_MIN_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub observe_min_interval: Duration,
    /// After an accepted write, how long a difference is "updating" rather than drift.
    #[arg(long, env = "CAMS_OPERATOR_SETTLE", default_value = "2m", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// Groups asked for per ListChatGroup page (1 to 1000).
    #[arg(long, env = "CAMS_OPERATOR_OBSERVE_PAGE_SIZE", default_value_t = 100)]
    pub observe_page_size: u32,
    /// Client-side rate limit of ListChatGroup in calls per second, per AccessKeyId and
    /// region, apart from the --qps of writes (0 = no limit).
    #[arg(long, env = "CAMS_OPERATOR_LIST_QPS", default_value_t = 5.0)]
    pub list_qps: f64,
    /// ListChatGroup calls allowed at once above --list-qps after an idle period.
    #[arg(long, env = "CAMS_OPERATOR_LIST_BURST", default_value_t = 10)]
    pub list_burst: u32,
}

/// Creating and deleting groups, and invite links.
#[derive(Args, Debug, Clone)]
pub struct LifecycleArgs {
    /// How long a created group may take to be listed by ListChatGroup before the ChatGroup
    /// is Stalled CreateUnconfirmed.
    #[arg(long, env = "CAMS_OPERATOR_CREATE_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration)]
    pub create_timeout: Duration,
    /// How long DeleteChatGroup may keep failing (deletionPolicy Delete) before the group is
    /// orphaned and the ChatGroup released.
    #[arg(long, env = "CAMS_OPERATOR_DELETE_TIMEOUT", default_value = "1h", value_parser = humantime::parse_duration)]
    pub delete_timeout: Duration,
    /// Manage invite links (spec.inviteLink) and publish them in Secrets the operator
    /// creates (needs RBAC to write Secrets; chart: inviteLinks.enabled).
    #[arg(long, env = "CAMS_OPERATOR_INVITE_LINKS")]
    pub invite_links: bool,
}

/// `run` settings: the CAMS connection, what to watch, retries, leader election, serving.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// CAMS connection settings.
    #[command(flatten)]
    pub cams: CamsArgs,
    /// Which ChatGroups to watch.
    #[command(flatten)]
    pub watch: WatchArgs,
    /// Namespaces whose ChatGroups may use the operator's own credentials, comma-separated;
    /// `*` for all. None by default.
    #[arg(
        long,
        env = "CAMS_OPERATOR_LEND_CREDENTIALS_TO",
        value_delimiter = ',',
        default_value = ""
    )]
    pub lend_credentials_to: Vec<String>,
    /// Objects reconciled at once.
    #[arg(long, env = "CAMS_OPERATOR_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Timeout of one Kubernetes API call.
    #[arg(long, env = "CAMS_OPERATOR_API_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub api_timeout: Duration,
    /// Backoff after failed CAMS calls.
    #[command(flatten)]
    pub retry: RetryArgs,
    /// This replica's identity, sent in the User-Agent and events (default: POD_NAME or the
    /// host name).
    #[arg(long, env = "CAMS_OPERATOR_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// Log output: one JSON object per line, or human-readable text.
    #[arg(
        long,
        env = "CAMS_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub log_format: LogFormat,
    /// Whether and how replicas elect a leader through a Lease.
    #[command(flatten)]
    pub leader: LeaderElectionArgs,
    /// Metrics and health addresses, and the shutdown grace period.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Observation (ListChatGroup scans) and its rate limit.
    #[command(flatten)]
    pub observe: ObserveArgs,
    /// Creating and deleting groups.
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
}

/// `call` settings: one action, its parameters, the CAMS connection, and dry-run inputs.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// The CAMS action, e.g. UpdateChatGroup or ListChatGroup.
    pub action: String,
    /// A parameter `Key=Value` (split at the first `=`); repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// CAMS connection settings.
    #[command(flatten)]
    pub cams: CamsArgs,
    /// Print the signed request instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
    /// Use this signature nonce.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Use this timestamp, yyyy-MM-ddTHH:mm:ssZ.
    #[arg(long, value_parser = parse_timestamp_flag)]
    pub timestamp: Option<DateTime<Utc>>,
}

/// `export` settings: the account to list, what every manifest names besides the group, and
/// the CAMS connection (the same credentials chain as `call`).
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The CAMS Space ID (CustSpaceId) to list.
    #[arg(long)]
    pub cust_space_id: String,
    /// The WhatsApp business number whose groups to list, digits only with country code.
    #[arg(long)]
    pub business_number: String,
    /// metadata.namespace of every manifest (unset: none, `kubectl apply -n` decides).
    #[arg(long)]
    pub namespace: Option<String>,
    /// spec.credentialsSecretRef.name of every manifest: a Secret in the manifest's
    /// namespace (unset: the operator's own credentials, where lent).
    #[arg(long)]
    pub secret_ref: Option<String>,
    /// spec.managementPolicy of every manifest: Manage (the operator writes the spec to the
    /// group) or Observe (it only reports). Observe is the safe first step.
    #[arg(long, default_value = "Manage", value_parser = parse_management_policy)]
    pub management_policy: ManagementPolicy,
    /// Groups asked for per ListChatGroup page (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub page_size: u32,
    /// CAMS connection settings; `--qps`/`--burst` pace the listing.
    #[command(flatten)]
    pub cams: CamsArgs,
    /// Whether `--region` was given (on the command line or as `CAMS_OPERATOR_REGION`):
    /// only then do the manifests name it in `spec.region`.
    #[arg(skip)]
    pub region_given: bool,
}

/// `--management-policy`: `Manage` or `Observe`, in any case.
fn parse_management_policy(text: &str) -> Result<ManagementPolicy, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "manage" => Ok(ManagementPolicy::Manage),
        "observe" => Ok(ManagementPolicy::Observe),
        _ => Err("must be Manage or Observe".to_string()),
    }
}

/// `--endpoint` and `--sts-endpoint`: `[http(s)://]host[:port]`, surrounding blanks ignored;
/// a blank value means unset.
fn parse_endpoint(text: &str) -> Result<Option<Endpoint>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Endpoint::parse(text).map(Some).map_err(|e| match e {
        CamsError::InvalidEndpoint(why) => why,
        other => other.to_string(),
    })
}

/// `--signature`: `v3`, or `v1` (also accepted as `v2`), in any case.
fn parse_signature(text: &str) -> Result<SignatureVersion, String> {
    text.parse()
}

/// `--param Key=Value`, split at the first `=` (the value may hold more).
fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| "must be Key=Value".to_string())
}

/// `--timestamp yyyy-MM-ddTHH:mm:ssZ`.
fn parse_timestamp_flag(text: &str) -> Result<DateTime<Utc>, String> {
    parse_timestamp(text).map_err(|_| "must be yyyy-MM-ddTHH:mm:ssZ".to_string())
}

/// A value clap's parsers refused, as one line (so it reads well in `kubectl logs`); `None`
/// for anything else clap stops at (help, version, an unknown flag), which it prints itself.
pub fn refused_value_line(error: &clap::Error) -> Option<String> {
    (error.kind() == clap::error::ErrorKind::ValueValidation).then(|| {
        error
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// The longest CAMS request or Kubernetes API call timeout accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The longest duration any setting accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The lowest non-zero `--qps` (one call per 100 s per key, region and action).
pub const MIN_QPS: f64 = 0.01;
/// The highest `--qps`.
pub const MAX_QPS: f64 = 10_000.0;

/// A setting that makes no sense; refused at startup. Its `Display` is one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// One flag (or its environment variable) has an unusable value.
    #[error("invalid setting {flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--qps`.
        flag: &'static str,
        /// What is wrong, quoting the value.
        reason: String,
    },
}

fn invalid(flag: &'static str, reason: String) -> SettingsError {
    SettingsError::Invalid { flag, reason }
}

/// A QPS of 0 (no limit) or within [`MIN_QPS`]..=[`MAX_QPS`], and a burst of 1 or more
/// when limited.
fn check_rate_limit(
    (qps_flag, qps): (&'static str, f64),
    (burst_flag, burst): (&'static str, u32),
) -> Result<(), SettingsError> {
    if !qps.is_finite() || qps < 0.0 {
        return Err(invalid(
            qps_flag,
            format!("{qps} must be a number from 0 (no limit) up"),
        ));
    }
    if qps > 0.0 && !(MIN_QPS..=MAX_QPS).contains(&qps) {
        return Err(invalid(
            qps_flag,
            format!("{qps} is outside {MIN_QPS}..={MAX_QPS} (0 turns the limit off)"),
        ));
    }
    if qps > 0.0 && burst == 0 {
        return Err(invalid(
            burst_flag,
            format!("0 lets no call through; use 1 or more (or {qps_flag} 0 for no limit)"),
        ));
    }
    Ok(())
}

/// The limit for `qps` and `burst`, `None` when `qps` is 0.
fn rate_limit(qps: f64, burst: u32) -> Option<RateLimit> {
    (qps > 0.0).then_some(RateLimit { qps, burst })
}

/// `value` must be above zero (unless `zero_ok`) and at most `max`.
fn check_duration(
    flag: &'static str,
    value: Duration,
    zero_ok: bool,
    max: Duration,
) -> Result<(), SettingsError> {
    let shown = humantime::format_duration(value);
    if value.is_zero() && !zero_ok {
        return Err(invalid(flag, "0s: must be longer than zero".into()));
    }
    if value > max {
        let max = humantime::format_duration(max);
        return Err(invalid(
            flag,
            format!("{shown} is longer than the maximum {max}"),
        ));
    }
    Ok(())
}

impl CamsArgs {
    /// The regions list as used: trimmed, without blank entries.
    pub fn allowed_regions(&self) -> Vec<String> {
        self.regions
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// Refuses settings that make no sense (pure; nothing is read or sent). The endpoints and
    /// the signature scheme were checked when they were parsed.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let regions = self.allowed_regions();
        if regions.is_empty() {
            return Err(invalid(
                "--regions",
                "empty: list at least one region id".into(),
            ));
        }
        if let Some(bad) = regions.iter().find(|r| !is_region_id(r)) {
            return Err(invalid(
                "--regions",
                format!("{bad:?} is not a region id (e.g. ap-southeast-1)"),
            ));
        }
        if !is_region_id(&self.region) {
            return Err(invalid(
                "--region",
                format!("{:?} is not a region id (e.g. ap-southeast-1)", self.region),
            ));
        }
        if !regions.contains(&self.region) {
            return Err(invalid(
                "--region",
                format!(
                    "{:?} is not in --regions ({}); add it there",
                    self.region,
                    regions.join(",")
                ),
            ));
        }
        check_duration(
            "--request-timeout",
            self.request_timeout,
            false,
            MAX_TIMEOUT,
        )?;
        self.validate_rate_limit()
    }

    fn validate_rate_limit(&self) -> Result<(), SettingsError> {
        check_rate_limit(("--qps", self.qps), ("--burst", self.burst))
    }

    /// The client-side limit of every action but ListChatGroup (`None`: no limit).
    pub fn rate_limit(&self) -> Option<RateLimit> {
        rate_limit(self.qps, self.burst)
    }
}

impl RunArgs {
    /// Refuses settings that make no sense (pure; nothing is read or sent). Called first
    /// thing by `run`.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.cams.validate()?;
        if self.concurrency == 0 {
            return Err(invalid(
                "--concurrency",
                "0 would reconcile nothing; use 1 or more".into(),
            ));
        }
        check_duration("--api-timeout", self.api_timeout, false, MAX_TIMEOUT)?;
        self.retry.validate()?;
        check_duration(
            "--shutdown-grace",
            self.serve.shutdown_grace,
            true,
            MAX_DURATION,
        )?;
        self.leader.validate()?;
        self.observe.validate()
    }

    /// How the controller observes groups: `--observe-interval 0` turns it off.
    pub fn observe_settings(&self) -> ObserveSettings {
        let o = &self.observe;
        ObserveSettings {
            interval: (!o.observe_interval.is_zero()).then_some(o.observe_interval),
            min_interval: o.observe_min_interval,
            settle: o.settle,
            page_size: o.observe_page_size,
        }
    }
}

/// The largest `--observe-page-size` (and `export --page-size`).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// `flag` holds a page size in 1..=[`MAX_PAGE_SIZE`].
fn check_page_size(flag: &'static str, size: u32) -> Result<(), SettingsError> {
    if size == 0 {
        return Err(invalid(
            flag,
            format!("0 would list no group; use 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    if size > MAX_PAGE_SIZE {
        return Err(invalid(
            flag,
            format!("{size} is over the maximum {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(())
}

impl ExportArgs {
    /// Refuses settings that make no sense before anything is listed: the CAMS settings,
    /// the business number and space as the CRD takes them, a namespace and Secret name
    /// Kubernetes accepts, a page size in 1..=1000.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.cams.validate()?;
        let number = &self.business_number;
        if number.is_empty() || number.len() > 32 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "--business-number",
                format!("{number:?} must be 1 to 32 digits, country code first"),
            ));
        }
        let space = &self.cust_space_id;
        if space.trim().is_empty() || space.chars().count() > 128 {
            return Err(invalid(
                "--cust-space-id",
                format!("{space:?} must be 1 to 128 characters"),
            ));
        }
        if let Some(ns) = self.namespace.as_deref().filter(|ns| !is_dns1123_label(ns)) {
            return Err(invalid(
                "--namespace",
                format!("{ns:?} is not a namespace name (a DNS-1123 label)"),
            ));
        }
        if let Some(name) = self
            .secret_ref
            .as_deref()
            .filter(|n| !is_dns1123_subdomain(n))
        {
            return Err(invalid(
                "--secret-ref",
                format!("{name:?} is not a Secret name (a DNS-1123 subdomain)"),
            ));
        }
        check_page_size("--page-size", self.page_size)
    }
}

impl ObserveArgs {
    /// Durations within a day, a min interval above zero and not above the interval (when
    /// observation is on), a page size in 1..=1000, and a sensible list rate limit.
    fn validate(&self) -> Result<(), SettingsError> {
        check_duration(
            "--observe-interval",
            self.observe_interval,
            true,
            MAX_DURATION,
        )?;
        check_duration(
            "--observe-min-interval",
            self.observe_min_interval,
            false,
            MAX_DURATION,
        )?;
        if !self.observe_interval.is_zero() && self.observe_min_interval > self.observe_interval {
            return Err(invalid(
                "--observe-min-interval",
                format!(
                    "{} is longer than --observe-interval {}",
                    humantime::format_duration(self.observe_min_interval),
                    humantime::format_duration(self.observe_interval)
                ),
            ));
        }
        check_duration("--settle", self.settle, true, MAX_DURATION)?;
        check_page_size("--observe-page-size", self.observe_page_size)?;
        check_rate_limit(
            ("--list-qps", self.list_qps),
            ("--list-burst", self.list_burst),
        )
    }

    /// The client-side limit of ListChatGroup (`None`: no limit).
    pub fn list_rate_limit(&self) -> Option<RateLimit> {
        rate_limit(self.list_qps, self.list_burst)
    }
}

impl RetryArgs {
    /// Every delay above zero and at most a day, and `--retry-max` not below `--retry-base`.
    fn validate(&self) -> Result<(), SettingsError> {
        check_duration("--retry-base", self.retry_base, false, MAX_DURATION)?;
        check_duration("--retry-max", self.retry_max, false, MAX_DURATION)?;
        if self.retry_max < self.retry_base {
            return Err(invalid(
                "--retry-max",
                format!(
                    "{} is shorter than --retry-base {}",
                    humantime::format_duration(self.retry_max),
                    humantime::format_duration(self.retry_base)
                ),
            ));
        }
        check_duration("--slow-retry", self.slow_retry, false, MAX_DURATION)
    }
}

impl From<&RetryArgs> for RetryPolicy {
    fn from(args: &RetryArgs) -> Self {
        Self {
            base: args.retry_base,
            cap: args.retry_max,
            slow: args.slow_retry,
        }
    }
}

impl From<&WatchArgs> for WatchScope {
    /// Blank namespace entries are dropped: `--namespaces ""` watches all.
    fn from(args: &WatchArgs) -> Self {
        Self {
            namespaces: args
                .namespaces
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect(),
            label_selector: args.label_selector.clone(),
        }
    }
}

impl LeaderElectionArgs {
    /// The Lease settings for this replica (`identity`), with `api_timeout` per API call. The
    /// Lease's namespace is `--leader-election-namespace`, else `pod_namespace`, else
    /// `default`.
    pub fn lease_config(
        &self,
        identity: String,
        api_timeout: Duration,
        pod_namespace: Option<String>,
    ) -> LeaseConfig {
        LeaseConfig {
            namespace: self
                .leader_election_namespace
                .clone()
                .or(pod_namespace)
                .unwrap_or_else(|| "default".into()),
            name: self.leader_election_name.clone(),
            identity,
            lease_duration: self.lease_duration,
            renew_deadline: self.lease_renew_deadline,
            retry_period: self.lease_retry_period,
            api_timeout,
        }
    }

    /// A Lease name, and lease-duration > renew-deadline > retry-period > 0: a leader must
    /// give up before its Lease can be taken, and try more than once before it gives up.
    fn validate(&self) -> Result<(), SettingsError> {
        if self.leader_election_name.trim().is_empty() {
            return Err(invalid("--leader-election-name", "empty".into()));
        }
        check_duration("--lease-duration", self.lease_duration, false, MAX_DURATION)?;
        check_duration(
            "--lease-renew-deadline",
            self.lease_renew_deadline,
            false,
            MAX_DURATION,
        )?;
        check_duration(
            "--lease-retry-period",
            self.lease_retry_period,
            false,
            MAX_DURATION,
        )?;
        let show = |d: Duration| humantime::format_duration(d).to_string();
        if self.lease_renew_deadline >= self.lease_duration {
            return Err(invalid(
                "--lease-renew-deadline",
                format!(
                    "{} must be shorter than --lease-duration {}",
                    show(self.lease_renew_deadline),
                    show(self.lease_duration)
                ),
            ));
        }
        if self.lease_retry_period >= self.lease_renew_deadline {
            return Err(invalid(
                "--lease-retry-period",
                format!(
                    "{} must be shorter than --lease-renew-deadline {}",
                    show(self.lease_retry_period),
                    show(self.lease_renew_deadline)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
