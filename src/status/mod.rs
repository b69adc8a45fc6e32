//! Applies the outcome table ([`crate::outcome::TABLE`]): from an outcome to the next status,
//! its conditions and its event. Pure: the clock and the jitter come in as arguments.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

mod observation;

pub use observation::MAX_DRIFT_CORRECTIONS;

use crate::cams::{Envelope, ErrorClass};
use crate::observe::compare::Verdict;
pub use crate::outcome::{ConditionType, EventKind, Reason};
use crate::outcome::{Next, ReadyRule, Row, RowSpec};
use crate::resource::{ChatGroup, ChatGroupStatus, RetryStatus};

/// What happened in one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// CAMS accepted the call.
    Accepted {
        /// The envelope as returned.
        envelope: Envelope,
        /// What was applied.
        hash: String,
    },
    /// CAMS already has this spec; no call was made.
    UpToDate,
    /// The call (or what precedes it, such as reading credentials) failed.
    Failed(Failure),
    /// `cams.dev/paused`: no call.
    Paused,
    /// An older ChatGroup manages the same group: no call.
    Conflict {
        /// How the message names it: `namespace/name` in the same namespace, a neutral phrase
        /// otherwise (a message never names an object in another namespace).
        older: String,
    },
    /// Drift seen in two scans; CAMS accepted the correcting UpdateChatGroup.
    Corrected {
        /// The envelope as returned.
        envelope: Envelope,
        /// What was applied (the current desired state).
        hash: String,
        /// The managed fields that differed.
        fields: Vec<String>,
    },
    /// Corrections of this desired state did not hold: no call.
    DriftPersists {
        /// The managed fields that still differ.
        fields: Vec<String>,
    },
    /// Absent from two consecutive complete scans: no call.
    GroupMissing,
    /// Listed SUSPENDED or INACTIVE (the status given): no call.
    GroupSuspended(String),
    /// `managementPolicy: Observe`: reported, never written.
    Observed,
    /// Creating a group: the message says where it stands.
    Creating {
        /// Where creation stands.
        message: String,
        /// AddChatGroup's envelope, when it answered now.
        envelope: Option<Envelope>,
        /// AddChatGroup's UniqueCode, when it answered now.
        unique_code: Option<String>,
    },
    /// The invite link was changed as `spec.inviteLink` says.
    InviteLink {
        /// What was done (never the link).
        note: String,
        /// The rotate token handled, if one was.
        token: Option<String>,
        /// The Secret the link is published in now (`None`: removed).
        secret: Option<String>,
        /// Whether a CAMS call was made.
        called: bool,
    },
    /// Creation needs a person: the row (AdoptionRequired, Ambiguous, CreateUnconfirmed,
    /// IdentityMismatch) and what to do.
    CreateStalled {
        /// The row.
        row: Row,
        /// What happened and what to do.
        message: String,
    },
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The client's classification (the outcome-table row).
    pub class: ErrorClass,
    /// A scrubbed, human-readable reason.
    pub message: String,
    /// The error envelope CAMS sent, if any.
    pub envelope: Option<Envelope>,
    /// `x-acs-retry-after`, if sent.
    pub retry_after: Option<Duration>,
    /// Whether a CAMS call was sent: then the remote may hold anything (the update may have
    /// landed and its answer been lost), so the "applied" claim is withdrawn.
    pub called: bool,
}

impl Outcome {
    /// The outcome-table row, if the outcome is one (up to date is not a row of its own).
    pub fn row(&self) -> Option<Row> {
        match self {
            Self::Accepted { .. } => Some(Row::Accepted),
            Self::UpToDate => None,
            Self::Failed(f) => Some(Row::of_class(f.class)),
            Self::Paused => Some(Row::Paused),
            Self::Conflict { .. } => Some(Row::Conflict),
            Self::Corrected { .. } => Some(Row::DriftCorrected),
            Self::DriftPersists { .. } => Some(Row::DriftPersists),
            Self::GroupMissing => Some(Row::GroupMissing),
            Self::GroupSuspended(_) => Some(Row::GroupSuspended),
            Self::Observed => Some(Row::Observed),
            Self::Creating { .. } => Some(Row::Creating),
            Self::CreateStalled { row, .. } => Some(*row),
            Self::InviteLink { .. } => Some(Row::InviteLink),
        }
    }

    /// Whether a CAMS call was sent.
    pub fn called(&self) -> bool {
        matches!(
            self,
            Self::Accepted { .. }
                | Self::Corrected { .. }
                | Self::InviteLink { called: true, .. }
                | Self::Failed(Failure { called: true, .. })
        )
    }
}

/// An event to publish for an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// Normal or Warning.
    pub kind: EventKind,
    /// The outcome table's event reason.
    pub reason: &'static str,
    /// Human-readable note (scrubbed).
    pub note: String,
}

/// When to look at the object again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only when the object (or what it references) changes.
    OnChange,
    /// After this long.
    After(Duration),
}

/// Backoff settings.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First retry delay for retryable errors.
    pub base: Duration,
    /// Largest retry delay for retryable errors.
    pub cap: Duration,
    /// Retry interval for credentials and forbidden errors.
    pub slow: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            slow: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`: `base·2^(attempts-1)` capped, with "equal
    /// jitter" (half fixed, half random from `jitter` in [0,1)), and never sooner than
    /// `retry_after`.
    pub fn delay(&self, attempts: i32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let jittered = full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// The result of judging an outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The status to write (compare with the current one before writing).
    pub status: ChatGroupStatus,
    /// The event to publish, if any.
    pub event: Option<EventSpec>,
    /// When to look again.
    pub requeue: Requeue,
}

/// Inputs besides the object and the outcome.
#[derive(Clone, Debug)]
pub struct JudgeInput<'a> {
    /// The hash the current spec would apply.
    pub desired_hash: &'a str,
    /// The time the outcome is judged at.
    pub now: DateTime<Utc>,
    /// A number in [0,1) for backoff jitter.
    pub jitter: f64,
    /// Backoff settings.
    pub policy: RetryPolicy,
    /// The credentials Secret's resourceVersion read for this attempt, if any.
    pub credentials_version: Option<String>,
    /// What observation says about the group; `None` leaves `InSync` and `atProvider` alone.
    pub observation: Option<&'a Verdict>,
}

/// How often a conflicting ChatGroup looks again (no call is made).
pub const CONFLICT_RECHECK: Duration = Duration::from_secs(30);

/// Applies the outcome table: the next status, the event and the requeue.
pub fn judge(obj: &ChatGroup, outcome: &Outcome, input: &JudgeInput<'_>) -> Judgement {
    let draft = Draft::new(obj, input.now, input.observation);
    let mut judgement = match outcome {
        Outcome::Accepted { envelope, hash } => draft.accepted(envelope, hash, None),
        Outcome::Corrected {
            envelope,
            hash,
            fields,
        } => draft.accepted(envelope, hash, Some(fields)),
        Outcome::UpToDate => draft.up_to_date(),
        Outcome::Paused => draft.paused(),
        Outcome::Conflict { older } => draft.conflict(older),
        Outcome::Failed(failure) => draft.failed(failure, input),
        Outcome::DriftPersists { fields } => draft.drift_persists(fields),
        Outcome::GroupMissing => draft.group_missing(),
        Outcome::GroupSuspended(status) => draft.group_suspended(status),
        Outcome::Observed => draft.observed(),
        Outcome::Creating {
            message,
            envelope,
            unique_code,
        } => draft.creating(message, envelope.as_ref(), unique_code.as_deref()),
        Outcome::CreateStalled { row, message } => draft.create_stalled(*row, message),
        Outcome::InviteLink {
            note,
            token,
            secret,
            called,
        } => draft.invite_link(note, token.as_deref(), secret.as_deref(), *called),
    };
    if let Some(verdict) = input.observation {
        observation::record(obj, outcome, verdict, input.now, &mut judgement.status);
    }
    judgement
}

/// The status being judged: the object, its current status and the next one.
struct Draft<'a> {
    obj: &'a ChatGroup,
    current: ChatGroupStatus,
    next: ChatGroupStatus,
    generation: Option<i64>,
    now: DateTime<Utc>,
    observation: Option<&'a Verdict>,
}

impl<'a> Draft<'a> {
    fn new(obj: &'a ChatGroup, now: DateTime<Utc>, observation: Option<&'a Verdict>) -> Self {
        let current = obj.status.clone().unwrap_or_default();
        Self {
            obj,
            next: current.clone(),
            current,
            generation: obj.metadata.generation,
            now,
            observation,
        }
    }

    /// CAMS accepted an UpdateChatGroup: the spec's, or a correction of `drift`.
    fn accepted(mut self, envelope: &Envelope, hash: &str, drift: Option<&[String]>) -> Judgement {
        set_envelope(&mut self.next, envelope);
        self.next.last_sync_time = Some(rfc3339_not_before(self.now));
        self.next.applied_hash = Some(hash.to_string());
        self.next.retry = None;
        self.mark_token_handled();
        let rid = envelope.request_id.as_deref().unwrap_or("none").trim();
        let (row, message) = match drift {
            None => (
                Row::Accepted.spec(),
                format!("CAMS accepted UpdateChatGroup (RequestId {rid})"),
            ),
            Some(fields) => (
                Row::DriftCorrected.spec(),
                format!(
                    "{} differed from the spec in two scans; CAMS accepted the correcting UpdateChatGroup (RequestId {rid})",
                    fields.join(", ")
                ),
            ),
        };
        self.apply_row(row, &message, "");
        let event = self.event(row, &message);
        self.finish(event, Requeue::OnChange)
    }

    /// Nothing to call: the last call for exactly this desired state was accepted and nothing
    /// since withdrew that claim.
    fn up_to_date(mut self) -> Judgement {
        self.next.retry = None;
        let settled = self.current.is_true(ConditionType::Ready)
            && self.current.observed_generation == self.generation
            && self.current.reason(ConditionType::Synced)
                == Some(Reason::ReconcileSuccess.as_str());
        if !settled {
            let message = match self.current.request_id.as_deref() {
                Some(rid) => format!("CAMS accepted this spec (RequestId {})", rid.trim()),
                None => "CAMS accepted this spec".to_string(),
            };
            self.apply_row(Row::Accepted.spec(), &message, "");
        }
        self.finish(None, Requeue::OnChange)
    }

    fn paused(mut self) -> Judgement {
        let row = Row::Paused.spec();
        self.apply_row(
            row,
            "cams.dev/paused is \"true\": no CAMS calls until it is removed",
            "paused",
        );
        let event = (self.next != self.current)
            .then(|| self.event(row, "Reconciliation paused by cams.dev/paused"))
            .flatten();
        self.finish(event, Requeue::OnChange)
    }

    fn conflict(mut self, older: &str) -> Judgement {
        let message = format!(
            "{older} already manages this group (same custSpaceId, businessNumber and groupId); delete one of them"
        );
        // The other ChatGroup may write to the group: nothing we applied can be vouched for.
        self.next.applied_hash = None;
        self.next.retry = None;
        // The reconcile token stays pending: it is handled once this object may call again.
        let row = Row::Conflict.spec();
        self.apply_row(row, &message, &message);
        let event = (self.next != self.current)
            .then(|| self.event(row, &message))
            .flatten();
        self.finish(event, Requeue::After(CONFLICT_RECHECK))
    }

    fn failed(mut self, failure: &Failure, input: &JudgeInput<'_>) -> Judgement {
        let row = Row::of_class(failure.class).spec();
        if let Some(envelope) = &failure.envelope {
            set_envelope(&mut self.next, envelope);
        }
        if failure.called {
            // The update may have landed (a lost answer) or the group may have changed (a
            // refusal): the remote no longer matches any claim, so a return to an earlier
            // spec calls again.
            self.next.applied_hash = None;
            self.mark_token_handled();
        }
        let (retry, requeue, when) = self.schedule(row, failure, input);
        self.next.retry = retry.map(Box::new);
        let message = format!("{}; {when}", failure.message);
        let stalled_message = if row.stalled {
            message.as_str()
        } else {
            "retrying"
        };
        self.apply_row(row, &message, stalled_message);
        // Without a call, repeat the event only when something changed (no event storm for
        // a Secret that stays missing).
        let emit = failure.called
            || self.current.message_of(ConditionType::Synced)
                != self.next.message_of(ConditionType::Synced);
        let event = emit.then(|| self.event(row, &message)).flatten();
        self.finish(event, requeue)
    }

    /// The retry state, the requeue and how the message says when the next attempt comes.
    fn schedule(
        &self,
        row: &RowSpec,
        failure: &Failure,
        input: &JudgeInput<'_>,
    ) -> (Option<RetryStatus>, Requeue, String) {
        let attempts = match &self.current.retry {
            Some(r) if r.generation == self.generation => r.attempts.saturating_add(1),
            _ => 1,
        };
        match row.next {
            Next::Backoff => {
                let delay = input
                    .policy
                    .delay(attempts, input.jitter, failure.retry_after);
                (
                    Some(retry_status(attempts, self.now, delay, self.generation)),
                    Requeue::After(delay),
                    format!("attempt {attempts}, next in {:.1}s", delay.as_secs_f64()),
                )
            }
            Next::Slow | Next::SlowOrSecretChange => {
                let delay = input
                    .policy
                    .slow
                    .max(failure.retry_after.unwrap_or_default());
                let mut retry = retry_status(attempts, self.now, delay, self.generation);
                let when = if row.next == Next::SlowOrSecretChange {
                    retry.credentials_version = input.credentials_version.clone();
                    format!(
                        "next attempt in {}s or when the credentials Secret changes",
                        delay.as_secs()
                    )
                } else {
                    format!("next attempt in {}s", delay.as_secs())
                };
                (Some(retry), Requeue::After(delay), when)
            }
            Next::OnSpecOrSettings => (
                None,
                Requeue::OnChange,
                "no retry until the spec or the operator's settings change".to_string(),
            ),
            _ => (
                None,
                Requeue::OnChange,
                "no retry until the spec changes".to_string(),
            ),
        }
    }

    /// Sets Ready, Synced and Stalled as `row` says, and `observedGeneration` for a final row.
    fn apply_row(&mut self, row: &RowSpec, message: &str, stalled_message: &str) {
        let (generation, now) = (self.generation, self.now);
        let ready = match row.ready {
            ReadyRule::True => Some(true),
            ReadyRule::False => Some(false),
            ReadyRule::Unchanged if self.ready_still_holds() => None,
            ReadyRule::Unchanged => Some(false),
            // Until the first scan after a start, what status says stands.
            ReadyRule::SeenActive if self.observation_pending() => None,
            ReadyRule::SeenActive => Some(self.observation.is_some_and(|v| v.active)),
        };
        // What observation says overrides a Ready that would be True.
        let would_be_true = ready.unwrap_or_else(|| self.current.is_true(ConditionType::Ready));
        let withheld = would_be_true.then(|| self.ready_withheld(row)).flatten();
        let ready = match &withheld {
            Some(_) => Some(false),
            None => ready,
        };
        if let Some(value) = ready {
            let observed_message;
            let (reason, ready_message) = match (value, row.row, &withheld) {
                (false, _, Some((reason, why))) => {
                    observed_message = why.clone();
                    (*reason, observed_message.as_str())
                }
                (true, Row::Observed, _) => {
                    (Reason::Available, "ListChatGroup lists the group ACTIVE")
                }
                (true, _, _) => (Reason::Available, message),
                (false, Row::Paused, _) => (row.reason, "paused before CAMS accepted this spec"),
                (false, Row::Observed, _) => {
                    observed_message = self.not_seen_active();
                    (row.reason, observed_message.as_str())
                }
                (false, _, _) => (row.reason, message),
            };
            let c = &mut self.next.conditions;
            set_condition(
                c,
                ConditionType::Ready,
                value,
                reason,
                ready_message,
                generation,
                now,
            );
        }
        let c = &mut self.next.conditions;
        if let Some(synced) = row.synced {
            set_condition(
                c,
                ConditionType::Synced,
                synced,
                row.reason,
                message,
                generation,
                now,
            );
        }
        let stalled_reason = match row.row {
            _ if row.stalled => row.reason,
            Row::Accepted | Row::DriftCorrected | Row::Paused | Row::Observed => row.reason,
            _ => Reason::Progressing,
        };
        set_condition(
            c,
            ConditionType::Stalled,
            row.stalled,
            stalled_reason,
            stalled_message,
            generation,
            now,
        );
        if row.is_final() {
            self.next.observed_generation = generation;
        }
    }

    /// Ready True stays true only while it was about this generation, the claim it rests on
    /// is still recorded, and no forced re-apply is pending.
    fn ready_still_holds(&self) -> bool {
        let ready_generation = self
            .current
            .condition(ConditionType::Ready)
            .and_then(|c| c.observed_generation);
        self.current.is_true(ConditionType::Ready)
            && ready_generation == self.generation
            && self.current.applied_hash.is_some()
            && !has_new_token(self.obj, &self.current)
    }

    fn mark_token_handled(&mut self) {
        if let Some(token) = self.obj.reconcile_token() {
            self.next.last_handled_reconcile_at = Some(token.to_string());
        }
    }

    fn event(&self, row: &RowSpec, note: &str) -> Option<EventSpec> {
        row.event.map(|(kind, reason)| EventSpec {
            kind,
            reason,
            note: note.to_string(),
        })
    }

    fn finish(self, event: Option<EventSpec>, requeue: Requeue) -> Judgement {
        Judgement {
            status: self.next,
            event,
            requeue,
        }
    }
}

/// Whether the object carries a reconcile token its status has not handled yet.
pub fn has_new_token(obj: &ChatGroup, status: &ChatGroupStatus) -> bool {
    obj.reconcile_token()
        .is_some_and(|t| Some(t) != status.last_handled_reconcile_at.as_deref())
}

fn retry_status(
    attempts: i32,
    now: DateTime<Utc>,
    delay: Duration,
    generation: Option<i64>,
) -> RetryStatus {
    let at =
        now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::seconds(300));
    RetryStatus {
        attempts,
        next_retry_time: rfc3339_not_before(at),
        generation,
        credentials_version: None,
    }
}

fn set_envelope(status: &mut ChatGroupStatus, envelope: &Envelope) {
    status.success = envelope.success;
    status.code = envelope.code.clone();
    status.message = envelope.message.clone();
    status.request_id = envelope.request_id.clone();
    status.access_denied_detail = envelope.access_denied_detail.clone();
    status.result = envelope.result;
}

/// Sets a condition; `lastTransitionTime` changes only when the status flips.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    value: bool,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if value { "True" } else { "False" };
    set_condition_to(conditions, type_, status, reason, message, generation, now);
}

/// Sets a condition to `status` ("True", "False" or "Unknown").
pub fn set_condition_to(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    status: &str,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = status.to_string();
    let message = truncate(message, 1024);
    match conditions.iter_mut().find(|c| c.type_ == type_.as_str()) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = k8s_time(now);
            }
            c.status = status;
            c.reason = reason.as_str().to_string();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.as_str().to_string(),
            status,
            reason: reason.as_str().to_string(),
            message,
            observed_generation: generation,
            last_transition_time: k8s_time(now),
        }),
    }
    conditions.sort_by_key(|c| {
        ConditionType::ALL
            .iter()
            .position(|t| t.as_str() == c.type_)
            .unwrap_or(usize::MAX)
    });
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max_chars - 1).collect();
        t.push('…');
        t
    }
}

/// A Kubernetes `Time` (whole seconds, as the API server stores it).
pub fn k8s_time(t: DateTime<Utc>) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).unwrap_or_default())
}

/// RFC 3339 with seconds, `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 with milliseconds, `Z`, rounded up: a "not before" time must never come early
/// (truncating to whole seconds let a retry go up to a second before its backoff ended).
pub fn rfc3339_not_before(t: DateTime<Utc>) -> String {
    let below_ms = i64::from(t.timestamp_subsec_nanos() % 1_000_000);
    let t = if below_ms == 0 {
        t
    } else {
        t + chrono::Duration::nanoseconds(1_000_000 - below_ms)
    };
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod not_before_tests {
    use super::*;

    #[test]
    fn not_before_keeps_milliseconds_and_rounds_up() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T01:02:03.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339_not_before(t), "2026-11-26T01:02:03.124Z");
        let exact = DateTime::parse_from_rfc3339("2026-11-26T01:02:03.999Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339_not_before(exact), "2026-11-26T01:02:03.999Z");
        let carry = DateTime::parse_from_rfc3339("2026-11-26T01:02:03.9995Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339_not_before(carry), "2026-11-26T01:02:04.000Z");
    }
}

#[cfg(test)]
mod judge_tests {
    use super::*;
    use crate::outcome::TABLE;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Generation 2, accepted at generation 2 with hash "v1:h" (Ready True).
    fn accepted_object() -> ChatGroup {
        let mut obj = crate::fixtures::ChatGroupBuilder::new("g", "ns", "c", "g").build();
        obj.metadata.generation = Some(2);
        let envelope = Envelope {
            code: Some("OK".into()),
            request_id: Some("R1".into()),
            ..Default::default()
        };
        let first = judge(
            &obj,
            &Outcome::Accepted {
                envelope,
                hash: "v1:h".into(),
            },
            &input(),
        );
        obj.status = Some(first.status);
        obj
    }

    fn input() -> JudgeInput<'static> {
        JudgeInput {
            desired_hash: "v1:h",
            now: now(),
            jitter: 0.5,
            policy: RetryPolicy::default(),
            credentials_version: None,
            observation: None,
        }
    }

    /// What observation says in the state a row stands for.
    fn verdict_for(row: Row) -> crate::observe::compare::Verdict {
        use crate::observe::compare::{InSync, Verdict};
        let in_sync = match row {
            Row::GroupMissing => InSync::Missing,
            Row::GroupSuspended => InSync::Suspended("SUSPENDED".into()),
            Row::DriftPersists => InSync::Drifted {
                fields: vec!["subject".into()],
                confirmed: true,
            },
            _ => InSync::InSync,
        };
        Verdict {
            active: in_sync == InSync::InSync,
            in_sync,
            at_provider: Some(Default::default()),
            picture: None,
        }
    }

    fn outcome_for(row: Row) -> Outcome {
        let class = match row {
            Row::DriftCorrected => {
                return Outcome::Corrected {
                    envelope: Envelope::default(),
                    hash: "v1:h".into(),
                    fields: vec!["subject".into()],
                }
            }
            Row::DriftPersists => {
                return Outcome::DriftPersists {
                    fields: vec!["subject".into()],
                }
            }
            Row::GroupMissing => return Outcome::GroupMissing,
            Row::GroupSuspended => return Outcome::GroupSuspended("SUSPENDED".into()),
            Row::Observed => return Outcome::Observed,
            Row::Creating => {
                return Outcome::Creating {
                    message: "creating".into(),
                    envelope: Some(Envelope::default()),
                    unique_code: Some("U1".into()),
                }
            }
            Row::InviteLink => {
                return Outcome::InviteLink {
                    note: "published".into(),
                    token: None,
                    secret: Some("s".into()),
                    called: true,
                }
            }
            Row::InviteLinksDisabled
            | Row::AdoptionRequired
            | Row::Ambiguous
            | Row::CreateUnconfirmed
            | Row::IdentityMismatch => {
                return Outcome::CreateStalled {
                    row,
                    message: "a person must act".into(),
                }
            }
            Row::Accepted => {
                return Outcome::Accepted {
                    envelope: Envelope::default(),
                    hash: "v1:h".into(),
                }
            }
            Row::Paused => return Outcome::Paused,
            Row::Conflict => {
                return Outcome::Conflict {
                    older: "ChatGroup team-a/older".into(),
                }
            }
            Row::Throttled => ErrorClass::Throttled,
            Row::Retryable => ErrorClass::Retryable,
            Row::Freshness => ErrorClass::Freshness,
            Row::Credentials => ErrorClass::Credentials,
            Row::Forbidden => ErrorClass::Forbidden,
            Row::Terminal => ErrorClass::Terminal,
            Row::Configuration => ErrorClass::Configuration,
            Row::RegionNotAllowed => ErrorClass::RegionNotAllowed,
        };
        let called = !matches!(row, Row::Configuration | Row::RegionNotAllowed);
        Outcome::Failed(Failure {
            class,
            message: "m".into(),
            envelope: None,
            retry_after: None,
            called,
        })
    }

    #[test]
    fn judge_applies_every_row_of_the_table() {
        for spec in &TABLE {
            let obj = accepted_object();
            let outcome = outcome_for(spec.row);
            let verdict = verdict_for(spec.row);
            let j = judge(
                &obj,
                &outcome,
                &JudgeInput {
                    observation: Some(&verdict),
                    ..input()
                },
            );
            let s = &j.status;
            let row = format!("{:?}", spec.row);
            let synced = s.condition(ConditionType::Synced).unwrap();
            match spec.synced {
                Some(value) => {
                    assert_eq!(synced.status == "True", value, "{row}: Synced");
                    assert_eq!(synced.reason, spec.reason.as_str(), "{row}: Synced reason");
                }
                // Left as the accepted call set it.
                None => assert_eq!(synced.reason, "ReconcileSuccess", "{row}: Synced kept"),
            }
            assert_eq!(
                s.is_true(ConditionType::Stalled),
                spec.stalled,
                "{row}: Stalled"
            );
            let ready = s.is_true(ConditionType::Ready);
            match spec.ready {
                ReadyRule::True => assert!(ready, "{row}: Ready"),
                ReadyRule::False => assert!(!ready, "{row}: Ready"),
                // Accepted at this generation, nothing pending: it holds.
                ReadyRule::Unchanged => assert!(ready, "{row}: Ready kept"),
                ReadyRule::SeenActive => assert!(ready, "{row}: listed ACTIVE"),
            }
            // A call that failed withdraws the claim; so does a conflict (the other object
            // may write to the group).
            // (A create's AddChatGroup changes no existing group.)
            let withdrawn = (outcome.called()
                && !matches!(
                    spec.row,
                    Row::Accepted | Row::DriftCorrected | Row::Creating | Row::InviteLink
                ))
                || spec.row == Row::Conflict;
            assert_eq!(s.applied_hash.is_none(), withdrawn, "{row}: applied claim");
            let event = j.event.map(|e| (e.kind, e.reason));
            assert_eq!(
                event, spec.event,
                "{row}: a state change publishes its event"
            );
            let retry = matches!(
                spec.next,
                Next::Backoff | Next::Slow | Next::SlowOrSecretChange
            );
            assert_eq!(s.retry.is_some(), retry, "{row}: retry state");
            let requeue_after = matches!(j.requeue, Requeue::After(_));
            assert_eq!(
                requeue_after,
                retry || matches!(spec.next, Next::Recheck | Next::UntilListed),
                "{row}: requeue"
            );
        }
    }

    #[test]
    fn unchanged_ready_does_not_survive_a_spec_change_or_a_pending_token() {
        for row in [Row::Paused, Row::Configuration] {
            let mut changed = accepted_object();
            changed.metadata.generation = Some(3);
            let j = judge(&changed, &outcome_for(row), &input());
            assert!(
                !j.status.is_true(ConditionType::Ready),
                "{row:?}: new generation"
            );

            let mut poked = accepted_object();
            poked.metadata.annotations = Some(
                [(
                    crate::resource::RECONCILE_REQUESTED_AT_ANNOTATION.to_string(),
                    "t".into(),
                )]
                .into(),
            );
            let j = judge(&poked, &outcome_for(row), &input());
            assert!(
                !j.status.is_true(ConditionType::Ready),
                "{row:?}: pending token"
            );
            assert_eq!(
                j.status.last_handled_reconcile_at, None,
                "{row:?}: token kept"
            );
        }
    }
}
