//! Shared fixtures of the real-cluster tier: the environment hack/e2e.sh prepares, a
//! namespace + simulator tenant per test ([`World`]), and helpers by what they do:
//!
//! - [`objects`]: ChatGroups (built with `cams_operator::fixtures::ChatGroupBuilder`),
//!   Secrets and namespaces, and reading a ChatGroup's conditions;
//! - [`operator`]: the operator binary as a child process, its log and endpoints;
//! - [`simulator`]: the simulator's admin API (through its typed client) and its call log;
//! - [`waiting`]: polling until an object, the call log or the cluster reaches a state.

mod objects;
mod operator;
mod simulator;
mod waiting;

use std::path::PathBuf;

use cams_simulator::SimulatorClient;
use kube::Client;

pub use objects::{condition, is_ready, reason, SECRET};
pub use operator::{replica_user_agent, Operator};
pub use simulator::{call_group, call_time, max_in_window};
pub use waiting::Deadline;

/// What hack/e2e.sh set up.
pub struct Env {
    pub simulator: String,
    pub operator_bin: PathBuf,
    pub work: PathBuf,
    pub kubectl: PathBuf,
}

/// An environment variable hack/e2e.sh sets; panics naming it when it is missing.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the e2e tier with `make e2e` (hack/e2e.sh)")
    })
}

impl Env {
    pub fn get() -> Env {
        Env {
            simulator: var("CAMS_E2E_SIMULATOR_URL"),
            operator_bin: PathBuf::from(var("CAMS_E2E_OPERATOR_BIN")),
            work: PathBuf::from(var("CAMS_E2E_WORK")),
            kubectl: PathBuf::from(var("KUBECTL")),
        }
    }
}

/// One test's world: a fresh namespace, a simulator tenant (CustSpaceId) and access key, and
/// a Secret [`SECRET`] holding that key.
pub struct World {
    pub env: Env,
    pub client: Client,
    pub ns: String,
    pub tenant: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub http: reqwest::Client,
    /// The simulator's admin API.
    pub sim: SimulatorClient,
}

impl World {
    pub async fn new(prefix: &str) -> World {
        let env = Env::get();
        let client = Client::try_default()
            .await
            .expect("kube client from KUBECONFIG");
        let suffix = format!("{:06x}", rand::random::<u32>() & 0xffffff);
        let sim = SimulatorClient::new(&env.simulator).expect("simulator admin client");
        let world = World {
            sim,
            env,
            client,
            ns: format!("e2e-{prefix}-{suffix}"),
            tenant: format!("cams-{prefix}-{suffix}"),
            access_key_id: format!("AK-{prefix}-{suffix}"),
            access_key_secret: format!("SK-SECRET-{prefix}-{suffix}"),
            http: reqwest::Client::new(),
        };
        world.create_namespace(&world.ns).await;
        world
            .sim_put_key(&world.access_key_id, &world.access_key_secret, &[])
            .await;
        world
            .create_secret(SECRET, &world.access_key_id, &world.access_key_secret, None)
            .await;
        world
    }

    /// Runs kubectl against the test cluster.
    pub async fn kubectl(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(&self.env.kubectl)
            .args(args)
            .output()
            .await
            .expect("run kubectl")
    }
}
