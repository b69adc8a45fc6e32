//! The STS client: one `AssumeRoleWithOIDC` call, the OIDC token only in the form-encoded
//! body of a POST, and STS's answer checked and scrubbed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{RoleConfig, RrsaError, RrsaOptions};
use crate::cams::encode::percent_encode;
use crate::cams::redact::{Scrubber, SecretString};
use crate::cams::timestamp::{format_timestamp, parse_timestamp};
use crate::cams::{read_body, BodyError, MAX_RESPONSE_BYTES};
use crate::cams::{Credentials, Endpoint};

/// The STS API version.
pub const STS_API_VERSION: &str = "2015-04-01";
/// The STS action.
pub const STS_ACTION: &str = "AssumeRoleWithOIDC";

/// Credentials as STS issued them.
#[derive(Clone, Debug)]
pub(super) struct Issued {
    /// The STS AccessKey pair and its SecurityToken.
    pub credentials: Credentials,
    /// When they expire (STS's `Expiration`).
    pub expiration: DateTime<Utc>,
}

/// An HTTP client for one STS endpoint, with the proxies and timeouts of [`RrsaOptions`].
pub(super) struct StsClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    timeout: Duration,
}

impl StsClient {
    /// Builds the HTTP client (no redirects, no proxy from reqwest's own environment lookup).
    pub(super) fn new(endpoint: Endpoint, options: RrsaOptions) -> Result<Self, RrsaError> {
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
        Ok(Self {
            http,
            endpoint,
            timeout: options.timeout,
        })
    }

    /// The endpoint calls go to.
    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Asks STS for credentials of `role` with the OIDC `token`, signed at `now`.
    pub(super) async fn assume_role(
        &self,
        role: &RoleConfig,
        token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<Issued, RrsaError> {
        let scrubber = Scrubber::new([token]);
        let duration = role.duration_secs.to_string();
        let timestamp = format_timestamp(&now);
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
            ("RoleArn", &role.role_arn),
            ("OIDCProviderArn", &role.oidc_provider_arn),
            ("OIDCToken", token.expose()),
            ("RoleSessionName", &role.session_name),
        ]);
        let url = format!("{}/?{query}", self.endpoint.origin());
        tracing::debug!(endpoint = %self.endpoint, role_arn = %role.role_arn, "calling STS {STS_ACTION}");
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

    fn transport_error(&self, error: reqwest::Error, scrubber: &Scrubber) -> RrsaError {
        if error.is_timeout() {
            return RrsaError::Transport(format!(
                "no answer from {} within {:?}",
                self.endpoint, self.timeout
            ));
        }
        // The token travels in the body, not the URL, but a URL has no place in an error
        // either: drop it, then scrub the whole source chain.
        let text = scrubber.scrub_error(&error.without_url());
        RrsaError::Transport(format!("{}: {text}", self.endpoint))
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

/// Turns STS's answer into issued credentials, or an error with every string scrubbed.
fn parse_response(
    status: u16,
    body: &[u8],
    scrubber: &Scrubber,
    now: DateTime<Utc>,
) -> Result<Issued, RrsaError> {
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
    Ok(Issued {
        credentials: Credentials::new(access_key_id, access_key_secret)
            .with_security_token(security_token),
        expiration,
    })
}

/// `yyyy-MM-ddTHH:mm:ssZ`, or any RFC 3339 time.
fn parse_expiration(text: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(text).ok().or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}
