//! The comparison rules: what a ChatGroup's spec and status say about the row ListChatGroup
//! showed for its group. Pure: no I/O, the clock comes in as an argument.

use chrono::{DateTime, Utc};

use super::inventory::{GroupRow, Lookup, Sighting};
use crate::resource::{AtProvider, ChatGroupSpec, ChatGroupStatus, PictureStatus};

/// What the inventory can say about one object's group right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// Observation is off (`--observe-interval 0`).
    Disabled,
    /// The account's first scan has not completed yet (the operator just started): what
    /// status says about the group stands until it does.
    Pending,
    /// No reliable data: why.
    Unavailable(String),
    /// The inventory's answer.
    Data(Lookup),
}

/// The `InSync` state of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InSync {
    /// The remote holds the spec's managed fields.
    InSync,
    /// Our accepted change is not visible yet, or CAMS shows the group changing.
    Updating(String),
    /// A managed field differs outside the settle window.
    Drifted {
        /// The managed fields that differ (spec names).
        fields: Vec<String>,
        /// Seen differing in two consecutive complete scans (a correction may go).
        confirmed: bool,
    },
    /// Absent from two consecutive complete scans.
    Missing,
    /// SUSPENDED or INACTIVE: the status CAMS shows.
    Suspended(String),
    /// `--observe-interval 0`.
    Disabled,
    /// No reliable data: why.
    Unavailable(String),
    /// The first scan is under way: the recorded `InSync` stands.
    Pending,
}

/// The verdict on one object: its `InSync` state and what to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The `InSync` state.
    pub in_sync: InSync,
    /// The group as listed, when the data can be relied on.
    pub at_provider: Option<AtProvider>,
    /// Whether the group is listed ACTIVE (what `Ready` means under `Observe`).
    pub active: bool,
    /// The picture bookkeeping to keep, updated when the first value after an accepted write
    /// was seen.
    pub picture: Option<PictureStatus>,
}

/// Everything the verdict needs besides the view.
#[derive(Clone, Copy, Debug)]
pub struct CompareInput<'a> {
    /// The desired state.
    pub spec: &'a ChatGroupSpec,
    /// The current status (the last accepted write, the picture bookkeeping).
    pub status: &'a ChatGroupStatus,
    /// Now.
    pub now: DateTime<Utc>,
    /// The settle window after an accepted write.
    pub settle: std::time::Duration,
}

/// Judges `view` against the spec and status.
pub fn verdict(view: &View, input: &CompareInput<'_>) -> Verdict {
    let unknown = |in_sync| Verdict {
        in_sync,
        at_provider: None,
        active: false,
        picture: input.status.picture.clone(),
    };
    let sighting = match view {
        View::Disabled => return unknown(InSync::Disabled),
        View::Pending | View::Data(Lookup::NotScanned) => return unknown(InSync::Pending),
        View::Unavailable(why) => return unknown(InSync::Unavailable(why.clone())),
        View::Data(Lookup::Absent { scans, .. }) if *scans >= 2 => {
            return unknown(InSync::Missing);
        }
        // Named since the last scan and not listed by it: wait for the next one.
        View::Data(Lookup::Absent {
            scans: 0,
            last: None,
        }) => return unknown(InSync::Pending),
        View::Data(Lookup::Absent { last: None, .. }) => {
            return unknown(InSync::Unavailable(
                "the group was not listed by the last complete scan; it is missing if the next one agrees".into(),
            ))
        }
        View::Data(Lookup::Absent {
            last: Some(sighting),
            ..
        })
        | View::Data(Lookup::Seen(sighting)) => sighting,
    };
    seen(sighting, input)
}

fn seen(sighting: &Sighting, input: &CompareInput<'_>) -> Verdict {
    let row = &sighting.row;
    let status = row.group_status.as_deref().unwrap_or("ACTIVE");
    let picture = picture_after(sighting, input);
    let mut verdict = Verdict {
        in_sync: InSync::InSync,
        at_provider: Some(at_provider(row)),
        active: status == "ACTIVE",
        picture: picture.clone(),
    };
    match status {
        "SUSPENDED" | "INACTIVE" => {
            verdict.in_sync = InSync::Suspended(status.to_string());
            return verdict;
        }
        "CREATING" | "UPDATING" | "DELETING" => {
            verdict.in_sync = InSync::Updating(format!("CAMS shows the group {status}"));
            return verdict;
        }
        _ => {}
    }
    let fields = differing_fields(input.spec, row, picture.as_ref());
    if fields.is_empty() {
        return verdict;
    }
    let accepted = input
        .status
        .last_sync_time
        .as_deref()
        .and_then(crate::plan::parse_time);
    let settle = chrono::Duration::from_std(input.settle).unwrap_or_default();
    verdict.in_sync = match accepted {
        // No scan that started after our last accepted write has listed the group yet.
        Some(at) if sighting.last_seen < at => InSync::Updating(format!(
            "CAMS accepted the change; waiting for a ListChatGroup scan to show {}",
            fields.join(", ")
        )),
        Some(at) if input.now < at + settle => InSync::Updating(format!(
            "CAMS accepted the change; {} not applied yet (settling until {})",
            fields.join(", "),
            crate::status::rfc3339(at + settle)
        )),
        _ => InSync::Drifted {
            fields,
            confirmed: sighting.scans >= 2,
        },
    };
    verdict
}

/// The spec fields the row does not hold. Unset fields are never compared; subject and
/// description are compared after trimming (Meta trims).
pub fn differing_fields(
    spec: &ChatGroupSpec,
    row: &GroupRow,
    picture: Option<&PictureStatus>,
) -> Vec<String> {
    let trimmed = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
    let mut fields = Vec::new();
    if let Some(subject) = &spec.subject {
        if subject.trim() != trimmed(&row.subject) {
            fields.push("subject".to_string());
        }
    }
    if let Some(description) = &spec.description {
        if description.trim() != trimmed(&row.description) {
            fields.push("description".to_string());
        }
    }
    if let Some(url) = &spec.profile_picture_url {
        if !picture_in_sync(url, row.profile_picture_file.as_deref(), picture) {
            fields.push("profilePictureUrl".to_string());
        }
    }
    fields
}

/// The picture is in sync when the remote shows the URL sent, or the value first seen after
/// the write that sent it (CAMS may keep its own copy under another URL).
fn picture_in_sync(url: &str, remote: Option<&str>, picture: Option<&PictureStatus>) -> bool {
    let Some(remote) = remote else {
        return false;
    };
    remote == url
        || picture.is_some_and(|p| p.sent == url && p.stored_as.as_deref() == Some(remote))
}

/// The picture bookkeeping after this sighting: the first value listed by a scan that started
/// after the accepted write, and differs from what the write replaced, is CAMS's copy.
fn picture_after(sighting: &Sighting, input: &CompareInput<'_>) -> Option<PictureStatus> {
    let mut picture = input.status.picture.clone()?;
    let listed = sighting.row.profile_picture_file.as_deref();
    let changing = matches!(
        sighting.row.group_status.as_deref(),
        Some("CREATING" | "UPDATING" | "DELETING")
    );
    let after_write =
        crate::plan::parse_time(&picture.accepted_at).is_some_and(|at| sighting.last_seen >= at);
    if let Some(listed) = listed {
        if picture.stored_as.is_none()
            && !changing
            && after_write
            && listed != picture.sent
            && Some(listed) != picture.replaced.as_deref()
        {
            picture.stored_as = Some(listed.to_string());
        }
    }
    Some(picture)
}

/// The status record of a listed row.
pub fn at_provider(row: &GroupRow) -> AtProvider {
    AtProvider {
        group_status: row.group_status.clone(),
        subject: row.subject.clone(),
        description: row.description.clone(),
        profile_picture_file: row.profile_picture_file.clone(),
        invite_link_present: row.invite_link_present,
        total_participant_count: row.total_participant_count,
    }
}

/// The picture bookkeeping after CAMS accepted a write of `spec` at `now`: the URL sent, the
/// value it replaces, and CAMS's copy carried over when the same URL was sent before.
pub fn picture_accepted(
    spec: &ChatGroupSpec,
    status: &ChatGroupStatus,
    now: DateTime<Utc>,
) -> Option<PictureStatus> {
    let sent = spec.profile_picture_url.clone()?;
    let previous = status.picture.as_ref().filter(|p| p.sent == sent);
    Some(PictureStatus {
        stored_as: previous.and_then(|p| p.stored_as.clone()),
        replaced: status
            .at_provider
            .as_ref()
            .and_then(|a| a.profile_picture_file.clone()),
        accepted_at: crate::status::rfc3339_not_before(now),
        sent,
    })
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
