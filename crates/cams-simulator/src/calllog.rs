//! The call log: one entry per CAMS or STS call that reached the simulator, bounded, read by
//! sequence number (`GET /admin/calls`).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::util::rfc3339_millis;

/// The two Alibaba signature schemes (`v3` and `rpc` in the call log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureScheme {
    /// `ACS3-HMAC-SHA256` in the `Authorization` header.
    V3,
    /// RPC HMAC-SHA1 in the query string (`SignatureVersion=1.0`).
    Rpc,
}

impl SignatureScheme {
    /// `v3` or `rpc`, as the call log writes it.
    pub fn label(self) -> &'static str {
        match self {
            Self::V3 => "v3",
            Self::Rpc => "rpc",
        }
    }
}

/// The injected fault that decided a call's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The connection was reset instead of answered (`resetProbability`).
    Reset,
    /// The call hung (`hang`): it was answered late, or never.
    Hang,
    /// An injected error code (`errorRates`, or the STS `errorCode`).
    Error,
    /// The tenant's token bucket was empty (`qps`).
    Throttle,
    /// The call was processed, then the connection reset (`loseAnswerProbability`).
    AnswerLost,
}

/// One entry of the call log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEntry {
    /// Sequence number, from 1, never reused (not even after a clear).
    pub seq: u64,
    /// When the call arrived (RFC 3339, milliseconds, real clock).
    pub time: String,
    /// The action, as sent.
    pub action: Option<String>,
    /// The AccessKeyId the call claimed.
    pub access_key_id: Option<String>,
    /// `v3` or `rpc` (`null` when no signature was recognised).
    pub signature_scheme: Option<SignatureScheme>,
    /// Whether the call carried a security token.
    pub security_token: bool,
    /// Whether the AccessKeyId was issued by the simulator's `AssumeRoleWithOIDC` (false for
    /// the `AssumeRoleWithOIDC` call itself).
    pub sts_issued: bool,
    /// The client's address.
    pub remote_addr: String,
    /// The `User-Agent`.
    pub user_agent: Option<String>,
    /// The `CustSpaceId` parameter.
    pub cust_space_id: Option<String>,
    /// All decoded query (and form body) parameters except `Signature`.
    pub params: BTreeMap<String, String>,
    /// HTTP status (0 when the connection was reset or the call hangs forever).
    pub status: u16,
    /// The response `Code` (`OK`, an error code, `ConnectionReset` or `Hang`).
    pub code: String,
    /// The response `RequestId`.
    pub request_id: Option<String>,
    /// The injected fault that decided the outcome, if any.
    pub fault: Option<Fault>,
    /// Time from arrival to answer, in milliseconds.
    pub duration_ms: u64,
    /// The `UniqueCode` of an accepted AddChatGroup (also when its answer was lost); absent
    /// for every other call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_code: Option<String>,
}

/// A bounded call log: the newest `capacity` entries.
#[derive(Debug)]
pub struct CallLog {
    capacity: usize,
    entries: VecDeque<CallEntry>,
    next_seq: u64,
}

impl CallLog {
    /// An empty log.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
            next_seq: 1,
        }
    }

    /// Appends an entry, assigning its sequence number. O(1).
    pub fn push(&mut self, mut entry: CallEntry) -> u64 {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        let seq = entry.seq;
        self.entries.push_back(entry);
        seq
    }

    /// The last sequence number handed out (0 before the first call).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Entries with `seq > since`, oldest first, at most `limit` of those matching `filter`.
    pub fn since(
        &self,
        since: u64,
        limit: usize,
        filter: impl Fn(&CallEntry) -> bool,
    ) -> Vec<CallEntry> {
        let first = self.entries.front().map_or(self.next_seq, |e| e.seq);
        let skip = since.saturating_add(1).saturating_sub(first) as usize;
        self.entries
            .iter()
            .skip(skip)
            .filter(|e| filter(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Drops every entry; returns how many there were. Sequence numbers keep counting.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl CallEntry {
    /// An entry for a call that arrived at `at` from `remote`, not yet answered (status 0,
    /// no code).
    pub fn arrived(
        at: DateTime<Utc>,
        remote: SocketAddr,
        user_agent: Option<String>,
        action: Option<String>,
        params: BTreeMap<String, String>,
    ) -> Self {
        Self {
            seq: 0,
            time: rfc3339_millis(at),
            action,
            access_key_id: None,
            signature_scheme: None,
            security_token: false,
            sts_issued: false,
            remote_addr: remote.to_string(),
            user_agent,
            cust_space_id: None,
            params,
            status: 0,
            code: String::new(),
            request_id: None,
            fault: None,
            duration_ms: 0,
            unique_code: None,
        }
    }

    /// A parameter of the call as it was sent (decoded), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// When the call arrived; `None` if `time` is not RFC 3339.
    pub fn arrived_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Milliseconds since `since`.
pub fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str, tenant: &str) -> CallEntry {
        let remote = SocketAddr::from(([127, 0, 0, 1], 1));
        let mut e = CallEntry::arrived(
            Utc::now(),
            remote,
            None,
            Some("UpdateChatGroup".into()),
            BTreeMap::new(),
        );
        e.cust_space_id = Some(tenant.into());
        e.status = 200;
        e.code = code.into();
        e
    }

    #[test]
    fn call_log_is_bounded_and_reads_since_a_sequence_number() {
        let mut log = CallLog::new(3);
        assert_eq!(log.last_seq(), 0);
        for i in 0..5 {
            log.push(entry(&format!("C{i}"), if i % 2 == 0 { "a" } else { "b" }));
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.last_seq(), 5);
        let all: Vec<u64> = log.since(0, 100, |_| true).iter().map(|e| e.seq).collect();
        assert_eq!(all, [3, 4, 5]);
        let after4: Vec<u64> = log.since(4, 100, |_| true).iter().map(|e| e.seq).collect();
        assert_eq!(after4, [5]);
        assert!(log.since(5, 100, |_| true).is_empty());
        assert!(log.since(99, 100, |_| true).is_empty());
        let tenant_a: Vec<u64> = log
            .since(0, 100, |e| e.cust_space_id.as_deref() == Some("a"))
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(tenant_a, [3, 5]);
        assert_eq!(log.since(0, 1, |_| true).len(), 1);
        assert_eq!(log.clear(), 3);
        log.push(entry("X", "a"));
        assert_eq!(log.since(0, 100, |_| true)[0].seq, 6);
    }

    #[test]
    fn entries_round_trip_through_json() {
        let mut e = entry("OK", "t");
        e.signature_scheme = Some(SignatureScheme::V3);
        e.fault = Some(Fault::AnswerLost);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["signatureScheme"], "v3");
        assert_eq!(json["fault"], "answer_lost");
        assert_eq!(json["custSpaceId"], "t");
        let back: CallEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        assert!(back.arrived_at().is_some());
    }
}
