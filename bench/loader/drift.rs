//! The drift scenario's steps while the operator runs: wait for its first complete scan, edit
//! groups out of band through the simulator's admin API (their subject), and follow them
//! until every one is back to its spec subject in the simulator.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cams_operator::resource::ChatGroup;
use cams_simulator::{GroupEdit, SimulatorClient};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::Api;

use crate::load::object_name;
use crate::say;

/// Admin requests in flight at once (edits, reads of the edited groups).
const CONCURRENCY: usize = 16;

/// One edited group: its object, where it lives in the simulator and its spec subject.
struct Target {
    name: String,
    cust_space_id: String,
    business_number: String,
    group_id: String,
    subject: String,
    restored: bool,
}

/// Where the scenario is.
enum Phase {
    /// Waiting for the operator's first complete scan.
    FirstScan,
    /// Waiting until the edited groups' last accepted writes are older than `--settle` (a
    /// difference inside that window is "updating", not drift).
    Settling { until: Instant },
    /// Edited; following the groups until each is back to its spec subject.
    Restoring,
    /// Every edited group is back.
    Restored,
}

/// The drift scenario's progress.
pub struct DriftRun {
    label: String,
    edits: usize,
    count: usize,
    settle: Duration,
    phase: Phase,
    targets: Vec<Target>,
    /// The latest last accepted write (`status.lastSyncTime`) of the chosen objects.
    latest_write: Option<DateTime<Utc>>,
    /// Seconds from the operator's start until its first complete scan.
    pub first_scan_secs: Option<f64>,
    /// When the first edit was sent (the clock of the restore time starts).
    edited_at: Option<Instant>,
    /// The same on the wall clock (events after it count).
    pub edited_wall: Option<DateTime<Utc>>,
    /// Seconds from the first edit until the last edited group was seen restored.
    pub restored_secs: Option<f64>,
    last_check: Option<Instant>,
}

impl DriftRun {
    /// Edits `edits` of the `count` objects (spread over the namespace) once the first scan
    /// completed and `settle` has passed since their last accepted write.
    pub fn new(label: &str, edits: usize, count: usize, settle: Duration) -> DriftRun {
        DriftRun {
            label: label.to_string(),
            edits: edits.min(count),
            count,
            settle,
            phase: Phase::FirstScan,
            targets: Vec::new(),
            latest_write: None,
            first_scan_secs: None,
            edited_at: None,
            edited_wall: None,
            restored_secs: None,
            last_check: None,
        }
    }

    /// How many groups are (to be) edited.
    pub fn edits(&self) -> usize {
        self.edits
    }

    /// How many edited groups are back.
    pub fn restored(&self) -> usize {
        self.targets.iter().filter(|t| t.restored).count()
    }

    /// Whether every edited group is back.
    pub fn is_restored(&self) -> bool {
        matches!(self.phase, Phase::Restored)
    }

    /// The GroupIds of the edited groups.
    pub fn group_ids(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| t.group_id.as_str())
    }

    /// Where it is, for the progress line.
    pub fn describe(&self) -> String {
        match &self.phase {
            Phase::FirstScan => "waiting for the first complete scan".into(),
            Phase::Settling { until } => format!(
                "waiting {:.0}s more so the groups to edit are outside --settle",
                until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
            ),
            Phase::Restoring => format!(
                "edited {} groups {:.0}s ago; {}/{} back to their spec subject",
                self.edits,
                self.edited_at.map_or(0.0, |t| t.elapsed().as_secs_f64()),
                self.restored(),
                self.edits
            ),
            Phase::Restored => format!("all {} edited groups restored", self.edits),
        }
    }

    /// One step: called in the measuring loop after /readyz, with the operator's complete
    /// scans so far.
    pub async fn step(
        &mut self,
        api: &Api<ChatGroup>,
        sim: &SimulatorClient,
        started: Instant,
        complete_scans: f64,
    ) -> anyhow::Result<()> {
        match self.phase {
            Phase::FirstScan if complete_scans >= 1.0 => {
                let secs = started.elapsed().as_secs_f64();
                self.first_scan_secs = Some(secs);
                self.choose(api).await?;
                let until = self.outside_settle();
                let wait = until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64();
                say(format!(
                    "{}: first complete scan after {secs:.1}s; {} groups to edit{}",
                    self.label,
                    self.edits,
                    if wait > 0.0 {
                        format!(
                            ", waiting {wait:.0}s until their last accepted write is {}s old (--settle)",
                            self.settle.as_secs()
                        )
                    } else {
                        String::new()
                    }
                ));
                self.phase = Phase::Settling { until };
            }
            Phase::Settling { until } if Instant::now() >= until => {
                self.edit(sim).await?;
                self.phase = Phase::Restoring;
            }
            Phase::Restoring => {
                let due = self
                    .last_check
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(500));
                if due {
                    self.last_check = Some(Instant::now());
                    self.check(sim).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads the objects to edit, spread evenly over the `count` objects.
    async fn choose(&mut self, api: &Api<ChatGroup>) -> anyhow::Result<()> {
        let names: Vec<String> = (0..self.edits)
            .map(|k| object_name(k * self.count / self.edits.max(1)))
            .collect();
        let objects: Vec<ChatGroup> = futures::stream::iter(names)
            .map(|name| async move {
                api.get(&name)
                    .await
                    .with_context(|| format!("reading {name}"))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        self.targets = objects
            .iter()
            .map(|o| Target {
                name: o.metadata.name.clone().unwrap_or_default(),
                cust_space_id: o.spec.cust_space_id.clone(),
                business_number: o.spec.business_number.clone(),
                group_id: o.spec.group_id.clone().unwrap_or_default(),
                subject: o.spec.subject.clone().unwrap_or_default(),
                restored: false,
            })
            .collect();
        self.latest_write = objects
            .iter()
            .filter_map(|o| o.status.as_ref()?.last_sync_time.as_deref())
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .max();
        Ok(())
    }

    /// When the last accepted write of every chosen object is older than the settle window
    /// (with a second to spare).
    fn outside_settle(&self) -> Instant {
        let Some(latest) = self.latest_write else {
            return Instant::now();
        };
        let settle = chrono::Duration::from_std(self.settle).unwrap_or_default();
        let left = (latest + settle + chrono::Duration::seconds(1) - Utc::now())
            .to_std()
            .unwrap_or_default();
        Instant::now() + left
    }

    /// Changes every chosen group's subject through the admin API; the clock starts before
    /// the first edit.
    async fn edit(&mut self, sim: &SimulatorClient) -> anyhow::Result<()> {
        self.edited_at = Some(Instant::now());
        self.edited_wall = Some(Utc::now());
        futures::stream::iter(&self.targets)
            .map(|t| async move {
                let edit = GroupEdit::default()
                    .with_subject(format!("{} (renamed in WhatsApp)", t.subject));
                sim.edit_group(&t.cust_space_id, &t.business_number, &t.group_id, &edit)
                    .await
                    .with_context(|| format!("editing {} out of band", t.group_id))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        say(format!(
            "{}: edited {} groups' subjects out of band in {:.2}s; the clock runs until each is back",
            self.label,
            self.targets.len(),
            self.edited_at.map_or(0.0, |t| t.elapsed().as_secs_f64())
        ));
        Ok(())
    }

    /// Reads the groups not restored yet; notes the time when the last one is.
    async fn check(&mut self, sim: &SimulatorClient) -> anyhow::Result<()> {
        let pending: Vec<usize> = (0..self.targets.len())
            .filter(|i| !self.targets[*i].restored)
            .collect();
        let targets = &self.targets;
        let back: Vec<(usize, bool)> = futures::stream::iter(pending)
            .map(|i| async move {
                let t = &targets[i];
                let group = sim
                    .group(&t.cust_space_id, &t.business_number, &t.group_id)
                    .await
                    .with_context(|| format!("reading {} from the simulator", t.group_id))?;
                let subject = group.and_then(|g| g.subject).unwrap_or_default();
                anyhow::Ok((i, subject.trim() == t.subject.trim()))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (i, restored) in back {
            self.targets[i].restored |= restored;
        }
        if self.restored() == self.targets.len() {
            let secs = self.edited_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
            self.restored_secs = Some(secs);
            self.phase = Phase::Restored;
            say(format!(
                "{}: all {} edited groups back to their spec subject {secs:.1}s after the edits; letting the scans confirm them",
                self.label,
                self.targets.len()
            ));
        }
        Ok(())
    }

    /// `DriftCorrected` events published for the edited objects since the edits (`None`
    /// when they cannot be listed).
    pub async fn corrected_events(&self, events: &Api<Event>) -> Option<u64> {
        let since = self.edited_wall? - chrono::Duration::seconds(1);
        let list = events
            .list(&ListParams::default().fields("reason=DriftCorrected"))
            .await
            .ok()?;
        let count = list
            .items
            .iter()
            .filter(|e| {
                e.involved_object
                    .name
                    .as_deref()
                    .is_some_and(|n| self.targets.iter().any(|t| t.name == n))
            })
            .filter(|e| {
                e.metadata
                    .creation_timestamp
                    .as_ref()
                    .is_none_or(|t| t.0.as_second() >= since.timestamp())
            })
            .map(|e| u64::try_from(e.count.unwrap_or(1).max(1)).unwrap_or(1))
            .sum();
        Some(count)
    }
}
