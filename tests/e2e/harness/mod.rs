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
    /// The simulator's base URL (`CAMS_E2E_SIMULATOR_URL`).
    pub simulator: String,
    /// The operator binary under test (`CAMS_E2E_OPERATOR_BIN`).
    pub operator_bin: PathBuf,
    /// The run's scratch folder, for logs and manifests (`CAMS_E2E_WORK`).
    pub work: PathBuf,
    /// kubectl, configured for the test cluster (`KUBECTL`).
    pub kubectl: PathBuf,
}

/// An environment variable hack/e2e.sh sets; panics naming it when it is missing.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the e2e tier with `make e2e` (hack/e2e.sh)")
    })
}

impl Env {
    /// Reads the environment; panics when the tier was not started by hack/e2e.sh.
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
    /// An admin client of the test cluster (KUBECONFIG).
    pub client: Client,
    /// This test's namespace.
    pub ns: String,
    /// This test's simulator tenant (CustSpaceId).
    pub tenant: String,
    /// The access key the simulator knows and [`SECRET`] holds.
    pub access_key_id: String,
    pub access_key_secret: String,
    /// A plain HTTP client (the operator's /metrics and probes).
    pub http: reqwest::Client,
    /// The simulator's admin API.
    pub sim: SimulatorClient,
}

impl World {
    /// A world whose names start with `prefix` and end with a random suffix: its namespace,
    /// its key in the simulator, and the Secret holding it.
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
