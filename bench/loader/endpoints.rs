//! The operator's own endpoints as the bench reads them: the addresses it logs, its
//! `/readyz` and its Prometheus `/metrics`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Finds an address the operator logged ("serving metrics on ADDR") in its JSON log.
pub fn logged_addr(log: &Path, what: &str) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        let msg = v["message"].as_str()?;
        msg.strip_prefix(&format!("serving {what} on "))
            .map(str::to_string)
    })
}

/// Whether `/readyz` at the health address answers 2xx.
pub async fn ready(http: &reqwest::Client, health_addr: &str) -> bool {
    let url = format!("http://{health_addr}/readyz");
    http.get(&url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The text of `/metrics` at the metrics address (empty if the body cannot be read), or
/// `None` when the request fails.
pub async fn scrape(http: &reqwest::Client, metrics_addr: &str) -> Option<String> {
    let url = format!("http://{metrics_addr}/metrics");
    let response = http.get(&url).send().await.ok()?;
    Some(response.text().await.unwrap_or_default())
}

/// Sums the samples of a metric family, and returns them by one label's value.
pub fn metric(text: &str, name: &str, label: &str) -> (f64, BTreeMap<String, f64>) {
    let mut total = 0.0;
    let mut by = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric_name, labels) = series.split_once('{').unwrap_or((series, ""));
        if metric_name != name {
            continue;
        }
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        total += v;
        let key = format!("{label}=\"");
        if let Some(start) = labels.find(&key) {
            let rest = &labels[start + key.len()..];
            let value = rest.split('"').next().unwrap_or_default();
            *by.entry(value.to_string()).or_insert(0.0) += v;
        }
    }
    (total, by)
}
