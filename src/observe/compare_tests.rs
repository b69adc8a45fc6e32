use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::fixtures::ChatGroupBuilder;
use crate::resource::ChatGroup;

fn t(secs: i64) -> DateTime<Utc> {
    crate::plan::parse_time("2026-11-30T12:00:00Z").unwrap() + chrono::Duration::seconds(secs)
}

fn object() -> ChatGroup {
    ChatGroupBuilder::new("g", "ns", "cs", "G1")
        .subject(Some("VIP support"))
        .description(Some("Priority line"))
        .build()
}

fn row(subject: &str, description: &str) -> GroupRow {
    GroupRow {
        group_id: "G1".into(),
        group_status: Some("ACTIVE".into()),
        subject: Some(subject.into()),
        description: Some(description.into()),
        ..Default::default()
    }
}

fn sighting(row: GroupRow, scans: u32, last_seen: DateTime<Utc>) -> Sighting {
    Sighting {
        row,
        scans,
        last_seen,
        last_scan: 1,
    }
}

/// The verdict at `now` for `obj` (accepted at `accepted`, if given) on `view`.
fn judge_at(obj: &ChatGroup, accepted: Option<i64>, view: View, now: i64) -> Verdict {
    let mut status = obj.status.clone().unwrap_or_default();
    status.last_sync_time = accepted.map(|s| crate::status::rfc3339(t(s)));
    verdict(
        &view,
        &CompareInput {
            spec: &obj.spec,
            status: &status,
            now: t(now),
            settle: Duration::from_secs(120),
        },
    )
}

/// Listed by `scans` consecutive scans, the last of which started at `last_seen`.
fn seen(row: GroupRow, scans: u32, last_seen: i64) -> View {
    View::Data(Lookup::Seen(sighting(row, scans, t(last_seen))))
}

#[test]
fn subject_and_description_compare_after_trimming() {
    let v = judge_at(
        &object(),
        Some(0),
        seen(row("  VIP support ", "Priority line\n"), 1, 10),
        300,
    );
    assert_eq!(v.in_sync, InSync::InSync);
    assert!(v.active);
    assert_eq!(
        v.at_provider.unwrap().subject.as_deref(),
        Some("  VIP support ")
    );
}

#[test]
fn unset_fields_are_never_compared() {
    let obj = ChatGroupBuilder::new("g", "ns", "cs", "G1").build();
    let mut r = row("anything", "whatever");
    r.profile_picture_file = Some("https://x/y.jpg".into());
    assert_eq!(
        judge_at(&obj, Some(0), seen(r, 2, 10), 300).in_sync,
        InSync::InSync
    );
    // An empty description is the same as none listed.
    let obj = ChatGroupBuilder::new("g", "ns", "cs", "G1")
        .description(Some(""))
        .build();
    let mut r = row("s", "");
    r.description = None;
    assert_eq!(
        judge_at(&obj, Some(0), seen(r, 2, 10), 300).in_sync,
        InSync::InSync
    );
}

#[test]
fn a_difference_is_updating_until_a_later_scan_and_the_settle_window_say_otherwise() {
    let obj = object();
    let old = row("Old subject", "Priority line");
    // Listed by a scan that started before the accepted write: not visible yet.
    let v = judge_at(&obj, Some(100), seen(old.clone(), 2, 50), 1000);
    assert!(
        matches!(&v.in_sync, InSync::Updating(m) if m.contains("subject")),
        "{v:?}"
    );
    // Listed after the write, within the settle window.
    let v = judge_at(&obj, Some(100), seen(old.clone(), 2, 110), 200);
    assert!(
        matches!(&v.in_sync, InSync::Updating(m) if m.contains("settling")),
        "{v:?}"
    );
    // After the settle window: drift, confirmed only by a second scan.
    let v = judge_at(&obj, Some(100), seen(old.clone(), 1, 110), 230);
    assert_eq!(
        v.in_sync,
        InSync::Drifted {
            fields: vec!["subject".into()],
            confirmed: false
        }
    );
    let v = judge_at(&obj, Some(100), seen(old.clone(), 2, 110), 230);
    assert_eq!(
        v.in_sync,
        InSync::Drifted {
            fields: vec!["subject".into()],
            confirmed: true
        }
    );
    // Never written by us (adopted): a confirmed difference is drift.
    let v = judge_at(&obj, None, seen(old, 2, 110), 230);
    assert!(matches!(
        v.in_sync,
        InSync::Drifted {
            confirmed: true,
            ..
        }
    ));
}

#[test]
fn the_groups_status_decides_before_its_fields() {
    let obj = object();
    for (status, expected) in [
        ("SUSPENDED", InSync::Suspended("SUSPENDED".into())),
        ("INACTIVE", InSync::Suspended("INACTIVE".into())),
        (
            "UPDATING",
            InSync::Updating("CAMS shows the group UPDATING".into()),
        ),
    ] {
        let mut r = row("Other", "Other");
        r.group_status = Some(status.into());
        let v = judge_at(&obj, Some(0), seen(r, 2, 10), 1000);
        assert_eq!(v.in_sync, expected, "{status}");
        assert!(!v.active);
    }
}

#[test]
fn missing_takes_two_complete_scans_and_no_data_is_unavailable() {
    let obj = object();
    let v = judge_at(
        &obj,
        Some(0),
        View::Data(Lookup::Absent {
            scans: 2,
            last: None,
        }),
        100,
    );
    assert_eq!(v.in_sync, InSync::Missing);
    // Once: the last data stands.
    let last = sighting(row("VIP support", "Priority line"), 3, t(10));
    let v = judge_at(
        &obj,
        Some(0),
        View::Data(Lookup::Absent {
            scans: 1,
            last: Some(last),
        }),
        100,
    );
    assert_eq!(v.in_sync, InSync::InSync);
    let v = judge_at(
        &obj,
        Some(0),
        View::Data(Lookup::Absent {
            scans: 1,
            last: None,
        }),
        100,
    );
    assert!(matches!(v.in_sync, InSync::Unavailable(_)));
    assert_eq!(
        judge_at(&obj, Some(0), View::Data(Lookup::NotScanned), 100).in_sync,
        InSync::Pending
    );
    assert_eq!(
        judge_at(&obj, Some(0), View::Disabled, 100).in_sync,
        InSync::Disabled
    );
}

fn with_picture(status: PictureStatus) -> ChatGroup {
    let mut obj = ChatGroupBuilder::new("g", "ns", "cs", "G1")
        .profile_picture_url(Some("https://img.example/a.jpg"))
        .build();
    obj.status = Some(crate::resource::ChatGroupStatus {
        picture: Some(status),
        ..Default::default()
    });
    obj
}

fn picture_row(url: &str) -> GroupRow {
    GroupRow {
        group_id: "G1".into(),
        group_status: Some("ACTIVE".into()),
        profile_picture_file: Some(url.into()),
        ..Default::default()
    }
}

#[test]
fn the_picture_is_in_sync_as_sent_or_as_first_stored_after_the_write() {
    let accepted = PictureStatus {
        sent: "https://img.example/a.jpg".into(),
        stored_as: None,
        accepted_at: crate::status::rfc3339(t(100)),
        replaced: Some("https://cdn/old.jpg".into()),
    };
    let obj = with_picture(accepted.clone());
    // The URL sent.
    let v = judge_at(
        &obj,
        Some(100),
        seen(picture_row("https://img.example/a.jpg"), 1, 110),
        120,
    );
    assert_eq!(v.in_sync, InSync::InSync);
    // CAMS's own copy, first seen after the write: adopted and in sync.
    let v = judge_at(
        &obj,
        Some(100),
        seen(picture_row("https://cdn/new.jpg"), 1, 110),
        120,
    );
    assert_eq!(v.in_sync, InSync::InSync);
    assert_eq!(
        v.picture.unwrap().stored_as.as_deref(),
        Some("https://cdn/new.jpg")
    );
    // The value the write replaced: not applied (yet), never adopted.
    let v = judge_at(
        &obj,
        Some(100),
        seen(picture_row("https://cdn/old.jpg"), 2, 110),
        1000,
    );
    assert!(matches!(
        v.in_sync,
        InSync::Drifted {
            confirmed: true,
            ..
        }
    ));
    assert_eq!(v.picture.unwrap().stored_as, None);
    // A copy listed by a scan from before the write is not adopted either.
    let v = judge_at(
        &obj,
        Some(100),
        seen(picture_row("https://cdn/new.jpg"), 1, 90),
        1000,
    );
    assert!(matches!(v.in_sync, InSync::Updating(_)));
    // Once adopted, a later change of the copy is drift.
    let adopted = with_picture(PictureStatus {
        stored_as: Some("https://cdn/new.jpg".into()),
        ..accepted
    });
    let v = judge_at(
        &adopted,
        Some(100),
        seen(picture_row("https://cdn/other.jpg"), 2, 500),
        1000,
    );
    assert!(matches!(v.in_sync, InSync::Drifted { .. }));
}

#[test]
fn sending_the_same_picture_again_keeps_its_stored_copy() {
    let mut obj = with_picture(PictureStatus {
        sent: "https://img.example/a.jpg".into(),
        stored_as: Some("https://cdn/new.jpg".into()),
        accepted_at: crate::status::rfc3339(t(100)),
        replaced: None,
    });
    let status = obj.status.take().unwrap();
    let again = picture_accepted(&obj.spec, &status, t(500)).unwrap();
    assert_eq!(again.stored_as.as_deref(), Some("https://cdn/new.jpg"));
    obj.spec.profile_picture_url = Some("https://img.example/b.jpg".into());
    let other = picture_accepted(&obj.spec, &status, t(500)).unwrap();
    assert_eq!(other.stored_as, None);
    assert_eq!(other.sent, "https://img.example/b.jpg");
}
