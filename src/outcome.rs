//! The outcome table as one piece of data: for each way a reconcile can end, what the
//! conditions say, whether a person must act, when the next attempt comes and which event is
//! published. [`crate::status::judge`] applies it, the metrics label it, and the README's table
//! is rendered from it (a test keeps the two equal).

use crate::cams::ErrorClass;

/// The condition types the operator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// The group holds the current generation's spec, as far as the operator knows.
    Ready,
    /// The last reconcile reached CAMS and CAMS accepted it.
    Synced,
    /// A person must act before anything changes (kstatus reads it).
    Stalled,
    /// The group, as ListChatGroup shows it, holds the spec's managed fields.
    InSync,
}

impl ConditionType {
    /// Every type, in the order they are kept in status.
    pub const ALL: [ConditionType; 4] = [Self::Ready, Self::Synced, Self::Stalled, Self::InSync];

    /// The `type` string in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Synced => "Synced",
            Self::Stalled => "Stalled",
            Self::InSync => "InSync",
        }
    }
}

/// Condition reasons (the `reason` field), one per row of the table plus the two that only
/// describe a healthy state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Ready True: CAMS accepted the current generation's spec.
    Available,
    /// Synced True (and Stalled False after an accepted call).
    ReconcileSuccess,
    /// CAMS throttled the call.
    Throttled,
    /// Any other retryable failure.
    ReconcileError,
    /// Credentials missing, unusable or rejected.
    CredentialsInvalid,
    /// Credentials valid but not allowed.
    Forbidden,
    /// Request timestamp or nonce refused.
    ClockSkew,
    /// CAMS refused the spec itself.
    InvalidSpec,
    /// The operator's own settings are wrong.
    ConfigurationError,
    /// The object's region is outside the operator's allowlist.
    RegionNotAllowed,
    /// `cams.dev/paused`.
    ReconcilePaused,
    /// Another ChatGroup manages the same group.
    Conflict,
    /// Stalled False while retrying.
    Progressing,
    /// Drift corrections of one desired state did not hold.
    DriftPersists,
    /// The group is absent from two consecutive complete scans.
    GroupMissing,
    /// CAMS lists the group SUSPENDED or INACTIVE.
    GroupSuspended,
    /// `managementPolicy: Observe`: the operator only reports.
    Observing,
    /// InSync True.
    InSync,
    /// InSync False: our accepted change is not visible yet, or the group is changing.
    Updating,
    /// InSync False: a managed field differs outside the settle window.
    Drifted,
    /// InSync Unknown: `--observe-interval 0`.
    ObservationDisabled,
    /// InSync Unknown: ListChatGroup is refused or failing, or its data is too old.
    ObservationUnavailable,
    /// A group is being created: AddChatGroup sent or about to be, the group not listed yet.
    Creating,
    /// An unclaimed group with the same subject exists: adopt it or allow a duplicate.
    AdoptionRequired,
    /// Several new groups could be the one created.
    Ambiguous,
    /// The created group was not listed within `--create-timeout`.
    CreateUnconfirmed,
    /// `spec.groupId` differs from the group this object created.
    IdentityMismatch,
    /// `spec.inviteLink` is set but the operator runs without `--invite-links`.
    InviteLinksDisabled,
}

impl Reason {
    /// The `reason` string in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::ReconcileSuccess => "ReconcileSuccess",
            Self::Throttled => "Throttled",
            Self::ReconcileError => "ReconcileError",
            Self::CredentialsInvalid => "CredentialsInvalid",
            Self::Forbidden => "Forbidden",
            Self::ClockSkew => "ClockSkew",
            Self::InvalidSpec => "InvalidSpec",
            Self::ConfigurationError => "ConfigurationError",
            Self::RegionNotAllowed => "RegionNotAllowed",
            Self::ReconcilePaused => "ReconcilePaused",
            Self::Conflict => "Conflict",
            Self::Progressing => "Progressing",
            Self::DriftPersists => "DriftPersists",
            Self::GroupMissing => "GroupMissing",
            Self::GroupSuspended => "GroupSuspended",
            Self::Observing => "Observing",
            Self::InSync => "InSync",
            Self::Updating => "Updating",
            Self::Drifted => "Drifted",
            Self::ObservationDisabled => "ObservationDisabled",
            Self::ObservationUnavailable => "ObservationUnavailable",
            Self::Creating => "Creating",
            Self::AdoptionRequired => "AdoptionRequired",
            Self::Ambiguous => "Ambiguous",
            Self::CreateUnconfirmed => "CreateUnconfirmed",
            Self::IdentityMismatch => "IdentityMismatch",
            Self::InviteLinksDisabled => "InviteLinksDisabled",
        }
    }
}

/// One row of the table: how a reconcile ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Row {
    /// CAMS accepted the call (2xx, Code OK).
    Accepted,
    /// `Throttling*` or `x-acs-retry-after`.
    Throttled,
    /// 5xx, transport error, timeout, unknown code.
    Retryable,
    /// `InvalidTimeStamp.Expired`, `SignatureNonceUsed`.
    Freshness,
    /// No usable credentials, or CAMS rejected them.
    Credentials,
    /// Valid credentials without permission.
    Forbidden,
    /// `MissingParameter`, `InvalidParameter.*`.
    Terminal,
    /// The operator's endpoint or CA settings are wrong.
    Configuration,
    /// The region is outside `--regions`.
    RegionNotAllowed,
    /// `cams.dev/paused: "true"`.
    Paused,
    /// Another ChatGroup manages the same group.
    Conflict,
    /// Drift seen in two scans, corrected by one UpdateChatGroup that CAMS accepted.
    DriftCorrected,
    /// Three corrections of the same desired state did not hold.
    DriftPersists,
    /// The group is absent from two consecutive complete scans.
    GroupMissing,
    /// CAMS lists the group SUSPENDED or INACTIVE.
    GroupSuspended,
    /// `managementPolicy: Observe`: reported, never written.
    Observed,
    /// Creating a group: AddChatGroup accepted (or its answer lost), the group not listed yet.
    Creating,
    /// An unclaimed group has the subject of a group to create.
    AdoptionRequired,
    /// Several new groups with the subject could be the one created.
    Ambiguous,
    /// The created group was not found within `--create-timeout`.
    CreateUnconfirmed,
    /// `spec.groupId` differs from `cams.dev/group-id`.
    IdentityMismatch,
    /// The invite link was made, reset, republished or removed as `spec.inviteLink` says.
    InviteLink,
    /// `spec.inviteLink` without `--invite-links`.
    InviteLinksDisabled,
}

impl Row {
    /// Every row, in table order.
    pub const ALL: [Row; 23] = [
        Self::Accepted,
        Self::Throttled,
        Self::Retryable,
        Self::Freshness,
        Self::Credentials,
        Self::Forbidden,
        Self::Terminal,
        Self::Configuration,
        Self::RegionNotAllowed,
        Self::Paused,
        Self::Conflict,
        Self::DriftCorrected,
        Self::DriftPersists,
        Self::GroupMissing,
        Self::GroupSuspended,
        Self::Observed,
        Self::Creating,
        Self::AdoptionRequired,
        Self::Ambiguous,
        Self::CreateUnconfirmed,
        Self::IdentityMismatch,
        Self::InviteLink,
        Self::InviteLinksDisabled,
    ];

    /// The row a client error class falls in.
    pub const fn of_class(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Throttled => Self::Throttled,
            ErrorClass::Retryable => Self::Retryable,
            ErrorClass::Freshness => Self::Freshness,
            ErrorClass::Credentials => Self::Credentials,
            ErrorClass::Forbidden => Self::Forbidden,
            ErrorClass::Terminal => Self::Terminal,
            ErrorClass::Configuration => Self::Configuration,
            ErrorClass::RegionNotAllowed => Self::RegionNotAllowed,
        }
    }

    /// This row's entry in [`TABLE`].
    pub fn spec(self) -> &'static RowSpec {
        // Every row has exactly one entry (tested), so the fallback is never taken.
        TABLE.iter().find(|r| r.row == self).unwrap_or(&TABLE[0])
    }
}

/// What the Ready condition says after a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyRule {
    /// Ready is True.
    True,
    /// Ready is False.
    False,
    /// Kept True only while the current generation was accepted and no forced re-apply is
    /// pending; otherwise False. Used where no call was made, so the remote did not change.
    Unchanged,
    /// True exactly when ListChatGroup lists the group ACTIVE (`managementPolicy: Observe`).
    SeenActive,
}

/// When the next attempt comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// When the spec or the reconcile token changes.
    OnSpecOrToken,
    /// Per-object exponential backoff with jitter, never sooner than `x-acs-retry-after`.
    Backoff,
    /// The slow retry interval, or at once when the credentials Secret changes.
    SlowOrSecretChange,
    /// The slow retry interval.
    Slow,
    /// When the spec or the operator's settings change (no call is made meanwhile).
    OnSpecOrSettings,
    /// When `cams.dev/paused` is removed.
    OnUnpause,
    /// A re-check every 30 s, without a call, until the other ChatGroup is gone.
    Recheck,
    /// A later scan that lists the group ACTIVE (no call meanwhile).
    LaterScan,
    /// Every scan of the account.
    EachScan,
    /// Each scan until the group is listed or `--create-timeout` passes.
    UntilListed,
    /// None until a person acts (the spec or an annotation).
    OnPersonAction,
}

/// Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A `Normal` event.
    Normal,
    /// A `Warning` event.
    Warning,
}

/// One row of the outcome table.
#[derive(Clone, Copy, Debug)]
pub struct RowSpec {
    /// Which row.
    pub row: Row,
    /// The metric label (`outcome` of `cams_operator_reconciles_total`).
    pub label: &'static str,
    /// How the README names the outcome.
    pub outcome: &'static str,
    /// Ready after this row.
    pub ready: ReadyRule,
    /// Synced True or False; `None` leaves it as the last call left it.
    pub synced: Option<bool>,
    /// The reason of Synced (and of Ready and Stalled when they are False/True because of it).
    pub reason: Reason,
    /// Whether Stalled is True (a person must act).
    pub stalled: bool,
    /// When the next attempt comes.
    pub next: Next,
    /// The event published, if any.
    pub event: Option<(EventKind, &'static str)>,
    /// Argo CD's health for an object in this state.
    pub argo_health: &'static str,
}

impl RowSpec {
    /// Whether the row ends a generation ("final": accepted, or a person must act): it sets
    /// `observedGeneration`, so kstatus stops reading the object as in progress.
    pub const fn is_final(&self) -> bool {
        matches!(
            self.row,
            Row::Accepted | Row::DriftCorrected | Row::Observed | Row::InviteLink
        ) || self.stalled
    }
}

use EventKind::{Normal, Warning};

/// The outcome table.
pub const TABLE: [RowSpec; 23] = [
    RowSpec {
        row: Row::Accepted,
        label: "accepted",
        outcome: "accepted (2xx, Code OK)",
        ready: ReadyRule::True,
        synced: Some(true),
        reason: Reason::ReconcileSuccess,
        stalled: false,
        next: Next::OnSpecOrToken,
        event: Some((Normal, "Updated")),
        argo_health: "Healthy",
    },
    RowSpec {
        row: Row::Throttled,
        label: "throttled",
        outcome: "throttled (`Throttling*`, `x-acs-retry-after`)",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::Throttled,
        stalled: false,
        next: Next::Backoff,
        event: Some((Warning, "UpdateFailed")),
        argo_health: "Progressing",
    },
    RowSpec {
        row: Row::Retryable,
        label: "retryable",
        outcome: "5xx, transport error, timeout, unknown code",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::ReconcileError,
        stalled: false,
        next: Next::Backoff,
        event: Some((Warning, "UpdateFailed")),
        argo_health: "Progressing",
    },
    RowSpec {
        row: Row::Freshness,
        label: "freshness",
        outcome: "stale timestamp / reused nonce (after one immediate retry)",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::ClockSkew,
        stalled: false,
        next: Next::Backoff,
        event: Some((Warning, "ClockSkew")),
        argo_health: "Progressing",
    },
    RowSpec {
        row: Row::Credentials,
        label: "credentials",
        outcome: "bad or missing credentials",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::CredentialsInvalid,
        stalled: true,
        next: Next::SlowOrSecretChange,
        event: Some((Warning, "CredentialsInvalid")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::Forbidden,
        label: "forbidden",
        outcome: "not allowed (`Forbidden*`, `Authentication.NoAuth`, `ActionUnauthorized`)",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::Forbidden,
        stalled: true,
        next: Next::Slow,
        event: Some((Warning, "Forbidden")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::Terminal,
        label: "terminal",
        outcome: "bad request (`InvalidParameter.*`, `MissingParameter`)",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::InvalidSpec,
        stalled: true,
        next: Next::OnSpecOrToken,
        event: Some((Warning, "InvalidSpec")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::Configuration,
        label: "configuration",
        outcome: "operator misconfigured (endpoint, CA bundle)",
        ready: ReadyRule::Unchanged,
        synced: Some(false),
        reason: Reason::ConfigurationError,
        stalled: true,
        next: Next::OnSpecOrSettings,
        event: Some((Warning, "ConfigurationError")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::RegionNotAllowed,
        label: "region_not_allowed",
        outcome: "region outside `--regions`",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::RegionNotAllowed,
        stalled: true,
        next: Next::OnSpecOrSettings,
        event: Some((Warning, "RegionNotAllowed")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::Paused,
        label: "paused",
        outcome: "`cams.dev/paused: \"true\"`",
        ready: ReadyRule::Unchanged,
        synced: Some(false),
        reason: Reason::ReconcilePaused,
        stalled: false,
        next: Next::OnUnpause,
        event: Some((Normal, "Paused")),
        argo_health: "Suspended",
    },
    RowSpec {
        row: Row::Conflict,
        label: "conflict",
        outcome: "another ChatGroup manages the group",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::Conflict,
        stalled: true,
        next: Next::Recheck,
        event: Some((Warning, "Conflict")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::DriftCorrected,
        label: "drift_corrected",
        outcome: "drift seen in two scans outside `--settle`, corrected (accepted)",
        ready: ReadyRule::True,
        synced: Some(true),
        reason: Reason::ReconcileSuccess,
        stalled: false,
        next: Next::OnSpecOrToken,
        event: Some((Normal, "DriftCorrected")),
        argo_health: "Healthy",
    },
    RowSpec {
        row: Row::DriftPersists,
        label: "drift_persists",
        outcome: "three corrections of the same spec did not hold",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::DriftPersists,
        stalled: true,
        next: Next::OnSpecOrToken,
        event: Some((Warning, "DriftPersists")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::GroupMissing,
        label: "group_missing",
        outcome: "group absent from two consecutive complete scans",
        ready: ReadyRule::False,
        synced: None,
        reason: Reason::GroupMissing,
        stalled: true,
        next: Next::LaterScan,
        event: Some((Warning, "GroupMissing")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::GroupSuspended,
        label: "group_suspended",
        outcome: "group listed SUSPENDED or INACTIVE",
        ready: ReadyRule::False,
        synced: None,
        reason: Reason::GroupSuspended,
        stalled: true,
        next: Next::LaterScan,
        event: Some((Warning, "GroupSuspended")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::Observed,
        label: "observed",
        outcome: "`managementPolicy: Observe` (never writes)",
        ready: ReadyRule::SeenActive,
        synced: Some(true),
        reason: Reason::Observing,
        stalled: false,
        next: Next::EachScan,
        event: None,
        argo_health: "Healthy",
    },
    RowSpec {
        row: Row::Creating,
        label: "creating",
        outcome: "creating a group (no `groupId`): AddChatGroup sent, the group not listed yet",
        ready: ReadyRule::False,
        synced: Some(true),
        reason: Reason::Creating,
        stalled: false,
        next: Next::UntilListed,
        event: Some((Normal, "Creating")),
        argo_health: "Progressing",
    },
    RowSpec {
        row: Row::AdoptionRequired,
        label: "adoption_required",
        outcome: "an unclaimed group has the subject to create",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::AdoptionRequired,
        stalled: true,
        next: Next::OnPersonAction,
        event: Some((Warning, "AdoptionRequired")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::Ambiguous,
        label: "ambiguous",
        outcome: "several new groups could be the one created",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::Ambiguous,
        stalled: true,
        next: Next::OnPersonAction,
        event: Some((Warning, "Ambiguous")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::CreateUnconfirmed,
        label: "create_unconfirmed",
        outcome: "the created group was not listed within `--create-timeout`",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::CreateUnconfirmed,
        stalled: true,
        next: Next::OnPersonAction,
        event: Some((Warning, "CreateUnconfirmed")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::IdentityMismatch,
        label: "identity_mismatch",
        outcome: "`spec.groupId` differs from the group this object created",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::IdentityMismatch,
        stalled: true,
        next: Next::OnPersonAction,
        event: Some((Warning, "IdentityMismatch")),
        argo_health: "Degraded",
    },
    RowSpec {
        row: Row::InviteLink,
        label: "invite_link",
        outcome: "invite link made, reset, republished or removed (`spec.inviteLink`)",
        ready: ReadyRule::Unchanged,
        synced: Some(true),
        reason: Reason::ReconcileSuccess,
        stalled: false,
        next: Next::OnSpecOrToken,
        event: Some((Normal, "InviteLink")),
        argo_health: "Healthy",
    },
    RowSpec {
        row: Row::InviteLinksDisabled,
        label: "invite_links_disabled",
        outcome: "`spec.inviteLink` without `--invite-links` (chart `inviteLinks.enabled`)",
        ready: ReadyRule::False,
        synced: Some(false),
        reason: Reason::InviteLinksDisabled,
        stalled: true,
        next: Next::OnSpecOrSettings,
        event: Some((Warning, "InviteLinksDisabled")),
        argo_health: "Degraded",
    },
];

impl ReadyRule {
    fn text(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unchanged => "unchanged¹",
            Self::SeenActive => "True if listed ACTIVE",
        }
    }
}

impl Next {
    fn text(self) -> &'static str {
        match self {
            Self::OnSpecOrToken => "when the spec or `cams.dev/reconcile-requested-at` changes",
            Self::Backoff => "backoff with jitter (`--retry-base` … `--retry-max`), never before `x-acs-retry-after`",
            Self::SlowOrSecretChange => "`--slow-retry`, or within 60 s of the Secret changing",
            Self::Slow => "`--slow-retry`",
            Self::OnSpecOrSettings => "when the spec changes or the operator restarts with fixed settings",
            Self::OnUnpause => "when the annotation is removed",
            Self::Recheck => "re-checked every 30 s without a call",
            Self::LaterScan => "a later scan that lists it ACTIVE (no call meanwhile)",
            Self::EachScan => "every scan (`--observe-interval`)",
            Self::UntilListed => "each scan until the group is listed, at most `--create-timeout`",
            Self::OnPersonAction => "none until a person acts (the message says how)",
        }
    }
}

/// The table as the README shows it (Markdown, one line per row, ending in a newline).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| Outcome | Ready | Synced (reason) | Stalled | Next attempt | Event | Argo CD |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in &TABLE {
        let event = match r.event {
            Some((Normal, reason)) => format!("Normal {reason}"),
            Some((Warning, reason)) => format!("Warning {reason}"),
            None => "—".to_string(),
        };
        let synced = match r.synced {
            Some(true) => format!("True {}", r.reason.as_str()),
            Some(false) => format!("False {}", r.reason.as_str()),
            None => format!("unchanged (Stalled {})", r.reason.as_str()),
        };
        out.push_str(&format!(
            "| {} | {} | {synced} | {} | {} | {event} | {} |\n",
            r.outcome,
            r.ready.text(),
            if r.stalled { "True" } else { "False" },
            r.next.text(),
            r.argo_health,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_exactly_one_entry_and_a_unique_label() {
        for row in Row::ALL {
            assert_eq!(TABLE.iter().filter(|r| r.row == row).count(), 1, "{row:?}");
            assert_eq!(row.spec().row, row);
        }
        let mut labels: Vec<_> = TABLE.iter().map(|r| r.label).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), TABLE.len());
    }

    #[test]
    fn every_error_class_has_a_row_with_its_label() {
        for class in [
            ErrorClass::Throttled,
            ErrorClass::Retryable,
            ErrorClass::Freshness,
            ErrorClass::Credentials,
            ErrorClass::Forbidden,
            ErrorClass::Terminal,
            ErrorClass::Configuration,
            ErrorClass::RegionNotAllowed,
        ] {
            assert_eq!(Row::of_class(class).spec().label, class.label());
        }
    }

    #[test]
    fn the_readme_shows_this_table() {
        let readme = include_str!("../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's outcome table differs from the code's; paste this:\n{table}"
        );
    }

    #[test]
    fn only_stalled_rows_and_acceptance_are_final() {
        for r in &TABLE {
            assert_eq!(
                r.is_final(),
                matches!(
                    r.row,
                    Row::Accepted | Row::DriftCorrected | Row::Observed | Row::InviteLink
                ) || r.stalled,
                "{:?}",
                r.row
            );
            // A person must act exactly when Argo CD reads the object as Degraded.
            assert_eq!(r.stalled, r.argo_health == "Degraded", "{:?}", r.row);
        }
    }
}
