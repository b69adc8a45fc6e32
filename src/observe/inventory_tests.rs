use std::time::{Duration, Instant};

use super::*;

fn row(id: &str, subject: &str) -> GroupRow {
    GroupRow {
        group_id: id.into(),
        group_status: Some("ACTIVE".into()),
        subject: Some(subject.into()),
        ..Default::default()
    }
}

fn wall(t0: Instant, at: Instant) -> chrono::DateTime<chrono::Utc> {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    base + chrono::Duration::from_std(at - t0).unwrap()
}

/// A complete scan at `at` (its wall time derived from it).
fn scan(inv: &mut Inventory, rows: Vec<GroupRow>, t0: Instant, at: Instant) -> Vec<String> {
    inv.begin_scan();
    inv.stage_page(rows);
    inv.complete_scan(at, wall(t0, at))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn settings() -> ObserveSettings {
    ObserveSettings {
        interval: Some(secs(600)),
        min_interval: secs(15),
        settle: secs(120),
        page_size: 100,
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn a_row_is_confirmed_by_its_second_scan_and_then_goes_quiet() {
    let t0 = Instant::now();
    let mut inv = Inventory::new();
    assert_eq!(inv.lookup("A"), Lookup::NotScanned);
    let touched = scan(&mut inv, vec![row("A", "one"), row("B", "two")], t0, t0);
    assert_eq!(sorted(touched), ["A", "B"]);
    assert!(matches!(inv.lookup("A"), Lookup::Seen(s) if s.scans == 1));
    // The second scan confirms both rows: each is touched once more.
    let touched = scan(
        &mut inv,
        vec![row("A", "one"), row("B", "two")],
        t0,
        t0 + secs(15),
    );
    assert_eq!(sorted(touched), ["A", "B"]);
    assert!(
        matches!(inv.lookup("A"), Lookup::Seen(s) if s.scans == 2 && s.last_seen == wall(t0, t0 + secs(15)))
    );
    // A third identical scan changes no verdict: nothing is re-queued.
    let touched = scan(
        &mut inv,
        vec![row("A", "one"), row("B", "two")],
        t0,
        t0 + secs(30),
    );
    assert!(touched.is_empty(), "{touched:?}");
    // A changed row starts over.
    let touched = scan(
        &mut inv,
        vec![row("A", "uno"), row("B", "two")],
        t0,
        t0 + secs(45),
    );
    assert_eq!(touched, ["A"]);
    assert!(
        matches!(inv.lookup("A"), Lookup::Seen(s) if s.scans == 1 && s.last_seen == wall(t0, t0 + secs(45)))
    );
}

#[test]
fn a_group_is_missing_only_after_two_complete_scans_without_it() {
    let t0 = Instant::now();
    let mut inv = Inventory::new();
    scan(&mut inv, vec![row("A", "one"), row("B", "two")], t0, t0);
    assert_eq!(inv.len(), 2);
    let touched = scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(15));
    assert!(touched.contains(&"A".to_string()));
    assert!(matches!(
        inv.lookup("A"),
        Lookup::Absent {
            scans: 1,
            last: Some(_)
        }
    ));
    assert_eq!(inv.len(), 1);
    let touched = scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(30));
    assert!(touched.contains(&"A".to_string()));
    assert!(matches!(inv.lookup("A"), Lookup::Absent { scans: 2, .. }));
    // Further scans without it re-queue nothing.
    let touched = scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(45));
    assert!(touched.is_empty(), "{touched:?}");
    // Back again: a new sighting, not a continuation of the old one.
    let touched = scan(
        &mut inv,
        vec![row("A", "one"), row("B", "two")],
        t0,
        t0 + secs(60),
    );
    assert_eq!(touched, ["A"]);
    assert!(matches!(inv.lookup("A"), Lookup::Seen(s) if s.scans == 1));
}

#[test]
fn a_group_never_listed_is_missing_after_two_scans_from_when_it_was_named() {
    let t0 = Instant::now();
    let mut inv = Inventory::new();
    scan(&mut inv, vec![row("B", "two")], t0, t0);
    scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(15));
    // Named only now (a new object, its group created meanwhile): not missing yet.
    assert!(inv.note_named("X"));
    assert!(!inv.note_named("B"), "B is listed");
    assert!(matches!(
        inv.lookup("X"),
        Lookup::Absent {
            scans: 0,
            last: None
        }
    ));
    let touched = scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(30));
    assert_eq!(touched, ["X"]);
    assert!(matches!(
        inv.lookup("X"),
        Lookup::Absent {
            scans: 1,
            last: None
        }
    ));
    let touched = scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(45));
    assert_eq!(touched, ["X"]);
    assert!(matches!(
        inv.lookup("X"),
        Lookup::Absent {
            scans: 2,
            last: None
        }
    ));
    // Listed at last: seen, no longer expected.
    scan(
        &mut inv,
        vec![row("B", "two"), row("X", "x")],
        t0,
        t0 + secs(60),
    );
    assert!(matches!(inv.lookup("X"), Lookup::Seen(_)));
}

#[test]
fn a_failed_scan_keeps_the_data_until_it_is_two_intervals_old() {
    let t0 = Instant::now();
    let s = settings();
    let mut inv = Inventory::new();
    assert!(inv.health(t0, &s).unwrap_err().contains("first complete"));
    scan(&mut inv, vec![row("A", "one")], t0, t0);
    assert_eq!(inv.health(t0, &s), Ok(()));
    inv.failed_scan(ScanFailure {
        message: "HTTP 503 ServiceUnavailable".into(),
        refused: false,
    });
    assert_eq!(inv.health(t0 + secs(900), &s), Ok(()));
    assert!(matches!(inv.lookup("A"), Lookup::Seen(_)));
    let err = inv.health(t0 + secs(1201), &s).unwrap_err();
    assert!(
        err.contains("1201s old") && err.contains("ServiceUnavailable"),
        "{err}"
    );
    // A refusal (credentials, permission) makes observation unavailable at once.
    inv.failed_scan(ScanFailure {
        message: "Forbidden.RAM".into(),
        refused: true,
    });
    assert!(inv.health(t0, &s).unwrap_err().contains("refused"));
    // A complete scan clears it.
    scan(&mut inv, vec![row("A", "one")], t0, t0 + secs(1300));
    assert_eq!(inv.health(t0 + secs(1300), &s), Ok(()));
    let off = ObserveSettings {
        interval: None,
        ..s
    };
    assert!(inv.health(t0, &off).unwrap_err().contains("off"));
}

#[test]
fn forced_scans_are_coalesced_to_one_per_minimum_interval() {
    let t0 = Instant::now();
    let s = settings();
    let mut schedule = Schedule::new();
    assert_eq!(
        schedule.due(t0, &s),
        Some(t0),
        "the first scan is due at once"
    );
    schedule.started(t0, 0.5, &s);
    // Periodic: the interval, jittered ±10%.
    assert_eq!(schedule.due(t0, &s), Some(t0 + secs(600)));
    // Many writes in the next seconds ask for a scan: one is due, at the minimum interval.
    for _ in 0..100 {
        schedule.force();
    }
    assert_eq!(schedule.due(t0 + secs(1), &s), Some(t0 + secs(15)));
    schedule.started(t0 + secs(15), 0.5, &s);
    assert!(!schedule.is_forced());
    assert_eq!(schedule.due(t0 + secs(15), &s), Some(t0 + secs(615)));
    // A request during a scan is kept for after it.
    schedule.force();
    assert_eq!(schedule.due(t0 + secs(16), &s), Some(t0 + secs(30)));
    // Jitter spreads the periodic scans over ±10%.
    let mut low = Schedule::new();
    low.started(t0, 0.0, &s);
    let mut high = Schedule::new();
    high.started(t0, 1.0, &s);
    assert_eq!(low.due(t0, &s), Some(t0 + secs(540)));
    assert_eq!(high.due(t0, &s), Some(t0 + secs(660)));
    // Off: never due.
    let off = ObserveSettings {
        interval: None,
        ..s
    };
    assert_eq!(Schedule::new().due(t0, &off), None);
}

#[test]
fn the_minimum_interval_bounds_a_short_periodic_interval_too() {
    let t0 = Instant::now();
    let s = ObserveSettings {
        interval: Some(secs(10)),
        min_interval: secs(15),
        ..settings()
    };
    let mut schedule = Schedule::new();
    schedule.started(t0, 0.0, &s);
    assert_eq!(schedule.due(t0, &s), Some(t0 + secs(15)));
}

#[test]
fn a_staged_scan_takes_effect_only_when_complete() {
    let t0 = Instant::now();
    let mut inv = Inventory::new();
    scan(&mut inv, vec![row("A", "one"), row("B", "two")], t0, t0);
    // A scan that lists A unchanged and B changed, then fails: nothing it read counts.
    inv.begin_scan();
    inv.stage_page(vec![row("A", "one")]);
    inv.stage_page(vec![row("B", "deux")]);
    assert!(
        matches!(inv.lookup("B"), Lookup::Seen(s) if s.row.subject.as_deref() == Some("two")),
        "a staged change is not visible before the scan completes"
    );
    inv.failed_scan(ScanFailure {
        message: "timeout".into(),
        refused: false,
    });
    // The next scan lists only B (unchanged from what is kept): A's mark from the failed
    // attempt must not count as listed.
    let touched = scan(&mut inv, vec![row("B", "two")], t0, t0 + secs(15));
    assert_eq!(sorted(touched), ["A", "B"], "A missing once, B confirmed");
    assert!(matches!(inv.lookup("A"), Lookup::Absent { scans: 1, .. }));
    assert!(
        matches!(inv.lookup("B"), Lookup::Seen(s) if s.scans == 2 && s.row.subject.as_deref() == Some("two"))
    );
}

#[test]
fn pages_stage_only_what_changed_and_a_group_listed_twice_ends_as_last_listed() {
    let t0 = Instant::now();
    let mut inv = Inventory::new();
    scan(&mut inv, vec![row("A", "one"), row("B", "two")], t0, t0);
    inv.begin_scan();
    inv.stage_page(vec![row("A", "one"), row("B", "two")]);
    assert!(inv.staged.is_empty(), "unchanged rows are only marked");
    // C is new; A moved between pages and is listed again, changed.
    inv.stage_page(vec![row("C", "three"), row("A", "uno")]);
    assert_eq!(inv.staged.len(), 2);
    let touched = inv.complete_scan(t0 + secs(15), wall(t0, t0 + secs(15)));
    assert_eq!(sorted(touched), ["A", "B", "C"]);
    assert!(
        matches!(inv.lookup("A"), Lookup::Seen(s) if s.scans == 1 && s.row.subject.as_deref() == Some("uno"))
    );
    assert!(matches!(inv.lookup("C"), Lookup::Seen(s) if s.scans == 1));
    // A changed row keeps when its group was first listed.
    let first: Vec<_> = inv
        .with_subject("uno")
        .into_iter()
        .map(|(_, first)| first)
        .collect();
    assert_eq!(first, [wall(t0, t0)]);
}
