//! Command-line interface of `cams-operator`. Every `run` setting has a `CAMS_OPERATOR_*`
//! environment variable fallback.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage WhatsApp groups on Alibaba Cloud CAMS as ChatGroup resources.
#[derive(Parser, Debug)]
#[command(name = "cams-operator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller (in-cluster config or KUBECONFIG).
    Run(Box<RunArgs>),
    /// Print the ChatGroup CRD as YAML.
    Crd,
    /// Make one CAMS call with the controller's credentials chain and signer, and print the
    /// JSON response (or, with --dry-run, the signed request).
    Call(Box<CallArgs>),
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
    /// Default region id when a ChatGroup sets none.
    #[arg(long, env = "CAMS_OPERATOR_REGION", default_value = "ap-southeast-1")]
    pub region: String,
    /// Send every call to this endpoint instead, `[http(s)://]host[:port]` (https by default).
    #[arg(long, env = "CAMS_OPERATOR_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Signature scheme: v3 (ACS3-HMAC-SHA256) or v1 (RPC HMAC-SHA1; also accepted as v2).
    #[arg(long, env = "CAMS_OPERATOR_SIGNATURE", default_value = "v3")]
    pub signature: String,
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
    #[arg(long, env = "CAMS_OPERATOR_STS_ENDPOINT")]
    pub sts_endpoint: Option<String>,
}

/// `run` settings.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// CAMS connection settings.
    #[command(flatten)]
    pub cams: CamsArgs,
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
    /// First retry delay after a retryable CAMS error (doubles up to --retry-max).
    #[arg(long, env = "CAMS_OPERATOR_RETRY_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub retry_base: Duration,
    /// Largest retry delay after a retryable CAMS error.
    #[arg(long, env = "CAMS_OPERATOR_RETRY_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub retry_max: Duration,
    /// Retry interval after a credentials or permission error.
    #[arg(long, env = "CAMS_OPERATOR_SLOW_RETRY", default_value = "5m", value_parser = humantime::parse_duration)]
    pub slow_retry: Duration,
    /// This replica's identity, sent in the User-Agent and events (default: POD_NAME or the
    /// host name).
    #[arg(long, env = "CAMS_OPERATOR_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// Log format.
    #[arg(
        long,
        env = "CAMS_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub log_format: LogFormat,
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
    /// Address serving /metrics.
    #[arg(
        long,
        env = "CAMS_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: std::net::SocketAddr,
    /// Address serving /healthz and /readyz (may equal --metrics-addr).
    #[arg(
        long,
        env = "CAMS_OPERATOR_HEALTH_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    pub health_addr: std::net::SocketAddr,
    /// On SIGTERM, how long in-flight reconciles may take before the process exits.
    #[arg(long, env = "CAMS_OPERATOR_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// `call` settings.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// The CAMS action, e.g. UpdateChatGroup or ListChatGroup.
    pub action: String,
    /// A parameter `Key=Value` (split at the first `=`); repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
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
    #[arg(long)]
    pub timestamp: Option<String>,
}
