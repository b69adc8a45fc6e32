//! The CAMS connection over real TLS: an extra CA bundle is trusted (and nothing else), and
//! HTTPS proxies tunnel with CONNECT unless NO_PROXY names the host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::cams::endpoint::{Endpoint, EndpointPolicy};

const BODY: &str =
    r#"{"RequestId":"TLS-1","Code":"OK","Message":"None","Success":true,"Result":1}"#;

/// A one-certificate HTTPS server for `localhost` answering every request with a CAMS
/// envelope. Returns its port and the certificate as PEM.
async fn tls_server() -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, pem)
}

/// A CONNECT proxy that records the targets it was asked for and splices the tunnel.
async fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                while !buf.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    buf.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or("").to_string());
                let port = target.rsplit(':').next().unwrap_or("443");
                let Ok(mut upstream) = TcpStream::connect(format!("127.0.0.1:{port}")).await else {
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, seen)
}

fn client(port: u16, options: ClientOptions) -> Result<CamsClient, CamsError> {
    let endpoint = Endpoint::parse(&format!("https://localhost:{port}")).unwrap();
    CamsClient::with_options(
        ClientConfig {
            endpoints: EndpointPolicy::new("ap-southeast-1", Some(endpoint)).unwrap(),
            signature: SignatureVersion::V3,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            user_agent: "cams-operator/test".into(),
        },
        options,
    )
}

async fn call(client: &CamsClient) -> Result<Response, CamsError> {
    client
        .call(
            "ListChatGroup",
            &[],
            None,
            &Credentials::new("id", "secret"),
        )
        .await
}

#[tokio::test]
async fn an_extra_ca_bundle_is_trusted_and_nothing_else_is() {
    let (port, pem) = tls_server().await;
    let untrusting = client(port, ClientOptions::default()).unwrap();
    let err = call(&untrusting).await.unwrap_err();
    assert!(
        matches!(err, CamsError::Transport(_)),
        "a self-signed server was trusted: {err:?}"
    );

    let trusting = client(
        port,
        ClientOptions {
            extra_ca_pem: Some(pem.into_bytes()),
            ..Default::default()
        },
    )
    .unwrap();
    let response = call(&trusting).await.unwrap();
    assert_eq!(response.envelope.request_id.as_deref(), Some("TLS-1"));
}

#[tokio::test]
async fn a_bundle_without_certificates_is_refused() {
    let err = client(
        1,
        ClientOptions {
            extra_ca_pem: Some(b"not a certificate".to_vec()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, CamsError::InvalidCaBundle(_)), "{err:?}");
}

#[tokio::test]
async fn https_goes_through_the_proxy_unless_no_proxy_names_the_host() {
    let (port, pem) = tls_server().await;
    let (proxy_port, seen) = connect_proxy().await;
    let proxied = |no_proxy: Option<&str>| {
        client(
            port,
            ClientOptions {
                extra_ca_pem: Some(pem.clone().into_bytes()),
                proxy: ProxySettings {
                    https: Some(format!("http://127.0.0.1:{proxy_port}")),
                    http: None,
                    no_proxy: no_proxy.map(str::to_string),
                },
                ..Default::default()
            },
        )
        .unwrap()
    };
    call(&proxied(None)).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!("CONNECT localhost:{port} HTTP/1.1")]
    );

    call(&proxied(Some("localhost"))).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "NO_PROXY host went through the proxy"
    );
}

#[test]
fn proxy_settings_read_upper_then_lower_case() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let p = ProxySettings::from_lookup(env(&[
        ("HTTPS_PROXY", "http://proxy:3128"),
        ("https_proxy", "http://ignored:1"),
        ("no_proxy", "localhost,.internal"),
    ]));
    assert_eq!(p.https.as_deref(), Some("http://proxy:3128"));
    assert_eq!(p.http, None);
    assert_eq!(p.no_proxy.as_deref(), Some("localhost,.internal"));
    assert_eq!(
        ProxySettings::from_lookup(env(&[("HTTP_PROXY", " ")])),
        ProxySettings::default()
    );
}
