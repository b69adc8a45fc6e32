//! The number of alive tokio tasks, read from the runtime at each scrape: a task that
//! outlives what started it (one per leadership term, say) shows up as a line that climbs.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

/// Collector of the `tokio_alive_tasks` gauge (nothing outside a tokio runtime).
#[derive(Debug, Default)]
pub struct TokioTasks;

impl Collector for TokioTasks {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        let alive = i64::try_from(runtime.metrics().num_alive_tasks()).unwrap_or(i64::MAX);
        let gauge = ConstGauge::new(alive);
        let metric = encoder.encode_descriptor(
            "tokio_alive_tasks",
            "Tokio tasks alive in the runtime",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Metrics;

    fn alive(text: &str) -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix("cams_operator_tokio_alive_tasks "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no task gauge in\n{text}"))
    }

    #[tokio::test]
    async fn the_gauge_follows_the_tasks_alive_at_each_scrape() {
        let m = Metrics::default();
        let before = alive(&m.encode());
        let tasks: Vec<_> = (0..3)
            .map(|_| tokio::spawn(std::future::pending::<()>()))
            .collect();
        assert_eq!(alive(&m.encode()), before + 3);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        assert_eq!(alive(&m.encode()), before);
    }
}
