//! The lifecycle knobs (`createDelayMs`, `groupIdWhileCreating`, `createFailure`,
//! `deleteDelayMs`, `inviteLinkAtCreation`) as the actions apply them, on a state without
//! HTTP, with explicit times (`dispatch` takes the clock as `now_ms`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::{dispatch, Params};
use crate::envelope::ApiError;
use crate::realism::{CreateFailure, CreateFailureMode, GroupIdWhileCreating, RealismConfig};
use crate::state::{CreateOutcome, Group, GroupEdit, GroupSeed, State};

const CS: &str = "cs1";
const BN: &str = "861";

/// Tenant `cs1` with group G1 ("Old subject") seeded at time 1, and `realism` of its own.
fn state(realism: RealismConfig) -> State {
    let mut s = State::new(Duration::from_secs(900), 100);
    s.seed_group(GroupSeed::new(CS, BN, "G1").with_subject("Old subject"), 1);
    s.tenant_realism.insert(CS.into(), realism);
    s
}

fn call_at(
    s: &mut State,
    now_ms: i64,
    action: &str,
    params: &[(&str, &str)],
) -> Result<Map<String, Value>, ApiError> {
    let mut owned: Vec<(String, String)> = vec![
        ("BusinessNumber".into(), BN.into()),
        ("CustSpaceId".into(), CS.into()),
    ];
    owned.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    dispatch(action, Params(&owned), s, now_ms)
}

/// AddChatGroup with `subject` at `now_ms`; its UniqueCode.
fn add_at(s: &mut State, now_ms: i64, subject: &str) -> String {
    let out = call_at(s, now_ms, "AddChatGroup", &[("Subject", subject)]).unwrap();
    assert_eq!(out.len(), 1, "only UniqueCode: {out:?}");
    out["UniqueCode"].as_str().unwrap().to_string()
}

/// The ListChatGroup rows at `now_ms` (page 1 of 100, with `extra` parameters).
fn rows_at(s: &mut State, now_ms: i64, extra: &[(&str, &str)]) -> Vec<Value> {
    let mut params = vec![("Page", r#"{"Index":1,"Size":100}"#)];
    params.extend_from_slice(extra);
    let out = call_at(s, now_ms, "ListChatGroup", &params).unwrap();
    assert_eq!(
        out["Data"]["Total"].as_u64().unwrap() as usize,
        out["Data"]["List"].as_array().unwrap().len()
    );
    out["Data"]["List"].as_array().unwrap().clone()
}

/// The row with `subject` at `now_ms`, if listed.
fn row_at(s: &mut State, now_ms: i64, subject: &str) -> Option<Value> {
    rows_at(s, now_ms, &[])
        .into_iter()
        .find(|r| r["Subject"] == subject)
}

/// The stored group with this UniqueCode, if it exists (settled or not).
fn stored<'s>(s: &'s State, unique_code: &str) -> Option<&'s Group> {
    s.tenants[CS]
        .values()
        .find(|g| g.unique_code == unique_code)
}

fn knobs(f: impl FnOnce(&mut RealismConfig)) -> RealismConfig {
    let mut r = RealismConfig::default();
    f(&mut r);
    r
}

fn code(r: Result<Map<String, Value>, ApiError>) -> String {
    r.unwrap_err().code
}

#[test]
fn a_new_group_lists_creating_without_its_group_id_then_active_with_it() {
    let mut s = state(knobs(|r| r.create_delay_ms = 500));
    let unique = add_at(&mut s, 1000, "Fresh");
    let id = stored(&s, &unique).unwrap().group_id.clone();
    let row = row_at(&mut s, 1499, "Fresh").unwrap();
    assert_eq!(row["GroupStatus"], "CREATING");
    assert!(row["GroupId"].is_null(), "{row}");
    assert_eq!(row["BusinessNumber"], BN);
    assert_eq!(row["GmtModifier"], 1000);
    // Filters see it with its Subject and status.
    assert_eq!(
        rows_at(&mut s, 1499, &[("GroupStatus", "CREATING")]).len(),
        1
    );
    assert_eq!(rows_at(&mut s, 1499, &[("Subject", "Fresh")]).len(), 1);
    // The creation ends at its due time, however late it is read.
    let row = row_at(&mut s, 9000, "Fresh").unwrap();
    assert_eq!(row["GroupStatus"], "ACTIVE");
    assert_eq!(row["GroupId"], id.as_str());
    assert_eq!(row["GmtModifier"], 1500);
    assert!(stored(&s, &unique).unwrap().pending_create.is_none());
}

#[test]
fn with_visible_ids_a_creating_row_carries_its_group_id() {
    let mut s = state(knobs(|r| {
        r.create_delay_ms = 500;
        r.group_id_while_creating = GroupIdWhileCreating::Visible;
    }));
    let unique = add_at(&mut s, 1000, "Fresh");
    let id = stored(&s, &unique).unwrap().group_id.clone();
    let row = row_at(&mut s, 1200, "Fresh").unwrap();
    assert_eq!(
        (row["GroupStatus"].as_str(), row["GroupId"].as_str()),
        (Some("CREATING"), Some(id.as_str()))
    );
}

#[test]
fn the_id_of_any_creating_group_is_hidden_by_default() {
    let mut s = State::new(Duration::from_secs(900), 10);
    s.seed_group(
        GroupSeed {
            group_status: Some("CREATING".into()),
            ..GroupSeed::new(CS, BN, "SEEDED").with_subject("Seeded")
        },
        1,
    );
    assert!(row_at(&mut s, 2, "Seeded").unwrap()["GroupId"].is_null());
    s.default_realism.group_id_while_creating = GroupIdWhileCreating::Visible;
    assert_eq!(row_at(&mut s, 2, "Seeded").unwrap()["GroupId"], "SEEDED");
}

#[test]
fn without_a_delay_a_new_group_is_active_at_once() {
    let mut s = state(RealismConfig::default());
    let unique = add_at(&mut s, 1000, "Fresh");
    let g = stored(&s, &unique).unwrap();
    assert_eq!(
        (g.group_status.as_str(), g.pending_create),
        ("ACTIVE", None)
    );
    assert_eq!(g.invite_link, None);
    assert!(row_at(&mut s, 1000, "Fresh").unwrap()["GroupId"].is_string());
}

#[test]
fn a_vanishing_create_is_listed_creating_then_disappears_for_count_calls() {
    let mut s = state(knobs(|r| {
        r.create_delay_ms = 500;
        r.create_failure = Some(CreateFailure {
            mode: CreateFailureMode::Vanish,
            count: Some(1),
        });
    }));
    let lost = add_at(&mut s, 1000, "Lost");
    let kept = add_at(&mut s, 1000, "Kept");
    assert_eq!(
        s.tenant_realism[CS].create_failure.unwrap().count,
        Some(0),
        "one call affected"
    );
    let lost_id = stored(&s, &lost).unwrap().group_id.clone();
    assert_eq!(
        stored(&s, &lost).unwrap().pending_create.unwrap().outcome,
        CreateOutcome::Vanish
    );
    assert_eq!(
        row_at(&mut s, 1499, "Lost").unwrap()["GroupStatus"],
        "CREATING"
    );
    // When the delay ends: gone from the list, from the state, and to every action.
    assert!(row_at(&mut s, 1500, "Lost").is_none());
    assert!(stored(&s, &lost).is_none());
    assert_eq!(
        row_at(&mut s, 1500, "Kept").unwrap()["GroupStatus"],
        "ACTIVE"
    );
    assert!(stored(&s, &kept).is_some());
    let by_id = [("GroupId", lost_id.as_str()), ("Subject", "x")];
    assert_eq!(
        code(call_at(&mut s, 1600, "UpdateChatGroup", &by_id)),
        "InvalidParameter.GroupNotExist"
    );
}

#[test]
fn a_vanishing_create_read_by_its_id_after_the_delay_is_gone() {
    let mut s = state(knobs(|r| {
        r.create_delay_ms = 100;
        r.create_failure = Some(CreateFailure {
            mode: CreateFailureMode::Vanish,
            count: None,
        });
    }));
    let unique = add_at(&mut s, 1000, "Lost");
    let id = stored(&s, &unique).unwrap().group_id.clone();
    // Not listed in between: the first read is by id, after the delay.
    let by_id = [("GroupId", id.as_str())];
    assert_eq!(
        code(call_at(&mut s, 2000, "AddChatGroupInviteLink", &by_id)),
        "InvalidParameter.GroupNotExist"
    );
    assert!(stored(&s, &unique).is_none(), "removed when found gone");
}

#[test]
fn an_inactive_create_stays_listed_inactive_for_every_call_without_a_count() {
    let mut s = state(knobs(|r| {
        r.create_delay_ms = 200;
        r.create_failure = Some(CreateFailure {
            mode: CreateFailureMode::Inactive,
            count: None,
        });
    }));
    for subject in ["A", "B", "C"] {
        add_at(&mut s, 1000, subject);
    }
    let at = |s: &mut State, now| {
        rows_at(s, now, &[])
            .into_iter()
            .filter(|r| r["Subject"] != "Old subject")
            .map(|r| r["GroupStatus"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(at(&mut s, 1199), ["CREATING"; 3]);
    assert_eq!(at(&mut s, 1200), ["INACTIVE"; 3]);
    assert_eq!(at(&mut s, 99_999), ["INACTIVE"; 3]);
    // INACTIVE rows carry their GroupId (only CREATING hides it).
    assert!(rows_at(&mut s, 1200, &[("GroupStatus", "INACTIVE")])
        .iter()
        .all(|r| r["GroupId"].is_string()));
}

#[test]
fn without_a_delay_a_failed_create_is_inactive_at_once_or_never_seen() {
    let mut s = state(knobs(|r| {
        r.create_failure = Some(CreateFailure {
            mode: CreateFailureMode::Inactive,
            count: Some(1),
        });
    }));
    let unique = add_at(&mut s, 1000, "Inactive");
    assert_eq!(stored(&s, &unique).unwrap().group_status, "INACTIVE");
    s.tenant_realism.get_mut(CS).unwrap().create_failure = Some(CreateFailure {
        mode: CreateFailureMode::Vanish,
        count: Some(1),
    });
    let before = s.groups_created;
    let unique = add_at(&mut s, 1000, "Vanished");
    assert!(!unique.is_empty());
    assert!(stored(&s, &unique).is_none());
    assert!(row_at(&mut s, 1000, "Vanished").is_none());
    assert_eq!(s.groups_created, before, "no group was made");
    // Spent: the next create works.
    add_at(&mut s, 1000, "Works");
    assert_eq!(
        row_at(&mut s, 1000, "Works").unwrap()["GroupStatus"],
        "ACTIVE"
    );
}

#[test]
fn a_delayed_delete_lists_deleting_accepts_a_second_delete_then_the_group_is_gone() {
    let mut s = state(knobs(|r| r.delete_delay_ms = 300));
    let g1 = [("GroupId", "G1")];
    assert_eq!(
        call_at(&mut s, 1000, "DeleteChatGroup", &g1).unwrap()["Result"],
        1
    );
    let row = row_at(&mut s, 1299, "Old subject").unwrap();
    assert_eq!(row["GroupStatus"], "DELETING");
    assert_eq!(row["GroupId"], "G1");
    assert_eq!(row["GmtModifier"], 1000);
    // A second delete while DELETING: OK, and the deletion keeps its time.
    assert_eq!(
        call_at(&mut s, 1200, "DeleteChatGroup", &g1).unwrap()["Result"],
        1
    );
    assert_eq!(
        s.tenants[CS].values().next().unwrap().delete_at_ms,
        Some(1300)
    );
    assert!(row_at(&mut s, 1300, "Old subject").is_none());
    assert!(s.tenants[CS].is_empty());
    assert_eq!(
        code(call_at(&mut s, 1301, "DeleteChatGroup", &g1)),
        "InvalidParameter.GroupNotExist"
    );
}

#[test]
fn a_deleting_group_is_gone_to_every_action_once_due() {
    let mut s = state(knobs(|r| r.delete_delay_ms = 300));
    call_at(&mut s, 1000, "DeleteChatGroup", &[("GroupId", "G1")]).unwrap();
    // While DELETING the other actions still find it; an update applies at once.
    call_at(
        &mut s,
        1100,
        "UpdateChatGroup",
        &[("GroupId", "G1"), ("Subject", "Renamed")],
    )
    .unwrap();
    let row = row_at(&mut s, 1100, "Renamed").unwrap();
    assert_eq!(row["GroupStatus"], "DELETING");
    for action in [
        "UpdateChatGroup",
        "AddChatGroupInviteLink",
        "DeleteChatGroupInviteLink",
        "ListChatGroupParticipants",
    ] {
        assert_eq!(
            code(call_at(
                &mut s,
                1300,
                action,
                &[("GroupId", "G1"), ("Subject", "x")]
            )),
            "InvalidParameter.GroupNotExist",
            "{action}"
        );
    }
}

#[test]
fn a_delete_applies_a_pending_update_first_and_abandons_a_creation() {
    let mut s = state(knobs(|r| {
        r.update_delay_ms = 10_000;
        r.create_delay_ms = 10_000;
        r.delete_delay_ms = 100;
    }));
    call_at(
        &mut s,
        1000,
        "UpdateChatGroup",
        &[("GroupId", "G1"), ("Subject", "Pending")],
    )
    .unwrap();
    call_at(&mut s, 1001, "DeleteChatGroup", &[("GroupId", "G1")]).unwrap();
    let row = row_at(&mut s, 1002, "Pending").unwrap();
    assert_eq!(row["GroupStatus"], "DELETING");
    // A group still being created can be deleted: DELETING, then gone.
    s.tenant_realism
        .get_mut(CS)
        .unwrap()
        .group_id_while_creating = GroupIdWhileCreating::Visible;
    let unique = add_at(&mut s, 2000, "Creating");
    let id = stored(&s, &unique).unwrap().group_id.clone();
    call_at(&mut s, 2001, "DeleteChatGroup", &[("GroupId", id.as_str())]).unwrap();
    let g = stored(&s, &unique).unwrap();
    assert_eq!(
        (g.group_status.as_str(), g.pending_create),
        ("DELETING", None)
    );
    assert!(row_at(&mut s, 2101, "Creating").is_none());
}

#[test]
fn an_update_of_a_creating_group_applies_at_once_and_keeps_creating() {
    let mut s = state(knobs(|r| {
        r.create_delay_ms = 500;
        r.update_delay_ms = 10_000;
        r.group_id_while_creating = GroupIdWhileCreating::Visible;
    }));
    let unique = add_at(&mut s, 1000, "Fresh");
    let id = stored(&s, &unique).unwrap().group_id.clone();
    call_at(
        &mut s,
        1100,
        "UpdateChatGroup",
        &[("GroupId", id.as_str()), ("Description", "Set early")],
    )
    .unwrap();
    let row = row_at(&mut s, 1100, "Fresh").unwrap();
    assert_eq!(
        (row["GroupStatus"].as_str(), row["Description"].as_str()),
        (Some("CREATING"), Some("Set early"))
    );
    assert!(stored(&s, &unique).unwrap().pending_update.is_none());
    assert_eq!(
        row_at(&mut s, 1500, "Fresh").unwrap()["GroupStatus"],
        "ACTIVE"
    );
}

#[test]
fn an_edit_that_sets_the_status_ends_a_creation_or_a_deletion() {
    let mut s = state(knobs(|r| {
        r.create_delay_ms = 500;
        r.create_failure = Some(CreateFailure {
            mode: CreateFailureMode::Vanish,
            count: None,
        });
        r.delete_delay_ms = 500;
    }));
    let unique = add_at(&mut s, 1000, "Fresh");
    let key = {
        let g = stored(&s, &unique).unwrap();
        (g.business_number.clone(), g.group_id.clone())
    };
    let now = 1100;
    let group = s.tenants.get_mut(CS).unwrap().get_mut(&key).unwrap();
    // An edit without a status does not.
    group.edit(GroupEdit::default().with_description("x"), now);
    assert!(group.pending_create.is_some());
    group.edit(GroupEdit::default().with_status("SUSPENDED"), now);
    assert!(group.pending_create.is_none());
    assert_eq!(
        row_at(&mut s, 5000, "Fresh").unwrap()["GroupStatus"],
        "SUSPENDED"
    );
    call_at(
        &mut s,
        6000,
        "DeleteChatGroup",
        &[("GroupId", key.1.as_str())],
    )
    .unwrap();
    let group = s.tenants.get_mut(CS).unwrap().get_mut(&key).unwrap();
    group.edit(GroupEdit::default().with_status("ACTIVE"), 6100);
    assert_eq!(group.delete_at_ms, None);
    assert_eq!(
        row_at(&mut s, 9000, "Fresh").unwrap()["GroupStatus"],
        "ACTIVE"
    );
}

#[test]
fn a_new_group_may_get_an_invite_link_and_adding_a_link_resets_it() {
    let mut s = state(knobs(|r| {
        r.invite_link_at_creation = true;
        r.create_delay_ms = 100;
    }));
    let unique = add_at(&mut s, 1000, "Linked");
    let first = stored(&s, &unique).unwrap().invite_link.clone().unwrap();
    assert!(first.starts_with("https://chat.whatsapp.com/"), "{first}");
    // Listed from creation on, also while CREATING.
    assert_eq!(
        row_at(&mut s, 1050, "Linked").unwrap()["InviteLink"],
        first.as_str()
    );
    let id = stored(&s, &unique).unwrap().group_id.clone();
    let by_id = [("GroupId", id.as_str())];
    let out = call_at(&mut s, 2000, "AddChatGroupInviteLink", &by_id).unwrap();
    let second = out["InviteLink"].as_str().unwrap().to_string();
    assert_ne!(second, first, "a new link");
    let row = row_at(&mut s, 2000, "Linked").unwrap();
    assert_eq!(row["InviteLink"], second.as_str());
    assert_eq!(row["GmtModifier"], 2000);
    let third = call_at(&mut s, 2001, "AddChatGroupInviteLink", &by_id).unwrap();
    assert_ne!(third["InviteLink"], second.as_str());
    // Without the knob a new group has none.
    s.tenant_realism
        .get_mut(CS)
        .unwrap()
        .invite_link_at_creation = false;
    let unique = add_at(&mut s, 3000, "Bare");
    assert_eq!(stored(&s, &unique).unwrap().invite_link, None);
}

#[test]
fn create_failure_counts_down_the_default_knobs_when_the_tenant_has_none() {
    let mut s = state(RealismConfig::default());
    s.tenant_realism.clear();
    s.default_realism.create_failure = Some(CreateFailure {
        mode: CreateFailureMode::Inactive,
        count: Some(2),
    });
    for subject in ["A", "B", "C"] {
        add_at(&mut s, 1000, subject);
    }
    let statuses: Vec<_> = ["A", "B", "C"]
        .iter()
        .map(|subject| row_at(&mut s, 1000, subject).unwrap()["GroupStatus"].clone())
        .collect();
    assert_eq!(statuses, ["INACTIVE", "INACTIVE", "ACTIVE"]);
    assert_eq!(s.default_realism.create_failure.unwrap().count, Some(0));
}
