//! The STS side: `AssumeRoleWithOIDC` (API version 2015-04-01) on the CAMS listener,
//! unsigned, as RRSA uses it. It issues fresh STS credentials and registers them as an access
//! key with that security token, so CAMS calls signed with them are accepted until they
//! expire (then they answer `InvalidSecurityToken.Expired`). See README.md beside this file.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::actions::Params;
use crate::api::StsView;
use crate::app::App;
use crate::calllog::{elapsed_ms, CallEntry, Fault};
use crate::envelope::{status_for, ApiError};
use crate::http::{json_response, Reply};
use crate::request::Arrival;
use crate::state::{AccessKey, SecurityToken, State, StsConfig};
use crate::util::{random_alnum, request_id};

/// The action.
pub const ACTION: &str = "AssumeRoleWithOIDC";
/// The STS API version.
pub const VERSION: &str = "2015-04-01";
/// `DurationSeconds` when the call sends none.
pub const DEFAULT_DURATION_SECS: u64 = 3600;
/// The smallest `DurationSeconds` accepted.
pub const MIN_DURATION_SECS: u64 = 900;
/// The largest `DurationSeconds` accepted (a role's longest session).
pub const MAX_DURATION_SECS: u64 = 43_200;
/// Issued keys are forgotten this long after they expired; until then, calls with them
/// answer `InvalidSecurityToken.Expired`.
pub const FORGET_AFTER_SECS: i64 = 3600;
/// OIDC token length limits, in characters.
pub const OIDC_TOKEN_CHARS: std::ops::RangeInclusive<usize> = 4..=20_000;
/// What replaces a secret parameter in the call log.
pub const REDACTED: &str = "***";
/// Parameters never written to the call log as sent.
const SECRET_PARAMS: [&str; 2] = ["OIDCToken", "SecurityToken"];

/// What one successful call issued.
#[derive(Debug)]
pub struct Issued {
    /// The new AccessKeyId (`STS.…`).
    pub access_key_id: String,
    /// The answer's fields besides `RequestId`.
    pub fields: Map<String, Value>,
}

/// Why a call was refused.
#[derive(Debug)]
pub struct Refusal {
    /// The error answered.
    pub error: ApiError,
    /// Whether it was injected by `errorCode`.
    pub injected: bool,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            injected: false,
        }
    }
}

/// Handles one `AssumeRoleWithOIDC` call (any method, any signature, which is ignored).
pub fn handle(app: &App, arrival: &Arrival, params: &[(String, String)]) -> Reply {
    let logged: BTreeMap<String, String> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| {
            let value = if SECRET_PARAMS.contains(&k.as_str()) {
                REDACTED.to_string()
            } else {
                v.clone()
            };
            (k.clone(), value)
        })
        .collect();
    let mut entry = CallEntry::arrived(
        arrival.at_utc,
        arrival.remote,
        arrival.user_agent.clone(),
        Some(ACTION.into()),
        logged,
    );
    let now = Utc::now();
    let rid = request_id();
    let outcome = assume_role(&mut app.lock(), Params(params), now);
    let (status, body, retry_after, code) = match outcome {
        Ok(issued) => {
            entry.access_key_id = Some(issued.access_key_id);
            let mut fields = issued.fields;
            fields.insert("RequestId".into(), Value::String(rid.clone()));
            (200, Value::Object(fields), None, "OK".to_string())
        }
        Err(refusal) => {
            if refusal.injected {
                entry.fault = Some(Fault::Error);
            }
            let error = refusal.error;
            (
                error.status,
                error_body(&rid, &arrival.host, &error),
                error.retry_after_secs,
                error.code,
            )
        }
    };
    entry.status = status;
    entry.request_id = Some(rid.clone());
    entry.duration_ms = elapsed_ms(arrival.at);
    tracing::debug!(
        code,
        status,
        access_key_id = entry.access_key_id.as_deref().unwrap_or(""),
        "sts call"
    );
    entry.code = code;
    app.lock().calls.push(entry);
    Reply::Response(json_response(status, &body, now, Some(&rid), retry_after))
}

/// The HTTP status of an STS error code (`AuthenticationFail.*` is 401).
pub fn status_of(code: &str) -> u16 {
    if code.starts_with("AuthenticationFail") {
        401
    } else {
        status_for(code)
    }
}

fn sts_error(code: &str, message: impl Into<String>) -> ApiError {
    let mut error = ApiError::new(code, message);
    error.status = status_of(code);
    error
}

/// An STS error body: `RequestId`, `HostId`, `Code`, `Message`, `Recommend`.
pub fn error_body(request_id: &str, host: &str, error: &ApiError) -> Value {
    json!({
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Sts", error.code),
    })
}

/// `acs:ram::<account digits>:<kind>/<name>` → (account, name).
fn parse_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = arn.strip_prefix("acs:ram::")?;
    let (account, resource) = rest.split_once(':')?;
    let name = resource.strip_prefix(kind)?.strip_prefix('/')?;
    let ok = !account.is_empty()
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.contains(char::is_whitespace);
    ok.then_some((account, name))
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'))
}

/// Validates the call and issues credentials valid from `now`.
pub fn assume_role(
    state: &mut State,
    p: Params<'_>,
    now: DateTime<Utc>,
) -> Result<Issued, Refusal> {
    check_version(p)?;
    let role_arn = p.required("RoleArn")?;
    let Some((account, role)) = parse_arn(role_arn, "role") else {
        return Err(sts_error(
            "InvalidParameter.RoleArn",
            "The parameter RoleArn is wrongly formed: expected acs:ram::<account>:role/<name>.",
        )
        .into());
    };
    let provider_arn = p.required("OIDCProviderArn")?;
    if parse_arn(provider_arn, "oidc-provider").is_none() {
        return Err(sts_error(
            "InvalidParameter.OIDCProviderArn",
            "The parameter OIDCProviderArn is wrongly formed: expected acs:ram::<account>:oidc-provider/<name>.",
        )
        .into());
    }
    let token = p.required("OIDCToken")?;
    check_token_length(token)?;
    let session = session_name(p)?;
    let duration = duration_secs(p)?;
    check_policy(p)?;
    check_settings(&state.sts, token)?;
    Ok(issue(state, account, role, session, duration, now))
}

/// `Version` must be STS's.
fn check_version(p: Params<'_>) -> Result<(), ApiError> {
    match p.get("Version").filter(|v| !v.is_empty()) {
        None => Err(ApiError::missing("Version")),
        Some(VERSION) => Ok(()),
        Some(other) => Err(sts_error(
            "InvalidVersion",
            format!("Specified parameter Version {other:?} is not valid: STS speaks {VERSION}."),
        )),
    }
}

/// The OIDC token's length must be within [`OIDC_TOKEN_CHARS`].
fn check_token_length(token: &str) -> Result<(), ApiError> {
    if OIDC_TOKEN_CHARS.contains(&token.chars().count()) {
        return Ok(());
    }
    Err(sts_error(
        "InvalidParameter.OIDCToken",
        format!(
            "The parameter OIDCToken must be {} to {} characters long.",
            OIDC_TOKEN_CHARS.start(),
            OIDC_TOKEN_CHARS.end()
        ),
    ))
}

/// The optional `RoleSessionName`, when well formed.
fn session_name(p: Params<'_>) -> Result<Option<String>, ApiError> {
    match p.get("RoleSessionName").filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if is_session_name(s) => Ok(Some(s.to_string())),
        Some(_) => Err(sts_error(
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed: 2 to 64 characters of A-Z a-z 0-9 . @ - _.",
        )),
    }
}

/// `DurationSeconds`, [`DEFAULT_DURATION_SECS`] when absent.
fn duration_secs(p: Params<'_>) -> Result<u64, ApiError> {
    let Some(text) = p.get("DurationSeconds").filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_DURATION_SECS);
    };
    text.parse::<u64>()
        .ok()
        .filter(|d| (MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(d))
        .ok_or_else(|| {
            sts_error(
                "InvalidParameter.DurationSeconds",
                format!(
                    "The Min/Max value of DurationSeconds is {MIN_DURATION_SECS}/{MAX_DURATION_SECS} seconds."
                ),
            )
        })
}

/// An optional `Policy` must be a JSON object.
fn check_policy(p: Params<'_>) -> Result<(), ApiError> {
    match p.get("Policy").filter(|s| !s.trim().is_empty()) {
        Some(policy) if !serde_json::from_str::<Value>(policy).is_ok_and(|v| v.is_object()) => {
            Err(sts_error(
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check.",
            ))
        }
        _ => Ok(()),
    }
}

/// The STS settings: an injected error code, then the accepted tokens.
fn check_settings(sts: &StsConfig, token: &str) -> Result<(), Refusal> {
    if let Some(code) = &sts.error_code {
        let mut error = ApiError::injected(code);
        error.status = status_of(code);
        error.access_denied_detail = None;
        return Err(Refusal {
            error,
            injected: true,
        });
    }
    match &sts.accepted_tokens {
        Some(accepted) if !accepted.iter().any(|t| t == token) => Err(sts_error(
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDC token is not one the simulator accepts (see PUT /admin/sts).",
        )
        .into()),
        _ => Ok(()),
    }
}

fn issue(
    state: &mut State,
    account: &str,
    role: &str,
    session: Option<String>,
    duration: u64,
    now: DateTime<Utc>,
) -> Issued {
    forget_expired(state, now);
    let lifetime = duration.min(state.sts.duration_secs);
    let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX / 2);
    // Whole seconds, as `Expiration` says: the key expires exactly when the client is told.
    let expiration = DateTime::from_timestamp(now.timestamp().saturating_add(lifetime), 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let access_key_id = loop {
        let id = format!("STS.{}", random_alnum(25));
        if !state.keys.contains_key(&id) {
            break id;
        }
    };
    let secret = random_alnum(30);
    let security_token = format!("CAIS{}", random_alnum(300));
    state.keys.insert(
        access_key_id.clone(),
        AccessKey {
            secret: secret.clone(),
            tokens: vec![SecurityToken {
                token: security_token.clone(),
                expired: false,
                expires_at: Some(expiration),
            }],
            inactive: false,
            sts_issued: true,
            denied_actions: Vec::new(),
        },
    );
    state.sts_issued_total += 1;
    let session = session.unwrap_or_else(|| format!("sim-{}", random_alnum(8)));
    let role_id = rand::random::<u64>() % 100_000_000_000_000_000;
    let mut fields = Map::new();
    fields.insert(
        "AssumedRoleUser".into(),
        json!({
            "Arn": format!("acs:ram::{account}:role/{role}/{session}"),
            "AssumedRoleId": format!("3{role_id:017}:{session}"),
        }),
    );
    fields.insert(
        "Credentials".into(),
        json!({
            "AccessKeyId": access_key_id,
            "AccessKeySecret": secret,
            "SecurityToken": security_token,
            "Expiration": expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }),
    );
    tracing::info!(%access_key_id, %expiration, role, "issued STS credentials");
    Issued {
        access_key_id,
        fields,
    }
}

/// Drops issued keys that expired more than [`FORGET_AFTER_SECS`] ago.
fn forget_expired(state: &mut State, now: DateTime<Utc>) {
    let cutoff = now - chrono::Duration::seconds(FORGET_AFTER_SECS);
    state.keys.retain(|_, key| {
        !key.sts_issued
            || key
                .tokens
                .iter()
                .any(|t| t.expires_at.is_none_or(|at| at > cutoff))
    });
}

/// Marks every issued credential expired now; returns how many were still valid.
pub fn expire_all(state: &mut State, now: DateTime<Utc>) -> usize {
    let mut n = 0;
    for key in state.keys.values_mut().filter(|k| k.sts_issued) {
        for token in &mut key.tokens {
            if !token.is_expired(now) {
                n += 1;
            }
            token.expired = true;
        }
    }
    n
}

/// Issued credentials not yet expired at `now`.
pub fn active(state: &State, now: DateTime<Utc>) -> usize {
    state
        .keys
        .values()
        .filter(|k| k.sts_issued && k.tokens.iter().any(|t| !t.is_expired(now)))
        .count()
}

/// The `GET`/`PUT /admin/sts` answer (tokens are counted, never listed).
pub fn admin_view(state: &State, now: DateTime<Utc>) -> StsView {
    StsView {
        accepted_tokens: state.sts.accepted_tokens.as_ref().map(Vec::len),
        duration_secs: state.sts.duration_secs,
        error_code: state.sts.error_code.clone(),
        issued: state.sts_issued_total,
        active: active(state, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    const ROLE: &str = "acs:ram::1234567890:role/cams-operator";
    const PROVIDER: &str = "acs:ram::1234567890:oidc-provider/ack-rrsa";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn params(overrides: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let mut map: BTreeMap<&str, &str> = [
            ("Action", ACTION),
            ("Version", VERSION),
            ("Format", "JSON"),
            ("RoleArn", ROLE),
            ("OIDCProviderArn", PROVIDER),
            ("OIDCToken", "header.payload.signature"),
            ("RoleSessionName", "cams-operator"),
            ("DurationSeconds", "3600"),
        ]
        .into_iter()
        .collect();
        for (k, v) in overrides {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(k),
            };
        }
        map.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn state() -> State {
        State::new(Duration::from_secs(900), 100)
    }

    fn refuse(state: &mut State, overrides: &[(&str, Option<&str>)]) -> Refusal {
        assume_role(state, Params(&params(overrides)), now()).unwrap_err()
    }

    #[test]
    fn issues_credentials_and_registers_them_as_an_access_key() {
        let mut s = state();
        let issued = assume_role(&mut s, Params(&params(&[])), now()).unwrap();
        let c = &issued.fields["Credentials"];
        let id = c["AccessKeyId"].as_str().unwrap();
        assert_eq!(id, issued.access_key_id);
        assert!(id.starts_with("STS.") && id.len() == 29, "{id}");
        assert_eq!(c["Expiration"], "2026-11-26T13:00:00Z");
        assert_eq!(
            issued.fields["AssumedRoleUser"]["Arn"],
            "acs:ram::1234567890:role/cams-operator/cams-operator"
        );
        let key = &s.keys[id];
        assert!(key.sts_issued);
        assert_eq!(key.secret, c["AccessKeySecret"].as_str().unwrap());
        assert_eq!(key.tokens.len(), 1);
        assert_eq!(key.tokens[0].token, c["SecurityToken"].as_str().unwrap());
        assert_eq!(
            key.tokens[0].expires_at,
            Some(now() + chrono::Duration::hours(1))
        );
        assert_eq!((s.sts_issued_total, active(&s, now())), (1, 1));

        // The configured lifetime caps DurationSeconds; without DurationSeconds, 3600.
        s.sts.duration_secs = 5;
        let issued = assume_role(
            &mut s,
            Params(&params(&[
                ("DurationSeconds", None),
                ("RoleSessionName", None),
            ])),
            now(),
        )
        .unwrap();
        assert_eq!(
            issued.fields["Credentials"]["Expiration"],
            "2026-11-26T12:00:05Z"
        );
        assert!(issued.fields["AssumedRoleUser"]["AssumedRoleId"]
            .as_str()
            .unwrap()
            .contains(":sim-"));
        assert_eq!(active(&s, now() + chrono::Duration::seconds(5)), 1);
        assert_eq!(expire_all(&mut s, now()), 2);
        assert_eq!(active(&s, now()), 0);
    }

    #[test]
    fn validates_parameters() {
        let mut s = state();
        let code = |s: &mut State, o: &[(&str, Option<&str>)]| refuse(s, o).error.code;
        assert_eq!(code(&mut s, &[("Version", None)]), "MissingParameter");
        assert_eq!(
            code(&mut s, &[("Version", Some("2020-06-06"))]),
            "InvalidVersion"
        );
        for name in ["RoleArn", "OIDCProviderArn", "OIDCToken"] {
            let r = refuse(&mut s, &[(name, None)]);
            assert_eq!(
                (r.error.code.as_str(), r.error.status),
                ("MissingParameter", 400)
            );
            assert!(r.error.message.contains(name), "{}", r.error.message);
            assert_eq!(code(&mut s, &[(name, Some(" "))]), "MissingParameter");
        }
        for bad in [
            "arn:aws:iam::1:role/x",
            "acs:ram::12ab:role/x",
            "acs:ram::1:role/",
            PROVIDER,
        ] {
            assert_eq!(
                code(&mut s, &[("RoleArn", Some(bad))]),
                "InvalidParameter.RoleArn"
            );
        }
        assert_eq!(
            code(&mut s, &[("OIDCProviderArn", Some(ROLE))]),
            "InvalidParameter.OIDCProviderArn"
        );
        assert_eq!(
            code(&mut s, &[("OIDCToken", Some("abc"))]),
            "InvalidParameter.OIDCToken"
        );
        for bad in ["a", "has space", &"x".repeat(65)] {
            assert_eq!(
                code(&mut s, &[("RoleSessionName", Some(bad))]),
                "InvalidParameter.RoleSessionName"
            );
        }
        for bad in ["899", "43201", "1h", "-1"] {
            assert_eq!(
                code(&mut s, &[("DurationSeconds", Some(bad))]),
                "InvalidParameter.DurationSeconds"
            );
        }
        assert_eq!(
            code(&mut s, &[("Policy", Some("not json"))]),
            "InvalidParameter.PolicyGrammar"
        );
        assert!(assume_role(
            &mut s,
            Params(&params(&[(
                "Policy",
                Some(r#"{"Version":"1","Statement":[]}"#)
            )])),
            now()
        )
        .is_ok());
        assert_eq!(s.sts_issued_total, 1, "refused calls issue nothing");
        assert_eq!(s.keys.len(), 1);
    }

    #[test]
    fn accepted_tokens_and_injected_errors() {
        let mut s = state();
        s.sts = StsConfig {
            accepted_tokens: Some(vec!["good-token".into()]),
            ..StsConfig::default()
        };
        let r = refuse(&mut s, &[]);
        assert_eq!(
            (r.error.code.as_str(), r.error.status, r.injected),
            ("AuthenticationFail.OIDCToken.Invalid", 401, false)
        );
        assert!(assume_role(
            &mut s,
            Params(&params(&[("OIDCToken", Some("good-token"))])),
            now()
        )
        .is_ok());

        s.sts.error_code = Some("ServiceUnavailable".into());
        let r = refuse(&mut s, &[("OIDCToken", Some("good-token"))]);
        assert_eq!(
            (r.error.code.as_str(), r.error.status, r.injected),
            ("ServiceUnavailable", 503, true)
        );
        s.sts.error_code = Some("Throttling.User".into());
        assert_eq!(refuse(&mut s, &[]).error.retry_after_secs, Some(1));
        // Parameter errors come first.
        assert!(!refuse(&mut s, &[("RoleArn", None)]).injected);
        assert_eq!(status_of("AuthenticationFail.NoPermission"), 401);

        assert!(StsConfig::default().validate().is_ok());
        let bad: Vec<StsConfig> = vec![
            StsConfig {
                duration_secs: 0,
                ..StsConfig::default()
            },
            StsConfig {
                accepted_tokens: Some(vec![String::new()]),
                ..StsConfig::default()
            },
            StsConfig {
                error_code: Some(" ".into()),
                ..StsConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn long_expired_keys_are_forgotten() {
        let mut s = state();
        s.sts.duration_secs = 10;
        let first = assume_role(&mut s, Params(&params(&[])), now()).unwrap();
        // Expired but recent: kept, so calls answer InvalidSecurityToken.Expired.
        let later = now() + chrono::Duration::seconds(600);
        let second = assume_role(&mut s, Params(&params(&[])), later).unwrap();
        assert!(s.keys.contains_key(&first.access_key_id));
        let much_later = later + chrono::Duration::seconds(FORGET_AFTER_SECS + 11);
        assume_role(&mut s, Params(&params(&[])), much_later).unwrap();
        assert!(!s.keys.contains_key(&first.access_key_id));
        assert!(!s.keys.contains_key(&second.access_key_id));
        assert_eq!(s.keys.len(), 1);
    }
}
