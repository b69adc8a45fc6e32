//! End-to-end tests over real HTTP on loopback: a simulator in the test process (the crate's
//! public `serve`), requests signed by the operator's library and sent by its own client where
//! that is the point. The operator is a dev-dependency only: these tests check it against the
//! simulator, the simulator library never uses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use cams_operator::cams::request::{
    sign_request, Freshness, RequestSpec, SignatureVersion, SignedRequest,
};
use cams_operator::cams::{CamsClient, CamsError, ClientConfig, Credentials, ErrorClass};
use cams_operator::cams::{Endpoint, EndpointPolicy};

use cams_simulator::{serve, App, State};

struct Sim {
    base: String,
    endpoint: Endpoint,
    http: reqwest::Client,
    _stop: watch::Sender<bool>,
}

impl Sim {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Arc::new(App::new(State::new(Duration::from_secs(900), 10_000)));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, app, stopped, Duration::from_millis(100)));
        let base = format!("http://{addr}");
        Self {
            endpoint: Endpoint::parse(&base).unwrap(),
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _stop: stop,
        }
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/admin/{path}", self.base);
        let req = self
            .http
            .request(method.parse().unwrap(), url)
            .body(body.to_string());
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn setup(&self, tenant: &str) {
        let (s, _) = self
            .admin(
                "POST",
                "seed",
                json!({
                    "accessKeys": [{"accessKeyId": format!("ak-{tenant}"), "accessKeySecret": "secret-1"}],
                    "groups": [{"custSpaceId": tenant, "businessNumber": "8613800001234", "groupId": "G1",
                                "subject": "Old", "participants": ["1", "2"]}],
                }),
            )
            .await;
        assert_eq!(s, 200);
    }

    fn client(&self, signature: SignatureVersion) -> CamsClient {
        CamsClient::new(ClientConfig {
            endpoints: EndpointPolicy::new("ap-southeast-1", Some(self.endpoint.clone())).unwrap(),
            signature,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            user_agent: "cams-operator/http-test".into(),
        })
        .unwrap()
    }

    fn sign(
        &self,
        scheme: SignatureVersion,
        creds: &Credentials,
        action: &str,
        params: &[(String, String)],
        fresh: &Freshness,
    ) -> SignedRequest {
        let spec = RequestSpec {
            action,
            params,
            endpoint: &self.endpoint,
            signature: scheme,
            extra_headers: &[],
        };
        sign_request(&spec, creds, fresh)
    }

    async fn send(&self, req: &SignedRequest) -> Result<reqwest::Response, reqwest::Error> {
        let mut builder = self.http.post(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        builder.send().await
    }

    async fn call(
        &self,
        scheme: SignatureVersion,
        tenant: &str,
        action: &str,
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut params = ids(tenant);
        params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let creds = Credentials::new(format!("ak-{tenant}"), "secret-1");
        let req = self.sign(scheme, &creds, action, &params, &Freshness::now());
        let resp = self.send(&req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.json().await.unwrap())
    }

    async fn group(&self, tenant: &str) -> Value {
        self.admin(
            "GET",
            &format!("groups/{tenant}/8613800001234/G1"),
            Value::Null,
        )
        .await
        .1
    }

    async fn calls(&self, tenant: &str) -> Vec<Value> {
        let (_, v) = self
            .admin("GET", &format!("calls?custSpaceId={tenant}"), Value::Null)
            .await;
        v["calls"].as_array().unwrap().clone()
    }
}

fn ids(tenant: &str) -> Vec<(String, String)> {
    vec![
        ("BusinessNumber".into(), "8613800001234".into()),
        ("CustSpaceId".into(), tenant.into()),
        ("GroupId".into(), "G1".into()),
    ]
}

fn update(tenant: &str, subject: &str) -> cams_operator::cams::UpdateChatGroup {
    cams_operator::cams::UpdateChatGroup {
        business_number: "8613800001234".into(),
        cust_space_id: tenant.into(),
        group_id: "G1".into(),
        subject: Some(subject.into()),
        description: Some("a & b = 100% ~*+ üñí".into()),
        ..Default::default()
    }
}

const SCHEMES: [SignatureVersion; 2] = [SignatureVersion::V3, SignatureVersion::V1];

#[tokio::test]
async fn library_client_updates_a_group_in_both_schemes() {
    use cams_operator::cams::ChatGroupApi;
    let sim = Sim::start().await;
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        let tenant = format!("t-update-{i}");
        sim.setup(&tenant).await;
        let creds = Credentials::new(format!("ak-{tenant}"), "secret-1");
        let resp = sim
            .client(scheme)
            .update_chat_group(None, &creds, &update(&tenant, "New subject"))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.envelope.code.as_deref(), Some("OK"));
        assert_eq!(resp.envelope.result, Some(1));
        assert_eq!(resp.envelope.request_id.as_ref().map(String::len), Some(36));
        assert!(resp.server_date.is_some(), "Date header");
        let g = sim.group(&tenant).await;
        assert_eq!(g["subject"], "New subject");
        assert_eq!(g["description"], "a & b = 100% ~*+ üñí");
        let calls = sim.calls(&tenant).await;
        assert_eq!(calls.len(), 1);
        let c = &calls[0];
        assert_eq!(c["action"], "UpdateChatGroup");
        assert_eq!(c["code"], "OK");
        assert_eq!(c["status"], 200);
        assert_eq!(c["accessKeyId"], format!("ak-{tenant}"));
        assert_eq!(
            c["signatureScheme"],
            if scheme == SignatureVersion::V3 {
                "v3"
            } else {
                "rpc"
            }
        );
        assert_eq!(c["userAgent"], "cams-operator/http-test");
        assert_eq!(c["params"]["Subject"], "New subject");
        assert!(c["params"].get("Signature").is_none());
        assert!(c["remoteAddr"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert!(c["time"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn wrong_secret_sts_and_key_rotation_through_the_library_client() {
    let sim = Sim::start().await;
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        let tenant = format!("t-keys-{i}");
        sim.setup(&tenant).await;
        let ak = format!("ak-{tenant}");
        let client = sim.client(scheme);
        let req = update(&tenant, "S");
        a_key_with_tokens_requires_one(&sim, &client, &ak, &req).await;
        a_wrong_secret_echo_is_scrubbed(&sim, scheme, &client, &ak, &req).await;
        rotation_expiry_and_revocation(&sim, &client, &ak, &req).await;
    }
}

/// STS: a key with tokens refuses a call without one.
async fn a_key_with_tokens_requires_one(
    sim: &Sim,
    client: &CamsClient,
    ak: &str,
    req: &cams_operator::cams::UpdateChatGroup,
) {
    use cams_operator::cams::ChatGroupApi;
    sim.admin(
        "PUT",
        &format!("access-keys/{ak}"),
        json!({"accessKeySecret": "secret-1", "securityTokens": ["sts-token-abcdef"]}),
    )
    .await;
    let err = client
        .update_chat_group(None, &Credentials::new(ak, "secret-1"), req)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CamsError::Api { code, .. } if code == "InvalidSecurityToken.MismatchWithAccessKey"),
        "{err}"
    );
    let sts = Credentials::new(ak, "secret-1").with_security_token("sts-token-abcdef");
    client.update_chat_group(None, &sts, req).await.unwrap();
}

/// Wrong secret with the token: the echo contains the token, the client scrubs it.
async fn a_wrong_secret_echo_is_scrubbed(
    sim: &Sim,
    scheme: SignatureVersion,
    client: &CamsClient,
    ak: &str,
    req: &cams_operator::cams::UpdateChatGroup,
) {
    use cams_operator::cams::ChatGroupApi;
    let wrong = Credentials::new(ak, "not-the-secret").with_security_token("sts-token-abcdef");
    let err = client
        .update_chat_group(None, &wrong, req)
        .await
        .unwrap_err();
    let CamsError::Api {
        status,
        code,
        message,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*status, code.as_str()), (400, "SignatureDoesNotMatch"));
    assert_eq!(err.class(), ErrorClass::Credentials);
    assert!(message.contains("server string to sign is:"), "{message}");
    assert!(!message.contains("sts-token-abcdef"), "{message}");
    // The simulator itself did echo it (in the log-visible raw answer).
    let raw = sim
        .send(&sim.sign(
            scheme,
            &wrong,
            "UpdateChatGroup",
            &req.params(),
            &Freshness::now(),
        ))
        .await
        .unwrap();
    let body: Value = raw.json().await.unwrap();
    assert!(body["Message"]
        .as_str()
        .unwrap()
        .contains("sts-token-abcdef"));
}

/// Replacing the secret takes effect at once; an expired token is refused; revoking the key
/// too.
async fn rotation_expiry_and_revocation(
    sim: &Sim,
    client: &CamsClient,
    ak: &str,
    req: &cams_operator::cams::UpdateChatGroup,
) {
    use cams_operator::cams::ChatGroupApi;
    sim.admin(
        "PUT",
        &format!("access-keys/{ak}"),
        json!({"accessKeySecret": "secret-2"}),
    )
    .await;
    let err = client
        .update_chat_group(None, &Credentials::new(ak, "secret-1"), req)
        .await
        .unwrap_err();
    assert!(matches!(&err, CamsError::Api { code, .. } if code == "SignatureDoesNotMatch"));
    client
        .update_chat_group(None, &Credentials::new(ak, "secret-2"), req)
        .await
        .unwrap();
    // An expired token.
    sim.admin(
            "PUT",
            &format!("access-keys/{ak}"),
            json!({"accessKeySecret": "secret-2", "securityTokens": [{"token": "old-token", "expired": true}]}),
        )
        .await;
    let err = client
        .update_chat_group(
            None,
            &Credentials::new(ak, "secret-2").with_security_token("old-token"),
            req,
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, CamsError::Api { code, .. } if code == "InvalidSecurityToken.Expired"));
    let (_, v) = sim
        .admin("DELETE", &format!("access-keys/{ak}"), Value::Null)
        .await;
    assert_eq!(v["revoked"], true);
    let err = client
        .update_chat_group(None, &Credentials::new(ak, "secret-2"), req)
        .await
        .unwrap_err();
    let CamsError::Api { status, code, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        (*status, code.as_str()),
        (404, "InvalidAccessKeyId.NotFound")
    );
}

#[tokio::test]
async fn nonce_reuse_and_clock_offset() {
    let sim = Sim::start().await;
    for (i, scheme) in SCHEMES.into_iter().enumerate() {
        let tenant = format!("t-fresh-{i}");
        sim.setup(&tenant).await;
        let creds = Credentials::new(format!("ak-{tenant}"), "secret-1");
        let mut params = ids(&tenant);
        params.push(("Subject".into(), "x".into()));
        let req = sim.sign(
            scheme,
            &creds,
            "UpdateChatGroup",
            &params,
            &Freshness::now(),
        );
        assert_eq!(sim.send(&req).await.unwrap().status(), 200);
        let again = sim.send(&req).await.unwrap();
        assert_eq!(again.status(), 400);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["Code"], "SignatureNonceUsed");

        // A stale timestamp.
        let stale = Freshness {
            nonce: "stale-nonce".into(),
            timestamp: Utc::now() - chrono::Duration::minutes(16),
        };
        let resp = sim
            .send(&sim.sign(scheme, &creds, "UpdateChatGroup", &params, &stale))
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["Code"], "InvalidTimeStamp.Expired");

        // The tenant's clock runs 20 minutes ahead: fresh requests are now stale, and the
        // Date header shows the simulator's clock.
        sim.admin(
            "PUT",
            &format!("faults/tenants/{tenant}"),
            json!({"clockOffsetSecs": 1200}),
        )
        .await;
        let (status, headers, body) = sim.call(scheme, &tenant, "UpdateChatGroup", &[]).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("InvalidTimeStamp.Expired"))
        );
        let date = headers["date"].to_str().unwrap();
        let date = chrono::DateTime::parse_from_rfc2822(date).unwrap();
        let skew = (date.with_timezone(&Utc) - Utc::now()).num_seconds();
        assert!((1190..=1210).contains(&skew), "{skew}");
        // The nonce of a refused call is not burnt: other tenants are unaffected.
        sim.admin("DELETE", &format!("faults/tenants/{tenant}"), Value::Null)
            .await;
        let (status, _, _) = sim.call(scheme, &tenant, "UpdateChatGroup", &[]).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn throttling_and_injected_errors_per_tenant() {
    let sim = Sim::start().await;
    sim.setup("t-qps").await;
    sim.setup("t-free").await;
    sim.setup("t-err").await;
    a_tenant_bucket_throttles_that_tenant_only(&sim).await;
    injected_errors_leave_the_group_alone(&sim).await;
    default_faults_apply_to_tenants_without_their_own(&sim).await;
}

/// A tenant's token bucket: throttled with `x-acs-retry-after`, other tenants not, and only
/// after authentication.
async fn a_tenant_bucket_throttles_that_tenant_only(sim: &Sim) {
    let scheme = SignatureVersion::V3;
    sim.admin(
        "PUT",
        "faults/tenants/t-qps",
        json!({"qps": {"rate": 0.2, "burst": 2}}),
    )
    .await;
    for _ in 0..2 {
        let (status, _, _) = sim.call(scheme, "t-qps", "UpdateChatGroup", &[]).await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = sim.call(scheme, "t-qps", "UpdateChatGroup", &[]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("Throttling.User"))
    );
    assert_eq!(headers["x-acs-retry-after"], "5");
    // Another tenant is not throttled.
    for _ in 0..5 {
        let (status, _, _) = sim.call(scheme, "t-free", "UpdateChatGroup", &[]).await;
        assert_eq!(status, 200);
    }
    // Authentication comes before throttling.
    let creds = Credentials::new("ak-t-qps", "wrong");
    let req = sim.sign(
        scheme,
        &creds,
        "UpdateChatGroup",
        &ids("t-qps"),
        &Freshness::now(),
    );
    let body: Value = sim.send(&req).await.unwrap().json().await.unwrap();
    assert_eq!(body["Code"], "SignatureDoesNotMatch");
}

/// Injected errors: the status follows the code, the call is logged as a fault, the group
/// is not touched.
async fn injected_errors_leave_the_group_alone(sim: &Sim) {
    let scheme = SignatureVersion::V3;
    for (code, status) in [
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("Throttling.Api", 400),
    ] {
        sim.admin(
            "PUT",
            "faults/tenants/t-err",
            json!({"errorRates": {code: 1.0}}),
        )
        .await;
        let (s, headers, body) = sim.call(scheme, "t-err", "UpdateChatGroup", &[]).await;
        assert_eq!((s, body["Code"].as_str()), (status, Some(code)));
        assert_eq!(body["Success"], false);
        assert!(headers.contains_key("date"));
        assert_eq!(
            headers.contains_key("x-acs-retry-after"),
            code.starts_with("Throttling")
        );
    }
    let calls = sim.calls("t-err").await;
    assert!(calls.iter().all(|c| c["fault"] == "error"));
    // The group was not touched by injected errors.
    assert_eq!(
        sim.group("t-err").await["gmtModifier"],
        sim.group("t-err").await["gmtCreate"]
    );
}

/// Default faults apply to tenants without their own; invalid settings are refused.
async fn default_faults_apply_to_tenants_without_their_own(sim: &Sim) {
    let scheme = SignatureVersion::V3;
    sim.admin(
        "PUT",
        "faults/default",
        json!({"errorRates": {"InternalError": 1.0}}),
    )
    .await;
    let (s, _, _) = sim.call(scheme, "t-free", "UpdateChatGroup", &[]).await;
    assert_eq!(s, 500);
    let (s, _, _) = sim
        .call(
            scheme,
            "t-qps",
            "ListChatGroup",
            &[("Page", r#"{"Index":1,"Size":5}"#)],
        )
        .await;
    assert_eq!(s, 400, "t-qps has its own settings (and no tokens left)");
    let (_, all) = sim.admin("GET", "faults", Value::Null).await;
    assert_eq!(all["default"]["errorRates"]["InternalError"], 1.0);
    assert_eq!(all["tenants"]["t-qps"]["qps"]["rate"], 0.2);
    let (s, _) = sim
        .admin("PUT", "faults/default", json!({"resetProbability": 2}))
        .await;
    assert_eq!(s, 400);
    sim.admin("DELETE", "faults", Value::Null).await;
    let (s, _, _) = sim.call(scheme, "t-free", "UpdateChatGroup", &[]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_lost_answer_applies_the_update_and_resets_the_connection() {
    let sim = Sim::start().await;
    sim.setup("t-lost").await;
    sim.admin(
        "PUT",
        "faults/tenants/t-lost",
        json!({"loseAnswerProbability": 1.0}),
    )
    .await;
    let mut params = ids("t-lost");
    params.push(("Subject".into(), "Landed".into()));
    let err = sim
        .client(SignatureVersion::V3)
        .call(
            "UpdateChatGroup",
            &params,
            None,
            &Credentials::new("ak-t-lost", "secret-1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CamsError::Transport(_)), "{err}");
    // The update landed all the same.
    let (_, group) = sim
        .admin("GET", "groups/t-lost/8613800001234/G1", Value::Null)
        .await;
    assert_eq!(group["subject"], "Landed", "{group}");
    let calls = sim.calls("t-lost").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["code"], "OK");
    assert_eq!(calls[0]["fault"], "answer_lost");
    let (s, _) = sim
        .admin(
            "PUT",
            "faults/default",
            json!({"loseAnswerProbability": -0.5}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn connection_reset_gives_no_http_response() {
    let sim = Sim::start().await;
    sim.setup("t-reset").await;
    sim.admin(
        "PUT",
        "faults/tenants/t-reset",
        json!({"resetProbability": 1.0}),
    )
    .await;
    for scheme in SCHEMES {
        let creds = Credentials::new("ak-t-reset", "secret-1");
        let req = sim.sign(
            scheme,
            &creds,
            "UpdateChatGroup",
            &ids("t-reset"),
            &Freshness::now(),
        );
        let err = sim.send(&req).await.unwrap_err();
        assert!(err.is_request() || err.is_connect(), "{err:?}");
        assert!(!err.is_timeout());
    }
    // Through the library client: a retryable transport error.
    let err = sim
        .client(SignatureVersion::V3)
        .call(
            "UpdateChatGroup",
            &ids("t-reset"),
            None,
            &Credentials::new("ak-t-reset", "secret-1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CamsError::Transport(_)), "{err}");
    assert_eq!(err.class(), ErrorClass::Retryable);
    // A raw socket sees a reset, not a response.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(sim.base.trim_start_matches("http://"))
            .await
            .unwrap();
        sock.write_all(
            b"POST /?CustSpaceId=t-reset HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        let read = sock.read_to_end(&mut buf).await;
        assert!(buf.is_empty(), "{:?}", String::from_utf8_lossy(&buf));
        let err = read.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err:?}");
    }
    let calls = sim.calls("t-reset").await;
    assert_eq!(calls.len(), 4);
    assert!(calls
        .iter()
        .all(|c| c["code"] == "ConnectionReset" && c["status"] == 0 && c["fault"] == "reset"));
    // The server keeps serving.
    let (_, v) = sim.admin("GET", "healthz", Value::Null).await;
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn hangs_latency_and_client_giving_up() {
    let sim = Sim::start().await;
    sim.setup("t-hang").await;
    sim.setup("t-slow").await;
    sim.setup("t-late").await;
    let scheme = SignatureVersion::V3;

    sim.admin("PUT", "faults/tenants/t-slow", json!({"latencyMs": 150}))
        .await;
    let start = Instant::now();
    let (status, _, _) = sim.call(scheme, "t-slow", "UpdateChatGroup", &[]).await;
    assert_eq!(status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));

    sim.admin(
        "PUT",
        "faults/tenants/t-late",
        json!({"hang": {"probability": 1.0, "durationMs": 200}}),
    )
    .await;
    let start = Instant::now();
    let (status, _, _) = sim.call(scheme, "t-late", "UpdateChatGroup", &[]).await;
    assert_eq!(status, 200);
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(sim.calls("t-late").await[0]["fault"], "hang");

    sim.admin(
        "PUT",
        "faults/tenants/t-hang",
        json!({"hang": {"probability": 1.0}}),
    )
    .await;
    let creds = Credentials::new("ak-t-hang", "secret-1");
    let req = sim.sign(
        scheme,
        &creds,
        "UpdateChatGroup",
        &ids("t-hang"),
        &Freshness::now(),
    );
    let mut builder = sim.http.post(&req.url).timeout(Duration::from_millis(300));
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let err = builder.send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // Once the client has given up, the hanging call is dropped.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, v) = sim.admin("GET", "healthz", Value::Null).await;
        if v["hanging"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hanging call was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = sim.calls("t-hang").await;
    assert_eq!(calls[0]["code"], "Hang");
}

#[tokio::test]
async fn all_actions_over_http_and_get_requests() {
    let sim = Sim::start().await;
    let tenant = "t-actions";
    sim.setup(tenant).await;
    every_action_answers_over_http(&sim, tenant).await;
    get_requests_and_unsigned_calls(&sim, tenant).await;
}

/// The eight actions (and an unknown one), RPC-signed, in an order that uses each result.
async fn every_action_answers_over_http(sim: &Sim, tenant: &str) {
    let scheme = SignatureVersion::V1;
    let (s, _, v) = sim
        .call(scheme, tenant, "AddChatGroupInviteLink", &[])
        .await;
    assert_eq!(s, 200, "{v}");
    let link = v["InviteLink"].as_str().unwrap().to_string();
    assert_eq!(sim.group(tenant).await["inviteLink"], link);
    let (_, _, v) = sim
        .call(scheme, tenant, "DeleteChatGroupInviteLink", &[])
        .await;
    assert_eq!(v["Result"], 1);
    let (_, _, v) = sim
        .call(scheme, tenant, "ListChatGroupParticipants", &[])
        .await;
    assert_eq!(v["Data"]["Total"], 2);
    let (_, _, v) = sim
        .call(
            scheme,
            tenant,
            "DeleteChatGroupParticipants",
            &[("List", r#"[{"ParticipantNumber":"1"}]"#)],
        )
        .await;
    assert_eq!(v["Result"], 1);
    let (_, _, v) = sim
        .call(
            scheme,
            tenant,
            "ListChatGroup",
            &[("Page", r#"{"Index":1,"Size":20}"#)],
        )
        .await;
    assert_eq!(v["Data"]["Total"], 1);
    assert_eq!(v["Data"]["List"][0]["TotalParticipantCount"], 1);
    let (_, _, v) = sim
        .call(scheme, tenant, "AddChatGroup", &[("Subject", "Second")])
        .await;
    assert!(v["UniqueCode"].is_string());
    let (_, _, v) = sim
        .call(
            scheme,
            tenant,
            "ListChatGroup",
            &[("Page", r#"{"Index":1,"Size":20}"#)],
        )
        .await;
    assert_eq!(v["Data"]["Total"], 2);
    let (_, _, v) = sim.call(scheme, tenant, "DeleteChatGroup", &[]).await;
    assert_eq!(v["Result"], 1);
    let (s, _, v) = sim.call(scheme, tenant, "UpdateChatGroup", &[]).await;
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("InvalidParameter.GroupNotExist"))
    );
    let (s, _, v) = sim.call(scheme, tenant, "SendChatappMessage", &[]).await;
    assert_eq!(
        (s, v["Code"].as_str()),
        (404, Some("InvalidAction.NotFound"))
    );
    assert!(v["RequestId"].is_string());
    assert_eq!(v["Success"], false);
    assert!(v.get("AccessDeniedDetail").is_some());
}

/// GET works too (the method is part of what is signed); an unsigned call is incomplete.
async fn get_requests_and_unsigned_calls(sim: &Sim, tenant: &str) {
    let scheme = SignatureVersion::V1;
    let creds = Credentials::new(format!("ak-{tenant}"), "secret-1");
    let mut params = ids(tenant);
    params.push(("Page".into(), r#"{"Index":1,"Size":20}"#.into()));
    params.retain(|(k, _)| k != "GroupId");
    let req = sim.sign(scheme, &creds, "ListChatGroup", &params, &Freshness::now());
    let post = sim.send(&req).await.unwrap();
    assert_eq!(post.status(), 200);
    let get_req = sim.sign(scheme, &creds, "ListChatGroup", &params, &Freshness::now());
    let resp = sim.http.get(&get_req.url).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    // Signed for POST, sent as GET: the server signs with GET.
    assert_eq!(body["Code"], "SignatureDoesNotMatch");
    assert!(body["Message"].as_str().unwrap().contains("is:GET&%2F&"));

    // Unsigned.
    let resp = sim
        .http
        .post(format!("{}/?Action=ListChatGroup", sim.base))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("IncompleteSignature"))
    );
}

#[tokio::test]
async fn admin_api_shapes() {
    let sim = Sim::start().await;
    admin_health_and_keys(&sim).await;
    admin_groups(&sim).await;
    admin_call_log(&sim).await;
    admin_errors(&sim).await;
}

/// Health and access keys (secrets never listed).
async fn admin_health_and_keys(sim: &Sim) {
    let (s, v) = sim.admin("GET", "healthz", Value::Null).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, v) = sim
        .admin(
            "POST",
            "access-keys",
            json!({"accessKeyId": "k1", "accessKeySecret": "s1", "securityTokens": ["t"]}),
        )
        .await;
    assert_eq!((s, v["replaced"].as_bool()), (200, Some(false)));
    let (_, v) = sim.admin("GET", "access-keys", Value::Null).await;
    assert_eq!(v["accessKeys"][0]["accessKeyId"], "k1");
    assert_eq!(v["accessKeys"][0]["securityTokens"], 1);
    assert!(!v.to_string().contains("s1"), "secrets are never listed");
    let (s, _) = sim
        .admin("POST", "access-keys", json!({"accessKeySecret": "x"}))
        .await;
    assert_eq!(s, 400);
}

/// Groups: added in each body shape, listed, read, deleted; unknown fields refused.
async fn admin_groups(sim: &Sim) {
    let (s, v) = sim
        .admin(
            "POST",
            "groups",
            json!({"groups": [{"custSpaceId": "a", "businessNumber": "1"}, {"custSpaceId": "b", "businessNumber": "1", "groupId": "GB"}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(v["groups"][0]["groupId"]
        .as_str()
        .unwrap()
        .starts_with("SIM"));
    sim.admin(
        "POST",
        "groups",
        json!({"custSpaceId": "a", "businessNumber": "1", "groupId": "GA"}),
    )
    .await;
    let (_, v) = sim.admin("GET", "groups?custSpaceId=a", Value::Null).await;
    assert_eq!(v["count"], 2);
    let (_, v) = sim.admin("GET", "groups", Value::Null).await;
    assert_eq!(v["count"], 3);
    let (s, _) = sim.admin("GET", "groups/b/1/nope", Value::Null).await;
    assert_eq!(s, 404);
    let (_, v) = sim
        .admin("DELETE", "groups?custSpaceId=a", Value::Null)
        .await;
    assert_eq!(v["deleted"], 2);
    let (s, _) = sim
        .admin(
            "POST",
            "groups",
            json!({"custSpaceId": "a", "businessNumber": "1", "bogus": 1}),
        )
        .await;
    assert_eq!(s, 400);
}

/// The call log: since, action filter, clear.
async fn admin_call_log(sim: &Sim) {
    sim.setup("t-log").await;
    let (_, v) = sim.admin("GET", "calls?limit=0", Value::Null).await;
    let mark = v["lastSeq"].as_u64().unwrap();
    sim.call(SignatureVersion::V3, "t-log", "UpdateChatGroup", &[])
        .await;
    sim.call(
        SignatureVersion::V3,
        "t-log",
        "ListChatGroupParticipants",
        &[],
    )
    .await;
    let (_, v) = sim
        .admin("GET", &format!("calls?since={mark}"), Value::Null)
        .await;
    assert_eq!(v["count"], 2);
    assert_eq!(v["calls"][0]["seq"], mark + 1);
    let (_, v) = sim
        .admin(
            "GET",
            "calls?custSpaceId=t-log&action=ListChatGroupParticipants",
            Value::Null,
        )
        .await;
    assert_eq!(v["count"], 1);
    let (_, v) = sim.admin("GET", "calls?code=OK", Value::Null).await;
    assert_eq!(v["count"], 2);
    let (_, v) = sim.admin("DELETE", "calls", Value::Null).await;
    assert_eq!(v["cleared"], 2);
    let (_, v) = sim.admin("GET", "calls", Value::Null).await;
    assert_eq!(
        (v["count"].as_u64(), v["lastSeq"].as_u64()),
        (Some(0), Some(mark + 2))
    );
}

/// Unknown paths (404), wrong methods (405), bad bodies (400).
async fn admin_errors(sim: &Sim) {
    let (s, _) = sim.admin("GET", "nope", Value::Null).await;
    assert_eq!(s, 404);
    let (s, _) = sim.admin("PATCH", "calls", Value::Null).await;
    assert_eq!(s, 405);
    let (s, _) = sim.admin("POST", "seed", json!({"accessKeys": 1})).await;
    assert_eq!(s, 400);
}

const RRSA_ROLE: &str = "acs:ram::1234567890:role/cams-operator";
const RRSA_PROVIDER: &str = "acs:ram::1234567890:oidc-provider/ack-rrsa-c1";
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl-oidc";

/// An RRSA provider pointed at the simulator, reading its token from `token_file`.
fn rrsa(sim: &Sim, token_file: &std::path::Path) -> cams_operator::credentials::rrsa::RrsaProvider {
    use cams_operator::credentials::rrsa::{
        RrsaProvider, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE, ENV_ROLE_ARN,
    };
    let file = token_file.display().to_string();
    let env = move |k: &str| match k {
        ENV_ROLE_ARN => Some(RRSA_ROLE.to_string()),
        ENV_OIDC_PROVIDER_ARN => Some(RRSA_PROVIDER.to_string()),
        ENV_OIDC_TOKEN_FILE => Some(file.clone()),
        _ => None,
    };
    RrsaProvider::from_env(env, Some(&sim.base))
        .unwrap()
        .unwrap()
}

fn token_file(dir: &tempfile::TempDir, token: &str) -> std::path::PathBuf {
    let path = dir.path().join("token");
    std::fs::write(&path, token).unwrap();
    path
}

#[tokio::test]
async fn rrsa_provider_gets_sts_credentials_that_cams_accepts() {
    use cams_operator::cams::ChatGroupApi;
    let sim = Sim::start().await;
    let tenant = "t-rrsa";
    sim.setup(tenant).await;
    let (s, v) = sim
        .admin("PUT", "sts", json!({"acceptedTokens": [OIDC_TOKEN]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["acceptedTokens"], 1);
    let dir = tempfile::tempdir().unwrap();
    let provider = rrsa(&sim, &token_file(&dir, OIDC_TOKEN));

    let creds = provider.credentials().await.unwrap();
    assert!(creds.access_key_id.starts_with("STS."), "{creds:?}");
    let secret = creds.access_key_secret.expose().to_string();
    let sts_token = creds.security_token.as_ref().unwrap().expose().to_string();
    for scheme in SCHEMES {
        sim.client(scheme)
            .update_chat_group(None, &creds, &update(tenant, "Via RRSA"))
            .await
            .unwrap();
    }
    for _ in 0..5 {
        assert_eq!(
            provider.credentials().await.unwrap().access_key_id,
            creds.access_key_id
        );
    }
    assert_eq!(sim.group(tenant).await["subject"], "Via RRSA");
    the_sts_call_and_the_issued_key_are_logged(&sim, tenant, &creds).await;
    no_oidc_token_or_issued_secret_in_the_admin_api(&sim, &provider, &creds, &secret, &sts_token)
        .await;
    expired_issued_credentials_are_refused(&sim, tenant, &creds).await;
}

/// One STS call, logged with the token redacted and the issued key; the CAMS calls are told
/// apart as signed with issued credentials.
async fn the_sts_call_and_the_issued_key_are_logged(sim: &Sim, tenant: &str, creds: &Credentials) {
    let (_, v) = sim
        .admin("GET", "calls?action=AssumeRoleWithOIDC", Value::Null)
        .await;
    assert_eq!(v["count"], 1, "{v}");
    let c = &v["calls"][0];
    assert_eq!(c["code"], "OK");
    assert_eq!(c["status"], 200);
    assert_eq!(c["params"]["OIDCToken"], "***");
    assert_eq!(c["params"]["RoleArn"], RRSA_ROLE);
    assert_eq!(c["params"]["RoleSessionName"], "cams-operator");
    assert_eq!(c["accessKeyId"], creds.access_key_id.as_str());
    assert_eq!(c["stsIssued"], false);
    assert!(c["signatureScheme"].is_null());
    // The CAMS calls are told apart as signed with issued credentials.
    let calls = sim.calls(tenant).await;
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c["accessKeyId"], creds.access_key_id.as_str());
        assert_eq!(
            (c["securityToken"].as_bool(), c["stsIssued"].as_bool()),
            (Some(true), Some(true))
        );
    }
    let (_, v) = sim.admin("GET", "calls?stsIssued=true", Value::Null).await;
    assert_eq!(v["count"], 2);
    let (_, v) = sim
        .admin(
            "GET",
            &format!("calls?accessKeyId={}", creds.access_key_id),
            Value::Null,
        )
        .await;
    assert_eq!(v["count"], 3);
}

/// Neither the OIDC token nor the issued secret anywhere in the admin API; the security
/// token only where an RPC call sent it as a parameter (the call log shows what was sent).
async fn no_oidc_token_or_issued_secret_in_the_admin_api(
    sim: &Sim,
    provider: &cams_operator::credentials::rrsa::RrsaProvider,
    creds: &Credentials,
    secret: &str,
    sts_token: &str,
) {
    for path in ["calls", "access-keys", "sts"] {
        let (_, v) = sim.admin("GET", path, Value::Null).await;
        let text = v.to_string();
        for secret in [OIDC_TOKEN, secret] {
            assert!(!text.contains(secret), "{path}: {text}");
        }
        if path != "calls" {
            assert!(!text.contains(sts_token), "{path}: {text}");
        }
    }
    let (_, v) = sim.admin("GET", "access-keys", Value::Null).await;
    let key = v["accessKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["accessKeyId"] == creds.access_key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(key["stsIssued"], true);
    assert_eq!(
        key["expiresAt"].as_str().map(str::to_string),
        provider
            .expiration()
            .map(|e| e.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    );
}

/// Expiring every issued credential: CAMS refuses them as a credentials problem.
async fn expired_issued_credentials_are_refused(sim: &Sim, tenant: &str, creds: &Credentials) {
    use cams_operator::cams::ChatGroupApi;
    let (_, v) = sim.admin("POST", "sts/expire", Value::Null).await;
    assert_eq!(v["expired"], 1);
    let err = sim
        .client(SignatureVersion::V3)
        .update_chat_group(None, creds, &update(tenant, "Late"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CamsError::Api { code, .. } if code == "InvalidSecurityToken.Expired"),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Credentials);
    let (_, v) = sim.admin("GET", "sts", Value::Null).await;
    assert_eq!(
        (v["issued"].as_u64(), v["active"].as_u64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn sts_credentials_expire_by_time_and_the_provider_refreshes() {
    use cams_operator::cams::ChatGroupApi;
    let sim = Sim::start().await;
    let tenant = "t-rrsa-expiry";
    sim.setup(tenant).await;
    let (s, _) = sim.admin("PUT", "sts", json!({"durationSecs": 2})).await;
    assert_eq!(s, 200);
    let dir = tempfile::tempdir().unwrap();
    let file = token_file(&dir, OIDC_TOKEN);
    let provider = rrsa(&sim, &file);
    let client = sim.client(SignatureVersion::V3);

    let first = provider.credentials().await.unwrap();
    client
        .update_chat_group(None, &first, &update(tenant, "One"))
        .await
        .unwrap();
    let expiration = provider.expiration().unwrap();
    assert!(expiration <= Utc::now() + chrono::Duration::seconds(2));
    let wait = (expiration - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;

    let err = client
        .update_chat_group(None, &first, &update(tenant, "Two"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CamsError::Api { code, .. } if code == "InvalidSecurityToken.Expired"),
        "{err}"
    );
    // The provider notices on its own and fetches new credentials, re-reading the file.
    std::fs::write(&file, format!("{OIDC_TOKEN}-rotated")).unwrap();
    let second = provider.credentials().await.unwrap();
    assert_ne!(second.access_key_id, first.access_key_id);
    client
        .update_chat_group(None, &second, &update(tenant, "Two"))
        .await
        .unwrap();
    let (_, v) = sim
        .admin("GET", "calls?action=AssumeRoleWithOIDC", Value::Null)
        .await;
    assert_eq!(v["count"], 2);
    let codes: Vec<String> = sim
        .calls(tenant)
        .await
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes, ["OK", "InvalidSecurityToken.Expired", "OK"]);
}

/// A valid unsigned `AssumeRoleWithOIDC` call's parameters.
const STS_BASE_PARAMS: [(&str, &str); 9] = [
    ("Action", "AssumeRoleWithOIDC"),
    ("Format", "JSON"),
    ("Version", "2015-04-01"),
    ("RoleArn", RRSA_ROLE),
    ("OIDCProviderArn", RRSA_PROVIDER),
    ("OIDCToken", OIDC_TOKEN),
    ("RoleSessionName", "test-session"),
    ("DurationSeconds", "900"),
    ("Timestamp", "2026-11-26T12:00:00Z"),
];

/// [`STS_BASE_PARAMS`] without `drop` and with the values of `set`.
fn sts_params(
    drop: &str,
    set: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    STS_BASE_PARAMS
        .iter()
        .filter(|(k, _)| *k != drop)
        .map(|(k, v)| (*k, set.iter().find(|(s, _)| s == k).map_or(*v, |(_, v)| *v)))
        .collect()
}

impl Sim {
    /// An unsigned GET of STS with `query`: status and JSON answer.
    async fn sts_get(&self, query: Vec<(&'static str, &'static str)>) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}/", self.base))
            .query(&query)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap())
    }
}

#[tokio::test]
async fn sts_validation_errors_and_admin_settings_over_http() {
    let sim = Sim::start().await;
    sts_issues_credentials_on_get_and_post(&sim).await;
    sts_parameter_errors(&sim).await;
    sts_only_configured_tokens(&sim).await;
    sts_injected_error_and_settings(&sim).await;
}

/// GET and POST (form body), unsigned: credentials.
async fn sts_issues_credentials_on_get_and_post(sim: &Sim) {
    let (status, body) = sim.sts_get(sts_params("", &[])).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("STS."));
    assert_eq!(body["RequestId"].as_str().map(str::len), Some(36));
    assert!(
        body.get("Code").is_none(),
        "STS success has no Code: {body}"
    );
    assert_eq!(
        body["AssumedRoleUser"]["Arn"],
        format!("{RRSA_ROLE}/test-session")
    );
    // POST with a form body works too.
    let resp = sim
        .http
        .post(format!("{}/", sim.base))
        .form(&sts_params("", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// Missing and invalid parameters, each with STS's error body.
async fn sts_parameter_errors(sim: &Sim) {
    for (drop, set, status, code) in [
        ("RoleArn", &[][..], 400, "MissingParameter"),
        ("OIDCToken", &[][..], 400, "MissingParameter"),
        ("Version", &[][..], 400, "MissingParameter"),
        ("", &[("Version", "2020-06-06")][..], 400, "InvalidVersion"),
        (
            "",
            &[("RoleArn", "role/x")][..],
            400,
            "InvalidParameter.RoleArn",
        ),
        (
            "",
            &[("DurationSeconds", "60")][..],
            400,
            "InvalidParameter.DurationSeconds",
        ),
        (
            "",
            &[("RoleSessionName", "a b")][..],
            400,
            "InvalidParameter.RoleSessionName",
        ),
    ] {
        let (s, body) = sim.sts_get(sts_params(drop, set)).await;
        assert_eq!(
            (s, body["Code"].as_str()),
            (status, Some(code)),
            "{drop} {set:?}: {body}"
        );
        assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["HostId"].as_str().is_some());
        assert!(body["Recommend"].as_str().unwrap().contains("product=Sts"));
    }
}

/// Only configured tokens are accepted.
async fn sts_only_configured_tokens(sim: &Sim) {
    let (s, v) = sim
        .admin(
            "PUT",
            "sts",
            json!({"acceptedTokens": ["another-token"], "durationSecs": 60}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"acceptedTokens": 1, "durationSecs": 60, "errorCode": null, "issued": 2, "active": 2})
    );
    let (s, body) = sim.sts_get(sts_params("", &[])).await;
    assert_eq!(
        (s, body["Code"].as_str()),
        (401, Some("AuthenticationFail.OIDCToken.Invalid"))
    );
    let (s, body) = sim
        .sts_get(sts_params("", &[("OIDCToken", "another-token")]))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["Credentials"]["Expiration"].as_str().map(str::len),
        Some(20)
    );
}

/// An injected error reaches the provider as an STS error; invalid settings are refused and
/// the seed takes settings too.
async fn sts_injected_error_and_settings(sim: &Sim) {
    use cams_operator::credentials::rrsa::RrsaError;
    let (s, _) = sim
        .admin("PUT", "sts", json!({"errorCode": "ServiceUnavailable"}))
        .await;
    assert_eq!(s, 200);
    let dir = tempfile::tempdir().unwrap();
    let provider = rrsa(sim, &token_file(&dir, OIDC_TOKEN));
    let err = provider.credentials().await.unwrap_err();
    assert!(
        matches!(&err, RrsaError::Sts { status: 503, code, .. } if code == "ServiceUnavailable"),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(!err.to_string().contains(OIDC_TOKEN));
    let (_, v) = sim
        .admin(
            "GET",
            "calls?action=AssumeRoleWithOIDC&code=ServiceUnavailable",
            Value::Null,
        )
        .await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["calls"][0]["fault"], "error");
    assert_eq!(v["calls"][0]["status"], 503);

    // Invalid settings are refused; the seed takes them too.
    for bad in [
        json!({"durationSecs": 0}),
        json!({"acceptedTokens": [""]}),
        json!({"bogus": 1}),
    ] {
        let (s, _) = sim.admin("PUT", "sts", bad).await;
        assert_eq!(s, 400);
    }
    let (s, _) = sim
        .admin(
            "POST",
            "seed",
            json!({"sts": {"acceptedTokens": null, "durationSecs": 900}}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = sim.admin("GET", "sts", Value::Null).await;
    assert_eq!(
        (
            v["acceptedTokens"].is_null(),
            v["durationSecs"].as_u64(),
            v["errorCode"].is_null()
        ),
        (true, Some(900), true)
    );
    provider.credentials().await.unwrap();
    let (s, _) = sim.admin("DELETE", "sts", Value::Null).await;
    assert_eq!(s, 405);
    let (s, _) = sim.admin("GET", "calls?stsIssued=maybe", Value::Null).await;
    assert_eq!(s, 400);
}

// ---- realism knobs ------------------------------------------------------------------------

const BN: &str = "8613800001234";

impl Sim {
    /// ListChatGroup of the tenant's business number over HTTP (V3), page 1 of `size`, with
    /// `extra` parameters: status, headers and answer.
    async fn list(
        &self,
        tenant: &str,
        size: u32,
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let page = format!(r#"{{"Index":1,"Size":{size}}}"#);
        let mut params = vec![("Page", page.as_str())];
        params.extend_from_slice(extra);
        self.call(SignatureVersion::V3, tenant, "ListChatGroup", &params)
            .await
    }

    /// The tenant's ListChatGroup row of G1 (page 1 of 100).
    async fn listed_g1(&self, tenant: &str) -> Value {
        let (s, _, v) = self.list(tenant, 100, &[]).await;
        assert_eq!(s, 200, "{v}");
        let rows = v["Data"]["List"].as_array().unwrap();
        rows.iter().find(|r| r["GroupId"] == "G1").unwrap().clone()
    }

    /// `PUT /admin/realism/tenants/{tenant}`; must be accepted.
    async fn realism(&self, tenant: &str, knobs: Value) -> Value {
        let (s, v) = self
            .admin("PUT", &format!("realism/tenants/{tenant}"), knobs)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// UpdateChatGroup of G1 with `fields`; must answer OK.
    async fn update_ok(&self, tenant: &str, fields: &[(&str, &str)]) {
        let (s, _, v) = self
            .call(SignatureVersion::V3, tenant, "UpdateChatGroup", fields)
            .await;
        assert_eq!(
            (s, v["Code"].as_str(), v["Result"].as_i64()),
            (200, Some("OK"), Some(1)),
            "{v}"
        );
    }

    /// Group ids of a ListChatGroup answer, in order.
    fn listed_ids(v: &Value) -> Vec<String> {
        v["Data"]["List"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["GroupId"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn a_delayed_update_lists_updating_and_old_values_then_the_new_ones() {
    let sim = Sim::start().await;
    // A long delay: UPDATING with the old values, whatever the machine's speed.
    sim.setup("t-delay-long").await;
    sim.realism("t-delay-long", json!({"updateDelayMs": 600_000}))
        .await;
    sim.update_ok("t-delay-long", &[("Subject", "New")]).await;
    let row = sim.listed_g1("t-delay-long").await;
    assert_eq!(
        (row["GroupStatus"].as_str(), row["Subject"].as_str()),
        (Some("UPDATING"), Some("Old"))
    );
    let g = sim.group("t-delay-long").await;
    assert_eq!(g["groupStatus"], "UPDATING");
    assert_eq!(g["pendingUpdate"]["subject"], "New");
    assert_eq!(g["pendingUpdate"]["statusAfter"], "ACTIVE");

    // A short delay: the new values apply once it has passed, and not before.
    sim.setup("t-delay").await;
    sim.realism("t-delay", json!({"updateDelayMs": 250})).await;
    let before = sim.listed_g1("t-delay").await["GmtModifier"]
        .as_i64()
        .unwrap();
    let sent = Instant::now();
    sim.update_ok("t-delay", &[("Subject", "New"), ("Description", "D")])
        .await;
    let row = loop {
        let row = sim.listed_g1("t-delay").await;
        if row["GroupStatus"] == "ACTIVE" {
            break row;
        }
        assert_eq!(
            (row["GroupStatus"].as_str(), row["Subject"].as_str()),
            (Some("UPDATING"), Some("Old"))
        );
        assert!(sent.elapsed() < Duration::from_secs(5), "never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        sent.elapsed() >= Duration::from_millis(250),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        (row["Subject"].as_str(), row["Description"].as_str()),
        (Some("New"), Some("D"))
    );
    assert!(row["GmtModifier"].as_i64().unwrap() > before);
    assert!(sim.group("t-delay").await.get("pendingUpdate").is_none());
}

#[tokio::test]
async fn never_apply_answers_ok_and_leaves_its_fields_until_the_count_is_spent() {
    let sim = Sim::start().await;
    let t = "t-never";
    sim.setup(t).await;
    sim.realism(
        t,
        json!({"neverApply": {"fields": ["Subject", "ProfilePictureFile"], "count": 2}}),
    )
    .await;
    let picture = "https://cdn.example.com/p.jpg";
    sim.update_ok(
        t,
        &[
            ("Subject", "Lost"),
            ("Description", "Kept"),
            ("ProfilePictureFile", picture),
        ],
    )
    .await;
    let row = sim.listed_g1(t).await;
    assert_eq!(
        (row["Subject"].as_str(), row["Description"].as_str()),
        (Some("Old"), Some("Kept"))
    );
    assert!(row["ProfilePictureFile"].is_null(), "{row}");
    let (_, v) = sim
        .admin("GET", &format!("realism/tenants/{t}"), Value::Null)
        .await;
    assert_eq!(v["neverApply"]["count"], 1);
    // A call without a withheld field does not count.
    sim.update_ok(t, &[("Description", "Again")]).await;
    sim.update_ok(t, &[("Subject", "Lost too")]).await;
    let (_, v) = sim.admin("GET", "realism", Value::Null).await;
    assert_eq!(v["tenants"][t]["neverApply"]["count"], 0);
    assert_eq!(sim.listed_g1(t).await["Subject"], "Old");
    // Spent: applied from now on.
    sim.update_ok(
        t,
        &[("Subject", "Applied"), ("ProfilePictureFile", picture)],
    )
    .await;
    let row = sim.listed_g1(t).await;
    assert_eq!(
        (row["Subject"].as_str(), row["ProfilePictureFile"].as_str()),
        (Some("Applied"), Some(picture))
    );
    // Every call was answered OK.
    assert!(sim
        .calls(t)
        .await
        .iter()
        .filter(|c| c["action"] == "UpdateChatGroup")
        .all(|c| c["code"] == "OK"));
}

#[tokio::test]
async fn picture_copy_lists_a_deterministic_cams_copy() {
    use sha2::{Digest, Sha256};
    let sim = Sim::start().await;
    let t = "t-picture";
    sim.setup(t).await;
    sim.realism(t, json!({"pictureCopy": true})).await;
    let url = "https://cdn.example.com/groups/vip.jpg";
    sim.update_ok(t, &[("ProfilePictureFile", url)]).await;
    let digest = hex::encode(Sha256::digest(url.as_bytes()));
    let copy = format!(
        "https://cams-cdn.simulator.invalid/{t}/{}.jpg",
        &digest[..16]
    );
    assert_eq!(sim.listed_g1(t).await["ProfilePictureFile"], copy.as_str());
    assert_eq!(sim.group(t).await["profilePictureFile"], copy.as_str());
    // The same URL again gives the same copy.
    sim.update_ok(t, &[("ProfilePictureFile", url)]).await;
    assert_eq!(sim.listed_g1(t).await["ProfilePictureFile"], copy.as_str());
}

#[tokio::test]
async fn the_subject_filter_mode_per_tenant_and_by_default() {
    let sim = Sim::start().await;
    let t = "t-filter";
    sim.setup(t).await;
    let groups: Vec<Value> = [("V1", "VIP"), ("V2", "VIP line"), ("V3", "The VIP"), ("V4", "vip")]
        .iter()
        .map(|(id, subject)| json!({"custSpaceId": t, "businessNumber": BN, "groupId": id, "subject": subject}))
        .collect();
    let (s, _) = sim.admin("POST", "groups", json!(groups)).await;
    assert_eq!(s, 200);
    for (mode, expected) in [
        ("exact", vec!["V1"]),
        ("prefix", vec!["V1", "V2"]),
        ("substring", vec!["V1", "V2", "V3"]),
    ] {
        sim.realism(t, json!({"subjectFilter": mode})).await;
        let (s, _, v) = sim.list(t, 20, &[("Subject", "VIP")]).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(Sim::listed_ids(&v), expected, "{mode}");
        assert_eq!(v["Data"]["Total"], expected.len(), "{mode}");
    }
    // Without knobs of its own the tenant follows the default.
    let (s, _) = sim
        .admin("DELETE", &format!("realism/tenants/{t}"), Value::Null)
        .await;
    assert_eq!(s, 200);
    let (s, v) = sim
        .admin("PUT", "realism/default", json!({"subjectFilter": "exact"}))
        .await;
    assert_eq!((s, v["subjectFilter"].as_str()), (200, Some("exact")));
    let (_, _, v) = sim.list(t, 20, &[("Subject", "VIP")]).await;
    assert_eq!(Sim::listed_ids(&v), ["V1"]);
}

#[tokio::test]
async fn a_page_above_the_cap_is_refused_and_rows_carry_every_field() {
    let sim = Sim::start().await;
    let t = "t-page";
    sim.setup(t).await;
    // The default cap is 100.
    let (s, _, v) = sim.list(t, 101, &[]).await;
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("InvalidParameter.PageInvalid"))
    );
    sim.realism(t, json!({"maxPageSize": 5})).await;
    let (s, _, v) = sim.list(t, 6, &[]).await;
    assert_eq!(
        (s, v["Code"].as_str(), v["Success"].as_bool()),
        (400, Some("InvalidParameter.PageInvalid"), Some(false))
    );
    let message = v["Message"].as_str().unwrap();
    assert!(
        message.contains("Size 6 is larger than the largest page size, 5"),
        "{message}"
    );
    let (s, _, v) = sim.list(t, 5, &[]).await;
    assert_eq!(s, 200, "{v}");
    let row = &v["Data"]["List"][0];
    let mut keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "BusinessNumber",
            "BusinessRole",
            "Description",
            "GmtModifier",
            "GroupId",
            "GroupLink",
            "GroupStatus",
            "GroupType",
            "InviteLink",
            "ProfilePictureFile",
            "Subject",
            "TotalParticipantCount"
        ]
    );
    assert!(
        row["Description"].is_null() && row["InviteLink"].is_null(),
        "{row}"
    );
    assert_eq!(
        (
            row["Subject"].as_str(),
            row["TotalParticipantCount"].as_u64()
        ),
        (Some("Old"), Some(2))
    );
}

#[tokio::test]
async fn rows_in_creation_order_or_newest_first() {
    let sim = Sim::start().await;
    let t = "t-order";
    sim.setup(t).await;
    let groups: Vec<Value> = ["Z9", "A1", "M5"]
        .iter()
        .map(|id| json!({"custSpaceId": t, "businessNumber": BN, "groupId": id}))
        .collect();
    sim.admin("POST", "groups", json!(groups)).await;
    let (_, _, v) = sim.list(t, 100, &[]).await;
    assert_eq!(Sim::listed_ids(&v), ["G1", "Z9", "A1", "M5"]);
    sim.realism(t, json!({"listOrder": "newestFirst"})).await;
    let (_, _, v) = sim.list(t, 100, &[]).await;
    assert_eq!(Sim::listed_ids(&v), ["M5", "A1", "Z9", "G1"]);
    // Page by page, the same order.
    let mut paged = Vec::new();
    for index in 1..=2 {
        let page = format!(r#"{{"Index":{index},"Size":3}}"#);
        let (_, _, v) = sim
            .call(SignatureVersion::V3, t, "ListChatGroup", &[("Page", &page)])
            .await;
        paged.extend(Sim::listed_ids(&v));
    }
    assert_eq!(paged, ["M5", "A1", "Z9", "G1"]);
}

#[tokio::test]
async fn an_action_bucket_throttles_that_action_only() {
    let sim = Sim::start().await;
    let t = "t-action-qps";
    sim.setup(t).await;
    sim.setup("t-other").await;
    sim.realism(
        t,
        json!({"actionQps": {"ListChatGroup": {"qps": 0.2, "burst": 2}}}),
    )
    .await;
    sim.admin(
        "PUT",
        &format!("faults/tenants/{t}"),
        json!({"qps": {"rate": 0.2, "burst": 3}}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(sim.list(t, 10, &[]).await.0, 200);
    }
    let (s, headers, v) = sim.list(t, 10, &[]).await;
    assert_eq!(
        (s, v["Code"].as_str()),
        (400, Some("Throttling.Api")),
        "{v}"
    );
    assert_eq!(headers["x-acs-retry-after"], "5");
    // UpdateChatGroup has no bucket of its own: the tenant-wide qps (burst 3), which the
    // list calls did not use up.
    for _ in 0..3 {
        sim.update_ok(t, &[]).await;
    }
    let (s, _, v) = sim
        .call(SignatureVersion::V3, t, "UpdateChatGroup", &[])
        .await;
    assert_eq!((s, v["Code"].as_str()), (400, Some("Throttling.User")));
    // Another tenant has its own buckets.
    assert_eq!(sim.list("t-other", 10, &[]).await.0, 200);
    let throttled: Vec<String> = sim
        .calls(t)
        .await
        .iter()
        .filter(|c| c["fault"] == "throttle")
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(throttled, ["Throttling.Api", "Throttling.User"]);
    // An unknown action is refused.
    let (s, v) = sim
        .admin(
            "PUT",
            &format!("realism/tenants/{t}"),
            json!({"actionQps": {"ListGroups": {"qps": 1}}}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn an_out_of_band_edit_changes_the_group_at_once_without_a_cams_call() {
    let sim = Sim::start().await;
    let t = "t-edit";
    sim.setup(t).await;
    let before = sim.listed_g1(t).await;
    let (_, v) = sim.admin("GET", "calls?limit=0", Value::Null).await;
    let mark = v["lastSeq"].as_u64().unwrap();
    let path = format!("groups/{t}/{BN}/G1");
    let edit = json!({"subject": "Renamed in WhatsApp", "profilePictureFile": "https://x.example/p.jpg", "groupStatus": "SUSPENDED"});
    let (s, g) = sim.admin("PATCH", &path, edit).await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(
        (g["subject"].as_str(), g["groupStatus"].as_str()),
        (Some("Renamed in WhatsApp"), Some("SUSPENDED"))
    );
    assert!(
        g["gmtModifier"].as_i64() > before["GmtModifier"].as_i64(),
        "{g} {before}"
    );
    let (_, v) = sim.admin("GET", "calls?limit=0", Value::Null).await;
    assert_eq!(v["lastSeq"], mark, "the edit is not a CAMS call");
    let row = sim.listed_g1(t).await;
    assert_eq!(
        (row["Subject"].as_str(), row["GroupStatus"].as_str()),
        (Some("Renamed in WhatsApp"), Some("SUSPENDED"))
    );
    assert_eq!(row["ProfilePictureFile"], "https://x.example/p.jpg");
    assert_eq!(row["GmtModifier"], g["gmtModifier"]);
    assert!(sim
        .calls(t)
        .await
        .iter()
        .all(|c| c["action"] == "ListChatGroup"));
    // Back to ACTIVE; the description is untouched throughout.
    let (_, g) = sim
        .admin("PATCH", &path, json!({"groupStatus": "ACTIVE"}))
        .await;
    assert_eq!(
        (g["groupStatus"].as_str(), g["description"].as_str()),
        (Some("ACTIVE"), None)
    );
    // Refused: an unknown group (404), an unknown status, nothing to change, unknown fields.
    let (s, v) = sim
        .admin(
            "PATCH",
            &format!("groups/{t}/{BN}/NOPE"),
            json!({"subject": "x"}),
        )
        .await;
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("NOPE"), "{v}");
    for bad in [
        json!({"groupStatus": "GONE"}),
        json!({}),
        json!({"status": "ACTIVE"}),
    ] {
        let (s, v) = sim.admin("PATCH", &path, bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn an_edit_over_a_pending_update_applies_the_update_first() {
    let sim = Sim::start().await;
    let t = "t-edit-pending";
    sim.setup(t).await;
    sim.realism(t, json!({"updateDelayMs": 600_000})).await;
    sim.update_ok(t, &[("Subject", "From the operator"), ("Description", "D")])
        .await;
    let (s, g) = sim
        .admin(
            "PATCH",
            &format!("groups/{t}/{BN}/G1"),
            json!({"subject": "From WhatsApp"}),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    assert!(g.get("pendingUpdate").is_none(), "{g}");
    let row = sim.listed_g1(t).await;
    assert_eq!(
        (
            row["Subject"].as_str(),
            row["Description"].as_str(),
            row["GroupStatus"].as_str()
        ),
        (Some("From WhatsApp"), Some("D"), Some("ACTIVE"))
    );
}

#[tokio::test]
async fn realism_admin_routes() {
    let sim = Sim::start().await;
    let (s, v) = sim.admin("GET", "realism", Value::Null).await;
    assert_eq!(s, 200);
    assert_eq!(v["default"]["maxPageSize"], 100);
    assert_eq!(v["default"]["subjectFilter"], "substring");
    assert_eq!(v["default"]["listOrder"], "created");
    assert_eq!(v["tenants"], json!({}));
    let stored = sim
        .realism(
            "t-a",
            json!({"updateDelayMs": 5, "listOrder": "newestFirst"}),
        )
        .await;
    assert_eq!(
        (
            stored["updateDelayMs"].as_u64(),
            stored["maxPageSize"].as_u64()
        ),
        (Some(5), Some(100))
    );
    let (s, v) = sim.admin("GET", "realism/tenants/t-a", Value::Null).await;
    assert_eq!((s, v), (200, stored));
    let (s, _) = sim
        .admin("GET", "realism/tenants/t-none", Value::Null)
        .await;
    assert_eq!(s, 404);
    let (s, v) = sim
        .admin("PUT", "realism/default", json!({"pictureCopy": true}))
        .await;
    assert_eq!((s, v["pictureCopy"].as_bool()), (200, Some(true)));
    let (_, v) = sim.admin("GET", "realism/default", Value::Null).await;
    assert_eq!(v["pictureCopy"], true);
    for bad in [
        json!({"maxPageSize": 0}),
        json!({"subjectFilter": "regex"}),
        json!({"bogus": 1}),
    ] {
        let (s, _) = sim.admin("PUT", "realism/default", bad.clone()).await;
        assert_eq!(s, 400, "{bad}");
    }
    let (_, v) = sim
        .admin("DELETE", "realism/tenants/t-a", Value::Null)
        .await;
    assert_eq!(v["removed"], true);
    let (_, v) = sim
        .admin("DELETE", "realism/tenants/t-a", Value::Null)
        .await;
    assert_eq!(v["removed"], false);
    let (_, v) = sim.admin("DELETE", "realism", Value::Null).await;
    assert_eq!(v["reset"], true);
    let (_, v) = sim.admin("GET", "realism/default", Value::Null).await;
    assert_eq!(v["pictureCopy"], false);
    let (s, _) = sim.admin("POST", "realism", Value::Null).await;
    assert_eq!(s, 405);
    // The seed takes default knobs too.
    let (s, _) = sim
        .admin("POST", "seed", json!({"realism": {"maxPageSize": 7}}))
        .await;
    assert_eq!(s, 200);
    let (_, v) = sim.admin("GET", "realism/default", Value::Null).await;
    assert_eq!(v["maxPageSize"], 7);
}

/// A RAM policy denying one action: that action is refused with `Forbidden.RAM` (403) and an
/// `AccessDeniedDetail` naming it, after the signature is checked; other actions still work.
#[tokio::test]
async fn a_denied_action_is_forbidden_for_that_key_only() {
    let sim = Sim::start().await;
    let tenant = "t-deny";
    sim.setup(tenant).await;
    let (s, _) = sim
        .admin(
            "PUT",
            &format!("access-keys/ak-{tenant}"),
            json!({"accessKeySecret": "secret-1", "deniedActions": ["ListChatGroup"]}),
        )
        .await;
    assert_eq!(s, 200);
    for scheme in SCHEMES {
        let page = [("Page", r#"{"Index":1,"Size":10}"#)];
        let (status, _, body) = sim.call(scheme, tenant, "ListChatGroup", &page).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["Code"], "Forbidden.RAM");
        assert!(
            body["AccessDeniedDetail"]
                .as_str()
                .is_some_and(|d| d.contains("cams:ListChatGroup")),
            "{body}"
        );
        let (status, _, body) = sim
            .call(
                scheme,
                tenant,
                "UpdateChatGroup",
                &[("Subject", "Still allowed")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(sim.group(tenant).await["subject"], "Still allowed");
}

// ---- the lifecycle knobs (tests/http/lifecycle.rs) -----------------------------------------

#[path = "http/lifecycle.rs"]
mod lifecycle;

/// Faults limited to one action leave the others alone.
#[tokio::test]
async fn faults_for_some_actions_leave_the_others_alone() {
    let sim = Sim::start().await;
    let tenant = "t-fault-actions";
    sim.setup(tenant).await;
    let (s, _) = sim
        .admin(
            "PUT",
            &format!("faults/tenants/{tenant}"),
            json!({"errorRates": {"InternalError": 1.0}, "actions": ["UpdateChatGroup"]}),
        )
        .await;
    assert_eq!(s, 200);
    for scheme in SCHEMES {
        let (status, _, body) = sim
            .call(scheme, tenant, "UpdateChatGroup", &[("Subject", "x")])
            .await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (500, Some("InternalError"))
        );
        let page = [("Page", r#"{"Index":1,"Size":10}"#)];
        let (status, _, body) = sim.call(scheme, tenant, "ListChatGroup", &page).await;
        assert_eq!(status, 200, "{body}");
    }
}
