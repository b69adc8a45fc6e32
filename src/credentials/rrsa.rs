//! RRSA (RAM Roles for Service Accounts on ACK): the operator's own credentials from a
//! projected OIDC token, exchanged for STS credentials with `AssumeRoleWithOIDC`, cached, and
//! refreshed some minutes before they expire.
//!
//! The OIDC token, the issued AccessKeySecret and the SecurityToken are secrets: none of them
//! appears in an error, a log line or a `Debug` print of this module. The token travels only
//! in the form-encoded body of a POST, never in the URL (which proxies and access logs keep);
//! transport errors still drop the URL (`reqwest::Error::without_url`) and are scrubbed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::cams::client::{read_body, BodyError, MAX_RESPONSE_BYTES};
use crate::cams::encode::percent_encode;
use crate::cams::endpoint::is_region_id;
use crate::cams::{CamsError, Credentials, Endpoint, ProxySettings, Scrubber, SecretString};

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
/// The most that cached credentials are considered stale before they expire; shorter
/// lifetimes refresh when a third of the lifetime is left.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// After a failed refresh while the cached credentials are still valid, the longest pause
/// before STS is asked again (a quarter of the remaining lifetime when that is shorter).
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// The STS API version.
pub const STS_API_VERSION: &str = "2015-04-01";
/// The STS action.
pub const STS_ACTION: &str = "AssumeRoleWithOIDC";

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
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// STS answered with an error.
    #[error("STS {STS_ACTION} answered HTTP {status} {code}: {message}")]
    Sts {
        /// HTTP status.
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
        /// HTTP status.
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

/// Settings that do not come from the environment; `Default` gives the operator's defaults.
#[derive(Clone, Debug)]
pub struct RrsaOptions {
    /// The STS endpoint override, `[http(s)://]host[:port]` (the operator's `--sts-endpoint`).
    pub sts_endpoint: Option<String>,
    /// `DurationSeconds` to ask for (900..=43200).
    pub duration_secs: u64,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
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

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// STS credentials as cached.
#[derive(Clone, Debug)]
struct Cached {
    credentials: Credentials,
    expiration: DateTime<Utc>,
    /// From here on the credentials are stale and a refresh is due.
    refresh_at: DateTime<Utc>,
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
    role_arn: String,
    oidc_provider_arn: String,
    token_file: PathBuf,
    session_name: String,
    endpoint: Endpoint,
    duration_secs: u64,
    timeout: Duration,
    http: reqwest::Client,
    clock: Clock,
    cache: RwLock<Cache>,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for RrsaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RrsaProvider")
            .field("role_arn", &self.role_arn)
            .field("oidc_provider_arn", &self.oidc_provider_arn)
            .field("token_file", &self.token_file)
            .field("session_name", &self.session_name)
            .field("endpoint", &self.endpoint.origin())
            .field("duration_secs", &self.duration_secs)
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
        Self::from_env_with(
            lookup,
            RrsaOptions {
                sts_endpoint: sts_endpoint_override.map(str::to_string),
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
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
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
        let endpoint = sts_endpoint(&get, options.sts_endpoint.as_deref())?;
        if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&options.duration_secs) {
            return Err(RrsaError::Config {
                setting: "DurationSeconds",
                reason: format!(
                    "{} is outside {MIN_DURATION_SECS}..={MAX_DURATION_SECS}",
                    options.duration_secs
                ),
            });
        }
        let builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(options.user_agent);
        let http = options
            .proxy
            .apply(builder)
            .map_err(|e| RrsaError::Config {
                setting: "HTTPS_PROXY/HTTP_PROXY",
                reason: e.without_url().to_string(),
            })?
            .build()
            .map_err(|e| RrsaError::Transport(e.without_url().to_string()))?;
        Ok(Some(Self {
            role_arn,
            oidc_provider_arn,
            token_file: PathBuf::from(token_file),
            session_name,
            endpoint,
            duration_secs: options.duration_secs,
            timeout: options.timeout,
            http,
            clock: Arc::new(Utc::now),
            cache: RwLock::new(Cache::default()),
            refresh: tokio::sync::Mutex::new(()),
        }))
    }

    /// Where the credentials come from, for logs (names only, never a secret).
    pub fn source(&self) -> String {
        format!(
            "RRSA role {} (OIDC provider {}, STS {})",
            self.role_arn,
            self.oidc_provider_arn,
            self.endpoint.origin()
        )
    }

    /// The role assumed.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The OIDC provider.
    pub fn oidc_provider_arn(&self) -> &str {
        &self.oidc_provider_arn
    }

    /// The token file, re-read on every refresh.
    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// The role session name sent.
    pub fn role_session_name(&self) -> &str {
        &self.session_name
    }

    /// The STS endpoint.
    pub fn sts_endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `DurationSeconds` asked for.
    pub fn duration_secs(&self) -> u64 {
        self.duration_secs
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
                    expiration = %fresh.expiration.format("%Y-%m-%dT%H:%M:%SZ"),
                    role_arn = %self.role_arn,
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
                    expiration = %valid.expiration.format("%Y-%m-%dT%H:%M:%SZ"),
                    role_arn = %self.role_arn,
                    "refreshing RRSA credentials failed; using the cached ones while they last"
                );
                Ok(valid.credentials)
            }
        }
    }

    /// Reads the token, calls STS and checks the answer.
    async fn fetch(&self) -> Result<Cached, RrsaError> {
        let token = self.read_token().await?;
        let scrubber = Scrubber::new([&token]);
        let now = self.now();
        let duration = self.duration_secs.to_string();
        let timestamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        // The protocol parameters go in the query; the token, and with it everything about
        // the role, only in the body.
        let query = form(&[
            ("Action", STS_ACTION),
            ("Format", "JSON"),
            ("Version", STS_API_VERSION),
            ("Timestamp", &timestamp),
        ]);
        let body = form(&[
            ("DurationSeconds", &duration),
            ("RoleArn", &self.role_arn),
            ("OIDCProviderArn", &self.oidc_provider_arn),
            ("OIDCToken", token.expose()),
            ("RoleSessionName", &self.session_name),
        ]);
        let url = format!("{}/?{query}", self.endpoint.origin());
        tracing::debug!(endpoint = %self.endpoint, role_arn = %self.role_arn, "calling STS {STS_ACTION}");
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e, &scrubber))?;
        let status = response.status().as_u16();
        let body = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => RrsaError::ResponseTooLarge {
                    status,
                    limit: MAX_RESPONSE_BYTES,
                },
                BodyError::Read(e) => self.transport_error(e, &scrubber),
            })?;
        parse_response(status, &body, &scrubber, now)
    }

    async fn read_token(&self) -> Result<SecretString, RrsaError> {
        let fail = |reason: String| RrsaError::TokenFile {
            path: self.token_file.display().to_string(),
            reason,
        };
        let bytes = tokio::fs::read(&self.token_file)
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

    fn transport_error(&self, error: reqwest::Error, scrubber: &Scrubber) -> RrsaError {
        if error.is_timeout() {
            return RrsaError::Transport(format!(
                "no answer from {} within {:?}",
                self.endpoint, self.timeout
            ));
        }
        // The URL holds the OIDC token: drop it, then scrub the whole source chain.
        let error = error.without_url();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        RrsaError::Transport(scrubber.scrub(&format!("{}: {text}", self.endpoint)))
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

/// `k=v&k=v`, every name and value percent-encoded (RFC 3986, valid form encoding).
fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
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

fn sts_endpoint(
    get: &impl Fn(&str) -> Option<String>,
    explicit: Option<&str>,
) -> Result<Endpoint, RrsaError> {
    let parse = |setting: &'static str, text: &str| {
        Endpoint::parse(text).map_err(|e| RrsaError::Config {
            setting,
            reason: match e {
                CamsError::InvalidEndpoint(why) => why,
                other => other.to_string(),
            },
        })
    };
    if let Some(text) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
        return parse(STS_ENDPOINT_FLAG, text);
    }
    if let Some(text) = get(ENV_STS_ENDPOINT) {
        return parse(ENV_STS_ENDPOINT, &text);
    }
    let Some(region) = get(ENV_STS_REGION) else {
        return parse(ENV_STS_ENDPOINT, DEFAULT_STS_HOST);
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
    parse(ENV_STS_REGION, &host)
}

/// Turns STS's answer into cached credentials, or an error with every string scrubbed.
fn parse_response(
    status: u16,
    body: &[u8],
    scrubber: &Scrubber,
    now: DateTime<Utc>,
) -> Result<Cached, RrsaError> {
    let ok_status = (200..300).contains(&status);
    // Parsed as a `Value` first: serde's messages about a syntax error give a position only,
    // while messages about a typed field could quote its value.
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let Some(json) = json.filter(Value::is_object) else {
        if ok_status {
            return Err(RrsaError::BadResponse(format!(
                "HTTP {status} with a body that is not a JSON object ({} bytes)",
                body.len()
            )));
        }
        return Err(RrsaError::Sts {
            status,
            code: format!("HTTP{status}"),
            message: format!("the body is not a JSON object ({} bytes)", body.len()),
            request_id: None,
        });
    };
    let request_id = text(&json, "RequestId");
    let credentials = json.get("Credentials").filter(|c| c.is_object());
    let code = text(&json, "Code");
    let Some(credentials) = credentials.filter(|_| ok_status) else {
        if ok_status && code.is_none() {
            return Err(RrsaError::BadResponse(
                "HTTP 2xx without a Credentials object".into(),
            ));
        }
        let message = text(&json, "Message").unwrap_or_default();
        return Err(RrsaError::Sts {
            status,
            code: code.unwrap_or_else(|| format!("HTTP{status}")),
            message: scrubber.scrub(&message),
            request_id,
        });
    };
    let field = |key: &str| {
        text(credentials, key)
            .ok_or_else(|| RrsaError::BadResponse(format!("Credentials.{key} is missing or empty")))
    };
    let access_key_id = field("AccessKeyId")?;
    let access_key_secret = field("AccessKeySecret")?;
    let security_token = field("SecurityToken")?;
    let expiration_text = field("Expiration")?;
    let expiration = parse_expiration(&expiration_text).ok_or_else(|| {
        RrsaError::BadResponse(format!(
            "Credentials.Expiration {expiration_text:?} is not yyyy-MM-ddTHH:mm:ssZ"
        ))
    })?;
    if expiration <= now {
        return Err(RrsaError::Expired {
            expiration: expiration_text,
        });
    }
    let lifetime = (expiration - now).to_std().unwrap_or_default();
    let margin = MAX_REFRESH_MARGIN.min(lifetime / 3);
    let refresh_at = expiration - chrono::Duration::from_std(margin).unwrap_or_default();
    Ok(Cached {
        credentials: Credentials::new(access_key_id, access_key_secret)
            .with_security_token(security_token),
        expiration,
        refresh_at,
    })
}

/// `yyyy-MM-ddTHH:mm:ssZ`, or any RFC 3339 time.
fn parse_expiration(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cams::encode::percent_decode;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use axum::extract::{RawQuery, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use chrono::TimeZone;

    const ROLE: &str = "acs:ram::1234567890:role/cams-operator";
    const PROVIDER: &str = "acs:ram::1234567890:oidc-provider/ack-rrsa-c1";
    /// Characters that need encoding, so the test sees the decoded value arrive intact.
    const TOKEN_1: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.sig+/=first-token";
    const TOKEN_2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNvbmQifQ.sig-second-token";

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct TestClock(Arc<Mutex<DateTime<Utc>>>);

    impl TestClock {
        fn new() -> Self {
            Self(Arc::new(Mutex::new(
                Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap(),
            )))
        }
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
        fn advance(&self, secs: i64) {
            *self.0.lock().unwrap() += chrono::Duration::seconds(secs);
        }
    }

    /// What the fake STS answers.
    #[derive(Clone)]
    enum Reply {
        /// Credentials valid for this many seconds from the test clock.
        Issue { lifetime_secs: i64 },
        /// A raw answer.
        Raw { status: u16, body: String },
        /// Sleeps, then issues.
        Slow(Duration),
    }

    struct FakeInner {
        /// The query and form parameters of each call, together.
        calls: Mutex<Vec<HashMap<String, String>>>,
        /// The raw query string of each call.
        queries: Mutex<Vec<String>>,
        reply: Mutex<Reply>,
        clock: TestClock,
    }

    #[derive(Clone)]
    struct Fake(Arc<FakeInner>);

    impl Fake {
        fn calls(&self) -> Vec<HashMap<String, String>> {
            self.0.calls.lock().unwrap().clone()
        }
        fn queries(&self) -> Vec<String> {
            self.0.queries.lock().unwrap().clone()
        }
        fn set(&self, reply: Reply) {
            *self.0.reply.lock().unwrap() = reply;
        }
    }

    fn decode_form(text: &str) -> Vec<(String, String)> {
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k).unwrap(), percent_decode(v).unwrap())
            })
            .collect()
    }

    async fn sts(
        State(fake): State<Fake>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        assert_eq!(
            headers["content-type"], "application/x-www-form-urlencoded",
            "the body is a form"
        );
        let query = query.unwrap_or_default();
        let n = {
            let mut calls = fake.0.calls.lock().unwrap();
            let mut params = decode_form(&query);
            params.extend(decode_form(&body));
            calls.push(params.into_iter().collect());
            fake.0.queries.lock().unwrap().push(query);
            calls.len()
        };
        let reply = fake.0.reply.lock().unwrap().clone();
        let lifetime = match reply {
            Reply::Raw { status, body } => {
                return (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
                    .into_response()
            }
            Reply::Slow(delay) => {
                tokio::time::sleep(delay).await;
                3600
            }
            Reply::Issue { lifetime_secs } => lifetime_secs,
        };
        let expiration = fake.0.clock.now() + chrono::Duration::seconds(lifetime);
        let body = serde_json::json!({
            "RequestId": format!("RID-{n}"),
            "AssumedRoleUser": {"Arn": format!("{ROLE}/cams-operator"), "AssumedRoleId": "300:cams-operator"},
            "Credentials": {
                "AccessKeyId": format!("STS.id{n}"),
                "AccessKeySecret": format!("issued-secret-{n}"),
                "SecurityToken": format!("issued-security-token-{n}"),
                "Expiration": expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }
        });
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    struct Setup {
        fake: Fake,
        clock: TestClock,
        provider: RrsaProvider,
        token_file: PathBuf,
        _dir: tempfile::TempDir,
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    async fn setup(reply: Reply) -> Setup {
        let clock = TestClock::new();
        let fake = Fake(Arc::new(FakeInner {
            calls: Mutex::new(Vec::new()),
            queries: Mutex::new(Vec::new()),
            reply: Mutex::new(reply),
            clock: clock.clone(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/", post(sts))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, TOKEN_1).unwrap();
        let provider = provider_for(&format!("http://{addr}"), &token_file, &clock);
        Setup {
            fake,
            clock,
            provider,
            token_file,
            _dir: dir,
        }
    }

    fn provider_for(endpoint: &str, token_file: &Path, clock: &TestClock) -> RrsaProvider {
        let file = token_file.display().to_string();
        let clock = clock.clone();
        RrsaProvider::from_env_with(
            env(&[
                (ENV_ROLE_ARN, ROLE),
                (ENV_OIDC_PROVIDER_ARN, PROVIDER),
                (ENV_OIDC_TOKEN_FILE, &file),
            ]),
            RrsaOptions {
                sts_endpoint: Some(endpoint.into()),
                timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(2),
                ..RrsaOptions::default()
            },
        )
        .unwrap()
        .unwrap()
        .with_clock(move || clock.now())
    }

    fn assert_no_secrets(text: &str) {
        for secret in [TOKEN_1, TOKEN_2, &percent_encode(TOKEN_1)] {
            assert!(!text.contains(secret), "secret leaked into {text:?}");
        }
    }

    #[test]
    fn configuration_from_the_environment() {
        assert!(RrsaProvider::from_env(env(&[]), None).unwrap().is_none());
        // Blank values count as unset.
        assert!(
            RrsaProvider::from_env(env(&[(ENV_ROLE_ARN, " ")]), Some("localhost:1"))
                .unwrap()
                .is_none()
        );
        let err = RrsaProvider::from_env(
            env(&[(ENV_ROLE_ARN, ROLE), (ENV_OIDC_TOKEN_FILE, "/t")]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            RrsaError::Incomplete {
                missing: ENV_OIDC_PROVIDER_ARN
            }
        );
        assert!(err.to_string().starts_with(ENV_OIDC_PROVIDER_ARN), "{err}");
        let err =
            RrsaProvider::from_env(env(&[(ENV_OIDC_PROVIDER_ARN, PROVIDER)]), None).unwrap_err();
        assert_eq!(
            err,
            RrsaError::Incomplete {
                missing: ENV_ROLE_ARN
            }
        );
        let err = RrsaProvider::from_env(
            env(&[(ENV_ROLE_ARN, ROLE), (ENV_OIDC_PROVIDER_ARN, PROVIDER)]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            RrsaError::Incomplete {
                missing: ENV_OIDC_TOKEN_FILE
            }
        );

        let base = [
            (ENV_ROLE_ARN, ROLE),
            (ENV_OIDC_PROVIDER_ARN, PROVIDER),
            (ENV_OIDC_TOKEN_FILE, "/var/run/secrets/token"),
        ];
        let p = RrsaProvider::from_env(env(&base), None).unwrap().unwrap();
        assert_eq!(p.role_session_name(), DEFAULT_ROLE_SESSION_NAME);
        assert_eq!(p.duration_secs(), 3600);
        assert_eq!(p.sts_endpoint().origin(), "https://sts.aliyuncs.com");
        assert_eq!(p.token_file(), Path::new("/var/run/secrets/token"));
        assert_eq!(p.expiration(), None);
        assert_eq!(
            p.source(),
            format!("RRSA role {ROLE} (OIDC provider {PROVIDER}, STS https://sts.aliyuncs.com)")
        );
        assert!(format!("{p:?}").contains(ROLE));

        let with = |extra: &[(&str, &str)], over: Option<&str>| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            RrsaProvider::from_env(env(&all), over).map(|p| p.unwrap())
        };
        let origin = |extra: &[(&str, &str)], over: Option<&str>| {
            with(extra, over).unwrap().sts_endpoint().origin()
        };
        assert_eq!(
            origin(&[(ENV_STS_REGION, "cn-hangzhou")], None),
            "https://sts.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            origin(
                &[
                    (ENV_STS_REGION, "cn-hangzhou"),
                    (ENV_VPC_ENDPOINT_ENABLED, "TRUE")
                ],
                None
            ),
            "https://sts-vpc.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            origin(
                &[
                    (ENV_STS_REGION, "cn-hangzhou"),
                    (ENV_VPC_ENDPOINT_ENABLED, "false")
                ],
                None
            ),
            "https://sts.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            origin(
                &[
                    (ENV_STS_REGION, "cn-hangzhou"),
                    (ENV_STS_ENDPOINT, "sts-vpc.ap-southeast-1.aliyuncs.com")
                ],
                None
            ),
            "https://sts-vpc.ap-southeast-1.aliyuncs.com"
        );
        assert_eq!(
            origin(
                &[(ENV_STS_ENDPOINT, "sts.aliyuncs.com")],
                Some("http://127.0.0.1:8080")
            ),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            with(&[(ENV_ROLE_SESSION_NAME, "my.session@x")], None)
                .unwrap()
                .role_session_name(),
            "my.session@x"
        );

        let config_error = |extra: &[(&str, &str)], over: Option<&str>| match with(extra, over) {
            Err(RrsaError::Config { setting, .. }) => setting,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(
            config_error(&[(ENV_STS_REGION, "Hangzhou")], None),
            ENV_STS_REGION
        );
        assert_eq!(
            config_error(&[], Some("ftp://sts.example.com")),
            STS_ENDPOINT_FLAG
        );
        assert_eq!(
            config_error(&[(ENV_STS_ENDPOINT, "sts.example.com/path")], None),
            ENV_STS_ENDPOINT
        );
        assert_eq!(
            config_error(&[(ENV_ROLE_SESSION_NAME, "no spaces")], None),
            ENV_ROLE_SESSION_NAME
        );
        assert_eq!(
            config_error(&[(ENV_ROLE_ARN, "arn:aws:iam::1:role/x")], None),
            ENV_ROLE_ARN
        );
        let short = RrsaProvider::from_env_with(
            env(&base),
            RrsaOptions {
                duration_secs: 60,
                ..RrsaOptions::default()
            },
        );
        assert!(matches!(
            short,
            Err(RrsaError::Config {
                setting: "DurationSeconds",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn sends_the_documented_request_and_returns_sts_credentials() {
        let s = setup(Reply::Issue {
            lifetime_secs: 3600,
        })
        .await;
        let c = s.provider.credentials().await.unwrap();
        assert_eq!(c.access_key_id, "STS.id1");
        assert_eq!(c.access_key_secret.expose(), "issued-secret-1");
        assert_eq!(
            c.security_token.as_ref().map(SecretString::expose),
            Some("issued-security-token-1")
        );
        assert_eq!(
            s.provider.expiration(),
            Some(s.clock.now() + chrono::Duration::seconds(3600))
        );
        let calls = s.fake.calls();
        assert_eq!(calls.len(), 1);
        let q = &calls[0];
        let expected: HashMap<String, String> = [
            ("Action", "AssumeRoleWithOIDC"),
            ("Format", "JSON"),
            ("Version", "2015-04-01"),
            ("DurationSeconds", "3600"),
            ("RoleArn", ROLE),
            ("OIDCProviderArn", PROVIDER),
            ("OIDCToken", TOKEN_1),
            ("RoleSessionName", "cams-operator"),
            ("Timestamp", "2026-11-26T12:00:00Z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(q, &expected);
        assert_eq!(
            s.fake.queries(),
            [
                "Action=AssumeRoleWithOIDC&Format=JSON&Version=2015-04-01&Timestamp=2026-11-26T12%3A00%3A00Z"
            ]
        );
    }

    #[tokio::test]
    async fn caches_and_shares_one_call_between_concurrent_callers() {
        let s = setup(Reply::Slow(Duration::from_millis(200))).await;
        let provider = Arc::new(s.provider);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let p = provider.clone();
                tokio::spawn(async move { p.credentials().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().access_key_id, "STS.id1");
        }
        assert_eq!(s.fake.calls().len(), 1);
        for _ in 0..50 {
            assert_eq!(
                provider.credentials().await.unwrap().access_key_id,
                "STS.id1"
            );
        }
        // Still well before the refresh margin.
        s.clock.advance(3000);
        provider.credentials().await.unwrap();
        assert_eq!(s.fake.calls().len(), 1);
    }

    #[tokio::test]
    async fn refreshes_near_expiry_and_rereads_the_token_file() {
        let s = setup(Reply::Issue {
            lifetime_secs: 3600,
        })
        .await;
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.id1"
        );
        // The margin for an hour is 5 minutes: at 301 s left nothing happens ...
        s.clock.advance(3600 - 301);
        s.provider.credentials().await.unwrap();
        assert_eq!(s.fake.calls().len(), 1);
        // ... at 300 s left the token file is read again and STS is called.
        std::fs::write(&s.token_file, format!("{TOKEN_2}\n")).unwrap();
        s.clock.advance(1);
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.id2"
        );
        let calls = s.fake.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1]["OIDCToken"], TOKEN_2);
        assert_eq!(calls[1]["Timestamp"], "2026-11-26T12:55:00Z");

        // Short-lived credentials refresh when a third of their lifetime is left.
        s.fake.set(Reply::Issue { lifetime_secs: 30 });
        s.clock.advance(3600);
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.id3"
        );
        s.clock.advance(19);
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.id3"
        );
        s.clock.advance(1);
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.id4"
        );
        assert_eq!(s.fake.calls().len(), 4);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_valid_credentials_then_fails_once_they_expire() {
        let s = setup(Reply::Issue {
            lifetime_secs: 3600,
        })
        .await;
        s.provider.credentials().await.unwrap();
        s.fake.set(Reply::Raw {
            status: 503,
            body: r#"{"Code":"ServiceUnavailable","Message":"try later","RequestId":"R"}"#.into(),
        });
        s.clock.advance(3400);
        // Stale, STS fails: the cached credentials serve.
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.id1"
        );
        assert_eq!(s.fake.calls().len(), 2);
        // Within the pause STS is not asked again.
        s.provider.credentials().await.unwrap();
        assert_eq!(s.fake.calls().len(), 2);
        // After it, it is.
        s.clock.advance(11);
        s.provider.credentials().await.unwrap();
        assert_eq!(s.fake.calls().len(), 3);
        // Once expired, the error comes through.
        s.clock.advance(200);
        let err = s.provider.credentials().await.unwrap_err();
        assert_eq!(err.sts_code(), Some("ServiceUnavailable"));
        assert!(err.is_transient());
        // And when STS is back, it recovers.
        s.fake.set(Reply::Issue {
            lifetime_secs: 3600,
        });
        assert!(s
            .provider
            .credentials()
            .await
            .unwrap()
            .access_key_id
            .starts_with("STS."));
    }

    #[tokio::test]
    async fn maps_sts_errors_and_bad_answers() {
        let s = setup(Reply::Raw {
            status: 401,
            body: format!(
                r#"{{"RequestId":"RID-X","HostId":"sts.aliyuncs.com","Code":"AuthenticationFail.OIDCToken.Invalid","Message":"The OIDC token {TOKEN_1} is invalid.","Recommend":"https://api.aliyun.com/troubleshoot?q=AuthenticationFail.OIDCToken.Invalid&product=Sts"}}"#
            ),
        })
        .await;
        let err = s.provider.credentials().await.unwrap_err();
        let RrsaError::Sts {
            status,
            code,
            message,
            request_id,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*status, 401);
        assert_eq!(code, "AuthenticationFail.OIDCToken.Invalid");
        assert_eq!(message, "The OIDC token *** is invalid.");
        assert_eq!(request_id.as_deref(), Some("RID-X"));
        assert!(!err.is_transient());
        assert_no_secrets(&err.to_string());
        assert_no_secrets(&format!("{err:?}"));

        type Check = fn(&RrsaError) -> bool;
        let cases: Vec<(u16, &str, Check)> = vec![
            (
                400,
                r#"{"Code":"InvalidParameter.RoleArn","Message":"bad"}"#,
                |e| e.sts_code() == Some("InvalidParameter.RoleArn"),
            ),
            (502, "<html>bad gateway</html>", |e| {
                e.sts_code() == Some("HTTP502") && e.is_transient()
            }),
            (400, r#"{"Message":"no code"}"#, |e| {
                e.sts_code() == Some("HTTP400")
            }),
            (
                200,
                r#"{"Code":"Throttling.User","Message":"slow down"}"#,
                |e| e.sts_code() == Some("Throttling.User") && e.is_transient(),
            ),
            (200, "not json", |e| matches!(e, RrsaError::BadResponse(_))),
            (
                200,
                r#"{"RequestId":"R"}"#,
                |e| matches!(e, RrsaError::BadResponse(m) if m.contains("Credentials")),
            ),
            (
                200,
                r#"{"Credentials":{"AccessKeyId":"STS.x","AccessKeySecret":"s3cr3t-value","Expiration":"2026-11-26T13:00:00Z"}}"#,
                |e| matches!(e, RrsaError::BadResponse(m) if m.contains("SecurityToken")),
            ),
            (
                200,
                r#"{"Credentials":{"AccessKeyId":"STS.x","AccessKeySecret":"s3cr3t-value","SecurityToken":"tok-value","Expiration":"tomorrow"}}"#,
                |e| matches!(e, RrsaError::BadResponse(m) if m.contains("Expiration")),
            ),
            (
                200,
                r#"{"Credentials":{"AccessKeyId":"STS.x","AccessKeySecret":"s3cr3t-value","SecurityToken":"tok-value","Expiration":"2026-11-26T12:00:00Z"}}"#,
                |e| matches!(e, RrsaError::Expired { expiration } if expiration == "2026-11-26T12:00:00Z"),
            ),
        ];
        for (status, body, check) in cases {
            s.fake.set(Reply::Raw {
                status,
                body: body.into(),
            });
            let err = s.provider.credentials().await.unwrap_err();
            assert!(check(&err), "HTTP {status} {body}: got {err:?}");
            let text = format!("{err} {err:?}");
            assert_no_secrets(&text);
            assert!(
                !text.contains("s3cr3t-value") && !text.contains("tok-value"),
                "{text}"
            );
        }
        // An RFC 3339 Expiration with fractions is accepted too.
        s.fake.set(Reply::Raw {
            status: 200,
            body: r#"{"Credentials":{"AccessKeyId":"STS.x","AccessKeySecret":"s3cr3t-value","SecurityToken":"tok-value","Expiration":"2026-11-26T13:00:00.5+00:00"}}"#.into(),
        });
        assert_eq!(
            s.provider.credentials().await.unwrap().access_key_id,
            "STS.x"
        );
    }

    #[tokio::test]
    async fn token_file_problems_name_the_path_not_the_contents() {
        let s = setup(Reply::Issue {
            lifetime_secs: 3600,
        })
        .await;
        let path = s.token_file.display().to_string();
        std::fs::write(&s.token_file, " \n").unwrap();
        let err = s.provider.credentials().await.unwrap_err();
        assert_eq!(
            err,
            RrsaError::TokenFile {
                path: path.clone(),
                reason: "is empty".into()
            }
        );
        std::fs::write(&s.token_file, [0xff, 0xfe, b'x', b'y']).unwrap();
        let err = s.provider.credentials().await.unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        std::fs::remove_file(&s.token_file).unwrap();
        let err = s.provider.credentials().await.unwrap_err();
        assert!(
            matches!(&err, RrsaError::TokenFile { path: p, reason } if *p == path && reason.starts_with("cannot read")),
            "{err:?}"
        );
        assert!(err.to_string().contains(&path));
        assert!(s.fake.calls().is_empty(), "nothing is sent without a token");
    }

    #[tokio::test]
    async fn the_oidc_token_appears_in_no_transport_error() {
        // Connection refused: reqwest's error would carry the URL, and with it the token.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, TOKEN_1).unwrap();
        let clock = TestClock::new();
        let p = provider_for(&format!("http://{addr}"), &file, &clock);
        let err = p.credentials().await.unwrap_err();
        assert!(matches!(err, RrsaError::Transport(_)), "{err:?}");
        assert!(err.is_transient());
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert_no_secrets(&format!("{err} {err:?}"));
        assert!(!err.to_string().contains("OIDCToken"), "{err}");

        // A timeout.
        let s = setup(Reply::Slow(Duration::from_secs(5))).await;
        let err = s.provider.credentials().await.unwrap_err();
        assert!(
            matches!(&err, RrsaError::Transport(m) if m.contains("no answer")),
            "{err:?}"
        );
        assert_no_secrets(&format!("{err} {err:?}"));
    }

    #[tokio::test]
    async fn callers_that_waited_share_a_failed_refresh() {
        let s = setup(Reply::Raw {
            status: 500,
            body: r#"{"Code":"InternalError","Message":"boom"}"#.into(),
        })
        .await;
        // The first caller holds the refresh lock while the others queue behind it.
        let provider = Arc::new(s.provider);
        let guard = provider.refresh.lock().await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let p = provider.clone();
                tokio::spawn(async move { p.credentials().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(guard);
        for t in tasks {
            assert_eq!(
                t.await.unwrap().unwrap_err().sts_code(),
                Some("InternalError")
            );
        }
        assert_eq!(s.fake.calls().len(), 1);
    }
}

#[cfg(test)]
#[path = "rrsa_http_tests.rs"]
mod http_tests;
