//! RRSA (RAM Roles for Service Accounts on ACK): the operator's own credentials from a
//! projected OIDC token, exchanged for STS credentials with `AssumeRoleWithOIDC`, cached, and
//! refreshed some minutes before they expire.
//!
//! The OIDC token, the issued AccessKeySecret and the SecurityToken are secrets: none of them
//! appears in an error, a log line or a `Debug` print of this module. The token travels only
//! in the form-encoded body of a POST, never in the URL (which proxies and access logs keep);
//! transport errors still drop the URL (`reqwest::Error::without_url`) and are scrubbed.
//!
//! `config` reads the environment and options, `sts` is the STS client, and the provider
//! here caches and refreshes.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cams::redact::SecretString;
use crate::cams::timestamp::format_timestamp;
use crate::cams::{Credentials, Endpoint};

mod config;
mod sts;

use config::{parse_endpoint, RoleConfig};
use sts::{Issued, StsClient};

pub use config::{
    RrsaOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DURATION_SECS, DEFAULT_ROLE_SESSION_NAME,
    DEFAULT_STS_HOST, DEFAULT_TIMEOUT, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE, ENV_ROLE_ARN,
    ENV_ROLE_SESSION_NAME, ENV_STS_ENDPOINT, ENV_STS_REGION, ENV_VPC_ENDPOINT_ENABLED,
    MAX_DURATION_SECS, MIN_DURATION_SECS, STS_ENDPOINT_FLAG,
};
pub use sts::{STS_ACTION, STS_API_VERSION};

/// The most that cached credentials are considered stale before they expire; shorter
/// lifetimes refresh when a third of the lifetime is left.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// After a failed refresh while the cached credentials are still valid, the longest pause
/// before STS is asked again (a quarter of the remaining lifetime when that is shorter).
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// Why RRSA credentials could not be configured or obtained. No variant carries the OIDC
/// token, an AccessKeySecret or a SecurityToken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RrsaError {
    /// Some of the three required variables are set, but not this one.
    #[error("{missing} is not set: RRSA needs {ENV_ROLE_ARN}, {ENV_OIDC_PROVIDER_ARN} and {ENV_OIDC_TOKEN_FILE} together")]
    Incomplete {
        /// The missing variable.
        missing: &'static str,
    },
    /// A setting has an unusable value.
    #[error("invalid RRSA setting {setting}: {reason}")]
    Config {
        /// The variable or flag.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The OIDC token file cannot be used (its contents are never quoted).
    #[error("OIDC token file {path}: {reason}")]
    TokenFile {
        /// The token file's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// STS answered with an error.
    #[error("STS {STS_ACTION} answered HTTP {status} {code}: {message}")]
    Sts {
        /// The HTTP status code of STS's answer.
        status: u16,
        /// The `Code` (or `HTTP<status>` when STS sent none).
        code: String,
        /// The `Message`, scrubbed.
        message: String,
        /// The `RequestId`, if any.
        request_id: Option<String>,
    },
    /// The request did not complete (connection refused, TLS, DNS, timeout …), scrubbed and
    /// without the URL.
    #[error("STS {STS_ACTION} request failed: {0}")]
    Transport(String),
    /// STS answered with a body longer than is read; the rest was not read.
    #[error("STS {STS_ACTION} answered HTTP {status} with a body over {limit} bytes; the rest was not read")]
    ResponseTooLarge {
        /// The HTTP status code of STS's answer.
        status: u16,
        /// The bound, in bytes.
        limit: usize,
    },
    /// STS answered 2xx with something that is not usable credentials.
    #[error("STS {STS_ACTION} answered with an unusable response: {0}")]
    BadResponse(String),
    /// STS issued credentials that have already expired by the local clock.
    #[error("STS issued credentials that expire at {expiration}, which is not in the future (is the clock right?)")]
    Expired {
        /// The `Expiration` STS sent.
        expiration: String,
    },
}

impl RrsaError {
    /// The STS error code, for an STS error.
    pub fn sts_code(&self) -> Option<&str> {
        match self {
            Self::Sts { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying again later may help without anyone changing anything: transport
    /// errors, oversized answers (a misbehaving proxy), 5xx and throttling answers.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::ResponseTooLarge { .. } => true,
            Self::Sts { status, code, .. } => *status >= 500 || code.starts_with("Throttling"),
            _ => false,
        }
    }
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// STS credentials as cached.
#[derive(Clone, Debug)]
struct Cached {
    credentials: Credentials,
    expiration: DateTime<Utc>,
    /// From here on the credentials are stale and a refresh is due.
    refresh_at: DateTime<Utc>,
}

impl Cached {
    /// Issued credentials, due for a refresh when less than min(5 minutes, a third of their
    /// lifetime at `now`) is left.
    fn new(issued: Issued, now: DateTime<Utc>) -> Self {
        let lifetime = (issued.expiration - now).to_std().unwrap_or_default();
        let margin = MAX_REFRESH_MARGIN.min(lifetime / 3);
        let refresh_at = issued.expiration - chrono::Duration::from_std(margin).unwrap_or_default();
        Self {
            credentials: issued.credentials,
            expiration: issued.expiration,
            refresh_at,
        }
    }
}

#[derive(Debug, Default)]
struct Cache {
    current: Option<Cached>,
    /// After a failed refresh with valid credentials cached: do not ask STS before this.
    pause_until: Option<DateTime<Utc>>,
    /// Counts finished refresh attempts, so that callers who waited for one share its result.
    attempts: u64,
    /// The error of the last attempt, when it failed.
    last_error: Option<RrsaError>,
}

impl Cache {
    /// The cached credentials when no refresh is due at `now`.
    fn fresh(&self, now: DateTime<Utc>) -> Option<Credentials> {
        let c = self.current.as_ref()?;
        let paused = self.pause_until.is_some_and(|until| now < until);
        (now < c.expiration && (now < c.refresh_at || paused)).then(|| c.credentials.clone())
    }

    /// The cached credentials while they have not expired at `now`.
    fn valid(&self, now: DateTime<Utc>) -> Option<&Cached> {
        self.current.as_ref().filter(|c| now < c.expiration)
    }
}

/// The operator's credentials from RRSA: configured from the environment ACK's webhook
/// injects, fetched from STS on first use and refreshed before they expire. Share one
/// provider (it is `Send + Sync`); concurrent callers share one STS call.
pub struct RrsaProvider {
    role: RoleConfig,
    sts: StsClient,
    clock: Clock,
    cache: RwLock<Cache>,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for RrsaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RrsaProvider")
            .field("role_arn", &self.role.role_arn)
            .field("oidc_provider_arn", &self.role.oidc_provider_arn)
            .field("token_file", &self.role.token_file)
            .field("session_name", &self.role.session_name)
            .field("endpoint", &self.role.endpoint.origin())
            .field("duration_secs", &self.role.duration_secs)
            .finish_non_exhaustive()
    }
}

impl RrsaProvider {
    /// Configures RRSA from `lookup` (the environment in production) with the default
    /// options and an optional STS endpoint override. `Ok(None)` when none of
    /// `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and
    /// `ALIBABA_CLOUD_OIDC_TOKEN_FILE` is set; an error naming the missing one when only some
    /// are. Nothing is read from the token file and nothing is sent yet.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
        sts_endpoint_override: Option<&str>,
    ) -> Result<Option<Self>, RrsaError> {
        let sts_endpoint = sts_endpoint_override
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|text| parse_endpoint(STS_ENDPOINT_FLAG, text))
            .transpose()?;
        Self::from_env_with(
            lookup,
            RrsaOptions {
                sts_endpoint,
                ..RrsaOptions::default()
            },
        )
    }

    /// [`RrsaProvider::from_env`] with every option.
    ///
    /// The STS endpoint is, in order: `options.sts_endpoint`; `ALIBABA_CLOUD_STS_ENDPOINT`;
    /// `sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com` (`sts-vpc.<region>.aliyuncs.com` when
    /// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`); `sts.aliyuncs.com`.
    pub fn from_env_with(
        lookup: impl Fn(&str) -> Option<String>,
        options: RrsaOptions,
    ) -> Result<Option<Self>, RrsaError> {
        let Some(role) = RoleConfig::from_env(lookup, &options)? else {
            return Ok(None);
        };
        let sts = StsClient::new(role.endpoint.clone(), options)?;
        Ok(Some(Self {
            role,
            sts,
            clock: Arc::new(Utc::now),
            cache: RwLock::new(Cache::default()),
            refresh: tokio::sync::Mutex::new(()),
        }))
    }

    /// Where the credentials come from, for logs (names only, never a secret).
    pub fn source(&self) -> String {
        format!(
            "RRSA role {} (OIDC provider {}, STS {})",
            self.role.role_arn,
            self.role.oidc_provider_arn,
            self.sts.endpoint().origin()
        )
    }

    /// The role assumed.
    pub fn role_arn(&self) -> &str {
        &self.role.role_arn
    }

    /// The OIDC provider.
    pub fn oidc_provider_arn(&self) -> &str {
        &self.role.oidc_provider_arn
    }

    /// The token file, re-read on every refresh.
    pub fn token_file(&self) -> &Path {
        &self.role.token_file
    }

    /// The role session name sent.
    pub fn role_session_name(&self) -> &str {
        &self.role.session_name
    }

    /// The STS endpoint.
    pub fn sts_endpoint(&self) -> &Endpoint {
        self.sts.endpoint()
    }

    /// `DurationSeconds` asked for.
    pub fn duration_secs(&self) -> u64 {
        self.role.duration_secs
    }

    /// When the cached credentials expire (`None` before the first successful fetch).
    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        self.read_cache().current.as_ref().map(|c| c.expiration)
    }

    /// The current STS credentials: the cached ones, refreshed first when there are none or
    /// when less than min(5 minutes, a third of their lifetime) is left. The token file is
    /// read again for every refresh. Concurrent callers share one refresh. When a refresh
    /// fails while the cached credentials are still valid, those are returned (with a
    /// warning in the log) and STS is asked again after a short pause; otherwise the error is
    /// returned.
    pub async fn credentials(&self) -> Result<Credentials, RrsaError> {
        let seen = {
            let cache = self.read_cache();
            if let Some(credentials) = cache.fresh(self.now()) {
                return Ok(credentials);
            }
            cache.attempts
        };
        let _refreshing = match self.refresh.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Someone else is refreshing: what is cached serves while it is valid.
                if let Some(c) = self.read_cache().valid(self.now()) {
                    return Ok(c.credentials.clone());
                }
                self.refresh.lock().await
            }
        };
        {
            let cache = self.read_cache();
            let now = self.now();
            if let Some(credentials) = cache.fresh(now) {
                return Ok(credentials);
            }
            if cache.attempts != seen {
                // A refresh finished while this caller waited: share its outcome.
                if let Some(c) = cache.valid(now) {
                    return Ok(c.credentials.clone());
                }
                if let Some(error) = &cache.last_error {
                    return Err(error.clone());
                }
            }
        }
        let outcome = self.fetch().await;
        let now = self.now();
        let mut cache = self.write_cache();
        cache.attempts += 1;
        match outcome {
            Ok(fresh) => {
                tracing::info!(
                    access_key_id = %fresh.credentials.access_key_id,
                    expiration = %format_timestamp(&fresh.expiration),
                    role_arn = %self.role.role_arn,
                    "obtained RRSA credentials from STS"
                );
                let credentials = fresh.credentials.clone();
                cache.current = Some(fresh);
                cache.pause_until = None;
                cache.last_error = None;
                Ok(credentials)
            }
            Err(error) => {
                cache.last_error = Some(error.clone());
                let Some(valid) = cache.valid(now).cloned() else {
                    return Err(error);
                };
                let left = (valid.expiration - now).to_std().unwrap_or_default();
                let pause = MAX_RETRY_PAUSE.min(left / 4);
                cache.pause_until =
                    Some(now + chrono::Duration::from_std(pause).unwrap_or_default());
                tracing::warn!(
                    %error,
                    expiration = %format_timestamp(&valid.expiration),
                    role_arn = %self.role.role_arn,
                    "refreshing RRSA credentials failed; using the cached ones while they last"
                );
                Ok(valid.credentials)
            }
        }
    }

    /// Reads the token, calls STS and checks the answer.
    async fn fetch(&self) -> Result<Cached, RrsaError> {
        let token = self.read_token().await?;
        let now = self.now();
        let issued = self.sts.assume_role(&self.role, &token, now).await?;
        Ok(Cached::new(issued, now))
    }

    async fn read_token(&self) -> Result<SecretString, RrsaError> {
        let fail = |reason: String| RrsaError::TokenFile {
            path: self.role.token_file.display().to_string(),
            reason,
        };
        let bytes = tokio::fs::read(&self.role.token_file)
            .await
            .map_err(|e| fail(format!("cannot read: {}", e.kind())))?;
        let text = String::from_utf8(bytes).map_err(|_| fail("is not UTF-8 text".into()))?;
        // A projected token has no surrounding whitespace; a hand-written file may end in a
        // newline, which is not part of the token.
        let token = text.trim();
        if token.is_empty() {
            return Err(fail("is empty".into()));
        }
        Ok(SecretString::new(token))
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

#[cfg(test)]
mod provider_tests;

#[cfg(test)]
mod http_tests;
