//! The contract's outcome table as code: from an outcome to the next status, its conditions
//! and its event. Pure: the clock and the jitter come in as arguments.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::cams::{Envelope, ErrorClass};
use crate::resource::{ChatGroup, ChatGroupStatus, RetryStatus};

/// Condition reasons, one per row of the outcome table.
pub mod reason {
    /// Ready True.
    pub const AVAILABLE: &str = "Available";
    /// Synced True.
    pub const RECONCILE_SUCCESS: &str = "ReconcileSuccess";
    /// Throttled by CAMS.
    pub const THROTTLED: &str = "Throttled";
    /// Any other retryable failure.
    pub const RECONCILE_ERROR: &str = "ReconcileError";
    /// Credentials missing, unusable or rejected.
    pub const CREDENTIALS_INVALID: &str = "CredentialsInvalid";
    /// Credentials valid but not allowed.
    pub const FORBIDDEN: &str = "Forbidden";
    /// Request timestamp or nonce rejected.
    pub const CLOCK_SKEW: &str = "ClockSkew";
    /// The spec itself was refused.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// `cams.dev/paused`.
    pub const RECONCILE_PAUSED: &str = "ReconcilePaused";
    /// Another ChatGroup names the same group.
    pub const CONFLICT: &str = "Conflict";
    /// Stalled False.
    pub const PROGRESSING: &str = "Progressing";
}

/// Condition types.
pub mod condition {
    /// CAMS accepted the current generation.
    pub const READY: &str = "Ready";
    /// The last reconcile reached CAMS and succeeded.
    pub const SYNCED: &str = "Synced";
    /// A person must act (kstatus).
    pub const STALLED: &str = "Stalled";
}

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
    Failed {
        /// The outcome-table row.
        class: ErrorClass,
        /// A scrubbed, human-readable reason.
        message: String,
        /// The error envelope CAMS sent, if any.
        envelope: Option<Envelope>,
        /// `x-acs-retry-after`, if sent.
        retry_after: Option<Duration>,
        /// Whether a CAMS call was made.
        called: bool,
    },
    /// `cams.dev/paused`: no call.
    Paused,
    /// An older ChatGroup (`namespace/name`) names the same group: no call.
    Conflict {
        /// The older ChatGroup.
        older: String,
    },
}

/// Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Normal.
    Normal,
    /// Warning.
    Warning,
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
    /// Now.
    pub now: DateTime<Utc>,
    /// A number in [0,1) for backoff jitter.
    pub jitter: f64,
    /// Backoff settings.
    pub policy: RetryPolicy,
    /// The credentials Secret's resourceVersion read for this attempt, if any.
    pub credentials_version: Option<String>,
}

/// How often a conflicting ChatGroup looks again (no call is made).
pub const CONFLICT_RECHECK: Duration = Duration::from_secs(30);

/// Applies the outcome table: the next status, the event and the requeue.
pub fn judge(obj: &ChatGroup, outcome: &Outcome, input: &JudgeInput<'_>) -> Judgement {
    let current = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let mut next = current.clone();
    let now = input.now;

    match outcome {
        Outcome::Accepted { envelope, hash } => {
            set_envelope(&mut next, envelope);
            next.observed_generation = generation;
            next.last_sync_time = Some(rfc3339(now));
            next.applied_hash = Some(hash.clone());
            mark_token_handled(&mut next, obj);
            next.retry = None;
            let rid = envelope.request_id.as_deref().unwrap_or("none").trim();
            let message = format!("CAMS accepted UpdateChatGroup (RequestId {rid})");
            set_accepted(&mut next, generation, &message, now);
            Judgement {
                status: next,
                event: Some(EventSpec {
                    kind: EventKind::Normal,
                    reason: "Updated",
                    note: message,
                }),
                requeue: Requeue::OnChange,
            }
        }
        Outcome::UpToDate => {
            next.observed_generation = generation;
            next.retry = None;
            let message = match current.request_id.as_deref() {
                Some(rid) => format!("CAMS accepted this spec (RequestId {})", rid.trim()),
                None => "CAMS accepted this spec".to_string(),
            };
            // Keep the message of an already-accepted generation, so nothing changes.
            let keep = is_true(&current, condition::READY)
                && current.observed_generation == generation
                && condition_reason(&current, condition::SYNCED).as_deref()
                    == Some(reason::RECONCILE_SUCCESS);
            if !keep {
                set_accepted(&mut next, generation, &message, now);
            } else {
                next.conditions = current.conditions.clone();
                next.observed_generation = current.observed_generation;
            }
            Judgement {
                status: next,
                event: None,
                requeue: Requeue::OnChange,
            }
        }
        Outcome::Paused => {
            set_condition(
                &mut next.conditions,
                condition::SYNCED,
                false,
                reason::RECONCILE_PAUSED,
                "cams.dev/paused is \"true\": no CAMS calls until it is removed",
                generation,
                now,
            );
            set_condition(
                &mut next.conditions,
                condition::STALLED,
                false,
                reason::RECONCILE_PAUSED,
                "paused",
                generation,
                now,
            );
            if find(&next.conditions, condition::READY).is_none() {
                set_condition(
                    &mut next.conditions,
                    condition::READY,
                    false,
                    reason::RECONCILE_PAUSED,
                    "paused before CAMS accepted this spec",
                    generation,
                    now,
                );
            }
            let changed = next != current;
            Judgement {
                status: next,
                event: changed.then(|| EventSpec {
                    kind: EventKind::Normal,
                    reason: "Paused",
                    note: "Reconciliation paused by cams.dev/paused".into(),
                }),
                requeue: Requeue::OnChange,
            }
        }
        Outcome::Conflict { older } => {
            let message = format!(
                "ChatGroup {older} already manages this group (same custSpaceId, businessNumber and groupId); delete one of them"
            );
            next.observed_generation = generation;
            next.retry = None;
            mark_token_handled(&mut next, obj);
            for type_ in [condition::READY, condition::SYNCED] {
                set_condition(
                    &mut next.conditions,
                    type_,
                    false,
                    reason::CONFLICT,
                    &message,
                    generation,
                    now,
                );
            }
            set_condition(
                &mut next.conditions,
                condition::STALLED,
                true,
                reason::CONFLICT,
                &message,
                generation,
                now,
            );
            let changed = next != current;
            Judgement {
                status: next,
                event: changed.then(|| EventSpec {
                    kind: EventKind::Warning,
                    reason: "Conflict",
                    note: message.clone(),
                }),
                requeue: Requeue::After(CONFLICT_RECHECK),
            }
        }
        Outcome::Failed {
            class,
            message,
            envelope,
            retry_after,
            called,
        } => {
            if let Some(envelope) = envelope {
                set_envelope(&mut next, envelope);
            }
            let (sync_reason, event_reason, stalled) = match class {
                ErrorClass::Throttled => (reason::THROTTLED, "UpdateFailed", false),
                ErrorClass::Retryable => (reason::RECONCILE_ERROR, "UpdateFailed", false),
                ErrorClass::Freshness => (reason::CLOCK_SKEW, "ClockSkew", false),
                ErrorClass::Credentials => {
                    (reason::CREDENTIALS_INVALID, "CredentialsInvalid", true)
                }
                ErrorClass::Forbidden => (reason::FORBIDDEN, "Forbidden", true),
                ErrorClass::Terminal => (reason::INVALID_SPEC, "InvalidSpec", true),
                ErrorClass::Configuration => {
                    ("ConfigurationError", "ConfigurationError", true)
                }
                ErrorClass::RegionNotAllowed => ("RegionNotAllowed", "RegionNotAllowed", true),
            };
            let attempts = match &current.retry {
                Some(r) if r.generation == generation => r.attempts.saturating_add(1),
                _ => 1,
            };
            let (retry, requeue, when) = match class {
                ErrorClass::Terminal | ErrorClass::Configuration | ErrorClass::RegionNotAllowed => (
                    None,
                    Requeue::OnChange,
                    "no retry until the spec changes".to_string(),
                ),
                ErrorClass::Credentials | ErrorClass::Forbidden => {
                    let delay = input.policy.slow.max(retry_after.unwrap_or_default());
                    let mut retry = retry_status(attempts, now, delay, generation);
                    retry.credentials_version = input.credentials_version.clone();
                    (
                        Some(retry),
                        Requeue::After(delay),
                        format!(
                            "next attempt in {}s or when the credentials Secret changes",
                            delay.as_secs()
                        ),
                    )
                }
                _ => {
                    let delay = input.policy.delay(attempts, input.jitter, *retry_after);
                    (
                        Some(retry_status(attempts, now, delay, generation)),
                        Requeue::After(delay),
                        format!("attempt {attempts}, next in {:.1}s", delay.as_secs_f64()),
                    )
                }
            };
            next.retry = retry;
            let full = format!("{message}; {when}");
            if stalled {
                // A final outcome handles the token too, or a terminal error would be retried
                // on every watch event while the token stays unhandled.
                mark_token_handled(&mut next, obj);
                next.observed_generation = generation;
                set_condition(
                    &mut next.conditions,
                    condition::READY,
                    false,
                    sync_reason,
                    &full,
                    generation,
                    now,
                );
            } else {
                let still_ready = is_true(&current, condition::READY)
                    && current.applied_hash.as_deref() == Some(input.desired_hash);
                if !still_ready {
                    set_condition(
                        &mut next.conditions,
                        condition::READY,
                        false,
                        sync_reason,
                        &full,
                        generation,
                        now,
                    );
                }
            }
            set_condition(
                &mut next.conditions,
                condition::SYNCED,
                false,
                sync_reason,
                &full,
                generation,
                now,
            );
            let (stalled_reason, stalled_message) = if stalled {
                (sync_reason, full.as_str())
            } else {
                (reason::PROGRESSING, "retrying")
            };
            set_condition(
                &mut next.conditions,
                condition::STALLED,
                stalled,
                stalled_reason,
                stalled_message,
                generation,
                now,
            );
            // Without a call, repeat the event only when something changed (no event storm
            // for a Secret that stays missing).
            let emit = *called
                || condition_message(&current, condition::SYNCED)
                    != condition_message(&next, condition::SYNCED);
            Judgement {
                status: next,
                event: emit.then(|| EventSpec {
                    kind: EventKind::Warning,
                    reason: event_reason,
                    note: full.clone(),
                }),
                requeue,
            }
        }
    }
}

fn mark_token_handled(status: &mut ChatGroupStatus, obj: &ChatGroup) {
    if let Some(token) = obj.reconcile_token() {
        status.last_handled_reconcile_at = Some(token.to_string());
    }
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

fn set_accepted(
    status: &mut ChatGroupStatus,
    generation: Option<i64>,
    message: &str,
    now: DateTime<Utc>,
) {
    set_condition(
        &mut status.conditions,
        condition::READY,
        true,
        reason::AVAILABLE,
        message,
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        condition::SYNCED,
        true,
        reason::RECONCILE_SUCCESS,
        message,
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        condition::STALLED,
        false,
        reason::RECONCILE_SUCCESS,
        "",
        generation,
        now,
    );
}

/// Sets a condition; `lastTransitionTime` changes only when the status flips.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if value { "True" } else { "False" }.to_string();
    let message = truncate(message, 1024);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = k8s_time(now);
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            observed_generation: generation,
            last_transition_time: k8s_time(now),
        }),
    }
    conditions.sort_by_key(|c| order(&c.type_));
}

fn order(type_: &str) -> usize {
    [condition::READY, condition::SYNCED, condition::STALLED]
        .iter()
        .position(|t| *t == type_)
        .unwrap_or(usize::MAX)
}

fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn is_true(status: &ChatGroupStatus, type_: &str) -> bool {
    find(&status.conditions, type_).is_some_and(|c| c.status == "True")
}

fn condition_message(status: &ChatGroupStatus, type_: &str) -> Option<String> {
    find(&status.conditions, type_).map(|c| c.message.clone())
}

/// The reason of a condition, if present.
pub fn condition_reason(status: &ChatGroupStatus, type_: &str) -> Option<String> {
    find(&status.conditions, type_).map(|c| c.reason.clone())
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
