//! One account's inventory: what the complete ListChatGroup scans showed, how long each row
//! has looked the same, which groups went missing, and when the next scan is due. Pure: the
//! clock and the jitter come in as arguments.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::ObserveSettings;

/// The account an inventory belongs to: one per (endpoint, AccessKeyId, custSpaceId,
/// businessNumber), shared by every ChatGroup that maps to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    /// The endpoint's origin (scheme, host, port).
    pub origin: String,
    /// The region the requests are signed for (`None`: the operator's default).
    pub region: Option<String>,
    /// The AccessKeyId signing the scans (a stand-in for the account).
    pub access_key_id: String,
    /// `CustSpaceId`.
    pub cust_space_id: String,
    /// `BusinessNumber`.
    pub business_number: String,
}

/// One group as a scan listed it: the fields the operator compares or reports. The invite
/// link itself is never kept, only whether there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupRow {
    /// `GroupId`.
    pub group_id: String,
    /// `GroupStatus`.
    pub group_status: Option<String>,
    /// `Subject`.
    pub subject: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `ProfilePictureFile`.
    pub profile_picture_file: Option<String>,
    /// Whether `InviteLink` is set.
    pub invite_link_present: Option<bool>,
    /// `InviteLink` itself: a capability (anyone holding it joins), kept only to republish
    /// a lost Secret; it prints as `***`.
    pub invite_link: Option<crate::cams::redact::SecretString>,
    /// `TotalParticipantCount`.
    pub total_participant_count: Option<i64>,
}

/// How a group looked in the scans so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    /// The row as last listed.
    pub row: GroupRow,
    /// Consecutive complete scans that listed exactly this row.
    pub scans: u32,
    /// When the last scan that listed it started (wall clock, to compare with the time CAMS
    /// accepted a write).
    pub last_seen: DateTime<Utc>,
    /// The number of the last complete scan that listed it.
    pub(super) last_scan: u64,
}

/// What an inventory says about one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No complete scan yet.
    NotScanned,
    /// Listed by the last complete scan.
    Seen(Sighting),
    /// Not listed by this many consecutive complete scans (the last data kept, if any).
    Absent {
        /// Consecutive complete scans without it.
        scans: u32,
        /// How it looked when last listed.
        last: Option<Sighting>,
    },
}

impl Lookup {
    /// What an object's verdict depends on: a change here re-queues the objects naming the
    /// group (the row, whether it is confirmed by a second scan, missing once or twice).
    pub fn signature(&self) -> (Option<&GroupRow>, u32, u32) {
        match self {
            Self::NotScanned => (None, 0, 0),
            Self::Seen(s) => (Some(&s.row), s.scans.min(2), 0),
            Self::Absent { scans, .. } => (None, 0, (*scans).min(2)),
        }
    }
}

/// Why the last scan did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanFailure {
    /// A scrubbed message.
    pub message: String,
    /// ListChatGroup itself is refused (credentials or permission): observation is
    /// unavailable at once; other failures keep the last data until it is too old.
    pub refused: bool,
}

/// The rows of one account and the scan bookkeeping.
#[derive(Debug)]
pub struct Inventory {
    rows: HashMap<String, Sighting>,
    /// Ids listed before and missing from the latest consecutive complete scans.
    absent: HashMap<String, u32>,
    /// Ids never listed that an object names: the number of complete scans when it was first
    /// asked for (absence counts from then).
    expected: HashMap<String, u64>,
    /// When each listed id was first listed (since this inventory began).
    first_listed: HashMap<String, DateTime<Utc>>,
    complete_scans: u64,
    last_complete: Option<Instant>,
    failure: Option<ScanFailure>,
}

impl Default for Inventory {
    fn default() -> Self {
        Self::new()
    }
}

impl Inventory {
    /// An empty inventory (nothing scanned).
    pub fn new() -> Self {
        Self {
            rows: HashMap::new(),
            absent: HashMap::new(),
            expected: HashMap::new(),
            first_listed: HashMap::new(),
            complete_scans: 0,
            last_complete: None,
            failure: None,
        }
    }

    /// Records a complete scan that started at `started` (`wall` on the wall clock) and
    /// listed `rows`. Returns the ids whose [`Lookup::signature`] may have changed (listed,
    /// changed, confirmed by a second scan, missing once or twice).
    pub fn complete_scan(
        &mut self,
        rows: Vec<GroupRow>,
        started: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<String> {
        let scan = self.complete_scans + 1;
        let mut touched = Vec::new();
        let mut listed: HashMap<String, GroupRow> = HashMap::with_capacity(rows.len());
        for row in rows {
            listed.insert(row.group_id.clone(), row);
        }
        for (id, row) in listed {
            self.expected.remove(&id);
            self.first_listed.entry(id.clone()).or_insert(wall);
            let was_absent = self.absent.remove(&id).is_some();
            match self.rows.get_mut(&id) {
                Some(s) if s.row == row && !was_absent => {
                    s.scans = s.scans.saturating_add(1);
                    s.last_scan = scan;
                    s.last_seen = wall;
                    if s.scans == 2 {
                        touched.push(id);
                    }
                }
                _ => {
                    self.rows.insert(
                        id.clone(),
                        Sighting {
                            row,
                            scans: 1,
                            last_seen: wall,
                            last_scan: scan,
                        },
                    );
                    touched.push(id);
                }
            }
        }
        let gone: Vec<String> = self
            .rows
            .iter()
            .filter(|(_, s)| s.last_scan != scan)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            let scans = self.absent.entry(id.clone()).or_insert(0);
            *scans = scans.saturating_add(1);
            if *scans <= 2 {
                touched.push(id);
            }
        }
        for (id, since) in &self.expected {
            if matches!(scan - since, 1 | 2) {
                touched.push(id.clone());
            }
        }
        self.complete_scans = scan;
        self.last_complete = Some(started);
        self.failure = None;
        touched
    }

    /// Notes that an object names `group_id`: if it was never listed, it is missing only
    /// after two complete scans from now. Returns whether it was never listed.
    pub fn note_named(&mut self, group_id: &str) -> bool {
        if self.rows.contains_key(group_id) {
            return false;
        }
        self.expected
            .entry(group_id.to_string())
            .or_insert(self.complete_scans);
        true
    }

    /// The groups the last complete scan listed whose subject, trimmed, is `subject`, with
    /// when each was first listed.
    pub fn with_subject(&self, subject: &str) -> Vec<(GroupRow, DateTime<Utc>)> {
        self.rows
            .iter()
            .filter(|(id, s)| {
                !self.absent.contains_key(*id)
                    && s.row.subject.as_deref().map(str::trim) == Some(subject)
            })
            .map(|(id, s)| {
                let first = self.first_listed.get(id).copied().unwrap_or(s.last_seen);
                (s.row.clone(), first)
            })
            .collect()
    }

    /// Records a scan that did not complete; the last data is kept.
    pub fn failed_scan(&mut self, failure: ScanFailure) {
        self.failure = Some(failure);
    }

    /// What the inventory says about `group_id`.
    pub fn lookup(&self, group_id: &str) -> Lookup {
        if self.complete_scans == 0 {
            return Lookup::NotScanned;
        }
        let last = self.rows.get(group_id).cloned();
        match (self.absent.get(group_id), last) {
            (None, Some(sighting)) => Lookup::Seen(sighting),
            (Some(scans), last) => Lookup::Absent {
                scans: *scans,
                last,
            },
            // Never listed: missing from every complete scan since an object named it.
            (None, None) => {
                let since = self
                    .expected
                    .get(group_id)
                    .copied()
                    .unwrap_or(self.complete_scans);
                Lookup::Absent {
                    scans: u32::try_from(self.complete_scans - since).unwrap_or(u32::MAX),
                    last: None,
                }
            }
        }
    }

    /// How many groups the last complete scans listed.
    pub fn len(&self) -> usize {
        self.rows.len() - self.absent.len().min(self.rows.len())
    }

    /// Whether no group is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the data can be relied on at `now`: `Err` says why not.
    pub fn health(&self, now: Instant, settings: &ObserveSettings) -> Result<(), String> {
        let Some(interval) = settings.interval else {
            return Err("observation is off (--observe-interval 0)".into());
        };
        if let Some(failure) = self.failure.as_ref().filter(|f| f.refused) {
            return Err(format!("ListChatGroup is refused: {}", failure.message));
        }
        let Some(last) = self.last_complete else {
            return Err(match &self.failure {
                Some(f) => format!("no complete ListChatGroup scan yet: {}", f.message),
                None => "waiting for the first complete ListChatGroup scan".into(),
            });
        };
        let age = now.saturating_duration_since(last);
        if age > interval.saturating_mul(2) {
            let why = self
                .failure
                .as_ref()
                .map(|f| format!(": {}", f.message))
                .unwrap_or_default();
            return Err(format!(
                "the last complete ListChatGroup scan is {}s old{why}",
                age.as_secs()
            ));
        }
        Ok(())
    }

    /// Whether nothing is known yet: no scan has completed or failed.
    pub fn is_first_scan_pending(&self) -> bool {
        self.complete_scans == 0 && self.failure.is_none()
    }

    /// The number of complete scans so far.
    pub fn complete_scans(&self) -> u64 {
        self.complete_scans
    }

    /// When the last complete scan started.
    pub fn last_complete(&self) -> Option<Instant> {
        self.last_complete
    }
}

/// When an account's next scan is due: periodically, and sooner when forced, but never two
/// scans closer than the minimum interval.
#[derive(Debug, Clone)]
pub struct Schedule {
    last_start: Option<Instant>,
    next_periodic: Option<Instant>,
    forced: bool,
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new()
    }
}

impl Schedule {
    /// A schedule whose first scan is due at once.
    pub fn new() -> Self {
        Self {
            last_start: None,
            next_periodic: None,
            forced: false,
        }
    }

    /// Asks for a scan as soon as the minimum interval allows (after the operator's own
    /// write). Requests made meanwhile are coalesced into one scan.
    pub fn force(&mut self) {
        self.forced = true;
    }

    /// Whether a forced scan is pending.
    pub fn is_forced(&self) -> bool {
        self.forced
    }

    /// When the next scan may start (`now` or earlier means at once); `None` when observation
    /// is off.
    pub fn due(&self, now: Instant, settings: &ObserveSettings) -> Option<Instant> {
        settings.interval?;
        let Some(last) = self.last_start else {
            return Some(now);
        };
        let earliest = last + settings.min_interval;
        let periodic = self.next_periodic.unwrap_or(earliest).max(earliest);
        Some(if self.forced { earliest } else { periodic })
    }

    /// Records that a scan starts at `now`; `jitter` in [0,1) spreads the next periodic one
    /// over ±10% of the interval.
    pub fn started(&mut self, now: Instant, jitter: f64, settings: &ObserveSettings) {
        self.last_start = Some(now);
        self.forced = false;
        if let Some(interval) = settings.interval {
            let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
            self.next_periodic = Some(now + interval.mul_f64(factor));
        }
    }
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
