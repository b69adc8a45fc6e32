//! The `ChatGroup` custom resource (`cams.dev/v1alpha1`): spec, status and annotations.
//! Knows nothing of HTTP or of CAMS's wire format.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::outcome::ConditionType;

/// Annotation that stops all CAMS calls for the object while it is `"true"`.
pub const PAUSED_ANNOTATION: &str = "cams.dev/paused";
/// Annotation whose new value forces one re-apply of the current spec.
pub const RECONCILE_REQUESTED_AT_ANNOTATION: &str = "cams.dev/reconcile-requested-at";
/// The GroupId of the group the operator created for an object without `spec.groupId`.
pub const GROUP_ID_ANNOTATION: &str = "cams.dev/group-id";
/// Written before AddChatGroup is sent (RFC 3339); removed when the group is found.
pub const CREATE_PENDING_ANNOTATION: &str = "cams.dev/create-pending";
/// "true": create even though an unclaimed group with the same subject exists.
pub const ALLOW_DUPLICATE_SUBJECT_ANNOTATION: &str = "cams.dev/allow-duplicate-subject";
/// A new value makes one AddChatGroupInviteLink (a new link) and republishes the Secret.
pub const ROTATE_INVITE_LINK_ANNOTATION: &str = "cams.dev/rotate-invite-link";
/// The finalizer of `deletionPolicy: Delete`.
pub const DELETE_FINALIZER: &str = "cams.dev/delete-group";

/// The desired settings of one CAMS WhatsApp group.
// kube's derive repeats `type_` across printcolumns, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "cams.dev",
    version = "v1alpha1",
    kind = "ChatGroup",
    plural = "chatgroups",
    namespaced,
    status = "ChatGroupStatus",
    shortname = "cg",
    category = "cams",
    doc = "A WhatsApp group on Alibaba Cloud CAMS whose subject, description and profile picture are managed from this resource. Deleting it leaves the group as it is.",
    printcolumn(name = "Group-ID", type_ = "string", json_path = ".spec.groupId"),
    printcolumn(name = "Subject", type_ = "string", json_path = ".spec.subject"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Synced\")].status"
    ),
    printcolumn(
        name = "InSync",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"InSync\")].status"
    ),
    printcolumn(name = "Code", type_ = "string", json_path = ".status.code"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(oldSelf.groupId) || has(self.groupId)").message("groupId cannot be removed once set"),
    validation = Rule::new("!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.groupId)").message("managementPolicy Observe needs groupId: there is nothing to observe before the group exists"),
    validation = Rule::new("has(self.groupId) || has(self.subject)").message("creating a group (no groupId) needs a subject"),
)]
pub struct ChatGroupSpec {
    /// The WhatsApp business phone number that owns the group, digits only with country
    /// code (e.g. 8613800001234). ListChatGroup shows it.
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[0-9]+$"))]
    pub business_number: String,

    /// The CAMS Space ID: an ISV sub-customer's Space ID or a direct customer's instance ID
    /// (Channel Management page), e.g. cams-abc123.
    #[schemars(length(min = 1, max = 128))]
    pub cust_space_id: String,

    /// The CAMS GroupId of the group (ListChatGroup shows it). Unset (Manage): the operator
    /// creates a group with AddChatGroup and records its GroupId in the annotation
    /// cams.dev/group-id. It may be set once later (adopting); a set value never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("groupId is immutable; create a new ChatGroup for another group"))]
    pub group_id: Option<String>,

    /// The messaging channel. Only WHATSAPP is supported.
    #[serde(default)]
    pub channel_type: ChannelType,

    /// The group's subject (title), 1 to 128 characters. Unset: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub subject: Option<String>,

    /// The group's description, at most 2048 characters; "" clears it. Unset: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,

    /// An http(s) URL of the group's profile picture (JPEG, square, at least 192x192, at
    /// most 5 MB), sent to CAMS as ProfilePictureFile. Unset: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getHostname() != ''").message("profilePictureUrl must be an absolute http(s) URL with a host"))]
    pub profile_picture_url: Option<String>,

    /// The Alibaba Cloud region id (e.g. ap-southeast-1); selects `cams.<region>.aliyuncs.com`.
    /// Unset: the operator's default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 4, max = 63),
        regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$")
    )]
    pub region: Option<String>,

    /// A Secret in this ChatGroup's namespace holding accessKeyId, accessKeySecret and
    /// optionally securityToken. Unset: the operator's own credentials, if this namespace is
    /// allowed to use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,

    /// Manage (default): the operator writes the spec to the group and corrects drift.
    /// Observe: it only reports what ListChatGroup shows and never writes to CAMS.
    #[serde(default, skip_serializing_if = "ManagementPolicy::is_manage")]
    pub management_policy: ManagementPolicy,

    /// Orphan (default): deleting the ChatGroup leaves the group as it is. Delete: the group
    /// is deleted first (finalizer cams.dev/delete-group).
    #[serde(default, skip_serializing_if = "DeletionPolicy::is_orphan")]
    pub deletion_policy: DeletionPolicy,

    /// The group's invite link; absent: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<InviteLinkSpec>,
}

/// What happens to the group when its ChatGroup is deleted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Leave the group.
    #[default]
    Orphan,
    /// DeleteChatGroup before the ChatGroup goes away.
    Delete,
}

impl DeletionPolicy {
    /// Whether this is the default, [`DeletionPolicy::Orphan`].
    pub fn is_orphan(&self) -> bool {
        *self == Self::Orphan
    }
}

/// The group's invite link.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || has(self.secretName)").message("inviteLink.secretName is required when inviteLink.enabled is true"))]
pub struct InviteLinkSpec {
    /// true: the group has an invite link; false: it has none.
    pub enabled: bool,
    /// With enabled: the Secret (same namespace, key inviteLink) the link is published in.
    /// The link is never written to status, events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub secret_name: Option<String>,
}

/// Whether the operator writes to the group or only reports on it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManagementPolicy {
    /// Write the spec, correct drift.
    #[default]
    Manage,
    /// Report only: never send a write action.
    Observe,
}

impl ManagementPolicy {
    /// Whether this is the default, [`ManagementPolicy::Manage`].
    pub fn is_manage(&self) -> bool {
        *self == Self::Manage
    }

    /// The value as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manage => "Manage",
            Self::Observe => "Observe",
        }
    }
}

/// The messaging channel of a group.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChannelType {
    #[default]
    #[serde(rename = "WHATSAPP")]
    Whatsapp,
}

impl ChannelType {
    /// The value CAMS expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "WHATSAPP",
        }
    }
}

/// A reference to a Secret in the same namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The Secret's name (a DNS-1123 subdomain). There is no namespace field: the Secret is
    /// always read from the ChatGroup's own namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
}

/// What the operator observed and did. Written only by the operator.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatGroupStatus {
    /// The last generation that reached a final outcome (accepted, or an error that needs a
    /// person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Ready, Synced and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// `Success` of the last CAMS response, as returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// `Code` of the last CAMS response (OK on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `Message` of the last CAMS response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `RequestId` of the last CAMS response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `AccessDeniedDetail` of the last CAMS response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_denied_detail: Option<String>,
    /// `Result` (affected rows) of the last CAMS response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<i64>,

    /// When CAMS last accepted a call for this object (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// A hash of what was last applied: the parameters sent, the group's identity and the
    /// endpoint. When it matches the spec, no call is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,
    /// The last cams.dev/reconcile-requested-at token handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Present only while a failed call waits for its next attempt.
    // Boxed, as `drift`: in a cache of 10,000 objects an absent field costs only a pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Box<RetryStatus>>,

    /// The CAMS GroupId this object manages (from the spec, or found after creating it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// AddChatGroup's answer while a create is unconfirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_code: Option<String>,
    /// The last cams.dev/rotate-invite-link token handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_rotate_invite_link: Option<String>,
    /// The Secret the invite link is published in (never the link itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link_secret: Option<String>,
    /// The group as ListChatGroup last showed it; written only when a value changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_provider: Option<AtProvider>,
    /// The picture URL CAMS accepted and the value ListChatGroup first showed for it after
    /// that write (CAMS may keep a copy under its own URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<PictureStatus>,
    /// Drift corrections made for the current desired state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Box<DriftStatus>>,
}

/// The group as ListChatGroup showed it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AtProvider {
    /// ACTIVE, INACTIVE, SUSPENDED, CREATING, DELETING or UPDATING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_status: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The profile picture as CAMS lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture_file: Option<String>,
    /// Whether the group has an invite link (the link itself is never written here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link_present: Option<bool>,
    /// How many members the group has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_participant_count: Option<i64>,
}

/// The picture CAMS accepted and how ListChatGroup shows it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PictureStatus {
    /// The URL sent in the accepted UpdateChatGroup.
    pub sent: String,
    /// The value ListChatGroup first showed after that write, when it differs from `sent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
    /// When that write was accepted (RFC 3339).
    pub accepted_at: String,
    /// The value ListChatGroup showed before that write, if known: still seeing it after the
    /// write means the picture was not applied (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
}

/// Drift corrections for one desired state.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DriftStatus {
    /// The applied hash of the desired state corrected.
    pub desired_hash: String,
    /// Corrections sent for it so far.
    pub corrections: i32,
    /// The managed fields that differed at the last correction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// Retry state, kept in status so a restart does not turn it into a burst.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetryStatus {
    /// Failed attempts so far for this generation.
    pub attempts: i32,
    /// Not before this time (RFC 3339).
    pub next_retry_time: String,
    /// The generation these attempts were for; a spec change starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The resourceVersion of the credentials Secret when a credentials error was recorded;
    /// a different one retries at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_version: Option<String>,
}

impl ChatGroupStatus {
    /// The condition of this type, if present.
    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_.as_str())
    }

    /// Whether the condition of this type is present and True.
    pub fn is_true(&self, type_: ConditionType) -> bool {
        self.condition(type_).is_some_and(|c| c.status == "True")
    }

    /// The reason of the condition of this type, if present.
    pub fn reason(&self, type_: ConditionType) -> Option<&str> {
        self.condition(type_).map(|c| c.reason.as_str())
    }

    /// The message of the condition of this type, if present.
    pub fn message_of(&self, type_: ConditionType) -> Option<&str> {
        self.condition(type_).map(|c| c.message.as_str())
    }
}

impl ChatGroup {
    /// Whether `cams.dev/paused` is `"true"`.
    pub fn is_paused(&self) -> bool {
        self.annotation(PAUSED_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The `cams.dev/reconcile-requested-at` token, if set and non-empty.
    pub fn reconcile_token(&self) -> Option<&str> {
        self.annotation(RECONCILE_REQUESTED_AT_ANNOTATION)
            .filter(|v| !v.is_empty())
    }

    /// The group this object manages: `spec.groupId`, else the one it created
    /// (`cams.dev/group-id`).
    pub fn group_id(&self) -> Option<&str> {
        self.spec
            .group_id
            .as_deref()
            .or_else(|| self.annotation(GROUP_ID_ANNOTATION))
            .filter(|id| !id.is_empty())
    }

    /// When a create was started (`cams.dev/create-pending`), if one is pending.
    pub fn create_pending(&self) -> Option<&str> {
        self.annotation(CREATE_PENDING_ANNOTATION)
    }

    /// Whether `cams.dev/allow-duplicate-subject` is "true".
    pub fn allows_duplicate_subject(&self) -> bool {
        self.annotation(ALLOW_DUPLICATE_SUBJECT_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The `cams.dev/rotate-invite-link` token, if set and non-empty.
    pub fn rotate_invite_link_token(&self) -> Option<&str> {
        self.annotation(ROTATE_INVITE_LINK_ANNOTATION)
            .filter(|v| !v.is_empty())
    }

    /// Whether the finalizer of `deletionPolicy: Delete` is on the object.
    pub fn has_delete_finalizer(&self) -> bool {
        self.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == DELETE_FINALIZER))
    }

    /// The value of annotation `key`, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}
