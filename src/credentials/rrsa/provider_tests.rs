//! The provider against a fake STS: configuration, the request, caching, refresh and errors.

use super::*;
use crate::cams::encode::{percent_decode, percent_encode};
use crate::cams::env::fake_env as env;
use std::collections::HashMap;
use std::path::PathBuf;
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
            "Expiration": format_timestamp(&expiration),
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
            sts_endpoint: Some(Endpoint::parse(endpoint).unwrap()),
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

/// The three variables RRSA needs, all set.
const BASE: [(&str, &str); 3] = [
    (ENV_ROLE_ARN, ROLE),
    (ENV_OIDC_PROVIDER_ARN, PROVIDER),
    (ENV_OIDC_TOKEN_FILE, "/var/run/secrets/token"),
];

/// A provider from [`BASE`] plus `extra`, with the STS endpoint override `over`.
fn with(extra: &[(&str, &str)], over: Option<&str>) -> Result<RrsaProvider, RrsaError> {
    let mut all = BASE.to_vec();
    all.extend_from_slice(extra);
    RrsaProvider::from_env(env(&all), over).map(|p| p.unwrap())
}

#[test]
fn an_absent_or_incomplete_environment() {
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
    let err = RrsaProvider::from_env(env(&[(ENV_OIDC_PROVIDER_ARN, PROVIDER)]), None).unwrap_err();
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
}

#[test]
fn defaults_from_the_environment() {
    let p = RrsaProvider::from_env(env(&BASE), None).unwrap().unwrap();
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
    assert_eq!(
        with(&[(ENV_ROLE_SESSION_NAME, "my.session@x")], None)
            .unwrap()
            .role_session_name(),
        "my.session@x"
    );
}

#[test]
fn the_sts_endpoint_from_the_override_or_the_environment() {
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
}

#[test]
fn unusable_settings_are_named() {
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
        env(&BASE),
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
async fn maps_an_sts_error_scrubbing_the_token() {
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
}

#[tokio::test]
async fn maps_bad_answers_without_quoting_secrets() {
    let s = setup(Reply::Raw {
        status: 500,
        body: String::new(),
    })
    .await;
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
