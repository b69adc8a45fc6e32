//! The HTTP client that sends signed CAMS requests, and the trait the reconciler uses.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::credentials::Credentials;
use super::endpoint::{Endpoint, EndpointPolicy};
use super::env::non_blank;
use super::error::{CamsError, ErrorClass};
use super::groups::{
    AddChatGroup, AddChatGroupInviteLink, AddedGroup, AddedInviteLink, DeleteChatGroup,
    DeleteChatGroupInviteLink, GroupPage, ListChatGroup, UpdateChatGroup,
};
use super::ratelimit::{BucketKey, RateLimit, RateLimiter};
use super::redact::Scrubber;
use super::request::{sign_request, Freshness, RequestSpec, SignatureVersion, SignedRequest};
use super::response::{parse_http_date, parse_retry_after, Envelope, Response};

/// The CAMS group operations the operator uses, behind a trait so the reconciler can be
/// tested with a mock. Every method goes through [`CamsClient::call`]: the same envelope
/// handling, error classes, freshness retry and rate limiting (a bucket per action).
///
/// `update_chat_group`, `list_chat_group`, `delete_chat_group` and
/// `delete_chat_group_invite_link` can be repeated with the same input. `add_chat_group`
/// **cannot** (each accepted call creates one more group) and `add_chat_group_invite_link`
/// resets the link each time: a caller must not repeat them after an uncertain outcome
/// ([`CamsError::may_have_reached_cams`]) without first looking at the groups.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ChatGroupApi: Send + Sync {
    /// Sends `UpdateChatGroup`. `region` selects the regional endpoint (or the default).
    async fn update_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &UpdateChatGroup,
    ) -> Result<Response, CamsError>;

    /// Sends `ListChatGroup` for one page and decodes its `Data`. A successful answer without
    /// `Data.List` is [`CamsError::Undecodable`].
    async fn list_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &ListChatGroup,
    ) -> Result<GroupPage, CamsError>;

    /// Sends `AddChatGroup`. The answer carries the `UniqueCode` (`None` when CAMS left it
    /// out), never a GroupId: find the new group with `ListChatGroup`.
    async fn add_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &AddChatGroup,
    ) -> Result<AddedGroup, CamsError>;

    /// Sends `DeleteChatGroup`. An unknown group is [`CamsError::is_group_not_found`].
    async fn delete_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &DeleteChatGroup,
    ) -> Result<Response, CamsError>;

    /// Sends `AddChatGroupInviteLink`. The link is returned as a secret and masked in the
    /// returned response; it never appears in `Debug` output or errors.
    async fn add_chat_group_invite_link(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &AddChatGroupInviteLink,
    ) -> Result<AddedInviteLink, CamsError>;

    /// Sends `DeleteChatGroupInviteLink`.
    async fn delete_chat_group_invite_link(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &DeleteChatGroupInviteLink,
    ) -> Result<Response, CamsError>;
}

/// How the client talks to CAMS.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Default region and endpoint override.
    pub endpoints: EndpointPolicy,
    /// The scheme every request is signed with.
    pub signature: SignatureVersion,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Timeout of establishing a connection (TCP and TLS), within the whole-request one.
    pub connect_timeout: Duration,
    /// The `User-Agent` to send (carries the replica identity).
    pub user_agent: String,
}

/// The most of a response body that is read (CAMS and STS answers are a few KiB); a longer
/// body is an error, and the rest of it is never read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a response body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the bound (declared or as it arrived).
    TooLarge,
    /// The connection failed while reading.
    Read(reqwest::Error),
}

/// Reads `response`'s body chunk by chunk, up to `limit` bytes.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if response.content_length().is_some_and(|n| n > limit_u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Receives what the client did, for metrics. Implementations must be cheap.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// One request was answered (or failed): `code` is the CAMS Code, or `transport`,
    /// `timeout`, `undecodable` or `too_large`.
    fn on_request(&self, action: &str, code: &str, duration: Duration);
    /// A request waited this long for the rate limiter.
    fn on_rate_limited(&self, waited: Duration);
}

/// Proxies for the CAMS connection, as `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` give them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy URL for https:// endpoints (CONNECT tunnel).
    pub https: Option<String>,
    /// Proxy URL for http:// endpoints (an override such as a local simulator).
    pub http: Option<String>,
    /// Hosts that bypass the proxy (curl's NO_PROXY syntax).
    pub no_proxy: Option<String>,
}

impl ProxySettings {
    /// Reads the conventional variables, upper case first, then lower case.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        // A set upper-case variable wins over the lower-case one, even when it is blank.
        let get = |upper: &str, lower: &str| non_blank(lookup(upper).or_else(|| lookup(lower)));
        Self {
            https: get("HTTPS_PROXY", "https_proxy"),
            http: get("HTTP_PROXY", "http_proxy"),
            no_proxy: get("NO_PROXY", "no_proxy"),
        }
    }
}

impl ProxySettings {
    /// Turns reqwest's own environment lookup off and applies these proxies instead.
    pub fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, reqwest::Error> {
        let mut builder = builder.no_proxy();
        let no_proxy = || {
            self.no_proxy
                .as_deref()
                .and_then(reqwest::NoProxy::from_string)
        };
        if let Some(url) = &self.https {
            builder = builder.proxy(reqwest::Proxy::https(url)?.no_proxy(no_proxy()));
        }
        if let Some(url) = &self.http {
            builder = builder.proxy(reqwest::Proxy::http(url)?.no_proxy(no_proxy()));
        }
        Ok(builder)
    }
}

/// Optional parts of a client.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Proxies; none by default (the process environment is read by the caller, so what the
    /// client does never depends on hidden global state).
    pub proxy: ProxySettings,
    /// Where to report requests (metrics).
    pub observer: Option<Arc<dyn CallObserver>>,
    /// Client-side rate limit, kept per AccessKeyId, region and action; `None`: no limit.
    pub rate_limit: Option<RateLimit>,
    /// The limit of `ListChatGroup`'s buckets instead of `rate_limit` (scans and writes
    /// never wait for each other's tokens); `None`: no limit.
    pub list_rate_limit: Option<RateLimit>,
    /// Extra CA certificates (PEM) trusted for the CAMS connection, besides the built-in roots.
    pub extra_ca_pem: Option<Vec<u8>>,
}

/// A CAMS client over HTTPS (or HTTP to an explicit override), optionally through a proxy.
#[derive(Clone, Debug)]
pub struct CamsClient {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Arc<RateLimiter>,
    list_limiter: Arc<RateLimiter>,
    observer: Option<Arc<dyn CallObserver>>,
}

/// Idle connections kept per CAMS endpoint. Each one keeps its buffers (tens of KB); after a
/// burst at a high `--concurrency`, the rest are closed rather than kept for 90 seconds.
const MAX_IDLE_CONNECTIONS: usize = 16;

impl CamsClient {
    /// Builds the HTTP client without a rate limit or extra CAs.
    pub fn new(config: ClientConfig) -> Result<Self, CamsError> {
        Self::with_options(config, ClientOptions::default())
    }

    /// Builds the HTTP client.
    pub fn with_options(config: ClientConfig, options: ClientOptions) -> Result<Self, CamsError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            .redirect(reqwest::redirect::Policy::none());
        builder = options
            .proxy
            .apply(builder)
            .map_err(|e| CamsError::InvalidEndpoint(format!("proxy: {}", e.without_url())))?;
        if let Some(pem) = &options.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| CamsError::InvalidCaBundle(e.without_url().to_string()))?;
            if certs.is_empty() {
                return Err(CamsError::InvalidCaBundle(
                    "no PEM certificate found".into(),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CamsError::Transport(e.without_url().to_string()))?;
        Ok(Self {
            http,
            config,
            limiter: Arc::new(RateLimiter::new(options.rate_limit)),
            list_limiter: Arc::new(RateLimiter::new(options.list_rate_limit)),
            observer: options.observer,
        })
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The endpoint a call for `region` goes to.
    pub fn endpoint(&self, region: Option<&str>) -> Result<Endpoint, CamsError> {
        let endpoint = self.config.endpoints.resolve(region)?;
        if !self.config.endpoints.allows(&endpoint) {
            return Err(CamsError::HostNotAllowed(endpoint.host_header()));
        }
        Ok(endpoint)
    }

    /// Signs a request without sending it (for `call --dry-run`).
    pub fn prepare(
        &self,
        action: &str,
        params: &[(String, String)],
        region: Option<&str>,
        credentials: &Credentials,
        fresh: &Freshness,
    ) -> Result<SignedRequest, CamsError> {
        let endpoint = self.endpoint(region)?;
        let extra = [("user-agent".to_string(), self.config.user_agent.clone())];
        let spec = RequestSpec {
            action,
            params,
            endpoint: &endpoint,
            signature: self.config.signature,
            extra_headers: &extra,
        };
        Ok(sign_request(&spec, credentials, fresh))
    }

    /// Sends one action. A freshness error (stale timestamp, reused nonce) is retried once at
    /// once with a new nonce and timestamp; every other outcome is returned to the caller.
    pub async fn call(
        &self,
        action: &str,
        params: &[(String, String)],
        region: Option<&str>,
        credentials: &Credentials,
    ) -> Result<Response, CamsError> {
        // A refused region or host costs no rate-limit token and is not counted as a request.
        self.endpoint(region)?;
        let scrubber = Scrubber::new(credentials.secrets());
        let first = self
            .attempt(action, params, region, credentials, &scrubber)
            .await;
        match first {
            Err(e) if e.class() == ErrorClass::Freshness => {
                tracing::debug!(
                    action,
                    "freshness error, retrying once with a new nonce and timestamp"
                );
                self.attempt(action, params, region, credentials, &scrubber)
                    .await
            }
            other => other,
        }
    }

    async fn attempt(
        &self,
        action: &str,
        params: &[(String, String)],
        region: Option<&str>,
        credentials: &Credentials,
        scrubber: &Scrubber,
    ) -> Result<Response, CamsError> {
        let key = BucketKey {
            access_key_id: credentials.access_key_id.clone(),
            region: region
                .unwrap_or(self.config.endpoints.default_region())
                .to_string(),
            action: action.to_string(),
        };
        let limiter = if action == ListChatGroup::ACTION {
            &self.list_limiter
        } else {
            &self.limiter
        };
        let waited = limiter.acquire(&key).await;
        if !waited.is_zero() {
            tracing::debug!(
                action,
                waited_ms = waited.as_millis() as u64,
                "rate limited"
            );
        }
        if let Some(observer) = &self.observer {
            observer.on_rate_limited(waited);
        }
        let started = std::time::Instant::now();
        let result = self
            .send(action, params, region, credentials, scrubber)
            .await;
        if let Some(observer) = &self.observer {
            let code = match &result {
                Ok(r) => r.envelope.code.as_deref().unwrap_or("OK").to_string(),
                Err(CamsError::Api { code, .. }) => code.clone(),
                Err(CamsError::Timeout(_)) => "timeout".into(),
                Err(CamsError::Undecodable { .. }) => "undecodable".into(),
                Err(CamsError::ResponseTooLarge { .. }) => "too_large".into(),
                Err(_) => "transport".into(),
            };
            observer.on_request(action, &code, started.elapsed());
        }
        result
    }

    async fn send(
        &self,
        action: &str,
        params: &[(String, String)],
        region: Option<&str>,
        credentials: &Credentials,
        scrubber: &Scrubber,
    ) -> Result<Response, CamsError> {
        // Signed after the wait, so the timestamp is fresh.
        let signed = self.prepare(action, params, region, credentials, &Freshness::now())?;
        let mut builder = self.http.post(&signed.url);
        for (name, value) in &signed.headers {
            builder = builder.header(name, value);
        }
        let reply = builder
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(|e| self.transport_error(e, scrubber))?;
        let status = reply.status().as_u16();
        let header = |name: &str| {
            reply
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("x-acs-retry-after")
            .as_deref()
            .and_then(parse_retry_after);
        let server_date = header("date").as_deref().and_then(parse_http_date);
        let body = read_body(reply, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => CamsError::ResponseTooLarge {
                    status,
                    limit: MAX_RESPONSE_BYTES,
                },
                BodyError::Read(e) => self.transport_error(e, scrubber),
            })?;
        let Some(envelope) = Envelope::decode(&body) else {
            return Err(CamsError::Undecodable { status });
        };
        let envelope = envelope.map_text(|s| scrubber.scrub(s));
        let text = scrubber.scrub(&String::from_utf8_lossy(&body));
        let response = Response {
            status,
            envelope,
            retry_after,
            server_date,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        };
        if response.is_success() {
            return Ok(response);
        }
        let code = response
            .envelope
            .code
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| format!("HTTP{status}"));
        Err(CamsError::Api {
            status,
            code,
            message: response.envelope.message.clone().unwrap_or_default(),
            envelope: Box::new(response.envelope),
            retry_after,
            server_date,
        })
    }

    fn transport_error(&self, error: reqwest::Error, scrubber: &Scrubber) -> CamsError {
        if error.is_timeout() {
            return CamsError::Timeout(self.config.timeout);
        }
        // reqwest prints the full URL, and with HMAC-SHA1 the query holds the AccessKeyId and
        // SecurityToken: drop the URL, then scrub the whole source chain.
        CamsError::Transport(scrubber.scrub_error(&error.without_url()))
    }
}

#[async_trait]
impl ChatGroupApi for CamsClient {
    async fn update_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &UpdateChatGroup,
    ) -> Result<Response, CamsError> {
        self.call(
            UpdateChatGroup::ACTION,
            &request.params(),
            region.as_deref(),
            credentials,
        )
        .await
    }

    async fn list_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &ListChatGroup,
    ) -> Result<GroupPage, CamsError> {
        let response = self
            .call(
                ListChatGroup::ACTION,
                &request.params(),
                region.as_deref(),
                credentials,
            )
            .await?;
        GroupPage::decode(&response.body).ok_or(CamsError::Undecodable {
            status: response.status,
        })
    }

    async fn add_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &AddChatGroup,
    ) -> Result<AddedGroup, CamsError> {
        let response = self
            .call(
                AddChatGroup::ACTION,
                &request.params(),
                region.as_deref(),
                credentials,
            )
            .await?;
        Ok(AddedGroup::from_response(response))
    }

    async fn delete_chat_group(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &DeleteChatGroup,
    ) -> Result<Response, CamsError> {
        self.call(
            DeleteChatGroup::ACTION,
            &request.params(),
            region.as_deref(),
            credentials,
        )
        .await
    }

    async fn add_chat_group_invite_link(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &AddChatGroupInviteLink,
    ) -> Result<AddedInviteLink, CamsError> {
        let response = self
            .call(
                AddChatGroupInviteLink::ACTION,
                &request.params(),
                region.as_deref(),
                credentials,
            )
            .await?;
        Ok(AddedInviteLink::from_response(response))
    }

    async fn delete_chat_group_invite_link(
        &self,
        region: Option<String>,
        credentials: &Credentials,
        request: &DeleteChatGroupInviteLink,
    ) -> Result<Response, CamsError> {
        self.call(
            DeleteChatGroupInviteLink::ACTION,
            &request.params(),
            region.as_deref(),
            credentials,
        )
        .await
    }
}

#[cfg(test)]
#[path = "client_tls_tests.rs"]
mod tls_tests;

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "client_list_tests.rs"]
mod list_tests;

#[cfg(test)]
#[path = "client_lifecycle_tests.rs"]
mod lifecycle_tests;
