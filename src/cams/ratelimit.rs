//! Client-side CAMS rate limiting: one token bucket per (AccessKeyId, region, action), shared
//! by every worker — CAMS limits per account, region and API.

// The CAMS simulator has a token bucket of its own (crates/cams-simulator/src/faults.rs) for
// CAMS's server-side limit. It is deliberately not shared with this one: the simulator is an
// independent oracle, and a shared bug would make both sides agree.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota};

/// The key a bucket is kept under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketKey {
    /// The AccessKeyId signing the call (a stand-in for the account).
    pub access_key_id: String,
    /// The region (or the endpoint override's host).
    pub region: String,
    /// The CAMS action called (CAMS limits each API separately).
    pub action: String,
}

/// Rate limit settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained calls per second.
    pub qps: f64,
    /// Calls allowed at once after an idle period.
    pub burst: u32,
}

/// A keyed token-bucket limiter; `None` settings mean no limit.
pub struct RateLimiter {
    inner: Option<DefaultKeyedRateLimiter<BucketKey>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.inner.is_some() {
            "RateLimiter(on)"
        } else {
            "RateLimiter(off)"
        })
    }
}

impl RateLimiter {
    /// A limiter for `limit`, or none when `limit` is `None` or its QPS is not positive.
    pub fn new(limit: Option<RateLimit>) -> Self {
        let inner = limit
            .filter(|l| l.qps.is_finite() && l.qps > 0.0)
            .and_then(|l| {
                let period = Duration::from_secs_f64(1.0 / l.qps);
                let burst = NonZeroU32::new(l.burst.max(1))?;
                Quota::with_period(period)
                    .map(|q| governor::RateLimiter::keyed(q.allow_burst(burst)))
            });
        Self { inner }
    }

    /// Waits until a call for `key` may go; returns how long it waited.
    pub async fn acquire(&self, key: &BucketKey) -> Duration {
        let Some(limiter) = &self.inner else {
            return Duration::ZERO;
        };
        let started = Instant::now();
        limiter.until_key_ready(key).await;
        started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ak: &str) -> BucketKey {
        BucketKey {
            access_key_id: ak.into(),
            region: "ap-southeast-1".into(),
            action: "UpdateChatGroup".into(),
        }
    }

    #[tokio::test]
    async fn burst_then_rate_and_keys_are_independent() {
        let limiter = RateLimiter::new(Some(RateLimit {
            qps: 20.0,
            burst: 5,
        }));
        let started = Instant::now();
        for _ in 0..5 {
            limiter.acquire(&key("a")).await;
        }
        assert!(
            started.elapsed() < Duration::from_millis(40),
            "the burst should pass at once"
        );
        // Another key has its own bucket.
        for _ in 0..5 {
            limiter.acquire(&key("b")).await;
        }
        assert!(started.elapsed() < Duration::from_millis(80));
        // The next 4 calls on key a need about 4 x 50 ms.
        for _ in 0..4 {
            limiter.acquire(&key("a")).await;
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(150),
            "rate not enforced: {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn no_limit_never_waits() {
        let limiter = RateLimiter::new(None);
        for _ in 0..1000 {
            assert_eq!(limiter.acquire(&key("a")).await, Duration::ZERO);
        }
    }
}
