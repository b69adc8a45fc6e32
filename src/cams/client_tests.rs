//! The client over plain HTTP to a local listener: a region outside the allowlist sends
//! nothing, and response bodies are read up to [`MAX_RESPONSE_BYTES`] only. The local server
//! is shared with `client_list_tests.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::cams::endpoint::{Endpoint, EndpointPolicy};

const ENVELOPE: &str = r#"{"RequestId":"R-1","Code":"OK","Message":"None","Success":true}"#;

/// What the local server answers to every request.
#[derive(Clone, Copy)]
pub(super) enum Body {
    /// An envelope padded with spaces to exactly this many bytes, with a Content-Length.
    Padded(usize),
    /// This many bytes of `x`, with a Content-Length.
    Sized(usize),
    /// `x`s in 64 KiB chunks (no Content-Length) until the client goes away, at most this
    /// many bytes.
    Chunked(usize),
    /// This body with this HTTP status, and `x-acs-retry-after` when given.
    Json {
        status: u16,
        body: &'static str,
        retry_after: Option<&'static str>,
    },
}

pub(super) struct Server {
    pub(super) port: u16,
    pub(super) connections: Arc<AtomicUsize>,
    /// Body bytes written, for the chunked answer.
    written: Arc<AtomicUsize>,
    /// The request line and headers of every request, as received.
    pub(super) heads: Arc<Mutex<Vec<String>>>,
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn answer(
    mut stream: TcpStream,
    body: Body,
    written: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    heads.lock().unwrap().push(head);
    let sized = |content: Vec<u8>| {
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            content.len()
        )
        .into_bytes();
        reply.extend_from_slice(&content);
        reply
    };
    match body {
        Body::Padded(len) => {
            let mut content = ENVELOPE.as_bytes().to_vec();
            content.resize(len, b' ');
            let _ = stream.write_all(&sized(content)).await;
        }
        Body::Sized(len) => {
            let _ = stream.write_all(&sized(vec![b'x'; len])).await;
        }
        Body::Json {
            status,
            body,
            retry_after,
        } => {
            let extra = retry_after
                .map(|s| format!("x-acs-retry-after: {s}\r\n"))
                .unwrap_or_default();
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
        Body::Chunked(max) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            while written.load(Ordering::SeqCst) < max {
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
    }
    let _ = stream.shutdown().await;
}

pub(super) async fn server(body: Body) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (count, log, seen) = (connections.clone(), written.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer(stream, body, log.clone(), seen.clone()));
        }
    });
    Server {
        port,
        connections,
        written,
        heads,
    }
}

fn client(endpoints: EndpointPolicy, signature: SignatureVersion) -> CamsClient {
    client_with(endpoints, signature, ClientOptions::default())
}

pub(super) fn client_with(
    endpoints: EndpointPolicy,
    signature: SignatureVersion,
    options: ClientOptions,
) -> CamsClient {
    CamsClient::with_options(
        ClientConfig {
            endpoints,
            signature,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            user_agent: "cams-operator/test".into(),
        },
        options,
    )
    .unwrap()
}

pub(super) fn local(port: u16) -> EndpointPolicy {
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    EndpointPolicy::new("ap-southeast-1", Some(endpoint)).unwrap()
}

fn sts_credentials() -> Credentials {
    Credentials::new("STS.id", "secret").with_security_token("security-token-value")
}

#[test]
fn no_request_is_built_for_a_region_outside_the_list() {
    // cams.oss-cn-hangzhou.aliyuncs.com is an OSS bucket host: with V1 the SecurityToken
    // would travel in its query.
    let c = client(
        EndpointPolicy::new("ap-southeast-1", None).unwrap(),
        SignatureVersion::V1,
    );
    let err = c
        .prepare(
            "UpdateChatGroup",
            &[],
            Some("oss-cn-hangzhou"),
            &sts_credentials(),
            &Freshness::now(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, CamsError::RegionNotAllowed { region, .. } if region == "oss-cn-hangzhou"),
        "{err:?}"
    );
    assert!(c
        .prepare(
            "UpdateChatGroup",
            &[],
            Some("ap-southeast-1"),
            &sts_credentials(),
            &Freshness::now(),
        )
        .is_ok());
}

#[tokio::test]
async fn no_request_is_sent_for_a_region_outside_the_list_even_with_an_override() {
    let s = server(Body::Padded(ENVELOPE.len())).await;
    let c = client(local(s.port), SignatureVersion::V1);
    let err = c
        .call(
            "UpdateChatGroup",
            &[],
            Some("oss-cn-hangzhou"),
            &sts_credentials(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RegionNotAllowed, "{err:?}");
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        0,
        "a request was sent"
    );
    // The default region goes through.
    c.call("UpdateChatGroup", &[], None, &sts_credentials())
        .await
        .unwrap();
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

async fn call_local(body: Body) -> (Result<Response, CamsError>, Server) {
    let s = server(body).await;
    let c = client(local(s.port), SignatureVersion::V3);
    let result = c
        .call(
            "ListChatGroup",
            &[],
            None,
            &Credentials::new("id", "secret"),
        )
        .await;
    (result, s)
}

#[tokio::test]
async fn a_body_of_exactly_the_bound_is_read() {
    let (result, _) = call_local(Body::Padded(MAX_RESPONSE_BYTES)).await;
    assert_eq!(result.unwrap().envelope.request_id.as_deref(), Some("R-1"));
}

#[tokio::test]
async fn a_declared_2_mib_body_is_refused_as_retryable() {
    let (result, _) = call_local(Body::Sized(2 * MAX_RESPONSE_BYTES)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, CamsError::ResponseTooLarge { status: 200, limit } if limit == MAX_RESPONSE_BYTES),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
}

#[tokio::test]
async fn an_endless_chunked_body_stops_being_read_at_the_bound() {
    let max = 256 * MAX_RESPONSE_BYTES;
    let (result, s) = call_local(Body::Chunked(max)).await;
    let err = result.unwrap_err();
    assert!(matches!(err, CamsError::ResponseTooLarge { .. }), "{err:?}");
    // What the socket buffers absorbed after the client stopped reading, not the whole body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = s.written.load(Ordering::SeqCst);
    assert!(written < max / 4, "the server wrote {written} bytes");
}
