//! Seeing the group, against the real API server and the simulator: an edit is Updating until
//! a ListChatGroup scan shows it, an update accepted but never applied and an out-of-band edit
//! are corrected, drift that keeps coming back stalls, a missing or suspended group is never
//! Ready, observe-only never writes, `export` moves an estate into Git, and a refused
//! ListChatGroup falls back to round-1 behaviour.

use std::time::{Duration, Instant};

use cams_operator::fixtures::BUSINESS_NUMBER;
use cams_operator::resource::{ChatGroup, ConditionType, RECONCILE_REQUESTED_AT_ANNOTATION};
use cams_simulator::{
    AccessKeySpec, CallEntry, CallQuery, GroupEdit, GroupSeed, NeverApply, RealismConfig,
    UpdateField,
};
use serde_json::json;

use crate::harness::{condition, reason, Deadline, World};

/// A group's invite link (anyone holding it joins the group) and its secret part.
const INVITE_LINK: &str = "https://chat.whatsapp.com/InviteSecretKx9Q2";
const INVITE_SECRET: &str = "InviteSecretKx9Q2";

/// Scans every 3 s (a forced one 500 ms after a write at most) and a 2 s settle window.
const FAST: [&str; 6] = [
    "--observe-interval",
    "3s",
    "--observe-min-interval",
    "500ms",
    "--settle",
    "2s",
];

async fn edit_group(world: &World, group_id: &str, edit: GroupEdit) {
    world
        .sim
        .edit_group(&world.tenant, BUSINESS_NUMBER, group_id, &edit)
        .await
        .expect("out-of-band edit");
}

/// Every call of this tenant that is not a ListChatGroup: what an observe-only object must
/// never cause.
async fn write_calls(world: &World) -> Vec<CallEntry> {
    let page = world
        .sim
        .calls_page(&CallQuery::tenant(&world.tenant).limit(100_000))
        .await
        .expect("simulator call log");
    page.calls
        .into_iter()
        .filter(|c| c.action.as_deref() != Some("ListChatGroup"))
        .collect()
}

fn in_sync(obj: &ChatGroup) -> Option<String> {
    reason(obj, "InSync")
}

fn in_sync_message(obj: &ChatGroup) -> String {
    obj.status
        .as_ref()
        .and_then(|s| s.message_of(ConditionType::InSync))
        .unwrap_or_default()
        .to_string()
}

/// Waits until `name` is Ready and InSync at its current generation.
async fn wait_in_sync(world: &World, name: &str, timeout: Duration) -> ChatGroup {
    world
        .wait_for(name, "Ready and InSync", timeout, |o| {
            condition(o, "Ready").as_deref() == Some("True")
                && condition(o, "InSync").as_deref() == Some("True")
        })
        .await
}

#[tokio::test]
async fn an_edit_is_updating_until_a_scan_shows_it_then_in_sync_and_ready() {
    let world = World::new("confirm").await;
    world
        .set_realism(RealismConfig {
            update_delay_ms: 4000,
            ..RealismConfig::default()
        })
        .await;
    // A settle window longer than the delay: the delay is "updating", never drift.
    let mut operator = world.operator(&["--observe-min-interval", "500ms", "--settle", "30s"]);
    world
        .create_group("confirm", "EA303CONF", |b| b.subject(Some("First")))
        .await;
    wait_in_sync(&world, "confirm", Duration::from_secs(30)).await;

    world
        .patch("confirm", json!({"spec": {"subject": "Second"}}))
        .await;
    let updating = world
        .wait_for("confirm", "Updating", Duration::from_secs(10), |o| {
            o.metadata.generation == Some(2) && in_sync(o).as_deref() == Some("Updating")
        })
        .await;
    assert_eq!(condition(&updating, "Ready").as_deref(), Some("False"));
    assert_eq!(reason(&updating, "Ready").as_deref(), Some("Updating"));
    assert_eq!(condition(&updating, "Synced").as_deref(), Some("True"));
    let started = Instant::now();
    let done = wait_in_sync(&world, "confirm", Duration::from_secs(20)).await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.observed_generation, Some(2));
    let at_provider = status.at_provider.expect("atProvider");
    assert_eq!(at_provider.subject.as_deref(), Some("Second"));
    assert_eq!(at_provider.group_status.as_deref(), Some("ACTIVE"));
    assert_eq!(status.group_id.as_deref(), Some("EA303CONF"));
    let calls = world.calls("UpdateChatGroup").await;
    assert_eq!(calls.len(), 2, "no correction during the delay: {calls:#?}");
    operator.stop().await;
    println!(
        "edit with a 4 s UPDATING delay: Ready False Updating, then InSync and Ready {:.1}s later, 2 calls",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn an_update_accepted_but_never_applied_is_detected_and_corrected_once() {
    let world = World::new("never").await;
    let mut operator = world.operator(&FAST);
    world
        .create_group("never", "EA303NEVR", |b| b.subject(Some("Before")))
        .await;
    wait_in_sync(&world, "never", Duration::from_secs(30)).await;
    world
        .set_realism(RealismConfig {
            never_apply: Some(NeverApply {
                fields: vec![UpdateField::Subject],
                count: Some(1),
            }),
            ..RealismConfig::default()
        })
        .await;
    world
        .patch("never", json!({"spec": {"subject": "After"}}))
        .await;
    world
        .wait_event(&world.ns, "never", "DriftCorrected", Some("Normal"))
        .await;
    let obj = wait_in_sync(&world, "never", Duration::from_secs(30)).await;
    assert_eq!(obj.metadata.generation, Some(2));
    assert_eq!(
        world.sim_group("EA303NEVR").await.subject.as_deref(),
        Some("After")
    );
    let calls = world
        .expect_calls("UpdateChatGroup", 3, Duration::from_secs(3))
        .await;
    assert!(
        calls[1..]
            .iter()
            .all(|c| c.param("Subject") == Some("After")),
        "{calls:#?}"
    );
    operator.stop().await;
    println!("accepted but never applied: detected and corrected by one more call (3 in all)");
}

#[tokio::test]
async fn an_out_of_band_edit_is_corrected_within_one_interval() {
    let world = World::new("oob").await;
    let mut operator = world.operator(&FAST);
    world
        .create_group("oob", "EA303OOB", |b| {
            b.subject(Some("Managed")).description(Some("Kept"))
        })
        .await;
    wait_in_sync(&world, "oob", Duration::from_secs(30)).await;
    let before = world.calls("UpdateChatGroup").await.len();
    let edited = Instant::now();
    edit_group(
        &world,
        "EA303OOB",
        GroupEdit::default().with_subject("Changed in WhatsApp"),
    )
    .await;
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(100));
    loop {
        let group = world.sim_group("EA303OOB").await;
        if group.subject.as_deref() == Some("Managed") {
            break;
        }
        deadline.tick(|| format!("{group:#?}")).await;
    }
    let corrected = edited.elapsed().as_secs_f64();
    world
        .wait_event(&world.ns, "oob", "DriftCorrected", Some("Normal"))
        .await;
    let calls = world
        .expect_calls("UpdateChatGroup", before + 1, Duration::from_secs(3))
        .await;
    let last = calls.last().expect("the correction");
    assert_eq!(last.param("Subject"), Some("Managed"));
    assert_eq!(last.param("Description"), Some("Kept"));
    // One interval (3 s, +10% jitter), a confirming scan and the settle window at most.
    assert!(
        corrected <= 3.3 + 0.5 + 2.0 + 2.0,
        "corrected after {corrected:.1}s"
    );
    wait_in_sync(&world, "oob", Duration::from_secs(10)).await;
    operator.stop().await;
    println!("out-of-band edit corrected after {corrected:.1}s with 1 call");
}

#[tokio::test]
async fn drift_that_keeps_coming_back_stalls_after_three_corrections() {
    let world = World::new("persist").await;
    let mut operator = world.operator(&FAST);
    world
        .create_group("persist", "EA303PERS", |b| b.subject(Some("Mine")))
        .await;
    wait_in_sync(&world, "persist", Duration::from_secs(30)).await;
    // Nothing this operator sends to the subject holds from now on.
    world
        .set_realism(RealismConfig {
            never_apply: Some(NeverApply {
                fields: vec![UpdateField::Subject],
                count: None,
            }),
            ..RealismConfig::default()
        })
        .await;
    edit_group(
        &world,
        "EA303PERS",
        GroupEdit::default().with_subject("Theirs"),
    )
    .await;
    let obj = world
        .wait_for(
            "persist",
            "Stalled DriftPersists",
            Duration::from_secs(60),
            |o| reason(o, "Stalled").as_deref() == Some("DriftPersists"),
        )
        .await;
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("True"));
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    assert_eq!(reason(&obj, "Synced").as_deref(), Some("DriftPersists"));
    world
        .wait_event(&world.ns, "persist", "DriftPersists", Some("Warning"))
        .await;
    // The create, then exactly three corrections; none after, scan after scan.
    let calls = world
        .expect_calls("UpdateChatGroup", 4, Duration::from_secs(8))
        .await;
    assert!(calls[1..]
        .iter()
        .all(|c| c.param("Subject") == Some("Mine")));
    // A new reconcile token is a person acting: the spec is applied again and corrections
    // start over, up to three, before it stalls again.
    world
        .annotate(
            "persist",
            RECONCILE_REQUESTED_AT_ANNOTATION,
            Some("try-again"),
        )
        .await;
    world
        .wait_for(
            "persist",
            "Stalled DriftPersists again",
            Duration::from_secs(60),
            |o| {
                reason(o, "Stalled").as_deref() == Some("DriftPersists")
                    && o.status
                        .as_ref()
                        .and_then(|s| s.last_handled_reconcile_at.as_deref())
                        == Some("try-again")
            },
        )
        .await;
    world
        .expect_calls("UpdateChatGroup", 8, Duration::from_secs(6))
        .await;
    operator.stop().await;
    println!("drift that keeps coming back: 3 corrections, then Stalled DriftPersists and no call; a token starts over");
}

#[tokio::test]
async fn a_group_missing_from_two_scans_is_stalled_and_never_recreated() {
    let world = World::new("missing").await;
    let mut operator = world.operator(&FAST);
    world
        .create_group("missing", "EA303MISS", |b| b.subject(Some("Here")))
        .await;
    wait_in_sync(&world, "missing", Duration::from_secs(30)).await;
    let seq = world.last_seq().await;
    world
        .sim
        .delete_groups(Some(&world.tenant))
        .await
        .expect("delete the simulator's groups");
    let obj = world
        .wait_for(
            "missing",
            "Stalled GroupMissing",
            Duration::from_secs(30),
            |o| reason(o, "Stalled").as_deref() == Some("GroupMissing"),
        )
        .await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    assert_eq!(in_sync(&obj).as_deref(), Some("GroupMissing"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let writes: Vec<_> = write_calls(&world)
        .await
        .into_iter()
        .filter(|c| c.seq > seq)
        .collect();
    assert!(writes.is_empty(), "nothing is re-created: {writes:#?}");
    operator.stop().await;
    println!("group deleted outside: Stalled GroupMissing after two scans, no write");
}

#[tokio::test]
async fn a_suspended_group_is_not_ready_until_a_scan_lists_it_active() {
    let world = World::new("suspend").await;
    let mut operator = world.operator(&FAST);
    world
        .create_group("susp", "EA303SUSP", |b| b.subject(Some("Watched")))
        .await;
    wait_in_sync(&world, "susp", Duration::from_secs(30)).await;
    edit_group(
        &world,
        "EA303SUSP",
        GroupEdit::default().with_status("SUSPENDED"),
    )
    .await;
    let obj = world
        .wait_for(
            "susp",
            "Stalled GroupSuspended",
            Duration::from_secs(20),
            |o| reason(o, "Stalled").as_deref() == Some("GroupSuspended"),
        )
        .await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    assert_eq!(
        obj.status
            .as_ref()
            .and_then(|s| s.at_provider.as_ref())
            .and_then(|a| a.group_status.as_deref()),
        Some("SUSPENDED")
    );
    edit_group(
        &world,
        "EA303SUSP",
        GroupEdit::default().with_status("ACTIVE"),
    )
    .await;
    let obj = wait_in_sync(&world, "susp", Duration::from_secs(20)).await;
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("False"));
    let calls = world.calls("UpdateChatGroup").await;
    assert_eq!(calls.len(), 1, "no call while suspended: {calls:#?}");
    operator.stop().await;
    println!("SUSPENDED: Stalled GroupSuspended, Ready again once listed ACTIVE, no call");
}

#[tokio::test]
async fn observe_only_never_writes_across_edits_restarts_and_drift() {
    let world = World::new("observe").await;
    // The group has an invite link: a capability, never to be shown anywhere.
    let mut seed =
        GroupSeed::new(&world.tenant, BUSINESS_NUMBER, "EA303OBS").with_subject("Remote");
    seed.invite_link = Some(INVITE_LINK.into());
    world.sim.add_groups(&[seed]).await.expect("seed");
    let mut operator = world.operator(&FAST);
    let cg = world
        .chatgroup("obs", "EA303OBS")
        .subject(Some("Desired"))
        .observe_only()
        .build();
    world.create(&cg).await;
    let obj = world
        .wait_for(
            "obs",
            "Ready (listed ACTIVE)",
            Duration::from_secs(30),
            |o| condition(o, "Ready").as_deref() == Some("True") && in_sync(o).is_some(),
        )
        .await;
    assert_eq!(reason(&obj, "Synced").as_deref(), Some("Observing"));
    assert_eq!(
        in_sync(&obj).as_deref(),
        Some("Drifted"),
        "{}",
        in_sync_message(&obj)
    );
    assert!(in_sync_message(&obj).contains("not corrected"));
    // Edits, a forced re-apply, a restart and an out-of-band change: still nothing written.
    world
        .patch(
            "obs",
            json!({"spec": {"subject": "Desired 2", "description": "x"}}),
        )
        .await;
    world
        .annotate("obs", RECONCILE_REQUESTED_AT_ANNOTATION, Some("please"))
        .await;
    operator.stop().await;
    let mut operator = world.operator(&FAST);
    edit_group(
        &world,
        "EA303OBS",
        GroupEdit::default().with_subject("Remote 2"),
    )
    .await;
    let obj = world
        .wait_for("obs", "showing Remote 2", Duration::from_secs(20), |o| {
            o.status
                .as_ref()
                .and_then(|s| s.at_provider.as_ref())
                .and_then(|a| a.subject.as_deref())
                == Some("Remote 2")
        })
        .await;
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("True"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let writes = write_calls(&world).await;
    assert!(writes.is_empty(), "observe-only wrote: {writes:#?}");
    assert_eq!(
        world.sim_group("EA303OBS").await.subject.as_deref(),
        Some("Remote 2")
    );
    // The link shows only as "present": not in status, events or the operator's log.
    let obj = world.get("obs").await;
    let at_provider = obj.status.as_ref().and_then(|s| s.at_provider.clone());
    assert_eq!(at_provider.and_then(|a| a.invite_link_present), Some(true));
    let status = serde_json::to_string(&obj.status).unwrap_or_default();
    assert!(!status.contains(INVITE_SECRET), "{status}");
    let events = world
        .kubectl(&["get", "events", "-n", &world.ns, "-o", "json"])
        .await;
    assert!(!String::from_utf8_lossy(&events.stdout).contains(INVITE_SECRET));
    operator.stop().await;
    assert!(
        !operator.logs().contains(INVITE_SECRET),
        "the invite link is in the log"
    );
    println!("observe-only: edits, a token, a restart and drift; 0 write calls");
}

#[tokio::test]
async fn export_then_apply_observe_only_is_ready_with_zero_writes() {
    let world = World::new("export").await;
    let n = 30;
    let seeds: Vec<GroupSeed> = (0..n)
        .map(|i| {
            GroupSeed::new(&world.tenant, BUSINESS_NUMBER, format!("EX{i:04}"))
                .with_subject(format!("Support line {i}"))
        })
        .collect();
    world.sim.add_groups(&seeds).await.expect("seed");
    let out = tokio::process::Command::new(&world.env.operator_bin)
        .args(["export", "--endpoint", &world.env.simulator])
        .args(["--cust-space-id", &world.tenant])
        .args(["--business-number", BUSINESS_NUMBER])
        .args(["--namespace", &world.ns])
        .args(["--secret-ref", crate::harness::SECRET])
        .args(["--management-policy", "Observe", "--page-size", "7"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &world.access_key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &world.access_key_secret)
        .output()
        .await
        .expect("run export");
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifests = world.env.work.join(format!("{}-export.yaml", world.ns));
    std::fs::write(&manifests, &out.stdout).expect("write the export");
    let applied = world
        .kubectl(&["apply", "-f", manifests.to_str().unwrap_or_default()])
        .await;
    assert!(
        applied.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let mut operator = world.operator(&FAST);
    world.wait_all_ready(n, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = write_calls(&world).await;
    assert!(writes.is_empty(), "{writes:#?}");
    operator.stop().await;
    println!("export of {n} groups (pages of 7) applied with managementPolicy Observe: all Ready, 0 writes");
}

#[tokio::test]
async fn a_refused_list_falls_back_to_ready_on_acceptance() {
    let world = World::new("nolist").await;
    world
        .sim
        .put_access_key(
            &world.access_key_id,
            &AccessKeySpec {
                denied_actions: vec!["ListChatGroup".into()],
                ..AccessKeySpec::new(world.access_key_secret.as_str())
            },
        )
        .await
        .expect("deny ListChatGroup");
    let mut operator = world.operator(&FAST);
    world
        .create_group("nolist", "EA303NOLS", |b| b.subject(Some("Round one")))
        .await;
    let obj = world
        .wait_for(
            "nolist",
            "Ready with observation unavailable",
            Duration::from_secs(30),
            |o| {
                condition(o, "Ready").as_deref() == Some("True")
                    && in_sync(o).as_deref() == Some("ObservationUnavailable")
            },
        )
        .await;
    assert_eq!(condition(&obj, "InSync").as_deref(), Some("Unknown"));
    assert!(
        in_sync_message(&obj).contains("Forbidden.RAM"),
        "{}",
        in_sync_message(&obj)
    );
    world
        .patch("nolist", json!({"spec": {"subject": "Still round one"}}))
        .await;
    world.wait_ready_at("nolist", 2).await;
    let calls = world.calls("UpdateChatGroup").await;
    assert_eq!(calls.len(), 2, "{calls:#?}");
    operator.stop().await;
    println!("ListChatGroup refused: InSync Unknown ObservationUnavailable, Ready on acceptance");
}

#[tokio::test]
async fn observation_off_makes_no_list_call_and_keeps_round_one_readiness() {
    let world = World::new("obsoff").await;
    let mut operator = world.operator(&["--observe-interval", "0"]);
    world
        .create_group("off", "EA303OFF", |b| b.subject(Some("Unobserved")))
        .await;
    let obj = world
        .wait_for(
            "off",
            "Ready, InSync Unknown",
            Duration::from_secs(30),
            |o| {
                condition(o, "Ready").as_deref() == Some("True")
                    && in_sync(o).as_deref() == Some("ObservationDisabled")
            },
        )
        .await;
    assert_eq!(condition(&obj, "InSync").as_deref(), Some("Unknown"));
    assert!(obj.status.as_ref().is_some_and(|s| s.at_provider.is_none()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lists = world.calls("ListChatGroup").await;
    assert!(lists.is_empty(), "{lists:#?}");
    operator.stop().await;
    println!("--observe-interval 0: Ready on acceptance, InSync Unknown ObservationDisabled, 0 ListChatGroup calls");
}
