//! The operator binary as a child process of a test: starting it (the one place that builds
//! its command line), signals, its log file and the addresses it serves on.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::{Deadline, World};

/// The operator binary as a child process.
pub struct Operator {
    child: Option<tokio::process::Child>,
    /// Its log file (stderr).
    pub log: PathBuf,
}

impl World {
    /// Starts the operator on this test's namespace, with `extra` flags.
    pub fn operator(&self, extra: &[&str]) -> Operator {
        self.operator_with_env(extra, &[])
    }

    /// Starts the operator with extra environment variables (e.g. the RRSA role variables).
    pub fn operator_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Operator {
        Operator::spawn(self, &format!("e2e-{}", self.ns), &self.ns, extra, env)
    }

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

    /// The text of an operator's `/metrics` at `addr`.
    pub async fn scrape(&self, addr: &str) -> String {
        self.http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("scrape /metrics")
            .text()
            .await
            .expect("/metrics body")
    }
}

/// The User-Agent the operator sends as `replica`.
pub fn replica_user_agent(replica: &str) -> String {
    cams_operator::commands::user_agent(replica)
}

/// SIGTERM to `pid`, without waiting.
fn sigterm(pid: u32) -> std::io::Result<std::process::ExitStatus> {
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
}

/// Observation at test speed unless a test sets its own: a scan a second after a write at
/// most, a periodic scan every 30 s, and a 3 s settle window (the simulator applies updates
/// at once unless told otherwise).
fn observation_defaults(extra: &[&str]) -> Vec<&'static str> {
    [
        ("--observe-interval", "30s"),
        ("--observe-min-interval", "1s"),
        ("--settle", "3s"),
    ]
    .into_iter()
    .filter(|(flag, _)| !extra.iter().any(|e| e.starts_with(flag)))
    .flat_map(|(flag, value)| [flag, value])
    .collect()
}

impl Operator {
    /// The one place the operator binary is started by [`World`]: against this run's
    /// simulator, with JSON logs, and the operator's own credentials removed from the
    /// environment (tests pass them in `env` when they want them).
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
        let mut cmd = tokio::process::Command::new(&world.env.operator_bin);
        cmd.arg("run")
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
            .args(observation_defaults(extra))
            .args(extra)
            .env("RUST_LOG", "info,cams_operator=debug")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .envs(env.iter().copied());
        Operator::launch(cmd, log)
    }

    /// Spawns `cmd` (an operator command line) with its stderr into the file `log`, killed
    /// when dropped.
    pub fn launch(mut cmd: tokio::process::Command, log: PathBuf) -> Operator {
        let file = std::fs::File::create(&log).expect("operator log file");
        let child = cmd
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

    /// SIGTERM and wait for exit (SIGKILL after 15 s).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = sigterm(pid);
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        let pid = self.pid().expect("operator is running");
        let status = sigterm(pid).expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// SIGKILL (no grace, no lease release), then reaps the process.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Waits up to `timeout` for the process to exit; its exit status, or None if it still
    /// runs.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(timeout, child.wait()).await.ok()?;
        self.child = None;
        Some(status.expect("wait for the operator"))
    }

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

    /// What the operator logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the operator's log contains `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Deadline::after(timeout, Duration::from_millis(50));
        while !self.logs().contains(needle) {
            deadline
                .tick(|| {
                    format!(
                        "the operator did not log {needle:?} within {timeout:?}; log:\n{}",
                        self.logs()
                    )
                })
                .await;
        }
    }

    /// The address the operator logged as "serving {what} on ADDR" (`what`: metrics or
    /// health), waiting up to 30 s for it; panics if the operator exits first.
    pub async fn bound_addr(&mut self, what: &str) -> String {
        let needle = format!("serving {what} on ");
        let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(100));
        loop {
            let logs = self.logs();
            if let Some((_, rest)) = logs.split_once(&needle) {
                let addr = rest.split(|c: char| c == '"' || c.is_whitespace()).next();
                return addr.unwrap_or_default().to_string();
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("the operator exited ({status}) before serving {what}:\n{logs}");
            }
            deadline
                .tick(|| format!("the operator did not log {needle:?}:\n{logs}"))
                .await;
        }
    }
}
