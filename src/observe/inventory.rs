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

/// A kept row and when its group was first listed.
#[derive(Debug)]
struct Entry {
    sighting: Sighting,
    /// When the group was first listed (since this inventory began).
    first_listed: DateTime<Utc>,
    /// The scan attempt that last listed exactly this row.
    listed_in: u64,
}

/// The rows of one account and the scan bookkeeping.
///
/// A scan is staged page by page ([`Inventory::begin_scan`], [`Inventory::stage_page`]) and
/// takes effect only when complete: a row listed unchanged is only marked, so a scan holds
/// just the rows that differ from the kept ones (at 10,000 groups, a second copy of every
/// row was a tenth of the operator's memory).
#[derive(Debug, Default)]
pub struct Inventory {
    // Boxed: a table of 16,384 buckets of whole entries, and its copy while it grows, was
    // most of an inventory's memory at 10,000 groups.
    rows: HashMap<String, Box<Entry>>,
    /// Ids listed before and missing from the latest consecutive complete scans.
    absent: HashMap<String, u32>,
    /// Ids never listed that an object names: the number of complete scans when it was first
    /// asked for (absence counts from then).
    expected: HashMap<String, u64>,
    complete_scans: u64,
    last_complete: Option<Instant>,
    failure: Option<ScanFailure>,
    /// The scan under way (a number per attempt) and the rows it listed that differ from the
    /// kept ones.
    attempt: u64,
    // Boxed: the boxes move into `rows` as they are, and a growing list of whole entries
    // would be copied at every doubling.
    #[expect(clippy::vec_box, reason = "the boxes move into `rows` unchanged")]
    staged: Vec<Box<Entry>>,
}

impl Inventory {
    /// An empty inventory (nothing scanned).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts staging a scan (a previous one that did not complete is dropped).
    pub fn begin_scan(&mut self) {
        self.attempt += 1;
        self.staged = Vec::new();
    }

    /// Stages one page of the scan under way.
    pub fn stage_page(&mut self, rows: Vec<GroupRow>) {
        for row in rows {
            match self.rows.get_mut(row.group_id.as_str()) {
                Some(entry) if entry.sighting.row == row => entry.listed_in = self.attempt,
                _ => self.staged.push(Box::new(Entry {
                    sighting: Sighting {
                        row,
                        scans: 0,
                        last_seen: DateTime::<Utc>::MIN_UTC,
                        last_scan: 0,
                    },
                    first_listed: DateTime::<Utc>::MIN_UTC,
                    listed_in: self.attempt,
                })),
            }
        }
    }

    /// Records the staged scan as complete; it started at `started` (`wall` on the wall
    /// clock). Returns the ids whose [`Lookup::signature`] may have changed (listed, changed,
    /// confirmed by a second scan, missing once or twice).
    pub fn complete_scan(&mut self, started: Instant, wall: DateTime<Utc>) -> Vec<String> {
        let scan = self.complete_scans + 1;
        let attempt = self.attempt;
        let mut touched = Vec::new();
        let Self { rows, absent, .. } = self;
        for (id, entry) in rows.iter_mut().filter(|(_, e)| e.listed_in == attempt) {
            let entry = &mut **entry;
            let s = &mut entry.sighting;
            s.last_scan = scan;
            s.last_seen = wall;
            if absent.remove(id).is_some() {
                // Back after missing: it counts from one again.
                s.scans = 1;
                touched.push(id.clone());
            } else {
                s.scans = s.scans.saturating_add(1);
                if s.scans == 2 {
                    touched.push(id.clone());
                }
            }
        }
        // New or changed rows; of an id listed twice (a group that moved while the pages
        // were read), the later listing wins.
        let staged = std::mem::take(&mut self.staged);
        self.rows.reserve(staged.len());
        for mut entry in staged {
            let id = entry.sighting.row.group_id.clone();
            self.expected.remove(&id);
            self.absent.remove(&id);
            entry.first_listed = self.rows.get(&id).map_or(wall, |e| e.first_listed);
            entry.sighting.scans = 1;
            entry.sighting.last_seen = wall;
            entry.sighting.last_scan = scan;
            self.rows.insert(id.clone(), entry);
            touched.push(id);
        }
        let gone: Vec<String> = self
            .rows
            .iter()
            .filter(|(_, e)| e.sighting.last_scan != scan)
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
        touched.sort_unstable();
        touched.dedup();
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
            .filter(|(id, e)| {
                !self.absent.contains_key(*id)
                    && e.sighting.row.subject.as_deref().map(str::trim) == Some(subject)
            })
            .map(|(_, e)| (e.sighting.row.clone(), e.first_listed))
            .collect()
    }

    /// Records a scan that did not complete; the last data is kept, the staged rows dropped.
    pub fn failed_scan(&mut self, failure: ScanFailure) {
        self.staged = Vec::new();
        self.failure = Some(failure);
    }

    /// What the inventory says about `group_id`.
    pub fn lookup(&self, group_id: &str) -> Lookup {
        if self.complete_scans == 0 {
            return Lookup::NotScanned;
        }
        let last = self.rows.get(group_id).map(|e| e.sighting.clone());
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
