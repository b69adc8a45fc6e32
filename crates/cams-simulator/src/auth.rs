//! Signature verification of both schemes against what was actually received, with the
//! simulator's own canonicalisation and signing functions (`sign.rs`).

use chrono::{DateTime, Utc};

use crate::calllog::SignatureScheme as Scheme;
use crate::envelope::ApiError;
use crate::request::Incoming;
use crate::sign::{
    canonical_query, rpc_signature, rpc_string_to_sign, sha256_hex, v3_signature,
    v3_string_to_sign, V3_ALGORITHM,
};
use crate::state::AccessKey;
use crate::util::{constant_time_eq, parse_acs_timestamp};

/// The largest accepted distance between a request's timestamp and the simulator's clock.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Which scheme a request uses, if any is recognisable.
pub fn detect(req: &Incoming<'_>) -> Option<Scheme> {
    if req.headers.contains_key(hyper::header::AUTHORIZATION) {
        Some(Scheme::V3)
    } else if req.param("Signature").is_some()
        || req.param("SignatureMethod").is_some()
        || req.param("AccessKeyId").is_some()
    {
        Some(Scheme::Rpc)
    } else {
        None
    }
}

/// What a request claims about its signature, read before any key is looked up.
#[derive(Clone, Debug)]
pub struct Claim {
    /// The signature scheme the request uses.
    pub scheme: Scheme,
    /// The AccessKeyId.
    pub access_key_id: String,
    /// The signature the client sent.
    pub signature: String,
    /// What the server signs (V3: `ACS3-HMAC-SHA256\n<hash>`; RPC: `POST&%2F&...`).
    pub string_to_sign: String,
    /// The V3 canonical request.
    pub canonical_request: Option<String>,
    /// The STS token the request carried.
    pub security_token: Option<String>,
    /// `x-acs-date` / `Timestamp` as sent.
    pub timestamp: String,
    /// `x-acs-signature-nonce` / `SignatureNonce`.
    pub nonce: String,
}

/// Reads the claimed identity and computes what the server signs. Fails with
/// `IncompleteSignature` when the request is not signed or the signature is malformed.
pub fn read_claim(req: &Incoming<'_>) -> Result<Claim, ApiError> {
    match detect(req) {
        Some(Scheme::V3) => read_v3(req),
        Some(Scheme::Rpc) => read_rpc(req),
        None => Err(ApiError::incomplete(
            "The request carries neither an Authorization header nor a Signature parameter.",
        )),
    }
}

fn read_v3(req: &Incoming<'_>) -> Result<Claim, ApiError> {
    let authorization = parse_authorization(&req.header("authorization").unwrap_or_default())?;
    let timestamp = required_header(req, "x-acs-date")?;
    let nonce = required_header(req, "x-acs-signature-nonce")?;
    let content_sha256 = required_header(req, "x-acs-content-sha256")?;
    required_header(req, "host")?;
    let names = signed_header_names(&authorization.signed_headers)?;
    check_every_acs_header_signed(req, &names)?;
    check_content_hash(req.body, &content_sha256)?;
    let canonical = v3_canonical_request(req, &names, &content_sha256);
    Ok(Claim {
        scheme: Scheme::V3,
        access_key_id: authorization.credential,
        signature: authorization.signature,
        string_to_sign: v3_string_to_sign(&canonical),
        canonical_request: Some(canonical),
        security_token: req.header("x-acs-security-token"),
        timestamp,
        nonce,
    })
}

/// The three parts of a V3 `Authorization` header.
struct V3Authorization {
    credential: String,
    signed_headers: String,
    signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` (parts in any order,
/// spaces around them allowed).
fn parse_authorization(authorization: &str) -> Result<V3Authorization, ApiError> {
    let Some(rest) = authorization
        .strip_prefix(V3_ALGORITHM)
        .filter(|r| r.starts_with(' '))
    else {
        let algorithm = authorization.split_whitespace().next().unwrap_or_default();
        return Err(ApiError::incomplete(format!(
            "Unsupported signature algorithm {algorithm:?}: expected {V3_ALGORITHM}."
        )));
    };
    let part = |name: &str| -> Result<String, ApiError> {
        let prefix = format!("{name}=");
        // The last occurrence of a part counts.
        rest.split(',')
            .filter_map(|p| p.trim().strip_prefix(prefix.as_str()))
            .next_back()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::incomplete(format!("The Authorization header has no {name}.")))
    };
    Ok(V3Authorization {
        credential: part("Credential")?,
        signed_headers: part("SignedHeaders")?,
        signature: part("Signature")?,
    })
}

/// A header that must be present and non-empty.
fn required_header(req: &Incoming<'_>, name: &str) -> Result<String, ApiError> {
    match req.header(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::incomplete(format!(
            "The header {name} is missing."
        ))),
    }
}

/// The `SignedHeaders` list lower-cased, sorted and deduplicated; it must name `host` and
/// only valid header names.
fn signed_header_names(signed_headers: &str) -> Result<Vec<String>, ApiError> {
    let mut names: Vec<String> = signed_headers
        .split(';')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    if let Some(bad) = names
        .iter()
        .find(|n| !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(ApiError::incomplete(format!(
            "SignedHeaders names an invalid header {bad:?}."
        )));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(ApiError::incomplete("SignedHeaders must include host."));
    }
    Ok(names)
}

/// Every `x-acs-*` header sent must be signed.
fn check_every_acs_header_signed(req: &Incoming<'_>, names: &[String]) -> Result<(), ApiError> {
    let mut unsigned: Vec<&str> = req
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-acs-") && !names.iter().any(|n| n == k))
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    unsigned.sort();
    unsigned.dedup();
    Err(ApiError::incomplete(format!(
        "SignedHeaders must include every x-acs-* header sent; missing: {}.",
        unsigned.join(", ")
    )))
}

/// `x-acs-content-sha256` must be the body's hash.
fn check_content_hash(body: &[u8], content_sha256: &str) -> Result<(), ApiError> {
    let body_hash = sha256_hex(body);
    if content_sha256.eq_ignore_ascii_case(&body_hash) {
        return Ok(());
    }
    Err(ApiError::new(
        "SignatureDoesNotMatch",
        format!(
            "The x-acs-content-sha256 header {content_sha256} does not match the SHA-256 of the request body ({body_hash})."
        ),
    ))
}

/// The V3 canonical request rebuilt from what was received: the signed headers' values
/// trimmed, repeated values sorted and joined with `,`.
fn v3_canonical_request(req: &Incoming<'_>, names: &[String], content_sha256: &str) -> String {
    let mut block = String::new();
    for name in names {
        let mut values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
            .collect();
        values.sort();
        block.push_str(name);
        block.push(':');
        block.push_str(&values.join(","));
        block.push('\n');
    }
    let path = if req.path.is_empty() { "/" } else { req.path };
    format!(
        "{}\n{path}\n{}\n{block}\n{}\n{content_sha256}",
        req.method,
        canonical_query(req.query),
        names.join(";"),
    )
}

fn read_rpc(req: &Incoming<'_>) -> Result<Claim, ApiError> {
    let required = |name: &str| -> Result<String, ApiError> {
        match req.param(name) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(ApiError::incomplete(format!(
                "The parameter {name} is missing."
            ))),
        }
    };
    let access_key_id = required("AccessKeyId")?;
    let signature = required("Signature")?;
    let method = required("SignatureMethod")?;
    if method != "HMAC-SHA1" {
        return Err(ApiError::incomplete(format!(
            "SignatureMethod {method:?} is not supported: expected HMAC-SHA1."
        )));
    }
    let version = required("SignatureVersion")?;
    if version != "1.0" {
        return Err(ApiError::incomplete(format!(
            "SignatureVersion {version:?} is not supported: expected 1.0."
        )));
    }
    let nonce = required("SignatureNonce")?;
    let timestamp = required("Timestamp")?;
    let all: Vec<(&str, &str)> = req
        .query
        .iter()
        .chain(req.form)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Ok(Claim {
        scheme: Scheme::Rpc,
        access_key_id,
        signature,
        string_to_sign: rpc_string_to_sign(req.method, &all),
        canonical_request: None,
        security_token: req.param("SecurityToken").map(str::to_string),
        timestamp,
        nonce,
    })
}

/// Checks the key's state and the STS token at the simulator's clock `now` (a token is
/// expired when flagged so or when `now` has reached its expiry); returns the secret to
/// verify with.
pub fn check_key<'k>(
    claim: &Claim,
    key: Option<&'k AccessKey>,
    now: DateTime<Utc>,
) -> Result<&'k str, ApiError> {
    let Some(key) = key else {
        return Err(ApiError::new(
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    };
    if key.inactive {
        return Err(ApiError::new(
            "InvalidAccessKeyId.Inactive",
            "Specified access key is disabled.",
        ));
    }
    let mismatch = || {
        ApiError::new(
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    };
    match (&claim.security_token, key.tokens.is_empty()) {
        (None, true) => {}
        (None, false) | (Some(_), true) => return Err(mismatch()),
        (Some(sent), false) => {
            let Some(token) = key.tokens.iter().find(|t| t.token == *sent) else {
                return Err(mismatch());
            };
            if token.is_expired(now) {
                return Err(ApiError::new(
                    "InvalidSecurityToken.Expired",
                    "Specified SecurityToken is expired.",
                ));
            }
        }
    }
    Ok(&key.secret)
}

/// Verifies the signature with `secret`. The error echoes what the server signed, as
/// Alibaba's gateway does (so it contains the security token, on purpose).
pub fn check_signature(claim: &Claim, secret: &str) -> Result<(), ApiError> {
    let (expected, sent) = match claim.scheme {
        Scheme::V3 => (
            v3_signature(secret, &claim.string_to_sign),
            claim.signature.to_ascii_lowercase(),
        ),
        Scheme::Rpc => (
            rpc_signature(secret, &claim.string_to_sign),
            claim.signature.clone(),
        ),
    };
    if constant_time_eq(expected.as_bytes(), sent.as_bytes()) {
        return Ok(());
    }
    let mut message = format!(
        "Specified signature does not match our calculation. server string to sign is:{}",
        claim.string_to_sign
    );
    if let Some(canonical) = &claim.canonical_request {
        message.push_str(" server canonical request is:");
        message.push_str(canonical);
    }
    Err(ApiError::new("SignatureDoesNotMatch", message))
}

/// Checks the timestamp against the simulator's clock `now`.
pub fn check_timestamp(claim: &Claim, now: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(ts) = parse_acs_timestamp(&claim.timestamp) else {
        return Err(ApiError::new(
            "InvalidTimeStamp.Format",
            format!(
                "Specified time stamp or date value {:?} is not well formatted: expected yyyy-MM-ddTHH:mm:ssZ.",
                claim.timestamp
            ),
        ));
    };
    let skew = (now - ts).num_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        return Err(ApiError::new(
            "InvalidTimeStamp.Expired",
            format!(
                "Specified time stamp or date value is expired. The request time is {} and the server time is {} (difference {skew} s, at most {MAX_SKEW_SECS} s allowed).",
                claim.timestamp,
                now.format("%Y-%m-%dT%H:%M:%SZ"),
            ),
        ));
    }
    Ok(())
}

/// The `SignatureNonceUsed` error.
pub fn nonce_used() -> ApiError {
    ApiError::new(
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
}

#[cfg(test)]
mod tests {
    // Requests are signed by the operator's signer (a dev-dependency): the verifier here and
    // that signer are the two independent implementations that must agree.
    use super::*;
    use cams_operator::cams::request::{
        sign_request, Freshness, RequestSpec, SignatureVersion, SignedRequest,
    };
    use cams_operator::cams::Credentials;
    use cams_operator::cams::Endpoint;
    use chrono::{Duration, TimeZone};
    use hyper::header::{HeaderName, HeaderValue};
    use hyper::HeaderMap;

    use crate::state::SecurityToken;
    use crate::util::decode_form;

    /// A received request, owned, built from the library's signed request.
    pub(crate) struct Owned {
        pub method: String,
        pub path: String,
        pub raw_query: String,
        pub query: Vec<(String, String)>,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
    }

    impl Owned {
        pub fn from_signed(req: &SignedRequest) -> Self {
            let after_scheme = req.url.split_once("://").map(|x| x.1).unwrap();
            let path_and_query = &after_scheme[after_scheme.find('/').unwrap()..];
            let (path, raw_query) = path_and_query
                .split_once('?')
                .unwrap_or((path_and_query, ""));
            let mut headers = HeaderMap::new();
            for (k, v) in &req.headers {
                headers.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            Self {
                method: req.method.clone(),
                path: path.to_string(),
                raw_query: raw_query.to_string(),
                query: decode_form(raw_query).unwrap(),
                headers,
                body: req.body.as_bytes().to_vec(),
            }
        }

        pub fn incoming(&self) -> Incoming<'_> {
            Incoming {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                form: &[],
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    pub(crate) fn params() -> Vec<(String, String)> {
        [
            ("BusinessNumber", "8613800001234"),
            ("ChannelType", "WHATSAPP"),
            ("CustSpaceId", "cams-test123"),
            ("Description", "Hello world & 100% üñí *~+"),
            ("GroupId", "EA303TEST"),
            ("Subject", "Test subject"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub(crate) fn signed(
        scheme: SignatureVersion,
        creds: &Credentials,
        params: &[(String, String)],
        fresh: &Freshness,
    ) -> Owned {
        let endpoint = Endpoint::parse("http://127.0.0.1:18080").unwrap();
        let extra = [("user-agent".to_string(), "unit-test".to_string())];
        let spec = RequestSpec {
            action: "UpdateChatGroup",
            params,
            endpoint: &endpoint,
            signature: scheme,
            extra_headers: &extra,
        };
        Owned::from_signed(&sign_request(&spec, creds, fresh))
    }

    fn key(secret: &str, tokens: &[(&str, bool)]) -> AccessKey {
        AccessKey {
            secret: secret.into(),
            tokens: tokens
                .iter()
                .map(|(t, expired)| SecurityToken {
                    token: t.to_string(),
                    expired: *expired,
                    expires_at: None,
                })
                .collect(),
            inactive: false,
            sts_issued: false,
            denied_actions: Vec::new(),
        }
    }

    fn verify(req: &Owned, key: Option<&AccessKey>) -> Result<Claim, ApiError> {
        let claim = read_claim(&req.incoming())?;
        let secret = check_key(&claim, key, Utc::now())?;
        check_signature(&claim, secret)?;
        Ok(claim)
    }

    const SCHEMES: [SignatureVersion; 2] = [SignatureVersion::V3, SignatureVersion::V1];

    #[test]
    fn accepts_library_requests_in_both_schemes_with_and_without_token() {
        for scheme in SCHEMES {
            let plain = signed(
                scheme,
                &Credentials::new("ak1", "s3cret"),
                &params(),
                &Freshness::now(),
            );
            let claim = verify(&plain, Some(&key("s3cret", &[]))).unwrap();
            assert_eq!(claim.access_key_id, "ak1");
            assert_eq!(claim.security_token, None);

            let sts = signed(
                scheme,
                &Credentials::new("ak1", "s3cret").with_security_token("sts-token-123"),
                &params(),
                &Freshness::now(),
            );
            let k = key("s3cret", &[("other", false), ("sts-token-123", false)]);
            let claim = verify(&sts, Some(&k)).unwrap();
            assert_eq!(claim.security_token.as_deref(), Some("sts-token-123"));
            let expected = match scheme {
                SignatureVersion::V3 => Scheme::V3,
                SignatureVersion::V1 => Scheme::Rpc,
            };
            assert_eq!(claim.scheme, expected);
        }
    }

    #[test]
    fn accepts_form_encoded_queries_with_plus_for_space() {
        // The Python SDK puts `+` on the wire and signs `%20`.
        for scheme in SCHEMES {
            let mut req = signed(
                scheme,
                &Credentials::new("ak1", "s3cret"),
                &params(),
                &Freshness::now(),
            );
            assert!(req.raw_query.contains("%20"));
            let plus = req.raw_query.replace("%20", "+");
            req.query = decode_form(&plus).unwrap();
            verify(&req, Some(&key("s3cret", &[]))).unwrap();
        }
    }

    #[test]
    fn verifies_the_official_sdk_capture() {
        // official-sdk-capture.txt, V3 with STS token.
        let raw = "BusinessNumber=8613800001234&ChannelType=WHATSAPP&CustSpaceId=cams-test123&Description=Hello+world+%26+100%25+%C3%BC%C3%B1%C3%AD&GroupId=EA303TEST&ProfilePictureFile=https%3A%2F%2Fexample.com%2Fimg.jpg&Subject=Test+subject";
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("accept-encoding", "identity"),
            ("host", "127.0.0.1:46537"),
            ("x-acs-version", "2020-06-06"),
            ("x-acs-action", "UpdateChatGroup"),
            ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
            ("x-acs-date", "2026-11-26T01:23:37Z"),
            ("x-acs-signature-nonce", "e41ba51472d0aa047fae93b706138585"),
            ("accept", "application/json"),
            ("x-acs-content-sha256", cams_operator::cams::sign::EMPTY_BODY_SHA256),
            ("x-acs-credentials-provider", "static_sts"),
            ("x-acs-accesskey-id", "testid"),
            ("x-acs-security-token", "teststsToken"),
            ("authorization", "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=760fb3d4627753686f6bfc8feaa85e0d85d195a556f46592af6beb5b0e5ae90f"),
            ("content-length", "0"),
        ] {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let req = Owned {
            method: "POST".into(),
            path: "/".into(),
            raw_query: raw.into(),
            query: decode_form(raw).unwrap(),
            headers,
            body: vec![],
        };
        let claim = verify(&req, Some(&key("testsecret", &[("teststsToken", false)]))).unwrap();
        assert_eq!(
            claim.string_to_sign,
            "ACS3-HMAC-SHA256\nf65db784e45aeb7561642614cb0341972d49dd810c698ab25d97fb012cd1c911"
        );

        // RPC capture.
        let raw = "Action=UpdateChatGroup&Format=json&Version=2020-06-06&Timestamp=2026-11-26T01%3A23%3A37Z&SignatureNonce=d9d9db0528ee9459f5c53cc8e3a657e0&BusinessNumber=8613800001234&ChannelType=WHATSAPP&CustSpaceId=cams-test123&Description=Hello+world+%26+100%25+%C3%BC%C3%B1%C3%AD&GroupId=EA303TEST&ProfilePictureFile=https%3A%2F%2Fexample.com%2Fimg.jpg&Subject=Test+subject&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=fCmTzzMbnh6WYu8Q15JpUtBZ4ak%3D";
        let req = Owned {
            method: "POST".into(),
            path: "/".into(),
            raw_query: raw.into(),
            query: decode_form(raw).unwrap(),
            headers: HeaderMap::new(),
            body: vec![],
        };
        verify(&req, Some(&key("testsecret", &[]))).unwrap();
    }

    #[test]
    fn wrong_secret_is_refused_with_the_echo_of_what_the_server_signed() {
        for scheme in SCHEMES {
            let req = signed(
                scheme,
                &Credentials::new("ak1", "wrong").with_security_token("tok-visible-in-echo"),
                &params(),
                &Freshness::now(),
            );
            let err =
                verify(&req, Some(&key("right", &[("tok-visible-in-echo", false)]))).unwrap_err();
            assert_eq!(err.code, "SignatureDoesNotMatch");
            assert_eq!(err.status, 400);
            assert!(err.message.starts_with(
                "Specified signature does not match our calculation. server string to sign is:"
            ));
            match scheme {
                SignatureVersion::V1 => {
                    assert!(err.message.contains("is:POST&%2F&AccessKeyId%3Dak1%26"));
                    assert!(err.message.contains("SecurityToken%3Dtok-visible-in-echo"));
                }
                SignatureVersion::V3 => {
                    assert!(err.message.contains("is:ACS3-HMAC-SHA256\n"));
                    assert!(err
                        .message
                        .contains("x-acs-security-token:tok-visible-in-echo\n"));
                }
            }
        }
    }

    #[test]
    fn tampering_after_signing_is_refused() {
        for scheme in SCHEMES {
            let mut req = signed(
                scheme,
                &Credentials::new("ak1", "s3cret"),
                &params(),
                &Freshness::now(),
            );
            for (k, v) in req.query.iter_mut() {
                if k == "Subject" {
                    *v = "Changed".into();
                }
            }
            let err = verify(&req, Some(&key("s3cret", &[]))).unwrap_err();
            assert_eq!(err.code, "SignatureDoesNotMatch");
        }
    }

    #[test]
    fn key_and_token_checks() {
        for scheme in SCHEMES {
            let plain = signed(
                scheme,
                &Credentials::new("ak1", "s"),
                &params(),
                &Freshness::now(),
            );
            let code = |r: &Owned, k: Option<&AccessKey>| verify(r, k).unwrap_err().code;
            assert_eq!(code(&plain, None), "InvalidAccessKeyId.NotFound");
            let mut inactive = key("s", &[]);
            inactive.inactive = true;
            assert_eq!(code(&plain, Some(&inactive)), "InvalidAccessKeyId.Inactive");
            // A key with tokens refuses a call without one, with another or an expired one.
            assert_eq!(
                code(&plain, Some(&key("s", &[("t1", false)]))),
                "InvalidSecurityToken.MismatchWithAccessKey"
            );
            let with = |t: &str| {
                signed(
                    scheme,
                    &Credentials::new("ak1", "s").with_security_token(t),
                    &params(),
                    &Freshness::now(),
                )
            };
            assert_eq!(
                code(&with("t2"), Some(&key("s", &[("t1", false)]))),
                "InvalidSecurityToken.MismatchWithAccessKey"
            );
            assert_eq!(
                code(&with("t1"), Some(&key("s", &[("t1", true)]))),
                "InvalidSecurityToken.Expired"
            );
            // A plain key refuses a token.
            assert_eq!(
                code(&with("t1"), Some(&key("s", &[]))),
                "InvalidSecurityToken.MismatchWithAccessKey"
            );
        }
    }

    #[test]
    fn tokens_with_an_expiry_time_expire_by_the_clock() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let mut k = key("s", &[]);
        k.tokens.push(SecurityToken {
            token: "timed-token".into(),
            expired: false,
            expires_at: Some(at),
        });
        for scheme in SCHEMES {
            let req = signed(
                scheme,
                &Credentials::new("ak1", "s").with_security_token("timed-token"),
                &params(),
                &Freshness::now(),
            );
            let claim = read_claim(&req.incoming()).unwrap();
            assert!(check_key(&claim, Some(&k), at - Duration::seconds(1)).is_ok());
            for now in [at, at + Duration::seconds(1)] {
                assert_eq!(
                    check_key(&claim, Some(&k), now).unwrap_err().code,
                    "InvalidSecurityToken.Expired"
                );
            }
        }
    }

    #[test]
    fn incomplete_signatures() {
        let k = key("s", &[]);
        let code = |r: &Owned| verify(r, Some(&k)).unwrap_err().code;
        // Nothing at all.
        let mut req = signed(
            SignatureVersion::V3,
            &Credentials::new("ak1", "s"),
            &params(),
            &Freshness::now(),
        );
        let saved = req.headers.clone();
        req.headers.remove("authorization");
        assert_eq!(code(&req), "IncompleteSignature");
        // Malformed Authorization.
        req.headers = saved.clone();
        req.headers.insert(
            "authorization",
            HeaderValue::from_static("ACS3-HMAC-SHA256 Credential=ak1"),
        );
        assert_eq!(code(&req), "IncompleteSignature");
        req.headers
            .insert("authorization", HeaderValue::from_static("Bearer x"));
        assert_eq!(code(&req), "IncompleteSignature");
        // An unsigned x-acs-* header.
        req.headers = saved.clone();
        req.headers
            .insert("x-acs-extra", HeaderValue::from_static("1"));
        let err = verify(&req, Some(&k)).unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
        assert!(err.message.contains("x-acs-extra"), "{}", err.message);
        // Missing date.
        req.headers = saved.clone();
        req.headers.remove("x-acs-date");
        assert_eq!(code(&req), "IncompleteSignature");
        // Body that does not match x-acs-content-sha256.
        req.headers = saved;
        req.body = b"x".to_vec();
        assert_eq!(code(&req), "SignatureDoesNotMatch");

        // RPC without a nonce or with another method.
        let mut rpc = signed(
            SignatureVersion::V1,
            &Credentials::new("ak1", "s"),
            &params(),
            &Freshness::now(),
        );
        let saved = rpc.query.clone();
        rpc.query.retain(|(k, _)| k != "SignatureNonce");
        assert_eq!(code(&rpc), "IncompleteSignature");
        rpc.query = saved;
        for (k, v) in rpc.query.iter_mut() {
            if k == "SignatureMethod" {
                *v = "HMAC-SHA256".into();
            }
        }
        assert_eq!(code(&rpc), "IncompleteSignature");
    }

    #[test]
    fn v3_signed_headers_in_any_case_and_order_and_duplicate_values() {
        // The Go openapi-util vector: two values of one header merge sorted with ",".
        let k = key("s", &[]);
        let mut req = signed(
            SignatureVersion::V3,
            &Credentials::new("ak1", "s"),
            &params(),
            &Freshness::now(),
        );
        req.headers
            .append("x-acs-test", HeaderValue::from_static("https"));
        req.headers
            .append("x-acs-test", HeaderValue::from_static(" http "));
        let claim = read_claim(&req.incoming());
        // x-acs-test is not signed yet.
        assert_eq!(claim.unwrap_err().code, "IncompleteSignature");
        // Re-sign by hand with the header included, listing SignedHeaders unsorted and in
        // upper case.
        let auth = req.headers["authorization"].to_str().unwrap().to_string();
        let list = auth
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let new_list = format!("X-ACS-TEST;{}", list.to_ascii_uppercase());
        let mut sorted: Vec<String> = new_list.split(';').map(|s| s.to_lowercase()).collect();
        sorted.sort();
        let block: String = sorted
            .iter()
            .map(|n| {
                let mut vals: Vec<String> = req
                    .headers
                    .get_all(n.as_str())
                    .iter()
                    .map(|v| v.to_str().unwrap().trim().to_string())
                    .collect();
                vals.sort();
                format!("{n}:{}\n", vals.join(","))
            })
            .collect();
        assert!(block.contains("x-acs-test:http,https\n"));
        let canonical = format!(
            "POST\n/\n{}\n{block}\n{}\n{}",
            canonical_query(&req.query),
            sorted.join(";"),
            cams_operator::cams::sign::EMPTY_BODY_SHA256
        );
        let sig = v3_signature("s", &v3_string_to_sign(&canonical));
        req.headers.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "ACS3-HMAC-SHA256 Credential=ak1, SignedHeaders={new_list}, Signature={}",
                sig.to_uppercase()
            ))
            .unwrap(),
        );
        verify(&req, Some(&k)).unwrap();
    }

    #[test]
    fn freshness_window() {
        let at = |t: DateTime<Utc>| Freshness {
            nonce: "n".into(),
            timestamp: t,
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        for scheme in SCHEMES {
            let claim_at = |t| {
                read_claim(
                    &signed(scheme, &Credentials::new("a", "s"), &params(), &at(t)).incoming(),
                )
                .unwrap()
            };
            assert!(check_timestamp(&claim_at(now), now).is_ok());
            assert!(check_timestamp(&claim_at(now - Duration::seconds(900)), now).is_ok());
            assert!(check_timestamp(&claim_at(now + Duration::seconds(900)), now).is_ok());
            let err = check_timestamp(&claim_at(now - Duration::seconds(901)), now).unwrap_err();
            assert_eq!(err.code, "InvalidTimeStamp.Expired");
            assert_eq!(err.status, 400);
            let err = check_timestamp(&claim_at(now + Duration::minutes(20)), now).unwrap_err();
            assert_eq!(err.code, "InvalidTimeStamp.Expired");
            let mut bad = claim_at(now);
            bad.timestamp = "2026-11-26 12:00:00".into();
            assert_eq!(
                check_timestamp(&bad, now).unwrap_err().code,
                "InvalidTimeStamp.Format"
            );
        }
    }
}
