//! RRSA's settings: the role, OIDC provider and token file ACK's webhook puts in the
//! environment, the STS endpoint, and the options that do not come from the environment.

use std::path::PathBuf;
use std::time::Duration;

use super::RrsaError;
use crate::cams::env::non_blank;
use crate::cams::is_region_id;
use crate::cams::ProxySettings;
use crate::cams::{CamsError, Endpoint};

/// Environment variable: the RAM role to assume.
pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
/// Environment variable: the OIDC identity provider registered in RAM.
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
/// Environment variable: the projected service-account token file.
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
/// Environment variable: the role session name (optional).
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
/// Environment variable: the STS endpoint (`[http(s)://]host[:port]`).
pub const ENV_STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
/// Environment variable: the STS region, for `sts.<region>.aliyuncs.com`.
pub const ENV_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
/// Environment variable: `true` selects `sts-vpc.<region>.aliyuncs.com`.
pub const ENV_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";

/// The name the operator's flag for the STS endpoint override has (for error messages).
pub const STS_ENDPOINT_FLAG: &str = "--sts-endpoint";
/// The global STS endpoint, used when nothing else is configured.
pub const DEFAULT_STS_HOST: &str = "sts.aliyuncs.com";
/// The role session name when `ALIBABA_CLOUD_ROLE_SESSION_NAME` is not set.
pub const DEFAULT_ROLE_SESSION_NAME: &str = "cams-operator";
/// `DurationSeconds` asked for by default.
pub const DEFAULT_DURATION_SECS: u64 = 3600;
/// The smallest `DurationSeconds` STS accepts.
pub const MIN_DURATION_SECS: u64 = 900;
/// The largest `DurationSeconds` STS accepts (a role's maximum session is at most 12 hours).
pub const MAX_DURATION_SECS: u64 = 43_200;
/// Whole-request timeout of an STS call by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect timeout of an STS call by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings that do not come from the environment; `Default` gives the operator's defaults.
#[derive(Clone, Debug)]
pub struct RrsaOptions {
    /// The STS endpoint override (the operator's `--sts-endpoint`); it wins over the
    /// environment's STS settings.
    pub sts_endpoint: Option<Endpoint>,
    /// `DurationSeconds` to ask for (900..=43200).
    pub duration_secs: u64,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Timeout of establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// The `User-Agent` sent to STS.
    pub user_agent: String,
    /// Proxies, the same as the CAMS connection's; none by default (reqwest's own
    /// environment lookup is always off).
    pub proxy: ProxySettings,
}

impl Default for RrsaOptions {
    fn default() -> Self {
        Self {
            sts_endpoint: None,
            duration_secs: DEFAULT_DURATION_SECS,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: format!("cams-operator/{}", env!("CARGO_PKG_VERSION")),
            proxy: ProxySettings::default(),
        }
    }
}

/// The role to assume and how, as read from the environment and checked.
#[derive(Clone, Debug)]
pub(super) struct RoleConfig {
    /// `ALIBABA_CLOUD_ROLE_ARN`.
    pub role_arn: String,
    /// `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`.
    pub oidc_provider_arn: String,
    /// `ALIBABA_CLOUD_OIDC_TOKEN_FILE`, re-read on every refresh.
    pub token_file: PathBuf,
    /// `ALIBABA_CLOUD_ROLE_SESSION_NAME`, or the default.
    pub session_name: String,
    /// Where `AssumeRoleWithOIDC` is sent.
    pub endpoint: Endpoint,
    /// `DurationSeconds` asked for.
    pub duration_secs: u64,
}

impl RoleConfig {
    /// Reads and checks the settings. `Ok(None)` when none of the three required variables
    /// is set; an error naming the missing one when only some are.
    pub(super) fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
        options: &RrsaOptions,
    ) -> Result<Option<Self>, RrsaError> {
        let get = |k: &str| non_blank(lookup(k));
        let (role_arn, oidc_provider_arn, token_file) = match (
            get(ENV_ROLE_ARN),
            get(ENV_OIDC_PROVIDER_ARN),
            get(ENV_OIDC_TOKEN_FILE),
        ) {
            (None, None, None) => return Ok(None),
            (Some(role), Some(provider), Some(file)) => (role, provider, file),
            (role, provider, _) => {
                let missing = if role.is_none() {
                    ENV_ROLE_ARN
                } else if provider.is_none() {
                    ENV_OIDC_PROVIDER_ARN
                } else {
                    ENV_OIDC_TOKEN_FILE
                };
                return Err(RrsaError::Incomplete { missing });
            }
        };
        check_arn(ENV_ROLE_ARN, &role_arn, ":role/")?;
        check_arn(ENV_OIDC_PROVIDER_ARN, &oidc_provider_arn, ":oidc-provider/")?;
        let session_name =
            get(ENV_ROLE_SESSION_NAME).unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.into());
        if !is_session_name(&session_name) {
            return Err(RrsaError::Config {
                setting: ENV_ROLE_SESSION_NAME,
                reason: format!(
                    "{session_name:?} must be 2 to 64 characters of A-Z a-z 0-9 . @ - _"
                ),
            });
        }
        let endpoint = sts_endpoint(&get, options.sts_endpoint.as_ref())?;
        if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&options.duration_secs) {
            return Err(RrsaError::Config {
                setting: "DurationSeconds",
                reason: format!(
                    "{} is outside {MIN_DURATION_SECS}..={MAX_DURATION_SECS}",
                    options.duration_secs
                ),
            });
        }
        Ok(Some(Self {
            role_arn,
            oidc_provider_arn,
            token_file: PathBuf::from(token_file),
            session_name,
            endpoint,
            duration_secs: options.duration_secs,
        }))
    }
}

/// Parses an STS endpoint `setting`, `[http(s)://]host[:port]`.
pub(super) fn parse_endpoint(setting: &'static str, text: &str) -> Result<Endpoint, RrsaError> {
    Endpoint::parse(text).map_err(|e| RrsaError::Config {
        setting,
        reason: match e {
            CamsError::InvalidEndpoint(why) => why,
            other => other.to_string(),
        },
    })
}

fn check_arn(setting: &'static str, value: &str, kind: &str) -> Result<(), RrsaError> {
    if value.starts_with("acs:ram::") && value.contains(kind) {
        return Ok(());
    }
    Err(RrsaError::Config {
        setting,
        reason: format!("{value:?} is not an ARN of the form acs:ram::<account>{kind}<name>"),
    })
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'))
}

/// The STS endpoint: `explicit`; `ALIBABA_CLOUD_STS_ENDPOINT`;
/// `sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com` (`sts-vpc.…` with
/// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`); `sts.aliyuncs.com`.
fn sts_endpoint(
    get: &impl Fn(&str) -> Option<String>,
    explicit: Option<&Endpoint>,
) -> Result<Endpoint, RrsaError> {
    if let Some(endpoint) = explicit {
        return Ok(endpoint.clone());
    }
    if let Some(text) = get(ENV_STS_ENDPOINT) {
        return parse_endpoint(ENV_STS_ENDPOINT, &text);
    }
    let Some(region) = get(ENV_STS_REGION) else {
        return parse_endpoint(ENV_STS_ENDPOINT, DEFAULT_STS_HOST);
    };
    if !is_region_id(&region) {
        return Err(RrsaError::Config {
            setting: ENV_STS_REGION,
            reason: format!("{region:?} is not a region id (e.g. cn-hangzhou)"),
        });
    }
    let vpc = get(ENV_VPC_ENDPOINT_ENABLED).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let host = if vpc {
        format!("sts-vpc.{region}.aliyuncs.com")
    } else {
        format!("sts.{region}.aliyuncs.com")
    };
    parse_endpoint(ENV_STS_REGION, &host)
}
