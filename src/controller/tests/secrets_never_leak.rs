//! No AccessKeySecret or security token — raw, percent-encoded or double-percent-encoded —
//! reaches a log line, a request to the API server (status, events) or an error string.
//!
//! These tests use the real [`CamsClient`] (both signature schemes) against a fake CAMS on
//! loopback that does what Alibaba's gateway does: echoes its string-to-sign (with the
//! token) in SignatureDoesNotMatch, puts diagnostics in AccessDeniedDetail, drops
//! connections, or never answers. Each test also asserts that the leak-prone path really ran,
//! so none can pass vacuously.

use std::io;
use std::net::SocketAddr;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing_subscriber::fmt::MakeWriter;

use super::*;
use crate::cams::request::SignatureVersion;
use crate::cams::{CamsClient, ClientConfig, Endpoint};

const LEAK_ID: &str = "LTAI-leaktest-id";
const LEAK_SECRET: &str = "SK-LEAKCHECK-5f2a";
/// Shaped like an STS token (base64 with `/`, `+`, `=`), so its encoded forms differ from it.
const LEAK_TOKEN: &str = "TOKEN-LEAKCHECK-9c1e/Zm9v+YmFy=";
/// Every form of either value contains this.
const MARKER: &str = "LEAKCHECK";

/// RFC 3986 percent-encoding with upper-case hex (Alibaba's), written here independently of
/// the code under test.
fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dec(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every form a secret value may take on the way: raw, once and twice percent-encoded,
/// form-encoded, and lower-case hex.
fn forbidden_forms() -> Vec<String> {
    let mut forms = Vec::new();
    for value in [LEAK_SECRET, LEAK_TOKEN] {
        let once = enc(value);
        let twice = enc(&once);
        forms.push(value.to_string());
        forms.push(once.to_lowercase());
        forms.push(once.replace("%20", "+"));
        forms.push(twice.to_lowercase());
        forms.push(once);
        forms.push(twice);
    }
    forms.push(MARKER.to_string());
    forms
}

fn assert_clean(what: &str, text: &str) {
    for form in forbidden_forms() {
        assert!(
            !text.contains(&form),
            "{what} contains a secret form {form:?}:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Log capture

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures every tracing event and span of this thread (the tests run on a current-thread
/// runtime, so that is every task they spawn) at TRACE, plus `log` records (reqwest logs
/// through `log`; in production `tracing_subscriber`'s `init` bridges them the same way).
///
/// A thread-scoped subscriber alone is not reliable while other tests run in parallel:
/// while it is the only registered dispatcher, tracing-core caches a callsite's interest
/// from the registering thread's (no-op) default, so a callsite first hit by another test is
/// never enabled for us. A second, permanent (disabled) dispatcher keeps tracing-core
/// combining the interests of every registered dispatcher.
fn capture_logs() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    static BRIDGE: Once = Once::new();
    static SECOND_DISPATCHER: OnceLock<tracing::Dispatch> = OnceLock::new();
    BRIDGE.call_once(|| {
        let _ = tracing_log::LogTracer::init();
    });
    SECOND_DISPATCHER
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(buffer.clone())
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

// ---------------------------------------------------------------------------------------------
// The fake CAMS

#[derive(Clone, Copy, Debug)]
enum Fake {
    /// HTTP 400 SignatureDoesNotMatch echoing a string-to-sign with the token.
    SignatureMismatch,
    /// HTTP 403 Forbidden.RAM with the secret in AccessDeniedDetail.
    AccessDenied,
    /// Reads the request, then closes the connection without answering.
    CloseMidRequest,
    /// Reads the request and never answers.
    Hang,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Received {
    head: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Received {
    fn param(&self, name: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| dec(v))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
    /// The token as the client sent it (RPC: query; V3: header).
    fn token(&self) -> Option<String> {
        self.param("SecurityToken")
            .or_else(|| self.header("x-acs-security-token"))
    }
}

struct FakeCams {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeCams {
    async fn start(mode: Fake) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Some(request) = read_head(&mut socket).await else {
                        return;
                    };
                    log.lock().unwrap().push(request.clone());
                    let (status, body) = match mode {
                        Fake::CloseMidRequest => return, // dropping the socket closes it
                        Fake::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Fake::SignatureMismatch => ("400 Bad Request", mismatch_body(&request)),
                        Fake::AccessDenied => ("403 Forbidden", access_denied_body()),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json;charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, received }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::parse(&format!("http://{}", self.addr)).unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_head(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let target = lines.next()?.split(' ').nth(1)?.to_string();
    let query = target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Received {
        head,
        query,
        headers,
    })
}

/// Serialises JSON the way some gateways do, with `/` escaped as `\/` (valid JSON; a
/// scrubber that works on the raw body instead of the decoded strings would miss it).
fn gateway_json(value: &Value) -> String {
    serde_json::to_string(value).unwrap().replace('/', "\\/")
}

/// Alibaba's answer to a bad signature: the server's string-to-sign, which for RPC holds the
/// whole sorted query (the token percent-encoded twice), and for V3 the canonical headers
/// (the token raw). The token is also echoed raw, once and twice encoded, whatever the scheme.
fn mismatch_body(request: &Received) -> String {
    let token = request.token().unwrap_or_default();
    let string_to_sign = if request.param("SignatureMethod").is_some() {
        let mut pairs: Vec<&(String, String)> = request
            .query
            .iter()
            .filter(|(k, _)| k != "Signature")
            .collect();
        pairs.sort();
        let canonical: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("POST&%2F&{}", enc(&canonical.join("&")))
    } else {
        let mut headers: Vec<String> = request
            .headers
            .iter()
            .filter(|(k, _)| k == "host" || k.starts_with("x-acs-"))
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        headers.sort();
        format!("POST\n/\n\n{}\n", headers.join("\n"))
    };
    let once = enc(&token);
    let twice = enc(&once);
    gateway_json(&json!({
        "RequestId": "5A1F3B4C-LEAK-TEST-0001",
        "HostId": "cams.ap-southeast-1.aliyuncs.com",
        "Code": "SignatureDoesNotMatch",
        "Message": format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign} [token {token} | {once} | {twice}]"
        ),
        "Recommend": "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch",
    }))
}

fn access_denied_body() -> String {
    let detail = json!({
        "AuthAction": "cams:UpdateChatGroup",
        "AuthPrincipalType": "SubUser",
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "NoPermissionType": "ImplicitDeny",
        "EncodedDiagnosticMessage": format!(
            "key={LEAK_SECRET};enc={};enc2={};sts={LEAK_TOKEN}",
            enc(LEAK_SECRET),
            enc(&enc(LEAK_SECRET))
        ),
    });
    gateway_json(&json!({
        "RequestId": "5A1F3B4C-LEAK-TEST-0002",
        "Code": "Forbidden.RAM",
        "Message": format!("User not authorized to operate on the specified resource (secret {LEAK_SECRET}, token {}).", enc(LEAK_TOKEN)),
        "AccessDeniedDetail": serde_json::to_string(&detail).unwrap(),
    }))
}

/// A loopback port nobody listens on.
async fn closed_port_endpoint() -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    Endpoint::parse(&format!("http://{addr}")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Running a reconcile and collecting everything it produced

struct Captured {
    status: ChatGroupStatus,
    /// Everything sent to the API server: paths, queries, bodies.
    api_text: String,
    /// Display, Debug and the source chain of the error the client returns for the same call.
    error: CamsError,
    error_text: String,
    logs: String,
}

fn leak_secret() -> Secret {
    secret(
        NS,
        SECRET,
        &[
            ("accessKeyId", LEAK_ID),
            ("accessKeySecret", LEAK_SECRET),
            ("securityToken", LEAK_TOKEN),
        ],
    )
}

async fn run(endpoint: Endpoint, signature: SignatureVersion) -> Captured {
    let (logs, _guard) = capture_logs();
    let endpoints = EndpointPolicy::new("ap-southeast-1", Some(endpoint)).unwrap();
    let client = CamsClient::new(ClientConfig {
        endpoints: endpoints.clone(),
        signature,
        timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(300),
        user_agent: "cams-operator-test".into(),
    })
    .unwrap();
    let h = Harness::builder()
        .secret(leak_secret())
        .endpoints(endpoints)
        .cams_client(Arc::new(client.clone()))
        .build();
    let obj = base().build();

    h.reconcile(&obj).await;

    // The same call through the client directly, for its error value.
    let credentials = Credentials::new(LEAK_ID, LEAK_SECRET).with_security_token(LEAK_TOKEN);
    let error = client
        .update_chat_group(
            None,
            &credentials,
            &crate::plan::update_request(&obj.spec, "EA303XYZ"),
        )
        .await
        .expect_err("the fake CAMS never accepts");
    let mut error_text = format!("{error}\n{error:?}\n{credentials:?}\n{client:?}\n");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        error_text.push_str(&format!("{cause}\n{cause:?}\n"));
        source = cause.source();
    }

    let mut api_text = String::new();
    for call in h.api.calls() {
        api_text.push_str(&format!(
            "{} {} {:?}\n{}\n",
            call.method, call.path, call.query, call.raw_body
        ));
    }
    h.api.assert_one_call_recorded();
    let status = h.api.written_status();
    Captured {
        status,
        api_text,
        error,
        error_text,
        logs: logs.text(),
    }
}

impl Captured {
    fn assert_nothing_leaked(&self) {
        assert_clean("a request to the API server", &self.api_text);
        assert_clean("the status", &serde_json::to_string(&self.status).unwrap());
        assert_clean("an error value", &self.error_text);
        assert_clean("the logs", &self.logs);
        // The capture worked: the reconciler's own warning and reqwest's `log` lines are in
        // it (so a leak through either would have been seen).
        assert!(
            self.logs.contains("UpdateChatGroup failed"),
            "log capture saw nothing:\n{}",
            self.logs
        );
        assert!(
            self.logs.contains("reqwest"),
            "the log bridge did not capture reqwest:\n{}",
            self.logs
        );
    }

    fn synced(&self) -> (String, String, String) {
        let c = condition(&self.status, "Synced");
        (c.status.clone(), c.reason.clone(), c.message.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// (a) SignatureDoesNotMatch echoing the string-to-sign

async fn signature_mismatch(signature: SignatureVersion) {
    let fake = FakeCams::start(Fake::SignatureMismatch).await;
    let captured = run(fake.endpoint(), signature).await;

    // Exercised: the fake got the token and echoed it in every form.
    let received = fake.received();
    assert_eq!(received.len(), 2, "reconcile + direct call");
    for r in &received {
        assert_eq!(r.token().as_deref(), Some(LEAK_TOKEN), "{}", r.head);
        let echoed: Value = serde_json::from_str(&mismatch_body(r)).unwrap();
        let echoed = echoed["Message"].as_str().unwrap();
        assert!(
            echoed.contains(LEAK_TOKEN)
                && echoed.contains(&enc(LEAK_TOKEN))
                && echoed.contains(&enc(&enc(LEAK_TOKEN))),
            "{echoed}"
        );
    }
    if signature == SignatureVersion::V1 {
        assert!(received[0].head.contains(&enc(LEAK_TOKEN)));
    }
    assert_eq!(
        captured.status.code.as_deref(),
        Some("SignatureDoesNotMatch")
    );
    let message = captured.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("server string to sign is:") && message.contains("***"),
        "the message is kept, masked: {message}"
    );
    let (_, reason, text) = captured.synced();
    assert_eq!(reason, "CredentialsInvalid");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(captured.api_text.contains("SignatureDoesNotMatch"));
    assert!(
        matches!(captured.error, CamsError::Api { ref code, .. } if code == "SignatureDoesNotMatch")
    );

    captured.assert_nothing_leaked();
}

#[tokio::test]
async fn signature_mismatch_echo_v3() {
    signature_mismatch(SignatureVersion::V3).await;
}

#[tokio::test]
async fn signature_mismatch_echo_v1() {
    signature_mismatch(SignatureVersion::V1).await;
}

// ---------------------------------------------------------------------------------------------
// (b) AccessDeniedDetail with the secret

async fn access_denied(signature: SignatureVersion) {
    let fake = FakeCams::start(Fake::AccessDenied).await;
    let captured = run(fake.endpoint(), signature).await;

    assert_eq!(fake.received().len(), 2);
    assert_eq!(captured.status.code.as_deref(), Some("Forbidden.RAM"));
    let detail = captured
        .status
        .access_denied_detail
        .clone()
        .unwrap_or_default();
    assert!(
        detail.contains("cams:UpdateChatGroup") && detail.contains("***"),
        "the detail is kept, masked: {detail}"
    );
    assert_eq!(captured.synced().1, "Forbidden");

    captured.assert_nothing_leaked();
}

#[tokio::test]
async fn access_denied_detail_v3() {
    access_denied(SignatureVersion::V3).await;
}

#[tokio::test]
async fn access_denied_detail_v1() {
    access_denied(SignatureVersion::V1).await;
}

// ---------------------------------------------------------------------------------------------
// (c) Transport errors with the token in the (HMAC-SHA1) URL

async fn transport_error(endpoint: Endpoint, signature: SignatureVersion) -> Captured {
    let captured = run(endpoint, signature).await;
    assert!(
        matches!(captured.error, CamsError::Transport(_)),
        "{:?}",
        captured.error
    );
    let (status, reason, text) = captured.synced();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ReconcileError")
    );
    assert!(text.contains("transport error"), "{text}");
    captured.assert_nothing_leaked();
    captured
}

#[tokio::test]
async fn connection_closed_mid_request_v1() {
    let fake = FakeCams::start(Fake::CloseMidRequest).await;
    transport_error(fake.endpoint(), SignatureVersion::V1).await;
    // Exercised: the URL the error came from did carry the token.
    let received = fake.received();
    assert!(!received.is_empty());
    assert!(
        received[0]
            .head
            .contains(&format!("SecurityToken={}", enc(LEAK_TOKEN))),
        "{}",
        received[0].head
    );
}

#[tokio::test]
async fn connection_closed_mid_request_v3() {
    let fake = FakeCams::start(Fake::CloseMidRequest).await;
    transport_error(fake.endpoint(), SignatureVersion::V3).await;
    assert!(!fake.received().is_empty());
}

#[tokio::test]
async fn connection_refused_v1() {
    let captured = transport_error(closed_port_endpoint().await, SignatureVersion::V1).await;
    assert!(
        captured.error_text.to_lowercase().contains("connect"),
        "{}",
        captured.error_text
    );
}

// ---------------------------------------------------------------------------------------------
// (d) Timeouts

async fn timeout(signature: SignatureVersion) {
    let fake = FakeCams::start(Fake::Hang).await;
    let captured = run(fake.endpoint(), signature).await;

    assert_eq!(fake.received().len(), 2);
    assert!(
        matches!(captured.error, CamsError::Timeout(_)),
        "{:?}",
        captured.error
    );
    let (_, reason, text) = captured.synced();
    assert_eq!(reason, "ReconcileError");
    assert!(text.contains("did not answer within"), "{text}");
    captured.assert_nothing_leaked();
}

#[tokio::test]
async fn timeout_v1() {
    timeout(SignatureVersion::V1).await;
}

#[tokio::test]
async fn timeout_v3() {
    timeout(SignatureVersion::V3).await;
}

#[test]
fn the_forbidden_forms_are_what_the_wire_carries() {
    // The token's encoded forms really differ from it, so each check means something.
    assert_eq!(enc(LEAK_TOKEN), "TOKEN-LEAKCHECK-9c1e%2FZm9v%2BYmFy%3D");
    assert_eq!(
        enc(&enc(LEAK_TOKEN)),
        "TOKEN-LEAKCHECK-9c1e%252FZm9v%252BYmFy%253D"
    );
    assert_eq!(dec(&enc(LEAK_TOKEN)), LEAK_TOKEN);
    assert_eq!(
        enc(LEAK_TOKEN),
        crate::cams::encode::percent_encode(LEAK_TOKEN),
        "the client encodes the way this test does"
    );
}
