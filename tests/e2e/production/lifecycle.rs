//! The whole lifecycle against the real API server, the simulator and operator processes:
//! creating a group (never two, even when the operator is killed at any point of it),
//! adopting, and deleting with `deletionPolicy: Delete` without ever hanging.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cams_operator::resource::{
    ChatGroup, DeletionPolicy, CREATE_PENDING_ANNOTATION, GROUP_ID_ANNOTATION, PAUSED_ANNOTATION,
};
use cams_simulator::{FaultConfig, Group, RealismConfig};
use kube::api::DeleteParams;

use crate::harness::{condition, reason, Deadline, Operator, World};

/// Fast scans and a short create timeout, so that every path ends within seconds.
const FLAGS: [&str; 8] = [
    "--observe-interval",
    "3s",
    "--observe-min-interval",
    "300ms",
    "--settle",
    "2s",
    "--create-timeout",
    "15s",
];

async fn groups(world: &World) -> Vec<Group> {
    world
        .sim
        .groups(Some(&world.tenant))
        .await
        .expect("simulator groups")
}

/// Groups of this tenant by subject.
async fn by_subject(world: &World) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in groups(world).await {
        map.entry(g.subject.unwrap_or_default())
            .or_default()
            .push(g.group_id);
    }
    map
}

/// A ChatGroup without groupId: the operator creates its group.
fn to_create(world: &World, name: &str, subject: &str) -> ChatGroup {
    world.chatgroup(name, "").subject(Some(subject)).build()
}

fn annotation<'a>(obj: &'a ChatGroup, key: &str) -> Option<&'a str> {
    obj.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

async fn delete(world: &World, name: &str) {
    world
        .chatgroups()
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete ChatGroup");
}

/// Waits until the ChatGroup is gone; returns how long it took.
async fn wait_gone(world: &World, name: &str, timeout: Duration) -> f64 {
    let started = Instant::now();
    let deadline = Deadline::after(timeout, Duration::from_millis(100));
    loop {
        match world.chatgroups().get_opt(name).await.expect("get") {
            None => return started.elapsed().as_secs_f64(),
            Some(o) => {
                deadline
                    .tick(|| format!("{name} still there: {:#?}", o.metadata))
                    .await
            }
        }
    }
}

#[tokio::test]
async fn a_group_is_created_found_recorded_and_its_picture_set_once() {
    let world = World::new("create").await;
    world
        .set_realism(RealismConfig {
            create_delay_ms: 1500,
            ..RealismConfig::default()
        })
        .await;
    let mut operator = world.operator(&FLAGS);
    let mut cg = to_create(&world, "new", "Brand new group");
    cg.spec.description = Some("Made by the operator".into());
    cg.spec.profile_picture_url = Some("https://img.example.com/new.jpg".into());
    world.create(&cg).await;
    let obj = world
        .wait_for("new", "Ready and InSync", Duration::from_secs(40), |o| {
            condition(o, "Ready").as_deref() == Some("True")
                && condition(o, "InSync").as_deref() == Some("True")
        })
        .await;
    let group_id = annotation(&obj, GROUP_ID_ANNOTATION)
        .expect("cams.dev/group-id")
        .to_string();
    assert_eq!(annotation(&obj, CREATE_PENDING_ANNOTATION), None);
    let status = obj.status.clone().expect("status");
    assert_eq!(status.group_id.as_deref(), Some(group_id.as_str()));
    let all = groups(&world).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].group_id, group_id);
    assert_eq!(all[0].description.as_deref(), Some("Made by the operator"));
    assert_eq!(
        all[0].profile_picture_file.as_deref(),
        Some("https://img.example.com/new.jpg")
    );
    assert_eq!(world.calls("AddChatGroup").await.len(), 1);
    let updates = world.calls("UpdateChatGroup").await;
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(updates[0].param("GroupId"), Some(group_id.as_str()));
    world
        .wait_event(&world.ns, "new", "Created", Some("Normal"))
        .await;
    operator.stop().await;
    println!("create: 1 AddChatGroup, group {group_id} found and recorded, 1 UpdateChatGroup for the picture");
}

#[tokio::test]
async fn two_chatgroups_with_one_subject_get_one_group_each_and_a_reapplied_manifest_asks_to_adopt()
{
    let world = World::new("twosubj").await;
    let mut operator = world.operator(&FLAGS);
    let a = to_create(&world, "same-a", "Same subject");
    let b = to_create(&world, "same-b", "Same subject");
    tokio::join!(world.create(&a), world.create(&b));
    for name in ["same-a", "same-b"] {
        world
            .wait_for(name, "Ready", Duration::from_secs(40), |o| {
                condition(o, "Ready").as_deref() == Some("True")
            })
            .await;
    }
    let (a, b) = (world.get("same-a").await, world.get("same-b").await);
    let (ga, gb) = (a.group_id().unwrap(), b.group_id().unwrap());
    assert_ne!(ga, gb, "cross-claimed one group");
    assert_eq!(by_subject(&world).await["Same subject"].len(), 2);

    // GitOps round trip: the object is deleted (Orphan: the group stays) and the same
    // manifest, without groupId, is applied again.
    delete(&world, "same-a").await;
    wait_gone(&world, "same-a", Duration::from_secs(10)).await;
    world
        .create(&to_create(&world, "same-a", "Same subject"))
        .await;
    let obj = world
        .wait_reason("same-a", "Stalled", "AdoptionRequired")
        .await;
    let message = obj
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Stalled"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains(ga) && message.contains("spec.groupId"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(world.calls("AddChatGroup").await.len(), 2, "no third group");
    operator.stop().await;
    println!("two objects, one subject: one group each; re-applied manifest: AdoptionRequired naming {ga}");
}

/// One window of the crash test: what is set up, and when the operator is killed.
#[derive(Clone, Copy, Debug)]
enum Window {
    /// Killed 0–150 ms after it starts: before (or while) writing create-pending.
    BeforePending,
    /// Killed while AddChatGroup is in flight (the simulator holds it 600 ms).
    CallInFlight,
    /// AddChatGroup lands and its answer is lost (connection reset); killed soon after.
    AnswerLost,
    /// Killed after the answer was recorded (uniqueCode) and before the group, hidden while
    /// CREATING, is found.
    BeforeIdentity,
}

impl Window {
    fn faults(self) -> FaultConfig {
        match self {
            Self::CallInFlight => FaultConfig {
                latency_ms: 600,
                actions: vec!["AddChatGroup".into()],
                ..FaultConfig::default()
            },
            Self::AnswerLost => FaultConfig {
                lose_answer_probability: 1.0,
                actions: vec!["AddChatGroup".into()],
                ..FaultConfig::default()
            },
            _ => FaultConfig::default(),
        }
    }

    /// Waits for the moment to kill, then a random part of the window.
    async fn wait(self, world: &World, name: &str) {
        let jitter = |ms: u64| Duration::from_millis(rand::random::<u64>() % ms.max(1));
        match self {
            Self::BeforePending => tokio::time::sleep(jitter(150)).await,
            Self::CallInFlight | Self::AnswerLost => {
                world
                    .wait_for(name, "create-pending", Duration::from_secs(20), |o| {
                        annotation(o, CREATE_PENDING_ANNOTATION).is_some()
                    })
                    .await;
                tokio::time::sleep(jitter(400)).await;
            }
            Self::BeforeIdentity => {
                world
                    .wait_for(name, "uniqueCode", Duration::from_secs(20), |o| {
                        o.status.as_ref().is_some_and(|s| s.unique_code.is_some())
                    })
                    .await;
                tokio::time::sleep(jitter(1500)).await;
            }
        }
    }
}

/// SIGKILL inside each window of a create, 20 times each, then let every object settle:
/// never two groups for one object, and every object Ready or stalled with a message that
/// says what to do.
#[tokio::test]
async fn sigkill_at_every_point_of_a_create_never_makes_a_duplicate() {
    let world = World::new("crashcreate").await;
    world
        .set_realism(RealismConfig {
            // GroupId hidden while CREATING, for 2 s.
            create_delay_ms: 2000,
            ..RealismConfig::default()
        })
        .await;
    let windows = [
        Window::BeforePending,
        Window::CallInFlight,
        Window::AnswerLost,
        Window::BeforeIdentity,
    ];
    let per_window = 20;
    let mut names: Vec<(Window, String)> = Vec::new();
    for window in windows {
        world.set_faults(window.faults()).await;
        for i in 0..per_window {
            let name = format!("{}-{i:02}", format!("{window:?}").to_lowercase());
            world
                .create(&to_create(&world, &name, &format!("crash {name}")))
                .await;
            let mut operator: Operator = world.operator(&FLAGS);
            window.wait(&world, &name).await;
            operator.kill9().await;
            names.push((window, name));
        }
    }
    // Everything heals; one operator finishes what was started.
    world.set_faults(FaultConfig::default()).await;
    let mut operator = world.operator(&FLAGS);
    let deadline = Deadline::after(Duration::from_secs(90), Duration::from_millis(500));
    let mut table: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    loop {
        let mut unsettled = Vec::new();
        table.clear();
        for (window, name) in &names {
            let o = world.get(name).await;
            let state = if condition(&o, "Ready").as_deref() == Some("True") {
                "Ready".to_string()
            } else if condition(&o, "Stalled").as_deref() == Some("True") {
                reason(&o, "Stalled").unwrap_or_default()
            } else {
                unsettled.push(format!("{name}: {:?}", reason(&o, "Synced")));
                "unsettled".into()
            };
            *table
                .entry(format!("{window:?}"))
                .or_default()
                .entry(state)
                .or_default() += 1;
        }
        if unsettled.is_empty() {
            break;
        }
        deadline
            .tick(|| format!("{} not settled: {unsettled:#?}", unsettled.len()))
            .await;
    }
    let subjects = by_subject(&world).await;
    let duplicates: Vec<_> = subjects.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(duplicates.is_empty(), "duplicate groups: {duplicates:#?}");
    // A stalled object says what to do.
    for (_, name) in &names {
        let o = world.get(name).await;
        if reason(&o, "Stalled").as_deref() == Some("CreateUnconfirmed") {
            let message = o
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Stalled"))
                .map(|c| c.message.clone())
                .unwrap_or_default();
            assert!(
                message.contains("remove the annotation cams.dev/create-pending")
                    && message.contains("spec.groupId"),
                "{message}"
            );
        }
    }
    operator.stop().await;
    println!("SIGKILL during creates ({per_window} per window), settled states:");
    for (window, states) in &table {
        println!("  {window:<15} {states:?}");
    }
    println!(
        "  groups: {} for {} objects, 0 duplicates",
        subjects.values().map(Vec::len).sum::<usize>(),
        names.len()
    );
}

/// How a `deletionPolicy: Delete` object's deletion is set up.
#[derive(Clone, Copy, Debug)]
enum DeleteCase {
    /// Nothing in the way: DeleteChatGroup.
    Deleted,
    /// The group was deleted outside first: group-not-found releases it.
    AlreadyGone,
    /// Its Secret was deleted first (as a namespace deletion may): orphaned.
    SecretGone,
    /// `cams.dev/paused`: orphaned without a call.
    Paused,
    /// CAMS refuses DeleteChatGroup (a terminal answer): orphaned.
    Refused,
    /// CAMS keeps failing: retried until `--delete-timeout`, then orphaned.
    Failing,
}

impl DeleteCase {
    /// The event expected and whether the group is gone afterwards.
    fn expected(self) -> (&'static str, &'static str, bool) {
        match self {
            Self::Deleted | Self::AlreadyGone => ("Deleted", "Normal", true),
            Self::SecretGone | Self::Paused | Self::Refused | Self::Failing => {
                ("Orphaned", "Warning", false)
            }
        }
    }
}

/// One deletion case in a world of its own; returns how long the ChatGroup was Terminating.
async fn delete_case(case: DeleteCase) -> f64 {
    let prefix = format!("del-{case:?}").to_lowercase();
    let world = World::new(&prefix).await;
    let mut flags = FLAGS.to_vec();
    flags.extend(["--delete-timeout", "5s"]);
    let mut operator = world.operator(&flags);
    world
        .create_secret(
            "own-secret",
            &world.access_key_id,
            &world.access_key_secret,
            None,
        )
        .await;
    let mut cg = world
        .group("victim", "EA303VICTIM", |b| {
            b.subject(Some("To be deleted"))
                .secret_ref(Some("own-secret"))
        })
        .await;
    cg.spec.deletion_policy = DeletionPolicy::Delete;
    world.create(&cg).await;
    let o = world.wait_ready("victim").await;
    assert!(o.has_delete_finalizer(), "{case:?}: no finalizer");
    match case {
        DeleteCase::Deleted => {}
        DeleteCase::AlreadyGone => {
            world
                .sim
                .delete_groups(Some(&world.tenant))
                .await
                .expect("delete outside");
        }
        DeleteCase::SecretGone => {
            world
                .kubectl(&["delete", "secret", "own-secret", "-n", &world.ns])
                .await;
        }
        DeleteCase::Paused => {
            world
                .annotate("victim", PAUSED_ANNOTATION, Some("true"))
                .await;
            world
                .wait_reason("victim", "Synced", "ReconcilePaused")
                .await;
        }
        DeleteCase::Refused => {
            world
                .set_faults(FaultConfig {
                    error_rates: [("InvalidParameter.GroupLocked".to_string(), 1.0)].into(),
                    actions: vec!["DeleteChatGroup".into()],
                    ..FaultConfig::default()
                })
                .await;
        }
        DeleteCase::Failing => {
            world
                .set_faults(FaultConfig {
                    error_rates: [("ServiceUnavailable".to_string(), 1.0)].into(),
                    actions: vec!["DeleteChatGroup".into()],
                    ..FaultConfig::default()
                })
                .await;
        }
    }
    let before = world.calls("DeleteChatGroup").await.len();
    delete(&world, "victim").await;
    let took = wait_gone(&world, "victim", Duration::from_secs(20)).await;
    let (reason_, kind, group_gone) = case.expected();
    world
        .wait_event(&world.ns, "victim", reason_, Some(kind))
        .await;
    let calls = world.calls("DeleteChatGroup").await.len() - before;
    match case {
        DeleteCase::Paused | DeleteCase::SecretGone => {
            assert_eq!(calls, 0, "{case:?}: no call")
        }
        _ => assert!(calls >= 1, "{case:?}: DeleteChatGroup was sent"),
    }
    world.set_faults(FaultConfig::default()).await;
    let left = groups(&world).await;
    assert_eq!(left.is_empty(), group_gone, "{case:?}: {left:#?}");
    operator.stop().await;
    took
}

/// Deleting with `deletionPolicy: Delete`: the group is deleted, or — when that cannot
/// succeed — orphaned with a Warning event; the ChatGroup never hangs Terminating.
#[tokio::test]
async fn delete_policy_deletes_or_orphans_and_never_hangs() {
    let cases = [
        DeleteCase::Deleted,
        DeleteCase::AlreadyGone,
        DeleteCase::SecretGone,
        DeleteCase::Paused,
        DeleteCase::Refused,
        DeleteCase::Failing,
    ];
    let took = futures::future::join_all(cases.iter().map(|c| delete_case(*c))).await;
    for (case, secs) in cases.iter().zip(&took) {
        let (event, _, gone) = case.expected();
        println!("delete {case:?}: Terminating {secs:.1}s, event {event}, group deleted: {gone}");
    }
    // --delete-timeout 5 s bounds the failing case; the others end at once.
    assert!(took.iter().all(|t| *t < 12.0), "{took:?}");
}

/// The link in the Secret, if the Secret exists.
async fn published_link(world: &World, secret: &str) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(world.client.clone(), &world.ns);
    let s = api.get_opt(secret).await.expect("get Secret")?;
    let bytes = s.data?.get("inviteLink")?.0.clone();
    String::from_utf8(bytes).ok()
}

async fn sim_link(world: &World, group_id: &str) -> Option<String> {
    world
        .sim
        .group(
            &world.tenant,
            cams_operator::fixtures::BUSINESS_NUMBER,
            group_id,
        )
        .await
        .expect("simulator")
        .and_then(|g| g.invite_link)
}

/// Waits until the Secret holds exactly the group's current link (other than `not`).
async fn wait_published(world: &World, group_id: &str, not: Option<&str>) -> String {
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(200));
    loop {
        let (published, listed) = (
            published_link(world, "vip-invite").await,
            sim_link(world, group_id).await,
        );
        if let (Some(p), Some(l)) = (&published, &listed) {
            if p == l && Some(p.as_str()) != not {
                return p.clone();
            }
        }
        deadline
            .tick(|| {
                format!(
                    "Secret {:?} vs group {:?}",
                    published.is_some(),
                    listed.is_some()
                )
            })
            .await;
    }
}

#[tokio::test]
async fn an_invite_link_is_published_rotated_republished_and_removed_never_shown() {
    let world = World::new("invite").await;
    let mut flags = FLAGS.to_vec();
    flags.push("--invite-links");
    let mut operator = world.operator(&flags);
    let mut cg = world
        .group("vip", "EA303VIP", |b| b.subject(Some("VIP")))
        .await;
    cg.spec.invite_link = Some(cams_operator::resource::InviteLinkSpec {
        enabled: true,
        secret_name: Some("vip-invite".into()),
    });
    world.create(&cg).await;
    let first = wait_published(&world, "EA303VIP", None).await;
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(world.client.clone(), &world.ns);
    let secret = api.get("vip-invite").await.expect("Secret");
    let owner = &secret.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("ChatGroup", "vip")
    );
    assert_eq!(
        secret
            .metadata
            .labels
            .unwrap_or_default()
            .get("cams.dev/invite-link-of"),
        Some(&"vip".to_string())
    );
    assert_eq!(world.calls("AddChatGroupInviteLink").await.len(), 1);

    // Rotation: one more AddChatGroupInviteLink, a new link published.
    world
        .annotate(
            "vip",
            cams_operator::resource::ROTATE_INVITE_LINK_ANNOTATION,
            Some("r1"),
        )
        .await;
    let second = wait_published(&world, "EA303VIP", Some(&first)).await;
    assert_ne!(first, second);
    world
        .expect_calls("AddChatGroupInviteLink", 2, Duration::from_secs(3))
        .await;

    // A lost Secret is published again from the inventory, without a call.
    api.delete("vip-invite", &DeleteParams::default())
        .await
        .expect("delete Secret");
    let again = wait_published(&world, "EA303VIP", None).await;
    assert_eq!(again, second);
    world
        .expect_calls("AddChatGroupInviteLink", 2, Duration::from_secs(2))
        .await;

    // The link never shows in status, events or the log.
    let obj = world.get("vip").await;
    let status = serde_json::to_string(&obj.status).unwrap_or_default();
    let events = world
        .kubectl(&["get", "events", "-n", &world.ns, "-o", "json"])
        .await;
    for link in [&first, &second] {
        let secret_part = link.rsplit('/').next().unwrap_or(link);
        assert!(!status.contains(secret_part), "status shows the link");
        assert!(!String::from_utf8_lossy(&events.stdout).contains(secret_part));
        assert!(
            !operator.logs().contains(secret_part),
            "the log shows the link"
        );
    }

    // Disabled: the link is deleted at CAMS and its Secret removed.
    world
        .patch(
            "vip",
            serde_json::json!({"spec": {"inviteLink": {"enabled": false}}}),
        )
        .await;
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_millis(200));
    while sim_link(&world, "EA303VIP").await.is_some()
        || published_link(&world, "vip-invite").await.is_some()
    {
        deadline.tick(|| "link still there".into()).await;
    }
    assert_eq!(world.calls("DeleteChatGroupInviteLink").await.len(), 1);
    operator.stop().await;

    // Without --invite-links the operator says what to do.
    let mut operator = world.operator(&FLAGS);
    world
        .patch("vip", serde_json::json!({"spec": {"inviteLink": {"enabled": true, "secretName": "vip-invite"}}}))
        .await;
    world
        .wait_reason("vip", "Stalled", "InviteLinksDisabled")
        .await;
    operator.stop().await;
    println!("invite link: published, rotated (2 calls), republished without a call, removed; never in status, events or logs");
}
