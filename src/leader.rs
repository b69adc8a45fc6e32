//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder reconciles (calls
//! CAMS, writes status).
//!
//! kube has no leader election of its own, and no maintained crate fits: kube-lease-manager
//! 0.13 builds with kube 5 but judges another holder's expiry as its renewTime plus the
//! duration against this machine's wall clock, and kubert 0.25 pins kube-client 1.1. So this
//! is a small Lease loop with two rules that keep two replicas from ever writing at once:
//!
//! - the holder's renew deadline counts from when its last successful renewal was *sent*, and
//!   [`LeaderElector::hold`] returns the instant it lapses, even with a renewal in flight;
//! - another holder's Lease expires when this replica has not seen it change (holder,
//!   renewTime or resourceVersion) for its leaseDurationSeconds, measured on this replica's
//!   monotonic clock from when it saw the last change: no other replica's clock is trusted.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (holderIdentity).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// Give up leadership when no renewal sent within this long has succeeded.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
    /// Timeout of each API call (shortened so that a renewal never runs past the deadline).
    pub api_timeout: Duration,
}

/// Leader election failures (all retried; none is fatal).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API server refused or failed.
    #[error("lease API error: {0}")]
    Kube(#[from] kube::Error),
    /// The API call did not finish in time.
    #[error("lease API call timed out")]
    Timeout,
    /// Another writer created or changed the Lease first.
    #[error("the lease was changed by another writer")]
    Conflict,
}

/// The three Lease calls the elector makes, so tests can replace the API server.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// The Lease, or None when it does not exist.
    async fn get(&self) -> Result<Option<Lease>, LeaseError>;
    /// Creates the Lease; [`LeaseError::Conflict`] when it exists already.
    async fn create(&self, lease: &Lease) -> Result<Lease, LeaseError>;
    /// Replaces the Lease; [`LeaseError::Conflict`] when its resourceVersion is stale.
    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaseError>;
}

/// The Lease on the API server.
pub struct KubeLeaseStore {
    api: Api<Lease>,
    name: String,
}

impl KubeLeaseStore {
    /// The Lease `name` in `namespace`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
        }
    }
}

fn from_kube(e: kube::Error) -> LeaseError {
    match e {
        kube::Error::Api(s) if s.code == 409 => LeaseError::Conflict,
        e => LeaseError::Kube(e),
    }
}

#[async_trait]
impl LeaseStore for KubeLeaseStore {
    async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        self.api.get_opt(&self.name).await.map_err(from_kube)
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        self.api
            .create(&PostParams::default(), lease)
            .await
            .map_err(from_kube)
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        self.api
            .replace(&self.name, &PostParams::default(), lease)
            .await
            .map_err(from_kube)
    }
}

/// One leadership term, as returned by [`LeaderElector::acquire`].
#[derive(Clone, Copy, Debug)]
pub struct Term {
    /// When the write that won the Lease was sent.
    pub sent_at: Instant,
}

/// The outcome of one acquire-or-renew round.
enum Round {
    /// This replica holds the Lease; the winning write was sent at this instant.
    Leader(Instant),
    /// Another replica holds it; its Lease expires in this long unless it changes (None when
    /// unknown: another writer won a race).
    Follower(Option<Duration>),
}

/// What identifies one version of the Lease: holder, renewTime, resourceVersion.
type Fingerprint = (Option<String>, Option<MicroTime>, Option<String>);

/// The last version of the Lease this replica saw, and when it first saw it.
struct Seen {
    fingerprint: Fingerprint,
    since: Instant,
}

/// Acquires, holds and releases the Lease.
pub struct LeaderElector<S = KubeLeaseStore> {
    store: S,
    config: LeaseConfig,
    seen: Mutex<Option<Seen>>,
}

impl LeaderElector<KubeLeaseStore> {
    /// An elector for `config` on the API server.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        let store = KubeLeaseStore::new(client, &config.namespace, &config.name);
        Self::with_store(store, config)
    }
}

impl<S: LeaseStore> LeaderElector<S> {
    /// An elector for `config` on `store`.
    pub fn with_store(store: S, config: LeaseConfig) -> Self {
        Self {
            store,
            config,
            seen: Mutex::new(None),
        }
    }

    /// Waits until this replica holds the Lease. It polls every retry period, and once more
    /// at the instant another holder's Lease would expire.
    pub async fn acquire(&self) -> Term {
        let mut announced = false;
        loop {
            let retry = self.config.retry_period;
            let pause = match self.try_acquire_or_renew(None).await {
                Ok(Round::Leader(sent_at)) => {
                    info!(identity = %self.config.identity, lease = %self.config.name, "became leader");
                    return Term { sent_at };
                }
                Ok(Round::Follower(left)) => {
                    if !announced {
                        info!(identity = %self.config.identity, "another replica holds the lease; standing by");
                        announced = true;
                    }
                    left.map_or(retry, |left| left.min(retry))
                }
                Err(e) => {
                    warn!(error = %e, "could not acquire the lease");
                    retry
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// Renews the Lease every retry period; returns when leadership is lost: another holder,
    /// or the renew deadline (counted from when the last successful renewal was sent) lapsed.
    /// It returns at that instant even when a renewal is still waiting for its answer.
    pub async fn hold(&self, term: Term) {
        let mut sent_at = term.sent_at;
        loop {
            let deadline = sent_at + self.config.renew_deadline;
            let round = async {
                tokio::time::sleep(self.config.retry_period).await;
                self.try_acquire_or_renew(Some(deadline)).await
            };
            let outcome = tokio::time::timeout_at(deadline, round).await;
            if Instant::now() >= deadline {
                warn!(identity = %self.config.identity, "renew deadline passed; giving up leadership");
                return;
            }
            match outcome {
                Ok(Ok(Round::Leader(sent))) => sent_at = sent,
                Ok(Ok(Round::Follower(_))) => {
                    warn!(identity = %self.config.identity, "lost the lease to another replica");
                    return;
                }
                Ok(Err(e)) => warn!(error = %e, "could not renew the lease"),
                // Only when the deadline lapsed, which returned above.
                Err(_) => {}
            }
        }
    }

    /// Gives the Lease up (on shutdown), so a standby takes over at once.
    pub async fn release(&self) {
        let result = async {
            let Some(mut lease) = self.call(None, self.store.get()).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            self.call(None, self.store.replace(&lease))
                .await
                .map(|_| ())
        }
        .await;
        match result {
            Ok(()) => info!("released the lease"),
            Err(e) => warn!(error = %e, "could not release the lease"),
        }
    }

    /// Runs one API call with the API timeout, cut short at `deadline` when there is one.
    async fn call<T>(
        &self,
        deadline: Option<Instant>,
        call: impl Future<Output = Result<T, LeaseError>>,
    ) -> Result<T, LeaseError> {
        let mut until = Instant::now() + self.config.api_timeout;
        if let Some(deadline) = deadline {
            until = until.min(deadline);
        }
        tokio::time::timeout_at(until, call)
            .await
            .map_err(|_| LeaseError::Timeout)?
    }

    /// Records the version of the Lease just read; returns how long ago (on this replica's
    /// clock) it was first seen in this version.
    fn unchanged_for(&self, lease: &Lease) -> Duration {
        let spec = lease.spec.as_ref();
        let fingerprint = (
            spec.and_then(|s| s.holder_identity.clone()),
            spec.and_then(|s| s.renew_time.clone()),
            lease.metadata.resource_version.clone(),
        );
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.as_ref() {
            Some(s) if s.fingerprint == fingerprint => now - s.since,
            _ => {
                *seen = Some(Seen {
                    fingerprint,
                    since: now,
                });
                Duration::ZERO
            }
        }
    }

    /// One round: whether this replica holds the Lease afterwards. Optimistic concurrency (resourceVersion)
    /// makes two replicas racing for an expired Lease safe.
    async fn try_acquire_or_renew(&self, deadline: Option<Instant>) -> Result<Round, LeaseError> {
        let now = MicroTime(Timestamp::now());
        let me = self.config.identity.clone();
        // Rounded up: rounding down would let others take the Lease before it ends here.
        let secs = self.config.lease_duration.as_secs_f64().ceil().max(1.0);
        let duration = i32::try_from(secs as i64).unwrap_or(i32::MAX);
        let Some(mut lease) = self.call(deadline, self.store.get()).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            let sent_at = Instant::now();
            return match self.call(deadline, self.store.create(&lease)).await {
                Ok(_) => Ok(Round::Leader(sent_at)),
                Err(LeaseError::Conflict) => Ok(Round::Follower(None)),
                Err(e) => Err(e),
            };
        };
        let unchanged_for = self.unchanged_for(&lease);
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        match holder {
            Some(h) if h == me => {}
            Some(other) if unchanged_for < self.foreign_duration(spec) => {
                debug!(holder = %other, "lease held by another replica");
                let left = self.foreign_duration(spec) - unchanged_for;
                return Ok(Round::Follower(Some(left)));
            }
            _ => {
                spec.holder_identity = Some(me);
                spec.acquire_time = Some(now.clone());
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(duration);
        let sent_at = Instant::now();
        match self.call(deadline, self.store.replace(&lease)).await {
            Ok(_) => Ok(Round::Leader(sent_at)),
            Err(LeaseError::Conflict) => Ok(Round::Follower(None)),
            Err(e) => Err(e),
        }
    }

    /// How long another holder's Lease stays valid without a change: its own
    /// leaseDurationSeconds, or this replica's lease duration when it has none.
    fn foreign_duration(&self, spec: &LeaseSpec) -> Duration {
        spec.lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(self.config.lease_duration)
    }
}

#[cfg(test)]
mod lease_tests;
