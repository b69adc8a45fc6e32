//! Fault knobs (per tenant, with a global default) and the token bucket behind the QPS limit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What can go wrong for one tenant's calls. Every field is optional in JSON; a missing field
/// takes its default (no fault).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Added to every CAMS call before it is processed.
    pub latency_ms: u64,
    /// A uniformly random extra latency in `0..=latencyJitterMs`.
    pub latency_jitter_ms: u64,
    /// Probability per error code, e.g. `{"InternalError": 0.1, "Throttling.User": 0.1}`.
    /// The probabilities are cumulative over the codes (in name order); their sum should be at
    /// most 1.
    pub error_rates: BTreeMap<String, f64>,
    /// A token-bucket QPS limit; over it the call gets `Throttling.User`.
    pub qps: Option<QpsLimit>,
    /// Calls that never (or only late) get an answer.
    pub hang: Option<HangFault>,
    /// Probability that the connection is reset (TCP RST) instead of answered.
    pub reset_probability: f64,
    /// Probability that the call is processed (an update lands) and then the connection is
    /// reset instead of answered: the client never learns that it succeeded.
    pub lose_answer_probability: f64,
    /// Seconds added to the simulator's clock (freshness checks and the `Date` header).
    pub clock_offset_secs: i64,
    /// The actions these faults strike (every action when empty): e.g. `["AddChatGroup"]`
    /// loses AddChatGroup's answers while ListChatGroup keeps working.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// A token bucket: `rate` tokens per second, at most `burst` stored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QpsLimit {
    /// Sustained calls per second.
    pub rate: f64,
    /// Bucket size (calls allowed at once after a quiet period); defaults to `max(1, rate)`.
    #[serde(default)]
    pub burst: Option<f64>,
}

impl QpsLimit {
    fn burst(&self) -> f64 {
        self.burst.unwrap_or(self.rate).max(1.0)
    }
}

/// A hang: with `probability`, the call waits `durationMs` before being processed, or, with
/// no duration, until the client gives up (closes the connection).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HangFault {
    /// Chance per call.
    pub probability: f64,
    /// How long; `null` or absent means until the client gives up.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

impl FaultConfig {
    /// Whether these faults strike `action`.
    pub fn applies_to(&self, action: &str) -> bool {
        self.actions.is_empty() || self.actions.iter().any(|a| a == action)
    }

    /// Checks ranges; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{name} must be between 0 and 1, got {p}"))
            }
        };
        for (code, p) in &self.error_rates {
            if code.is_empty() || code == "OK" {
                return Err(format!("errorRates: {code:?} is not an error code"));
            }
            probability(&format!("errorRates.{code}"), *p)?;
        }
        let total: f64 = self.error_rates.values().sum();
        if total > 1.0 + 1e-9 {
            return Err(format!("errorRates add up to {total}, more than 1"));
        }
        if let Some(qps) = &self.qps {
            if !(qps.rate.is_finite() && qps.rate > 0.0) {
                return Err(format!("qps.rate must be positive, got {}", qps.rate));
            }
            if let Some(burst) = qps.burst {
                if !(burst.is_finite() && burst >= 1.0) {
                    return Err(format!("qps.burst must be at least 1, got {burst}"));
                }
            }
        }
        if let Some(hang) = &self.hang {
            probability("hang.probability", hang.probability)?;
        }
        probability("resetProbability", self.reset_probability)?;
        probability("loseAnswerProbability", self.lose_answer_probability)?;
        if self.clock_offset_secs.unsigned_abs() > 10 * 365 * 24 * 3600 {
            return Err("clockOffsetSecs is out of range (more than 10 years)".into());
        }
        Ok(())
    }

    /// The error code chosen for a uniform draw `r` in `[0, 1)`, if any.
    pub fn pick_error(&self, r: f64) -> Option<&str> {
        let mut acc = 0.0;
        for (code, p) in &self.error_rates {
            acc += p;
            if r < acc {
                return Some(code);
            }
        }
        None
    }

    /// The latency to add for a uniform draw `r` in `[0, 1)`.
    pub fn latency(&self, r: f64) -> Duration {
        let jitter = (self.latency_jitter_ms as f64 * r).round() as u64;
        Duration::from_millis(self.latency_ms.saturating_add(jitter))
    }
}

// Deliberately NOT the operator's rate limiter (`src/cams/ratelimit.rs`, governor): this
// bucket plays CAMS's server-side limit, an independent oracle the operator's client-side
// limit is measured against. Keep the two separate.

/// A token bucket for one tenant.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    limit: QpsLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: QpsLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: limit.burst(),
            last: now,
        }
    }

    /// The limit this bucket enforces.
    pub fn limit(&self) -> &QpsLimit {
        &self.limit
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.limit.rate).min(self.limit.burst());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.limit.rate,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let t0 = Instant::now();
        let limit = QpsLimit {
            rate: 10.0,
            burst: Some(3.0),
        };
        let mut b = TokenBucket::new(limit, t0);
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        let wait = b.try_take(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        // 100 ms later exactly one token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.try_take(t1).is_ok());
        assert!(b.try_take(t1).is_err());
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.try_take(t2).is_ok());
        }
        assert!(b.try_take(t2).is_err());
    }

    #[test]
    fn bucket_sustains_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            QpsLimit {
                rate: 5.0,
                burst: None,
            },
            t0,
        );
        let mut allowed = 0;
        // 10 seconds of attempts every 10 ms: burst 5 + 5/s * 10 s.
        for i in 0..1000 {
            if b.try_take(t0 + Duration::from_millis(i * 10)).is_ok() {
                allowed += 1;
            }
        }
        assert!((54..=56).contains(&allowed), "{allowed}");
    }

    #[test]
    fn fractional_rate_has_a_burst_of_at_least_one() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            QpsLimit {
                rate: 0.5,
                burst: None,
            },
            t0,
        );
        assert!(b.try_take(t0).is_ok());
        let wait = b.try_take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
    }

    #[test]
    fn error_rates_are_cumulative_in_name_order() {
        let f: FaultConfig = serde_json::from_str(
            r#"{"errorRates":{"InternalError":0.1,"Throttling.User":0.1,"ServiceUnavailable":0.1}}"#,
        )
        .unwrap();
        f.validate().unwrap();
        assert_eq!(f.pick_error(0.05), Some("InternalError"));
        assert_eq!(f.pick_error(0.15), Some("ServiceUnavailable"));
        assert_eq!(f.pick_error(0.25), Some("Throttling.User"));
        assert_eq!(f.pick_error(0.35), None);
    }

    #[test]
    fn validation_and_unknown_fields() {
        let bad = |json: &str| {
            serde_json::from_str::<FaultConfig>(json)
                .map_err(|e| e.to_string())
                .and_then(|f| f.validate())
                .is_err()
        };
        assert!(bad(r#"{"resetProbability":1.5}"#));
        assert!(bad(r#"{"errorRates":{"A":0.7,"B":0.7}}"#));
        assert!(bad(r#"{"qps":{"rate":0}}"#));
        assert!(bad(r#"{"qps":{"rate":1,"burst":0.5}}"#));
        assert!(bad(r#"{"hang":{"probability":2}}"#));
        assert!(bad(r#"{"latencyMS":5}"#));
        assert!(!bad(
            r#"{"latencyMs":5,"hang":{"probability":1},"qps":{"rate":2,"burst":4},"clockOffsetSecs":-1200}"#
        ));
        assert!(!bad("{}"));
    }

    #[test]
    fn latency_with_jitter() {
        let f = FaultConfig {
            latency_ms: 100,
            latency_jitter_ms: 50,
            ..Default::default()
        };
        assert_eq!(f.latency(0.0), Duration::from_millis(100));
        assert_eq!(f.latency(0.999), Duration::from_millis(150));
    }
}
