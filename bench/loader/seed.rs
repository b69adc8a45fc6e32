//! `seed`: the simulator's groups and the tenant's latency and token bucket.

use anyhow::Context as _;
use cams_operator::fixtures::BUSINESS_NUMBER;
use cams_simulator::{FaultConfig, GroupSeed, QpsLimit, SimulatorClient};
use clap::Args;

use crate::load::group_id;
use crate::say;

#[derive(Args)]
pub struct SeedArgs {
    #[arg(long)]
    sim: String,
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    count: usize,
    /// Latency added to every call of the tenant.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The tenant's token bucket rate (none: unlimited).
    #[arg(long)]
    bucket_rate: Option<f64>,
    /// The tenant's token bucket size.
    #[arg(long)]
    bucket_burst: Option<u32>,
}

/// Sets the tenant's faults, then adds its `count` groups, 1,000 per admin call.
pub async fn seed(a: SeedArgs) -> anyhow::Result<()> {
    let sim = SimulatorClient::new(&a.sim)?;
    let faults = FaultConfig {
        latency_ms: a.latency_ms,
        qps: a.bucket_rate.map(|rate| QpsLimit {
            rate,
            burst: Some(f64::from(a.bucket_burst.unwrap_or(rate.ceil() as u32))),
        }),
        ..FaultConfig::default()
    };
    sim.set_tenant_faults(&a.tenant, &faults)
        .await
        .context("setting faults")?;
    let ids: Vec<usize> = (0..a.count).collect();
    for chunk in ids.chunks(1000) {
        let groups: Vec<GroupSeed> = chunk
            .iter()
            .map(|i| {
                GroupSeed::new(&a.tenant, BUSINESS_NUMBER, group_id(*i))
                    .with_subject("before the bench")
            })
            .collect();
        sim.add_groups(&groups).await.context("adding groups")?;
    }
    say(format!(
        "simulator tenant {}: {} groups, faults {}",
        a.tenant,
        a.count,
        serde_json::to_string(&faults)?
    ));
    Ok(())
}
