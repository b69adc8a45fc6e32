//! The simulator's call log as the bench reads it: one tenant's calls by action, and the
//! inventory scans its ListChatGroup calls make up, per account (a scan starts with
//! `Page.Index` 1).

use std::collections::BTreeMap;

use cams_simulator::CallEntry;
use chrono::{DateTime, Utc};

/// The action every inventory scan calls; every other action writes.
pub const LIST: &str = "ListChatGroup";

/// One scan as the simulator saw it: its first and last page's arrival, and its pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub pages: u64,
}

/// `Page.Index` of a ListChatGroup call (`Page={"Index":i,"Size":n}`).
pub fn page_index(call: &CallEntry) -> Option<u64> {
    let page: serde_json::Value = serde_json::from_str(call.params.get("Page")?).ok()?;
    page["Index"].as_u64()
}

/// When the call arrived at the simulator.
fn arrival(call: &CallEntry) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&call.time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The calls' count by action (`?` for a call without one).
pub fn by_action(calls: &[CallEntry]) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for c in calls {
        *by.entry(c.action.clone().unwrap_or_else(|| "?".into()))
            .or_insert(0) += 1;
    }
    by
}

/// The account a ListChatGroup call scans, as the operator keys its inventories (the
/// endpoint is the same for every call of the bench): AccessKeyId, CustSpaceId,
/// BusinessNumber.
fn account(call: &CallEntry) -> String {
    let param = |name: &str| call.params.get(name).map(String::as_str).unwrap_or("");
    format!(
        "{}/{}/{}",
        call.access_key_id.as_deref().unwrap_or(""),
        param("CustSpaceId"),
        param("BusinessNumber")
    )
}

/// The scans the ListChatGroup calls among `calls` (oldest first) make up, by account: each
/// call with `Page.Index` 1 starts one, the account's calls after it belong to it.
pub fn scans(calls: &[CallEntry]) -> BTreeMap<String, Vec<Scan>> {
    let mut by_account: BTreeMap<String, Vec<Scan>> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.action.as_deref() == Some(LIST)) {
        let Some(at) = arrival(call) else { continue };
        let scans = by_account.entry(account(call)).or_default();
        match scans.last_mut() {
            Some(scan) if page_index(call) != Some(1) => {
                scan.last = at;
                scan.pages += 1;
            }
            _ => scans.push(Scan {
                first: at,
                last: at,
                pages: 1,
            }),
        }
    }
    by_account
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The smallest gap between two consecutive scan starts of one account, in seconds.
pub fn min_gap(scans: &BTreeMap<String, Vec<Scan>>) -> Option<f64> {
    scans
        .values()
        .flat_map(|s| s.windows(2).map(|w| secs(w[1].first - w[0].first)))
        .min_by(f64::total_cmp)
}

/// The longest scan, first page to last page, in seconds.
pub fn max_duration(scans: &BTreeMap<String, Vec<Scan>>) -> Option<f64> {
    scans
        .values()
        .flatten()
        .map(|s| secs(s.last - s.first))
        .max_by(f64::total_cmp)
}

/// The scans started, over every account.
pub fn starts(scans: &BTreeMap<String, Vec<Scan>>) -> u64 {
    scans.values().map(|s| s.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(seq: u64, ms: i64, index: u64) -> CallEntry {
        list_of("t", seq, ms, index)
    }

    fn list_of(tenant: &str, seq: u64, ms: i64, index: u64) -> CallEntry {
        let t = DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap();
        serde_json::from_value(serde_json::json!({
            "seq": seq,
            "time": t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "action": LIST,
            "accessKeyId": "k",
            "signatureScheme": "v3",
            "securityToken": false,
            "stsIssued": false,
            "remoteAddr": "127.0.0.1:1",
            "custSpaceId": tenant,
            "params": {
                "Page": format!("{{\"Index\":{index},\"Size\":100}}"),
                "CustSpaceId": tenant,
                "BusinessNumber": "86",
            },
            "status": 200,
            "code": "OK",
            "durationMs": 50,
        }))
        .unwrap()
    }

    #[test]
    fn scans_start_at_page_one() {
        let calls = [
            list(1, 0, 1),
            list(2, 200, 2),
            list(3, 400, 3),
            list(4, 15_100, 1),
            list(5, 15_300, 2),
            list(6, 15_500, 3),
        ];
        let s = scans(&calls);
        assert_eq!(s.len(), 1);
        assert_eq!(starts(&s), 2);
        assert_eq!(s["k/t/86"][0].pages, 3);
        assert_eq!(min_gap(&s), Some(15.1));
        assert_eq!(max_duration(&s), Some(0.4));
        assert_eq!(page_index(&calls[1]), Some(2));
    }

    #[test]
    fn accounts_scan_apart() {
        let calls = [
            list_of("a", 1, 0, 1),
            list_of("b", 2, 100, 1),
            list_of("a", 3, 200, 2),
            list_of("b", 4, 300, 2),
            list_of("a", 5, 16_000, 1),
        ];
        let s = scans(&calls);
        assert_eq!(s.len(), 2);
        assert_eq!(starts(&s), 3);
        assert_eq!(s["k/a/86"][0].pages, 2);
        assert_eq!(min_gap(&s), Some(16.0));
    }
}
