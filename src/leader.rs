//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder reconciles (calls
//! CAMS, writes status). kube has no leader election of its own, so this is a small Lease
//! loop: acquire, renew every retry period, give up when renewal fails past the deadline.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
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
    /// Give up leadership when renewals fail for this long.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
    /// Timeout of each API call.
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
}

/// Acquires, holds and releases the Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl LeaderElector {
    /// An elector for `config`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        let mut announced = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(identity = %self.config.identity, lease = %self.config.name, "became leader");
                    return;
                }
                Ok(false) => {
                    if !announced {
                        info!(identity = %self.config.identity, "another replica holds the lease; standing by");
                        announced = true;
                    }
                }
                Err(e) => warn!(error = %e, "could not acquire the lease"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews the Lease every retry period; returns when leadership is lost (another holder,
    /// or no successful renewal within the renew deadline).
    pub async fn hold(&self) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!(identity = %self.config.identity, "lost the lease to another replica");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "could not renew the lease");
                    if last_renewal.elapsed() >= self.config.renew_deadline {
                        warn!("renew deadline passed; giving up leadership");
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up (on shutdown), so a standby takes over at once.
    pub async fn release(&self) {
        let result = async {
            let Some(mut lease) = self.get().await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            self.replace(&lease).await.map(|_| ())
        }
        .await;
        match result {
            Ok(()) => info!("released the lease"),
            Err(e) => warn!(error = %e, "could not release the lease"),
        }
    }

    async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        tokio::time::timeout(self.config.api_timeout, self.api.get_opt(&self.config.name))
            .await
            .map_err(|_| LeaseError::Timeout)?
            .map_err(LeaseError::from)
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        tokio::time::timeout(
            self.config.api_timeout,
            self.api
                .replace(&self.config.name, &PostParams::default(), lease),
        )
        .await
        .map_err(|_| LeaseError::Timeout)?
        .map_err(LeaseError::from)
    }

    /// One round: true when this replica holds the Lease afterwards. Optimistic concurrency
    /// (resourceVersion) makes two replicas racing for an expired Lease safe.
    async fn try_acquire_or_renew(&self) -> Result<bool, LeaseError> {
        let now = Timestamp::now();
        let me = self.config.identity.clone();
        let duration = self.config.lease_duration.as_secs().max(1) as i32;
        let Some(mut lease) = self.get().await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            let created = tokio::time::timeout(
                self.config.api_timeout,
                self.api.create(&PostParams::default(), &lease),
            )
            .await
            .map_err(|_| LeaseError::Timeout)?;
            return match created {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e.into()),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
            // Compared in milliseconds: whole seconds would add up to 1 s to every failover.
            (Some(MicroTime(renewed)), Some(secs)) => {
                now.as_millisecond() > renewed.as_millisecond() + i64::from(secs) * 1000
            }
            _ => true,
        };
        match holder {
            Some(h) if h == me => {}
            Some(other) if !expired => {
                debug!(holder = %other, "lease held by another replica");
                return Ok(false);
            }
            _ => {
                spec.holder_identity = Some(me);
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(duration);
        match self.replace(&lease).await {
            Ok(_) => Ok(true),
            Err(LeaseError::Kube(kube::Error::Api(e))) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}
