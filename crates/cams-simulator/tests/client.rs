//! `SimulatorClient` against an in-process simulator: every admin route through the typed
//! client, and a CAMS call seen in the typed call log.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use cams_simulator::{
    serve, AccessKeySpec, ActionQps, App, CallQuery, ClientError, CreateFailure, CreateFailureMode,
    FaultConfig, GroupEdit, GroupIdWhileCreating, GroupSeed, HangFault, ListOrder, NeverApply,
    QpsLimit, RealismConfig, Seed, SignatureScheme, SimulatorClient, State, StsConfig,
    SubjectFilter, UpdateField,
};

async fn start() -> (SimulatorClient, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App::new(State::new(Duration::from_secs(900), 1000)));
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(serve(listener, app, stopped, Duration::from_millis(100)));
    let client = SimulatorClient::new(&format!("http://{addr}/")).unwrap();
    (client, stop)
}

#[tokio::test]
async fn keys_groups_and_seed() {
    let (sim, _stop) = start().await;
    assert_eq!(sim.health().await.unwrap().status, "ok");
    let set = sim
        .put_access_key("AK 1", &AccessKeySpec::new("s1").with_tokens(["t1"]))
        .await
        .unwrap();
    assert_eq!(
        (
            set.access_key_id.as_str(),
            set.replaced,
            set.security_tokens
        ),
        ("AK 1", false, 1)
    );
    let keys = sim.access_keys().await.unwrap().access_keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].access_key_id, "AK 1");
    assert!(sim.revoke_access_key("AK 1").await.unwrap().revoked);
    assert!(!sim.revoke_access_key("AK 1").await.unwrap().revoked);

    let added = sim
        .add_groups(&[
            GroupSeed::new("t/1", "86", "G1").with_subject("S"),
            GroupSeed::new("t/1", "86", "G2"),
        ])
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].group_status, "ACTIVE");
    assert_eq!(sim.groups(Some("t/1")).await.unwrap().len(), 2);
    let g1 = sim.group("t/1", "86", "G1").await.unwrap().unwrap();
    assert_eq!(g1.subject.as_deref(), Some("S"));
    assert_eq!(sim.group("t/1", "86", "nope").await.unwrap(), None);
    assert_eq!(sim.delete_groups(Some("t/1")).await.unwrap(), 2);
    assert!(sim.groups(None).await.unwrap().is_empty());

    let seeded = sim
        .seed(&Seed {
            access_keys: vec![AccessKeySpec {
                access_key_id: Some("AK2".into()),
                ..AccessKeySpec::new("s2")
            }],
            groups: vec![GroupSeed::new("t2", "86", "G")],
            ..Seed::default()
        })
        .await
        .unwrap();
    assert_eq!((seeded.access_keys, seeded.groups.len()), (1, 1));
    // A refused seed is a typed error carrying the simulator's message.
    let refused = sim
        .seed(&Seed {
            access_keys: vec![AccessKeySpec::new("no id")],
            ..Seed::default()
        })
        .await
        .unwrap_err();
    match refused {
        ClientError::Status {
            status, message, ..
        } => {
            assert_eq!(status.as_u16(), 400);
            assert!(message.contains("accessKeyId"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn faults_sts_and_the_call_log() {
    let (sim, _stop) = start().await;
    let faults = FaultConfig {
        latency_ms: 5,
        qps: Some(QpsLimit {
            rate: 10.0,
            burst: None,
        }),
        hang: Some(HangFault {
            probability: 0.5,
            duration_ms: Some(10),
        }),
        ..FaultConfig::default()
    };
    assert_eq!(sim.set_tenant_faults("t", &faults).await.unwrap(), faults);
    assert_eq!(
        sim.set_default_faults(&FaultConfig::default())
            .await
            .unwrap(),
        FaultConfig::default()
    );
    let all = sim.faults().await.unwrap();
    assert_eq!(all.tenants["t"], faults);
    assert!(sim.remove_tenant_faults("t").await.unwrap());
    sim.reset_faults().await.unwrap();
    let bad = FaultConfig {
        reset_probability: 2.0,
        ..FaultConfig::default()
    };
    assert!(sim.set_tenant_faults("t", &bad).await.is_err());

    let sts = StsConfig {
        accepted_tokens: Some(vec!["tok".into()]),
        duration_secs: 20,
        error_code: None,
    };
    let view = sim.set_sts(&sts).await.unwrap();
    assert_eq!((view.accepted_tokens, view.duration_secs), (Some(1), 20));
    assert_eq!(sim.sts().await.unwrap(), view);
    assert_eq!(sim.expire_sts().await.unwrap(), 0);

    // An unsigned CAMS call is logged and read back as a typed entry.
    let mark = sim.last_seq().await.unwrap();
    let url = format!(
        "{}/?Action=UpdateChatGroup&CustSpaceId=t&Version=2020-06-06",
        sim.base_url()
    );
    let answer = reqwest::Client::new().post(url).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let calls = sim
        .calls(&CallQuery::tenant("t").action("UpdateChatGroup").since(mark))
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.seq, mark + 1);
    assert_eq!(call.code, "IncompleteSignature");
    assert_eq!(call.param("Version"), Some("2020-06-06"));
    assert_eq!(call.signature_scheme, None::<SignatureScheme>);
    assert!(call.arrived_at().is_some());
    // Paging: one call per page still returns every call.
    let paged = sim.calls(&CallQuery::default().limit(1)).await.unwrap();
    assert_eq!(paged.len(), 1);
    let cleared = sim.clear_calls().await.unwrap();
    assert_eq!((cleared.cleared, cleared.last_seq), (1, mark + 1));
}

#[tokio::test]
async fn realism_settings_round_trip() {
    let (sim, _stop) = start().await;
    let plain = sim.realism().await.unwrap();
    assert_eq!(plain.default, RealismConfig::default());
    assert!(plain.tenants.is_empty());
    let knobs = RealismConfig {
        update_delay_ms: 250,
        never_apply: Some(NeverApply {
            fields: vec![UpdateField::Subject, UpdateField::ProfilePictureFile],
            count: Some(3),
        }),
        picture_copy: true,
        subject_filter: SubjectFilter::Prefix,
        max_page_size: 20,
        list_order: ListOrder::NewestFirst,
        action_qps: [(
            "ListChatGroup".to_string(),
            ActionQps {
                qps: 2.0,
                burst: Some(4.0),
            },
        )]
        .into(),
        create_delay_ms: 1500,
        group_id_while_creating: GroupIdWhileCreating::Visible,
        create_failure: Some(CreateFailure {
            mode: CreateFailureMode::Vanish,
            count: Some(2),
        }),
        delete_delay_ms: 700,
        invite_link_at_creation: true,
    };
    assert_eq!(sim.set_tenant_realism("t/1", &knobs).await.unwrap(), knobs);
    let exact = RealismConfig {
        subject_filter: SubjectFilter::Exact,
        ..RealismConfig::default()
    };
    assert_eq!(sim.set_default_realism(&exact).await.unwrap(), exact);
    let all = sim.realism().await.unwrap();
    assert_eq!((all.default, all.tenants["t/1"].clone()), (exact, knobs));
    assert!(sim.remove_tenant_realism("t/1").await.unwrap());
    assert!(!sim.remove_tenant_realism("t/1").await.unwrap());
    sim.reset_realism().await.unwrap();
    assert_eq!(
        sim.realism().await.unwrap().default,
        RealismConfig::default()
    );
    // Invalid knobs are a typed error with the simulator's message.
    let bad = RealismConfig {
        max_page_size: 0,
        ..RealismConfig::default()
    };
    match sim.set_default_realism(&bad).await.unwrap_err() {
        ClientError::Status {
            status, message, ..
        } => assert_eq!(
            (status.as_u16(), message.contains("maxPageSize")),
            (400, true)
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn edit_group_changes_the_stored_group() {
    let (sim, _stop) = start().await;
    let added = sim
        .add_groups(&[GroupSeed::new("t/1", "86", "G1").with_subject("Old")])
        .await
        .unwrap();
    let edit = GroupEdit::default()
        .with_subject("New")
        .with_description("Set in WhatsApp")
        .with_status("SUSPENDED");
    let edited = sim.edit_group("t/1", "86", "G1", &edit).await.unwrap();
    assert_eq!(edited.subject.as_deref(), Some("New"));
    assert_eq!(edited.description.as_deref(), Some("Set in WhatsApp"));
    assert_eq!(edited.group_status, "SUSPENDED");
    assert!(edited.gmt_modifier > added[0].gmt_modifier);
    assert_eq!(sim.group("t/1", "86", "G1").await.unwrap(), Some(edited));
    assert_eq!(sim.last_seq().await.unwrap(), 0, "not a CAMS call");
    match sim
        .edit_group("t/1", "86", "nope", &edit)
        .await
        .unwrap_err()
    {
        ClientError::Status { status, .. } => assert_eq!(status.as_u16(), 404),
        other => panic!("unexpected {other:?}"),
    }
    let picture = GroupEdit::default().with_profile_picture_file("https://x.example/p.jpg");
    let edited = sim.edit_group("t/1", "86", "G1", &picture).await.unwrap();
    assert_eq!(
        edited.profile_picture_file.as_deref(),
        Some("https://x.example/p.jpg")
    );
}
