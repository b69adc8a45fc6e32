//! `cams-operator export` as a process against the simulator binary (also a process): 260
//! groups listed over several pages in both signature schemes, one manifest per group, and
//! a one-line failure with nothing on stdout. Needs the simulator built next to the operator
//! (`cargo build --workspace --bins`) or `CAMS_SIMULATOR_BIN`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cams_operator::resource::{ChatGroup, ManagementPolicy};
use serde_json::{json, Value};

const TENANT: &str = "cams-export";
const BUSINESS_NUMBER: &str = "8613800001234";
const ACCESS_KEY: &str = "AK-export";
const SECRET: &str = "export-secret-value";
const GROUPS: usize = 260;

/// The simulator binary, stopped (by its own pid) when dropped.
struct Simulator {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn simulator_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CAMS_SIMULATOR_BIN") {
        return bin.into();
    }
    // The workspace builds both binaries into the same folder.
    let operator = PathBuf::from(env!("CARGO_BIN_EXE_cams-operator"));
    operator.with_file_name("cams-simulator")
}

impl Simulator {
    fn start() -> Self {
        let bin = simulator_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build --workspace --bins` (or set CAMS_SIMULATOR_BIN)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--port-file"])
            .arg(&port_file)
            .arg(format!("--access-key={ACCESS_KEY}:{SECRET}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting cams-simulator");
        let started = Instant::now();
        let port = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                if !port.is_empty() {
                    break port;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the simulator wrote no port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request =
            reqwest::Client::new().request(method, format!("{}/admin/{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("simulator admin call");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }
}

impl Simulator {
    /// The `Page` of every ListChatGroup call of the tenant, each answered OK.
    async fn listed_pages(&self) -> Vec<String> {
        let path = format!("calls?custSpaceId={TENANT}&action=ListChatGroup");
        let calls = self.admin(reqwest::Method::GET, &path, None).await;
        calls["calls"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|c| assert_eq!(c["code"], "OK", "{c}"))
            .filter_map(|c| c["params"]["Page"].as_str().map(str::to_string))
            .collect()
    }
}

/// Group `i`: every seventh without a subject, some sharing one, some non-ASCII; a
/// description on even groups (empty on every tenth), a picture and an invite link on some.
fn seed(i: usize) -> Value {
    let mut group = json!({
        "custSpaceId": TENANT,
        "businessNumber": BUSINESS_NUMBER,
        "groupId": format!("EX{i:04}"),
        "inviteLink": format!("https://chat.whatsapp.com/INVITE{i}"),
    });
    let subject = match i % 7 {
        0 => None,
        1 => Some("Shared subject".to_string()),
        2 => Some(format!("Soporte técnico 中文 #{i}")),
        _ => Some(format!("Team {i}: sales & support")),
    };
    if let Some(subject) = subject {
        group["subject"] = json!(subject);
    }
    if i.is_multiple_of(2) {
        group["description"] = json!(if i.is_multiple_of(10) {
            String::new()
        } else {
            format!("Line {i}")
        });
    }
    if i.is_multiple_of(3) {
        group["profilePictureFile"] = json!(format!("https://cdn.example.com/g{i}.jpg"));
    }
    group
}

fn export(sim: &Simulator, secret: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cams-operator"))
        .args([
            "export",
            "--cust-space-id",
            TENANT,
            "--business-number",
            BUSINESS_NUMBER,
            "--endpoint",
            &sim.base,
            "--namespace=team-a",
            "--secret-ref=cams-credentials",
            "--management-policy=Observe",
        ])
        .args(extra)
        // Nothing from the environment this test runs in may change the outcome.
        .env_clear()
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
        .output()
        .expect("running cams-operator export")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn every_group_is_exported_once_over_several_pages_in_both_schemes() {
    let sim = Simulator::start();
    let mut groups: Vec<Value> = (0..GROUPS).map(seed).collect();
    // Another business number and another tenant are not listed.
    groups.push(
        json!({"custSpaceId": TENANT, "businessNumber": "8613900000000", "groupId": "OTHER"}),
    );
    groups.push(
        json!({"custSpaceId": "cams-else", "businessNumber": BUSINESS_NUMBER, "groupId": "ELSE"}),
    );
    sim.admin(
        reqwest::Method::POST,
        "groups",
        Some(json!({ "groups": groups })),
    )
    .await;

    let out = export(&sim, SECRET, &["--page-size=100"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "listed 100/260 groups",
            "listed 200/260 groups",
            "listed 260/260 groups"
        ]
    );
    assert!(!stdout.contains("INVITE") && !stderr.contains(SECRET));

    let objects: Vec<ChatGroup> = serde_saphyr::from_multiple(&stdout).unwrap();
    assert_eq!(objects.len(), GROUPS);
    let ids: Vec<&str> = objects
        .iter()
        .map(|o| o.spec.group_id.as_deref().unwrap_or_default())
        .collect();
    let expected: Vec<String> = (0..GROUPS).map(|i| format!("EX{i:04}")).collect();
    assert_eq!(ids, expected, "one manifest per group, sorted by GroupId");
    let names: HashSet<&str> = objects
        .iter()
        .filter_map(|o| o.metadata.name.as_deref())
        .collect();
    assert_eq!(names.len(), GROUPS, "names are unique");
    for (i, object) in objects.iter().enumerate() {
        check(i, object);
    }

    // Three pages of 100, the signature verified (code OK).
    assert_eq!(
        sim.listed_pages().await,
        [
            r#"{"Index":1,"Size":100}"#,
            r#"{"Index":2,"Size":100}"#,
            r#"{"Index":3,"Size":100}"#
        ]
    );

    // RPC HMAC-SHA1 and another page size give the same stream.
    let again = export(&sim, SECRET, &["--signature=v1", "--page-size=37"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), stdout);
    assert_eq!(
        text(&again.stderr).lines().count(),
        8,
        "{}",
        text(&again.stderr)
    );
}

/// The manifest of seeded group `i`.
fn check(i: usize, object: &ChatGroup) {
    let seeded = seed(i);
    let name = object.metadata.name.as_deref().unwrap();
    assert!(
        name.len() <= 63 && name.ends_with(&format!("ex{i:04}")),
        "{name}"
    );
    assert_eq!(object.metadata.namespace.as_deref(), Some("team-a"));
    let spec = &object.spec;
    assert_eq!(spec.business_number, BUSINESS_NUMBER);
    assert_eq!(spec.cust_space_id, TENANT);
    assert_eq!(spec.subject.as_deref(), seeded["subject"].as_str(), "{i}");
    assert_eq!(
        spec.description.as_deref(),
        seeded["description"].as_str(),
        "{i}"
    );
    assert_eq!(
        spec.profile_picture_url.as_deref(),
        seeded["profilePictureFile"].as_str(),
        "{i}"
    );
    assert_eq!(spec.region, None, "no --region given");
    assert_eq!(
        spec.credentials_secret_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        Some("cams-credentials")
    );
    assert_eq!(spec.management_policy, ManagementPolicy::Observe);
    assert!(object.status.is_none());
    if i.is_multiple_of(7) {
        assert_eq!(name, format!("ex{i:04}"));
    }
    if i % 7 == 1 {
        assert_eq!(name, format!("shared-subject-ex{i:04}"));
    }
}

#[tokio::test]
async fn a_failure_is_one_line_on_stderr_and_nothing_on_stdout() {
    let sim = Simulator::start();
    let out = export(&sim, "not-the-secret", &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "cams-operator: listing page 1 with ListChatGroup: CAMS answered HTTP 400 SignatureDoesNotMatch"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret"), "{stderr}");
}
