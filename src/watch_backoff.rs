//! Backoff for the controller's watches after API-server errors: 0.5 s doubling to 5 s, each
//! wait jittered down by up to half. kube's default (0.8 s doubling to 30 s, jittered up to
//! about twice that) left the operator deaf for up to ~100 s after an API-server outage.

use std::time::Duration;

/// The watch backoff; reset after a successful event.
#[derive(Clone, Copy, Debug)]
pub struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(500);
    const CAP: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::CAP);
        Some(delay.mul_f64(0.5 + rand::random::<f64>() / 2.0))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn doubles_to_the_cap_with_downward_jitter_and_resets() {
        let mut b = WatchBackoff::default();
        let waits: Vec<Duration> = (0..8).filter_map(|_| b.next()).collect();
        let nominal = [500u64, 1000, 2000, 4000, 5000, 5000, 5000, 5000];
        for (wait, nominal) in waits.iter().zip(nominal) {
            let nominal = Duration::from_millis(nominal);
            assert!(
                *wait <= nominal && *wait >= nominal / 2,
                "{wait:?} vs {nominal:?}"
            );
        }
        b.reset();
        assert!(b.next().unwrap() <= Duration::from_millis(500));
    }
}
