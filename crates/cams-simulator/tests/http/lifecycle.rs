//! The lifecycle knobs over HTTP (`createDelayMs`, `groupIdWhileCreating`, `createFailure`,
//! `deleteDelayMs`, `inviteLinkAtCreation`), driven by the operator's typed client: create,
//! find, link, reset the link, delete; a lost AddChatGroup answer; the call log's UniqueCode.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cams_operator::cams::request::SignatureVersion;
use cams_operator::cams::{
    AddChatGroup, AddChatGroupInviteLink, CamsError, ChatGroupApi, Credentials, DeleteChatGroup,
    DeleteChatGroupInviteLink, ErrorClass, ListChatGroup, ListedGroup,
};

use super::{Sim, BN, SCHEMES};

fn creds(tenant: &str) -> Credentials {
    Credentials::new(format!("ak-{tenant}"), "secret-1")
}

fn add(tenant: &str, subject: &str) -> AddChatGroup {
    AddChatGroup {
        business_number: BN.into(),
        cust_space_id: tenant.into(),
        channel_type: Some("WHATSAPP".into()),
        subject: Some(subject.into()),
        description: Some("Made by the test".into()),
    }
}

impl Sim {
    /// Every row of the tenant's business number, through the operator's client.
    async fn rows(&self, scheme: SignatureVersion, tenant: &str) -> Vec<ListedGroup> {
        let page = self
            .client(scheme)
            .list_chat_group(
                None,
                &creds(tenant),
                &ListChatGroup::first_page(BN, tenant, 100),
            )
            .await
            .unwrap();
        assert_eq!(page.total, Some(page.groups.len() as u64));
        page.groups
    }

    /// The row with `subject`, if listed.
    async fn row(
        &self,
        scheme: SignatureVersion,
        tenant: &str,
        subject: &str,
    ) -> Option<ListedGroup> {
        self.rows(scheme, tenant)
            .await
            .into_iter()
            .find(|g| g.subject.as_deref() == Some(subject))
    }

    /// Lists until `done` holds for the row with `subject` (absent: `None`), at most 5 s.
    async fn wait_row(
        &self,
        scheme: SignatureVersion,
        tenant: &str,
        subject: &str,
        done: impl Fn(Option<&ListedGroup>) -> bool,
    ) -> Option<ListedGroup> {
        let started = Instant::now();
        loop {
            let row = self.row(scheme, tenant, subject).await;
            if done(row.as_ref()) {
                return row;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still {row:?} after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// `GET /admin/groups?custSpaceId=`: the stored groups of the tenant.
    async fn stored_groups(&self, tenant: &str) -> Vec<Value> {
        let (s, v) = self
            .admin("GET", &format!("groups?custSpaceId={tenant}"), Value::Null)
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            v["count"].as_u64(),
            Some(v["groups"].as_array().unwrap().len() as u64)
        );
        v["groups"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn the_operator_client_creates_finds_links_and_deletes_a_group() {
    let sim = Sim::start().await;
    for scheme in SCHEMES {
        let t = &format!("t-life-{scheme:?}").to_lowercase();
        sim.setup(t).await;
        sim.realism(t, json!({"createDelayMs": 300, "deleteDelayMs": 300}))
            .await;
        let client = sim.client(scheme);

        // Created: a UniqueCode, the row CREATING without a GroupId, then ACTIVE with it.
        let added = client
            .add_chat_group(None, &creds(t), &add(t, "Lifecycle"))
            .await
            .unwrap();
        let unique = added.unique_code.clone().expect("a UniqueCode");
        assert_eq!(added.response.envelope.code.as_deref(), Some("OK"));
        let stored: Vec<Value> = sim
            .stored_groups(t)
            .await
            .into_iter()
            .filter(|g| g["subject"] == "Lifecycle")
            .collect();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["uniqueCode"], unique.as_str());
        assert_eq!(stored[0]["groupStatus"], "CREATING");
        assert!(stored[0]["pendingCreate"]["doneAtMs"].is_i64());
        let creating = sim.row(scheme, t, "Lifecycle").await.unwrap();
        assert_eq!(creating.group_status.as_deref(), Some("CREATING"));
        assert_eq!(creating.group_id, None, "hidden by default");
        assert_eq!(creating.description.as_deref(), Some("Made by the test"));
        let active = sim
            .wait_row(scheme, t, "Lifecycle", |r| {
                r.is_some_and(|r| r.group_status.as_deref() == Some("ACTIVE"))
            })
            .await
            .unwrap();
        let id = active.group_id.clone().expect("the GroupId once ACTIVE");
        assert_eq!(id, stored[0]["groupId"].as_str().unwrap());
        assert_eq!(active.invite_link, None);

        // A link, then a reset: a new link, listed in place of the old one.
        let link_req = AddChatGroupInviteLink {
            business_number: BN.into(),
            cust_space_id: t.clone(),
            group_id: id.clone(),
            channel_type: None,
        };
        let first = client
            .add_chat_group_invite_link(None, &creds(t), &link_req)
            .await
            .unwrap();
        let first_link = first.invite_link.clone().unwrap();
        assert!(first_link
            .expose()
            .starts_with("https://chat.whatsapp.com/"));
        let printed = format!("{first:?} {}", first.response.body);
        assert!(!printed.contains(first_link.expose()), "{printed}");
        let listed = sim.row(scheme, t, "Lifecycle").await.unwrap();
        assert_eq!(listed.invite_link.as_deref(), Some(first_link.expose()));
        let second = client
            .add_chat_group_invite_link(None, &creds(t), &link_req)
            .await
            .unwrap()
            .invite_link
            .unwrap();
        assert_ne!(second.expose(), first_link.expose());
        let listed = sim.row(scheme, t, "Lifecycle").await.unwrap();
        assert_eq!(listed.invite_link.as_deref(), Some(second.expose()));
        let unlinked = client
            .delete_chat_group_invite_link(
                None,
                &creds(t),
                &DeleteChatGroupInviteLink {
                    business_number: BN.into(),
                    cust_space_id: t.clone(),
                    group_id: id.clone(),
                    channel_type: Some("WHATSAPP".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(unlinked.envelope.result, Some(1));
        assert_eq!(
            sim.row(scheme, t, "Lifecycle").await.unwrap().invite_link,
            None
        );

        // Deleted: DELETING (a second delete is accepted), then gone; then GroupNotExist.
        let delete = DeleteChatGroup {
            business_number: BN.into(),
            cust_space_id: t.clone(),
            group_id: id.clone(),
            channel_type: None,
        };
        let deleted = client
            .delete_chat_group(None, &creds(t), &delete)
            .await
            .unwrap();
        assert_eq!(deleted.envelope.result, Some(1));
        let deleting = sim.row(scheme, t, "Lifecycle").await.unwrap();
        assert_eq!(deleting.group_status.as_deref(), Some("DELETING"));
        assert_eq!(deleting.group_id.as_deref(), Some(id.as_str()));
        client
            .delete_chat_group(None, &creds(t), &delete)
            .await
            .unwrap();
        sim.wait_row(scheme, t, "Lifecycle", |r| r.is_none()).await;
        assert!(sim
            .stored_groups(t)
            .await
            .iter()
            .all(|g| g["subject"] != "Lifecycle"));
        let err = client
            .delete_chat_group(None, &creds(t), &delete)
            .await
            .unwrap_err();
        assert!(err.is_group_not_found(), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Terminal);
        let err = client
            .add_chat_group_invite_link(None, &creds(t), &link_req)
            .await
            .unwrap_err();
        assert!(err.is_group_not_found(), "{err:?}");
    }
}

#[tokio::test]
async fn a_lost_add_answer_still_creates_the_group_and_the_log_keeps_its_unique_code() {
    let sim = Sim::start().await;
    let t = "t-lost-add";
    sim.setup(t).await;
    let (s, _) = sim
        .admin(
            "PUT",
            &format!("faults/tenants/{t}"),
            json!({"loseAnswerProbability": 1.0}),
        )
        .await;
    assert_eq!(s, 200);
    let client = sim.client(SignatureVersion::V3);
    let err = client
        .add_chat_group(None, &creds(t), &add(t, "Lost answer"))
        .await
        .unwrap_err();
    assert!(matches!(err, CamsError::Transport(_)), "{err:?}");
    assert!(err.may_have_reached_cams());
    // The group exists all the same: a retry would make a second one.
    let made: Vec<Value> = sim
        .stored_groups(t)
        .await
        .into_iter()
        .filter(|g| g["subject"] == "Lost answer")
        .collect();
    assert_eq!(made.len(), 1);
    let calls = sim.calls(t).await;
    let lost = calls.last().unwrap();
    assert_eq!(
        (
            lost["action"].as_str(),
            lost["code"].as_str(),
            lost["fault"].as_str()
        ),
        (Some("AddChatGroup"), Some("OK"), Some("answer_lost"))
    );
    assert_eq!(lost["uniqueCode"], made[0]["uniqueCode"]);

    sim.admin("DELETE", &format!("faults/tenants/{t}"), Value::Null)
        .await;
    let added = client
        .add_chat_group(None, &creds(t), &add(t, "Lost answer"))
        .await
        .unwrap();
    let made = sim.stored_groups(t).await;
    assert_eq!(
        made.iter()
            .filter(|g| g["subject"] == "Lost answer")
            .count(),
        2,
        "the same subject twice is two groups"
    );
    let calls = sim.calls(t).await;
    let ok = calls.last().unwrap();
    assert_eq!(ok["uniqueCode"].as_str(), added.unique_code.as_deref());
    assert_eq!(ok["fault"], Value::Null);
    // Only accepted AddChatGroup calls carry one.
    let list = sim.list(t, 10, &[]).await;
    assert_eq!(list.0, 200);
    let calls = sim.calls(t).await;
    assert!(
        calls.last().unwrap().get("uniqueCode").is_none(),
        "{calls:?}"
    );
}

#[tokio::test]
async fn failed_creates_vanish_or_stay_inactive() {
    let sim = Sim::start().await;
    let scheme = SignatureVersion::V1;
    let t = "t-vanish";
    sim.setup(t).await;
    sim.realism(
        t,
        json!({"createDelayMs": 200, "groupIdWhileCreating": "visible",
               "createFailure": {"mode": "vanish", "count": 1}}),
    )
    .await;
    let client = sim.client(scheme);
    let lost = client
        .add_chat_group(None, &creds(t), &add(t, "Vanishing"))
        .await
        .unwrap();
    assert!(lost.unique_code.is_some(), "answered OK with a UniqueCode");
    client
        .add_chat_group(None, &creds(t), &add(t, "Surviving"))
        .await
        .unwrap();
    let (_, knobs) = sim
        .admin("GET", &format!("realism/tenants/{t}"), Value::Null)
        .await;
    assert_eq!(
        knobs["createFailure"],
        json!({"mode": "vanish", "count": 0})
    );
    let creating = sim.row(scheme, t, "Vanishing").await.unwrap();
    assert_eq!(creating.group_status.as_deref(), Some("CREATING"));
    assert!(creating.group_id.is_some(), "visible");
    sim.wait_row(scheme, t, "Vanishing", |r| r.is_none()).await;
    let survivor = sim
        .wait_row(scheme, t, "Surviving", |r| {
            r.is_some_and(|r| r.group_status.as_deref() == Some("ACTIVE"))
        })
        .await
        .unwrap();
    assert!(survivor.group_id.is_some());
    let subjects: Vec<Value> = sim
        .stored_groups(t)
        .await
        .iter()
        .map(|g| g["subject"].clone())
        .collect();
    assert_eq!(subjects, [json!("Old"), json!("Surviving")]);

    let t = "t-inactive";
    sim.setup(t).await;
    sim.realism(
        t,
        json!({"createDelayMs": 100, "createFailure": {"mode": "inactive"},
               "inviteLinkAtCreation": true}),
    )
    .await;
    client
        .add_chat_group(None, &creds(t), &add(t, "Stuck"))
        .await
        .unwrap();
    let stuck = sim
        .wait_row(scheme, t, "Stuck", |r| {
            r.is_some_and(|r| r.group_status.as_deref() != Some("CREATING"))
        })
        .await
        .unwrap();
    assert_eq!(stuck.group_status.as_deref(), Some("INACTIVE"));
    assert!(stuck.group_id.is_some());
    assert!(stuck
        .invite_link
        .as_deref()
        .is_some_and(|l| l.starts_with("https://chat.whatsapp.com/")));
    let (_, knobs) = sim
        .admin("GET", &format!("realism/tenants/{t}"), Value::Null)
        .await;
    assert_eq!(
        knobs["createFailure"],
        json!({"mode": "inactive", "count": null})
    );
}

#[tokio::test]
async fn lifecycle_knobs_are_validated_and_round_trip() {
    let sim = Sim::start().await;
    let knobs = json!({"createDelayMs": 5, "groupIdWhileCreating": "visible",
                       "createFailure": {"mode": "vanish", "count": 3},
                       "deleteDelayMs": 7, "inviteLinkAtCreation": true});
    let stored = sim.realism("t-knobs", knobs.clone()).await;
    for key in [
        "createDelayMs",
        "groupIdWhileCreating",
        "createFailure",
        "deleteDelayMs",
        "inviteLinkAtCreation",
    ] {
        assert_eq!(stored[key], knobs[key], "{key}");
    }
    let (_, defaults) = sim.admin("GET", "realism/default", Value::Null).await;
    assert_eq!(defaults["groupIdWhileCreating"], "hidden");
    assert_eq!(defaults["createFailure"], Value::Null);
    for bad in [
        json!({"groupIdWhileCreating": "sometimes"}),
        json!({"createFailure": {"mode": "explode"}}),
        json!({"createFailure": {"count": 1}}),
        json!({"createDelayMs": -5}),
        json!({"deleteDelayMS": 5}),
    ] {
        let (s, v) = sim
            .admin("PUT", "realism/tenants/t-knobs", bad.clone())
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}
