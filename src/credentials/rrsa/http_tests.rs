//! The STS request on the wire: the OIDC token only in a POST body, the same explicit proxy
//! policy as the CAMS connection, and answers read up to [`MAX_RESPONSE_BYTES`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::cams::encode::percent_encode;
use crate::cams::{ProxySettings, MAX_RESPONSE_BYTES};

const ROLE: &str = "acs:ram::1234567890:role/cams-operator";
const PROVIDER: &str = "acs:ram::1234567890:oidc-provider/ack-rrsa-c1";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3aXJlIn0.sig+/=wire-token";

/// What the raw server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// Credentials valid for an hour.
    Credentials,
    /// This many bytes, with a Content-Length.
    Sized(usize),
    /// Chunks with no Content-Length until the client goes away, at most this many bytes.
    Chunked(usize),
}

struct Raw {
    port: u16,
    /// Every request as it arrived: head and body.
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn answer(
    mut stream: TcpStream,
    answer: Answer,
    raw: (Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>),
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    raw.0.lock().unwrap().push(request);
    let sized = |body: &[u8]| {
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply
    };
    match answer {
        Answer::Credentials => {
            let expiration = format_timestamp(&(Utc::now() + chrono::Duration::hours(1)));
            let body = serde_json::json!({
                "RequestId": "RID-1",
                "Credentials": {
                    "AccessKeyId": "STS.wire",
                    "AccessKeySecret": "issued-secret",
                    "SecurityToken": "issued-token",
                    "Expiration": expiration,
                }
            })
            .to_string();
            let _ = stream.write_all(&sized(body.as_bytes())).await;
        }
        Answer::Sized(len) => {
            let _ = stream.write_all(&sized(&vec![b' '; len])).await;
        }
        Answer::Chunked(max) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            while raw.1.load(Ordering::SeqCst) < max {
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
                raw.1.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
    }
    let _ = stream.shutdown().await;
}

async fn raw_server(reply: Answer) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let (log, count, out) = (requests.clone(), connections.clone(), written.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer(stream, reply, (log.clone(), out.clone())));
        }
    });
    Raw {
        port,
        requests,
        connections,
        written,
    }
}

/// A CONNECT proxy that records the request line it was sent and refuses the tunnel.
async fn refusing_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut client).await else {
                    return;
                };
                let line = request.lines().next().unwrap_or("").to_string();
                log.lock().unwrap().push(line);
                let _ = client
                    .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (port, seen)
}

struct Provider {
    provider: RrsaProvider,
    _dir: tempfile::TempDir,
}

fn provider(endpoint: &str, proxy: ProxySettings) -> Provider {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, TOKEN).unwrap();
    let file = file.display().to_string();
    let env = crate::cams::env::fake_env(&[
        (ENV_ROLE_ARN, ROLE),
        (ENV_OIDC_PROVIDER_ARN, PROVIDER),
        (ENV_OIDC_TOKEN_FILE, &file),
    ]);
    let provider = RrsaProvider::from_env_with(
        env,
        RrsaOptions {
            sts_endpoint: Some(Endpoint::parse(endpoint).unwrap()),
            timeout: Duration::from_secs(20),
            // The TLS handshake with the plain server only ends with this timeout.
            connect_timeout: Duration::from_secs(2),
            proxy,
            ..RrsaOptions::default()
        },
    )
    .unwrap()
    .unwrap();
    Provider {
        provider,
        _dir: dir,
    }
}

#[tokio::test]
async fn the_oidc_token_travels_in_a_post_body_never_in_the_url() {
    let s = raw_server(Answer::Credentials).await;
    let p = provider(
        &format!("http://127.0.0.1:{}", s.port),
        ProxySettings::default(),
    );
    assert_eq!(
        p.provider.credentials().await.unwrap().access_key_id,
        "STS.wire"
    );
    let requests = s.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (head, body) = requests[0].split_once("\r\n\r\n").unwrap();
    let request_line = head.lines().next().unwrap();
    assert!(request_line.starts_with("POST /?"), "{request_line}");
    for secret in [TOKEN, &percent_encode(TOKEN), "OIDCToken", "wire-token"] {
        assert!(!request_line.contains(secret), "{request_line}");
    }
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded"),
        "{head}"
    );
    let form: Vec<&str> = body.split('&').collect();
    assert!(
        form.contains(&format!("OIDCToken={}", percent_encode(TOKEN)).as_str()),
        "{body}"
    );
    assert!(
        form.contains(&format!("RoleArn={}", percent_encode(ROLE)).as_str()),
        "{body}"
    );
}

#[tokio::test]
async fn sts_goes_through_the_https_proxy_unless_no_proxy_names_the_host() {
    let s = raw_server(Answer::Credentials).await;
    let (proxy_port, seen) = refusing_proxy().await;
    let endpoint = format!("https://localhost:{}", s.port);
    let proxied = |no_proxy: Option<&str>| {
        provider(
            &endpoint,
            ProxySettings {
                https: Some(format!("http://127.0.0.1:{proxy_port}")),
                http: None,
                no_proxy: no_proxy.map(str::to_string),
            },
        )
    };
    // The proxy refuses the tunnel, so the call fails; what matters is where it went.
    let p = proxied(None);
    let err = p.provider.credentials().await.unwrap_err();
    assert!(matches!(err, RrsaError::Transport(_)), "{err:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("CONNECT localhost:{} HTTP/1.1", s.port)]
    );
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        0,
        "went around the proxy"
    );

    // NO_PROXY: straight to the server (which speaks no TLS, so this fails too).
    let p = proxied(Some("localhost"));
    let err = p.provider.credentials().await.unwrap_err();
    assert!(matches!(err, RrsaError::Transport(_)), "{err:?}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a NO_PROXY host went through the proxy"
    );
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_2_mib_answer_is_refused_unread() {
    let s = raw_server(Answer::Sized(2 * MAX_RESPONSE_BYTES)).await;
    let p = provider(
        &format!("http://127.0.0.1:{}", s.port),
        ProxySettings::default(),
    );
    let err = p.provider.credentials().await.unwrap_err();
    assert_eq!(
        err,
        RrsaError::ResponseTooLarge {
            status: 200,
            limit: MAX_RESPONSE_BYTES
        }
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_endless_chunked_answer_stops_being_read_at_the_bound() {
    let max = 256 * MAX_RESPONSE_BYTES;
    let s = raw_server(Answer::Chunked(max)).await;
    let p = provider(
        &format!("http://127.0.0.1:{}", s.port),
        ProxySettings::default(),
    );
    let err = p.provider.credentials().await.unwrap_err();
    assert!(matches!(err, RrsaError::ResponseTooLarge { .. }), "{err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = s.written.load(Ordering::SeqCst);
    assert!(written < max / 4, "the server wrote {written} bytes");
}
