//! Shared fixtures of the real-cluster tier: the environment hack/e2e.sh prepares, a
//! namespace + simulator tenant per test, the operator binary as a child process, and the
//! simulator's admin API (through its typed client).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cams_operator::resource::ChatGroup;
use cams_simulator::{
    AccessKeySpec, CallEntry, CallQuery, FaultConfig, GroupSeed, SimulatorClient,
};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::{json, Value};

/// What hack/e2e.sh set up.
pub struct Env {
    pub simulator: String,
    pub operator_bin: PathBuf,
    pub work: PathBuf,
    pub kubectl: PathBuf,
}

fn var(name: &str) -> String {
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
/// a Secret holding that key.
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
        let ns = format!("e2e-{prefix}-{suffix}");
        let tenant = format!("cams-{prefix}-{suffix}");
        let access_key_id = format!("AK-{prefix}-{suffix}");
        let access_key_secret = format!("SK-SECRET-{prefix}-{suffix}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .expect("create namespace");
        let sim = SimulatorClient::new(&env.simulator).expect("simulator admin client");
        let world = World {
            sim,
            env,
            client,
            ns,
            tenant,
            access_key_id,
            access_key_secret,
            http: reqwest::Client::new(),
        };
        world
            .sim_put_key(&world.access_key_id, &world.access_key_secret, &[])
            .await;
        world
            .create_secret(
                "cams-credentials",
                &world.access_key_id,
                &world.access_key_secret,
                None,
            )
            .await;
        world
    }

    pub fn chatgroups(&self) -> Api<ChatGroup> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create_secret(&self, name: &str, id: &str, secret: &str, token: Option<&str>) {
        let mut data = json!({"accessKeyId": id, "accessKeySecret": secret});
        if let Some(token) = token {
            data["securityToken"] = json!(token);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        let obj: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
                .unwrap();
        api.create(&PostParams::default(), &obj)
            .await
            .expect("create secret");
    }

    /// Seeds a group in this test's tenant and returns a ChatGroup manifest for it.
    pub async fn group(&self, name: &str, group_id: &str, spec_extra: Value) -> ChatGroup {
        self.sim
            .add_groups(&[GroupSeed::new(&self.tenant, "8613800001234", group_id)])
            .await
            .expect("seed a simulator group");
        self.manifest(name, group_id, &spec_extra)
    }

    /// A ChatGroup manifest for a group of this test's tenant, using its Secret, with
    /// `spec_extra` merged into the spec.
    pub fn manifest(&self, name: &str, group_id: &str, spec_extra: &Value) -> ChatGroup {
        let mut spec = json!({
            "businessNumber": "8613800001234",
            "custSpaceId": self.tenant,
            "groupId": group_id,
            "credentialsSecretRef": {"name": "cams-credentials"},
        });
        if let (Some(base), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(json!({
            "apiVersion": "cams.dev/v1alpha1", "kind": "ChatGroup",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        }))
        .expect("valid ChatGroup")
    }

    pub async fn create(&self, cg: &ChatGroup) -> ChatGroup {
        self.chatgroups()
            .create(&PostParams::default(), cg)
            .await
            .expect("create ChatGroup")
    }

    pub async fn get(&self, name: &str) -> ChatGroup {
        self.chatgroups().get(name).await.expect("get ChatGroup")
    }

    /// Polls until `check` holds for the object, or panics with the last state.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&ChatGroup) -> bool,
    ) -> ChatGroup {
        let deadline = Instant::now() + timeout;
        loop {
            let obj = self.get(name).await;
            if check(&obj) {
                return obj;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {name} to be {what}; last status: {:#?}",
                    obj.status
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_ready(&self, name: &str) -> ChatGroup {
        self.wait_for(name, "Ready", Duration::from_secs(60), |o| {
            condition(o, "Ready").as_deref() == Some("True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        })
        .await
    }

    pub async fn sim_put_key(&self, id: &str, secret: &str, tokens: &[&str]) {
        let spec = AccessKeySpec::new(secret).with_tokens(tokens.iter().copied());
        self.sim
            .put_access_key(id, &spec)
            .await
            .expect("simulator admin call");
    }

    /// The simulator's log of this tenant's calls of `action`.
    pub async fn calls(&self, action: &str) -> Vec<CallEntry> {
        self.sim
            .calls(&CallQuery::tenant(&self.tenant).action(action))
            .await
            .expect("simulator call log")
    }

    /// Waits until the simulator has logged exactly `n` calls of `action` (failing early if
    /// there are more), then checks the count stays at `n` for `settle`.
    pub async fn expect_calls(&self, action: &str, n: usize, settle: Duration) -> Vec<CallEntry> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls(action).await;
            assert!(
                calls.len() <= n,
                "expected {n} {action} calls, saw {}: {calls:#?}",
                calls.len()
            );
            if calls.len() == n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} {action} calls, saw {}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(settle).await;
        let calls = self.calls(action).await;
        assert_eq!(
            calls.len(),
            n,
            "{action} calls changed after settling: {calls:#?}"
        );
        calls
    }

    pub fn operator(&self, extra: &[&str]) -> Operator {
        Operator::start(self, extra)
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

/// The status of a condition.
pub fn condition(obj: &ChatGroup, type_: &str) -> Option<String> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

/// The reason of a condition.
pub fn reason(obj: &ChatGroup, type_: &str) -> Option<String> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.reason.clone())
}

/// The operator binary, scoped to one namespace, as a child process.
pub struct Operator {
    child: Option<tokio::process::Child>,
    pub log: PathBuf,
}

impl Operator {
    fn start(world: &World, extra: &[&str]) -> Operator {
        Self::spawn(world, &format!("e2e-{}", world.ns), &world.ns, extra, &[])
    }

    /// The one place the operator binary is started: against this run's simulator, with
    /// JSON logs into a file under the work folder, and the operator's own credentials
    /// removed from the environment (tests pass them in `env` when they want them).
    fn spawn(
        world: &World,
        replica_id: &str,
        namespaces: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let log = world.env.work.join(format!(
            "{}-operator-{replica_id}-{:04x}.log",
            world.ns,
            rand::random::<u16>()
        ));
        let file = std::fs::File::create(&log).expect("operator log file");
        let child = tokio::process::Command::new(&world.env.operator_bin)
            .arg("run")
            .args(["--namespaces", namespaces])
            .args(["--endpoint", &world.env.simulator])
            .args(["--replica-id", replica_id])
            .args(["--log-format", "json"])
            // Many operators share this machine: let each bind free loopback ports (the
            // bound addresses are logged as "serving metrics on ADDR").
            .args([
                "--metrics-addr",
                "127.0.0.1:0",
                "--health-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("RUST_LOG", "info,cams_operator=debug")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("start cams-operator");
        Operator {
            child: Some(child),
            log,
        }
    }

    /// SIGTERM and wait for exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------
// Helpers of the production tests (leader election, rotation, annotations, conflict).

impl World {
    /// Starts the operator as replica `replica_id`, watching `namespaces` (this test's own
    /// when empty), with `extra` flags. (`--replica-id` and `--namespaces` cannot be given
    /// twice, so [`World::operator`] cannot override them.)
    pub fn operator_with(&self, replica_id: &str, namespaces: &[&str], extra: &[&str]) -> Operator {
        let namespaces = if namespaces.is_empty() {
            self.ns.clone()
        } else {
            namespaces.join(",")
        };
        Operator::spawn(self, replica_id, &namespaces, extra, &[])
    }

    /// Creates a second namespace `<ns>-<suffix>` for this test, with a Secret
    /// `cams-credentials` holding this test's key, and returns its name.
    pub async fn extra_namespace(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.ns);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            )
            .await
            .expect("create namespace");
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &name);
        let obj: Secret = serde_json::from_value(json!({
            "metadata": {"name": "cams-credentials"},
            "stringData": {"accessKeyId": self.access_key_id, "accessKeySecret": self.access_key_secret},
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &obj)
            .await
            .expect("create secret");
        name
    }

    /// Revokes an access key in the simulator (its calls then answer
    /// `InvalidAccessKeyId.NotFound`).
    pub async fn sim_revoke_key(&self, id: &str) {
        self.sim
            .revoke_access_key(id)
            .await
            .expect("simulator admin call");
    }

    /// Replaces the data of a Secret in this test's namespace (merge patch of `stringData`;
    /// other keys stay).
    pub async fn patch_secret_data(&self, name: &str, string_data: Value) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        api.patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"stringData": string_data})),
        )
        .await
        .expect("patch secret");
    }

    /// Merge-patches a ChatGroup in this test's namespace (metadata and/or spec).
    pub async fn patch(&self, name: &str, patch: Value) -> ChatGroup {
        self.chatgroups()
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await
            .expect("patch ChatGroup")
    }

    /// This tenant's `action` calls of one group.
    pub async fn calls_for_group(&self, action: &str, group_id: &str) -> Vec<CallEntry> {
        self.calls(action)
            .await
            .into_iter()
            .filter(|c| c.param("GroupId") == Some(group_id))
            .collect()
    }

    /// Waits until the simulator has logged at least `n` calls of `action` matching `pick`;
    /// returns them.
    pub async fn wait_calls(
        &self,
        action: &str,
        n: usize,
        timeout: Duration,
        pick: impl Fn(&CallEntry) -> bool,
    ) -> Vec<CallEntry> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls: Vec<CallEntry> = self
                .calls(action)
                .await
                .into_iter()
                .filter(|c| pick(c))
                .collect();
            if calls.len() >= n {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} matching {action} calls within {timeout:?}, saw {}: {calls:#?}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The User-Agent the operator sends as `replica`.
pub fn replica_user_agent(replica: &str) -> String {
    cams_operator::commands::user_agent(replica)
}

impl Operator {
    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        let pid = self.pid().expect("operator is running");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Waits up to `timeout` for the process to exit; its exit status, or None if it still
    /// runs.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(timeout, child.wait()).await.ok()?;
        self.child = None;
        Some(status.expect("wait for the operator"))
    }

    /// Waits until the operator's log contains `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.logs().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the operator did not log {needle:?} within {timeout:?}; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ---- Helpers of the production tier (faults, call log, bulk objects, SIGKILL) ----

/// When the simulator saw a logged call arrive (millisecond resolution).
pub fn call_time(call: &CallEntry) -> chrono::DateTime<chrono::Utc> {
    call.arrived_at().expect("call time is RFC 3339")
}

/// The GroupId a logged call named.
pub fn call_group(call: &CallEntry) -> String {
    call.param("GroupId").unwrap_or_default().to_string()
}

/// The largest number of calls inside any closed window `[t, t + window]`, and where it
/// starts: a two-pointer sweep over the sorted arrival times.
pub fn max_in_window(
    times: &[chrono::DateTime<chrono::Utc>],
    window: chrono::Duration,
) -> (usize, Option<chrono::DateTime<chrono::Utc>>) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let (mut best, mut at, mut end) = (0, None, 0);
    for start in 0..sorted.len() {
        while end < sorted.len() && sorted[end] - sorted[start] <= window {
            end += 1;
        }
        if end - start > best {
            best = end - start;
            at = Some(sorted[start]);
        }
    }
    (best, at)
}

impl World {
    /// Replaces this world's tenant's fault settings in the simulator (a PUT replaces the
    /// whole setting; `FaultConfig::default()` means no fault).
    pub async fn set_faults(&self, faults: FaultConfig) -> FaultConfig {
        self.sim
            .set_tenant_faults(&self.tenant, &faults)
            .await
            .expect("simulator fault settings")
    }

    /// This tenant's logged calls of `action` with a sequence number above `since`, oldest
    /// first, every page.
    pub async fn calls_since(&self, action: &str, since: u64) -> Vec<CallEntry> {
        let query = CallQuery::tenant(&self.tenant)
            .action(action)
            .since(since)
            .limit(10_000);
        self.sim.calls(&query).await.expect("simulator call log")
    }

    /// `n` groups seeded in the simulator with one admin call, and their ChatGroup manifests
    /// `{prefix}-{i:04}` naming GroupId `{base}{i:04}` (digits; `base` a number).
    pub async fn groups(
        &self,
        prefix: &str,
        base: u64,
        n: usize,
        spec_extra: Value,
    ) -> Vec<ChatGroup> {
        let ids: Vec<String> = (0..n).map(|i| format!("{base}{i:04}")).collect();
        let seeds: Vec<GroupSeed> = ids
            .iter()
            .map(|id| GroupSeed::new(&self.tenant, "8613800001234", id))
            .collect();
        self.sim
            .add_groups(&seeds)
            .await
            .expect("seed simulator groups");
        ids.iter()
            .enumerate()
            .map(|(i, id)| self.manifest(&format!("{prefix}-{i:04}"), id, &spec_extra))
            .collect()
    }

    /// Creates the objects concurrently through the API, `parallel` requests at a time.
    pub async fn create_all(&self, objs: &[ChatGroup], parallel: usize) {
        use futures::StreamExt;
        let api = self.chatgroups();
        futures::stream::iter(objs.iter().cloned())
            .map(|cg| {
                let api = api.clone();
                async move {
                    api.create(&PostParams::default(), &cg)
                        .await
                        .expect("create ChatGroup")
                }
            })
            .buffer_unordered(parallel.max(1))
            .collect::<Vec<_>>()
            .await;
    }

    /// How many of this namespace's ChatGroups are Ready at their current generation, and
    /// the total (one list call).
    pub async fn count_ready(&self) -> (usize, usize) {
        let list = self
            .chatgroups()
            .list(&kube::api::ListParams::default())
            .await
            .expect("list ChatGroups");
        let ready = list
            .items
            .iter()
            .filter(|o| {
                condition(o, "Ready").as_deref() == Some("True")
                    && o.status.as_ref().and_then(|s| s.observed_generation)
                        == o.metadata.generation
            })
            .count();
        (ready, list.items.len())
    }

    /// Polls until all `n` ChatGroups of the namespace are Ready at their generation; panics
    /// after `timeout` naming some that are not, with their Synced reason.
    pub async fn wait_all_ready(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (ready, total) = self.count_ready().await;
            if ready == n && total == n {
                return;
            }
            if Instant::now() > deadline {
                let list = self
                    .chatgroups()
                    .list(&kube::api::ListParams::default())
                    .await
                    .expect("list ChatGroups");
                let stuck: Vec<String> = list
                    .items
                    .iter()
                    .filter(|o| condition(o, "Ready").as_deref() != Some("True"))
                    .take(5)
                    .map(|o| {
                        format!(
                            "{}: {:?} {:?}",
                            o.metadata.name.as_deref().unwrap_or(""),
                            reason(o, "Synced"),
                            o.status.as_ref().map(|s| &s.retry)
                        )
                    })
                    .collect();
                panic!("{ready}/{n} Ready (of {total}) after {timeout:?}; e.g. {stuck:#?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Operator {
    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Whether the process is still running (it has not exited).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL (no grace, no lease release), then reaps the process.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl World {
    /// Starts the operator with extra environment variables (e.g. the RRSA role variables).
    pub fn operator_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Operator {
        Operator::spawn(self, &format!("e2e-{}", self.ns), &self.ns, extra, env)
    }

    /// All simulator calls of `action` (any tenant) with a sequence number above `since`.
    pub async fn all_calls_since(&self, action: &str, since: u64) -> Vec<CallEntry> {
        let query = CallQuery::default().action(action).since(since);
        self.sim.calls(&query).await.expect("simulator call log")
    }

    /// The simulator's last call sequence number (any tenant), to mark a point before a step.
    pub async fn last_seq(&self) -> u64 {
        self.sim.last_seq().await.expect("simulator call log")
    }
}
