//! Signed requests built from an action and its parameters, in either scheme.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::credentials::Credentials;
use super::encode::{canonical_query, percent_encode};
use super::endpoint::Endpoint;
use super::sign;
use super::timestamp::format_timestamp;

/// The CAMS API version every group action uses.
pub const API_VERSION: &str = "2020-06-06";

/// Which signature scheme to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// `ACS3-HMAC-SHA256` in the `Authorization` header (the default).
    #[default]
    V3,
    /// RPC HMAC-SHA1, `SignatureVersion=1.0` (Alibaba calls it "v2").
    V1,
}

impl std::str::FromStr for SignatureVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v3" => Ok(Self::V3),
            "v1" | "v2" => Ok(Self::V1),
            other => Err(format!(
                "unknown signature {other:?}: expected v3 or v1 (v2)"
            )),
        }
    }
}

/// The random and time-dependent parts of one attempt. Every attempt gets fresh ones.
#[derive(Clone, Debug)]
pub struct Freshness {
    /// The signature nonce.
    pub nonce: String,
    /// The signing time.
    pub timestamp: DateTime<Utc>,
}

impl Freshness {
    /// A random 128-bit hex nonce and the current time.
    pub fn now() -> Self {
        Self {
            nonce: format!("{:032x}", rand::random::<u128>()),
            timestamp: Utc::now(),
        }
    }
}

/// What to send: one action, its business parameters and where to.
#[derive(Clone, Debug)]
pub struct RequestSpec<'a> {
    /// The action, e.g. `UpdateChatGroup`.
    pub action: &'a str,
    /// Business parameters (all travel in the query string).
    pub params: &'a [(String, String)],
    /// Where the request goes (its host is signed).
    pub endpoint: &'a Endpoint,
    /// The signature scheme to sign it with.
    pub signature: SignatureVersion,
    /// Extra unsigned headers (e.g. `user-agent`).
    pub extra_headers: &'a [(String, String)],
}

/// A fully signed request, ready to send or print.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SignedRequest {
    /// HTTP method (always POST for CAMS).
    pub method: String,
    /// The full URL, `scheme://host[:port]/?query`.
    pub url: String,
    /// Headers with lower-case names, in a stable order.
    pub headers: Vec<(String, String)>,
    /// The body (always empty for CAMS).
    pub body: String,
}

impl SignedRequest {
    /// The headers as a JSON object (for `call --dry-run`).
    pub fn headers_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    }
}

/// Builds and signs one request.
pub fn sign_request(
    spec: &RequestSpec<'_>,
    credentials: &Credentials,
    fresh: &Freshness,
) -> SignedRequest {
    match spec.signature {
        SignatureVersion::V3 => sign_v3(spec, credentials, fresh),
        SignatureVersion::V1 => sign_rpc(spec, credentials, fresh),
    }
}

fn sign_v3(spec: &RequestSpec<'_>, credentials: &Credentials, fresh: &Freshness) -> SignedRequest {
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), spec.endpoint.host_header()),
        ("x-acs-action".into(), spec.action.into()),
        ("x-acs-version".into(), API_VERSION.into()),
        ("x-acs-date".into(), format_timestamp(&fresh.timestamp)),
        ("x-acs-signature-nonce".into(), fresh.nonce.clone()),
        (
            "x-acs-content-sha256".into(),
            sign::EMPTY_BODY_SHA256.into(),
        ),
    ];
    if let Some(token) = &credentials.security_token {
        headers.push(("x-acs-security-token".into(), token.expose().to_string()));
    }
    let (canonical, signed_headers) =
        sign::v3_canonical_request("POST", "/", spec.params, &headers, sign::EMPTY_BODY_SHA256);
    let signature = sign::v3_signature(
        credentials.access_key_secret.expose(),
        &sign::v3_string_to_sign(&canonical),
    );
    headers.push((
        "authorization".into(),
        sign::v3_authorization(&credentials.access_key_id, &signed_headers, &signature),
    ));
    headers.extend(spec.extra_headers.iter().cloned());
    SignedRequest {
        method: "POST".into(),
        url: url(spec.endpoint, &canonical_query(spec.params)),
        headers,
        body: String::new(),
    }
}

fn sign_rpc(spec: &RequestSpec<'_>, credentials: &Credentials, fresh: &Freshness) -> SignedRequest {
    let mut params: Vec<(String, String)> = vec![
        ("AccessKeyId".into(), credentials.access_key_id.clone()),
        ("Action".into(), spec.action.into()),
        ("Format".into(), "JSON".into()),
        ("SignatureMethod".into(), "HMAC-SHA1".into()),
        ("SignatureNonce".into(), fresh.nonce.clone()),
        ("SignatureVersion".into(), "1.0".into()),
        ("Timestamp".into(), format_timestamp(&fresh.timestamp)),
        ("Version".into(), API_VERSION.into()),
    ];
    if let Some(token) = &credentials.security_token {
        params.push(("SecurityToken".into(), token.expose().to_string()));
    }
    params.extend(spec.params.iter().cloned());
    let signature = sign::rpc_signature(
        credentials.access_key_secret.expose(),
        &sign::rpc_string_to_sign("POST", &params),
    );
    let query = format!(
        "{}&Signature={}",
        canonical_query(&params),
        percent_encode(&signature)
    );
    let mut headers = vec![("host".to_string(), spec.endpoint.host_header())];
    headers.extend(spec.extra_headers.iter().cloned());
    SignedRequest {
        method: "POST".into(),
        url: url(spec.endpoint, &query),
        headers,
        body: String::new(),
    }
}

fn url(endpoint: &Endpoint, query: &str) -> String {
    if query.is_empty() {
        format!("{}/", endpoint.origin())
    } else {
        format!("{}/?{query}", endpoint.origin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn vector_params() -> Vec<(String, String)> {
        crate::cams::sign::tests::update_chat_group_params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fresh(nonce: &str) -> Freshness {
        Freshness {
            nonce: nonce.into(),
            timestamp: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    fn header<'a>(req: &'a SignedRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn v3_request_reproduces_the_update_chat_group_vector() {
        let endpoint = Endpoint::for_region("ap-southeast-1").unwrap();
        let params = vector_params();
        let spec = RequestSpec {
            action: "UpdateChatGroup",
            params: &params,
            endpoint: &endpoint,
            signature: SignatureVersion::V3,
            extra_headers: &[],
        };
        let req = sign_request(
            &spec,
            &Credentials::new("testid", "testsecret"),
            &fresh("3156853299f313e23d1673dc12e1703d"),
        );
        assert_eq!(
            header(&req, "authorization"),
            Some("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e8fb5f348a31495d9e144f378c4470c3e925e127763bc9557300e16c8b285bb2")
        );
        assert!(req.url.starts_with(
            "https://cams.ap-southeast-1.aliyuncs.com/?BusinessNumber=8613800001234&"
        ));
        assert!(req.url.contains("Subject=Test%20subject"));
        assert_eq!(req.method, "POST");
        assert_eq!(req.body, "");
    }

    #[test]
    fn rpc_request_reproduces_the_update_chat_group_vector() {
        let endpoint = Endpoint::for_region("ap-southeast-1").unwrap();
        let params = vector_params();
        let spec = RequestSpec {
            action: "UpdateChatGroup",
            params: &params,
            endpoint: &endpoint,
            signature: SignatureVersion::V1,
            extra_headers: &[],
        };
        let req = sign_request(
            &spec,
            &Credentials::new("testid", "testsecret"),
            &fresh("3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        );
        assert!(
            req.url
                .ends_with("&Signature=2ldeFJ2%2FQhbnrMPsCzdK7tkv6tY%3D"),
            "{}",
            req.url
        );
        assert_eq!(header(&req, "authorization"), None);
    }

    #[test]
    fn v3_with_security_token_signs_the_token_header_and_port() {
        let endpoint = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        let spec = RequestSpec {
            action: "ListChatGroup",
            params: &[],
            endpoint: &endpoint,
            signature: SignatureVersion::V3,
            extra_headers: &[("user-agent".into(), "cams-operator/test".into())],
        };
        let creds = Credentials::new("id", "secret").with_security_token("tok");
        let req = sign_request(&spec, &creds, &fresh("n"));
        assert_eq!(header(&req, "host"), Some("127.0.0.1:8080"));
        assert_eq!(header(&req, "x-acs-security-token"), Some("tok"));
        assert!(header(&req, "authorization")
            .unwrap()
            .contains("x-acs-security-token;x-acs-signature-nonce"));
        assert_eq!(req.url, "http://127.0.0.1:8080/");
    }

    #[test]
    fn fresh_nonces_differ() {
        assert_ne!(Freshness::now().nonce, Freshness::now().nonce);
        assert_eq!(Freshness::now().nonce.len(), 32);
    }

    #[test]
    fn signature_names() {
        assert_eq!("v3".parse::<SignatureVersion>(), Ok(SignatureVersion::V3));
        assert_eq!("v2".parse::<SignatureVersion>(), Ok(SignatureVersion::V1));
        assert_eq!("V1".parse::<SignatureVersion>(), Ok(SignatureVersion::V1));
        assert!("v4".parse::<SignatureVersion>().is_err());
    }
}
