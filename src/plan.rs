//! What a ChatGroup asks CAMS for, its applied hash, and whether a call is due. Pure logic
//! over the object and the clock: no Kubernetes or HTTP I/O.

use chrono::{DateTime, Utc};

use crate::cams::sign::sha256_hex;
use crate::cams::{Endpoint, UpdateChatGroup};
use crate::outcome::Reason;
use crate::resource::ConditionType;
use crate::resource::{ChatGroup, ChatGroupSpec};
use crate::status::has_new_token;

/// Version prefix of [`applied_hash`]; bump it when the hashed form changes.
pub const HASH_VERSION: &str = "v1";

/// The UpdateChatGroup request a spec asks for group `group_id`: the identity, the channel
/// and only the optional fields that are set.
pub fn update_request(spec: &ChatGroupSpec, group_id: &str) -> UpdateChatGroup {
    UpdateChatGroup {
        business_number: spec.business_number.clone(),
        cust_space_id: spec.cust_space_id.clone(),
        group_id: group_id.to_string(),
        channel_type: Some(spec.channel_type.as_str().to_string()),
        subject: spec.subject.clone(),
        description: spec.description.clone(),
        profile_picture_file: spec.profile_picture_url.clone(),
    }
}

/// `v1:` + hex SHA-256 over the sorted parameters (which include the group's identity) and the
/// endpoint. Credentials are not covered: rotating a key does not re-apply.
pub fn applied_hash(request: &UpdateChatGroup, endpoint: &Endpoint) -> String {
    let mut text = String::new();
    for (k, v) in request.params() {
        // Length-prefixed, so no value can forge a boundary.
        text.push_str(&format!("{}:{k}={}:{v}\n", k.len(), v.len()));
    }
    text.push_str(&endpoint.origin());
    format!("{HASH_VERSION}:{}", sha256_hex(text.as_bytes()))
}

/// What the reconciler should do with an object now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `cams.dev/paused` is set: no call.
    Paused,
    /// CAMS already accepted exactly this; only status bookkeeping may be due.
    UpToDate,
    /// The last outcome for this generation needs a person (terminal spec error): no call
    /// until the spec changes.
    AwaitSpecChange,
    /// A retry is scheduled later: wait.
    WaitUntil(DateTime<Utc>),
    /// Call CAMS.
    Apply,
}

/// Decides from the object and its status alone (never from in-memory state), so the
/// operator's own status writes and restarts never cause a call. `credentials_version` is
/// the current resourceVersion of the referenced Secret, when known: a scheduled retry after
/// a credentials error goes at once when the Secret has changed since.
pub fn decide(
    obj: &ChatGroup,
    desired_hash: &str,
    credentials_version: Option<&str>,
    now: DateTime<Utc>,
) -> Decision {
    if obj.is_paused() {
        return Decision::Paused;
    }
    let status = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let new_token = has_new_token(obj, &status);
    let synced_reason = status.reason(ConditionType::Synced);

    if let Some(retry) = &status.retry {
        if retry.generation == generation {
            let secret_changed = synced_reason == Some(Reason::CredentialsInvalid.as_str())
                && credentials_version.is_some()
                && credentials_version != retry.credentials_version.as_deref();
            if let Some(at) = parse_time(&retry.next_retry_time) {
                if at > now && !secret_changed {
                    return Decision::WaitUntil(at);
                }
            }
        }
    }
    // A failed call withdraws `appliedHash` (status::judge), so a match here means the last
    // call for exactly this desired state was accepted and nothing has failed since.
    if status.applied_hash.as_deref() == Some(desired_hash) && !new_token {
        return Decision::UpToDate;
    }
    let judged_this_generation = status.observed_generation == generation && generation.is_some();
    if judged_this_generation && !new_token && synced_reason == Some(Reason::InvalidSpec.as_str()) {
        return Decision::AwaitSpecChange;
    }
    Decision::Apply
}

/// Parses an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{
        ChatGroupStatus, RetryStatus, PAUSED_ANNOTATION, RECONCILE_REQUESTED_AT_ANNOTATION,
    };
    use crate::status::{set_condition, Reason};

    const H1: &str = "v1:one";
    const H2: &str = "v1:two";

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-30T12:00:00Z").unwrap()
    }

    /// A generation-2 object; `synced` sets a Synced condition judged for `judged`.
    struct Case {
        applied: Option<&'static str>,
        synced: Option<Reason>,
        judged: Option<i64>,
        token: Option<&'static str>,
        handled: Option<&'static str>,
        retry_in_secs: Option<i64>,
        paused: bool,
    }

    const BASE: Case = Case {
        applied: None,
        synced: None,
        judged: None,
        token: None,
        handled: None,
        retry_in_secs: None,
        paused: false,
    };

    fn object(case: &Case) -> ChatGroup {
        let mut obj = crate::fixtures::ChatGroupBuilder::new("g", "ns", "c", "g").build();
        obj.metadata.generation = Some(2);
        let mut annotations = std::collections::BTreeMap::new();
        if let Some(token) = case.token {
            annotations.insert(RECONCILE_REQUESTED_AT_ANNOTATION.to_string(), token.into());
        }
        if case.paused {
            annotations.insert(PAUSED_ANNOTATION.to_string(), "true".into());
        }
        obj.metadata.annotations = Some(annotations);
        let mut status = ChatGroupStatus {
            applied_hash: case.applied.map(String::from),
            observed_generation: case.judged,
            last_handled_reconcile_at: case.handled.map(String::from),
            retry: case.retry_in_secs.map(|s| {
                Box::new(RetryStatus {
                    attempts: 1,
                    next_retry_time: crate::status::rfc3339(now() + chrono::Duration::seconds(s)),
                    generation: Some(2),
                    credentials_version: Some("7".into()),
                })
            }),
            ..Default::default()
        };
        if let Some(reason) = case.synced {
            set_condition(
                &mut status.conditions,
                ConditionType::Synced,
                reason == Reason::ReconcileSuccess,
                reason,
                "",
                case.judged,
                now(),
            );
        }
        obj.status = Some(status);
        obj
    }

    #[test]
    fn decide_table() {
        let later = now() + chrono::Duration::seconds(30);
        let cases: Vec<(&str, Case, Option<&str>, Decision)> = vec![
            ("never applied", BASE, None, Decision::Apply),
            (
                "applied exactly this",
                Case {
                    applied: Some(H1),
                    ..BASE
                },
                None,
                Decision::UpToDate,
            ),
            (
                "applied something else",
                Case {
                    applied: Some(H2),
                    ..BASE
                },
                None,
                Decision::Apply,
            ),
            (
                "a new token forces a call",
                Case {
                    applied: Some(H1),
                    token: Some("t"),
                    ..BASE
                },
                None,
                Decision::Apply,
            ),
            (
                "a handled token does not",
                Case {
                    applied: Some(H1),
                    token: Some("t"),
                    handled: Some("t"),
                    ..BASE
                },
                None,
                Decision::UpToDate,
            ),
            (
                "a withdrawn claim after a refused re-apply waits for a spec change",
                Case {
                    synced: Some(Reason::InvalidSpec),
                    judged: Some(2),
                    token: Some("t"),
                    handled: Some("t"),
                    ..BASE
                },
                None,
                Decision::AwaitSpecChange,
            ),
            (
                "a terminal error of an older generation is retried for the new one",
                Case {
                    synced: Some(Reason::InvalidSpec),
                    judged: Some(1),
                    ..BASE
                },
                None,
                Decision::Apply,
            ),
            (
                "a configuration error is tried again (a restart may have fixed it)",
                Case {
                    applied: Some(H2),
                    synced: Some(Reason::ConfigurationError),
                    judged: Some(2),
                    ..BASE
                },
                None,
                Decision::Apply,
            ),
            (
                "a scheduled retry waits",
                Case {
                    synced: Some(Reason::ReconcileError),
                    retry_in_secs: Some(30),
                    ..BASE
                },
                None,
                Decision::WaitUntil(later),
            ),
            (
                "a due retry calls",
                Case {
                    synced: Some(Reason::ReconcileError),
                    retry_in_secs: Some(-1),
                    ..BASE
                },
                None,
                Decision::Apply,
            ),
            (
                "a changed Secret ends a credentials wait",
                Case {
                    synced: Some(Reason::CredentialsInvalid),
                    retry_in_secs: Some(30),
                    ..BASE
                },
                Some("8"),
                Decision::Apply,
            ),
            (
                "the same Secret keeps it",
                Case {
                    synced: Some(Reason::CredentialsInvalid),
                    retry_in_secs: Some(30),
                    ..BASE
                },
                Some("7"),
                Decision::WaitUntil(later),
            ),
            (
                "paused wins",
                Case {
                    token: Some("t"),
                    paused: true,
                    ..BASE
                },
                None,
                Decision::Paused,
            ),
        ];
        for (name, case, secret, expected) in cases {
            assert_eq!(
                decide(&object(&case), H1, secret, now()),
                expected,
                "{name}"
            );
        }
    }
}
