//! The realism knobs as the actions apply them, on a state without HTTP, with explicit times
//! (`dispatch` takes the clock as `now_ms`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::{dispatch, Params, LIST_FIELDS};
use crate::envelope::ApiError;
use crate::realism::{
    picture_copy_url, ListOrder, NeverApply, RealismConfig, SubjectFilter, UpdateField,
};
use crate::state::{Group, GroupEdit, GroupSeed, State};

const CS: &str = "cs1";
const BN: &str = "861";

/// Tenant `cs1` with group G1 ("Old subject", "Old description") seeded at time 1, and the
/// realism knobs `realism` of its own.
fn state(realism: RealismConfig) -> State {
    let mut s = State::new(Duration::from_secs(900), 100);
    s.seed_group(
        GroupSeed {
            subject: Some("Old subject".into()),
            description: Some("Old description".into()),
            ..GroupSeed::new(CS, BN, "G1")
        },
        1,
    );
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

/// UpdateChatGroup of G1 at `now_ms`; must answer `Result: 1`.
fn update_at(s: &mut State, now_ms: i64, fields: &[(&str, &str)]) {
    let mut params = vec![("GroupId", "G1")];
    params.extend_from_slice(fields);
    let out = call_at(s, now_ms, "UpdateChatGroup", &params).unwrap();
    assert_eq!(out["Result"], 1);
}

/// The ListChatGroup rows at `now_ms` (page 1 of 100, with `extra` parameters).
fn rows_at(s: &mut State, now_ms: i64, extra: &[(&str, &str)]) -> Vec<Value> {
    let mut params = vec![("Page", r#"{"Index":1,"Size":100}"#)];
    params.extend_from_slice(extra);
    let out = call_at(s, now_ms, "ListChatGroup", &params).unwrap();
    out["Data"]["List"].as_array().unwrap().clone()
}

/// G1's ListChatGroup row at `now_ms`.
fn g1_row_at(s: &mut State, now_ms: i64) -> Value {
    let rows = rows_at(s, now_ms, &[]);
    rows.into_iter().find(|r| r["GroupId"] == "G1").unwrap()
}

fn g1(s: &State) -> &Group {
    &s.tenants[CS][&(BN.to_string(), "G1".to_string())]
}

fn delayed(ms: u64) -> RealismConfig {
    RealismConfig {
        update_delay_ms: ms,
        ..RealismConfig::default()
    }
}

#[test]
fn a_delayed_update_lists_updating_and_the_old_values_until_it_is_due() {
    let mut s = state(delayed(500));
    update_at(&mut s, 1000, &[("Subject", "New subject")]);
    let row = g1_row_at(&mut s, 1499);
    assert_eq!(row["GroupStatus"], "UPDATING");
    assert_eq!(row["Subject"], "Old subject");
    assert_eq!(row["GmtModifier"], 1000);
    // Due: the new value, ACTIVE again, GmtModifier at the time it applied.
    let row = g1_row_at(&mut s, 1500);
    assert_eq!(row["GroupStatus"], "ACTIVE");
    assert_eq!(row["Subject"], "New subject");
    assert_eq!(row["Description"], "Old description");
    assert_eq!(row["GmtModifier"], 1500);
    assert!(g1(&s).pending_update.is_none());
    // Read late, it still applied at its due time.
    update_at(&mut s, 2000, &[("Description", "Later")]);
    let row = g1_row_at(&mut s, 9000);
    assert_eq!(
        (row["Description"].as_str(), row["GmtModifier"].as_i64()),
        (Some("Later"), Some(2500))
    );
}

#[test]
fn a_pending_update_is_applied_before_the_next_one_is_layered_on() {
    let mut s = state(delayed(500));
    update_at(&mut s, 1000, &[("Subject", "First")]);
    update_at(&mut s, 1100, &[("Description", "Second")]);
    // The first one applied when the second arrived; the second is pending.
    let row = g1_row_at(&mut s, 1200);
    assert_eq!(row["GroupStatus"], "UPDATING");
    assert_eq!(row["Subject"], "First");
    assert_eq!(row["Description"], "Old description");
    let row = g1_row_at(&mut s, 1600);
    assert_eq!(row["GroupStatus"], "ACTIVE");
    assert_eq!(
        (row["Subject"].as_str(), row["Description"].as_str()),
        (Some("First"), Some("Second"))
    );
    // The latest wins on the same field.
    update_at(&mut s, 2000, &[("Subject", "A")]);
    update_at(&mut s, 2001, &[("Subject", "B")]);
    assert_eq!(g1_row_at(&mut s, 3000)["Subject"], "B");
}

#[test]
fn a_delayed_update_returns_to_the_status_the_group_had() {
    let mut s = state(delayed(100));
    let key = (BN.to_string(), "G1".to_string());
    let group = s.tenants.get_mut(CS).unwrap().get_mut(&key).unwrap();
    group.edit(GroupEdit::default().with_status("INACTIVE"), 10);
    update_at(&mut s, 1000, &[("Subject", "X")]);
    assert_eq!(g1_row_at(&mut s, 1050)["GroupStatus"], "UPDATING");
    assert_eq!(g1_row_at(&mut s, 1100)["GroupStatus"], "INACTIVE");
    // The status filter sees UPDATING while the update is pending.
    update_at(&mut s, 2000, &[("Subject", "Y")]);
    assert_eq!(
        rows_at(&mut s, 2001, &[("GroupStatus", "UPDATING")]).len(),
        1
    );
    assert_eq!(
        rows_at(&mut s, 2001, &[("GroupStatus", "INACTIVE")]).len(),
        0
    );
}

#[test]
fn never_apply_answers_ok_withholds_its_fields_and_counts_down() {
    let mut s = state(RealismConfig {
        never_apply: Some(NeverApply {
            fields: vec![UpdateField::Subject],
            count: Some(2),
        }),
        ..RealismConfig::default()
    });
    update_at(
        &mut s,
        1000,
        &[("Subject", "Lost 1"), ("Description", "Kept")],
    );
    assert_eq!(g1(&s).subject.as_deref(), Some("Old subject"));
    assert_eq!(g1(&s).description.as_deref(), Some("Kept"));
    assert_eq!(g1(&s).gmt_modifier, 1000);
    // Only the withheld field sent: the group is untouched.
    update_at(&mut s, 2000, &[("Subject", "Lost 2")]);
    assert_eq!(g1(&s).subject.as_deref(), Some("Old subject"));
    assert_eq!(g1(&s).gmt_modifier, 1000);
    let remaining = |s: &State| s.tenant_realism[CS].never_apply.as_ref().unwrap().count;
    assert_eq!(remaining(&s), Some(0));
    // Spent: the next one applies.
    update_at(&mut s, 3000, &[("Subject", "Applied")]);
    assert_eq!(g1(&s).subject.as_deref(), Some("Applied"));
    assert_eq!(remaining(&s), Some(0));
}

#[test]
fn never_apply_without_a_count_uses_the_default_when_the_tenant_has_none() {
    let mut s = state(RealismConfig::default());
    s.tenant_realism.clear();
    s.default_realism.never_apply = Some(NeverApply {
        fields: vec![UpdateField::ProfilePictureFile],
        count: None,
    });
    for i in 0..3 {
        update_at(
            &mut s,
            1000 + i,
            &[("ProfilePictureFile", "https://cdn.example.com/p.jpg")],
        );
    }
    assert_eq!(g1(&s).profile_picture_file, None);
    assert_eq!(s.default_realism.never_apply.as_ref().unwrap().count, None);
    // A group of an unknown id still answers GroupNotExist and does not count.
    let err = call_at(
        &mut s,
        5000,
        "UpdateChatGroup",
        &[("GroupId", "NOPE"), ("Subject", "x")],
    );
    assert_eq!(err.unwrap_err().code, "InvalidParameter.GroupNotExist");
}

#[test]
fn picture_copy_stores_and_lists_the_cams_copy() {
    let url = "https://cdn.example.com/vip.jpg";
    let mut s = state(RealismConfig {
        picture_copy: true,
        ..RealismConfig::default()
    });
    update_at(&mut s, 1000, &[("ProfilePictureFile", url)]);
    let copy = picture_copy_url(CS, url);
    assert!(
        copy.starts_with("https://cams-cdn.simulator.invalid/cs1/"),
        "{copy}"
    );
    assert_eq!(g1_row_at(&mut s, 1001)["ProfilePictureFile"], copy.as_str());
    // Without the knob: the URL as sent.
    s.tenant_realism.clear();
    update_at(&mut s, 2000, &[("ProfilePictureFile", url)]);
    assert_eq!(g1_row_at(&mut s, 2001)["ProfilePictureFile"], url);
}

/// Tenant `cs1` with groups whose subjects differ in case and position of "VIP".
fn vip_groups(filter: SubjectFilter) -> State {
    let mut s = state(RealismConfig {
        subject_filter: filter,
        ..RealismConfig::default()
    });
    for (id, subject) in [
        ("V1", "VIP"),
        ("V2", "VIP line"),
        ("V3", "The VIP"),
        ("V4", "vip"),
    ] {
        s.seed_group(GroupSeed::new(CS, BN, id).with_subject(subject), 1);
    }
    s
}

fn ids(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["GroupId"].as_str().unwrap())
        .collect()
}

#[test]
fn the_subject_filter_matches_exactly_by_prefix_or_by_substring() {
    for (filter, expected) in [
        (SubjectFilter::Exact, vec!["V1"]),
        (SubjectFilter::Prefix, vec!["V1", "V2"]),
        (SubjectFilter::Substring, vec!["V1", "V2", "V3"]),
    ] {
        let mut s = vip_groups(filter);
        let rows = rows_at(&mut s, 10, &[("Subject", "VIP")]);
        assert_eq!(ids(&rows), expected, "{filter:?}");
    }
}

#[test]
fn a_page_above_max_page_size_is_refused_with_page_invalid() {
    let mut s = state(RealismConfig {
        max_page_size: 10,
        ..RealismConfig::default()
    });
    let ok = call_at(
        &mut s,
        10,
        "ListChatGroup",
        &[("Page", r#"{"Index":1,"Size":10}"#)],
    );
    assert_eq!(ok.unwrap()["Data"]["Total"], 1);
    let err = call_at(
        &mut s,
        10,
        "ListChatGroup",
        &[("Page", r#"{"Index":1,"Size":11}"#)],
    )
    .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status),
        ("InvalidParameter.PageInvalid", 400)
    );
    assert!(
        err.message
            .contains("Size 11 is larger than the largest page size, 10"),
        "{}",
        err.message
    );
    // A larger cap than CAMS's default is allowed too.
    s.tenant_realism.get_mut(CS).unwrap().max_page_size = 500;
    let ok = call_at(
        &mut s,
        10,
        "ListChatGroup",
        &[("Page", r#"{"Index":1,"Size":500}"#)],
    );
    assert!(ok.is_ok());
    // ListChatGroupParticipants keeps its own cap of 100.
    let err = call_at(
        &mut s,
        10,
        "ListChatGroupParticipants",
        &[("GroupId", "G1"), ("Page", r#"{"Index":1,"Size":101}"#)],
    );
    assert_eq!(err.unwrap_err().code, "InvalidParameter.PageInvalid");
}

/// Three groups created by AddChatGroup (random `SIM…` ids) after G1; their UniqueCodes in
/// creation order.
fn add_three(s: &mut State) -> Vec<String> {
    (0..3)
        .map(|i| {
            let subject = format!("added {i}");
            let out = call_at(s, 100 + i, "AddChatGroup", &[("Subject", &subject)]).unwrap();
            out["UniqueCode"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn rows_come_in_creation_order_or_newest_first_stable_across_pages() {
    let mut s = state(RealismConfig::default());
    add_three(&mut s);
    let subjects = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["Subject"].as_str().unwrap().to_string())
            .collect()
    };
    // Creation order, not GroupId order ("G1" sorts before "SIM…" but so does creation).
    let rows = rows_at(&mut s, 200, &[]);
    assert_eq!(
        subjects(&rows),
        ["Old subject", "added 0", "added 1", "added 2"]
    );
    s.tenant_realism.get_mut(CS).unwrap().list_order = ListOrder::NewestFirst;
    let rows = rows_at(&mut s, 200, &[]);
    assert_eq!(
        subjects(&rows),
        ["added 2", "added 1", "added 0", "Old subject"]
    );
    // Pages of 3 then 1 continue the same order.
    let page = |s: &mut State, index: u32| {
        let raw = format!(r#"{{"Index":{index},"Size":3}}"#);
        let out = call_at(s, 200, "ListChatGroup", &[("Page", &raw)]).unwrap();
        subjects(out["Data"]["List"].as_array().unwrap())
    };
    let mut paged = page(&mut s, 1);
    paged.extend(page(&mut s, 2));
    assert_eq!(paged, ["added 2", "added 1", "added 0", "Old subject"]);
}

#[test]
fn creation_order_is_not_group_id_order() {
    let mut s = State::new(Duration::from_secs(900), 10);
    for id in ["Z9", "A1", "M5"] {
        s.seed_group(GroupSeed::new(CS, BN, id), 1);
    }
    assert_eq!(ids(&rows_at(&mut s, 2, &[])), ["Z9", "A1", "M5"]);
    s.default_realism.list_order = ListOrder::NewestFirst;
    assert_eq!(ids(&rows_at(&mut s, 2, &[])), ["M5", "A1", "Z9"]);
}

#[test]
fn every_row_carries_every_documented_field() {
    let mut s = State::new(Duration::from_secs(900), 10);
    s.seed_group(GroupSeed::new(CS, BN, "BARE"), 1);
    let row = row_of(&mut s, "BARE");
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, LIST_FIELDS);
    for unset in [
        "Description",
        "GroupLink",
        "InviteLink",
        "ProfilePictureFile",
        "Subject",
    ] {
        assert!(row[unset].is_null(), "{unset}: {row}");
    }
    assert_eq!(row["TotalParticipantCount"], 0);
}

fn row_of(s: &mut State, id: &str) -> Value {
    rows_at(s, 2, &[])
        .into_iter()
        .find(|r| r["GroupId"] == id)
        .unwrap()
}
