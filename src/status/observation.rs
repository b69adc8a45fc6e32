//! What observation adds to a judgement: the `InSync` condition, `atProvider`, the picture
//! and drift bookkeeping, the rows observation alone decides (missing, suspended, drift that
//! persists, observe-only), and a Ready withheld while the group does not show the spec.

use chrono::{DateTime, Utc};

use super::{set_condition_to, Draft, Judgement, Outcome, Requeue};
use crate::cams::Envelope;
use crate::observe::compare::{picture_accepted, InSync, Verdict};
use crate::outcome::{ConditionType, Reason, Row, RowSpec};
use crate::resource::{ChatGroup, ChatGroupStatus, DriftStatus};

/// How many corrections of one desired state may fail to hold before drift is reported as
/// persisting (and no more calls are made).
pub const MAX_DRIFT_CORRECTIONS: i32 = 3;

/// How often a creating object looks again even without a scan re-queueing it (for the
/// create timeout).
pub const CREATE_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

impl Draft<'_> {
    /// Why Ready may not be True although the row allows it: the group does not show the
    /// spec (Manage), as far as observation knows.
    pub(super) fn ready_withheld(&self, row: &RowSpec) -> Option<(Reason, String)> {
        let verdict = self.observation?;
        if row.row == Row::Observed || !self.obj.spec.management_policy.is_manage() {
            return None;
        }
        let (reason, _, message) = in_sync_condition(verdict, true);
        match verdict.in_sync {
            InSync::Updating(_) | InSync::Drifted { .. } => Some((reason, message)),
            InSync::Missing | InSync::Suspended(_) => Some((reason, message)),
            InSync::InSync | InSync::Disabled | InSync::Unavailable(_) | InSync::Pending => None,
        }
    }

    /// Whether the first scan after a start is still under way.
    pub(super) fn observation_pending(&self) -> bool {
        self.observation
            .is_some_and(|v| v.in_sync == InSync::Pending)
    }

    /// Why an observed-only group is not Ready.
    pub(super) fn not_seen_active(&self) -> String {
        match self.observation {
            None => "not observed".into(),
            Some(v) => match &v.in_sync {
                InSync::Disabled => "managementPolicy Observe needs observation, but the operator runs with --observe-interval 0; turn observation on or set managementPolicy Manage".into(),
                _ => in_sync_condition(v, false).2,
            },
        }
    }

    pub(super) fn drift_persists(mut self, fields: &[String]) -> Judgement {
        let row = Row::DriftPersists.spec();
        let message = format!(
            "{} went back to another value after {MAX_DRIFT_CORRECTIONS} corrections of this spec; no more calls until the spec or cams.dev/reconcile-requested-at changes. Find what changes the group outside the operator (WhatsApp admins, another tool), or set managementPolicy: Observe",
            fields.join(", ")
        );
        self.apply_row(row, &message, &message);
        self.changed_event(row, &message, Requeue::OnChange)
    }

    pub(super) fn group_missing(mut self) -> Judgement {
        let row = Row::GroupMissing.spec();
        let message = format!(
            "ListChatGroup did not list group {} in two consecutive complete scans; the operator never re-creates a group. If it was deleted on purpose, delete this ChatGroup; if it comes back, this clears at the next scan",
            self.obj.group_id().unwrap_or_default()
        );
        self.apply_row(row, &message, &message);
        self.changed_event(row, &message, Requeue::OnChange)
    }

    pub(super) fn group_suspended(mut self, status: &str) -> Judgement {
        let row = Row::GroupSuspended.spec();
        let message = format!(
            "ListChatGroup lists group {} as {status}; no calls until a scan lists it ACTIVE. Ask Alibaba Cloud or Meta support why it is {status}",
            self.obj.group_id().unwrap_or_default()
        );
        self.apply_row(row, &message, &message);
        self.changed_event(row, &message, Requeue::OnChange)
    }

    pub(super) fn observed(mut self) -> Judgement {
        self.next.retry = None;
        let row = Row::Observed.spec();
        self.apply_row(
            row,
            "managementPolicy is Observe: the operator reports the group and never writes to it",
            "",
        );
        self.finish(None, Requeue::OnChange)
    }

    pub(super) fn creating(
        mut self,
        message: &str,
        envelope: Option<&Envelope>,
        unique_code: Option<&str>,
    ) -> Judgement {
        if let Some(envelope) = envelope {
            super::set_envelope(&mut self.next, envelope);
            self.next.last_sync_time = Some(super::rfc3339_not_before(self.now));
        }
        if let Some(code) = unique_code {
            self.next.unique_code = Some(code.to_string());
        }
        self.next.retry = None;
        let row = Row::Creating.spec();
        self.apply_row(row, message, "creating");
        self.changed_event(row, message, Requeue::After(CREATE_RECHECK))
    }

    pub(super) fn invite_link(
        mut self,
        note: &str,
        token: Option<&str>,
        secret: Option<&str>,
        called: bool,
    ) -> Judgement {
        if called {
            // Scans before this time do not show the change.
            self.next.last_sync_time = Some(super::rfc3339_not_before(self.now));
        }
        if let Some(token) = token {
            self.next.last_handled_rotate_invite_link = Some(token.to_string());
        }
        self.next.invite_link_secret = secret.map(String::from);
        let row = Row::InviteLink.spec();
        self.apply_row(row, note, "");
        let event = self.event(row, note);
        self.finish(event, Requeue::OnChange)
    }

    pub(super) fn create_stalled(mut self, row: Row, message: &str) -> Judgement {
        self.next.retry = None;
        let spec = row.spec();
        self.apply_row(spec, message, message);
        self.changed_event(spec, message, Requeue::OnChange)
    }

    /// Finishes with the row's event only when the status changed (no event per scan).
    fn changed_event(self, row: &RowSpec, message: &str, requeue: Requeue) -> Judgement {
        let event = (self.next != self.current)
            .then(|| self.event(row, message))
            .flatten();
        self.finish(event, requeue)
    }
}

/// The `InSync` condition for `verdict`: its reason, status and message.
fn in_sync_condition(verdict: &Verdict, manage: bool) -> (Reason, &'static str, String) {
    match &verdict.in_sync {
        InSync::InSync => (
            Reason::InSync,
            "True",
            "ListChatGroup shows the spec's managed fields".into(),
        ),
        InSync::Updating(why) => (Reason::Updating, "False", why.clone()),
        InSync::Drifted { fields, confirmed } => {
            let next = match (manage, confirmed) {
                (false, _) => "managementPolicy Observe: not corrected",
                (true, false) => "corrected if the next scan agrees",
                (true, true) => "seen in two scans",
            };
            (
                Reason::Drifted,
                "False",
                format!(
                    "ListChatGroup shows {} differing from the spec ({next})",
                    fields.join(", ")
                ),
            )
        }
        InSync::Missing => (
            Reason::GroupMissing,
            "False",
            "not listed by two consecutive complete ListChatGroup scans".into(),
        ),
        InSync::Suspended(status) => (
            Reason::GroupSuspended,
            "False",
            format!("ListChatGroup lists the group {status}"),
        ),
        InSync::Disabled => (
            Reason::ObservationDisabled,
            "Unknown",
            "observation is off (--observe-interval 0)".into(),
        ),
        InSync::Unavailable(why) => (Reason::ObservationUnavailable, "Unknown", why.clone()),
        InSync::Pending => (
            Reason::ObservationUnavailable,
            "Unknown",
            "waiting for the first complete ListChatGroup scan".into(),
        ),
    }
}

/// Records what observation knows in `status`: `groupId`, `atProvider` (only a changed value
/// changes it), the `InSync` condition, the picture and the drift bookkeeping.
pub(super) fn record(
    obj: &ChatGroup,
    outcome: &Outcome,
    verdict: &Verdict,
    now: DateTime<Utc>,
    status: &mut ChatGroupStatus,
) {
    if verdict.in_sync == InSync::Pending && !matches!(outcome, Outcome::Accepted { .. }) {
        // The first scan after a start will re-queue the object: until then what status
        // says stands (a restart writes nothing).
        return;
    }
    status.group_id = obj.group_id().map(String::from);
    if let Some(at_provider) = &verdict.at_provider {
        status.at_provider = Some(at_provider.clone());
    }
    let current = obj.status.clone().unwrap_or_default();
    status.picture = match outcome {
        Outcome::Accepted { .. } | Outcome::Corrected { .. } => {
            picture_accepted(&obj.spec, &current, now)
        }
        _ => verdict.picture.clone(),
    };
    status.drift = match outcome {
        Outcome::Accepted { .. } => None,
        Outcome::Corrected { hash, fields, .. } => {
            let before = current
                .drift
                .as_ref()
                .filter(|d| &d.desired_hash == hash)
                .map_or(0, |d| d.corrections);
            Some(Box::new(DriftStatus {
                desired_hash: hash.clone(),
                corrections: before.saturating_add(1),
                fields: fields.clone(),
            }))
        }
        _ if verdict.in_sync == InSync::InSync => None,
        _ => status.drift.take(),
    };
    if verdict.in_sync == InSync::Pending {
        return;
    }
    let manage = obj.spec.management_policy.is_manage();
    let (reason, value, message) = in_sync_condition(verdict, manage);
    set_condition_to(
        &mut status.conditions,
        ConditionType::InSync,
        value,
        reason,
        &message,
        obj.metadata.generation,
        now,
    );
}

#[cfg(test)]
#[path = "observation_tests.rs"]
mod tests;
