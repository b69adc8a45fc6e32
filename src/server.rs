//! The operator's own HTTP endpoints: `/metrics` on the metrics address, `/healthz` and
//! `/readyz` on the health address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(m): State<Arc<Metrics>>) -> (StatusCode, &'static str) {
    if m.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// Binds both listeners (they may be the same address) and serves until `shutdown`.
/// Returns the bound addresses.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    state: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, SocketAddr)> {
    let metrics_router = Router::new().route("/metrics", get(metrics));
    let health_router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let (metrics_bound, health_bound) = if metrics_addr == health_addr && metrics_addr.port() != 0 {
        let listener = tokio::net::TcpListener::bind(metrics_addr).await?;
        let bound = listener.local_addr()?;
        spawn(
            listener,
            metrics_router.merge(health_router).with_state(state),
            shutdown,
        );
        (bound, bound)
    } else {
        let m = tokio::net::TcpListener::bind(metrics_addr).await?;
        let h = tokio::net::TcpListener::bind(health_addr).await?;
        let bound = (m.local_addr()?, h.local_addr()?);
        spawn(
            m,
            metrics_router.with_state(state.clone()),
            shutdown.clone(),
        );
        spawn(h, health_router.with_state(state), shutdown);
        bound
    };
    tracing::info!(addr = %metrics_bound, "serving metrics on {metrics_bound}");
    tracing::info!(addr = %health_bound, "serving health on {health_bound}");
    Ok((metrics_bound, health_bound))
}

fn spawn(listener: tokio::net::TcpListener, app: Router, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "HTTP endpoint stopped");
        }
    });
}
