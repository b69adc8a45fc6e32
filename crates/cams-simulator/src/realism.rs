//! Realism knobs (per tenant, with a global default): how far the simulator departs from
//! "every call applies at once, exactly as sent" in the ways CAMS and Meta are known or
//! suspected to (see README.md beside this crate, "Realism"). A leaf: it knows the knobs and
//! their pure rules; `actions` and `cams` apply them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::faults::QpsLimit;
use crate::sign::{percent_encode, sha256_hex};

/// The default largest `Page.Size` ListChatGroup accepts.
pub const DEFAULT_MAX_PAGE_SIZE: u32 = 100;

/// The host of the copies `pictureCopy` lists instead of the URL sent.
pub const PICTURE_COPY_HOST: &str = "cams-cdn.simulator.invalid";

/// The realism knobs of one tenant (or the default of every tenant without its own). Every
/// field is optional in JSON; a missing field takes its default, which is the simulator's
/// behaviour without realism (`groupIdWhileCreating`'s default, `hidden`, only matters for
/// groups that are `CREATING`, and without `createDelayMs` AddChatGroup makes none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RealismConfig {
    /// After an accepted UpdateChatGroup the group lists `GroupStatus: UPDATING` with its
    /// old values for this many milliseconds; then the new values apply and the status is
    /// back to what it was. 0: updates apply at once.
    pub update_delay_ms: u64,
    /// Updates answered `OK` whose listed fields are never applied (Meta accepting a
    /// settings update and then failing per setting).
    pub never_apply: Option<NeverApply>,
    /// An applied `ProfilePictureFile` is stored and listed as a CAMS copy
    /// (`https://cams-cdn.simulator.invalid/<custSpaceId>/<16 hex>.jpg`), not as the URL sent.
    pub picture_copy: bool,
    /// How ListChatGroup's `Subject` filter matches (case-sensitive).
    pub subject_filter: SubjectFilter,
    /// The largest `Page.Size` ListChatGroup accepts; above it the call answers
    /// `InvalidParameter.PageInvalid` (HTTP 400).
    pub max_page_size: u32,
    /// The order of ListChatGroup's rows.
    pub list_order: ListOrder,
    /// Token buckets per action (each tenant has its own bucket per action); over it a call
    /// answers `Throttling.Api`. An action without an entry uses the tenant's `qps` fault
    /// setting (`Throttling.User`), if any.
    pub action_qps: BTreeMap<String, ActionQps>,
    /// A group made by AddChatGroup lists `GroupStatus: CREATING` for this many
    /// milliseconds, then `ACTIVE` (or what `createFailure` makes of it). 0: at once.
    pub create_delay_ms: u64,
    /// Whether a `CREATING` row of ListChatGroup carries its GroupId. Default `hidden` (the
    /// most demanding): `GroupId` is null while the group is CREATING.
    pub group_id_while_creating: GroupIdWhileCreating,
    /// AddChatGroup calls answered `OK` (with a UniqueCode) whose group never becomes
    /// `ACTIVE`.
    pub create_failure: Option<CreateFailure>,
    /// After DeleteChatGroup the group lists `GroupStatus: DELETING` for this many
    /// milliseconds, then disappears. 0: at once.
    pub delete_delay_ms: u64,
    /// AddChatGroup gives the new group an invite link (listed as its `InviteLink`).
    pub invite_link_at_creation: bool,
}

impl Default for RealismConfig {
    fn default() -> Self {
        Self {
            update_delay_ms: 0,
            never_apply: None,
            picture_copy: false,
            subject_filter: SubjectFilter::default(),
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            list_order: ListOrder::default(),
            action_qps: BTreeMap::new(),
            create_delay_ms: 0,
            group_id_while_creating: GroupIdWhileCreating::default(),
            create_failure: None,
            delete_delay_ms: 0,
            invite_link_at_creation: false,
        }
    }
}

/// Whether ListChatGroup shows a `CREATING` group's GroupId (CAMS does not document it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupIdWhileCreating {
    /// The row carries the GroupId as soon as the group exists.
    Visible,
    /// The row's `GroupId` is null while the group is `CREATING` (its Subject and the other
    /// fields are listed).
    #[default]
    Hidden,
}

/// "Accepted but never created": the next `count` AddChatGroup calls (every one when
/// `count` is absent) answer `OK` with a UniqueCode, and their group never becomes `ACTIVE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateFailure {
    /// What becomes of the group when the create delay ends.
    pub mode: CreateFailureMode,
    /// How many more calls are affected; each affected call takes one off, and at 0 the
    /// knob is spent. Absent: every call.
    #[serde(default)]
    pub count: Option<u32>,
}

/// What a failed create looks like once `createDelayMs` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CreateFailureMode {
    /// The group disappears (ListChatGroup stops listing it; any call naming it answers
    /// `InvalidParameter.GroupNotExist`).
    Vanish,
    /// The group stays, listed `INACTIVE`.
    Inactive,
}

/// The fields of UpdateChatGroup that can be set (and withheld by [`NeverApply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UpdateField {
    /// `Subject`.
    Subject,
    /// `Description`.
    Description,
    /// `ProfilePictureFile`.
    ProfilePictureFile,
}

impl UpdateField {
    /// The CAMS parameter name.
    pub fn param(self) -> &'static str {
        match self {
            Self::Subject => "Subject",
            Self::Description => "Description",
            Self::ProfilePictureFile => "ProfilePictureFile",
        }
    }
}

/// "Accepted but never applied": the next `count` accepted UpdateChatGroup calls that send
/// at least one of `fields` (every such call when `count` is absent) answer `OK`, and those
/// fields are not applied (the others are).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NeverApply {
    /// The fields withheld.
    pub fields: Vec<UpdateField>,
    /// How many more calls are affected; each affected call takes one off, and at 0 the
    /// knob is spent. Absent: every call.
    #[serde(default)]
    pub count: Option<u32>,
}

/// How ListChatGroup's `Subject` filter matches a group's subject (case-sensitive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SubjectFilter {
    /// The subject equals the filter.
    Exact,
    /// The subject starts with the filter.
    Prefix,
    /// The subject contains the filter.
    #[default]
    Substring,
}

impl SubjectFilter {
    /// Whether `subject` passes `filter`.
    pub fn matches(self, subject: &str, filter: &str) -> bool {
        match self {
            Self::Exact => subject == filter,
            Self::Prefix => subject.starts_with(filter),
            Self::Substring => subject.contains(filter),
        }
    }
}

/// The order of ListChatGroup's rows; both are stable across pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ListOrder {
    /// Oldest group first (the order the simulator created or seeded them).
    #[default]
    Created,
    /// Newest group first.
    NewestFirst,
}

/// A per-action token bucket: `qps` calls per second sustained, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionQps {
    /// Sustained calls per second.
    pub qps: f64,
    /// Bucket size (calls allowed at once after a quiet period); defaults to `max(1, qps)`.
    #[serde(default)]
    pub burst: Option<f64>,
}

impl ActionQps {
    /// The same limit as the fault settings' [`QpsLimit`].
    pub fn limit(&self) -> QpsLimit {
        QpsLimit {
            rate: self.qps,
            burst: self.burst,
        }
    }
}

impl RealismConfig {
    /// Checks the values; `actions` are the action names `actionQps` may name. The message
    /// names the offending field.
    pub fn validate(&self, actions: &[&str]) -> Result<(), String> {
        if self.max_page_size == 0 {
            return Err("maxPageSize must be at least 1".into());
        }
        if let Some(never) = &self.never_apply {
            if never.fields.is_empty() {
                return Err(
                    "neverApply.fields must name at least one of Subject, Description, ProfilePictureFile"
                        .into(),
                );
            }
        }
        for (action, bucket) in &self.action_qps {
            if !actions.contains(&action.as_str()) {
                return Err(format!(
                    "actionQps: {action:?} is not an action; expected one of {}",
                    actions.join(", ")
                ));
            }
            if !(bucket.qps.is_finite() && bucket.qps > 0.0) {
                return Err(format!(
                    "actionQps.{action}.qps must be positive, got {}",
                    bucket.qps
                ));
            }
            if let Some(burst) = bucket.burst {
                if !(burst.is_finite() && burst >= 1.0) {
                    return Err(format!(
                        "actionQps.{action}.burst must be at least 1, got {burst}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether one accepted AddChatGroup fails (`createFailure`), and how; takes one off the
    /// remaining count when it does.
    pub fn take_create_failure(&mut self) -> Option<CreateFailureMode> {
        let failure = self.create_failure.as_mut()?;
        match &mut failure.count {
            Some(0) => None,
            Some(count) => {
                *count -= 1;
                Some(failure.mode)
            }
            None => Some(failure.mode),
        }
    }

    /// The fields of one accepted update that are withheld by `neverApply`, given the
    /// fields it sends; takes one off the remaining count when any is withheld.
    pub fn withhold(&mut self, sent: &[UpdateField]) -> Vec<UpdateField> {
        let Some(never) = &mut self.never_apply else {
            return Vec::new();
        };
        if never.count == Some(0) {
            return Vec::new();
        }
        let withheld: Vec<UpdateField> = sent
            .iter()
            .copied()
            .filter(|f| never.fields.contains(f))
            .collect();
        if !withheld.is_empty() {
            if let Some(count) = &mut never.count {
                *count -= 1;
            }
        }
        withheld
    }
}

/// The CAMS copy of picture `url` for tenant `cust_space_id`:
/// `https://cams-cdn.simulator.invalid/<custSpaceId>/<first 16 hex digits of sha256(url)>.jpg`
/// (the tenant percent-encoded; the same URL always gives the same copy).
pub fn picture_copy_url(cust_space_id: &str, url: &str) -> String {
    let digest = sha256_hex(url.as_bytes());
    format!(
        "https://{PICTURE_COPY_HOST}/{}/{}.jpg",
        percent_encode(cust_space_id),
        &digest[..16]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: [&str; 2] = ["UpdateChatGroup", "ListChatGroup"];

    #[test]
    fn defaults_and_json_names() {
        let c: RealismConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, RealismConfig::default());
        assert_eq!(c.max_page_size, 100);
        assert_eq!(c.subject_filter, SubjectFilter::Substring);
        assert_eq!(c.list_order, ListOrder::Created);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "updateDelayMs": 0, "neverApply": null, "pictureCopy": false,
                "subjectFilter": "substring", "maxPageSize": 100, "listOrder": "created",
                "actionQps": {}, "createDelayMs": 0, "groupIdWhileCreating": "hidden",
                "createFailure": null, "deleteDelayMs": 0, "inviteLinkAtCreation": false
            })
        );
        let c: RealismConfig = serde_json::from_str(
            r#"{"updateDelayMs":250,"neverApply":{"fields":["Subject","ProfilePictureFile"],"count":2},
                "pictureCopy":true,"subjectFilter":"prefix","maxPageSize":10,"listOrder":"newestFirst",
                "actionQps":{"ListChatGroup":{"qps":1,"burst":2}}}"#,
        )
        .unwrap();
        c.validate(&ACTIONS).unwrap();
        assert_eq!(c.update_delay_ms, 250);
        assert_eq!(
            c.never_apply,
            Some(NeverApply {
                fields: vec![UpdateField::Subject, UpdateField::ProfilePictureFile],
                count: Some(2)
            })
        );
        assert_eq!(c.subject_filter, SubjectFilter::Prefix);
        assert_eq!(c.list_order, ListOrder::NewestFirst);
        assert_eq!(
            c.action_qps["ListChatGroup"].limit(),
            QpsLimit {
                rate: 1.0,
                burst: Some(2.0)
            }
        );
        let c: RealismConfig = serde_json::from_str(
            r#"{"createDelayMs":1500,"groupIdWhileCreating":"visible",
                "createFailure":{"mode":"vanish","count":1},"deleteDelayMs":700,
                "inviteLinkAtCreation":true}"#,
        )
        .unwrap();
        c.validate(&ACTIONS).unwrap();
        assert_eq!(
            (
                c.create_delay_ms,
                c.delete_delay_ms,
                c.invite_link_at_creation
            ),
            (1500, 700, true)
        );
        assert_eq!(c.group_id_while_creating, GroupIdWhileCreating::Visible);
        assert_eq!(
            c.create_failure,
            Some(CreateFailure {
                mode: CreateFailureMode::Vanish,
                count: Some(1)
            })
        );
        let c: RealismConfig =
            serde_json::from_str(r#"{"createFailure":{"mode":"inactive"}}"#).unwrap();
        assert_eq!(
            c.create_failure,
            Some(CreateFailure {
                mode: CreateFailureMode::Inactive,
                count: None
            })
        );
        assert_eq!(
            serde_json::to_value(c).unwrap()["createFailure"],
            serde_json::json!({"mode": "inactive", "count": null})
        );
    }

    #[test]
    fn create_failure_counts_down_and_without_a_count_fails_every_create() {
        let mut c = RealismConfig {
            create_failure: Some(CreateFailure {
                mode: CreateFailureMode::Inactive,
                count: Some(2),
            }),
            ..RealismConfig::default()
        };
        assert_eq!(c.take_create_failure(), Some(CreateFailureMode::Inactive));
        assert_eq!(c.take_create_failure(), Some(CreateFailureMode::Inactive));
        assert_eq!(c.create_failure.unwrap().count, Some(0));
        assert_eq!(c.take_create_failure(), None, "spent");
        c.create_failure = Some(CreateFailure {
            mode: CreateFailureMode::Vanish,
            count: None,
        });
        for _ in 0..5 {
            assert_eq!(c.take_create_failure(), Some(CreateFailureMode::Vanish));
        }
        assert_eq!(RealismConfig::default().take_create_failure(), None);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let bad = |json: &str| {
            serde_json::from_str::<RealismConfig>(json)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate(&ACTIONS))
                .err()
        };
        for json in [
            r#"{"maxPageSize":0}"#,
            r#"{"neverApply":{"fields":[]}}"#,
            r#"{"neverApply":{"fields":["subject"]}}"#,
            r#"{"neverApply":{"fields":["GroupStatus"]}}"#,
            r#"{"subjectFilter":"regex"}"#,
            r#"{"listOrder":"random"}"#,
            r#"{"actionQps":{"SendChatappMessage":{"qps":1}}}"#,
            r#"{"actionQps":{"ListChatGroup":{"qps":0}}}"#,
            r#"{"actionQps":{"ListChatGroup":{"qps":1,"burst":0.5}}}"#,
            r#"{"actionQps":{"ListChatGroup":{"rate":1}}}"#,
            r#"{"updateDelayMS":5}"#,
            r#"{"updateDelayMs":-1}"#,
            r#"{"createDelayMs":-1}"#,
            r#"{"deleteDelayMs":"1s"}"#,
            r#"{"groupIdWhileCreating":"shown"}"#,
            r#"{"createFailure":{"mode":"explode"}}"#,
            r#"{"createFailure":{"count":1}}"#,
            r#"{"createFailure":{"mode":"vanish","count":-1}}"#,
            r#"{"createFailure":{"mode":"vanish","after":1}}"#,
            r#"{"inviteLinkAtCreation":"yes"}"#,
        ] {
            assert!(bad(json).is_some(), "{json}");
        }
        assert!(bad(r#"{"actionQps":{"SendChatappMessage":{"qps":1}}}"#)
            .unwrap()
            .contains("SendChatappMessage"));
    }

    #[test]
    fn subject_filter_modes_are_case_sensitive() {
        use SubjectFilter::*;
        let subject = "VIP line";
        assert!(Exact.matches(subject, "VIP line"));
        assert!(!Exact.matches(subject, "VIP"));
        assert!(Prefix.matches(subject, "VIP"));
        assert!(!Prefix.matches(subject, "line"));
        assert!(Substring.matches(subject, "P li"));
        assert!(!Substring.matches(subject, "vip"));
        assert!(!Prefix.matches(subject, "vip"));
        assert!(!Exact.matches(subject, "vip line"));
    }

    #[test]
    fn never_apply_counts_down_only_on_calls_it_affects() {
        let mut c = RealismConfig {
            never_apply: Some(NeverApply {
                fields: vec![UpdateField::ProfilePictureFile],
                count: Some(2),
            }),
            ..RealismConfig::default()
        };
        // A call that does not send the field is not affected and does not count.
        assert!(c.withhold(&[UpdateField::Subject]).is_empty());
        assert_eq!(c.never_apply.as_ref().unwrap().count, Some(2));
        let both = [UpdateField::Subject, UpdateField::ProfilePictureFile];
        assert_eq!(c.withhold(&both), [UpdateField::ProfilePictureFile]);
        assert_eq!(c.withhold(&both), [UpdateField::ProfilePictureFile]);
        assert_eq!(c.never_apply.as_ref().unwrap().count, Some(0));
        // Spent.
        assert!(c.withhold(&both).is_empty());
        // Without a count: every call.
        c.never_apply = Some(NeverApply {
            fields: vec![UpdateField::Subject, UpdateField::Description],
            count: None,
        });
        for _ in 0..5 {
            assert_eq!(c.withhold(&both), [UpdateField::Subject]);
        }
        assert_eq!(c.never_apply.as_ref().unwrap().count, None);
    }

    #[test]
    fn picture_copies_are_deterministic_per_url_and_tenant() {
        let a = picture_copy_url("cams-abc", "https://cdn.example.com/a.jpg");
        assert_eq!(
            a,
            picture_copy_url("cams-abc", "https://cdn.example.com/a.jpg")
        );
        // sha256("https://cdn.example.com/a.jpg"), computed independently.
        let digest = "e32fb90c42019277";
        assert_eq!(
            a,
            format!(
                "https://cams-cdn.simulator.invalid/cams-abc/{}.jpg",
                &digest[..16]
            )
        );
        assert_ne!(
            a,
            picture_copy_url("cams-abc", "https://cdn.example.com/b.jpg")
        );
        assert!(picture_copy_url("t/1", "https://x/a.jpg")
            .starts_with("https://cams-cdn.simulator.invalid/t%2F1/"));
    }
}
