//! Shared fixtures of the real-cluster tier: the environment hack/e2e.sh prepares, a
//! namespace + simulator tenant per test, the operator binary as a child process, and the
//! simulator's admin API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cams_operator::resource::ChatGroup;
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
        let world = World {
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
        self.sim_post(
            "/admin/groups",
            json!({"groups": [{
                "custSpaceId": self.tenant, "businessNumber": "8613800001234", "groupId": group_id
            }]}),
        )
        .await;
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
        self.sim_send(
            reqwest::Method::PUT,
            &format!("/admin/access-keys/{id}"),
            json!({"accessKeySecret": secret, "securityTokens": tokens}),
        )
        .await;
    }

    pub async fn sim_post(&self, path: &str, body: Value) -> Value {
        self.sim_send(reqwest::Method::POST, path, body).await
    }

    async fn sim_send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.env.simulator);
        let reply = self
            .http
            .request(method, &url)
            .json(&body)
            .send()
            .await
            .expect("simulator admin call");
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "simulator {path}: HTTP {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The simulator's log of this tenant's calls of `action`.
    pub async fn calls(&self, action: &str) -> Vec<Value> {
        let url = format!(
            "{}/admin/calls?custSpaceId={}&action={action}",
            self.env.simulator, self.tenant
        );
        let v: Value = self
            .http
            .get(&url)
            .send()
            .await
            .expect("calls")
            .json()
            .await
            .expect("calls JSON");
        let list = v.get("calls").cloned().unwrap_or(v);
        list.as_array().cloned().unwrap_or_default()
    }

    /// Waits until the simulator has logged exactly `n` calls of `action` (failing early if
    /// there are more), then checks the count stays at `n` for `settle`.
    pub async fn expect_calls(&self, action: &str, n: usize, settle: Duration) -> Vec<Value> {
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
        let log = world.env.work.join(format!(
            "{}-operator-{:04x}.log",
            world.ns,
            rand::random::<u16>()
        ));
        let file = std::fs::File::create(&log).expect("operator log file");
        let mut cmd = tokio::process::Command::new(&world.env.operator_bin);
        cmd.arg("run")
            .arg("--namespaces")
            .arg(&world.ns)
            .arg("--endpoint")
            .arg(&world.env.simulator)
            .arg("--replica-id")
            .arg(format!("e2e-{}", world.ns))
            .arg("--log-format")
            .arg("json")
            .args(extra)
            .env("RUST_LOG", "info,cams_operator=debug")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        let child = cmd.spawn().expect("start cams-operator");
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
