//! Seeing the group: one in-memory inventory per CAMS account, filled by complete paged
//! ListChatGroup scans, and the rules that compare what it shows with a ChatGroup's spec.

use std::time::Duration;

/// How the operator observes groups (`--observe-*` and `--settle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObserveSettings {
    /// Time between complete scans of an account (±10% jitter); `None` turns observation off.
    pub interval: Option<Duration>,
    /// The shortest time between two scans of one account (forced scans are coalesced).
    pub min_interval: Duration,
    /// After an accepted write, how long a difference is "updating" rather than drift.
    pub settle: Duration,
    /// Groups asked for per ListChatGroup page.
    pub page_size: u32,
}

impl Default for ObserveSettings {
    fn default() -> Self {
        Self {
            interval: Some(Duration::from_secs(600)),
            min_interval: Duration::from_secs(15),
            settle: Duration::from_secs(120),
            page_size: 100,
        }
    }
}

pub mod compare;
pub mod inventory;

pub mod lister;
pub mod observer;
