//! kstatus — the rules Flux, kpt and cli-utils use to decide whether a resource has
//! reconciled — on real ChatGroups written by the operator: a Ready one is Current, one the
//! operator is retrying is InProgress, a Stalled one is Failed. The rules run in
//! hack/kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, pinned), built by hack/e2e.sh.

use std::time::Duration;

use cams_simulator::FaultConfig;
use kube::api::ListParams;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::harness::{condition, World};

/// kstatus's answer for each object: name -> (status, message).
async fn kstatus(objects: &[Value]) -> Vec<(String, String, String)> {
    let bin = std::env::var("CAMS_E2E_KSTATUS")
        .expect("CAMS_E2E_KSTATUS is not set: run `make e2e` (hack/e2e.sh)");
    let mut child = tokio::process::Command::new(bin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run kstatus");
    let mut stdin = child.stdin.take().unwrap();
    for obj in objects {
        stdin
            .write_all(serde_json::to_string(obj).unwrap().as_bytes())
            .await
            .unwrap();
        stdin.write_all(b"\n").await.unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().await.expect("kstatus output");
    assert!(out.status.success(), "kstatus failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("kstatus JSON line");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("status"), s("message"))
        })
        .collect()
}

#[tokio::test]
async fn kstatus_reads_ready_retrying_and_stalled() {
    let world = World::new("kstatus").await;
    let mut operator = world.operator(&["--retry-base", "30s"]);

    // Ready: the group exists, CAMS accepts.
    world
        .create_group("ready", "EA303READY", |b| b.subject(Some("Ready")))
        .await;
    world.wait_ready("ready").await;

    // Stalled: CAMS does not know the group (InvalidParameter.GroupNotExist -> InvalidSpec).
    world
        .create_group("stalled", "EA303KNOWN", |b| b.group_id("EA303MISSING"))
        .await;
    world
        .wait_for("stalled", "Stalled", Duration::from_secs(30), |o| {
            condition(o, "Stalled").as_deref() == Some("True")
        })
        .await;

    // Retrying: every call of this tenant now answers InternalError (-> ReconcileError).
    world
        .set_faults(FaultConfig {
            error_rates: [("InternalError".to_string(), 1.0)].into(),
            ..FaultConfig::default()
        })
        .await;
    world
        .create_group("retrying", "EA303RETRY", |b| b.subject(Some("Retry")))
        .await;
    world
        .wait_reason("retrying", "Synced", "ReconcileError")
        .await;

    let list = world
        .chatgroups()
        .list(&ListParams::default())
        .await
        .expect("list ChatGroups");
    let objects: Vec<Value> = list
        .items
        .iter()
        .map(|o| {
            let mut v = serde_json::to_value(o).unwrap();
            v["apiVersion"] = json!("cams.dev/v1alpha1");
            v["kind"] = json!("ChatGroup");
            v
        })
        .collect();
    let mut got = kstatus(&objects).await;
    got.sort();
    eprintln!("kstatus: {got:#?}");
    let statuses: Vec<(&str, &str)> = got
        .iter()
        .map(|(n, s, _)| (n.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("ready", "Current"),
            ("retrying", "InProgress"),
            ("stalled", "Failed"),
        ],
        "{objects:#?}"
    );
    let stalled_message = &got.iter().find(|g| g.0 == "stalled").unwrap().2;
    assert!(
        stalled_message.contains("GroupNotExist"),
        "kstatus shows the Stalled message: {stalled_message}"
    );

    world.set_faults(FaultConfig::default()).await;
    operator.stop().await;
}
