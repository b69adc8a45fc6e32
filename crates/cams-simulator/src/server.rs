//! The HTTP server: our own accept loop over hyper's HTTP/1 connections, so that a call can
//! end in a TCP reset (the socket is closed with `SO_LINGER` 0) instead of an answer.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use http_body_util::{BodyExt, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::app::App;
use crate::http::{json_response, Reply, MAX_BODY_BYTES};
use crate::{admin, router};

/// Whether a path belongs to the admin API.
fn is_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

async fn route(
    app: &App,
    admin: &Router,
    remote: SocketAddr,
    req: Request<hyper::body::Incoming>,
) -> Reply {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let body = serde_json::json!({
                "Code": "InvalidParameter.BodyTooLarge",
                "Message": format!("The request body could not be read: {e}"),
                "Success": false,
                "RequestId": crate::util::request_id(),
            });
            return Reply::Response(json_response(413, &body, Utc::now(), None, None));
        }
    };
    if is_admin(parts.uri.path()) {
        Reply::Response(admin::handle(admin, parts, body).await)
    } else {
        router::dispatch(app, remote, &parts, &body).await
    }
}

/// A TCP stream that, when dropped after a reset was requested, closes with `SO_LINGER` 0 so
/// the peer gets an RST instead of a FIN.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Acquire) {
            if let Err(e) = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO)) {
                tracing::debug!(error = %e, "could not set SO_LINGER 0");
            }
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Arc<App>,
    admin: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let reset = Arc::new(AtomicBool::new(false));
    let reset_now = Arc::new(Notify::new());
    let io = TokioIo::new(ResettableStream {
        inner: stream,
        reset: reset.clone(),
    });
    let service = {
        let reset_now = reset_now.clone();
        service_fn(move |req| {
            let app = app.clone();
            let admin = admin.clone();
            let reset = reset.clone();
            let reset_now = reset_now.clone();
            async move {
                match route(&app, &admin, remote, req).await {
                    Reply::Response(response) => Ok::<_, Infallible>(response),
                    Reply::Reset => {
                        reset.store(true, Ordering::Release);
                        reset_now.notify_one();
                        // The connection task drops this future together with the socket.
                        std::future::pending().await
                    }
                }
            }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        }
        () = reset_now.notified() => {
            tracing::debug!(%remote, "resetting connection");
        }
        () = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "connection ended with an error during shutdown");
            }
        }
    }
}

/// Accepts connections until `shutdown` turns true, then lets open connections finish for up
/// to `grace` (hanging calls do not delay the exit beyond it).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let admin = admin::router(app.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "set_nodelay failed");
                    }
                    connections.spawn(connection(
                        stream,
                        remote,
                        app.clone(),
                        admin.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = async { drop(shutdown.wait_for(|stop| *stop).await) } => break,
        }
    }
    drop(listener);
    let open = connections.len();
    if open > 0 {
        tracing::info!(open, "waiting for open connections to finish");
    }
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            left = connections.len(),
            "closing connections still open after the grace period"
        );
        connections.shutdown().await;
    }
}
